/**
 * `portcullis/conformance`: the behaviour suite portcullis runs over both transports,
 * published. Two uses:
 *
 * - a client implementer checks a client against a reference server the kit starts:
 *   `createWsHarness({ client })` / `createSocketIoHarness({ client })` (from
 *   `portcullis/conformance/ws` and `portcullis/conformance/socket.io`) with a factory
 *   returning a {@link TestClient} that drives the client under test;
 * - someone who wraps portcullis passes a {@link Harness} whose `start` starts their own
 *   server (the reference clients `WsTestClient` / `IoTestClient` can talk to it).
 *
 * Under `node:test`: `defineConformance(harness)` inside a test file. Elsewhere:
 * `defineConformance(harness, runner)` with a runner of the same shape, or
 * `runConformance(harness)` as a plain async function.
 */

import type { Harness } from './harness.js';
import { collectingRunner, nodeTestRunner, type Runner, withRunner } from './runner.js';
import { behaviourSuite } from './suite.js';

export { COVERAGE } from './coverage.js';
export type {
  ConnectOptions,
  HandshakeCredentials,
  Harness,
  KnownBug,
  KnownBugId,
  Mode,
  StartOptions,
  TestClient,
  TestServer,
  TransportQuirks,
  Verdict,
} from './harness.js';
export { httpRefusal, RecordingClient, refusal, Signal, WAIT_MS } from './harness.js';
export type { CaseOptions, ConformanceCase, Runner } from './runner.js';
export { collectingRunner, nodeTestRunner } from './runner.js';

/** Registers every case for `harness` with `runner` (`node:test` by default), under a `describe` named after it. */
export function defineConformance(harness: Harness, runner: Runner = nodeTestRunner): void {
  withRunner(runner, () => runner.describe(harness.name, () => behaviourSuite(harness)));
}

/** The outcome of one case run by {@link runConformance}. */
export interface CaseResult {
  readonly name: string;
  /** `pass`; `fail`; `todo` for a known bug that failed as expected (`todo-passed` when it no longer fails). */
  readonly status: 'pass' | 'fail' | 'todo' | 'todo-passed';
  readonly error?: unknown;
}

/**
 * Runs every case for `harness` one after the other, with no test runner; `filter` picks
 * cases by name. Resolves with one result per case; never rejects for a failing case.
 */
export async function runConformance(harness: Harness, filter: (name: string) => boolean = () => true): Promise<CaseResult[]> {
  const runner = collectingRunner();
  defineConformance(harness, runner);
  const results: CaseResult[] = [];
  try {
    for (const c of runner.cases) {
      if (!filter(c.name)) continue;
      try {
        await c.run();
        results.push({ name: c.name, status: c.todo === undefined ? 'pass' : 'todo-passed' });
      } catch (error) {
        results.push({ name: c.name, status: c.todo === undefined ? 'fail' : 'todo', error });
      }
    }
  } finally {
    await runner.finish();
  }
  return results;
}
