/**
 * The Redis store: the {@link Store} for a cluster of servers, on `ioredis` v5
 * (an optional peer dependency, imported here for its types only).
 *
 * Every operation is one atomic Redis command or Lua script, and every call is
 * bounded: a Redis error, a closed or reconnecting connection, or a reply that
 * takes longer than `timeoutMs` rejects with `AuthError('unavailable')`. The
 * store never answers "yes" (a nonce was new, a ticket was found) unless Redis
 * said so within the deadline.
 *
 * A call that timed out may still reach Redis later (ioredis re-sends queued
 * commands after a reconnect); its caller was refused, so at worst a nonce or
 * ticket is burnt. Teardown (`close()`, unsubscribing) never rejects.
 *
 * The parts live in `./redis/`: `connection.ts` (bounded calls), `scripts.ts`
 * (Lua), `values.ts` (nonces, tickets, revocation records), `counters.ts` (rate
 * and attempt counters), `pubsub.ts` (publish/subscribe).
 */

import type { Cluster, Redis } from 'ioredis';
import type { Store } from '../core/types.js';
import { asConnection, createCaller, shutdown } from './redis/connection.js';
import { createCounterOperations } from './redis/counters.js';
import { createPubSub } from './redis/pubsub.js';
import { createValueOperations } from './redis/values.js';

export interface RedisStoreOptions {
  /**
   * The connection for commands: an ioredis `Redis` or `Cluster`. The store does
   * not own it (it is left open by {@link Store.close}) unless `ownsClient` is set.
   * Create it with `enableOfflineQueue: false` so nothing waits for a lost
   * connection; the per-call timeout bounds every call either way. Attach an
   * `error` listener to it: connection errors surface as `unavailable` refusals.
   */
  client: Redis | Cluster;
  /** Whether {@link Store.close} quits `client`. @default false */
  ownsClient?: boolean;
  /**
   * A second connection for pub/sub (a subscribed connection cannot run other
   * commands). Opened lazily on the first `subscribe`. A given one is not quit by
   * `close()` (only this store's channels are unsubscribed); it must keep
   * `autoResubscribe` on. @default `client.duplicate()`, owned by the store
   */
  subscriber?: Redis | Cluster;
  /** Prepended to every key and every pub/sub channel. @default 'portcullis:' */
  prefix?: string;
  /** Deadline of each call, in milliseconds, including waiting for a connection. @default 500 */
  timeoutMs?: number;
}

const DEFAULT_PREFIX = 'portcullis:';
const DEFAULT_TIMEOUT_MS = 500;
const MAX_TIMER_MS = 2_147_483_647;

/** Creates a Redis store. Throws `TypeError` on invalid options. */
export function createRedisStore(options: RedisStoreOptions): Store {
  if (typeof options !== 'object' || options === null) throw new TypeError('portcullis: redis store options are required');
  const client = asConnection(options.client, 'client');
  const given = options.subscriber === undefined ? undefined : asConnection(options.subscriber, 'subscriber');
  if (given === client) throw new TypeError('portcullis: subscriber must be a separate connection from client');
  if (given === undefined && typeof client.duplicate !== 'function')
    throw new TypeError('portcullis: client cannot be duplicated; pass a subscriber');
  if (given?.options?.autoResubscribe === false) throw new TypeError('portcullis: subscriber must keep autoResubscribe enabled');
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== 'string') throw new TypeError('portcullis: prefix must be a string');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMER_MS)
    throw new TypeError('portcullis: timeoutMs must be a positive integer');
  const ownsClient = options.ownsClient ?? false;
  if (typeof ownsClient !== 'boolean') throw new TypeError('portcullis: ownsClient must be a boolean');

  const caller = createCaller(timeoutMs);
  const quit = (conn: Parameters<typeof shutdown>[0]): Promise<void> => shutdown(conn, timeoutMs);
  const pubsub = createPubSub({ client, given, prefix, caller, timeoutMs, shutdown: quit });
  let closing: Promise<void> | undefined;

  return {
    ...createValueOperations(client, prefix, caller),
    ...createCounterOperations(client, prefix, caller),
    publish: pubsub.publish,
    subscribe: pubsub.subscribe,
    close() {
      if (closing !== undefined) return closing;
      caller.close();
      closing = (async () => {
        await pubsub.close();
        if (ownsClient) await quit(client);
      })();
      return closing;
    },
  };
}
