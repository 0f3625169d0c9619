/**
 * Running one policy: synchronous policies are answered in the same tick with
 * nothing allocated; a policy that returns a promise is raced against a timeout on
 * the injected clock. Anything but `true` denies: `false`, a throw, a rejection,
 * a timeout, a non-boolean answer (fail closed).
 */
import type { Clock } from '../core/clock.js';
import { isThenable } from '../core/thenable.js';

/** How a policy answered. `allow` is the only outcome that lets anything through. */
export const Outcome = {
  Allow: 'allow',
  /** The policy answered `false` (or anything but `true`). */
  Deny: 'deny',
  /** The policy threw or its promise rejected. */
  Error: 'error',
  /** The policy's promise did not settle within the timeout. */
  Timeout: 'timeout',
  /** No rule matched the name. */
  NoRule: 'no_rule',
  /** The event rate of the socket was exceeded. */
  Rate: 'rate',
  /** A cap (rooms per socket, connections per principal or address) was reached. */
  Cap: 'cap',
  /** The grant was missing, malformed, for another connection or channel, or expired. */
  Grant: 'grant',
  /** The request itself was malformed (bad room name). */
  Invalid: 'invalid',
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** What a policy may return. */
export type PolicyAnswer = boolean | PromiseLike<boolean>;

/**
 * Calls `policy(context)` and maps its answer to an outcome. Returns a string at
 * once for a synchronous answer, else a promise that always resolves (never rejects).
 */
export function decide<C>(
  policy: (context: C) => PolicyAnswer,
  context: C,
  timeoutMs: number,
  clock: Clock,
  onError: (err: unknown) => void,
): Outcome | Promise<Outcome> {
  let answer: PolicyAnswer;
  try {
    answer = policy(context);
  } catch (err) {
    onError(err);
    return Outcome.Error;
  }
  if (!isThenable(answer)) return answer === true ? Outcome.Allow : Outcome.Deny;
  return new Promise<Outcome>((resolve) => {
    const timer = clock.setTimer(() => resolve(Outcome.Timeout), timeoutMs);
    Promise.resolve(answer).then(
      (value) => {
        clock.clearTimer(timer);
        resolve(value === true ? Outcome.Allow : Outcome.Deny);
      },
      (err: unknown) => {
        clock.clearTimer(timer);
        onError(err);
        resolve(Outcome.Error);
      },
    );
  });
}

/** A token bucket's state, kept on the object it limits (no allocation per event). */
export interface BucketState {
  tokens: number;
  /** Epoch ms of the last refill. */
  refilledAt: number;
}

/**
 * Takes one token from `state` (refilled at `perSecond`, holding at most `burst`).
 * False when the bucket is empty.
 */
export function takeToken(state: BucketState, now: number, perSecond: number, burst: number): boolean {
  const elapsed = now - state.refilledAt;
  if (elapsed > 0) {
    state.tokens = Math.min(burst, state.tokens + (elapsed * perSecond) / 1000);
    state.refilledAt = now;
  }
  if (state.tokens < 1) return false;
  state.tokens -= 1;
  return true;
}
