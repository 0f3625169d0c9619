/**
 * Options shared by every adapter, with their documented defaults, and the one
 * place they are checked. Inconsistent options throw a `TypeError` at construction.
 */
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { DEFAULTS } from './defaults.js';
import type { Hooks } from './hooks.js';
import type { RateLimitOptions } from './limits.js';
import { silentLogger } from './logger.js';
import type { RevocationOptions } from './revocation.js';
import type { PayloadLimits } from './sanitize.js';
import { DEFAULT_PAYLOAD_LIMITS } from './sanitize.js';
import type { Logger, Store, Strategy } from './types.js';

export interface GuardOptions {
  /**
   * Strategies tried in order: the first that returns a principal wins, the first
   * that throws refuses. At least one strategy (or `authenticate`) is required.
   */
  strategies?: Strategy | readonly Strategy[];
  /** Store for tickets, nonces, counters and revocations. @default a new memory store */
  store?: Store;
  /** Clock for deadlines and expiry. @default the system clock */
  clock?: Clock;
  /** A pino-compatible logger; never receives credentials. @default silent */
  logger?: Logger;
  /** Lifecycle hooks; a list is called in order (e.g. the app's and the metrics'). */
  hooks?: Hooks | readonly Hooks[];
  /**
   * How long a socket may stay pending (connected, not authenticated), in
   * milliseconds; `false` disables the deadline (not recommended).
   * @default 5000
   */
  timeoutMs?: number | false;
  /** Auth payload limits. @default {@link DEFAULT_PAYLOAD_LIMITS} */
  payload?: Partial<PayloadLimits>;
  /**
   * Consecutive unsuccessful authentication messages (first message or refresh)
   * one connection may send; the next one is refused with `rate_limited`.
   * @default 5
   */
  maxAttemptsPerConnection?: number;
  /**
   * Authentication attempts one transport connection may have refused or still in
   * flight (an Engine.IO connection carries one Socket.IO socket per CONNECT, and a
   * client may send CONNECT again and again; a `ws` connection carries one socket).
   * Every refusal counts, whatever its code; an accepted attempt gives its slot back.
   * When the bound is reached the attempt is refused with `rate_limited` and the
   * transport connection (Engine.IO connection, WebSocket) is closed. Leave room
   * for the namespaces a client connects to at once over one Engine.IO connection.
   * @default 20
   */
  maxAttemptsPerTransport?: number;
  /** Pending connections allowed at once in this guard. @default 10000 */
  maxPending?: number;
  /** Pending connections allowed at once per client IP (IPv6 grouped by /64). @default 50 */
  maxPendingPerIp?: number;
  /**
   * How long before `expiresAt` the client is warned (`auth_expiring` / `expiring`), in ms.
   * @default 30000
   */
  expiringLeadMs?: number;
  /**
   * Whether a refresh may change the principal's `id` (e.g. guest → user).
   * @default false
   */
  allowPrincipalChange?: boolean;
  /**
   * Whether a failed refresh closes a socket whose current credential is still valid.
   * @default false
   */
  closeOnFailedRefresh?: boolean;
  /**
   * Revocation list and cluster-wide revocation channel; `false` turns off the
   * per-authentication revocation lookup (and `revoke()` then only closes local sockets).
   * @default { ttlMs: 86400000, channel: 'revocations' }
   */
  revocation?: RevocationOptions | false;
  /**
   * Handshakes per IP and failed authentications per IP and per claimed principal,
   * counted in the store (shared by a cluster); `false` disables them.
   * @default see {@link RateLimitOptions}
   */
  rateLimits?: RateLimitOptions | false;
}

/** Options after defaults were applied. */
export interface ResolvedGuardOptions {
  readonly strategies: readonly Strategy[];
  readonly clock: Clock;
  readonly logger: Logger;
  readonly hooks: Hooks;
  readonly timeoutMs: number | false;
  readonly payload: Readonly<PayloadLimits>;
  readonly maxAttemptsPerConnection: number;
  readonly maxAttemptsPerTransport: number;
  readonly maxPending: number;
  readonly maxPendingPerIp: number;
  readonly expiringLeadMs: number;
  readonly allowPrincipalChange: boolean;
  readonly closeOnFailedRefresh: boolean;
  readonly revocation: RevocationOptions | false;
  readonly rateLimits: RateLimitOptions | false | undefined;
}

function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new TypeError(`portcullis: ${name} must be an integer >= ${min}`);
  }
  return value;
}

function bool(name: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`portcullis: ${name} must be a boolean`);
  return value;
}

const HOOK_NAMES = ['onAuthenticated', 'onRejected', 'onClose', 'onAudit'] as const;

/** One `Hooks` object calling every given one in order (async `onAuthenticated` awaited in turn). */
export function combineHooks(hooks: Hooks | readonly Hooks[] | undefined): Hooks {
  if (hooks === undefined) return {};
  if (!Array.isArray(hooks)) return hooks as Hooks;
  const list = hooks as readonly Hooks[];
  for (const h of list) {
    if (typeof h !== 'object' || h === null) throw new TypeError('portcullis: every hooks entry must be an object');
    for (const name of HOOK_NAMES) {
      if (h[name] !== undefined && typeof h[name] !== 'function') throw new TypeError(`portcullis: hooks.${name} must be a function`);
    }
  }
  if (list.length === 1) return list[0] as Hooks;
  const pick = <K extends (typeof HOOK_NAMES)[number]>(name: K): NonNullable<Hooks[K]>[] =>
    list.map((h) => h[name]).filter((fn): fn is NonNullable<Hooks[K]> => fn !== undefined);
  const combined: Hooks = {};
  const onAuthenticated = pick('onAuthenticated');
  if (onAuthenticated.length > 0) {
    combined.onAuthenticated = async (connection, principal, refreshed) => {
      for (const fn of onAuthenticated) await fn(connection, principal, refreshed);
    };
  }
  const onRejected = pick('onRejected');
  if (onRejected.length > 0) {
    combined.onRejected = (error, event) => {
      for (const fn of onRejected) fn(error, event);
    };
  }
  const onClose = pick('onClose');
  if (onClose.length > 0) {
    combined.onClose = (connection, reason) => {
      for (const fn of onClose) fn(connection, reason);
    };
  }
  const onAudit = pick('onAudit');
  if (onAudit.length > 0) {
    combined.onAudit = (event) => {
      for (const fn of onAudit) fn(event);
    };
  }
  return combined;
}

/** Applies defaults and checks consistency (the store is resolved by the guard). */
export function resolveGuardOptions(options: GuardOptions): ResolvedGuardOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('portcullis: options must be an object');
  const list = options.strategies === undefined ? [] : Array.isArray(options.strategies) ? options.strategies : [options.strategies];
  const strategies = list as readonly Strategy[];
  if (strategies.length === 0) throw new TypeError('portcullis: at least one strategy is required');
  for (const s of strategies) {
    if (typeof s !== 'object' || s === null || typeof s.authenticate !== 'function') {
      throw new TypeError('portcullis: every strategy needs an authenticate(credentials, context) method');
    }
  }
  let timeoutMs: number | false = DEFAULTS.timeoutMs;
  if (options.timeoutMs === false) timeoutMs = false;
  else if (options.timeoutMs !== undefined) timeoutMs = positiveInt('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs);
  const payload = { ...DEFAULTS.payload, ...options.payload };
  for (const key of Object.keys(DEFAULT_PAYLOAD_LIMITS) as (keyof PayloadLimits)[]) {
    positiveInt(`payload.${key}`, payload[key], DEFAULT_PAYLOAD_LIMITS[key]);
  }
  const maxPending = positiveInt('maxPending', options.maxPending, DEFAULTS.maxPending);
  const maxPendingPerIp = positiveInt('maxPendingPerIp', options.maxPendingPerIp, DEFAULTS.maxPendingPerIp);
  if (maxPendingPerIp > maxPending) throw new TypeError('portcullis: maxPendingPerIp cannot exceed maxPending');
  const expiringLeadMs = positiveInt('expiringLeadMs', options.expiringLeadMs, DEFAULTS.expiringLeadMs, 0);
  const logger = options.logger ?? silentLogger;
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    if (typeof logger[level] !== 'function') throw new TypeError(`portcullis: logger.${level} must be a function`);
  }
  return Object.freeze({
    strategies: Object.freeze([...strategies]),
    clock: options.clock ?? systemClock,
    logger,
    hooks: combineHooks(options.hooks),
    timeoutMs,
    payload: Object.freeze(payload),
    maxAttemptsPerConnection: positiveInt('maxAttemptsPerConnection', options.maxAttemptsPerConnection, DEFAULTS.maxAttemptsPerConnection),
    maxAttemptsPerTransport: positiveInt('maxAttemptsPerTransport', options.maxAttemptsPerTransport, DEFAULTS.maxAttemptsPerTransport),
    maxPending,
    maxPendingPerIp,
    expiringLeadMs,
    allowPrincipalChange: bool('allowPrincipalChange', options.allowPrincipalChange, DEFAULTS.allowPrincipalChange),
    closeOnFailedRefresh: bool('closeOnFailedRefresh', options.closeOnFailedRefresh, DEFAULTS.closeOnFailedRefresh),
    revocation: options.revocation === false ? false : { ...options.revocation },
    rateLimits: options.rateLimits,
  });
}
