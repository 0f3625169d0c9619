/**
 * The options of `createAuthorization` with their defaults, checked once: bad
 * options throw a `TypeError` at construction.
 */
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { silentLogger } from '../core/logger.js';
import type { Logger } from '../core/types.js';
import type { GrantSecret } from './grants.js';
import type { AuthorizationHooks, AuthorizationOptions, Claims, RevalidateOptions } from './types.js';

/** Defaults of the limits (see `AuthorizationLimits`). */
export const AUTHORIZATION_DEFAULTS = Object.freeze({
  connectionsPerPrincipal: 50,
  connectionsPerAddress: 500,
  roomsPerSocket: 100,
  roomNameLength: 200,
  eventsPerSecond: 50,
  eventBurst: 100,
  onExceed: 'refuse',
  policyTimeoutMs: 2000,
  grantMaxTtlMs: 3_600_000,
  channel: 'authz',
  revalidateIntervalMs: 300_000,
  revalidateJitter: 0.1,
  revalidateBatchSize: 100,
  revalidateConcurrency: 8,
  revalidateTimeoutMs: 5000,
} as const);

export interface ResolvedRevalidate<C extends Claims> {
  readonly check: RevalidateOptions<C>['check'];
  readonly intervalMs: number;
  readonly jitter: number;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly onError: 'close' | 'keep';
}

export interface ResolvedAuthorizationOptions<C extends Claims> {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly hooks: readonly AuthorizationHooks[];
  readonly policyTimeoutMs: number;
  readonly channel: string;
  readonly connectionsPerPrincipal: number;
  readonly connectionsPerAddress: number;
  readonly roomsPerSocket: number;
  readonly roomNameLength: number;
  /** `undefined`: no event rate. */
  readonly rate: { readonly perSecond: number; readonly burst: number; readonly onExceed: 'refuse' | 'close' } | undefined;
  readonly grants: { readonly secrets: readonly GrantSecret[]; readonly maxTtlMs: number } | undefined;
  readonly revalidate: ResolvedRevalidate<C> | undefined;
  readonly random: () => number;
}

function int(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
    throw new TypeError(`portcullis: ${name} must be an integer >= ${min}`);
  return value;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new TypeError(`portcullis: ${name} must be a positive number`);
  return value;
}

function oneOf<T extends string>(name: string, value: T | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value)) throw new TypeError(`portcullis: ${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
  return value;
}

function resolveRevalidate<C extends Claims>(r: RevalidateOptions<C> | undefined): ResolvedRevalidate<C> | undefined {
  if (r === undefined) return undefined;
  if (typeof r !== 'object' || r === null || typeof r.check !== 'function')
    throw new TypeError('portcullis: revalidate.check must be a function');
  const jitter = r.jitter ?? AUTHORIZATION_DEFAULTS.revalidateJitter;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 0.5))
    throw new TypeError('portcullis: revalidate.jitter must be between 0 and 0.5');
  return {
    check: r.check,
    intervalMs: int('revalidate.intervalMs', r.intervalMs, AUTHORIZATION_DEFAULTS.revalidateIntervalMs),
    jitter,
    batchSize: int('revalidate.batchSize', r.batchSize, AUTHORIZATION_DEFAULTS.revalidateBatchSize),
    concurrency: int('revalidate.concurrency', r.concurrency, AUTHORIZATION_DEFAULTS.revalidateConcurrency),
    timeoutMs: int('revalidate.timeoutMs', r.timeoutMs, AUTHORIZATION_DEFAULTS.revalidateTimeoutMs),
    onError: oneOf('revalidate.onError', r.onError, ['close', 'keep'], 'close'),
  };
}

/** Applies defaults and checks types (the rules are compiled by `compileRules`). */
export function resolveAuthorizationOptions<C extends Claims>(options: AuthorizationOptions<C>): ResolvedAuthorizationOptions<C> {
  if (typeof options !== 'object' || options === null) throw new TypeError('portcullis: authorization options must be an object');
  const limits = options.limits ?? {};
  const hooks =
    options.hooks === undefined ? [] : Array.isArray(options.hooks) ? [...options.hooks] : [options.hooks as AuthorizationHooks];
  for (const h of hooks) {
    if (typeof h !== 'object' || h === null || (h.onDecision !== undefined && typeof h.onDecision !== 'function')) {
      throw new TypeError('portcullis: hooks.onDecision must be a function');
    }
  }
  const events = limits.events;
  const rate =
    events === false
      ? undefined
      : {
          perSecond: positive('limits.events.perSecond', events?.perSecond, AUTHORIZATION_DEFAULTS.eventsPerSecond),
          burst: int('limits.events.burst', events?.burst, AUTHORIZATION_DEFAULTS.eventBurst),
          onExceed: oneOf('limits.events.onExceed', events?.onExceed, ['refuse', 'close'], AUTHORIZATION_DEFAULTS.onExceed),
        };
  let grants: ResolvedAuthorizationOptions<C>['grants'];
  if (options.grants !== undefined) {
    const secret = options.grants.secret;
    const secrets = (Array.isArray(secret) ? [...secret] : [secret]) as GrantSecret[];
    grants = { secrets, maxTtlMs: int('grants.maxTtlMs', options.grants.maxTtlMs, AUTHORIZATION_DEFAULTS.grantMaxTtlMs) };
  }
  const channel = options.channel ?? AUTHORIZATION_DEFAULTS.channel;
  if (typeof channel !== 'string' || channel === '') throw new TypeError('portcullis: channel must be a non-empty string');
  const logger = options.logger ?? silentLogger;
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    if (typeof logger[level] !== 'function') throw new TypeError(`portcullis: logger.${level} must be a function`);
  }
  return {
    clock: options.clock ?? systemClock,
    logger,
    hooks,
    policyTimeoutMs: int('policyTimeoutMs', options.policyTimeoutMs, AUTHORIZATION_DEFAULTS.policyTimeoutMs),
    channel,
    connectionsPerPrincipal: int(
      'limits.connectionsPerPrincipal',
      limits.connectionsPerPrincipal,
      AUTHORIZATION_DEFAULTS.connectionsPerPrincipal,
    ),
    connectionsPerAddress: int('limits.connectionsPerAddress', limits.connectionsPerAddress, AUTHORIZATION_DEFAULTS.connectionsPerAddress),
    roomsPerSocket: int('limits.roomsPerSocket', limits.roomsPerSocket, AUTHORIZATION_DEFAULTS.roomsPerSocket),
    roomNameLength: int('limits.roomNameLength', limits.roomNameLength, AUTHORIZATION_DEFAULTS.roomNameLength),
    rate,
    grants,
    revalidate: resolveRevalidate(options.revalidate),
    random: options.random ?? Math.random,
  };
}
