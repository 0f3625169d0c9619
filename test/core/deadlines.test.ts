import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Clock, createManualClock, MAX_TIMER_MS, systemClock } from '../../src/core/clock.js';
import { createDeadlineQueue } from '../../src/core/deadlines.js';

/** A manual clock that counts live timers, to prove there is only ever one. */
function countingClock() {
  const inner = createManualClock(0);
  let live = 0;
  let maxLive = 0;
  const clock: Clock & { advance(ms: number): void } = {
    now: inner.now,
    setTimer(fn, ms) {
      live++;
      maxLive = Math.max(maxLive, live);
      return inner.setTimer(() => {
        live--;
        fn();
      }, ms);
    },
    clearTimer(h) {
      if (inner.pendingTimers > 0) live = Math.max(0, live - 1);
      inner.clearTimer(h);
    },
    advance: (ms) => inner.advance(ms),
  };
  return { clock, stats: () => ({ live, maxLive }) };
}

describe('deadline queue', () => {
  it('fires in deadline order with one timer for any number of entries', () => {
    const { clock, stats } = countingClock();
    const q = createDeadlineQueue(clock);
    const fired: number[] = [];
    const order = Array.from({ length: 500 }, (_, i) => (i * 7919) % 500);
    for (const at of order) q.schedule(at + 1, () => fired.push(at + 1));
    assert.equal(q.size, 500);
    clock.advance(1000);
    assert.deepEqual(
      fired,
      [...order].sort((a, b) => a - b).map((x) => x + 1),
    );
    assert.equal(q.size, 0);
    assert.equal(stats().maxLive, 1);
  });

  it('cancels entries and releases the timer when empty', () => {
    const clock = createManualClock(0);
    const q = createDeadlineQueue(clock);
    const fired: string[] = [];
    const a = q.schedule(10, () => fired.push('a'));
    const b = q.schedule(20, () => fired.push('b'));
    q.schedule(30, () => fired.push('c'));
    q.cancel(b);
    q.cancel(b);
    clock.advance(15);
    q.cancel(a);
    clock.advance(100);
    assert.deepEqual(fired, ['a', 'c']);
    assert.equal(q.size, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  it('keeps going when a callback throws, and reports the error', () => {
    const clock = createManualClock(0);
    const errors: unknown[] = [];
    const q = createDeadlineQueue(clock, (e) => errors.push(e));
    const fired: number[] = [];
    q.schedule(1, () => {
      throw new Error('boom');
    });
    q.schedule(2, () => fired.push(2));
    clock.advance(5);
    assert.equal(errors.length, 1);
    assert.deepEqual(fired, [2]);
  });

  it('runs entries scheduled from a callback, and clear() drops everything', () => {
    const clock = createManualClock(0);
    const q = createDeadlineQueue(clock);
    const fired: number[] = [];
    q.schedule(1, () => q.schedule(clock.now(), () => fired.push(1)));
    clock.advance(1);
    clock.advance(0);
    assert.deepEqual(fired, [1]);
    q.schedule(10, () => fired.push(10));
    q.clear();
    clock.advance(100);
    assert.deepEqual(fired, [1]);
    assert.equal(clock.pendingTimers, 0);
  });

  it('caps timer delays past 24.8 days instead of firing at once', () => {
    let armed = -1;
    const clock: Clock = {
      now: () => 0,
      setTimer: (_fn, ms) => {
        armed = Math.min(ms, MAX_TIMER_MS);
        return systemClock.setTimer(() => {}, 0);
      },
      clearTimer: (h) => systemClock.clearTimer(h),
    };
    const q = createDeadlineQueue(clock);
    q.schedule(40 * 86_400_000, () => {});
    assert.equal(armed, MAX_TIMER_MS);
    q.clear();
  });
});
