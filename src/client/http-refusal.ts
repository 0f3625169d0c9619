/**
 * Refusals that arrive as an HTTP response before a connection opens (Origin,
 * TLS, the handshake rate, the pending budget, credentials at the upgrade): the
 * server answers with the code's status, a JSON body `{ message, code,
 * retryable[, retryAfter] }`, `Retry-After` on 429 and, on newer servers, an
 * `X-Portcullis-Code` header. This module turns what a runtime lets the client
 * see of such a response into a {@link PortcullisClientError}. No Node or DOM globals.
 *
 * What each runtime exposes (see the README, "What the client can know"):
 * - `socket.io-client` polling (Node and browsers, same origin): status, body and headers,
 *   through the XHR in `connect_error`'s `context`;
 * - `socket.io-client` websocket transport in Node: the status only (in the error message);
 * - the `ws` package in Node: status, headers and body (`unexpected-response`);
 * - a browser `WebSocket`, or a cross-origin XHR the server did not allow with CORS: nothing.
 */
import type { ClientErrorCode, PortcullisClientError } from './errors.js';
import { fromRefusal, isClientErrorCode } from './errors.js';

/** The response header naming the refusal code (sent by newer servers; the JSON body carries it too). */
export const CODE_HEADER = 'x-portcullis-code';

/** What is known of an HTTP response that refused a connection. */
export interface HttpRefusalResponse {
  /** The HTTP status. */
  status: number;
  /** The response body, if it could be read. */
  body?: string | undefined;
  /** Reads a response header (case-insensitive), if headers can be read. */
  header?: ((name: string) => string | null | undefined) | undefined;
}

/** Statuses that are refusals by themselves, when nothing else is known (PROTOCOL.md §1). */
const REFUSAL_STATUS: Readonly<Record<number, ClientErrorCode>> = {
  401: 'invalid_credentials',
  403: 'forbidden',
  429: 'rate_limited',
  503: 'unavailable',
};

/** `Retry-After` in seconds: delta-seconds only (what portcullis sends). */
export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\s*\d+\s*$/.test(value)) return undefined;
  return Number(value);
}

function parseBody(body: string | undefined): Record<string, unknown> | undefined {
  if (typeof body !== 'string' || !body.startsWith('{') || body.length > 4096) return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Builds the refusal from an HTTP response: the code from `X-Portcullis-Code`,
 * else from the JSON body's string `code`, else from the status (401, 403, 429
 * and 503 only); `retryAfter` from `Retry-After`, else from the body. Returns
 * `undefined` when the response is not a refusal the client can name (another
 * status without a portcullis body: Engine.IO's own `400`, a proxy's `502`…).
 */
export function fromHttpResponse(response: HttpRefusalResponse): PortcullisClientError | undefined {
  const { status } = response;
  if (typeof status !== 'number' || status < 400) return undefined;
  const read = (name: string): string | undefined => {
    try {
      return response.header?.(name) ?? undefined;
    } catch {
      return undefined; // a browser XHR throws on some headers in some states
    }
  };
  const body = parseBody(response.body);
  const headerCode = read(CODE_HEADER);
  const retryAfter = parseRetryAfter(read('retry-after'));
  let refusal: Record<string, unknown>;
  if (headerCode !== undefined && isClientErrorCode(headerCode)) {
    refusal = body?.code === headerCode ? body : { code: headerCode };
  } else if (body !== undefined && typeof body.code === 'string' && body.code !== '') {
    refusal = body;
  } else {
    const code = REFUSAL_STATUS[status];
    if (code === undefined) return undefined;
    refusal = { code };
  }
  return fromRefusal(retryAfter === undefined ? refusal : { ...refusal, retryAfter }, { status });
}

interface XhrLike {
  readonly status?: unknown;
  readonly responseText?: unknown;
  getResponseHeader?: (name: string) => string | null;
}

const STATUS_IN_MESSAGE = /Unexpected server response: (\d{3})/;

/**
 * Reads an HTTP refusal out of a `socket.io-client` transport error (a
 * `connect_error` without `data`): the polling transport's `description` is the
 * status and its `context` the XHR (body and headers readable on the same origin,
 * or when the server allows the origin with CORS); the websocket transport in
 * Node reports the status in its error message only. `undefined` when the error
 * carries no refusal (a network failure, a browser WebSocket, a blocked
 * cross-origin request: status `0`).
 */
export function fromTransportError(err: unknown): PortcullisClientError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { description, context } = err as { description?: unknown; context?: unknown };
  const xhr = (typeof context === 'object' && context !== null ? context : undefined) as XhrLike | undefined;
  if (typeof description === 'number' || typeof xhr?.status === 'number') {
    const status = typeof description === 'number' ? description : (xhr?.status as number);
    const getHeader = xhr?.getResponseHeader;
    return fromHttpResponse({
      status,
      body: typeof xhr?.responseText === 'string' ? xhr.responseText : undefined,
      header: typeof getHeader === 'function' ? (name) => getHeader.call(xhr, name) : undefined,
    });
  }
  // Node's websocket transport: `description` is the `ws` error event.
  const d = description as { message?: unknown; error?: { message?: unknown } } | undefined;
  const text = typeof d?.message === 'string' ? d.message : typeof d?.error?.message === 'string' ? d.error.message : '';
  const match = STATUS_IN_MESSAGE.exec(text);
  return match?.[1] === undefined ? undefined : fromHttpResponse({ status: Number(match[1]) });
}
