/**
 * Why the guard costs more inside a server than in a loop: the same per-socket
 * bookkeeping (open a connection, accept a principal, close it) timed with and
 * without a workload between operations that walks through `--evict` KiB of
 * memory, as a Socket.IO handshake walks through its own buffers and objects.
 * A hand-rolled registry (one Map entry per socket) is timed the same way.
 *
 *   node --import tsx bench/cold-cache.ts --evict=0,512,4096,16384 --n=20000
 *
 * Read the ratio between rows, not the nanoseconds: they depend on the machine.
 */
import { parseArgs } from 'node:util';
import type { ConnectionDriver } from '../src/core/connection.js';
import { createGuard } from '../src/core/guard.js';

const { values } = parseArgs({
  options: {
    evict: { type: 'string', default: '0,512,4096,16384' },
    n: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '4' },
  },
});
const n = Number(values.n);
const rounds = Number(values.rounds);
const sizes = (values.evict as string).split(',').map(Number);

const guard = createGuard({
  strategies: [{ name: 'none', authenticate: () => ({ id: 'anyone' }) }],
  rateLimits: false,
  revocation: false,
});
const driver: ConnectionDriver = { authenticated() {}, expiring() {}, close() {}, admit() {} };
const ids = Array.from({ length: n }, (_, i) => `socket-${i}`);
const ips = Array.from({ length: 256 }, (_, i) => `127.0.0.${i}`);
const principals = Array.from({ length: 1024 }, (_, i) => ({ id: `user-${i}` }));
const registry = new Map<string, { id: string; user: string; at: number }>();
let sink = 0;

/** Touches one double per 64-byte line of `memory`. */
function evict(memory: Float64Array): void {
  for (let i = 0; i < memory.length; i += 8) sink += (memory[i] as number)++;
}

/** ns per operation, `op(i)` timed alone; the last `live` sockets stay open, as in a loaded server. */
function time(memory: Float64Array, op: (i: number) => void, close: (i: number) => void, live = 8): number {
  let total = 0n;
  for (let i = 0; i < n; i++) {
    evict(memory);
    const t0 = process.hrtime.bigint();
    op(i);
    if (i >= live) close(i - live);
    total += process.hrtime.bigint() - t0;
  }
  for (let i = Math.max(0, n - live); i < n; i++) close(i);
  return Number(total) / n;
}

const conns: ReturnType<typeof guard.open>[] = [];
const guardOp = (i: number): void => {
  const conn = guard.open({ id: ids[i] as string, transport: 'socket.io', namespace: '/', ip: ips[i & 255] as string }, driver);
  conn.accept(principals[i & 1023] as { id: string }, 'handshake', 'none', 0);
  conns[i] = conn;
};
const guardClose = (i: number): void => {
  conns[i]?.closed('client_disconnect');
  conns[i] = undefined as never;
};
const mapOp = (i: number): void => {
  registry.set(ids[i] as string, { id: ids[i] as string, user: (principals[i & 1023] as { id: string }).id, at: Date.now() });
};
const mapClose = (i: number): void => {
  registry.delete(ids[i] as string);
};

console.log('evicted KiB | guard open+accept+close ns | hand-rolled Map entry ns | guard / no eviction');
let base = 0;
for (const kib of sizes) {
  const memory = new Float64Array(Math.max(1, (kib * 1024) / 8));
  let g = Number.POSITIVE_INFINITY;
  let m = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    g = Math.min(g, time(memory, guardOp, guardClose));
    m = Math.min(m, time(memory, mapOp, mapClose));
  }
  if (base === 0) base = g;
  console.log(`${String(kib).padStart(11)} | ${g.toFixed(0).padStart(26)} | ${m.toFixed(0).padStart(24)} | ${(g / base).toFixed(1)}×`);
}
await guard.close();
if (sink === Number.NEGATIVE_INFINITY) console.log(sink);
