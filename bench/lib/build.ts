/**
 * The servers under test run compiled JavaScript, as users run the library
 * (`tsc` output, like `dist/`), not TypeScript through a loader: `tsx` wraps
 * every named function in `__name()`, which costs CPU on every call site that
 * creates a closure and gives each such closure a 256-byte property dictionary,
 * a bias against the library that vanilla `node_modules` code never pays.
 *
 * `ensureBuilt()` compiles `src/`, `bench/servers/` and `bench/lib/` with
 * `bench/tsconfig.json` into `.bench-out/<fingerprint>/` (git-ignored), once per
 * source state; concurrent runs each build into a temporary directory and
 * rename it into place.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, '.bench-out');
const SOURCES = ['src', 'bench/servers', 'bench/lib', 'bench/cluster'];

function walk(dir: string, files: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, files);
    else if (entry.name.endsWith('.ts')) files.push(path);
  }
}

/** A fingerprint of the sources: paths, sizes and modification times. */
function fingerprint(): string {
  const files: string[] = [];
  for (const dir of SOURCES) walk(join(ROOT, dir), files);
  files.push(join(ROOT, 'bench/tsconfig.json'), join(ROOT, 'tsconfig.json'));
  const hash = createHash('sha256');
  for (const file of files.sort()) {
    const st = statSync(file);
    hash.update(`${file}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

let built: string | undefined;

/**
 * Compiles if needed; returns the root of the build (holding `src/` and
 * `bench/servers/`). The first answer holds for the whole process, so every
 * server of one run runs the same code even while the sources change.
 */
export function ensureBuilt(): string {
  built ??= build();
  return built;
}

/**
 * Imports a compiled module of the build, e.g. `compiled<typeof import('../../src/core/guard.js')>('src/core/guard.js')`:
 * in-process measurements run the same JavaScript the servers run.
 */
export function compiled<T>(path: string): Promise<T> {
  return import(pathToFileURL(join(ensureBuilt(), path)).href) as Promise<T>;
}

function build(): string {
  const id = fingerprint();
  const dir = join(OUT, id);
  if (existsSync(join(dir, 'bench', 'servers', 'harness.js'))) return dir;
  mkdirSync(OUT, { recursive: true });
  const tmp = join(OUT, `${id}.tmp-${process.pid}`);
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'bench', 'tsconfig.json'), '--outDir', tmp], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
  // tsc emits despite type errors (status 2): a tree in the middle of an edit still runs.
  if (!existsSync(join(tmp, 'bench', 'servers', 'harness.js'))) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`compiling the servers failed:\n${result.stdout}${result.stderr}`);
  }
  if (result.status !== 0) process.stderr.write(`bench: tsc reported errors (the emitted code is used):\n${result.stdout}\n`);
  try {
    renameSync(tmp, dir);
  } catch {
    // Another run finished the same build first.
    rmSync(tmp, { recursive: true, force: true });
  }
  // Keep the latest few builds only.
  const builds = readdirSync(OUT)
    .filter((name) => name !== id && /^[0-9a-f]{16}$/.test(name))
    .map((name) => ({ name, at: statSync(join(OUT, name)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const old of builds.slice(2)) rmSync(join(OUT, old.name), { recursive: true, force: true });
  return dir;
}
