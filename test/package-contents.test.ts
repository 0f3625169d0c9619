/**
 * The package as a newcomer gets it: `npm pack` ships `dist/` (built on
 * `prepack`, which npm also runs for git installs), the source maps ship with
 * the sources they point to, and the README's Quick start compiles in a fresh
 * ESM project that imports the package by name. Needs `dist/` (`npm test` builds it first).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));

describe('the package', { timeout: 180_000 }, () => {
  let files: Set<string>;
  before(async () => {
    assert.ok(existsSync(join(ROOT, 'dist/index.js')), 'dist/ is missing: run `npm run build` (npm test does)');
    // --ignore-scripts: list what is there now, without rebuilding dist/ under the other tests.
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, timeout: 120_000 });
    const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
    files = new Set(pack?.files.map((f) => f.path));
  });

  it('builds on prepack (npm pack, npm publish and git installs) and ships dist/', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; type: string };
    assert.match(pkg.scripts.prepack ?? '', /npm run build/);
    assert.equal(pkg.type, 'module');
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/client/index.js', 'dist/cli/main.js', 'dist/adapters/ws.js', 'README.md']) {
      assert.ok(files.has(f), `${f} is not in the package`);
    }
    assert.ok(![...files].some((f) => f.startsWith('test/') || f.startsWith('examples/') || f.startsWith('bench/')));
  });

  it('ships the sources every source map points to', async () => {
    const maps = [...files].filter((f) => f.endsWith('.map'));
    assert.ok(maps.length > 10);
    for (const map of maps) {
      const { sources } = JSON.parse(await readFile(join(ROOT, map), 'utf8')) as { sources: string[] };
      for (const source of sources) {
        const path = normalize(join(dirname(map), source));
        assert.ok(files.has(path), `${map} points to ${path}, which is not shipped`);
      }
    }
  });

  describe("the README's Quick start", () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'portcullis-quickstart-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('compiles in a new ESM TypeScript project', async () => {
      const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
      const section = readme.slice(readme.indexOf('## Quick start'));
      const server = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
      assert.ok(server?.includes("from 'portcullis/socket.io'") === true, 'the first ts block of the Quick start');
      assert.ok(server !== undefined);
      const tsconfigBlock = /```json\n(\{[\s\S]*?"compilerOptions"[\s\S]*?)```/.exec(section)?.[1];
      assert.ok(tsconfigBlock !== undefined, 'the Quick start shows its tsconfig.json');
      await writeFile(join(dir, 'server.ts'), server);
      await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'newcomer', type: 'module', private: true }));
      const tsconfig = JSON.parse(tsconfigBlock) as { compilerOptions: Record<string, unknown> };
      tsconfig.compilerOptions.noEmit = true;
      await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ ...tsconfig, include: ['server.ts'] }));
      // The installed packages: this checkout as `portcullis` (its exports map and dist/), and its dependencies.
      await mkdir(join(dir, 'node_modules/@types'), { recursive: true });
      await symlink(ROOT, join(dir, 'node_modules/portcullis'), 'dir');
      for (const dep of ['socket.io', 'jose', '@types/node'])
        await symlink(join(ROOT, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
      const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
      await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, timeout: 120_000 }).catch((err: { stdout?: string }) => {
        assert.fail(`the Quick start does not compile:\n${err.stdout ?? String(err)}`);
      });
    });
  });
});
