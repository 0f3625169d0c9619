/**
 * The revocation listener's status on one guard, against a real redis-server
 * that is down when the guard starts, then up, then restarted: `ready`,
 * `revocationStatus`, `revocation.onStatus`, the log lines and the
 * `portcullis_revocation_deaf_guards` metric all tell the truth.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import client from 'prom-client';
import { createGuard } from '../../src/core/guard.js';
import type { RevocationStatus } from '../../src/core/revocation.js';
import type { Logger } from '../../src/core/types.js';
import { createMetrics } from '../../src/metrics.js';
import { createRedisStore } from '../../src/stores/redis.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { type RedisServer, redisAvailable, skipWithoutRedis, startRedis } from '../helpers/redis.js';
import { waitUntil, withDeadline } from '../helpers/wait.js';

const strategy = createCustomStrategy((c) => (typeof c.user === 'string' ? { id: c.user } : null));

interface Line {
  level: keyof Logger;
  msg: string | undefined;
  obj: object;
}
function recordingLogger(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: keyof Logger) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, msg, obj });
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const deafGauge = async (registry: client.Registry): Promise<number> => {
  const text = await registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith('portcullis_revocation_deaf_guards '));
  return Number(line?.split(' ')[1]);
};

describe('revocation status of a guard', { skip: !redisAvailable() && 'redis-server not installed' }, () => {
  const servers: RedisServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  /** A private redis-server, stopped, and a Redis store on it that keeps retrying (every 50 ms). */
  const storeWhileRedisIsDown = async () => {
    const redis = await startRedis();
    servers.push(redis);
    await redis.stop();
    const conn = new Redis(redis.url, { enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    conn.on('error', () => {});
    return { redis, store: createRedisStore({ client: conn, ownsClient: true, timeoutMs: 200 }) };
  };

  it('deaf while Redis is down (retrying, logged once), listening once it is up, deaf and back across a restart', async (t) => {
    if (skipWithoutRedis(t)) return;
    const { redis, store } = await storeWhileRedisIsDown();
    const logger = recordingLogger();
    const statuses: RevocationStatus[] = [];
    const guard = createGuard({
      strategies: [strategy],
      store,
      logger,
      revocation: { retryMaxMs: 200, onStatus: (s) => statuses.push(s) },
    });
    const registry = new client.Registry();
    const metrics = createMetrics({ registry });
    metrics.track(guard);
    let ready = false;
    void guard.ready.then(() => {
      ready = true;
    });
    try {
      assert.equal(guard.revocationStatus, 'deaf');
      // Several attempts fail: loud once, quiet afterwards.
      await waitUntil(() => logger.lines.filter((l) => l.msg?.includes('could not subscribe')).length >= 3, 10_000, 'three attempts');
      assert.equal(logger.lines.filter((l) => l.level === 'error' && l.msg?.includes('could not subscribe')).length, 1);
      assert.equal(ready, false);
      assert.equal(await deafGauge(registry), 1);

      await redis.restart();
      await waitUntil(() => guard.revocationStatus === 'listening', 10_000, 'listening');
      await guard.ready;
      assert.deepEqual(statuses, ['listening']);
      assert.equal(await deafGauge(registry), 0);
      assert.ok(logger.lines.some((l) => l.level === 'info' && l.msg?.includes('listening for revocations')));

      await redis.stop();
      await waitUntil(() => guard.revocationStatus === 'deaf', 10_000, 'deaf after the stop');
      assert.ok(logger.lines.some((l) => l.level === 'warn' && l.msg?.includes('deaf')));
      assert.equal(await deafGauge(registry), 1);
      await redis.restart();
      await waitUntil(() => guard.revocationStatus === 'listening', 10_000, 'listening after the restart');
      assert.deepEqual(statuses, ['listening', 'deaf', 'listening']);
    } finally {
      await guard.close();
      await store.close();
    }
    assert.equal(guard.revocationStatus, 'off');
    // No credential or connection string in what was logged.
    assert.ok(!JSON.stringify(logger.lines).includes(redis.url));
  });

  it('ready resolves (never rejects) when a guard still deaf is closed', async (t) => {
    if (skipWithoutRedis(t)) return;
    const { store } = await storeWhileRedisIsDown();
    const guard = createGuard({ strategies: [strategy], store });
    assert.equal(guard.revocationStatus, 'deaf');
    await guard.close();
    await withDeadline(guard.ready, 2_000, 'ready after close');
    assert.equal(guard.revocationStatus, 'off');
    await store.close();
  });

  it("is 'off' with revocation disabled, and 'listening' at once on the memory store", async () => {
    const off = createGuard({ strategies: [strategy], revocation: false });
    assert.equal(off.revocationStatus, 'off');
    const memory = createGuard({ strategies: [strategy] });
    await memory.ready;
    assert.equal(memory.revocationStatus, 'listening');
    await Promise.all([off.close(), memory.close()]);
  });
});
