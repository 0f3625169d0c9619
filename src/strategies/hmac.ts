/**
 * HMAC-signed handshakes between parties sharing a secret (services, devices,
 * backends). The client signs a canonical string (PROTOCOL.md §5) naming the
 * key, a timestamp, a nonce, the namespace and its claims; the server recomputes
 * the HMAC-SHA256, compares in constant time, accepts timestamps within
 * `windowMs` either side of its clock, and remembers each nonce in the store for
 * `2 × windowMs`, so a replay is refused on every node sharing that store.
 *
 * Clients sign with `signHandshake` from `portcullis/client` (WebCrypto only).
 */
import { createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { hmacCanonicalString } from '../client/hmac-signer.js';
import { isThenable } from '../core/thenable.js';
import type { AuthContext, Principal, Strategy } from '../core/types.js';
import { AuthError, isAuthError } from '../errors.js';
import { hmacSha256, isBase64Url, positiveNumber, type SecretInput, secretBytes, storeOp } from './shared.js';

/** Looks a secret up by key id (for rotation or a secret manager); `undefined`/`null` when unknown. */
export type HmacKeyLookup = (keyId: string) => SecretInput | null | undefined | Promise<SecretInput | null | undefined>;

export interface HmacStrategyOptions {
  /**
   * The shared secrets by key id, each at least 32 bytes (strings are UTF-8), or a
   * function resolving one. Rotate by adding the new id, moving clients over, then
   * removing the old id.
   */
  keys: Readonly<Record<string, SecretInput>> | HmacKeyLookup;
  /**
   * How far a handshake's timestamp may be from the server's clock, either way,
   * in milliseconds. Nonces are remembered for twice this long.
   * @default 30000
   */
  windowMs?: number;
  /**
   * Maps the verified fields to a principal. May be async, and may throw an `AuthError`.
   * `issuedAt` defaults to the signed timestamp.
   * @default `{ id: fields.sub, issuedAt: timestamp, claims: { ...fields, keyId } }` (refused without `sub`)
   */
  principal?: (fields: Readonly<Record<string, string>>, keyId: string, context: AuthContext) => Principal | Promise<Principal>;
}

const MIN_SECRET_BYTES = 32;
const MAX_KEY_ID = 256;
const SIGNATURE_CHARS = 43; // 32 bytes, base64url without padding

function importSecret(secret: unknown, where: string): KeyObject {
  if (typeof secret !== 'string' && !(secret instanceof Uint8Array))
    throw new TypeError(`portcullis: hmac ${where} must be a string or Uint8Array`);
  const bytes = secretBytes(secret);
  if (bytes.byteLength < MIN_SECRET_BYTES) throw new TypeError(`portcullis: hmac ${where} must be at least ${MIN_SECRET_BYTES} bytes`);
  return createSecretKey(bytes);
}

function invalid(detail: string): AuthError {
  return new AuthError('invalid_request', { detail });
}

/** Signed credentials, their shape checked. */
interface Signed {
  keyId: string;
  timestamp: number;
  nonce: string;
  signature: string;
  fields: Record<string, string>;
}

/** Reads and checks the shape of the signed credentials; throws `invalid_request`. */
function parse(credentials: Readonly<Record<string, unknown>>): Signed {
  const { keyId, timestamp, nonce, signature } = credentials;
  if (typeof keyId !== 'string' || keyId === '' || keyId.length > MAX_KEY_ID) throw invalid('hmac: keyId missing or too long');
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0) throw invalid('hmac: timestamp is not epoch ms');
  if (!isBase64Url(nonce, 16, 128)) throw invalid('hmac: nonce is not base64url of 16-128 characters');
  if (!isBase64Url(signature, SIGNATURE_CHARS, SIGNATURE_CHARS)) throw invalid('hmac: signature is not a base64url HMAC-SHA256');
  const raw = credentials.fields;
  const fields: Record<string, string> = {};
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid('hmac: fields is not an object');
    for (const [key, value] of Object.entries(raw)) {
      if (typeof value !== 'string') throw invalid('hmac: field values must be strings');
      fields[key] = value;
    }
  }
  return { keyId, timestamp, nonce, signature, fields };
}

/** Creates a strategy that admits handshakes signed with a known HMAC key. */
export function createHmacStrategy(options: HmacStrategyOptions): Strategy {
  if (typeof options !== 'object' || options === null) throw new TypeError('portcullis: hmac strategy options must be an object');
  const windowMs = positiveNumber('windowMs', options.windowMs ?? 30_000);
  const { keys, principal: mapper } = options;
  if (mapper !== undefined && typeof mapper !== 'function') throw new TypeError('portcullis: hmac `principal` must be a function');
  let lookup: (keyId: string) => KeyObject | undefined | Promise<KeyObject | undefined>;
  if (typeof keys === 'function') {
    lookup = async (keyId) => {
      let secret: SecretInput | null | undefined;
      try {
        secret = await keys(keyId);
      } catch (err) {
        if (isAuthError(err)) throw err;
        throw new AuthError('unavailable', { cause: err, detail: 'hmac: key lookup failed' });
      }
      if (secret === null || secret === undefined) return undefined;
      try {
        return importSecret(secret, 'key');
      } catch (cause) {
        throw new AuthError('internal_error', { cause, detail: 'hmac: key lookup returned an unusable secret' });
      }
    };
  } else if (typeof keys === 'object' && keys !== null) {
    const table = new Map<string, KeyObject>();
    for (const [keyId, secret] of Object.entries(keys)) {
      if (keyId === '' || keyId.includes('\n') || keyId.length > MAX_KEY_ID) throw new TypeError('portcullis: invalid hmac key id');
      table.set(keyId, importSecret(secret, `key ${JSON.stringify(keyId)}`));
    }
    if (table.size === 0) throw new TypeError('portcullis: hmac `keys` cannot be empty');
    lookup = (keyId) => table.get(keyId);
  } else {
    throw new TypeError('portcullis: hmac strategy needs `keys` (an object or a function)');
  }

  /** The signature is good: spends the nonce (at once on an in-process store), then maps the principal. */
  const spendNonce = (signed: Signed, context: AuthContext): Principal | Promise<Principal> => {
    // Only a correctly signed handshake may spend a nonce, so junk cannot fill the store.
    const nonceKey = `hmac-nonce:${signed.keyId}:${signed.nonce}`;
    const spent = storeOp(
      'hmac',
      context.store,
      (s) => s.setIfAbsent(nonceKey, '1', 2 * windowMs),
      (s) => s.setIfAbsent(nonceKey, '1', 2 * windowMs),
    );
    return spent instanceof Promise ? spent.then((fresh) => principalOf(fresh, signed, context)) : principalOf(spent, signed, context);
  };

  const principalOf = (fresh: boolean, { keyId, timestamp, fields }: Signed, context: AuthContext): Principal | Promise<Principal> => {
    if (!fresh) throw new AuthError('invalid_credentials', { detail: 'hmac: replayed nonce' });
    if (mapper !== undefined) {
      const withIssuedAt = (mapped: Principal): Principal => (mapped.issuedAt === undefined ? { ...mapped, issuedAt: timestamp } : mapped);
      const mapped = mapper(fields, keyId, context);
      return isThenable(mapped) ? Promise.resolve(mapped).then(withIssuedAt) : withIssuedAt(mapped);
    }
    const sub = fields.sub;
    if (sub === undefined || sub === '') throw new AuthError('invalid_credentials', { detail: 'hmac: no sub field' });
    return { id: sub, issuedAt: timestamp, claims: { ...fields, keyId } };
  };

  return {
    name: 'hmac',
    // Not `async`: with keys given as an object and an in-process store, the verdict comes at once.
    authenticate(credentials, context) {
      if (credentials.keyId === undefined && credentials.signature === undefined) return null;
      const signed = parse(credentials);
      const { keyId, timestamp, nonce, signature, fields } = signed;
      let canonical: string;
      try {
        canonical = hmacCanonicalString({ keyId, timestamp, nonce, namespace: context.namespace, fields });
      } catch (err) {
        throw invalid(err instanceof Error ? err.message : 'hmac: not signable');
      }
      const now = context.clock.now();
      if (Math.abs(now - timestamp) > windowMs)
        throw new AuthError('invalid_credentials', { detail: 'hmac: timestamp outside the window' });
      const check = (key: KeyObject | undefined): Principal | Promise<Principal> => {
        if (key === undefined) throw new AuthError('invalid_credentials', { detail: 'hmac: unknown key id' });
        const expected = hmacSha256(key, canonical);
        const given = Buffer.from(signature, 'base64url');
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
          throw new AuthError('invalid_credentials', { detail: 'hmac: bad signature' });
        }
        return spendNonce(signed, context);
      };
      const found = lookup(keyId);
      return found instanceof Promise ? found.then(check) : check(found);
    },
  };
}
