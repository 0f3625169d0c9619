/**
 * The one catalogue of weaknesses of real-time endpoints. The audit (`portcullis audit`)
 * reports findings by these ids, the conformance kit names its cases after them, and
 * SECURITY.md's list of defended weaknesses is checked against this table by a test.
 * A weakness is described here once.
 */

/** How bad a weakness is, lowest first. */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** `a` ≥ `b` in {@link SEVERITIES} order. */
export function atLeast(a: Severity, b: Severity): boolean {
  return SEVERITIES.indexOf(a) >= SEVERITIES.indexOf(b);
}

/** One weakness. */
export interface Weakness {
  /** Stable id, `area.name` (used in the audit's JSON, exit codes and docs). */
  readonly id: string;
  readonly title: string;
  /** The severity of a confirmed finding (a probe may lower it when the evidence is weaker). */
  readonly severity: Severity;
  /** What a probe sends to show it. */
  readonly sent: string;
  /** What a safe server does instead. */
  readonly safe: string;
  /** How to fix it with portcullis, and without. */
  readonly fix: { readonly portcullis: string; readonly without: string };
}

const w = (weakness: Weakness): Weakness => weakness;

/** Every weakness, in report order. */
export const CATALOGUE = [
  w({
    id: 'origin.foreign-accepted',
    title: 'Cross-site WebSocket hijacking: a foreign Origin is accepted',
    severity: 'high',
    sent: 'a handshake with `Origin: https://portcullis-audit.invalid` (and the credentials, when given)',
    safe: 'refused before the upgrade (HTTP 403) unless the Origin is on an allowlist',
    fix: {
      portcullis: "set `origins: ['https://your.app']` (the default is same-origin only)",
      without: 'compare the Origin header to an exact allowlist in `allowRequest` (Socket.IO) or `verifyClient` (ws)',
    },
  }),
  w({
    id: 'origin.null-accepted',
    title: 'Origin `null` is accepted (sandboxed frames, file: pages)',
    severity: 'medium',
    sent: 'a handshake with `Origin: null`',
    safe: 'refused before the upgrade: `null` is never an allowed origin',
    fix: {
      portcullis: 'nothing: `null` is refused unless `allowNull: true`',
      without: "treat `Origin: null` as foreign; never add 'null' to an allowlist",
    },
  }),
  w({
    id: 'origin.lookalike-accepted',
    title: 'A look-alike Origin is accepted (prefix, suffix or substring match)',
    severity: 'high',
    sent: 'handshakes with origins built from `--origin`: `<origin>.portcullis-audit.invalid`, `<scheme>://portcullis-audit-<host>`',
    safe: 'exact match after normalisation, nothing else',
    fix: {
      portcullis: 'list exact origins in `origins` (no regular expressions)',
      without: 'compare the normalised Origin for equality; never use startsWith, endsWith, includes or an unanchored regex',
    },
  }),
  w({
    id: 'origin.not-required',
    title: 'A handshake without an Origin header is accepted',
    severity: 'info',
    sent: 'a handshake with no Origin header',
    safe: 'accepted only when non-browser clients must connect (browsers always send Origin)',
    fix: {
      portcullis: 'set `requireOrigin: true` when only browsers connect',
      without: 'refuse a handshake without Origin when only browsers connect',
    },
  }),
  w({
    id: 'deadline.missing',
    title: 'A connection that never authenticates is kept open',
    severity: 'high',
    sent: 'a connection (and, on Socket.IO, a CONNECT without credentials) that then stays silent',
    safe: 'closed with `auth_timeout` after a few seconds',
    fix: {
      portcullis: 'nothing: the deadline is `timeoutMs` (5000 ms by default)',
      without: 'start a timer per connection on open, clear it on authentication, close the connection when it fires',
    },
  }),
  w({
    id: 'isolation.pending-broadcast',
    title: 'A socket that has not authenticated receives broadcasts',
    severity: 'high',
    sent: 'one pending connection listening while an authenticated connection makes the server broadcast',
    safe: 'pending sockets are outside every broadcast (namespace, room, hub)',
    fix: {
      portcullis: 'nothing: pending sockets are kept out of `nsp.sockets` and out of the `ws` hub',
      without: 'join sockets to rooms only after authentication and broadcast to those rooms, never to the namespace',
    },
  }),
  w({
    id: 'isolation.pending-handler',
    title: "A socket that has not authenticated reaches the application's handlers",
    severity: 'high',
    sent: 'an application event (`--emit`) with an acknowledgement, from a pending connection',
    safe: 'the event never reaches a handler (Socket.IO drops it; ws closes with 4401)',
    fix: {
      portcullis: "nothing: a pending socket's events never reach handlers, middlewares or `onAny`",
      without: 'register application handlers only after authentication succeeded',
    },
  }),
  w({
    id: 'attempts.unbounded',
    title: 'Authentication attempts per connection are unbounded',
    severity: 'medium',
    sent: 'repeated invalid credentials on one connection (CONNECT retries on one Engine.IO connection; `authenticate` frames on ws)',
    safe: 'the connection is closed after a few failed attempts',
    fix: {
      portcullis: 'nothing: 5 consecutive failures per socket, plus per-IP and per-principal limits',
      without: 'count failures per connection and close it after a few; limit failures per IP and per user',
    },
  }),
  w({
    id: 'credentials.in-query',
    title: 'Credentials are accepted in the URL query',
    severity: 'medium',
    sent: 'the given token as `?token=` (and nothing else)',
    safe: 'refused: URLs end up in proxy and server logs; only single-use tickets may travel there',
    fix: {
      portcullis: 'send tokens in the CONNECT `auth` or a first message; use one-time tickets (`?ticket=`) where a URL is unavoidable',
      without: 'read credentials from `socket.handshake.auth` (Socket.IO) or a first message, never from the query',
    },
  }),
  w({
    id: 'credentials.subprotocol-echoed',
    title: 'A bearer-token subprotocol is echoed back in the 101 response',
    severity: 'medium',
    sent: '`Sec-WebSocket-Protocol: portcullis.bearer.<token>` as the only offered subprotocol',
    safe: 'the token-bearing entry is never selected; the server answers with a real subprotocol or none',
    fix: {
      portcullis: "nothing: bearer entries are removed before `handleProtocols`; set `subprotocol` to the app's own",
      without: 'select a subprotocol from a fixed list in `handleProtocols`; never echo the first offered one',
    },
  }),
  w({
    id: 'payload.oversized',
    title: 'An oversized payload (about 1 MB) is accepted',
    severity: 'medium',
    sent: 'an auth payload of about 1 MB (and, with credentials, an application event of about 1 MB after authenticating)',
    safe: 'refused before or while parsing: `invalid_request`, or the connection closed (ws 1009)',
    fix: {
      portcullis: 'nothing for auth payloads (16 KiB cap); keep `maxHttpBufferSize` / `maxPayload` at 64 KiB for the rest',
      without: 'set Socket.IO `maxHttpBufferSize` or ws `maxPayload` to what the app needs (e.g. 64 KiB)',
    },
  }),
  w({
    id: 'payload.nested',
    title: 'A deeply nested auth payload is accepted',
    severity: 'low',
    sent: 'an auth payload nested 64 objects deep',
    safe: 'refused with `invalid_request` before any credential is looked at',
    fix: {
      portcullis: 'nothing: auth payloads deeper than 4 are refused',
      without: 'validate the auth payload against a flat schema before using it',
    },
  }),
  w({
    id: 'transport.plaintext',
    title: 'Plain ws:// or http:// on a non-loopback address',
    severity: 'high',
    sent: 'nothing: the URL and the address it resolves to',
    safe: 'wss:// / https:// everywhere but loopback',
    fix: {
      portcullis: 'terminate TLS in front and set `requireTls: true` (with `trustedProxies`)',
      without: 'serve only over TLS; refuse plain connections',
    },
  }),
  w({
    id: 'limits.retry-after-missing',
    title: 'A 429 refusal without Retry-After',
    severity: 'low',
    sent: 'nothing special: any 429 seen during the audit',
    safe: 'every 429 carries `Retry-After` so clients back off',
    fix: {
      portcullis: 'nothing: every 429 carries Retry-After',
      without: 'add `Retry-After: <seconds>` to every 429',
    },
  }),
  w({
    id: 'limits.pending-unbounded',
    title: 'No per-address limit on connections that have not authenticated',
    severity: 'medium',
    sent: 'up to `--max-connections` silent connections from one address, at `--rate` per second, stopping at the first refusal',
    safe: 'refused (HTTP 429 + Retry-After) past a per-address budget',
    fix: {
      portcullis: 'nothing: 50 pending sockets per IP by default (`maxPendingPerIp`)',
      without: 'count unauthenticated connections per IP and refuse new ones past a budget',
    },
  }),
  w({
    id: 'oracle.user-enumeration',
    title: 'Different answers for an unknown user and a wrong password',
    severity: 'medium',
    sent: '`{ username, password }` with the given user and a wrong password, then with an unknown user',
    safe: 'the same code and message for both',
    fix: {
      portcullis: 'nothing: every credential failure is `invalid_credentials` with one fixed message',
      without: 'answer every credential failure with one fixed message',
    },
  }),
  w({
    id: 'expiry.not-enforced',
    title: 'A credential that expires is not enforced while connected',
    severity: 'high',
    sent: 'a short-lived credential (a JWT with `exp`), then a round trip after it expired',
    safe: 'the connection is closed with `token_expired` at expiry unless refreshed',
    fix: {
      portcullis: 'nothing: `expiresAt` is enforced while connected',
      without: 'schedule a disconnect at the credential expiry; accept a refresh in band',
    },
  }),
  w({
    id: 'expiry.no-refresh',
    title: 'No in-band refresh of a short-lived credential',
    severity: 'low',
    sent: 'fresh credentials on the open connection (`authentication` event / `authenticate` frame)',
    safe: 'answered with `authenticated` and a later `expiresAt`, on the same connection',
    fix: {
      portcullis: 'nothing: send the same authentication message again',
      without: 'accept a new credential on the open connection and move its expiry',
    },
  }),
] as const satisfies readonly Weakness[];

export type WeaknessId = (typeof CATALOGUE)[number]['id'];

/** The weakness with `id`. */
export function weakness(id: WeaknessId): Weakness {
  const found = CATALOGUE.find((entry) => entry.id === id);
  if (found === undefined) throw new TypeError(`portcullis: no weakness ${id}`);
  return found;
}

/** Escapes `|` for a Markdown table cell. */
const cell = (text: string): string => text.replace(/\|/g, '\\|');

/**
 * The catalogue as the Markdown table SECURITY.md carries between its
 * `<!-- catalogue:start -->` and `<!-- catalogue:end -->` markers (checked by a test;
 * `portcullis catalogue` prints it).
 */
export function catalogueMarkdown(): string {
  const rows = CATALOGUE.map((w) => `| \`${w.id}\` | ${cell(w.title)} | ${w.severity} | ${cell(w.safe)} | ${cell(w.fix.portcullis)} |`);
  return ['| id | weakness | severity | what a safe server does | with portcullis |', '|---|---|---|---|---|', ...rows].join('\n');
}
