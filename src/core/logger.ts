/**
 * Logging: a no-op default and a redactor for anything that might hold a secret.
 * Portcullis builds every log object itself from safe fields; `describeError`
 * is the only way an error reaches a log line.
 */
import { isAuthError } from '../errors.js';
import type { Logger } from './types.js';

/** A logger that drops everything. The default. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

// JWTs, long base64/base64url/hex runs, and `key=value` secrets in query strings.
const SECRET_PATTERNS: readonly RegExp[] = [
  /eyJ[\w-]*\.[\w-]*\.[\w-]*/g,
  /[A-Za-z0-9+/_-]{24,}={0,2}/g,
  /((?:token|ticket|password|secret|signature|sig|key|auth|csrf|cookie|session)[^=:\s]*[=:]\s*)[^\s&;,]+/gi,
];

/** Masks anything in `text` that looks like a token, signature or secret. */
export function redact(text: string): string {
  let out = text.length > 500 ? `${text.slice(0, 500)}…` : text;
  out = out.replace(SECRET_PATTERNS[2] as RegExp, '$1[redacted]');
  out = out.replace(SECRET_PATTERNS[0] as RegExp, '[redacted]');
  out = out.replace(SECRET_PATTERNS[1] as RegExp, '[redacted]');
  return out;
}

/** A credential-free description of an error, for a log object. */
export function describeError(err: unknown): Record<string, unknown> {
  if (isAuthError(err)) {
    const out: Record<string, unknown> = { code: err.code };
    if (err.detail !== undefined) out.detail = redact(err.detail);
    if (err.cause !== undefined) out.cause = describeCause(err.cause);
    return out;
  }
  return { cause: describeCause(err) };
}

function describeCause(cause: unknown): Record<string, unknown> {
  if (cause instanceof Error) {
    const out: Record<string, unknown> = { name: cause.name, message: redact(cause.message) };
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') out.code = code;
    return out;
  }
  return { type: typeof cause };
}
