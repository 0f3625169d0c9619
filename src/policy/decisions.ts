/**
 * Decision reporting: one structured, credential-free event per decision, to the
 * `onDecision` hooks (metrics, the app's audit) and the logger (denials at `info`,
 * the rest at `debug`). Nothing is built when nobody listens.
 */
import { describeError, silentLogger } from '../core/logger.js';
import type { ErrorCode } from '../errors.js';
import type { Outcome as OutcomeType } from './decide.js';
import { Outcome } from './decide.js';
import type { ResolvedAuthorizationOptions } from './options.js';
import type { AuthzDecision, Claims, PolicyConnection } from './types.js';

/** The wire code of a refusal with `outcome`. */
export function codeOf(outcome: OutcomeType): ErrorCode {
  switch (outcome) {
    case Outcome.Rate:
    case Outcome.Cap:
      return 'rate_limited';
    case Outcome.Invalid:
      return 'invalid_request';
    default:
      return 'forbidden';
  }
}

export interface Decisions {
  /** True when a hook or a real logger would see decisions (hot paths skip building allowed events otherwise). */
  readonly active: boolean;
  report(
    kind: AuthzDecision['kind'],
    decision: AuthzDecision['decision'],
    outcome: OutcomeType,
    policy: string | undefined,
    target: string,
    connection: PolicyConnection & { readonly principal?: { readonly id: string } },
    code?: ErrorCode,
    principalId?: string,
  ): void;
}

export function createDecisions<C extends Claims>(opts: ResolvedAuthorizationOptions<C>): Decisions {
  const { hooks, logger } = opts;
  const logs = logger !== silentLogger;
  const active = logs || hooks.length > 0;
  return {
    active,
    report(kind, decision, outcome, policy, target, connection, code, principalId) {
      if (!active) return;
      const event: AuthzDecision = {
        type: 'authorization',
        at: opts.clock.now(),
        kind,
        decision,
        outcome,
        policy,
        target,
        code: decision === 'allowed' ? undefined : (code ?? codeOf(outcome)),
        connection: { id: connection.id, transport: connection.transport, namespace: connection.namespace, ip: connection.ip },
        principalId: principalId ?? connection.principal?.id,
      };
      if (logs) {
        const fields = {
          event: 'authorization',
          kind,
          decision,
          outcome,
          policy,
          target,
          code: event.code,
          connectionId: connection.id,
          principal: event.principalId,
        };
        if (decision === 'allowed') logger.debug(fields, 'portcullis: authorization allowed');
        else logger.info(fields, `portcullis: authorization ${decision}`);
      }
      for (const h of hooks) {
        if (h.onDecision === undefined) continue;
        try {
          h.onDecision(event);
        } catch (err) {
          logger.error({ hook: 'onDecision', ...describeError(err) }, 'portcullis: hook threw');
        }
      }
    },
  };
}
