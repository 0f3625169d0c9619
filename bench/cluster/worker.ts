/**
 * A worker of the measured cluster (see `node.ts`): Socket.IO with the Redis
 * adapter and a `createSocketIoGuard`, a `createWsGuard` on the same HTTP server,
 * both on one Redis store (JWT HS256 and one-time tickets); answers the load
 * process's commands relayed by the primary.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { setupWorker } from '@socket.io/sticky';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import { createRedisStore } from '../../src/stores/redis.js';
import { createJwtStrategy } from '../../src/strategies/jwt.js';
import { createTicketStrategy } from '../../src/strategies/ticket.js';
import { BENCH_SUBPROTOCOL } from '../lib/ws-client.js';
import { WS_PATH } from './paths.js';
import { type ClusterConfig, epochMs, type Relay, type WorkerCommand, type WorkerInfo, type WorkerStats } from './protocol.js';

export async function runWorker(c: ClusterConfig): Promise<void> {
  const slot = Number(process.env.WORKER_SLOT);
  const secret = new Uint8Array(Buffer.from(c.hs256Secret, 'base64url'));

  // Three Redis connections per worker: the adapter's pub and sub, the store's commands (its pub/sub one is opened by the store).
  const pub = new Redis(c.redisUrl, { maxRetriesPerRequest: 1 });
  const sub = pub.duplicate();
  const storeClient = new Redis(c.redisUrl, { enableOfflineQueue: false, lazyConnect: true });
  for (const r of [pub, sub, storeClient]) r.on('error', () => {});
  await storeClient.connect();
  const store = createRedisStore({ client: storeClient, ownsClient: true, prefix: c.prefix });

  const http = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  const io = new Server(http, {
    adapter: createAdapter(pub, sub, { key: `${c.prefix}socket.io` }),
    destroyUpgrade: false, // the `ws` guard shares the HTTP server
  });

  const strategies = [createJwtStrategy({ algorithms: ['HS256'], secret }), createTicketStrategy()];
  const sio = createSocketIoGuard(io, { strategies, store, mode: 'handshake' });
  const ws = createWsGuard({ strategies, store, path: WS_PATH, mode: 'upgrade', subprotocol: BENCH_SUBPROTOCOL });
  ws.attach(http);
  // The app's first message names the worker (the load process learns where each client landed).
  sio.on('connection', (socket) => socket.emit('node', slot));
  ws.on('connection', (socket) => socket.send(`{"type":"node","payload":${slot}}`));
  await Promise.all([sio.guard.ready, ws.guard.ready, pub.ping()]);

  const direct = createNetServer((socket) => http.emit('connection', socket));
  // `exclusive`: this worker's own port, not one shared through the primary.
  await new Promise<void>((resolve) => direct.listen({ port: 0, host: '127.0.0.1', exclusive: true, backlog: 4096 }, resolve));

  const gc = (globalThis as { gc?: () => void }).gc;
  const handle = async (m: WorkerCommand): Promise<unknown> => {
    switch (m.cmd) {
      case 'revoke':
        return sio.revoke({ userId: m.userId });
      case 'ping':
        return null;
      case 'stats': {
        gc?.();
        gc?.();
        const mem = process.memoryUsage();
        const stats: WorkerStats = {
          slot,
          pid: process.pid,
          sio: sio.guard.stats.authenticated,
          ws: ws.stats.authenticated,
          pending: sio.guard.stats.pending + ws.stats.pending,
          heapUsed: mem.heapUsed,
          rss: mem.rss,
          revocation: `${sio.guard.revocationStatus}/${ws.guard.revocationStatus}`,
        };
        return stats;
      }
    }
  };
  process.on('message', (raw: Relay | { type?: string }) => {
    if (!('bench' in raw) || raw.bench !== 'req' || raw.body === undefined) return;
    const { id } = raw;
    handle(raw.body).then(
      (result) => process.send?.({ bench: 'res', id, result: result ?? null } satisfies Relay),
      (err: unknown) => process.send?.({ bench: 'res', id, error: err instanceof Error ? err.message : String(err) } satisfies Relay),
    );
  });
  process.on('SIGTERM', () => {
    void Promise.all([sio.close(), ws.close()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  });
  process.on('disconnect', () => process.exit(0));
  // Ready: take connections from the primary (it holds them until this worker says so, below).
  setupWorker(io);
  const info: WorkerInfo = { slot, pid: process.pid, directPort: (direct.address() as AddressInfo).port, readyAt: epochMs() };
  process.send?.({ ready: info });
}
