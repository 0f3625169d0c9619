/**
 * The compatibility proof: a server written for `socketio-auth` v0.1.1
 * (test/fixtures/socketio-auth-app.cjs, CommonJS, only its require changed) and
 * clients written the way the old module's README shows, over real Socket.IO
 * connections on loopback.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { afterEach, describe, it } from 'node:test';
import type { Server, Socket } from 'socket.io';
import { type Socket as ClientSocket, io as ioc, Manager, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import { createManualClock, type ManualClock } from '../../src/core/clock.js';
import { connected, refused } from '../helpers/socket-io.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

/** The payload of the next `unauthorized` (it arrives with an acknowledgement callback, as from the old module). */
function unauthorized(socket: {
  once(event: string, listener: (...args: never[]) => void): unknown;
}): Promise<{ message?: string; code?: string }> {
  return waitForEvent<[{ message?: string; code?: string }, unknown]>(socket as never, 'unauthorized').then((args) => args[0]);
}

const require = createRequire(import.meta.url);

interface Plumbing {
  record?: (...args: unknown[]) => void;
  lookup?: (username: string, answer: () => void) => void;
  serverOptions?: Record<string, unknown>;
  timeout?: unknown;
  clock?: ManualClock;
  logger?: unknown;
}
const legacy = require('../fixtures/socketio-auth-app.cjs') as { start(plumbing: Plumbing): Promise<{ io: Server; url: string }> };

type Auth = Record<string, unknown> | string | null;

interface App {
  readonly io: Server;
  readonly url: string;
  readonly clock: ManualClock;
  /** What the app saw: `[name, ...args]`. */
  readonly seen: unknown[][];
  seenOf(name: string): unknown[][];
  /** A client as the old README writes it: authenticates on `connect`. */
  client(auth?: Auth, opts?: Partial<ManagerOptions & SocketOptions>): ClientSocket;
}

const opened: { app: App; clients: ClientSocket[] }[] = [];
afterEach(async () => {
  for (const { app, clients } of opened.splice(0)) {
    for (const c of clients) c.disconnect();
    await new Promise<void>((resolve) => app.io.close(() => resolve()));
  }
});

async function startApp(plumbing: Plumbing = {}): Promise<App> {
  const seen: unknown[][] = [];
  const clock = plumbing.clock ?? createManualClock();
  const { io, url } = await legacy.start({ record: (...args) => seen.push(args), clock, ...plumbing });
  const clients: ClientSocket[] = [];
  const app: App = {
    io,
    url,
    clock,
    seen,
    seenOf: (name) => seen.filter((e) => e[0] === name),
    client(auth, opts = {}) {
      const socket = ioc(url, { transports: ['websocket'], forceNew: true, reconnection: false, ...opts });
      clients.push(socket);
      if (auth !== undefined) {
        socket.on('connect', () => {
          socket.emit('authentication', auth);
        });
      }
      return socket;
    },
  };
  opened.push({ app, clients });
  return app;
}

/** Resolves with the reason the client was given when it is disconnected. */
function disconnectReason(socket: ClientSocket): Promise<string> {
  return waitForEvent<[string, unknown]>(socket, 'disconnect').then((args) => args[0]);
}

const JOHN = { username: 'john', password: 'secret' };
const ANN_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl';

describe('socketio-auth compatibility: an app written for v0.1.1', () => {
  it("README example: authenticated with the callback's value, refusals carry the message, then disconnect", async () => {
    const app = await startApp();
    const john = app.client(JOHN);
    const motd = waitForEvent(john, 'motd');
    assert.equal(await waitForEvent(john, 'authenticated'), true);
    assert.equal(await motd, 'please log in', 'a direct emit reaches a pending socket, as before');

    const wrong = app.client({ username: 'john', password: 'nope' });
    const wrongGone = disconnectReason(wrong);
    // Clients that acknowledged `unauthorized` to get disconnected (the old module waited for it).
    const refusal = new Promise<{ message: string }>((resolve) => {
      wrong.on('unauthorized', (err: { message: string }, ack: () => void) => {
        ack();
        resolve(err);
      });
    });
    assert.equal((await refusal).message, 'Authentication failure');
    assert.equal(await wrongGone, 'io server disconnect', 'no reconnection loop: the server disconnected it');

    const nobody = app.client({ username: 'nobody', password: 'x' });
    assert.equal((await unauthorized(nobody)).message, 'User not found');
    const empty = app.client({});
    assert.equal((await unauthorized(empty)).message, 'Missing credentials');
  });

  it('hands authenticate whatever the client sent: a token string, null, plain objects, big payloads', async () => {
    const app = await startApp();
    const token = app.client(ANN_TOKEN);
    await waitForEvent(token, 'authenticated');
    const guest = app.client(null);
    await waitForEvent(guest, 'authenticated');
    const badToken = app.client('not-a-token');
    assert.equal((await unauthorized(badToken)).message, 'Invalid token');
    // Deeper than 4 levels and more than 64 keys (the strict caps of portcullis' own strategies).
    const big: Record<string, unknown> = { ...JOHN, profile: { a: { b: { c: { d: { e: 1 } } } } } };
    for (let i = 0; i < 100; i++) big[`k${i}`] = i;
    const heavy = app.client(big);
    await waitForEvent(heavy, 'authenticated');
    const received = app.seenOf('authenticate').map((e) => e[2]);
    assert.ok(received.includes(ANN_TOKEN));
    assert.ok(received.includes(null));
    const heavyData = received.find((d) => typeof d === 'object' && d !== null && 'k99' in d) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(heavyData), Object.prototype, 'a plain object: data.hasOwnProperty works');
  });

  it('emits authenticated, then runs postAuthenticate with the socket a namespace member', async () => {
    const app = await startApp();
    const watcher = app.client(JOHN);
    await waitForEvent(watcher, 'authenticated');
    const ann = app.client({ username: 'ann', password: 'hunter2' });
    const order: string[] = [];
    // The old README: listeners registered in the `authenticated` handler.
    const done = new Promise<unknown>((resolve) => {
      ann.on('authenticated', () => {
        order.push('authenticated');
        ann.on('welcome', (text: string) => order.push(text));
        ann.on('roster', (roster: string[]) => {
          order.push(`roster ${roster.join(',')}`);
          resolve(roster);
        });
      });
    });
    await done;
    await waitUntil(() => order.length >= 3, 2000, 'welcome');
    assert.deepEqual(order, ['authenticated', 'hello ann', 'roster john,ann']);
    assert.deepEqual(app.seenOf('postAuthenticate')[1]?.slice(2), ['ann', true]);
  });

  it('holds events sent right after authentication until the verdict: delivered on success, dropped on refusal', async () => {
    const lookups: (() => void)[] = [];
    const app = await startApp({ lookup: (_name, answer) => lookups.push(answer) });
    let chatPackets = 0;
    app.io.engine.on('connection', (conn: { on(event: string, fn: (p: { type: string; data?: unknown }) => void): void }) => {
      conn.on('packet', (p) => {
        if (p.type === 'message' && String(p.data).includes('"chat"')) chatPackets++;
      });
    });
    const john = app.client();
    await connected(john);
    john.emit('authentication', JOHN);
    john.emit('chat', 'first');
    john.emit('chat', 'second');
    await waitUntil(() => lookups.length === 1 && chatPackets === 2, 2000, 'the login and both chats at the server');
    await new Promise((r) => setImmediate(r));
    assert.equal(app.seenOf('chat').length, 0, 'nothing reaches the app before the verdict');
    const first = waitForEvent<{ message: string }>(john, 'chat');
    lookups.shift()?.();
    await waitForEvent(john, 'authenticated');
    assert.equal((await first).message, 'first');
    await waitUntil(() => app.seenOf('chat').length === 2, 2000, 'both chats');
    assert.deepEqual(
      app.seenOf('chat').map((e) => e[2]),
      ['first', 'second'],
    );

    const mallory = app.client();
    await connected(mallory);
    mallory.emit('authentication', { username: 'john', password: 'guess' });
    mallory.emit('chat', 'spam');
    await waitUntil(() => lookups.length === 1 && chatPackets === 3, 2000, 'the bad login and its chat at the server');
    const gone = waitForEvent(mallory, 'disconnect');
    lookups.shift()?.();
    await unauthorized(mallory);
    await gone;
    assert.equal(app.seenOf('chat').length, 2, 'the refused client’s chat was dropped');
  });

  it('a failed re-authentication is a logout: unauthorized, disconnect, and the disconnect callback', async () => {
    const app = await startApp();
    const john = app.client(JOHN);
    await waitForEvent(john, 'authenticated');
    // Authenticating again with good credentials works again (postAuthenticate runs again, as before).
    john.emit('authentication', JOHN);
    await waitForEvent(john, 'authenticated');
    await waitUntil(() => app.seenOf('postAuthenticate').length === 2, 2000, 'second postAuthenticate');
    const gone = disconnectReason(john);
    john.emit('authentication', { username: 'john', password: 'logout' });
    assert.equal((await unauthorized(john)).message, 'Authentication failure');
    assert.equal(await gone, 'io server disconnect');
    await waitUntil(() => app.seenOf('disconnect').length === 1, 2000, 'disconnect callback');
  });

  it('reads timeout as users wrote it: "300" from the environment, 0 as the default, and ends pending sockets silently', async () => {
    const app = await startApp({ timeout: '300' });
    const slow = app.client();
    await connected(slow);
    let unauthorized = 0;
    slow.on('unauthorized', () => unauthorized++);
    const id = app.seenOf('connection')[0]?.[1] as string;
    const gone = waitForEvent<string>(slow, 'disconnect');
    app.clock.advance(299);
    assert.equal(app.seenOf('disconnect').length, 0, 'still there at 299 ms');
    app.clock.advance(1);
    assert.deepEqual(app.seenOf('disconnect')[0]?.slice(1), [id, false], 'disconnected at 300 ms, unauthenticated');
    await gone;
    assert.equal(unauthorized, 0, 'the old module said nothing on timeout');

    const defaults = await startApp({ timeout: 0 });
    const idle = defaults.client();
    await connected(idle);
    defaults.clock.advance(999);
    assert.equal(defaults.seenOf('disconnect').length, 0);
    defaults.clock.advance(1);
    assert.equal(defaults.seenOf('disconnect').length, 1);

    const none = await startApp({ timeout: 'none' });
    const patient = none.client();
    await connected(patient);
    none.clock.advance(24 * 3600 * 1000);
    patient.emit('authentication', JOHN);
    assert.equal(await waitForEvent(patient, 'authenticated'), true);
  });

  it('sets socket.auth: false in the connection handler, true in postAuthenticate', async () => {
    const app = await startApp();
    const john = app.client(JOHN);
    await waitForEvent(john, 'authenticated');
    assert.equal(app.seenOf('connection')[0]?.[2], false);
    await waitUntil(() => app.seenOf('postAuthenticate').length === 1, 2000, 'postAuthenticate');
    assert.equal(app.seenOf('postAuthenticate')[0]?.[3], true);
    assert.equal(await john.timeout(2000).emitWithAck('echo', 'hi'), 'hi');
  });

  it('calls the disconnect callback once for every way a socket ends', async () => {
    const app = await startApp();
    const leaverPending = app.client();
    await connected(leaverPending);
    const leaverAuthed = app.client(JOHN);
    await waitForEvent(leaverAuthed, 'authenticated');
    const refusedClient = app.client({ username: 'john', password: 'no' });
    await unauthorized(refusedClient);
    const timedOut = app.client();
    await connected(timedOut);
    const atShutdown = app.client(JOHN);
    await waitForEvent(atShutdown, 'authenticated');
    await waitUntil(() => app.seenOf('disconnect').length === 1, 2000, 'refused');
    leaverPending.disconnect();
    leaverAuthed.disconnect();
    await waitUntil(() => app.seenOf('disconnect').length === 3, 2000, 'clients leaving');
    app.clock.advance(1000);
    assert.equal(app.seenOf('disconnect').length, 4, 'the pending socket timed out');
    const ids = app.seenOf('disconnect').map((e) => e[1]);
    assert.equal(new Set(ids).size, ids.length);
    await new Promise<void>((resolve) => app.io.close(() => resolve()));
    assert.equal(app.seenOf('disconnect').length, 5, 'server shutdown');
    opened.splice(0);
  });
});

describe('socketio-auth compatibility: namespaces and origins', () => {
  it('one login on / admits the same client on other namespaces; others get no broadcast there', async () => {
    const app = await startApp();
    const chat = app.io.of('/chat');
    const seenOnChat: string[] = [];
    chat.on('connection', (socket: Socket) => socket.on('say', (text: string) => seenOnChat.push(text)));
    const opts: Partial<ManagerOptions & SocketOptions> = { transports: ['websocket'], reconnection: false, forceNew: true };
    const manager = new Manager(app.url, opts);
    const root = manager.socket('/');
    const room = manager.socket('/chat');
    const stranger = ioc(`${app.url}/chat`, opts);
    try {
      let strangerNews = 0;
      stranger.on('news', () => strangerNews++);
      await Promise.all([connected(root), connected(room), connected(stranger)]);
      root.emit('authentication', JOHN);
      await waitForEvent(root, 'authenticated');
      const news = waitForEvent(room, 'news');
      await waitUntil(() => chat.sockets.size === 1, 2000, '/chat admission');
      chat.emit('news', 1);
      await news;
      room.emit('say', 'hi');
      await waitUntil(() => seenOnChat.length === 1, 2000, 'the event on /chat');
      assert.equal(strangerNews, 0);
    } finally {
      root.disconnect();
      room.disconnect();
      stranger.disconnect();
    }
  });

  it('a logout on / (a refused re-authentication) also ends the sockets admitted with it', async () => {
    const app = await startApp();
    app.io.of('/chat');
    const opts: Partial<ManagerOptions & SocketOptions> = { transports: ['websocket'], reconnection: false, forceNew: true };
    const manager = new Manager(app.url, opts);
    const root = manager.socket('/');
    const room = manager.socket('/chat');
    try {
      await Promise.all([connected(root), connected(room)]);
      root.emit('authentication', JOHN);
      await waitForEvent(root, 'authenticated');
      await waitUntil(() => app.io.of('/chat').sockets.size === 1, 2000, '/chat admission');
      const roomGone = disconnectReason(room);
      root.emit('authentication', { username: 'john', password: 'logout' });
      assert.equal(await roomGone, 'io server disconnect');
      assert.equal(app.seenOf('disconnect').length, 1, 'the disconnect callback ran for / only, as in the old module');
    } finally {
      root.disconnect();
      room.disconnect();
    }
  });

  it("honours the server's cors.origin; without one, only same-origin browsers (and non-browser clients)", async () => {
    const cors = await startApp({ serverOptions: { cors: { origin: ['http://app.example', /\.example\.org$/] } } });
    await connected(cors.client(undefined, { extraHeaders: { origin: 'http://app.example' } }));
    await connected(cors.client(undefined, { extraHeaders: { origin: 'https://www.example.org' } }));
    assert.match(
      (await refused(cors.client(undefined, { extraHeaders: { origin: 'http://evil.example' } }))).message,
      /websocket error|403/i,
    );

    const plain = await startApp();
    const host = new URL(plain.url).host;
    await connected(plain.client(undefined, { extraHeaders: { origin: `http://${host}` } }));
    await connected(plain.client());
    await refused(plain.client(undefined, { extraHeaders: { origin: 'http://localhost:5173' } }));
  });
});
