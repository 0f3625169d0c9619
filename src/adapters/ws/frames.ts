/**
 * The `ws` wire frames (PROTOCOL.md §4.2): JSON text frames `{ type, payload? }`.
 */
import type { AuthenticatedPayload } from '../../core/connection.js';
import { AuthError } from '../../errors.js';
import { FrameType } from '../../protocol.js';

/** Frame types, as they appear on the wire (defined in the wire module). */
export { FrameType } from '../../protocol.js';

/** A message as `ws` hands it over (depends on the socket's `binaryType`). */
export type RawData = Buffer | ArrayBuffer | Buffer[];

/** Decodes a text message to a string. */
export function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

const MARKER = Buffer.from('"authenticate"');
const ESCAPE = Buffer.from('\\u');

/**
 * Cheap pre-check for an authenticated socket's messages: only a text message
 * containing `"authenticate"` can be a refresh, so other messages are passed to
 * the application without being parsed.
 */
export function mayBeAuthenticate(data: RawData): boolean {
  const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
  // A JSON string can spell a letter only as itself or as a `\u` escape: a frame with an escape is parsed, so
  // `"\u0061uthenticate"` (which JSON.parse reads as "authenticate") is not handed to the application.
  return bytes.includes(MARKER) || bytes.includes(ESCAPE);
}

/** A client frame after parsing. */
export interface ClientFrame {
  readonly type: string;
  readonly payload: unknown;
}

/**
 * Parses a client frame. Throws `invalid_request` for a binary message, malformed
 * JSON, or JSON that is not an object with a string `type`.
 */
export function parseClientFrame(data: RawData, isBinary: boolean): ClientFrame {
  if (isBinary) throw new AuthError('invalid_request', { detail: 'ws: binary frame where a JSON text frame was expected' });
  let value: unknown;
  try {
    value = JSON.parse(textOf(data));
  } catch {
    throw new AuthError('invalid_request', { detail: 'ws: malformed JSON frame' });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AuthError('invalid_request', { detail: 'ws: frame is not an object' });
  }
  const { type, payload } = value as { type?: unknown; payload?: unknown };
  if (typeof type !== 'string') throw new AuthError('invalid_request', { detail: 'ws: frame without a string type' });
  return { type, payload };
}

/** Parses `data` when it is an `authenticate` frame; `undefined` otherwise (never throws). */
export function asAuthenticateFrame(data: RawData, isBinary: boolean): ClientFrame | undefined {
  if (isBinary || !mayBeAuthenticate(data)) return undefined;
  try {
    const frame = parseClientFrame(data, false);
    return frame.type === FrameType.Authenticate ? frame : undefined;
  } catch {
    return undefined;
  }
}

/** `authenticated` frame. */
export function authenticatedFrame(payload: AuthenticatedPayload): string {
  return JSON.stringify({ type: FrameType.Authenticated, payload });
}

/** `expiring` frame. */
export function expiringFrame(expiresAt: number): string {
  return JSON.stringify({ type: FrameType.Expiring, payload: { expiresAt } });
}

/** `refresh_failed` frame. */
export function refreshFailedFrame(error: AuthError): string {
  return JSON.stringify({ type: FrameType.RefreshFailed, payload: error.toJSON() });
}
