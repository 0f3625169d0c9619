/**
 * A private `redis-server` per test suite: its own child process on a free
 * loopback port (never the system Redis on 6379), no persistence, polled with
 * PING until it answers. Without the binary, tests skip loudly, or fail in CI.
 *
 * The binary is `redis-server` on the PATH, or `$REDIS_SERVER_BIN`.
 */

import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { after, before, describe, it } from 'node:test';

const BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const PORT_ATTEMPTS = 5;
const OUTPUT_LIMIT = 4_096;

/** A running (or stopped) private redis-server. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Whether the process is up. */
  readonly running: boolean;
  /** Stops the server (SIGTERM, then SIGKILL after a deadline) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (stopping it first if it runs) and waits for PING. */
  restart(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open, nothing answers. */
  pause(): void;
  /** Thaws a paused process (SIGCONT). */
  resume(): void;
}

export interface StartRedisOptions {
  /** Extra `redis-server` arguments, e.g. `['--rename-command', 'GETDEL', '']`. */
  args?: readonly string[];
  /**
   * Keep the data across `restart()`: one data directory for the server's life and
   * an append-only file fsynced on every write (`--appendonly yes --appendfsync always`).
   * @default false (no persistence: a restart starts empty)
   */
  persistent?: boolean;
}

type Availability = { readonly ok: true; readonly version: string } | { readonly ok: false; readonly reason: string };
let availability: Availability | undefined;
let warned = false;

/** Probes the binary once. */
function probe(): Availability {
  if (availability !== undefined) return availability;
  const result = spawnSync(BIN, ['--version'], { encoding: 'utf8', timeout: 5_000 });
  if (result.error !== undefined) availability = { ok: false, reason: `${BIN}: ${result.error.message}` };
  else if (result.status !== 0) availability = { ok: false, reason: `${BIN} --version exited with ${String(result.status)}` };
  else availability = { ok: true, version: result.stdout.trim() };
  return availability;
}

/**
 * True when `redis-server` can be started. When it cannot: throws if `CI=true`
 * (a CI run must not pass by skipping), otherwise warns on stderr (once) and
 * returns false.
 */
export function redisAvailable(): boolean {
  const found = probe();
  if (found.ok) return true;
  if (process.env.CI === 'true') throw new Error(`redis-server not installed (required when CI=true): ${found.reason}`);
  if (!warned) {
    warned = true;
    process.stderr.write(
      `\n!!! redis-server not installed: ${found.reason}. Redis tests are SKIPPED. Install redis-server to run them.\n\n`,
    );
  }
  return false;
}

/** Skips `t` loudly when redis-server is missing; returns true when it did. */
export function skipWithoutRedis(t: TestContext): boolean {
  if (redisAvailable()) return false;
  const found = probe();
  t.skip(`redis-server not installed: ${found.ok ? BIN : found.reason}`);
  return true;
}

/**
 * A `describe` block with its own redis-server, started before its tests and
 * stopped after them. `fn` gets an accessor for the server. Without the binary,
 * the block holds one loudly skipped test (or throws in CI).
 */
export function describeRedis(name: string, fn: (server: () => RedisServer) => void, options: StartRedisOptions = {}): void {
  if (!redisAvailable()) {
    describe(name, () => {
      it('needs redis-server', (t) => {
        skipWithoutRedis(t);
      });
    });
    return;
  }
  describe(name, () => {
    let server: RedisServer | undefined;
    before(async () => {
      server = await startRedis(options);
    });
    after(async () => {
      await server?.stop();
    });
    fn(() => {
      if (server === undefined) throw new Error('redis-server not started yet');
      return server;
    });
  });
}

/** A port that was free a moment ago (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** One PING over a raw socket: true on `+PONG`, false on anything else (refused, LOADING, timeout). */
function ping(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(Math.max(1, timeoutMs), () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/** Live servers and their scratch directories. */
const running = new Map<ChildProcess, string>();
/** Data directories of persistent servers, kept across restarts. */
const persistentDirs = new Set<string>();
process.on('exit', () => {
  // Last resort if a test crashed before stopping its server (no time to wait for it here).
  for (const [child, dir] of running) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  for (const dir of persistentDirs) rmSync(dir, { recursive: true, force: true });
});

interface Launched {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly dir: string;
}

/**
 * Spawns redis-server on `port` and polls PING until it answers, the process exits, or the deadline passes.
 * With `keptDir`, the data lives there (append-only file on) and outlives the process.
 */
async function launch(port: number, args: readonly string[], keptDir?: string): Promise<Launched> {
  const dir = keptDir ?? mkdtempSync(join(tmpdir(), 'portcullis-redis-'));
  const persistence = keptDir === undefined ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', 'always'];
  const child = spawn(
    BIN,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', dir, '--loglevel', 'warning', ...args],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.set(child, dir);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let alive = true;
  const exited = new Promise<void>((resolve) => {
    const onGone = (): void => {
      alive = false;
      running.delete(child);
      if (keptDir === undefined) rmSync(dir, { recursive: true, force: true });
      resolve();
    };
    child.once('exit', onGone);
    child.once('error', (err) => {
      keep(Buffer.from(String(err)));
      onGone();
    });
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!alive) throw new Error(`redis-server on port ${port} exited during start-up:\n${output}`);
    const left = deadline - Date.now();
    if (left <= 0) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`redis-server on port ${port} did not answer PING within ${START_TIMEOUT_MS} ms:\n${output}`);
    }
    if (await ping(port, left)) return { child, exited, dir };
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

async function terminate(launched: Launched): Promise<void> {
  const { child, exited } = launched;
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGCONT');
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), STOP_TIMEOUT_MS);
  });
  const outcome = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * Starts a private redis-server on a free loopback port. Throws when the binary
 * is missing (check {@link redisAvailable} first) or the server will not start.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const args = options.args ?? [];
  const keptDir = options.persistent === true ? mkdtempSync(join(tmpdir(), 'portcullis-redis-aof-')) : undefined;
  if (keptDir !== undefined) persistentDirs.add(keptDir);
  let current: Launched | undefined;
  let port = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt < PORT_ATTEMPTS && current === undefined; attempt++) {
    port = await freePort();
    try {
      current = await launch(port, args, keptDir);
    } catch (err) {
      // Most likely someone took the port between our probe and redis' bind.
      lastError = err;
    }
  }
  if (current === undefined) throw lastError;
  let up: Launched | undefined = current;
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return up !== undefined && up.child.exitCode === null && up.child.signalCode === null;
    },
    async stop() {
      const was = up;
      up = undefined;
      if (was !== undefined) await terminate(was);
    },
    async restart() {
      await server.stop();
      up = await launch(port, args, keptDir);
    },
    pause() {
      up?.child.kill('SIGSTOP');
    },
    resume() {
      up?.child.kill('SIGCONT');
    },
  };
  return server;
}

/** Polls an async `probe` (one call per macrotask turn, never sleeping) until it holds, or rejects after `timeoutMs`. */
export async function eventually(probe: () => Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
