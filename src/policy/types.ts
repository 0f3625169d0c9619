/**
 * The public shapes of the authorization layer: policies, their contexts, the
 * options of `createAuthorization`, and decision events.
 */
import type { Clock } from '../core/clock.js';
import type { Hooks } from '../core/hooks.js';
import type { Logger, Principal, Store, Transport } from '../core/types.js';
import type { AuthError, ErrorCode } from '../errors.js';
import type { Outcome, PolicyAnswer } from './decide.js';
import type { GrantSecret } from './grants.js';
import type { ResolvedAuthorizationOptions } from './options.js';
import type { AuthzConnection, TransportOps } from './state.js';

/** Claims as the app declares them (use a `type` alias, not an `interface`). */
export type Claims = object;

/** A principal whose claims are present and typed. */
export type AuthorizedPrincipal<C extends Claims = Record<string, unknown>> = Principal<C> & { readonly claims: Readonly<C> };

/**
 * The Socket.IO `SocketData` of a guarded server: `new Server<L, E, S, PortcullisSocketData<MyClaims>>()`
 * makes `socket.data.principal.claims.orgId` type-check.
 */
export interface PortcullisSocketData<C extends Claims = Record<string, unknown>> {
  principal: AuthorizedPrincipal<C>;
}

/** What a policy knows about the connection (no request, no credentials). */
export interface PolicyConnection {
  readonly id: string;
  readonly transport: Transport;
  /** The Socket.IO namespace or the `ws` path. */
  readonly namespace: string;
  readonly ip: string;
}

/** Context of a namespace policy. */
export interface NamespaceContext<C extends Claims> {
  readonly principal: AuthorizedPrincipal<C>;
  readonly namespace: string;
  readonly connection: PolicyConnection;
}

/** Context of a room / channel policy. */
export interface RoomContext<C extends Claims> {
  readonly principal: AuthorizedPrincipal<C>;
  readonly room: string;
  /** The rule's pattern as written. */
  readonly pattern: string;
  readonly connection: PolicyConnection;
  /** The expiry of a valid grant presented with the request (epoch ms), if the rule takes grants. */
  readonly grantExpiresAt: number | undefined;
}

/** Context of an event policy. */
export interface EventContext<C extends Claims> {
  readonly principal: AuthorizedPrincipal<C>;
  /** Socket.IO event name, or `ws` frame type (`''` for a frame without one). */
  readonly event: string;
  /** Socket.IO: the event's arguments (without the ack); `ws`: `[payload]`. */
  readonly args: readonly unknown[];
  readonly connection: PolicyConnection;
}

/** A policy: `true` allows; anything else, a throw, a rejection or a timeout denies. */
export type Policy<Ctx> = (context: Ctx) => PolicyAnswer;

/** A namespace rule: `true` (any authenticated principal), `false`, or a policy. */
export type NamespaceRule<C extends Claims> = boolean | Policy<NamespaceContext<C>>;

/**
 * A room rule: `true` (the pattern match with the claims bound is enough), `false`,
 * a policy, or `{ grant: true, policy? }` (a valid grant for this connection and
 * room is required; the membership ends when the grant expires unless a fresh one
 * is presented).
 */
export type RoomRule<C extends Claims> =
  | boolean
  | Policy<RoomContext<C>>
  | { readonly grant: true; readonly policy?: Policy<RoomContext<C>> };

/** An event rule: `true`, `false`, or a policy. */
export type EventRule<C extends Claims> = boolean | Policy<EventContext<C>>;

/** What `revalidate` answers: keep (`true`), end (`false`), or a downgraded principal (same `id`). */
export type RevalidateAnswer<C extends Claims> = boolean | Principal<C>;

export interface RevalidateOptions<C extends Claims> {
  /**
   * Asked for every connected principal (once per distinct id + session + token
   * per batch). `false` ends its connections with `revoked`; a principal with the
   * same `id` replaces it (a downgrade) and every membership is re-checked.
   */
  check(principal: AuthorizedPrincipal<C>): RevalidateAnswer<C> | PromiseLike<RevalidateAnswer<C>>;
  /** How often each connection is re-validated, in ms. @default 300000 (5 min) */
  intervalMs?: number;
  /** Random spread of each interval, as a fraction of it (0 to 0.5). @default 0.1 */
  jitter?: number;
  /** Most connections taken per batch. @default 100 */
  batchSize?: number;
  /** Most `check` calls in flight at once. @default 8 */
  concurrency?: number;
  /** Timeout of one `check`, in ms. @default 5000 */
  timeoutMs?: number;
  /**
   * What a throwing or timed-out `check` does: `'close'` ends the connection with
   * `unavailable` (fail closed; the client retries with backoff), `'keep'` keeps it
   * until the next interval.
   * @default 'close'
   */
  onError?: 'close' | 'keep';
}

/** Per-socket event rate: a token bucket. */
export interface EventRateOptions {
  /** Tokens added per second. @default 50 */
  perSecond?: number;
  /** Bucket size (the burst allowed at once). @default 100 */
  burst?: number;
  /**
   * Over the rate: `'refuse'` refuses the event (`rate_limited` to the ack / a
   * refusal frame); `'close'` closes the socket with `rate_limited`.
   * @default 'refuse'
   */
  onExceed?: 'refuse' | 'close';
}

/** Caps that hold however many attempts arrive at once. */
export interface AuthorizationLimits {
  /** Concurrent authenticated connections per principal id, in this process. @default 50 */
  connectionsPerPrincipal?: number;
  /** Concurrent authenticated connections per client address (IPv6 by /64), in this process. @default 500 */
  connectionsPerAddress?: number;
  /** Rooms / channels a socket may hold through this layer. @default 100 */
  roomsPerSocket?: number;
  /** Longest room / channel name, in UTF-16 code units. @default 200 */
  roomNameLength?: number;
  /** Event rate per socket; `false` turns it off. @default `{ perSecond: 50, burst: 100, onExceed: 'refuse' }` */
  events?: EventRateOptions | false;
}

/** One decision, for audit and metrics. Never carries a credential or a grant. */
export interface AuthzDecision {
  readonly type: 'authorization';
  /** Epoch ms. */
  readonly at: number;
  readonly kind: 'namespace' | 'room' | 'event' | 'connection' | 'revalidate';
  /** `allowed` or `denied`; `removed` for a membership ended by re-evaluation. */
  readonly decision: 'allowed' | 'denied' | 'removed';
  readonly outcome: Outcome;
  /** The rule that decided (its pattern or name), or a limit name (`connectionsPerPrincipal`, `events.rate`). */
  readonly policy: string | undefined;
  /** The namespace, room or event name. */
  readonly target: string;
  /** The wire code of a refusal. */
  readonly code: ErrorCode | undefined;
  readonly connection: PolicyConnection;
  readonly principalId: string | undefined;
}

/** Hooks of the authorization layer; a hook that throws is logged and ignored. */
export interface AuthorizationHooks {
  onDecision?(decision: AuthzDecision): void;
}

/** Options of `createAuthorization`. Every member optional; what is not configured is not policed. */
export interface AuthorizationOptions<C extends Claims = Record<string, unknown>> {
  /**
   * Namespace rules by pattern (`/` separated: `'/'`, `'/admin'`, `'/tenant-{tenantId}'`).
   * First match in declaration order; a namespace no rule matches is refused with `forbidden`.
   * @default every namespace allowed
   */
  namespaces?: Readonly<Record<string, NamespaceRule<C>>>;
  /**
   * Room / channel rules by pattern (`:` separated: `'org:{orgId}:*'`, `'user:{$id}'`).
   * First match in declaration order; a room no rule matches is refused.
   * @default no room may be joined through the layer
   */
  rooms?: Readonly<Record<string, RoomRule<C>>>;
  /**
   * Event rules by exact name or prefix pattern (`'admin:*'`, `'*'`). Exact names win,
   * then the longest prefix. Once given, an event no rule matches is refused.
   * @default every event allowed
   */
  events?: Readonly<Record<string, EventRule<C>>>;
  /** Grants for rooms whose rule is `{ grant: true }`. */
  grants?: {
    /** Secret(s), newest first, at least 32 bytes each. */
    secret: GrantSecret | readonly GrantSecret[];
    /** Longest remaining lifetime a presented grant may have, in ms. @default 3600000 */
    maxTtlMs?: number;
  };
  /** Caps and event rate; see {@link AuthorizationLimits}. */
  limits?: AuthorizationLimits;
  /** Live re-validation of connected principals. @default off */
  revalidate?: RevalidateOptions<C>;
  /** Timeout of an asynchronous policy, in ms (then it denies). @default 2000 */
  policyTimeoutMs?: number;
  /**
   * The store whose publish/subscribe carries `invalidate()` to every node. Use the
   * guards' store (Redis for a cluster).
   * @default a new memory store (this process only)
   */
  store?: Store;
  /** The publish/subscribe channel of invalidations. @default 'authz' */
  channel?: string;
  /** @default the system clock */
  clock?: Clock;
  /** @default silent */
  logger?: Logger;
  /** Decision hooks (e.g. `metrics.authorization`); a list is called in order. */
  hooks?: AuthorizationHooks | readonly AuthorizationHooks[];
  /** @internal Random numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
}

/** What `invalidate` targets: connections of a user, a session, one connection, members of a room, or everyone (`{}`). */
export interface InvalidateTarget {
  userId?: string;
  sessionId?: string;
  connectionId?: string;
  room?: string;
}

/** The answer to a join / subscribe request. */
export type JoinResult =
  | { readonly ok: true; readonly room: string; readonly expiresAt?: number }
  | { readonly ok: false; readonly room: string; readonly code: ErrorCode; readonly message: string; readonly retryable: boolean };

/** The authorization layer. */
export interface Authorization<C extends Claims = Record<string, unknown>> {
  /** Add to every guard this layer serves: `createSocketIoGuard(io, { hooks: [authz.hooks] })`. */
  readonly hooks: Hooks;
  /** Resolves once this node listens for cluster-wide invalidations. */
  readonly ready: Promise<void>;
  /** The resolved options. */
  readonly options: ResolvedAuthorizationOptions<C>;
  /**
   * Re-checks, on every node sharing the store, the namespace and memberships of
   * the matching connections (`{}`: all): call it when a policy input changed.
   * Memberships no longer allowed end with a `forbidden` notice; a namespace no
   * longer allowed ends the connection with `forbidden`.
   */
  invalidate(target: InvalidateTarget): Promise<void>;
  /** Live counts. */
  readonly stats: { readonly connections: number; readonly memberships: number };
  /** Stops timers and the subscription (closes the store only when it created it). */
  close(): Promise<void>;
  /** @internal */
  readonly internals: AuthorizationInternals;
}

/** @internal What the transport bindings use. */
export interface AuthorizationInternals {
  readonly rateOnExceed: 'refuse' | 'close' | undefined;
  /** True when event rules were given (a `ws` binding then parses every frame for its type). */
  readonly hasEventRules: boolean;
  /** The state of an authenticated connection this layer admitted. */
  stateOf(id: string): AuthzConnection | undefined;
  /** Claims the connection for a transport socket. */
  bind(state: AuthzConnection, socket: unknown, ops: TransportOps): void;
  join(state: AuthzConnection, room: string, grant: unknown): JoinResult | Promise<JoinResult>;
  leave(state: AuthzConnection, room: string): boolean;
  /** Takes one token of the event rate; false when the socket is over it. */
  take(state: AuthzConnection): boolean;
  /** Rate, then event policy. `data.slice(from)` are the event's arguments. */
  event(state: AuthzConnection, event: string, data: readonly unknown[], from: number): Outcome | Promise<Outcome>;
  /** Audits a refused event and returns the refusal. */
  eventRefused(state: AuthzConnection, event: string, outcome: Outcome): AuthError;
  /** Ends the connection with `error`. */
  terminate(state: AuthzConnection, error: AuthError): void;
}
