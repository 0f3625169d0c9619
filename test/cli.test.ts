import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createManualClock } from '../src/core/clock.js';
import { sanitizeCredentials } from '../src/core/sanitize.js';
import { ERROR_CODES } from '../src/errors.js';
import { CODE_HEADER, PROTOCOL_VERSION } from '../src/protocol.js';
import { createHmacStrategy } from '../src/strategies/hmac.js';
import { makeContext } from './helpers/auth-context.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env }, timeout: 20_000 });

describe('portcullis CLI', () => {
  it('prints the code table', async () => {
    const { stdout } = await cli(['codes']);
    for (const [code, info] of Object.entries(ERROR_CODES))
      assert.match(stdout, new RegExp(`^${code}\\s+${info.closeCode}\\s+${info.status}`, 'm'));
  });

  it('prints the code table of the wire module, every column, as text and as JSON', async () => {
    const { stdout } = await cli(['codes']);
    assert.match(stdout, new RegExp(`protocol ${PROTOCOL_VERSION.replace('.', '\\.')}`));
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      const row = `^${code}\\s+${info.closeCode}\\s+${info.status}\\s+${info.retryable ? 'yes' : 'no'}\\s+${info.action}\\s+${info.message}$`;
      assert.match(stdout, new RegExp(row, 'm'));
    }
    const json = JSON.parse((await cli(['codes', '--json'])).stdout);
    assert.deepEqual(json, { protocol: PROTOCOL_VERSION, codeHeader: CODE_HEADER, codes: ERROR_CODES });
  });

  it('signs an HMAC handshake the hmac strategy accepts, reading the secret from the environment', async () => {
    const secret = 'k'.repeat(40);
    const { stdout } = await cli(
      ['sign-hmac', '--key-id', 'svc', '--secret-env', 'HMAC_SECRET', '--namespace', '/', '--field', 'sub=robot'],
      { HMAC_SECRET: secret },
    );
    assert.ok(!stdout.includes(secret));
    const strategy = createHmacStrategy({ keys: { svc: secret } });
    const principal = await strategy.authenticate(sanitizeCredentials(JSON.parse(stdout)), makeContext({ clock: createManualClock() }));
    assert.equal(principal?.id, 'robot');
  });

  it('advertises no demo command (the demo needs a repository checkout)', async () => {
    const { stdout } = await cli(['--help']);
    assert.doesNotMatch(stdout, /portcullis demo/);
    assert.match(stdout, /npm run demo/);
    await assert.rejects(cli(['demo']), (err: { code?: number }) => err.code === 2);
  });

  it('exits quietly when its reader stops early (| head)', async () => {
    const { stderr } = await run('bash', ['-c', `"${process.execPath}" --import tsx "${CLI}" codes | head -1`], { timeout: 20_000 });
    assert.equal(stderr, '');
  });

  it('refuses bad usage with exit code 2', async () => {
    await assert.rejects(cli(['nope']), (err: { code?: number }) => err.code === 2);
    await assert.rejects(
      cli(['sign-hmac', '--key-id', 'x', '--secret-env', 'UNSET_VAR_FOR_TEST']),
      (err: { code?: number }) => err.code === 2,
    );
  });
});
