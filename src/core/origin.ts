/**
 * Origin checking before the upgrade, shared by every adapter (the defence
 * against cross-site WebSocket hijacking).
 *
 * An `Origin` is compared exactly, after one normalisation: scheme and host are
 * lower-cased and a default port (80 for `http`/`ws`, 443 for `https`/`wss`) is
 * dropped. Nothing else is forgiven: no prefix or substring matching, no path,
 * no credentials, and a trailing dot in the host is kept (`https://app.example.com.`
 * is another origin than `https://app.example.com`).
 */
import { AuthError } from '../errors.js';
import type { Logger } from './types.js';

/** Options for {@link createOriginCheck}. */
export interface OriginCheckOptions {
  /**
   * The origins allowed to open a socket:
   * - a list of exact origins (`'https://app.example.com'`, `'http://localhost:3000'`);
   * - `'*'` to opt out of the check explicitly (any origin);
   * - a function given the normalised origin, returning true to allow it.
   *
   * When not set, only same-origin requests pass: the Origin's host and port must
   * equal the `Host` header and its scheme must match the connection (`https` on
   * TLS, `http` otherwise).
   * @default same-origin only
   */
  origins?: readonly string[] | '*' | ((origin: string) => boolean);
  /**
   * Whether the opaque origin `null` (sandboxed iframes, `file:` pages, some
   * redirects) is allowed. It never matches a list entry or the same-origin rule.
   * @default false
   */
  allowNull?: boolean;
  /**
   * Whether a request without an `Origin` header is refused. Browsers always send
   * one with a WebSocket upgrade; non-browser clients usually do not.
   * @default false
   */
  requireOrigin?: boolean;
}

/**
 * Checks one request: the `Origin` header (or `undefined`), the `Host` header
 * (or `undefined`) and whether the connection is TLS. Throws `origin_not_allowed`.
 */
export type OriginCheck = (origin: string | undefined, host: string | undefined, secure: boolean) => void;

/** A parsed, normalised origin. */
export interface ParsedOrigin {
  /** Lower-cased scheme without `:` (`https`). */
  readonly scheme: string;
  /** Lower-cased host; IPv6 hosts keep their brackets. */
  readonly host: string;
  /** The port, explicit or the scheme's default; `undefined` for a scheme without one. */
  readonly port: number | undefined;
  /** `scheme://host[:port]` with the default port dropped. */
  readonly origin: string;
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, ws: 80, wss: 443 };

// scheme "://" host [ ":" port ] and nothing else: no userinfo, path, query or fragment.
const ORIGIN_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::(\d{1,5}))?$/;
// host [ ":" port ] as in the Host header.
const HOST_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::(\d{1,5}))?$/;

function port(text: string | undefined, fallback: number | undefined): number | undefined | null {
  if (text === undefined) return fallback;
  // Browsers serialise ports without leading zeros: `:03000` is not an origin's port (nothing else is forgiven).
  if (text.length > 1 && text.charCodeAt(0) === 48) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

/** Parses and normalises a serialised origin; `undefined` when it is not one (including `null`). */
export function parseOrigin(value: string): ParsedOrigin | undefined {
  const m = ORIGIN_RE.exec(value);
  if (m === null) return undefined;
  const scheme = (m[1] as string).toLowerCase();
  const host = (m[2] as string).toLowerCase();
  const fallback = DEFAULT_PORTS[scheme];
  const p = port(m[3], fallback);
  if (p === null) return undefined;
  const origin = p === undefined || p === fallback ? `${scheme}://${host}` : `${scheme}://${host}:${p}`;
  return { scheme, host, port: p, origin };
}

/** Parses a `Host` header; the port defaults from `secure`. `undefined` when malformed. */
export function parseHost(value: string, secure: boolean): { host: string; port: number } | undefined {
  const m = HOST_RE.exec(value);
  if (m === null) return undefined;
  const p = port(m[2], secure ? 443 : 80);
  if (p === null || p === undefined) return undefined;
  return { host: (m[1] as string).toLowerCase(), port: p };
}

function refuse(detail: string): never {
  throw new AuthError('origin_not_allowed', { detail });
}

function sameOrigin(parsed: ParsedOrigin, host: string | undefined, secure: boolean): boolean {
  if (host === undefined) return false;
  const expected = secure ? ['https', 'wss'] : ['http', 'ws'];
  if (!expected.includes(parsed.scheme)) return false;
  const h = parseHost(host, secure);
  return h !== undefined && h.host === parsed.host && h.port === parsed.port;
}

/**
 * Creates an origin check. Throws `TypeError` on an invalid option (an allowlist
 * entry that is not a bare `scheme://host[:port]` origin, for instance one with a
 * trailing slash or a path). The explicit opt-out `'*'` is logged as a warning on `logger`.
 */
export function createOriginCheck(options: OriginCheckOptions = {}, logger?: Logger): OriginCheck {
  const { origins } = options;
  const allowNull = options.allowNull ?? false;
  const requireOrigin = options.requireOrigin ?? false;
  if (typeof allowNull !== 'boolean') throw new TypeError('portcullis: allowNull must be a boolean');
  if (typeof requireOrigin !== 'boolean') throw new TypeError('portcullis: requireOrigin must be a boolean');

  let allowed: ((parsed: ParsedOrigin, host: string | undefined, secure: boolean) => boolean) | undefined;
  if (origins === undefined) {
    allowed = sameOrigin;
  } else if (origins === '*') {
    allowed = undefined;
    logger?.warn({}, "portcullis: origins: '*' turns the Origin check off (Cross-Site WebSocket Hijacking is possible with cookies)");
  } else if (typeof origins === 'function') {
    allowed = (parsed) => origins(parsed.origin) === true;
  } else if (Array.isArray(origins)) {
    const set = new Set<string>();
    for (const entry of origins as readonly unknown[]) {
      if (typeof entry !== 'string') throw new TypeError('portcullis: origins entries must be strings');
      if (entry === 'null') throw new TypeError("portcullis: use allowNull: true instead of listing 'null' in origins");
      const parsed = parseOrigin(entry);
      if (parsed === undefined) {
        throw new TypeError(`portcullis: origins entry "${entry}" is not an origin (scheme://host[:port], no path or trailing slash)`);
      }
      set.add(parsed.origin);
    }
    allowed = (parsed) => set.has(parsed.origin);
  } else {
    throw new TypeError("portcullis: origins must be an array of origins, '*' or a function");
  }

  return (origin, host, secure) => {
    if (origin === undefined || origin === '') {
      if (requireOrigin) refuse('origin: missing');
      return;
    }
    if (origin === 'null') {
      if (!allowNull) refuse('origin: null');
      return;
    }
    if (allowed === undefined) return;
    const parsed = parseOrigin(origin);
    if (parsed === undefined) refuse('origin: malformed');
    if (!allowed(parsed, host, secure)) refuse(origins === undefined ? 'origin: not same-origin' : 'origin: not in allowlist');
  };
}
