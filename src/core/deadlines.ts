/**
 * One shared deadline mechanism for every socket: a binary min-heap of deadlines
 * served by a single timer armed for the earliest one. Adding, cancelling and
 * firing are O(log n); there is never more than one timer, whatever the number of
 * sockets.
 */
import type { Clock, TimerHandle } from './clock.js';

/** A scheduled deadline; pass it to {@link DeadlineQueue.cancel}. */
export interface Deadline {
  /** Epoch milliseconds at which it fires. */
  readonly at: number;
}

interface Entry extends Deadline {
  at: number;
  fn: (arg: never) => void;
  arg: unknown;
  /** Position in the heap, -1 once fired or cancelled. */
  index: number;
}

export interface DeadlineQueue {
  /**
   * Calls `fn(arg)` at epoch time `at` (or on the next tick if already due). Passing
   * a shared `fn` and the object as `arg` avoids a closure per entry.
   */
  schedule<T = undefined>(at: number, fn: (arg: T) => void, arg?: T): Deadline;
  /** Cancels a deadline. Idempotent. */
  cancel(deadline: Deadline | undefined): void;
  /** Number of deadlines waiting. */
  readonly size: number;
  /** Cancels everything and releases the timer. */
  clear(): void;
}

/**
 * Creates a deadline queue on `clock`. `onError` receives anything a callback
 * throws; the queue itself keeps going.
 */
export function createDeadlineQueue(clock: Clock, onError: (err: unknown) => void = () => {}): DeadlineQueue {
  const heap: Entry[] = [];
  let timer: TimerHandle | undefined;
  let timerAt = Number.POSITIVE_INFINITY;

  const swap = (i: number, j: number): void => {
    const a = heap[i] as Entry;
    const b = heap[j] as Entry;
    heap[i] = b;
    heap[j] = a;
    b.index = i;
    a.index = j;
  };
  const up = (i: number): void => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((heap[p] as Entry).at <= (heap[i] as Entry).at) return;
      swap(i, p);
      i = p;
    }
  };
  const down = (i: number): void => {
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && (heap[l] as Entry).at < (heap[m] as Entry).at) m = l;
      if (r < n && (heap[r] as Entry).at < (heap[m] as Entry).at) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  const removeAt = (i: number): Entry => {
    const last = heap.length - 1;
    const e = heap[i] as Entry;
    if (i !== last) {
      swap(i, last);
      heap.pop();
      down(i);
      up(i);
    } else {
      heap.pop();
    }
    e.index = -1;
    return e;
  };

  const arm = (): void => {
    const head = heap[0];
    if (head === undefined) {
      if (timer !== undefined) clock.clearTimer(timer);
      timer = undefined;
      timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (timer !== undefined && timerAt <= head.at) return;
    if (timer !== undefined) clock.clearTimer(timer);
    timerAt = head.at;
    timer = clock.setTimer(fire, Math.max(0, head.at - clock.now()));
  };

  const fire = (): void => {
    timer = undefined;
    timerAt = Number.POSITIVE_INFINITY;
    const now = clock.now();
    // Bounded: only entries due now; callbacks scheduling new due entries run next round.
    let budget = heap.length;
    while (budget-- > 0) {
      const head = heap[0];
      if (head === undefined || head.at > now) break;
      removeAt(0);
      try {
        head.fn(head.arg as never);
      } catch (err) {
        onError(err);
      }
    }
    arm();
  };

  return {
    schedule(at, fn, arg) {
      const e: Entry = { at, fn: fn as (arg: never) => void, arg, index: heap.length };
      heap.push(e);
      up(e.index);
      arm();
      return e;
    },
    cancel(deadline) {
      if (deadline === undefined) return;
      const e = deadline as Entry;
      if (e.index < 0 || heap[e.index] !== e) return;
      removeAt(e.index);
      // Leave the timer armed, even with nothing left: firing with nothing due is
      // cheap and re-arms, while clearing and setting a timer on every handshake
      // (each one schedules a deadline and cancels it a moment later) is not.
    },
    get size() {
      return heap.length;
    },
    clear() {
      for (const e of heap) e.index = -1;
      heap.length = 0;
      arm();
    },
  };
}
