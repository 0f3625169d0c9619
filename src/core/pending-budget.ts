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
      count++;
      byIp.set(conn.ipKey, (byIp.get(conn.ipKey) ?? 0) + 1);
      if (opts.timeoutMs !== false) conn.deadline = deadlines.schedule(conn.openedAt + opts.timeoutMs, timedOut, conn);
    },
    leave(conn) {
      if (!conn.held) return;
      conn.held = false;
      deadlines.cancel(conn.deadline);
      conn.deadline = undefined;
      count--;
      const n = (byIp.get(conn.ipKey) ?? 1) - 1;
      if (n <= 0) byIp.delete(conn.ipKey);
      else byIp.set(conn.ipKey, n);
    },
    get count() {
      return count;
    },
  };
}
