/**
 * The HTTP side of the `ws` adapter, before any `101`: checking that a request is
 * a well-formed WebSocket upgrade, reading the credentials that travel with it,
 * and refusing with a real HTTP/1.1 response written to the raw socket.
 */

import type { IncomingMessage } from 'node:http';
import { AuthError } from '../../errors.js';
import { BEARER_PROTOCOL_PREFIX, isProtocolToken } from '../../protocol.js';

const KEY_RE = /^[+/0-9A-Za-z]{22}==$/;

/**
 * The most entries `Sec-WebSocket-Protocol` may offer (the bearer entry included);
 * more is refused with `invalid_request` before the list is split. A browser offers
 * the few its page names.
 */
export const MAX_OFFERED_PROTOCOLS = 64;

/** The path of a request URL (the part before `?`). */
export function pathnameOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * Throws `invalid_request` unless `req` is a WebSocket upgrade `ws` would accept
 * (GET, `Upgrade: websocket`, a valid `Sec-WebSocket-Key`, version 13). Checked
 * before credentials, so a malformed request never consumes a one-time ticket.
 */
export function assertUpgradeRequest(req: IncomingMessage): void {
  if (req.method !== 'GET') throw new AuthError('invalid_request', { detail: 'upgrade: method is not GET' });
  const upgrade = req.headers.upgrade;
  if (typeof upgrade !== 'string' || upgrade.toLowerCase() !== 'websocket') {
    throw new AuthError('invalid_request', { detail: 'upgrade: Upgrade header is not websocket' });
  }
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !KEY_RE.test(key)) {
    throw new AuthError('invalid_request', { detail: 'upgrade: missing or invalid Sec-WebSocket-Key' });
  }
  if (req.headers['sec-websocket-version'] !== '13') {
    throw new AuthError('invalid_request', { detail: 'upgrade: Sec-WebSocket-Version is not 13' });
  }
}

/** Credentials read from the upgrade request. */
export interface UpgradeCredentials {
  /** `{ token?, ticket? }`, the shape a client would send in an `authenticate` frame. */
  readonly credentials: { token?: string; ticket?: string };
  /** True when a bearer token or a ticket was sent: any failure then refuses the upgrade. */
  readonly explicit: boolean;
}

/**
 * Takes the bearer entry out of `Sec-WebSocket-Protocol` (in place, so `ws` never
 * sees or echoes it) and reads the ticket from the query. Throws `invalid_request`
 * on an ambiguous request (two bearers, two tickets, an empty one).
 */
export function takeUpgradeCredentials(req: IncomingMessage, ticketParam: string): UpgradeCredentials {
  const credentials: { token?: string; ticket?: string } = {};
  const header = req.headers['sec-websocket-protocol'];
  if (typeof header === 'string') {
    // Counted before splitting: the work done for an unauthenticated request stays bounded.
    let commas = 0;
    for (let i = header.indexOf(','); i !== -1; i = header.indexOf(',', i + 1)) {
      if (++commas >= MAX_OFFERED_PROTOCOLS) {
        throw new AuthError('invalid_request', { detail: 'upgrade: too many Sec-WebSocket-Protocol entries' });
      }
    }
    // One pass over at most MAX_OFFERED_PROTOCOLS entries: a duplicate is found among the few kept (no Set).
    const kept: string[] = [];
    for (const raw of header.split(',')) {
      const entry = raw.trim();
      if (!isProtocolToken(entry) || kept.includes(entry)) {
        throw new AuthError('invalid_request', { detail: 'upgrade: invalid Sec-WebSocket-Protocol' });
      }
      if (!entry.startsWith(BEARER_PROTOCOL_PREFIX)) {
        kept.push(entry);
        continue;
      }
      const token = entry.slice(BEARER_PROTOCOL_PREFIX.length);
      if (credentials.token === token) throw new AuthError('invalid_request', { detail: 'upgrade: invalid Sec-WebSocket-Protocol' });
      if (token === '' || credentials.token !== undefined) {
        throw new AuthError('invalid_request', { detail: 'upgrade: empty or repeated bearer protocol' });
      }
      credentials.token = token;
    }
    // Rewritten only when the bearer entry was taken out (`ws` must never see or echo it).
    if (credentials.token !== undefined) {
      if (kept.length === 0) delete req.headers['sec-websocket-protocol'];
      else req.headers['sec-websocket-protocol'] = kept.length === 1 ? (kept[0] as string) : kept.join(', ');
    }
  }
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  if (q !== -1) {
    const tickets = new URLSearchParams(url.slice(q + 1)).getAll(ticketParam);
    if (tickets.length > 1 || tickets[0] === '') {
      throw new AuthError('invalid_request', { detail: 'upgrade: empty or repeated ticket parameter' });
    }
    if (tickets[0] !== undefined) credentials.ticket = tickets[0];
  }
  return { credentials, explicit: credentials.token !== undefined || credentials.ticket !== undefined };
}
