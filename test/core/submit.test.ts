/**
 * When a verdict is given: at once when the strategy, the store and the hooks all
 * answer at once (no promise, no microtask between the credentials and the
 * verdict), later otherwise, with the same verdicts either way.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createManualClock } from '../../src/core/clock.js';
import type { AttemptContext, AuthenticatedPayload, ConnectionDriver } from '../../src/core/connection.js';
import { createGuard, type Guard } from '../../src/core/guard.js';
import type { GuardOptions } from '../../src/core/options.js';
import type { Store } from '../../src/core/types.js';
import { AuthError } from '../../src/errors.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { gate } from '../helpers/wait.js';

/** A driver that records what the core told the socket. */
function recordingDriver() {
  const sent: { verdicts: AuthenticatedPayload[]; closed: string[]; admitted: number } = { verdicts: [], closed: [], admitted: 0 };
  const driver: ConnectionDriver = {
    admit: () => {
      sent.admitted++;
    },
    authenticated: (payload) => {
      sent.verdicts.push(payload);
    },
    expiring: () => {},
    close: (error) => {
      sent.closed.push(error.code);
    },
  };
  return { driver, sent };
}

const context: AttemptContext = {
  secure: false,
  headers: {},
  url: '/',
  origin: undefined,
  peerCertificate: undefined,
  peerAuthorized: false,
  socket: undefined,
};
const users = createCustomStrategy({
  authenticate: (c) => (c.user === 'alice' && c.password === 'secret' ? { id: 'alice' } : c.user === undefined ? null : false),
  identity: 'user',
});
const guards: Guard[] = [];
let next = 0;

function open(options: Partial<GuardOptions> = {}) {
  const guard = createGuard({ strategies: [users], ...options });
  guards.push(guard);
  const { driver, sent } = recordingDriver();
  const conn = guard.open({ id: `c${next++}`, transport: 'ws', namespace: '/', ip: '127.0.0.1' }, driver);
  return { guard, conn, sent };
}

afterEach(async () => {
  for (const g of guards.splice(0)) await g.close();
});

describe('verdicts given at once', () => {
  it('accepts before submitNow returns with a synchronous strategy and the memory store', () => {
    const { guard, conn, sent } = open();
    const outcome = conn.submitNow({ user: 'alice', password: 'secret' }, context);
    assert.equal(outcome, 'done');
    assert.equal(conn.authenticated, true);
    assert.equal(conn.principal?.id, 'alice');
    assert.equal(sent.admitted, 1);
    assert.equal(sent.verdicts.length, 1);
    assert.deepEqual(guard.stats, { pending: 0, authenticated: 1 });
  });

  it('refuses before submitNow returns when nothing counts failures', () => {
    const { guard, conn, sent } = open({ rateLimits: false });
    assert.equal(conn.submitNow({ user: 'alice', password: 'guess' }, context), 'done');
    assert.equal(conn.state, 'closed');
    assert.deepEqual(sent.closed, ['invalid_credentials']);
    assert.deepEqual(guard.stats, { pending: 0, authenticated: 0 });
  });

  it('leaves optional credentials that no strategy recognised pending, at once', () => {
    const { conn, sent } = open();
    assert.equal(conn.submitNow({ cookie: 'unrelated' }, context, true, true), 'missing');
    assert.equal(conn.pending, true);
    assert.equal(conn.attempts, 0);
    assert.deepEqual(sent.closed, []);
  });

  it('takes no attempt slot for a verdict given at once: nothing is written for a success', async () => {
    const store = createMemoryStore();
    const tokens = createCustomStrategy((c) => (c.token === 'good' ? { id: 'svc' } : c.token === undefined ? null : false));
    const { conn } = open({ strategies: [tokens], store });
    assert.equal(conn.submitNow({ token: 'good' }, context), 'done');
    assert.equal(conn.authenticated, true);
    assert.equal(store.size, 0, 'no counter for an attempt that passed at once');
    const refused = open({ strategies: [tokens], store });
    assert.equal(refused.conn.submitNow({ token: 'bad' }, context), 'done');
    assert.equal(store.size, 1, 'one failure counter, for the address only (no identity declared)');
    await store.close();
  });

  it('refuses a principal revoked in the store at once', async () => {
    const { guard, conn, sent } = open();
    await guard.revoke({ userId: 'alice' });
    assert.equal(conn.submitNow({ user: 'alice', password: 'secret' }, context), 'done');
    assert.deepEqual(sent.closed, ['revoked']);
  });
});

describe('verdicts given later, the same ones', () => {
  it('waits for an async strategy: pending until it answers', async () => {
    const slow = createCustomStrategy(async () => ({ id: 'bob' }));
    const { conn } = open({ strategies: [slow] });
    const outcome = conn.submitNow({ token: 'x' }, context);
    assert.ok(outcome instanceof Promise);
    assert.equal(conn.pending, true);
    assert.equal(await outcome, 'done');
    assert.equal(conn.authenticated, true);
  });

  it('waits for the onAuthenticated hook', async () => {
    let hookRan = false;
    const { conn } = open({
      hooks: {
        async onAuthenticated() {
          hookRan = true;
        },
      },
    });
    const outcome = conn.submitNow({ user: 'alice', password: 'secret' }, context);
    assert.ok(outcome instanceof Promise);
    assert.equal(conn.pending, true);
    await outcome;
    assert.equal(hookRan, true);
    assert.equal(conn.authenticated, true);
  });

  it('waits for a store without a synchronous view (a wrapper spreading the memory store)', async () => {
    const memory = createMemoryStore();
    const wrapped: Store = { ...memory };
    const { conn } = open({ store: wrapped });
    const outcome = conn.submitNow({ user: 'alice', password: 'secret' }, context);
    assert.ok(outcome instanceof Promise);
    await outcome;
    assert.equal(conn.authenticated, true);
    await memory.close();
  });

  it('counts a refusal as a failure before closing (lockout after the limit), at once on the memory store', async () => {
    const limits = { rateLimits: { failuresPerPrincipal: { max: 2, windowMs: 60_000 } } };
    const store = createMemoryStore();
    for (let i = 0; i < 2; i++) {
      const { conn, sent } = open({ ...limits, store });
      // The attempt was reserved before verifying: the refusal keeps the slot, nothing left to count.
      assert.equal(conn.submitNow({ user: 'alice', password: 'guess' }, context), 'done');
      assert.deepEqual(sent.closed, ['invalid_credentials']);
    }
    const { conn, sent } = open({ ...limits, store });
    assert.equal(conn.submitNow({ user: 'alice', password: 'secret' }, context), 'done');
    assert.deepEqual(sent.closed, ['rate_limited']);
    await store.close();
  });

  it('turns a driver that throws while accepting into an error of the caller, not a silent verdict', async () => {
    /** A driver whose `authenticated` throws `error`. */
    const throwing = (error: Error): ConnectionDriver => ({
      authenticated: () => {
        throw error;
      },
      expiring: () => {},
      close: () => {},
    });
    const guard = createGuard({ strategies: [users] });
    guards.push(guard);
    const conn = guard.open({ id: 'thrower', transport: 'ws', namespace: '/', ip: '127.0.0.1' }, throwing(new Error('socket gone')));
    assert.throws(() => conn.submitNow({ user: 'alice', password: 'secret' }, context), /socket gone/);
    const slow = createGuard({ strategies: [createCustomStrategy(async () => ({ id: 'bob' }))] });
    guards.push(slow);
    const later = slow.open(
      { id: 'thrower-later', transport: 'ws', namespace: '/', ip: '127.0.0.1' },
      throwing(new AuthError('internal_error')),
    );
    await assert.rejects(Promise.resolve(later.submitNow({}, context)), (err: AuthError) => err.code === 'internal_error');
  });
});

describe('pending bookkeeping only for connections that wait (deferHold)', () => {
  function opener(options: Partial<GuardOptions>) {
    const guard = createGuard({ strategies: [users], ...options });
    guards.push(guard);
    return (deferHold: boolean) => {
      const { driver, sent } = recordingDriver();
      const conn = guard.open({ id: `d${next++}`, transport: 'ws', namespace: '/', ip: '127.0.0.1' }, driver, deferHold);
      return { guard, conn, sent };
    };
  }

  it('a connection decided in the tick it opened never counts against the pending budget', () => {
    const open1 = opener({ maxPending: 1, maxPendingPerIp: 1 });
    const a = open1(true);
    assert.equal(a.guard.stats.pending, 0, 'not counted before it has to wait');
    // Budget of 1, and `a` is still undecided: a deferred connection does not spend it.
    const b = open1(true);
    assert.equal(b.conn.submitNow({ user: 'alice', password: 'secret' }, context), 'done');
    assert.equal(a.conn.submitNow({ user: 'alice', password: 'secret' }, context), 'done');
    assert.deepEqual(a.guard.stats, { pending: 0, authenticated: 2 });
    // Without deferHold, opening counts at once and the next one is refused.
    open1(false);
    assert.throws(
      () => open1(true),
      (err: AuthError) => err.code === 'rate_limited',
    );
  });

  it('counts a connection from the moment its verification has to wait, and releases it on the verdict', async () => {
    const verdict = gate();
    const slow = createCustomStrategy(async () => {
      await verdict.opened;
      return { id: 'bob' };
    });
    const openSlow = opener({ strategies: [slow], maxPending: 1, maxPendingPerIp: 1 });
    const { guard, conn } = openSlow(true);
    const outcome = conn.submitNow({ token: 'x' }, context);
    assert.ok(outcome instanceof Promise);
    assert.equal(guard.stats.pending, 1, 'held while verifying');
    assert.throws(
      () => openSlow(true),
      (err: AuthError) => err.code === 'rate_limited',
    );
    verdict.open();
    await outcome;
    assert.deepEqual(guard.stats, { pending: 0, authenticated: 1 });
  });

  it('holds a connection left pending by optional credentials, with its deadline counted from the open', () => {
    const clock = createManualClock(1_000_000);
    const openAt = opener({ clock, timeoutMs: 5000 });
    const { guard, conn, sent } = openAt(true);
    clock.advance(3000);
    assert.equal(conn.submitNow({ cookie: 'unrelated' }, context, true, true), 'missing');
    assert.equal(guard.stats.pending, 1);
    clock.advance(1999);
    assert.deepEqual(sent.closed, []);
    clock.advance(1);
    assert.deepEqual(sent.closed, ['auth_timeout'], 'the deadline runs from the open, not from the hold');
    assert.equal(guard.stats.pending, 0);
  });

  it('hold() is idempotent and ignores a connection that is no longer pending', async () => {
    const openOne = opener({});
    const { guard, conn } = openOne(true);
    conn.hold();
    conn.hold();
    assert.equal(guard.stats.pending, 1);
    assert.equal(conn.submitNow({ user: 'alice', password: 'secret' }, context), 'done');
    conn.hold();
    assert.deepEqual(guard.stats, { pending: 0, authenticated: 1 });
    const refused = openOne(true);
    assert.equal(refused.conn.submitNow({ user: 'alice', password: 'guess' }, context), 'done');
    assert.equal(refused.conn.state, 'closed');
    refused.conn.hold();
    assert.equal(guard.stats.pending, 0);
  });
});
