/**
 * Key material shared by the load process and the servers (passed to the children
 * in their config), and the credentials the load process presents: JWTs signed
 * ahead of time, HMAC handshakes signed per attempt (a fresh nonce each time),
 * one-time tickets issued by the server under test.
 */
import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { importJWK, type JWK, SignJWT } from 'jose';
import { hmacCanonicalString } from '../../src/client/hmac-signer.js';

/** What the servers need to verify credentials (JSON-serialisable). */
export interface KeyMaterial {
  /**
   * HS256 secret: a string (base64url of 32 random bytes, 43 characters) whose UTF-8 bytes are the key, as an app
   * reading it from an environment variable uses it (`jsonwebtoken.verify(token, process.env.JWT_SECRET)`).
   * Every HS256 signer and verifier takes the key from it through `hs256Key`.
   */
  readonly hs256Secret: string;
  /** ES256 public key (JWK). */
  readonly es256PublicJwk: JWK;
  /** ES256 private key (JWK), kept by the load process only. */
  readonly es256PrivateJwk?: JWK;
  readonly hmacKeyId: string;
  /** HMAC secret, base64url of 32 random bytes. */
  readonly hmacSecret: string;
}

export function createKeyMaterial(): KeyMaterial {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    hs256Secret: randomBytes(32).toString('base64url'),
    es256PublicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), alg: 'ES256' },
    es256PrivateJwk: { ...(privateKey.export({ format: 'jwk' }) as JWK), alg: 'ES256' },
    hmacKeyId: 'bench-key',
    hmacSecret: randomBytes(32).toString('base64url'),
  };
}

/** The material a server gets: no private key. */
export function publicMaterial(keys: KeyMaterial): KeyMaterial {
  const { es256PrivateJwk: _omit, ...rest } = keys;
  return rest;
}

/** The HS256 key: the UTF-8 bytes of the secret string (what `jsonwebtoken` and portcullis make of a string secret). */
export function hs256Key(keys: Pick<KeyMaterial, 'hs256Secret'>): Uint8Array {
  return new TextEncoder().encode(keys.hs256Secret);
}

/** The secret bytes of a base64url secret. */
export function secretOf(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, 'base64url'));
}

export type JwtAlg = 'HS256' | 'ES256';

/**
 * Signs `count` tokens (subjects `user-0`…) valid for `ttlSec`, with `iat`, `jti`
 * and `sid`, the claims a real identity provider sets.
 */
export async function signTokens(keys: KeyMaterial, alg: JwtAlg, count: number, ttlSec = 3600): Promise<string[]> {
  const key = alg === 'HS256' ? hs256Key(keys) : await importJWK(keys.es256PrivateJwk as JWK, 'ES256');
  const now = Math.floor(Date.now() / 1000);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await new SignJWT({ sid: `session-${i}`, scope: 'chat:read chat:write' })
        .setProtectedHeader({ alg })
        .setSubject(`user-${i}`)
        .setIssuedAt(now)
        .setExpirationTime(now + ttlSec)
        .setJti(`jti-${i}-${randomBytes(6).toString('base64url')}`)
        .sign(key),
    );
  }
  return out;
}

/** HMAC handshake credentials as `signHandshake` would produce them, signed with `node:crypto` (synchronous). */
export interface HmacCredentials {
  keyId: string;
  timestamp: number;
  nonce: string;
  signature: string;
  fields: Record<string, string>;
}

/** Signs one HMAC handshake for `namespace` with a fresh nonce. */
export function signHmac(keys: KeyMaterial, namespace: string, sub: string, now = Date.now()): HmacCredentials {
  const nonce = randomBytes(16).toString('base64url');
  const fields = { sub };
  const canonical = hmacCanonicalString({ keyId: keys.hmacKeyId, timestamp: now, nonce, namespace, fields });
  const signature = createHmac('sha256', secretOf(keys.hmacSecret)).update(canonical, 'utf8').digest('base64url');
  return { keyId: keys.hmacKeyId, timestamp: now, nonce, signature, fields };
}
