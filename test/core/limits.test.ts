/**
 * Attempt limits through real sockets, over both transports (issue #16, items 1–3):
 * a burst is bounded exactly like a sequence (the attempt is reserved before the
 * strategy runs), the identity counted is the one the strategy declares (never a
 * decoy field), unguessable secrets are not counted per identity, and the default
 * lockout can't be aimed at a user who logs in from an address she used before.
 *
 * Many client addresses come from `X-Forwarded-For` behind a trusted loopback proxy.
 * Windows and slow-downs run on a manual clock; slow password checks wait on a gate.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import { signHandshake } from '../../src/client/hmac-signer.js';
import { createManualClock } from '../../src/core/clock.js';
import { createGuard } from '../../src/core/guard.js';
import { normalizeIdentity } from '../../src/core/identity.js';
import type { RateLimitOptions } from '../../src/core/limits.js';
import type { Credentials, Store, Strategy } from '../../src/core/types.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { createHmacStrategy } from '../../src/strategies/hmac.js';
import { type IoFixture, startIo } from '../helpers/socket-io.js';
import { type Gate, gate, waitForEvent, waitUntil } from '../helpers/wait.js';
import { authenticate, startHttp, type WsFixture } from '../helpers/ws.js';

type Transport = 'socket.io' | 'ws';
/** Each transport on the memory store, and Socket.IO once more on a store answering through promises only. */
const VARIANTS: readonly (readonly [Transport, boolean])[] = [
  ['socket.io', false],
  ['ws', false],
  ['socket.io', true],
];
const BURST = 60;
const WAIT_MS = 15_000;
const HMAC_SECRET = 'k'.repeat(48);

/** A password check that counts its calls and, while `slow` is set, waits for the gate before answering. */
function passwordStrategy(identity: RateLimitOptions['identity'] | undefined, field = 'email') {
  const state = { calls: 0, slow: undefined as Gate | undefined };
  const strategy = createCustomStrategy({
    ...(identity === undefined ? {} : { identity: identity as string }),
    async authenticate(c: Credentials) {
      if (typeof c.password !== 'string') return null;
      state.calls++;
      await state.slow?.opened;
      const who = typeof c[field] === 'string' ? (c[field] as string).trim().normalize('NFC').toLowerCase() : '';
      return who === 'victim@example.com' && c.password === 'right' ? { id: 'victim' } : false;
    },
  });
  return { strategy, state };
}

interface Server {
  /** One attempt from `address` with `credentials`: `'ok'`, or the refusal code. */
  attempt(address: string, credentials: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(
  transport: Transport,
  promiseStore: boolean,
  strategies: Strategy[],
  rateLimits: RateLimitOptions,
  clock = createManualClock(),
) {
  // A store spread from the memory store has no synchronous view: every limit goes through Store.reserve/release.
  const memory = promiseStore ? createMemoryStore({ clock }) : undefined;
  const store = memory === undefined ? {} : { store: { ...memory } as Store };
  const common = { strategies, rateLimits, clock, trustedProxies: ['127.0.0.1', '::ffff:127.0.0.1'], maxPendingPerIp: 200, ...store };
  let server: Server;
  if (transport === 'socket.io') {
    const fx: IoFixture = await startIo();
    createSocketIoGuard(fx.io, common);
    server = {
      async attempt(address, credentials) {
        const c = fx.client('/', { auth: credentials, extraHeaders: { 'x-forwarded-for': address } });
        return new Promise((resolve) => {
          c.once('connect', () => resolve('ok'));
          c.once('connect_error', (err: Error & { data?: { code?: string } }) => resolve(err.data?.code ?? err.message));
        });
      },
      close: () => fx.close(),
    };
  } else {
    const fx: WsFixture = await startHttp();
    fx.track(createWsGuard({ ...common, mode: 'message' })).attach(fx.http);
    server = {
      async attempt(address, credentials) {
        const ws = fx.client('/', undefined, { headers: { 'x-forwarded-for': address } });
        const verdict = new Promise<string>((resolve) => {
          ws.on('message', (data: Buffer) => {
            if ((JSON.parse(data.toString('utf8')) as { type?: string }).type === 'authenticated') resolve('ok');
          });
          ws.once('close', (_code: number, reason: Buffer) => resolve(reason.toString('utf8')));
        });
        await waitForEvent(ws, 'open', WAIT_MS);
        authenticate(ws, credentials);
        const outcome = await verdict;
        if (ws.readyState === WebSocket.OPEN) ws.close();
        return outcome;
      },
      close: () => fx.close(),
    };
  }
  servers.push({
    attempt: server.attempt,
    close: async () => {
      await server.close();
      await memory?.close();
    },
  });
  return { server, clock };
}

/** `n` attempts at once; resolves once every one is either refused or inside the strategy, then lets the strategy answer. */
async function burst(
  server: Server,
  state: { calls: number; slow: Gate | undefined },
  n: number,
  attempt: (i: number) => [address: string, credentials: Record<string, unknown>],
): Promise<Map<string, number>> {
  const slow = gate();
  state.slow = slow;
  let refusedEarly = 0;
  const outcomes = Array.from({ length: n }, (_, i) =>
    server.attempt(...attempt(i)).then((o) => {
      if (o === 'rate_limited') refusedEarly++;
      return o;
    }),
  );
  try {
    await waitUntil(() => state.calls + refusedEarly >= n, WAIT_MS, 'every attempt refused or verifying');
  } finally {
    slow.open();
    state.slow = undefined;
  }
  const tally = new Map<string, number>();
  for (const o of await Promise.all(outcomes)) tally.set(o, (tally.get(o) ?? 0) + 1);
  return tally;
}

const address = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const guess = (i: number) => ({ email: 'victim@example.com', password: `guess-${i}` });

for (const [transport, promiseStore] of VARIANTS) {
  const label = promiseStore ? `${transport}, store without a synchronous view (the Redis code path)` : transport;
  describe(`${label}: attempt limits hold for a burst exactly as for a sequence`, () => {
    it(`lockout 'identity': ${BURST} wrong passwords at once from ${BURST} addresses run the strategy max times`, async () => {
      const { strategy, state } = passwordStrategy('email');
      const { server } = await start(transport, promiseStore, [strategy], {
        lockout: 'identity',
        failuresPerPrincipal: { max: 10, windowMs: 600_000 },
      });
      const tally = await burst(server, state, BURST, (i) => [address(i + 1), guess(i)]);
      assert.equal(state.calls, 10, 'strategy calls');
      assert.deepEqual(Object.fromEntries(tally), { invalid_credentials: 10, rate_limited: BURST - 10 });
      // And as a sequence afterwards: still locked, the strategy is not called.
      assert.equal(await server.attempt(address(999), guess(999)), 'rate_limited');
      assert.equal(state.calls, 10);
    });

    it(`failuresPerIp: ${BURST} wrong passwords at once from one address run the strategy max times`, async () => {
      const { strategy, state } = passwordStrategy(undefined);
      const { server } = await start(transport, promiseStore, [strategy], { failuresPerIp: { max: 7, windowMs: 600_000 } });
      const tally = await burst(server, state, BURST, (i) => ['10.9.9.9', { email: `user-${i}@example.com`, password: 'x' }]);
      assert.equal(state.calls, 7, 'strategy calls');
      assert.equal(tally.get('rate_limited'), BURST - 7);
    });

    it(`lockout 'identity+address' (default): one address gets max, many addresses get the identity-wide allowance plus one`, async () => {
      const { strategy, state } = passwordStrategy('email');
      const { server } = await start(transport, promiseStore, [strategy], {
        failuresPerPrincipal: { max: 5, windowMs: 600_000 },
        identityBackoff: { after: 12, baseMs: 1_000, maxMs: 60_000 },
      });
      const one = await burst(server, state, 30, (i) => ['10.7.7.7', guess(i)]);
      assert.equal(state.calls, 5, 'one address: the per-identity-and-address limit');
      assert.equal(one.get('rate_limited'), 25);
      state.calls = 0;
      await burst(server, state, BURST, (i) => [address(i + 1), guess(i)]);
      // 5 of the identity-wide 12 were spent from 10.7.7.7: 7 more, then one through the slow-down gate.
      assert.equal(state.calls, 8, 'many addresses: identity-wide allowance + one slowed-down attempt');
    });

    it('gives slots back on success: logins that passed never count against anyone', async () => {
      const { strategy, state } = passwordStrategy('email');
      const { server } = await start(transport, promiseStore, [strategy], {
        lockout: 'identity',
        failuresPerPrincipal: { max: 2, windowMs: 600_000 },
        failuresPerIp: { max: 2, windowMs: 600_000 },
      });
      for (let i = 0; i < 20; i++) {
        assert.equal(await server.attempt('10.3.3.3', { email: 'victim@example.com', password: 'right' }), 'ok');
      }
      assert.equal(state.calls, 20);
      assert.equal(await server.attempt('10.3.3.3', guess(1)), 'invalid_credentials');
      assert.equal(await server.attempt('10.3.3.3', guess(2)), 'invalid_credentials');
      assert.equal(await server.attempt('10.3.3.3', guess(3)), 'rate_limited');
    });
  });

  describe(`${label}: the identity counted is declared, not chosen by the client`, () => {
    it('a decoy field does not move the counter; spelling variants of the declared field share it', async () => {
      const { strategy, state } = passwordStrategy('email');
      const { server } = await start(transport, promiseStore, [strategy], {
        lockout: 'identity',
        failuresPerPrincipal: { max: 3, windowMs: 600_000 },
      });
      const variants = ['victim@example.com', ' Victim@Example.COM ', 'VICTIM@EXAMPLE.COM', 'victim@example.com\u200a'];
      const outcomes: string[] = [];
      for (let i = 0; i < 12; i++) {
        // A fresh decoy user name each time: today's default hint counted it instead of the email.
        const email = variants[i % variants.length] as string;
        outcomes.push(await server.attempt(address(i + 1), { username: `decoy-${i}`, email, password: `guess-${i}` }));
      }
      assert.equal(state.calls, 3);
      assert.deepEqual(outcomes.slice(0, 3), ['invalid_credentials', 'invalid_credentials', 'invalid_credentials']);
      assert.ok(
        outcomes.slice(3).every((o) => o === 'rate_limited'),
        outcomes.join(),
      );
    });

    it('case folding is the app’s choice: { field, caseFold: false } keeps case variants apart', async () => {
      const { strategy, state } = passwordStrategy({ field: 'email', caseFold: false });
      const { server } = await start(transport, promiseStore, [strategy], {
        lockout: 'identity',
        failuresPerPrincipal: { max: 2, windowMs: 600_000 },
      });
      for (let i = 0; i < 2; i++) assert.equal(await server.attempt(address(i + 1), guess(i)), 'invalid_credentials');
      assert.equal(await server.attempt(address(9), guess(9)), 'rate_limited');
      assert.equal(
        await server.attempt(address(10), { email: 'Victim@example.com', password: 'x' }),
        'invalid_credentials',
        'another case is another identity',
      );
      assert.equal(state.calls, 3);
    });
  });

  describe(`${label}: lockouts can't be aimed at innocents`, () => {
    it('garbage naming a public HMAC keyId does not lock that key out', async () => {
      const hmac = createHmacStrategy({ keys: { svc: HMAC_SECRET } });
      const { server } = await start(transport, promiseStore, [hmac], { failuresPerPrincipal: { max: 10, windowMs: 600_000 } });
      for (let i = 0; i < 15; i++) {
        const forged = await signHandshake({ keyId: 'svc', secret: 'wrong'.repeat(10), namespace: '/', fields: { sub: 'robot' } });
        assert.equal(await server.attempt(address(i + 1), { ...forged }), 'invalid_credentials');
      }
      const signed = await signHandshake({ keyId: 'svc', secret: HMAC_SECRET, namespace: '/', fields: { sub: 'robot' } });
      assert.equal(await server.attempt(address(100), { ...signed }), 'ok');
    });

    it('wrong passwords from elsewhere do not lock the user out from an address she used; elsewhere they slow her down', async () => {
      const { strategy, state } = passwordStrategy('email');
      const { server, clock } = await start(transport, promiseStore, [strategy], {
        failuresPerPrincipal: { max: 3, windowMs: 600_000 },
        identityBackoff: { after: 5, baseMs: 1_000, maxMs: 60_000 },
      });
      const home = '10.200.0.1';
      assert.equal(await server.attempt(home, { email: 'victim@example.com', password: 'right' }), 'ok');
      state.calls = 0;
      // 40 guesses from 10 addresses, sequentially: 5 identity-wide, then one through the slow-down.
      for (let i = 0; i < 40; i++) await server.attempt(address((i % 10) + 1), guess(i));
      assert.equal(state.calls, 6, 'guesses the strategy saw');
      assert.equal(await server.attempt(home, { email: 'Victim@example.com', password: 'right' }), 'ok', 'home still gets in');
      // From a new address she is slowed down, not locked for the window: the next slot opens after the backoff.
      const travel = '10.200.0.2';
      assert.equal(await server.attempt(travel, { email: 'victim@example.com', password: 'right' }), 'rate_limited');
      clock.advance(2_000);
      assert.equal(await server.attempt(travel, { email: 'victim@example.com', password: 'right' }), 'ok');
    });
  });
}

describe('attempt limit options', () => {
  it('throws TypeError for bad lockout, backoff, known-address and identity options', () => {
    const { strategy } = passwordStrategy('email');
    const bad: unknown[] = [
      { lockout: 'address' },
      { identityBackoff: { after: 0, baseMs: 1000, maxMs: 60000 } },
      { identityBackoff: { after: 5, baseMs: 2000, maxMs: 1000 } },
      { knownAddressMs: -1 },
      { identity: 42 },
      { identity: { field: '' } },
      { identity: { field: 'email', caseFold: 'yes' } },
    ];
    for (const rateLimits of bad) {
      assert.throws(
        () => createGuard({ strategies: [strategy], rateLimits: rateLimits as RateLimitOptions }),
        TypeError,
        JSON.stringify(rateLimits),
      );
    }
    assert.throws(() => createCustomStrategy({ authenticate: () => null, identity: '' }), TypeError);
  });

  it('normalises an identity: trimmed, NFC, folded on request; nothing for non-strings or blanks', () => {
    assert.equal(normalizeIdentity('  Ma\u0301ria ', false), 'M\u00e1ria');
    assert.equal(normalizeIdentity('STRASSE', true), normalizeIdentity('Straße', true));
    assert.equal(normalizeIdentity('Alice', false), 'Alice');
    assert.equal(normalizeIdentity(' \t ', true), undefined);
    assert.equal(normalizeIdentity(42, true), undefined);
  });
});
