/**
 * Attacks on the Socket.IO guard through connection state recovery and the
 * Engine.IO connection, each through real sockets:
 * - without `skipMiddlewares`, Socket.IO restores rooms and writes missed packets
 *   before any middleware runs, so the guard restores nothing: a client carrying
 *   someone's session id with bad (or its own) credentials receives none of them;
 * - with recovery on, Socket.IO routes `socket.emit` through the adapter, which
 *   skips isolated (pending) sockets: `auth_required` and the typed refusals must
 *   still reach them;
 * - a client that leaves its last namespace before authenticating does not keep
 *   its Engine.IO connection (it no longer holds a pending slot).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Socket as ClientSocket } from 'socket.io-client';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { openRawEngine } from '../helpers/engine-io.js';
import { connected, type IoFixture, refused, startIo } from '../helpers/socket-io.js';
import { collect, waitForEvent, waitUntil } from '../helpers/wait.js';

const strategy = createCustomStrategy((c) => (c.token === 'alice' || c.token === 'bob' ? { id: c.token } : null));

/** The first argument of the next `event` on `c`, within 5 s. */
const firstArg = async <T>(c: ClientSocket, event: string): Promise<T> => {
  const got = await waitForEvent<unknown>(c, event, 5000);
  return (Array.isArray(got) ? got[0] : got) as T;
};

let fx: IoFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** Alice connects, is put in her private room, loses her transport, and misses a message sent to that room. */
async function aliceMissesAMessage(io: IoFixture): Promise<{ pid: string; offset: string }> {
  io.io.on('connection', (s) => {
    if (s.data.principal?.id === 'alice') void s.join('alice-private');
  });
  const alice = io.client('/', { auth: { token: 'alice' } });
  await connected(alice);
  // Recovery needs an offset: the client must have received one event.
  const first = waitForEvent(alice, 'dm');
  await waitUntil(() => io.io.sockets.adapter.rooms.get('alice-private')?.size === 1, 2000, 'alice in her room');
  io.io.to('alice-private').emit('dm', 'hello alice');
  await first;
  const session = alice as unknown as { _pid?: string; _lastOffset?: string };
  const pid = session._pid;
  const offset = session._lastOffset;
  assert.ok(pid !== undefined && offset !== undefined, 'Socket.IO handed the client a session id and an offset');
  const lost = waitForEvent(alice, 'disconnect');
  alice.io.engine.close();
  await lost;
  await waitUntil(() => io.io.sockets.sockets.size === 0, 2000, 'the server to see alice go');
  io.io.to('alice-private').emit('dm', 'for alice only');
  return { pid, offset };
}

describe('Socket.IO connection state recovery without skipMiddlewares', () => {
  it('restores nothing: bad credentials, or someone else’s, with alice’s session id receive none of her missed packets', async () => {
    fx = await startIo({ connectionStateRecovery: { maxDisconnectionDuration: 60_000, skipMiddlewares: false } });
    createSocketIoGuard(fx.io, { strategies: [strategy] });
    const { pid, offset } = await aliceMissesAMessage(fx);

    const intruder = fx.client('/', { auth: { token: 'bad', pid, offset } });
    const intruderDms = collect<string>(intruder, 'dm');
    const err = await refused(intruder);
    assert.ok(err.data?.code === 'credentials_required' || err.data?.code === 'invalid_credentials', err.data?.code);

    const bob = fx.client('/', { auth: { token: 'bob', pid, offset } });
    const bobDms = collect<string>(bob, 'dm');
    await connected(bob);
    assert.equal(bob.recovered, false);
    const [server] = [...fx.io.sockets.sockets.values()];
    assert.equal(server?.data.principal?.id, 'bob');
    assert.deepEqual([...(server?.rooms ?? [])], [server?.id]);
    // A round trip after the connect: anything written with the restore would have arrived by now.
    server?.emit('ping');
    await waitForEvent(bob, 'ping');
    assert.deepEqual([intruderDms, bobDms], [[], []]);
  });
});

describe('Socket.IO with connection state recovery on: the post-connect protocol reaches pending sockets', () => {
  for (const skipMiddlewares of [false, true]) {
    it(`auth_required, then the typed refusal, in message mode (skipMiddlewares: ${skipMiddlewares})`, async () => {
      fx = await startIo({ connectionStateRecovery: { maxDisconnectionDuration: 60_000, skipMiddlewares } });
      createSocketIoGuard(fx.io, { strategies: [strategy], mode: 'message', timeoutMs: 5_000 });
      const c: ClientSocket = fx.client('/');
      // With recovery on, Socket.IO appends the packet's offset to every emit: the payload is the first argument.
      const required = firstArg<{ timeoutMs: number }>(c, 'auth_required');
      await connected(c);
      assert.equal((await required).timeoutMs, 5_000);
      const refusal = firstArg<{ code: string }>(c, 'unauthorized');
      c.emit('authentication', { token: 'nobody' });
      assert.ok(['credentials_required', 'invalid_credentials'].includes((await refusal).code));
    });
  }
});

describe('Socket.IO: an Engine.IO connection whose client leaves its last namespace before authenticating', () => {
  it('is closed (it holds no pending slot any more, and Socket.IO no longer times it out)', async () => {
    fx = await startIo();
    const g = createSocketIoGuard(fx.io, { strategies: [strategy], mode: 'message', timeoutMs: 60_000 });
    const raw = await openRawEngine(fx.url);
    raw.connect('/', {});
    await raw.received((p) => p.startsWith('0{'), 1);
    assert.equal(g.guard.stats.pending, 1);
    raw.send('41');
    await waitUntil(() => raw.closed, 5000, 'the Engine.IO connection to be closed');
    assert.equal(g.guard.stats.pending, 0);
  });

  it('stays open when the client leaves a namespace after authenticating', async () => {
    fx = await startIo();
    createSocketIoGuard(fx.io, { strategies: [strategy] });
    const raw = await openRawEngine(fx.url);
    raw.connect('/', { token: 'alice' });
    await raw.received((p) => p.startsWith('0{'), 1);
    raw.send('41');
    await waitUntil(() => fx?.io.sockets.sockets.size === 0, 5000, 'the server to see the socket leave');
    raw.connect('/', { token: 'alice' });
    await raw.received((p) => p.startsWith('0{'), 2);
    assert.equal(raw.closed, false);
    raw.close();
  });
});
