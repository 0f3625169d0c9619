/**
 * The periodic re-check of open sockets against the revocation list: a
 * revocation recorded in the store whose message this node never heard (as when
 * publish/subscribe loses it) still closes the covered sockets, on both
 * transports, once `revocation.recheckIntervalMs` has passed on the guard clock.
 * Real redis-server, real sockets, a manual clock.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import { createManualClock } from '../../src/core/clock.js';
import { createGuard } from '../../src/core/guard.js';
import type { Store } from '../../src/core/types.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createRedisStore } from '../../src/stores/redis.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { describeRedis } from '../helpers/redis.js';
import { connected, startIo } from '../helpers/socket-io.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';
import { startHttp } from '../helpers/ws.js';

const strategy = createCustomStrategy((c) => (typeof c.user === 'string' ? { id: c.user, issuedAt: 1 } : null));
const INTERVAL_MS = 300_000;

/** What `revoke()` writes, without the message that tells the other nodes: a lost publish. */
const recordWithoutPublishing = (store: Store, userId: string, at: number): Promise<void> =>
  store.set(`revoked:user:${userId}`, String(at), 3_600_000);

describe('revocation re-check: options', () => {
  it('refuses intervals that are not false or an integer of at least 1 s', () => {
    for (const recheckIntervalMs of [0, 999, 1.5, -1, Number.NaN, 2 ** 31]) {
      assert.throws(
        () => createGuard({ strategies: [strategy], revocation: { recheckIntervalMs } }),
        /recheckIntervalMs must be false or an integer of at least 1000/,
        String(recheckIntervalMs),
      );
    }
  });

  it('is off by default on the memory store (its publish cannot be lost), on when asked', async () => {
    for (const recheckIntervalMs of [undefined, 5_000] as const) {
      const clock = createManualClock();
      const store = createMemoryStore({ clock });
      const fx = await startHttp();
      try {
        const ws = fx.track(
          createWsGuard({
            strategies: [strategy],
            store,
            clock,
            origins: '*',
            revocation: { ...(recheckIntervalMs && { recheckIntervalMs }) },
          }),
        );
        ws.attach(fx.http);
        await ws.guard.ready;
        const client = fx.client('/');
        await waitForEvent(client, 'open', 5000);
        client.send(JSON.stringify({ type: 'authenticate', payload: { user: 'alice' } }));
        await waitForEvent(client, 'message', 5000);
        await recordWithoutPublishing(store, 'alice', clock.now());
        clock.advance(5_000);
        if (recheckIntervalMs === undefined) {
          // Nothing re-checks: the socket still answers a ping after the interval.
          client.ping();
          await waitForEvent(client, 'pong', 5000);
          assert.equal(client.readyState, client.OPEN);
        } else {
          const [code, reason] = await waitForEvent<[number, Buffer]>(client, 'close', 5000);
          assert.deepEqual([code, reason.toString()], [4403, 'revoked']);
        }
      } finally {
        await fx.close();
        await store.close?.();
      }
    }
  });
});

describeRedis('revocation re-check on a Redis store', (redis) => {
  const clients: Redis[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
    for (const c of clients) c.disconnect();
  });
  const openStore = (): Store => {
    const client = new Redis(redis().url, { enableOfflineQueue: false, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    clients.push(client);
    const store = createRedisStore({ client, timeoutMs: 2_000 });
    closers.push(() => store.close());
    return store;
  };

  it('closes, within one interval, Socket.IO and ws sockets whose revocation message was lost; others stay', async () => {
    const clock = createManualClock();
    const store = openStore();
    const io = await startIo();
    closers.push(() => io.close());
    const sio = createSocketIoGuard(io.io, { strategies: [strategy], store, clock, mode: 'handshake' });
    closers.push(() => sio.close());
    const fx = await startHttp();
    closers.push(() => fx.close());
    const ws = fx.track(createWsGuard({ strategies: [strategy], store, clock, origins: '*', path: '/ws' }));
    ws.attach(fx.http);
    await Promise.all([sio.guard.ready, ws.guard.ready]);

    const alice = io.client('/', { auth: { user: 'alice' } });
    const bob = io.client('/', { auth: { user: 'bob' } });
    await Promise.all([connected(alice, 5000), connected(bob, 5000)]);
    const aliceWs = fx.client('/ws');
    await waitForEvent(aliceWs, 'open', 5000);
    aliceWs.send(JSON.stringify({ type: 'authenticate', payload: { user: 'alice' } }));
    await waitForEvent(aliceWs, 'message', 5000);

    // Recorded by "another node" whose publish never arrived.
    await recordWithoutPublishing(openStore(), 'alice', clock.now());
    const refused = waitForEvent<{ code: string }>(alice, 'unauthorized', 10_000);
    const closed = waitForEvent<[number, Buffer]>(aliceWs, 'close', 10_000);
    clock.advance(INTERVAL_MS - 1);
    // Not yet: the pass is due at the interval (ping answered, both still open).
    aliceWs.ping();
    await waitForEvent(aliceWs, 'pong', 5000);
    assert.ok(alice.connected);
    clock.advance(1);
    assert.equal((await refused).code, 'revoked');
    const [code, reason] = await closed;
    assert.deepEqual([code, reason.toString()], [4403, 'revoked']);
    assert.ok(bob.connected);

    // The next pass is armed once this one is over: a second lost revocation is caught an interval later.
    await recordWithoutPublishing(openStore(), 'bob', clock.now());
    const bobRefused = waitForEvent<{ code: string }>(bob, 'unauthorized', 10_000);
    // The first pass may still be settling its last lookups: advance until the next one has run.
    await waitUntil(
      () => {
        clock.advance(INTERVAL_MS);
        return !bob.connected;
      },
      10_000,
      'the second pass',
    );
    assert.equal((await bobRefused).code, 'revoked');
  });
});
