/**
 * Running the audit in-process against loopback servers, with small budgets so a run takes
 * seconds: what the audit tests share.
 */
import assert from 'node:assert/strict';
import type { AuditOptions } from '../../src/cli/audit/model.js';
import { parseCredential } from '../../src/cli/audit/model.js';
import { type AuditReport, runAudit } from '../../src/cli/audit/run.js';
import { validateReport } from '../../src/cli/audit/schema.js';

/** Options for a quick audit of `url`; `credential` is called for every fresh credential. */
export function quickOptions(
  url: string,
  credential: (() => string | Promise<string>) | undefined,
  extra: Partial<AuditOptions> = {},
): AuditOptions {
  return {
    url,
    transport: 'auto',
    namespace: '/',
    path: '/socket.io/',
    deadlineMs: 2000,
    maxConnections: 30,
    rate: 500,
    maxExpiryWaitMs: 10_000,
    stepTimeoutMs: 3000,
    origin: 'http://127.0.0.1',
    credentials: credential === undefined ? undefined : async () => parseCredential(await credential()),
    ...extra,
  };
}

/** Runs the audit, checks the report against the schema, returns it with its finding ids. */
export async function audit(options: AuditOptions): Promise<{ report: AuditReport; ids: Set<string> }> {
  const report = await runAudit(options);
  assert.deepEqual(validateReport(JSON.parse(JSON.stringify(report))), [], 'the report matches its JSON schema');
  assert.deepEqual(
    report.probes.filter((p) => p.status === 'error'),
    [],
    'no probe failed',
  );
  return { report, ids: new Set(report.findings.map((f) => f.id)) };
}

/** Asserts every id of `expected` was reported, and none of `absent`. */
export function assertFindings(ids: Set<string>, expected: readonly string[], absent: readonly string[] = []): void {
  const missing = expected.filter((id) => !ids.has(id));
  assert.deepEqual(missing, [], `expected findings missing; found ${[...ids].join(', ')}`);
  const wrong = absent.filter((id) => ids.has(id));
  assert.deepEqual(wrong, [], 'findings the server does not have');
}

/** Asserts no text of the report holds one of `secrets`. */
export function assertRedacted(report: AuditReport, secrets: readonly string[]): void {
  const text = JSON.stringify(report);
  for (const secret of secrets) assert.ok(!text.includes(secret), `the report carries a credential (${secret.slice(0, 6)}…)`);
}
