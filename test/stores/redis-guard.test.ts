/**
 * Guards sharing one real redis-server, through real sockets: a ticket or an HMAC
 * nonce used on one server is refused on the other, and a stopped Redis refuses
 * with `unavailable` instead of admitting anyone.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { Redis } from 'ioredis';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { signHandshake } from '../../src/client/hmac-signer.js';
import type { Store } from '../../src/core/types.js';
import { createRedisStore } from '../../src/stores/redis.js';
import { firstOf } from '../../src/strategies/compose.js';
import { createHmacStrategy } from '../../src/strategies/hmac.js';
import { createTicketIssuer, createTicketStrategy } from '../../src/strategies/ticket.js';
import { describeRedis } from '../helpers/redis.js';
import { connected, type IoFixture, refused, startIo } from '../helpers/socket-io.js';

const HMAC_SECRET = 's'.repeat(48);

describeRedis('two guards sharing one redis-server', (redis) => {
  const clients: Redis[] = [];
  const stores: Store[] = [];
  const servers: IoFixture[] = [];
  let a: IoFixture;
  let b: IoFixture;
  let issuer: ReturnType<typeof createTicketIssuer>;

  const openStore = (): Store => {
    const client = new Redis(redis().url, { enableOfflineQueue: false, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    clients.push(client);
    const store = createRedisStore({ client, timeoutMs: 300 });
    stores.push(store);
    return store;
  };

  before(async () => {
    for (let i = 0; i < 2; i++) {
      const fx = await startIo();
      const store = openStore();
      const g = createSocketIoGuard(fx.io, {
        store,
        strategies: firstOf(createTicketStrategy(), createHmacStrategy({ keys: { svc: HMAC_SECRET } })),
        rateLimits: false,
      });
      await g.guard.ready;
      servers.push(fx);
    }
    [a, b] = servers as [IoFixture, IoFixture];
    issuer = createTicketIssuer({ store: openStore() });
    await Promise.all(clients.map((c) => (c.status === 'ready' ? undefined : new Promise((r) => c.once('ready', r)))));
  });
  after(async () => {
    for (const fx of servers) await fx.close();
    for (const s of stores) await s.close();
    for (const c of clients) c.disconnect();
  });

  it('refuses a ticket replayed on the other server', async () => {
    const { ticket } = await issuer.issue({ id: 'alice' });
    await connected(a.client('/', { auth: { ticket } }));
    const replay = await refused(b.client('/', { auth: { ticket } }));
    assert.deepEqual(replay.data, { code: 'invalid_credentials', retryable: true });
  });

  it('refuses an HMAC nonce replayed on the other server', async () => {
    const signed = await signHandshake({ keyId: 'svc', secret: HMAC_SECRET, namespace: '/', fields: { sub: 'robot' } });
    await connected(b.client('/', { auth: { ...signed } }));
    const replay = await refused(a.client('/', { auth: { ...signed } }));
    assert.equal(replay.data?.code, 'invalid_credentials');
  });

  it('refuses with unavailable while Redis is down, never admitting, and recovers', async () => {
    const { ticket } = await issuer.issue({ id: 'bob' });
    await redis().stop();
    try {
      const down = await refused(a.client('/', { auth: { ticket } }), 5000);
      assert.deepEqual(down.data, { code: 'unavailable', retryable: true });
      const signed = await signHandshake({ keyId: 'svc', secret: HMAC_SECRET, namespace: '/', fields: { sub: 'robot' } });
      assert.equal((await refused(b.client('/', { auth: { ...signed } }), 5000)).data?.code, 'unavailable');
    } finally {
      await redis().restart();
    }
    await Promise.all(clients.map((c) => (c.status === 'ready' ? undefined : new Promise((r) => c.once('ready', r)))));
    const fresh = await issuer.issue({ id: 'bob' });
    await connected(a.client('/', { auth: { ticket: fresh.ticket } }));
  });
});
