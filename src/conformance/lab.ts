/**
 * The behaviour suite's bench: servers started through a harness and closed after each
 * test, logging in by either mode, and the assertions every behaviour shares.
 */
import assert from 'node:assert/strict';
import type { Logger } from '../core/types.js';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import {
  type HandshakeCredentials,
  type Harness,
  type KnownBugId,
  type Mode,
  type StartOptions,
  type TestClient,
  type TestServer,
  type Verdict,
  WAIT_MS,
} from './harness.js';
import { after, afterEach } from './runner.js';

export interface Lab {
  readonly harness: Harness;
  /** Starts a server; it is closed after the test. */
  start(options: StartOptions): Promise<TestServer>;
  /** Runs `cleanup` after the test (after the servers are closed). */
  defer(cleanup: () => Promise<void> | void): void;
}

/**
 * Every log line of every server of the suite, and every credential value a client
 * sent: after the suite, no line may contain one of them.
 */
const logLines: string[] = [];
const sentCredentials = new Set<string>();
const record = (obj: object, msg?: string): void => {
  logLines.push(`${msg ?? ''} ${JSON.stringify(obj)}`);
};
const recordingLogger: Logger = { debug: record, info: record, warn: record, error: record };

function remember(value: unknown, depth = 0): void {
  if (typeof value === 'string') {
    // Cookies carry `name=value` pairs: remember the values.
    for (const part of value.split(/[;=]\s*/)) if (part.length >= 8) sentCredentials.add(part);
    if (value.length >= 8) sentCredentials.add(value);
  } else if (typeof value === 'object' && value !== null && depth < 6) {
    for (const v of Object.values(value)) remember(v, depth + 1);
  }
}

/** Makes `server` remember what its clients send. */
function watch(server: TestServer): TestServer {
  const connect = server.connect.bind(server);
  return Object.assign(Object.create(server) as TestServer, {
    connect(options?: Parameters<TestServer['connect']>[0]) {
      remember(options?.credentials);
      remember(options?.headers?.cookie);
      remember(options?.headers?.['x-csrf-token']);
      const client = connect(options);
      const authenticate = client.authenticate.bind(client);
      client.authenticate = (credentials: unknown) => {
        remember(credentials);
        authenticate(credentials);
      };
      return client;
    },
  });
}

/** Servers a whole run of the suite starts at least (it starts about 50 per transport). */
const FULL_RUN_SERVERS = 20;

/** Creates the bench of one harness; call it inside that harness's `describe`. */
export function createLab(harness: Harness): Lab {
  const servers: TestServer[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  let started = 0;
  after(() => {
    // The wiring checks hold for a whole run; a run of a few cases (a filter) may log or record nothing.
    if (started >= FULL_RUN_SERVERS) {
      assert.ok(logLines.length > 0, 'the suite logged nothing: the recording logger is not wired');
      assert.ok(sentCredentials.size > 0, 'no credential was recorded');
    }
    for (const line of logLines) {
      for (const credential of sentCredentials) {
        assert.ok(!line.includes(credential), `a log line carries a credential the client sent: ${line.slice(0, 200)}`);
      }
    }
  });
  return {
    harness,
    async start(options) {
      started++;
      const server = watch(await harness.start({ ...options, logger: options.logger ?? recordingLogger }));
      servers.push(server);
      return server;
    },
    defer(cleanup) {
      cleanups.push(cleanup);
    },
  };
}

/** Credentials either mode can carry, plus what only a message can. */
export type LoginCredentials = HandshakeCredentials & Readonly<Record<string, unknown>>;

/**
 * Connects and sends credentials in `mode`: with the handshake, or as a first message
 * sent as soon as the transport opens. Does not wait for the verdict.
 */
export function begin(
  server: TestServer,
  mode: Mode,
  credentials: LoginCredentials,
  headers?: Readonly<Record<string, string>>,
): TestClient {
  const withHeaders = headers === undefined ? {} : { headers };
  if (mode === 'message') {
    const client = server.connect(withHeaders);
    client.authenticate(credentials);
    return client;
  }
  const { token, ticket, ...rest } = credentials;
  assert.deepEqual(Object.keys(rest), [], 'only token and ticket travel with a handshake on both transports');
  return server.connect({
    credentials: { ...(token === undefined ? {} : { token }), ...(ticket === undefined ? {} : { ticket }) },
    ...withHeaders,
  });
}

/** {@link begin}, then the first verdict. */
export async function login(
  server: TestServer,
  mode: Mode,
  credentials: LoginCredentials,
  headers?: Readonly<Record<string, string>>,
): Promise<{ client: TestClient; verdict: Verdict }> {
  const client = begin(server, mode, credentials, headers);
  return { client, verdict: await client.verdict() };
}

/** Logs in and insists on being admitted. */
export async function admitted(server: TestServer, mode: Mode, credentials: LoginCredentials): Promise<TestClient> {
  const { client, verdict } = await login(server, mode, credentials);
  assertAccepted(verdict);
  return client;
}

/** Asserts an acceptance; returns its payload (`undefined` where the connect is the verdict). */
export function assertAccepted(verdict: Verdict): Readonly<Record<string, unknown>> | undefined {
  if (!verdict.ok) assert.fail(`expected the server to accept, it refused with ${verdict.code}`);
  return verdict.payload;
}

/**
 * Asserts a refusal with `code`, and that whatever the wire carried with it (fixed
 * message, close code, HTTP status) is the one of the code table.
 */
export function assertRefused(verdict: Verdict, code: ErrorCode): void {
  if (verdict.ok) assert.fail(`expected a refusal with ${code}, the server accepted`);
  assert.equal(verdict.code, code);
  const info = ERROR_CODES[code];
  if (verdict.message !== undefined) assert.equal(verdict.message, info.message, `fixed message of ${code}`);
  if (verdict.closeCode !== undefined) assert.equal(verdict.closeCode, info.closeCode, `close code of ${code}`);
  if (verdict.status !== undefined) assert.equal(verdict.status, info.status, `HTTP status of ${code}`);
}

/** Asserts `'ok'` (an acceptance) or a refusal with that code. */
export function assertOutcome(verdict: Verdict, expected: 'ok' | ErrorCode): void {
  if (expected === 'ok') assertAccepted(verdict);
  else assertRefused(verdict, expected);
}

/** `{ todo }` when the harness knows `bug` in `mode`, so the behaviour is reported but does not fail the run. */
export function knownBug(lab: Lab, bug: KnownBugId, mode: Mode): { todo?: string } {
  const found = lab.harness.knownBugs.find((b) => b.id === bug && b.modes.includes(mode));
  return found === undefined ? {} : { todo: found.reason };
}

/** Both modes, for behaviours that hold wherever the credentials travel. */
export const MODES: readonly Mode[] = ['handshake', 'message'];

/** Waits, one macrotask turn at a time, until `predicate` holds on the server side (at most {@link WAIT_MS}). */
export async function untilServer(predicate: () => boolean, what: string): Promise<void> {
  const end = Date.now() + WAIT_MS;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
