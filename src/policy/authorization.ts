/**
 * `createAuthorization`: the transport-agnostic authorization layer. It plugs into
 * any guard through the guard's hooks (`hooks: [authz.hooks]`): the namespace
 * policy and the connection caps run in `onAuthenticated` (a refusal is the
 * guard's own verdict, `forbidden` / `rate_limited`), a refresh re-evaluates
 * everything, and `onClose` releases. Transport bindings (`attachSocketIo`,
 * `attachWs`) route join requests and events through it.
 */
import { Connection } from '../core/connection.js';
import type { DeadlineQueue } from '../core/deadlines.js';
import { createDeadlineQueue } from '../core/deadlines.js';
import type { AuditEvent, ConnectionInfo, Hooks } from '../core/hooks.js';
import { ipKey } from '../core/ip.js';
import { describeError } from '../core/logger.js';
import type { Principal, Store } from '../core/types.js';
import { AuthError } from '../errors.js';
import { createMemoryStore } from '../stores/memory.js';
import type { Outcome as OutcomeType } from './decide.js';
import { Outcome, takeToken } from './decide.js';
import { codeOf, createDecisions } from './decisions.js';
import { createGrantVerifier } from './grants.js';
import { createInvalidations } from './invalidation.js';
import { resolveAuthorizationOptions } from './options.js';
import { createRevalidator } from './revalidate.js';
import { compileRules } from './rules.js';
import type { Membership } from './state.js';
import { AuthzConnection, Counter, runBounded } from './state.js';
import type { Authorization, AuthorizationInternals, AuthorizationOptions, Claims, InvalidateTarget, JoinResult } from './types.js';

export type { Authorization, AuthorizationInternals } from './types.js';

/** True when `s` holds a control character (C0 or DEL): never part of a room name. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Creates the authorization layer. Throws `TypeError` on bad options. */
export function createAuthorization<C extends Claims = Record<string, unknown>>(options: AuthorizationOptions<C> = {}): Authorization<C> {
  const opts = resolveAuthorizationOptions(options);
  const { clock, logger } = opts;
  const ownsStore = options.store === undefined;
  const store: Store = options.store ?? createMemoryStore({ clock });
  const decisions = createDecisions(opts);
  const onPolicyError = (err: unknown): void => logger.warn(describeError(err), 'portcullis: policy threw (denied)');
  const grants =
    opts.grants === undefined ? undefined : createGrantVerifier({ secrets: opts.grants.secrets, maxTtlMs: opts.grants.maxTtlMs, clock });
  const rules = compileRules(options, grants, clock, opts.policyTimeoutMs, onPolicyError);
  const deadlines: DeadlineQueue = createDeadlineQueue(clock, (err) =>
    logger.error(describeError(err), 'portcullis: authz deadline threw'),
  );
  const states = new Map<string, AuthzConnection>();
  const byPrincipal = new Map<string, Set<AuthzConnection>>();
  const byAddress = new Counter();
  let memberships = 0;
  const rate = opts.rate;
  // The event rate reads the clock once per tick, not once per event: events of one
  // read from the network share a timestamp (reading the clock can cost more than the rest of the check).
  let tickNow = 0;
  let tickValid = false;
  const endTick = (): void => {
    tickValid = false;
  };
  const nowInTick = (): number => {
    if (!tickValid) {
      tickNow = clock.now();
      tickValid = true;
      queueMicrotask(endTick);
    }
    return tickNow;
  };

  const index = (state: AuthzConnection, add: boolean): void => {
    const id = state.principal.id;
    let set = byPrincipal.get(id);
    if (add) {
      if (set === undefined) {
        set = new Set();
        byPrincipal.set(id, set);
      }
      set.add(state);
    } else if (set !== undefined) {
      set.delete(state);
      if (set.size === 0) byPrincipal.delete(id);
    }
  };

  const terminate = (state: AuthzConnection, error: AuthError): void => {
    if (state.conn !== undefined) state.conn.terminate(error);
    else if (state.ops !== undefined) state.ops.close(state.socket, error);
    release(state);
  };

  function release(state: AuthzConnection): void {
    if (state.closed) return;
    state.closed = true;
    states.delete(state.id);
    index(state, false);
    byAddress.add(state.ipKey, -1);
    for (const m of state.rooms.values()) deadlines.cancel(m.deadline);
    memberships -= state.rooms.size;
    state.rooms.clear();
    revalidator?.unschedule(state);
  }

  const removeMembership = (state: AuthzConnection, m: Membership, outcome: OutcomeType, policy: string | undefined): void => {
    if (state.rooms.get(m.room) !== m) return;
    state.rooms.delete(m.room);
    memberships--;
    deadlines.cancel(m.deadline);
    const error = new AuthError('forbidden', { detail: `membership ended: ${outcome}` });
    try {
      state.ops?.leave(state.socket, m.room, error);
    } catch (err) {
      logger.error({ connectionId: state.id, ...describeError(err) }, 'portcullis: leave threw');
    }
    decisions.report('room', 'removed', outcome, policy, m.room, state);
  };

  function grantExpired(m: Membership): void {
    m.deadline = undefined;
    removeMembership(m.owner, m, Outcome.Grant, undefined);
  }

  /** Re-checks one membership under the current principal. */
  const recheck = (state: AuthzConnection, m: Membership, epoch: number): Promise<void> | undefined => {
    const verdict = rules.room(state.principal, state, m.room, undefined, m.expiresAt);
    const apply = (v: { outcome: OutcomeType; policy: string | undefined }): void => {
      if (state.closed || state.epoch !== epoch) return;
      if (v.outcome !== Outcome.Allow) removeMembership(state, m, v.outcome, v.policy);
    };
    if (!(verdict instanceof Promise)) {
      apply(verdict);
      return undefined;
    }
    return verdict.then(apply);
  };

  /** Re-evaluates the namespace and every membership of `state`. */
  const reevaluate = async (state: AuthzConnection): Promise<void> => {
    if (state.closed) return;
    const epoch = ++state.epoch;
    const ns = rules.namespace(state.principal, state);
    const outcome = await ns.outcome;
    if (state.closed || state.epoch !== epoch) return;
    if (outcome !== Outcome.Allow) {
      decisions.report('namespace', 'removed', outcome, ns.policy, state.namespace, state);
      terminate(state, new AuthError('forbidden', { detail: `namespace no longer allowed: ${outcome}` }));
      return;
    }
    const pending: Promise<void>[] = [];
    for (const m of [...state.rooms.values()]) {
      const p = recheck(state, m, epoch);
      if (p !== undefined) pending.push(p);
    }
    await Promise.all(pending);
  };

  const reevaluateSafely = (state: AuthzConnection): Promise<void> =>
    reevaluate(state).catch((err: unknown) => {
      logger.error({ connectionId: state.id, ...describeError(err) }, 'portcullis: re-evaluation failed (closing)');
      terminate(state, new AuthError('internal_error', { cause: err }));
    });

  const revalidator =
    opts.revalidate === undefined
      ? undefined
      : createRevalidator(opts.revalidate, {
          clock,
          deadlines,
          logger,
          random: opts.random,
          keep(state, principal) {
            if (principal === state.principal) return;
            state.principal = principal;
            state.ops?.principalChanged?.(state.socket, principal);
            decisions.report('revalidate', 'allowed', Outcome.Allow, 'downgrade', state.namespace, state);
            void reevaluateSafely(state);
          },
          end(state, error, outcome) {
            decisions.report('revalidate', 'denied', outcome, undefined, state.namespace, state, error.code);
            terminate(state, error);
          },
        });

  /** Admission of a newly authenticated connection: the caps (reserved at once), then the namespace policy. */
  const admit = async (view: ConnectionInfo, principal: Principal): Promise<void> => {
    const info = { id: view.id, transport: view.transport, namespace: view.namespace, ip: view.ip };
    const key = ipKey(view.ip);
    const perPrincipal = byPrincipal.get(principal.id)?.size ?? 0;
    const limit =
      perPrincipal >= opts.connectionsPerPrincipal
        ? 'connectionsPerPrincipal'
        : byAddress.get(key) >= opts.connectionsPerAddress
          ? 'connectionsPerAddress'
          : undefined;
    if (limit !== undefined) {
      decisions.report('connection', 'denied', Outcome.Cap, limit, view.namespace, info, 'rate_limited', principal.id);
      throw new AuthError('rate_limited', { detail: `authorization cap: ${limit}`, retryAfter: 5 });
    }
    // Reserved in the same tick as the check: concurrent attempts see each other.
    const state = new AuthzConnection(info, key, principal, rate?.burst ?? 0, clock.now());
    const stale = states.get(view.id);
    if (stale !== undefined) release(stale);
    states.set(view.id, state);
    index(state, true);
    byAddress.add(key, 1);
    const ns = rules.namespace(principal, info);
    const outcome = typeof ns.outcome === 'string' ? ns.outcome : await ns.outcome;
    if (outcome !== Outcome.Allow) {
      release(state);
      decisions.report('namespace', 'denied', outcome, ns.policy, view.namespace, state, 'forbidden');
      throw new AuthError('forbidden', { detail: `namespace ${outcome}` });
    }
    if (rules.hasNamespaces) decisions.report('namespace', 'allowed', outcome, ns.policy, view.namespace, state);
    revalidator?.schedule(state);
  };

  const onAudit = (event: AuditEvent): void => {
    if (event.type !== 'accepted' && event.type !== 'refreshed') return;
    const c = event.connection;
    const state = states.get(c.id);
    if (state === undefined || state.closed) return;
    if (c instanceof Connection) state.conn = c;
    if (event.type === 'accepted' || c.principal === undefined) return;
    // A refresh: the principal may carry fewer claims (or, with allowPrincipalChange, be someone else).
    if (c.principal.id !== state.principal.id) {
      index(state, false);
      state.principal = c.principal;
      index(state, true);
      if ((byPrincipal.get(c.principal.id)?.size ?? 0) > opts.connectionsPerPrincipal) {
        decisions.report('connection', 'denied', Outcome.Cap, 'connectionsPerPrincipal', state.namespace, state, 'rate_limited');
        terminate(state, new AuthError('rate_limited', { detail: 'authorization cap: connectionsPerPrincipal' }));
        return;
      }
    }
    state.principal = c.principal;
    void reevaluateSafely(state);
  };

  const hooks: Hooks = {
    onAuthenticated(view, principal, refreshed) {
      if (refreshed) return undefined;
      return admit(view, principal);
    },
    onAudit,
    onClose(view) {
      const state = states.get(view.id);
      if (state !== undefined) release(state);
    },
  };

  const matching = (target: InvalidateTarget): AuthzConnection[] => {
    if (target.connectionId !== undefined) {
      const s = states.get(target.connectionId);
      return s === undefined ? [] : [s];
    }
    const pool = target.userId !== undefined ? [...(byPrincipal.get(target.userId) ?? [])] : [...states.values()];
    return pool.filter(
      (s) =>
        (target.sessionId === undefined || s.principal.sessionId === target.sessionId) &&
        (target.room === undefined || s.rooms.has(target.room)),
    );
  };

  const invalidateLocal = (target: InvalidateTarget): Promise<void> => runBounded(matching(target), 64, reevaluateSafely);

  const invalidations = createInvalidations(store, opts.channel, logger, invalidateLocal);

  const internals: AuthorizationInternals = {
    rateOnExceed: rate?.onExceed,
    hasEventRules: rules.hasEvents,
    stateOf: (id) => states.get(id),
    bind(state, socket, ops) {
      state.socket = socket;
      state.ops = ops;
    },
    join(state, room, grant) {
      return joinRoom(state, room, grant);
    },
    leave(state, room) {
      const m = state.rooms.get(room);
      if (m === undefined) return false;
      state.rooms.delete(room);
      memberships--;
      deadlines.cancel(m.deadline);
      state.ops?.leave(state.socket, room, undefined);
      return true;
    },
    take(state) {
      return rate === undefined || takeToken(state, nowInTick(), rate.perSecond, rate.burst);
    },
    event(state, event, data, from) {
      if (rate !== undefined && !takeToken(state, nowInTick(), rate.perSecond, rate.burst)) return Outcome.Rate;
      const outcome = rules.event(state.principal, state, event, data, from);
      if (outcome === Outcome.Allow && decisions.active && rules.hasEvents) {
        decisions.report('event', 'allowed', outcome, rules.eventRule(event), event, state);
      }
      return outcome;
    },
    eventRefused(state, event, outcome) {
      const code = codeOf(outcome);
      decisions.report('event', 'denied', outcome, outcome === Outcome.Rate ? 'events.rate' : rules.eventRule(event), event, state, code);
      return new AuthError(code, { detail: `event ${outcome}` });
    },
    terminate,
  };

  /** A join request: name, cap (counting joins in flight), rule, grant, policy; re-checked if the principal changed meanwhile. */
  function joinRoom(state: AuthzConnection, room: string, grant: unknown): JoinResult | Promise<JoinResult> {
    const refuse = (outcome: OutcomeType, policy: string | undefined, name: string): JoinResult => {
      const code = codeOf(outcome);
      decisions.report('room', 'denied', outcome, policy, name, state, code);
      const e = new AuthError(code);
      return { ok: false, room: name, code, message: e.message, retryable: e.retryable };
    };
    if (typeof room !== 'string' || room === '' || room.length > opts.roomNameLength || hasControl(room)) {
      return refuse(Outcome.Invalid, undefined, typeof room === 'string' ? room.slice(0, opts.roomNameLength) : '');
    }
    if (state.closed) return refuse(Outcome.Deny, undefined, room);
    const existing = state.rooms.get(room);
    if (existing === undefined && state.rooms.size + state.joining >= opts.roomsPerSocket)
      return refuse(Outcome.Cap, 'roomsPerSocket', room);
    const epoch = state.epoch;
    const conclude = (v: { outcome: OutcomeType; policy: string | undefined; expiresAt: number | undefined }): JoinResult => {
      if (state.closed) return refuse(Outcome.Deny, v.policy, room);
      if (v.outcome !== Outcome.Allow) return refuse(v.outcome, v.policy, room);
      let m = state.rooms.get(room);
      if (m === undefined) {
        m = { room, expiresAt: undefined, deadline: undefined, owner: state };
        state.rooms.set(room, m);
        memberships++;
        state.ops?.join(state.socket, room);
      }
      deadlines.cancel(m.deadline);
      m.expiresAt = v.expiresAt;
      m.deadline = v.expiresAt === undefined ? undefined : deadlines.schedule(v.expiresAt, grantExpired, m);
      decisions.report('room', 'allowed', v.outcome, v.policy, room, state);
      // Decided under a principal that has changed since: check again under the current one.
      if (state.epoch !== epoch) void recheck(state, m, state.epoch);
      return v.expiresAt === undefined ? { ok: true, room } : { ok: true, room, expiresAt: v.expiresAt };
    };
    const verdict = rules.room(state.principal, state, room, grant, existing?.expiresAt);
    if (!(verdict instanceof Promise)) return conclude(verdict);
    if (existing === undefined) state.joining++;
    return verdict.then((v) => {
      if (existing === undefined) state.joining--;
      return conclude(v);
    });
  }

  return {
    hooks,
    ready: invalidations.ready,
    options: opts,
    invalidate(target) {
      return invalidations.publish(target);
    },
    get stats() {
      return { connections: states.size, memberships };
    },
    async close() {
      deadlines.clear();
      revalidator?.close();
      await invalidations.close();
      if (ownsStore) await store.close();
    },
    internals,
  };
}
