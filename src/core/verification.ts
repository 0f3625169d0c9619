/**
 * Verification: raw credentials → sanitised credentials → the failure lockout →
 * the strategies, in order → the principal's validity, expiry and revocation.
 * Synchronous as long as every step answers at once (an in-process store, a
 * strategy that returns its principal), so the common handshake allocates no
 * promise and waits for no microtask. The failure limiter is called from here
 * only (and the handshake rate from `admission.ts`).
 */
import { AuthError, toAuthError } from '../errors.js';
import type { Clock } from './clock.js';
import type { RateLimiter } from './limits.js';
import { scrubError } from './logger.js';
import type { ResolvedGuardOptions } from './options.js';
import type { Revocations } from './revocation.js';
import { sanitizeCredentials } from './sanitize.js';
import { isThenable } from './thenable.js';
import type { AuthContext, Credentials, Principal, Strategy } from './types.js';

/** The outcome of a verification. */
export interface Verified {
  readonly principal: Principal;
  /** The name of the strategy that admitted the credentials. */
  readonly strategy: string;
}

export interface Verifier {
  /**
   * Verifies `raw`: the verdict at once when every step answers at once, else a
   * promise from the first step that answers later. Refusals are thrown, or
   * returned as a rejected promise once a step went asynchronous.
   */
  verify(raw: unknown, context: AuthContext): Verified | Promise<Verified>;
  /** True when a revocation covers `principal`: one seen lately, else a store lookup (at once on the memory store). */
  revoked(principal: Principal): boolean | Promise<boolean>;
}

/** Creates the verifier of a guard. */
export function createVerifier(
  opts: Pick<ResolvedGuardOptions, 'strategies' | 'payload'>,
  limiter: RateLimiter,
  revocations: Revocations | undefined,
  clock: Clock,
): Verifier {
  function verify(raw: unknown, context: AuthContext): Verified | Promise<Verified> {
    const credentials = sanitizeCredentials(raw, opts.payload);
    // The attempt is reserved against the failure limits before any strategy runs (src/core/attempts.ts).
    if (limiter.enabled) return limiter.attempt(context.ip, credentials, () => runStrategies(credentials, context, 0));
    return runStrategies(credentials, context, 0);
  }

  /** Tries the strategies from index `from` on; see {@link Verifier.verify}. */
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

  /** What a strategy threw, scrubbed of the credentials (the attempt's reservation counts it, where it is a failure). */
  function strategyFailed(err: unknown, credentials: Credentials, context: AuthContext): never {
    // What a strategy threw may quote the credentials, a credential header or cookie, or the query: scrub before
    // anyone logs it.
    throw scrubError(toAuthError(err), credentials, context);
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
    const found = revoked(principal);
    if (found === false) return verified;
    const settle = (yes: boolean): Verified => {
      if (yes) throw new AuthError('revoked', { detail: `strategy ${strategy.name}: principal revoked` });
      return verified;
    };
    return found === true ? settle(true) : found.then(settle);
  }

  function revoked(principal: Principal): boolean | Promise<boolean> {
    if (revocations === undefined) return false;
    return revocations.recentlyRevoked(principal) || revocations.isRevoked(principal);
  }

  return { verify, revoked };
}
