/**
 * The server of the per-event policy figure: a guarded Socket.IO server whose app
 * counts `chat:say` events. With `guard.eventPolicy`, an authorization is
 * attached: the event gate, the token bucket (sized never to refuse, so its cost
 * is counted without cutting the load) and an event policy reading a claim, the
 * way an app writes one. Without it, the same app behind the same guard.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createAuthorization } from '../../src/policy/authorization.js';
import { attachSocketIoAuthorization } from '../../src/policy/socket-io.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { readConfig, serve, tcpCount } from './harness.js';
import type { ServerStats } from './protocol.js';

type Claims = { roles: string[] };

const config = readConfig();
const http = createServer();
const io = new Server(http);
const strategy = createCustomStrategy((c) => ({ id: String(c.user), claims: { roles: ['member'] } }));
const authz =
  config.guard?.eventPolicy === true
    ? createAuthorization<Claims>({
        events: { 'chat:*': ({ principal }) => principal.claims.roles.includes('member'), '*': false },
        limits: { events: { perSecond: 1e9, burst: 1e9 }, connectionsPerAddress: 100_000 },
      })
    : undefined;
const guard = createSocketIoGuard(io, { strategies: [strategy], rateLimits: false, hooks: authz === undefined ? [] : [authz.hooks] });
if (authz !== undefined) attachSocketIoAuthorization(guard, authz);
let count = 0;
io.on('connection', (socket) => {
  socket.on('chat:say', () => {
    count++;
  });
});

await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', 4096, resolve));

serve(
  (http.address() as AddressInfo).port,
  async (request) => {
    if (request.cmd === 'count') return count;
    if (request.cmd === 'stats') {
      const stats: ServerStats = {
        tcp: await tcpCount(http),
        connections: io.engine.clientsCount,
        members: io.of('/').sockets.size,
        pending: guard.guard.stats.pending,
        authenticated: guard.guard.stats.authenticated,
      };
      return stats;
    }
    throw new Error(`unknown command ${request.cmd}`);
  },
  async () => {
    await guard.close();
    await authz?.close();
    io.close();
  },
);
