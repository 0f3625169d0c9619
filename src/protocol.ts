/**
 * The portcullis wire protocol (PROTOCOL.md) in one place: error codes with their
 * close code, HTTP status, retryability, client action and fixed message; the
 * Socket.IO event names of the post-connect protocol; the `ws` frame types; the
 * bearer subprotocol prefix; the payload shapes; the HTTP header that names the
 * code of a refusal before the upgrade; and the protocol version.
 *
 * Server and client both import it, so it has no dependencies and touches no Node
 * built-in or DOM global. It is a contract: entries are only ever added, never
 * changed (a test checks PROTOCOL.md and README.md against it).
 */

/**
 * The version of the wire protocol this package speaks (PROTOCOL.md's first line).
 * The minor number grows with additions; a major change would break clients and is
 * never made.
 */
export const PROTOCOL_VERSION = '1.2';

/** What a client should do after a refusal. */
export const ClientAction = {
  /** The request is wrong: fix the client, do not retry. */
  Fix: 'fix',
  /** Obtain (or re-obtain) credentials, then retry. */
  Authenticate: 'authenticate',
  /** Refresh the current credential, then retry. */
  Refresh: 'refresh',
  /** Retry as is (possibly after backoff). */
  Retry: 'retry',
  /** Retry with exponential backoff; honour Retry-After when given. */
  Backoff: 'backoff',
  /** Do not retry. */
  GiveUp: 'give_up',
} as const;
export type ClientAction = (typeof ClientAction)[keyof typeof ClientAction];

/** One row of the code table. */
export interface ErrorCodeInfo {
  /** The WebSocket close code (4400–4503). */
  readonly closeCode: number;
  /** The HTTP status of a refusal written before the upgrade. */
  readonly status: number;
  /** Whether a client may retry (possibly after obtaining new credentials). */
  readonly retryable: boolean;
  /** What a client should do. */
  readonly action: ClientAction;
  /** The fixed client-facing message (the only text a refusal carries). */
  readonly message: string;
}

/** The code table (PROTOCOL.md §1). Keys are the wire codes. */
export const ERROR_CODES = Object.freeze({
  invalid_request: {
    closeCode: 4400,
    status: 400,
    retryable: false,
    action: ClientAction.Fix,
    message: 'Invalid authentication request',
  },
  credentials_required: {
    closeCode: 4401,
    status: 401,
    retryable: true,
    action: ClientAction.Authenticate,
    message: 'Authentication required',
  },
  invalid_credentials: {
    closeCode: 4401,
    status: 401,
    retryable: true,
    action: ClientAction.Authenticate,
    message: 'Invalid credentials',
  },
  token_expired: {
    closeCode: 4401,
    status: 401,
    retryable: true,
    action: ClientAction.Refresh,
    message: 'Credentials expired',
  },
  forbidden: {
    closeCode: 4403,
    status: 403,
    retryable: false,
    action: ClientAction.GiveUp,
    message: 'Forbidden',
  },
  origin_not_allowed: {
    closeCode: 4403,
    status: 403,
    retryable: false,
    action: ClientAction.GiveUp,
    message: 'Origin not allowed',
  },
  csrf_failed: {
    closeCode: 4403,
    status: 403,
    retryable: false,
    action: ClientAction.GiveUp,
    message: 'CSRF check failed',
  },
  tls_required: {
    closeCode: 4403,
    status: 403,
    retryable: false,
    action: ClientAction.GiveUp,
    message: 'TLS required',
  },
  revoked: {
    closeCode: 4403,
    status: 403,
    retryable: false,
    action: ClientAction.GiveUp,
    message: 'Access revoked',
  },
  auth_timeout: {
    closeCode: 4408,
    status: 408,
    retryable: true,
    action: ClientAction.Retry,
    message: 'Authentication timed out',
  },
  rate_limited: {
    closeCode: 4429,
    status: 429,
    retryable: true,
    action: ClientAction.Backoff,
    message: 'Too many requests',
  },
  unavailable: {
    closeCode: 4503,
    status: 503,
    retryable: true,
    action: ClientAction.Backoff,
    message: 'Service unavailable',
  },
  internal_error: {
    closeCode: 4500,
    status: 500,
    retryable: true,
    action: ClientAction.Backoff,
    message: 'Internal error',
  },
} as const satisfies Record<string, ErrorCodeInfo>);

/** A wire error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `value` is one of the wire error codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** The codes a client assumes for a close code or an HTTP status shared by several codes: the most common one. */
const PRIMARY_CODES: readonly ErrorCode[] = [
  'invalid_request',
  'invalid_credentials',
  'forbidden',
  'auth_timeout',
  'rate_limited',
  'unavailable',
  'internal_error',
];

/**
 * The code a client assumes for a WebSocket close whose reason names no code
 * (PROTOCOL.md §1.3): 4401 → `invalid_credentials`, 4403 → `forbidden`, …;
 * `undefined` for a close code outside the table.
 */
export function codeForCloseCode(closeCode: number): ErrorCode | undefined {
  return PRIMARY_CODES.find((code) => ERROR_CODES[code].closeCode === closeCode);
}

/**
 * The code a client assumes for an HTTP refusal without `X-Portcullis-Code` (a
 * server older than 1.1, PROTOCOL.md §1.3): 401 → `invalid_credentials`, 403 →
 * `forbidden`, …, any other 5xx → `internal_error`; `undefined` for anything else.
 */
export function codeForStatus(status: number): ErrorCode | undefined {
  return (
    PRIMARY_CODES.find((code) => ERROR_CODES[code].status === status) ?? (status >= 500 && status < 600 ? 'internal_error' : undefined)
  );
}

/**
 * A refusal as it travels: the `unauthorized` / `auth_refresh_failed` /
 * `refresh_failed` payloads and the JSON body of an HTTP refusal.
 */
export type Refusal = {
  /** The fixed message of `code`. */
  message: string;
  code: ErrorCode;
  retryable: boolean;
  /** Seconds to wait before retrying, when the server knows it. */
  retryAfter?: number;
};

/**
 * The response header that names the code of an HTTP refusal written before the
 * upgrade or the Engine.IO handshake (e.g. `X-Portcullis-Code: rate_limited`), for
 * clients that do not expose the response body. Since protocol 1.1.
 */
export const CODE_HEADER = 'X-Portcullis-Code';

/**
 * Default event names of the Socket.IO post-connect protocol (PROTOCOL.md §3);
 * servers may rename them (`events` option).
 */
export const SocketIoEvent = Object.freeze({
  /** Server → client, to a socket that connects pending: {@link AuthRequiredPayload}. */
  required: 'auth_required',
  /** Client → server: the credentials (first time and refresh). */
  authentication: 'authentication',
  /** Server → client: {@link AuthenticatedPayload}. */
  authenticated: 'authenticated',
  /** Server → client: a {@link Refusal}, then the server disconnects. */
  unauthorized: 'unauthorized',
  /** Server → client: {@link ExpiringPayload}. */
  expiring: 'auth_expiring',
  /** Server → client: a {@link Refusal}; the current credential stays valid. */
  refreshFailed: 'auth_refresh_failed',
} as const);
export type SocketIoEvent = (typeof SocketIoEvent)[keyof typeof SocketIoEvent];

/** `ws` frame types (PROTOCOL.md §4.2): JSON text frames `{ "type": string, "payload"?: any }`. */
export const FrameType = Object.freeze({
  /** client → server: credentials (first message and refresh). */
  Authenticate: 'authenticate',
  /** server → client: the socket is authenticated (also after a refresh): {@link AuthenticatedPayload}. */
  Authenticated: 'authenticated',
  /** server → client: {@link ExpiringPayload}. */
  Expiring: 'expiring',
  /** server → client: a refresh was refused ({@link Refusal}); the current credential stays valid. */
  RefreshFailed: 'refresh_failed',
} as const);
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/**
 * The `Sec-WebSocket-Protocol` entry prefix that carries a bearer token at a `ws`
 * upgrade (`portcullis.bearer.<token>`). Never echoed back.
 */
export const BEARER_PROTOCOL_PREFIX = 'portcullis.bearer.';

const TOKEN_RE = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;

/**
 * True when `value` is an RFC 7230 token, the grammar of a `Sec-WebSocket-Protocol`
 * entry: the subprotocols a client offers and a bearer entry (prefix and token)
 * must all be tokens (no spaces, commas, `/`, `=`, quotes …).
 */
export function isProtocolToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_RE.test(value);
}

/** The `authenticated` payload: the principal's public data and its expiry. */
export interface AuthenticatedPayload {
  /** When the credential expires, in milliseconds since the Unix epoch. */
  expiresAt?: number;
  [key: string]: unknown;
}

/** The `auth_required` payload: the pending deadline in milliseconds, `null` when there is none. */
export interface AuthRequiredPayload {
  timeoutMs: number | null;
}

/** The `auth_expiring` / `expiring` payload. */
export interface ExpiringPayload {
  /** When the credential expires, in milliseconds since the Unix epoch. */
  expiresAt: number;
}
