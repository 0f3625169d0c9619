/**
 * The portcullis demo: a small chat, guarded by portcullis, on embedded defaults
 * (memory store, no Redis). Run it with `npm run demo`.
 *
 * - `GET /`           the chat page (Socket.IO client, one-time ticket per connect)
 * - `POST /login`     `{ name }` → a short-lived JWT (demo only: any name logs in)
 * - `POST /ticket`    with `Authorization: Bearer <jwt>` → a one-time ticket (30 s)
 * - Socket.IO on `/`  handshake auth with `{ ticket }` or `{ token }`
 * - `ws` on `/ws`     `?ticket=…` at the upgrade, or an `authenticate` first message
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify, SignJWT } from 'jose';
import { Server } from 'socket.io';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { firstOf } from '../../src/strategies/compose.js';
import { createJwtStrategy } from '../../src/strategies/jwt.js';
import { createTicketHandler, createTicketIssuer, createTicketStrategy } from '../../src/strategies/ticket.js';

export interface DemoOptions {
  /** TCP port; 0 picks a free one. @default 3000 */
  port?: number;
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
}

export interface Demo {
  readonly url: string;
  /** Mints a JWT for `name` (what `POST /login` does). */
  login(name: string): Promise<string>;
  close(): Promise<void>;
}

const TOKEN_TTL_SEC = 15 * 60;
const NAME = /^[\w.-]{1,32}$/;

async function readJson(req: IncomingMessage, limit = 1024): Promise<Record<string, unknown>> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) throw new Error('body too large');
  }
  const parsed: unknown = JSON.parse(body || '{}');
  return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** Starts the demo server. */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const secret = randomBytes(32); // a fresh signing key per run: nothing to configure
  const store = createMemoryStore();
  const jwt = createJwtStrategy({ algorithms: ['HS256'], secret, audience: 'portcullis-demo' });
  const tickets = createTicketIssuer({ store, ttlSec: 30 });
  const strategies = firstOf(createTicketStrategy(), jwt);

  const login = (name: string): Promise<string> =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(name)
      .setAudience('portcullis-demo')
      .setIssuedAt()
      .setJti(randomBytes(8).toString('hex'))
      .setExpirationTime(`${TOKEN_TTL_SEC}s`)
      .sign(secret);

  const issueTicket = createTicketHandler(tickets, {
    async getPrincipal(req) {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (token === undefined) return null;
      try {
        const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'], audience: 'portcullis-demo' });
        return typeof payload.sub === 'string' ? { id: payload.sub } : null;
      } catch {
        return null;
      }
    },
  });

  const page = await readFile(new URL('./index.html', import.meta.url), 'utf8');
  const http = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(page);
    } else if (req.method === 'POST' && path === '/login') {
      readJson(req)
        .then(async (body) => {
          const name = body.name;
          if (typeof name !== 'string' || !NAME.test(name)) return json(res, 400, { message: 'name: 1-32 letters, digits, . _ -' });
          return json(res, 200, { token: await login(name), expiresIn: TOKEN_TTL_SEC });
        })
        .catch(() => json(res, 400, { message: 'bad request' }));
    } else if (path === '/ticket') {
      issueTicket(req, res);
    } else if (path !== '/ws' && !path?.startsWith('/socket.io/')) {
      json(res, 404, { message: 'not found' });
    }
  });

  // Socket.IO: credentials in the CONNECT packet.
  // `destroyUpgrade: false`: engine.io would otherwise cut off /ws upgrades still being verified after 1 s.
  // `connectTimeout`: an Engine.IO connection that joins no namespace is closed after 5 s (Socket.IO's default is 45 s).
  // `maxHttpBufferSize`: chat messages are small; refuse anything over 64 KiB before parsing it.
  const io = new Server(http, { destroyUpgrade: false, connectTimeout: 5000, maxHttpBufferSize: 64 * 1024 });
  const ioGuard = createSocketIoGuard(io, { strategies, store, mode: 'handshake' });
  io.on('connection', (socket) => {
    const user: string = socket.data.principal.id;
    io.emit('chat', { from: 'portcullis', text: `${user} joined` });
    socket.on('chat', (text: unknown) => {
      if (typeof text === 'string' && text.length <= 500) io.emit('chat', { from: user, text });
    });
    socket.on('disconnect', () => io.emit('chat', { from: 'portcullis', text: `${user} left` }));
  });

  // ws: the same strategies, on /ws.
  const wsGuard = createWsGuard({ strategies, store, path: '/ws' });
  const detachWs = wsGuard.attach(http);
  wsGuard.on('connection', (ws, principal) => {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      if (text.length <= 500) {
        io.emit('chat', { from: principal.id, text });
        wsGuard.hub.broadcast({ type: 'chat', payload: { from: principal.id, text } });
      }
    });
  });

  await new Promise<void>((resolve) => http.listen(options.port ?? 3000, options.host ?? '127.0.0.1', resolve));
  const { address, port } = http.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    login,
    async close() {
      detachWs();
      await wsGuard.close();
      await ioGuard.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await store.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.PORT ?? 3000);
  const demo = await startDemo({ port, host: process.env.HOST ?? '127.0.0.1' });
  const token = await demo.login('alice');
  console.log(`portcullis demo chat: ${demo.url}`);
  console.log('');
  console.log('Open the URL in a browser, pick a name, chat. From a shell:');
  console.log(`  curl -s -X POST ${demo.url}/login -H 'content-type: application/json' -d '{"name":"bob"}'   # a JWT`);
  console.log(`  curl -s -X POST ${demo.url}/ticket -H "authorization: Bearer $TOKEN"                     # a one-time ticket`);
  console.log('');
  console.log(`A valid credential for "alice" (JWT, ${TOKEN_TTL_SEC / 60} min):`);
  console.log(`  ${token}`);
  console.log('');
  console.log('Connect with it:');
  console.log(`  Socket.IO: io('${demo.url}', { auth: { token: '<jwt>' } })`);
  console.log(
    `  ws:        new WebSocket('${demo.url.replace('http', 'ws')}/ws') then send {"type":"authenticate","payload":{"token":"<jwt>"}}`,
  );
  const stop = (): void => {
    void demo.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
