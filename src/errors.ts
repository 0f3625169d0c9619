/**
 * The error-code table of portcullis (PROTOCOL.md, "Error codes").
 *
 * Every refusal carries exactly one string `code`. Each code maps to one WebSocket
 * close code, one HTTP status (used when refusing before the upgrade), a fixed
 * client-facing message and the action a client should take. The table is a wire
 * contract: codes are only ever added, never changed.
 */

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

interface CodeInfo {
  readonly closeCode: number;
  readonly status: number;
  readonly retryable: boolean;
  readonly action: ClientAction;
  readonly message: string;
}

/** The code table. Keys are the wire codes. */
export const ERROR_CODES = {
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
} as const satisfies Record<string, CodeInfo>;

/** A wire error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

const CODES = new Set<string>(Object.keys(ERROR_CODES));

/** True when `value` is one of the wire error codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && CODES.has(value);
}

/** Options for {@link AuthError}. */
export interface AuthErrorOptions {
  /** The underlying error. Logged (redacted), never sent to a client. */
  cause?: unknown;
  /**
   * An internal, credential-free explanation for logs and audit events
   * (e.g. `"jwt: audience mismatch"`). Never sent to a client.
   */
  detail?: string;
  /** Seconds a client should wait before retrying (`rate_limited`, `unavailable`). */
  retryAfter?: number;
}

/**
 * The one error type portcullis raises for a refusal. Its `message` is the fixed
 * client-facing message of its code; internal detail lives in `detail` and `cause`.
 */
export class AuthError extends Error {
  /** The wire code. */
  readonly code: ErrorCode;
  /** The WebSocket close code (4400–4503). */
  readonly closeCode: number;
  /** The HTTP status used when refusing before the upgrade. */
  readonly status: number;
  /** Whether a client may retry (possibly after obtaining new credentials). */
  readonly retryable: boolean;
  /** What a client should do. */
  readonly action: ClientAction;
  /** Internal explanation; never sent to a client. */
  readonly detail: string | undefined;
  /** Seconds to wait before retrying, when known. */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, options: AuthErrorOptions = {}) {
    const info: CodeInfo = ERROR_CODES[code];
    super(info.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AuthError';
    this.code = code;
    this.closeCode = info.closeCode;
    this.status = info.status;
    this.retryable = info.retryable;
    this.action = info.action;
    this.detail = options.detail;
    this.retryAfter = options.retryAfter;
  }

  /** The payload sent to a client: fixed message, code and whether to retry. */
  toJSON(): { message: string; code: ErrorCode; retryable: boolean; retryAfter?: number } {
    return this.retryAfter === undefined
      ? { message: this.message, code: this.code, retryable: this.retryable }
      : { message: this.message, code: this.code, retryable: this.retryable, retryAfter: this.retryAfter };
  }
}

/** True when `err` is an {@link AuthError} (also across package copies). */
export function isAuthError(err: unknown): err is AuthError {
  return (
    err instanceof AuthError ||
    (typeof err === 'object' &&
      err !== null &&
      (err as { name?: unknown }).name === 'AuthError' &&
      isErrorCode((err as { code?: unknown }).code))
  );
}

/**
 * Turns anything thrown into an {@link AuthError}. Unknown errors become
 * `internal_error` with the original kept as `cause` (for logs only).
 */
export function toAuthError(err: unknown): AuthError {
  if (isAuthError(err)) return err;
  return new AuthError('internal_error', { cause: err });
}

/** Close code → the codes that use it (several codes share 4401 and 4403). */
export function codeInfo(code: ErrorCode): CodeInfo {
  return ERROR_CODES[code];
}
