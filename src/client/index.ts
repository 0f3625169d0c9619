/**
 * `portcullis/client`: the browser- and Node-friendly client side. No Node
 * built-ins and no DOM globals at load time; `socket.io-client` and the
 * WebSocket implementation are passed in, never imported.
 *
 * - {@link createCredentialProvider}: single-flight credentials, refreshed before
 *   expiry; one-time tickets spent exactly once.
 * - {@link connectSocketIo} / {@link guardSocketIo}: glue for `socket.io-client`.
 * - {@link createWebSocketClient}: a reconnecting WebSocket client for `portcullis/ws`.
 * - {@link signHandshake}: HMAC-signed handshake credentials (WebCrypto).
 */

export type { AuthenticatedPayload, ClientAction, ErrorCode, ErrorCodeInfo, Refusal } from '../protocol.js';
export { ERROR_CODES, PROTOCOL_VERSION } from '../protocol.js';
export type {
  CredentialProvider,
  CredentialProviderEvents,
  CredentialProviderOptions,
  IssuedCredentials,
} from './credential-provider.js';
export { createCredentialProvider } from './credential-provider.js';
export type { ClientErrorCode, PortcullisClientErrorOptions } from './errors.js';
export {
  actionFor,
  CLIENT_ONLY_CODES,
  fromClose,
  fromConnectError,
  fromHttpStatus,
  fromRefusal,
  isClientErrorCode,
  isPortcullisClientError,
  needsNewCredentials,
  PortcullisClientError,
  shouldRetry,
} from './errors.js';
export type { HmacCredentials, SignHandshakeOptions } from './hmac-signer.js';
export { signHandshake } from './hmac-signer.js';
export type { HttpRefusalResponse } from './http-refusal.js';
export { CODE_HEADER, fromHttpResponse, fromTransportError, parseRetryAfter } from './http-refusal.js';
export type { Backoff, BackoffOptions, Scheduler, SchedulerHandle } from './runtime.js';
export { createBackoff, systemScheduler } from './runtime.js';
export type {
  AuthenticatedInfo,
  ConnectSocketIoOptions,
  GuardedSocketIo,
  GuardedSocketIoEvents,
  GuardedSocketIoState,
  GuardSocketIoOptions,
  RetryInfo,
  SocketIoClientEventNames,
  SocketIoClientSocket,
} from './socket-io.js';
export { connectSocketIo, guardSocketIo } from './socket-io.js';
export type {
  CredentialsIn,
  WebSocketAuthenticated,
  WebSocketClient,
  WebSocketClientEvents,
  WebSocketClientOptions,
  WebSocketClientState,
  WebSocketCloseInfo,
  WebSocketConstructor,
  WebSocketLike,
} from './websocket.js';
export { BEARER_PROTOCOL_PREFIX, createWebSocketClient, WS_FRAME_TYPES } from './websocket.js';
