/**
 * Every default of portcullis in one frozen object: the guard's (`resolveGuardOptions`),
 * the options both transports share, and each transport's own. Options resolution
 * reads them from here; README.md and PROTOCOL.md cite them (a test checks the
 * pages against this object).
 */
import type { PayloadLimits } from './sanitize.js';
import { DEFAULT_PAYLOAD_LIMITS } from './sanitize.js';

/** The defaults; see each option's TSDoc for its meaning. */
export const DEFAULTS = Object.freeze({
  /** How long a socket may stay pending, in ms. */
  timeoutMs: 5000,
  /** How long before `expiresAt` the client is warned, in ms. */
  expiringLeadMs: 30_000,
  /** Consecutive unsuccessful authentication messages per connection. */
  maxAttemptsPerConnection: 5,
  /** Refused or in-flight attempts per transport connection (Engine.IO connection, WebSocket); then it is closed. */
  maxAttemptsPerTransport: 20,
  /** Pending connections per guard. */
  maxPending: 10_000,
  /** Pending connections per client IP (IPv6 by /64). */
  maxPendingPerIp: 50,
  /** Whether a refresh may change the principal's `id`. */
  allowPrincipalChange: false,
  /** Whether a refused refresh closes a socket whose credential is still valid. */
  closeOnFailedRefresh: false,
  /** Auth payload limits. */
  payload: DEFAULT_PAYLOAD_LIMITS satisfies Readonly<PayloadLimits>,
  /** Revocation list: how long a revocation is remembered (ms), its pub/sub channel, how often open sockets are re-checked (ms; shared stores only). */
  revocation: Object.freeze({ ttlMs: 86_400_000, channel: 'revocations', recheckIntervalMs: 300_000 }),
  /** Options both transports share ({@link TransportOptions}). */
  transport: Object.freeze({
    /** `undefined`: same-origin only (the Origin's host and port equal `Host`, its scheme matches TLS). */
    origins: undefined,
    allowNull: false,
    requireOrigin: false,
    trustedProxies: Object.freeze([] as string[]),
    requireTls: false,
  }),
  /**
   * Socket.IO: `mode: 'handshake'`. Every Socket.IO client (browsers included) can
   * send credentials in the CONNECT packet (`auth`), so the strictest mode costs
   * nothing: a client without credentials is refused before it connects.
   * `announce`: `auth_required` is emitted to every socket that connects pending.
   */
  socketIo: Object.freeze({ mode: 'handshake', announce: true }),
  /**
   * `ws`: `mode: 'auto'`. A browser `WebSocket` cannot send credentials with the
   * upgrade other than a cookie, the query (`?ticket=`) or a subprotocol entry, so
   * most browser clients authenticate by their first message; `'auto'` takes
   * upgrade-carried credentials when present and otherwise upgrades the socket
   * pending (outside the hub, under `timeoutMs` and the pending budgets). `'upgrade'`
   * is the strict choice when every client sends credentials with the upgrade.
   */
  ws: Object.freeze({ mode: 'auto', maxPayload: 65_536, ticketParam: 'ticket', closeTimeoutMs: 1000 }),
} as const);
