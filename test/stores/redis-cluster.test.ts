/**
 * The Redis store on a real Redis Cluster (three primaries started by the test):
 * the store conformance suite through an ioredis `Cluster`, including pub/sub
 * between stores connected through different nodes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { Cluster } from 'ioredis';
import type { Store } from '../../src/core/types.js';
import { createRedisStore } from '../../src/stores/redis.js';
import { eventually } from '../helpers/redis.js';
import { describeRedisCluster, type RedisCluster, startRedisCluster } from '../helpers/redis-cluster.js';
import type { StoreHarness } from './store-conformance.js';
import { inbox, storeConformance } from './store-conformance.js';

const noop = (): void => {};

describeRedisCluster('redis store on a Redis Cluster', () => {
  let cluster: RedisCluster | undefined;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  const harness = (): StoreHarness => {
    const base = `t-${randomUUID().slice(0, 8)}:`;
    const clients: Cluster[] = [];
    const stores: Store[] = [];
    const ttlMs = 200;
    return {
      ttlMs,
      async open(options = {}) {
        if (cluster === undefined) throw new Error('cluster not started');
        // Each store seeds from a different node, as separate processes would.
        const seeds = [...cluster.seeds.slice(stores.length % cluster.seeds.length), ...cluster.seeds];
        const client = new Cluster(seeds, {
          enableOfflineQueue: false,
          clusterRetryStrategy: () => 50,
        });
        client.on('error', noop);
        clients.push(client);
        await eventually(async () => client.status === 'ready' || (await client.ping().then(() => true)), 10_000, 'the cluster client');
        // A generous per-call deadline: this suite checks behaviour, on a machine that may be busy.
        const store = createRedisStore({ client, prefix: `${base}${options.prefix ?? 'default:'}`, timeoutMs: 2_000 });
        stores.push(store);
        return store;
      },
      expire: (gone) => eventually(gone, ttlMs + 3_000, 'the TTL to run out'),
      async close() {
        await Promise.all(stores.map((s) => s.close()));
        for (const client of clients) client.disconnect();
      },
    };
  };

  storeConformance('conformance', { shared: true }, harness);

  it('keeps the order of 100 messages published one after another through another node', async () => {
    const h = harness();
    try {
      const a = await h.open();
      const b = await h.open();
      const box = inbox();
      await a.subscribe('ordered', box.handler);
      const sent = Array.from({ length: 100 }, (_, i) => `m${i}`);
      for (const m of sent) await b.publish('ordered', m);
      assert.deepEqual(await box.until(sent.length, 5_000), sent);
    } finally {
      await h.close();
    }
  });
});
