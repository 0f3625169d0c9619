/**
 * Figure 4: heap per authenticated and per pending socket, as the slope of
 * `heapUsed` (after full collections, in the server process) over 1k/3k/5k
 * sockets, library minus vanilla.
 *
 * The guarded server runs in `auto` mode: authenticated sockets present a JWT
 * (HS256, with `sub`, `sid`, `jti`, `iat`, `exp` and a scope claim) in the
 * CONNECT packet / the upgrade, pending sockets connect without credentials and
 * stay pending (deadline raised so they are held). The vanilla server gets the
 * same clients.
 */

import { type Client, dropAll, floodAddress, openMany, userAddress } from '../lib/attempt.js';
import { credentialsFor, startSpec } from '../lib/cases.js';
import { type ServerHandle, stopAll } from '../lib/children.js';
import type { KeyMaterial } from '../lib/credentials.js';
import { settle } from '../lib/load.js';
import { slope } from '../lib/stats.js';
import type { Transport } from '../servers/protocol.js';

export interface HeapOptions {
  /** Socket counts at which the heap is read, ascending. */
  readonly steps: readonly number[];
  readonly concurrency: number;
}

export interface HeapSeries {
  /** Bytes per socket (least-squares slope). */
  readonly vanilla: number;
  readonly portcullis: number;
  /** portcullis − vanilla, bytes per socket. */
  readonly extra: number;
  /** The readings: sockets → heapUsed bytes. */
  readonly points: { readonly sockets: number; readonly vanilla: number; readonly portcullis: number }[];
}

export interface HeapResult {
  readonly transport: Transport;
  readonly authenticated: HeapSeries;
  readonly pending: HeapSeries;
}

const FLOOD_PER_IP = 40;

export async function runHeap(transport: Transport, keys: KeyMaterial, o: HeapOptions): Promise<HeapResult> {
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
    const servers = [vanilla, lib] as const;
    const creds = await credentialsFor('jwt-hs256', keys, 1024);
    const max = Math.max(...o.steps);
    const auths = await Promise.all(servers.map((s) => creds.prepare(s, max)));

    const series = async (flow: 'handshake' | 'pending'): Promise<HeapSeries> => {
      const points: { sockets: number; vanilla: number; portcullis: number }[] = [];
      const clients: Client[][] = [[], []];
      for (const step of o.steps) {
        await Promise.all(
          servers.map(async (server, side) => {
            const have = (clients[side] as Client[]).length;
            const more = await openMany(step - have, o.concurrency, (k) => {
              const i = have + k;
              return flow === 'handshake'
                ? {
                    transport,
                    base: server.base,
                    flow,
                    auth: (auths[side] as (i: number) => Record<string, unknown>)(i),
                    localAddress: userAddress(i),
                  }
                : { transport, base: server.base, flow, localAddress: floodAddress(i, FLOOD_PER_IP) };
            });
            (clients[side] as Client[]).push(...more);
            held.push(more);
          }),
        );
        await Promise.all(servers.map((s) => settle(s, (st) => st.tcp === step, 20_000, `${step} sockets`)));
        const [hv, hl] = await Promise.all(servers.map((s) => s.heap()));
        points.push({ sockets: step, vanilla: (hv as { heapUsed: number }).heapUsed, portcullis: (hl as { heapUsed: number }).heapUsed });
      }
      const sv = slope(points.map((p) => ({ x: p.sockets, y: p.vanilla }))).slope;
      const sl = slope(points.map((p) => ({ x: p.sockets, y: p.portcullis }))).slope;
      for (const group of clients) dropAll(group);
      await Promise.all(servers.map((s) => settle(s, (st) => st.tcp === 0, 30_000, 'all sockets closed')));
      return { vanilla: sv, portcullis: sl, extra: sl - sv, points };
    };

    const authenticated = await series('handshake');
    const pending = await series('pending');
    const stats = await lib.stats();
    if (stats.pending !== 0 || stats.authenticated !== 0) throw new Error(`heap: guard still counts ${JSON.stringify(stats)}`);
    return { transport, authenticated, pending };
  } finally {
    for (const group of held) dropAll(group);
    await stopAll([vanilla, lib]);
  }
}
