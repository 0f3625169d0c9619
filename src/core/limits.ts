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
import { createHash } from 'node:crypto';
import { AuthError, isAuthError } from '../errors.js';
import type { IdentityFunction } from './identity.js';
import { identityReader, normalizeIdentity, strategiesIdentity } from './identity.js';
import { ipKey } from './ip.js';
import { describeError } from './logger.js';
import { isThenable } from './thenable.js';
import type { Credentials, Logger, Store, Strategy, SyncStore } from './types.js';

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
export interface BackoffOptions {
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
  identityBackoff?: BackoffOptions | false;
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

/** The slots one attempt holds until its verdict. */
interface Held {
  readonly keys: string[];
  /** Remembered on success: this address authenticated this identity. */
  readonly known: string | undefined;
}

/**
 * The checks answer at once (returning a value, or throwing) when the store has
 * a synchronous view, and return a promise otherwise.
 */
export interface RateLimiter {
  /** Counts a new connection from `ip`; throws (or rejects with) `rate_limited` over the limit. */
  handshake(ip: string): Promise<void> | undefined;
  /**
   * Runs `verify` under the failure limits: reserves the attempt first (throwing,
   * or rejecting with, `rate_limited` over a limit: `verify` is then not called),
   * then settles the reservation with the verdict: kept when `verify` refused
   * with a code that {@link countsAsFailure}, given back otherwise. Answers at once
   * when the store and `verify` do.
   */
  attempt<T>(ip: string, credentials: Credentials, verify: () => T | Promise<T>): T | Promise<T>;
  readonly enabled: boolean;
}

/** Codes that count as a failed authentication (guessing), as opposed to a missing or stale credential. */
const FAILURE_CODES = new Set(['invalid_credentials', 'invalid_request', 'csrf_failed', 'revoked']);

/** True when refusing with `code` should count against the failure limits. */
export function countsAsFailure(code: string): boolean {
  return FAILURE_CODES.has(code);
}

function window(name: string, value: RateWindow | false | undefined, fallback: RateWindow): RateWindow | undefined {
  if (value === false) return undefined;
  const w = value ?? fallback;
  if (typeof w !== 'object' || w === null || !Number.isInteger(w.max) || w.max < 1 || !Number.isInteger(w.windowMs) || w.windowMs < 1) {
    throw new TypeError(`portcullis: rateLimits.${name} must be false or { max: integer >= 1, windowMs: integer >= 1 }`);
  }
  return { max: w.max, windowMs: w.windowMs };
}

function backoffOf(value: BackoffOptions | false | undefined): BackoffOptions | undefined {
  if (value === false) return undefined;
  const b = value ?? { after: 20, baseMs: 1_000, maxMs: 60_000 };
  const ok = (n: unknown): boolean => Number.isInteger(n) && (n as number) >= 1;
  if (typeof b !== 'object' || b === null || !ok(b.after) || !ok(b.baseMs) || !ok(b.maxMs) || b.maxMs < b.baseMs) {
    throw new TypeError('portcullis: rateLimits.identityBackoff must be false or { after, baseMs, maxMs: integers >= 1, maxMs >= baseMs }');
  }
  return { after: b.after, baseMs: b.baseMs, maxMs: b.maxMs };
}

/** A bounded, opaque key part for an identity: user names may be long, or secrets typed in the wrong field. */
function identityKey(identity: string): string {
  return createHash('sha256').update(identity, 'utf8').digest('base64url').slice(0, 22);
}

const refuse = (detail: string, retryAfterMs: number): AuthError =>
  new AuthError('rate_limited', { detail, retryAfter: Math.max(1, Math.ceil(retryAfterMs / 1000)) });

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

  const warn = (err: unknown): void => logger?.warn(describeError(err), 'portcullis: could not give back an attempt slot');

  /** The keys of an attempt by `identity` from `ip`, and what to ask the store, in order. */
  const plan = (ip: string, identity: string | undefined) => {
    const address = ipKey(ip);
    const id = identity === undefined ? undefined : identityKey(identity);
    return { address, id };
  };

  /** Reserves through the synchronous view: throws `rate_limited` (or a store error), releasing what it took. */
  const reserveSync = (view: SyncStore, ip: string, identity: string | undefined): Held => {
    const keys: string[] = [];
    try {
      return takeSync(view, ip, identity, keys);
    } catch (err) {
      for (const k of keys) view.release(k);
      throw err;
    }
  };
  const takeSync = (view: SyncStore, ip: string, identity: string | undefined, keys: string[]): Held => {
    const { address, id } = plan(ip, identity);
    const fail = (error: AuthError): never => {
      throw error;
    };
    if (failIp !== undefined) {
      const k = `rl:fail:ip:${address}`;
      if (view.reserve(k, failIp.max, failIp.windowMs) === 0) fail(refuse('failed attempts per IP', failIp.windowMs));
      keys.push(k);
    }
    if (id === undefined || failPrincipal === undefined) return { keys, known: undefined };
    if (mode === 'identity') {
      const k = `rl:fail:id:${id}`;
      if (view.reserve(k, failPrincipal.max, failPrincipal.windowMs) === 0)
        fail(refuse('failed attempts per identity', failPrincipal.windowMs));
      keys.push(k);
      return { keys, known: undefined };
    }
    const pair = `rl:fail:pair:${id}:${address}`;
    if (view.reserve(pair, failPrincipal.max, failPrincipal.windowMs) === 0) {
      fail(refuse('failed attempts per identity and address', failPrincipal.windowMs));
    }
    keys.push(pair);
    if (backoff === undefined) return { keys, known: undefined };
    const known = knownMs === false ? undefined : `rl:known:${id}:${address}`;
    if (known !== undefined && view.get(known) !== undefined) return { keys, known };
    const wide = `rl:fail:id:${id}`;
    if (view.reserve(wide, backoff.after, failPrincipal.windowMs) > 0) {
      keys.push(wide);
      return { keys, known };
    }
    const wait = delay(Number(view.get(`rl:bo:${id}`) ?? 0));
    if (!view.setIfAbsent(`rl:gate:${id}`, '1', wait)) fail(refuse('identity slowed down', wait));
    view.increment(`rl:bo:${id}`, failPrincipal.windowMs);
    return { keys, known };
  };

  /** The same steps through the promise API (a networked store). */
  const reserveAsync = async (ip: string, identity: string | undefined): Promise<Held> => {
    const { address, id } = plan(ip, identity);
    const keys: string[] = [];
    const fail = async (error: AuthError): Promise<never> => {
      await Promise.all(keys.map((k) => store.release(k).catch(warn)));
      throw error;
    };
    if (failIp !== undefined) {
      const k = `rl:fail:ip:${address}`;
      if ((await store.reserve(k, failIp.max, failIp.windowMs)) === 0) await fail(refuse('failed attempts per IP', failIp.windowMs));
      keys.push(k);
    }
    if (id === undefined || failPrincipal === undefined) return { keys, known: undefined };
    try {
      if (mode === 'identity') {
        const k = `rl:fail:id:${id}`;
        if ((await store.reserve(k, failPrincipal.max, failPrincipal.windowMs)) === 0) {
          return await fail(refuse('failed attempts per identity', failPrincipal.windowMs));
        }
        keys.push(k);
        return { keys, known: undefined };
      }
      const pair = `rl:fail:pair:${id}:${address}`;
      if ((await store.reserve(pair, failPrincipal.max, failPrincipal.windowMs)) === 0) {
        return await fail(refuse('failed attempts per identity and address', failPrincipal.windowMs));
      }
      keys.push(pair);
      if (backoff === undefined) return { keys, known: undefined };
      const known = knownMs === false ? undefined : `rl:known:${id}:${address}`;
      if (known !== undefined && (await store.get(known)) !== undefined) return { keys, known };
      const wide = `rl:fail:id:${id}`;
      if ((await store.reserve(wide, backoff.after, failPrincipal.windowMs)) > 0) {
        keys.push(wide);
        return { keys, known };
      }
      const wait = delay(Number((await store.get(`rl:bo:${id}`)) ?? 0));
      if (!(await store.setIfAbsent(`rl:gate:${id}`, '1', wait))) return await fail(refuse('identity slowed down', wait));
      await store.increment(`rl:bo:${id}`, failPrincipal.windowMs);
      return { keys, known };
    } catch (err) {
      // A store error after the first slot: give back what was taken, then refuse.
      if (isAuthError(err) && err.code === 'rate_limited') throw err;
      return fail(isAuthError(err) ? err : new AuthError('unavailable', { cause: err, detail: 'attempt limits: store failed' }));
    }
  };

  /** The wait before the next attempt let through the identity-wide slow-down, after `passed` were. */
  const delay = (passed: number): number => {
    if (backoff === undefined) return 1;
    const steps = Number.isFinite(passed) && passed > 0 ? Math.min(passed, 30) : 0;
    return Math.min(backoff.baseMs * 2 ** steps, backoff.maxMs);
  };

  /** Settles the slots of an attempt: kept for a failure, given back otherwise; a success remembers the address. */
  const settle = (held: Held, error: unknown, ok: boolean): void => {
    if (!ok && isAuthError(error) && countsAsFailure(error.code)) return;
    const view = store.sync;
    if (view !== undefined) {
      for (const k of held.keys) view.release(k);
    } else {
      for (const k of held.keys) store.release(k).catch(warn);
    }
    if (ok && held.known !== undefined && knownMs !== false) store.set(held.known, '1', knownMs).catch(warn);
  };

  const run = <T>(held: Held, verify: () => T | Promise<T>): T | Promise<T> => {
    let result: T | Promise<T>;
    try {
      result = verify();
    } catch (err) {
      settle(held, err, false);
      throw err;
    }
    if (!isThenable(result)) {
      settle(held, undefined, true);
      return result;
    }
    return Promise.resolve(result).then(
      (value) => {
        settle(held, undefined, true);
        return value;
      },
      (err: unknown) => {
        settle(held, err, false);
        throw err;
      },
    );
  };

  const countsFailures = failIp !== undefined || identityOf !== undefined;

  return {
    enabled: handshakes !== undefined || countsFailures,
    handshake(ip) {
      if (handshakes === undefined) return undefined;
      const key = `rl:hs:${ipKey(ip)}`;
      const over = (): AuthError => refuse('handshakes per IP', handshakes.windowMs);
      const sync = store.sync;
      if (sync !== undefined) {
        if (sync.increment(key, handshakes.windowMs) > handshakes.max) throw over();
        return undefined;
      }
      return store.increment(key, handshakes.windowMs).then((n) => {
        if (n > handshakes.max) throw over();
      });
    },
    attempt(ip, credentials, verify) {
      if (!countsFailures) return verify();
      const identity = identityOf === undefined ? undefined : normalizeIdentity(identityOf(credentials), false);
      const view = store.sync;
      if (view !== undefined) return run(reserveSync(view, ip, identity), verify);
      return reserveAsync(ip, identity).then((held) => run(held, verify));
    },
  };
}
