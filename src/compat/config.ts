/**
 * The compat entry's configuration, read the way the old module read it:
 * `config.timeout || 1000` (so `0`, `''` and `null` mean the default), `'none'`
 * for no timeout, numeric strings as numbers (`setTimeout` coerced them), and
 * `postAuthenticate` / `disconnect` optional (any falsy value is "none").
 *
 * What the old module took but could not work with fails here, at startup, with
 * a `TypeError`: a missing `authenticate` (the old module threw on the first
 * login), and timeouts that `setTimeout` turned into 1 ms (negative, non-numeric,
 * non-finite or above 2³¹−1), which disconnected every client at once.
 */
import type { Socket } from 'socket.io';
import type { Clock } from '../core/clock.js';
import { MAX_TIMER_MS } from '../core/clock.js';
import { silentLogger } from '../core/logger.js';
import type { Logger } from '../core/types.js';
import type { CompatPayloadLimits } from './payload.js';
import { resolvePayloadLimits } from './payload.js';

/** The default timeout of the old module, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 1000;

/** The default bound on events held per socket while its `authentication` is verified. */
export const DEFAULT_MAX_HELD_EVENTS = 32;

/** What the config says, checked. */
export interface ResolvedConfig {
  readonly authenticate: (socket: Socket, data: unknown, callback: (err?: unknown, success?: unknown) => void) => unknown;
  readonly postAuthenticate: ((socket: Socket, data: unknown) => unknown) | undefined;
  readonly disconnect: ((socket: Socket) => unknown) | undefined;
  readonly timeoutMs: number | false;
  readonly payload: Readonly<CompatPayloadLimits>;
  readonly maxHeldEvents: number;
  readonly logger: Logger;
  readonly clock: Clock | undefined;
}

interface RawConfig {
  authenticate?: unknown;
  postAuthenticate?: unknown;
  disconnect?: unknown;
  timeout?: unknown;
  payload?: Partial<CompatPayloadLimits>;
  maxHeldEvents?: unknown;
  logger?: Logger;
  clock?: Clock;
}

/** `timeout` as the old module read it; throws `TypeError` for the values it silently turned into 1 ms. */
export function resolveTimeout(value: unknown): number | false {
  if (!value) return DEFAULT_TIMEOUT_MS;
  if (value === 'none') return false;
  if (typeof value === 'number' || typeof value === 'string') {
    const ms = Number(value);
    if (ms >= 1 && ms <= MAX_TIMER_MS) return Math.floor(ms);
  }
  throw new TypeError(
    `socketio-auth: timeout must be a number of milliseconds (1 to ${MAX_TIMER_MS}), a numeric string, 0 (default) or 'none'`,
  );
}

function optionalFunction<T>(name: string, value: unknown): T | undefined {
  if (!value) return undefined;
  if (typeof value !== 'function') throw new TypeError(`socketio-auth: config.${name} must be a function`);
  return value as T;
}

/** Checks `config` (the old module's, plus the new optional settings). Throws `TypeError`. */
export function resolveConfig(config: unknown): ResolvedConfig {
  if (typeof config !== 'object' || config === null || typeof (config as RawConfig).authenticate !== 'function') {
    throw new TypeError('socketio-auth: config.authenticate must be a function');
  }
  const raw = config as RawConfig;
  const maxHeldEvents = raw.maxHeldEvents ?? DEFAULT_MAX_HELD_EVENTS;
  if (typeof maxHeldEvents !== 'number' || !Number.isInteger(maxHeldEvents) || maxHeldEvents < 0) {
    throw new TypeError('socketio-auth: maxHeldEvents must be an integer >= 0');
  }
  return {
    authenticate: raw.authenticate as ResolvedConfig['authenticate'],
    postAuthenticate: optionalFunction('postAuthenticate', raw.postAuthenticate),
    disconnect: optionalFunction('disconnect', raw.disconnect),
    timeoutMs: resolveTimeout(raw.timeout),
    payload: resolvePayloadLimits(raw.payload),
    maxHeldEvents,
    logger: raw.logger ?? silentLogger,
    clock: raw.clock,
  };
}
