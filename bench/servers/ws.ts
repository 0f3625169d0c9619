/**
 * A `ws` server under test, run as a child of the load process:
 *
 * - `vanilla`: a plain `WebSocketServer` on the same HTTP `upgrade` path, speaking
 *   the guard's wire without verifying anything: in `handshake` (upgrade) mode it
 *   sends `{"type":"authenticated"}` after the `101`; in `message` mode it answers
 *   an `authenticate` frame with it. Broadcasts go to the sockets that "authenticated".
 * - `portcullis`: `createWsGuard({ strategies, mode: 'upgrade' | 'message' })`, broadcasts through its hub.
 * - a peer (`peers.ts`): the vanilla server behind a JWT check of the upgrade (the bearer subprotocol entry),
 *   as `ws`'s README shows client authentication: a bare `401` refuses, a success is served as vanilla.
 * - `floor`: answers every upgrade with a canned `429` and closes: the least a
 *   server can spend on an attempt it refuses (TCP accept, HTTP parse, one write).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { createWsGuard, type WsGuard } from '../../src/adapters/ws.js';
import { BENCH_SUBPROTOCOL } from '../lib/ws-client.js';
import { readConfig, serve, tcpCount, ticketIssuer } from './harness.js';
import { wsPeerCheck } from './peers.js';
import { isPeer, type ServerStats } from './protocol.js';
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
  if (isPeer(config.variant)) {
    if (config.strategy !== 'jwt-hs256' || config.mode !== 'handshake') throw new TypeError('a peer checks JWT HS256 at the upgrade');
    const check = await wsPeerCheck(config.variant, config.keys);
    http.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      check(req, (claims) => {
        if (claims === undefined) {
          socket.write('HTTP/1.1 401 Unauthorized\r\n\r\n');
          socket.destroy();
          return;
        }
        server.handleUpgrade(req, socket, head, (ws) => server.emit('connection', ws, req));
      });
    });
  } else {
    http.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      server.handleUpgrade(req, socket, head, (ws) => server.emit('connection', ws, req));
    });
  }
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
