/**
 * Messages of the measured cluster (`npm run bench:cluster`): the load process
 * (`run.ts`) drives the cluster's primary (`node.ts`), which relays to its
 * workers, and its client processes (`clients.ts`), all over IPC.
 */

/** What the primary is started with (env `CLUSTER_CONFIG`). */
export interface ClusterConfig {
  /** Worker processes. */
  readonly workers: number;
  readonly redisUrl: string;
  /** HS256 secret, base64url. */
  readonly hs256Secret: string;
  /** Key and channel prefix in Redis (store and adapter). */
  readonly prefix: string;
}

/** A worker's answer to `stats`. */
export interface WorkerStats {
  readonly slot: number;
  readonly pid: number;
  /** Authenticated sockets on the Socket.IO guard and on the `ws` guard. */
  readonly sio: number;
  readonly ws: number;
  readonly pending: number;
  /** Bytes, after two full collections. */
  readonly heapUsed: number;
  readonly rss: number;
  readonly revocation: string;
}

/** A worker slot as the primary reports it. */
export interface WorkerInfo {
  readonly slot: number;
  readonly pid: number;
  /** A loopback port reaching this worker only (bench only: to present a ticket to a chosen worker). */
  readonly directPort: number;
  /** performance.timeOrigin + now() when the worker reported ready. */
  readonly readyAt: number;
}

/** Commands a worker answers (relayed by the primary). */
export type WorkerCommand = { cmd: 'revoke'; userId: string } | { cmd: 'stats' } | { cmd: 'ping' };

/** Commands the primary answers. */
export type PrimaryCommand =
  | { cmd: 'workers' }
  | { cmd: 'to'; slot: number; body: WorkerCommand }
  /** SIGKILL the worker in `slot`; the primary forks a replacement into the slot. */
  | { cmd: 'kill'; slot: number }
  /** Resolves once `slot` holds a ready worker other than `pid`. */
  | { cmd: 'ready'; slot: number; notPid: number }
  | { cmd: 'stop' };

/** The epoch time in ms with sub-millisecond precision, comparable across processes of one machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A command relayed by the primary to a worker (`req`) and its answer (`res`), over the cluster's IPC. */
export interface Relay {
  readonly bench: 'req' | 'res';
  readonly id: number;
  readonly body?: WorkerCommand;
  readonly result?: unknown;
  readonly error?: string;
}
