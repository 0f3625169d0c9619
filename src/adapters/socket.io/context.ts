/**
 * Builds the per-attempt auth context of a Socket.IO socket from its handshake.
 * Nothing here is stored: the context lives for one verification.
 */
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'socket.io';
import type { AttemptContext } from '../../core/connection.js';
import type { ClientAddress } from '../../core/request.js';

/** The attempt context of `socket` (headers, origin, TLS state, peer certificate). */
export function handshakeContext(socket: Socket, address: ClientAddress): AttemptContext {
  const { handshake } = socket;
  const raw = socket.conn.request.socket as Partial<TLSSocket>;
  const tls = typeof raw.getPeerCertificate === 'function';
  const cert = tls ? (raw as TLSSocket).getPeerCertificate(true) : undefined;
  const origin = handshake.headers.origin;
  return {
    origin: typeof origin === 'string' ? origin : undefined,
    secure: address.secure,
    headers: handshake.headers,
    url: handshake.url,
    peerCertificate: cert !== undefined && Object.keys(cert).length > 0 ? cert : undefined,
    peerAuthorized: tls && raw.authorized === true,
    socket,
  };
}

/** Session cookies and client certificates travel without a CONNECT payload. */
export function hasAmbientCredentials(socket: Socket): boolean {
  const tls = (socket.conn.request.socket as { getPeerCertificate?: () => object }).getPeerCertificate;
  return (
    typeof socket.handshake.headers.cookie === 'string' ||
    (typeof tls === 'function' && Object.keys(tls.call(socket.conn.request.socket)).length > 0)
  );
}
