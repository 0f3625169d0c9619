/**
 * Revocation across every node: a revocation list in the store (with a TTL, so a
 * revoked credential stays refused for as long as it could have been valid) and a
 * publish/subscribe channel that tells every guard to close its matching sockets.
 *
 * Records hold the revocation time. A `userId` revocation refuses principals
 * issued at or before that time (a later login is fine; a principal without
 * `issuedAt` is refused until the record expires). `sessionId` and `tokenId`
 * revocations refuse those outright.
 */

import { AuthError, isAuthError } from '../errors.js';
import type { Clock } from './clock.js';
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
}

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
  /** Resolves once this node listens for revocations. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

const RECENT_MS = 60_000;
const RECENT_MAX = 10_000;

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

/** Creates the revocation service of a guard; `onRevoke` closes local sockets. */
export function createRevocations(
  store: Store,
  clock: Clock,
  logger: Logger,
  options: RevocationOptions,
  onRevoke: (target: RevokeTarget) => void,
): Revocations {
  const ttlMs = options.ttlMs ?? DEFAULTS.revocation.ttlMs;
  const channel = options.channel ?? DEFAULTS.revocation.channel;
  if (!Number.isInteger(ttlMs) || ttlMs < 1) throw new TypeError('portcullis: revocation.ttlMs must be a positive integer');
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

  const ready = store.subscribe(channel, onMessage).then(
    async (unsub) => {
      if (closed) await unsub();
      else unsubscribe = unsub;
    },
    (err: unknown) => {
      logger.error({ channel, ...describeError(err) }, 'portcullis: could not subscribe to revocations');
    },
  );

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
    async close() {
      closed = true;
      await ready;
      await unsubscribe?.();
    },
  };
}
