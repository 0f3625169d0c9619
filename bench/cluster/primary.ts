/**
 * The primary of the measured cluster (see `node.ts`): one port, sticky
 * sessions (`@socket.io/sticky`, round-robin), N workers, each replaced in its
 * slot when it dies; relays the load process's commands to the workers.
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setupMaster } from '@socket.io/sticky';
import { type ClusterConfig, epochMs, type PrimaryCommand, type Relay, type WorkerCommand, type WorkerInfo } from './protocol.js';

export async function runPrimary(c: ClusterConfig): Promise<void> {
  // Sticky forwards the first chunk as a Buffer: the advanced serialization keeps it one.
  cluster.setupPrimary({ serialization: 'advanced' });
  const http = createServer();
  setupMaster(http, { loadBalancingMethod: 'round-robin' }); // named setupPrimary too (2.0.1), typed only as setupMaster

  const slots: (Worker | undefined)[] = new Array(c.workers).fill(undefined);
  const infos = new Map<number, WorkerInfo>();
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const readyWaiters: (() => void)[] = [];
  let nextId = 1;
  let stopping = false;

  const fork = (slot: number): void => {
    const w = cluster.fork({ WORKER_SLOT: String(slot) });
    slots[slot] = w;
    const open = holdUntilReady(w);
    w.on('message', (m: Relay | { ready: WorkerInfo }) => {
      if ('ready' in m) {
        open();
        infos.set(slot, m.ready);
        for (const wake of readyWaiters.splice(0)) wake();
        return;
      }
      if (m.bench !== 'res') return;
      const entry = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.error !== undefined) entry?.reject(new Error(m.error));
      else entry?.resolve(m.result);
    });
    // A worker that dies is replaced in its slot, as a production primary would.
    w.on('exit', () => {
      if (infos.get(slot)?.pid === w.process.pid) infos.delete(slot);
      if (!stopping && slots[slot] === w) fork(slot);
    });
  };
  for (let s = 0; s < c.workers; s++) fork(s);

  const relay = (slot: number, body: WorkerCommand): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const w = slots[slot];
      if (w === undefined || !w.isConnected()) {
        reject(new Error(`worker ${slot} is not connected`));
        return;
      }
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      w.send({ bench: 'req', id, body } satisfies Relay);
    });
  const allReady = (): boolean => infos.size === c.workers;
  const whenReady = async (test: () => boolean): Promise<void> => {
    while (!test()) await new Promise<void>((resolve) => readyWaiters.push(resolve));
  };
  await whenReady(allReady);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', 8192, resolve));

  const handle = async (m: PrimaryCommand): Promise<unknown> => {
    switch (m.cmd) {
      case 'workers':
        return [...infos.values()].sort((a, b) => a.slot - b.slot);
      case 'to':
        return relay(m.slot, m.body);
      case 'kill': {
        const pid = slots[m.slot]?.process.pid;
        slots[m.slot]?.process.kill('SIGKILL');
        return { pid, at: epochMs() };
      }
      case 'ready':
        await whenReady(() => {
          const info = infos.get(m.slot);
          return info !== undefined && info.pid !== m.notPid;
        });
        return infos.get(m.slot);
      case 'stop':
        stopping = true;
        for (const w of slots) w?.process.kill('SIGTERM');
        setTimeout(() => process.exit(0), 3_000).unref();
        return null;
    }
  };
  process.on('message', (raw) => {
    const m = raw as PrimaryCommand & { id: number };
    handle(m).then(
      (result) => process.send?.({ id: m.id, result: result ?? null }),
      (err: unknown) => process.send?.({ id: m.id, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  // The primary never outlives the load process, nor its workers the primary (they exit on `disconnect`).
  process.on('disconnect', () => {
    stopping = true;
    for (const w of slots) w?.process.kill('SIGKILL');
    process.exit(0);
  });
  process.send?.({ ready: true, port: (http.address() as AddressInfo).port });
}

type Send = (...args: unknown[]) => boolean;

/**
 * `@socket.io/sticky` puts a worker into its rotation as soon as it is forked and
 * hands it connections (a message carrying the socket) at once. A message that
 * reaches the worker before it listens is dropped by Node, and the connection
 * with it: the client hangs until its connect timeout (20 s in `socket.io-client`).
 * So the worker's `send` queues until the worker says it is ready; the returned
 * function sends the queue, in order, and stops queueing. Connections queued for a
 * worker that exits before it is ready are closed (the client retries at once).
 */
export function holdUntilReady(worker: Worker): () => void {
  const send = worker.send.bind(worker) as Send;
  let queue: unknown[][] | undefined = [];
  (worker as unknown as { send: Send }).send = (...args) => {
    if (queue === undefined) return send(...args);
    queue.push(args);
    return true;
  };
  worker.once('exit', () => {
    for (const args of queue ?? []) (args[1] as { destroy?: () => void } | undefined)?.destroy?.();
    queue = undefined;
  });
  return () => {
    const held = queue ?? [];
    queue = undefined;
    for (const args of held) send(...args);
  };
}
