/**
 * What the audit works with: its options, the context every probe receives (target,
 * credentials, budgets, redaction), and what probes return.
 */
import type { Severity, WeaknessId } from '../../catalogue.js';

export const TRANSPORTS = ['socket.io', 'ws', 'auto'] as const;
export type TransportChoice = (typeof TRANSPORTS)[number];

/**
 * A credential for probes that need one. The file (or command output) is either a bare
 * token (`{ token }` is sent) or JSON `{ "auth"?, "headers"?, "query"?, "protocols"? }`:
 * `auth` travels as the Socket.IO CONNECT `auth` / the payload of a `ws` `authenticate`
 * frame; `headers`, `query` and `protocols` with the handshake.
 */
export interface Credential {
  readonly auth?: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;
  /** Query parameters added to the handshake URL (a one-time ticket, or a server that insists). */
  readonly query?: Readonly<Record<string, string>>;
  /** `Sec-WebSocket-Protocol` entries offered with the upgrade (e.g. `portcullis.bearer.<token>`). */
  readonly protocols?: readonly string[];
}

export interface AuditOptions {
  /** `ws://`, `wss://`, `http://` or `https://`. */
  readonly url: string;
  readonly transport: TransportChoice;
  /** The app's own origin, sent with every handshake (look-alikes are built from it). */
  readonly origin?: string | undefined;
  /** Returns a fresh credential (read from `--credentials` or printed by `--credentials-cmd`). */
  readonly credentials?: (() => Promise<Credential>) | undefined;
  /** Socket.IO namespace. @default '/' */
  readonly namespace: string;
  /** Socket.IO path. @default '/socket.io/' */
  readonly path: string;
  /** How long a silent connection may live before it counts as kept, in ms. @default 10000 */
  readonly deadlineMs: number;
  /** Most connections the pending-limit probe opens. @default 64 */
  readonly maxConnections: number;
  /** New connections per second, at most. @default 20 */
  readonly rate: number;
  /** A user name for the error-oracle probe. */
  readonly username?: string | undefined;
  /** An application event the pending-isolation probe emits (with an ack) and the member emits to trigger traffic. */
  readonly emit?: string | undefined;
  /** Longest wait for a short-lived credential to expire, in ms. @default 30000 */
  readonly maxExpiryWaitMs: number;
  /** Per-step answer timeout, in ms. @default 3000 */
  readonly stepTimeoutMs: number;
}

/** A probe's verdict on one weakness. */
export interface Finding {
  readonly id: WeaknessId;
  readonly severity: Severity;
  readonly title: string;
  readonly evidence: { readonly sent: string; readonly received: string };
  readonly fix: { readonly portcullis: string; readonly without: string };
}

/** What a probe concluded, finding or not. */
export interface ProbeResult {
  readonly probe: string;
  readonly status: 'finding' | 'pass' | 'skipped' | 'error';
  /** Why it passed or was skipped, or what failed. Never holds a credential. */
  readonly note: string;
  readonly findings: readonly Finding[];
}

/** Replaces every credential value the audit was given with `[redacted]`. */
export interface Redactor {
  add(credential: Credential): void;
  redact(text: string): string;
}

export function createRedactor(): Redactor {
  const secrets = new Set<string>();
  const remember = (value: unknown, depth: number): void => {
    if (typeof value === 'string') {
      if (value.length >= 4) secrets.add(value);
      // cookie pairs: also their values
      for (const part of value.split(/[;,]\s*/)) {
        const eq = part.indexOf('=');
        const v = eq === -1 ? part : part.slice(eq + 1);
        if (v.length >= 4) secrets.add(v);
        if (v.length >= 4) secrets.add(encodeURIComponent(v));
      }
    } else if (typeof value === 'object' && value !== null && depth < 6) {
      for (const v of Object.values(value)) remember(v, depth + 1);
    }
  };
  return {
    add(credential) {
      remember(credential.auth, 0);
      remember(credential.headers, 0);
      remember(credential.query, 0);
      remember(credential.protocols, 0);
    },
    redact(text) {
      let out = text;
      for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join('[redacted]');
      return out;
    },
  };
}

/** Parses a credential file's text. */
export function parseCredential(text: string): Credential {
  const trimmed = text.trim();
  if (trimmed === '') throw new Error('the credential is empty');
  if (!trimmed.startsWith('{')) return { auth: { token: trimmed } };
  const value = JSON.parse(trimmed) as { auth?: unknown; headers?: unknown; query?: unknown; protocols?: unknown };
  const out: { auth?: Record<string, unknown>; headers?: Record<string, string>; query?: Record<string, string>; protocols?: string[] } =
    {};
  if (typeof value.auth === 'object' && value.auth !== null) out.auth = value.auth as Record<string, unknown>;
  if (typeof value.headers === 'object' && value.headers !== null) {
    out.headers = Object.fromEntries(Object.entries(value.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  }
  if (typeof value.query === 'object' && value.query !== null) {
    out.query = Object.fromEntries(Object.entries(value.query).map(([k, v]) => [k, String(v)]));
  }
  if (Array.isArray(value.protocols)) out.protocols = value.protocols.map(String);
  if (Object.keys(out).length === 0) throw new Error('the credential JSON needs "auth", "headers", "query" or "protocols"');
  return out;
}

/** The bearer token of a credential, when it has one (`auth.token`, else `query.token`). */
export function tokenOf(credential: Credential): string | undefined {
  const token = credential.auth?.token ?? credential.query?.token;
  return typeof token === 'string' ? token : undefined;
}

/** The `exp` of a JWT, in epoch milliseconds, when `token` is one. */
export function jwtExpiry(token: string | undefined): number | undefined {
  const part = token?.split('.')[1];
  if (part === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Shortens `text` for evidence. */
export function clip(text: string, max = 300): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}
