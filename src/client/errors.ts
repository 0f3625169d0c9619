/**
 * Client-side errors: one {@link PortcullisClientError} built from whatever the
 * server sent (a refusal object, a Socket.IO `connect_error`, a WebSocket close
 * code and reason, an HTTP status), with the retry decision and action of the
 * wire table (PROTOCOL.md §1). No Node or DOM globals.
 */
import type { ErrorCode } from '../protocol.js';
import { ClientAction, codeForCloseCode, codeForStatus, ERROR_CODES, isErrorCode } from '../protocol.js';

/**
 * Codes that never travel on the wire: the client raises them itself.
 * - `connection_lost`: the transport failed or closed abnormally (no refusal code).
 * - `protocol_error`: the peer broke the WebSocket protocol (close 1002, 1003, 1007–1010, 1015).
 * - `credentials_unavailable`: `getCredentials` failed (network, login endpoint down).
 * - `closed`: the connection ended without a refusal (closed by the app, a normal
 *   close 1000, or a Socket.IO server disconnect), so nothing will reconnect it.
 */
export const CLIENT_ONLY_CODES = {
  connection_lost: { retryable: true, action: ClientAction.Backoff, message: 'Connection lost' },
  protocol_error: { retryable: false, action: ClientAction.Fix, message: 'WebSocket protocol error' },
  credentials_unavailable: { retryable: true, action: ClientAction.Backoff, message: 'Credentials unavailable' },
  closed: { retryable: false, action: ClientAction.GiveUp, message: 'Connection closed' },
} as const;

/** Every code a {@link PortcullisClientError} can carry. */
export type ClientErrorCode = ErrorCode | keyof typeof CLIENT_ONLY_CODES;

/** Options of {@link PortcullisClientError}. */
export interface PortcullisClientErrorOptions {
  /** The message; the server's fixed message when it sent one. @default the code's fixed message */
  message?: string;
  /** Seconds to wait before retrying, from the server (`retryAfter`, `Retry-After`). */
  retryAfter?: number;
  /** The WebSocket close code the error came from. */
  closeCode?: number;
  /** The HTTP status of a refused upgrade, when the runtime exposes it. */
  status?: number;
  /**
   * Whether to retry, for a code this client does not know (a newer server).
   * Ignored for known codes, whose table entry decides.
   * @default false
   */
  retryable?: boolean;
  /** The underlying error. */
  cause?: unknown;
}

function isClientOnly(code: string): code is keyof typeof CLIENT_ONLY_CODES {
  return Object.hasOwn(CLIENT_ONLY_CODES, code);
}

/** True when `code` is a code this client knows (wire or client-only). */
export function isClientErrorCode(code: unknown): code is ClientErrorCode {
  return typeof code === 'string' && (isErrorCode(code) || isClientOnly(code));
}

/** Whether a client may try again after `code` (possibly with new credentials). Unknown codes: false. */
export function shouldRetry(code: string): boolean {
  if (isErrorCode(code)) return ERROR_CODES[code].retryable;
  if (isClientOnly(code)) return CLIENT_ONLY_CODES[code].retryable;
  return false;
}

/** What a client should do after `code`. Unknown codes: `give_up`. */
export function actionFor(code: string): ClientAction {
  if (isErrorCode(code)) return ERROR_CODES[code].action;
  if (isClientOnly(code)) return CLIENT_ONLY_CODES[code].action;
  return ClientAction.GiveUp;
}

/** True when the next attempt needs new credentials (`authenticate` and `refresh` actions). */
export function needsNewCredentials(code: string): boolean {
  const action = actionFor(code);
  return action === ClientAction.Authenticate || action === ClientAction.Refresh;
}

/** A refusal or failure as the client sees it. */
export class PortcullisClientError extends Error {
  /** The wire code, or a client-only code. Unknown wire codes are kept as sent. */
  readonly code: ClientErrorCode | (string & {});
  /** Whether retrying may succeed. */
  readonly retryable: boolean;
  /** What to do next. */
  readonly action: ClientAction;
  /** Seconds to wait before retrying, when the server said so. */
  readonly retryAfter: number | undefined;
  /** The WebSocket close code, when the error came from a close. */
  readonly closeCode: number | undefined;
  /** The HTTP status of a refused upgrade, when known. */
  readonly status: number | undefined;

  constructor(code: ClientErrorCode | (string & {}), options: PortcullisClientErrorOptions = {}) {
    const known = isErrorCode(code) ? ERROR_CODES[code] : isClientOnly(code) ? CLIENT_ONLY_CODES[code] : undefined;
    super(options.message ?? known?.message ?? `Refused (${code})`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PortcullisClientError';
    this.code = code;
    this.retryable = known?.retryable ?? options.retryable ?? false;
    this.action = known?.action ?? (this.retryable ? ClientAction.Backoff : ClientAction.GiveUp);
    this.retryAfter = options.retryAfter;
    this.closeCode = options.closeCode;
    this.status = options.status;
  }
}

/** True when `err` is a {@link PortcullisClientError} (also across package copies). */
export function isPortcullisClientError(err: unknown): err is PortcullisClientError {
  return (
    err instanceof PortcullisClientError ||
    (typeof err === 'object' &&
      err !== null &&
      (err as { name?: unknown }).name === 'PortcullisClientError' &&
      typeof (err as { code?: unknown }).code === 'string')
  );
}

function retryAfterOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/**
 * Builds an error from a refusal object `{ message, code, retryable, retryAfter? }`
 * (Socket.IO `unauthorized` / `auth_refresh_failed`, `ws` `refresh_failed`, the JSON
 * body of a refused upgrade). Anything else becomes `invalid_request` (the server
 * spoke a protocol this client does not understand).
 */
export function fromRefusal(value: unknown, extra: Pick<PortcullisClientErrorOptions, 'closeCode' | 'status'> = {}): PortcullisClientError {
  const obj = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const code = obj.code;
  if (typeof code !== 'string' || code === '') {
    return new PortcullisClientError('invalid_request', { message: 'Malformed refusal from the server', ...extra });
  }
  const options: PortcullisClientErrorOptions = { ...extra };
  if (typeof obj.message === 'string') options.message = obj.message;
  if (typeof obj.retryable === 'boolean') options.retryable = obj.retryable;
  const retryAfter = retryAfterOf(obj.retryAfter);
  if (retryAfter !== undefined) options.retryAfter = retryAfter;
  return new PortcullisClientError(code, options);
}

/**
 * Builds an error from a Socket.IO `connect_error`: a refusal when `err.data.code`
 * is set (the namespace middleware refused the CONNECT), `connection_lost`
 * otherwise (the transport failed; `socket.io-client` reconnects by itself).
 */
export function fromConnectError(err: unknown): PortcullisClientError {
  if (isPortcullisClientError(err)) return err;
  const data = (err as { data?: unknown } | null)?.data;
  if (typeof data === 'object' && data !== null && typeof (data as { code?: unknown }).code === 'string') {
    const message = (err as { message?: unknown }).message;
    return fromRefusal({ ...(data as object), ...(typeof message === 'string' ? { message } : {}) });
  }
  return new PortcullisClientError('connection_lost', { cause: err });
}

/** WebSocket close codes that mean the peer broke the protocol (4xxx codes come from the wire table). */
const PROTOCOL_ERROR_CLOSES: Readonly<Record<number, ClientErrorCode>> = {
  1002: 'protocol_error',
  1003: 'protocol_error',
  1007: 'protocol_error',
  1008: 'protocol_error',
  1009: 'protocol_error',
  1010: 'protocol_error',
  1015: 'protocol_error',
};

/**
 * Builds an error from a WebSocket close. The reason carries the string code
 * (PROTOCOL.md §4.2); without one the close code decides: 4xxx by the table,
 * 1002/1003/1007–1010/1015 `protocol_error`, anything else abnormal (1001 going
 * away, 1005, 1006, 1011–1014, unknown codes) `connection_lost`. A normal
 * close (1000) is not an error: `undefined`.
 */
export function fromClose(closeCode: number, reason = ''): PortcullisClientError | undefined {
  if (isErrorCode(reason)) return new PortcullisClientError(reason, { closeCode });
  if (closeCode === 1000) return undefined;
  const code = codeForCloseCode(closeCode) ?? PROTOCOL_ERROR_CLOSES[closeCode] ?? 'connection_lost';
  return new PortcullisClientError(code, { closeCode });
}

/**
 * HTTP status → code, for an upgrade refused before the `101`. 401 and 403 are
 * shared by several codes: the common one wins (`invalid_credentials`, `forbidden`).
 * Other 4xx (404 for a wrong path) are `protocol_error`; 1xx–3xx `connection_lost`.
 */
export function fromHttpStatus(status: number): PortcullisClientError {
  const code: ClientErrorCode = codeForStatus(status) ?? (status >= 400 && status < 500 ? 'protocol_error' : 'connection_lost');
  return new PortcullisClientError(code, { status });
}

/** Wraps anything thrown by `getCredentials` (a {@link PortcullisClientError} is kept as is). */
export function toClientError(err: unknown): PortcullisClientError {
  if (isPortcullisClientError(err)) return err;
  return new PortcullisClientError('credentials_unavailable', { cause: err });
}
