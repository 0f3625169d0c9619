/**
 * The measured cluster: one port, N worker processes (Node's `cluster`), sticky
 * sessions by `@socket.io/sticky`, Socket.IO rooms and broadcasts through
 * `@socket.io/redis-adapter`, tickets, counters and revocations through
 * portcullis's Redis store. This file is both the primary and the worker, as an
 * application's entry would be; `docs/cluster.md` shows the same shape.
 *
 * Why `cluster` + `@socket.io/sticky` rather than separate processes behind a
 * proxy: it is what Socket.IO documents for one machine ("Using Node.js
 * Cluster"), it needs no second program to deploy, and the primary hands the
 * accepted TCP handle to a worker (no proxying of the bytes afterwards), so the
 * worker sees the client's real address for portcullis's per-IP limits without
 * trusting a forwarded header. Polling needs the stickiness (every request of an
 * Engine.IO session must reach the worker that holds it); WebSocket-only
 * clients and plain `ws` upgrades are balanced round-robin. Round-robin, not the
 * library's default "least-connection": that one counts Engine.IO sessions only
 * and would pile the `ws` sockets, which it does not see, onto one worker.
 *
 * A worker that is still starting is already in sticky's rotation; the primary holds
 * what sticky hands it until the worker reports ready (`holdUntilReady` in
 * `primary.ts`, measured: without it, a restart under load left some clients
 * waiting 20 s for their connect timeout).
 *
 * Bench only: each worker also listens on a private loopback port of its own
 * (`directPort`), so the load process can present one ticket to every worker at
 * once; and it answers commands relayed by the primary over IPC.
 */
import cluster from 'node:cluster';
import type { ClusterConfig } from './protocol.js';

const config = JSON.parse(process.env.CLUSTER_CONFIG ?? 'null') as ClusterConfig | null;
if (config === null) throw new Error('CLUSTER_CONFIG is not set (started by bench/cluster/run.ts)');

if (cluster.isPrimary) {
  const { runPrimary } = await import('./primary.js');
  await runPrimary(config);
} else {
  const { runWorker } = await import('./worker.js');
  await runWorker(config);
}
