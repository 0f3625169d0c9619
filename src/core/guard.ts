/**
 * The guard: the transport-agnostic heart of portcullis. It owns every
 * connection's state and assembles the parts a reader finds in their own files:
 * the pending budget (`pending-budget.ts`), verification (`verification.ts`), the
 * principal index (`principal-index.ts`), audit (`audit.ts`), revocation wiring
 * (`revocation.ts`), attempts per transport connection (`transport-attempts.ts`),
 * and the shared deadline queue (auth deadlines, expiry warnings, expiry).
 * Admission of new connections (`admission.ts`) is built on top of it.
 *
 * Adapters create one guard per Socket.IO namespace or `ws` path.
 */
import { AuthError, isAuthError } from '../errors.js';
import { createMemoryStore } from '../stores/memory.js';
import type { RejectedAt } from './audit.js';
import { createAudit } from './audit.js';
import type { Clock } from './clock.js';
import type { ConnectionDriver, ConnectionInit } from './connection.js';
import { Connection } from './connection.js';
import { createDeadlineQueue } from './deadlines.js';
import type { AuditEvent, CloseReason, ConnectionInfo } from './hooks.js';
import { ipKey } from './ip.js';
import { createRateLimiter } from './limits.js';
import { describeError } from './logger.js';
import type { GuardOptions, ResolvedGuardOptions } from './options.js';
import { resolveGuardOptions } from './options.js';
import { createPendingBudget } from './pending-budget.js';
import { createPrincipalIndex } from './principal-index.js';
import type { RevocationStatus, Revocations, RevokeTarget } from './revocation.js';
import { checkTarget, closeRevoked, createRevocations } from './revocation.js';
import type { ConnectionState } from './state-machine.js';
import type { TransportAttempts } from './transport-attempts.js';
import { createTransportAttempts } from './transport-attempts.js';
import type { AuthContext, AuthPhase, Principal, Store } from './types.js';
import type { Verified } from './verification.js';
import { createVerifier } from './verification.js';

export type { RevocationStatus, RevokeTarget } from './revocation.js';
export type { Verified } from './verification.js';

/** Live counts. */
export interface GuardStats {
  readonly pending: number;
  readonly authenticated: number;
}

/** The public face of a guard. */
export interface Guard {
  readonly options: ResolvedGuardOptions;
  readonly store: Store;
  readonly clock: Clock;
  /** Verifies raw credentials (sanitised first) through the strategies. Throws `AuthError`. */
  verify(raw: unknown, context: AuthContext): Promise<Verified>;
  /**
   * @internal Opens a pending connection (checking the pending budget), or throws
   * `rate_limited`. Used by `admission.ts`, which decides in the same tick when it
   * can: with `deferHold` the connection is counted and given its deadline only
   * once it has to wait (`conn.hold()`). Adapters call the admission, not this.
   */
  open(init: ConnectionInit, driver: ConnectionDriver, deferHold?: boolean): Connection;
  /** Checks the pending budget for `ip` without opening anything. Throws `rate_limited`. */
  checkPendingBudget(ip: string): void;
  /**
   * @internal Counts a transport connection from `ip` that has made no attempt yet (an
   * Engine.IO connection before its first CONNECT) against the pending budget. Returns the
   * key to give back, once, with `releaseIdle`.
   */
  holdIdle(ip: string): string;
  /** @internal Gives back a slot taken with `holdIdle`. */
  releaseIdle(key: string): void;
  /**
   * @internal Counts a new connection attempt from `ip` against the handshake rate and checks
   * the pending budget (the admission's preflight and `admit` call it). Throws (or rejects with)
   * `rate_limited`, or `unavailable` when the store is down. `pendingBudget: false` skips the budget
   * check, for a caller that already opened the connection (which checked it).
   * Returns `undefined` when everything was decided at once (an in-process store),
   * a promise when the store answers later.
   */
  admit(ip: string, options?: { pendingBudget?: boolean }): Promise<void> | undefined;
  /** Closes every local connection matching `target` with `revoked`. Returns how many closed. */
  revokeLocal(target: RevokeTarget): number;
  /**
   * Revokes on every node: records the revocation in the store (refusing the same
   * credentials for `ttlMs`), publishes it, and closes local matches at once.
   * Resolves how many local sockets closed.
   */
  revoke(target: RevokeTarget, options?: { ttlMs?: number }): Promise<number>;
  /** True when a revocation covers `principal` (store lookup). */
  isRevoked(principal: Principal): Promise<boolean>;
  /**
   * Resolves the first time the guard listens for cluster revocations (as late as
   * the store is unreachable), or when the guard is closed first. Never rejects.
   */
  readonly ready: Promise<void>;
  /** Whether this guard hears revocations made on other nodes now (`off` once closed or with `revocation: false`). */
  readonly revocationStatus: RevocationStatus;
  /** Reports a refusal that happened before any connection existed (upgrade, handshake). */
  rejected(error: AuthError, where: RejectedAt): void;
  /** @internal Attempts per transport connection (see `maxAttemptsPerTransport`). */
  readonly attempts: TransportAttempts;
  /** Live connections. */
  connections(): IterableIterator<ConnectionInfo>;
  readonly stats: GuardStats;
  /** Stops timers; closes the store only when the guard created it. */
  close(): Promise<void>;
}

/** What a {@link Connection} needs from its guard (not part of the public API; exported for the declarations). */
export interface GuardInternals {
  readonly options: ResolvedGuardOptions;
  readonly store: Store;
  readonly clock: Clock;
  /** Verifies; answers at once when every step does (see `verifyNow` in `createGuard`). Throws `AuthError`. */
  verify(raw: unknown, context: AuthContext): Verified | Promise<Verified>;
  /** Runs the `onAuthenticated` hook; `undefined` (nothing to wait for) when there is none. */
  runAuthenticatedHook(conn: Connection, principal: Principal, refreshed: boolean): Promise<void> | undefined;
  /** Counts a pending connection against the budget and starts its deadline, once. */
  hold(conn: Connection): void;
  /** Indexes the (new) principal and schedules its expiry warning and expiry. */
  activate(conn: Connection): void;
  onTransition(conn: Connection, from: ConnectionState, to: ConnectionState): void;
  onClosed(conn: Connection, reason: CloseReason): void;
  reportRejected(conn: Connection, error: AuthError, phase: AuthPhase, latencyMs: number): void;
  audit(event: AuditEvent): void;
  /** False when no logger and no `onAudit` hook would see an audit event (callers skip building it). */
  readonly auditing: boolean;
  /** True when a revocation seen in the last minute covers `principal`. */
  recentlyRevoked(principal: Principal): boolean;
  /** Attempts per transport connection. */
  readonly attempts: TransportAttempts;
}

/** Creates a guard. Throws `TypeError` on inconsistent options. */
export function createGuard(options: GuardOptions): Guard {
  const opts = resolveGuardOptions(options);
  const ownsStore = options.store === undefined;
  const store = options.store ?? createMemoryStore({ clock: opts.clock });
  const { clock, logger, hooks } = opts;
  const deadlines = createDeadlineQueue(clock, (err) => logger.error(describeError(err), 'portcullis: deadline callback threw'));
  const live = new Map<string, Connection>();
  let authenticatedCount = 0;
  const principals = createPrincipalIndex();
  const { audit, auditing, rejected, safeHook } = createAudit(logger, hooks, clock);
  const budget = createPendingBudget(opts, deadlines, timeoutConnection);
  const attempts = createTransportAttempts(opts.maxAttemptsPerTransport);
  const limiter = createRateLimiter(store, opts.rateLimits, opts.strategies, logger);
  const revocations: Revocations | undefined =
    opts.revocation === false
      ? undefined
      : createRevocations(
          store,
          clock,
          logger,
          opts.revocation,
          (target) => revokeLocal(target),
          // Back to listening, and periodically: close what was revoked elsewhere without this node hearing of it.
          () => (revocations === undefined || live.size === 0 ? Promise.resolve() : closeRevoked(revocations, live.values(), logger)),
        );

  const verifier = createVerifier(opts, limiter, revocations, clock);

  const internals: GuardInternals = {
    options: opts,
    store,
    clock,
    verify: verifier.verify,
    hold: budget.hold,
    runAuthenticatedHook(conn, principal, refreshed) {
      const hook = hooks.onAuthenticated;
      if (hook === undefined) return undefined;
      const view: ConnectionInfo = { ...snapshot(conn), principal };
      return (async () => {
        try {
          await hook(view, principal, refreshed);
        } catch (err) {
          if (isAuthError(err)) throw err;
          throw new AuthError('internal_error', { cause: err, detail: 'onAuthenticated hook threw' });
        }
      })();
    },
    activate(conn) {
      principals.add(conn);
      deadlines.cancel(conn.deadline);
      conn.deadline = undefined;
      const at = conn.principal?.expiresAt;
      if (at === undefined) return;
      // One deadline per connection at a time: the warning, which then schedules the expiry.
      conn.deadline =
        opts.expiringLeadMs > 0
          ? deadlines.schedule(Math.max(at - opts.expiringLeadMs, clock.now()), warnConnection, conn)
          : deadlines.schedule(at, expireConnection, conn);
    },
    onTransition(conn, from, to) {
      if (from === 'pending' && to !== 'pending') budget.leave(conn);
      if (from === 'authenticated' && to !== 'authenticated') {
        authenticatedCount--;
        principals.remove(conn);
        deadlines.cancel(conn.deadline);
        conn.deadline = undefined;
      }
      if (to === 'authenticated') {
        if (from !== 'authenticated') authenticatedCount++;
        else principals.remove(conn);
      }
      if (!auditing) return;
      if (to === 'expired') audit({ type: 'expired', at: clock.now(), connection: conn });
      if (to === 'revoked') audit({ type: 'revoked', at: clock.now(), connection: conn });
    },
    onClosed(conn, reason) {
      live.delete(conn.id);
      if (auditing) audit({ type: 'closed', at: clock.now(), connection: conn, reason });
      if (hooks.onClose !== undefined) safeHook('onClose', () => hooks.onClose?.(snapshot(conn), reason));
    },
    reportRejected(conn, error, phase, latencyMs) {
      rejected(error, { phase, transport: conn.transport, namespace: conn.namespace, ip: conn.ip, connectionId: conn.id, latencyMs });
    },
    audit,
    auditing,
    recentlyRevoked: (principal) => revocations?.recentlyRevoked(principal) === true,
    attempts,
  };

  // Shared deadline callbacks: the connection travels as the argument, no closure per socket.
  function warnConnection(conn: Connection): void {
    const at = conn.principal?.expiresAt;
    conn.deadline = at === undefined ? undefined : deadlines.schedule(at, expireConnection, conn);
    conn.warn();
  }
  function expireConnection(conn: Connection): void {
    conn.terminate(new AuthError('token_expired', { detail: 'expired while connected' }));
  }
  function timeoutConnection(conn: Connection): void {
    if (!conn.pending) return;
    if (auditing) audit({ type: 'timeout', at: clock.now(), connection: conn });
    conn.terminate(new AuthError('auth_timeout'));
  }

  function snapshot(conn: Connection): ConnectionInfo {
    return {
      id: conn.id,
      transport: conn.transport,
      namespace: conn.namespace,
      ip: conn.ip,
      state: conn.state,
      principal: conn.principal,
      socket: conn.socket,
      openedAt: conn.openedAt,
    };
  }

  function revokeLocal(target: RevokeTarget): number {
    const matches = principals.matching(target);
    for (const c of matches) c.terminate(new AuthError('revoked', { detail: 'revoked while connected' }));
    return matches.length;
  }

  return {
    options: opts,
    store,
    clock,
    async verify(raw: unknown, context: AuthContext): Promise<Verified> {
      return verifier.verify(raw, context);
    },
    open(init, driver, deferHold = false) {
      const key = ipKey(init.ip);
      budget.check(key);
      const conn = new Connection(internals, init, driver, key);
      live.set(conn.id, conn);
      if (!deferHold) budget.hold(conn);
      return conn;
    },
    checkPendingBudget(ip) {
      budget.check(ipKey(ip));
    },
    holdIdle(ip) {
      const key = ipKey(ip);
      budget.holdIdle(key);
      return key;
    },
    releaseIdle: budget.releaseIdle,
    admit(ip, admitOptions) {
      if (admitOptions?.pendingBudget !== false) budget.check(ipKey(ip));
      return limiter.enabled ? limiter.handshake(ip) : undefined;
    },
    revokeLocal,
    async revoke(target, options = {}) {
      checkTarget(target);
      const closed = revokeLocal(target);
      await revocations?.revoke(target, options.ttlMs);
      return closed;
    },
    async isRevoked(principal) {
      return verifier.revoked(principal);
    },
    ready: revocations === undefined ? Promise.resolve() : revocations.ready,
    get revocationStatus() {
      return revocations === undefined ? 'off' : revocations.status;
    },
    rejected,
    attempts,
    connections() {
      return live.values();
    },
    get stats() {
      return { pending: budget.count, authenticated: authenticatedCount };
    },
    async close() {
      deadlines.clear();
      await revocations?.close();
      if (ownsStore) await store.close();
    },
  };
}
