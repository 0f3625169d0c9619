/**
 * The claims check of an HS* token whose signature the strategy has verified
 * itself: the same rules as `jose.jwtVerify` (RFC 7519 §4.1, as jose 6 applies
 * them), with the same refusal codes, without jose's decoding machinery.
 * Measured in a server, routing the payload through jose's `UnsecuredJWT.decode`
 * cost about 4 % of a whole Socket.IO handshake; `test/strategies/jwt-claims.test.ts`
 * checks this against jose, case by case.
 */
import type { JWTPayload } from 'jose';
import { AuthError } from '../errors.js';

/** What the claims must satisfy. */
export interface ClaimRules {
  /** Claims that must be present (own properties), checked in reverse order, as jose does. */
  readonly requiredClaims: readonly string[];
  /** Accepted `iss` values. */
  readonly issuer: readonly string[] | undefined;
  /** Accepted `aud` values: the token must name one of them. */
  readonly audience: readonly string[] | undefined;
  /** Allowed clock skew, in seconds. */
  readonly tolerance: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const malformed = (): AuthError => new AuthError('invalid_credentials', { detail: 'jwt: malformed token' });

/** A claim of the wrong type or value. */
const invalid = (claim: string): AuthError => new AuthError('invalid_credentials', { detail: `jwt: invalid ${claim} claim` });

/** Decodes a base64url payload segment (already matched `[A-Za-z0-9_-]+`) into its claims set. */
function decode(segment: string): Record<string, unknown> {
  // A length of 4n+1 encodes no whole byte: jose refuses it, Buffer would silently drop the last character.
  if (segment.length % 4 === 1) throw malformed();
  let claims: unknown;
  try {
    claims = JSON.parse(strictUtf8.decode(Buffer.from(segment, 'base64url')));
  } catch {
    throw malformed();
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw malformed();
  return claims as Record<string, unknown>;
}

/** A NumericDate claim: absent, or a number. */
function numericDate(claims: Record<string, unknown>, claim: string): number | undefined {
  const value = claims[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw claim === 'nbf' ? notYetValid() : invalid(claim);
  return value;
}

const notYetValid = (): AuthError => new AuthError('invalid_credentials', { detail: 'jwt: not yet valid' });

/**
 * The claims of a verified payload segment at `nowMs`, or the refusal:
 * `token_expired` past `exp`, `invalid_credentials` otherwise.
 */
export function checkClaims(segment: string, nowMs: number, rules: ClaimRules): JWTPayload {
  const claims = decode(segment);
  const { requiredClaims, issuer, audience, tolerance } = rules;
  if (issuer !== undefined && !Object.hasOwn(claims, 'iss')) throw missing('iss');
  if (audience !== undefined && !Object.hasOwn(claims, 'aud')) throw missing('aud');
  for (let i = requiredClaims.length - 1; i >= 0; i--) {
    const claim = requiredClaims[i] as string;
    if (!Object.hasOwn(claims, claim)) throw missing(claim);
  }
  if (issuer !== undefined && !issuer.includes(claims.iss as string)) {
    throw new AuthError('invalid_credentials', { detail: 'jwt: issuer mismatch' });
  }
  if (audience !== undefined && !namesAudience(claims.aud, audience)) {
    throw new AuthError('invalid_credentials', { detail: 'jwt: audience mismatch' });
  }
  const now = Math.floor(nowMs / 1000);
  numericDate(claims, 'iat');
  const nbf = numericDate(claims, 'nbf');
  if (nbf !== undefined && nbf > now + tolerance) throw notYetValid();
  const exp = numericDate(claims, 'exp');
  if (exp !== undefined && exp <= now - tolerance) throw new AuthError('token_expired', { detail: 'jwt: expired' });
  return claims as JWTPayload;
}

function missing(claim: string): AuthError {
  return new AuthError('invalid_credentials', { detail: `jwt: missing ${claim} claim` });
}

/** True when `aud` (a string or an array) names one of `accepted`. */
function namesAudience(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  if (Array.isArray(aud)) return accepted.some((a) => aud.includes(a));
  return false;
}
