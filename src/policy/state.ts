/**
 * What the authorization layer keeps per authenticated connection: the effective
 * principal, the memberships it granted, the event bucket and the bookkeeping of
 * the caps. One object per connection, reused for every event.
 */
import type { Connection } from '../core/connection.js';
import type { Deadline } from '../core/deadlines.js';
import type { Principal, Transport } from '../core/types.js';
import type { AuthError } from '../errors.js';
import type { BucketState } from './decide.js';
import type { PolicyConnection } from './types.js';

/**
 * @internal How a transport binding acts on its sockets. One object per binding;
 * the socket travels as the argument (no closure per socket).
 */
export interface TransportOps {
  /** Adds the socket to `room` (Socket.IO `socket.join`, `ws` hub join). */
  join(socket: unknown, room: string): void;
  /** Removes it; with `notice`, tells the client why (a membership ended by re-evaluation). */
  leave(socket: unknown, room: string, notice: AuthError | undefined): void;
  /** Closes the transport when the core connection is not known. */
  close(socket: unknown, error: AuthError): void;
  /** The effective principal changed (a downgrade by `revalidate`). */
  principalChanged?(socket: unknown, principal: Principal): void;
}

/** @internal One membership granted by the layer. */
export interface Membership {
  readonly room: string;
  /** The grant's expiry when the rule takes grants (epoch ms). */
  expiresAt: number | undefined;
  deadline: Deadline | undefined;
  readonly owner: AuthzConnection;
}

/** @internal Per-connection state. */
export class AuthzConnection implements PolicyConnection, BucketState {
  readonly id: string;
  readonly transport: Transport;
  readonly namespace: string;
  readonly ip: string;
  /** The address key the per-address cap counts (IPv6 by /64). */
  readonly ipKey: string;
  /** The principal policies see: the connection's, or a downgrade from `revalidate`. */
  principal: Principal;
  /** The core connection (to end it with a code), once accepted. */
  conn: Connection | undefined = undefined;
  /** The transport socket and how to act on it, once a binding claimed the connection. */
  socket: unknown = undefined;
  ops: TransportOps | undefined = undefined;
  readonly rooms = new Map<string, Membership>();
  /** Joins being decided (counted against the room cap). */
  joining = 0;
  tokens: number;
  refilledAt: number;
  /** Bumped whenever what policies see changes; a decision taken under an older epoch is re-checked. */
  epoch = 0;
  closed = false;
  /** Events held behind an asynchronous decision, in arrival order (bounded). */
  held: unknown[] | undefined = undefined;
  /** True while an asynchronous event decision is in flight. */
  deciding = false;
  /** The next re-validation. */
  revalidation: Deadline | undefined = undefined;

  constructor(info: PolicyConnection, ipKey: string, principal: Principal, burst: number, now: number) {
    this.id = info.id;
    this.transport = info.transport;
    this.namespace = info.namespace;
    this.ip = info.ip;
    this.ipKey = ipKey;
    this.principal = principal;
    this.tokens = burst;
    this.refilledAt = now;
  }
}

/** @internal A count per key that drops keys at zero. */
export class Counter {
  readonly #counts = new Map<string, number>();
  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }
  add(key: string, delta: number): void {
    const n = (this.#counts.get(key) ?? 0) + delta;
    if (n <= 0) this.#counts.delete(key);
    else this.#counts.set(key, n);
  }
  get size(): number {
    return this.#counts.size;
  }
}

/** Runs `fn` over `items` with at most `limit` promises in flight; resolves when all settled. */
export async function runBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void> | undefined): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch {
        // each item reports its own failures
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
