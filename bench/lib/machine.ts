/**
 * What the results were measured on: the machine, the versions of everything
 * measured, and the commit (read-only git commands).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, release, totalmem } from 'node:os';

export interface Machine {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly openFilesLimit: string;
}

export interface Versions {
  readonly [name: string]: string;
}

function tryRun(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

export function machine(): Machine {
  let cpuModel = 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line !== undefined) cpuModel = line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux
  }
  return {
    nproc: availableParallelism(),
    cpuModel,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    openFilesLimit: tryRun('bash', ['-c', 'ulimit -n']),
  };
}

const PACKAGES = [
  'socket.io',
  'engine.io',
  'ws',
  'jose',
  'jsonwebtoken',
  '@thream/socketio-jwt',
  'socket.io-client',
  'ioredis',
  '@socket.io/redis-adapter',
  'tsx',
] as const;

export function versions(): Versions {
  const out: Record<string, string> = {};
  for (const name of PACKAGES) {
    try {
      const file = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
      out[name] = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    } catch {
      out[name] = 'unknown';
    }
  }
  const own = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  out.portcullis = own.version;
  out['redis-server'] = tryRun('redis-server', ['--version']).replace(/^Redis server v=(\S+).*$/, '$1');
  return out;
}

export function gitState(): { readonly commit: string; readonly dirty: boolean } {
  const commit = tryRun('git', ['rev-parse', '--short', 'HEAD']);
  const status = tryRun('git', ['status', '--porcelain', '--untracked-files=no']);
  return { commit, dirty: status !== '' && status !== 'unknown' };
}
