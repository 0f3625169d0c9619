/**
 * `portcullis/authorization`: who may enter which namespace, join which room or
 * channel, send which event and how fast, re-evaluated when the principal
 * changes, a grant expires, the app invalidates, or `revalidate` says no.
 *
 *     const authz = createAuthorization<Claims>({ rooms: { 'org:{orgId}:*': true } });
 *     const guard = createSocketIoGuard(io, { strategies, hooks: [authz.hooks] });
 *     const rooms = attachSocketIoAuthorization(guard, authz);
 *
 * See docs/authorization.md.
 */

export type { Authorization } from './authorization.js';
export { createAuthorization } from './authorization.js';
export type { PolicyAnswer } from './decide.js';
export { Outcome } from './decide.js';
export type { GrantFailure, GrantInput, GrantSecret, GrantVerifier, GrantVerifierOptions } from './grants.js';
export { createGrantVerifier, signGrant } from './grants.js';
export { AUTHORIZATION_DEFAULTS } from './options.js';
export type { NamePattern } from './pattern.js';
export { compilePattern } from './pattern.js';
export type { SocketIoAuthorization, SocketIoAuthorizationOptions, SocketIoAuthzEvents } from './socket-io.js';
export { attachSocketIoAuthorization, DEFAULT_AUTHZ_EVENTS } from './socket-io.js';
export type {
  AuthorizationHooks,
  AuthorizationLimits,
  AuthorizationOptions,
  AuthorizedPrincipal,
  AuthzDecision,
  Claims,
  EventContext,
  EventRateOptions,
  EventRule,
  InvalidateTarget,
  JoinResult,
  NamespaceContext,
  NamespaceRule,
  Policy,
  PolicyConnection,
  PortcullisSocketData,
  RevalidateAnswer,
  RevalidateOptions,
  RoomContext,
  RoomRule,
} from './types.js';
export type { WsAuthorization, WsAuthorizationOptions } from './ws.js';
export { AuthzFrameType, attachWsAuthorization } from './ws.js';
