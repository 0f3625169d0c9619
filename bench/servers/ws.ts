/**
 * A `ws` server under test, run as a child of the load process:
 *
 * - `vanilla`: a plain `WebSocketServer` on the same HTTP `upgrade` path, speaking
 *   the guard's wire without verifying anything: in `handshake` (upgrade) mode it
 *   sends `{"type":"authenticated"}` after the `101`; in `message` mode it answers
 *   an `authenticate` frame with it. Broadcasts go to the sockets that "authenticated".
 * - `portcullis`: `createWsGuard({ strategies, mode: 'upgrade' | 'message' })`, broadcasts through its hub.
 * - `floor`: answers every upgrade with a canned `429` and closes: the least a
 *   server can spend on an attempt it refuses (TCP accept, HTTP parse, one write).
 * - `hand-written`: vanilla plus the tuned check an app writes by hand in its upgrade handler:
 *   the bearer entry of `Sec-WebSocket-Protocol` through `jsonwebtoken.verify` with a `KeyObject`
 *   made once (HS256), `401` before any `101` when it fails.
 */
import { createSecretKey } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import jsonwebtoken from 'jsonwebtoken';
import { type WebSocket, WebSocketServer } from 'ws';
import { createWsGuard, type WsGuard } from '../../src/adapters/ws.js';
import { secretOf } from '../lib/credentials.js';
import { BEARER_PREFIX, BENCH_SUBPROTOCOL } from '../lib/ws-client.js';
import { readConfig, serve, tcpCount, ticketIssuer } from './harness.js';
import type { ServerStats } from './protocol.js';
import { strategyFor } from './strategies.js';

const config = readConfig();
const http = createServer((_req, res) => {
  res.writeHead(426).end();
});
const NEWS = JSON.stringify({
  type: 'news',
  payload: { room: 'lobby', from: 'system', text: 'the quick brown fox jumps over the lazy dog' },
});
const AUTHENTICATED = JSON.stringify({ type: 'authenticated', payload: {} });
const CANNED_429 = Buffer.from(
  'HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 2\r\nRetry-After: 1\r\n\r\n{}',
);

let guarded: WsGuard | undefined;
let wss: WebSocketServer | undefined;
/** Vanilla: sockets that "authenticated" (the broadcast targets). */
const members = new Set<WebSocket>();
let open = 0;

if (config.variant === 'portcullis') {
  const { admitAll, ...options } = config.guard ?? {};
  // `admitAll`: a strategy that admits everyone at once, whatever the credentials (the guard's machinery alone).
  const strategy = admitAll === true ? { name: 'all', authenticate: () => ({ id: 'anyone' }) } : strategyFor(config);
  guarded = createWsGuard({
    strategies: [strategy],
    mode: config.mode === 'handshake' ? 'upgrade' : config.mode,
    subprotocol: BENCH_SUBPROTOCOL,
    ...options,
  });
  guarded.attach(http);
} else if (config.variant === 'floor') {
  http.on('upgrade', (_req, socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(CANNED_429);
  });
} else {
  const server = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 65536,
    handleProtocols: (protocols) => (protocols.has(BENCH_SUBPROTOCOL) ? BENCH_SUBPROTOCOL : false),
  });
  wss = server;
  const key = config.variant === 'hand-written' ? createSecretKey(secretOf(config.keys.hs256Secret)) : undefined;
  const UNAUTHORIZED = 'HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
  http.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if (key !== undefined) {
      const offered = req.headers['sec-websocket-protocol'] ?? '';
      const entry = offered.split(',').find((p) => p.trim().startsWith(BEARER_PREFIX));
      try {
        const claims = jsonwebtoken.verify((entry ?? '').trim().slice(BEARER_PREFIX.length), key, { algorithms: ['HS256'] });
        if (typeof claims === 'string' || typeof claims.sub !== 'string') throw new Error('no sub');
      } catch {
        socket.end(UNAUTHORIZED);
        return;
      }
    }
    server.handleUpgrade(req, socket, head, (ws) => server.emit('connection', ws, req));
  });
  server.on('connection', (ws: WebSocket) => {
    open++;
    ws.on('error', () => {});
    ws.on('close', () => {
      open--;
      members.delete(ws);
    });
    if (config.mode !== 'message') {
      members.add(ws);
      ws.send(AUTHENTICATED);
      return;
    }
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary || members.has(ws)) return;
      let frame: { type?: unknown };
      try {
        frame = JSON.parse(data.toString('utf8')) as { type?: unknown };
      } catch {
        ws.close(4400, 'invalid_request');
        return;
      }
      if (frame.type !== 'authenticate') return;
      members.add(ws);
      ws.send(AUTHENTICATED);
    });
  });
}

const issue = ticketIssuer(guarded?.guard.store);

await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', 4096, resolve));

serve(
  (http.address() as AddressInfo).port,
  async (request) => {
    switch (request.cmd) {
      case 'stats': {
        if (guarded !== undefined) {
          const s = guarded.stats;
          const stats: ServerStats = {
            tcp: await tcpCount(http),
            connections: s.sockets,
            members: guarded.hub.size,
            pending: s.pending,
            authenticated: s.authenticated,
          };
          return stats;
        }
        const stats: ServerStats = {
          tcp: await tcpCount(http),
          connections: open,
          members: members.size,
          pending: 0,
          authenticated: 0,
        };
        return stats;
      }
      case 'issue':
        return issue(request.n, request.first);
      case 'broadcast': {
        if (guarded !== undefined) {
          let sent = 0;
          for (let i = 0; i < request.n; i++) sent = guarded.hub.broadcast(NEWS);
          return sent;
        }
        // What the hub does, by hand: serialise once, send to every open member.
        const payload = Buffer.from(NEWS, 'utf8');
        let sent = 0;
        for (let i = 0; i < request.n; i++) {
          sent = 0;
          for (const ws of members) {
            if (ws.readyState !== 1) continue;
            ws.send(payload, { binary: false });
            sent++;
          }
        }
        return sent;
      }
      default:
        throw new Error(`unknown command ${request.cmd}`);
    }
  },
  async () => {
    await guarded?.close();
    wss?.close();
    http.closeAllConnections();
    http.close();
  },
);
