/**
 * The pending budget: how many connections may wait for their verdict at once,
 * in the whole guard and per client IP, each under its auth deadline. A
 * connection decided in the tick it opened never waits, so it never touches
 * this bookkeeping.
 */
import { AuthError } from '../errors.js';
import type { Connection } from './connection.js';
import type { DeadlineQueue } from './deadlines.js';
import type { ResolvedGuardOptions } from './options.js';

export interface PendingBudget {
  /** Throws `rate_limited` when no connection from `key` (an {@link ipKey}) may wait now. */
  check(key: string): void;
  /** Counts a pending connection and starts its auth deadline, once. */
  hold(conn: Connection): void;
  /** Gives back the slot of a connection that stopped waiting (verdict, close). */
  leave(conn: Connection): void;
  /**
   * Counts a transport connection from `key` that has not made its first attempt yet
   * (an Engine.IO connection before its first CONNECT): it holds a slot like a pending
   * socket, so idle connections are bounded per IP too. The caller gives it back once,
   * with {@link releaseIdle}.
   */
  holdIdle(key: string): void;
  /** Gives back a slot taken with {@link holdIdle}. */
  releaseIdle(key: string): void;
  /** Connections waiting now. */
  readonly count: number;
}

/** Creates the budget; `timedOut` runs when a held connection's deadline passes. */
export function createPendingBudget(
  opts: Pick<ResolvedGuardOptions, 'maxPending' | 'maxPendingPerIp' | 'timeoutMs'>,
  deadlines: DeadlineQueue,
  timedOut: (conn: Connection) => void,
): PendingBudget {
  const byIp = new Map<string, number>();
  let count = 0;
  const take = (key: string): void => {
    count++;
    byIp.set(key, (byIp.get(key) ?? 0) + 1);
  };
  const give = (key: string): void => {
    count--;
    const n = (byIp.get(key) ?? 1) - 1;
    if (n <= 0) byIp.delete(key);
    else byIp.set(key, n);
  };
  return {
    check(key) {
      if (count >= opts.maxPending) throw new AuthError('rate_limited', { detail: 'pending budget (global)', retryAfter: 1 });
      if ((byIp.get(key) ?? 0) >= opts.maxPendingPerIp) {
        throw new AuthError('rate_limited', { detail: 'pending budget (per IP)', retryAfter: 1 });
      }
    },
    hold(conn) {
      if (conn.held || !conn.pending) return;
      conn.held = true;
      take(conn.ipKey);
      if (opts.timeoutMs !== false) conn.deadline = deadlines.schedule(conn.openedAt + opts.timeoutMs, timedOut, conn);
    },
    leave(conn) {
      if (!conn.held) return;
      conn.held = false;
      deadlines.cancel(conn.deadline);
      conn.deadline = undefined;
      give(conn.ipKey);
    },
    holdIdle: take,
    releaseIdle: give,
    get count() {
      return count;
    },
  };
}
