/**
 * The rules of an authorization, compiled once (patterns, event matchers) and the
 * three evaluations over them: namespace, room and event. Each returns an outcome
 * at once for synchronous rules, or a promise for asynchronous policies.
 */
import type { Clock } from '../core/clock.js';
import type { Principal } from '../core/types.js';
import type { Outcome as OutcomeType } from './decide.js';
import { decide, Outcome } from './decide.js';
import type { GrantVerifier } from './grants.js';
import type { EventMatcher, NamePattern } from './pattern.js';
import { compileEventRules, compilePattern } from './pattern.js';
import type {
  AuthorizationOptions,
  AuthorizedPrincipal,
  Claims,
  EventContext,
  EventRule,
  NamespaceContext,
  NamespaceRule,
  Policy,
  PolicyConnection,
  RoomContext,
} from './types.js';

interface Compiled<R> {
  readonly pattern: NamePattern;
  readonly rule: R;
}

/** A compiled room rule. */
export interface RoomEntry<C extends Claims> {
  readonly pattern: NamePattern;
  readonly grant: boolean;
  readonly policy: boolean | Policy<RoomContext<C>>;
}

/** The verdict on a room: the outcome, the rule that decided, and the grant's expiry when one was used. */
export interface RoomVerdict {
  readonly outcome: OutcomeType;
  readonly policy: string | undefined;
  readonly expiresAt: number | undefined;
}

export interface Rules {
  /** True when namespace rules were given. */
  readonly hasNamespaces: boolean;
  /** True when event rules were given. */
  readonly hasEvents: boolean;
  namespace(principal: Principal, conn: PolicyConnection): { outcome: OutcomeType | Promise<OutcomeType>; policy: string | undefined };
  /**
   * The room verdict. `grant`: the token presented now (`undefined`: none);
   * `heldUntil`: the expiry of the grant an existing membership was admitted with.
   */
  room(
    principal: Principal,
    conn: PolicyConnection,
    room: string,
    grant: unknown,
    heldUntil: number | undefined,
  ): RoomVerdict | Promise<RoomVerdict>;
  /** The event verdict; `args` is only sliced (from `from`) when a policy function runs. */
  event(
    principal: Principal,
    conn: PolicyConnection,
    event: string,
    data: readonly unknown[],
    from: number,
  ): OutcomeType | Promise<OutcomeType>;
  /** The rule key that matched `event` (for audit), `undefined` for none. */
  eventRule(event: string): string | undefined;
}

function checkRule(kind: string, key: string, rule: unknown): void {
  if (typeof rule === 'boolean' || typeof rule === 'function') return;
  if (kind === 'rooms' && typeof rule === 'object' && rule !== null && (rule as { grant?: unknown }).grant === true) {
    const policy = (rule as { policy?: unknown }).policy;
    if (policy === undefined || typeof policy === 'function') return;
  }
  throw new TypeError(
    `portcullis: ${kind}[${JSON.stringify(key)}] must be a boolean, a function${kind === 'rooms' ? ' or { grant: true, policy? }' : ''}`,
  );
}

function asPrincipal<C extends Claims>(p: Principal): AuthorizedPrincipal<C> {
  // Claims default to an empty object so policies never meet `undefined`. Their type is the app's declaration.
  return (p.claims === undefined ? { ...p, claims: {} } : p) as unknown as AuthorizedPrincipal<C>;
}

/** Compiles the rules of `options`. Throws `TypeError` on a bad rule or pattern. */
export function compileRules<C extends Claims>(
  options: AuthorizationOptions<C>,
  grants: GrantVerifier | undefined,
  clock: Clock,
  timeoutMs: number,
  onPolicyError: (err: unknown) => void,
): Rules {
  const namespaces: Compiled<NamespaceRule<C>>[] = [];
  for (const [key, rule] of Object.entries(options.namespaces ?? {})) {
    checkRule('namespaces', key, rule);
    if (!key.startsWith('/')) throw new TypeError(`portcullis: namespace pattern ${JSON.stringify(key)} must start with "/"`);
    namespaces.push({ pattern: compilePattern(key, '/'), rule });
  }
  const rooms: RoomEntry<C>[] = [];
  for (const [key, rule] of Object.entries(options.rooms ?? {})) {
    checkRule('rooms', key, rule);
    const isGrant = typeof rule === 'object';
    if (isGrant && grants === undefined) throw new TypeError(`portcullis: rooms[${JSON.stringify(key)}] takes grants: set grants.secret`);
    rooms.push({
      pattern: compilePattern(key, ':'),
      grant: isGrant,
      policy: isGrant ? ((rule as { policy?: Policy<RoomContext<C>> }).policy ?? true) : (rule as boolean | Policy<RoomContext<C>>),
    });
  }
  const eventRules = options.events;
  if (eventRules !== undefined) for (const [key, rule] of Object.entries(eventRules)) checkRule('events', key, rule);
  const events: EventMatcher<EventRule<C>> | undefined = eventRules === undefined ? undefined : compileEventRules(eventRules);

  const run = <Ctx>(policy: Policy<Ctx>, ctx: Ctx): OutcomeType | Promise<OutcomeType> =>
    decide(policy, ctx, timeoutMs, clock, onPolicyError);

  return {
    hasNamespaces: options.namespaces !== undefined,
    hasEvents: events !== undefined,
    namespace(principal, conn) {
      if (options.namespaces === undefined) return { outcome: Outcome.Allow, policy: undefined };
      for (const { pattern, rule } of namespaces) {
        if (!pattern.match(conn.namespace, principal)) continue;
        if (typeof rule === 'boolean') return { outcome: rule ? Outcome.Allow : Outcome.Deny, policy: pattern.source };
        const ctx: NamespaceContext<C> = { principal: asPrincipal(principal), namespace: conn.namespace, connection: conn };
        return { outcome: run(rule, ctx), policy: pattern.source };
      }
      return { outcome: Outcome.NoRule, policy: undefined };
    },
    room(principal, conn, room, grant, heldUntil) {
      let entry: RoomEntry<C> | undefined;
      for (const r of rooms) {
        if (r.pattern.match(room, principal)) {
          entry = r;
          break;
        }
      }
      if (entry === undefined) return { outcome: Outcome.NoRule, policy: undefined, expiresAt: undefined };
      const policy = entry.pattern.source;
      let expiresAt: number | undefined;
      if (entry.grant) {
        if (grant !== undefined) {
          const verified = grants?.verify(grant, conn.id, room) ?? 'malformed';
          if (typeof verified !== 'number') return { outcome: Outcome.Grant, policy, expiresAt: undefined };
          expiresAt = verified;
        } else if (heldUntil !== undefined && heldUntil > clock.now()) {
          expiresAt = heldUntil;
        } else {
          return { outcome: Outcome.Grant, policy, expiresAt: undefined };
        }
      }
      const rule = entry.policy;
      if (typeof rule === 'boolean') return { outcome: rule ? Outcome.Allow : Outcome.Deny, policy, expiresAt };
      const ctx: RoomContext<C> = { principal: asPrincipal(principal), room, pattern: policy, connection: conn, grantExpiresAt: expiresAt };
      const outcome = run(rule, ctx);
      if (typeof outcome === 'string') return { outcome, policy, expiresAt };
      return outcome.then((o) => ({ outcome: o, policy, expiresAt }));
    },
    event(principal, conn, event, data, from) {
      if (events === undefined) return Outcome.Allow;
      const hit = events.find(event);
      if (hit === undefined) return Outcome.NoRule;
      const rule = hit.rule;
      if (rule === true) return Outcome.Allow;
      if (rule === false) return Outcome.Deny;
      const ctx: EventContext<C> = { principal: asPrincipal(principal), event, args: data.slice(from), connection: conn };
      return run(rule, ctx);
    },
    eventRule(event) {
      return events?.find(event)?.key;
    },
  };
}
