/**
 * An injectable clock. Everything in portcullis that reads time or schedules work
 * goes through a `Clock`, so tests can drive expiry and deadlines without waiting.
 */

/** An opaque timer handle returned by {@link Clock.setTimer}. */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. Must not keep the process alive. */
  setTimer(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer created by {@link Clock.setTimer}. */
  clearTimer(handle: TimerHandle): void;
}

/** Longest delay `setTimeout` accepts (2³¹−1 ms, about 24.8 days); longer ones would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The wall clock: `Date.now()` and unref'd `setTimeout`. Delays are capped at
 * {@link MAX_TIMER_MS}: a timer for a later deadline fires early and the
 * deadline queue re-arms it.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    t.unref();
    return t;
  },
  clearTimer(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/** A clock that only moves when told to. For tests. */
export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void;
  /** Sets the time (must not go backwards), firing due timers in order. */
  set(epochMs: number): void;
  /** Number of timers not yet fired or cleared. */
  readonly pendingTimers: number;
}

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

/** Creates a {@link ManualClock} starting at `start` (default: `Date.now()`). */
export function createManualClock(start: number = Date.now()): ManualClock {
  let now = start;
  let seq = 0;
  const timers = new Set<ManualTimer>();
  const run = (to: number): void => {
    if (to < now) throw new RangeError('ManualClock cannot go backwards');
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of timers) {
        if (t.at <= to && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (next === undefined) break;
      timers.delete(next);
      now = Math.max(now, next.at);
      next.live = false;
      next.fn();
    }
    now = to;
  };
  return {
    now: () => now,
    setTimer(fn, ms) {
      const t: ManualTimer = { at: now + Math.max(0, ms), seq: seq++, fn, live: true };
      timers.add(t);
      return t;
    },
    clearTimer(handle) {
      const t = handle as ManualTimer;
      t.live = false;
      timers.delete(t);
    },
    advance(ms) {
      run(now + ms);
    },
    set(epochMs) {
      run(epochMs);
    },
    get pendingTimers() {
      return timers.size;
    },
  };
}
