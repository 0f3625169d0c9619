/**
 * The escape hatch: a strategy around a user function. The function may be
 * async, return a value, or take a node-style callback as its third argument
 * (as in `socketio-auth`).
 *
 * What it returns decides:
 * - a `Principal` (an object with a string `id`) admits that principal;
 * - a non-empty string admits `{ id: string }`;
 * - `null` / `undefined` means "not mine" (the next strategy is tried);
 * - `false` refuses with `invalid_credentials`;
 * - throwing an `AuthError` refuses with its code; any other throw is `internal_error`
 *   (its message is logged, redacted, and never sent to the client).
 */

import type { IdentityDeclaration } from '../core/identity.js';
import { identityReader } from '../core/identity.js';
import { isThenable } from '../core/thenable.js';
import type { AuthContext, Credentials, Principal, Strategy } from '../core/types.js';
import { AuthError, isAuthError } from '../errors.js';

/** What a custom function may produce. */
export type CustomResult = Principal | string | false | null | undefined;

/** A custom authenticate function. */
export type AuthenticateFunction = (
  credentials: Credentials,
  context: AuthContext,
  /** Node-style callback; used only when the function declares a third parameter. */
  callback: (err: unknown, result?: CustomResult) => void,
) => CustomResult | Promise<CustomResult>;

export interface CustomStrategyOptions {
  /** The function that checks credentials. */
  authenticate: AuthenticateFunction;
  /** A name for logs. @default 'custom' */
  name?: string;
  /**
   * The identity failed attempts count against, for a guessable secret (a
   * password): the field the function checks it for (`'username'`: trimmed,
   * Unicode NFC, case-folded), `{ field, caseFold: false }` when case matters, or
   * a function of the credentials. Leave it out when the secret can't be guessed
   * (an API token, a signature): failures then count per address only. See
   * `rateLimits.lockout` for how an identity is locked out.
   * @default none: failures are not counted per identity
   */
  identity?: IdentityDeclaration;
}

function toPrincipal(result: CustomResult, name: string): Principal | null {
  if (result === null || result === undefined) return null;
  if (result === false) throw new AuthError('invalid_credentials', { detail: `${name}: refused` });
  if (typeof result === 'string' && result !== '') return { id: result };
  if (typeof result === 'object' && typeof result.id === 'string' && result.id !== '') return result;
  throw new AuthError('internal_error', { detail: `${name}: returned neither a principal, a string id, false nor null` });
}

/** Creates a strategy from a user function. */
export function createCustomStrategy(options: CustomStrategyOptions | AuthenticateFunction): Strategy {
  const opts: CustomStrategyOptions = typeof options === 'function' ? { authenticate: options } : options;
  if (typeof opts?.authenticate !== 'function') throw new TypeError('portcullis: custom strategy needs an authenticate function');
  const fn = opts.authenticate;
  const name = opts.name ?? 'custom';
  const callbackStyle = fn.length >= 3;
  const identity = opts.identity === undefined ? undefined : identityReader(opts.identity, `${name} strategy identity`);
  const threw = (err: unknown): never => {
    if (isAuthError(err)) throw err;
    throw new AuthError('internal_error', { cause: err, detail: `${name}: threw` });
  };
  const settle = (result: CustomResult): Principal | null => toPrincipal(result, name);
  return {
    name,
    ...(identity === undefined ? {} : { identity }),
    // Not `async`: a function that answers at once gets its verdict in the same tick.
    authenticate(credentials, context) {
      if (callbackStyle) {
        return new Promise<CustomResult>((resolve, reject) => {
          let settled = false;
          (fn as (c: Credentials, x: AuthContext, cb: (err: unknown, r?: CustomResult) => void) => void)(credentials, context, (err, r) => {
            if (settled) return; // a callback called twice is ignored
            settled = true;
            if (err !== null && err !== undefined) reject(err);
            else resolve(r);
          });
        }).then(settle, threw);
      }
      let result: CustomResult | Promise<CustomResult>;
      try {
        result = fn(credentials, context, () => {});
      } catch (err) {
        return threw(err);
      }
      if (isThenable<CustomResult>(result)) return Promise.resolve(result).then(settle, threw);
      return settle(result);
    },
  };
}
