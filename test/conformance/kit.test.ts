/**
 * The conformance kit's own API (issue #18): the plain-function runner, a client under
 * test plugged into the reference server, and a client that breaks the protocol being
 * caught. (Every case of the kit runs under node:test in test/behaviour/behaviour.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CATALOGUE } from '../../src/catalogue.js';
import {
  COVERAGE,
  type ConnectOptions,
  collectingRunner,
  defineConformance,
  runConformance,
  type Signal,
} from '../../src/conformance/index.js';
import { socketIoHarness } from '../../src/conformance/socket-io-harness.js';
import { createWsHarness, WsTestClient, wsHarness } from '../../src/conformance/ws-harness.js';

/** A client that never sends its credentials by message: the kit must fail it. */
class SilentClient extends WsTestClient {
  override authenticate(): void {}
}

describe('portcullis/conformance', () => {
  it('collects the same cases for both transports, each with a unique name', () => {
    const runner = collectingRunner();
    defineConformance(wsHarness, runner);
    const names = runner.cases.map((c) => c.name);
    assert.ok(names.length >= 40, `${names.length} cases`);
    assert.equal(new Set(names).size, names.length);
    assert.ok(names.every((n) => n.startsWith('ws > ')));
    assert.ok(names.some((n) => n.includes('deadline > refuses a socket that never authenticates')));
  });

  it('every case the coverage table names for a catalogue weakness exists, on both transports', () => {
    for (const harness of [wsHarness, socketIoHarness]) {
      const runner = collectingRunner();
      defineConformance(harness, runner);
      const names = new Set(runner.cases.map((c) => c.name));
      for (const [id, cases] of Object.entries(COVERAGE)) {
        assert.ok(
          CATALOGUE.some((w) => w.id === id),
          `${id} is not in the catalogue`,
        );
        for (const name of cases ?? []) assert.ok(names.has(`${harness.name} > ${name}`), `${harness.name}: no case "${name}" (${id})`);
      }
    }
  });

  it('runConformance runs cases as plain functions and reports each', async () => {
    const results = await runConformance(wsHarness, (name) => name.includes('deadline') || name.includes('strategies (message) > custom'));
    assert.deepEqual(
      results.map((r) => [r.name, r.status]),
      [
        ['ws > deadline > refuses a socket that never authenticates with auth_timeout at timeoutMs on the server clock', 'pass'],
        ['ws > deadline > bounds a verification of handshake credentials that never ends (§4.3 #3: HTTP 408 on ws)', 'pass'],
        ['ws > strategies (message) > custom: admits, and refuses wrong credentials with invalid_credentials', 'pass'],
      ],
    );
  });

  it('a client under test plugs into the reference server; one that breaks the protocol fails', async () => {
    const made: string[] = [];
    const harness = createWsHarness({
      client: (signal: Signal, url: string, options: ConnectOptions) => {
        made.push(url);
        return new SilentClient(signal, url, options);
      },
    });
    const results = await runConformance(harness, (name) => name.includes('strategies (message) > custom'));
    assert.equal(results.length, 1);
    assert.equal(results[0]?.status, 'fail');
    assert.match(String(results[0]?.error), /timed out .* waiting for a verdict/);
    assert.ok(made.length >= 1 && made.every((url) => url.startsWith('ws://127.0.0.1:')));
  });
});
