/**
 * What an adapter reads from an upgrade (or first HTTP) request: the client IP
 * and whether the connection is TLS, resolved through trusted proxies only, and
 * the per-attempt context a strategy may see, copied out of the request so that
 * nothing keeps the request object alive once the handshake is over.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import proxyAddr from 'proxy-addr';
import type { AttemptContext } from './connection.js';
import { parseForwarded } from './forwarded.js';
import { normalizeIp } from './ip.js';

/** Which header a trusted proxy writes the client's address (and scheme) in. */
export type ForwardedHeader = 'x-forwarded-for' | 'forwarded';

/**
 * The reverse proxies in front of this server, as in `proxy-addr` (Express'
 * `trust proxy`):
 * - a list of addresses, CIDR ranges (`'10.0.0.0/8'`, `'fd00::/8'`, or
 *   `'10.0.0.0/255.0.0.0'`) and presets: `'loopback'` (127.0.0.1/8, ::1/128),
 *   `'linklocal'` (169.254.0.0/16, fe80::/10), `'uniquelocal'` (10.0.0.0/8,
 *   172.16.0.0/12, 192.168.0.0/16, fc00::/7);
 * - a number of hops: the direct peer and the next `n - 1` addresses of the
 *   header, counted from the right, are proxies (for a load balancer whose
 *   addresses are not known in advance);
 * - either of those with `header: 'forwarded'` to read the standard `Forwarded`
 *   header (RFC 7239) instead of `X-Forwarded-For` / `X-Forwarded-Proto`. Use the
 *   header your proxy writes: the other one passes through from the client unchecked.
 */
export type TrustedProxies =
  | readonly string[]
  | number
  | { readonly proxies: readonly string[] | number; readonly header?: ForwardedHeader };

/** Options for {@link createRequestResolver}. */
export interface RequestResolverOptions {
  /**
   * The reverse proxies in front of this server (see {@link TrustedProxies}).
   * Only when the direct peer is one of them are forwarding headers read;
   * otherwise they are ignored, so a client cannot forge its address or TLS status.
   * @default [] (no proxy trusted)
   */
  trustedProxies?: TrustedProxies;
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
 * The most forwarding hops believed, counted from the right. A longer chain of
 * trusted proxies ends at the last one believed (a proxy address: safe, never a
 * client-written one), and nothing further left is read.
 */
export const MAX_FORWARDED_HOPS = 32;

/** Whether `addr` (hop `i`, 0 being the direct peer) is a trusted proxy. */
type Trust = (addr: string, i: number) => boolean;

const trustNone: Trust = () => false;

/** Compiles `trustedProxies` with `proxy-addr`; throws `TypeError` naming a bad entry. */
function compileTrust(proxies: unknown): Trust {
  if (typeof proxies === 'number') {
    if (!Number.isInteger(proxies) || proxies < 0)
      throw new TypeError('portcullis: trustedProxies as a hop count must be a non-negative integer');
    const hops = proxies;
    return hops === 0 ? trustNone : (_addr, i) => i < hops;
  }
  if (!Array.isArray(proxies)) {
    throw new TypeError(
      'portcullis: trustedProxies must be an array of addresses, CIDR ranges or presets, a hop count, or { proxies, header }',
    );
  }
  for (const entry of proxies as readonly unknown[]) {
    if (typeof entry !== 'string') throw new TypeError(`portcullis: trustedProxies entry ${JSON.stringify(entry)} is not a string`);
    // Exact address, CIDR (`addr/bits` or `addr/netmask`) or preset: proxy-addr checks each.
    try {
      proxyAddr.compile(entry);
    } catch (err) {
      throw new TypeError(
        `portcullis: trustedProxies entry ${JSON.stringify(entry)} is not an IP address, CIDR range or preset (${(err as Error).message})`,
      );
    }
  }
  if (proxies.length === 0) return trustNone;
  // Exact IPv4 addresses only (the common case, and one text per address): a set lookup, no parsing per hop.
  // IPv6 has several spellings per address: proxy-addr compares those.
  if ((proxies as string[]).every((entry) => isIP(entry) === 4)) {
    const exact = new Set((proxies as string[]).map(normalizeIp));
    return (addr) => exact.has(normalizeIp(addr));
  }
  const compiled = proxyAddr.compile([...(proxies as string[])]);
  return (addr, i) => compiled(addr, i);
}

/** The client address and scheme a chain of hops reports (rightmost last), walking from the peer. */
interface Hop {
  readonly ip: string;
  /** The scheme the proxy that wrote this hop received the request with, when it says. */
  readonly proto: string | undefined;
}

/**
 * Walks `hops` (as written: leftmost first) from the right: hop `i + 1` is believed
 * only while hop `i` (0 being `peer`) is trusted. Stops at a malformed address (it
 * cannot have been written by a trusted proxy): the last good one is the client.
 * Proxy-addr's algorithm, except for that stop. Linear in the number of hops.
 */
function walk(peer: string, hops: readonly Hop[], trust: Trust): Hop | undefined {
  let client: Hop | undefined;
  let current = peer;
  for (let i = 0, h = hops.length - 1; h >= 0 && i < MAX_FORWARDED_HOPS; i++, h--) {
    if (!trust(current, i)) break;
    const hop = hops[h] as Hop;
    if (isIP(hop.ip) === 0) break;
    client = hop;
    current = hop.ip;
  }
  return client;
}

/** The last {@link MAX_FORWARDED_HOPS} entries of `X-Forwarded-For` as hops, read from the right (the rest is never split). */
function xForwardedHops(req: IncomingMessage): Hop[] {
  const forwarded = headerValue(req.headers['x-forwarded-for']);
  if (forwarded === undefined) return [];
  const hops: Hop[] = [];
  let end = forwarded.length;
  while (hops.length < MAX_FORWARDED_HOPS) {
    const comma = forwarded.lastIndexOf(',', end - 1);
    hops.push({ ip: normalizeIp(forwarded.slice(comma + 1, end).trim()), proto: undefined });
    if (comma === -1) break;
    end = comma;
  }
  return hops.reverse();
}

function xForwardedProto(req: IncomingMessage): string | undefined {
  const proto = headerValue(req.headers['x-forwarded-proto']);
  if (proto === undefined) return undefined;
  const last = proto
    .slice(proto.lastIndexOf(',') + 1)
    .trim()
    .toLowerCase();
  return last === '' ? undefined : last;
}

/** `Forwarded` (RFC 7239) as hops: each element's `for` (brackets and port dropped) and `proto`. */
function forwardedHops(req: IncomingMessage): Hop[] {
  const value = headerValue(req.headers.forwarded);
  if (value === undefined) return [];
  const elements = parseForwarded(value);
  // An unparsable header: believe none of it (as a malformed address stops the walk).
  if (elements === undefined) return [{ ip: '', proto: undefined }];
  return elements.map((e) => ({ ip: normalizeIp(e.for ?? ''), proto: e.proto?.toLowerCase() }));
}

const isSecureScheme = (proto: string): boolean => proto === 'https' || proto === 'wss';

/**
 * Creates a resolver. The forwarding header is read right to left: each address
 * is believed only when the hop that wrote it (the direct peer first) is a
 * trusted proxy, and the first address that is not one is the client (entries
 * further left were written by the client and are not trusted). The scheme is the
 * rightmost `X-Forwarded-Proto` value, or with `Forwarded`, the `proto` of the
 * element that named the client. Throws `TypeError` on an invalid `trustedProxies`.
 */
export function createRequestResolver(options: RequestResolverOptions = {}): RequestResolver {
  const option = options.trustedProxies ?? [];
  let header: ForwardedHeader = 'x-forwarded-for';
  let proxies: unknown = option;
  if (typeof option === 'object' && option !== null && !Array.isArray(option)) {
    const o = option as { proxies?: unknown; header?: unknown };
    proxies = o.proxies;
    if (o.header !== undefined && o.header !== 'x-forwarded-for' && o.header !== 'forwarded') {
      throw new TypeError("portcullis: trustedProxies.header must be 'x-forwarded-for' or 'forwarded'");
    }
    header = o.header ?? 'x-forwarded-for';
  }
  const trust = compileTrust(proxies);

  return (req) => {
    const peer = normalizeIp(req.socket?.remoteAddress ?? '');
    const direct = isTlsSocket(req);
    if (trust === trustNone || !trust(peer, 0)) return { ip: peer, secure: direct };
    if (header === 'forwarded') {
      const client = walk(peer, forwardedHops(req), trust);
      // The proto the proxy that received the client's connection reported, else how the peer reached us.
      return { ip: client?.ip ?? peer, secure: client?.proto !== undefined ? isSecureScheme(client.proto) : direct };
    }
    const client = walk(peer, xForwardedHops(req), trust);
    const proto = xForwardedProto(req);
    return { ip: client?.ip ?? peer, secure: proto === undefined ? direct : isSecureScheme(proto) };
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
