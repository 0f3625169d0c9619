/**
 * Combining strategies.
 *
 * - `firstOf(a, b, …)` tries each in order: the first principal admits, the first
 *   refusal (throw) refuses, and `null` moves on. This is what a guard does with a
 *   list of strategies; `firstOf` makes such a list usable wherever one strategy
 *   is expected.
 * - `anyOf(a, b, …)` tries each in order until one admits: a refusal does not stop
 *   it. When none admits, it refuses with the most telling error it saw (see
 *   {@link ANY_OF_PRIORITY}), or returns `null` when every strategy returned `null`.
 *   Use it when credentials may legitimately fail one strategy and pass another
 *   (e.g. a token that is either an HS256 service token or an RS256 user token).
 */

import { countsAsFailure, markFailure } from '../core/attempts.js';
import { recordAdmission, strategiesIdentity } from '../core/identity.js';
import type { Principal, Strategy } from '../core/types.js';
import { type AuthError, type ErrorCode, toAuthError } from '../errors.js';

/**
 * The refusal `anyOf` reports when every strategy failed, highest first. The idea:
 * tell the client what it can act on. A revocation outranks everything; then what
 * a client can fix by refreshing (`token_expired`); then refusals about where and
 * how the client connects (CSRF, Origin, TLS, policy) that hold whatever the
 * credential; then temporary conditions (a store or JWKS down: the credential may
 * well have been good); then bad credentials; then a malformed payload; then
 * "no credentials"; and a bug (`internal_error`) last, since another strategy's
 * verdict is more useful than a hidden failure. Ties keep the first error seen.
 */
export const ANY_OF_PRIORITY: readonly ErrorCode[] = Object.freeze([
  'revoked',
  'token_expired',
  'csrf_failed',
  'origin_not_allowed',
  'tls_required',
  'forbidden',
  'rate_limited',
  'unavailable',
  'auth_timeout',
  'invalid_credentials',
  'invalid_request',
  'credentials_required',
  'internal_error',
] satisfies ErrorCode[]);

const RANK = new Map<ErrorCode, number>(ANY_OF_PRIORITY.map((code, i) => [code, i]));

function rank(error: AuthError): number {
  return RANK.get(error.code) ?? ANY_OF_PRIORITY.length;
}

function checkList(kind: string, strategies: readonly Strategy[]): void {
  if (strategies.length === 0) throw new TypeError(`portcullis: ${kind}() needs at least one strategy`);
  for (const s of strategies) {
    if (typeof s !== 'object' || s === null || typeof s.authenticate !== 'function') {
      throw new TypeError(`portcullis: every ${kind}() argument needs an authenticate(credentials, context) method`);
    }
  }
}

/** The identity a composite counts failures against: the first its members declare that the credentials name. */
function identityOf(strategies: readonly Strategy[]): Pick<Strategy, 'identity'> {
  const identity = strategiesIdentity(strategies);
  return identity === undefined ? {} : { identity };
}

function nameOf(kind: string, strategies: readonly Strategy[]): string {
  return `${kind}(${strategies.map((s) => s.name).join(',')})`;
}

/** Tries `strategies` in order: the first principal wins, the first refusal refuses. */
export function firstOf(...strategies: Strategy[]): Strategy {
  checkList('firstOf', strategies);
  const list = [...strategies];
  return {
    name: nameOf('firstOf', list),
    ...identityOf(list),
    async authenticate(credentials, context) {
      for (const strategy of list) {
        let principal: Principal | null;
        try {
          principal = await strategy.authenticate(credentials, context);
        } catch (err) {
          throw toAuthError(err);
        }
        if (principal !== null && principal !== undefined) {
          recordAdmission(principal, strategy);
          return principal;
        }
      }
      return null;
    },
  };
}

/** Tries `strategies` in order until one admits; refuses with the highest-priority error when none does. */
export function anyOf(...strategies: Strategy[]): Strategy {
  checkList('anyOf', strategies);
  const list = [...strategies];
  return {
    name: nameOf('anyOf', list),
    ...identityOf(list),
    async authenticate(credentials, context) {
      let best: AuthError | undefined;
      let failed = false;
      for (const strategy of list) {
        let principal: Principal | null;
        try {
          principal = await strategy.authenticate(credentials, context);
        } catch (err) {
          const error = toAuthError(err);
          failed ||= countsAsFailure(error.code);
          if (best === undefined || rank(error) < rank(best)) best = error;
          continue;
        }
        if (principal !== null && principal !== undefined) {
          recordAdmission(principal, strategy);
          return principal;
        }
      }
      // The reported refusal may be one that is not counted (an expired token, a foreign Origin) while another
      // member refused bad credentials: the attempt still counts against the limits.
      if (best !== undefined) throw failed ? markFailure(best) : best;
      return null;
    },
  };
}
