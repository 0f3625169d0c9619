/**
 * Figure 5: abuse.
 *
 * - Latency: handshake latency (client side, connect → verdict) of legitimate
 *   clients (JWT HS256 in the CONNECT packet / the upgrade), first with nothing
 *   held, then while 5k never-authenticating sockets are held on each server (the
 *   guard holds them pending: `auto` mode, deadline raised; the vanilla server
 *   holds them as idle connections). The flood comes from many addresses (40 per
 *   address, under the default per-IP pending budget), as a distributed flood would.
 * - Refusal: server CPU per over-limit attempt refused by the guard, relative to
 *   one vanilla handshake. The pending budget of ten addresses is spent (50
 *   pending sockets each, the default `maxPendingPerIp`), then new attempts from
 *   them are refused. A `floor` server answering every upgrade with a canned
 *   `429` shows the least any server can spend on a refusal (TCP accept, HTTP
 *   parse, one write, close).
 */

import { type Client, connect, dropAll, floodAddress, openMany, userAddress } from '../lib/attempt.js';
import { credentialsFor, startSpec } from '../lib/cases.js';
import { type ServerHandle, startServer, stopAll } from '../lib/children.js';
import { type KeyMaterial, publicMaterial } from '../lib/credentials.js';
import { cpuWindow, interleave } from '../lib/load.js';
import { quantile, type Spread, spread } from '../lib/stats.js';
import type { Transport } from '../servers/protocol.js';

export interface FloodOptions {
  readonly flood: number;
  readonly pairs: number;
  /** Legitimate handshakes per server per pair. */
  readonly perPair: number;
  /** Legitimate handshakes in flight per server. */
  readonly concurrency: number;
  /** Connections opened at once while setting up. */
  readonly setupConcurrency: number;
}

export interface LatencyResult {
  readonly transport: Transport;
  readonly flood: number;
  /** The same measurement before the flood: portcullis p99 / vanilla p99 with nothing held. */
  readonly quietP99Ratio: Spread;
  readonly quiet: {
    readonly vanilla: { readonly p50: Spread; readonly p99: Spread };
    readonly portcullis: { readonly p50: Spread; readonly p99: Spread };
  };
  /** Per pair: portcullis p99 / vanilla p99 (lower is better). */
  readonly p99Ratios: number[];
  /** p99 over every sample of every pair, portcullis / vanilla: the headline (a tail needs many samples). */
  readonly pooledP99Ratio: number;
  readonly quietPooledP99Ratio: number;
  /** ms, over every sample */
  readonly pooled: {
    readonly vanilla: { readonly p50: number; readonly p99: number };
    readonly portcullis: { readonly p50: number; readonly p99: number };
    readonly quietVanilla: { readonly p50: number; readonly p99: number };
    readonly quietPortcullis: { readonly p50: number; readonly p99: number };
  };
  readonly p99Ratio: Spread;
  readonly p50Ratio: Spread;
  /** ms */
  readonly vanilla: { readonly p50: Spread; readonly p99: Spread };
  readonly portcullis: { readonly p50: Spread; readonly p99: Spread };
}

export interface RefusalResult {
  readonly transport: Transport;
  /** Per pair: CPU per refused attempt / CPU per vanilla handshake (lower is better). */
  readonly ratios: number[];
  readonly ratio: Spread;
  /** Same for the canned-429 floor server. */
  readonly floorRatio: Spread;
  /** µs per attempt */
  readonly vanillaUs: Spread;
  readonly refusalUs: Spread;
  readonly floorUs: Spread;
  /** What the refused clients saw (e.g. `http_429`). */
  readonly refusedWith: string;
}

const FLOOD_PER_IP = 40;

export async function runLatency(transport: Transport, keys: KeyMaterial, o: FloodOptions): Promise<LatencyResult> {
  let vanilla: ServerHandle | undefined;
  let lib: ServerHandle | undefined;
  const held: Client[][] = [];
  try {
    [vanilla, lib] = await Promise.all([
      startSpec({ transport, variant: 'vanilla', strategy: 'jwt-hs256', mode: 'handshake' }, keys, 'vanilla'),
      startSpec(
        { transport, variant: 'portcullis', strategy: 'jwt-hs256', mode: 'auto', guard: { timeoutMs: 600_000 } },
        keys,
        'portcullis',
      ),
    ]);
    const servers = [vanilla, lib];
    const l = lib;
    const creds = await credentialsFor('jwt-hs256', keys);
    const auths = await Promise.all(servers.map((s) => creds.prepare(s, o.perPair)));
    const round = async (n: number): Promise<[number[], number[]]> => {
      const ms: [number[], number[]] = [[], []];
      const failures: string[] = [];
      await interleave(2, n, o.concurrency, async (side, i) => {
        const server = servers[side] as ServerHandle;
        const auth = (auths[side] as (i: number) => Record<string, unknown>)(i);
        const c = await connect({ transport, base: server.base, flow: 'handshake', auth, localAddress: userAddress(i) });
        c.terminate();
        if (c.ok) ms[side as 0 | 1].push(c.ms);
        else failures.push(`${server.name}:${c.code}`);
      });
      if (failures.length > 0) throw new Error(`latency: ${failures.length} handshakes failed (${failures.slice(0, 5).join(', ')})`);
      return ms;
    };
    type Phase = { p99r: number[]; p50r: number[]; v50: number[]; v99: number[]; l50: number[]; l99: number[]; all: [number[], number[]] };
    const measure = async (): Promise<Phase> => {
      const m: Phase = { p99r: [], p50r: [], v50: [], v99: [], l50: [], l99: [], all: [[], []] };
      for (let p = 0; p < o.pairs; p++) {
        const [a, b] = await round(o.perPair);
        m.all[0].push(...a);
        m.all[1].push(...b);
        m.v50.push(quantile(a, 0.5));
        m.v99.push(quantile(a, 0.99));
        m.l50.push(quantile(b, 0.5));
        m.l99.push(quantile(b, 0.99));
        m.p99r.push(quantile(b, 0.99) / quantile(a, 0.99));
        m.p50r.push(quantile(b, 0.5) / quantile(a, 0.5));
      }
      return m;
    };
    await round(Math.min(200, o.perPair));
    const quiet = await measure();
    for (const server of servers) {
      held.push(
        await openMany(o.flood, o.setupConcurrency, (i) => ({
          transport,
          base: server.base,
          flow: 'pending',
          localAddress: floodAddress(i, FLOOD_PER_IP),
        })),
      );
    }
    const ls = await l.stats();
    if (ls.pending !== o.flood) throw new Error(`latency set-up: portcullis holds ${JSON.stringify(ls)}`);
    const flooded = await measure();
    const after = await l.stats();
    if (after.pending !== o.flood) throw new Error(`latency: the flood was not held throughout (${JSON.stringify(after)})`);
    return {
      transport,
      flood: o.flood,
      p99Ratios: flooded.p99r,
      pooledP99Ratio: quantile(flooded.all[1], 0.99) / quantile(flooded.all[0], 0.99),
      quietPooledP99Ratio: quantile(quiet.all[1], 0.99) / quantile(quiet.all[0], 0.99),
      pooled: {
        vanilla: { p50: quantile(flooded.all[0], 0.5), p99: quantile(flooded.all[0], 0.99) },
        portcullis: { p50: quantile(flooded.all[1], 0.5), p99: quantile(flooded.all[1], 0.99) },
        quietVanilla: { p50: quantile(quiet.all[0], 0.5), p99: quantile(quiet.all[0], 0.99) },
        quietPortcullis: { p50: quantile(quiet.all[1], 0.5), p99: quantile(quiet.all[1], 0.99) },
      },
      p99Ratio: spread(flooded.p99r),
      p50Ratio: spread(flooded.p50r),
      vanilla: { p50: spread(flooded.v50), p99: spread(flooded.v99) },
      portcullis: { p50: spread(flooded.l50), p99: spread(flooded.l99) },
      quietP99Ratio: spread(quiet.p99r),
      quiet: {
        vanilla: { p50: spread(quiet.v50), p99: spread(quiet.v99) },
        portcullis: { p50: spread(quiet.l50), p99: spread(quiet.l99) },
      },
    };
  } finally {
    for (const group of held) dropAll(group);
    await stopAll([vanilla, lib]);
  }
}

export interface RefusalOptions {
  readonly pairs: number;
  readonly perPair: number;
  readonly concurrency: number;
}

/** Addresses whose pending budget is spent: 127.0.9.1 … 127.0.9.10. */
const LIMITED = Array.from({ length: 10 }, (_, k) => `127.0.9.${k + 1}`);
const PENDING_PER_IP = 50;

export async function runRefusal(transport: Transport, keys: KeyMaterial, o: RefusalOptions): Promise<RefusalResult> {
  let vanilla: ServerHandle | undefined;
  let lib: ServerHandle | undefined;
  let floor: ServerHandle | undefined;
  const held: Client[][] = [];
  try {
    [vanilla, lib, floor] = await Promise.all([
      startSpec({ transport, variant: 'vanilla', strategy: 'jwt-hs256', mode: 'handshake' }, keys, 'vanilla'),
      startSpec(
        { transport, variant: 'portcullis', strategy: 'jwt-hs256', mode: 'auto', guard: { timeoutMs: 600_000 } },
        keys,
        'portcullis',
      ),
      startServer('ws.ts', {
        name: 'floor',
        transport: 'ws',
        variant: 'floor',
        strategy: 'none',
        mode: 'handshake',
        keys: publicMaterial(keys),
      }),
    ]);
    const v = vanilla;
    const l = lib;
    const servers = [v, l, floor];
    // Spend the pending budget of every limited address (and hold as many idle sockets on the vanilla server).
    for (const server of [v, l]) {
      held.push(
        await openMany(LIMITED.length * PENDING_PER_IP, 16, (i) => ({
          transport,
          base: server.base,
          flow: 'pending',
          localAddress: LIMITED[Math.floor(i / PENDING_PER_IP)] as string,
        })),
      );
    }
    const creds = await credentialsFor('jwt-hs256', keys);
    const auths = await Promise.all(servers.map((s) => creds.prepare(s, o.perPair)));
    const seen = new Map<string, number>();
    const baseline = await Promise.all(servers.map((s) => s.stats()));
    const round = async (n: number): Promise<number[]> => {
      const samples = await cpuWindow(
        servers,
        () =>
          interleave(3, n, o.concurrency, async (side, i) => {
            const server = servers[side] as ServerHandle;
            const auth = (auths[side] as (i: number) => Record<string, unknown>)(i);
            const c = await connect({
              transport: side === 2 ? 'ws' : transport,
              base: server.base,
              flow: 'handshake',
              auth,
              localAddress: LIMITED[i % LIMITED.length] as string,
            });
            c.terminate();
            const key = `${server.name}:${c.code}`;
            seen.set(key, (seen.get(key) ?? 0) + 1);
          }),
        baseline.map((b) => (s: { tcp: number }) => s.tcp === b.tcp),
      );
      return samples.map((s) => s.cpuUs / n);
    };
    await round(Math.min(200, o.perPair));
    const ratios: number[] = [];
    const floorRatios: number[] = [];
    const vUs: number[] = [];
    const rUs: number[] = [];
    const fUs: number[] = [];
    for (let p = 0; p < o.pairs; p++) {
      const [a, b, f] = (await round(o.perPair)) as [number, number, number];
      vUs.push(a);
      rUs.push(b);
      fUs.push(f);
      ratios.push(b / a);
      floorRatios.push(f / a);
    }
    const vanillaFailed = [...seen].filter(([k]) => k.startsWith(`${v.name}:`) && !k.endsWith(':ok'));
    if (vanillaFailed.length > 0) throw new Error(`refusal: vanilla handshakes failed (${JSON.stringify(vanillaFailed)})`);
    const vanillaOk = seen.get(`${v.name}:ok`) ?? 0;
    const refused = [...seen].filter(([k]) => k.startsWith(`${l.name}:`));
    if (refused.some(([k]) => k.endsWith(':ok')))
      throw new Error(`refusal: some over-limit attempts were admitted (${JSON.stringify(refused)})`);
    if (vanillaOk === 0) throw new Error('refusal: no vanilla handshake succeeded');
    return {
      transport,
      ratios,
      ratio: spread(ratios),
      floorRatio: spread(floorRatios),
      vanillaUs: spread(vUs),
      refusalUs: spread(rUs),
      floorUs: spread(fUs),
      refusedWith: refused.map(([k, n]) => `${k.slice(l.name.length + 1)}×${n}`).join(', '),
    };
  } finally {
    for (const group of held) dropAll(group);
    await stopAll([vanilla, lib, floor]);
  }
}
