/**
 * What an adapter reads from an upgrade (or first HTTP) request: the client IP
 * and whether the connection is TLS, resolved through trusted proxies only, and
 * the per-attempt context a strategy may see, copied out of the request so that
 * nothing keeps the request object alive once the handshake is over.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { AttemptContext } from './connection.js';
import { normalizeIp } from './ip.js';

/** Options for {@link createRequestResolver}. */
export interface RequestResolverOptions {
  /**
   * Exact IP addresses of the reverse proxies in front of this server (IPv4, or
   * IPv6; `::ffff:`-mapped addresses count as IPv4). Only when the direct peer is
   * one of them are `X-Forwarded-For` and `X-Forwarded-Proto` read; otherwise
   * they are ignored, so a client cannot forge its address or TLS status.
   * @default [] (no proxy trusted)
   */
  trustedProxies?: readonly string[];
}

/** Where a request came from. */
export interface ClientAddress {
  /** The client IP (normalised, `::ffff:` prefix removed); `''` when unknown. */
  readonly ip: string;
  /** True when the client reached us over TLS (directly, or as reported by a trusted proxy). */
  readonly secure: boolean;
}

/** Resolves the {@link ClientAddress} of a request. */
export type RequestResolver = (req: IncomingMessage) => ClientAddress;

/** A request header as one string (repeated values joined with `, `, as Node joins them). */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** True when the socket under `req` is a TLS socket (Node terminated TLS). */
export function isTlsSocket(req: IncomingMessage): boolean {
  return (req.socket as Partial<TLSSocket> | undefined)?.encrypted === true;
}

/**
 * Creates a resolver. `X-Forwarded-For` is read right to left: trusted proxies are
 * skipped and the first address that is not one is the client (entries further
 * left were written by the client and are not trusted). `X-Forwarded-Proto` is
 * read from its rightmost value, the one written by the proxy in front of us.
 * Throws `TypeError` when an entry of `trustedProxies` is not an IP address.
 */
export function createRequestResolver(options: RequestResolverOptions = {}): RequestResolver {
  const list = options.trustedProxies ?? [];
  if (!Array.isArray(list)) throw new TypeError('portcullis: trustedProxies must be an array of IP addresses');
  const trusted = new Set<string>();
  for (const entry of list as readonly unknown[]) {
    if (typeof entry !== 'string' || isIP(entry) === 0) {
      throw new TypeError(`portcullis: trustedProxies entry ${JSON.stringify(entry)} is not an IP address`);
    }
    trusted.add(normalizeIp(entry));
  }

  return (req) => {
    const peer = normalizeIp(req.socket?.remoteAddress ?? '');
    const direct = isTlsSocket(req);
    if (trusted.size === 0 || !trusted.has(peer)) return { ip: peer, secure: direct };

    let ip = peer;
    const forwarded = headerValue(req.headers['x-forwarded-for']);
    if (forwarded !== undefined) {
      const hops = forwarded.split(',');
      for (let i = hops.length - 1; i >= 0; i--) {
        const hop = normalizeIp((hops[i] as string).trim());
        // A malformed entry cannot have been written by a trusted proxy: stop at the last good one.
        if (isIP(hop) === 0) break;
        ip = hop;
        if (!trusted.has(hop)) break;
      }
    }

    let secure = direct;
    const proto = headerValue(req.headers['x-forwarded-proto']);
    if (proto !== undefined) {
      const last = proto
        .slice(proto.lastIndexOf(',') + 1)
        .trim()
        .toLowerCase();
      if (last !== '') secure = last === 'https' || last === 'wss';
    }
    return { ip, secure };
  };
}

/** The TLS peer certificate, or `undefined` when the client sent none (or the socket is not TLS). */
export function peerCertificateOf(req: IncomingMessage): { certificate: PeerCertificate | undefined; authorized: boolean } {
  if (!isTlsSocket(req)) return { certificate: undefined, authorized: false };
  const socket = req.socket as TLSSocket;
  let certificate: PeerCertificate | undefined;
  try {
    const cert = socket.getPeerCertificate();
    // Node returns an empty object when the client presented no certificate.
    if (cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0) certificate = cert;
  } catch {
    certificate = undefined;
  }
  return { certificate, authorized: socket.authorized === true };
}

/** `context` with its transport socket set, as a plain literal (no spread on a per-socket path). */
export function withSocket(context: AttemptContext, socket: unknown): AttemptContext {
  return {
    headers: context.headers,
    url: context.url,
    origin: context.origin,
    secure: context.secure,
    peerCertificate: context.peerCertificate,
    peerAuthorized: context.peerAuthorized,
    socket,
  };
}

/**
 * Takes what a strategy may see out of `req`: the headers object (a plain object
 * of its own, which holds no reference to the request), URL, `Origin`, TLS status
 * and the peer certificate. The result holds no reference to the request or its
 * socket; `socket` is the transport's own socket object when one exists yet.
 */
export function snapshotRequest(req: IncomingMessage, address: ClientAddress, socket: unknown = undefined): AttemptContext {
  const headers: IncomingHttpHeaders = req.headers;
  const origin = headerValue(req.headers.origin);
  const { certificate, authorized } = peerCertificateOf(req);
  return {
    headers,
    url: req.url ?? '/',
    origin,
    secure: address.secure,
    peerCertificate: certificate,
    peerAuthorized: authorized,
    socket,
  };
}
