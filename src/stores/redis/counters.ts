/**
 * Counters of the Redis store (handshake rate, attempt reservations): one Lua
 * script per call, so the check, the increment and its TTL are one atomic step.
 */
import type { Store } from '../../core/types.js';
import type { Caller, Connection } from './connection.js';
import { expect, isInteger, toTtl } from './replies.js';
import { evalScript, INCREMENT, RELEASE, RESERVE } from './scripts.js';

export type CounterOperations = Pick<Store, 'increment' | 'reserve' | 'release'>;

/** The counter operations on `client`, keys prefixed with `prefix`. */
export function createCounterOperations(client: Connection, prefix: string, caller: Caller): CounterOperations {
  const { run } = caller;
  return {
    async increment(key, ttlMs) {
      const ttl = toTtl(ttlMs);
      return run('increment', client, () => evalScript(client, INCREMENT, prefix + key, ttl)).then(expect('increment', isInteger));
    },
    async reserve(key, max, ttlMs) {
      const ttl = toTtl(ttlMs);
      if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('portcullis: max must be a positive integer');
      // A reservation that times out (refused `unavailable`) but still reaches Redis would hold its slot for the
      // whole window, locking out clients who never failed: it is given back when its late reply arrives.
      const undo = (n: unknown): void => {
        if (typeof n === 'number' && n > 0) run('release', client, () => evalScript(client, RELEASE, prefix + key)).catch(() => {});
      };
      return run('reserve', client, () => evalScript(client, RESERVE, prefix + key, max, ttl), undo).then(expect('reserve', isInteger));
    },
    async release(key) {
      await run('release', client, () => evalScript(client, RELEASE, prefix + key)).then(expect('release', isInteger));
    },
  };
}
