/**
 * The Socket.IO v4 adapter (`portcullis/socket.io`): maps Socket.IO onto the core.
 *
 * - Handshake mode: namespace middleware verifies the CONNECT packet's `auth`;
 *   refusals become `connect_error` with `err.data = { code, retryable }`.
 * - Post-connect mode (the `socketio-auth` protocol): the socket connects pending,
 *   is taken out of `nsp.sockets` (so no namespace, room or cluster broadcast can
 *   reach it: every adapter resolves recipients through that map), and a socket
 *   middleware keeps its events from the app until `authentication` succeeds.
 */
import type { IncomingMessage } from 'node:http';
import type { Namespace, Server, Socket } from 'socket.io';
import type { AttemptContext, AuthenticatedPayload, Connection, ConnectionDriver, SubmitOutcome } from '../core/connection.js';
import type { Guard, RevokeTarget } from '../core/guard.js';
import { createGuard } from '../core/guard.js';
import { describeError } from '../core/logger.js';
import type { GuardOptions } from '../core/options.js';
import type { OriginCheckOptions } from '../core/origin.js';
import { createOriginCheck } from '../core/origin.js';
import type { ClientAddress } from '../core/request.js';
import { createRequestResolver, headerValue } from '../core/request.js';
import { whenSettled } from '../core/thenable.js';
import type { Principal } from '../core/types.js';
import type { AuthError } from '../errors.js';
import { AuthError as AuthErrorClass, toAuthError } from '../errors.js';
import { handshakeContext } from './socket.io-context.js';
import { installPreflight } from './socket.io-preflight.js';

/** Event names of the post-connect protocol (PROTOCOL.md §3). */
export interface SocketIoEventNames {
  /** Server → client, on connect in message mode: `{ timeoutMs }`. @default 'auth_required' */
  required: string;
  /** Client → server: credentials (first time and refresh). @default 'authentication' */
  authentication: string;
  /** Server → client: `{ expiresAt?, ...data }`. @default 'authenticated' */
  authenticated: string;
  /** Server → client: `{ message, code, retryable }`, then disconnect. @default 'unauthorized' */
  unauthorized: string;
  /** Server → client: `{ expiresAt }` before expiry. @default 'auth_expiring' */
  expiring: string;
  /** Server → client: a refresh was refused, the current credential stays valid. @default 'auth_refresh_failed' */
  refreshFailed: string;
}

export const DEFAULT_EVENT_NAMES: Readonly<SocketIoEventNames> = Object.freeze({
  required: 'auth_required',
  authentication: 'authentication',
  authenticated: 'authenticated',
  unauthorized: 'unauthorized',
  expiring: 'auth_expiring',
  refreshFailed: 'auth_refresh_failed',
});

/** Where credentials come from. */
export type SocketIoMode = 'handshake' | 'message' | 'auto';

export interface SocketIoGuardOptions extends GuardOptions, Pick<OriginCheckOptions, 'allowNull' | 'requireOrigin'> {
  /**
   * Origins allowed to connect: exact origins, `'*'` (explicit opt-out, logged as a
   * warning), or a predicate. Checked before the Engine.IO handshake (HTTP 403) when
   * the guard is attached to a `Server`, in the namespace middleware otherwise.
   * @default same-origin only (Origin host = Host header, scheme matches TLS); no Origin header passes
   */
  origins?: NonNullable<OriginCheckOptions['origins']>;
  /**
   * Exact IPs of reverse proxies whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed.
   * @default [] (headers ignored)
   */
  trustedProxies?: readonly string[];
  /** Refuse plain (non-TLS) connections with `tls_required`. @default false */
  requireTls?: boolean;
  /**
   * `handshake`: credentials in the CONNECT packet `auth`, refusal as `connect_error`.
   * `message`: connect pending, then the `authentication` event (socketio-auth protocol).
   * `auto`: handshake when the CONNECT packet carries credentials, else message.
   * @default 'handshake'
   */
  mode?: SocketIoMode;
  /** Event names of the post-connect protocol. @default {@link DEFAULT_EVENT_NAMES} */
  events?: Partial<SocketIoEventNames>;
  /** Emit `auth_required { timeoutMs }` to sockets that connect pending. @default true */
  announce?: boolean;
  /**
   * @internal Builds the `unauthorized` payload (the compat entry uses it to send
   * the old module's messages, and needs the socket for them); `undefined` closes
   * without an `unauthorized` event (the compat entry's timeout, as in the old
   * module). @default `error.toJSON()`
   */
  formatRefusal?: (error: AuthError, socket: Socket) => Record<string, unknown> | undefined;
  /**
   * @internal Builds the `authenticated` payload (the compat entry sends the old
   * module's `true`). @default the payload itself
   */
  formatVerdict?: (payload: AuthenticatedPayload, socket: Socket) => unknown;
}

/** A guard attached to a Socket.IO server or namespace. */
export interface SocketIoGuard {
  /** The core guard (stats, verify, connections). */
  readonly guard: Guard;
  /** The principal of an authenticated socket. */
  principalOf(socket: Socket): Principal | undefined;
  /** True once the socket authenticated (and until it expires, is revoked or closes). */
  isAuthenticated(socket: Socket): boolean;
  /**
   * Revokes on every node sharing the store: matching sockets close with `revoked`,
   * and the same credentials are refused afterwards. Resolves how many local sockets closed.
   */
  revoke(target: RevokeTarget, options?: { ttlMs?: number }): Promise<number>;
  /** Removes the middleware and listeners (sockets already connected stay as they are). */
  detach(): void;
  /** Detaches and releases timers (and the store, if the guard created it). */
  close(): Promise<void>;
}

const CONNECTION = Symbol.for('portcullis.connection');
const MIDDLEWARE = Symbol.for('portcullis.middleware');
type Tagged = Socket & { [CONNECTION]?: Connection };

/** The connection of a socket guarded by any portcullis guard. */
export function connectionOf(socket: Socket): Connection | undefined {
  return (socket as Tagged)[CONNECTION];
}

interface DriverConfig {
  readonly events: SocketIoEventNames;
  readonly format: (error: AuthError, socket: Socket) => Record<string, unknown> | undefined;
  readonly formatVerdict: ((payload: AuthenticatedPayload, socket: Socket) => unknown) | undefined;
}

/**
 * How the core talks to one Socket.IO socket. A class rather than closures: one
 * small object per socket, its methods shared.
 */
class SocketIoDriver implements ConnectionDriver {
  /** The namespace middleware's `next` while the CONNECT is undecided. */
  next: ((err?: Error) => void) | undefined;
  readonly #socket: Socket;
  readonly #config: DriverConfig;

  /** Listens on the engine while the CONNECT is undecided: a client that leaves then ends at once. */
  #engineClose: ((reason: string) => void) | undefined = undefined;

  constructor(socket: Socket, next: ((err?: Error) => void) | undefined, config: DriverConfig) {
    this.#socket = socket;
    this.next = next;
    this.#config = config;
  }

  /**
   * Ends `conn` when the engine connection closes before the CONNECT is decided.
   * Only for that window: after it, `disconnect` (connected sockets) or the
   * namespace's `_remove` (sockets that never connect) report the end, so a client
   * sending CONNECT after CONNECT over one engine connection leaves no listener behind.
   */
  watchEngine(conn: Connection): void {
    if (this.#engineClose !== undefined || this.next === undefined) return;
    const listener = (reason: string): void => {
      this.#engineClose = undefined;
      conn.closed(closeReason(reason));
    };
    this.#engineClose = listener;
    this.#socket.conn.on('close', listener);
  }

  /** Takes the CONNECT decision: stops watching the engine and returns the middleware's `next`, once. */
  decided(): ((err?: Error) => void) | undefined {
    const next = this.next;
    this.next = undefined;
    const listener = this.#engineClose;
    if (listener !== undefined) {
      this.#engineClose = undefined;
      this.#socket.conn.off('close', listener);
    }
    return next;
  }

  /**
   * Ends the isolation of a socket that connected pending. A socket admitted by its
   * CONNECT is not connected yet: Socket.IO makes it a member once every middleware
   * has let it through, and a member before that would receive broadcasts the app's
   * later middlewares might still refuse it (and Socket.IO would forget to drop it).
   */
  admit(): void {
    const socket = this.#socket;
    if (socket.connected) socket.nsp.sockets.set(socket.id, socket);
  }

  authenticated(payload: AuthenticatedPayload): void {
    const { events, formatVerdict } = this.#config;
    this.#socket.emit(events.authenticated, formatVerdict === undefined ? payload : formatVerdict(payload, this.#socket));
  }

  expiring(expiresAt: number): void {
    this.#socket.emit(this.#config.events.expiring, { expiresAt });
  }

  refreshFailed(error: AuthError): void {
    this.#socket.emit(this.#config.events.refreshFailed, this.#config.format(error, this.#socket) ?? error.toJSON());
  }

  close(error: AuthError): void {
    const socket = this.#socket;
    const next = this.decided();
    if (next !== undefined) {
      // Still in the namespace middleware: refuse the CONNECT.
      const err = new Error(error.message) as Error & { data: unknown };
      err.data =
        error.retryAfter === undefined
          ? { code: error.code, retryable: error.retryable }
          : { code: error.code, retryable: error.retryable, retryAfter: error.retryAfter };
      next(err);
      return;
    }
    if (!socket.connected) return;
    const refusal = this.#config.format(error, socket);
    if (refusal !== undefined) socket.emit(this.#config.events.unauthorized, refusal);
    // Close the whole engine connection when this was its only namespace, so a
    // refused client cannot linger on the transport.
    const others = (socket.client as unknown as { sockets?: Map<string, Socket> }).sockets;
    socket.disconnect(others === undefined || others.size <= 1);
  }
}

/**
 * Ends the connection of a socket that disconnects. One function for every
 * socket (Socket.IO calls it with the socket as `this`): no closure per socket.
 */
function onSocketDisconnect(this: Socket, reason: string): void {
  connectionOf(this)?.closed(closeReason(reason));
}

/** Socket.IO / Engine.IO close reasons that mean the server ended the connection. */
const SERVER_REASONS = new Set(['server namespace disconnect', 'server shutting down', 'forced close', 'forced server close']);

function closeReason(reason: string): 'server_disconnect' | 'client_disconnect' {
  return SERVER_REASONS.has(reason) ? 'server_disconnect' : 'client_disconnect';
}

interface RestoredSession {
  data?: { principal?: unknown };
}

function isPrincipal(value: unknown): value is Principal {
  return typeof value === 'object' && value !== null && typeof (value as Principal).id === 'string' && (value as Principal).id !== '';
}

interface EventPacket {
  data?: unknown[];
  id?: number;
}

const attached = new WeakMap<Namespace, Attachment>();

interface Attachment {
  readonly owner: object;
  detach(): void;
}

/**
 * Calls `fn` for every namespace of a `Server`, present and future (dynamic
 * children included), or once for a `Namespace`. Returns a function that stops
 * watching for new namespaces.
 */
export function eachNamespace(target: Server | Namespace, fn: (nsp: Namespace) => void): () => void {
  if (!isServer(target)) {
    fn(target);
    return () => {};
  }
  for (const nsp of (target as unknown as { _nsps: Map<string, Namespace> })._nsps.values()) fn(nsp);
  target.sockets.on('new_namespace' as never, fn as never);
  return () => target.sockets.off('new_namespace' as never, fn as never);
}

function isServer(target: Server | Namespace): target is Server {
  return typeof (target as Server).of === 'function' && (target as unknown as { _nsps?: unknown })._nsps instanceof Map;
}

/**
 * Guards a Socket.IO `Server` (every namespace, present and future, unless a
 * namespace has a guard of its own) or one `Namespace` (including a dynamic
 * parent namespace created with `io.of(/regex/)`).
 */
export function createSocketIoGuard(target: Server | Namespace, options: SocketIoGuardOptions): SocketIoGuard {
  const mode: SocketIoMode = options.mode ?? 'handshake';
  if (mode !== 'handshake' && mode !== 'message' && mode !== 'auto') {
    throw new TypeError("portcullis: mode must be 'handshake', 'message' or 'auto'");
  }
  const events: SocketIoEventNames = { ...DEFAULT_EVENT_NAMES, ...options.events };
  for (const [key, name] of Object.entries(events)) {
    if (typeof name !== 'string' || name === '') throw new TypeError(`portcullis: events.${key} must be a non-empty string`);
  }
  if (new Set([events.authentication, 'connect', 'disconnect', 'disconnecting', 'connect_error']).size !== 5) {
    throw new TypeError('portcullis: events.authentication cannot be a reserved Socket.IO event');
  }
  const announce = options.announce ?? true;
  const guard = createGuard(options);
  const format = options.formatRefusal ?? ((error: AuthError) => error.toJSON());
  const formatVerdict = options.formatVerdict;
  const { logger } = guard.options;
  const owner = {};
  const detachers: (() => void)[] = [];
  const checkOrigin = createOriginCheck(options, logger);
  // Resolved again wherever needed: reading the peer address is cheap (Node caches it),
  // and a cache keyed by request (a WeakMap) costs the garbage collector more.
  const addressOf = createRequestResolver({ trustedProxies: options.trustedProxies ?? [] });
  const requireTls = options.requireTls ?? false;
  /** Origin and TLS: synchronous, cheap. Throws `AuthError`. */
  const checkTransport = (req: IncomingMessage, address: ClientAddress): void => {
    if (requireTls && !address.secure) throw new AuthErrorClass('tls_required');
    checkOrigin(headerValue(req.headers.origin), req.headers.host, address.secure);
  };
  /** True once the engine's own handlers check every new connection (guard attached to a Server). */
  let engineChecked = false;

  const shared: DriverConfig = { events, format, formatVerdict };

  const refuseHandshake = (socket: Socket, ip: string, conn: Connection | undefined, state: SocketIoDriver, err: unknown): void => {
    const error = toAuthError(err);
    guard.rejected(error, { phase: 'handshake', transport: 'socket.io', namespace: socket.nsp.name, ip, connectionId: socket.id });
    // With a connection, ending it refuses the CONNECT through the driver.
    if (conn === undefined) state.close(error);
    else conn.terminate(error);
  };

  /**
   * Lets the CONNECT through, or not, once the verification of its credentials
   * ended (or the socket stays pending, to authenticate by message).
   */
  const conclude = (socket: Socket, conn: Connection, state: SocketIoDriver, outcome: SubmitOutcome): void => {
    if (state.next === undefined) return;
    if (outcome === 'missing' && conn.pending) {
      state.decided()?.();
    } else if (conn.authenticated) {
      socket.data.principal = conn.principal;
      state.decided()?.();
    } else {
      // Ended without a verdict (the client left while we verified): hand the socket back
      // so Socket.IO drops it from the namespace's pre-connect sockets.
      state.decided()?.(new Error('connection closed'));
    }
  };

  /** A bug must refuse this socket, never become an unhandled rejection or reach Socket.IO. */
  const failed = (socket: Socket, conn: Connection, err: unknown): void => {
    logger.error({ connectionId: socket.id, ...describeError(err) }, 'portcullis: verification failed');
    conn.terminate(toAuthError(err));
  };

  /**
   * Verifies the CONNECT packet's credentials (or leaves the socket pending). When
   * the strategy and the store answer at once, the CONNECT is decided before this
   * returns: no promise, no listener. Otherwise the engine is watched until the
   * verdict, so a client that leaves meanwhile ends its connection at once.
   */
  const decide = (socket: Socket, conn: Connection, state: SocketIoDriver, address: ClientAddress): void => {
    const waiting = whenSettled(
      () => {
        const auth = socket.handshake.auth as unknown;
        const hasAuth = typeof auth === 'object' && auth !== null && Object.keys(auth).length > 0;
        const byMessage = mode === 'message' || (mode === 'auto' && !hasAuth && !hasAmbientCredentials(socket));
        // Auto mode with only ambient credentials (a cookie, a certificate): if no strategy
        // recognises them, the socket stays pending and may authenticate by message.
        return byMessage ? 'missing' : conn.submitNow(auth, handshakeContext(socket, address), true, mode === 'auto' && !hasAuth);
      },
      (outcome) => conclude(socket, conn, state, outcome),
      (err) => failed(socket, conn, err),
    );
    // Not decided at once (waiting, or pending until an `authentication` message):
    // now it counts against the pending budget, under its deadline.
    conn.hold();
    if (waiting) state.watchEngine(conn);
  };

  const middleware = Object.assign(
    (socket: Socket, next: (err?: Error) => void): void => {
      const address = addressOf(socket.request);
      const ip = address.ip;
      const state = new SocketIoDriver(socket, next, shared);
      let conn: Connection | undefined;
      let admitted: Promise<void> | undefined;
      try {
        // With the engine-level preflight, this very request was checked already.
        if (!engineChecked) checkTransport(socket.request, address);
        conn = guard.open({ id: socket.id, transport: 'socket.io', namespace: socket.nsp.name, ip, socket }, state, true);
        (socket as Tagged)[CONNECTION] = conn;
        // Without the engine-level preflight (guard on a namespace), count the handshake here.
        if (!engineChecked) admitted = guard.admit(ip, { pendingBudget: false });
      } catch (err) {
        refuseHandshake(socket, ip, conn, state, err);
        return;
      }
      if (admitted === undefined) {
        decide(socket, conn, state, address);
        return;
      }
      const opened = conn;
      opened.hold();
      state.watchEngine(opened);
      admitted.then(
        () => decide(socket, opened, state, address),
        (err: unknown) => refuseHandshake(socket, ip, opened, state, err),
      );
    },
    { [MIDDLEWARE]: true },
  );

  const onConnect = (socket: Socket): void => {
    let conn = connectionOf(socket);
    if (conn === undefined && socket.recovered) conn = adoptRecovered(socket);
    if (conn === undefined || conn.state === 'closed') {
      if (conn === undefined) logger.warn({ socketId: socket.id }, 'portcullis: socket connected without passing the guard');
      socket.disconnect(true);
      return;
    }
    socket.on('disconnect', onSocketDisconnect);
    if (conn.pending) {
      // Isolation: out of nsp.sockets until admitted, so no broadcast finds it.
      socket.nsp.sockets.delete(socket.id);
      if (announce) socket.emit(events.required, { timeoutMs: guard.options.timeoutMs === false ? null : guard.options.timeoutMs });
    }
    // Intercept before Socket.IO's own dispatch: `onAny` listeners run before
    // socket middlewares, so `socket.use` alone would leak pending events and credentials.
    (socket as unknown as { onevent: (packet: EventPacket) => void }).onevent = guardedOnevent;
  };

  /**
   * A socket restored by connection state recovery with `skipMiddlewares`: its
   * principal was re-checked (expiry, revocation) before the session was restored.
   */
  function adoptRecovered(socket: Socket): Connection | undefined {
    const principal = socket.data?.principal as Principal | undefined;
    if (!isPrincipal(principal)) return undefined;
    const state = new SocketIoDriver(socket, undefined, shared);
    try {
      const conn = guard.open(
        { id: socket.id, transport: 'socket.io', namespace: socket.nsp.name, ip: addressOf(socket.request).ip, socket },
        state,
        true,
      );
      (socket as Tagged)[CONNECTION] = conn;
      conn.accept(principal, 'handshake', 'recovery', guard.clock.now());
      return conn;
    } catch {
      return undefined;
    }
  }

  /**
   * Connection state recovery restores rooms, data and missed packets before any
   * middleware runs (and skips middlewares altogether with `skipMiddlewares`), so
   * the check happens here: a session whose principal expired or was revoked is not
   * restored, and the client goes through a fresh, verified handshake instead.
   */
  const guardRecovery = (nsp: Namespace): (() => void) => {
    const adapter = nsp.adapter as unknown as { restoreSession?: (pid: string, offset: string) => Promise<RestoredSession | null> };
    const original = adapter.restoreSession;
    if (typeof original !== 'function') return () => {};
    const wrapped = async (pid: string, offset: string): Promise<RestoredSession | null> => {
      const session = await original.call(adapter, pid, offset);
      if (session === null || session === undefined) return null;
      const principal = session.data?.principal as Principal | undefined;
      if (!isPrincipal(principal)) return null;
      if (principal.expiresAt !== undefined && principal.expiresAt <= guard.clock.now()) return null;
      try {
        if (await guard.isRevoked(principal)) return null;
      } catch {
        return null; // store down: no recovery, a full handshake decides
      }
      return session;
    };
    adapter.restoreSession = wrapped;
    return () => {
      if (adapter.restoreSession === wrapped) adapter.restoreSession = original;
    };
  };

  /**
   * A socket that never connects after our middleware let it through (a later
   * middleware refused it, or the client left while one ran) is only cleaned up by
   * Socket.IO: no event tells. Its namespace's `_remove` sees every such socket, so
   * the connection ends there, with no listener left per socket (a client can send
   * any number of CONNECT packets over one Engine.IO connection). Connected
   * sockets end on `disconnect`.
   */
  const guardRemoval = (nsp: Namespace): (() => void) => {
    const target = nsp as unknown as { _remove?: (socket: Socket) => void };
    const original = target._remove;
    if (typeof original !== 'function') return () => {};
    const wrapped = function (this: unknown, socket: Socket): void {
      original.call(this, socket);
      if (socket.connected) return; // `_onclose`: the `disconnect` event reports it with its reason
      const conn = connectionOf(socket);
      if (conn !== undefined) conn.closed(socket.conn.readyState === 'open' ? 'server_disconnect' : 'client_disconnect');
    };
    target._remove = wrapped;
    return () => {
      if (target._remove === wrapped) target._remove = original;
    };
  };

  const guardNamespace = (nsp: Namespace): (() => void) => {
    const unguardRecovery = guardRecovery(nsp);
    const unguardRemoval = guardRemoval(nsp);
    return () => {
      unguardRecovery();
      unguardRemoval();
    };
  };

  /** Shared by every socket of this guard (no per-socket closure). */
  function publishPrincipal(socket: Socket, conn: Connection): void {
    if (conn.authenticated) socket.data.principal = conn.principal;
  }

  /** Shared by every socket of this guard (no per-socket closure). */
  function guardedOnevent(this: Socket, packet: EventPacket): void {
    const conn = connectionOf(this);
    if (conn === undefined) return;
    const args = packet.data;
    if (Array.isArray(args) && args[0] === events.authentication) {
      whenSettled(
        () => conn.submitNow(args[1], handshakeContext(this, addressOf(this.request))),
        () => publishPrincipal(this, conn),
        (err) => failed(this, conn, err),
      );
      return;
    }
    // Pending (or ending) sockets: the event is dropped and its ack never called.
    if (conn.authenticated) (Object.getPrototypeOf(this) as { onevent: (packet: EventPacket) => void }).onevent.call(this, packet);
  }

  const attach = (nsp: Namespace, explicit: boolean): void => {
    const existing = attached.get(nsp);
    if (existing !== undefined) {
      if (!explicit || existing.owner === owner) return;
      existing.detach();
    }
    // A child of a guarded parent namespace inherits the parent's middleware.
    const inherited = (nsp as unknown as { _fns?: unknown[] })._fns?.some((fn) => typeof fn === 'function' && MIDDLEWARE in fn);
    if (inherited === true && !explicit) return;
    nsp.use(middleware);
    // Ours runs first, before any app middleware sees the handshake.
    const fns = (nsp as unknown as { _fns?: unknown[] })._fns;
    if (Array.isArray(fns) && fns[fns.length - 1] === middleware) fns.unshift(fns.pop());
    nsp.prependListener('connect', onConnect);
    const unguard = guardNamespace(nsp);
    // Children of a dynamic parent namespace get their own adapters: guard them as they appear.
    const children = (nsp as unknown as { children?: Set<Namespace> }).children;
    const childUnguards: (() => void)[] = [];
    const onChild = (child: Namespace): void => {
      if (children?.has(child)) childUnguards.push(guardNamespace(child));
    };
    if (children !== undefined) nsp.server.sockets.on('new_namespace' as never, onChild as never);
    const detach = (): void => {
      unguard();
      for (const u of childUnguards.splice(0)) u();
      if (children !== undefined) nsp.server.sockets.off('new_namespace' as never, onChild as never);
      const list = (nsp as unknown as { _fns?: unknown[] })._fns;
      if (Array.isArray(list)) {
        const i = list.indexOf(middleware);
        if (i !== -1) list.splice(i, 1);
      }
      nsp.off('connect', onConnect);
      if (attached.get(nsp)?.owner === owner) attached.delete(nsp);
    };
    attached.set(nsp, { owner, detach });
    detachers.push(detach);
  };

  if (isServer(target)) {
    const server = target;
    if ((server as unknown as { engine?: unknown }).engine !== undefined) {
      engineChecked = true;
      detachers.push(
        installPreflight(
          server,
          (req) => {
            const address = addressOf(req);
            checkTransport(req, address);
            return guard.admit(address.ip);
          },
          (req, error) => guard.rejected(error, { phase: 'upgrade', transport: 'socket.io', namespace: '/', ip: addressOf(req).ip }),
        ),
      );
    } else {
      logger.warn(
        {},
        'portcullis: the Socket.IO server is not attached to an HTTP server yet; checks run in the namespace middleware only',
      );
    }
    detachers.push(eachNamespace(server, (nsp) => attach(nsp, false)));
  } else {
    attach(target, true);
  }

  const detach = (): void => {
    for (const d of detachers.splice(0)) d();
  };

  return {
    guard,
    principalOf(socket) {
      const conn = connectionOf(socket);
      return conn?.authenticated === true ? conn.principal : undefined;
    },
    isAuthenticated(socket) {
      return connectionOf(socket)?.authenticated === true;
    },
    revoke(target, revokeOptions) {
      return guard.revoke(target, revokeOptions);
    },
    detach,
    async close() {
      detach();
      await guard.close();
    },
  };
}

/** Session cookies and client certificates travel without a CONNECT payload. */
function hasAmbientCredentials(socket: Socket): boolean {
  const tls = (socket.conn.request.socket as { getPeerCertificate?: () => object }).getPeerCertificate;
  return (
    typeof socket.handshake.headers.cookie === 'string' ||
    (typeof tls === 'function' && Object.keys(tls.call(socket.conn.request.socket)).length > 0)
  );
}

export type { AttemptContext };
export { AuthErrorClass as AuthError };
