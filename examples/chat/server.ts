/**
 * The portcullis demo: a small chat, guarded by portcullis on both transports,
 * on embedded defaults (memory store, no Redis). Run it with `npm run demo`.
 *
 * - `GET /`, `GET /app.js`  the page and its script (`app.ts` on `portcullis/client`, bundled by esbuild at start)
 * - `POST /login`           `{ name, password }` (scrypt) → a signed, HttpOnly session cookie
 * - `POST /logout`          clears the cookie and revokes the session's sockets
 * - `GET /me`               who the cookie says I am
 * - `POST /token`           cookie → a short-lived JWT `{ token, expiresAt }` (same origin only)
 * - `POST /ticket`          `Authorization: Bearer <jwt>` → a one-time ticket (30 s) carrying the JWT's expiry
 * - Socket.IO on `/`        handshake auth with `{ ticket }` (or `{ token }`)
 * - `ws` on `/ws`           an `authenticate` first message with `{ token }` (or `?ticket=` at the upgrade)
 *
 * Chat messages are bridged both ways between the transports, room by room.
 * Rooms are joined through `portcullis/authorization`: `lobby` and `topic:*`
 * (everyone), `admins` (role admin only: the admin view's feed), `user:<id>`
 * (the user's own, on all their sockets); `admin:*` events pass only for admins. Admins see the connected
 * sockets, revoke users (on both transports), the live audit feed and a small
 * chart of the guard's numbers.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify, SignJWT } from 'jose';
import { Server } from 'socket.io';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import type { AuditEvent, ConnectionInfo, Principal } from '../../src/index.js';
import {
  attachSocketIoAuthorization,
  attachWsAuthorization,
  createAuthorization,
  type EventContext,
  type PortcullisSocketData,
} from '../../src/policy/index.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { firstOf } from '../../src/strategies/compose.js';
import { createJwtStrategy } from '../../src/strategies/jwt.js';
import { createTicketHandler, createTicketIssuer, createTicketStrategy } from '../../src/strategies/ticket.js';
import { buildClient } from './bundle.js';
import { createSessionCookies, createUserTable, DEMO_USERS, type Session } from './users.js';

export interface DemoOptions {
  /** TCP port; 0 picks a free one. @default 3000 */
  port?: number;
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /**
   * Key signing session cookies and JWTs. Keep it across a restart and logged-in
   * pages reconnect with fresh credentials; a new one sends them back to login.
   * @default 32 random bytes per start
   */
  secret?: Uint8Array;
  /** Lifetime of the access JWT (and of the sockets it admits), in seconds. @default 120 */
  tokenTtlSec?: number;
}

/** An entry of the admin's audit feed (credential-free, like every audit event). */
export interface FeedEntry {
  at: number;
  type: AuditEvent['type'];
  transport: string;
  user?: string;
  code?: string;
  reason?: string;
}

export interface Demo {
  readonly url: string;
  /** The signing key (pass it to a restart to keep sessions valid). */
  readonly secret: Uint8Array;
  /** The recent audit feed, oldest first. */
  feed(): readonly FeedEntry[];
  close(): Promise<void>;
}

const AUDIENCE = 'portcullis-demo';
const NAME = /^[\w.-]{1,32}$/;
const FEED_SIZE = 200;
const SAMPLES = 60;

/** The claims the demo's JWTs carry (besides sid, jti, iat and exp). */
export interface DemoClaims {
  role?: string;
}
/** The rooms every socket is put in at connect; others (`admins`, `topic:…`) are asked for and decided by the policy. */
const HOME_ROOMS = (id: string): string[] => ['lobby', `user:${id}`];
const adminOnly = ({ principal }: EventContext<DemoClaims>): boolean => principal.claims.role === 'admin';

async function readJson(req: IncomingMessage, limit = 1024): Promise<Record<string, unknown>> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) throw new Error('body too large');
  }
  const parsed: unknown = JSON.parse(body || '{}');
  return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

/** Browsers send `Origin` on POST: a request from another origin is refused (no CORS here). */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  return origin === undefined || origin === `http://${req.headers.host}`;
}

/** Starts the demo server. */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const secret = options.secret ?? randomBytes(32);
  const ttlSec = options.tokenTtlSec ?? 120;
  const store = createMemoryStore();
  const users = await createUserTable();
  const cookies = createSessionCookies(secret);
  const script = await buildClient();
  const page = await readFile(new URL('./index.html', import.meta.url), 'utf8');
  /** Sessions logged out, and per-user revocation times: the cookie alone no longer gets tokens. */
  const loggedOut = new Set<string>();
  const revokedAt = new Map<string, number>();
  /** The sessions each user got tokens for: an admin's revoke ends them, not the user's later logins. */
  const sessionsOf = new Map<string, Set<string>>();
  const validSession = (req: IncomingMessage): Session | undefined => {
    const s = cookies.read(req.headers.cookie, Date.now());
    if (s === undefined || loggedOut.has(s.sid) || s.iat <= (revokedAt.get(s.user) ?? Number.NEGATIVE_INFINITY)) return undefined;
    return s;
  };

  // The JWT strategy's principal carries sub, sid, jti, iat and exp (so the guard warns before
  // expiry and the client refreshes in band); the role is among its claims.
  const jwt = createJwtStrategy({ algorithms: ['HS256'], secret, audience: AUDIENCE });
  const tickets = createTicketIssuer({ store, ttlSec: 30 });
  const signToken = (s: Session, role: string): Promise<string> => {
    const sids = sessionsOf.get(s.user) ?? new Set<string>();
    sessionsOf.set(s.user, sids.add(s.sid));
    return new SignJWT({ role, sid: s.sid })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(s.user)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setJti(randomBytes(8).toString('hex'))
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSec)
      .sign(secret);
  };

  // A ticket is only as good as the JWT behind it: same user, session and expiry.
  const issueTicket = createTicketHandler(tickets, {
    async getPrincipal(req): Promise<Principal | null> {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (token === undefined || !sameOrigin(req)) return null;
      try {
        const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'], audience: AUDIENCE });
        if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number' || typeof payload.sid !== 'string') return null;
        if (loggedOut.has(payload.sid)) return null;
        return { id: payload.sub, sessionId: payload.sid, expiresAt: payload.exp * 1000, claims: { role: payload.role } };
      } catch {
        return null;
      }
    },
  });

  // ---- the audit feed and the numbers behind the admin's chart ----
  const feed: FeedEntry[] = [];
  const samples: { t: number; connected: number; pending: number; accepted: number; rejected: number }[] = [];
  let accepted = 0;
  let rejected = 0;
  let adminUpdate: (() => void) | undefined;
  const onAudit = (e: AuditEvent): void => {
    const entry: FeedEntry = {
      at: e.at,
      type: e.type,
      transport: 'transport' in e ? e.transport : e.connection.transport,
    };
    if ('connection' in e && e.connection.principal !== undefined) entry.user = e.connection.principal.id;
    if (e.type === 'rejected') entry.code = e.code;
    if (e.type === 'closed') entry.reason = e.reason;
    if (e.type === 'accepted' || e.type === 'refreshed') accepted++;
    if (e.type === 'rejected') rejected++;
    feed.push(entry);
    if (feed.length > FEED_SIZE) feed.shift();
    toAdmins('admin:audit', entry);
    adminUpdate?.();
  };

  const http = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = `${req.method} ${path}`;
    if (route === 'GET /') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(page);
    } else if (route === 'GET /app.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(script);
    } else if (route === 'POST /login') {
      if (!sameOrigin(req)) return json(res, 403, { message: 'cross-origin login refused' });
      readJson(req)
        .then(async (body) => {
          const name = typeof body.name === 'string' && NAME.test(body.name) ? body.name : '';
          const user = await users.verify(name, typeof body.password === 'string' ? body.password : '');
          if (user === undefined) return json(res, 401, { message: 'Wrong name or password' });
          const { cookie } = cookies.issue(user.name, Date.now());
          return json(res, 200, { user: user.name, role: user.role }, { 'Set-Cookie': cookie });
        })
        .catch(() => json(res, 400, { message: 'bad request' }));
    } else if (route === 'POST /logout') {
      const s = cookies.read(req.headers.cookie, Date.now());
      if (s !== undefined) {
        loggedOut.add(s.sid);
        sessionsOf.get(s.user)?.delete(s.sid);
        void revokeEverywhere({ sessionId: s.sid });
      }
      json(res, 200, { ok: true }, { 'Set-Cookie': cookies.clear });
    } else if (route === 'GET /me') {
      const s = validSession(req);
      if (s === undefined) return json(res, 401, { message: 'not logged in' });
      json(res, 200, { user: s.user, role: users.roleOf(s.user) });
    } else if (route === 'POST /token') {
      if (!sameOrigin(req)) return json(res, 403, { message: 'cross-origin request refused' });
      const s = validSession(req);
      if (s === undefined) return json(res, 401, { message: 'Your session has ended: log in again' });
      void signToken(s, users.roleOf(s.user) ?? 'user').then((token) =>
        json(res, 200, { token, expiresAt: (Math.floor(Date.now() / 1000) + ttlSec) * 1000 }),
      );
    } else if (path === '/ticket') {
      issueTicket(req, res);
    } else if (path !== '/ws' && !path?.startsWith('/socket.io/')) {
      json(res, 404, { message: 'not found' });
    }
  });

  // Who may join what, and which events pass: one authorization for both guards (docs/authorization.md).
  // A join the policy refuses is answered with `forbidden` (a Socket.IO ack / a `refused` frame on ws).
  const authz = createAuthorization<DemoClaims>({
    store,
    rooms: {
      lobby: true,
      'topic:*': true, // topic:tea, topic:rust: anyone may join
      admins: ({ principal }) => principal.claims.role === 'admin', // the admin page asks for it
      'user:{$id}': true, // the user's own room: a `user:bob` asked for by alice matches no rule
    },
    events: { 'admin:*': adminOnly, '*': true },
  });

  // Warn 30 s before expiry, or halfway for short-lived tokens.
  const expiringLeadMs = Math.min(30_000, (ttlSec * 1000) / 2);
  const hooks = [{ onAudit }, authz.hooks];

  // Socket.IO: a one-time ticket in the CONNECT packet (or the JWT itself).
  // `destroyUpgrade: false`: engine.io would otherwise cut off /ws upgrades still being verified after 1 s.
  // `connectTimeout`: an Engine.IO connection that joins no namespace is closed after 5 s (Socket.IO's default is 45 s).
  // `maxHttpBufferSize`: chat messages are small; refuse anything over 64 KiB before parsing it.
  // `PortcullisSocketData<DemoClaims>`: `socket.data.principal.claims.role` is typed.
  const io = new Server<Record<string, never>, Record<string, never>, Record<string, never>, PortcullisSocketData<DemoClaims>>(http, {
    destroyUpgrade: false,
    connectTimeout: 5000,
    maxHttpBufferSize: 64 * 1024,
  });
  const ioGuard = createSocketIoGuard(io, { strategies: firstOf(createTicketStrategy(), jwt), store, expiringLeadMs, hooks });
  // ws: the JWT in the first `authenticate` frame (exact refusal codes in browsers), or a ticket at the upgrade.
  const wsGuard = createWsGuard({ strategies: [createTicketStrategy(), jwt], store, path: '/ws', expiringLeadMs, hooks });
  const detachWs = wsGuard.attach(http);
  const rooms = attachSocketIoAuthorization(ioGuard, authz);
  const channels = attachWsAuthorization(wsGuard, authz);

  /** To one room on both transports (the hub's rooms and Socket.IO's have the same names). */
  const toRoom = (room: string, event: string, payload: unknown): void => {
    io.to(room).emit(event, payload);
    wsGuard.hub.broadcast({ type: event, payload }, { room });
  };
  function toAdmins(event: string, payload: unknown): void {
    toRoom('admins', event, payload);
  }
  /** A chat line goes to a room its sender holds (joined through the policy), `lobby` by default. */
  const chat = (from: string, text: unknown, room: unknown, holds: (room: string) => boolean): void => {
    const target = room ?? 'lobby';
    if (typeof text !== 'string' || typeof target !== 'string' || !holds(target)) return;
    const clean = text.trim();
    if (clean === '' || clean.length > 500) return; // empty messages are not chat
    toRoom(target, 'chat', { from, text: clean, room: target });
  };
  const notice = (text: string): void => toRoom('lobby', 'chat', { from: 'portcullis', text, room: 'lobby' });
  const revokeEverywhere = async (target: { sessionId: string }): Promise<number> => {
    // Both guards share the store: each revocation reaches every guard (and node) subscribed to it.
    const [a, b] = await Promise.all([ioGuard.revoke(target), wsGuard.revoke(target)]);
    return a + b;
  };
  const isAdmin = (p: Principal | undefined): boolean => (p?.claims as DemoClaims | undefined)?.role === 'admin';
  const socketsSnapshot = () => {
    const list: { id: string; transport: string; user: string; expiresAt: number | undefined }[] = [];
    const add = (c: ConnectionInfo): void => {
      if (c.state === 'authenticated' && c.principal !== undefined) {
        list.push({ id: c.id, transport: c.transport, user: c.principal.id, expiresAt: c.principal.expiresAt });
      }
    };
    for (const c of ioGuard.guard.connections()) add(c);
    for (const c of wsGuard.guard.connections()) add(c);
    return list;
  };
  const adminState = () => ({ sockets: socketsSnapshot(), samples, feed: feed.slice(-50) });
  let scheduled = false;
  adminUpdate = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      toAdmins('admin:sockets', socketsSnapshot());
    });
  };
  const sampler = setInterval(() => {
    const io_ = ioGuard.guard.stats;
    const ws_ = wsGuard.guard.stats;
    samples.push({
      t: Date.now(),
      connected: io_.authenticated + ws_.authenticated,
      pending: io_.pending + ws_.pending,
      accepted,
      rejected,
    });
    if (samples.length > SAMPLES) samples.shift();
    accepted = 0;
    rejected = 0;
    toAdmins('admin:samples', samples);
  }, 1000);
  sampler.unref();

  const adminRevoke = (principal: Principal | undefined, userId: unknown, ack: (n: number | string) => void): void => {
    if (!isAdmin(principal) || typeof userId !== 'string' || !NAME.test(userId)) {
      ack('forbidden');
      return;
    }
    // Revoked by session, not by user id: a user revocation refuses every credential issued at or
    // before it, and a JWT's `iat` has whole seconds, so the user's fresh login in that second
    // would be refused too. The cookies issued before now stop getting tokens (`revokedAt`).
    revokedAt.set(userId, Date.now());
    const sids = [...(sessionsOf.get(userId) ?? [])];
    sessionsOf.delete(userId);
    void Promise.all(sids.map((sessionId) => revokeEverywhere({ sessionId }))).then((counts) => {
      notice(`${userId} was signed out by an administrator`);
      ack(counts.reduce((a, b) => a + b, 0));
    });
  };

  // Only authenticated sockets reach this listener (io.on('connection') would also see pending ones).
  ioGuard.on<DemoClaims>('connection', async (socket, principal) => {
    const user = principal.id;
    socket.on('chat', (text: unknown, room: unknown) => chat(user, text, room, (r) => r !== socket.id && socket.rooms.has(r)));
    // Passes the event policy only for admins (`admin:*`); a user's attempt gets `forbidden` in its ack.
    socket.on('admin:revoke', (userId: unknown, ack: unknown) => {
      adminRevoke(socket.data.principal, userId, typeof ack === 'function' ? (ack as (n: number | string) => void) : () => {});
    });
    // The admin view's first snapshot, once the page holds `admins` (the feed's room).
    socket.on('admin:state', (ack: unknown) => {
      if (typeof ack === 'function' && socket.rooms.has('admins')) ack(adminState());
    });
    socket.on('disconnect', () => notice(`${user} left`));
    // Through the policy, like the client's own `portcullis:join` requests.
    const joined: string[] = [];
    for (const room of HOME_ROOMS(user)) if ((await rooms.join(socket, room)).ok) joined.push(room);
    if (socket.disconnected) return;
    const role = socket.data.principal.claims.role; // typed: PortcullisSocketData<DemoClaims>
    socket.emit('session', { id: socket.id, user, role, expiresAt: principal.expiresAt, transport: 'socket.io', rooms: joined });
    notice(`${user} joined (Socket.IO)`);
  });

  wsGuard.on('connection', async (ws, principal, info) => {
    const user = principal.id;
    const send = (type: string, payload: unknown): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type, payload }));
    };
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let frame: { type?: unknown; payload?: unknown };
      try {
        frame = JSON.parse(data.toString()) as { type?: unknown; payload?: unknown };
      } catch {
        return;
      }
      const p = (frame.payload ?? {}) as { text?: unknown; room?: unknown; userId?: unknown };
      if (frame.type === 'chat') chat(user, p.text, p.room, (r) => wsGuard.hub.roomsOf(ws).includes(r));
      // Reaches here only for admins: the event policy answers a user's `admin:revoke` with a `refused` frame.
      else if (frame.type === 'admin:revoke')
        adminRevoke(principal, p.userId, (n) => send('admin:revoked', { userId: p.userId, result: n }));
      else if (frame.type === 'admin:state' && wsGuard.hub.roomsOf(ws).includes('admins')) send('admin:state', adminState());
    });
    ws.on('close', () => notice(`${user} left`));
    // Through the policy, like the client's own `subscribe` frames.
    const joined: string[] = [];
    for (const room of HOME_ROOMS(user)) if ((await channels.subscribe(ws, room)).ok) joined.push(room);
    if (ws.readyState !== ws.OPEN) return;
    send('session', {
      id: info.id,
      user,
      role: (principal.claims as DemoClaims | undefined)?.role,
      expiresAt: principal.expiresAt,
      transport: 'ws',
      rooms: joined,
    });
    notice(`${user} joined (ws)`);
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 3000, options.host ?? '127.0.0.1', () => {
      http.off('error', reject);
      resolve();
    });
  });
  const { address, port } = http.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    secret,
    feed: () => [...feed],
    async close() {
      clearInterval(sampler);
      adminUpdate = undefined;
      detachWs();
      rooms.detach();
      channels.detach();
      await wsGuard.close();
      await ioGuard.close();
      await authz.close();
      await new Promise<void>((resolve) => {
        io.close(() => resolve());
        http.closeAllConnections();
      });
      await store.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.PORT ?? 3000);
  const demo = await startDemo({ port, host: process.env.HOST ?? '127.0.0.1' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    console.error(`portcullis demo: port ${port} is in use; pick another one, e.g. PORT=3001 npm run demo`);
    process.exit(1);
  });
  console.log(`portcullis demo chat: ${demo.url}`);
  console.log('');
  console.log('Open the URL in a browser and log in as one of the demo users (demo passwords):');
  for (const u of DEMO_USERS) {
    const note = u.role === 'admin' ? ' (admin view: sockets, revoke, audit, chart)' : '';
    console.log(`  ${u.name.padEnd(6)} / ${u.password}${note}`);
  }
  console.log('');
  console.log('Open a second browser window (or a private one) as another user to chat across transports.');
  console.log('Ctrl-C stops it; sessions do not survive a restart (a new signing key each start).');
  const stop = (): void => {
    void demo.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
