/**
 * Waiting for events with a deadline, never sleeping.
 */

// biome-ignore lint/suspicious/noExplicitAny: listeners of every emitter flavour (node, socket.io, ws)
type AnyListener = (...args: any[]) => void;

interface Listenable {
  once(event: string, listener: AnyListener): unknown;
  off?(event: string, listener: AnyListener): unknown;
  removeListener?(event: string, listener: AnyListener): unknown;
}

/** Resolves with the first argument(s) of `event`, or rejects after `timeoutMs`. */
export function waitForEvent<T = unknown>(emitter: Listenable, event: string, timeoutMs = 2000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const listener = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve((args.length <= 1 ? args[0] : args) as T);
    };
    const timer = setTimeout(() => {
      (emitter.off ?? emitter.removeListener)?.call(emitter, event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`));
    }, timeoutMs);
    emitter.once(event, listener);
  });
}

/** Polls `predicate` on every macrotask turn until it holds, or rejects after `timeoutMs`. */
export async function waitUntil(predicate: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Rejects if `promise` has not settled within `timeoutMs`. */
export function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    }),
  ]);
}

/** Collects every emission of `event` into an array. */
export function collect<T = unknown>(emitter: { on(event: string, listener: (arg: T) => void): unknown }, event: string): T[] {
  const out: T[] = [];
  emitter.on(event, (arg: T) => out.push(arg));
  return out;
}

/** A promise the test opens by hand: a strategy awaits `gate.opened`, the test calls `gate.open()`. */
export interface Gate {
  readonly opened: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}
