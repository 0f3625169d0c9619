/**
 * HTTP refusals written before any upgrade or Engine.IO handshake (PROTOCOL.md
 * §1.3): the status of the code, a JSON body `{ message, code, retryable[,
 * retryAfter] }`, the code again in `X-Portcullis-Code` (for clients that drop
 * response bodies), `Retry-After` on 429 (and whenever known),
 * `Cache-Control: no-store`. Shared by both adapters.
 */
import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AuthError } from '../errors.js';
import { CODE_HEADER } from '../protocol.js';

/** Writes a bare HTTP response (no JSON) and destroys the socket: `404` for an unknown path. */
export function writeStatus(socket: Duplex, status: number, extraHeaders: Readonly<Record<string, string>> = {}): void {
  const body = STATUS_CODES[status] ?? 'Error';
  writeResponse(socket, status, 'text/plain; charset=utf-8', body, extraHeaders);
}

/**
 * Refuses an upgrade: the status of the code, a JSON body `{ message, code,
 * retryable[, retryAfter] }`, `X-Portcullis-Code`, `Retry-After` on 429 / 503 when
 * known, `Connection: close`; then the socket is destroyed. Never a `101`.
 */
export function writeRefusal(socket: Duplex, error: AuthError): void {
  writeResponse(socket, error.status, 'application/json; charset=utf-8', JSON.stringify(error.toJSON()), refusalHeaders(error, {}));
}

/** Adds the code header, and `Retry-After` (seconds) on 429 and whenever the error knows it, to `headers`. */
function refusalHeaders(error: AuthError, headers: Record<string, string>): Record<string, string> {
  headers[CODE_HEADER] = error.code;
  if (error.code === 'rate_limited' || error.retryAfter !== undefined) {
    headers['Retry-After'] = String(Math.max(0, Math.ceil(error.retryAfter ?? 1)));
  }
  return headers;
}

function writeResponse(
  socket: Duplex,
  status: number,
  contentType: string,
  body: string,
  extraHeaders: Readonly<Record<string, string>>,
): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    `Content-Type: ${contentType}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
  ];
  for (const [name, value] of Object.entries(extraHeaders)) lines.push(`${name}: ${value}`);
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/** Refuses a plain HTTP request (a polling handshake) the same way. */
export function refuseRequest(res: ServerResponse, error: AuthError): void {
  const body = JSON.stringify(error.toJSON());
  const headers = refusalHeaders(error, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
  });
  res.writeHead(error.status, headers);
  res.end(body);
}
