/**
 * Options of the `ws` adapter, their defaults, and the one place they are checked.
 */
import type { WebSocketServer } from 'ws';
import { DEFAULTS } from '../../core/defaults.js';
import type { GuardOptions } from '../../core/options.js';
import type { OriginCheckOptions } from '../../core/origin.js';
import type { TrustedProxies } from '../../core/request.js';
import type { TransportOptions } from '../../core/transport-options.js';
import { BEARER_PROTOCOL_PREFIX, isProtocolToken } from '../../protocol.js';

/** How a `ws` socket authenticates. */
export const WsMode = {
  /** Credentials must travel with the upgrade (bearer subprotocol, `?ticket=`, cookie, TLS certificate). */
  Upgrade: 'upgrade',
  /** The socket is upgraded pending and must send an `authenticate` frame first. */
  Message: 'message',
  /** Upgrade-carried credentials when present, otherwise the first message. */
  Auto: 'auto',
} as const;
export type WsMode = (typeof WsMode)[keyof typeof WsMode];

/** The `Sec-WebSocket-Protocol` entry prefix that carries a bearer token (defined in the wire module). Never echoed back. */
export { BEARER_PROTOCOL_PREFIX } from '../../protocol.js';

/** Options of {@link createWsGuard}: the guard's options plus the transport's. */
export interface WsGuardOptions extends GuardOptions, TransportOptions<WsMode> {
  /**
   * The `ws` server that performs upgrades. It must be created with `noServer: true`
   * and must not be attached to an HTTP server itself; its `maxPayload` and
   * `handleProtocols` apply. Bearer entries are removed from `Sec-WebSocket-Protocol`
   * before it sees the request.
   * @default a new `WebSocketServer({ noServer: true, maxPayload, handleProtocols })`
   */
  wss?: WebSocketServer;
  /**
   * The request path this guard serves (exact match on the part before `?`). Other
   * paths get `404` before any upgrade, unless the guard is attached to a server
   * that has other `upgrade` listeners (they are then left to those). Also the
   * connection's `namespace`.
   * @default every path (namespace `'/'`, or the route given to `createWsRouter`)
   */
  path?: string;
  /**
   * Origins allowed to connect: a list of exact origins, `'*'` (explicit opt-out),
   * or a predicate given the normalised origin. See `createOriginCheck`.
   * @default same-origin only (Origin host = Host header, scheme matches TLS)
   */
  origins?: NonNullable<OriginCheckOptions['origins']>;
  /**
   * Reverse proxies whose forwarding headers are believed (only when the direct
   * peer is one of them): addresses, CIDR ranges, presets (`'loopback'`,
   * `'linklocal'`, `'uniquelocal'`), a hop count, and `{ proxies, header: 'forwarded' }`
   * for RFC 7239 (see {@link TrustedProxies}).
   * @default [] (headers ignored)
   */
  trustedProxies?: TrustedProxies;
  /**
   * Refuse plain (non-TLS) upgrades with `tls_required` (HTTP 403). TLS is
   * recognised on the socket itself or via a trusted proxy's `X-Forwarded-Proto`.
   * @default false
   */
  requireTls?: boolean;
  /**
   * The application subprotocol the server answers with when the client offers it
   * (e.g. `'portcullis.v1'`). A client sending a bearer token in
   * `Sec-WebSocket-Protocol` must offer this protocol too, since `ws` and browsers
   * fail a handshake whose requested protocols get no answer. Not allowed with
   * `wss` (give that server a `handleProtocols` instead).
   * @default undefined (no protocol selected)
   */
  subprotocol?: string;
  /**
   * When credentials are verified: `'upgrade'`, `'message'` or `'auto'`.
   * @default 'auto'
   */
  mode?: WsMode;
  /**
   * Largest WebSocket message accepted, in bytes; larger frames are refused by
   * `ws` (close 1009) before any parsing. Only for the server this guard creates.
   * @default 65536
   */
  maxPayload?: number;
  /**
   * Query parameter carrying a one-time ticket at the upgrade; its value is passed
   * to the strategies as `credentials.ticket`.
   * @default 'ticket'
   */
  ticketParam?: string;
  /**
   * How long a socket the guard closes (refusal, deadline, expiry, revocation,
   * shutdown) may take to answer the close handshake, in milliseconds; then it is
   * destroyed, so a peer that never answers holds no descriptor or session longer
   * (`ws` itself waits 30 s). Timed by the guard's `clock`.
   * @default 1000
   */
  closeTimeoutMs?: number;
}

/** Options after defaults were applied. */
export interface ResolvedWsOptions {
  readonly path: string | undefined;
  readonly requireTls: boolean;
  readonly subprotocol: string | undefined;
  readonly mode: WsMode;
  readonly maxPayload: number;
  readonly ticketParam: string;
  readonly closeTimeoutMs: number;
}

/** Applies defaults and checks the transport options (the guard checks its own). */
export function resolveWsOptions(options: WsGuardOptions): ResolvedWsOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('portcullis: options must be an object');
  const { path, subprotocol, wss } = options;
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/') || path.includes('?'))) {
    throw new TypeError("portcullis: path must start with '/' and contain no query");
  }
  if (subprotocol !== undefined) {
    if (!isProtocolToken(subprotocol)) {
      throw new TypeError('portcullis: subprotocol must be a valid Sec-WebSocket-Protocol token');
    }
    if (subprotocol.startsWith(BEARER_PROTOCOL_PREFIX)) {
      throw new TypeError(`portcullis: subprotocol cannot start with ${BEARER_PROTOCOL_PREFIX}`);
    }
  }
  const mode = options.mode ?? DEFAULTS.ws.mode;
  if (!Object.values(WsMode).includes(mode)) throw new TypeError("portcullis: mode must be 'upgrade', 'message' or 'auto'");
  if (options.requireTls !== undefined && typeof options.requireTls !== 'boolean') {
    throw new TypeError('portcullis: requireTls must be a boolean');
  }
  const maxPayload = options.maxPayload ?? DEFAULTS.ws.maxPayload;
  if (!Number.isInteger(maxPayload) || maxPayload < 1) throw new TypeError('portcullis: maxPayload must be a positive integer');
  if (wss !== undefined) {
    if (options.maxPayload !== undefined) throw new TypeError('portcullis: set maxPayload on the ws server you pass as wss');
    if (subprotocol !== undefined)
      throw new TypeError('portcullis: give the ws server you pass as wss a handleProtocols instead of subprotocol');
    if (typeof wss !== 'object' || wss === null || typeof wss.handleUpgrade !== 'function') {
      throw new TypeError('portcullis: wss must be a ws WebSocketServer');
    }
    if (wss.options?.noServer !== true) throw new TypeError('portcullis: wss must be created with noServer: true');
  }
  const ticketParam = options.ticketParam ?? DEFAULTS.ws.ticketParam;
  if (typeof ticketParam !== 'string' || ticketParam === '') throw new TypeError('portcullis: ticketParam must be a non-empty string');
  const closeTimeoutMs = options.closeTimeoutMs ?? DEFAULTS.ws.closeTimeoutMs;
  if (!Number.isInteger(closeTimeoutMs) || closeTimeoutMs < 1) throw new TypeError('portcullis: closeTimeoutMs must be a positive integer');
  return Object.freeze({
    closeTimeoutMs,
    path,
    requireTls: options.requireTls ?? DEFAULTS.transport.requireTls,
    subprotocol,
    mode,
    maxPayload,
    ticketParam,
  });
}
