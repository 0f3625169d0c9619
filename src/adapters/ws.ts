/**
 * `portcullis/ws`: guards a `ws` server. Credentials are checked in the HTTP
 * `upgrade` handler (Origin, TLS, limits and upgrade-carried credentials, refused
 * with an HTTP status before any `101`) or by the first `authenticate` frame; the
 * application only ever sees authenticated sockets. See PROTOCOL.md §4.
 */

export { FrameType } from './ws/frames.js';
export type { WsConnectionListener, WsGuard, WsGuardStats } from './ws/guard.js';
export { createWsGuard } from './ws/guard.js';
export type { BroadcastData, BroadcastOptions, Hub } from './ws/hub.js';
export type { ResolvedWsOptions, WsGuardOptions } from './ws/options.js';
export { BEARER_PROTOCOL_PREFIX, WsMode } from './ws/options.js';
export type { WsRouter, WsRouterOptions } from './ws/router.js';
export { createWsRouter } from './ws/router.js';
export type { WsConnectionInfo } from './ws/session.js';
