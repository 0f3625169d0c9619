/**
 * `portcullis/socketio-auth`: the API and the observable behaviour of the
 * unmaintained `socketio-auth` module (v0.1.1), on top of the Socket.IO adapter,
 * for Socket.IO v4.
 *
 *     const socketioAuth = require('portcullis/socketio-auth');
 *     socketioAuth(io, { authenticate, postAuthenticate, disconnect, timeout });
 *
 * As in the old module: `authenticate(socket, data, callback)` gets whatever the
 * client sent; `callback(null, success)` with a truthy `success` emits
 * `authenticated` with that value and then calls `postAuthenticate(socket, data)`;
 * `callback(err)` emits `unauthorized { message: err.message }`; `callback(null, false)`
 * emits `unauthorized { message: 'Authentication failure' }`; a socket that stays
 * unauthenticated past `timeout` (ms, default 1000, `'none'` for none) is
 * disconnected; `disconnect(socket)` runs for every socket that ends;
 * `socket.auth` tells whether it authenticated; another `authentication` later
 * authenticates again. The exceptions, kept because the old behaviour was a
 * security bug, are listed in the README ("Migrating from socketio-auth").
 */
import type { Namespace, Server, Socket } from 'socket.io';
import { connectionOf } from '../adapters/socket.io/driver.js';
import { emitToIsolated } from '../adapters/socket.io/internals.js';
import { eachNamespace } from '../adapters/socket.io/namespaces.js';
import type { SocketIoGuard, SocketIoGuardOptions } from '../adapters/socket.io.js';
import { createSocketIoGuard } from '../adapters/socket.io.js';
import type { Clock } from '../core/clock.js';
import type { Connection } from '../core/connection.js';
import type { AuditEvent, CloseReason } from '../core/hooks.js';
import type { IdentityDeclaration } from '../core/identity.js';
import { identityReader } from '../core/identity.js';
import { describeError, scrubError } from '../core/logger.js';
import type { AuthContext, Logger, Principal, Strategy } from '../core/types.js';
import { AuthError, toAuthError } from '../errors.js';
import { resolveConfig } from './config.js';
import { type CorsOrigins, corsOrigins } from './origins.js';
import type { CompatPayloadLimits } from './payload.js';
import { claimOf, copyPayload } from './payload.js';
import type { CompatSocket, CompatState, Dispatcher } from './socket-state.js';
import { dropState, releaseHeld, stateOf, watchSocket } from './socket-state.js';

// biome-ignore lint/suspicious/noExplicitAny: the old module's users read `data` as whatever their client sent
type AuthData = any;

/** The callback `authenticate` calls: `(err)` refuses with `err.message`, `(null, success)` admits when `success` is truthy. */
export type SocketioAuthCallback = (err?: unknown, success?: unknown) => void;

/** The old module's configuration, and a few new, optional settings. */
export interface SocketioAuthConfig {
  /**
   * Decides on the `authentication` payload (`data`: whatever the client sent, any
   * type, objects as plain objects). Calls `callback(err)` to refuse with
   * `err.message`, `callback(null, false)` to refuse with `'Authentication failure'`,
   * `callback(null, success)` with a truthy `success` to admit (the client receives
   * `success` with `authenticated`). Only the first call counts. It may instead
   * return a promise of a boolean. Throwing (or rejecting) refuses with the
   * generic `'Internal error'`; the error itself is logged, never sent.
   */
  authenticate(socket: Socket, data: AuthData, callback: SocketioAuthCallback): unknown;
  /**
   * Runs after the client was sent `authenticated` (and after every later successful
   * `authentication`), with the socket already a member of its namespace.
   */
  postAuthenticate?: ((socket: Socket, data: AuthData) => unknown) | null | undefined;
  /** Runs once for every socket that ends, however it ends (left, timed out, refused, server closed). */
  disconnect?: ((socket: Socket) => unknown) | null | undefined;
  /**
   * Milliseconds a socket may stay unauthenticated: a number or a numeric string
   * (`process.env.AUTH_TIMEOUT`); `0` or unset means the default; `'none'` means no
   * limit (pending sockets still count against portcullis' pending budgets).
   * @default 1000
   */
  timeout?: number | string | null | undefined;
  /**
   * New: the browser origins allowed to connect (exact origins, `'*'`, or a predicate).
   * @default the server's `cors.origin` when configured, else same-origin only
   */
  origins?: SocketIoGuardOptions['origins'];
  /** New: caps on the `authentication` payload. @default 1 MiB, depth 32, 10000 keys */
  payload?: Partial<CompatPayloadLimits>;
  /** New: most events held per socket while its `authentication` is verified. @default 32 */
  maxHeldEvents?: number;
  /**
   * New: exact IPs of reverse proxies whose `X-Forwarded-For` is believed (behind a proxy, without it every
   * client shares the proxy's IP for the per-IP limits). @default []
   */
  trustedProxies?: SocketIoGuardOptions['trustedProxies'];
  /** New: pending (connected, unauthenticated) sockets allowed at once. @default 10000 */
  maxPending?: SocketIoGuardOptions['maxPending'];
  /** New: pending sockets allowed at once per client IP. @default 50 */
  maxPendingPerIp?: SocketIoGuardOptions['maxPendingPerIp'];
  /** New: handshake and failed-attempt rates (see the README's limits), or `false`. @default portcullis' */
  rateLimits?: SocketIoGuardOptions['rateLimits'];
  /** New: where counters live (a Redis store for a cluster). @default a memory store */
  store?: SocketIoGuardOptions['store'];
  /** New: a pino-compatible logger. @default silent */
  logger?: Logger;
  /** New: the clock for the timeout (for tests). @default the system clock */
  clock?: Clock;
  /**
   * New: the field of the `authentication` payload naming the user whose password is
   * checked: failed attempts then also count per user, with the guard's default
   * lockout (see SECURITY.md, "Attempt limits"). A field name (trimmed, NFC,
   * case-folded), `{ field, caseFold }` or a function.
   * @default none: failures count per address only
   */
  identity?: IdentityDeclaration;
}

const AUTHENTICATION = 'authentication';

/** Guards already created, per target: calling the module twice on one server keeps the first. */
const guards = new WeakMap<object, SocketIoGuard>();

type Outcome = { readonly principal: Principal } | { readonly error: AuthError };

/** Guards `io` (every namespace, present and future) or one namespace with the old module's semantics. */
function socketioAuth(io: Server | Namespace, config: SocketioAuthConfig): SocketIoGuard {
  const options = resolveConfig(config);
  // `rateLimits.identity` names a field of the payload too: the payload reaches the core only as a claim, so the
  // entry reads the field itself (see `passThrough`, which keeps it from the core).
  const declared = config.identity ?? (config.rateLimits === false ? undefined : config.rateLimits?.identity);
  const readIdentity = declared === undefined ? undefined : identityReader(declared, 'socketio-auth: identity');
  const { logger } = options;
  const existing = guards.get(io);
  if (existing !== undefined) {
    logger.warn({}, 'socketio-auth: already applied to this server; the second call is ignored');
    return existing;
  }
  const server = 'server' in io && typeof (io as Namespace).server === 'object' ? (io as Namespace).server : (io as Server);
  const origins: CorsOrigins = corsOrigins(server, config.origins);
  const forServer = io === server;
  /** The namespace where the old module listened: `/` of a server, or the namespace it was given. */
  const isHome = (socket: Socket): boolean => !forServer || socket.nsp.name === '/';

  const dispatcher: Dispatcher = {
    authentication: AUTHENTICATION,
    maxHeld: options.maxHeldEvents,
    prepare(_socket, state, packet) {
      const args = packet.data as unknown[];
      try {
        state.attempt = { data: copyPayload(args[1], options.payload) };
      } catch (err) {
        state.attempt = { error: toAuthError(err) };
      }
      let claim: Record<string, string> = {};
      try {
        if ('data' in state.attempt) claim = claimOf(state.attempt.data, readIdentity);
      } catch (err) {
        // An identity field that is not a string: refused `invalid_request` by the strategy, before `authenticate`.
        state.attempt = { error: toAuthError(err) };
      }
      return { ...packet, data: [AUTHENTICATION, claim] };
    },
    overflow(socket) {
      logger.warn(
        { connectionId: socket.id, max: options.maxHeldEvents },
        'socketio-auth: too many events before the verdict; extra ones dropped',
      );
    },
  };

  /** Runs the app's `authenticate` on a copy of what the client sent; answers at once when its callback does. */
  const decide = (socket: CompatSocket, state: CompatState, data: unknown): Principal | Promise<Principal> => {
    state.spoke = true;
    state.refusal = undefined;
    let outcome: Outcome | undefined;
    let settle: ((outcome: Outcome) => void) | undefined;
    let calls = 0;
    const finish = (result: Outcome): void => {
      if (settle === undefined) outcome = result;
      else settle(result);
    };
    /** An internal error, scrubbed of every value the client sent (it may be logged, never sent). */
    const internal = (err: unknown, detail: string): AuthError =>
      scrubError(new AuthError('internal_error', { detail: `socketio-auth: ${detail}`, cause: err }), data);
    const callback: SocketioAuthCallback = (err, success) => {
      if (calls++ > 0) {
        logger.warn({ connectionId: socket.id }, 'socketio-auth: the authenticate callback was called again; only the first call counts');
        return;
      }
      if (success) {
        state.verdict = success;
        state.admittedData = data;
        finish({ principal: { id: socket.id } });
      } else if (err) {
        const message = (err as { message?: unknown }).message;
        state.refusal = { message: typeof message === 'string' ? message : undefined };
        finish({ error: new AuthError('invalid_credentials', { detail: 'socketio-auth: callback(err)', cause: err }) });
      } else {
        finish({ error: new AuthError('invalid_credentials', { detail: 'socketio-auth: callback(null, false)' }) });
      }
    };
    let returned: unknown;
    try {
      returned = options.authenticate(socket, data, callback);
    } catch (err) {
      if (calls++ === 0) finish({ error: internal(err, 'authenticate threw') });
      else
        logger.error(
          { connectionId: socket.id, ...describeError(internal(err, 'authenticate threw after its callback')) },
          'socketio-auth: authenticate threw',
        );
    }
    if (calls === 0 && typeof (returned as PromiseLike<unknown> | undefined)?.then === 'function') {
      (returned as PromiseLike<unknown>).then(
        (value) => {
          if (typeof value === 'boolean' && calls === 0) callback(null, value);
        },
        (err: unknown) => {
          if (calls++ === 0) finish({ error: internal(err, 'authenticate rejected') });
        },
      );
    }
    if (outcome === undefined) {
      return new Promise<Principal>((resolve, reject) => {
        settle = (result) => ('principal' in result ? resolve(result.principal) : reject(result.error));
      });
    }
    if ('principal' in outcome) return outcome.principal;
    throw outcome.error;
  };

  const strategy: Strategy = {
    name: 'socketio-auth',
    // Failures count per user only when the app names the field (`identity`); `claimOf` carries it.
    ...(readIdentity === undefined ? {} : { identity: (claim) => (typeof claim.identity === 'string' ? claim.identity : undefined) }),
    authenticate(_claim, context: AuthContext) {
      const socket = context.socket as CompatSocket;
      const state = stateOf(socket);
      const attempt = state?.attempt;
      if (state === undefined || attempt === undefined) throw new AuthError('invalid_request', { detail: 'socketio-auth: no payload' });
      state.attempt = undefined;
      if ('error' in attempt) throw attempt.error;
      const check = origins.atAuthentication;
      if (check === undefined || context.origin === undefined) return decide(socket, state, attempt.data);
      return check(context.origin).then((allowed) => {
        if (!allowed) throw new AuthError('origin_not_allowed', { detail: 'socketio-auth: cors.origin refused' });
        return decide(socket, state, attempt.data);
      });
    },
  };

  /** After `authenticated` went out: `postAuthenticate`, the client's other namespaces, then its held events. */
  const afterAccepted = (conn: Connection, socket: CompatSocket, state: CompatState): void => {
    const data = state.admittedData;
    state.admittedData = undefined;
    const post = options.postAuthenticate;
    if (post !== undefined) {
      const failed = (err: unknown): void => {
        logger.error(
          { connectionId: socket.id, ...describeError(scrubError(new AuthError('internal_error', { cause: err }), data)) },
          'socketio-auth: postAuthenticate failed',
        );
        queueMicrotask(() => conn.terminate(new AuthError('internal_error', { detail: 'socketio-auth: postAuthenticate failed' })));
      };
      try {
        const returned = post(socket, data);
        if (typeof (returned as PromiseLike<unknown> | undefined)?.then === 'function')
          (returned as PromiseLike<unknown>).then(undefined, failed);
      } catch (err) {
        failed(err);
      }
    }
    if (forServer && socket.nsp.name === '/') for (const other of siblings(socket)) admitWithRoot(other);
    queueMicrotask(() => releaseHeld(socket, dispatcher));
  };

  /** Admits a socket of another namespace whose client authenticated on `/` (the old module's one login per client). */
  const admitWithRoot = (socket: CompatSocket): void => {
    const conn = connectionOf(socket);
    const state = stateOf(socket);
    if (conn === undefined || state === undefined || !conn.pending || conn.inFlight || !socket.connected) return;
    if (!conn.accept({ id: socket.id }, 'handshake', 'socketio-auth', handle.guard.clock.now())) return;
    socket.auth = true;
    state.withRoot = true;
  };

  /**
   * Ends the sockets admitted with their client's `/` when that login was lost to a
   * verdict (a refused re-authentication, a revocation): a logout on `/` is a logout.
   * A client that merely leaves `/` keeps them, as in the old module.
   */
  const endWithRoot = (root: Socket, reason: CloseReason): void => {
    if (reason === 'client_disconnect' || reason === 'server_disconnect' || reason === 'auth_timeout') return;
    for (const other of siblings(root)) {
      const conn = connectionOf(other);
      if (stateOf(other)?.withRoot === true && conn?.authenticated === true) {
        conn.terminate(new AuthError(reason, { detail: 'socketio-auth: its client lost its login on /' }));
      }
    }
  };

  const handle = createSocketIoGuard(io, {
    strategies: [strategy],
    mode: 'message',
    announce: false,
    timeoutMs: options.timeoutMs,
    closeOnFailedRefresh: true,
    ...origins.guard,
    ...passThrough(config),
    logger,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    formatRefusal(error, socket) {
      // The old module disconnected a socket that did not authenticate in time without a word.
      if (error.code === 'auth_timeout') return undefined;
      // Emitted here, just before the adapter disconnects, rather than by the adapter: as in the old
      // module the event carries an acknowledgement callback, so a client handler that calls it
      // (`(err, ack) => ack()`) keeps working. The server does not wait for it.
      emitToIsolated(socket, AUTHORIZATION_REFUSED, refusalOf(error, stateOf(socket)), ignoreAck);
      return undefined;
    },
    formatVerdict(_payload, socket) {
      const compat = socket as CompatSocket;
      compat.auth = true;
      const state = stateOf(socket);
      const verdict = state?.verdict ?? true;
      if (state !== undefined) state.verdict = undefined;
      return verdict;
    },
    hooks: {
      onAudit(event: AuditEvent) {
        if (event.type !== 'accepted' && event.type !== 'refreshed') return;
        if (event.type === 'accepted' && event.phase === 'handshake') return; // admitted with its client's `/`
        const conn = event.connection as Connection;
        const socket = conn.socket as CompatSocket;
        const state = stateOf(socket);
        if (state !== undefined) afterAccepted(conn, socket, state);
      },
      onClose(connection, reason) {
        const socket = connection.socket as CompatSocket | undefined;
        const state = socket === undefined ? undefined : stateOf(socket);
        if (socket === undefined || state === undefined) return; // never connected: the old module never saw it
        dropState(state);
        if (forServer && socket.nsp.name === '/') endWithRoot(socket, reason);
        const disconnect = options.disconnect;
        if (disconnect === undefined || !(isHome(socket) || state.spoke)) return;
        try {
          const returned = disconnect(socket);
          if (typeof (returned as PromiseLike<unknown> | undefined)?.then === 'function') {
            (returned as PromiseLike<unknown>).then(undefined, (err: unknown) =>
              logger.error({ connectionId: socket.id, ...describeError(err) }, 'socketio-auth: disconnect callback failed'),
            );
          }
        } catch (err) {
          logger.error({ connectionId: socket.id, ...describeError(err) }, 'socketio-auth: disconnect callback threw');
        }
      },
    },
  });
  guards.set(io, handle);

  eachNamespace(io, (nsp) => {
    // Before any listener of the app: the old module's flag is false until authenticated.
    nsp.prependListener('connect', (socket: CompatSocket) => {
      if (socket.auth !== true) socket.auth = false;
    });
    // After the adapter installed its `onevent` (on `connect`), before the app's `connection` handlers.
    nsp.prependListener('connection', (socket: CompatSocket) => {
      if (!socket.connected || connectionOf(socket) === undefined || stateOf(socket) !== undefined) return;
      watchSocket(socket, dispatcher);
      if (forServer && socket.nsp.name !== '/') {
        const root = rootOf(socket);
        if (root !== undefined && connectionOf(root)?.authenticated === true) admitWithRoot(socket);
      }
    });
  });
  return handle;
}

const AUTHORIZATION_REFUSED = 'unauthorized';

function ignoreAck(): void {}

/** The `unauthorized` payload: the old module's `{ message }`, plus the portcullis `code`. */
function refusalOf(error: AuthError, state: CompatState | undefined): Record<string, unknown> {
  const refusal = state?.refusal;
  if (error.code === 'invalid_credentials' && refusal !== undefined) {
    return refusal.message === undefined ? { code: error.code } : { message: refusal.message, code: error.code };
  }
  if (error.code === 'invalid_credentials') return { message: 'Authentication failure', code: error.code };
  return { message: error.message, code: error.code };
}

/** The portcullis limits a config sets (only those it sets, for `exactOptionalPropertyTypes`). */
function passThrough(config: SocketioAuthConfig): Partial<SocketIoGuardOptions> {
  const out: Partial<SocketIoGuardOptions> = {};
  if (config.trustedProxies !== undefined) out.trustedProxies = config.trustedProxies;
  if (config.maxPending !== undefined) out.maxPending = config.maxPending;
  if (config.maxPendingPerIp !== undefined) out.maxPendingPerIp = config.maxPendingPerIp;
  if (config.rateLimits !== undefined) {
    if (config.rateLimits === false || config.rateLimits.identity === undefined) out.rateLimits = config.rateLimits;
    else {
      const { identity: _read, ...rest } = config.rateLimits;
      out.rateLimits = rest;
    }
  }
  if (config.store !== undefined) out.store = config.store;
  return out;
}

/** The client's other sockets (other namespaces over the same connection). */
function siblings(socket: Socket): CompatSocket[] {
  const sockets = (socket.client as unknown as { sockets?: Map<string, Socket> }).sockets;
  if (sockets === undefined) return [];
  return [...sockets.values()].filter((s) => s !== socket) as CompatSocket[];
}

/** The client's socket on `/`, if it has one. */
function rootOf(socket: Socket): Socket | undefined {
  return (socket.client as unknown as { nsps?: Map<string, Socket> }).nsps?.get('/');
}

export default socketioAuth;
export type { CompatPayloadLimits };
export { socketioAuth, socketioAuth as 'module.exports' };
