/**
 * Figure 6: revocation latency across two processes sharing Redis. A client is
 * connected to node B; the load process asks node A to revoke its user and
 * times how long until the client receives `unauthorized` (IPC to node A
 * included). The same is timed on a vanilla cluster doing the app-level
 * equivalent (a room per user, emit + disconnect through the Redis adapter):
 * the floor of any cross-node signal.
 */
import { type Client, connect, dropAll, userAddress } from '../lib/attempt.js';
import { type ServerHandle, startServer, stopAll } from '../lib/children.js';
import { type KeyMaterial, publicMaterial, signTokens } from '../lib/credentials.js';
import { until } from '../lib/load.js';
import { quantile, type Spread, spread } from '../lib/stats.js';
import type { Variant } from '../servers/protocol.js';

export interface RevocationOptions {
  /** Revocations per cluster. */
  readonly revocations: number;
}

export interface RevocationResult {
  readonly samples: number;
  /** ms */
  readonly portcullis: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly vanilla: { readonly p50: number; readonly p99: number; readonly max: number };
  /** portcullis p50 / vanilla p50 */
  readonly p50Ratio: number;
  readonly portcullisMs: Spread;
  readonly vanillaMs: Spread;
}

interface RedisLike {
  readonly url: string;
  stop(): Promise<void>;
}

async function startRedisServer(): Promise<RedisLike> {
  // The test helper starts a private redis-server on a free loopback port.
  const { startRedis, redisAvailable } = await import('../../test/helpers/redis.js');
  if (!redisAvailable()) throw new Error('redis-server is not installed: the revocation figure needs it');
  return startRedis();
}

export async function runRevocation(keys: KeyMaterial, o: RevocationOptions): Promise<RevocationResult> {
  const redis = await startRedisServer();
  const nodes: ServerHandle[] = [];
  const clients: Client[] = [];
  try {
    const start = (variant: Variant, name: string): Promise<ServerHandle> =>
      startServer('cluster-node.ts', {
        name,
        transport: 'socket.io',
        variant,
        strategy: 'jwt-hs256',
        mode: 'handshake',
        keys: publicMaterial(keys),
        redisUrl: redis.url,
      });
    nodes.push(
      ...(await Promise.all([
        start('portcullis', 'portcullis-A'),
        start('portcullis', 'portcullis-B'),
        start('vanilla', 'vanilla-A'),
        start('vanilla', 'vanilla-B'),
      ])),
    );
    const [libA, libB, vanA, vanB] = nodes as [ServerHandle, ServerHandle, ServerHandle, ServerHandle];
    const tokens = await signTokens(keys, 'HS256', o.revocations);
    const lib: number[] = [];
    const van: number[] = [];
    // Revoke each user once on each cluster, alternating which cluster goes first.
    for (let i = 0; i < o.revocations; i++) {
      const auth = { token: tokens[i] as string };
      const [cl, cv] = await Promise.all([
        connect({ transport: 'socket.io', base: libB.base, flow: 'handshake', auth, localAddress: userAddress(i) }),
        connect({ transport: 'socket.io', base: vanB.base, flow: 'handshake', auth, localAddress: userAddress(i) }),
      ]);
      clients.push(cl, cv);
      if (!cl.ok || !cv.ok) throw new Error(`revocation: could not connect (${cl.code}, ${cv.code})`);
      const time = async (client: Client, node: ServerHandle): Promise<number> => {
        let seen = 0;
        client.onUnauthorized(() => {
          seen = performance.now();
        });
        const t0 = performance.now();
        await node.call({ cmd: 'revoke', userId: `user-${i}` });
        await until(() => seen !== 0, 5_000, `unauthorized on ${node.name}`);
        return seen - t0;
      };
      if (i % 2 === 0) {
        lib.push(await time(cl, libA));
        van.push(await time(cv, vanA));
      } else {
        van.push(await time(cv, vanA));
        lib.push(await time(cl, libA));
      }
      cl.terminate();
      cv.terminate();
    }
    const summary = (xs: number[]) => ({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: Math.max(...xs) });
    const pl = summary(lib);
    const pv = summary(van);
    return {
      samples: lib.length,
      portcullis: pl,
      vanilla: pv,
      p50Ratio: pl.p50 / pv.p50,
      portcullisMs: spread(lib),
      vanillaMs: spread(van),
    };
  } finally {
    dropAll(clients);
    await stopAll(nodes);
    await redis.stop();
  }
}
