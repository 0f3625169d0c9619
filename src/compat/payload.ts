/**
 * The `authentication` payload as the old `socketio-auth` module handed it to
 * `authenticate`: any value the client sent (an object, a string such as a JWT,
 * `null` for a guest, a number, an array, binary), as a plain value. Objects are
 * copied onto plain `Object.prototype` objects (so `data.hasOwnProperty(...)`
 * works as it did), under generous caps against abuse, and without the keys that
 * reach prototypes (`__proto__`, `constructor`, `prototype`).
 */
import type { IdentityFunction } from '../core/identity.js';
import type { Credentials } from '../core/types.js';
import { AuthError } from '../errors.js';

/** Caps on the `authentication` payload of the compat entry. */
export interface CompatPayloadLimits {
  /**
   * Approximate size in bytes (strings counted by UTF-16 length, binary by byte length).
   * Socket.IO's own `maxHttpBufferSize` (1 MB by default) already bounds a packet.
   * @default 1048576
   */
  maxBytes: number;
  /** Object/array nesting depth (a top-level object is depth 1). @default 32 */
  maxDepth: number;
  /** Total number of object keys and array items. @default 10000 */
  maxKeys: number;
}

export const DEFAULT_COMPAT_PAYLOAD_LIMITS: Readonly<CompatPayloadLimits> = Object.freeze({
  maxBytes: 1_048_576,
  maxDepth: 32,
  maxKeys: 10_000,
});

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Fields whose string value names the principal a failed attempt claimed (for the per-principal failure limit). */

interface Budget {
  bytes: number;
  keys: number;
}

function refuse(detail: string): never {
  throw new AuthError('invalid_request', { detail: `socketio-auth payload: ${detail}` });
}

function copy(value: unknown, depth: number, limits: CompatPayloadLimits, budget: Budget): unknown {
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'string':
      budget.bytes += value.length + 2;
      break;
    case 'number':
    case 'boolean':
      budget.bytes += 8;
      break;
    case 'object': {
      if (value === null) {
        budget.bytes += 4;
        break;
      }
      if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
        // Binary (Socket.IO attachments): no prototype to reach, handed over as it came.
        budget.bytes += value.byteLength;
        break;
      }
      if (depth >= limits.maxDepth) refuse('too deep');
      if (Array.isArray(value)) {
        const out: unknown[] = [];
        for (const item of value) {
          if (++budget.keys > limits.maxKeys) refuse('too many keys');
          out.push(copy(item, depth + 1, limits, budget));
        }
        budget.bytes += 2;
        if (budget.bytes > limits.maxBytes) refuse('too large');
        return out;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) refuse('not a plain object');
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        if (++budget.keys > limits.maxKeys) refuse('too many keys');
        if (FORBIDDEN_KEYS.has(key)) refuse('forbidden key');
        budget.bytes += key.length + 3;
        out[key] = copy((value as Record<string, unknown>)[key], depth + 1, limits, budget);
      }
      budget.bytes += 2;
      if (budget.bytes > limits.maxBytes) refuse('too large');
      return out;
    }
    default:
      // Functions, symbols, bigints: never produced by the Socket.IO parser.
      refuse(`unsupported ${typeof value}`);
  }
  if (budget.bytes > limits.maxBytes) refuse('too large');
  return value;
}

/**
 * Copies what the client sent into a plain value within `limits`. Throws an
 * `invalid_request` `AuthError` when a cap is exceeded or a key could reach a prototype.
 */
export function copyPayload(value: unknown, limits: Readonly<CompatPayloadLimits>): unknown {
  return copy(value, 0, limits, { bytes: 0, keys: 0 });
}

/**
 * The stand-in handed to the core for `data`: never a secret, only the identity the
 * app declared (`identity` option), so failed attempts count against that user; none
 * when the app declared none (the client's payload shape never chooses it).
 */
export function claimOf(data: unknown, identity: IdentityFunction | undefined): Record<string, string> {
  if (identity === undefined || typeof data !== 'object' || data === null || Array.isArray(data)) return {};
  const value = identity(data as Credentials);
  return value === undefined ? {} : { identity: value };
}

/** Checks user-supplied caps, filling in the defaults. Throws `TypeError`. */
export function resolvePayloadLimits(limits: Partial<CompatPayloadLimits> | undefined): Readonly<CompatPayloadLimits> {
  if (limits === undefined) return DEFAULT_COMPAT_PAYLOAD_LIMITS;
  if (typeof limits !== 'object' || limits === null) throw new TypeError('socketio-auth: payload must be an object');
  const out = { ...DEFAULT_COMPAT_PAYLOAD_LIMITS, ...limits };
  for (const key of Object.keys(DEFAULT_COMPAT_PAYLOAD_LIMITS) as (keyof CompatPayloadLimits)[]) {
    const v = out[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new TypeError(`socketio-auth: payload.${key} must be an integer >= 1`);
  }
  return Object.freeze(out);
}
