/**
 * The ```ts blocks of the docs and what their markers say (shared by
 * test/docs.test.ts, which type-checks them, and test/docs-run.test.ts, which
 * runs the runnable ones). The convention (docs/development.md, "Snippets in the docs"):
 *
 * - one-line HTML comments right above the fence:
 *   `<!-- prelude: code -->` (prepended, e.g. `declare const io: …`),
 *   `<!-- run -->` (runs alone and must exit 0 by itself),
 *   `<!-- run: server -->` / `<!-- run: client -->` (the server runs until it prints a line, then the file's next
 *   `run: client` block runs and must exit 0, then the server gets SIGINT and must exit 0),
 *   `<!-- compile-only: why -->` (type-checked, not run), `<!-- not-compiled: why -->` (neither);
 * - `<!-- then: code -->` right below the closing fence (one or several lines): hidden code appended to a
 *   block when it is compiled and run, to exercise and close what the block opened.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** README.md and docs/*.md: the Markdown files whose snippets are checked. */
export const MARKDOWN = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

export type RunMode = 'alone' | 'server' | 'client';

export interface Block {
  readonly file: string;
  /** The fence's line (1-based). */
  readonly line: number;
  readonly code: string;
  readonly compiled: boolean;
  /** How the block runs, or `undefined` when it is only compiled. */
  readonly run: RunMode | undefined;
  /** Why it is compile-only (`<!-- compile-only: why -->`), if it says. */
  readonly compileOnly: string | undefined;
  readonly prelude: string;
  /** Hidden code after the fence (`<!-- then: … -->`). */
  readonly epilogue: string;
}

/** The ```ts blocks of a Markdown file, with their markers. */
export function blocks(file: string): Block[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const result: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = lines[i] ?? '';
    if (!fence.startsWith('```')) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    assert.notEqual(end, -1, `${file}:${i + 1}: unclosed fence`);
    if (fence.trim() === '```ts') {
      const marks: string[] = [];
      for (let j = i - 1; j >= 0 && /^<!--.*-->$/.test((lines[j] ?? '').trim()); j--) marks.push((lines[j] ?? '').trim());
      const mark = (re: RegExp): string | undefined => marks.map((m) => re.exec(m)?.[1]).find((v) => v !== undefined);
      const runMark = mark(/^<!-- (run(?:: \w+)?) -->$/);
      const run: RunMode | undefined =
        runMark === undefined ? undefined : runMark === 'run' ? 'alone' : (runMark.slice('run: '.length) as RunMode);
      assert.ok(run === undefined || ['alone', 'server', 'client'].includes(run), `${file}:${i + 1}: unknown ${runMark}`);
      let epilogue = '';
      const next = lines[end + 1] ?? '';
      if (next.startsWith('<!-- then:')) {
        const close = lines.findIndex((l, j) => j > end && l.trimEnd().endsWith('-->'));
        assert.notEqual(close, -1, `${file}:${end + 2}: unclosed <!-- then:`);
        epilogue = lines
          .slice(end + 1, close + 1)
          .join('\n')
          .replace(/^<!-- then:/, '')
          .replace(/-->\s*$/, '');
      }
      result.push({
        file,
        line: i + 1,
        code: lines.slice(i + 1, end).join('\n'),
        compiled: mark(/^<!-- (not-compiled)\b.*-->$/) === undefined,
        run,
        compileOnly: mark(/^<!-- compile-only: (.+) -->$/),
        prelude: mark(/^<!-- prelude: (.*) -->$/) ?? '',
        epilogue,
      });
    }
    i = end;
  }
  return result;
}

/** The source of a block as a module: prelude on line 1, the block from line 2, then its epilogue. */
export function moduleOf(b: Block): string {
  return `${b.prelude}\n${b.code}\n${b.epilogue}\nexport {};\n`;
}

/** `paths` for `portcullis` and each subpath of the exports map, pointing at `src/` (from a folder of ROOT). */
export function pathsFromExports(): Record<string, string[]> {
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

/** A tsconfig for a folder of ROOT holding snippets: the repository's options, `portcullis/*` mapped to `src/`. */
export function snippetTsconfig(): object {
  const base = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
  return {
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
}
