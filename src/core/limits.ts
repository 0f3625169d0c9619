/**
 * Rate limits kept in the store, so every node of a cluster shares them:
 * handshakes per client IP, and failed authentications per client IP and per
 * claimed principal (the user name a password guesser keeps trying). Over a
 * limit, attempts are refused with `rate_limited` and `Retry-After` before any
 * strategy runs, for the rest of the window (a lockout).
 */
import { AuthError } from '../errors.js';
import { ipKey } from './ip.js';
import type { Credentials, Store } from './types.js';

/** A fixed window: at most `max` events per `windowMs`. */
export interface RateWindow {
  /** Events allowed per window. */
  max: number;
  /** Window length, in milliseconds. */
  windowMs: number;
}

export interface RateLimitOptions {
  /** New connections (upgrades / handshakes) per client IP (IPv6 by /64). @default { max: 600, windowMs: 60000 } */
  handshakesPerIp?: RateWindow | false;
  /** Failed authentications per client IP. @default { max: 100, windowMs: 600000 } */
  failuresPerIp?: RateWindow | false;
  /** Failed authentications per claimed principal (see `principalHint`). @default { max: 10, windowMs: 600000 } */
  failuresPerPrincipal?: RateWindow | false;
  /**
   * The principal a failed attempt claimed to be, from its credentials.
   * @default the first string among `username`, `user`, `email`, `login`, `keyId`
   */
  principalHint?: (credentials: Credentials) => string | undefined;
}

/**
 * The checks answer at once (returning `undefined`, or throwing) when the store
 * has a synchronous view, and return a promise otherwise.
 */
export interface RateLimiter {
  /** Counts a new connection from `ip`; throws (or rejects with) `rate_limited` over the limit. */
  handshake(ip: string): Promise<void> | undefined;
  /** Throws (or rejects with) `rate_limited` when `ip` or the claimed principal is locked out. */
  checkFailures(ip: string, credentials: Credentials): Promise<void> | undefined;
  /** Counts a failed authentication. */
  recordFailure(ip: string, credentials: Credentials): Promise<void>;
  readonly enabled: boolean;
}

/** Codes that count as a failed authentication (guessing), as opposed to a missing or stale credential. */
const FAILURE_CODES = new Set(['invalid_credentials', 'invalid_request', 'csrf_failed', 'revoked']);

/** True when refusing with `code` should count against the failure limits. */
export function countsAsFailure(code: string): boolean {
  return FAILURE_CODES.has(code);
}

const HINT_FIELDS = ['username', 'user', 'email', 'login', 'keyId'] as const;

function defaultHint(credentials: Credentials): string | undefined {
  for (const field of HINT_FIELDS) {
    const value = credentials[field];
    if (typeof value === 'string' && value !== '' && value.length <= 256) return value.toLowerCase();
  }
  return undefined;
}

function window(name: string, value: RateWindow | false | undefined, fallback: RateWindow): RateWindow | undefined {
  if (value === false) return undefined;
  const w = value ?? fallback;
  if (typeof w !== 'object' || w === null || !Number.isInteger(w.max) || w.max < 1 || !Number.isInteger(w.windowMs) || w.windowMs < 1) {
    throw new TypeError(`portcullis: rateLimits.${name} must be false or { max: integer >= 1, windowMs: integer >= 1 }`);
  }
  return { max: w.max, windowMs: w.windowMs };
}

/** Creates the limiter of a guard (`false` disables every rate limit). */
export function createRateLimiter(store: Store, options: RateLimitOptions | false | undefined): RateLimiter {
  const opts =
    options === false
      ? { handshakesPerIp: false as const, failuresPerIp: false as const, failuresPerPrincipal: false as const }
      : (options ?? {});
  const handshakes = window('handshakesPerIp', opts.handshakesPerIp, { max: 600, windowMs: 60_000 });
  const failIp = window('failuresPerIp', opts.failuresPerIp, { max: 100, windowMs: 600_000 });
  const failPrincipal = window('failuresPerPrincipal', opts.failuresPerPrincipal, { max: 10, windowMs: 600_000 });
  const hint = opts.principalHint ?? defaultHint;
  if (typeof hint !== 'function') throw new TypeError('portcullis: rateLimits.principalHint must be a function');

  const refuse = (w: RateWindow, detail: string): never => {
    throw new AuthError('rate_limited', { detail, retryAfter: Math.ceil(w.windowMs / 1000) });
  };
  const over = async (key: string, w: RateWindow): Promise<boolean> => Number((await store.get(key)) ?? 0) >= w.max;
  const sync = store.sync;

  return {
    enabled: handshakes !== undefined || failIp !== undefined || failPrincipal !== undefined,
    handshake(ip) {
      if (handshakes === undefined) return undefined;
      const key = `rl:hs:${ipKey(ip)}`;
      if (sync !== undefined) {
        if (sync.increment(key, handshakes.windowMs) > handshakes.max) refuse(handshakes, 'handshakes per IP');
        return undefined;
      }
      return store.increment(key, handshakes.windowMs).then((n) => {
        if (n > handshakes.max) refuse(handshakes, 'handshakes per IP');
      });
    },
    checkFailures(ip, credentials) {
      const ipKeyed = failIp === undefined ? undefined : `rl:fail:ip:${ipKey(ip)}`;
      const who = failPrincipal === undefined ? undefined : hint(credentials);
      const principalKeyed = who === undefined ? undefined : `rl:fail:p:${who}`;
      if (sync !== undefined) {
        if (failIp !== undefined && ipKeyed !== undefined && Number(sync.get(ipKeyed) ?? 0) >= failIp.max) {
          refuse(failIp, 'failed attempts per IP');
        }
        if (failPrincipal !== undefined && principalKeyed !== undefined && Number(sync.get(principalKeyed) ?? 0) >= failPrincipal.max) {
          refuse(failPrincipal, 'failed attempts per principal');
        }
        return undefined;
      }
      return (async () => {
        if (failIp !== undefined && ipKeyed !== undefined && (await over(ipKeyed, failIp))) refuse(failIp, 'failed attempts per IP');
        if (failPrincipal !== undefined && principalKeyed !== undefined && (await over(principalKeyed, failPrincipal))) {
          refuse(failPrincipal, 'failed attempts per principal');
        }
      })();
    },
    async recordFailure(ip, credentials) {
      const ops: Promise<number>[] = [];
      if (failIp !== undefined) ops.push(store.increment(`rl:fail:ip:${ipKey(ip)}`, failIp.windowMs));
      if (failPrincipal !== undefined) {
        const who = hint(credentials);
        if (who !== undefined) ops.push(store.increment(`rl:fail:p:${who}`, failPrincipal.windowMs));
      }
      await Promise.all(ops);
    },
  };
}
