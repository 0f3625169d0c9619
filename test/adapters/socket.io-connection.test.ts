/**
 * `sioGuard.on('connection')`: one model of "connected" on Socket.IO. The listener
 * receives a socket once, when it becomes authenticated, in every mode; never a
 * pending one; and a listener that throws is logged, not fatal.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ServerOptions, Socket } from 'socket.io';
import { createSocketIoGuard, type SocketIoGuardOptions } from '../../src/adapters/socket.io.js';
import type { Logger, Principal } from '../../src/core/types.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { connected, type IoFixture, refused, startIo } from '../helpers/socket-io.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

type Claims = { role: string };

const passwords = createCustomStrategy(async (c) => {
  if (typeof c.user !== 'string') return null;
  return c.password === 'secret' ? { id: c.user, claims: { role: 'member' } } : false;
});

function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  const noop = (): void => {};
  return { errors, debug: noop, info: noop, warn: noop, error: (_obj: object, msg?: string) => errors.push(msg ?? '') };
}

let fx: IoFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** A guarded server recording every announcement (socket id, namespace, principal id). */
async function announcing(options: Partial<SocketIoGuardOptions> = {}, serverOptions: Partial<ServerOptions> = {}) {
  fx = await startIo(serverOptions);
  const logger = recordingLogger();
  const g = createSocketIoGuard(fx.io, { strategies: [passwords], logger, ...options });
  const announced: { id: string; nsp: string; user: string; dataUser: string; role: string }[] = [];
  const connections: string[] = [];
  fx.io.on('connection', (s: Socket) => connections.push(s.id));
  g.on<Claims>('connection', (socket, principal: Principal<Claims>) => {
    announced.push({
      id: socket.id,
      nsp: socket.nsp.name,
      user: principal.id,
      dataUser: socket.data.principal.id,
      role: socket.data.principal.claims.role,
    });
    socket.emit('welcome', principal.id);
  });
  return { fx, g, logger, announced, connections };
}

describe('sioGuard.on("connection")', () => {
  it('handshake mode: announces each authenticated socket once at connect, a refused one never', async () => {
    const { fx, announced } = await announcing();
    const refusedClient = fx.client('/', { auth: { user: 'eve', password: 'wrong' } });
    await refused(refusedClient);
    const c = fx.client('/', { auth: { user: 'alice', password: 'secret' } });
    const welcome = waitForEvent<string>(c, 'welcome');
    await connected(c);
    assert.equal(await welcome, 'alice');
    assert.equal(announced.length, 1);
    assert.deepEqual(
      { user: announced[0]?.user, dataUser: announced[0]?.dataUser, role: announced[0]?.role, nsp: announced[0]?.nsp },
      { user: 'alice', dataUser: 'alice', role: 'member', nsp: '/' },
    );
  });

  it('announces sockets of every guarded namespace, with their namespace', async () => {
    const { fx, announced } = await announcing();
    fx.io.of('/chat');
    const c = fx.client('/chat', { auth: { user: 'bob', password: 'secret' } });
    await waitForEvent(c, 'welcome');
    assert.deepEqual(
      announced.map((a) => a.nsp),
      ['/chat'],
    );
  });

  it('message mode: a pending socket is never announced; announced once on authentication, not again on refresh', async () => {
    const { fx, announced, connections } = await announcing({ mode: 'message', timeoutMs: 10_000 });
    const pending = fx.client('/');
    await waitForEvent(pending, 'auth_required');
    const c = fx.client('/');
    await waitForEvent(c, 'auth_required');
    // io.on('connection') keeps firing for pending sockets, as before.
    assert.equal(connections.length, 2);
    assert.equal(announced.length, 0);

    const order: string[] = [];
    c.on('authenticated', () => order.push('authenticated'));
    c.on('welcome', () => order.push('welcome'));
    c.emit('authentication', { user: 'carol', password: 'secret' });
    await waitUntil(() => order.length === 2, 2000, 'authenticated then welcome');
    assert.deepEqual(order, ['authenticated', 'welcome'], 'the listener runs after the verdict was sent');

    for (let i = 0; i < 2; i++) {
      c.emit('authentication', { user: 'carol', password: 'secret' });
      await waitForEvent(c, 'authenticated');
    }
    assert.equal(announced.length, 1, 'refreshes announce nothing');
    assert.equal(announced[0]?.id, c.id);
    assert.ok(!announced.some((a) => a.id === pending.id), 'the pending socket is never announced');
  });

  it('auto mode: CONNECT credentials announce at connect; a socket without waits for its message', async () => {
    const { fx, announced } = await announcing({ mode: 'auto', timeoutMs: 10_000 });
    const byHandshake = fx.client('/', { auth: { user: 'dan', password: 'secret' } });
    await waitForEvent(byHandshake, 'welcome');
    const byMessage = fx.client('/');
    await waitForEvent(byMessage, 'auth_required');
    assert.deepEqual(
      announced.map((a) => a.user),
      ['dan'],
    );
    byMessage.emit('authentication', { user: 'erin', password: 'secret' });
    await waitForEvent(byMessage, 'welcome');
    byMessage.emit('authentication', { user: 'erin', password: 'secret' });
    await waitForEvent(byMessage, 'authenticated');
    assert.deepEqual(
      announced.map((a) => a.user),
      ['dan', 'erin'],
    );
  });

  it('a throwing or rejecting listener is logged; the others run and the socket stays connected', async () => {
    const { fx, g, logger, announced } = await announcing({ mode: 'message', timeoutMs: 10_000 });
    g.on('connection', () => {
      throw new Error('boom');
    });
    g.on('connection', async () => {
      throw new Error('async boom');
    });
    let last = 0;
    const lastListener = (): void => {
      last++;
    };
    g.on('connection', lastListener);
    const c = fx.client('/');
    await waitForEvent(c, 'auth_required');
    c.emit('authentication', { user: 'frank', password: 'secret' });
    await waitForEvent(c, 'welcome');
    await waitUntil(() => logger.errors.length === 2, 2000, 'both listener errors logged');
    assert.equal(last, 1);
    assert.equal(announced.length, 1);
    assert.ok(c.connected);
    assert.ok(logger.errors.every((m) => m.includes('connection listener threw')));

    g.off('connection', lastListener);
    const d = fx.client('/', { auth: {} });
    await waitForEvent(d, 'auth_required');
    d.emit('authentication', { user: 'gina', password: 'secret' });
    await waitForEvent(d, 'welcome');
    assert.equal(last, 1, 'a removed listener is not called');
  });

  it('announces a socket restored by connection state recovery again: a new Socket.IO socket, same id', async () => {
    const recovery = { connectionStateRecovery: { maxDisconnectionDuration: 60_000, skipMiddlewares: true } };
    const { fx, g, announced } = await announcing({}, recovery);
    const c = fx.client('/', { auth: { user: 'hana', password: 'secret' } });
    await waitForEvent(c, 'welcome');
    // Recovery needs an offset: the client must have received one event.
    const hello = waitForEvent(c, 'hello');
    fx.io.emit('hello');
    await hello;
    const lost = waitForEvent(c, 'disconnect');
    c.io.engine.close();
    await lost;
    await waitUntil(() => g.guard.stats.authenticated === 0, 2000, 'server-side disconnect');
    c.connect();
    await waitForEvent(c, 'welcome');
    assert.equal(c.recovered, true);
    assert.deepEqual(
      announced.map((a) => [a.id, a.user]),
      [
        [c.id, 'hana'],
        [c.id, 'hana'],
      ],
    );
  });
});
