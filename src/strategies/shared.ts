/**
 * Small helpers the credential strategies share: constant-time comparison,
 * base64url, origin normalisation, query-string and store access. Internal: not
 * part of the public API, and free of any strategy's own options.
 */
import * as nodeCrypto from 'node:crypto';
import { createHash, createHmac, type KeyObject, timingSafeEqual } from 'node:crypto';
import { parseOrigin } from '../core/origin.js';
import type { Store, SyncStore } from '../core/types.js';
import { AuthError, isAuthError } from '../errors.js';

/** A secret as accepted by the strategies: UTF-8 text or raw bytes. */
export type SecretInput = string | Uint8Array;

/** The bytes of a secret (strings are UTF-8 encoded). */
export function secretBytes(secret: SecretInput): Uint8Array {
  return typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
}

/**
 * True when `a` and `b` hold the same bytes, in time that depends only on their
 * lengths (both are hashed first, so unequal lengths do not short-circuit either).
 */
export function safeEqual(a: Uint8Array | string, b: Uint8Array | string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  // Compare the digests in constant time, then the lengths: equal digests of unequal inputs are not a concern.
  return timingSafeEqual(ha, hb) && Buffer.byteLength(a) === Buffer.byteLength(b);
}

/** HMAC-SHA256 of `data` under `key`. */
export function hmacSha256(key: KeyObject | Uint8Array, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** One-shot `crypto.hash` (Node >= 20.12) skips building a Hash object per call. */
const oneShotHash = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

/** Hex SHA-256 of `data`. */
export function sha256Hex(data: string): string {
  return oneShotHash === undefined ? createHash('sha256').update(data, 'utf8').digest('hex') : oneShotHash('sha256', data, 'hex');
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** True when `value` is a base64url string (no padding) of `min`..`max` characters. */
export function isBase64Url(value: unknown, min: number, max: number): value is string {
  return typeof value === 'string' && value.length >= min && value.length <= max && BASE64URL.test(value);
}

/**
 * Normalises a web origin with the core's rule (`parseOrigin`: lower-case scheme
 * and host, default port dropped, nothing else forgiven) and keeps `http:` /
 * `https:` origins only. `undefined` for anything else, including the literal `null`.
 */
export function normalizeOrigin(value: string): string | undefined {
  const parsed = parseOrigin(value);
  if (parsed === undefined || (parsed.scheme !== 'http' && parsed.scheme !== 'https')) return undefined;
  return parsed.origin;
}

/** The first value of query parameter `name` in a request path such as `/socket.io/?ticket=…`. */
export function queryParam(url: string, name: string): string | undefined {
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  const params = new URLSearchParams(url.slice(q + 1));
  const value = params.get(name);
  return value === null ? undefined : value;
}

/** The value of `name` in a `Cookie` header (the first one when repeated); `undefined` when absent. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}

/** A single string header value (the first one when a header is repeated). */
export function headerValue(value: string | readonly string[] | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  return undefined;
}

/**
 * Runs a store operation; a failure that is not already an `AuthError` becomes
 * `unavailable` (the store or its network is down), never `internal_error`.
 */
export async function viaStore<T>(what: string, op: (store: Store) => Promise<T>, store: Store): Promise<T> {
  try {
    return await op(store);
  } catch (err) {
    if (isAuthError(err)) throw err;
    throw new AuthError('unavailable', { cause: err, detail: `${what}: store failed` });
  }
}

/**
 * Like {@link viaStore}, but answered at once through the store's synchronous
 * view when it has one (the in-process store): no promise on the handshake path.
 */
export function storeOp<T>(what: string, store: Store, sync: (s: SyncStore) => T, async: (s: Store) => Promise<T>): T | Promise<T> {
  const view = store.sync;
  if (view === undefined) return viaStore(what, async, store);
  try {
    return sync(view);
  } catch (err) {
    if (isAuthError(err)) throw err;
    throw new AuthError('unavailable', { cause: err, detail: `${what}: store failed` });
  }
}

/** Throws `TypeError` unless `value` is a positive finite number. */
export function positiveNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`portcullis: ${name} must be a positive number`);
  }
  return value;
}
