/**
 * The old module's edge paths, and the exceptions portcullis keeps on purpose:
 * callbacks called late or twice, errors that must not leak, options as users
 * wrote them, a second call on one server, payload caps, held-event bounds.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ServerOptions, Socket } from 'socket.io';
import socketioAuth, { type SocketioAuthCallback, type SocketioAuthConfig } from '../../src/compat/socketio-auth.js';
import { createManualClock } from '../../src/core/clock.js';
import type { Logger } from '../../src/core/types.js';
import { connected, type IoFixture, refused, startIo } from '../helpers/socket-io.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

/** The payload of the next `unauthorized` (it arrives with an acknowledgement callback, as from the old module). */
function unauthorized(socket: {
  once(event: string, listener: (...args: never[]) => void): unknown;
}): Promise<{ message?: string; code?: string }> {
  return waitForEvent<[{ message?: string; code?: string }, unknown]>(socket as never, 'unauthorized').then((args) => args[0]);
}

let fx: IoFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

async function setup(config: Partial<SocketioAuthConfig>, serverOptions: Partial<ServerOptions> = {}): Promise<IoFixture> {
  fx = await startIo(serverOptions);
  socketioAuth(fx.io, { authenticate: (_s, _d, cb) => cb(null, true), ...config });
  return fx;
}

function recordingLogger(): Logger & { lines: unknown[] } {
  const lines: unknown[] = [];
  const log = (obj: unknown, msg?: string): void => {
    lines.push([obj, msg]);
  };
  return { lines, debug: log, info: log, warn: log, error: log };
}

describe('socketio-auth compatibility: callbacks', () => {
  it('a callback called after the timeout authenticates nothing and runs no postAuthenticate', async () => {
    const clock = createManualClock();
    let late: SocketioAuthCallback | undefined;
    const posts: string[] = [];
    const ended: Socket[] = [];
    const fx = await setup({
      clock,
      authenticate: (_s, _d, cb) => {
        late = cb;
      },
      postAuthenticate: (s) => posts.push(s.id),
      disconnect: (s) => ended.push(s),
    });
    const c = fx.client();
    await connected(c);
    c.emit('authentication', { token: 'x' });
    await waitUntil(() => late !== undefined, 2000, 'authenticate');
    clock.advance(1000);
    assert.equal(ended.length, 1, 'timed out');
    late?.(null, true);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(posts, []);
    assert.equal((ended[0] as Socket & { auth?: boolean }).auth, false);
    assert.equal(ended.length, 1);
  });

  it('a refusal followed by a success is a refusal (the old module let the success in)', async () => {
    const fx = await setup({
      authenticate: (_s, data: { password?: string }, cb) => {
        if (data.password !== 'secret') cb(new Error('Wrong password')); // no return: the classic bug
        cb(null, true);
      },
    });
    const c = fx.client();
    await connected(c);
    let authenticated = 0;
    c.on('authenticated', () => authenticated++);
    const gone = waitForEvent(c, 'disconnect');
    c.emit('authentication', { password: 'guess' });
    assert.equal((await unauthorized(c)).message, 'Wrong password');
    await gone;
    assert.equal(authenticated, 0);
  });

  it('authenticate may return a promise of a boolean', async () => {
    const fx = await setup({ authenticate: async (_s, data: { ok?: boolean }) => data.ok === true });
    const yes = fx.client();
    const no = fx.client();
    await Promise.all([connected(yes), connected(no)]);
    yes.emit('authentication', { ok: true });
    no.emit('authentication', { ok: false });
    assert.equal(await waitForEvent(yes, 'authenticated'), true);
    assert.equal((await unauthorized(no)).message, 'Authentication failure');
  });

  it('postAuthenticate that throws ends the socket with internal_error', async () => {
    const logger = recordingLogger();
    const fx = await setup({
      logger,
      postAuthenticate: () => {
        throw new Error('roster service down');
      },
    });
    const c = fx.client();
    await connected(c);
    const gone = waitForEvent(c, 'disconnect');
    const authenticated = waitForEvent(c, 'authenticated');
    const refusal = unauthorized(c);
    c.emit('authentication', {});
    await authenticated;
    assert.deepEqual(await refusal, { message: 'Internal error', code: 'internal_error' });
    await gone;
  });
});

describe('socketio-auth compatibility: errors do not leak', () => {
  for (const [how, authenticate] of [
    [
      'rejects',
      async (): Promise<boolean> => {
        throw new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter22');
      },
    ],
    [
      'throws',
      (_s: Socket, data: { password: string }): never => {
        throw new Error(`bad login ${data.password}`);
      },
    ],
  ] as const) {
    it(`an authenticate that ${how} is 'Internal error' to the client, and the log holds no password`, async () => {
      const logger = recordingLogger();
      const fx = await setup({ logger, authenticate: authenticate as SocketioAuthConfig['authenticate'] });
      const c = fx.client();
      await connected(c);
      c.emit('authentication', { username: 'john', password: 'hunter22' });
      assert.deepEqual(await unauthorized(c), { message: 'Internal error', code: 'internal_error' });
      const logged = JSON.stringify(logger.lines);
      assert.ok(logged.includes('internal'), 'the error is logged');
      assert.ok(!logged.includes('hunter22'), logged);
    });
  }

  it('callback(err) carries err.message verbatim; a non-Error carries none', async () => {
    const fx = await setup({
      authenticate: (_s, data: { as?: string }, cb) =>
        data.as === 'string' ? cb('plain string') : cb(new Error('User 5f8d0d55b54764421b7156c9 not found')),
    });
    const a = fx.client();
    const b = fx.client();
    await Promise.all([connected(a), connected(b)]);
    a.emit('authentication', {});
    b.emit('authentication', { as: 'string' });
    assert.deepEqual(await unauthorized(a), {
      message: 'User 5f8d0d55b54764421b7156c9 not found',
      code: 'invalid_credentials',
    });
    assert.deepEqual(await unauthorized(b), { code: 'invalid_credentials' });
  });
});

describe('socketio-auth compatibility: options and setup', () => {
  it('takes what the old module took, and refuses at startup what it turned into a 1 ms timeout', async () => {
    fx = await startIo();
    const authenticate: SocketioAuthConfig['authenticate'] = (_s, _d, cb) => cb(null, true);
    for (const timeout of [undefined, null, 0, '', '300', 300.5, 'none']) {
      assert.doesNotThrow(() => socketioAuth(fx?.io.of(`/t${String(timeout)}`) as never, { authenticate, timeout } as SocketioAuthConfig));
    }
    for (const timeout of [-1, 'abc', Number.POSITIVE_INFINITY, 2 ** 31, true]) {
      assert.throws(() => socketioAuth(fx?.io.of('/bad') as never, { authenticate, timeout } as never), TypeError);
    }
    assert.throws(() => socketioAuth(fx?.io.of('/bad') as never, {} as never), TypeError);
    assert.throws(() => socketioAuth(fx?.io.of('/bad') as never, { authenticate, postAuthenticate: 'yes' } as never), TypeError);
    assert.doesNotThrow(() =>
      socketioAuth(fx?.io.of('/ok') as never, { authenticate, postAuthenticate: null, disconnect: false } as never),
    );
  });

  it("passes portcullis' limits through (budgets, rates, trusted proxies)", async () => {
    const fx = await setup({ maxPending: 1, maxPendingPerIp: 1, rateLimits: false, trustedProxies: [] });
    await connected(fx.client());
    await refused(fx.client());
  });

  it('given a namespace, guards that namespace only, as the old module did', async () => {
    fx = await startIo();
    const ended: string[] = [];
    socketioAuth(fx.io.of('/admin'), { authenticate: (_s, _d, cb) => cb(null, true), disconnect: (s) => ended.push(s.nsp.name) });
    fx.io.on('connection', (s) => s.on('echo', (v: string, ack: (v: string) => void) => ack(v)));
    const open = fx.client('/');
    const admin = fx.client('/admin');
    await Promise.all([connected(open), connected(admin)]);
    assert.equal(await open.timeout(2000).emitWithAck('echo', 'free'), 'free');
    admin.emit('authentication', {});
    assert.equal(await waitForEvent(admin, 'authenticated'), true);
    admin.disconnect();
    await waitUntil(() => ended.length === 1, 2000, 'disconnect callback');
    assert.deepEqual(ended, ['/admin']);
  });

  it('a second call on the same server keeps the first', async () => {
    const calls: string[] = [];
    const fx = await setup({
      authenticate: (_s, _d, cb) => {
        calls.push('first');
        cb(null, true);
      },
    });
    const again = socketioAuth(fx.io, {
      authenticate: (_s, _d, cb) => {
        calls.push('second');
        cb(null, true);
      },
    });
    assert.ok(again);
    const c = fx.client();
    await connected(c);
    c.emit('authentication', {});
    await waitForEvent(c, 'authenticated');
    assert.deepEqual(calls, ['first']);
  });

  it('payload caps are configurable, and keys that reach prototypes are refused', async () => {
    const fx = await setup({ payload: { maxDepth: 2 } });
    const shallow = fx.client();
    const deep = fx.client();
    const proto = fx.client();
    await Promise.all([connected(shallow), connected(deep), connected(proto)]);
    shallow.emit('authentication', { a: { b: 1 } });
    deep.emit('authentication', { a: { b: { c: 1 } } });
    proto.emit('authentication', JSON.parse('{"__proto__": {"admin": true}}'));
    await waitForEvent(shallow, 'authenticated');
    assert.deepEqual(await unauthorized(deep), { message: 'Invalid authentication request', code: 'invalid_request' });
    assert.equal((await unauthorized(proto)).code, 'invalid_request');
  });

  it('holds at most maxHeldEvents events per socket while it is verified', async () => {
    let answer: (() => void) | undefined;
    const seen: string[] = [];
    const fx = await setup({
      maxHeldEvents: 1,
      authenticate: (_s, _d, cb) => {
        answer = () => cb(null, true);
      },
    });
    fx.io.on('connection', (s) => s.on('say', (text: string) => seen.push(text)));
    let packets = 0;
    fx.io.engine.on('connection', (conn: { on(event: string, fn: (p: { type: string; data?: unknown }) => void): void }) => {
      conn.on('packet', (p) => {
        if (p.type === 'message' && String(p.data).includes('"say"')) packets++;
      });
    });
    const c = fx.client();
    await connected(c);
    c.emit('authentication', {});
    c.emit('say', 'kept');
    c.emit('say', 'dropped');
    await waitUntil(() => answer !== undefined && packets === 2, 2000, 'both events at the server');
    await new Promise((r) => setImmediate(r));
    answer?.();
    await waitForEvent(c, 'authenticated');
    c.emit('say', 'after');
    await waitUntil(() => seen.includes('after'), 2000, 'the event after the verdict');
    assert.deepEqual(seen, ['kept', 'after']);
  });
});

describe('socketio-auth compatibility: origins', () => {
  it('asks a cors.origin function when the client authenticates', async () => {
    const fx = await setup({}, { cors: { origin: (origin, cb) => setImmediate(() => cb(null, origin === 'http://app.example')) } });
    const good = fx.client('/', { extraHeaders: { origin: 'http://app.example' } });
    const bad = fx.client('/', { extraHeaders: { origin: 'http://evil.example' } });
    await Promise.all([connected(good), connected(bad)]);
    good.emit('authentication', {});
    bad.emit('authentication', {});
    await waitForEvent(good, 'authenticated');
    assert.deepEqual(await unauthorized(bad), { message: 'Origin not allowed', code: 'origin_not_allowed' });
  });

  it("cors: { origin: '*' } (or cors without origin) lets any origin in", async () => {
    const fx = await setup({}, { cors: { origin: '*' } });
    await connected(fx.client('/', { extraHeaders: { origin: 'http://localhost:5173' } }));
  });
});
