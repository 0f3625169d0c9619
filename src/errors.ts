/**
 * {@link AuthError}, the one error type portcullis raises for a refusal, built from
 * the code table of the wire module (`src/protocol.ts`, PROTOCOL.md §1).
 *
 * Every refusal carries exactly one string `code`. Each code maps to one WebSocket
 * close code, one HTTP status (used when refusing before the upgrade), a fixed
 * client-facing message and the action a client should take. The table is a wire
 * contract: codes are only ever added, never changed.
 */

import type { ClientAction, ErrorCode, ErrorCodeInfo, Refusal } from './protocol.js';
import { ERROR_CODES, isErrorCode } from './protocol.js';

// The table lives in the wire module; these names stay importable from here (`portcullis/errors`).
export type { ErrorCode, ErrorCodeInfo, Refusal } from './protocol.js';
export { ClientAction, ERROR_CODES, isErrorCode } from './protocol.js';

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
    const info: ErrorCodeInfo = ERROR_CODES[code];
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
  toJSON(): Refusal {
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

/** The table row of `code`. */
export function codeInfo(code: ErrorCode): ErrorCodeInfo {
  return ERROR_CODES[code];
}
