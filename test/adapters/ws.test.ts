import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { after, afterEach, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WebSocket, WebSocketServer } from 'ws';
import { createWsGuard, createWsRouter, type WsConnectionInfo, type WsGuardOptions } from '../../src/adapters/ws.js';
import { createManualClock } from '../../src/core/clock.js';
import type { AuditEvent } from '../../src/core/hooks.js';
import type { Logger, Principal } from '../../src/core/types.js';
import { AuthError } from '../../src/errors.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { gate, waitForEvent, waitUntil, withDeadline } from '../helpers/wait.js';
import {
  authenticate,
  closed,
  nextFrame,
  opened,
  rawRequest,
  refusedUpgrade,
  startHttp,
  startWs,
  upgradeRequest,
  type WsFixture,
} from '../helpers/ws.js';

/** Verification calls seen by the strategy. */
const calls: { token: string; phase: string }[] = [];
/** `slow` tokens wait for this gate to open. */
let slow = gate();

/** Credentials `{ token }` (or a `ticket`) naming the outcome. */
const tokens = createCustomStrategy(async (c, ctx) => {
  const token = c.token ?? c.ticket;
  if (typeof token !== 'string') return null;
  calls.push({ token, phase: ctx.phase });
  switch (token) {
    case 'alice':
    case 'bob':
      return { id: token, data: { name: token } };
    case 'short':
      return { id: 'carol', expiresAt: Date.now() + 300 };
    case 'forbidden':
      throw new AuthError('forbidden');
    case 'down':
      throw new AuthError('unavailable');
    case 'boom':
      throw new Error('database exploded');
    case 'slow':
      await slow.opened;
      return { id: 'slow' };
    case 'hang':
      return new Promise<never>(() => {});
    case 'unserialisable':
      return { id: 'dave', data: { n: 10n } }; // a BigInt: the authenticated frame cannot be written
    default:
      return false;
  }
});

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (obj: object, msg?: string): void => {
    lines.push(`${msg ?? ''} ${JSON.stringify(obj)}`);
  };
  return { lines, debug: rec, info: rec, warn: rec, error: rec };
}
const logger = recordingLogger();

let fx: WsFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
  calls.length = 0;
  slow.open();
  slow = gate();
});
after(() => {
  for (const line of logger.lines) assert.ok(!line.includes('portcullis.bearer.'), `a log line carries a bearer: ${line}`);
});

interface AppSide {
  readonly connections: { ws: WebSocket; principal: Principal; info: WsConnectionInfo }[];
  readonly messages: string[];
}

/** A guarded server whose app echoes text messages and records what it saw. */
async function guarded(options: Partial<WsGuardOptions> = {}) {
  const f = await startWs({ strategies: [tokens], logger, origins: '*', ...options });
  fx = f;
  const app: AppSide = { connections: [], messages: [] };
  f.guard.on('connection', (ws, principal, info) => {
    app.connections.push({ ws, principal, info });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = data.toString('utf8');
      app.messages.push(text);
      if (!isBinary && text.startsWith('echo:')) ws.send(text);
    });
  });
  return { fx: f, guard: f.guard, app };
}

/** Opens a client, authenticates it in first-message mode and resolves its `authenticated` frame. */
async function authenticated(f: WsFixture, token = 'alice', path = '/') {
  const ws = f.client(path);
  await opened(ws);
  authenticate(ws, { token });
  const frame = await nextFrame(ws);
  assert.equal(frame.type, 'authenticated');
  return { ws, frame };
}

describe('ws first-message mode', () => {
  it('ends with internal_error (4500) when the verdict cannot be sent; the app never sees the socket', async () => {
    const { fx, guard, app } = await guarded();
    const ws = fx.client('/');
    await opened(ws);
    const end = closed(ws);
    authenticate(ws, { token: 'unserialisable' });
    assert.equal((await end).code, 4500);
    await waitUntil(() => guard.stats.pending === 0 && guard.stats.authenticated === 0, 2000, 'the connection to end');
    assert.equal(app.connections.length, 0);
    assert.ok(logger.lines.some((line) => line.includes('portcullis: admission failed')));
  });

  it('admits a socket after its authenticate frame and only then hands it to the app', async () => {
    const { fx, guard, app } = await guarded();
    const ws = fx.client('/');
    await opened(ws);
    assert.equal(guard.stats.pending, 1);
    assert.equal(app.connections.length, 0);
    assert.equal(guard.hub.size, 0);
    authenticate(ws, { token: 'alice' });
    const frame = await nextFrame(ws);
    assert.deepEqual(frame, { type: 'authenticated', payload: { name: 'alice' } });
    assert.equal(app.connections.length, 1);
    const [conn] = app.connections;
    assert.equal(conn?.principal.id, 'alice');
    assert.equal(conn?.info.ip, '127.0.0.1');
    assert.equal(conn?.info.namespace, '/');
    assert.equal(conn?.info.secure, false);
    assert.deepEqual(guard.hub.byPrincipal('alice'), [conn?.ws]);
    assert.deepEqual(guard.stats, { upgrading: 0, pending: 0, authenticated: 1, sockets: 1 });
    assert.deepEqual(calls, [{ token: 'alice', phase: 'message' }]);
    ws.send('echo:hi');
    assert.equal((await waitForEvent<[Buffer]>(ws, 'message'))[0].toString(), 'echo:hi');
  });

  it('closes with the code of the table for every refusal, and the app never hears of the socket', async () => {
    const { fx, guard, app } = await guarded();
    const cases: [string | Buffer, number, string][] = [
      [JSON.stringify({ type: 'authenticate', payload: { token: 'nope' } }), 4401, 'invalid_credentials'],
      [JSON.stringify({ type: 'authenticate', payload: {} }), 4401, 'credentials_required'],
      [JSON.stringify({ type: 'authenticate' }), 4401, 'credentials_required'],
      [JSON.stringify({ type: 'chat', payload: 'hello' }), 4401, 'credentials_required'],
      ['{not json', 4400, 'invalid_request'],
      ['[1,2]', 4400, 'invalid_request'],
      [JSON.stringify({ payload: { token: 'alice' } }), 4400, 'invalid_request'],
      [Buffer.from(JSON.stringify({ type: 'authenticate', payload: { token: 'alice' } })), 4400, 'invalid_request'],
      [JSON.stringify({ type: 'authenticate', payload: 'alice' }), 4400, 'invalid_request'],
      ['{"type":"authenticate","payload":{"__proto__":{"token":"alice"}}}', 4400, 'invalid_request'],
      [JSON.stringify({ type: 'authenticate', payload: { token: 'forbidden' } }), 4403, 'forbidden'],
      [JSON.stringify({ type: 'authenticate', payload: { token: 'down' } }), 4503, 'unavailable'],
      [JSON.stringify({ type: 'authenticate', payload: { token: 'boom' } }), 4500, 'internal_error'],
    ];
    for (const [data, code, reason] of cases) {
      const ws = fx.client('/');
      await opened(ws);
      const done = closed(ws);
      ws.send(data, { binary: Buffer.isBuffer(data) });
      assert.deepEqual(await done, { code, reason }, `frame ${String(data)}`);
    }
    assert.equal(app.connections.length, 0);
    assert.equal(app.messages.length, 0);
    await waitUntil(() => guard.stats.sockets === 0, 2000, 'sessions released');
    assert.equal(guard.stats.pending, 0);
    assert.equal([...guard.guard.connections()].length, 0);
  });

  it('ignores a second authenticate while the first is being verified (no second verdict)', async () => {
    const { fx } = await guarded();
    const ws = fx.client('/');
    await opened(ws);
    authenticate(ws, { token: 'slow' });
    authenticate(ws, { token: 'slow' });
    await waitUntil(() => calls.length === 1, 2000, 'the first verification');
    slow.open();
    assert.equal((await nextFrame(ws)).type, 'authenticated');
    // Frames are ordered: if a second verdict existed it would arrive before the echo.
    ws.send('echo:after');
    assert.equal((await waitForEvent<[Buffer]>(ws, 'message'))[0].toString(), 'echo:after');
    assert.equal(calls.length, 1);
  });

  it('refreshes with authenticate again; refresh frames never reach the app', async () => {
    const { fx, app } = await guarded();
    const { ws } = await authenticated(fx);
    ws.send('one');
    authenticate(ws, { token: 'alice' });
    assert.deepEqual(await nextFrame(ws), { type: 'authenticated', payload: { name: 'alice' } });
    authenticate(ws, { token: 'nope' });
    const failed = await nextFrame(ws);
    assert.equal(failed.type, 'refresh_failed');
    assert.deepEqual(failed.payload, { message: 'Invalid credentials', code: 'invalid_credentials', retryable: true });
    authenticate(ws, { token: 'bob' });
    assert.equal((await nextFrame(ws)).payload?.code, 'forbidden');
    ws.send('echo:two');
    await waitForEvent(ws, 'message');
    assert.deepEqual(app.messages, ['one', 'echo:two']);
    assert.deepEqual(
      calls.map((c) => c.phase),
      ['message', 'refresh', 'refresh', 'refresh'],
    );
  });

  it('a refresh whose type is spelled with JSON escapes is a refresh too, and never reaches the app', async () => {
    const { fx, app } = await guarded();
    const { ws } = await authenticated(fx);
    // JSON.parse reads "\u0061uthenticate" as "authenticate": the credentials must not reach the app's listener.
    ws.send('{"type":"\\u0061uthenticate","payload":{"token":"alice"}}');
    assert.deepEqual(await nextFrame(ws), { type: 'authenticated', payload: { name: 'alice' } });
    ws.send('{"t\\u0079pe":"authenticate","payload":{"token":"alice"}}');
    assert.deepEqual(await nextFrame(ws), { type: 'authenticated', payload: { name: 'alice' } });
    ws.send('echo:after');
    await waitForEvent(ws, 'message');
    assert.deepEqual(app.messages, ['echo:after']);
  });

  it('warns with expiring, then closes with token_expired', async () => {
    const { fx, guard } = await guarded({ expiringLeadMs: 200 });
    const ws = fx.client('/');
    await opened(ws);
    authenticate(ws, { token: 'short' });
    const ok = await nextFrame(ws);
    assert.equal(ok.type, 'authenticated');
    const expiring = await nextFrame(ws);
    assert.equal(expiring.type, 'expiring');
    assert.equal(expiring.payload?.expiresAt, ok.payload?.expiresAt);
    assert.deepEqual(await closed(ws), { code: 4401, reason: 'token_expired' });
    assert.equal(guard.hub.size, 0);
  });

  it('revokes by user with 4403 revoked and empties the hub', async () => {
    const { fx, guard } = await guarded();
    const a = await authenticated(fx, 'alice');
    const b = await authenticated(fx, 'bob');
    const done = closed(a.ws);
    assert.equal(await guard.revoke({ userId: 'alice' }), 1);
    assert.deepEqual(await done, { code: 4403, reason: 'revoked' });
    assert.equal(guard.hub.size, 1);
    assert.deepEqual(guard.hub.byPrincipal('alice'), []);
    assert.equal(b.ws.readyState, WebSocket.OPEN);
  });

  it('limits consecutive failed authentication messages per connection with 4429', async () => {
    const { fx } = await guarded({ maxAttemptsPerConnection: 2 });
    const { ws } = await authenticated(fx);
    authenticate(ws, { token: 'alice' });
    assert.equal((await nextFrame(ws)).type, 'authenticated');
    authenticate(ws, { token: 'nope' });
    assert.equal((await nextFrame(ws)).type, 'refresh_failed');
    authenticate(ws, { token: 'nope' });
    assert.equal((await nextFrame(ws)).type, 'refresh_failed');
    const done = closed(ws);
    authenticate(ws, { token: 'alice' });
    assert.deepEqual(await done, { code: 4429, reason: 'rate_limited' });
  });

  it('lets ws refuse a frame over maxPayload before any parsing (1009)', async () => {
    const { fx, guard } = await guarded({ maxPayload: 1024 });
    const ws = fx.client('/');
    await opened(ws);
    const done = closed(ws);
    authenticate(ws, { token: 'x'.repeat(2048) });
    assert.equal((await done).code, 1009);
    assert.equal(calls.length, 0);
    await waitUntil(() => guard.stats.sockets === 0 && guard.stats.pending === 0, 2000, 'release');
  });
});

describe('ws before the upgrade', () => {
  it('answers malformed upgrades with an HTTP status, never a 101', async () => {
    const { fx } = await guarded();
    const noKey = await rawRequest(fx.port, upgradeRequest('/', { 'Sec-WebSocket-Key': undefined }));
    assert.match(noKey, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(noKey, /\r\nConnection: close\r\n/i);
    assert.match(noKey, /\r\n\r\n\{"message":"Invalid authentication request","code":"invalid_request","retryable":false\}$/);
    const badKey = await rawRequest(fx.port, upgradeRequest('/', { 'Sec-WebSocket-Key': 'short' }));
    assert.match(badKey, /^HTTP\/1\.1 400 /);
    const version = await rawRequest(fx.port, upgradeRequest('/', { 'Sec-WebSocket-Version': '8' }));
    assert.match(version, /^HTTP\/1\.1 400 /);
    const notWs = await rawRequest(fx.port, upgradeRequest('/', { Upgrade: 'h2c' }));
    assert.match(notWs, /^HTTP\/1\.1 400 /);
    const protocol = await rawRequest(fx.port, upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'a b, c' }));
    assert.match(protocol, /^HTTP\/1\.1 400 .*"code":"invalid_request"/s);
    const post = await rawRequest(fx.port, upgradeRequest('/').replace(/^GET/, 'POST'));
    assert.match(post, /^HTTP\/1\.1 400 /);
    const huge = await rawRequest(fx.port, upgradeRequest('/', { 'X-Padding': 'a'.repeat(20_000) }));
    assert.match(huge, /^HTTP\/1\.1 431 /);
    for (const response of [noKey, badKey, version, notWs, protocol, post, huge]) assert.doesNotMatch(response, /101 Switching/);
  });

  it('refuses a foreign Origin with 403 and never upgrades', async () => {
    const { fx, guard } = await guarded({ origins: ['https://app.example.com'] });
    const raw = await rawRequest(fx.port, upgradeRequest('/', { Origin: 'https://app.example.com.evil.com' }));
    assert.match(raw, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.match(raw, /"code":"origin_not_allowed"/);
    for (const origin of ['https://evil.com', 'null', 'https://APP.example.com.', 'https://evil.com/https://app.example.com']) {
      const refusal = await refusedUpgrade(fx.client('/', [], { origin }));
      assert.equal(refusal.status, 403, origin);
      assert.equal(refusal.body.code, 'origin_not_allowed');
    }
    await opened(fx.client('/', [], { origin: 'HTTPS://app.example.com:443' }));
    await opened(fx.client('/'));
    assert.equal(guard.stats.pending, 2);
  });

  it('allows only same-origin requests when no allowlist is set', async () => {
    fx = await startWs({ strategies: [tokens], logger });
    await opened(fx.client('/', [], { origin: `http://127.0.0.1:${fx.port}` }));
    assert.equal((await refusedUpgrade(fx.client('/', [], { origin: `http://localhost:${fx.port}` }))).status, 403);
    assert.equal((await refusedUpgrade(fx.client('/', [], { origin: `https://127.0.0.1:${fx.port}` }))).status, 403);
  });

  it('requires TLS when asked, believing X-Forwarded-Proto only from a trusted proxy', async () => {
    const { fx: plain } = await guarded({ requireTls: true });
    const refusal = await refusedUpgrade(plain.client('/', [], { headers: { 'X-Forwarded-Proto': 'https' } }));
    assert.equal(refusal.status, 403);
    assert.equal(refusal.body.code, 'tls_required');
    await plain.close();
    const { fx: proxied, app } = await guarded({ requireTls: true, trustedProxies: ['127.0.0.1'] });
    assert.equal((await refusedUpgrade(proxied.client('/'))).body.code, 'tls_required');
    const ws = proxied.client('/', [], { headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '198.51.100.4' } });
    await opened(ws);
    authenticate(ws, { token: 'bob' });
    assert.equal((await nextFrame(ws)).type, 'authenticated');
    assert.equal(app.connections[0]?.info.secure, true);
    assert.equal(app.connections[0]?.info.ip, '198.51.100.4');
  });

  it('refuses with 429 and Retry-After once the pending budget per IP is spent', async () => {
    const { fx } = await guarded({ maxPendingPerIp: 2 });
    await opened(fx.client('/'));
    await opened(fx.client('/'));
    const refusal = await refusedUpgrade(fx.client('/'));
    assert.equal(refusal.status, 429);
    assert.equal(refusal.headers['retry-after'], '1');
    assert.deepEqual(refusal.body, { message: 'Too many requests', code: 'rate_limited', retryable: true, retryAfter: 1 });
  });

  it('refuses with 429 over the handshake rate per IP', async () => {
    const { fx } = await guarded({ rateLimits: { handshakesPerIp: { max: 2, windowMs: 60_000 } } });
    await authenticated(fx);
    await authenticated(fx);
    const refusal = await refusedUpgrade(fx.client('/'));
    assert.deepEqual([refusal.status, refusal.body.code], [429, 'rate_limited']);
    assert.ok(Number(refusal.headers['retry-after']) >= 1);
  });

  it('verifies upgrade-carried credentials before the 101', async () => {
    const rejected: AuditEvent[] = [];
    const { fx } = await guarded({ hooks: { onAudit: (e) => (e.type === 'rejected' ? rejected.push(e) : undefined) } });
    const bad = await refusedUpgrade(fx.client('/', ['portcullis.bearer.nope']));
    assert.deepEqual([bad.status, bad.body.code], [401, 'invalid_credentials']);
    const ticket = await refusedUpgrade(fx.client('/?ticket=nope'));
    assert.deepEqual([ticket.status, ticket.body.code], [401, 'invalid_credentials']);
    const twice = await refusedUpgrade(fx.client('/?ticket=a&ticket=b'));
    assert.deepEqual([twice.status, twice.body.code], [400, 'invalid_request']);
    const down = await refusedUpgrade(fx.client('/', ['portcullis.bearer.down']));
    assert.deepEqual([down.status, down.body.code], [503, 'unavailable']);
    assert.deepEqual(
      rejected.map((e) => (e.type === 'rejected' ? [e.phase, e.code] : [])),
      [
        ['handshake', 'invalid_credentials'],
        ['handshake', 'invalid_credentials'],
        ['upgrade', 'invalid_request'],
        ['handshake', 'unavailable'],
      ],
    );
    const ws = fx.client('/?ticket=alice');
    // The verdict follows the 101 at once: listen before the socket opens.
    const first = nextFrame(ws);
    await opened(ws);
    assert.deepEqual(await first, { type: 'authenticated', payload: { name: 'alice' } });
  });

  it("mode 'upgrade' refuses a request without credentials; a slow verification ends with 408", async () => {
    const { fx, guard } = await guarded({ mode: 'upgrade', timeoutMs: 200 });
    const none = await refusedUpgrade(fx.client('/'));
    assert.deepEqual([none.status, none.body.code], [401, 'credentials_required']);
    // A verification that never answers: only the deadline can end it (408, not a hang).
    const hang = await refusedUpgrade(fx.client('/?ticket=hang'));
    assert.deepEqual([hang.status, hang.body.code], [408, 'auth_timeout']);
    assert.equal(guard.stats.pending, 0);
  });

  it('serves several paths on one server and answers 404 to others', async () => {
    fx = await startHttp();
    const chat = fx.track(createWsGuard({ strategies: [tokens], logger, origins: '*' }));
    const admin = fx.track(
      createWsGuard({
        strategies: [createCustomStrategy((c) => (c.token === 'root' ? 'root' : false))],
        logger,
        origins: '*',
        path: '/admin',
      }),
    );
    const router = createWsRouter(fx.http, { '/chat': chat, '/admin': admin });
    const seen: string[] = [];
    chat.on('connection', (_ws, p, info) => seen.push(`${info.namespace}:${p.id}`));
    admin.on('connection', (_ws, p, info) => seen.push(`${info.namespace}:${p.id}`));
    await authenticated(fx, 'alice', '/chat?x=1');
    await authenticated(fx, 'root', '/admin');
    const wrong = fx.client('/admin');
    await opened(wrong);
    const done = closed(wrong);
    authenticate(wrong, { token: 'alice' });
    assert.equal((await done).code, 4401);
    assert.match(await rawRequest(fx.port, upgradeRequest('/nope')), /^HTTP\/1\.1 404 Not Found\r\n/);
    assert.equal((await refusedUpgrade(fx.client('/chat/'))).status, 404);
    assert.deepEqual(seen, ['/chat:alice', '/admin:root']);
    assert.throws(() => createWsRouter(undefined, { '/other': admin }), TypeError);
    router.detach();
  });
});

describe('ws sharing a server', () => {
  it('leaves other paths to other upgrade listeners, and answers 404 when it is alone', async () => {
    fx = await startHttp();
    const chat = fx.track(createWsGuard({ strategies: [tokens], logger, origins: '*', path: '/chat' }));
    const detach = chat.attach(fx.http);
    assert.match(await rawRequest(fx.port, upgradeRequest('/plain')), /^HTTP\/1\.1 404 /);
    const plain = new WebSocketServer({ noServer: true });
    const other = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (req.url === '/plain') plain.handleUpgrade(req, socket, head, (ws) => ws.send('plain'));
    };
    fx.http.on('upgrade', other);
    const ws = fx.client('/plain');
    assert.equal((await waitForEvent<[Buffer]>(ws, 'message'))[0].toString(), 'plain');
    await authenticated(fx, 'alice', '/chat');
    detach();
    fx.http.off('upgrade', other);
    ws.terminate();
    await new Promise<void>((resolve) => plain.close(() => resolve()));
  });
});

describe('ws bearer subprotocol', () => {
  it('authenticates at the upgrade and answers with the real protocol, never the bearer', async () => {
    const { fx, app } = await guarded({ subprotocol: 'portcullis.v1' });
    const ws = fx.client('/', ['portcullis.v1', 'portcullis.bearer.alice']);
    const answered = waitForEvent<{ headers: Record<string, string> }>(ws, 'upgrade');
    const first = nextFrame(ws);
    await opened(ws);
    assert.equal((await answered).headers['sec-websocket-protocol'], 'portcullis.v1');
    assert.equal(ws.protocol, 'portcullis.v1');
    assert.deepEqual(await first, { type: 'authenticated', payload: { name: 'alice' } });
    assert.equal(app.connections[0]?.info.protocol, 'portcullis.v1');
    assert.deepEqual(calls, [{ token: 'alice', phase: 'handshake' }]);
    const refusal = await refusedUpgrade(fx.client('/', ['portcullis.v1', 'portcullis.bearer.a', 'portcullis.bearer.b']));
    assert.equal(refusal.status, 400);
  });
});

describe('ws hub', () => {
  it('broadcasts N messages to authenticated sockets only, serialised once', async () => {
    const { fx, guard, app } = await guarded();
    const members = await Promise.all([authenticated(fx, 'alice'), authenticated(fx, 'bob'), authenticated(fx, 'alice')]);
    const pending = [fx.client('/'), fx.client('/')];
    await Promise.all(pending.map((ws) => opened(ws)));
    assert.equal(guard.hub.size, 3);
    assert.equal(guard.stats.pending, 2);
    const sent: unknown[] = [];
    for (const { ws } of app.connections) {
      const send = ws.send.bind(ws);
      ws.send = ((data: unknown, ...rest: never[]) => {
        sent.push(data);
        return send(data as never, ...rest);
      }) as typeof ws.send;
    }
    const N = 50;
    const received = members.map(({ ws }) => {
      let n = 0;
      ws.on('message', () => n++);
      return () => n;
    });
    for (let i = 0; i < N; i++) assert.equal(guard.hub.broadcast({ i }), 3);
    await waitUntil(() => received.every((n) => n() === N), 2000, 'all broadcasts');
    assert.equal(sent.length, 3 * N);
    for (let i = 0; i < N; i++) assert.ok(sent[3 * i] === sent[3 * i + 1] && sent[3 * i] === sent[3 * i + 2], 'one buffer per broadcast');
    // A pending socket's first frame after authenticating is its verdict: no broadcast reached it before.
    for (const ws of pending) {
      authenticate(ws, { token: 'bob' });
      assert.equal((await nextFrame(ws)).type, 'authenticated');
    }
  });

  it('keeps rooms and principals of authenticated sockets', async () => {
    const { fx, guard, app } = await guarded();
    const [a, b] = [await authenticated(fx, 'alice'), await authenticated(fx, 'bob')];
    const [sa, sb] = app.connections.map((c) => c.ws) as [WebSocket, WebSocket];
    assert.equal(guard.hub.join(sa, 'lobby'), true);
    assert.equal(guard.hub.join(sb, 'lobby'), true);
    assert.deepEqual(guard.hub.roomsOf(sa), ['lobby']);
    assert.equal(guard.hub.broadcast('hi', { room: 'lobby', except: sa }), 1);
    assert.equal((await waitForEvent<[Buffer]>(b.ws, 'message'))[0].toString(), 'hi');
    assert.equal(guard.hub.leave(sb, 'lobby'), true);
    assert.equal(guard.hub.broadcast('x', { room: 'lobby', except: sa }), 0);
    assert.equal(guard.hub.principalIdOf(sa), 'alice');
    const done = closed(a.ws);
    sa.close();
    await done;
    await waitUntil(() => guard.hub.size === 1, 2000, 'hub removal');
    assert.equal(guard.hub.join(sa, 'lobby'), false);
    assert.deepEqual(guard.hub.members('lobby'), []);
  });
});

describe('ws flood of sockets that never authenticate', () => {
  it('closes every one with 4408 exactly at timeoutMs (one deadline structure) and leaves nothing behind', async () => {
    // The guard's deadlines run on a manual clock: the test decides when time passes, so a
    // loaded machine can delay the closes but never make them early or late on the guard's clock.
    const clock = createManualClock(Date.now());
    const store = createMemoryStore({ clock: createManualClock(Date.now()) });
    const closedAfter: number[] = [];
    const timeoutMs = 300;
    const { fx, guard } = await guarded({
      clock,
      store,
      timeoutMs,
      maxPending: 1000,
      maxPendingPerIp: 1000,
      hooks: { onAudit: (e) => (e.type === 'closed' ? closedAfter.push(e.at - e.connection.openedAt) : undefined) },
    });
    const N = 200;
    const clients: WebSocket[] = [];
    for (let i = 0; i < N; i++) clients.push(fx.client('/'));
    await withDeadline(Promise.all(clients.map((ws) => opened(ws, 10_000))), 15_000, 'the flood to open');
    await waitUntil(() => guard.guard.stats.pending === N, 10_000, 'every socket pending');
    const closes = clients.map((ws) => closed(ws, 10_000));
    clock.advance(timeoutMs - 1);
    assert.equal(closedAfter.length, 0, 'no deadline fires before timeoutMs');
    assert.equal(guard.guard.stats.pending, N);
    clock.advance(1);
    assert.equal(closedAfter.length, N, 'every deadline fires at timeoutMs, in the same turn');
    assert.ok(
      closedAfter.every((ms) => ms === timeoutMs),
      'closed exactly timeoutMs after the open (guard clock)',
    );
    const results = await withDeadline(Promise.all(closes), 15_000, 'the clients to see the close');
    for (const r of results) assert.deepEqual([r.code, r.reason], [4408, 'auth_timeout']);
    await waitUntil(() => guard.stats.sockets === 0, 10_000, 'sessions released');
    assert.equal(guard.guard.stats.pending, 0);
    assert.equal([...guard.guard.connections()].length, 0);
    assert.equal(guard.hub.size, 0);
    await guard.close();
    assert.equal(clock.pendingTimers, 0, 'no timer left armed');
    await store.close();
  });
});

describe('ws guard lifecycle', () => {
  it('close() ends every socket with 1001 and refuses nothing silently', async () => {
    const { fx, guard } = await guarded();
    const { ws } = await authenticated(fx);
    const pending = fx.client('/');
    await opened(pending);
    const done = [closed(ws), closed(pending)];
    await guard.close();
    for (const c of await Promise.all(done)) assert.equal(c.code, 1001);
    assert.deepEqual(guard.stats, { upgrading: 0, pending: 0, authenticated: 0, sockets: 0 });
  });

  it('keeps no upgrade request alive once the handshake is over', async () => {
    setFlagsFromString('--expose_gc');
    const gc = runInNewContext('gc') as () => void;
    const { fx, guard } = await guarded();
    const requests: WeakRef<IncomingMessage>[] = [];
    fx.http.prependListener('upgrade', (req: IncomingMessage) => requests.push(new WeakRef(req)));
    await authenticated(fx, 'alice');
    const viaTicket = fx.client('/?ticket=bob');
    const first = nextFrame(viaTicket);
    await opened(viaTicket);
    await first;
    await opened(fx.client('/'));
    assert.deepEqual([guard.stats.authenticated, guard.stats.pending, requests.length], [2, 1, 3]);
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    assert.equal(requests.filter((r) => r.deref() !== undefined).length, 0);
  });

  it('throws TypeError on invalid options', () => {
    const base = { strategies: [tokens] };
    assert.throws(() => createWsGuard({ ...base, mode: 'later' as never }), TypeError);
    assert.throws(() => createWsGuard({ ...base, path: 'chat' }), TypeError);
    assert.throws(() => createWsGuard({ ...base, subprotocol: 'portcullis.bearer.x' }), TypeError);
    assert.throws(() => createWsGuard({ ...base, subprotocol: 'has space' }), TypeError);
    assert.throws(() => createWsGuard({ ...base, maxPayload: 0 }), TypeError);
    assert.throws(() => createWsGuard({ ...base, origins: ['https://x.test/'] }), TypeError);
    assert.throws(() => createWsGuard({ ...base, trustedProxies: ['10.0.0.0/33'] }), TypeError);
  });
});
