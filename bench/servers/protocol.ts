/**
 * What the load process and the server processes say to each other over the
 * `fork` IPC channel, and the configuration a server is started with
 * (`BENCH_CONFIG`, JSON).
 */
import type { KeyMaterial } from '../lib/credentials.js';

export type Transport = 'socket.io' | 'ws';

/**
 * - `vanilla`: the transport alone, speaking the same wire exchange without verifying anything;
 * - `portcullis`: guarded by the library;
 * - `baseline`: a hand-rolled `io.use` that admits everyone (strategy `none`), or `io.use` + `jose.jwtVerify` given
 *   the secret's bytes, so jose imports the key on every call (Socket.IO, experiments only; the peers replace it);
 * - `stateful`: the least state a guard must keep, by hand (Socket.IO; strategy `none`, or `jwt-hs256` checked by hand);
 * - `floor`: refuses every upgrade with a canned `429` (the least any server can do per attempt);
 * - a `Peer`: what a user would write or pick instead of the library (see `peers.ts`).
 */
export type Variant = 'vanilla' | 'portcullis' | 'baseline' | 'stateful' | 'floor' | Peer;

/**
 * The peers: JWT HS256 checks an application would use instead of portcullis, each reading the token where the
 * load client puts it (the CONNECT `auth`; the `portcullis.bearer.<jwt>` subprotocol entry of the upgrade).
 *
 * - `jsonwebtoken`: `jsonwebtoken.verify(token, stringSecret)`, as tutorials show it;
 * - `jsonwebtoken-keyobject`: `jsonwebtoken.verify` given a `crypto.createSecretKey()` KeyObject made once;
 * - `jose-key-once`: `jose.jwtVerify` given a `CryptoKey` imported once;
 * - `thream`: `@thream/socketio-jwt`'s `authorize({ secret })` (Socket.IO only; the client sends `Bearer <jwt>`).
 */
export const PEERS = ['jsonwebtoken', 'jsonwebtoken-keyobject', 'jose-key-once', 'thream'] as const;
export type Peer = (typeof PEERS)[number];

export function isPeer(variant: Variant): variant is Peer {
  return (PEERS as readonly string[]).includes(variant);
}

export type StrategyName = 'none' | 'ticket' | 'hmac' | 'jwt-hs256' | 'jwt-es256';

/**
 * `handshake`: credentials in the CONNECT packet / with the upgrade; `message`:
 * post-connect; `auto`: either (the guard's `auto` mode; a vanilla server treats
 * it as `handshake`).
 */
export type AuthMode = 'handshake' | 'message' | 'auto';

export interface ServerConfig {
  readonly name: string;
  readonly transport: Transport;
  readonly variant: Variant;
  readonly strategy: StrategyName;
  readonly mode: AuthMode;
  readonly keys: KeyMaterial;
  /** Guard options (portcullis only); library defaults when absent. */
  readonly guard?: {
    readonly timeoutMs?: number;
    readonly maxPending?: number;
    readonly maxPendingPerIp?: number;
    readonly rateLimits?: false;
    readonly revocation?: false;
    /** Experiments: replace the strategy with one that admits everyone at once, whatever the credentials. */
    readonly admitAll?: boolean;
    /** Socket.IO, experiments: attach the guard to the namespace (no engine-level preflight). */
    readonly onNamespace?: boolean;
    /** `stateful` variant: also do by hand what a guarded HS256 handshake does beyond the floor (see stateful-baseline.ts). */
    readonly features?: boolean;
    /** `event-policy.ts`: attach an authorization with an event policy (and an event rate that never refuses). */
    readonly eventPolicy?: boolean;
  };
  /** Redis URL (cluster nodes only). */
  readonly redisUrl?: string;
}

/** Load process → server. */
export type Command =
  | { readonly cmd: 'cpu-begin' }
  | { readonly cmd: 'cpu-end' }
  | { readonly cmd: 'gc' }
  | { readonly cmd: 'heap' }
  | { readonly cmd: 'snapshot'; readonly path: string }
  | { readonly cmd: 'stats' }
  | { readonly cmd: 'issue'; readonly n: number; readonly first: number }
  | { readonly cmd: 'broadcast'; readonly n: number }
  | { readonly cmd: 'revoke'; readonly userId: string }
  | { readonly cmd: 'count' }
  | { readonly cmd: 'stop' };

export type Request = Command & { readonly id: number };

export type Reply = { readonly id: number; readonly result: unknown } | { readonly id: number; readonly error: string };

/** The first message of a server: it listens. */
export interface Ready {
  readonly ready: true;
  readonly port: number;
}

/** CPU spent by the server process between `cpu-begin` and `cpu-end`. */
export interface CpuSample {
  /** User + system CPU, in microseconds. */
  readonly cpuUs: number;
  readonly userUs: number;
  readonly systemUs: number;
  readonly wallMs: number;
  /** Main-thread garbage-collection pauses in the window (PerformanceObserver `gc` entries). */
  readonly gc?: { readonly ms: number; readonly minor: number; readonly major: number };
}

/** Heap after full collections. */
export interface HeapSample {
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly rss: number;
}

/** Live counts of a server. */
export interface ServerStats {
  /** Open TCP connections of the HTTP server (upgraded ones included). */
  readonly tcp: number;
  /** Open transport connections (Engine.IO clients, or upgraded + upgrading `ws` sockets). */
  readonly connections: number;
  /** Sockets an application broadcast reaches. */
  readonly members: number;
  /** Guard counts (portcullis only). */
  readonly pending: number;
  readonly authenticated: number;
}
