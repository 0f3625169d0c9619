/**
 * A Socket.IO server under test, run as a child of the load process:
 *
 * - `vanilla`: no authentication. In `message` mode it speaks the same wire
 *   exchange as the guard (`auth_required` on connect, `authentication` →
 *   `authenticated`) without verifying anything, so the pair differs only in
 *   what the library does.
 * - `portcullis`: `createSocketIoGuard(io, { strategies, mode })`, defaults otherwise.
 * - `baseline`: a hand-rolled `io.use` + `jose.jwtVerify` (what an app writes without the library).
 * - `hand-written`: the tuned `io.use`: `jsonwebtoken.verify` of the CONNECT `auth` token with a `KeyObject`
 *   made once (HS256, handshake mode).
 */
import { createSecretKey } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, jwtVerify } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { Server, type Socket } from 'socket.io';
import { createSocketIoGuard, type SocketIoGuard } from '../../src/adapters/socket.io.js';
import { secretOf } from '../lib/credentials.js';
import { readConfig, serve, tcpCount, ticketIssuer } from './harness.js';
import type { ServerStats } from './protocol.js';
import { hs256Check, installStatefulBaseline } from './stateful-baseline.js';
import { strategyFor } from './strategies.js';

const config = readConfig();
const http = createServer();
const io = new Server(http);
const nsp = io.of('/');
let guarded: SocketIoGuard | undefined;

/** The payload every server broadcasts: a small chat message. */
const NEWS = { room: 'lobby', from: 'system', text: 'the quick brown fox jumps over the lazy dog' };

if (config.variant === 'portcullis') {
  const { admitAll, onNamespace, ...options } = config.guard ?? {};
  // `admitAll`: a strategy that admits everyone at once, whatever the credentials (to time a strategy in place).
  const strategy = admitAll === true ? { name: 'all', authenticate: () => ({ id: 'anyone' }) } : strategyFor(config);
  // `onNamespace`: no engine-level preflight; every check runs in the namespace middleware.
  guarded = createSocketIoGuard(onNamespace === true ? io.of('/') : io, { strategies: [strategy], mode: config.mode, ...options });
} else if (config.variant === 'stateful') {
  installStatefulBaseline(io, {
    onevent: true,
    verify: config.strategy === 'jwt-hs256' ? hs256Check(secretOf(config.keys.hs256Secret)) : undefined,
    // `features`: also, by hand, what a guarded HS256 handshake does beyond the floor.
    features: config.guard?.features === true,
  });
} else if (config.variant === 'hand-written') {
  const key = createSecretKey(secretOf(config.keys.hs256Secret));
  io.use((socket, next) => {
    try {
      const claims = jsonwebtoken.verify((socket.handshake.auth as { token?: string }).token ?? '', key, { algorithms: ['HS256'] });
      if (typeof claims === 'string' || typeof claims.sub !== 'string') throw new Error('no sub');
      socket.data.user = claims.sub;
      next();
    } catch {
      next(new Error('unauthorized'));
    }
  });
} else if (config.variant === 'baseline' && config.strategy === 'none') {
  // The floor of any guard: a middleware that admits everyone.
  io.use((socket, next) => {
    socket.data.user = 'anyone';
    next();
  });
} else if (config.variant === 'baseline') {
  // As jose's documentation shows it: the secret's bytes, or an imported public JWK.
  const jwt = config.strategy === 'jwt-es256' ? 'ES256' : 'HS256';
  const key = jwt === 'HS256' ? secretOf(config.keys.hs256Secret) : await importJWK(config.keys.es256PublicJwk, 'ES256');
  const verify = async (token: unknown): Promise<string> => {
    if (typeof token !== 'string') throw new Error('no token');
    const { payload } = await jwtVerify(token, key, { algorithms: [jwt] });
    if (typeof payload.sub !== 'string') throw new Error('no sub');
    return payload.sub;
  };
  if (config.mode === 'handshake') {
    io.use((socket, next) => {
      verify((socket.handshake.auth as { token?: unknown }).token).then(
        (sub) => {
          socket.data.user = sub;
          next();
        },
        () => next(new Error('unauthorized')),
      );
    });
  } else {
    io.on('connection', (socket: Socket) => {
      socket.emit('auth_required', { timeoutMs: 5000 });
      socket.on('authentication', (auth: { token?: unknown }) => {
        verify(auth?.token).then(
          (sub) => {
            socket.data.user = sub;
            socket.emit('authenticated', {});
          },
          () => socket.emit('unauthorized', { code: 'invalid_credentials' }),
        );
      });
    });
  }
} else if (config.mode === 'message') {
  io.on('connection', (socket: Socket) => {
    socket.emit('auth_required', { timeoutMs: 5000 });
    socket.on('authentication', () => socket.emit('authenticated', {}));
  });
}

const issue = ticketIssuer(guarded?.guard.store);

await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', 4096, resolve));

serve(
  (http.address() as AddressInfo).port,
  async (request) => {
    switch (request.cmd) {
      case 'stats': {
        const stats: ServerStats = {
          tcp: await tcpCount(http),
          connections: io.engine.clientsCount,
          members: nsp.sockets.size,
          pending: guarded?.guard.stats.pending ?? 0,
          authenticated: guarded?.guard.stats.authenticated ?? 0,
        };
        return stats;
      }
      case 'issue':
        return issue(request.n, request.first);
      case 'broadcast':
        for (let i = 0; i < request.n; i++) io.emit('news', NEWS);
        return nsp.sockets.size;
      default:
        throw new Error(`unknown command ${request.cmd}`);
    }
  },
  async () => {
    await guarded?.close();
    io.close();
  },
);
