/**
 * The runnable docs snippets run: each block marked `<!-- run -->` (README.md,
 * docs/*.md) runs in its own Node process (tsx, `portcullis/*` mapped to `src/`)
 * and must exit 0 by itself within the deadline, which it only does once it has
 * closed everything it opened. A `<!-- run: server -->` block runs until it
 * prints its first line; then the file's next `<!-- run: client -->` block runs
 * and must exit 0; then the server gets SIGINT and must exit 0 by itself.
 * Servers listen on loopback only (test/helpers/docs-loopback.ts), and the port
 * `3000` the snippets use is replaced by a free one. Markers:
 * test/helpers/markdown.ts and docs/development.md.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Block, blocks, MARKDOWN, moduleOf, ROOT, snippetTsconfig } from './helpers/markdown.js';

const OUT = join(ROOT, '.tmp-docs-run');
/** Per process: tsx compiles on two loaded cores. */
const DEADLINE_MS = 30_000;
const PRELOAD = join(ROOT, 'test/helpers/docs-loopback.ts');

/** A free loopback port (the kernel's pick, released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Running {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Settles with the exit code (or the signal's name) once the process ended, or rejects after the deadline. */
  readonly exited: Promise<number | string>;
  /** Resolves once the process wrote its first line to stdout. */
  readonly firstLine: Promise<void>;
}

async function start(b: Block, port: number): Promise<Running> {
  const name = `${b.file.replace(/[/.]/g, '_')}_L${b.line}.ts`;
  await writeFile(join(OUT, name), moduleOf(b).replace(/\b3000\b/g, String(port)));
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', PRELOAD, name], {
    cwd: OUT,
    env: { ...process.env, NODE_ENV: 'test', JWT_SECRET: randomBytes(24).toString('base64url'), NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let firstLine: () => void = () => {};
  const first = new Promise<void>((resolve) => {
    firstLine = resolve;
  });
  child.stdout?.on('data', (d: Buffer) => {
    out += d;
    if (out.includes('\n')) firstLine();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d;
  });
  const exited = new Promise<number | string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${b.file}:${b.line} did not exit within ${DEADLINE_MS} ms (something it opened is still open):\n${out}`));
    }, DEADLINE_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return { child, output: () => out, exited, firstLine: first };
}

async function mustExit0(r: Running, where: string): Promise<void> {
  const code = await r.exited;
  assert.equal(code, 0, `${where} exited with ${code}:\n${r.output()}`);
}

const all = MARKDOWN.flatMap(blocks).filter((b) => b.compiled && b.run !== undefined);

describe('docs snippets that run standalone', () => {
  before(async () => {
    await rm(OUT, { recursive: true, force: true });
    await mkdir(OUT, { recursive: true });
    await writeFile(join(OUT, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    await writeFile(join(OUT, 'tsconfig.json'), JSON.stringify(snippetTsconfig(), null, 2));
  });
  after(() => rm(OUT, { recursive: true, force: true }));

  it('some are marked to run', () => {
    assert.ok(all.filter((b) => b.run === 'alone').length >= 5);
    assert.ok(all.some((b) => b.run === 'server'));
  });

  for (const b of all.filter((x) => x.run === 'alone')) {
    it(`${b.file}:${b.line} runs and exits 0`, { timeout: DEADLINE_MS + 5000 }, async () => {
      await mustExit0(await start(b, await freePort()), `${b.file}:${b.line}`);
    });
  }

  for (const server of all.filter((x) => x.run === 'server')) {
    const client = all.find((x) => x.file === server.file && x.line > server.line && x.run === 'client');
    it(`${server.file}:${server.line} serves ${server.file}:${client?.line}, then stops on SIGINT`, {
      timeout: 3 * DEADLINE_MS,
    }, async () => {
      assert.ok(client, `${server.file}:${server.line}: no <!-- run: client --> block after it`);
      const port = await freePort();
      const s = await start(server, port);
      try {
        await Promise.race([
          s.firstLine,
          s.exited.then((code) => assert.fail(`server exited (${code}) before it printed:\n${s.output()}`)),
        ]);
        const c = await start(client, port);
        await mustExit0(c, `${client.file}:${client.line}`);
        s.child.kill('SIGINT');
        await mustExit0(s, `${server.file}:${server.line} after SIGINT`);
      } finally {
        if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
      }
    });
  }
});
