/** True for a promise or any object with a `then` method (what `await` would wait for). */
export function isThenable<T = unknown>(value: unknown): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<T>).then === 'function';
}
