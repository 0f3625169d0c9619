/**
 * The shapes shared by the core, the strategies, the stores and the adapters.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { PeerCertificate } from 'node:tls';
import type { Clock } from './clock.js';

/**
 * Who is on the other end of an authenticated socket. `Claims` types `claims` for
 * policies and the app (declare it with a `type` alias, e.g.
 * `Principal<{ orgId: string; roles: string[] }>`).
 */
export interface Principal<Claims extends object = Record<string, unknown>> {
  /** The user (or service) id. Revocation by `userId` matches this. */
  readonly id: string;
  /** The login session, if any. Revocation by `sessionId` matches this. */
  readonly sessionId?: string;
  /** The credential's own id (JWT `jti`, ticket id). Revocation by `tokenId` matches this. */
  readonly tokenId?: string;
  /** When the credential stops being valid, in epoch milliseconds. */
  readonly expiresAt?: number;
  /**
   * When the credential was issued, in epoch milliseconds (JWT `iat`, ticket issue
   * time). A `userId` revocation refuses credentials issued at or before it.
   */
  readonly issuedAt?: number;
  /** Verified claims or attributes, for policy and the app. Never sent to the client. */
  readonly claims?: Readonly<Claims>;
  /** Public data sent to the client with `authenticated` (must be JSON-serialisable). */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** The transports portcullis guards. */
export type Transport = 'socket.io' | 'ws';

/** Where credentials came from. */
export type AuthPhase = 'handshake' | 'message' | 'refresh';

/**
 * What a strategy may know about the connection it verifies. Built per attempt
 * from the upgrade request and dropped afterwards: nothing here is kept per socket.
 */
export interface AuthContext {
  readonly transport: Transport;
  readonly phase: AuthPhase;
  /** The connection id (Socket.IO socket id, or a generated id for `ws`). */
  readonly connectionId: string;
  /** The client IP, resolved through trusted proxies only. */
  readonly ip: string;
  /** The `Origin` header, if any. */
  readonly origin: string | undefined;
  /** True when the connection is TLS (directly, or via a trusted proxy's `X-Forwarded-Proto`). */
  readonly secure: boolean;
  /** Request headers of the upgrade (or first HTTP request). */
  readonly headers: Readonly<IncomingHttpHeaders>;
  /** Request path and query. */
  readonly url: string;
  /** The Socket.IO namespace or the `ws` path. */
  readonly namespace: string;
  /** The verified peer certificate when TLS ended in Node and the client sent one. */
  readonly peerCertificate: PeerCertificate | undefined;
  /** True when Node's TLS layer verified the peer certificate against the configured CA. */
  readonly peerAuthorized: boolean;
  /** The current principal when refreshing. */
  readonly previous: Principal | undefined;
  /** The store of the guard. */
  readonly store: Store;
  /** The clock of the guard. */
  readonly clock: Clock;
  /** The transport's own socket object (Socket.IO `Socket`, `ws` `WebSocket`), when one exists yet. */
  readonly socket: unknown;
}

/**
 * Credentials as received: a sanitised plain object with a null prototype (no
 * `__proto__`, `constructor` or `prototype` keys, bounded size and depth).
 */
export type Credentials = Readonly<Record<string, unknown>>;

/**
 * Turns credentials into a principal.
 *
 * - return a {@link Principal} to admit;
 * - return `null` when the credentials are not for this strategy (the next one is tried);
 * - throw an `AuthError` to refuse with that code.
 */
export interface Strategy {
  /** A short name for logs and audit events. */
  readonly name: string;
  /**
   * The identity this strategy's failed attempts count against (the account a
   * password guesser keeps trying), read from fields the strategy itself names:
   * never chosen by the payload's shape. Return it normalised (see
   * `normalizeIdentity`), or `undefined` when the credentials name none.
   *
   * Leave it out when the secret can't be guessed (signatures, JWTs, one-time
   * tickets, session ids, certificates): failures then count per address only,
   * so nobody can lock a key or a user out by sending garbage in its name.
   * @default none: not counted per identity
   */
  readonly identity?: (credentials: Credentials) => string | undefined;
  authenticate(credentials: Credentials, context: AuthContext): Promise<Principal | null> | Principal | null;
}

/**
 * The same operations as {@link Store}, answered at once. An in-process store
 * offers it so that the guard's per-handshake lookups (rate limits, lockouts,
 * revocations) cost no promise; a networked store leaves it out.
 */
export interface SyncStore {
  setIfAbsent(key: string, value: string, ttlMs: number): boolean;
  get(key: string): string | undefined;
  getAndDelete(key: string): string | undefined;
  increment(key: string, ttlMs: number): number;
  reserve(key: string, max: number, ttlMs: number): number;
  release(key: string): void;
  /** See {@link Store.ttl}. */
  ttl?(key: string): number | undefined;
}

/** Told when a subscription stops and starts hearing messages again (see {@link Store.subscribe}). */
export interface SubscriptionListener {
  /** The connection carrying the subscription was lost: messages published from now on do not arrive. */
  onInterrupted?(): void;
  /** The subscription was confirmed again after an interruption. */
  onResumed?(): void;
}

/** The atomic operations strategies and limits need, over one process or a cluster. */
export interface Store {
  /** Optional synchronous view of the same data (in-process stores only). */
  readonly sync?: SyncStore;
  /** Sets `key` to `value` for `ttlMs` unless it exists. Resolves true when it was set. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Sets `key` to `value` for `ttlMs`, replacing any value. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Reads `key`. */
  get(key: string): Promise<string | undefined>;
  /** Reads and deletes `key` in one atomic step. */
  getAndDelete(key: string): Promise<string | undefined>;
  /** Increments the counter `key` (created at 0 with `ttlMs`) and resolves its new value. */
  increment(key: string, ttlMs: number): Promise<number>;
  /**
   * Takes one slot of the counter `key` unless it already holds `max`, in one
   * atomic step: resolves the new count (1..`max`), or 0 when the counter was
   * full (nothing changed). A new counter lives `ttlMs` from its creation (a
   * fixed window); taking a slot never extends it. What attempt limits use to
   * reserve an attempt before verifying it, so concurrent attempts can't
   * overshoot `max`.
   */
  reserve(key: string, max: number, ttlMs: number): Promise<number>;
  /**
   * Gives back one slot of the counter `key` (a reservation that turned out not
   * to count): decrements it, keeping its TTL; deletes it instead when it would
   * reach 0 (an empty counter holds nothing a new window would lose). Never
   * creates it, never goes below 0.
   */
  release(key: string): Promise<void>;
  /** Resolves true when any of `keys` exists. */
  existsAny(keys: readonly string[]): Promise<boolean>;
  /**
   * Optional: the time left before `key` expires, in ms (`undefined` when it does not exist or never expires).
   * Lets a lockout's `Retry-After` say when the window really ends; without it, the whole window is announced.
   */
  ttl?(key: string): Promise<number | undefined>;
  /** Publishes `message` on `channel` to every subscriber in the cluster (including this process). */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Subscribes to `channel`; resolves (once the store confirmed the subscription)
   * a function that unsubscribes. A networked store reports, through `listener`,
   * when its subscription is interrupted (messages published meanwhile are lost)
   * and when it is confirmed again; an in-process store is never interrupted.
   */
  subscribe(channel: string, handler: (message: string) => void, listener?: SubscriptionListener): Promise<() => Promise<void>>;
  /** Releases resources (timers, connections). */
  close(): Promise<void>;
}

/** A pino-compatible logger. Portcullis never passes it a credential. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
