/**
 * Untrusted-payload checks. An auth payload must be a plain JSON-like object of
 * bounded size, depth, key count and string length; the result is a deep copy
 * with null prototypes and without `__proto__`, `constructor` or `prototype`
 * keys, so nothing a client sends can reach user code as a prototype change.
 */
import { AuthError } from '../errors.js';
import type { Credentials } from './types.js';

/** Limits on an auth payload. */
export interface PayloadLimits {
  /**
   * Approximate serialised size in bytes (strings counted by UTF-16 length).
   * @default 16384
   */
  maxBytes: number;
  /**
   * Object/array nesting depth (the top-level object is depth 1).
   * @default 4
   */
  maxDepth: number;
  /**
   * Total number of keys and array items.
   * @default 64
   */
  maxKeys: number;
  /**
   * Length of any one string, in UTF-16 code units.
   * @default 8192
   */
  maxStringLength: number;
}

export const DEFAULT_PAYLOAD_LIMITS: Readonly<PayloadLimits> = Object.freeze({
  maxBytes: 16384,
  maxDepth: 4,
  maxKeys: 64,
  maxStringLength: 8192,
});

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

interface Budget {
  bytes: number;
  keys: number;
}

function fail(detail: string): never {
  throw new AuthError('invalid_request', { detail });
}

function copy(value: unknown, depth: number, limits: PayloadLimits, budget: Budget): unknown {
  switch (typeof value) {
    case 'string':
      if (value.length > limits.maxStringLength) fail('payload: string too long');
      budget.bytes += value.length + 2;
      break;
    case 'number':
      if (!Number.isFinite(value)) fail('payload: non-finite number');
      budget.bytes += 8;
      break;
    case 'boolean':
      budget.bytes += 5;
      break;
    case 'object': {
      if (value === null) {
        budget.bytes += 4;
        break;
      }
      if (depth >= limits.maxDepth) fail('payload: too deep');
      if (Array.isArray(value)) {
        const out: unknown[] = [];
        for (let i = 0; i < value.length; i++) {
          if (++budget.keys > limits.maxKeys) fail('payload: too many keys');
          out.push(copy(value[i], depth + 1, limits, budget));
        }
        budget.bytes += 2;
        return out;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) fail('payload: not a plain object');
      const out: Record<string, unknown> = Object.create(null);
      for (const key of Object.keys(value)) {
        if (++budget.keys > limits.maxKeys) fail('payload: too many keys');
        if (FORBIDDEN_KEYS.has(key)) fail('payload: forbidden key');
        if (key.length > limits.maxStringLength) fail('payload: key too long');
        budget.bytes += key.length + 3;
        out[key] = copy((value as Record<string, unknown>)[key], depth + 1, limits, budget);
      }
      budget.bytes += 2;
      if (budget.bytes > limits.maxBytes) fail('payload: too large');
      return out;
    }
    default:
      // undefined, functions, symbols, bigints: not JSON.
      fail(`payload: unsupported ${typeof value}`);
  }
  if (budget.bytes > limits.maxBytes) fail('payload: too large');
  return value;
}

/**
 * Validates and copies an auth payload. `undefined` and `null` become an empty
 * object (no credentials). Anything else that is not a plain object, or that
 * breaks a limit, throws `invalid_request`.
 */
export function sanitizeCredentials(value: unknown, limits: PayloadLimits = DEFAULT_PAYLOAD_LIMITS): Credentials {
  if (value === undefined || value === null) return Object.create(null) as Credentials;
  if (typeof value !== 'object' || Array.isArray(value)) fail('payload: not an object');
  return copy(value, 0, limits, { bytes: 0, keys: 0 }) as Credentials;
}
