/**
 * Options of the Socket.IO adapter, their defaults, the public types, and the one
 * place the transport's options are checked (the guard checks its own).
 */
import type { DefaultEventsMap, Socket } from 'socket.io';
import type { AuthenticatedPayload } from '../../core/connection.js';
import { DEFAULTS } from '../../core/defaults.js';
import type { Guard, RevokeTarget } from '../../core/guard.js';
import type { GuardOptions } from '../../core/options.js';
import type { OriginCheckOptions } from '../../core/origin.js';
import type { TrustedProxies } from '../../core/request.js';
import type { TransportOptions } from '../../core/transport-options.js';
import type { Principal } from '../../core/types.js';
import type { AuthError } from '../../errors.js';
import type { Claims, PortcullisSocketData } from '../../policy/types.js';
import { SocketIoEvent } from '../../protocol.js';
import type { EventPacket } from './internals.js';

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

/** The default event names: the wire module's {@link SocketIoEvent}. */
export const DEFAULT_EVENT_NAMES: Readonly<SocketIoEventNames> = SocketIoEvent;

/** Where credentials come from. */
export type SocketIoMode = 'handshake' | 'message' | 'auto';

export interface SocketIoGuardOptions extends GuardOptions, TransportOptions<SocketIoMode> {
  /**
   * Origins allowed to connect: exact origins, `'*'` (explicit opt-out, logged as a
   * warning), or a predicate. Checked before the Engine.IO handshake (HTTP 403) when
   * the guard is attached to a `Server`, in the namespace middleware otherwise.
   * @default same-origin only (Origin host = Host header, scheme matches TLS); no Origin header passes
   */
  origins?: NonNullable<OriginCheckOptions['origins']>;
  /**
   * Reverse proxies whose forwarding headers are believed: addresses, CIDR ranges,
   * presets (`'loopback'`, `'linklocal'`, `'uniquelocal'`), a hop count, and
   * `{ proxies, header: 'forwarded' }` for RFC 7239 (see {@link TrustedProxies}).
   * @default [] (headers ignored)
   */
  trustedProxies?: TrustedProxies;
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

/**
 * @internal The authorization layer's hook: decides every event of an authenticated
 * socket before any app handler (`onAny` included) sees it. Installed by
 * `attachSocketIoAuthorization` (src/policy/socket-io.ts).
 */
export interface EventGate {
  /** True: dispatch now. False: dropped, or held and later passed to `dispatch`. */
  admit(socket: Socket, packet: EventPacket, dispatch: (socket: Socket, packet: EventPacket) => void): boolean;
}

/** @internal Key of the method that installs an {@link EventGate} on a {@link SocketIoGuard}. */
export const kEventGate: unique symbol = Symbol.for('portcullis.eventGate');

/** A Socket.IO socket whose `socket.data.principal` is typed with the app's claims. */
export type AuthenticatedSocket<C extends Claims = Record<string, unknown>> = Socket<
  DefaultEventsMap,
  DefaultEventsMap,
  DefaultEventsMap,
  PortcullisSocketData<C>
>;

/**
 * Receives each guarded socket once, when it becomes authenticated: at connect in
 * handshake mode, on its first accepted `authentication` in message / auto mode
 * (after the `authenticated` verdict was sent). Never called for a pending socket, nor
 * again on a refresh. A listener that throws (or returns a promise that rejects) is logged,
 * not fatal; any other return value is ignored.
 */
export type AuthenticatedListener<C extends Claims = Record<string, unknown>> = (
  socket: AuthenticatedSocket<C>,
  principal: Principal<C>,
) => unknown;

/** A guard attached to a Socket.IO server or namespace. */
export interface SocketIoGuard {
  /**
   * THE way to write connection handlers: `listener` receives only authenticated
   * sockets, of every namespace this guard guards (read `socket.nsp`), once each.
   * Unlike `io.on('connection')`, which in `message` / `auto` mode also fires for
   * sockets still pending (with `socket.data.principal` undefined).
   *
   * ```ts
   * sioGuard.on<{ orgId: string }>('connection', (socket, principal) => {
   *   socket.join(`user:${principal.id}`);
   * });
   * ```
   */
  on<C extends Claims = Record<string, unknown>>(event: 'connection', listener: AuthenticatedListener<C>): this;
  /** Removes a listener added with {@link SocketIoGuard.on}. */
  off<C extends Claims = Record<string, unknown>>(event: 'connection', listener: AuthenticatedListener<C>): this;
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
  /** @internal Installs (or removes) the authorization layer's {@link EventGate}. */
  [kEventGate](gate: EventGate | undefined): void;
}

/** The transport options after defaults were applied. */
export interface ResolvedSocketIoOptions {
  readonly mode: SocketIoMode;
  readonly events: Readonly<SocketIoEventNames>;
  readonly announce: boolean;
  readonly format: (error: AuthError, socket: Socket) => Record<string, unknown> | undefined;
  readonly formatVerdict: ((payload: AuthenticatedPayload, socket: Socket) => unknown) | undefined;
}

/** Applies defaults and checks the transport options. Throws `TypeError`. */
export function resolveSocketIoOptions(options: SocketIoGuardOptions): ResolvedSocketIoOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('portcullis: options must be an object');
  const mode: SocketIoMode = options.mode ?? DEFAULTS.socketIo.mode;
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
  return Object.freeze({
    mode,
    events: Object.freeze(events),
    announce: options.announce ?? DEFAULTS.socketIo.announce,
    format: options.formatRefusal ?? ((error: AuthError) => error.toJSON()),
    formatVerdict: options.formatVerdict,
  });
}
