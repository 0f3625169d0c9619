/**
 * Counters of the Redis store (handshake rate, failed attempts): one Lua script
 * per call, so the increment and its TTL are one atomic step.
 */
import type { Store } from '../../core/types.js';
import type { Caller, Connection } from './connection.js';
import { expect, isInteger, toTtl } from './replies.js';
import { evalScript, INCREMENT } from './scripts.js';

export type CounterOperations = Pick<Store, 'increment'>;

/** The counter operations on `client`, keys prefixed with `prefix`. */
export function createCounterOperations(client: Connection, prefix: string, caller: Caller): CounterOperations {
  const { run } = caller;
  return {
    async increment(key, ttlMs) {
      const ttl = toTtl(ttlMs);
      return run('increment', client, () => evalScript(client, INCREMENT, prefix + key, ttl)).then(expect('increment', isInteger));
    },
  };
}
