/**
 * `portcullis audit` as a user runs it: a subprocess, a credential file, the JSON report
 * (checked against its schema, free of the credential and of colour codes), the text
 * report, and the exit codes (0, 1 by --fail-on, 2 bad usage, 3 unreachable).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validateReport } from '../../src/cli/audit/schema.js';
import type { NaiveServer } from '../fixtures/naive/common.js';
import { startJwtIoUse } from '../fixtures/naive/jwt-io-use.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const QUICK = ['--deadline', '1s', '--max-connections', '5', '--rate', '200', '--timeout', '3s'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { timeout: 60_000, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('portcullis audit (CLI)', () => {
  let server: NaiveServer;
  let dir: string;
  let token: string;
  let file: string;
  before(async () => {
    server = await startJwtIoUse();
    dir = await mkdtemp(join(tmpdir(), 'portcullis-audit-'));
    token = server.credential();
    file = join(dir, 'credential');
    await writeFile(file, token);
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('--json: a valid report without the credential; exit 1 when a finding reaches --fail-on', async () => {
    const run = await cli(['audit', server.url, '--json', '--fail-on', 'medium', '--credentials', file, ...QUICK]);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as { findings: { id: string }[] };
    assert.deepEqual(validateReport(report), []);
    assert.ok(report.findings.some((f) => f.id === 'credentials.in-query'));
    assert.ok(!run.stdout.includes(token) && !run.stderr.includes(token), 'the credential leaked into the output');
    assert.ok(!run.stdout.includes('\u001b['), 'colour codes on a pipe');
  });

  it('the text report starts with the summary table; --fail-on none exits 0', async () => {
    const run = await cli(['audit', server.url, '--fail-on', 'none', '--credentials', file, ...QUICK]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split('\n');
    assert.match(lines[0] ?? '', /^portcullis audit .*: http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.match(lines[3] ?? '', /^severity\s+findings$/);
    assert.match(lines[4] ?? '', /^critical\s+0$/);
    assert.match(run.stdout, /credentials\.in-query\s+Credentials are accepted in the URL query/);
    assert.match(run.stdout, /fix \(portcullis\): /);
    assert.ok(!run.stdout.includes(token));
  });

  it('exit 2 on bad usage, 3 when nothing answers', async () => {
    assert.equal((await cli(['audit'])).code, 2);
    assert.equal((await cli(['audit', server.url, '--fail-on', 'severe'])).code, 2);
    assert.equal((await cli(['audit', 'ftp://127.0.0.1/'])).code, 2);
    // A port nobody listens on: bound, then closed.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const run = await cli(['audit', `ws://127.0.0.1:${port}/`, ...QUICK]);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, /cannot connect/);
  });
});
