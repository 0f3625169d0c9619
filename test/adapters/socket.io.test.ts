import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { Socket } from 'socket.io';
import { Manager } from 'socket.io-client';
import { createSocketIoGuard, type SocketIoGuardOptions } from '../../src/adapters/socket.io.js';
import { signHandshake } from '../../src/client/hmac-signer.js';
import { createManualClock } from '../../src/core/clock.js';
import type { CloseReason, ConnectionInfo } from '../../src/core/hooks.js';
import type { Logger, Strategy } from '../../src/core/types.js';
import { AuthError } from '../../src/errors.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { createHmacStrategy } from '../../src/strategies/hmac.js';
import { createJwtStrategy } from '../../src/strategies/jwt.js';
import { connected, type IoFixture, preConnectSockets, refused, startIo } from '../helpers/socket-io.js';
import { gate, waitForEvent, waitUntil } from '../helpers/wait.js';

/** Accepts `{ user: 'alice', password: 'secret' }`-style credentials. */
const passwords = createCustomStrategy(async (c) => {
  if (typeof c.user !== 'string') return null;
  return c.password === 'secret' ? { id: c.user, data: { name: c.user } } : false;
});

/** A logger that records every line, to check none carries a credential. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (obj: object, msg?: string): void => {
    lines.push(`${msg ?? ''} ${JSON.stringify(obj)}`);
  };
  return { lines, debug: rec, info: rec, warn: rec, error: rec };
}

let fx: IoFixture | undefined;
const logger = recordingLogger();
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});
after(() => {
  for (const line of logger.lines) {
    assert.ok(!line.includes('secret'), `a log line carries a credential: ${line}`);
  }
});

async function guarded(options: Partial<SocketIoGuardOptions> = {}) {
  fx = await startIo();
  const g = createSocketIoGuard(fx.io, { strategies: [passwords], logger, ...options });
  return { fx, g };
}

describe('Socket.IO handshake mode', () => {
  it('decides the CONNECT in the tick it arrives when the strategy and the store answer at once', async () => {
    let ticked = false;
    const instant = createCustomStrategy((c) => {
      ticked = false;
      queueMicrotask(() => {
        ticked = true;
      });
      return c.user === 'alice' ? { id: 'alice' } : false;
    });
    const { fx, g } = await guarded({ strategies: [instant] });
    let tickedBeforeApp: boolean | undefined;
    fx.io.use((_socket, next) => {
      tickedBeforeApp = ticked;
      next();
    });
    await connected(fx.client('/', { auth: { user: 'alice' } }));
    assert.equal(tickedBeforeApp, false, 'the app middleware ran before any microtask queued by the strategy');
    assert.equal(g.guard.stats.authenticated, 1);
  });

  it('decides HMAC and HS256 JWT handshakes in the tick they arrive, and counts none as pending', async () => {
    const secret = 'hs-secret-hs-secret-hs-secret-hs-secret';
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ sub: 'carol' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(new TextEncoder().encode(secret));
    const cases: [Strategy, Record<string, unknown>][] = [
      [
        createHmacStrategy({ keys: { k1: secret } }),
        { ...(await signHandshake({ keyId: 'k1', secret, namespace: '/', fields: { sub: 'carol' } })) },
      ],
      [createJwtStrategy({ algorithms: ['HS256'], secret }), { token }],
    ];
    for (const [inner, auth] of cases) {
      let ticked = false;
      const probe: Strategy = {
        name: inner.name,
        authenticate(credentials, context) {
          ticked = false;
          queueMicrotask(() => {
            ticked = true;
          });
          return inner.authenticate(credentials, context);
        },
      };
      const { fx, g } = await guarded({ strategies: [probe], maxPending: 1, maxPendingPerIp: 1 });
      let tickedBeforeApp: boolean | undefined;
      let pendingSeen = -1;
      fx.io.use((_socket, next) => {
        tickedBeforeApp = ticked;
        pendingSeen = g.guard.stats.pending;
        next();
      });
      await connected(fx.client('/', { auth }));
      assert.equal(tickedBeforeApp, false, `${inner.name}: decided before any microtask`);
      assert.equal(pendingSeen, 0, `${inner.name}: never counted as pending`);
      await fx.close();
    }
  });

  it('admits valid CONNECT auth and exposes the principal in socket.data', async () => {
    const { fx, g } = await guarded();
    const seen = waitForEvent<Socket>(fx.io, 'connection');
    const c = fx.client('/', { auth: { user: 'alice', password: 'secret' } });
    await connected(c);
    const s = await seen;
    assert.equal(s.data.principal.id, 'alice');
    assert.equal(g.principalOf(s)?.id, 'alice');
    assert.equal(g.guard.stats.authenticated, 1);
    assert.equal(g.guard.stats.pending, 0);
  });

  it('refuses bad, missing and malformed credentials with connect_error data', async () => {
    const { fx } = await guarded();
    const bad = await refused(fx.client('/', { auth: { user: 'alice', password: 'nope' } }));
    assert.equal(bad.message, 'Invalid credentials');
    assert.deepEqual(bad.data, { code: 'invalid_credentials', retryable: true });
    const none = await refused(fx.client('/'));
    assert.deepEqual(none.data, { code: 'credentials_required', retryable: true });
    const huge = await refused(fx.client('/', { auth: { user: 'alice', password: 'x'.repeat(100_000) } }));
    assert.deepEqual(huge.data, { code: 'invalid_request', retryable: false });
    const proto = await refused(fx.client('/', { auth: JSON.parse('{"__proto__":{"admin":true},"user":"alice","password":"secret"}') }));
    assert.deepEqual(proto.data, { code: 'invalid_request', retryable: false });
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });

  it('never sends internal error text to the client', async () => {
    const { fx } = await guarded({
      strategies: [
        createCustomStrategy((c) => {
          throw new Error(`no user with password ${String(c.password)}`);
        }),
      ],
    });
    const err = await refused(fx.client('/', { auth: { user: 'x', password: 'hunter2' } }));
    assert.equal(err.message, 'Internal error');
    assert.deepEqual(err.data, { code: 'internal_error', retryable: true });
    assert.ok(logger.lines.every((l) => !l.includes('hunter2')));
  });

  it('passes a typed AuthError code through', async () => {
    const { fx } = await guarded({
      strategies: [
        createCustomStrategy(() => {
          throw new AuthError('revoked');
        }),
      ],
    });
    const err = await refused(fx.client('/', { auth: { token: 'x' } }));
    assert.deepEqual(err.data, { code: 'revoked', retryable: false });
  });
});

describe('Socket.IO sockets that never connect', () => {
  it('survives an app middleware that throws after a verification that waited (no unhandled rejection)', async () => {
    const { fx, g } = await guarded();
    fx.io.use(() => {
      throw new Error('app middleware bug');
    });
    const c = fx.client('/', { auth: { user: 'alice', password: 'secret' } });
    await waitUntil(() => logger.lines.some((line) => line.includes('app middleware bug')), 2000, 'the error to be logged');
    await waitUntil(() => g.guard.stats.pending === 0 && g.guard.stats.authenticated === 0, 2000, 'the connection to end');
    c.disconnect();
  });

  it('ends the connection when a later app middleware refuses the CONNECT', async () => {
    const reasons: CloseReason[] = [];
    const { fx, g } = await guarded({ hooks: { onClose: (_info, reason) => reasons.push(reason) } });
    const nsp = fx.io.of('/');
    let memberBeforeConnect: boolean | undefined;
    fx.io.use((socket, next) => {
      // Authenticated by the guard, but not connected: not a member until Socket.IO connects it.
      memberBeforeConnect = nsp.sockets.has(socket.id);
      next(new Error('the app says no'));
    });
    const err = await refused(fx.client('/', { auth: { user: 'alice', password: 'secret' } }));
    assert.equal(err.message, 'the app says no');
    await waitUntil(() => reasons.length === 1, 2000, 'onClose');
    assert.deepEqual(reasons, ['server_disconnect']);
    assert.deepEqual(g.guard.stats, { pending: 0, authenticated: 0 });
    assert.equal([...g.guard.connections()].length, 0);
    assert.equal(memberBeforeConnect, false, 'in nsp.sockets before Socket.IO connected it');
    // Socket.IO forgets a refused socket only when it was never put in nsp.sockets.
    assert.equal(preConnectSockets(nsp), 0, 'the refused socket stays in _preConnectSockets');
    assert.equal(nsp.sockets.size, 0);
  });

  it('keeps a socket an async app middleware is still deciding out of broadcasts', async () => {
    const { fx } = await guarded();
    const decide = gate();
    let held = false;
    fx.io.use((socket, next) => {
      // Rooms joined in a middleware are only reachable once the app lets the socket in.
      socket.join('news');
      held = true;
      decide.opened.then(() => next(new Error('the app says no')));
    });
    const c = fx.client('/', { auth: { user: 'alice', password: 'secret' } });
    // Every packet the client receives, before socket.io-client buffers or drops it.
    const leaked: unknown[] = [];
    c.io.on('packet', (packet: { data?: unknown[] }) => {
      if (Array.isArray(packet.data) && packet.data[0] === 'news') leaked.push(packet.data[1]);
    });
    await waitUntil(() => held, 2000, 'the app middleware to hold the socket');
    fx.io.to('news').emit('news', 'for members only');
    fx.io.emit('news', 'for everyone connected');
    decide.open();
    const err = await refused(c);
    assert.equal(err.message, 'the app says no');
    assert.deepEqual(leaked, []);
  });

  it('hands back to Socket.IO a socket whose client left during verification', async () => {
    const verdict = gate();
    const late = createCustomStrategy(async () => {
      await verdict.opened;
      return { id: 'late' };
    });
    const { fx, g } = await guarded({ strategies: [late] });
    const c = fx.client('/', { auth: { token: 'x' } });
    await waitUntil(() => g.guard.stats.pending === 1, 2000, 'the verification to start');
    c.disconnect();
    await waitUntil(() => g.guard.stats.pending === 0, 2000, 'the connection to end');
    verdict.open();
    await waitUntil(() => preConnectSockets(fx.io.of('/')) === 0, 2000, 'Socket.IO to drop the pre-connect socket');
    assert.deepEqual(g.guard.stats, { pending: 0, authenticated: 0 });
  });

  it('leaves no listener behind for CONNECT after CONNECT over one engine connection', async () => {
    // Bound high enough for the 15 refusals (the bound itself: socket.io-admission.test.ts).
    const { fx, g } = await guarded({ maxAttemptsPerTransport: 100 });
    fx.io.of('/keep');
    fx.io.of('/other');
    const manager = new Manager(fx.url, { transports: ['websocket'], reconnection: false, autoConnect: false });
    try {
      // A second namespace keeps the engine connection open while '/' comes and goes.
      const keep = manager.socket('/keep', { auth: { user: 'keeper', password: 'secret' } });
      keep.connect();
      await connected(keep);
      const engines = Object.values((fx.io.engine as unknown as { clients: Record<string, NodeJS.EventEmitter> }).clients);
      assert.equal(engines.length, 1);
      const engine = engines[0] as NodeJS.EventEmitter;
      const baseline = engine.listenerCount('close');
      const bad = manager.socket('/', { auth: { user: 'mallory', password: 'guess' } });
      for (let i = 0; i < 15; i++) {
        bad.auth = { user: `mallory-${i}`, password: 'guess' }; // one name each: no lockout
        bad.connect();
        assert.equal((await refused(bad)).data?.code, 'invalid_credentials');
      }
      const good = manager.socket('/other', { auth: { user: 'alice', password: 'secret' } });
      for (let i = 0; i < 15; i++) {
        good.connect();
        await connected(good);
        good.disconnect();
        await waitUntil(() => g.guard.stats.authenticated === 1, 2000, 'the namespace socket to end');
      }
      assert.equal(engine.listenerCount('close'), baseline);
      assert.deepEqual(g.guard.stats, { pending: 0, authenticated: 1 });
    } finally {
      manager.engine?.close();
    }
  });
});

describe('Socket.IO post-connect mode', () => {
  it('refuses with internal_error when the verdict cannot be sent (principal data that does not serialise)', async () => {
    const unserialisable = createCustomStrategy((c) => (c.user === 'dave' ? { id: 'dave', data: { n: 10n } } : null));
    const { fx, g } = await guarded({ mode: 'message', strategies: [unserialisable] });
    const c = fx.client('/');
    await connected(c);
    const verdict = waitForEvent<{ code: string }>(c, 'unauthorized');
    c.emit('authentication', { user: 'dave' });
    assert.equal((await verdict).code, 'internal_error');
    await waitUntil(() => g.guard.stats.pending === 0 && g.guard.stats.authenticated === 0, 2000, 'the connection to end');
  });

  it('announces, authenticates and sends the verdict after the hook', async () => {
    let hookDone = false;
    const { fx } = await guarded({
      mode: 'message',
      timeoutMs: 2000,
      hooks: {
        async onAuthenticated() {
          await new Promise((r) => setImmediate(r));
          hookDone = true;
        },
      },
    });
    const received: string[] = [];
    fx.io.on('connection', (s) => s.on('chat', (m: string) => received.push(m)));
    const c = fx.client('/');
    const required = await waitForEvent<{ timeoutMs: number }>(c, 'auth_required');
    assert.deepEqual(required, { timeoutMs: 2000 });
    c.emit('authentication', { user: 'bob', password: 'secret' });
    const verdict = await waitForEvent<Record<string, unknown>>(c, 'authenticated');
    assert.equal(hookDone, true);
    assert.deepEqual(verdict, { name: 'bob' });
    c.emit('chat', 'right away');
    await waitUntil(() => received.length === 1, 2000, 'chat after authenticated');
    assert.deepEqual(received, ['right away']);
  });

  it('sends unauthorized then disconnects, without waiting for an ack', async () => {
    const { fx } = await guarded({ mode: 'message' });
    const c = fx.client('/');
    await connected(c);
    const gone = waitForEvent<[string, unknown]>(c, 'disconnect');
    c.emit('authentication', { user: 'bob', password: 'wrong' });
    const refusal = await waitForEvent(c, 'unauthorized');
    assert.deepEqual(refusal, { message: 'Invalid credentials', code: 'invalid_credentials', retryable: true });
    assert.equal((await gone)[0], 'io server disconnect');
  });

  it('times out a pending socket exactly at the deadline (guard clock)', async () => {
    // A manual clock: the deadline is the guard's business, not the loaded machine's wall clock.
    const clock = createManualClock(Date.now());
    const timeoutMs = 400;
    const closes: CloseReason[] = [];
    const { fx, g } = await guarded({ mode: 'message', timeoutMs, clock, hooks: { onClose: (_c, r) => closes.push(r) } });
    const c = fx.client('/');
    await connected(c);
    await waitUntil(() => g.guard.stats.pending === 1, 5000, 'the socket to be pending');
    const refused = waitForEvent<{ code: string }>(c, 'unauthorized', 10_000);
    clock.advance(timeoutMs - 1);
    assert.deepEqual(closes, [], 'not before the deadline');
    clock.advance(1);
    assert.deepEqual(closes, ['auth_timeout'], 'at the deadline');
    assert.equal((await refused).code, 'auth_timeout');
    assert.equal(g.guard.stats.pending, 0);
  });

  it('isolates pending sockets: zero of N broadcasts, authenticated ones get all N', async () => {
    const { fx, g } = await guarded({ mode: 'message', timeoutMs: 5000 });
    fx.io.on('connection', (s) => s.join('room'));
    const N = 25;
    const authed = [fx.client('/'), fx.client('/'), fx.client('/')];
    const pending = [fx.client('/'), fx.client('/'), fx.client('/')];
    const counts = new Map<unknown, number>();
    for (const c of [...authed, ...pending]) {
      counts.set(c, 0);
      c.on('news', () => counts.set(c, (counts.get(c) ?? 0) + 1));
    }
    await Promise.all([...authed, ...pending].map((c) => waitForEvent(c, 'auth_required')));
    for (const c of authed) c.emit('authentication', { user: 'u', password: 'secret' });
    await Promise.all(authed.map((c) => waitForEvent(c, 'authenticated')));
    assert.equal(g.guard.stats.pending, 3);
    for (let i = 0; i < N; i++) {
      if (i % 3 === 0) fx.io.emit('news', i);
      else if (i % 3 === 1) fx.io.of('/').emit('news', i);
      else fx.io.to('room').emit('news', i);
    }
    await waitUntil(() => authed.every((c) => counts.get(c) === N), 3000, 'all broadcasts');
    // Authenticate the pending ones, then send a marker: the marker is all they may have seen.
    for (const c of pending) c.emit('authentication', { user: 'p', password: 'secret' });
    await Promise.all(pending.map((c) => waitForEvent(c, 'authenticated')));
    fx.io.emit('news', 'marker');
    await waitUntil(() => pending.every((c) => counts.get(c) === 1), 3000, 'marker');
    for (const c of authed) assert.equal(counts.get(c), N + 1);
  });

  it('keeps events of pending sockets from app handlers and onAny', async () => {
    const { fx } = await guarded({ mode: 'message' });
    const seen: string[] = [];
    fx.io.on('connection', (s) => {
      s.onAny((event) => seen.push(`any:${event}`));
      s.on('chat', (m: string) => seen.push(m));
    });
    const c = fx.client('/');
    await waitForEvent(c, 'auth_required');
    c.emit('chat', 'before');
    c.emit('authentication', { user: 'u', password: 'secret' });
    await waitForEvent(c, 'authenticated');
    c.emit('chat', 'after');
    await waitUntil(() => seen.includes('after'));
    assert.deepEqual(seen, ['any:chat', 'after']);
  });

  it('verifies one authentication at a time and gives one verdict', async () => {
    const verdict = gate();
    let calls = 0;
    const { fx } = await guarded({
      mode: 'message',
      strategies: [
        createCustomStrategy(async () => {
          calls++;
          await verdict.opened;
          return 'slow';
        }),
      ],
    });
    fx.io.on('connection', (s) => s.on('ping-after', (ack: (v: string) => void) => ack('pong')));
    const c = fx.client('/');
    let verdicts = 0;
    c.on('authenticated', () => verdicts++);
    await waitForEvent(c, 'auth_required');
    c.emit('authentication', { n: 1 });
    c.emit('authentication', { n: 2 });
    await waitUntil(() => calls === 1);
    verdict.open();
    await waitForEvent(c, 'authenticated');
    // A round trip after the verdict: a second verdict would have arrived before the ack.
    const pong = await c.timeout(2000).emitWithAck('ping-after');
    assert.equal(pong, 'pong');
    assert.equal(calls, 1);
    assert.equal(verdicts, 1);
  });

  it('never authenticates a socket that left during verification; onClose once', async () => {
    const verdict = gate();
    let entered = false;
    const authenticated: ConnectionInfo[] = [];
    const closes: CloseReason[] = [];
    const { fx, g } = await guarded({
      mode: 'message',
      strategies: [
        createCustomStrategy(async () => {
          entered = true;
          await verdict.opened;
          return 'late';
        }),
      ],
      hooks: { onAuthenticated: (c) => void authenticated.push(c), onClose: (_c, r) => closes.push(r) },
    });
    const c = fx.client('/');
    await waitForEvent(c, 'auth_required');
    c.emit('authentication', { token: 'x' });
    await waitUntil(() => entered);
    c.disconnect();
    await waitUntil(() => closes.length === 1, 2000, 'onClose');
    verdict.open();
    await waitUntil(() => g.guard.stats.pending === 0);
    await new Promise((r) => setImmediate(r));
    assert.equal(authenticated.length, 0);
    assert.deepEqual(closes, ['client_disconnect']);
    assert.equal(g.guard.stats.authenticated, 0);
  });

  it('answers malformed payloads with invalid_request and keeps running', async () => {
    const { fx } = await guarded({ mode: 'message' });
    const payloads: unknown[] = [
      'a string',
      42,
      [1, 2],
      { user: 'x'.repeat(50_000) },
      JSON.parse('{"__proto__":{"polluted":true},"user":"u","password":"secret"}'),
      { constructor: { prototype: { polluted: true } } },
      { user: 'u', password: Buffer.from('secret') },
      { a: { b: { c: { d: { e: 1 } } } } },
    ];
    for (const payload of payloads) {
      const c = fx.client('/');
      await waitForEvent(c, 'auth_required');
      c.emit('authentication', payload);
      const refusal = await waitForEvent<{ code: string }>(c, 'unauthorized');
      assert.equal(refusal.code, 'invalid_request', `payload ${JSON.stringify(payload)?.slice(0, 40)}`);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const ok = fx.client('/');
    await waitForEvent(ok, 'auth_required');
    ok.emit('authentication', { user: 'u', password: 'secret' });
    await waitForEvent(ok, 'authenticated');
  });

  it('refuses with internal_error when the post-authentication hook throws', async () => {
    const { fx } = await guarded({
      mode: 'message',
      hooks: {
        onAuthenticated() {
          throw new Error('boom');
        },
      },
    });
    const c = fx.client('/');
    await waitForEvent(c, 'auth_required');
    c.emit('authentication', { user: 'u', password: 'secret' });
    const refusal = await waitForEvent<{ code: string; message: string }>(c, 'unauthorized');
    assert.deepEqual(refusal, { message: 'Internal error', code: 'internal_error', retryable: true });
  });
});

describe('Socket.IO auto mode', () => {
  it('verifies CONNECT auth when present, and leaves a client with only an unrelated cookie pending', async () => {
    const { fx } = await guarded({ mode: 'auto' });
    await connected(fx.client('/', { auth: { user: 'u', password: 'secret' } }));
    const bad = await refused(fx.client('/', { auth: { user: 'u', password: 'nope' } }));
    assert.equal(bad.data?.code, 'invalid_credentials');
    const withCookie = fx.client('/', { extraHeaders: { cookie: 'theme=dark; _ga=GA1.2.3' } });
    await waitForEvent(withCookie, 'auth_required');
    withCookie.emit('authentication', { user: 'u', password: 'secret' });
    await waitForEvent(withCookie, 'authenticated');
  });
});

describe('Socket.IO namespaces', () => {
  it('guards every namespace of a server, present and future; a namespace guard overrides', async () => {
    fx = await startIo();
    fx.io.of('/early');
    createSocketIoGuard(fx.io, { strategies: [passwords], logger });
    const late = fx.io.of('/late');
    const admin = fx.io.of('/admin');
    createSocketIoGuard(admin, {
      strategies: [createCustomStrategy((c) => (c.admin === 'yes' ? 'root' : false))],
      logger,
    });
    for (const nsp of ['/', '/early', '/late']) {
      const err = await refused(fx.client(nsp));
      assert.equal(err.data?.code, 'credentials_required', nsp);
      await connected(fx.client(nsp, { auth: { user: 'u', password: 'secret' } }));
    }
    assert.ok(late);
    const wrong = await refused(fx.client('/admin', { auth: { user: 'u', password: 'secret' } }));
    assert.equal(wrong.data?.code, 'invalid_credentials');
    await connected(fx.client('/admin', { auth: { admin: 'yes' } }));
  });

  it('guards dynamic namespaces with their own options', async () => {
    fx = await startIo();
    const parent = fx.io.of(/^\/room-\d+$/);
    createSocketIoGuard(parent, { strategies: [passwords], mode: 'message', logger });
    const names: string[] = [];
    parent.on('connection', (s) => {
      s.on('hello', () => names.push(s.nsp.name));
    });
    const c = fx.client('/room-7');
    await waitForEvent(c, 'auth_required');
    c.emit('hello');
    c.emit('authentication', { user: 'u', password: 'secret' });
    await waitForEvent(c, 'authenticated');
    c.emit('hello');
    await waitUntil(() => names.length === 1);
    assert.deepEqual(names, ['/room-7']);
    // Another child, created after the guard, is guarded too.
    const bad = fx.client('/room-8');
    await waitForEvent(bad, 'auth_required');
    bad.emit('authentication', { user: 'u', password: 'no' });
    assert.equal((await waitForEvent<{ code: string }>(bad, 'unauthorized')).code, 'invalid_credentials');
  });
});
