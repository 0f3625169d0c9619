/**
 * JSON Web Tokens, verified with `jose` (HS* tokens with `node:crypto` and
 * `checkClaims`, by jose's rules, synchronously). The accepted algorithms are listed
 * explicitly; keys are imported once, at construction (or fetched and cached by
 * `jose` from a remote JWKS); time comes from the guard's clock.
 *
 * The token is read from `credentials.token` (the field name is configurable) and,
 * when enabled, from an `Authorization: Bearer` header of the upgrade request. A
 * value that is not shaped like a compact JWS (three dot-separated base64url
 * parts) is "not mine": the strategy returns `null` so another one may try it.
 */
import {
  createHmac,
  createPublicKey,
  createSecretKey,
  KeyObject,
  type JsonWebKey as NodeJwk,
  timingSafeEqual,
  type webcrypto,
} from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';
import { isThenable } from '../core/thenable.js';
import type { AuthContext, Credentials, Principal, Strategy } from '../core/types.js';
import { AuthError, isAuthError } from '../errors.js';
import { type ClaimRules, checkClaims } from './jwt-claims.js';
import { headerValue, positiveNumber, type SecretInput, secretBytes } from './shared.js';

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

/** A JWS algorithm portcullis accepts in `algorithms` (never `none`). */
export type JwtAlgorithm = (typeof HMAC_ALGS)[number] | (typeof ASYMMETRIC_ALGS)[number];

/** A JSON Web Key Set, as served at a `jwks_uri`. */
export interface JsonWebKeySet {
  keys: JWK[];
}

/** Caching of a remote JWKS (passed to `jose`'s `createRemoteJWKSet`). */
export interface RemoteJwksOptions {
  /** How long a fetched key set is used before it is refetched, in milliseconds. @default 600000 */
  cacheMaxAgeMs?: number;
  /** Minimum time between two fetches (e.g. on an unknown `kid`), in milliseconds. @default 30000 */
  cooldownMs?: number;
  /** Time allowed for one fetch, in milliseconds; a timeout refuses with `unavailable`. @default 5000 */
  timeoutMs?: number;
}

export interface JwtStrategyOptions {
  /**
   * The accepted algorithms. Required and non-empty; `none` is refused, and HMAC
   * (`HS*`) algorithms cannot be mixed with asymmetric ones (that mix is what makes
   * algorithm-confusion attacks possible).
   */
  algorithms: readonly JwtAlgorithm[];
  /**
   * The shared secret for `HS*` algorithms, at least 32 bytes (strings are UTF-8).
   * Exactly one of `secret`, `publicKey` and `jwksUrl` is required.
   */
  secret?: SecretInput;
  /**
   * The verification key for asymmetric algorithms: a PEM public key (SPKI, or an
   * X.509 certificate), a public JWK, a JWK Set (`{ keys: [...] }`, picked by `kid`),
   * a Node `KeyObject` or a WebCrypto `CryptoKey`. Private keys are refused.
   */
  publicKey?: string | JWK | JsonWebKeySet | KeyObject | webcrypto.CryptoKey;
  /**
   * A remote JWKS (an identity provider's `jwks_uri`). Must be `https:`, except on
   * a loopback host (`localhost`, `127.0.0.1`, `[::1]`).
   */
  jwksUrl?: string | URL;
  /** Caching of the remote JWKS (only with `jwksUrl`). @default see {@link RemoteJwksOptions} */
  jwks?: RemoteJwksOptions;
  /** Expected `iss` claim value(s). @default not checked */
  issuer?: string | readonly string[];
  /** Expected `aud` claim value(s); the token must name one of them. @default not checked */
  audience?: string | readonly string[];
  /** Claims that must be present. @default [] (plus `exp` while `requireExpiration` is true) */
  requiredClaims?: readonly string[];
  /**
   * Whether a token without `exp` is refused. A token that never expires would
   * keep a socket authenticated forever.
   * @default true
   */
  requireExpiration?: boolean;
  /** Allowed clock skew for `exp`, `nbf` and `iat`, in seconds. @default 5 */
  clockToleranceSec?: number;
  /** The credentials field holding the token. @default 'token' */
  field?: string;
  /**
   * Whether an `Authorization: Bearer <token>` header of the upgrade request is
   * also accepted (used when `credentials[field]` is absent).
   * @default false
   */
  bearerHeader?: boolean;
  /**
   * Maps the verified payload to a principal. Whatever it leaves out is filled
   * from the token: `sessionId` ← `sid`, `tokenId` ← `jti`, `issuedAt` ← `iat`,
   * `expiresAt` ← `exp` (the mapper may shorten `expiresAt`, never extend it past `exp`).
   * @default `{ id: sub, sessionId: sid, tokenId: jti, issuedAt: iat * 1000, expiresAt: exp * 1000, claims: payload }`
   */
  mapClaims?: (payload: JWTPayload, context: AuthContext) => Principal | Promise<Principal>;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const MIN_SECRET_BYTES = 32;

/** The asymmetric key types and EC curves each algorithm family works with. */
function fitsKey(alg: JwtAlgorithm, key: KeyObject): boolean {
  const type = key.asymmetricKeyType;
  if (alg.startsWith('RS')) return type === 'rsa';
  if (alg.startsWith('PS')) return type === 'rsa' || type === 'rsa-pss';
  if (alg.startsWith('ES')) {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const want = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' }[alg as 'ES256' | 'ES384' | 'ES512'];
    return type === 'ec' && curve === want;
  }
  if (alg === 'Ed25519') return type === 'ed25519';
  return type === 'ed25519' || type === 'ed448';
}

function checkAlgorithms(algorithms: unknown): JwtAlgorithm[] {
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new TypeError('portcullis: jwt strategy needs a non-empty `algorithms` list');
  }
  const known = new Set<string>([...HMAC_ALGS, ...ASYMMETRIC_ALGS]);
  for (const alg of algorithms) {
    if (typeof alg === 'string' && alg.toLowerCase() === 'none') throw new TypeError('portcullis: jwt algorithm `none` is never accepted');
    if (typeof alg !== 'string' || !known.has(alg)) throw new TypeError(`portcullis: unsupported jwt algorithm ${String(alg)}`);
  }
  const hmac = algorithms.filter((a: string) => a.startsWith('HS')).length;
  if (hmac > 0 && hmac < algorithms.length) {
    throw new TypeError('portcullis: jwt algorithms cannot mix HMAC (HS*) and asymmetric algorithms');
  }
  return [...new Set(algorithms as JwtAlgorithm[])];
}

function isCryptoKey(value: unknown): value is webcrypto.CryptoKey {
  const ctor = (globalThis as { CryptoKey?: abstract new () => unknown }).CryptoKey;
  return ctor !== undefined && value instanceof ctor;
}

const HS_HASH: Readonly<Record<string, string>> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

/** Header segments remembered per strategy (anyone can send new ones; only the first few are kept). */
const MAX_KNOWN_HEADERS = 16;

/**
 * Checks the header and HMAC of a compact JWS (already matched against
 * {@link JWS_COMPACT}) and returns its payload segment. Runs synchronously with
 * `node:crypto`: WebCrypto's HMAC, which jose uses, is a thread-pool job per
 * token, several times the cost of the HMAC itself.
 */
type HmacVerifier = (token: string) => string;

function hmacVerifier(bytes: Uint8Array, algorithms: readonly JwtAlgorithm[]): HmacVerifier {
  const key = createSecretKey(bytes);
  const allowed = new Set<string>(algorithms);
  const malformed = (): AuthError => new AuthError('invalid_credentials', { detail: 'jwt: malformed token' });
  // An issuer signs every token under the same few headers: remember the hash of the
  // header segments that passed, so the common token skips decoding its header.
  const accepted = new Map<string, string>();
  const hashOf = (segment: string): string => {
    const known = accepted.get(segment);
    if (known !== undefined) return known;
    let header: unknown;
    try {
      header = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    } catch {
      throw malformed();
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw malformed();
    const { alg, crit } = header as { alg?: unknown; crit?: unknown };
    if (typeof alg !== 'string' || !allowed.has(alg)) throw new AuthError('invalid_credentials', { detail: 'jwt: algorithm not allowed' });
    // No JWS extension is understood here, so a token that declares one critical is refused (RFC 7515 §4.1.11).
    if (crit !== undefined) throw malformed();
    const hash = HS_HASH[alg] as string;
    if (accepted.size < MAX_KNOWN_HEADERS) accepted.set(segment, hash);
    return hash;
  };
  return (token) => {
    const first = token.indexOf('.');
    const second = token.indexOf('.', first + 1);
    const expected = createHmac(hashOf(token.slice(0, first)), key)
      .update(token.slice(0, second))
      .digest();
    const given = Buffer.from(token.slice(second + 1), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AuthError('invalid_credentials', { detail: 'jwt: bad signature' });
    }
    return token.slice(first + 1, second);
  };
}

/** A key for jose, or the HMAC verifier of `HS*` tokens. */
type Verifier = { readonly hmac: HmacVerifier } | KeyObject | JWTVerifyGetKey;

/** Imports the verification key once. */
function importKey(options: JwtStrategyOptions, algorithms: JwtAlgorithm[]): Verifier {
  const given = [options.secret, options.publicKey, options.jwksUrl].filter((k) => k !== undefined).length;
  if (given !== 1) throw new TypeError('portcullis: jwt strategy needs exactly one of `secret`, `publicKey` or `jwksUrl`');
  const hmac = algorithms[0]?.startsWith('HS') === true;
  if (options.jwks !== undefined && options.jwksUrl === undefined) throw new TypeError('portcullis: `jwks` options need `jwksUrl`');

  if (options.secret !== undefined) {
    if (!hmac) throw new TypeError('portcullis: a jwt `secret` only works with HS* algorithms');
    if (typeof options.secret !== 'string' && !(options.secret instanceof Uint8Array)) {
      throw new TypeError('portcullis: jwt `secret` must be a string or a Uint8Array');
    }
    const bytes = secretBytes(options.secret);
    if (bytes.byteLength < MIN_SECRET_BYTES) throw new TypeError(`portcullis: jwt \`secret\` must be at least ${MIN_SECRET_BYTES} bytes`);
    return { hmac: hmacVerifier(Uint8Array.from(bytes), algorithms) };
  }
  if (hmac) throw new TypeError('portcullis: HS* algorithms need a `secret`, not a public key or JWKS');

  if (options.jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(options.jwksUrl);
    } catch {
      throw new TypeError('portcullis: `jwksUrl` is not a valid URL');
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
      throw new TypeError('portcullis: `jwksUrl` must use https: (http: only on a loopback host)');
    }
    const j = options.jwks ?? {};
    return createRemoteJWKSet(url, {
      cacheMaxAge: j.cacheMaxAgeMs === undefined ? 600_000 : positiveNumber('jwks.cacheMaxAgeMs', j.cacheMaxAgeMs),
      cooldownDuration: j.cooldownMs === undefined ? 30_000 : positiveNumber('jwks.cooldownMs', j.cooldownMs),
      timeoutDuration: j.timeoutMs === undefined ? 5_000 : positiveNumber('jwks.timeoutMs', j.timeoutMs),
    });
  }

  const input = options.publicKey;
  let key: KeyObject;
  if (typeof input === 'string') {
    if (/PRIVATE KEY-----/.test(input)) throw new TypeError('portcullis: jwt `publicKey` must be a public key, not a private key');
    try {
      key = createPublicKey(input);
    } catch (cause) {
      throw new TypeError('portcullis: jwt `publicKey` is not a valid PEM public key or certificate', { cause });
    }
  } else if (isCryptoKey(input)) {
    key = KeyObject.from(input);
    if (key.type !== 'public') throw new TypeError('portcullis: jwt `publicKey` must be a public CryptoKey');
  } else if (input instanceof KeyObject) {
    if (input.type !== 'public') throw new TypeError('portcullis: jwt `publicKey` must be a public KeyObject');
    key = input;
  } else if (typeof input === 'object' && input !== null && Array.isArray((input as JsonWebKeySet).keys)) {
    const set = input as JsonWebKeySet;
    if (set.keys.some((k) => k.kty === 'oct' || k.d !== undefined)) {
      throw new TypeError('portcullis: a jwt JWK Set must hold public keys only');
    }
    return createLocalJWKSet({ keys: set.keys });
  } else if (typeof input === 'object' && input !== null) {
    const jwk = input as JWK;
    if (jwk.kty === 'oct') throw new TypeError('portcullis: a symmetric JWK is a `secret`, not a `publicKey`');
    if (jwk.d !== undefined) throw new TypeError('portcullis: jwt `publicKey` must be a public JWK (it has a private part)');
    try {
      key = createPublicKey({ key: jwk as NodeJwk, format: 'jwk' });
    } catch (cause) {
      throw new TypeError('portcullis: jwt `publicKey` is not a valid JWK', { cause });
    }
  } else {
    throw new TypeError('portcullis: jwt `publicKey` must be a PEM string, a JWK, a JWK Set or a KeyObject');
  }
  for (const alg of algorithms) {
    if (!fitsKey(alg, key)) throw new TypeError(`portcullis: jwt algorithm ${alg} does not fit the ${key.asymmetricKeyType} key`);
  }
  return key;
}

/** Turns a `jose` failure into a refusal with a credential-free detail. */
function refusal(err: unknown): AuthError {
  if (isAuthError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const claim = (err as { claim?: unknown } | null)?.claim;
  const reason = (err as { reason?: unknown } | null)?.reason;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return new AuthError('token_expired', { detail: 'jwt: expired' });
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const name = typeof claim === 'string' ? claim : 'unknown';
      if (reason === 'missing') return new AuthError('invalid_credentials', { detail: `jwt: missing ${name} claim` });
      if (name === 'nbf') return new AuthError('invalid_credentials', { detail: 'jwt: not yet valid' });
      if (name === 'aud') return new AuthError('invalid_credentials', { detail: 'jwt: audience mismatch' });
      if (name === 'iss') return new AuthError('invalid_credentials', { detail: 'jwt: issuer mismatch' });
      if (name === 'iat') return new AuthError('invalid_credentials', { detail: 'jwt: issued in the future' });
      return new AuthError('invalid_credentials', { detail: `jwt: invalid ${name} claim` });
    }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new AuthError('invalid_credentials', { detail: 'jwt: bad signature' });
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new AuthError('invalid_credentials', { detail: 'jwt: algorithm not allowed' });
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return new AuthError('invalid_credentials', { detail: 'jwt: no matching key' });
    case 'ERR_JWKS_TIMEOUT':
      return new AuthError('unavailable', { cause: err, detail: 'jwt: JWKS fetch timed out' });
    case 'ERR_JWKS_INVALID':
      return new AuthError('unavailable', { cause: err, detail: 'jwt: JWKS response invalid' });
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
    case 'ERR_JWK_INVALID':
      return new AuthError('invalid_credentials', { detail: 'jwt: malformed token' });
    case 'ERR_JOSE_GENERIC':
      // e.g. a JWKS endpoint answering something other than 200.
      return new AuthError('unavailable', { cause: err, detail: 'jwt: JWKS fetch failed' });
    default:
      // Network failures of the JWKS fetch surface as plain errors (TypeError: fetch failed, AbortError).
      if (err instanceof Error && (err.name === 'TypeError' || err.name === 'AbortError')) {
        return new AuthError('unavailable', { cause: err, detail: 'jwt: JWKS fetch failed' });
      }
      return new AuthError('internal_error', { cause: err, detail: 'jwt: verification threw' });
  }
}

function defaultPrincipal(payload: JWTPayload): Principal {
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw new AuthError('invalid_credentials', { detail: 'jwt: missing sub claim' });
  }
  return { id: payload.sub, claims: payload };
}

/** Creates a strategy that admits holders of a valid JWT. */
export function createJwtStrategy(options: JwtStrategyOptions): Strategy {
  if (typeof options !== 'object' || options === null) throw new TypeError('portcullis: jwt strategy options must be an object');
  const algorithms = checkAlgorithms(options.algorithms);
  const key = importKey(options, algorithms);
  const field = options.field ?? 'token';
  if (typeof field !== 'string' || field === '') throw new TypeError('portcullis: jwt `field` must be a non-empty string');
  const bearer = options.bearerHeader ?? false;
  const tolerance = options.clockToleranceSec ?? 5;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    throw new TypeError('portcullis: jwt `clockToleranceSec` must be a number >= 0');
  }
  const required = new Set(options.requiredClaims ?? []);
  if (options.requireExpiration ?? true) required.add('exp');
  const toList = (v: string | readonly string[] | undefined): string[] | undefined =>
    v === undefined ? undefined : typeof v === 'string' ? [v] : [...v];
  const issuer = toList(options.issuer);
  const audience = toList(options.audience);
  if (issuer?.length === 0 || audience?.length === 0) throw new TypeError('portcullis: jwt `issuer` / `audience` lists cannot be empty');
  const mapClaims = options.mapClaims;
  const requiredClaims = [...required];
  const rules: ClaimRules = { requiredClaims, issuer, audience, tolerance };
  if (mapClaims !== undefined && typeof mapClaims !== 'function') throw new TypeError('portcullis: jwt `mapClaims` must be a function');

  const readToken = (credentials: Credentials, context: AuthContext): string | undefined => {
    const raw = credentials[field];
    if (raw !== undefined && raw !== null) {
      if (typeof raw !== 'string') throw new AuthError('invalid_request', { detail: `jwt: ${field} is not a string` });
      return raw;
    }
    if (!bearer) return undefined;
    const header = headerValue(context.headers.authorization);
    const match = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    return match?.[1];
  };

  /** The principal of a verified payload: at once unless `mapClaims` returns a promise. */
  const principalOf = (payload: JWTPayload, context: AuthContext): Principal | Promise<Principal> => {
    const exp = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
    if (mapClaims === undefined) {
      const { id } = defaultPrincipal(payload);
      // One literal, one hidden class for every principal (a spread plus additions is slow).
      return {
        id,
        claims: payload,
        sessionId: typeof payload.sid === 'string' ? payload.sid : undefined,
        tokenId: typeof payload.jti === 'string' ? payload.jti : undefined,
        issuedAt: typeof payload.iat === 'number' ? payload.iat * 1000 : undefined,
        expiresAt: exp,
      } as Principal;
    }
    const mapped = (base: Principal): Principal => {
      if (typeof base !== 'object' || base === null || typeof base.id !== 'string' || base.id === '') {
        throw new AuthError('internal_error', { detail: 'jwt: mapClaims returned no principal id' });
      }
      const principal: { -readonly [K in keyof Principal]: Principal[K] } = { ...base };
      if (principal.sessionId === undefined && typeof payload.sid === 'string') principal.sessionId = payload.sid;
      if (principal.tokenId === undefined && typeof payload.jti === 'string') principal.tokenId = payload.jti;
      if (principal.issuedAt === undefined && typeof payload.iat === 'number') principal.issuedAt = payload.iat * 1000;
      if (exp !== undefined) principal.expiresAt = principal.expiresAt === undefined ? exp : Math.min(principal.expiresAt, exp);
      return principal;
    };
    const base = mapClaims(payload, context);
    return isThenable(base) ? Promise.resolve(base).then(mapped) : mapped(base);
  };

  const refuse = (err: unknown): never => {
    throw refusal(err);
  };

  return {
    name: 'jwt',
    // Not `async`: an HS* token is checked at once (node:crypto, then `checkClaims`);
    // asymmetric keys and JWKS go through jose's promise.
    authenticate(credentials, context) {
      const token = readToken(credentials, context);
      if (token === undefined || !JWS_COMPACT.test(token)) return null;
      if (typeof key === 'function' || key instanceof KeyObject) {
        // A plain literal (no spread): this runs once per handshake. jose ignores undefined issuer/audience.
        const verifyOptions = {
          algorithms,
          clockTolerance: tolerance,
          currentDate: new Date(context.clock.now()),
          requiredClaims,
          issuer,
          audience,
        } as JWTVerifyOptions;
        const verified = typeof key === 'function' ? jwtVerify(token, key, verifyOptions) : jwtVerify(token, key, verifyOptions);
        return verified.then(({ payload }) => principalOf(payload, context), refuse);
      }
      // HS*: the signature and the claims are checked here, at once, by jose's rules.
      return principalOf(checkClaims(key.hmac(token), context.clock.now(), rules), context);
    },
  };
}
