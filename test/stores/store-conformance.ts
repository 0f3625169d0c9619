/**
 * One behaviour suite for every {@link Store}: what the strategies and limits
 * rely on, whatever the backing. A store plugs in through a {@link StoreHarness}.
 */

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Store } from '../../src/core/types.js';
import { isAuthError } from '../../src/errors.js';

/** How the suite drives one kind of store. */
export interface StoreHarness {
  /**
   * Opens a store. With `shared` stores, two stores opened with the same `prefix`
   * see the same keys and channels (two processes on one server).
   */
  open(options?: { prefix?: string }): Promise<Store>;
  /** A TTL the suite can let pass (`expire`). */
  readonly ttlMs: number;
  /**
   * Lets `ttlMs` pass: advances a manual clock, or waits (polling `gone`) for a
   * real TTL to run out. Resolves once `gone` holds; rejects if it never does.
   */
  expire(gone: () => Promise<boolean>): Promise<void>;
  /** Closes every store it opened and releases its connections. */
  close(): Promise<void>;
}

export interface ConformanceOptions {
  /** Stores opened by one harness share state (a server): run the cross-instance tests. */
  readonly shared: boolean;
}

/** Collects messages; `until(n)` resolves once `n` have arrived (event-driven, with a deadline). */
export function inbox(): {
  readonly messages: string[];
  handler: (message: string) => void;
  until(n: number, timeoutMs?: number): Promise<string[]>;
} {
  const messages: string[] = [];
  let wake: (() => void) | undefined;
  return {
    messages,
    handler(message) {
      messages.push(message);
      wake?.();
    },
    async until(n, timeoutMs = 2_000) {
      if (messages.length >= n) return messages;
      let timer: NodeJS.Timeout | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          wake = () => {
            if (messages.length >= n) resolve();
          };
          timer = setTimeout(() => reject(new Error(`got ${messages.length} of ${n} messages within ${timeoutMs} ms`)), timeoutMs);
        });
      } finally {
        wake = undefined;
        clearTimeout(timer);
      }
      return messages;
    },
  };
}

export async function assertUnavailable(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => isAuthError(err) && err.code === 'unavailable');
}

const LONG_TTL = 3_600_000;
const CONCURRENCY = 64;

/** Registers the conformance suite under `name`; `makeHarness` runs before each test. */
export function storeConformance(name: string, options: ConformanceOptions, makeHarness: () => Promise<StoreHarness> | StoreHarness): void {
  describe(name, () => {
    let h: StoreHarness;
    beforeEach(async () => {
      h = await makeHarness();
    });
    afterEach(async () => {
      await h.close();
    });
    /** Two stores on the same state when the kind shares it; the same store otherwise. */
    const pair = async (): Promise<[Store, Store]> => {
      const a = await h.open();
      return [a, options.shared ? await h.open() : a];
    };

    it('setIfAbsent sets once, until the TTL runs out', async () => {
      const s = await h.open();
      assert.equal(await s.setIfAbsent('nonce:1', 'a', h.ttlMs), true);
      assert.equal(await s.setIfAbsent('nonce:1', 'b', h.ttlMs), false);
      assert.equal(await s.get('nonce:1'), 'a');
      assert.equal(await s.setIfAbsent('nonce:2', 'c', h.ttlMs), true);
      await h.expire(async () => (await s.get('nonce:1')) === undefined);
      assert.equal(await s.setIfAbsent('nonce:1', 'd', LONG_TTL), true);
      assert.equal(await s.get('nonce:1'), 'd');
    });

    it('setIfAbsent under concurrency: exactly one caller wins', async () => {
      const [a, b] = await pair();
      const results = await Promise.all(
        Array.from({ length: CONCURRENCY }, (_, i) => (i % 2 === 0 ? a : b).setIfAbsent('race', String(i), LONG_TTL)),
      );
      assert.equal(results.filter(Boolean).length, 1);
    });

    it('rejects a TTL that is not a positive number', async () => {
      const s = await h.open();
      for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        await assert.rejects(s.setIfAbsent('k', 'v', ttl), TypeError);
        await assert.rejects(s.set('k', 'v', ttl), TypeError);
        await assert.rejects(s.increment('k', ttl), TypeError);
      }
      assert.equal(await s.get('k'), undefined);
    });

    it('set replaces the value and the TTL; get of a missing key is undefined', async () => {
      const s = await h.open();
      assert.equal(await s.get('missing'), undefined);
      await s.set('k', '1', LONG_TTL);
      await s.set('k', '2', h.ttlMs);
      assert.equal(await s.get('k'), '2');
      await h.expire(async () => (await s.get('k')) === undefined);
    });

    it('ttl (optional): the time left of a key, undefined for a missing one; the sync view agrees', async () => {
      const s = await h.open();
      if (s.ttl === undefined) return;
      assert.equal(await s.ttl('missing'), undefined);
      await s.set('k', '1', LONG_TTL);
      const left = await s.ttl('k');
      assert.ok(left !== undefined && left > 0 && left <= LONG_TTL, String(left));
      if (s.sync?.ttl !== undefined) {
        const syncLeft = s.sync.ttl('k');
        assert.ok(syncLeft !== undefined && syncLeft <= LONG_TTL && syncLeft > 0);
        assert.equal(s.sync.ttl('missing'), undefined);
      }
      await s.reserve('counter', 3, LONG_TTL);
      const counterLeft = await s.ttl('counter');
      assert.ok(counterLeft !== undefined && counterLeft <= LONG_TTL);
    });

    it('getAndDelete returns the value once', async () => {
      const s = await h.open();
      assert.equal(await s.getAndDelete('ticket'), undefined);
      await s.set('ticket', 'user-1', LONG_TTL);
      assert.equal(await s.getAndDelete('ticket'), 'user-1');
      assert.equal(await s.getAndDelete('ticket'), undefined);
      assert.equal(await s.get('ticket'), undefined);
    });

    it(`getAndDelete is atomic: ${CONCURRENCY} concurrent callers, exactly one value`, async () => {
      const [a, b] = await pair();
      await a.set('ticket', 'once', LONG_TTL);
      const results = await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => (i % 2 === 0 ? a : b).getAndDelete('ticket')));
      assert.deepEqual(
        results.filter((r) => r !== undefined),
        ['once'],
      );
    });

    it('getAndDelete does not return an expired value', async () => {
      const s = await h.open();
      await s.set('ticket', 'stale', h.ttlMs);
      await h.expire(async () => (await s.get('ticket')) === undefined);
      assert.equal(await s.getAndDelete('ticket'), undefined);
    });

    it('increment counts from 1 and sets the TTL only when the counter is created', async () => {
      const s = await h.open();
      assert.equal(await s.increment('attempts', h.ttlMs), 1);
      // Later calls must not extend the window, whatever TTL they pass.
      assert.equal(await s.increment('attempts', LONG_TTL), 2);
      assert.equal(await s.increment('attempts', LONG_TTL), 3);
      assert.equal(await s.get('attempts'), '3');
      await h.expire(async () => (await s.get('attempts')) === undefined);
      assert.equal(await s.increment('attempts', LONG_TTL), 1);
    });

    it('increment under concurrency: every caller gets a distinct count', async () => {
      const [a, b] = await pair();
      const counts = await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => (i % 2 === 0 ? a : b).increment('n', LONG_TTL)));
      assert.deepEqual(
        [...counts].sort((x, y) => x - y),
        Array.from({ length: CONCURRENCY }, (_, i) => i + 1),
      );
    });

    it('reserve takes slots up to max, then refuses with 0 without counting', async () => {
      const s = await h.open();
      assert.equal(await s.reserve('attempts', 3, h.ttlMs), 1);
      // Later calls must not extend the window, whatever TTL they pass.
      assert.equal(await s.reserve('attempts', 3, LONG_TTL), 2);
      assert.equal(await s.reserve('attempts', 3, LONG_TTL), 3);
      assert.equal(await s.reserve('attempts', 3, LONG_TTL), 0);
      assert.equal(await s.reserve('attempts', 3, LONG_TTL), 0);
      assert.equal(await s.get('attempts'), '3');
      // A higher max on the same counter takes the next slot.
      assert.equal(await s.reserve('attempts', 4, LONG_TTL), 4);
      await h.expire(async () => (await s.get('attempts')) === undefined);
      assert.equal(await s.reserve('attempts', 3, LONG_TTL), 1);
    });

    it(`reserve is atomic: ${CONCURRENCY} concurrent callers, exactly max slots`, async () => {
      const [a, b] = await pair();
      const counts = await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => (i % 2 === 0 ? a : b).reserve('burst', 10, LONG_TTL)));
      assert.deepEqual(
        counts.filter((n) => n > 0).sort((x, y) => x - y),
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
      assert.equal(counts.filter((n) => n === 0).length, CONCURRENCY - 10);
      assert.equal(await a.get('burst'), '10');
    });

    it('release gives a slot back and keeps the window; an empty counter is dropped, never created', async () => {
      const [a, b] = await pair();
      await b.release('none');
      assert.equal(await a.get('none'), undefined);
      assert.equal(await a.reserve('slots', 3, h.ttlMs), 1);
      assert.equal(await a.reserve('slots', 3, LONG_TTL), 2);
      assert.equal(await a.reserve('slots', 3, LONG_TTL), 3);
      assert.equal(await a.reserve('slots', 3, LONG_TTL), 0);
      await b.release('slots');
      assert.equal(await a.get('slots'), '2');
      assert.equal(await b.reserve('slots', 3, LONG_TTL), 3);
      await a.release('slots');
      // The window is the first one: released slots do not extend it.
      await h.expire(async () => (await a.get('slots')) === undefined);
      assert.equal(await a.reserve('slots', 3, LONG_TTL), 1);
      await a.release('slots');
      assert.equal(await b.get('slots'), undefined, 'released to 0: gone');
      await a.release('slots');
      await b.release('slots');
      assert.equal(await a.get('slots'), undefined, 'never created by a release');
      assert.equal(await a.reserve('slots', 1, LONG_TTL), 1);
    });

    it('concurrent reserves and releases never let more than max through at once', async () => {
      const [a, b] = await pair();
      // Every holder takes a slot, then gives it back: at most `max` hold one at any time.
      let holding = 0;
      let peak = 0;
      let admitted = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, i) => {
          const s = i % 2 === 0 ? a : b;
          if ((await s.reserve('flow', 4, LONG_TTL)) === 0) return;
          admitted++;
          holding++;
          peak = Math.max(peak, holding);
          await s.get('flow');
          holding--;
          await s.release('flow');
        }),
      );
      assert.ok(peak <= 4, `peak ${peak}`);
      assert.ok(admitted >= 4, `admitted ${admitted}`);
      assert.equal(await a.get('flow'), undefined, 'every slot given back');
    });

    it('reserve rejects a max that is not a positive integer', async () => {
      const s = await h.open();
      for (const max of [0, -1, 1.5, Number.NaN]) await assert.rejects(s.reserve('k', max, LONG_TTL), TypeError);
      await assert.rejects(s.reserve('k', 1, 0), TypeError);
      assert.equal(await s.get('k'), undefined);
    });

    it('existsAny is true when any key is live', async () => {
      const s = await h.open();
      assert.equal(await s.existsAny([]), false);
      assert.equal(await s.existsAny(['revoked:user:1', 'revoked:session:9']), false);
      await s.set('revoked:session:9', '1', h.ttlMs);
      assert.equal(await s.existsAny(['revoked:user:1', 'revoked:session:9']), true);
      assert.equal(await s.existsAny(['revoked:session:9']), true);
      assert.equal(await s.existsAny(['revoked:user:1']), false);
      await h.expire(async () => !(await s.existsAny(['revoked:session:9'])));
      assert.equal(await s.existsAny(['revoked:user:1', 'revoked:session:9']), false);
    });

    it('publish reaches every handler of the channel, in order, and no other channel', async () => {
      const [a, b] = await pair();
      const first = inbox();
      const second = inbox();
      const other = inbox();
      await a.subscribe('revocations', first.handler);
      await a.subscribe('revocations', second.handler);
      await a.subscribe('elsewhere', other.handler);
      await b.publish('revocations', 'm1');
      await b.publish('revocations', 'm2');
      await b.publish('revocations', 'm3');
      assert.deepEqual(await first.until(3), ['m1', 'm2', 'm3']);
      assert.deepEqual(await second.until(3), ['m1', 'm2', 'm3']);
      // `elsewhere` would have received anything before this marker.
      await b.publish('elsewhere', 'marker');
      assert.deepEqual(await other.until(1), ['marker']);
    });

    it('publish without subscribers is fine', async () => {
      const s = await h.open();
      await s.publish('nobody', 'hello');
    });

    it('unsubscribe stops delivery to that handler only, and is idempotent', async () => {
      const [a, b] = await pair();
      const leaving = inbox();
      const staying = inbox();
      const marker = inbox();
      const leave = await a.subscribe('ch', leaving.handler);
      const stay = await a.subscribe('ch', staying.handler);
      await a.subscribe('marker', marker.handler);
      await b.publish('ch', 'one');
      await leaving.until(1);
      await staying.until(1);

      await leave();
      await leave();
      await b.publish('ch', 'two');
      await staying.until(2);
      assert.deepEqual(leaving.messages, ['one']);

      // The last handler leaves: nothing is delivered, checked against a later marker.
      await stay();
      await b.publish('ch', 'three');
      await b.publish('marker', 'done');
      await marker.until(1);
      assert.deepEqual(leaving.messages, ['one']);
      assert.deepEqual(staying.messages, ['one', 'two']);

      // And the channel can be subscribed again.
      const again = inbox();
      await a.subscribe('ch', again.handler);
      await b.publish('ch', 'four');
      assert.deepEqual(await again.until(1), ['four']);
    });

    it('the same handler subscribed twice is two subscriptions', async () => {
      const [a, b] = await pair();
      const box = inbox();
      const un1 = await a.subscribe('ch', box.handler);
      await a.subscribe('ch', box.handler);
      await b.publish('ch', 'x');
      assert.deepEqual(await box.until(2), ['x', 'x']);
      await un1();
      await b.publish('ch', 'y');
      assert.deepEqual(await box.until(3), ['x', 'x', 'y']);
    });

    it('different prefixes see neither each other’s keys nor channels', async () => {
      const a = await h.open({ prefix: 'tenant-a:' });
      const b = await h.open({ prefix: 'tenant-b:' });
      await a.set('k', 'from-a', LONG_TTL);
      assert.equal(await b.get('k'), undefined);
      assert.equal(await b.existsAny(['k']), false);
      assert.equal(await b.getAndDelete('k'), undefined);
      assert.equal(await b.setIfAbsent('k', 'from-b', LONG_TTL), true);
      assert.equal(await a.get('k'), 'from-a');
      assert.equal(await a.increment('n', LONG_TTL), 1);
      assert.equal(await b.increment('n', LONG_TTL), 1);

      const boxA = inbox();
      const boxB = inbox();
      await a.subscribe('ch', boxA.handler);
      await b.subscribe('ch', boxB.handler);
      await b.publish('ch', 'for-b');
      await a.publish('ch', 'for-a');
      assert.deepEqual(await boxB.until(1), ['for-b']);
      assert.deepEqual(await boxA.until(1), ['for-a']);
      assert.deepEqual(boxB.messages, ['for-b']);
    });

    if (options.shared) {
      it('two instances with one prefix share keys and pub/sub', async () => {
        const a = await h.open({ prefix: 'app:' });
        const b = await h.open({ prefix: 'app:' });
        assert.equal(await a.setIfAbsent('nonce', '1', LONG_TTL), true);
        assert.equal(await b.setIfAbsent('nonce', '2', LONG_TTL), false);
        assert.equal(await b.getAndDelete('nonce'), '1');
        assert.equal(await a.get('nonce'), undefined);

        const boxA = inbox();
        const boxB = inbox();
        await a.subscribe('revoked', boxA.handler);
        await b.subscribe('revoked', boxB.handler);
        await a.publish('revoked', 'user:7');
        assert.deepEqual(await boxB.until(1), ['user:7']);
        assert.deepEqual(await boxA.until(1), ['user:7']);
      });
    }

    it('after close, writes fail closed with unavailable; close is idempotent', async () => {
      const s = await h.open();
      await s.close();
      await assertUnavailable(s.setIfAbsent('k', 'v', LONG_TTL));
      await assertUnavailable(s.increment('k', LONG_TTL));
      await assertUnavailable(s.reserve('k', 1, LONG_TTL));
      await s.close();
    });
  });
}
