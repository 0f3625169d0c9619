/**
 * The published surface: explicit subpath exports only (no wildcard publishing
 * internal modules), a root entry limited to the API, and declaration files
 * (built with `stripInternal`) that type-check for a consumer importing every
 * public subpath. Runs against `dist/` (`npm test` builds it first).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as source from '../src/protocol.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
};

const PUBLIC_STRATEGIES = ['jwt', 'ticket', 'hmac', 'session-cookie', 'tls-client-cert', 'custom', 'compose'];

function assertBuilt(): void {
  assert.ok(existsSync(`${root}dist/index.d.ts`), 'dist/ is missing: run `npm run build` first (npm test does)');
}

describe('package exports', () => {
  it('lists every public entry explicitly, each pointing at built files', () => {
    assertBuilt();
    for (const [key, target] of Object.entries(pkg.exports)) {
      assert.ok(!key.includes('*'), `no wildcard export (${key})`);
      for (const file of typeof target === 'string' ? [target] : [target.types, target.default]) {
        assert.ok(existsSync(`${root}${file}`), `${key} → ${file} exists`);
      }
    }
    const strategies = Object.keys(pkg.exports)
      .filter((key) => key.startsWith('./strategies/'))
      .map((key) => key.slice('./strategies/'.length));
    assert.deepEqual(strategies.sort(), [...PUBLIC_STRATEGIES].sort());
    assert.ok('./protocol' in pkg.exports);
  });

  it('refuses internal modules at run time and keeps internals out of the root entry', async () => {
    assertBuilt();
    for (const internal of ['portcullis/strategies/shared', 'portcullis/strategies/jwt-claims', 'portcullis/core/connection']) {
      await assert.rejects(import(internal), (err: { code?: string }) => err.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED', internal);
    }
    // Specifiers in variables: the main typecheck runs before the build, when `dist/` may not exist.
    const load = (specifier: string): Promise<Record<string, unknown>> => import(specifier);
    const rootEntry = await load('portcullis');
    for (const name of ['Connection', 'TRANSITIONS', 'nextState', 'createDeadlineQueue', 'sanitizeCredentials']) {
      assert.equal(name in rootEntry, false, `${name} is not exported from the root`);
    }
    for (const name of ['createGuard', 'AuthError', 'DEFAULTS', 'createMemoryStore', 'createCustomStrategy']) {
      assert.ok(name in rootEntry, `${name} is exported from the root`);
    }
    const protocol = await load('portcullis/protocol');
    assert.deepEqual(Object.keys(protocol).sort(), Object.keys(source).sort());
    assert.deepEqual(protocol.ERROR_CODES, source.ERROR_CODES);
  });

  it('type-checks a consumer of every public subpath against the built declarations', { timeout: 180_000 }, async () => {
    assertBuilt();
    const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
    try {
      await run(process.execPath, [tsc, '-p', 'test/fixtures/consumer/tsconfig.json'], { cwd: root, timeout: 170_000 });
    } catch (err) {
      const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
      assert.fail(`the consumer fixture does not type-check:\n${stdout}${stderr}`);
    }
  });
});
