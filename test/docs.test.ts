/**
 * The docs can't rot: every ```ts block of README.md and docs/*.md is type-checked
 * against the sources (`portcullis/*` mapped to `src/` through `paths`, as the
 * exports map names them), in one `tsc --noEmit` run; every block says whether it
 * runs (test/docs-run.test.ts runs those) or why it is only compiled; every
 * relative link of the Markdown files points to a file that exists and, with a
 * `#fragment`, to a heading of that file; and the CHANGELOG's top version is the
 * package's. The markers are described in test/helpers/markdown.ts and
 * docs/development.md ("Snippets in the docs").
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type Block, blocks, MARKDOWN, moduleOf, ROOT, snippetTsconfig } from './helpers/markdown.js';

const run = promisify(execFile);
const OUT = join(ROOT, '.tmp-docs');

/** The root documents that link into the docs. */
const LINKED = [...MARKDOWN, 'PROTOCOL.md', 'SECURITY.md', 'ARCHITECTURE.md', 'BENCHMARKS.md', 'CHANGELOG.md'];

/** GitHub's anchor of a heading. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');
}

/** The anchors of a Markdown file (headings outside code fences). */
function anchors(file: string): Set<string> {
  const result = new Set<string>();
  let inCode = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    const m = /^#{1,6} (.*)$/.exec(line);
    if (!inCode && m !== null) result.add(slug(m[1] as string));
  }
  return result;
}

describe('docs', () => {
  it('every relative link points to an existing file and heading', () => {
    const broken: string[] = [];
    for (const file of LINKED) {
      let inCode = false;
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, n) => {
          if (line.startsWith('```')) inCode = !inCode;
          if (inCode) return;
          for (const [, target] of line.matchAll(/\]\(([^)\s]+)\)/g)) {
            if (target === undefined || /^[a-z]+:/.test(target)) continue;
            const [path = '', fragment] = target.split('#');
            const abs = path === '' ? join(ROOT, file) : resolve(ROOT, dirname(file), path);
            if (!existsSync(abs)) broken.push(`${file}:${n + 1}: ${target} (no such file)`);
            else if (fragment !== undefined && abs.endsWith('.md') && !anchors(abs).has(fragment))
              broken.push(`${file}:${n + 1}: ${target} (no such heading in ${relative(ROOT, abs)})`);
          }
        });
    }
    assert.deepEqual(broken, []);
  });

  it("the CHANGELOG's top version heading is package.json's version", () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const top = /^## \[(\d+\.\d+\.\d+[^\]]*)\]/m.exec(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8'))?.[1];
    assert.equal(top, version);
  });

  it('every compiled ts block either runs or says why it is only compiled', () => {
    const silent = MARKDOWN.flatMap(blocks)
      .filter((b) => b.compiled && b.run === undefined && b.compileOnly === undefined)
      .map((b) => `${b.file}:${b.line}`);
    assert.deepEqual(silent, [], 'mark each with <!-- run -->, <!-- run: server|client --> or <!-- compile-only: why -->');
  });

  it('every ts block of README.md and docs/*.md type-checks', { timeout: 240_000 }, async () => {
    const all = MARKDOWN.flatMap(blocks);
    const compiled = all.filter((b) => b.compiled);
    assert.ok(compiled.length > 0);
    await rm(OUT, { recursive: true, force: true });
    await mkdir(OUT, { recursive: true });
    const names = new Map<string, Block>();
    for (const b of compiled) {
      const name = `${b.file.replace(/[/.]/g, '_')}_L${b.line}.ts`;
      names.set(name, b);
      // Each block is its own module (top-level await allowed, names never clash).
      await writeFile(join(OUT, name), moduleOf(b));
    }
    const tsconfig = snippetTsconfig();
    await writeFile(join(OUT, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    await writeFile(join(OUT, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    try {
      await run(process.execPath, [tsc, '-p', join(OUT, 'tsconfig.json')], { cwd: OUT, timeout: 200_000, maxBuffer: 16 << 20 });
    } catch (err) {
      const out = String((err as { stdout?: string }).stdout ?? err);
      // Point each error at the Markdown line it comes from.
      const located = out.replace(/^([\w.-]+\.ts)\((\d+),(\d+)\)/gm, (whole, name: string, line: string) => {
        const b = names.get(name);
        // Line 1 of the file is the prelude; the block's first line is line 2, the fence's next line.
        return b === undefined ? whole : `${b.file}:${b.line + Number(line) - 1}`;
      });
      assert.fail(`docs snippets do not compile:\n${located}`);
    }
    await rm(OUT, { recursive: true, force: true });
  });
});
