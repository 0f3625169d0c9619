/**
 * Server processes: `fork`ed children (never worker threads) running a compiled
 * script of `bench/servers/` with `--expose-gc`, driven over IPC with a
 * deadline on every call. Every child started here is killed when the load
 * process exits, whatever the reason.
 */
import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { CpuSample, HeapSample, Ready, Reply, Request, ServerConfig, ServerStats } from '../servers/protocol.js';
import { ensureBuilt } from './build.js';

const START_TIMEOUT_MS = 20_000;
const CALL_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;

const live = new Set<ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of live) child.kill('SIGKILL');
      process.exit(130);
    });
  }
}

/** Kills `child` when this process exits, whatever the reason; resolves once `child` exited. */
export function killOnExit(child: ChildProcess): Promise<void> {
  hookExit();
  live.add(child);
  return new Promise<void>((resolve) => {
    child.once('exit', () => {
      live.delete(child);
      resolve();
    });
  });
}

type Call = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** A running server process. */
export interface ServerHandle {
  readonly name: string;
  readonly port: number;
  readonly base: string;
  readonly child: ChildProcess;
  call<T = unknown>(command: Call, timeoutMs?: number): Promise<T>;
  stats(): Promise<ServerStats>;
  cpuBegin(): Promise<void>;
  cpuEnd(): Promise<CpuSample>;
  gc(): Promise<void>;
  heap(): Promise<HeapSample>;
  /** Stops the server (IPC `stop`, then SIGKILL after a deadline) and waits for the exit. */
  stop(): Promise<void>;
}

const otherBuilds = new Map<string, string>();

/** The compiled build of the checkout at `dir` (built there, by its own `build.ts`, if needed). */
function buildOf(dir: string): string {
  let built = otherBuilds.get(dir);
  if (built === undefined) {
    const script = "import('./bench/lib/build.ts').then((m) => process.stdout.write(m.ensureBuilt()))";
    const result = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
    if (result.status !== 0 || result.stdout === '') throw new Error(`bench: could not build ${dir}: ${result.stderr}`);
    built = result.stdout.trim();
    otherBuilds.set(dir, built);
  }
  return built;
}

/**
 * Starts `bench/servers/<script>` (compiled, see `build.ts`) with `config` and
 * waits until it listens.
 */
export async function startServer(script: string, config: ServerConfig): Promise<ServerHandle> {
  // BENCH_REFERENCE_ROOT: another checkout (e.g. the commit before a change) whose build runs the `reference`
  // side, so `experiment.ts --variant-a=portcullis` compares two source trees head to head in one run.
  const reference = process.env.BENCH_REFERENCE_ROOT;
  const root = config.name === 'reference' && reference !== undefined && reference !== '' ? buildOf(reference) : ensureBuilt();
  const file = join(root, 'bench', 'servers', script.replace(/\.ts$/, '.js'));
  const child = fork(file, [], {
    // BENCH_NODE_ARGS adds flags to every server (e.g. `--cpu-prof` to profile one run).
    execArgv: ['--expose-gc', ...(process.env.BENCH_NODE_ARGS?.split(' ').filter((a) => a !== '') ?? [])],
    env: { ...process.env, BENCH_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'json',
  });
  const exited = killOnExit(child);
  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let onReady: ((port: number) => void) | undefined;
  child.on('message', (raw) => {
    const message = raw as Reply | Ready;
    if ('ready' in message) {
      onReady?.(message.port);
      return;
    }
    const entry = waiting.get(message.id);
    if (entry === undefined) return;
    waiting.delete(message.id);
    clearTimeout(entry.timer);
    if ('error' in message) entry.reject(new Error(`${config.name}: ${message.error}`));
    else entry.resolve(message.result);
  });
  void exited.then(() => {
    for (const [, entry] of waiting) {
      clearTimeout(entry.timer);
      entry.reject(new Error(`${config.name}: server exited`));
    }
    waiting.clear();
  });

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${config.name}: did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    onReady = (p) => {
      clearTimeout(timer);
      resolve(p);
    };
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${config.name}: exited during start-up`));
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });

  const call = <T>(command: Call, timeoutMs = CALL_TIMEOUT_MS): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (!child.connected) {
        reject(new Error(`${config.name}: not connected`));
        return;
      }
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`${config.name}: ${command.cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      child.send({ ...command, id });
    });

  return {
    name: config.name,
    port,
    base: `ws://127.0.0.1:${port}`,
    child,
    call,
    stats: () => call<ServerStats>({ cmd: 'stats' }),
    cpuBegin: () => call<void>({ cmd: 'cpu-begin' }),
    cpuEnd: () => call<CpuSample>({ cmd: 'cpu-end' }),
    gc: () => call<void>({ cmd: 'gc' }),
    heap: () => call<HeapSample>({ cmd: 'heap' }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await call({ cmd: 'stop' }, STOP_TIMEOUT_MS).catch(() => {});
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** Stops every server given, in parallel. */
export async function stopAll(servers: readonly (ServerHandle | undefined)[]): Promise<void> {
  await Promise.all(servers.map((s) => s?.stop()));
}
