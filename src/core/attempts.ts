/**
 * Failure limits as reservations: an attempt holds a slot in every counter that
 * applies to it while it is verified, keeps it when the verdict counts as a
 * failure and gives it back otherwise. So at most `max` verifications run per
 * counter and window, for a burst exactly as for a sequence.
 *
 * Through a networked store the slot is taken atomically in the store
 * (`Store.reserve`) before the strategies run. Through an in-process store's
 * synchronous view nothing can run between two synchronous steps: the counters
 * are read before verifying, and a slot is taken only when the verification goes
 * asynchronous (in that same tick) or fails. A handshake decided at once therefore
 * costs what it did before reservations existed: one read per counter.
 */
import { createHash } from 'node:crypto';
import { AuthError, isAuthError } from '../errors.js';
import { ipKey } from './ip.js';
import { describeError } from './logger.js';
import { isThenable } from './thenable.js';
import type { Logger, Store, SyncStore } from './types.js';

/** Codes that count as a failed authentication (guessing), as opposed to a missing or stale credential. */
const FAILURE_CODES = new Set(['invalid_credentials', 'invalid_request', 'csrf_failed', 'revoked']);

/** True when refusing with `code` should count against the failure limits. */
export function countsAsFailure(code: string): boolean {
  return FAILURE_CODES.has(code);
}

/**
 * Marks a refusal that counts as a failure whatever its code: `anyOf` reports its members' most useful refusal
 * (`token_expired` over `invalid_credentials`), and a wrong password beside an expired token of the attacker's own,
 * or beside a cookie from no allowed Origin, must still be counted.
 */
export const kCountsAsFailure: unique symbol = Symbol('portcullis.countsAsFailure');

/** Marks `error` as a counted failure (see {@link kCountsAsFailure}); returns it. */
export function markFailure<E extends object>(error: E): E {
  (error as { [kCountsAsFailure]?: true })[kCountsAsFailure] = true;
  return error;
}

const isFailure = (err: unknown): boolean =>
  isAuthError(err) && (countsAsFailure(err.code) || (err as { [kCountsAsFailure]?: true })[kCountsAsFailure] === true);

/** A `rate_limited` refusal with `Retry-After` in whole seconds (at least 1). */
export const rateLimited = (detail: string, retryAfterMs: number): AuthError =>
  new AuthError('rate_limited', { detail, retryAfter: Math.max(1, Math.ceil(retryAfterMs / 1000)) });

/** One fixed-window counter an attempt must fit in. */
interface Counter {
  readonly key: string;
  readonly max: number;
  readonly windowMs: number;
  /** For logs (`detail` of the refusal). */
  readonly detail: string;
}

/** The resolved limits (see `RateLimitOptions` for meanings and defaults). */
export interface AttemptLimits {
  readonly perIp: { max: number; windowMs: number } | undefined;
  readonly perIdentity: { max: number; windowMs: number } | undefined;
  readonly mode: 'identity+address' | 'identity';
  readonly backoff: { after: number; baseMs: number; maxMs: number } | undefined;
  readonly knownMs: number | false;
}

/** Runs verifications under the failure limits. */
export interface AttemptLimiter {
  /**
   * `vouches`: whether an admitted verdict proves that the client holds `identity` (only then is its address
   * remembered as known for it, which exempts the address from the identity's slow-down). Default: never.
   */
  attempt<T>(ip: string, identity: string | undefined, verify: () => T | Promise<T>, vouches?: (value: T) => boolean): T | Promise<T>;
}

/** A bounded, opaque key part for an identity: names may be long, or secrets typed into the wrong field. */
function identityKey(identity: string): string {
  return createHash('sha256').update(identity, 'utf8').digest('base64url').slice(0, 22);
}

/** What an attempt by `identity` from `ip` must fit in. */
interface Plan {
  /** Hard limits: refused when full. */
  readonly counters: readonly Counter[];
  /** The identity-wide allowance of `'identity+address'`: when full, the slow-down gate decides. */
  readonly wide: Counter | undefined;
  /** The key saying this address authenticated this identity lately (exempt from `wide`). */
  readonly known: string | undefined;
  /** The hashed identity (gate and backoff keys). */
  readonly id: string | undefined;
}

export function createAttemptLimiter(store: Store, limits: AttemptLimits, logger: Logger | undefined): AttemptLimiter {
  const { perIp, perIdentity, mode, backoff, knownMs } = limits;
  const warn = (err: unknown): void => logger?.warn(describeError(err), 'portcullis: could not settle an attempt slot');

  const plan = (ip: string, identity: string | undefined): Plan => {
    const address = ipKey(ip);
    const counters: Counter[] = [];
    if (perIp !== undefined) counters.push({ key: `rl:fail:ip:${address}`, ...perIp, detail: 'failed attempts per IP' });
    if (identity === undefined || perIdentity === undefined) return { counters, wide: undefined, known: undefined, id: undefined };
    const id = identityKey(identity);
    if (mode === 'identity') {
      counters.push({ key: `rl:fail:id:${id}`, ...perIdentity, detail: 'failed attempts per identity' });
      return { counters, wide: undefined, known: undefined, id };
    }
    counters.push({ key: `rl:fail:pair:${id}:${address}`, ...perIdentity, detail: 'failed attempts per identity and address' });
    if (backoff === undefined) return { counters, wide: undefined, known: undefined, id };
    const wide = { key: `rl:fail:id:${id}`, max: backoff.after, windowMs: perIdentity.windowMs, detail: 'identity slowed down' };
    return { counters, wide, known: knownMs === false ? undefined : `rl:known:${id}:${address}`, id };
  };

  /** The wait before the next attempt let through the slow-down, after `passed` were (doubling, capped). */
  const delay = (passed: number): number => {
    if (backoff === undefined) return 1;
    const steps = Number.isFinite(passed) && passed > 0 ? Math.min(passed, 30) : 0;
    return Math.min(backoff.baseMs * 2 ** steps, backoff.maxMs);
  };
  const gateKey = (id: string | undefined): string => `rl:gate:${id}`;
  const passedKey = (id: string | undefined): string => `rl:bo:${id}`;

  /**
   * Remembers that this address authenticated this identity, when the verdict proves it: a login with one's own
   * token beside a decoy `username` must not make the address known for that user.
   */
  const remember = <T>(p: Plan, value: T, vouches: ((value: T) => boolean) | undefined): void => {
    if (p.known === undefined || knownMs === false || vouches === undefined || !vouches(value)) return;
    store.set(p.known, '1', knownMs).catch(warn);
  };

  // ------------------------------------------------------------ synchronous view

  const attemptSync = <T>(
    view: SyncStore,
    ip: string,
    identity: string | undefined,
    verify: () => T | Promise<T>,
    vouches: ((value: T) => boolean) | undefined,
  ): T | Promise<T> => {
    const p = plan(ip, identity);
    // `Retry-After` is the time left in the counter's window where the store can tell, the whole window otherwise.
    for (const c of p.counters) if (Number(view.get(c.key) ?? 0) >= c.max) throw rateLimited(c.detail, view.ttl?.(c.key) ?? c.windowMs);
    let take = p.counters;
    if (p.wide !== undefined && (p.known === undefined || view.get(p.known) === undefined)) {
      if (Number(view.get(p.wide.key) ?? 0) < p.wide.max) take = [...p.counters, p.wide];
      else {
        const wait = delay(Number(view.get(passedKey(p.id)) ?? 0));
        if (!view.setIfAbsent(gateKey(p.id), '1', wait)) throw rateLimited(p.wide.detail, view.ttl?.(gateKey(p.id)) ?? wait);
        view.increment(passedKey(p.id), p.wide.windowMs);
      }
    }
    // Counted as failures (the reads above were in this same tick: nothing ran in between).
    const count = (): void => {
      for (const c of take) view.increment(c.key, c.windowMs);
    };
    let result: T | Promise<T>;
    try {
      result = verify();
    } catch (err) {
      if (isFailure(err)) count();
      throw err;
    }
    if (!isThenable(result)) {
      remember(p, result, vouches);
      return result;
    }
    // Going asynchronous: hold the slots now, in the tick they were checked.
    count();
    return Promise.resolve(result).then(
      (value) => {
        for (const c of take) view.release(c.key);
        remember(p, value, vouches);
        return value;
      },
      (err: unknown) => {
        if (!isFailure(err)) for (const c of take) view.release(c.key);
        throw err;
      },
    );
  };

  // ------------------------------------------------------------ networked store

  /** The time left before `key` expires (what a refusal's `Retry-After` should say), or `fallback` when unknown. */
  const timeLeft = async (key: string, fallback: number): Promise<number> => {
    if (store.ttl === undefined) return fallback;
    const left = await store.ttl(key).catch(() => undefined);
    return left ?? fallback;
  };

  /** Reserves every slot in the store, in order; on a refusal or an error gives back what it took. */
  const reserveAsync = async (p: Plan): Promise<string[]> => {
    const held: string[] = [];
    try {
      for (const c of p.counters) {
        if ((await store.reserve(c.key, c.max, c.windowMs)) === 0) throw rateLimited(c.detail, await timeLeft(c.key, c.windowMs));
        held.push(c.key);
      }
      if (p.wide !== undefined && (p.known === undefined || (await store.get(p.known)) === undefined)) {
        if ((await store.reserve(p.wide.key, p.wide.max, p.wide.windowMs)) > 0) held.push(p.wide.key);
        else {
          const wait = delay(Number((await store.get(passedKey(p.id))) ?? 0));
          if (!(await store.setIfAbsent(gateKey(p.id), '1', wait))) throw rateLimited(p.wide.detail, await timeLeft(gateKey(p.id), wait));
          await store.increment(passedKey(p.id), p.wide.windowMs);
        }
      }
      return held;
    } catch (err) {
      await Promise.all(held.map((k) => store.release(k).catch(warn)));
      if (isAuthError(err)) throw err;
      throw new AuthError('unavailable', { cause: err, detail: 'attempt limits: store failed' });
    }
  };

  const attemptAsync = async <T>(
    ip: string,
    identity: string | undefined,
    verify: () => T | Promise<T>,
    vouches: ((value: T) => boolean) | undefined,
  ): Promise<T> => {
    const p = plan(ip, identity);
    const held = await reserveAsync(p);
    const giveBack = (): void => {
      for (const k of held) store.release(k).catch(warn);
    };
    let value: T;
    try {
      value = await verify();
    } catch (err) {
      if (!isFailure(err)) giveBack();
      throw err;
    }
    giveBack();
    remember(p, value, vouches);
    return value;
  };

  return {
    attempt(ip, identity, verify, vouches) {
      const view = store.sync;
      return view === undefined ? attemptAsync(ip, identity, verify, vouches) : attemptSync(view, ip, identity, verify, vouches);
    },
  };
}
