/**
 * The server side of the IPC channel: CPU windows (`process.cpuUsage()` deltas),
 * full collections and heap readings (`--expose-gc`), and the server's own
 * commands. A server exits when its parent goes away.
 */
import type { Server as HttpServer } from 'node:http';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import type { Store } from '../../src/core/types.js';
import { createTicketIssuer } from '../../src/strategies/ticket.js';
import type { CpuSample, HeapSample, Reply, Request, ServerConfig } from './protocol.js';

export type Handler = (request: Request) => unknown;

/** Reads the configuration given by the load process. */
export function readConfig(): ServerConfig {
  const raw = process.env.BENCH_CONFIG;
  if (raw === undefined) throw new Error('BENCH_CONFIG is not set (servers are started by bench/run.ts)');
  return JSON.parse(raw) as ServerConfig;
}

function fullGc(rounds = 2): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run the server with --expose-gc');
  for (let i = 0; i < rounds; i++) gc();
}

/**
 * Answers requests: the common ones here, the server's own through `handler`
 * (which may return a promise). `stop` runs `shutdown` then exits.
 */
export function serve(port: number, handler: Handler, shutdown: () => Promise<void>): void {
  let begin: { cpu: NodeJS.CpuUsage; at: number } | undefined;
  // GC pauses inside the CPU window: tells collector work from the rest when two servers differ.
  const gcTally = { ms: 0, minor: 0, major: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcTally.ms += e.duration;
      if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) gcTally.minor++;
      else gcTally.major++;
    }
  }).observe({ entryTypes: ['gc'] });
  const reply = (message: Reply): void => {
    if (process.connected) process.send?.(message);
  };
  process.on('message', (raw) => {
    const request = raw as Request;
    const { id } = request;
    const run = async (): Promise<unknown> => {
      switch (request.cmd) {
        case 'cpu-begin':
          begin = { cpu: process.cpuUsage(), at: performance.now() };
          gcTally.ms = 0;
          gcTally.minor = 0;
          gcTally.major = 0;
          return null;
        case 'cpu-end': {
          if (begin === undefined) throw new Error('cpu-end without cpu-begin');
          const d = process.cpuUsage(begin.cpu);
          const sample: CpuSample = {
            cpuUs: d.user + d.system,
            userUs: d.user,
            systemUs: d.system,
            wallMs: performance.now() - begin.at,
            gc: { ...gcTally },
          };
          begin = undefined;
          return sample;
        }
        case 'gc':
          fullGc();
          return null;
        case 'heap': {
          // Let closes and timers settle, then collect until the heap stops shrinking.
          await new Promise((resolve) => setTimeout(resolve, 50));
          fullGc(4);
          const m = process.memoryUsage();
          const sample: HeapSample = { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss };
          return sample;
        }
        case 'snapshot':
          fullGc(4);
          return writeHeapSnapshot(request.path);
        case 'stop':
          setTimeout(() => process.exit(0), 2_000).unref();
          await shutdown().catch(() => {});
          reply({ id, result: null });
          process.exit(0);
          return null;
        default:
          return handler(request);
      }
    };
    run().then(
      (result) => reply({ id, result: result ?? null }),
      (err: unknown) => reply({ id, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ ready: true, port });
}

/**
 * The `issue` command of every server: `n` one-time tickets for users `first`…,
 * issued into `store` (a guarded server), or look-alike strings (a vanilla one).
 */
export function ticketIssuer(store: Store | undefined): (n: number, first: number) => Promise<string[]> {
  const issuer = store === undefined ? undefined : createTicketIssuer({ store, ttlSec: 300 });
  return async (n, first) => {
    if (issuer === undefined) return Array.from({ length: n }, (_, i) => `vanilla-${first + i}`.padEnd(43, 'x'));
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await issuer.issue({ id: `user-${first + i}` })).ticket);
    return out;
  };
}

/** The number of TCP connections `server` holds. */
export function tcpCount(server: HttpServer): Promise<number> {
  return new Promise((resolve) => server.getConnections((_err, n) => resolve(n)));
}
