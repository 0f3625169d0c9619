/**
 * Rate limits kept in the store, so every node of a cluster shares them:
 * handshakes per client IP, and failed authentications per client IP and per
 * identity (the account a password guesser keeps trying).
 *
 * Failure limits are reservations, not after-the-fact counts: an attempt takes
 * its slots (atomically, in the store) before any strategy runs, keeps them when
 * its verdict counts as a failure and gives them back otherwise. So a burst of
 * concurrent attempts is bounded exactly like a sequence: at most `max`
 * verifications per window, however many arrive at once and on however many nodes.
 * Over a limit, attempts are refused with `rate_limited` and `Retry-After`
 * before any strategy runs.
 *
 * Which identity counts is declared (see `identity.ts`), and how it locks out is
 * the operator's choice (`lockout`): see SECURITY.md, "Attempt limits".
 */
import type { AuthError } from '../errors.js';
import { createAttemptLimiter, rateLimited } from './attempts.js';
import type { IdentityFunction } from './identity.js';
import { admittingStrategy, identityReader, normalizeIdentity, strategiesIdentity } from './identity.js';
import { ipKey } from './ip.js';
import type { Credentials, Logger, Store, Strategy } from './types.js';
import type { Verified } from './verification.js';

/** A fixed window: at most `max` events per `windowMs`. */
export interface RateWindow {
  /** Events allowed per window. */
  max: number;
  /** Window length, in milliseconds. */
  windowMs: number;
}

/**
 * How failed attempts against one identity lock it out.
 * - `'identity+address'`: the hard lockout is per identity *and* address; across
 *   addresses, the identity is slowed down (`identityBackoff`), except from
 *   addresses it recently authenticated from.
 * - `'identity'`: the hard lockout is per identity, from every address.
 */
export type LockoutMode = 'identity+address' | 'identity';

/** The identity-wide slow-down of the `'identity+address'` lockout. */
export interface IdentityBackoff {
  /**
   * Failed attempts against one identity, from addresses it has not authenticated
   * from lately, before the slow-down starts (per `failuresPerPrincipal.windowMs`).
   * @default 20
   */
  after: number;
  /** The wait between attempts once slowed down, in ms; it doubles with every attempt let through. @default 1000 */
  baseMs: number;
  /** The longest wait between attempts, in ms. @default 60000 */
  maxMs: number;
}

export interface RateLimitOptions {
  /** New connections (upgrades / handshakes) per client IP (IPv6 by /64). @default { max: 600, windowMs: 60000 } */
  handshakesPerIp?: RateWindow | false;
  /** Failed authentications per client IP. @default { max: 100, windowMs: 600000 } */
  failuresPerIp?: RateWindow | false;
  /**
   * Failed authentications per identity (see `lockout`), then a lockout for the
   * rest of the window. Only strategies that declare an identity (or the app's
   * `identity`) are counted per identity.
   * @default { max: 10, windowMs: 600000 }
   */
  failuresPerPrincipal?: RateWindow | false;
  /** What `failuresPerPrincipal` locks out: see {@link LockoutMode}. @default 'identity+address' */
  lockout?: LockoutMode;
  /**
   * With `lockout: 'identity+address'`: the identity-wide slow-down that bounds a
   * guess spread over many addresses. `false` leaves only the per-address limits.
   * @default { after: 20, baseMs: 1000, maxMs: 60000 }
   */
  identityBackoff?: IdentityBackoff | false;
  /**
   * With `lockout: 'identity+address'`: how long, in ms, an address an identity
   * authenticated from stays exempt from that identity's slow-down. `false`: no exemption.
   * @default 2592000000 (30 days)
   */
  knownAddressMs?: number | false;
  /**
   * The identity failures count against, when the app rather than the strategies
   * says it: a field name (trimmed, NFC, case-folded), `{ field, caseFold }`, or a
   * function. Overrides every strategy's own `identity`.
   * @default the first identity the strategies declare (none for jwt, hmac, ticket, session-cookie, tls-client-cert)
   */
  identity?: string | { field: string; caseFold?: boolean } | ((credentials: Credentials) => string | undefined);
  /** @deprecated use `identity` (same meaning; no field is picked by default any more). */
  principalHint?: (credentials: Credentials) => string | undefined;
}

/**
 * The checks answer at once (returning a value, or throwing) when the store has
 * a synchronous view, and return a promise otherwise.
 */
export interface RateLimiter {
  /** Counts a new connection from `ip`; throws (or rejects with) `rate_limited` over the limit. */
  handshake(ip: string): Promise<void> | undefined;
  /**
   * Runs `verify` under the failure limits (see `attempts.ts`): over a limit it
   * throws (or rejects with) `rate_limited` and `verify` is not called; otherwise
   * the attempt holds a slot of each counter until its verdict, kept when `verify`
   * refused with a code that counts as a failure, given back otherwise. Answers at
   * once when the store and `verify` do.
   */
  attempt<T>(ip: string, credentials: Credentials, verify: () => T | Promise<T>): T | Promise<T>;
  readonly enabled: boolean;
}

function window(name: string, value: RateWindow | false | undefined, fallback: RateWindow): RateWindow | undefined {
  if (value === false) return undefined;
  const w = value ?? fallback;
  if (typeof w !== 'object' || w === null || !Number.isInteger(w.max) || w.max < 1 || !Number.isInteger(w.windowMs) || w.windowMs < 1) {
    throw new TypeError(`portcullis: rateLimits.${name} must be false or { max: integer >= 1, windowMs: integer >= 1 }`);
  }
  return { max: w.max, windowMs: w.windowMs };
}

function backoffOf(value: IdentityBackoff | false | undefined): IdentityBackoff | undefined {
  if (value === false) return undefined;
  const b = value ?? { after: 20, baseMs: 1_000, maxMs: 60_000 };
  const ok = (n: unknown): boolean => Number.isInteger(n) && (n as number) >= 1;
  if (typeof b !== 'object' || b === null || !ok(b.after) || !ok(b.baseMs) || !ok(b.maxMs) || b.maxMs < b.baseMs) {
    throw new TypeError('portcullis: rateLimits.identityBackoff must be false or { after, baseMs, maxMs: integers >= 1, maxMs >= baseMs }');
  }
  return { after: b.after, baseMs: b.baseMs, maxMs: b.maxMs };
}

/** Creates the limiter of a guard (`false` disables every rate limit). */
export function createRateLimiter(
  store: Store,
  options: RateLimitOptions | false | undefined,
  strategies: readonly Strategy[] = [],
  logger?: Logger,
): RateLimiter {
  const opts: RateLimitOptions =
    options === false ? { handshakesPerIp: false, failuresPerIp: false, failuresPerPrincipal: false } : (options ?? {});
  const handshakes = window('handshakesPerIp', opts.handshakesPerIp, { max: 600, windowMs: 60_000 });
  const failIp = window('failuresPerIp', opts.failuresPerIp, { max: 100, windowMs: 600_000 });
  const failPrincipal = window('failuresPerPrincipal', opts.failuresPerPrincipal, { max: 10, windowMs: 600_000 });
  const mode = opts.lockout ?? 'identity+address';
  if (mode !== 'identity+address' && mode !== 'identity') {
    throw new TypeError("portcullis: rateLimits.lockout must be 'identity+address' or 'identity'");
  }
  const backoff = mode === 'identity+address' ? backoffOf(opts.identityBackoff) : undefined;
  const knownMs = mode === 'identity+address' && backoff !== undefined ? (opts.knownAddressMs ?? 2_592_000_000) : false;
  if (knownMs !== false && (!Number.isInteger(knownMs) || knownMs < 1)) {
    throw new TypeError('portcullis: rateLimits.knownAddressMs must be false or an integer >= 1');
  }
  const declared = opts.identity ?? opts.principalHint;
  if (declared !== undefined && typeof declared !== 'function' && typeof declared !== 'string' && typeof declared !== 'object') {
    throw new TypeError('portcullis: rateLimits.identity must be a field name, { field, caseFold } or a function');
  }
  const identityOf: IdentityFunction | undefined =
    failPrincipal === undefined
      ? undefined
      : declared !== undefined
        ? identityReader(declared, 'rateLimits.identity')
        : strategiesIdentity(strategies);

  const countsFailures = failIp !== undefined || identityOf !== undefined;
  const byName = new Map(strategies.map((s) => [s.name, s]));
  /**
   * Whether an admission proves the client holds `identity`: the strategy that admitted (the member, in a
   * composite) reads that same identity from the credentials, or the principal is that identity. A login with
   * one's own token beside a decoy field proves nothing about the field.
   */
  const vouchesFor = (verified: Verified, credentials: Credentials, identity: string): boolean => {
    const principal = verified?.principal;
    if (typeof principal !== 'object' || principal === null) return false;
    const admitter = admittingStrategy(principal) ?? byName.get(verified.strategy);
    if (admitter?.identity !== undefined) {
      try {
        if (normalizeIdentity(admitter.identity(credentials), false) === identity) return true;
      } catch {
        return false;
      }
    }
    return normalizeIdentity(principal.id, true) === normalizeIdentity(identity, true);
  };
  const attempts = createAttemptLimiter(
    store,
    { perIp: failIp, perIdentity: failPrincipal, mode, backoff, knownMs: backoff === undefined ? false : knownMs },
    logger,
  );

  return {
    enabled: handshakes !== undefined || countsFailures,
    handshake(ip) {
      if (handshakes === undefined) return undefined;
      const key = `rl:hs:${ipKey(ip)}`;
      // `Retry-After`: the time left in the window where the store can tell, the whole window otherwise.
      const over = (left: number | undefined): AuthError => rateLimited('handshakes per IP', left ?? handshakes.windowMs);
      const sync = store.sync;
      if (sync !== undefined) {
        if (sync.increment(key, handshakes.windowMs) > handshakes.max) throw over(sync.ttl?.(key));
        return undefined;
      }
      return store.increment(key, handshakes.windowMs).then(async (n) => {
        if (n > handshakes.max) throw over(store.ttl === undefined ? undefined : await store.ttl(key).catch(() => undefined));
      });
    },
    attempt(ip, credentials, verify) {
      if (!countsFailures) return verify();
      const identity = identityOf === undefined ? undefined : normalizeIdentity(identityOf(credentials), false);
      if (identity === undefined) return attempts.attempt(ip, identity, verify);
      return attempts.attempt(ip, identity, verify, (value) => vouchesFor(value as unknown as Verified, credentials, identity));
    },
  };
}
