/**
 * The store conformance suite over the memory store and the Redis store (on a
 * private redis-server), then what only one of them has: the memory store's key
 * cap and sweep, Redis' options, ownership, prefixing and behaviour when Redis
 * stops, hangs or lacks GETDEL.
 */

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import type { RedisOptions } from 'ioredis';
import { Redis } from 'ioredis';
import { createManualClock } from '../../src/core/clock.js';
import type { Store } from '../../src/core/types.js';
import { isAuthError } from '../../src/errors.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createRedisStore } from '../../src/stores/redis.js';
import type { RedisServer } from '../helpers/redis.js';
import { describeRedis, eventually, skipWithoutRedis, startRedis } from '../helpers/redis.js';
import { waitUntil } from '../helpers/wait.js';
import type { StoreHarness } from './store-conformance.js';
import { assertUnavailable, inbox, storeConformance } from './store-conformance.js';

const LONG_TTL = 3_600_000;
const noop = (): void => {};

// ---------------------------------------------------------------- memory

function memoryHarness(): StoreHarness {
  const clock = createManualClock();
  const stores: Store[] = [];
  const ttlMs = 1_000;
  return {
    ttlMs,
    async open() {
      const store = createMemoryStore({ clock });
      stores.push(store);
      return store;
    },
    async expire(gone) {
      clock.advance(ttlMs);
      if (!(await gone())) throw new Error('still there after advancing the clock by the TTL');
    },
    async close() {
      await Promise.all(stores.map((s) => s.close()));
    },
  };
}

storeConformance('memory store: conformance', { shared: false }, memoryHarness);

describe('memory store only', () => {
  it('a TTL ends exactly at ttlMs', async () => {
    const clock = createManualClock();
    const s = createMemoryStore({ clock });
    await s.set('k', 'v', 1_000);
    clock.advance(999);
    assert.equal(await s.get('k'), 'v');
    clock.advance(1);
    assert.equal(await s.get('k'), undefined);
    await s.close();
  });

  it('the key cap fails closed with unavailable, and frees up as keys expire', async () => {
    const clock = createManualClock();
    const s = createMemoryStore({ clock, maxKeys: 2 });
    await s.set('a', '1', 1_000);
    assert.equal(await s.setIfAbsent('b', '1', 5_000), true);
    await assertUnavailable(s.setIfAbsent('c', '1', 1_000));
    await assertUnavailable(s.set('c', '1', 1_000));
    await assertUnavailable(s.increment('c', 1_000));
    assert.equal(await s.get('c'), undefined);
    // Live keys may still be rewritten.
    await s.set('a', '2', 1_000);
    assert.equal(await s.increment('b', 1_000), 2);
    clock.advance(1_000);
    assert.equal(await s.setIfAbsent('c', '1', 1_000), true);
    assert.equal(s.size, 2);
    await s.close();
  });

  it('the periodic sweep drops expired keys', async () => {
    const clock = createManualClock();
    const s = createMemoryStore({ clock, sweepIntervalMs: 5_000 });
    await s.set('a', '1', 1_000);
    await s.set('b', '1', 1_000);
    await s.set('c', '1', 60_000);
    clock.advance(1_000);
    assert.equal(s.size, 3, 'expired keys linger until swept');
    clock.advance(4_000);
    assert.equal(s.size, 1);
    clock.advance(60_000);
    assert.equal(s.size, 0);
    assert.equal(clock.pendingTimers, 0, 'no sweep is scheduled for an empty store');
    await s.set('d', '1', 1_000);
    clock.advance(1_000);
    s.sweep();
    assert.equal(s.size, 0);
    await s.close();
    assert.equal(clock.pendingTimers, 0);
  });
});

// ---------------------------------------------------------------- redis

/** Every client a test made; the file's last hook disconnects any a failing test left behind. */
const everyClient = new Set<Redis>();
after(() => {
  for (const client of everyClient) client.disconnect();
});

/** A client the test owns: no offline queue, quick reconnects, errors absorbed (they surface as rejections). */
function connectClient(port: number, extra: Partial<RedisOptions> = {}): Redis {
  const client = new Redis({ host: '127.0.0.1', port, enableOfflineQueue: false, retryStrategy: () => 50, ...extra });
  client.on('error', noop);
  everyClient.add(client);
  return client;
}

const uniquePrefix = (): string => `t-${randomUUID().slice(0, 8)}:`;

function redisHarness(server: RedisServer): StoreHarness {
  const base = uniquePrefix();
  const clients: Redis[] = [];
  const stores: Store[] = [];
  const ttlMs = 200;
  return {
    ttlMs,
    async open(options = {}) {
      const client = connectClient(server.port);
      clients.push(client);
      const store = createRedisStore({ client, prefix: `${base}${options.prefix ?? 'default:'}` });
      stores.push(store);
      return store;
    },
    expire: (gone) => eventually(gone, ttlMs + 3_000, 'the TTL to run out'),
    async close() {
      await Promise.all(stores.map((s) => s.close()));
      for (const client of clients) client.disconnect();
    },
  };
}

describeRedis('redis store', (server) => {
  storeConformance('conformance', { shared: true }, () => redisHarness(server()));

  /** Runs `fn` with a raw client (offline queue on, so it may be used before it is ready). */
  const withClient = async (fn: (client: Redis) => Promise<void>, extra: Partial<RedisOptions> = {}): Promise<void> => {
    const client = connectClient(server().port, { enableOfflineQueue: true, ...extra });
    try {
      await fn(client);
    } finally {
      client.disconnect();
    }
  };

  it('keys and channels carry the prefix (default "portcullis:")', () =>
    withClient(async (raw) => {
      const client = connectClient(server().port);
      const prefix = uniquePrefix();
      const store = createRedisStore({ client, prefix });
      const plain = createRedisStore({ client });
      const rawSub = raw.duplicate();
      rawSub.on('error', noop);
      try {
        await store.set('k', 'v', LONG_TTL);
        assert.equal(await raw.get(`${prefix}k`), 'v');
        assert.equal(await raw.get('k'), null);
        const name = `default-${randomUUID()}`;
        await plain.set(name, 'v', LONG_TTL);
        assert.equal(await raw.exists(`portcullis:${name}`), 1);
        await raw.del(`portcullis:${name}`);

        const seen = inbox();
        rawSub.on('message', (channel: string, message: string) => seen.handler(`${channel}=${message}`));
        await rawSub.subscribe(`${prefix}out`);
        await store.publish('out', 'hello');
        assert.deepEqual(await seen.until(1), [`${prefix}out=hello`]);

        const box = inbox();
        await store.subscribe('in', box.handler);
        await raw.publish('in', 'unprefixed: not for the store');
        await raw.publish(`${prefix}in`, 'for the store');
        assert.deepEqual(await box.until(1), ['for the store']);
      } finally {
        await store.close();
        await plain.close();
        rawSub.disconnect();
        client.disconnect();
      }
    }));

  it('TTLs land in Redis: PX on set, and increment keeps its first TTL (or repairs a missing one)', () =>
    withClient(async (raw) => {
      const prefix = uniquePrefix();
      const store = createRedisStore({ client: raw, prefix });
      try {
        assert.equal(await store.setIfAbsent('n', 'v', 10_000), true);
        const nonceTtl = await raw.pttl(`${prefix}n`);
        assert.ok(nonceTtl > 0 && nonceTtl <= 10_000, `PTTL ${nonceTtl}`);
        assert.equal(await store.increment('c', 10_000), 1);
        assert.equal(await store.increment('c', LONG_TTL), 2);
        const counterTtl = await raw.pttl(`${prefix}c`);
        assert.ok(counterTtl > 0 && counterTtl <= 10_000, `PTTL ${counterTtl}`);
        await raw.set(`${prefix}legacy`, '5');
        assert.equal(await store.increment('legacy', 10_000), 6);
        assert.ok((await raw.pttl(`${prefix}legacy`)) > 0, 'a counter without TTL gets one');
        await store.set('fraction', 'v', 1.5);
        assert.equal(await store.get('fraction'), 'v');
      } finally {
        await store.close();
      }
    }));

  it('validates its options with TypeError', () =>
    withClient(
      async (client) => {
        const other = client.duplicate();
        const noResubscribe = client.duplicate({ autoResubscribe: false });
        try {
          const bad: unknown[] = [
            undefined,
            null,
            {},
            { client: {} },
            { client: 'redis://localhost' },
            { client, subscriber: client },
            { client, subscriber: {} },
            { client, subscriber: noResubscribe },
            { client, prefix: 42 },
            { client, timeoutMs: 0 },
            { client, timeoutMs: -1 },
            { client, timeoutMs: 1.5 },
            { client, timeoutMs: Number.POSITIVE_INFINITY },
            { client, timeoutMs: '500' },
            { client, ownsClient: 'yes' },
          ];
          for (const options of bad) {
            assert.throws(() => createRedisStore(options as Parameters<typeof createRedisStore>[0]), TypeError, String(options));
          }
          const ok = createRedisStore({ client, subscriber: other, prefix: '', timeoutMs: 1, ownsClient: false });
          await ok.close();
          // A command client without autoResubscribe is fine: the duplicated subscriber gets it back.
          await createRedisStore({ client: noResubscribe }).close();
          assert.equal(client.status, 'wait', 'creating and closing a store does not connect anything');
        } finally {
          other.disconnect();
          noResubscribe.disconnect();
        }
      },
      { lazyConnect: true },
    ));

  it('a lazyConnect client (and its duplicate) connect on first use', () =>
    withClient(
      async (client) => {
        const store = createRedisStore({ client, prefix: uniquePrefix() });
        try {
          assert.equal(client.status, 'wait');
          assert.equal(await store.setIfAbsent('k', 'v', LONG_TTL), true);
          const box = inbox();
          await store.subscribe('ch', box.handler);
          await store.publish('ch', 'm');
          assert.deepEqual(await box.until(1), ['m']);
        } finally {
          await store.close();
        }
      },
      { lazyConnect: true },
    ));

  const numsub = async (raw: Redis, channel: string): Promise<number> => {
    const reply = (await raw.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
    return Number(reply[1]);
  };

  it('close() quits the duplicated subscriber it owns, not the client', () =>
    withClient(async (raw) => {
      const prefix = uniquePrefix();
      const client = connectClient(server().port);
      const store = createRedisStore({ client, prefix });
      try {
        await store.subscribe('a', noop);
        assert.equal(await numsub(raw, `${prefix}a`), 1);
        await store.close();
        assert.equal(client.status, 'ready');
        assert.equal(await client.ping(), 'PONG');
        assert.equal(await numsub(raw, `${prefix}a`), 0);
        await assertUnavailable(store.get('k'));
        await assertUnavailable(store.publish('a', 'x'));
        await assertUnavailable(store.subscribe('a', noop));
      } finally {
        await store.close();
        client.disconnect();
      }
    }));

  it('close() with ownsClient ends the client too', async () => {
    const client = connectClient(server().port);
    const store = createRedisStore({ client, ownsClient: true, prefix: uniquePrefix() });
    try {
      await store.set('k', 'v', LONG_TTL);
      await store.subscribe('a', noop);
      await store.close();
      assert.equal(client.status, 'end');
    } finally {
      client.disconnect();
    }
  });

  it('close() leaves a given subscriber open with its other channels, dropping only the store’s', () =>
    withClient(async (raw) => {
      const prefix = uniquePrefix();
      const client = connectClient(server().port);
      const sub = connectClient(server().port, { enableOfflineQueue: true });
      const store = createRedisStore({ client, subscriber: sub, prefix });
      try {
        const messages: string[] = [];
        sub.on('message', (_channel: string, message: string) => messages.push(message));
        await sub.subscribe('foreign');
        const unsubscribeB = await store.subscribe('b', noop);
        await store.subscribe('c', noop);
        await unsubscribeB();
        assert.equal(await numsub(raw, `${prefix}b`), 0);
        assert.equal(await numsub(raw, `${prefix}c`), 1);
        await store.close();
        assert.equal(sub.status, 'ready');
        assert.equal(client.status, 'ready');
        assert.equal(await numsub(raw, `${prefix}c`), 0);
        assert.equal(await numsub(raw, 'foreign'), 1);
        await raw.publish('foreign', 'still yours');
        await waitUntil(() => messages.length === 1, 2_000, 'the foreign message');
      } finally {
        await store.close();
        client.disconnect();
        sub.disconnect();
      }
    }));

  it('an error reply from Redis (WRONGTYPE) rejects with unavailable', () =>
    withClient(async (raw) => {
      const prefix = uniquePrefix();
      const store = createRedisStore({ client: raw, prefix });
      try {
        await raw.lpush(`${prefix}list`, 'x');
        for (const call of [() => store.get('list'), () => store.getAndDelete('list'), () => store.increment('list', LONG_TTL)]) {
          await assert.rejects(
            call(),
            (err: unknown) => isAuthError(err) && err.code === 'unavailable' && /WRONGTYPE/.test(err.detail ?? ''),
          );
        }
      } finally {
        await store.close();
      }
    }));

  it('a client closed by its owner makes every call reject with unavailable at once', async () => {
    const client = connectClient(server().port);
    // A long per-call timeout: "at once" is then far from "after the timeout", even on a loaded machine.
    const store = createRedisStore({ client, prefix: uniquePrefix(), timeoutMs: 60_000 });
    try {
      await store.set('k', 'v', LONG_TTL);
      client.disconnect();
      await waitUntil(() => client.status === 'end', 2_000, 'the client to end');
      const started = performance.now();
      await assertUnavailable(store.setIfAbsent('k2', 'v', LONG_TTL));
      await assertUnavailable(store.getAndDelete('k'));
      await assertUnavailable(store.increment('n', LONG_TTL));
      assert.ok(performance.now() - started < 30_000, 'no waiting for the 60 s timeout');
    } finally {
      await store.close();
      client.disconnect();
    }
  });
});

describeRedis(
  'redis store on a server without GETDEL (Lua fallback)',
  (server) => {
    it('the server really lacks GETDEL', async () => {
      const raw = connectClient(server().port, { enableOfflineQueue: true });
      try {
        await assert.rejects(raw.getdel('x'), /unknown command/i);
      } finally {
        raw.disconnect();
      }
    });
    storeConformance('conformance (GETDEL through Lua)', { shared: true }, () => redisHarness(server()));
  },
  { args: ['--rename-command', 'GETDEL', ''] },
);

describe('redis store on a stand-in client (no redis-server needed)', () => {
  /** Just enough of an ioredis client: `call` does what `reply` says. */
  const fakeClient = (reply: (command: string, args: unknown[]) => Promise<unknown>) =>
    ({
      status: 'ready',
      call: (command: string, ...args: unknown[]) => reply(command, args),
      on: noop,
      off: noop,
      duplicate: () => {
        throw new Error('not used');
      },
    }) as unknown as Redis;

  it('a call that never gets a reply rejects with unavailable at timeoutMs', async () => {
    const store = createRedisStore({ client: fakeClient(() => new Promise(noop)), timeoutMs: 50 });
    const started = performance.now();
    await assert.rejects(store.setIfAbsent('nonce', 'v', LONG_TTL), (err: unknown) => {
      assert.ok(isAuthError(err) && err.code === 'unavailable');
      assert.match(err.detail ?? '', /^redis: setIfAbsent timed out after 50 ms$/);
      return true;
    });
    const ms = performance.now() - started;
    // Not before the timeout; the upper bound only tells a timeout from a hang (the detail names the 50 ms).
    assert.ok(ms >= 45 && ms < 10_000, `${ms} ms`);
    await store.close();
  });

  it('a Redis error becomes unavailable with the cause kept and no key in the detail', async () => {
    const cause = new Error("ERR unknown command 'evalsha', with args beginning with: 'abc' '1' 'portcullis:ticket:SECRET' ");
    const store = createRedisStore({ client: fakeClient(() => Promise.reject(cause)) });
    await assert.rejects(store.increment('ticket:SECRET', LONG_TTL), (err: unknown) => {
      assert.ok(isAuthError(err) && err.code === 'unavailable');
      assert.equal(err.cause, cause);
      assert.equal(err.detail, "redis: increment failed: ERR unknown command 'evalsha'");
      return true;
    });
    await store.close();
  });

  it('an unexpected reply is unavailable, never a yes', async () => {
    const store = createRedisStore({ client: fakeClient(async () => 'QUEUED') });
    await assertUnavailable(store.setIfAbsent('nonce', 'v', LONG_TTL));
    await assertUnavailable(store.set('k', 'v', LONG_TTL));
    await assertUnavailable(store.increment('n', LONG_TTL));
    await assertUnavailable(store.existsAny(['a']));
    await store.close();
  });
});

// ---------------------------------------------------------------- redis outages

type Outcome = { op: string; ms: number; ok: boolean; value?: unknown; error?: unknown };

/** Every store operation at once; how each settled and how long it took. */
async function everyOperation(store: Store): Promise<Outcome[]> {
  const ops: Record<string, () => Promise<unknown>> = {
    setIfAbsent: () => store.setIfAbsent('nonce', 'v', LONG_TTL),
    set: () => store.set('k', 'v', LONG_TTL),
    get: () => store.get('k'),
    getAndDelete: () => store.getAndDelete('ticket'),
    increment: () => store.increment('n', LONG_TTL),
    existsAny: () => store.existsAny(['a', 'b']),
    publish: () => store.publish('ch', 'm'),
    subscribe: () => store.subscribe('other', noop),
  };
  return Promise.all(
    Object.entries(ops).map(async ([op, run]) => {
      const started = performance.now();
      try {
        const value = await run();
        return { op, ms: performance.now() - started, ok: true, value };
      } catch (error) {
        return { op, ms: performance.now() - started, ok: false, error };
      }
    }),
  );
}

function assertAllUnavailable(outcomes: Outcome[], limitMs: number): void {
  for (const o of outcomes) {
    assert.equal(o.ok, false, `${o.op} resolved ${JSON.stringify(o.value)} during the outage`);
    assert.ok(isAuthError(o.error) && o.error.code === 'unavailable', `${o.op} rejected with ${String(o.error)}`);
    assert.ok(o.ms <= limitMs, `${o.op} took ${o.ms.toFixed(0)} ms (limit ${limitMs})`);
  }
}

const summary = (outcomes: Outcome[]): string =>
  `max ${Math.max(...outcomes.map((o) => o.ms)).toFixed(1)} ms (${outcomes.map((o) => `${o.op} ${o.ms.toFixed(1)}`).join(', ')})`;

/** Two stores on one server: one on a client without offline queue, one on ioredis defaults (offline queue on). */
async function outageRig(server: RedisServer, timeoutMs: number) {
  const strict = connectClient(server.port);
  const queued = connectClient(server.port, { enableOfflineQueue: true });
  const prefix = uniquePrefix();
  const stores = {
    'enableOfflineQueue: false': createRedisStore({ client: strict, prefix, timeoutMs }),
    'offline queue on': createRedisStore({ client: queued, prefix, timeoutMs }),
  };
  const close = async (): Promise<void> => {
    await Promise.all(Object.values(stores).map((s) => s.close()));
    strict.disconnect();
    queued.disconnect();
  };
  const boxes = new Map<Store, ReturnType<typeof inbox>>();
  const leaving = inbox();
  let leave: (() => Promise<void>) | undefined;
  try {
    for (const store of Object.values(stores)) {
      const box = inbox();
      await store.subscribe('ch', box.handler);
      boxes.set(store, box);
    }
    await strict.set(`${prefix}ticket`, 'one-time', 'PX', LONG_TTL);
    leave = await stores['enableOfflineQueue: false'].subscribe('leaving', leaving.handler);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    close,
    leaving,
    leave,
    strict,
    queued,
    prefix,
    stores,
    /** Every store works again, including a subscription made before the outage. */
    async recovered(deadlineMs: number): Promise<number> {
      const started = performance.now();
      for (const store of Object.values(stores)) {
        await eventually(
          async () => {
            await store.get('probe');
            return true;
          },
          deadlineMs,
          'the store to answer again',
        );
        const box = boxes.get(store);
        assert.ok(box !== undefined);
        const before = box.messages.length;
        await eventually(
          async () => {
            await store.publish('ch', 'back');
            return box.messages.length > before;
          },
          deadlineMs,
          'the subscription to deliver again',
        );
        assert.equal(typeof (await store.increment('after', LONG_TTL)), 'number');
      }
      return performance.now() - started;
    },
  };
}

describe('redis store outages (own redis-server per test)', () => {
  it('redis-server stopped: every call rejects with unavailable, never true; it recovers after a restart', async (t) => {
    if (skipWithoutRedis(t)) return;
    const timeoutMs = 300;
    // "Within about timeoutMs, not hanging": generous on a loaded machine, far below "never".
    const limit = timeoutMs + 5_000;
    const server = await startRedis();
    let rig: Awaited<ReturnType<typeof outageRig>> | undefined;
    try {
      rig = await outageRig(server, timeoutMs);
      await server.stop();
      for (const [name, store] of Object.entries(rig.stores)) {
        const outcomes = await everyOperation(store);
        assertAllUnavailable(outcomes, limit);
        t.diagnostic(`stopped, ${name}, right after the exit: ${summary(outcomes)}`);
      }
      const { strict, queued } = rig;
      await waitUntil(() => strict.status === 'reconnecting' && queued.status === 'reconnecting', 5_000, 'reconnecting');
      for (const [name, store] of Object.entries(rig.stores)) {
        const outcomes = await everyOperation(store);
        assertAllUnavailable(outcomes, limit);
        t.diagnostic(`stopped, ${name}, while reconnecting: ${summary(outcomes)}`);
      }
      // Unsubscribing is teardown: it resolves (handler detached) even with Redis down.
      const started = performance.now();
      await rig.leave();
      assert.ok(performance.now() - started <= limit);
      await server.restart();
      const ms = await rig.recovered(5_000);
      t.diagnostic(`recovered ${ms.toFixed(0)} ms after the restart`);
      const [first] = Object.values(rig.stores);
      assert.ok(first !== undefined);
      const marker = inbox();
      await first.subscribe('marker', marker.handler);
      await first.publish('leaving', 'not delivered');
      await first.publish('marker', 'done');
      await marker.until(1);
      assert.deepEqual(rig.leaving.messages, []);
      assert.equal(await first.setIfAbsent('fresh', 'v', LONG_TTL), true);
      assert.equal(await first.setIfAbsent('fresh', 'v', LONG_TTL), false);
    } finally {
      await rig?.close();
      await server.stop();
    }
  });

  it('redis-server frozen (SIGSTOP): every call rejects with unavailable at the per-call timeout; thawed, it works again', async (t) => {
    if (skipWithoutRedis(t)) return;
    const timeoutMs = 500;
    // "Within about timeoutMs, not hanging": generous on a loaded machine, far below "never".
    const limit = timeoutMs + 5_000;
    const server = await startRedis();
    let rig: Awaited<ReturnType<typeof outageRig>> | undefined;
    try {
      rig = await outageRig(server, timeoutMs);
      server.pause();
      const all = await Promise.all(Object.entries(rig.stores).map(async ([name, store]) => [name, await everyOperation(store)] as const));
      for (const [name, outcomes] of all) {
        assertAllUnavailable(outcomes, limit);
        for (const o of outcomes) assert.ok(o.ms >= timeoutMs - 20, `${o.op} gave up before the timeout (${o.ms.toFixed(0)} ms)`);
        t.diagnostic(`frozen, ${name}: ${summary(outcomes)}`);
      }
      server.resume();
      const ms = await rig.recovered(5_000);
      t.diagnostic(`recovered ${ms.toFixed(0)} ms after SIGCONT`);
      // The refused getAndDelete still reached Redis once it thawed: the ticket is burnt, nobody was admitted.
      assert.equal(await rig.strict.get(`${rig.prefix}ticket`), null);
    } finally {
      await rig?.close();
      await server.stop();
    }
  });
});
