/**
 * Audit: the events a guard reports (accepted, refreshed, rejected, expired,
 * revoked, timeout, closed) to the logger and the `onAudit` hook, and the
 * `onRejected` hook. Nothing is built when no one would see it.
 */
import type { AuthError } from '../errors.js';
import type { Clock } from './clock.js';
import type { AuditEvent, Hooks } from './hooks.js';
import { describeError, redact, silentLogger } from './logger.js';
import type { AuthPhase, Logger, Transport } from './types.js';

/** Where a refusal happened, for its `rejected` event. */
export interface RejectedAt {
  readonly phase: AuthPhase | 'upgrade';
  readonly transport: Transport;
  readonly namespace: string;
  readonly ip: string;
  readonly connectionId?: string;
  readonly latencyMs?: number;
}

export interface Audit {
  /** Reports one event. */
  audit(event: AuditEvent): void;
  /** False when no logger and no `onAudit` hook would see an event (callers skip building it). */
  readonly auditing: boolean;
  /** Reports a refusal (`rejected` event, `onRejected` hook; internal errors are logged as errors). */
  rejected(error: AuthError, where: RejectedAt): void;
  /** Runs a hook; what it throws is logged, never propagated. */
  safeHook(name: string, fn: () => void): void;
}

/** Creates the audit of a guard. */
export function createAudit(logger: Logger, hooks: Hooks, clock: Clock): Audit {
  const logs = logger !== silentLogger;
  const auditing = logs || hooks.onAudit !== undefined;
  const safeHook = (name: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      logger.error({ hook: name, ...describeError(err) }, 'portcullis: hook threw');
    }
  };
  const audit = (event: AuditEvent): void => {
    const { type } = event;
    if (!logs) {
      // nothing to build for the silent logger
    } else if (type === 'rejected') {
      logger.info(
        {
          event: type,
          code: event.code,
          detail: event.detail,
          phase: event.phase,
          transport: event.transport,
          namespace: event.namespace,
          ip: event.ip,
          connectionId: event.connectionId,
        },
        'portcullis: rejected',
      );
    } else {
      const c = event.connection;
      logger.debug(
        { event: type, connectionId: c.id, transport: c.transport, namespace: c.namespace, ip: c.ip, principal: c.principal?.id },
        `portcullis: ${type}`,
      );
    }
    if (hooks.onAudit !== undefined) safeHook('onAudit', () => hooks.onAudit?.(event));
  };
  const rejected = (error: AuthError, where: RejectedAt): void => {
    const event: Extract<AuditEvent, { type: 'rejected' }> = {
      type: 'rejected',
      at: clock.now(),
      code: error.code,
      // Token-like strings redacted: a strategy's detail may quote a header or a cookie.
      detail: error.detail === undefined ? undefined : redact(error.detail),
      phase: where.phase,
      transport: where.transport,
      namespace: where.namespace,
      ip: where.ip,
      connectionId: where.connectionId,
      latencyMs: where.latencyMs ?? 0,
    };
    if (error.code === 'internal_error')
      logger.error({ connectionId: where.connectionId, ...describeError(error) }, 'portcullis: internal error');
    audit(event);
    if (hooks.onRejected !== undefined) safeHook('onRejected', () => hooks.onRejected?.(error, event));
  };
  return { audit, auditing, rejected, safeHook };
}
