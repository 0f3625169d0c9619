/**
 * The small statistics the benchmark reports: medians and spreads over pairs,
 * latency percentiles, and least-squares slopes (heap per socket).
 */

/** Median, minimum and maximum of a non-empty sample. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** The `p` quantile (0..1) by linear interpolation between closest ranks. */
export function quantile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = sorted(values);
  const pos = (s.length - 1) * Math.min(1, Math.max(0, p));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = s[lo] as number;
  const b = s[hi] as number;
  return a + (b - a) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const s = sorted(values);
  return { median: quantile(s, 0.5), min: s[0] as number, max: s[s.length - 1] as number, n: s.length };
}

/** Least-squares slope and intercept of `y` over `x`. */
export function slope(points: readonly { x: number; y: number }[]): { slope: number; intercept: number } {
  const n = points.length;
  if (n < 2) return { slope: Number.NaN, intercept: Number.NaN };
  let sx = 0;
  let sy = 0;
  for (const p of points) {
    sx += p.x;
    sy += p.y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  const b = den === 0 ? Number.NaN : num / den;
  return { slope: b, intercept: my - b * mx };
}

/** Formats a ratio spread as `0.987 [0.971–1.003]`. */
export function formatSpread(s: Spread, digits = 3): string {
  if (s.n === 0) return 'n/a';
  return `${s.median.toFixed(digits)} [${s.min.toFixed(digits)}–${s.max.toFixed(digits)}]`;
}
