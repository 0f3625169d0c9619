/**
 * The guard: the transport-agnostic heart of portcullis. It verifies credentials
 * through the strategies, owns every connection's state, the shared deadline
 * queue (auth deadlines, expiry warnings, expiry), the pending budget, the
 * principal index used by revocation, hooks, audit and logging.
 *
 * Adapters create one guard per Socket.IO namespace or `ws` path.
 */
import { AuthError, isAuthError, toAuthError } from '../errors.js';
import { createMemoryStore } from '../stores/memory.js';
import type { Clock } from './clock.js';
import type { ConnectionDriver, ConnectionInit } from './connection.js';
import { Connection } from './connection.js';
import type { DeadlineQueue } from './deadlines.js';
import { createDeadlineQueue } from './deadlines.js';
import type { AuditEvent, CloseReason, ConnectionInfo } from './hooks.js';
import { ipKey } from './ip.js';
import type { RateLimiter } from './limits.js';
import { countsAsFailure, createRateLimiter } from './limits.js';
import { describeError, scrubError, silentLogger } from './logger.js';
import type { GuardOptions, ResolvedGuardOptions } from './options.js';
import { resolveGuardOptions } from './options.js';
import type { RevocationStatus, Revocations, RevokeTarget } from './revocation.js';
import { checkTarget, closeRevoked, createRevocations } from './revocation.js';
import { sanitizeCredentials } from './sanitize.js';
import type { ConnectionState } from './state-machine.js';
import { isThenable } from './thenable.js';
import type { AuthContext, AuthPhase, Credentials, Principal, Store, Strategy, Transport } from './types.js';

export type { RevocationStatus, RevokeTarget } from './revocation.js';

/** Live counts. */
export interface GuardStats {
  readonly pending: number;
  readonly authenticated: number;
}

/** The outcome of a verification. */
export interface Verified {
  readonly principal: Principal;
  /** The name of the strategy that admitted the credentials. */
  readonly strategy: string;
}

/** The public face of a guard. */
export interface Guard {
  readonly options: ResolvedGuardOptions;
  readonly store: Store;
  readonly clock: Clock;
  /** Verifies raw credentials (sanitised first) through the strategies. Throws `AuthError`. */
  verify(raw: unknown, context: AuthContext): Promise<Verified>;
  /**
   * Opens a pending connection (counting it against the pending budget and starting
   * its deadline), or throws `rate_limited` when the pending budget is spent.
   *
   * With `deferHold`, the connection is only counted and given a deadline once it
   * has to wait: its verification goes asynchronous, or the caller calls
   * `conn.hold()` (which it must do, in the same tick, whenever its attempt to
   * decide at once left the connection pending). A connection decided in the tick
   * it opened never waits, so it never touches the pending bookkeeping.
   */
  open(init: ConnectionInit, driver: ConnectionDriver, deferHold?: boolean): Connection;
  /** Checks the pending budget for `ip` without opening anything. Throws `rate_limited`. */
  checkPendingBudget(ip: string): void;
  /**
   * Counts a new connection attempt from `ip` against the handshake rate and checks
   * the pending budget; call it before the upgrade. Throws (or rejects with)
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
  rejected(
    error: AuthError,
    where: { phase: AuthPhase | 'upgrade'; transport: Transport; namespace: string; ip: string; connectionId?: string; latencyMs?: number },
  ): void;
  /** Live connections. */
  connections(): IterableIterator<ConnectionInfo>;
  readonly stats: GuardStats;
  /** Stops timers; closes the store only when the guard created it. */
  close(): Promise<void>;
}

/** @internal What a {@link Connection} needs from its guard. */
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
}

/**
 * Principal index: a key maps to its one connection, or to a set once a second
 * connection shares it (most users have one socket: no `Set` per socket).
 */
type Index = Map<string, Connection | Set<Connection>>;

function addToIndex(index: Index, key: string | undefined, conn: Connection): void {
  if (key === undefined) return;
  const entry = index.get(key);
  if (entry === undefined) index.set(key, conn);
  else if (entry instanceof Set) entry.add(conn);
  else if (entry !== conn) index.set(key, new Set([entry, conn]));
}

function removeFromIndex(index: Index, key: string | undefined, conn: Connection): void {
  if (key === undefined) return;
  const entry = index.get(key);
  if (entry === conn) index.delete(key);
  else if (entry instanceof Set) {
    entry.delete(conn);
    if (entry.size === 1) index.set(key, entry.values().next().value as Connection);
  }
}

function lookup(index: Index, key: string | undefined): Connection[] {
  if (key === undefined) return [];
  const entry = index.get(key);
  return entry === undefined ? [] : entry instanceof Set ? [...entry] : [entry];
}

/** Creates a guard. Throws `TypeError` on inconsistent options. */
export function createGuard(options: GuardOptions): Guard {
  const opts = resolveGuardOptions(options);
  const ownsStore = options.store === undefined;
  const store = options.store ?? createMemoryStore({ clock: opts.clock });
  const { clock, logger, hooks } = opts;
  const deadlines: DeadlineQueue = createDeadlineQueue(clock, (err) =>
    logger.error(describeError(err), 'portcullis: deadline callback threw'),
  );
  const live = new Map<string, Connection>();
  const pendingByIp = new Map<string, number>();
  let pendingCount = 0;
  let authenticatedCount = 0;
  const byUser: Index = new Map();
  const bySession: Index = new Map();
  const byToken: Index = new Map();
  const limiter: RateLimiter = createRateLimiter(store, opts.rateLimits);
  const revocations: Revocations | undefined =
    opts.revocation === false
      ? undefined
      : createRevocations(
          store,
          clock,
          logger,
          opts.revocation,
          (target) => revokeLocal(target),
          () => {
            // Back to listening: close what was revoked elsewhere while this node was deaf.
            if (revocations !== undefined && live.size > 0) void closeRevoked(revocations, [...live.values()], logger);
          },
        );

  const safeHook = (name: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      logger.error({ hook: name, ...describeError(err) }, 'portcullis: hook threw');
    }
  };

  const logs = logger !== silentLogger;
  const auditing = logs || hooks.onAudit !== undefined;
  const audit = (event: AuditEvent): void => {
    const { type } = event;
    if (!logs) {
      // nothing to build for the silent logger
    } else if (type === 'rejected') {
      logger.info(
        {
          event: type,
          code: event.code,
          detail: event.detail,
          phase: event.phase,
          transport: event.transport,
          namespace: event.namespace,
          ip: event.ip,
          connectionId: event.connectionId,
        },
        'portcullis: rejected',
      );
    } else {
      const c = event.connection;
      logger.debug(
        { event: type, connectionId: c.id, transport: c.transport, namespace: c.namespace, ip: c.ip, principal: c.principal?.id },
        `portcullis: ${type}`,
      );
    }
    if (hooks.onAudit !== undefined) safeHook('onAudit', () => hooks.onAudit?.(event));
  };

  const index = (conn: Connection, add: boolean): void => {
    const p = conn.principal;
    if (p === undefined) return;
    const op = add ? addToIndex : removeFromIndex;
    op(byUser, p.id, conn);
    op(bySession, p.sessionId, conn);
    op(byToken, p.tokenId, conn);
  };

  const hold = (conn: Connection): void => {
    if (conn.held || !conn.pending) return;
    conn.held = true;
    pendingCount++;
    pendingByIp.set(conn.ipKey, (pendingByIp.get(conn.ipKey) ?? 0) + 1);
    if (opts.timeoutMs !== false) conn.deadline = deadlines.schedule(conn.openedAt + opts.timeoutMs, timeoutConnection, conn);
  };

  const leavePending = (conn: Connection): void => {
    if (!conn.held) return;
    conn.held = false;
    deadlines.cancel(conn.deadline);
    conn.deadline = undefined;
    pendingCount--;
    const n = (pendingByIp.get(conn.ipKey) ?? 1) - 1;
    if (n <= 0) pendingByIp.delete(conn.ipKey);
    else pendingByIp.set(conn.ipKey, n);
  };

  const internals: GuardInternals = {
    options: opts,
    store,
    clock,
    verify: verifyNow,
    hold,
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
      index(conn, true);
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
      if (from === 'pending' && to !== 'pending') leavePending(conn);
      if (from === 'authenticated' && to !== 'authenticated') {
        authenticatedCount--;
        index(conn, false);
        deadlines.cancel(conn.deadline);
        conn.deadline = undefined;
      }
      if (to === 'authenticated') {
        if (from !== 'authenticated') authenticatedCount++;
        else index(conn, false);
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
      reject(error, { phase, transport: conn.transport, namespace: conn.namespace, ip: conn.ip, connectionId: conn.id, latencyMs });
    },
    audit,
    auditing,
    recentlyRevoked: (principal) => revocations?.recentlyRevoked(principal) === true,
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

  function reject(
    error: AuthError,
    where: { phase: AuthPhase | 'upgrade'; transport: Transport; namespace: string; ip: string; connectionId?: string; latencyMs?: number },
  ): void {
    const event: Extract<AuditEvent, { type: 'rejected' }> = {
      type: 'rejected',
      at: clock.now(),
      code: error.code,
      detail: error.detail,
      phase: where.phase,
      transport: where.transport,
      namespace: where.namespace,
      ip: where.ip,
      connectionId: where.connectionId,
      latencyMs: where.latencyMs ?? 0,
    };
    if (error.code === 'internal_error')
      logger.error({ connectionId: where.connectionId, ...describeError(error) }, 'portcullis: internal error');
    audit(event);
    if (hooks.onRejected !== undefined) safeHook('onRejected', () => hooks.onRejected?.(error, event));
  }

  /**
   * Verifies `raw`, synchronously as long as every step answers at once (an
   * in-process store, a strategy that returns its principal), so the common
   * handshake allocates no promise and waits for no microtask. Returns a promise
   * from the first step that answers later. Refusals are thrown, or returned as a
   * rejected promise once a step went asynchronous.
   */
  function verifyNow(raw: unknown, context: AuthContext): Verified | Promise<Verified> {
    const credentials = sanitizeCredentials(raw, opts.payload);
    if (limiter.enabled) {
      const lockout = limiter.checkFailures(context.ip, credentials);
      if (lockout !== undefined) return lockout.then(() => runStrategies(credentials, context, 0));
    }
    return runStrategies(credentials, context, 0);
  }

  /** Tries the strategies from index `from` on; see {@link verifyNow}. */
  function runStrategies(credentials: Credentials, context: AuthContext, from: number): Verified | Promise<Verified> {
    const strategies = opts.strategies;
    for (let i = from; i < strategies.length; i++) {
      const strategy = strategies[i] as Strategy;
      let result: Principal | null | undefined | PromiseLike<Principal | null | undefined>;
      try {
        result = strategy.authenticate(credentials, context);
      } catch (err) {
        return strategyFailed(err, credentials, context);
      }
      if (isThenable(result)) {
        return Promise.resolve(result).then(
          (principal) => checkPrincipal(principal, strategy) ?? runStrategies(credentials, context, i + 1),
          (err: unknown) => strategyFailed(err, credentials, context),
        );
      }
      const verified = checkPrincipal(result, strategy);
      if (verified !== undefined) return verified;
    }
    throw new AuthError('credentials_required', { detail: 'no strategy accepted the credentials' });
  }

  /** What a strategy threw, scrubbed of the credentials and counted as a failure where it is one. */
  function strategyFailed(err: unknown, credentials: Credentials, context: AuthContext): never | Promise<never> {
    // What a strategy threw may quote the credentials: scrub before anyone logs it.
    const error = scrubError(toAuthError(err), credentials);
    if (!limiter.enabled || !countsAsFailure(error.code)) throw error;
    return limiter.recordFailure(context.ip, credentials).then(
      () => Promise.reject(error),
      (e: unknown) => {
        logger.warn(describeError(e), 'portcullis: could not count a failure');
        return Promise.reject(error);
      },
    );
  }

  /**
   * The verdict on what a strategy answered: `undefined` when it passed (try the
   * next one), else the principal once checked for validity, expiry and revocation.
   */
  function checkPrincipal(principal: Principal | null | undefined, strategy: Strategy): Verified | Promise<Verified> | undefined {
    if (principal === null || principal === undefined) return undefined;
    if (typeof principal !== 'object' || typeof principal.id !== 'string' || principal.id === '') {
      throw new AuthError('internal_error', { detail: `strategy ${strategy.name} returned an invalid principal` });
    }
    if (principal.expiresAt !== undefined && principal.expiresAt <= clock.now()) {
      throw new AuthError('token_expired', { detail: `strategy ${strategy.name}: expiresAt in the past` });
    }
    const verified: Verified = { principal, strategy: strategy.name };
    const found = revokedNow(principal);
    if (found === false) return verified;
    const revoked = (yes: boolean): Verified => {
      if (yes) throw new AuthError('revoked', { detail: `strategy ${strategy.name}: principal revoked` });
      return verified;
    };
    return found === true ? revoked(true) : found.then(revoked);
  }

  /** True when a revocation covers `principal`: one seen lately, else a store lookup (at once on the memory store). */
  function revokedNow(principal: Principal): boolean | Promise<boolean> {
    if (revocations === undefined) return false;
    return revocations.recentlyRevoked(principal) || revocations.isRevoked(principal);
  }

  async function verify(raw: unknown, context: AuthContext): Promise<Verified> {
    return verifyNow(raw, context);
  }

  function revokeLocal(target: RevokeTarget): number {
    const candidates =
      target.userId !== undefined
        ? lookup(byUser, target.userId)
        : target.sessionId !== undefined
          ? lookup(bySession, target.sessionId)
          : lookup(byToken, target.tokenId);
    const matches = candidates.filter(
      (c) =>
        (target.userId === undefined || c.principal?.id === target.userId) &&
        (target.sessionId === undefined || c.principal?.sessionId === target.sessionId) &&
        (target.tokenId === undefined || c.principal?.tokenId === target.tokenId),
    );
    for (const c of matches) c.terminate(new AuthError('revoked', { detail: 'revoked while connected' }));
    return matches.length;
  }

  function checkPendingBudget(ip: string): void {
    checkPendingBudgetOf(ipKey(ip));
  }

  function checkPendingBudgetOf(key: string): void {
    if (pendingCount >= opts.maxPending) throw new AuthError('rate_limited', { detail: 'pending budget (global)', retryAfter: 1 });
    if ((pendingByIp.get(key) ?? 0) >= opts.maxPendingPerIp) {
      throw new AuthError('rate_limited', { detail: 'pending budget (per IP)', retryAfter: 1 });
    }
  }

  return {
    options: opts,
    store,
    clock,
    verify,
    open(init, driver, deferHold = false) {
      const key = ipKey(init.ip);
      checkPendingBudgetOf(key);
      const conn = new Connection(internals, init, driver, key);
      live.set(conn.id, conn);
      if (!deferHold) hold(conn);
      return conn;
    },
    checkPendingBudget,
    admit(ip, admitOptions) {
      if (admitOptions?.pendingBudget !== false) checkPendingBudget(ip);
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
      return revokedNow(principal);
    },
    ready: revocations === undefined ? Promise.resolve() : revocations.ready,
    get revocationStatus() {
      return revocations === undefined ? 'off' : revocations.status;
    },
    rejected: reject,
    connections() {
      return live.values();
    },
    get stats() {
      return { pending: pendingCount, authenticated: authenticatedCount };
    },
    async close() {
      deadlines.clear();
      await revocations?.close();
      if (ownsStore) await store.close();
    },
  };
}
