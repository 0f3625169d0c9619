/**
 * Channel-scoped grants: a short-lived token that lets one connection join one
 * room or channel, like Pusher's private-channel signatures and Centrifugo's
 * subscription tokens. The app's HTTP endpoint signs it with {@link signGrant}
 * after its own checks; the client presents it with its join / subscribe request,
 * and presents a fresh one (the same request again) before it expires.
 *
 * Token: `v1.<expiresAt>.<signature>`, where `expiresAt` is epoch milliseconds in
 * decimal and `signature` is base64url (no padding) of
 * HMAC-SHA256(secret, `portcullis-grant-v1\n<connectionId>\n<channel>\n<expiresAt>`).
 * Binding the connection id means a grant leaked from one socket is useless on another.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.js';

/** A grant secret: text (its UTF-8 bytes) or bytes, at least 32 bytes. */
export type GrantSecret = string | Uint8Array;

/** What a grant is for. */
export interface GrantInput {
  /** The connection id (Socket.IO `socket.id`; `ws`: the id of the `connection` frame). */
  readonly connectionId: string;
  /** The room or channel name. */
  readonly channel: string;
  /** When the grant stops being valid, in epoch milliseconds (an integer). */
  readonly expiresAt: number;
}

const VERSION = 'v1';
const MAX_TOKEN_LENGTH = 128;
const SIGNATURE_LENGTH = 43;
const MIN_SECRET_BYTES = 32;

function keyOf(secret: GrantSecret): Buffer {
  const key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if (key.length < MIN_SECRET_BYTES) throw new TypeError(`portcullis: a grant secret must be at least ${MIN_SECRET_BYTES} bytes`);
  return key;
}

function mac(key: Buffer, input: GrantInput): Buffer {
  return createHmac('sha256', key)
    .update(`portcullis-grant-v1\n${input.connectionId}\n${input.channel}\n${String(input.expiresAt)}`, 'utf8')
    .digest();
}

function checkInput(input: GrantInput): void {
  if (typeof input.connectionId !== 'string' || input.connectionId === '' || input.connectionId.includes('\n')) {
    throw new TypeError('portcullis: grant connectionId must be a non-empty string without newlines');
  }
  if (typeof input.channel !== 'string' || input.channel === '' || input.channel.includes('\n')) {
    throw new TypeError('portcullis: grant channel must be a non-empty string without newlines');
  }
  if (!Number.isSafeInteger(input.expiresAt) || input.expiresAt < 0) {
    throw new TypeError('portcullis: grant expiresAt must be a non-negative integer (epoch ms)');
  }
}

/** Signs a grant for `input` with `secret`. Throws `TypeError` on bad input or a short secret. */
export function signGrant(secret: GrantSecret, input: GrantInput): string {
  checkInput(input);
  return `${VERSION}.${String(input.expiresAt)}.${mac(keyOf(secret), input).toString('base64url')}`;
}

/** Why a grant was refused (internal: audit detail only). */
export type GrantFailure = 'malformed' | 'expired' | 'too_long' | 'bad_signature';

/** Verifies grants against one or more secrets (the first signs; the others are still accepted during a rotation). */
export interface GrantVerifier {
  /** The grant's expiry (epoch ms) when `token` is valid for this connection and channel now; else why not. */
  verify(token: unknown, connectionId: string, channel: string): number | GrantFailure;
}

export interface GrantVerifierOptions {
  /** Secrets, newest first (all accepted). At least 32 bytes each. */
  readonly secrets: readonly GrantSecret[];
  /** Longest lifetime a grant may still have when presented, in ms. @default 3600000 (1 h) */
  readonly maxTtlMs?: number;
  readonly clock: Clock;
}

/** Creates a verifier. Throws `TypeError` on bad options. */
export function createGrantVerifier(options: GrantVerifierOptions): GrantVerifier {
  const { secrets, clock } = options;
  if (!Array.isArray(secrets) || secrets.length === 0) throw new TypeError('portcullis: grants.secret is required');
  const keys = secrets.map(keyOf);
  const maxTtlMs = options.maxTtlMs ?? 3_600_000;
  if (!Number.isInteger(maxTtlMs) || maxTtlMs < 1) throw new TypeError('portcullis: grants.maxTtlMs must be a positive integer');
  return {
    verify(token, connectionId, channel) {
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return 'malformed';
      const first = token.indexOf('.');
      const second = token.indexOf('.', first + 1);
      if (first === -1 || second === -1 || token.slice(0, first) !== VERSION) return 'malformed';
      const digits = token.slice(first + 1, second);
      const signature = token.slice(second + 1);
      if (!/^[0-9]{1,16}$/.test(digits) || signature.length !== SIGNATURE_LENGTH || !/^[A-Za-z0-9_-]+$/.test(signature)) return 'malformed';
      const expiresAt = Number(digits);
      if (!Number.isSafeInteger(expiresAt) || String(expiresAt) !== digits) return 'malformed';
      const presented = Buffer.from(signature, 'base64url');
      if (presented.length !== 32) return 'malformed';
      const input: GrantInput = { connectionId, channel, expiresAt };
      let valid = false;
      // Every key is tried (no early exit), each comparison in constant time.
      for (const key of keys) if (timingSafeEqual(mac(key, input), presented)) valid = true;
      if (!valid) return 'bad_signature';
      const now = clock.now();
      if (expiresAt <= now) return 'expired';
      if (expiresAt - now > maxTtlMs) return 'too_long';
      return expiresAt;
    },
  };
}
