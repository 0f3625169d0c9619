/**
 * Mutual TLS: admits the holder of a client certificate issued by your CA.
 *
 * Direct mode (TLS ends in Node): create the server with
 * `https.createServer({ requestCert: true, rejectUnauthorized: false, ca })`, so a
 * socket without a good certificate still reaches the guard and is refused with
 * a proper code instead of a dropped TLS handshake. A certificate is admitted
 * only when Node's TLS layer authorised it (`context.peerAuthorized`) AND it is
 * inside its validity period at the guard's clock.
 *
 * Proxy mode (opt-in, TLS ends in a reverse proxy): the proxy forwards the client
 * certificate as a URL-encoded PEM header (nginx: `$ssl_client_escaped_cert`).
 * The header is honoured only when the connection comes from one of
 * `trustedProxies` (exact IPs), and the certificate is verified here against
 * `ca` (issued directly by one of them: no intermediates) and its validity.
 */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { normalizeIp } from '../core/ip.js';
import type { AuthContext, Principal, Strategy } from '../core/types.js';
import { AuthError } from '../errors.js';
import { headerValue } from './shared.js';

/** The certificate facts a principal mapper sees. */
export interface ClientCertificateInfo {
  /** Subject attributes, e.g. `{ CN: 'alice', O: 'Example' }` (repeated attributes are arrays). */
  readonly subject: Attributes;
  /** Issuer attributes. */
  readonly issuer: Attributes;
  /** Subject alternative names as Node prints them (`DNS:a.example, IP Address:10.0.0.1`), if any. */
  readonly subjectAltName: string | undefined;
  /** SHA-256 fingerprint, colon-separated upper-case hex. */
  readonly fingerprint256: string;
  /** Serial number, upper-case hex. */
  readonly serialNumber: string;
  /** Start of validity, in epoch milliseconds. */
  readonly validFrom: number;
  /** End of validity, in epoch milliseconds. */
  readonly validTo: number;
  /** Where the certificate came from: Node's TLS layer, or a trusted proxy's header. */
  readonly via: 'tls' | 'proxy';
}

export interface TlsClientCertStrategyOptions {
  /**
   * Maps a verified certificate to a principal. Whatever it leaves out is filled in:
   * `tokenId` ← `fingerprint256` (revoke one certificate by its fingerprint),
   * `issuedAt` ← `validFrom` (a user revocation refuses certificates issued before it),
   * `expiresAt` ← `validTo` (a mapper may shorten it, never extend it).
   * @default `{ id: subject.CN, claims: { subject, issuer, subjectAltName, fingerprint256, serialNumber } }`
   */
  principal?: (cert: ClientCertificateInfo, context: AuthContext) => Principal | Promise<Principal>;
  /** Proxy mode: the exact IPs of reverse proxies allowed to forward a certificate. @default [] (proxy mode off) */
  trustedProxies?: readonly string[];
  /** Proxy mode: the header holding the URL-encoded PEM certificate, e.g. `x-client-cert`. @default none */
  header?: string;
  /** Proxy mode: the CA certificate(s), PEM, that must have issued a forwarded certificate. Required with `header`. */
  ca?: string | Uint8Array | readonly (string | Uint8Array)[];
  /**
   * Whether a certificate carrying an Extended Key Usage extension must list
   * TLS client authentication (`1.3.6.1.5.5.7.3.2`).
   * @default true
   */
  requireClientAuthUsage?: boolean;
}

const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';
const MAX_HEADER_CHARS = 16384;

function loadCas(input: TlsClientCertStrategyOptions['ca']): X509Certificate[] {
  const list = input === undefined ? [] : Array.isArray(input) ? input : [input as string | Uint8Array];
  const out: X509Certificate[] = [];
  for (const item of list) {
    const text = typeof item === 'string' ? item : Buffer.from(item as Uint8Array).toString('utf8');
    const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (pems.length === 0) throw new TypeError('portcullis: tls `ca` holds no PEM certificate');
    for (const pem of pems) {
      const cert = new X509Certificate(pem);
      if (!cert.ca) throw new TypeError('portcullis: a tls `ca` certificate is not a CA (basicConstraints CA:FALSE)');
      out.push(cert);
    }
  }
  return out;
}

function isPresent(cert: PeerCertificate | undefined): cert is PeerCertificate {
  return (
    cert !== undefined && cert !== null && typeof cert === 'object' && typeof cert.fingerprint256 === 'string' && cert.fingerprint256 !== ''
  );
}

type Attributes = Readonly<Record<string, string | readonly string[]>>;

/** A copy of a subject/issuer object without undefined members. */
function attributes(value: object | undefined): Attributes {
  const out: Record<string, string | readonly string[]> = {};
  for (const [k, v] of Object.entries(value ?? {})) if (typeof v === 'string' || Array.isArray(v)) out[k] = v;
  return out;
}

function refuse(detail: string): AuthError {
  return new AuthError('invalid_credentials', { detail });
}

/** Checks validity and key usage, and extracts the facts. Throws `invalid_credentials`. */
function inspect(cert: PeerCertificate, via: 'tls' | 'proxy', now: number, requireClientAuth: boolean): ClientCertificateInfo {
  const validFrom = Date.parse(cert.valid_from);
  const validTo = Date.parse(cert.valid_to);
  if (!Number.isFinite(validFrom) || !Number.isFinite(validTo)) throw refuse('tls: unreadable validity period');
  if (now < validFrom) throw refuse('tls: certificate not yet valid');
  if (now >= validTo) throw refuse('tls: certificate expired');
  const eku = cert.ext_key_usage;
  if (requireClientAuth && Array.isArray(eku) && !eku.includes(CLIENT_AUTH_OID)) throw refuse('tls: certificate not for client auth');
  return {
    subject: attributes(cert.subject),
    issuer: attributes(cert.issuer),
    subjectAltName: cert.subjectaltname,
    fingerprint256: cert.fingerprint256,
    serialNumber: cert.serialNumber,
    validFrom,
    validTo,
    via,
  };
}

function defaultPrincipal(info: ClientCertificateInfo): Principal {
  const cn = info.subject.CN;
  if (typeof cn !== 'string' || cn === '') throw refuse('tls: certificate has no single subject CN');
  const { subject, issuer, subjectAltName, fingerprint256, serialNumber } = info;
  return { id: cn, claims: { subject, issuer, subjectAltName, fingerprint256, serialNumber } };
}

/** Creates a strategy that admits holders of a client certificate from your CA. */
export function createTlsClientCertStrategy(options: TlsClientCertStrategyOptions = {}): Strategy {
  if (typeof options !== 'object' || options === null) throw new TypeError('portcullis: tls strategy options must be an object');
  const mapper = options.principal;
  if (mapper !== undefined && typeof mapper !== 'function') throw new TypeError('portcullis: tls `principal` must be a function');
  const requireClientAuth = options.requireClientAuthUsage ?? true;
  const proxies = new Set((options.trustedProxies ?? []).map((ip) => normalizeIp(ip)));
  const header = options.header?.toLowerCase();
  if (proxies.size > 0 !== (header !== undefined)) {
    throw new TypeError('portcullis: tls proxy mode needs both `trustedProxies` and `header`');
  }
  if (header !== undefined && !/^[a-z0-9-]+$/.test(header)) throw new TypeError('portcullis: tls `header` is not a header name');
  const cas = loadCas(options.ca);
  if (header !== undefined && cas.length === 0) throw new TypeError('portcullis: tls proxy mode needs `ca`');
  if (header === undefined && cas.length > 0) {
    throw new TypeError('portcullis: tls `ca` is for proxy mode; in direct mode pass `ca` to https.createServer');
  }

  /** The certificate a trusted proxy forwarded, verified against `ca`; undefined when none applies. */
  const forwarded = (context: AuthContext, now: number): PeerCertificate | undefined => {
    if (header === undefined || !proxies.has(normalizeIp(context.ip))) return undefined;
    const raw = headerValue(context.headers[header]);
    if (raw === undefined || raw === '') return undefined;
    if (raw.length > MAX_HEADER_CHARS) throw refuse('tls: forwarded certificate too large');
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(decodeURIComponent(raw));
    } catch {
      throw refuse('tls: forwarded certificate unreadable');
    }
    const issuer = cas.find((ca) => {
      const from = Date.parse(ca.validFrom);
      const to = Date.parse(ca.validTo);
      return now >= from && now < to && cert.checkIssued(ca) && cert.verify(ca.publicKey);
    });
    if (issuer === undefined) throw refuse('tls: forwarded certificate not issued by a trusted CA');
    if (cert.ca) throw refuse('tls: forwarded certificate is a CA certificate');
    return cert.toLegacyObject();
  };

  return {
    name: 'tls-client-cert',
    async authenticate(_credentials, context) {
      const now = context.clock.now();
      let info: ClientCertificateInfo;
      if (isPresent(context.peerCertificate)) {
        if (!context.peerAuthorized) throw refuse('tls: certificate not verified by the TLS layer');
        info = inspect(context.peerCertificate, 'tls', now, requireClientAuth);
      } else {
        const cert = forwarded(context, now);
        if (cert === undefined) return null;
        info = inspect(cert, 'proxy', now, requireClientAuth);
      }
      const base = mapper === undefined ? defaultPrincipal(info) : await mapper(info, context);
      if (typeof base !== 'object' || base === null || typeof base.id !== 'string' || base.id === '') {
        throw new AuthError('internal_error', { detail: 'tls: principal mapper returned no id' });
      }
      const principal: { -readonly [K in keyof Principal]: Principal[K] } = { ...base };
      if (principal.tokenId === undefined) principal.tokenId = info.fingerprint256;
      if (principal.issuedAt === undefined) principal.issuedAt = info.validFrom;
      principal.expiresAt = principal.expiresAt === undefined ? info.validTo : Math.min(principal.expiresAt, info.validTo);
      return principal;
    },
  };
}
