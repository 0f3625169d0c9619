/** True for a promise or any object with a `then` method (what `await` would wait for). */
export function isThenable<T = unknown>(value: unknown): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<T>).then === 'function';
}

/**
 * Runs `fn` and hands its outcome to `done`: at once when `fn` answers at once, when
 * its promise settles otherwise. Whatever `fn` throws or rejects with, and whatever
 * `done` throws, goes to `failed`, never up the caller's stack or to an unhandled
 * rejection. Returns true when the outcome is still to come.
 */
export function whenSettled<T>(fn: () => T | Promise<T>, done: (value: T) => void, failed: (err: unknown) => void): boolean {
  let outcome: T | Promise<T>;
  try {
    outcome = fn();
    if (!(outcome instanceof Promise)) {
      done(outcome);
      return false;
    }
  } catch (err) {
    failed(err);
    return false;
  }
  outcome.then(done).then(undefined, failed);
  return true;
}
