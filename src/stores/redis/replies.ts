/** Checks of Redis replies and arguments shared by the store's operations. */
import { unavailable } from './connection.js';

/** A reply check for `op`: passes a reply of the expected shape through, else throws `unavailable`. */
export const expect = <T>(op: string, ok: (reply: unknown) => reply is T) => {
  return (reply: unknown): T => {
    if (!ok(reply)) throw unavailable(`${op} got an unexpected reply`);
    return reply;
  };
};

export const isOptionalString = (r: unknown): r is string | null => r === null || typeof r === 'string';

export const isInteger = (r: unknown): r is number => Number.isSafeInteger(r);

/** A TTL in whole milliseconds (rounded up); throws `TypeError` unless positive. */
export const toTtl = (ttlMs: number): number => {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError('portcullis: ttlMs must be a positive number');
  return Math.ceil(ttlMs);
};
