/**
 * Request/response over a child's IPC channel, each call with a deadline, plus
 * the messages a child pushes on its own (`{ event }`). Every child started
 * here is killed when this process exits, whatever the reason.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { killOnExit } from '../lib/children.js';

export interface Child {
  readonly child: ChildProcess;
  /** What the child sent with `{ ready: true, ... }`. */
  readonly ready: Record<string, unknown>;
  call<T = unknown>(body: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Pushed messages (`{ event: … }`). */
  onEvent(listener: (message: Record<string, unknown>) => void): void;
  /** Kills the child (SIGKILL) unless it exited, and waits for the exit. */
  kill(): Promise<void>;
}

/**
 * Forks `file` (compiled JavaScript; TypeScript with `execArgv` `['--import', 'tsx']`)
 * and waits for its `{ ready: true }` message.
 */
export async function start(
  file: string,
  env: Record<string, string>,
  startTimeoutMs = 30_000,
  execArgv: readonly string[] = ['--expose-gc'],
): Promise<Child> {
  const child = fork(file, [], {
    execArgv: [...execArgv],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const exited = killOnExit(child);
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  const listeners: ((m: Record<string, unknown>) => void)[] = [];
  let onReady: ((m: Record<string, unknown>) => void) | undefined;
  child.on('message', (raw) => {
    const m = raw as Record<string, unknown>;
    if (m.ready === true) onReady?.(m);
    else if ('event' in m) for (const l of listeners) l(m);
    else if (typeof m.id === 'number') {
      const entry = waiting.get(m.id);
      if (entry === undefined) return;
      waiting.delete(m.id);
      clearTimeout(entry.timer);
      if (typeof m.error === 'string') entry.reject(new Error(`${file}: ${m.error}`));
      else entry.resolve(m.result);
    }
  });
  void exited.then(() => {
    for (const [, e] of waiting) {
      clearTimeout(e.timer);
      e.reject(new Error(`${file}: exited`));
    }
    waiting.clear();
  });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file}: not ready within ${startTimeoutMs} ms`)), startTimeoutMs);
    onReady = (m) => {
      clearTimeout(timer);
      resolve(m);
    };
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${file}: exited during start-up`));
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  let nextId = 1;
  return {
    child,
    ready,
    call: <T>(body: Record<string, unknown>, timeoutMs = 120_000) =>
      new Promise<T>((resolve, reject) => {
        if (!child.connected) {
          reject(new Error(`${file}: not connected`));
          return;
        }
        const id = nextId++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${file}: ${String(body.cmd)} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
        child.send({ ...body, id });
      }),
    onEvent(listener) {
      listeners.push(listener);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Answers calls in a child: `handler(body)` for each `{ id, ... }` message. */
export function answer(handler: (body: Record<string, unknown>) => unknown): void {
  process.on('message', (raw) => {
    const m = raw as Record<string, unknown>;
    if (typeof m.id !== 'number') return;
    const id = m.id;
    Promise.resolve()
      .then(() => handler(m))
      .then(
        (result) => process.send?.({ id, result: result ?? null }),
        (err: unknown) => process.send?.({ id, error: err instanceof Error ? err.message : String(err) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
}
