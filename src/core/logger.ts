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

/** Where a request carries credentials besides the payload: headers and the URL's query. */
export interface SecretSources {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly url: string;
}

/** Header names whose values are credentials (or carry them). */
const SECRET_HEADER = /authorization|cookie|token|secret|session|api-?key|signature/i;

/** The values of credential headers (each cookie's value, raw and decoded) and of the query's parameters. */
function collectRequestSecrets(context: SecretSources, out: string[]): void {
  for (const [name, raw] of Object.entries(context.headers)) {
    if (raw === undefined || !SECRET_HEADER.test(name)) continue;
    for (const value of Array.isArray(raw) ? raw : [raw]) {
      collectSecrets(value, out, 0);
      for (const part of value.split(/[;,\s]+/)) {
        const eq = part.indexOf('=');
        const v = eq === -1 ? part : part.slice(eq + 1);
        collectSecrets(v, out, 0);
        try {
          collectSecrets(decodeURIComponent(v), out, 0);
        } catch {
          // not percent-encoded
        }
      }
    }
  }
  const q = context.url.indexOf('?');
  if (q !== -1) {
    for (const [, v] of new URLSearchParams(context.url.slice(q + 1))) collectSecrets(v, out, 0);
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
export function scrubError(error: AuthError, credentials: unknown, context?: SecretSources): AuthError {
  const secrets: string[] = [];
  collectSecrets(credentials, secrets, 0);
  if (context !== undefined) collectRequestSecrets(context, secrets);
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
  if (error.detail !== undefined) options.detail = redact(removeSecrets(error.detail, secrets));
  if (error.retryAfter !== undefined) options.retryAfter = error.retryAfter;
  const scrubbed = new AuthError(error.code, options);
  // Internal marks (a counted failure, see attempts.ts) travel with the error.
  for (const key of Object.getOwnPropertySymbols(error))
    (scrubbed as unknown as Record<symbol, unknown>)[key] = (error as unknown as Record<symbol, unknown>)[key];
  return scrubbed;
}
