/**
 * Per-event policy cost on a hot event path: server CPU per event of the same
 * guarded app with and without an authorization (event gate, token bucket, an
 * event policy reading a claim), both servers loaded at once by this process,
 * pairs alternating which one is fed first. The ratio is CPU per event with the
 * policy over CPU per event without it (1.00 = free).
 */
import { io as ioc, type Socket } from 'socket.io-client';
import { type ServerHandle, startServer, stopAll } from '../lib/children.js';
import { type KeyMaterial, publicMaterial } from '../lib/credentials.js';
import { cpuWindow, sleep, tick } from '../lib/load.js';
import { type Spread, spread } from '../lib/stats.js';

export interface EventPolicyOptions {
  readonly pairs: number;
  /** Authenticated sockets per server. */
  readonly clients: number;
  /** Events per socket per pair. */
  readonly perClient: number;
}

export interface EventPolicyResult {
  readonly events: number;
  readonly ratios: number[];
  readonly ratio: Spread;
  /** Server CPU per event, ns. */
  readonly plainNs: Spread;
  readonly policyNs: Spread;
  /** Both apps received every event. */
  readonly exact: boolean;
}

/**
 * Connects `n` clients from 127.0.0.1, 25 at a time: every connection still opening holds one of the address's
 * pending slots (50 by default), so all at once would be refused `429` from the 51st on.
 */
async function connectAll(base: string, n: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i += 25) {
    const batch = Array.from({ length: Math.min(25, n - i) }, (_, j) =>
      ioc(base, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { user: `u${i + j}` } }),
    );
    sockets.push(...batch);
    await Promise.all(
      batch.map(
        (s) =>
          new Promise<void>((resolve, reject) => {
            s.once('connect', () => resolve());
            s.once('connect_error', reject);
          }),
      ),
    );
  }
  return sockets;
}

async function reach(server: ServerHandle, target: number): Promise<void> {
  const end = Date.now() + 60_000;
  while ((await server.call<number>({ cmd: 'count' })) < target) {
    if (Date.now() > end) throw new Error(`${server.name}: events did not all arrive`);
    await sleep(10);
  }
}

/** With `aa`, both servers run without the policy: the A/A noise floor of the same measurement. */
export async function runEventPolicy(keys: KeyMaterial, o: EventPolicyOptions, aa = false): Promise<EventPolicyResult> {
  const start = (eventPolicy: boolean, name: string): Promise<ServerHandle> =>
    startServer('event-policy.ts', {
      name,
      transport: 'socket.io',
      variant: 'portcullis',
      strategy: 'none',
      mode: 'handshake',
      keys: publicMaterial(keys),
      guard: { eventPolicy },
    });
  const servers = await Promise.all([start(false, 'guard'), start(!aa, aa ? 'guard (A/A)' : 'guard+policy')]);
  const [plain, policed] = servers as [ServerHandle, ServerHandle];
  const clients: Socket[][] = [];
  try {
    clients.push(await connectAll(plain.base, o.clients), await connectAll(policed.base, o.clients));
    const perPair = o.clients * o.perClient;
    const ratios: number[] = [];
    const plainNs: number[] = [];
    const policyNs: number[] = [];
    let exact = true;
    for (let pair = 0; pair < o.pairs; pair++) {
      const order = pair % 2 === 0 ? [0, 1] : [1, 0];
      const [a, b] = await cpuWindow(servers, async () => {
        for (let r = 0; r < o.perClient; r++) {
          for (const side of order) for (const s of clients[side] as Socket[]) s.emit('chat:say', 'hello, world');
          if (r % 20 === 19) await tick();
        }
        await Promise.all([reach(plain, perPair * (pair + 1)), reach(policed, perPair * (pair + 1))]);
      }, [() => true, () => true]);
      const counts = await Promise.all(servers.map((s) => s.call<number>({ cmd: 'count' })));
      exact &&= counts.every((c) => c === perPair * (pair + 1));
      const pNs = ((a?.cpuUs ?? 0) * 1000) / perPair;
      const qNs = ((b?.cpuUs ?? 0) * 1000) / perPair;
      plainNs.push(pNs);
      policyNs.push(qNs);
      ratios.push(qNs / pNs);
    }
    return { events: perPair, ratios, ratio: spread(ratios), plainNs: spread(plainNs), policyNs: spread(policyNs), exact };
  } finally {
    for (const side of clients) for (const s of side) s.close();
    await stopAll(servers);
  }
}
