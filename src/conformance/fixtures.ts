/**
 * Strategies, credentials and secrets shared by the behaviour suite. Nothing here knows
 * which transport it serves.
 */
import { createHmac } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import type { Principal, Strategy } from '../core/types.js';
import { AuthError, type ErrorCode, isErrorCode } from '../errors.js';
import { createCustomStrategy } from '../strategies/custom.js';
import { Signal } from './harness.js';

/** Text that must never reach a client: it is in every internal error detail and cause. */
export const SECRET_TEXT = 'SECRET-internal-detail-hunter2';

export const JWT_SECRET = 'jwt-secret-jwt-secret-jwt-secret-jwt!';
export const JWT_AUDIENCE = 'portcullis-behaviour';
export const HMAC_KEY_ID = 'k1';
export const HMAC_SECRET = 'hmac-secret-hmac-secret-hmac-secret-!!';
export const COOKIE_SECRET = 'cookie-secret-cookie-secret-cookie-secret';
export const CSRF_SECRET = 'csrf-secret-csrf-secret-csrf-secret-csrf';
/** The web app whose pages may open sockets with its session cookie. */
export const APP_ORIGIN = 'https://app.example.com';

/**
 * A gate a strategy or hook waits on: the test sees when it was entered and decides
 * when it opens.
 */
export class Gate {
  readonly #signal = new Signal();
  readonly #opened: Promise<void>;
  #open: () => void = () => {};
  #entered = 0;

  constructor() {
    this.#opened = new Promise<void>((resolve) => {
      this.#open = resolve;
    });
  }

  get entered(): number {
    return this.#entered;
  }

  /** Called by the code under test: counts the entry, then waits for the gate. */
  pass(): Promise<void> {
    this.#entered++;
    this.#signal.notify();
    return this.#opened;
  }

  untilEntered(n: number): Promise<void> {
    return this.#signal.untilTrue(() => this.#entered >= n, `the gate to be entered ${n} time(s)`);
  }

  release(): void {
    this.#open();
  }
}

export interface TokenStrategy {
  readonly strategy: Strategy;
  /** Every `token` the strategy was called with, in order. */
  readonly calls: string[];
}

/**
 * A custom strategy reading `credentials.token`:
 * - `alice`, `bob`: admitted, `{ id, data: { name } }`;
 * - `wrong`: refused (`invalid_credentials`);
 * - `code.<code>`: throws `new AuthError(code)` whose detail and cause hold {@link SECRET_TEXT};
 * - `boom`: throws a plain `Error` holding {@link SECRET_TEXT};
 * - `gated.<n>`: waits for `gate`, then admits `{ id: 'gated', data: { n } }`;
 * - `hang`: never settles;
 * - `exp.<ms>`: admits `alice` until the guard's clock + ms.
 */
export function tokenStrategy(gate?: Gate): TokenStrategy {
  const calls: string[] = [];
  const strategy = createCustomStrategy(async (credentials, context): Promise<Principal | false | null> => {
    const token = credentials.token;
    if (typeof token !== 'string') return null;
    calls.push(token);
    const [kind = '', arg = ''] = token.split(/\.(.*)/s);
    if (token === 'alice' || token === 'bob') return { id: token, data: { name: token } };
    if (kind === 'code' && isErrorCode(arg)) {
      throw new AuthError(arg, { detail: `${SECRET_TEXT} (${arg})`, cause: new Error(SECRET_TEXT) });
    }
    if (token === 'boom') throw new Error(`${SECRET_TEXT}: the database refused password hunter2`);
    if (kind === 'gated') {
      await gate?.pass();
      return { id: 'gated', data: { n: Number(arg) } };
    }
    if (token === 'hang') return new Promise<never>(() => {});
    if (kind === 'exp') return { id: 'alice', expiresAt: context.clock.now() + Number(arg) };
    return false;
  });
  return { strategy, calls };
}

/** Tokens that make {@link tokenStrategy} throw each code of the table. */
export function codeToken(code: ErrorCode): string {
  return `code.${code}`;
}

const jwtKey = new TextEncoder().encode(JWT_SECRET);

/** An HS256 token for `sub`, valid for five minutes, for `audience`. */
export function signJwt(sub: string, audience = JWT_AUDIENCE): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(jwtKey);
}

/** The same claims with `alg: none` and no signature. */
export function unsecuredJwt(sub: string): string {
  return new UnsecuredJWT({}).setSubject(sub).setAudience(JWT_AUDIENCE).setIssuedAt().setExpirationTime('5m').encode();
}

/** An `express-session` cookie for `sid`: `s:<sid>.<base64 HMAC-SHA256>`, URL-encoded. */
export function sessionCookie(sid: string, secret = COOKIE_SECRET): string {
  const mac = createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '');
  return `connect.sid=${encodeURIComponent(`s:${sid}.${mac}`)}`;
}

/** `{ a: { a: … } }` nested `depth` objects deep. */
export function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}
