import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCredentialProvider, type IssuedCredentials } from '../../src/client/credential-provider.js';
import { isPortcullisClientError, PortcullisClientError } from '../../src/client/errors.js';
import { createManualClock } from '../../src/core/clock.js';

/** A getCredentials whose fetches the test settles by hand, counting concurrency. */
function controlledSource() {
  const calls: { resolve: (v: IssuedCredentials<{ token: string }>) => void; reject: (e: unknown) => void }[] = [];
  let active = 0;
  let maxActive = 0;
  const getCredentials = (): Promise<IssuedCredentials<{ token: string }>> => {
    active++;
    maxActive = Math.max(maxActive, active);
    return new Promise((resolve, reject) => {
      calls.push({
        resolve: (v) => {
          active--;
          resolve(v);
        },
        reject: (e) => {
          active--;
          reject(e);
        },
      });
    });
  };
  return {
    getCredentials,
    calls,
    get maxActive() {
      return maxActive;
    },
    /** Settles fetch `i` with token `t<i>`. */
    answer(i: number, expiresAt?: number) {
      const call = calls[i];
      assert.ok(call, `fetch ${i} was never started`);
      call.resolve(expiresAt === undefined ? { credentials: { token: `t${i}` } } : { credentials: { token: `t${i}` }, expiresAt });
    },
  };
}

/** Lets pending promise callbacks run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('credential provider: single flight and caching', () => {
  it('shares one fetch between 10 concurrent get() calls', async () => {
    const src = controlledSource();
    const clock = createManualClock(1_000_000);
    const provider = createCredentialProvider({ getCredentials: src.getCredentials, scheduler: clock });
    const all = Promise.all(Array.from({ length: 10 }, () => provider.get()));
    await flush();
    assert.equal(src.calls.length, 1);
    src.answer(0, clock.now() + 600_000);
    const results = await all;
    assert.ok(results.every((c) => c.token === 't0'));
    assert.deepEqual(await provider.get(), { token: 't0' });
    assert.equal(src.calls.length, 1, 'cached while fresh');
    assert.equal(src.maxActive, 1);
    provider.close();
  });

  it('counts credentials stale refreshLeadMs before expiry and refreshes them in the background', async () => {
    const src = controlledSource();
    const clock = createManualClock(1_000_000);
    const refreshed: string[] = [];
    const provider = createCredentialProvider({ getCredentials: src.getCredentials, scheduler: clock, refreshLeadMs: 30_000 });
    provider.on('refresh', (c) => refreshed.push(c.token));
    const first = provider.get();
    await flush();
    src.answer(0, clock.now() + 300_000);
    assert.equal((await first).token, 't0');
    assert.equal(clock.pendingTimers, 1, 'one background refresh scheduled');
    clock.advance(269_999);
    assert.equal(src.calls.length, 1, 'not yet stale');
    clock.advance(1);
    assert.equal(src.calls.length, 2, 'background refresh at expiresAt - refreshLeadMs');
    // Stale credentials are not handed out: callers arriving now join the refresh.
    const joined = provider.get();
    await flush();
    assert.equal(src.calls.length, 2);
    src.answer(1, clock.now() + 300_000);
    assert.equal((await joined).token, 't1');
    assert.equal((await provider.get()).token, 't1');
    assert.deepEqual(refreshed, ['t0', 't1']);
    assert.equal(src.maxActive, 1);
    provider.close();
    assert.equal(clock.pendingTimers, 0, 'close() cancels the background refresh');
  });

  it('caps the lead at half the lifetime and never reuses expired credentials', async () => {
    const src = controlledSource();
    const clock = createManualClock(1_000_000);
    const provider = createCredentialProvider({ getCredentials: src.getCredentials, scheduler: clock, autoRefresh: false });
    const p = provider.get();
    await flush();
    src.answer(0, clock.now() + 10_000); // lead 30 s > lifetime: fresh for 5 s
    await p;
    clock.advance(4_999);
    assert.equal((await provider.get()).token, 't0');
    clock.advance(1);
    const q = provider.get();
    await flush();
    assert.equal(src.calls.length, 2);
    src.answer(1, clock.now() + 10_000);
    assert.equal((await q).token, 't1');
    assert.equal(clock.pendingTimers, 0, 'autoRefresh: false schedules nothing');
  });

  it('refresh(ifExpiringBy) reuses credentials valid past that time, fetches otherwise; invalidate() forgets', async () => {
    const src = controlledSource();
    const clock = createManualClock(1_000_000);
    const provider = createCredentialProvider({ getCredentials: src.getCredentials, scheduler: clock, autoRefresh: false });
    const p = provider.get();
    await flush();
    const expiresAt = clock.now() + 600_000;
    src.answer(0, expiresAt);
    await p;
    assert.equal((await provider.refresh(expiresAt - 1)).token, 't0');
    const r = provider.refresh(expiresAt);
    await flush();
    assert.equal(src.calls.length, 2);
    src.answer(1, expiresAt + 600_000);
    assert.equal((await r).token, 't1');
    provider.invalidate();
    const g = provider.get();
    await flush();
    assert.equal(src.calls.length, 3);
    src.answer(2);
    assert.equal((await g).token, 't2');
  });

  it('reports failures as PortcullisClientError, keeps app codes, and lets the next call retry', async () => {
    let n = 0;
    const provider = createCredentialProvider({
      getCredentials: async () => {
        n++;
        if (n === 1) throw new Error('network down');
        if (n === 2) throw new PortcullisClientError('revoked');
        if (n === 3) return { credentials: 'nope' } as unknown as IssuedCredentials;
        return { credentials: { token: 'ok' } };
      },
    });
    const e1 = await provider.get().catch((e: unknown) => e);
    assert.ok(isPortcullisClientError(e1));
    assert.equal(e1.code, 'credentials_unavailable');
    assert.equal(e1.retryable, true);
    const e2 = await provider.get().catch((e: unknown) => e);
    assert.ok(isPortcullisClientError(e2) && e2.code === 'revoked' && !e2.retryable);
    const e3 = await provider.get().catch((e: unknown) => e);
    assert.ok(isPortcullisClientError(e3) && e3.code === 'invalid_request');
    assert.deepEqual(await provider.get(), { token: 'ok' });
  });

  it('retries a failed background refresh halfway to expiry and reports it', async () => {
    const src = controlledSource();
    const clock = createManualClock(1_000_000);
    const errors: string[] = [];
    const provider = createCredentialProvider({ getCredentials: src.getCredentials, scheduler: clock, refreshLeadMs: 60_000 });
    provider.on('error', (e) => errors.push(e.code));
    const p = provider.get();
    await flush();
    src.answer(0, clock.now() + 600_000);
    await p;
    clock.advance(540_000);
    assert.equal(src.calls.length, 2);
    src.calls[1]?.reject(new Error('boom'));
    await flush();
    assert.deepEqual(errors, ['credentials_unavailable']);
    clock.advance(30_000); // half of the remaining 60 s
    assert.equal(src.calls.length, 3);
    src.answer(2, clock.now() + 600_000);
    await flush();
    assert.equal((await provider.get()).token, 't2');
    provider.close();
  });
});

describe('credential provider: one-time tickets', () => {
  it('never hands the same ticket out twice, and fetches one at a time', async () => {
    let n = 0;
    let active = 0;
    let maxActive = 0;
    const provider = createCredentialProvider({
      oneTime: true,
      getCredentials: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await flush();
        active--;
        return { credentials: { ticket: `ticket-${n++}` }, expiresAt: Date.now() + 30_000 };
      },
    });
    const tickets = await Promise.all(Array.from({ length: 10 }, () => provider.take()));
    assert.equal(new Set(tickets.map((t) => t.ticket)).size, 10, 'ten distinct tickets');
    assert.equal(n, 10);
    assert.equal(maxActive, 1, 'never two fetches at once');
    const again = await provider.take();
    assert.equal(again.ticket, 'ticket-10', 'a spent ticket is never reused');
    assert.equal(provider.oneTime, true);
  });

  it('get() peeks without spending; take() spends what get() fetched; the next get() fetches anew', async () => {
    const src = controlledSource();
    const clock = createManualClock(1_000_000);
    const provider = createCredentialProvider({ getCredentials: src.getCredentials, scheduler: clock, oneTime: true });
    const peeks = Promise.all([provider.get(), provider.get()]);
    await flush();
    assert.equal(src.calls.length, 1);
    src.answer(0, clock.now() + 30_000);
    assert.deepEqual(
      (await peeks).map((c) => c.token),
      ['t0', 't0'],
    );
    assert.equal((await provider.take()).token, 't0');
    assert.equal(src.calls.length, 1, 'the peeked ticket was spent without a new fetch');
    const next = provider.get();
    await flush();
    assert.equal(src.calls.length, 2, 'after a take(), get() fetches a fresh ticket');
    src.answer(1, clock.now() + 30_000);
    assert.equal((await next).token, 't1');
    // refresh() on a one-time provider spends too.
    assert.equal((await provider.refresh()).token, 't1');
    assert.equal(clock.pendingTimers, 0, 'tickets are never refreshed in the background');
  });

  it('a get() arriving during a take() fetch does not receive the reserved ticket', async () => {
    const src = controlledSource();
    const provider = createCredentialProvider({ getCredentials: src.getCredentials, oneTime: true });
    const taken = provider.take();
    await flush();
    const peeked = provider.get();
    await flush();
    assert.equal(src.calls.length, 1);
    src.answer(0);
    assert.equal((await taken).token, 't0');
    await flush();
    assert.equal(src.calls.length, 2, 'get() waited, then fetched its own');
    src.answer(1);
    assert.equal((await peeked).token, 't1');
  });

  it('rejects invalid options with TypeError', () => {
    assert.throws(() => createCredentialProvider({} as never), TypeError);
    assert.throws(() => createCredentialProvider({ getCredentials: async () => ({ credentials: {} }), refreshLeadMs: -1 }), TypeError);
  });
});
