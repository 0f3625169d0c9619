/**
 * The Origin allowlist of the compat entry: the Socket.IO server's own
 * `cors.origin` setting when one is configured (the app already wrote down which
 * browser origins may talk to it), else same-origin only, which is also what
 * Socket.IO's HTTP long-polling allows a browser without a `cors` setting.
 *
 * `cors.origin` takes the forms of the `cors` package: `'*'` or `true` (any),
 * `false` (no CORS: same-origin), a string, a `RegExp`, an array of both, or a
 * function `(origin, callback)`. A function may answer asynchronously, which the
 * check before the upgrade cannot wait for: it is asked when the client
 * authenticates instead (see {@link CorsOrigins.atAuthentication}).
 */
import type { Server } from 'socket.io';
import type { SocketIoGuardOptions } from '../adapters/socket.io.js';
import { parseOrigin } from '../core/origin.js';

type CorsCallback = (err: Error | null, allow?: unknown) => void;
type CorsFunction = (origin: string, callback: CorsCallback) => void;

/** What to check, and when. */
export interface CorsOrigins {
  /** For the guard: `origins` and `allowNull` (`{}` keeps the same-origin default). */
  readonly guard: Pick<SocketIoGuardOptions, 'origins' | 'allowNull'>;
  /** A `cors.origin` function, asked (and awaited) before `authenticate` runs. */
  readonly atAuthentication: ((origin: string) => Promise<boolean>) | undefined;
  /** How the allowlist was chosen, for the startup log line. */
  readonly source: 'option' | 'cors' | 'default';
}

function normalise(origin: string): string {
  return parseOrigin(origin)?.origin ?? origin;
}

/** True when `allow` (a `cors.origin` value other than a function) admits `origin`. */
function allows(allow: unknown, origin: string): boolean {
  if (allow === true || allow === '*') return true;
  if (typeof allow === 'string') return normalise(allow) === normalise(origin);
  if (allow instanceof RegExp) {
    allow.lastIndex = 0;
    return allow.test(origin);
  }
  if (Array.isArray(allow)) return allow.some((entry) => entry !== true && entry !== '*' && allows(entry, origin));
  return false;
}

function checkValue(allow: unknown): void {
  const ok = (v: unknown): boolean => typeof v === 'string' || v instanceof RegExp;
  if (typeof allow === 'boolean' || ok(allow) || (Array.isArray(allow) && allow.every(ok))) return;
  throw new TypeError('socketio-auth: cors.origin must be a boolean, a string, a RegExp, an array of them, or a function');
}

/** Reads the allowlist from `origins` (the compat option) or `io`'s `cors.origin`. Throws `TypeError`. */
export function corsOrigins(io: Server, origins: SocketIoGuardOptions['origins'] | undefined): CorsOrigins {
  if (origins !== undefined) return { guard: { origins }, atAuthentication: undefined, source: 'option' };
  const cors = (io as unknown as { opts?: { cors?: unknown } }).opts?.cors;
  if (typeof cors !== 'object' || cors === null) return { guard: {}, atAuthentication: undefined, source: 'default' };
  // The `cors` package's own default origin is '*'.
  const allow = 'origin' in cors ? (cors as { origin?: unknown }).origin : '*';
  if (allow === undefined || allow === true || allow === '*') {
    return { guard: { origins: '*', allowNull: true }, atAuthentication: undefined, source: 'cors' };
  }
  if (allow === false) return { guard: {}, atAuthentication: undefined, source: 'cors' };
  if (typeof allow === 'function') {
    const fn = allow as CorsFunction;
    const atAuthentication = (origin: string): Promise<boolean> =>
      new Promise((resolve) => {
        try {
          fn(origin, (err, answer) => resolve((err === null || err === undefined) && allows(answer, origin)));
        } catch {
          resolve(false);
        }
      });
    // Every origin passes the upgrade; the function decides at authentication.
    return { guard: { origins: () => true, allowNull: true }, atAuthentication, source: 'cors' };
  }
  checkValue(allow);
  return { guard: { origins: (origin: string) => allows(allow, origin) }, atAuthentication: undefined, source: 'cors' };
}
