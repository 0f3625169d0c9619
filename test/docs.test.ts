/**
 * The docs can't rot: every ```ts block of README.md and docs/*.md is type-checked
 * against the sources (`portcullis/*` mapped to `src/` through `paths`, as the
 * exports map names them), in one `tsc --noEmit` run; and every relative link of
 * the Markdown files points to a file that exists and, with a `#fragment`, to a
 * heading of that file.
 *
 * A block that is a fragment opts out with `<!-- not-compiled: why -->` on the line
 * before its fence. A block may declare what it assumes on a hidden line:
 * `<!-- prelude: declare const io: import('socket.io').Server; -->` right before the
 * fence (or before `<!-- not-compiled -->`), prepended when it is compiled.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, '.tmp-docs');

/** README.md, docs/*.md, and the root documents that link into them. */
const MARKDOWN = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const LINKED = [...MARKDOWN, 'PROTOCOL.md', 'SECURITY.md', 'ARCHITECTURE.md', 'BENCHMARKS.md', 'CHANGELOG.md'];

interface Block {
  readonly file: string;
  readonly line: number;
  readonly code: string;
  readonly compiled: boolean;
  readonly prelude: string;
}

/** The ```ts blocks of a Markdown file, with their opt-out marker and prelude. */
function blocks(file: string): Block[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const result: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = lines[i] ?? '';
    if (!fence.startsWith('```')) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    assert.notEqual(end, -1, `${file}:${i + 1}: unclosed fence`);
    if (fence.trim() === '```ts') {
      const marks = [lines[i - 1] ?? '', lines[i - 2] ?? ''];
      const compiled = !marks.some((m) => /^<!-- not-compiled\b.*-->$/.test(m.trim()));
      const prelude = marks.map((m) => /^<!-- prelude: (.*) -->$/.exec(m.trim())?.[1]).find((p) => p !== undefined) ?? '';
      result.push({ file, line: i + 1, code: lines.slice(i + 1, end).join('\n'), compiled, prelude });
    }
    i = end;
  }
  return result;
}

/** `paths` for `portcullis` and each subpath of the exports map, pointing at `src/`. */
function pathsFromExports(): Record<string, string[]> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, { types?: string } | string>;
  };
  const paths: Record<string, string[]> = {};
  for (const [key, target] of Object.entries(pkg.exports)) {
    const types = typeof target === 'string' ? target : target.types;
    if (types === undefined || !types.startsWith('./dist/')) continue;
    const source = `../src/${types.slice('./dist/'.length).replace(/\.d\.ts$/, '.ts')}`;
    paths[key === '.' ? 'portcullis' : `portcullis/${key.slice(2)}`] = [source];
  }
  return paths;
}

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
      await writeFile(join(OUT, name), `${b.prelude}\n${b.code}\nexport {};\n`);
    }
    const base = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
    const tsconfig = {
      compilerOptions: {
        ...base.compilerOptions,
        rootDir: '..',
        // Browser snippets (docs/client.md) use the DOM.
        lib: [...(base.compilerOptions.lib as string[]), 'DOM'],
        noEmit: true,
        declaration: false,
        sourceMap: false,
        // Snippets show values they do not use afterwards.
        noUnusedLocals: false,
        paths: pathsFromExports(),
      },
      include: ['*.ts'],
    };
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
