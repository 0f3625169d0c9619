/**
 * Name patterns for namespaces, rooms and channels, compiled once and matched
 * segment by segment against a name with the principal's claims bound in.
 *
 * A pattern is split on its separator (`:` for rooms, `/` for namespaces). Each
 * segment is one of:
 *
 * - a literal (`org`, `chat`, `''`): equal, character for character;
 * - `*`: exactly one non-empty segment; `text*` / `*text` / `pre*post`: one segment
 *   with that literal text around at least one character (`private-*`);
 * - `**` (last segment only): one or more remaining segments;
 * - a template with one placeholder and optional literal text around it
 *   (`{orgId}`, `tenant-{tenantId}`, `user-{$id}`): the segment must equal the text
 *   with the placeholder replaced by the claim's value (`{$id}`: the principal's
 *   id). A claim that is an array matches when any element does. A missing,
 *   empty or non-string/number claim matches nothing.
 *
 * Matching never interprets a claim value: it is compared whole, within one
 * segment of the name. A claim value containing the separator or `*` can therefore
 * never equal a segment, so it can never widen a match (`orgId: "1:*"` matches no
 * room). Nothing is allocated while matching a string claim.
 */
import type { Principal } from '../core/types.js';

const Kind = { Literal: 0, Any: 1, Rest: 2, Bind: 3, Glob: 4 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface Segment {
  readonly kind: Kind;
  /** Literal text, or the text before the placeholder. */
  readonly prefix: string;
  /** The text after the placeholder. */
  readonly suffix: string;
  /** The claim name (`$id`: the principal id). */
  readonly claim: string;
}

/** A compiled pattern. */
export interface NamePattern {
  /** The pattern as written. */
  readonly source: string;
  /** True when `name` matches with `principal`'s claims bound into the placeholders. */
  match(name: string, principal: Principal<object>): boolean;
}

const PLACEHOLDER = /^([^{}*]*)\{(\$id|[A-Za-z_][A-Za-z0-9_]*)\}([^{}*]*)$/;

function compileSegment(text: string, last: boolean, source: string): Segment {
  if (text === '*') return { kind: Kind.Any, prefix: '', suffix: '', claim: '' };
  if (text === '**') {
    if (!last) throw new TypeError(`portcullis: "**" must be the last segment of pattern ${JSON.stringify(source)}`);
    return { kind: Kind.Rest, prefix: '', suffix: '', claim: '' };
  }
  if (!/[{}*]/.test(text)) return { kind: Kind.Literal, prefix: text, suffix: '', claim: '' };
  const glob = /^([^{}*]*)\*([^{}*]*)$/.exec(text);
  if (glob !== null) return { kind: Kind.Glob, prefix: glob[1] as string, suffix: glob[2] as string, claim: '' };
  const m = PLACEHOLDER.exec(text);
  if (m === null) {
    throw new TypeError(
      `portcullis: segment ${JSON.stringify(text)} of pattern ${JSON.stringify(source)} must be a literal, "*", "**", text around one "*", or text around one {claim}`,
    );
  }
  return { kind: Kind.Bind, prefix: m[1] as string, suffix: m[3] as string, claim: m[2] as string };
}

/** True when `name.slice(start, end)` equals `prefix + value + suffix`, without slicing. */
function segmentEquals(name: string, start: number, end: number, seg: Segment, value: string): boolean {
  if (value === '') return false;
  if (end - start !== seg.prefix.length + value.length + seg.suffix.length) return false;
  return (
    name.startsWith(seg.prefix, start) &&
    name.startsWith(value, start + seg.prefix.length) &&
    name.startsWith(seg.suffix, start + seg.prefix.length + value.length)
  );
}

function bound(name: string, start: number, end: number, seg: Segment, principal: Principal<object>): boolean {
  const value: unknown = seg.claim === '$id' ? principal.id : (principal.claims as Record<string, unknown> | undefined)?.[seg.claim];
  if (typeof value === 'string') return segmentEquals(name, start, end, seg, value);
  if (typeof value === 'number') return Number.isFinite(value) && segmentEquals(name, start, end, seg, String(value));
  if (Array.isArray(value)) {
    for (const v of value) {
      if ((typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) && segmentEquals(name, start, end, seg, String(v))) {
        return true;
      }
    }
  }
  return false;
}

/**
 * Compiles `source` with `separator` (one character). Throws `TypeError` for an
 * empty pattern, a misplaced `**`, or a segment with more than one placeholder.
 */
export function compilePattern(source: string, separator: string): NamePattern {
  if (typeof source !== 'string' || source === '') throw new TypeError('portcullis: a pattern must be a non-empty string');
  if (separator.length !== 1) throw new TypeError('portcullis: a pattern separator is one character');
  const parts = source.split(separator);
  const segments = parts.map((text, i) => compileSegment(text, i === parts.length - 1, source));
  const sep = separator;
  return {
    source,
    match(name, principal) {
      let pos = 0;
      const n = name.length;
      for (let i = 0; i < segments.length; i++) {
        if (pos > n) return false;
        const seg = segments[i] as Segment;
        if (seg.kind === Kind.Rest) return pos < n;
        let end = name.indexOf(sep, pos);
        if (end === -1) end = n;
        switch (seg.kind) {
          case Kind.Literal:
            if (end - pos !== seg.prefix.length || !name.startsWith(seg.prefix, pos)) return false;
            break;
          case Kind.Any:
            if (end === pos) return false;
            break;
          case Kind.Glob:
            if (
              end - pos <= seg.prefix.length + seg.suffix.length ||
              !name.startsWith(seg.prefix, pos) ||
              !name.endsWith(seg.suffix, end)
            ) {
              return false;
            }
            break;
          default:
            if (!bound(name, pos, end, seg, principal)) return false;
        }
        // Past the last segment: the name must end exactly here.
        if (i === segments.length - 1) return end === n;
        if (end === n) return false;
        pos = end + 1;
      }
      return false;
    },
  };
}

/**
 * Event names: exact names, or a prefix ending in `*` (`admin:*`), or `*` for
 * every event. Exact names win; then prefixes, longest first.
 */
export interface EventMatcher<T> {
  /** The rule for `name`, and its key, or `undefined` when none matches. */
  find(name: string): { readonly key: string; readonly rule: T } | undefined;
}

/** Compiles event rules. Throws `TypeError` for a `*` anywhere but at the end. */
export function compileEventRules<T>(rules: Readonly<Record<string, T>>): EventMatcher<T> {
  const exact = new Map<string, { key: string; rule: T }>();
  const prefixes: { prefix: string; key: string; rule: T }[] = [];
  for (const [key, rule] of Object.entries(rules)) {
    const star = key.indexOf('*');
    if (star === -1) exact.set(key, { key, rule });
    else if (star === key.length - 1) prefixes.push({ prefix: key.slice(0, -1), key, rule });
    else throw new TypeError(`portcullis: event pattern ${JSON.stringify(key)} may only end in "*"`);
  }
  prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  return {
    find(name) {
      const hit = exact.get(name);
      if (hit !== undefined) return hit;
      for (const p of prefixes) if (name.startsWith(p.prefix)) return p;
      return undefined;
    },
  };
}
