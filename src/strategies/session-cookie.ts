/**
 * Authenticates a browser socket from the web app's own session cookie (for
 * example `express-session`'s `connect.sid`).
 *
 * Browsers attach cookies to a WebSocket upgrade from ANY site, so a cookie alone
 * is a cross-site WebSocket hijacking hole. This strategy therefore requires, on
 * every attempt that carries the cookie:
 *  1. an `Origin` in an explicit allowlist (exact match after normalisation;
 *     a missing Origin and the literal `null` are refused), and
 *  2. a CSRF token only the app's own pages know, sent in the auth payload
 *     (`csrfToken`) or a header (`x-csrf-token`, for non-browser clients).
 *
 * Apps should also set the session cookie with `SameSite=Strict; HttpOnly; Secure`.
 */
import type { AuthContext, Principal, Strategy } from '../core/types.js';
import { AuthError, isAuthError } from '../errors.js';
import { cookieValue, headerValue, hmacSha256, normalizeOrigin, type SecretInput, safeEqual, secretBytes } from './shared.js';

/** Verifies a CSRF token for a session; resolves true to accept. */
export type CsrfVerify = (token: string, sessionId: string, principal: Principal, context: AuthContext) => boolean | Promise<boolean>;

/** Where the CSRF token travels and how it is checked. */
export interface CsrfOptions {
  /** Request header read when the credentials carry no token (lower-case). @default 'x-csrf-token' */
  header?: string;
  /** Credentials field holding the token. @default 'csrfToken' */
  field?: string;
  /**
   * The check: a function given the token, the session id and the principal that
   * `lookup` resolved, or `'portcullis'` for tokens made by {@link issueCsrfToken}
   * with `csrfSecret`.
   */
  verify: CsrfVerify | 'portcullis';
}

export interface SessionCookieStrategyOptions {
  /** The session cookie's name. @default 'connect.sid' */
  cookieName?: string;
  /**
   * Resolves a session id to its principal, or `null` when the session is unknown
   * or not logged in (refused with `invalid_credentials`). A throw that is not an
   * `AuthError` refuses with `unavailable`. See {@link expressSessionLookup}.
   */
  lookup: (sessionId: string, context: AuthContext) => Principal | null | Promise<Principal | null>;
  /**
   * The app's cookie-signing secret(s) (`express-session`'s `secret`): when set, the
   * cookie must be signed (`s:<id>.<base64 HMAC-SHA256>`); a list accepts any of its
   * secrets (rotation). Without it, the cookie value is the session id as is.
   * @default unsigned cookies
   */
  secret?: SecretInput | readonly SecretInput[];
  /**
   * The web origins whose pages may connect, e.g. `['https://app.example.com']`.
   * Required and non-empty. Compared exactly after normalisation (lower-case scheme
   * and host, default port dropped); no wildcards.
   */
  origins: readonly string[];
  /** The CSRF check; `'portcullis'` is short for `{ verify: 'portcullis' }`. Required. */
  csrf: CsrfOptions | 'portcullis';
  /**
   * The secret of {@link issueCsrfToken}, at least 32 bytes and different from the
   * cookie secret. Required with `verify: 'portcullis'`, refused otherwise.
   */
  csrfSecret?: SecretInput;
}

/**
 * The CSRF token of a session for the `'portcullis'` mode: base64url
 * HMAC-SHA256(secret, sessionId). Render it into the app's pages (never into a cookie).
 */
export function issueCsrfToken(sessionId: string, secret: SecretInput): string {
  if (typeof sessionId !== 'string' || sessionId === '') throw new TypeError('portcullis: issueCsrfToken needs a session id');
  return hmacSha256(secretBytes(secret), sessionId).toString('base64url');
}

/** `express-session` signing (`cookie-signature`): the id, or `undefined` when no secret signed it. */
function unsign(value: string, secrets: readonly Uint8Array[]): string | undefined {
  if (!value.startsWith('s:')) return undefined;
  const signed = value.slice(2);
  const dot = signed.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const id = signed.slice(0, dot);
  const mac = signed.slice(dot + 1);
  let ok = false;
  // Check every secret (no early exit), so timing does not tell which one matched.
  for (const secret of secrets) {
    const expected = hmacSha256(secret, id).toString('base64').replace(/=+$/, '');
    if (safeEqual(expected, mac)) ok = true;
  }
  return ok ? id : undefined;
}

/** Creates a strategy that admits the holder of a live web session. */
export function createSessionCookieStrategy(options: SessionCookieStrategyOptions): Strategy {
  if (typeof options !== 'object' || options === null) throw new TypeError('portcullis: session-cookie options must be an object');
  const cookieName = options.cookieName ?? 'connect.sid';
  if (typeof cookieName !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName)) {
    throw new TypeError('portcullis: `cookieName` is not a valid cookie name');
  }
  const { lookup } = options;
  if (typeof lookup !== 'function') throw new TypeError('portcullis: session-cookie strategy needs `lookup`');

  if (!Array.isArray(options.origins) || options.origins.length === 0) {
    throw new TypeError('portcullis: session-cookie strategy needs a non-empty `origins` allowlist');
  }
  const origins = new Set<string>();
  for (const o of options.origins) {
    const n = typeof o === 'string' ? normalizeOrigin(o) : undefined;
    if (n === undefined) throw new TypeError(`portcullis: ${JSON.stringify(o)} is not an http(s) origin`);
    origins.add(n);
  }

  const secretList = options.secret === undefined ? [] : Array.isArray(options.secret) ? options.secret : [options.secret as SecretInput];
  if (options.secret !== undefined && secretList.length === 0) throw new TypeError('portcullis: session-cookie `secret` list is empty');
  const secrets = secretList.map((s: SecretInput) => {
    if (typeof s !== 'string' && !(s instanceof Uint8Array))
      throw new TypeError('portcullis: session-cookie `secret` must be strings or bytes');
    const bytes = secretBytes(s);
    if (bytes.byteLength === 0) throw new TypeError('portcullis: session-cookie `secret` cannot be empty');
    return bytes;
  });

  const csrf: CsrfOptions = options.csrf === 'portcullis' ? { verify: 'portcullis' } : options.csrf;
  if (typeof csrf !== 'object' || csrf === null || (csrf.verify !== 'portcullis' && typeof csrf.verify !== 'function')) {
    throw new TypeError("portcullis: session-cookie strategy needs `csrf` ('portcullis' or { verify })");
  }
  const csrfHeader = (csrf.header ?? 'x-csrf-token').toLowerCase();
  const csrfField = csrf.field ?? 'csrfToken';
  let csrfSecret: Uint8Array | undefined;
  if (csrf.verify === 'portcullis') {
    if (options.csrfSecret === undefined) throw new TypeError("portcullis: csrf 'portcullis' needs `csrfSecret`");
    csrfSecret = secretBytes(options.csrfSecret);
    if (csrfSecret.byteLength < 32) throw new TypeError('portcullis: `csrfSecret` must be at least 32 bytes');
    const own = csrfSecret;
    if (secrets.some((s) => Buffer.compare(s, own) === 0))
      throw new TypeError('portcullis: `csrfSecret` must differ from the cookie `secret`');
  } else if (options.csrfSecret !== undefined) {
    throw new TypeError("portcullis: `csrfSecret` is only used with csrf 'portcullis'");
  }

  const readCsrf = (credentials: Readonly<Record<string, unknown>>, context: AuthContext): string => {
    const raw = credentials[csrfField] ?? headerValue(context.headers[csrfHeader]);
    if (typeof raw !== 'string' || raw === '' || raw.length > 1024)
      throw new AuthError('csrf_failed', { detail: 'session: no CSRF token' });
    return raw;
  };

  return {
    name: 'session-cookie',
    async authenticate(credentials, context) {
      const raw = cookieValue(headerValue(context.headers.cookie), cookieName);
      if (raw === undefined || raw === '') return null;

      if (context.origin === undefined) throw new AuthError('origin_not_allowed', { detail: 'session: no Origin header' });
      const origin = normalizeOrigin(context.origin);
      if (origin === undefined || !origins.has(origin))
        throw new AuthError('origin_not_allowed', { detail: 'session: Origin not in the allowlist' });

      let value: string;
      try {
        value = decodeURIComponent(raw);
      } catch {
        throw new AuthError('invalid_credentials', { detail: 'session: malformed cookie' });
      }
      const sessionId = secrets.length === 0 ? value : unsign(value, secrets);
      if (sessionId === undefined || sessionId === '')
        throw new AuthError('invalid_credentials', { detail: 'session: bad cookie signature' });

      const token = readCsrf(credentials, context);
      if (csrfSecret !== undefined && !safeEqual(issueCsrfToken(sessionId, csrfSecret), token)) {
        throw new AuthError('csrf_failed', { detail: 'session: wrong CSRF token' });
      }

      let principal: Principal | null;
      try {
        principal = await lookup(sessionId, context);
      } catch (err) {
        if (isAuthError(err)) throw err;
        throw new AuthError('unavailable', { cause: err, detail: 'session: lookup failed' });
      }
      if (principal === null || principal === undefined) throw new AuthError('invalid_credentials', { detail: 'session: unknown session' });

      if (typeof csrf.verify === 'function') {
        let ok: boolean;
        try {
          ok = (await csrf.verify(token, sessionId, principal, context)) === true;
        } catch (err) {
          if (isAuthError(err)) throw err;
          throw new AuthError('internal_error', { cause: err, detail: 'session: csrf verify threw' });
        }
        if (!ok) throw new AuthError('csrf_failed', { detail: 'session: wrong CSRF token' });
      }
      return principal.sessionId === undefined ? { ...principal, sessionId } : principal;
    },
  };
}

/** The part of an `express-session` store used here. */
export interface ExpressSessionStoreLike {
  get(sessionId: string, callback: (err: unknown, session?: unknown) => void): void;
}

export interface ExpressSessionLookupOptions {
  /**
   * Reads the user id from a session; a session without one is not logged in.
   * @default `session.userId ?? session.user?.id`
   */
  userId?: (session: Readonly<Record<string, unknown>>) => unknown;
}

function defaultUserId(session: Readonly<Record<string, unknown>>): unknown {
  if (session.userId !== undefined) return session.userId;
  const user = session.user;
  return typeof user === 'object' && user !== null ? (user as { id?: unknown }).id : undefined;
}

/**
 * A `lookup` over an `express-session` store (`new session.MemoryStore()`,
 * `connect-redis`, …). The principal is `{ id, sessionId }`, plus `expiresAt` from
 * the session cookie's `expires` when it has one.
 */
export function expressSessionLookup(
  store: ExpressSessionStoreLike,
  options: ExpressSessionLookupOptions = {},
): (sessionId: string) => Promise<Principal | null> {
  if (typeof store?.get !== 'function') throw new TypeError('portcullis: expressSessionLookup needs a store with get(sid, cb)');
  const userId = options.userId ?? defaultUserId;
  return (sessionId) =>
    new Promise<Principal | null>((resolve, reject) => {
      store.get(sessionId, (err, session) => {
        if (err !== null && err !== undefined) return reject(err);
        if (typeof session !== 'object' || session === null) return resolve(null);
        const s = session as Record<string, unknown>;
        const id = userId(s);
        if (!((typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isFinite(id)))) return resolve(null);
        const principal: { -readonly [K in keyof Principal]: Principal[K] } = { id: String(id), sessionId };
        const expires = (s.cookie as { expires?: unknown } | undefined)?.expires;
        const at = expires instanceof Date ? expires.getTime() : typeof expires === 'string' ? Date.parse(expires) : Number.NaN;
        if (Number.isFinite(at)) principal.expiresAt = at;
        resolve(principal);
      });
    });
}
