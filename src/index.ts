/**
 * portcullis: authentication, authorization and abuse limits for Socket.IO and ws.
 * The root entry exports the transport-agnostic core: its API, not its parts
 * (the connection class, the state table, the deadline queue and the payload
 * sanitiser stay internal). The wire contract is `portcullis/protocol`.
 */

export type { Clock, ManualClock, TimerHandle } from './core/clock.js';
export { createManualClock, MAX_TIMER_MS, systemClock } from './core/clock.js';
export type { AttemptContext, AuthenticatedPayload, ConnectionDriver, ConnectionInit } from './core/connection.js';
export { DEFAULTS } from './core/defaults.js';
export type { Guard, GuardStats, RevokeTarget, Verified } from './core/guard.js';
export { createGuard } from './core/guard.js';
export type { AuditEvent, CloseReason, ConnectionInfo, Hooks } from './core/hooks.js';
export type { IdentityDeclaration, IdentityFunction } from './core/identity.js';
export { normalizeIdentity } from './core/identity.js';
export { ipKey, normalizeIp } from './core/ip.js';
export type { IdentityBackoff, LockoutMode, RateLimitOptions, RateWindow } from './core/limits.js';
export { redact, silentLogger } from './core/logger.js';
export type { GuardOptions, ResolvedGuardOptions } from './core/options.js';
export { combineHooks } from './core/options.js';
export type { OriginCheck, OriginCheckOptions } from './core/origin.js';
export { createOriginCheck } from './core/origin.js';
export type { ClientAddress, ForwardedHeader, RequestResolver, RequestResolverOptions, TrustedProxies } from './core/request.js';
export { createRequestResolver } from './core/request.js';
export type { RevocationOptions, RevocationStatus } from './core/revocation.js';
export type { PayloadLimits } from './core/sanitize.js';
export { DEFAULT_PAYLOAD_LIMITS } from './core/sanitize.js';
export { ConnectionState } from './core/state-machine.js';
export type { TransportOptions } from './core/transport-options.js';
export type { AuthContext, AuthPhase, Credentials, Logger, Principal, Store, Strategy, SyncStore, Transport } from './core/types.js';
export type { AuthErrorOptions, ErrorCode, ErrorCodeInfo, Refusal } from './errors.js';
export { AuthError, ClientAction, ERROR_CODES, isAuthError, isErrorCode, toAuthError } from './errors.js';
export type { MemoryStore, MemoryStoreOptions } from './stores/memory.js';
export { createMemoryStore } from './stores/memory.js';
export type { AuthenticateFunction, CustomResult, CustomStrategyOptions } from './strategies/custom.js';
export { createCustomStrategy } from './strategies/custom.js';
