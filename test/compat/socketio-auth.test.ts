import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { afterEach, describe, it } from 'node:test';
import type { Socket } from 'socket.io';
import socketioAuth, { type SocketioAuthConfig } from '../../src/compat/socketio-auth.js';
import { createManualClock } from '../../src/core/clock.js';
import { connected, type IoFixture, startIo } from '../helpers/socket-io.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

/** The payload of the next `unauthorized` (it arrives with an acknowledgement callback, as from the old module). */
function unauthorized(socket: {
  once(event: string, listener: (...args: never[]) => void): unknown;
}): Promise<{ message?: string; code?: string }> {
  return waitForEvent<[{ message?: string; code?: string }, unknown]>(socket as never, 'unauthorized').then((args) => args[0]);
}

const require = createRequire(import.meta.url);

let fx: IoFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

const users: Record<string, string> = { john: 'secret' };
const authenticate: SocketioAuthConfig['authenticate'] = (_socket, data, callback) => {
  const password = users[String(data.username)];
  if (password === undefined) return callback(new Error('User not found'));
  return callback(null, password === data.password);
};

async function setup(config: Partial<SocketioAuthConfig> = {}) {
  fx = await startIo();
  socketioAuth(fx.io, { authenticate, ...config });
  return fx;
}

describe('portcullis/socketio-auth (the old module, on Socket.IO 4)', () => {
  it('runs an app written for socketio-auth unchanged, through require()', async () => {
    const legacy = require('../fixtures/legacy-app.cjs') as {
      start(onEvent: (...args: unknown[]) => void): Promise<{ io: import('socket.io').Server; url: string }>;
    };
    const events: unknown[][] = [];
    const app = await legacy.start((...args) => events.push(args));
    const { io: ioc } = await import('socket.io-client');
    const opts = { transports: ['websocket'], forceNew: true, reconnection: false };
    const john = ioc(app.url, opts);
    const lurker = ioc(app.url, opts);
    try {
      let lurkerChats = 0;
      lurker.on('chat', () => lurkerChats++);
      await Promise.all([connected(john), connected(lurker)]);
      john.emit('authentication', { username: 'john', password: 'secret' });
      assert.equal(await waitForEvent(john, 'authenticated'), true);
      john.emit('chat', 'hello');
      const chat = await waitForEvent<{ from: string; message: string }>(john, 'chat');
      assert.deepEqual(chat, { from: 'john', message: 'hello' });
      assert.deepEqual(events[0], ['chat', 'john', 'hello']);
      assert.equal(lurkerChats, 0, 'a pending socket gets no broadcast');
    } finally {
      john.disconnect();
      lurker.disconnect();
      await new Promise<void>((r) => app.io.close(() => r()));
    }
  });

  it('refuses with the error message of callback(err)', async () => {
    const fx = await setup();
    const c = fx.client();
    await connected(c);
    const gone = waitForEvent(c, 'disconnect');
    c.emit('authentication', { username: 'nobody', password: 'x' });
    assert.deepEqual(await unauthorized(c), { message: 'User not found', code: 'invalid_credentials' });
    await gone;
  });

  it("refuses with 'Authentication failure' on callback(null, false)", async () => {
    const fx = await setup();
    const c = fx.client();
    await connected(c);
    c.emit('authentication', { username: 'john', password: 'wrong' });
    const refusal = await unauthorized(c);
    assert.equal(refusal.message, 'Authentication failure');
  });

  it('disconnects an unauthenticated socket after the default 1000 ms, without an unauthorized event', async () => {
    const clock = createManualClock();
    const ended: string[] = [];
    const fx = await setup({ clock, disconnect: (socket) => ended.push(socket.id) });
    const c = fx.client();
    await connected(c);
    let unauthorized = 0;
    c.on('unauthorized', () => unauthorized++);
    const gone = waitForEvent(c, 'disconnect');
    clock.advance(999);
    assert.equal(ended.length, 0, 'still connected at 999 ms');
    clock.advance(1);
    assert.equal(ended.length, 1, 'disconnected at 1000 ms');
    await gone;
    assert.equal(unauthorized, 0);
  });

  it('keeps authenticated sockets past the timeout, and none at all with timeout: none', async () => {
    const clock = createManualClock();
    const fx = await setup({ clock, timeout: 500 });
    fx.io.on('connection', (s) => s.on('ping-me', (ack: (v: string) => void) => ack('pong')));
    const authed = fx.client();
    const pending = fx.client();
    await Promise.all([connected(authed), connected(pending)]);
    authed.emit('authentication', { username: 'john', password: 'secret' });
    await waitForEvent(authed, 'authenticated');
    const gone = waitForEvent(pending, 'disconnect');
    clock.advance(501);
    await gone;
    assert.equal(await authed.timeout(1000).emitWithAck('ping-me'), 'pong');

    await fx.close();
    const clock2 = createManualClock();
    const fx2 = await setup({ clock: clock2, timeout: 'none' });
    const idle = fx2.client();
    await connected(idle);
    clock2.advance(24 * 3600 * 1000);
    idle.emit('authentication', { username: 'john', password: 'secret' });
    assert.equal(await waitForEvent(idle, 'authenticated'), true);
  });

  it('runs postAuthenticate after authenticated, sets socket.auth, and calls disconnect once per socket', async () => {
    const flags: boolean[] = [];
    const disconnected: string[] = [];
    const fx = await setup({
      postAuthenticate(socket, data) {
        socket.on('whoami', (ack: (v: unknown) => void) => ack(data.username));
      },
      disconnect: (socket) => disconnected.push(socket.id),
    });
    fx.io.on('connection', (s: Socket & { auth?: boolean }) => flags.push(s.auth === true));
    const c = fx.client();
    const p = fx.client();
    await Promise.all([connected(c), connected(p)]);
    c.emit('authentication', { username: 'john', password: 'secret' });
    await waitForEvent(c, 'authenticated');
    assert.equal(await c.timeout(1000).emitWithAck('whoami'), 'john');
    assert.deepEqual(flags, [false, false]);
    const sockets = await fx.io.fetchSockets();
    assert.equal(sockets.length, 1, 'only the authenticated socket is a namespace member');
    assert.equal((fx.io.sockets.sockets.get(sockets[0]?.id ?? '') as (Socket & { auth?: boolean }) | undefined)?.auth, true);
    c.disconnect();
    p.disconnect();
    await waitUntil(() => disconnected.length === 2, 2000, 'disconnect hooks');
    assert.equal(new Set(disconnected).size, 2);
  });

  it('ignores a callback called twice', async () => {
    const fx = await setup({
      authenticate: (_socket, _data, callback) => {
        callback(null, true);
        callback(new Error('second call'));
      },
    });
    fx.io.on('connection', (s) => s.on('ping-me', (ack: (v: string) => void) => ack('pong')));
    const c = fx.client();
    await connected(c);
    let unauthorized = 0;
    c.on('unauthorized', () => unauthorized++);
    c.emit('authentication', { username: 'john' });
    await waitForEvent(c, 'authenticated');
    assert.equal(await c.timeout(1000).emitWithAck('ping-me'), 'pong');
    assert.equal(unauthorized, 0);
  });

  it('disconnects after unauthorized even when the client never acknowledges', async () => {
    const fx = await setup();
    const c = fx.client();
    await connected(c);
    const gone = waitForEvent(c, 'disconnect');
    // socket.io-client never acks server events it does not listen to.
    c.emit('authentication', { username: 'john', password: 'nope' });
    await gone;
  });

  it('guards every namespace, and pending sockets receive no broadcast', async () => {
    const fx = await setup();
    const other = fx.io.of('/other');
    const pending = fx.client('/other');
    const authed = fx.client('/other');
    let pendingNews = 0;
    pending.on('news', () => pendingNews++);
    await Promise.all([connected(pending), connected(authed)]);
    authed.emit('authentication', { username: 'john', password: 'secret' });
    await waitForEvent(authed, 'authenticated');
    const news = waitForEvent(authed, 'news');
    other.emit('news', 1);
    await news;
    assert.equal(pendingNews, 0);
  });

  /** One `authentication` on a new client: the `unauthorized` payload, or `ok` for both fields when admitted. */
  const authenticateOnce = async (
    fx: Awaited<ReturnType<typeof setup>>,
    data: Record<string, unknown>,
  ): Promise<{ message: string; code: string }> => {
    const c = fx.client();
    await connected(c);
    c.emit('authentication', data);
    return Promise.race([
      // `unauthorized` carries an acknowledgement callback, as in the old module: the payload is the first argument.
      waitForEvent<[{ message: string; code: string }, unknown]>(c, 'unauthorized').then(([r]) => r),
      waitForEvent(c, 'authenticated').then(() => ({ message: 'ok', code: 'ok' })),
    ]);
  };

  it('counts failed passwords per user when told the identity field (new option)', async () => {
    let checks = 0;
    const counted: SocketioAuthConfig['authenticate'] = (socket, data, callback) => {
      checks++;
      return authenticate(socket, data, callback);
    };
    const fx = await setup({ authenticate: counted, identity: 'username' });
    const attempt = async (data: Record<string, unknown>) => (await authenticateOnce(fx, data)).message;
    for (let i = 0; i < 10; i++) assert.equal(await attempt({ username: 'john', password: `guess-${i}` }), 'Authentication failure');
    assert.equal(await attempt({ username: ' JOHN', password: 'secret' }), 'Too many requests');
    assert.equal(checks, 10, 'the 11th attempt never reached authenticate');
  });

  for (const how of ['identity', 'rateLimits.identity'] as const) {
    it(`counts per user with ${how}; a name that is not a string is refused, not counted against nobody`, async () => {
      let checks = 0;
      const counted: SocketioAuthConfig['authenticate'] = (socket, data, callback) => {
        checks++;
        return authenticate(socket, data, callback);
      };
      const fx = await setup(
        how === 'identity'
          ? { authenticate: counted, identity: 'username' }
          : { authenticate: counted, rateLimits: { identity: 'username' } },
      );
      const attempt = async (data: Record<string, unknown>) => (await authenticateOnce(fx, data)).code;
      assert.equal(await attempt({ username: ['john'], password: 'guess' }), 'invalid_request');
      assert.equal(checks, 0);
      for (let i = 0; i < 10; i++) await attempt({ username: 'john', password: `guess-${i}` });
      assert.equal(await attempt({ username: 'john', password: 'secret' }), 'rate_limited');
      assert.equal(checks, 10);
    });
  }
});
