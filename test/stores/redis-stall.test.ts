/**
 * A stalled Redis (`DEBUG SLEEP`) under a guard: every attempt made during the
 * stall is refused `unavailable` at the store deadline (fail closed), and none of
 * them leaves a side effect once Redis answers again. A reservation that timed out
 * still reached Redis; it held its failure slot for the whole window, so 100
 * correct logins during a stall locked their address out for ten minutes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createRedisStore } from '../../src/stores/redis.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { type RedisServer, redisAvailable, startRedis } from '../helpers/redis.js';
import { type IoFixture, startIo } from '../helpers/socket-io.js';
import { waitUntil } from '../helpers/wait.js';

const passwords = createCustomStrategy({
  authenticate: (c) => (c.password === 'right' ? String(c.username) : false),
  identity: 'username',
});

describe('a guard on a stalled Redis', { skip: !redisAvailable() && 'redis-server not installed' }, () => {
  let redis: RedisServer;
  let fx: IoFixture;
  let admin: Redis;
  let client: Redis;
  before(async () => {
    redis = await startRedis({ args: ['--enable-debug-command', 'local'] });
    admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    for (const c of [admin, client]) c.on('error', () => {});
    await waitUntil(() => client.status === 'ready' && admin.status === 'ready', 5000, 'the Redis clients');
    fx = await startIo();
    createSocketIoGuard(fx.io, {
      strategies: [passwords],
      store: createRedisStore({ client, timeoutMs: 300 }),
      revocation: false,
      rateLimits: { failuresPerIp: { max: 5, windowMs: 600_000 }, handshakesPerIp: false },
    });
  });
  after(async () => {
    await fx?.close();
    admin?.disconnect();
    client?.disconnect();
    await redis?.stop();
  });

  const attempt = (): Promise<string> => {
    const c = fx.client('/', { auth: { username: 'alice', password: 'right' } });
    return new Promise((resolve) => {
      c.once('connect', () => {
        c.disconnect();
        resolve('ok');
      });
      c.once('connect_error', (err: Error & { data?: { code?: string } }) => resolve(err.data?.code ?? err.message));
    });
  };

  it('refuses unavailable during the stall, and a late reservation does not lock the address out afterwards', async () => {
    const stall = admin.call('DEBUG', 'SLEEP', '1.5');
    // More attempts than the per-address limit, all sent while Redis sleeps.
    const during = await Promise.all(Array.from({ length: 12 }, attempt));
    assert.deepEqual([...new Set(during)], ['unavailable']);
    await stall;
    // Once Redis has run the queued reservations, their late replies give the slots back (a locked-out address
    // would answer rate_limited to every attempt).
    let after = '';
    for (let i = 0; i < 50 && after !== 'ok'; i++) after = await attempt();
    assert.equal(after, 'ok');
    const keys = await admin.keys('*rl:fail:ip:*');
    const left = keys[0] === undefined ? 0 : Number(await admin.get(keys[0]));
    assert.ok(left < 5, `failure slots still held after the stall: ${left}`);
  });
});
