/**
 * Child-process nodes of a test cluster (`test/fixtures/cluster-node.ts`): one
 * Socket.IO server and one `ws` guard per process, sharing Redis, driven over IPC.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitForEvent, withDeadline } from './wait.js';

const NODE_SCRIPT = fileURLToPath(new URL('../fixtures/cluster-node.ts', import.meta.url));

/** The status of each guard of a node's revocation listener, as last reported. */
export interface NodeStatus {
  'socket.io'?: string;
  ws?: string;
}

export interface ClusterNode {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Latest `revocation.onStatus` report of each guard. */
  readonly status: NodeStatus;
  call(msg: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves once both guards reported `status` (at once if they already did), or rejects after `timeoutMs`. */
  waitForStatus(status: string, timeoutMs: number): Promise<void>;
  /** Asks the node to close everything and exit; kills it after 5 s. */
  stop(): Promise<void>;
}

/**
 * Starts a node; `env` adds to the environment (`REDIS_URL`, `REDIS_SUB_URL`, `REDIS_CLUSTER`, `WAIT_READY`).
 * `script` is the node's fixture (one speaking the same IPC: `ready` with its port, replies by `id`).
 */
export async function startNode(env: Record<string, string>, script = NODE_SCRIPT): Promise<ClusterNode> {
  const child = fork(script, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const status: NodeStatus = {};
  const watchers = new Set<() => void>();
  child.on('message', (m: { event?: string; guard?: 'socket.io' | 'ws'; status?: string }) => {
    if (m?.event !== 'revocation' || m.guard === undefined || typeof m.status !== 'string') return;
    status[m.guard] = m.status;
    for (const w of [...watchers]) w();
  });
  // Other IPC traffic (tsx's own) may come first: wait for ours.
  const ready = await withDeadline(
    new Promise<{ port: number }>((resolve) => {
      const onMessage = (m: { ready?: boolean; port?: number }): void => {
        if (m?.ready !== true || typeof m.port !== 'number') return;
        child.off('message', onMessage);
        resolve({ port: m.port });
      };
      child.on('message', onMessage);
    }),
    20_000,
    'cluster node start',
  );
  let seq = 0;
  const node: ClusterNode = {
    child,
    url: `http://127.0.0.1:${ready.port}`,
    status,
    call(msg, timeoutMs = 5000) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`node did not answer ${String(msg.cmd)}`)), timeoutMs);
        const onMessage = (reply: { id?: number }): void => {
          if (reply.id !== id) return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(reply as Record<string, unknown>);
        };
        child.on('message', onMessage);
        child.send({ ...msg, id });
      });
    },
    async waitForStatus(wanted, timeoutMs) {
      const done = (): boolean => status['socket.io'] === wanted && status.ws === wanted;
      if (done()) return;
      let watcher = (): void => {};
      try {
        await withDeadline(
          new Promise<void>((resolve) => {
            watcher = () => {
              if (done()) resolve();
            };
            watchers.add(watcher);
          }),
          timeoutMs,
          `revocation status ${wanted} (now ${JSON.stringify(status)})`,
        );
      } finally {
        watchers.delete(watcher);
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = waitForEvent(child, 'exit', 5000).catch(() => child.kill('SIGKILL'));
      child.send({ cmd: 'stop', id: 0 });
      await exited;
    },
  };
  return node;
}
