/**
 * Plain keys of the Redis store: nonces (`setIfAbsent`), one-time tickets
 * (`getAndDelete`), revocation records (`set`, `get`, `existsAny`). Each is one
 * command (or one single-key script) on one key.
 */
import type { Store } from '../../core/types.js';
import type { Caller, Connection } from './connection.js';
import { messageOf, unavailable } from './connection.js';
import { expect, isInteger, isOptionalString, toTtl } from './replies.js';
import { evalScript, GET_DEL } from './scripts.js';

export type ValueOperations = Pick<Store, 'setIfAbsent' | 'set' | 'get' | 'getAndDelete' | 'existsAny'> & Required<Pick<Store, 'ttl'>>;

/** The value operations on `client`, keys prefixed with `prefix`. */
export function createValueOperations(client: Connection, prefix: string, caller: Caller): ValueOperations {
  const { run } = caller;
  /** Set once the server answered that it has no GETDEL (Redis < 6.2, or renamed): the script is used from then on. */
  let getDelMissing = false;

  return {
    async setIfAbsent(key, value, ttlMs) {
      const ttl = toTtl(ttlMs);
      const reply = await run('setIfAbsent', client, () => client.call('SET', prefix + key, value, 'PX', ttl, 'NX'));
      if (reply === 'OK') return true;
      if (reply === null) return false;
      throw unavailable('setIfAbsent got an unexpected reply');
    },
    async set(key, value, ttlMs) {
      const ttl = toTtl(ttlMs);
      const reply = await run('set', client, () => client.call('SET', prefix + key, value, 'PX', ttl));
      if (reply !== 'OK') throw unavailable('set got an unexpected reply');
    },
    async ttl(key) {
      const reply = await run('ttl', client, () => client.call('PTTL', prefix + key)).then(expect('ttl', isInteger));
      // -2: no such key; -1: no expiry.
      return typeof reply === 'number' && reply >= 0 ? reply : undefined;
    },
    async get(key) {
      const reply = await run('get', client, () => client.call('GET', prefix + key)).then(expect('get', isOptionalString));
      return reply ?? undefined;
    },
    async getAndDelete(key) {
      const k = prefix + key;
      const reply = await run('getAndDelete', client, async () => {
        if (!getDelMissing) {
          try {
            return await client.call('GETDEL', k);
          } catch (err) {
            const text = messageOf(err);
            if (!/unknown command/i.test(text) || !/getdel/i.test(text)) throw err;
            getDelMissing = true;
          }
        }
        return evalScript(client, GET_DEL, k);
      }).then(expect('getAndDelete', isOptionalString));
      return reply ?? undefined;
    },
    async existsAny(keys) {
      if (keys.length === 0) return false;
      const full = keys.map((key) => prefix + key);
      const count = await run('existsAny', client, async () => {
        // A cluster refuses multi-key EXISTS across slots: ask per key.
        if (client.isCluster !== true) return client.call('EXISTS', ...full);
        const replies = await Promise.all(full.map((k) => client.call('EXISTS', k)));
        return replies.reduce<number>((sum, r) => sum + (typeof r === 'number' ? r : 0), 0);
      }).then(expect('existsAny', isInteger));
      return count > 0;
    },
  };
}
