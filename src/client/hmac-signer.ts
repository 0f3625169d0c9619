/**
 * Signs an HMAC handshake (PROTOCOL.md, "HMAC signed handshake") with WebCrypto
 * only: no Node built-ins and no DOM globals, so it runs in browsers, workers and
 * Node 20 alike. The server side is `portcullis/strategies/hmac`.
 *
 * The secret is a shared key; keep it out of code shipped to untrusted browsers
 * (sign on a service, a device, or a backend-for-frontend).
 */

/** The first line of the canonical string, naming its version. */
export const HMAC_CANONICAL_VERSION = 'portcullis-hmac-v1';

/** What the client sends (as `auth` in Socket.IO, or the `authenticate` payload on `ws`). */
export interface HmacCredentials {
  /** Which shared secret signed this handshake. */
  keyId: string;
  /** When it was signed, in epoch milliseconds. */
  timestamp: number;
  /** A random, single-use value (base64url, 16–128 characters). */
  nonce: string;
  /** base64url (no padding) HMAC-SHA256 of the canonical string. */
  signature: string;
  /** The signed claims (e.g. `{ sub: 'alice' }`). */
  fields?: Record<string, string>;
}

export interface SignHandshakeOptions {
  /** The id of the secret, as the server knows it. */
  keyId: string;
  /** The shared secret (strings are UTF-8 encoded). */
  secret: string | Uint8Array;
  /** The Socket.IO namespace (e.g. `/` or `/chat`) or the `ws` path the credentials are for. */
  namespace: string;
  /** Claims to sign; values must be strings. @default none */
  fields?: Record<string, string>;
  /** The timestamp to sign, in epoch milliseconds. @default `Date.now()` */
  now?: number;
  /** The nonce to use (base64url, 16–128 characters). @default 16 random bytes */
  nonce?: string;
}

const NONCE = /^[A-Za-z0-9_-]{16,128}$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i] as number;
    const b1 = bytes[i + 1] ?? 0;
    const b2 = bytes[i + 2] ?? 0;
    const n = (b0 << 16) | (b1 << 8) | b2;
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 4) / 3));
    for (let c = 0; c < chars; c++) out += ALPHABET.charAt((n >> (18 - 6 * c)) & 63);
  }
  return out;
}

/**
 * The canonical string both sides sign (PROTOCOL.md §5): lines joined by `\n`:
 * the version, keyId, timestamp in decimal, nonce, namespace, then one
 * `key=value` line per field, sorted by key (UTF-16 code unit order). Throws
 * `TypeError` when a part could make two different inputs sign the same string.
 */
export function hmacCanonicalString(parts: {
  keyId: string;
  timestamp: number;
  nonce: string;
  namespace: string;
  fields?: Readonly<Record<string, string>> | undefined;
}): string {
  const { keyId, timestamp, nonce, namespace } = parts;
  if (typeof keyId !== 'string' || keyId === '' || keyId.includes('\n'))
    throw new TypeError('hmac: keyId must be a non-empty string without newlines');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new TypeError('hmac: timestamp must be a non-negative integer (epoch ms)');
  if (typeof nonce !== 'string' || !NONCE.test(nonce)) throw new TypeError('hmac: nonce must be base64url, 16-128 characters');
  if (typeof namespace !== 'string' || namespace.includes('\n')) throw new TypeError('hmac: namespace must be a string without newlines');
  const lines = [HMAC_CANONICAL_VERSION, keyId, String(timestamp), nonce, namespace];
  const fields = parts.fields ?? {};
  for (const key of Object.keys(fields).sort()) {
    const value = fields[key];
    if (key === '' || key.includes('\n') || key.includes('='))
      throw new TypeError('hmac: field names must be non-empty, without "=" or newlines');
    if (typeof value !== 'string' || value.includes('\n')) throw new TypeError('hmac: field values must be strings without newlines');
    lines.push(`${key}=${value}`);
  }
  return lines.join('\n');
}

/** Signs a handshake; resolves the credentials to send. */
export async function signHandshake(options: SignHandshakeOptions): Promise<HmacCredentials> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) throw new TypeError('hmac: WebCrypto (globalThis.crypto.subtle) is not available');
  const encoder = new TextEncoder();
  const timestamp = options.now ?? Date.now();
  const nonce = options.nonce ?? toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(16)));
  const fields = options.fields === undefined ? undefined : { ...options.fields };
  const canonical = hmacCanonicalString({ keyId: options.keyId, timestamp, nonce, namespace: options.namespace, fields });
  const secret = typeof options.secret === 'string' ? encoder.encode(options.secret) : options.secret;
  if (!(secret instanceof Uint8Array) || secret.byteLength === 0)
    throw new TypeError('hmac: secret must be a non-empty string or Uint8Array');
  // A copy on a plain ArrayBuffer: what WebCrypto's `BufferSource` accepts under the DOM typings too.
  const key = await subtle.importKey('raw', new Uint8Array(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await subtle.sign('HMAC', key, encoder.encode(canonical)));
  const credentials: HmacCredentials = { keyId: options.keyId, timestamp, nonce, signature: toBase64Url(mac) };
  if (fields !== undefined) credentials.fields = fields;
  return credentials;
}
