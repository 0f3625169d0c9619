/**
 * The small runtime the client glue shares: an injectable scheduler, exponential
 * backoff and a typed listener set. Nothing here touches a Node or DOM global at
 * module load: timers are looked up on `globalThis` when first used, so the same
 * code runs in browsers, workers and Node.
 */

/** An opaque timer handle returned by {@link Scheduler.setTimer}. */
export type SchedulerHandle = unknown;

/**
 * Time and timers for the client. Structurally identical to the server's `Clock`,
 * so `createManualClock()` (from `portcullis`) can drive a client in tests.
 */
export interface Scheduler {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimer(fn: () => void, ms: number): SchedulerHandle;
  /** Cancels a timer created by {@link Scheduler.setTimer}. */
  clearTimer(handle: SchedulerHandle): void;
}

/** The host timers, looked up on `globalThis` at call time. */
interface TimerGlobals {
  readonly setTimeout: (fn: () => void, ms: number) => unknown;
  readonly clearTimeout: (handle: unknown) => void;
}

/** The host's clock and timers (`Date.now`, `globalThis.setTimeout`), read at call time. */
export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    return (globalThis as unknown as TimerGlobals).setTimeout(fn, Math.max(0, ms));
  },
  clearTimer(handle) {
    (globalThis as unknown as TimerGlobals).clearTimeout(handle);
  },
};

/**
 * Lets a timer handle stop keeping a Node process alive (`unref`), when the host
 * has that notion. A no-op in browsers and with a manual clock.
 */
export function unrefTimer(handle: SchedulerHandle): void {
  const unref = (handle as { unref?: unknown } | null)?.unref;
  if (typeof unref === 'function') unref.call(handle);
}

/** Exponential backoff between reconnection attempts. */
export interface BackoffOptions {
  /** Delay before the first retry, in milliseconds. @default 500 */
  initialMs?: number;
  /** Largest delay, in milliseconds (before honouring a server's `Retry-After`). @default 30000 */
  maxMs?: number;
  /** Multiplier applied to the delay after each failed attempt. @default 2 */
  factor?: number;
  /**
   * Randomisation as a fraction of the delay: each delay is drawn uniformly from
   * `[delay × (1 − jitter), delay]`, so clients refused together do not return together.
   * `0` gives exact delays (tests).
   * @default 0.5
   */
  jitter?: number;
  /** Source of randomness in `[0, 1)`. @default Math.random */
  random?: () => number;
}

/** A backoff sequence: `next()` gives the delay of the next attempt. */
export interface Backoff {
  /** Failed attempts since the last {@link Backoff.reset}. */
  readonly attempts: number;
  /**
   * The delay before the next attempt, in milliseconds, and counts the attempt.
   * `retryAfterSec` (a server's `Retry-After`, in seconds) raises the delay to at least that.
   */
  next(retryAfterSec?: number): number;
  /** Starts over from `initialMs` (after a successful authentication). */
  reset(): void;
}

function finiteAtLeast(name: string, value: number, min: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new TypeError(`portcullis: backoff.${name} must be a finite number >= ${min}`);
  }
  return value;
}

/** Creates a {@link Backoff}. Throws `TypeError` on invalid options. */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initialMs = finiteAtLeast('initialMs', options.initialMs ?? 500, 0);
  const maxMs = finiteAtLeast('maxMs', options.maxMs ?? 30000, 0);
  const factor = finiteAtLeast('factor', options.factor ?? 2, 1);
  const jitter = finiteAtLeast('jitter', options.jitter ?? 0.5, 0);
  if (jitter > 1) throw new TypeError('portcullis: backoff.jitter must be between 0 and 1');
  if (maxMs < initialMs) throw new TypeError('portcullis: backoff.maxMs cannot be less than backoff.initialMs');
  const random = options.random ?? Math.random;
  let attempts = 0;
  return {
    get attempts() {
      return attempts;
    },
    next(retryAfterSec) {
      const base = Math.min(maxMs, initialMs * factor ** attempts);
      attempts++;
      let delay = Math.round(base * (1 - jitter * random()));
      if (typeof retryAfterSec === 'number' && Number.isFinite(retryAfterSec) && retryAfterSec > 0) {
        delay = Math.max(delay, Math.ceil(retryAfterSec * 1000));
      }
      return delay;
    },
    reset() {
      attempts = 0;
    },
  };
}

/** A minimal typed event emitter: listeners per event name, errors contained. */
export interface Listeners<Events extends Record<string, (...args: never[]) => void>> {
  /** Adds `listener`; returns a function that removes it. */
  on<E extends keyof Events>(event: E, listener: Events[E]): () => void;
  /** Removes `listener`. */
  off<E extends keyof Events>(event: E, listener: Events[E]): void;
  /** Calls every listener of `event`; a listener that throws is reported to `onListenerError`. */
  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void;
  /** Removes every listener. */
  clear(): void;
}

/**
 * Creates a {@link Listeners}. A throwing listener never breaks the client: its
 * error goes to `onListenerError` (by default it is rethrown asynchronously).
 */
export function createListeners<Events extends Record<string, (...args: never[]) => void>>(
  onListenerError: (err: unknown) => void = rethrowLater,
): Listeners<Events> {
  const map = new Map<keyof Events, Set<Events[keyof Events]>>();
  return {
    on(event, listener) {
      let set = map.get(event);
      if (set === undefined) {
        set = new Set();
        map.set(event, set);
      }
      set.add(listener);
      return () => this.off(event, listener);
    },
    off(event, listener) {
      map.get(event)?.delete(listener);
    },
    emit(event, ...args) {
      const set = map.get(event);
      if (set === undefined) return;
      for (const listener of [...set]) {
        try {
          (listener as unknown as (...a: unknown[]) => void)(...args);
        } catch (err) {
          onListenerError(err);
        }
      }
    },
    clear() {
      map.clear();
    },
  };
}

/** Rethrows outside the current call stack, as an event target reports a throwing listener. */
function rethrowLater(err: unknown): void {
  systemScheduler.setTimer(() => {
    throw err;
  }, 0);
}
