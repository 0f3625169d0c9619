/**
 * The cluster recipe (docs/cluster.md) as `npm run bench:cluster` runs it
 * (`bench/cluster/node.ts`), small: 2 workers behind one port (Node's `cluster`,
 * `@socket.io/sticky`), the Redis adapter and store on a private redis-server.
 * Sockets land on both workers; a revocation on one worker reaches a client of
 * the other; a one-time ticket presented to both workers at once wins once; a
 * worker killed and restarted refuses what was revoked and used before.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import type { ClusterConfig, WorkerInfo } from '../../bench/cluster/protocol.js';
import { type Child, start } from '../../bench/cluster/rpc.js';
import { SioClient } from '../../bench/lib/eio-client.js';
import { WsClient } from '../../bench/lib/ws-client.js';
import { createRedisStore } from '../../src/stores/redis.js';
import { createTicketIssuer } from '../../src/strategies/ticket.js';
import { describeRedis } from '../helpers/redis.js';
import { waitUntil, withDeadline } from '../helpers/wait.js';

const NODE = fileURLToPath(new URL('../../bench/cluster/node.ts', import.meta.url));
const SECRET = randomBytes(32);
const SOCKETS = 200;
const DEADLINE_MS = 15_000;

type Client = SioClient | WsClient;
interface Held {
  readonly i: number;
  readonly client: Client;
  readonly token: string;
  node: number;
}

async function token(i: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(`user-${i}`)
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(SECRET);
}

/** A raw client of either transport (the `ws` guard is on `/ws/`), from loopback address `127.0.9.<n>`. */
function open(base: string, i: number, auth: Record<string, string>): Client {
  const localAddress = `127.0.9.${1 + (i % 250)}`;
  return i % 2 === 0
    ? new SioClient({ base, flow: 'handshake', auth, localAddress, timeoutMs: DEADLINE_MS })
    : new WsClient({ base: `${base}/ws`, flow: 'upgrade', auth, localAddress, timeoutMs: DEADLINE_MS });
}

/** Resolves when `client` is told it is revoked (`unauthorized`, or close 4403), rejects after the deadline. */
function revoked(client: Client): Promise<void> {
  return withDeadline(
    new Promise<void>((resolve) => {
      if (client instanceof SioClient) client.onUnauthorized = () => resolve();
      else client.ws.on('close', (code: number) => code === 4403 && resolve());
    }),
    DEADLINE_MS,
    'the revocation to reach the client',
  );
}

describeRedis('a sticky cluster of 2 workers sharing Redis', (server) => {
  let primary: Child | undefined;
  let base = '';
  let workers: WorkerInfo[] = [];
  const held: Held[] = [];
  const redis = (): Redis => new Redis(server().url, { enableOfflineQueue: false, lazyConnect: true });
  let issuerClient: Redis | undefined;
  const prefix = `sticky-${randomBytes(3).toString('hex')}:`;

  before(async () => {
    const config: ClusterConfig = { workers: 2, redisUrl: server().url, hs256Secret: SECRET.toString('base64url'), prefix };
    primary = await start(NODE, { CLUSTER_CONFIG: JSON.stringify(config) }, 60_000, ['--import', 'tsx']);
    base = `ws://127.0.0.1:${String(primary.ready.port)}`;
    workers = await primary.call<WorkerInfo[]>({ cmd: 'workers' });
    issuerClient = redis();
    issuerClient.on('error', () => {});
    await issuerClient.connect();
  });

  after(async () => {
    for (const h of held) h.client.terminate();
    await primary?.call({ cmd: 'stop' }, 5_000).catch(() => {});
    await primary?.kill();
    issuerClient?.disconnect();
  });

  it('spreads authenticated sockets of both transports over both workers', { timeout: 60_000 }, async () => {
    // A transport that closes before its verdict (seen once in a CI run: one socket of 200 in the Socket.IO handshake
    // through sticky's hand-off) is retried once, as any client reconnects; a refusal is never retried, and more than
    // a few lost transports fail the test.
    let retried = 0;
    for (let i = 0; i < SOCKETS; i++) {
      const t = await token(i);
      let h: Held | undefined;
      for (let attempt = 0; attempt < 2; attempt++) {
        const client = open(base, i, { token: t });
        const candidate: Held = { i, client, token: t, node: -1 };
        client.ws.on('message', (data: Buffer) => {
          const m = /^42\["node",(\d)\]|^\{"type":"node","payload":(\d)\}/.exec(data.toString('utf8'));
          if (m !== null) candidate.node = Number(m[1] ?? m[2]);
        });
        const outcome = await client.outcome;
        if (outcome.ok) {
          h = candidate;
          break;
        }
        const lost = outcome.code === 'closed' || outcome.code === 'socket_error';
        assert.ok(lost && attempt === 0, `socket ${i}: ${outcome.code}`);
        retried++;
      }
      held.push(h as Held);
    }
    assert.ok(retried <= 4, `${retried} of ${SOCKETS} transports lost before their verdict`);
    await waitUntil(() => held.every((h) => h.node >= 0), DEADLINE_MS, 'every socket to learn its worker');
    const on0 = held.filter((h) => h.node === 0).length;
    assert.ok(on0 > SOCKETS / 4 && on0 < (SOCKETS * 3) / 4, `round-robin over 2 workers: ${on0} of ${SOCKETS} on worker 0`);
  });

  it('a revocation on one worker closes the client held by the other', { timeout: 60_000 }, async () => {
    const sample = held.filter((_h, k) => k % 20 === 0);
    for (const h of sample) {
      const seen = revoked(h.client);
      await primary?.call({ cmd: 'to', slot: 1 - h.node, body: { cmd: 'revoke', userId: `user-${h.i}` } });
      await seen;
    }
  });

  it('one ticket presented to both workers at once, on both transports, is admitted once', { timeout: 60_000 }, async () => {
    const issuer = createTicketIssuer({ store: createRedisStore({ client: issuerClient as Redis, prefix }), ttlSec: 60 });
    const counts = new Map<number, number>();
    for (let round = 0; round < 5; round++) {
      const tickets = await Promise.all(Array.from({ length: 10 }, (_, k) => issuer.issue({ id: `race-${round}-${k}` })));
      const wins = await Promise.all(
        tickets.map(async ({ ticket }, k) => {
          const tries = workers.flatMap((w, n) =>
            [0, 1].map((copy) => open(`ws://127.0.0.1:${w.directPort}`, round * 40 + k * 4 + n * 2 + copy, { ticket })),
          );
          const outcomes = await Promise.all(tries.map((c) => c.outcome));
          for (const c of tries) c.terminate();
          return outcomes.filter((o) => o.ok).length;
        }),
      );
      for (const n of wins) counts.set(n, (counts.get(n) ?? 0) + 1);
    }
    assert.deepEqual([...counts], [[1, 50]]);
  });

  it('a worker killed and restarted refuses a user revoked after the kill, and a used ticket', { timeout: 60_000 }, async () => {
    const victim = workers[0] as WorkerInfo;
    const issuer = createTicketIssuer({ store: createRedisStore({ client: issuerClient as Redis, prefix }), ttlSec: 60 });
    const { ticket } = await issuer.issue({ id: 'ticket-user' });
    const first = open(base, 0, { ticket });
    assert.equal((await first.outcome).ok, true);
    first.terminate();
    const user = held.find((h) => h.i % 20 !== 0) as Held;
    await primary?.call({ cmd: 'kill', slot: 0 });
    await primary?.call({ cmd: 'to', slot: 1, body: { cmd: 'revoke', userId: `user-${user.i}` } });
    const restarted = await primary?.call<WorkerInfo>({ cmd: 'ready', slot: 0, notPid: victim.pid }, DEADLINE_MS);
    assert.notEqual(restarted?.pid, victim.pid);
    const direct = `ws://127.0.0.1:${restarted?.directPort}`;
    const stale = [open(direct, 2, { token: user.token }), open(direct, 3, { token: user.token })];
    const replay = [open(direct, 4, { ticket }), open(direct, 5, { ticket })];
    const codes = (await Promise.all([...stale, ...replay].map((c) => c.outcome))).map((o) => (o.ok ? 'ok' : o.code));
    for (const c of [...stale, ...replay]) c.terminate();
    assert.deepEqual(codes, ['revoked', 'http_403', 'invalid_credentials', 'http_401']);
    // And a fresh login is admitted by the restarted worker.
    const fresh = open(direct, 6, { token: await token(SOCKETS + 1) });
    assert.equal((await fresh.outcome).ok, true);
    fresh.terminate();
  });
});
