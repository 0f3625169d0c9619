/**
 * A private Redis Cluster per test suite: three `redis-server --cluster-enabled yes`
 * on free loopback ports (each with its own cluster config file in its scratch
 * directory), joined with `redis-cli --cluster create … --cluster-replicas 0`,
 * and polled until every node reports `cluster_state:ok`, knows every node and
 * serves every slot.
 *
 * Needs `redis-server` and `redis-cli` (Debian's `redis-server` package depends on
 * `redis-tools`, which ships `redis-cli`); `$REDIS_CLI_BIN` points at another
 * one. Without them the tests skip loudly, or fail when `CI=true`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import type { RedisServer } from './redis.js';
import { redisAvailable, startRedis } from './redis.js';

const CLI = process.env.REDIS_CLI_BIN ?? 'redis-cli';
const NODES = 3;
const CREATE_TIMEOUT_MS = 20_000;
const STATE_TIMEOUT_MS = 15_000;

/** A running cluster of {@link NODES} primaries. */
export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  /** Seeds for ioredis `Cluster`: `[{ host, port }]`. */
  readonly seeds: readonly { host: string; port: number }[];
  stop(): Promise<void>;
}

let cliProbe: { ok: true } | { ok: false; reason: string } | undefined;
let warned = false;

/**
 * True when both binaries run. When not: throws if `CI=true`, otherwise warns on
 * stderr (once) and returns false.
 */
export function redisClusterAvailable(): boolean {
  if (!redisAvailable()) return false;
  if (cliProbe === undefined) {
    const result = spawnSync(CLI, ['--version'], { encoding: 'utf8', timeout: 5_000 });
    cliProbe =
      result.error !== undefined
        ? { ok: false, reason: `${CLI}: ${result.error.message}` }
        : result.status !== 0
          ? { ok: false, reason: `${CLI} --version exited with ${String(result.status)}` }
          : { ok: true };
  }
  if (cliProbe.ok) return true;
  if (process.env.CI === 'true') throw new Error(`redis-cli not installed (required when CI=true): ${cliProbe.reason}`);
  if (!warned) {
    warned = true;
    process.stderr.write(`\n!!! redis-cli not installed: ${cliProbe.reason}. Redis Cluster tests are SKIPPED.\n\n`);
  }
  return false;
}

/** `describe` that holds one loudly skipped test when the cluster cannot be started. */
export function describeRedisCluster(name: string, fn: () => void): void {
  if (!redisClusterAvailable()) {
    describe(name, () => {
      it('needs redis-server and redis-cli', (t) => {
        t.skip('redis-server or redis-cli not installed');
      });
    });
    return;
  }
  describe(name, fn);
}

/** One inline command over a raw socket; resolves the raw reply (`''` on any failure). */
function rawCommand(port: number, command: string, until: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (): void => {
      socket.destroy();
      resolve(reply);
    };
    socket.setTimeout(Math.max(1, timeoutMs), done);
    socket.on('error', done);
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes(until) || reply.startsWith('-')) done();
    });
  });
}

/** Runs `redis-cli --cluster create` and resolves once it exits 0 (rejects with its output otherwise). */
function createCluster(ports: readonly number[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'];
    const child = spawn(CLI, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-4_096);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), CREATE_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`redis-cli --cluster create exited with ${String(code)}:\n${output}`));
    });
  });
}

/** Starts three cluster-enabled servers, joins them, and waits for `cluster_state:ok` on each. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    // Each server runs in its own scratch directory: the config file is per node.
    const args = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'];
    const started = await Promise.allSettled(Array.from({ length: NODES }, () => startRedis({ args })));
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    await createCluster(nodes.map((n) => n.port));
    const deadline = Date.now() + STATE_TIMEOUT_MS;
    for (const node of nodes) {
      for (;;) {
        const info = await rawCommand(node.port, 'CLUSTER INFO', 'cluster_state:', Math.max(1, deadline - Date.now()));
        // `ok` on a node can come before it has heard of every other node: wait for the whole map too.
        if (info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${NODES}`) && info.includes('cluster_slots_ok:16384'))
          break;
        if (Date.now() > deadline) throw new Error(`redis cluster node ${node.port} not ok within ${STATE_TIMEOUT_MS} ms:\n${info}`);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, seeds: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), stop };
}
