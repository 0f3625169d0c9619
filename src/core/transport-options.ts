/**
 * The options both transport adapters share (`portcullis/socket.io`, `portcullis/ws`):
 * the checks made before the upgrade or the Engine.IO handshake, and when
 * credentials are read. Defaults: {@link DEFAULTS}`.transport`, and the per-transport
 * `mode` in `DEFAULTS.socketIo` / `DEFAULTS.ws`.
 */

import type { DEFAULTS } from './defaults.js';
import type { OriginCheckOptions } from './origin.js';
import type { TrustedProxies } from './request.js';

/** Options every transport adapter accepts; `M` is the transport's set of modes. */
export interface TransportOptions<M extends string = string> extends Pick<OriginCheckOptions, 'allowNull' | 'requireOrigin'> {
  /**
   * Origins allowed to connect: exact origins, `'*'` (explicit opt-out, logged as a
   * warning), or a predicate given the normalised origin. See `createOriginCheck`.
   * @default same-origin only (Origin host = Host header, scheme matches TLS); no Origin header passes
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
   * Refuse plain (non-TLS) connections with `tls_required` (HTTP 403 before the
   * upgrade). TLS is recognised on the socket itself or via a trusted proxy's
   * `X-Forwarded-Proto`.
   * @default false
   */
  requireTls?: boolean;
  /**
   * When credentials are read. Socket.IO: `'handshake' | 'message' | 'auto'`,
   * default `'handshake'`; `ws`: `'upgrade' | 'message' | 'auto'`, default `'auto'`
   * (why they differ: {@link DEFAULTS}).
   */
  mode?: M;
}
