/**
 * The Redis store's calls: the part of ioredis it uses, and one bounded way to
 * run a command. Every failure (an error reply, a closed or reconnecting
 * connection, no reply within `timeoutMs`) becomes `AuthError('unavailable')`.
 */
import { AuthError } from '../../errors.js';

/** The part of ioredis (`Redis` and `Cluster` alike) the store uses. */
export interface Connection {
  readonly status: string;
  readonly isCluster?: boolean;
  readonly options?: { readonly autoResubscribe?: boolean };
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
  connect(): Promise<void>;
  duplicate(override?: { autoResubscribe: boolean }): Connection;
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
}

export const noop = (): void => {};

export const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** An error message for `detail`, without the arguments Redis may echo (keys hold ticket ids). */
export const safeMessage = (err: unknown): string => messageOf(err).replace(/,? with args beginning with:.*$/s, '');

/** The `unavailable` refusal of a Redis failure, `detail` prefixed with `redis: `. */
export const unavailable = (detail: string, cause?: unknown): AuthError =>
  new AuthError('unavailable', cause === undefined ? { detail: `redis: ${detail}` } : { detail: `redis: ${detail}`, cause });

/** Checks that `value` looks like an ioredis connection; throws `TypeError` naming the option otherwise. */
export function asConnection(value: unknown, name: string): Connection {
  const v = value as Partial<Record<'status' | 'call' | 'on' | 'off', unknown>> | null;
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof v.status !== 'string' ||
    typeof v.call !== 'function' ||
    typeof v.on !== 'function' ||
    typeof v.off !== 'function'
  )
    throw new TypeError(`portcullis: ${name} must be an ioredis Redis or Cluster instance`);
  return value as Connection;
}

/** Runs commands within a deadline; once closed, refuses every call at once. */
export interface Caller {
  /** Runs `send` on `conn` within the deadline, mapping every failure to `unavailable`. */
  /**
   * `late`: called with the reply of a command that was sent, whose call had already timed out (the caller was
   * refused `unavailable`, but the server ran the command): lets the operation undo what it did.
   */
  run<T>(op: string, conn: Connection, send: () => Promise<T>, late?: (value: T) => void): Promise<T>;
  /** True once {@link Caller.close} ran. */
  readonly closed: boolean;
  /** Refuses later calls and rejects the ones waiting for a connection. */
  close(): void;
}

/** Creates a {@link Caller} whose calls settle within `timeoutMs` (ms). */
export function createCaller(timeoutMs: number): Caller {
  const waiters = new Map<Connection, { promise: Promise<void>; cancel: () => void }>();
  let closed = false;

  /** One shared wait for `ready` per connection (not one listener per call). */
  const whenReady = (conn: Connection): Promise<void> => {
    const existing = waiters.get(conn);
    if (existing !== undefined) return existing.promise;
    let cancel = noop;
    const promise = new Promise<void>((resolve, reject) => {
      const off = (): void => {
        waiters.delete(conn);
        conn.off('ready', onReady);
        conn.off('close', onClose);
        conn.off('end', onClose);
      };
      const onReady = (): void => {
        off();
        resolve();
      };
      const onClose = (): void => {
        off();
        reject(new Error('connection closed while connecting'));
      };
      cancel = () => {
        off();
        reject(new Error('store closed'));
      };
      conn.on('ready', onReady);
      conn.on('close', onClose);
      conn.on('end', onClose);
    });
    waiters.set(conn, { promise, cancel });
    if (conn.status === 'wait') conn.connect().catch(noop);
    return promise;
  };

  const run = <T>(op: string, conn: Connection, send: () => Promise<T>, late?: (value: T) => void): Promise<T> => {
    if (closed) return Promise.reject(unavailable('store closed'));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(unavailable(`${op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const ok = (value: T): void => {
        if (settled) {
          late?.(value);
          return;
        }
        settled = true;
        clearTimeout(timer);
        resolve(value);
      };
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err instanceof AuthError ? err : unavailable(`${op} failed: ${safeMessage(err)}`, err));
      };
      const go = (): void => {
        // The caller gave up while the connection was not ready: the command is not sent at all.
        if (settled) return;
        try {
          send().then(ok, fail);
        } catch (err) {
          fail(err);
        }
      };
      switch (conn.status) {
        case 'ready':
          go();
          break;
        case 'wait':
        case 'connecting':
        case 'connect':
          whenReady(conn).then(go, fail);
          break;
        default:
          fail(unavailable(`${op} refused: connection ${conn.status}`));
      }
    });
  };

  return {
    run,
    get closed() {
      return closed;
    },
    close() {
      closed = true;
      for (const waiter of [...waiters.values()]) waiter.cancel();
    },
  };
}

/** Quits a connection the store owns (gracefully when ready) and waits, at most `timeoutMs`, for it to end. */
export async function shutdown(conn: Connection, timeoutMs: number): Promise<void> {
  if (conn.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  let onEnd = noop;
  const ended = new Promise<boolean>((resolve) => {
    onEnd = () => resolve(true);
    conn.on('end', onEnd);
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  if (conn.status === 'ready') conn.quit().catch(() => conn.disconnect());
  else conn.disconnect();
  const clean = await ended;
  clearTimeout(timer);
  conn.off('end', onEnd);
  if (!clean) conn.disconnect();
}
