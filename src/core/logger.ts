/**
 * Logging: a no-op default and a redactor for anything that might hold a secret.
 * Portcullis builds every log object itself from safe fields; `describeError`
 * is the only way an error reaches a log line.
 */
import { AuthError, isAuthError } from '../errors.js';
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

function collectSecrets(value: unknown, out: string[], depth: number): void {
  if (typeof value === 'string') {
    if (value.length >= 4) out.push(value);
  } else if (typeof value === 'number') {
    if (String(value).length >= 4) out.push(String(value));
  } else if (typeof value === 'object' && value !== null && depth < 8) {
    for (const v of Object.values(value)) collectSecrets(v, out, depth + 1);
  }
}

function removeSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join('[redacted]');
  return out;
}

/**
 * Returns `error` with every credential value the client sent removed from its
 * `detail` and its cause's message, so that logging it can never leak them.
 */
export function scrubError(error: AuthError, credentials: unknown): AuthError {
  const secrets: string[] = [];
  collectSecrets(credentials, secrets, 0);
  if (secrets.length === 0 && error.cause === undefined) return error;
  const cause = error.cause;
  let scrubbedCause: unknown = cause;
  if (cause instanceof Error) {
    const copy = new Error(redact(removeSecrets(cause.message, secrets)));
    copy.name = cause.name;
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') (copy as Error & { code: string }).code = code;
    copy.stack = `${copy.name}: ${copy.message}`;
    scrubbedCause = copy;
  } else if (cause !== undefined) {
    scrubbedCause = { type: typeof cause };
  }
  const options: { cause?: unknown; detail?: string; retryAfter?: number } = {};
  if (scrubbedCause !== undefined) options.cause = scrubbedCause;
  if (error.detail !== undefined) options.detail = removeSecrets(error.detail, secrets);
  if (error.retryAfter !== undefined) options.retryAfter = error.retryAfter;
  return new AuthError(error.code, options);
}
