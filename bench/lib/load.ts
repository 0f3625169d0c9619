/**
 * Driving two servers at once from one process: bounded lanes of operations,
 * waiting for a server to settle, and a CPU window around a measured phase.
 */
import type { CpuSample, ServerStats } from '../servers/protocol.js';
import type { ServerHandle } from './children.js';

/** Runs `op(0..n-1)` with at most `concurrency` in flight; resolves how many returned true. */
export async function lanes(n: number, concurrency: number, op: (i: number) => Promise<boolean>): Promise<number> {
  let next = 0;
  let ok = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      if (await op(i)) ok++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return ok;
}

/**
 * `n` iterations over `sides` servers: iteration `i` runs `op(side, i)` on every
 * side in turn, starting with side `i % sides`, so each server is first equally
 * often and all see the same pacing and the same machine noise.
 */
export async function interleave(
  sides: number,
  n: number,
  concurrency: number,
  op: (side: number, i: number) => Promise<void>,
): Promise<void> {
  await lanes(n, concurrency, async (i) => {
    for (let k = 0; k < sides; k++) await op((i + k) % sides, i);
    return true;
  });
}

/** Resolves on the next macrotask turn (lets sockets flush). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `server` until `predicate(stats)` holds; throws after `timeoutMs`. */
export async function settle(
  server: ServerHandle,
  predicate: (s: ServerStats) => boolean,
  timeoutMs = 20_000,
  what = 'settle',
): Promise<ServerStats> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const stats = await server.stats();
    if (predicate(stats)) return stats;
    if (Date.now() > end) throw new Error(`${server.name}: ${what} not reached within ${timeoutMs} ms (${JSON.stringify(stats)})`);
    await sleep(10);
  }
}

/** Polls a local condition until it holds; throws after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * One measured pair: both servers collect garbage, open a CPU window, run
 * `phase` (which loads both at once), wait until each server is back to `idle`
 * TCP connections, and close the windows.
 */
export async function cpuWindow(
  servers: readonly ServerHandle[],
  phase: () => Promise<void>,
  idle: readonly ((s: ServerStats) => boolean)[],
): Promise<CpuSample[]> {
  await Promise.all(servers.map((s) => s.gc()));
  await Promise.all(servers.map((s) => s.cpuBegin()));
  await phase();
  await Promise.all(servers.map((s, i) => settle(s, idle[i] ?? (() => true), 20_000, 'idle')));
  return Promise.all(servers.map((s) => s.cpuEnd()));
}
