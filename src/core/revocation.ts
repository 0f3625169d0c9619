/**
 * Revocation across every node: a revocation list in the store (with a TTL, so a
 * revoked credential stays refused for as long as it could have been valid) and a
 * publish/subscribe channel that tells every guard to close its matching sockets.
 *
 * Records hold the revocation time. A `userId` revocation refuses principals
 * issued at or before that time (a later login is fine; a principal without
 * `issuedAt` is refused until the record expires). `sessionId` and `tokenId`
 * revocations refuse those outright.
 *
 * Listening survives the store: the guard subscribes until the store confirms,
 * retrying with capped exponential backoff, and its {@link RevocationStatus} is
 * `deaf` whenever the subscription is not confirmed (before the first success,
 * or while the store reports it interrupted). Every change of status is logged
 * and reported to `onStatus`; on each return to `listening`, the guard re-checks
 * its open sockets against the store, closing those revoked while it was deaf,
 * and again every `recheckIntervalMs` while it listens (a message lost without an
 * interruption being reported is then caught within that bound).
 */

import { AuthError, isAuthError } from '../errors.js';
import type { Clock, TimerHandle } from './clock.js';
import { MAX_TIMER_MS } from './clock.js';
import { DEFAULTS } from './defaults.js';
import { describeError } from './logger.js';
import type { Logger, Principal, Store, SyncStore } from './types.js';

/** What to revoke. Every given field must match (usually give one). */
export interface RevokeTarget {
  userId?: string;
  sessionId?: string;
  tokenId?: string;
}

export interface RevocationOptions {
  /**
   * How long a revocation is remembered, in ms: set it to the longest lifetime
   * of the credentials you accept.
   * @default 86400000 (24 h)
   */
  ttlMs?: number;
  /** The publish/subscribe channel (the store adds its own prefix). @default 'revocations' */
  channel?: string;
  /**
   * The longest wait between two attempts to subscribe, in ms. Attempts start
   * 100 ms apart and double (with jitter) up to this.
   * @default 5000
   */
  retryMaxMs?: number;
  /** Called on every change of {@link RevocationStatus} (not for the initial `deaf`). Must not throw. */
  onStatus?: (status: RevocationStatus) => void;
  /**
   * How often, in ms, this node re-checks its open sockets against the revocation
   * list while it listens, so that a revocation whose message it never received
   * still closes them within this bound. Publish/subscribe delivers at most once:
   * a message is lost when the subscriber's connection drops unnoticed, or when a
   * Redis Cluster moves the subscription to another node during a failover without
   * the client reporting an interruption. `false` turns it off.
   * @default 300000 (5 min) with a store shared across processes (one without synchronous
   * access, such as the Redis store); `false` with the memory store, whose
   * publish/subscribe cannot lose a message
   */
  recheckIntervalMs?: number | false;
}

/**
 * Whether this node hears revocations made on other nodes:
 * - `listening`: subscribed, as confirmed by the store;
 * - `deaf`: not (yet, or no longer) subscribed; revocations made elsewhere are still
 *   recorded in the store and refused at the next authentication or refresh, but
 *   this node's open sockets are not closed until it listens again;
 * - `off`: the guard was closed (or revocation is disabled).
 */
export type RevocationStatus = 'listening' | 'deaf' | 'off';

export interface Revocations {
  /** Records the revocation in the store and tells every node (the caller closes its own sockets). */
  revoke(target: RevokeTarget, ttlMs?: number): Promise<void>;
  /**
   * True when the store holds a revocation covering `principal`: at once with a
   * synchronous store, else a promise. Throws (rejects with) `unavailable` when the store is down.
   */
  isRevoked(principal: Principal): boolean | Promise<boolean>;
  /** Synchronous check against revocations seen in the last minute (closes verify/revoke races). */
  recentlyRevoked(principal: Principal): boolean;
  /**
   * Resolves the first time this node listens for revocations (which may take
   * as long as the store is unreachable), or when closed first. Never rejects.
   */
  readonly ready: Promise<void>;
  /** See {@link RevocationStatus}. */
  readonly status: RevocationStatus;
  close(): Promise<void>;
}

const RECENT_MS = 60_000;
const RECENT_MAX = 10_000;
const RETRY_MIN_MS = 100;
/** The shortest re-check interval: each pass looks up every open socket in the store. */
const MIN_RECHECK_MS = 1_000;
const DEFAULT_RETRY_MAX_MS = 5_000;

function keysOf(target: RevokeTarget): string[] {
  const keys: string[] = [];
  if (target.userId !== undefined) keys.push(`revoked:user:${target.userId}`);
  if (target.sessionId !== undefined) keys.push(`revoked:session:${target.sessionId}`);
  if (target.tokenId !== undefined) keys.push(`revoked:token:${target.tokenId}`);
  return keys;
}

function principalKeys(principal: Principal): string[] {
  const target: RevokeTarget = { userId: principal.id };
  if (principal.sessionId !== undefined) target.sessionId = principal.sessionId;
  if (principal.tokenId !== undefined) target.tokenId = principal.tokenId;
  return keysOf(target);
}

/** A user-wide revocation covers the credentials issued before it (or of unknown age). */
function coversUser(principal: Principal, revokedAt: number): boolean {
  return principal.issuedAt === undefined || principal.issuedAt <= revokedAt;
}

function covers(principal: Principal, key: string, revokedAt: number): boolean {
  return key.startsWith('revoked:user:') ? coversUser(principal, revokedAt) : true;
}

/** {@link Revocations.isRevoked} on a synchronous store: one lookup per key, nothing allocated but the keys. */
function revokedIn(sync: SyncStore, principal: Principal): boolean {
  const byUser = sync.get(`revoked:user:${principal.id}`);
  if (byUser !== undefined && coversUser(principal, Number(byUser))) return true;
  if (principal.sessionId !== undefined && sync.get(`revoked:session:${principal.sessionId}`) !== undefined) return true;
  return principal.tokenId !== undefined && sync.get(`revoked:token:${principal.tokenId}`) !== undefined;
}

/** The refusal of a failed lookup: `unavailable`, unless the store already refused with a code. */
function lookupFailed(err: unknown): never {
  throw isAuthError(err) ? err : new AuthError('unavailable', { detail: 'revocation lookup failed', cause: err });
}

/** Checks a revoke target: at least one non-empty string field, nothing else. */
export function checkTarget(target: RevokeTarget): void {
  if (typeof target !== 'object' || target === null) throw new TypeError('portcullis: revoke target must be an object');
  let any = false;
  for (const [key, value] of Object.entries(target)) {
    if (key !== 'userId' && key !== 'sessionId' && key !== 'tokenId') throw new TypeError(`portcullis: unknown revoke target field ${key}`);
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') throw new TypeError(`portcullis: revoke target ${key} must be a non-empty string`);
    any = true;
  }
  if (!any) throw new TypeError('portcullis: revoke needs userId, sessionId or tokenId');
}

/**
 * Creates the revocation service of a guard; `onRevoke` closes local sockets, and
 * `recheck` re-checks them against the store: each time the node listens again,
 * and every `recheckIntervalMs` while it listens (the returned promise settles when
 * the pass is over; the next pass is scheduled only then, so passes never overlap).
 */
export function createRevocations(
  store: Store,
  clock: Clock,
  logger: Logger,
  options: RevocationOptions,
  onRevoke: (target: RevokeTarget) => void,
  recheck: () => Promise<unknown> = () => Promise.resolve(),
): Revocations {
  const ttlMs = options.ttlMs ?? DEFAULTS.revocation.ttlMs;
  const channel = options.channel ?? DEFAULTS.revocation.channel;
  const retryMaxMs = options.retryMaxMs ?? DEFAULT_RETRY_MAX_MS;
  const { onStatus } = options;
  if (!Number.isInteger(ttlMs) || ttlMs < 1) throw new TypeError('portcullis: revocation.ttlMs must be a positive integer');
  if (!Number.isInteger(retryMaxMs) || retryMaxMs < RETRY_MIN_MS || retryMaxMs > MAX_TIMER_MS) {
    throw new TypeError(`portcullis: revocation.retryMaxMs must be an integer of at least ${RETRY_MIN_MS}`);
  }
  if (onStatus !== undefined && typeof onStatus !== 'function') throw new TypeError('portcullis: revocation.onStatus must be a function');
  const recheckMs = options.recheckIntervalMs ?? (store.sync === undefined ? DEFAULTS.revocation.recheckIntervalMs : false);
  if (recheckMs !== false && (!Number.isInteger(recheckMs) || recheckMs < MIN_RECHECK_MS || recheckMs > MAX_TIMER_MS)) {
    throw new TypeError(`portcullis: revocation.recheckIntervalMs must be false or an integer of at least ${MIN_RECHECK_MS}`);
  }
  const recent = new Map<string, number>();
  let unsubscribe: (() => Promise<void>) | undefined;
  let closed = false;

  const remember = (target: RevokeTarget, at: number): void => {
    for (const key of keysOf(target)) {
      recent.delete(key);
      recent.set(key, at);
    }
    // Oldest first: drop what is too old or over the cap.
    const now = clock.now();
    for (const [key, when] of recent) {
      if (recent.size <= RECENT_MAX && now - when < RECENT_MS) break;
      recent.delete(key);
    }
  };

  const onMessage = (message: string): void => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      logger.warn({ channel }, 'portcullis: malformed revocation message');
      return;
    }
    const m = parsed as { v?: unknown; at?: unknown; target?: unknown };
    if (m.v !== 1 || typeof m.at !== 'number' || typeof m.target !== 'object' || m.target === null) {
      logger.warn({ channel }, 'portcullis: malformed revocation message');
      return;
    }
    const raw = m.target as Record<string, unknown>;
    const target: RevokeTarget = {};
    if (typeof raw.userId === 'string') target.userId = raw.userId;
    if (typeof raw.sessionId === 'string') target.sessionId = raw.sessionId;
    if (typeof raw.tokenId === 'string') target.tokenId = raw.tokenId;
    if (keysOf(target).length === 0) return;
    remember(target, m.at);
    onRevoke(target);
  };

  let status: RevocationStatus = 'deaf';
  let deafSince = clock.now();
  let failures = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let recheckTimer: TimerHandle | undefined;
  let rechecking = false;
  /** A pass was asked for while one ran (the node listened again meanwhile): run another right after. */
  let recheckAgain = false;
  /** One re-check pass (or another right after the running one), then the next one armed, while listening. */
  const runRecheck = (): void => {
    recheckTimer = undefined;
    if (closed || status !== 'listening') return;
    if (rechecking) {
      recheckAgain = true;
      return;
    }
    rechecking = true;
    void recheck()
      .catch((err: unknown) => logger.error({ channel, ...describeError(err) }, 'portcullis: revocation re-check failed'))
      .finally(() => {
        rechecking = false;
        if (recheckAgain) {
          recheckAgain = false;
          runRecheck();
        } else armRecheck();
      });
  };
  const armRecheck = (): void => {
    if (recheckMs === false || closed || recheckTimer !== undefined || status !== 'listening') return;
    recheckTimer = clock.setTimer(runRecheck, recheckMs);
  };
  let inflight: Promise<void> = Promise.resolve();
  let markReady = (): void => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  const setStatus = (next: RevocationStatus): void => {
    if (next === status) return;
    status = next;
    if (next === 'off') return;
    if (next === 'deaf') {
      deafSince = clock.now();
      logger.warn({ channel }, 'portcullis: revocation listener interrupted: this node is deaf to revocations from other nodes');
    } else {
      logger.info({ channel, deafMs: clock.now() - deafSince }, 'portcullis: listening for revocations');
      markReady();
      // What was revoked elsewhere while deaf: checked now, then every `recheckIntervalMs`.
      if (recheckTimer !== undefined) clearRecheck();
      runRecheck();
    }
    if (onStatus !== undefined) {
      try {
        onStatus(next);
      } catch (err) {
        logger.error({ channel, ...describeError(err) }, 'portcullis: revocation.onStatus threw');
      }
    }
  };

  const clearRecheck = (): void => {
    if (recheckTimer === undefined) return;
    clock.clearTimer(recheckTimer);
    recheckTimer = undefined;
  };

  const listener = {
    onInterrupted: () => {
      if (!closed) setStatus('deaf');
    },
    onResumed: () => {
      if (!closed) setStatus('listening');
    },
  };

  const attempt = (): void => {
    retryTimer = undefined;
    // Through a promise, so that a store whose subscribe throws synchronously is retried like one that rejects.
    inflight = new Promise<() => Promise<void>>((resolve) => resolve(store.subscribe(channel, onMessage, listener))).then(
      async (unsub) => {
        if (closed) return unsub();
        unsubscribe = unsub;
        failures = 0;
        setStatus('listening');
      },
      (err: unknown) => {
        if (closed) return;
        // Doubling from 100 ms, capped, with jitter so that nodes do not retry in step.
        const base = Math.min(retryMaxMs, RETRY_MIN_MS * 2 ** Math.min(failures, 20));
        const delay = Math.ceil(base / 2 + Math.random() * (base / 2));
        failures++;
        const fields = { channel, attempt: failures, retryInMs: delay, ...describeError(err) };
        // Loud once per deaf period, quiet afterwards: a long outage must not flood the log.
        if (failures === 1) logger.error(fields, 'portcullis: could not subscribe to revocations; this node is deaf until it can');
        else logger.debug(fields, 'portcullis: could not subscribe to revocations yet');
        retryTimer = setTimeout(attempt, delay);
        retryTimer.unref();
      },
    );
  };
  attempt();

  return {
    async revoke(target, ttl = ttlMs) {
      checkTarget(target);
      const at = clock.now();
      remember(target, at);
      await Promise.all(keysOf(target).map((key) => store.set(key, String(at), ttl)));
      await store.publish(channel, JSON.stringify({ v: 1, at, target }));
    },
    isRevoked(principal) {
      const sync = store.sync;
      if (sync !== undefined) {
        try {
          return revokedIn(sync, principal);
        } catch (err) {
          return lookupFailed(err);
        }
      }
      const keys = principalKeys(principal);
      const covered = (values: readonly (string | undefined)[]): boolean => {
        for (let i = 0; i < keys.length; i++) {
          const value = values[i];
          if (value !== undefined && covers(principal, keys[i] as string, Number(value))) return true;
        }
        return false;
      };
      return Promise.all(keys.map((key) => store.get(key))).then(covered, lookupFailed);
    },
    recentlyRevoked(principal) {
      if (recent.size === 0) return false;
      for (const key of principalKeys(principal)) {
        const at = recent.get(key);
        if (at !== undefined && covers(principal, key, at)) return true;
      }
      return false;
    },
    ready,
    get status() {
      return status;
    },
    async close() {
      if (closed) return;
      closed = true;
      status = 'off';
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      clearRecheck();
      markReady();
      await inflight;
      await unsubscribe?.();
    },
  };
}

/** What {@link closeRevoked} needs of a connection. */
export interface RevocableConnection {
  readonly authenticated: boolean;
  readonly principal: Principal | undefined;
  terminate(error: AuthError): void;
}

const RECHECK_BATCH = 256;

/**
 * Checks every authenticated connection of `connections` against the store, and
 * closes with `revoked` those a revocation covers: what a node missed while it
 * was deaf, or whose message was lost. Batches of 256 lookups at a time; a failed lookup leaves its
 * connection open (the next pass checks it again). Never rejects.
 */
export async function closeRevoked(revocations: Revocations, connections: Iterable<RevocableConnection>, logger: Logger): Promise<number> {
  const targets: { conn: RevocableConnection; principal: Principal }[] = [];
  for (const conn of connections) {
    if (conn.authenticated && conn.principal !== undefined) targets.push({ conn, principal: conn.principal });
  }
  let closed = 0;
  let failed = 0;
  for (let i = 0; i < targets.length; i += RECHECK_BATCH) {
    await Promise.all(
      targets.slice(i, i + RECHECK_BATCH).map(async ({ conn, principal }) => {
        try {
          if (!(await revocations.isRevoked(principal))) return;
        } catch {
          failed++;
          return;
        }
        // Still the same principal (a refresh may have replaced it meanwhile) and still open.
        if (conn.principal !== principal || !conn.authenticated) return;
        conn.terminate(new AuthError('revoked', { detail: 'revoked without this node hearing of it (found by a re-check)' }));
        closed++;
      }),
    );
  }
  if (closed > 0 || failed > 0)
    logger.info({ checked: targets.length, closed, failed }, 'portcullis: re-checked open sockets for revocations');
  return closed;
}
