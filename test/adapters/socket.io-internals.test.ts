/**
 * Pins every Socket.IO / Engine.IO private API `src/adapters/socket.io/internals.ts`
 * uses, against a real server: a release that changes one of them fails here.
 * Run against 4.6, 4.7 and 4.8 by `npm run test:socket.io-matrix`.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import type { Namespace, Socket } from 'socket.io';
import { Manager } from 'socket.io-client';
import {
  childrenOf,
  dispatchEvent,
  emitToIsolated,
  engineOf,
  hasMiddleware,
  interceptEvents,
  isNewEngineSession,
  isolate,
  isServer,
  namespacesOf,
  onCleanup,
  onNewNamespace,
  recoverySkipsMiddlewares,
  removeChildNamespace,
  removeMiddleware,
  socketsOnConnection,
  unisolate,
  useFirst,
  watchChildCreation,
  wrapEngineHandlers,
  wrapRestoreSession,
} from '../../src/adapters/socket.io/internals.js';
import { connected, type IoFixture, refused, startIo } from '../helpers/socket-io.js';
import { socketIoPackage } from '../helpers/socket-io-server.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

let fx: IoFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

function poll(url: string, query: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/socket.io/?${query}`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe(`Socket.IO internals (${socketIoPackage})`, () => {
  it('isServer, namespacesOf, onNewNamespace (_nsps, new_namespace)', async () => {
    fx = await startIo();
    assert.equal(isServer(fx.io), true);
    assert.equal(isServer(fx.io.of('/a')), false);
    assert.deepEqual(
      namespacesOf(fx.io).map((n) => n.name),
      ['/', '/a'],
    );
    const seen: string[] = [];
    const stop = onNewNamespace(fx.io, (nsp) => seen.push(nsp.name));
    fx.io.of('/b');
    stop();
    fx.io.of('/c');
    assert.deepEqual(seen, ['/b']);
  });

  it('isNewEngineSession decides as Engine.IO does (prepare, _query.sid)', async () => {
    fx = await startIo();
    const engine = engineOf(fx.io);
    assert.ok(engine !== undefined);
    for (const q of ['', 'sid=', 'sid=&sid=', 'sid=abc', 'sid=abc&sid=', '%73id=', '%73id=abc', 'sid=%20']) {
      const query = `EIO=4&transport=polling${q === '' ? '' : `&${q}`}`;
      const fake = { url: `/socket.io/?${query}`, headers: {} } as IncomingMessage;
      const predicted = isNewEngineSession(engine, fake);
      const answer = await poll(fx.url, query);
      // A new session answers its open packet; an existing one's unknown sid is a 400.
      const opened = answer.status === 200 && answer.body.startsWith('0{');
      assert.equal(predicted, opened, `${q}: predicted ${predicted}, engine ${answer.status} ${answer.body.slice(0, 20)}`);
    }
  });

  it('wrapEngineHandlers replaces handleRequest / handleUpgrade and restores them', async () => {
    fx = await startIo();
    const engine = engineOf(fx.io);
    assert.ok(engine !== undefined);
    const before = [engine.handleRequest, engine.handleUpgrade];
    let requests = 0;
    const restore = wrapEngineHandlers(engine, (original) => ({
      handleRequest(req, res) {
        requests++;
        original.handleRequest(req, res);
      },
      handleUpgrade: original.handleUpgrade,
    }));
    assert.equal((await poll(fx.url, 'EIO=4&transport=polling')).status, 200);
    assert.equal(requests, 1, 'engine.attach calls handleRequest through the engine object');
    restore();
    assert.deepEqual([engine.handleRequest, engine.handleUpgrade], before);
  });

  it('watchChildCreation, childrenOf, removeChildNamespace (_checkNamespace, children, parentNsps)', async () => {
    fx = await startIo();
    const parent = fx.io.of(/^\/dyn-\d+$/);
    assert.ok(childrenOf(parent) instanceof Set);
    assert.equal(childrenOf(fx.io.of('/')), undefined);
    const created: string[] = [];
    const stop = watchChildCreation(fx.io, (nsp) => created.push(nsp.name));
    await connected(fx.client('/dyn-1'));
    await connected(fx.client('/dyn-1'));
    fx.io.of('/dyn-2'); // created by the app, not by a CONNECT
    assert.deepEqual(created, ['/dyn-1']);
    const child = fx.io.of('/dyn-1');
    assert.equal(childrenOf(parent)?.has(child), true);
    assert.equal(removeChildNamespace(fx.io, child), true);
    assert.equal(childrenOf(parent)?.has(child), false);
    assert.equal(
      namespacesOf(fx.io).some((n) => n === child),
      false,
    );
    assert.equal(removeChildNamespace(fx.io, fx.io.of('/')), false);
    stop();
  });

  it('useFirst, hasMiddleware, removeMiddleware (_fns)', async () => {
    fx = await startIo();
    const order: string[] = [];
    fx.io.use((_s, next) => {
      order.push('app');
      next();
    });
    const ours = (_s: Socket, next: (err?: Error) => void): void => {
      order.push('ours');
      next();
    };
    useFirst(fx.io.of('/'), ours);
    assert.equal(
      hasMiddleware(fx.io.of('/'), (fn) => fn === ours),
      true,
    );
    const c = fx.client('/');
    await connected(c);
    c.disconnect();
    assert.deepEqual(order, ['ours', 'app']);
    removeMiddleware(fx.io.of('/'), ours);
    assert.equal(
      hasMiddleware(fx.io.of('/'), (fn) => fn === ours),
      false,
    );
  });

  it('recoverySkipsMiddlewares (server.opts), emitToIsolated (emits through the adapter with recovery on)', async () => {
    fx = await startIo();
    assert.equal(recoverySkipsMiddlewares(fx.io), false);
    await fx.close();
    fx = await startIo({ connectionStateRecovery: { skipMiddlewares: false } });
    assert.equal(recoverySkipsMiddlewares(fx.io), false);
    await fx.close();
    fx = await startIo({ connectionStateRecovery: { skipMiddlewares: true } });
    assert.equal(recoverySkipsMiddlewares(fx.io), true);
    let server: Socket | undefined;
    fx.io.on('connection', (s) => {
      server = s;
    });
    const c = fx.client('/');
    await connected(c);
    assert.ok(server !== undefined);
    isolate(server);
    const got: unknown[] = [];
    c.on('plain', (v: unknown) => got.push(`plain:${String(v)}`));
    c.on('direct', (v: unknown) => got.push(`direct:${String(v)}`));
    // With recovery on, a plain emit to an isolated socket goes through the adapter and is dropped.
    server.emit('plain', 1);
    emitToIsolated(server, 'direct', 2);
    await waitUntil(() => got.length > 0, 2000, 'the direct emit');
    assert.deepEqual(got, ['direct:2']);
    assert.equal(fx.io.of('/').sockets.has(server.id), false, 'still isolated');
  });

  it('wrapRestoreSession (adapter.restoreSession with connection state recovery)', async () => {
    fx = await startIo({ connectionStateRecovery: {} });
    const nsp = fx.io.of('/') as Namespace;
    const original = (nsp.adapter as unknown as { restoreSession: unknown }).restoreSession;
    assert.equal(typeof original, 'function');
    let asked = 0;
    const restore = wrapRestoreSession(nsp, (inner) => (pid, offset) => {
      asked++;
      return inner(pid, offset);
    });
    // A reconnect carrying a session id makes Socket.IO ask the adapter.
    const c = fx.client('/');
    await connected(c);
    const pid = (c as unknown as { _pid?: string })._pid;
    assert.equal(typeof pid, 'string');
    const again = fx.client('/', { auth: { pid, offset: '' } } as never);
    await connected(again);
    assert.equal(asked >= 1, true);
    restore();
    assert.equal((nsp.adapter as unknown as { restoreSession: unknown }).restoreSession, original);
  });

  it('onCleanup (_cleanup) tells about a socket a middleware refused', async () => {
    fx = await startIo();
    const cleaned: boolean[] = [];
    fx.io.use((socket, next) => {
      onCleanup(socket, (s) => cleaned.push(s.connected));
      next(new Error('no'));
    });
    await refused(fx.client('/'));
    await waitUntil(() => cleaned.length === 1, 2000, 'the cleanup');
    assert.deepEqual(cleaned, [false]);
  });

  it('interceptEvents, dispatchEvent (onevent), isolate, unisolate, socketsOnConnection (client.sockets)', async () => {
    fx = await startIo();
    fx.io.of('/other');
    const seen: string[] = [];
    let server: Socket | undefined;
    fx.io.on('connection', (socket) => {
      server = socket;
      socket.onAny((event: string) => seen.push(`app:${event}`));
      interceptEvents(socket, function (packet) {
        const name = String(packet.data?.[0]);
        seen.push(`guard:${name}`);
        if (name !== 'secret') dispatchEvent(this, packet);
      });
    });
    const manager = new Manager(fx.url, { transports: ['websocket'], reconnection: false, autoConnect: false });
    try {
      const c = manager.socket('/');
      const other = manager.socket('/other');
      c.connect();
      other.connect();
      await Promise.all([connected(c), connected(other)]);
      const s = server as Socket;
      assert.equal(socketsOnConnection(s), 2);
      c.emit('secret');
      c.emit('hello');
      await waitUntil(() => seen.includes('app:hello'), 2000, 'the event');
      assert.deepEqual(seen, ['guard:secret', 'guard:hello', 'app:hello']);
      const got: string[] = [];
      c.on('news', (m: string) => got.push(m));
      isolate(s);
      fx.io.emit('news', 'hidden');
      unisolate(s);
      fx.io.emit('news', 'shown');
      await waitForEvent(c, 'news');
      assert.deepEqual(got, ['shown']);
    } finally {
      manager.engine?.close();
    }
  });
});
