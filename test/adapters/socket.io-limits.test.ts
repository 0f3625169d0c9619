import assert from 'node:assert/strict';
import { request } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { createSocketIoGuard, type SocketIoGuardOptions } from '../../src/adapters/socket.io.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { connected, type IoFixture, refused, startIo } from '../helpers/socket-io.js';
import { gate, waitForEvent, waitUntil } from '../helpers/wait.js';

let fx: IoFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

let verifications = 0;
const passwords = createCustomStrategy({
  authenticate: (c) => {
    if (typeof c.username !== 'string') return null;
    verifications++;
    return c.password === 'secret' ? c.username : false;
  },
  identity: 'username',
});

async function setup(options: Partial<SocketIoGuardOptions> = {}) {
  fx = await startIo();
  const g = createSocketIoGuard(fx.io, { strategies: [passwords], ...options });
  return { fx, g };
}

/** A raw Engine.IO polling handshake: the status, headers and body the server answers. */
function pollingHandshake(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request(`${url}/socket.io/?EIO=4&transport=polling`, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw WebSocket upgrade to the engine: resolves the HTTP status of a refusal, or 101. */
function upgradeStatus(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, { headers });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }));
    });
    ws.on('open', () => {
      ws.close();
      resolve({ status: 101, retryAfter: undefined, body: '' });
    });
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

describe('Socket.IO: Origin before the engine handshake', () => {
  it('refuses a foreign Origin with 403 on polling and upgrade, same-origin and no Origin pass', async () => {
    const { fx } = await setup();
    const host = new URL(fx.url).host;
    for (const origin of ['https://evil.example', `http://${host}.evil.com`, 'null', `HTTP://${host.toUpperCase()}.`]) {
      const polled = await pollingHandshake(fx.url, { origin });
      assert.equal(polled.status, 403, origin);
      assert.deepEqual(JSON.parse(polled.body), { message: 'Origin not allowed', code: 'origin_not_allowed', retryable: false });
      assert.equal((await upgradeStatus(fx.url, { origin })).status, 403, origin);
    }
    assert.equal((await pollingHandshake(fx.url, { origin: `http://${host}` })).status, 200);
    assert.equal((await upgradeStatus(fx.url, { origin: `HTTP://${host.toUpperCase()}` })).status, 101);
    assert.equal((await upgradeStatus(fx.url)).status, 101);
  });

  it('honours an allowlist and refuses plain connections with requireTls', async () => {
    const { fx } = await setup({ origins: ['https://app.example.com'] });
    assert.equal((await upgradeStatus(fx.url, { origin: 'https://app.example.com' })).status, 101);
    assert.equal((await upgradeStatus(fx.url, { origin: 'https://app.example.com.evil.com' })).status, 403);
    await fx.close();
    const { fx: fx2 } = await setup({ requireTls: true, trustedProxies: ['10.0.0.1'] });
    const plain = await upgradeStatus(fx2.url, { 'x-forwarded-proto': 'https' });
    assert.equal(plain.status, 403, 'X-Forwarded-Proto from an untrusted peer is ignored');
    assert.equal(JSON.parse(plain.body).code, 'tls_required');
  });
});

describe('Socket.IO: a guard on one namespace checks in its middleware', () => {
  it('refuses a foreign Origin and a plain connection with connect_error codes', async () => {
    fx = await startIo();
    createSocketIoGuard(fx.io.of('/room'), { strategies: [passwords], origins: ['https://app.example.com'] });
    const auth = { username: 'u', password: 'secret' };
    const foreign = await refused(fx.client('/room', { auth, extraHeaders: { origin: 'https://app.example.com.evil.com' } }));
    assert.deepEqual(foreign.data, { code: 'origin_not_allowed', retryable: false });
    await connected(fx.client('/room', { auth, extraHeaders: { origin: 'https://app.example.com' } }));
    await fx.close();
    fx = await startIo();
    createSocketIoGuard(fx.io.of('/room'), { strategies: [passwords], requireTls: true });
    assert.deepEqual((await refused(fx.client('/room', { auth }))).data, { code: 'tls_required', retryable: false });
  });
});

describe('Origin opt-out', () => {
  it("logs a warning for origins: '*' on both adapters", async () => {
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (_o: object, msg?: string) => void warnings.push(msg ?? '') };
    const { g } = await setup({ origins: '*', logger });
    const ws = createWsGuard({ strategies: [passwords], origins: '*', logger });
    assert.equal(warnings.filter((w) => w.includes("origins: '*'")).length, 2);
    await ws.close();
    await g.close();
  });
});

describe('Socket.IO: abuse limits', () => {
  it('caps pending sockets per IP before the upgrade (429 + Retry-After); authenticating frees the budget', async () => {
    const { fx, g } = await setup({ mode: 'message', maxPendingPerIp: 3, timeoutMs: 10_000 });
    const pending = [fx.client(), fx.client(), fx.client()];
    await Promise.all(pending.map((c) => waitForEvent(c, 'auth_required')));
    const over = await upgradeStatus(fx.url);
    assert.equal(over.status, 429);
    assert.equal(over.retryAfter, '1');
    assert.equal(JSON.parse(over.body).code, 'rate_limited');
    assert.equal(g.guard.stats.pending, 3);
    pending[0]?.emit('authentication', { username: 'u', password: 'secret' });
    await waitForEvent(pending[0] as never, 'authenticated');
    const next = fx.client();
    await waitForEvent(next, 'auth_required');
  });

  it('on a namespace-only guard, enforces the pending cap in the middleware, exactly', async () => {
    fx = await startIo();
    const g = createSocketIoGuard(fx.io.of('/room'), { strategies: [passwords], mode: 'message', maxPendingPerIp: 2 });
    const held = [fx.client('/room'), fx.client('/room')];
    await Promise.all(held.map((c) => waitForEvent(c, 'auth_required')));
    const third = await refused(fx.client('/room'));
    assert.deepEqual(third.data, { code: 'rate_limited', retryable: true, retryAfter: 1 });
    assert.equal(g.guard.stats.pending, 2);
  });

  it('counts a CONNECT whose verification waits against the pending budget, and frees it on the verdict', async () => {
    const verdict = gate();
    const slow = createCustomStrategy(async (c) => {
      if (c.wait === true) await verdict.opened;
      return typeof c.username === 'string' ? c.username : null;
    });
    fx = await startIo();
    const g = createSocketIoGuard(fx.io.of('/room'), { strategies: [slow], maxPendingPerIp: 1 });
    const waiting = fx.client('/room', { auth: { username: 'u1', wait: true } });
    await waitUntil(() => g.guard.stats.pending === 1);
    const over = await refused(fx.client('/room', { auth: { username: 'u2' } }));
    assert.deepEqual(over.data, { code: 'rate_limited', retryable: true, retryAfter: 1 });
    verdict.open();
    await connected(waiting);
    assert.deepEqual(g.guard.stats, { pending: 0, authenticated: 1 });
    await connected(fx.client('/room', { auth: { username: 'u3' } }));
  });

  it('limits handshakes per IP per window', async () => {
    const { fx } = await setup({ rateLimits: { handshakesPerIp: { max: 4, windowMs: 60_000 } } });
    for (let i = 0; i < 4; i++) await connected(fx.client('/', { auth: { username: 'u', password: 'secret' } }));
    const over = await upgradeStatus(fx.url);
    assert.equal(over.status, 429);
    assert.equal(over.retryAfter, '60');
  });

  it('locks out password guessing per principal, without calling the strategy again', async () => {
    const { fx } = await setup({ rateLimits: { failuresPerPrincipal: { max: 3, windowMs: 60_000 } } });
    for (let i = 0; i < 3; i++) {
      const err = await refused(fx.client('/', { auth: { username: 'Alice', password: `guess-${i}` } }));
      assert.equal(err.data?.code, 'invalid_credentials');
    }
    const before = verifications;
    const locked = await refused(fx.client('/', { auth: { username: 'alice', password: 'secret' } }));
    assert.deepEqual(locked.data, { code: 'rate_limited', retryable: true, retryAfter: 60 });
    assert.equal(verifications, before, 'the strategy was not called while locked out');
    await connected(fx.client('/', { auth: { username: 'bob', password: 'secret' } }));
  });

  it('caps consecutive failed authentication attempts per socket', async () => {
    const { fx } = await setup({ maxAttemptsPerConnection: 3, rateLimits: false });
    const c = fx.client('/', { auth: { username: 'u', password: 'secret' } });
    await connected(c);
    // Failed refreshes keep the socket (its credential is still valid)...
    for (let i = 0; i < 3; i++) {
      c.emit('authentication', { username: 'u', password: 'wrong' });
      assert.equal((await waitForEvent<{ code: string }>(c, 'auth_refresh_failed')).code, 'invalid_credentials');
    }
    // ...until the cap.
    c.emit('authentication', { username: 'u', password: 'wrong' });
    assert.equal((await waitForEvent<{ code: string }>(c, 'unauthorized')).code, 'rate_limited');
  });
});
