/**
 * One node of a two-node Socket.IO cluster on a private Redis, for the
 * revocation figure:
 *
 * - `portcullis`: the guard (JWT HS256 in the CONNECT packet) with the Redis
 *   store; `revoke` calls `guard.revoke({ userId })`, which records the
 *   revocation and publishes it; the other node closes its matching sockets with
 *   `unauthorized`.
 * - `vanilla`: what an app does without the library: every socket joins a
 *   `user:<sub>` room (the JWT payload read without verification); `revoke` emits
 *   `unauthorized` to that room and disconnects it, across the cluster through
 *   the Redis adapter.
 *
 * Both clusters use `@socket.io/redis-adapter` (each with its own key prefix).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server, type Socket } from 'socket.io';
import { createSocketIoGuard, type SocketIoGuard } from '../../src/adapters/socket.io.js';
import { createRedisStore } from '../../src/stores/redis.js';
import { readConfig, serve, tcpCount } from './harness.js';
import type { ServerStats } from './protocol.js';
import { strategyFor } from './strategies.js';

const config = readConfig();
const url = config.redisUrl;
if (url === undefined) throw new Error('cluster-node needs redisUrl');
const pub = new Redis(url, { maxRetriesPerRequest: 1 });
const sub = pub.duplicate();
for (const c of [pub, sub]) c.on('error', () => {});
const http = createServer();
const io = new Server(http, { adapter: createAdapter(pub, sub, { key: `bench-${config.variant}` }) });
let guarded: SocketIoGuard | undefined;
let closeStore: (() => Promise<void>) | undefined;

if (config.variant === 'portcullis') {
  const storeClient = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
  storeClient.on('error', () => {});
  await storeClient.connect();
  const store = createRedisStore({ client: storeClient, ownsClient: true, prefix: 'bench:' });
  closeStore = () => store.close();
  guarded = createSocketIoGuard(io, { strategies: [strategyFor(config)], store, mode: 'handshake' });
  await guarded.guard.ready;
} else {
  io.on('connection', (socket: Socket) => {
    const token = (socket.handshake.auth as { token?: unknown }).token;
    const part = typeof token === 'string' ? token.split('.')[1] : undefined;
    const claims = part === undefined ? {} : (JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { sub?: unknown });
    if (typeof claims.sub === 'string') void socket.join(`user:${claims.sub}`);
  });
}
await pub.ping();

await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', 4096, resolve));

serve(
  (http.address() as AddressInfo).port,
  async (request) => {
    switch (request.cmd) {
      case 'revoke': {
        if (guarded !== undefined) return guarded.revoke({ userId: request.userId });
        const room = `user:${request.userId}`;
        io.to(room).emit('unauthorized', { message: 'Revoked', code: 'revoked', retryable: false });
        io.in(room).disconnectSockets(true);
        return null;
      }
      case 'stats': {
        const stats: ServerStats = {
          tcp: await tcpCount(http),
          connections: io.engine.clientsCount,
          members: io.of('/').sockets.size,
          pending: guarded?.guard.stats.pending ?? 0,
          authenticated: guarded?.guard.stats.authenticated ?? 0,
        };
        return stats;
      }
      default:
        throw new Error(`unknown command ${request.cmd}`);
    }
  },
  async () => {
    await guarded?.close();
    io.close();
    await closeStore?.();
    pub.disconnect();
    sub.disconnect();
  },
);
