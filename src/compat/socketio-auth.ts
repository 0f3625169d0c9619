/**
 * `portcullis/socketio-auth`: the API of the unmaintained `socketio-auth` module,
 * on top of the Socket.IO adapter, for Socket.IO v4.
 *
 *     const socketioAuth = require('portcullis/socketio-auth');
 *     socketioAuth(io, { authenticate, postAuthenticate, disconnect, timeout });
 *
 * Same events and messages as the old module (`authentication` → `authenticated`
 * | `unauthorized { message }`), with its bugs fixed: pending sockets really get
 * no broadcast on v4; every namespace is guarded; a callback called twice is
 * ignored; the server disconnects after `unauthorized` without waiting for the
 * client's ack; `authenticated` is sent only after `postAuthenticate` finished.
 */
import type { Namespace, Server, Socket } from 'socket.io';
import { eachNamespace } from '../adapters/socket.io/namespaces.js';
import type { SocketIoGuard } from '../adapters/socket.io.js';
import { createSocketIoGuard } from '../adapters/socket.io.js';
import type { Clock } from '../core/clock.js';
import type { IdentityDeclaration } from '../core/identity.js';
import { identityReader } from '../core/identity.js';
import type { Logger, Strategy } from '../core/types.js';
import type { AuthError } from '../errors.js';
import { AuthError as AuthErrorClass } from '../errors.js';

/** The old module's configuration. */
export interface SocketioAuthConfig {
  /**
   * Checks the `authentication` payload; calls `callback(err)` to refuse with
   * `err.message`, `callback(null, false)` to refuse with `'Authentication failure'`,
   * `callback(null, true)` to admit. It may also return a promise of a boolean.
   */
  authenticate: (
    socket: Socket,
    data: Record<string, unknown>,
    callback: (err: Error | null | undefined, success?: boolean) => void,
  ) => unknown;
  /** Runs after a successful authentication, before the client hears `authenticated`. */
  postAuthenticate?: (socket: Socket, data: Record<string, unknown>) => unknown;
  /** Runs when an authenticated or pending socket disconnects. */
  disconnect?: (socket: Socket) => unknown;
  /** Milliseconds a socket may stay unauthenticated, or `'none'`. @default 1000 */
  timeout?: number | 'none';
  /** A pino-compatible logger (new; the old module had none). */
  logger?: Logger;
  /** The clock for the timeout (new; for tests). @default the system clock */
  clock?: Clock;
  /**
   * The field of the `authentication` payload naming the user whose password is
   * checked (new): failed attempts then also count per user, with the guard's
   * default lockout (see SECURITY.md, "Attempt limits"). A field name (trimmed,
   * NFC, case-folded), `{ field, caseFold }` or a function.
   * @default none: failures count per address only
   */
  identity?: IdentityDeclaration;
}

const REFUSED = 'socketio-auth: refused';
const FAILED = 'socketio-auth: failure';
const AUTH_DATA = Symbol('portcullis.socketio-auth.data');
const VERDICT = Symbol('portcullis.socketio-auth.verdict');
type CompatSocket = Socket & { auth?: boolean; [AUTH_DATA]?: unknown; [VERDICT]?: unknown };

function refusalMessage(error: AuthError): string {
  if (error.detail === REFUSED && error.cause instanceof Error) return error.cause.message;
  if (error.detail === FAILED) return 'Authentication failure';
  return error.message;
}

/** Guards `io` (every namespace) with the old module's semantics. */
function socketioAuth(io: Server | Namespace, config: SocketioAuthConfig): SocketIoGuard {
  if (typeof config !== 'object' || config === null || typeof config.authenticate !== 'function') {
    throw new TypeError('socketio-auth: config.authenticate must be a function');
  }
  const timeout = config.timeout ?? 1000;
  if (timeout !== 'none' && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 1)) {
    throw new TypeError("socketio-auth: timeout must be a positive number of milliseconds or 'none'");
  }
  const { authenticate, postAuthenticate, disconnect } = config;

  const identity = config.identity === undefined ? undefined : identityReader(config.identity, 'socketio-auth: identity');
  const strategy: Strategy = {
    name: 'socketio-auth',
    ...(identity === undefined ? {} : { identity }),
    authenticate(credentials, context) {
      const socket = context.socket as Socket;
      return new Promise((resolve, reject) => {
        let settled = false;
        // As in the old module: a truthy `success` admits, then an error refuses with its message.
        const done = (err: Error | null | undefined, success?: unknown): void => {
          if (settled) return; // a callback called twice is ignored
          settled = true;
          if (success) {
            (socket as CompatSocket)[VERDICT] = success;
            resolve({ id: socket.id });
          } else if (err !== null && err !== undefined) {
            reject(
              new AuthErrorClass('invalid_credentials', { detail: REFUSED, cause: err instanceof Error ? err : new Error(String(err)) }),
            );
          } else {
            reject(new AuthErrorClass('invalid_credentials', { detail: FAILED }));
          }
        };
        (socket as CompatSocket)[AUTH_DATA] = credentials;
        try {
          const returned = authenticate(socket, credentials as Record<string, unknown>, done);
          if (returned !== null && typeof returned === 'object' && typeof (returned as Promise<unknown>).then === 'function') {
            (returned as Promise<unknown>).then(
              (value) => {
                if (typeof value === 'boolean') done(null, value);
              },
              (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
            );
          }
        } catch (err) {
          if (!settled) {
            settled = true;
            reject(new AuthErrorClass('internal_error', { detail: 'socketio-auth: authenticate threw', cause: err }));
          }
        }
      });
    },
  };

  const guard = createSocketIoGuard(io, {
    strategies: [strategy],
    mode: 'message',
    announce: false,
    timeoutMs: timeout === 'none' ? false : timeout,
    ...(config.logger === undefined ? {} : { logger: config.logger }),
    ...(config.clock === undefined ? {} : { clock: config.clock }),
    formatRefusal: (error) => ({ message: refusalMessage(error), code: error.code }),
    formatVerdict: (_payload, socket) => {
      const verdict = (socket as CompatSocket)[VERDICT] ?? true;
      delete (socket as CompatSocket)[VERDICT];
      return verdict;
    },
    hooks: {
      async onAuthenticated(connection) {
        const socket = connection.socket as CompatSocket;
        socket.auth = true;
        const data = socket[AUTH_DATA] as Record<string, unknown>;
        delete socket[AUTH_DATA];
        if (postAuthenticate !== undefined) await postAuthenticate(socket, data);
      },
      onClose(connection) {
        const socket = connection.socket as CompatSocket | undefined;
        if (socket === undefined) return;
        delete socket[AUTH_DATA];
        delete socket[VERDICT];
        if (disconnect !== undefined) disconnect(socket);
      },
    },
  });
  // The old module's `socket.auth` flag, false until authenticated.
  const mark = (nsp: Namespace): void => {
    nsp.on('connection', (socket: Socket & { auth?: boolean }) => {
      if (socket.auth !== true) socket.auth = false;
    });
  };
  eachNamespace(io, mark);
  return guard;
}

export default socketioAuth;
export { socketioAuth, socketioAuth as 'module.exports' };
