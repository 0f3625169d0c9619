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
 */

import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Store } from '../core/types.js';
import { AuthError } from '../errors.js';

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

/** The part of ioredis (`Redis` and `Cluster` alike) this store uses. */
interface Connection {
  readonly status: string;
  readonly isCluster?: boolean;
  readonly options?: { readonly autoResubscribe?: boolean };
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
  connect(): Promise<void>;
  duplicate(override?: { autoResubscribe: boolean }): Connection;
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
}

interface Script {
  readonly source: string;
  readonly sha: string;
}

const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });

/** GETDEL for servers older than 6.2. */
const GET_DEL = script("local v = redis.call('GET', KEYS[1])\nif v then redis.call('DEL', KEYS[1]) end\nreturn v");

/** INCR, with the TTL set when the counter is created (or repaired if it somehow has none). */
const INCREMENT = script(
  "local n = redis.call('INCR', KEYS[1])\nif n == 1 or redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end\nreturn n",
);

/**
 * Reserve: INCR unless the counter already holds ARGV[1]; the TTL (ARGV[2]) is set
 * when the counter is created. Replies the new count, or 0 when it was full.
 */
const RESERVE = script(
  "local n = tonumber(redis.call('GET', KEYS[1]) or '0')\nif n >= tonumber(ARGV[1]) then return 0 end\nn = redis.call('INCR', KEYS[1])\nif n == 1 or redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\nreturn n",
);

/**
 * Release: DECR (which keeps the TTL) when the counter is above 1; DEL when that
 * would leave 0 (nothing a new window would lose); never creates it.
 */
const RELEASE = script(
  "local n = tonumber(redis.call('GET', KEYS[1]) or '0')\nif n > 1 then return redis.call('DECR', KEYS[1]) end\nredis.call('DEL', KEYS[1])\nreturn 0",
);

const DEFAULT_PREFIX = 'portcullis:';
const DEFAULT_TIMEOUT_MS = 500;
const MAX_TIMER_MS = 2_147_483_647;
const noop = (): void => {};

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
/** An error message for `detail`, without the arguments Redis may echo (keys hold ticket ids). */
const safeMessage = (err: unknown): string => messageOf(err).replace(/,? with args beginning with:.*$/s, '');

const asConnection = (value: unknown, name: string): Connection => {
  const v = value as Partial<Record<'status' | 'call' | 'on' | 'off', unknown>> | null;
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof v.status !== 'string' ||
    typeof v.call !== 'function' ||
    typeof v.on !== 'function' ||
    typeof v.off !== 'function'
  )
    throw new TypeError(`portcullis: ${name} must be an ioredis Redis or Cluster instance`);
  return value as Connection;
};

interface ChannelState {
  readonly handlers: Set<(message: string) => void>;
  /** Whether Redis has (as far as we know) this channel subscribed. */
  subscribed: boolean;
  /** Subscribe/unsubscribe steps of this channel, run one at a time. */
  queue: Promise<unknown>;
}

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

  let subscriber: Connection | undefined;
  const channels = new Map<string, ChannelState>();
  const waiters = new Map<Connection, { promise: Promise<void>; cancel: () => void }>();
  let getDelMissing = false;
  let closed = false;
  let closing: Promise<void> | undefined;

  const unavailable = (detail: string, cause?: unknown): AuthError =>
    new AuthError('unavailable', cause === undefined ? { detail: `redis: ${detail}` } : { detail: `redis: ${detail}`, cause });

  /** One shared wait for `ready` per connection (not one listener per call). */
  const whenReady = (conn: Connection): Promise<void> => {
    const existing = waiters.get(conn);
    if (existing !== undefined) return existing.promise;
    let cancel = noop;
    const promise = new Promise<void>((resolve, reject) => {
      const off = (): void => {
        waiters.delete(conn);
        conn.off('ready', onReady);
        conn.off('close', onClose);
        conn.off('end', onClose);
      };
      const onReady = (): void => {
        off();
        resolve();
      };
      const onClose = (): void => {
        off();
        reject(new Error('connection closed while connecting'));
      };
      cancel = () => {
        off();
        reject(new Error('store closed'));
      };
      conn.on('ready', onReady);
      conn.on('close', onClose);
      conn.on('end', onClose);
    });
    waiters.set(conn, { promise, cancel });
    if (conn.status === 'wait') conn.connect().catch(noop);
    return promise;
  };

  /** Runs `send` on `conn` within `timeoutMs`, mapping every failure to `unavailable`. */
  const run = <T>(op: string, conn: Connection, send: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(unavailable('store closed'));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(unavailable(`${op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const ok = (value: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      };
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err instanceof AuthError ? err : unavailable(`${op} failed: ${safeMessage(err)}`, err));
      };
      const go = (): void => {
        try {
          send().then(ok, fail);
        } catch (err) {
          fail(err);
        }
      };
      switch (conn.status) {
        case 'ready':
          go();
          break;
        case 'wait':
        case 'connecting':
        case 'connect':
          whenReady(conn).then(go, fail);
          break;
        default:
          fail(unavailable(`${op} refused: connection ${conn.status}`));
      }
    });
  };

  /** EVALSHA, falling back to EVAL when the script is not cached yet. */
  const evalScript = async (s: Script, key: string, ...args: (string | number)[]): Promise<unknown> => {
    try {
      return await client.call('EVALSHA', s.sha, 1, key, ...args);
    } catch (err) {
      if (!messageOf(err).startsWith('NOSCRIPT')) throw err;
      return client.call('EVAL', s.source, 1, key, ...args);
    }
  };

  const expect = <T>(op: string, ok: (reply: unknown) => reply is T) => {
    return (reply: unknown): T => {
      if (!ok(reply)) throw unavailable(`${op} got an unexpected reply`);
      return reply;
    };
  };
  const isOptionalString = (r: unknown): r is string | null => r === null || typeof r === 'string';
  const isInteger = (r: unknown): r is number => Number.isSafeInteger(r);
  const toTtl = (ttlMs: number): number => {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError('portcullis: ttlMs must be a positive number');
    return Math.ceil(ttlMs);
  };

  const onMessage = (channel: string, message: string): void => {
    const state = channels.get(channel);
    if (state === undefined) return;
    for (const handler of [...state.handlers]) queueMicrotask(() => handler(message));
  };
  const pubsub = (): Connection => {
    if (subscriber === undefined) {
      // Redis.duplicate takes option overrides; Cluster.duplicate takes startup nodes first.
      subscriber = given ?? (client.isCluster === true ? client.duplicate() : client.duplicate({ autoResubscribe: true }));
      if (given === undefined) subscriber.on('error', noop);
      subscriber.on('message', onMessage);
    }
    return subscriber;
  };
  const enqueue = <T>(state: ChannelState, step: () => Promise<T>): Promise<T> => {
    const result = state.queue.then(step);
    state.queue = result.catch(noop);
    return result;
  };
  const dropIfIdle = (channel: string, state: ChannelState): void => {
    if (state.handlers.size === 0 && !state.subscribed && channels.get(channel) === state) channels.delete(channel);
  };

  /** Quits a connection the store owns (gracefully when ready) and waits, bounded, for it to end. */
  const shutdown = async (conn: Connection): Promise<void> => {
    if (conn.status === 'end') return;
    let timer: NodeJS.Timeout | undefined;
    let onEnd = noop;
    const ended = new Promise<boolean>((resolve) => {
      onEnd = () => resolve(true);
      conn.on('end', onEnd);
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    if (conn.status === 'ready') conn.quit().catch(() => conn.disconnect());
    else conn.disconnect();
    const clean = await ended;
    clearTimeout(timer);
    conn.off('end', onEnd);
    if (!clean) conn.disconnect();
  };

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
        return evalScript(GET_DEL, k);
      }).then(expect('getAndDelete', isOptionalString));
      return reply ?? undefined;
    },
    async increment(key, ttlMs) {
      const ttl = toTtl(ttlMs);
      return run('increment', client, () => evalScript(INCREMENT, prefix + key, ttl)).then(expect('increment', isInteger));
    },
    async reserve(key, max, ttlMs) {
      const ttl = toTtl(ttlMs);
      if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('portcullis: max must be a positive integer');
      return run('reserve', client, () => evalScript(RESERVE, prefix + key, max, ttl)).then(expect('reserve', isInteger));
    },
    async release(key) {
      await run('release', client, () => evalScript(RELEASE, prefix + key)).then(expect('release', isInteger));
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
    async publish(channel, message) {
      await run('publish', client, () => client.call('PUBLISH', prefix + channel, message)).then(expect('publish', isInteger));
    },
    async subscribe(channel, handler) {
      if (closed) throw unavailable('store closed');
      if (typeof handler !== 'function') throw new TypeError('portcullis: handler must be a function');
      const full = prefix + channel;
      let state = channels.get(full);
      if (state === undefined) {
        state = { handlers: new Set(), subscribed: false, queue: Promise.resolve() };
        channels.set(full, state);
      }
      const own = (message: string): void => handler(message);
      const current = state;
      await enqueue(current, async () => {
        if (closed) throw unavailable('store closed');
        current.handlers.add(own);
        if (current.subscribed) return;
        try {
          const conn = pubsub();
          await run('subscribe', conn, () => conn.subscribe(full));
          if (closed) {
            // close() ran meanwhile and did not know of this channel.
            conn.unsubscribe(full).catch(noop);
            throw unavailable('store closed');
          }
          current.subscribed = true;
        } catch (err) {
          current.handlers.delete(own);
          dropIfIdle(full, current);
          throw err;
        }
      });
      let done = false;
      // Never rejects: the handler is detached at once, and UNSUBSCRIBE is best effort
      // (bounded by timeoutMs). Teardown must not fail because Redis is down.
      return async () => {
        if (done || closed) return;
        done = true;
        current.handlers.delete(own);
        await enqueue(current, async () => {
          if (current.handlers.size > 0 || !current.subscribed || closed) return;
          // Assume unsubscribed even on failure: a later subscribe then re-subscribes
          // (idempotent), and a stale subscription only delivers messages nobody handles.
          current.subscribed = false;
          const conn = pubsub();
          await run('unsubscribe', conn, () => conn.unsubscribe(full)).catch(noop);
          dropIfIdle(full, current);
        });
      };
    },
    close() {
      if (closing !== undefined) return closing;
      closed = true;
      for (const waiter of [...waiters.values()]) waiter.cancel();
      closing = (async () => {
        const conn = subscriber;
        const names = [...channels.entries()].filter(([, state]) => state.subscribed).map(([name]) => name);
        channels.clear();
        if (conn !== undefined) {
          conn.off('message', onMessage);
          if (given === undefined) await shutdown(conn);
          else if (conn.status === 'ready') {
            // Not ours to quit: only drop this store's channels, bounded like any call.
            let timer: NodeJS.Timeout | undefined;
            const expired = new Promise<void>((resolve) => {
              timer = setTimeout(resolve, timeoutMs);
            });
            const drop = Promise.all(names.map((name) => conn.unsubscribe(name).catch(noop)));
            await Promise.race([drop, expired]);
            clearTimeout(timer);
          }
        }
        if (ownsClient) await shutdown(client);
      })();
      return closing;
    },
  };
}
