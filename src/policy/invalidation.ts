/**
 * Invalidations across every node: `authz.invalidate(target)` publishes the target
 * on the store's publish/subscribe channel (like revocations, see
 * `src/core/revocation.ts`); every node, this one included, re-checks its matching
 * connections when the message arrives.
 */
import { describeError } from '../core/logger.js';
import type { Logger, Store } from '../core/types.js';
import { AuthError } from '../errors.js';
import type { InvalidateTarget } from './types.js';

const FIELDS = ['userId', 'sessionId', 'connectionId', 'room'] as const;

export interface Invalidations {
  /** Resolves once this node listens. */
  readonly ready: Promise<void>;
  /** Checks `target` (TypeError), publishes it; on a failed publish re-checks locally and rejects with `unavailable`. */
  publish(target: InvalidateTarget): Promise<void>;
  close(): Promise<void>;
}

/** Throws `TypeError` unless `target` only has known, non-empty string fields. */
export function checkInvalidateTarget(target: InvalidateTarget): void {
  if (typeof target !== 'object' || target === null) throw new TypeError('portcullis: invalidate target must be an object');
  for (const [key, value] of Object.entries(target)) {
    if (!(FIELDS as readonly string[]).includes(key)) throw new TypeError(`portcullis: unknown invalidate field ${key}`);
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw new TypeError(`portcullis: invalidate ${key} must be a non-empty string`);
    }
  }
}

/** Subscribes to `channel`; `onTarget` re-checks the local connections a target matches. */
export function createInvalidations(
  store: Store,
  channel: string,
  logger: Logger,
  onTarget: (target: InvalidateTarget) => Promise<void>,
): Invalidations {
  const onMessage = (message: string): void => {
    let parsed: { v?: unknown; target?: unknown };
    try {
      parsed = JSON.parse(message) as { v?: unknown; target?: unknown };
    } catch {
      logger.warn({ channel }, 'portcullis: malformed invalidation message');
      return;
    }
    if (parsed.v !== 1 || typeof parsed.target !== 'object' || parsed.target === null) return;
    const raw = parsed.target as Record<string, unknown>;
    const target: InvalidateTarget = {};
    for (const key of FIELDS) if (typeof raw[key] === 'string' && raw[key] !== '') target[key] = raw[key];
    void onTarget(target);
  };

  let unsubscribe: (() => Promise<void>) | undefined;
  let closing = false;
  const ready = store.subscribe(channel, onMessage).then(
    async (unsub) => {
      if (closing) await unsub();
      else unsubscribe = unsub;
    },
    (err: unknown) => logger.error({ channel, ...describeError(err) }, 'portcullis: could not subscribe to invalidations'),
  );

  return {
    ready,
    async publish(target) {
      checkInvalidateTarget(target);
      try {
        await store.publish(channel, JSON.stringify({ v: 1, target }));
      } catch (err) {
        // The other nodes did not hear it: at least this one re-checks, and the caller learns.
        await onTarget(target);
        throw new AuthError('unavailable', { detail: 'invalidation not published', cause: err });
      }
    },
    async close() {
      closing = true;
      await ready;
      await unsubscribe?.();
    },
  };
}
