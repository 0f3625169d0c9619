/**
 * Admission on Socket.IO: no Engine.IO session skips the checks, attempts are
 * bounded per Engine.IO connection, and refused CONNECTs leave nothing behind.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import type { Namespace } from 'socket.io';
import { Manager } from 'socket.io-client';
import { createSocketIoGuard, type SocketIoGuardOptions } from '../../src/adapters/socket.io.js';
import { AuthError } from '../../src/errors.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { openRawEngine, rawUpgradeStatus } from '../helpers/engine-io.js';
import { connected, type IoFixture, refused, startIo } from '../helpers/socket-io.js';
import { gate, waitForEvent, waitUntil } from '../helpers/wait.js';

const EVIL = 'https://evil.example';

let calls = 0;
/** Admits `{ user, password: 'secret' }`; counts every verification. */
const passwords = createCustomStrategy((c) => {
  if (typeof c.user !== 'string') return null;
  calls++;
  return c.password === 'secret' ? c.user : false;
});

let fx: IoFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
  calls = 0;
});

async function setup(options: Partial<SocketIoGuardOptions> = {}) {
  fx = await startIo();
  const g = createSocketIoGuard(fx.io, { strategies: [passwords], ...options });
  return { fx, g, port: Number(new URL(fx.url).port) };
}

function pollStatus(url: string, query: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/socket.io/?${query}`, { headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The names of the server's namespaces now. */
function namespaceNames(io: IoFixture['io']): string[] {
  return [...(io as unknown as { _nsps: Map<string, Namespace> })._nsps.keys()];
}

describe('Socket.IO: every new Engine.IO session passes admission, whatever its sid looks like', () => {
  it('refuses a foreign Origin on upgrades and polls that open a session with an empty or odd sid', async () => {
    const { fx, port } = await setup();
    // Engine.IO opens a new session for each of these (its sid is absent or empty once parsed).
    for (const q of ['sid=', 'xsid=1&sid=', 'sid=&EIO=4']) {
      const status = await rawUpgradeStatus(port, `/socket.io/?EIO=4&transport=websocket&${q}`, { Origin: EVIL });
      assert.equal(status, 403, q);
    }
    assert.equal(await rawUpgradeStatus(port, '/socket.io/?sid=&EIO=4&transport=websocket', { Origin: EVIL }), 403);
    assert.equal(await rawUpgradeStatus(port, '/socket.io/?EIO=4&transport=websocket#&sid=abc', { Origin: EVIL }), 403);
    assert.equal(await pollStatus(fx.url, 'EIO=4&transport=polling&sid=', { Origin: EVIL }), 403);
    // Whatever else a sid looks like (releases parse repeated ones differently), a foreign page never gets a
    // session: refused here, or by Engine.IO itself (unknown sid).
    for (const q of ['sid=&sid=', 'sid=abc&sid=', '%73id=', '%73id=abc', 'sid=%00', 'sid=abc']) {
      const status = await rawUpgradeStatus(port, `/socket.io/?EIO=4&transport=websocket&${q}`, { Origin: EVIL });
      assert.notEqual(status, 101, q);
    }
  });

  it('a real client with an empty sid in its query is refused by requireTls and counted by the handshake rate', async () => {
    const { fx } = await setup({ requireTls: true });
    const c = fx.client('/', { query: { sid: '' }, auth: { user: 'alice', password: 'secret' } });
    await refused(c);
    assert.equal(calls, 0);
    await fx.close();
    const limited = await setup({ rateLimits: { handshakesPerIp: { max: 2, windowMs: 60_000 } } });
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const client = limited.fx.client('/', { query: { sid: '' }, auth: { user: `u${i}`, password: 'secret' } });
      outcomes.push(
        await connected(client).then(
          () => 'connected',
          () => 'refused',
        ),
      );
      client.disconnect();
    }
    assert.deepEqual(outcomes, ['connected', 'connected', 'refused', 'refused']);
  });

  it('checks a CONNECT in the middleware when its Engine.IO connection never passed the preflight', async () => {
    fx = await startIo();
    // The Engine.IO connection opens before the guard exists: nothing checked its Origin.
    const manager = new Manager(fx.url, {
      transports: ['websocket'],
      reconnection: false,
      autoConnect: false,
      extraHeaders: { origin: EVIL },
    });
    try {
      manager.open();
      await waitForEvent(manager as unknown as NodeJS.EventEmitter, 'open');
      const g = createSocketIoGuard(fx.io, { strategies: [passwords] });
      const socket = manager.socket('/', { auth: { user: 'alice', password: 'secret' } });
      socket.connect();
      const err = await refused(socket);
      assert.equal((err as { data?: { code?: string } }).data?.code, 'origin_not_allowed');
      assert.equal(calls, 0);
      assert.deepEqual(g.guard.stats, { pending: 0, authenticated: 0 });
    } finally {
      manager.engine?.close();
    }
  });
});

describe('Socket.IO: attempts are bounded per Engine.IO connection', () => {
  it('refuses a burst of CONNECTs past maxAttemptsPerTransport and closes the Engine.IO connection', async () => {
    const verdict = gate();
    let expiredCalls = 0;
    const expired = createCustomStrategy(async () => {
      expiredCalls++;
      await verdict.opened;
      throw new AuthError('token_expired'); // not a failure code: no lockout ever stops it
    });
    const { fx, g } = await setup({ strategies: [expired], maxAttemptsPerTransport: 3, maxPendingPerIp: 100 });
    const engine = await openRawEngine(fx.url);
    for (let i = 0; i < 50; i++) engine.connect('/', { token: 'old' });
    // Three attempts in flight take every slot: the next one is refused and the connection closes.
    await waitUntil(() => engine.closed, 2000, 'the Engine.IO connection to close');
    verdict.open();
    await waitUntil(() => g.guard.stats.pending === 0, 2000, 'nothing pending');
    assert.equal(expiredCalls, 3, 'verifications on one Engine.IO connection');
    const codes = engine.packets.map((p) => (JSON.parse(p.slice(1)) as { data: { code: string } }).data.code);
    assert.deepEqual(codes, ['rate_limited']);
  });

  it('closes the Engine.IO connection after sequential refusals of any code, lockouts included', async () => {
    const { fx } = await setup({ maxAttemptsPerTransport: 4, rateLimits: { failuresPerIp: { max: 2, windowMs: 60_000 } } });
    const engine = await openRawEngine(fx.url);
    for (let i = 1; i <= 4; i++) {
      assert.equal(engine.closed, false, `closed before refusal ${i}`);
      engine.connect('/', { user: 'mallory', password: 'guess' });
      await engine.received((p) => p.startsWith('4'), i);
    }
    // Two wrong passwords, then the lockout: every refusal counts.
    const codes = engine.packets.map((p) => (JSON.parse(p.slice(1)) as { data: { code: string } }).data.code);
    assert.deepEqual(codes, ['invalid_credentials', 'invalid_credentials', 'rate_limited', 'rate_limited']);
    await waitUntil(() => engine.closed, 2000, 'the Engine.IO connection to close');
    assert.equal(calls, 2);
  });

  it('does not count accepted CONNECTs: many namespaces on one connection stay open', async () => {
    const { fx, g } = await setup({ maxAttemptsPerTransport: 2 });
    for (let i = 0; i < 6; i++) fx.io.of(`/n${i}`);
    const manager = new Manager(fx.url, { transports: ['websocket'], reconnection: false, autoConnect: false });
    try {
      const sockets = Array.from({ length: 6 }, (_, i) => manager.socket(`/n${i}`, { auth: { user: 'alice', password: 'secret' } }));
      for (const s of sockets) s.connect();
      await Promise.all(sockets.map((s) => connected(s)));
      assert.equal(g.guard.stats.authenticated, 6);
    } finally {
      manager.engine?.close();
    }
  });
});

describe('Socket.IO: refused CONNECTs leave nothing behind', () => {
  it('removes the dynamic child namespaces that 500 refused CONNECTs created, and keeps the ones in use', async () => {
    const { fx, g } = await setup({ maxAttemptsPerTransport: 10_000, rateLimits: false, maxPendingPerIp: 1000 });
    const parent = fx.io.of(/^\/dyn-\d+$/) as unknown as { children: Set<Namespace> };
    const before = namespaceNames(fx.io);
    const engine = await openRawEngine(fx.url);
    for (let i = 0; i < 500; i++) engine.connect(`/dyn-${i}`, { user: 'mallory', password: 'guess' });
    await engine.received((p) => p.startsWith('4/dyn-'), 500);
    assert.deepEqual(namespaceNames(fx.io), before);
    assert.equal(parent.children.size, 0);
    // A namespace someone connected to is the app's: later refusals there leave it alone.
    engine.connect('/dyn-7', { user: 'alice', password: 'secret' });
    await engine.received((p) => p.startsWith('0/dyn-7,'), 1);
    // (Socket.IO itself closes a connection that sends CONNECT for a namespace it is in: another one.)
    const other = await openRawEngine(fx.url);
    other.connect('/dyn-7', { user: 'mallory', password: 'guess' });
    await other.received((p) => p.startsWith('4/dyn-7,'), 1);
    other.close();
    assert.deepEqual(namespaceNames(fx.io), [...before, '/dyn-7']);
    assert.equal(parent.children.size, 1);
    assert.equal(g.guard.stats.authenticated, 1);
    engine.close();
  });

  it('removes a child namespace whose CONNECT a later app middleware refused', async () => {
    const { fx } = await setup();
    const parent = fx.io.of(/^\/dyn-\d+$/);
    parent.use((_socket, next) => next(new Error('the app says no')));
    const before = namespaceNames(fx.io);
    const err = await refused(fx.client('/dyn-1', { auth: { user: 'alice', password: 'secret' } }));
    assert.equal(err.message, 'the app says no');
    await waitUntil(() => (parent as unknown as { children: Set<Namespace> }).children.size === 0, 2000, 'the child to go');
    assert.deepEqual(namespaceNames(fx.io), before);
  });
});

describe('Socket.IO: an Engine.IO connection that never sends CONNECT', () => {
  it('holds a pending slot until its first CONNECT: idle connections are bounded per IP (429 at the preflight)', async () => {
    const PER_IP = 4;
    const { fx, g, port } = await setup({ maxPendingPerIp: PER_IP, rateLimits: false });
    const idle = [];
    for (let i = 0; i < PER_IP; i++) idle.push(await openRawEngine(fx.url));
    assert.equal(g.guard.stats.pending, PER_IP, 'each idle connection holds a slot');
    // One more from the same address is refused before Engine.IO accepts it.
    assert.equal(await rawUpgradeStatus(port, '/socket.io/?EIO=4&transport=websocket'), 429);
    // Its first CONNECT gives the slot back (the socket is counted instead, here decided at once).
    const first = idle[0];
    assert.ok(first !== undefined);
    first.connect('/', { user: 'alice', password: 'secret' });
    await first.received((p) => p.startsWith('0'), 1);
    assert.equal(g.guard.stats.pending, PER_IP - 1);
    // Closing gives the others' slots back.
    for (const c of idle.slice(1)) c.close();
    await waitUntil(() => g.guard.stats.pending === 0, 5000, 'the idle slots to be released');
    assert.equal(await rawUpgradeStatus(port, '/socket.io/?EIO=4&transport=websocket'), 101);
    first.close();
  });

  it("is closed by Socket.IO no later than the guard's deadline (connectTimeout lowered to timeoutMs)", async () => {
    const { fx, g } = await setup({ timeoutMs: 300 });
    assert.equal(fx.io.connectTimeout(), 300, "Socket.IO's own 45 s default is lowered");
    const silent = await openRawEngine(fx.url);
    // A deadline, not a measurement: with Socket.IO's default the connection would stay 45 s.
    await waitUntil(() => silent.closed, 10_000, 'the silent connection to be closed');
    await waitUntil(() => g.guard.stats.pending === 0, 5000, 'its slot to be released');
  });
});
