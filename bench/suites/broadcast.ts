/**
 * Figure 3: server CPU per broadcast delivery to N authenticated sockets while
 * 1k pending sockets are held by the guarded server, which must receive exactly
 * nothing; every authenticated socket must receive every broadcast exactly once.
 *
 * Both servers run in `message` mode (the guard: post-connect authentication;
 * vanilla: the same wire exchange without verifying). The vanilla server holds
 * only the N sockets: a vanilla app has no notion of a pending socket.
 */

import { type Client, dropAll, floodAddress, NEWS_PREFIX, openMany, userAddress } from '../lib/attempt.js';
import { credentialsFor, startSpec } from '../lib/cases.js';
import { type ServerHandle, stopAll } from '../lib/children.js';
import type { KeyMaterial } from '../lib/credentials.js';
import { cpuWindow, until } from '../lib/load.js';
import { type Spread, spread } from '../lib/stats.js';
import type { CpuSample, Transport } from '../servers/protocol.js';

export interface BroadcastOptions {
  readonly pairs: number;
  /** Pending sockets held by the guarded server. */
  readonly pending: number;
  /** Deliveries per server per pair (broadcasts = deliveries / sockets). */
  readonly deliveries: number;
  /** Connections opened at once while setting up. */
  readonly concurrency: number;
}

export interface BroadcastResult {
  readonly transport: Transport;
  readonly subject: 'portcullis' | 'vanilla';
  readonly sockets: number;
  readonly pending: number;
  readonly broadcasts: number;
  readonly ratios: number[];
  readonly ratio: Spread;
  /**
   * The same ratio over user CPU only: the kernel's share (one `writev` per
   * delivery, loopback receive processing charged to the sender) is the same work
   * on both servers and most of the noise.
   */
  readonly userRatio: Spread;
  /** Server CPU per delivery, ns. */
  readonly vanillaNs: Spread;
  readonly portcullisNs: Spread;
  /** Exact counts after every pair. */
  readonly deliveredPerSocket: { readonly vanilla: number; readonly portcullis: number; readonly expected: number };
  /** Every authenticated socket got exactly `expected`, and pending sockets got nothing. */
  readonly exact: boolean;
  /** Messages received by pending sockets (must be 0). */
  readonly leakedToPending: number;
}

const FLOOD_PER_IP = 40;

function exactly(clients: readonly Client[], expected: number): boolean {
  return clients.every((c) => c.hits() === expected);
}

/**
 * `subject: 'vanilla'` runs the A/A control (two vanilla servers; no pending
 * sockets, since a vanilla server would broadcast to them).
 */
export async function runBroadcast(
  transport: Transport,
  sockets: number,
  keys: KeyMaterial,
  o: BroadcastOptions,
  subject: 'portcullis' | 'vanilla' = 'portcullis',
): Promise<BroadcastResult> {
  let vanilla: ServerHandle | undefined;
  let lib: ServerHandle | undefined;
  const held: Client[][] = [];
  try {
    const guard = { timeoutMs: 600_000 };
    [vanilla, lib] = await Promise.all([
      startSpec({ transport, variant: 'vanilla', strategy: 'jwt-hs256', mode: 'message' }, keys, 'vanilla'),
      startSpec(
        { transport, variant: subject, strategy: 'jwt-hs256', mode: 'message', ...(subject === 'portcullis' ? { guard } : {}) },
        keys,
        subject,
      ),
    ]);
    const v = vanilla;
    const l = lib;
    const creds = await credentialsFor('jwt-hs256', keys);
    const [authV, authL] = await Promise.all([creds.prepare(v, sockets), creds.prepare(l, sockets)]);
    const watch = NEWS_PREFIX[transport];
    const [members, libMembers] = await Promise.all([
      openMany(sockets, o.concurrency, (i) => ({
        transport,
        base: v.base,
        flow: 'message',
        auth: authV(i),
        localAddress: userAddress(i),
        watch,
      })),
      openMany(sockets, o.concurrency, (i) => ({
        transport,
        base: l.base,
        flow: 'message',
        auth: authL(i),
        localAddress: userAddress(i),
        watch,
      })),
    ]);
    held.push(members, libMembers);
    const pendingCount = subject === 'portcullis' ? o.pending : 0;
    const pending = await openMany(pendingCount, o.concurrency, (i) => ({
      transport,
      base: l.base,
      flow: 'pending',
      localAddress: floodAddress(i, FLOOD_PER_IP),
    }));
    held.push(pending);
    const [sv, sl] = await Promise.all([v.stats(), l.stats()]);
    if (sv.members !== sockets || sl.members !== sockets || sl.pending !== pendingCount) {
      throw new Error(`broadcast set-up: vanilla ${JSON.stringify(sv)}, portcullis ${JSON.stringify(sl)}`);
    }
    const perPair = Math.max(1, Math.round(o.deliveries / sockets));
    let expected = 0;
    const round = async (): Promise<[number, number]> => {
      expected += perPair;
      const target = expected;
      const [cv, cl] = await cpuWindow([v, l], async () => {
        // Interleaved in small bursts so both servers broadcast under the same conditions.
        const burst = Math.max(1, Math.min(5, perPair));
        for (let sent = 0; sent < perPair; sent += burst) {
          const k = Math.min(burst, perPair - sent);
          if ((sent / burst) % 2 === 0) await Promise.all([v.call({ cmd: 'broadcast', n: k }), l.call({ cmd: 'broadcast', n: k })]);
          else await Promise.all([l.call({ cmd: 'broadcast', n: k }), v.call({ cmd: 'broadcast', n: k })]);
        }
        await until(() => exactly(members, target) && exactly(libMembers, target), 60_000, 'every broadcast delivered');
      }, [() => true, () => true]);
      const n = perPair * sockets;
      const a = cv as CpuSample;
      const b = cl as CpuSample;
      userRatios.push(a.userUs / b.userUs);
      return [(a.cpuUs * 1000) / n, (b.cpuUs * 1000) / n];
    };
    const userRatios: number[] = [];
    await round();
    userRatios.length = 0;
    const ratios: number[] = [];
    const vNs: number[] = [];
    const lNs: number[] = [];
    for (let p = 0; p < o.pairs; p++) {
      const [a, b] = await round();
      vNs.push(a);
      lNs.push(b);
      ratios.push(a / b);
    }
    const leaked = pending.reduce((sum, c) => sum + c.leaked() + c.hits(), 0);
    const exact = exactly(members, expected) && exactly(libMembers, expected) && leaked === 0;
    return {
      transport,
      subject,
      sockets,
      pending: pendingCount,
      broadcasts: perPair,
      ratios,
      ratio: spread(ratios),
      userRatio: spread(userRatios),
      vanillaNs: spread(vNs),
      portcullisNs: spread(lNs),
      deliveredPerSocket: { vanilla: members[0]?.hits() ?? 0, portcullis: libMembers[0]?.hits() ?? 0, expected },
      exact,
      leakedToPending: leaked,
    };
  } finally {
    for (const group of held) dropAll(group);
    await stopAll([vanilla, lib]);
  }
}
