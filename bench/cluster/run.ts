/**
 * The measured cluster (`npm run bench:cluster`): N worker processes behind one
 * port (`node.ts`: Node's `cluster`, `@socket.io/sticky`, `@socket.io/redis-adapter`,
 * portcullis's Redis store) on a private `redis-server`, loaded by several client
 * processes (`clients.ts`) from 10 000 loopback addresses.
 *
 *   1. connect `--sockets` authenticated sockets (half Socket.IO, half `ws`; one in four
 *      with a one-time ticket, the others a JWT HS256): connect time, memory per worker;
 *   2. with them held, `--samples` cross-node revocations: `guard.revoke({ userId })` on one
 *      worker, timed until the client on another worker receives `unauthorized` / close 4403;
 *   3. `--rounds` × `--tickets` one-time tickets, each presented at once to every worker on
 *      both transports: exactly one attempt may win;
 *   4. a worker SIGKILLed under load and restarted by the primary: its clients reconnect with
 *      fresh credentials; users revoked before and while it was down, and used tickets,
 *      stay refused on the restarted worker.
 *
 * Options: --workers=2 --sockets=20000 --loaders=2 --concurrency=48 --samples=200
 * --tickets=100 --rounds=10 --kill-revoke=50 --out=<file>.
 * Results: printed, and written to bench/results/cluster-latest.json (or `--out`).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createRedisStore } from '../../src/stores/redis.js';
import { createTicketIssuer } from '../../src/strategies/ticket.js';
import { startRedis } from '../../test/helpers/redis.js';
import { ensureBuilt } from '../lib/build.js';
import { SioClient } from '../lib/eio-client.js';
import { gitState, machine, versions } from '../lib/machine.js';
import { quantile } from '../lib/stats.js';
import { WsClient } from '../lib/ws-client.js';
import { WS_PATH_NAME } from './paths.js';
import { type ClusterConfig, epochMs, type WorkerInfo, type WorkerStats } from './protocol.js';
import { type Child, start } from './rpc.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? 'true'] as const;
  }),
);
const num = (name: string, fallback: number): number => {
  const v = Number(args.get(name) ?? fallback);
  if (!Number.isInteger(v) || v < 0) throw new TypeError(`--${name} must be a non-negative integer`);
  return v;
};
const O = {
  workers: num('workers', 2),
  sockets: num('sockets', 20_000),
  loaders: num('loaders', 2),
  concurrency: num('concurrency', 48),
  samples: num('samples', 200),
  tickets: num('tickets', 100),
  rounds: num('rounds', 10),
  killRevoke: num('kill-revoke', 50),
};
if (O.workers < 2) throw new TypeError('--workers must be at least 2 (cross-node figures)');
const OUT = args.get('out') ?? join(import.meta.dirname, '..', 'results', 'cluster-latest.json');
const log = (line: string): void => {
  process.stderr.write(`[cluster] ${line}\n`);
};
const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
const q = (xs: readonly number[]) => ({
  n: xs.length,
  p50: Math.round(quantile(xs, 0.5) * 100) / 100,
  p99: Math.round(quantile(xs, 0.99) * 100) / 100,
  max: Math.round(Math.max(...xs) * 100) / 100,
});
const add = (into: Record<string, number>, from: Record<string, number>): void => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

interface Status {
  states: Record<string, number>;
  byNode: Record<string, number>;
  unknownNode: number;
  refusals: Record<string, number>;
  reconnects: number;
}
interface Pick {
  i: number;
  node: number;
  transport: string;
  kind: string;
}

const started = Date.now();
const redis = await startRedis();
const children: Child[] = [];
const results: Record<string, unknown> = { options: O };
const ownRedis = new Redis(redis.url, { enableOfflineQueue: false, lazyConnect: true });
ownRedis.on('error', () => {});
const prefix = `cluster-${randomBytes(3).toString('hex')}:`;
try {
  const root = ensureBuilt();
  const secret = randomBytes(32).toString('base64url');
  const config: ClusterConfig = { workers: O.workers, redisUrl: redis.url, hs256Secret: secret, prefix };
  const primary = await start(join(root, 'bench', 'cluster', 'node.js'), { CLUSTER_CONFIG: JSON.stringify(config) }, 60_000);
  children.push(primary);
  const base = `ws://127.0.0.1:${String(primary.ready.port)}`;
  const loaders = await Promise.all(
    Array.from({ length: O.loaders }, () =>
      start(join(root, 'bench', 'cluster', 'clients.js'), { CLUSTER_REDIS: redis.url, CLUSTER_PREFIX: prefix, CLUSTER_SECRET: secret }),
    ),
  );
  children.push(...loaders);
  await Promise.all(loaders.map((l) => l.call({ cmd: 'init', base })));
  // Revocations as the client processes see them; the arrival time is read here, on receipt.
  const revokedAt = new Map<number, number>();
  for (const l of loaders) l.onEvent((m) => m.event === 'revoked' && revokedAt.set(Number(m.i), epochMs()));

  const workers = async (): Promise<WorkerInfo[]> => primary.call<WorkerInfo[]>({ cmd: 'workers' });
  const stats = (): Promise<WorkerStats[]> =>
    Promise.all(Array.from({ length: O.workers }, (_, slot) => primary.call<WorkerStats>({ cmd: 'to', slot, body: { cmd: 'stats' } })));
  const status = async (): Promise<Status> => {
    const all = await Promise.all(loaders.map((l) => l.call<Status>({ cmd: 'status' })));
    const sum: Status = { states: {}, byNode: {}, unknownNode: 0, refusals: {}, reconnects: 0 };
    for (const s of all) {
      add(sum.states, s.states);
      add(sum.byNode, s.byNode);
      add(sum.refusals, s.refusals);
      sum.unknownNode += s.unknownNode;
      sum.reconnects += s.reconnects;
    }
    return sum;
  };
  const pick = async (n: number, filter: { node?: number; kind?: string } = {}): Promise<Pick[]> =>
    (await Promise.all(loaders.map((l) => l.call<Pick[]>({ cmd: 'pick', n: Math.ceil(n / loaders.length), ...filter }))))
      .flat()
      .slice(0, n);
  const revoke = (slot: number, i: number): Promise<number> =>
    primary.call<number>({ cmd: 'to', slot, body: { cmd: 'revoke', userId: `user-${i}` } });
  const waitFor = async (test: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<boolean> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (await test()) return true;
      if (Date.now() > end) {
        log(`gave up waiting for ${what} after ${timeoutMs} ms`);
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  // 1. Connect.
  const idle = await stats();
  log(`${O.workers} workers up; connecting ${O.sockets} sockets from ${O.loaders} load processes`);
  const share = Math.ceil(O.sockets / O.loaders);
  const t0 = performance.now();
  const opened = await Promise.all(
    loaders.map((l, k) =>
      l.call<{ wallMs: number; ms: number[]; failures: Record<string, number> }>(
        { cmd: 'open', from: k * share, to: Math.min(O.sockets, (k + 1) * share), concurrency: O.concurrency },
        480_000,
      ),
    ),
  );
  const connectWallMs = performance.now() - t0;
  const latencies = opened.flatMap((o) => o.ms);
  const failures: Record<string, number> = {};
  for (const o of opened) add(failures, o.failures);
  await waitFor(async () => (await status()).unknownNode === 0, 10_000, 'every client to learn its worker');
  const afterConnect = await status();
  const loaded = await stats();
  results.connect = {
    sockets: O.sockets,
    authenticated: latencies.length,
    failures,
    wallMs: Math.round(connectWallMs),
    perSecond: Math.round((latencies.length / connectWallMs) * 1000),
    handshakeMs: q(latencies),
    byWorker: afterConnect.byNode,
    workers: loaded.map((s, k) => {
      const before = idle[k] as WorkerStats;
      const n = s.sio + s.ws;
      return {
        slot: s.slot,
        socketIo: s.sio,
        ws: s.ws,
        heapMiB: mb(s.heapUsed),
        rssMiB: mb(s.rss),
        idleHeapMiB: mb(before.heapUsed),
        idleRssMiB: mb(before.rss),
        heapPerSocketB: n === 0 ? 0 : Math.round((s.heapUsed - before.heapUsed) / n),
        rssPerSocketB: n === 0 ? 0 : Math.round((s.rss - before.rss) / n),
      };
    }),
  };
  log(`connect: ${JSON.stringify(results.connect)}`);

  // 2. Cross-node revocations with the sockets held.
  const pingMs: number[] = [];
  for (let k = 0; k < 50; k++) {
    const a = performance.now();
    await primary.call({ cmd: 'to', slot: k % O.workers, body: { cmd: 'ping' } });
    pingMs.push(performance.now() - a);
  }
  const relayMs: number[] = [];
  for (let k = 0; k < 50; k++) {
    const a = performance.now();
    await (loaders[k % loaders.length] as Child).call({ cmd: 'status' });
    relayMs.push(performance.now() - a);
  }
  const revokeMs: Record<string, number[]> = { 'socket.io': [], ws: [] };
  let missed = 0;
  for (const p of await pick(O.samples)) {
    const other = (p.node + 1) % O.workers;
    const a = epochMs();
    await revoke(other, p.i);
    const seen = await waitFor(() => revokedAt.has(p.i), 5_000, `the revocation of user-${p.i}`);
    if (seen) revokeMs[p.transport]?.push((revokedAt.get(p.i) as number) - a);
    else missed++;
  }
  const allRevokeMs = [...(revokeMs['socket.io'] ?? []), ...(revokeMs.ws ?? [])];
  results.revoke = {
    samples: allRevokeMs.length,
    missed,
    ms: q(allRevokeMs),
    socketIoMs: q(revokeMs['socket.io'] ?? []),
    wsMs: q(revokeMs.ws ?? []),
    ipcPingWorkerMs: q(pingMs),
    ipcPingLoaderMs: q(relayMs),
  };
  log(`revoke: ${JSON.stringify(results.revoke)}`);

  // 3. One ticket, every worker at once.
  await ownRedis.connect();
  const issuer = createTicketIssuer({ store: createRedisStore({ client: ownRedis, prefix }), ttlSec: 60 });
  const direct = await workers();
  const winners: Record<string, number> = {};
  const refusedRace: Record<string, number> = {};
  const wonBy: Record<string, number> = {};
  let attempts = 0;
  let addr = 0;
  for (let r = 0; r < O.rounds; r++) {
    const tickets = await Promise.all(Array.from({ length: O.tickets }, (_, k) => issuer.issue({ id: `race-${r}-${k}` })));
    // One transport per round (a ws upgrade answers a round trip sooner than a Socket.IO CONNECT, which
    // waits for the Engine.IO open: mixed, ws would win every race); two attempts per worker.
    const transport = r % 2 === 0 ? 'socket.io' : 'ws';
    const round = tickets.map(({ ticket }) => {
      const tries: Promise<{ ok: boolean; code: string; at: string }>[] = [];
      for (const w of direct)
        for (let copy = 0; copy < 2; copy++) {
          // 127.0.100.x–127.0.139.x: 10 000 addresses, each refused at most a few times (failures per address are limited).
          const a = addr++;
          const localAddress = `127.0.${100 + (Math.floor(a / 250) % 40)}.${1 + (a % 250)}`;
          const target = `ws://127.0.0.1:${w.directPort}`;
          const client =
            transport === 'socket.io'
              ? new SioClient({ base: target, flow: 'handshake', auth: { ticket }, localAddress, timeoutMs: 20_000 })
              : new WsClient({ base: `${target}${WS_PATH_NAME}`, flow: 'upgrade', auth: { ticket }, localAddress, timeoutMs: 20_000 });
          tries.push(
            client.outcome.then((o) => {
              client.terminate();
              return { ok: o.ok, code: o.ok ? 'ok' : `${transport} ${o.code}`, at: `worker ${w.slot} ${transport}` };
            }),
          );
        }
      return Promise.all(tries);
    });
    for (const outcomes of await Promise.all(round)) {
      attempts += outcomes.length;
      const won = outcomes.filter((o) => o.ok);
      winners[String(won.length)] = (winners[String(won.length)] ?? 0) + 1;
      for (const o of won) wonBy[o.at] = (wonBy[o.at] ?? 0) + 1;
      for (const o of outcomes) if (!o.ok) refusedRace[o.code] = (refusedRace[o.code] ?? 0) + 1;
    }
  }
  results.tickets = {
    tickets: O.tickets * O.rounds,
    attempts,
    perTicket: 2 * O.workers,
    winnersPerTicket: winners,
    wonBy,
    refused: refusedRace,
  };
  log(`tickets: ${JSON.stringify(results.tickets)}`);

  // 4. Kill a worker under load, restart it.
  const victim = 0;
  const survivor = 1;
  const before = await workers();
  const victimPid = (before.find((w) => w.slot === victim) as WorkerInfo).pid;
  const r1 = await pick(O.killRevoke, { node: victim });
  for (const p of r1) await revoke(survivor, p.i);
  await waitFor(() => r1.every((p) => revokedAt.has(p.i)), 10_000, 'the revocations before the kill');
  const r2 = await pick(O.killRevoke, { node: victim });
  // R2's users log out: their clients will not come back with fresh credentials.
  await Promise.all(loaders.map((l) => l.call({ cmd: 'forget', users: r2.map((p) => p.i) })));
  const usedTickets = await pick(100, { kind: 'ticket' });
  const heldBefore = await status();
  const upBefore = heldBefore.states.up ?? 0;
  const onVictim = heldBefore.byNode[String(victim)] ?? 0;
  await Promise.all(loaders.map((l) => l.call({ cmd: 'reconnect', on: true })));
  const killed = await primary.call<{ at: number }>({ cmd: 'kill', slot: victim });
  for (const p of r2) await revoke(survivor, p.i);
  const revokedWhileDownAt = epochMs();
  const restarted = await primary.call<WorkerInfo>({ cmd: 'ready', slot: victim, notPid: victimPid }, 60_000);
  const recovered = await waitFor(async () => ((await status()).states.up ?? 0) >= upBefore, 120_000, 'the clients to come back');
  const recoveredAt = epochMs();
  const afterKill = await status();
  const revokedUsers = [...r1, ...r2].map((p) => p.i);
  const restartedBase = `ws://127.0.0.1:${restarted.directPort}`;
  const staleOutcomes: Record<string, number> = {};
  for (const o of await Promise.all(
    loaders.map((l) =>
      l.call<Record<string, number>>({ cmd: 'stale', users: revokedUsers, targets: [restartedBase, base], addressBase: 140 }),
    ),
  ))
    add(staleOutcomes, o);
  const ticketOutcomes: Record<string, number> = {};
  for (const o of await Promise.all(
    loaders.map((l) =>
      l.call<Record<string, number>>({ cmd: 'stale', users: usedTickets.map((p) => p.i), targets: [restartedBase], addressBase: 150 }),
    ),
  ))
    add(ticketOutcomes, o);
  const afterStats = await stats();
  results.restart = {
    victim,
    socketsOnVictim: onVictim,
    heldBefore: upBefore,
    revokedBefore: r1.length,
    revokedWhileDown: r2.length,
    revokedWhileDownBeforeRestart: revokedWhileDownAt < restarted.readyAt,
    workerBackMs: Math.round(restarted.readyAt - killed.at),
    recovered,
    recoverMs: Math.round(recoveredAt - killed.at),
    reconnects: afterKill.reconnects,
    reconnectRefusals: afterKill.refusals,
    states: afterKill.states,
    byWorker: afterKill.byNode,
    workers: afterStats.map((s) => ({ slot: s.slot, pid: s.pid, socketIo: s.sio, ws: s.ws, revocation: s.revocation })),
    staleRevokedCredentials: staleOutcomes,
    usedTicketsReplayed: ticketOutcomes,
  };
  log(`restart: ${JSON.stringify(results.restart)}`);

  await Promise.all(loaders.map((l) => l.call({ cmd: 'drop' })));
  const git = gitState();
  const out = {
    at: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    commit: git.commit,
    dirty: git.dirty,
    machine: machine(),
    versions: { ...versions(), '@socket.io/sticky': stickyVersion() },
    ...results,
  };
  writeFileSync(OUT, `${JSON.stringify(out, null, 2)}\n`);
  log(`written to ${OUT}`);
} finally {
  await Promise.all(children.map((c) => c.kill()));
  ownRedis.disconnect();
  await redis.stop();
}

function stickyVersion(): string {
  try {
    const file = new URL('../../node_modules/@socket.io/sticky/package.json', import.meta.url);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
