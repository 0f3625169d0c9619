/**
 * Runs an audit: detects the transport, discovers how the target takes credentials,
 * runs every probe (bounded in connections, time and bytes), closes everything it opened,
 * and returns the report.
 */
import { readFileSync } from 'node:fs';
import { SEVERITIES, type Severity } from '../../catalogue.js';
import { type AuthMode, createContext, createDialer, type ProbeContext } from './context.js';
import { type Driver, describeDial, hangUp, socketIoDriver, wsDriver } from './drivers.js';
import { type AuditOptions, createRedactor, type Finding, type ProbeResult } from './model.js';
import { probeAttempts, probeDeadline, probeIsolation, probeOrigin } from './probes-admission.js';
import { probeExpiry, probeOracle, probePayloads, probeQueryCredentials, probeSubprotocol } from './probes-input.js';
import { probePendingLimit, probePlaintext, probeRetryAfter } from './probes-limits.js';
import { httpGet, httpPost } from './wire.js';

/** The version of the JSON report's shape (see docs/audit.md). */
export const SCHEMA_VERSION = 1;

export interface AuditReport {
  readonly schemaVersion: typeof SCHEMA_VERSION;
  readonly tool: { readonly name: 'portcullis audit'; readonly version: string };
  readonly target: {
    readonly url: string;
    readonly transport: 'socket.io' | 'ws';
    readonly namespace: string | null;
    readonly authMode: AuthMode;
  };
  readonly startedAt: string;
  readonly durationMs: number;
  readonly connections: number;
  readonly summary: Readonly<Record<Severity, number>>;
  readonly findings: readonly Finding[];
  readonly probes: readonly { readonly probe: string; readonly status: ProbeResult['status']; readonly note: string }[];
}

/** Thrown when the target cannot be reached at all. */
export class UnreachableError extends Error {}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

const httpUrl = (url: URL): URL => {
  const out = new URL(url);
  if (out.protocol === 'ws:') out.protocol = 'http:';
  if (out.protocol === 'wss:') out.protocol = 'https:';
  return out;
};

/** `auto`: an Engine.IO polling handshake answered (or refused with a portcullis code) means Socket.IO. */
export async function detectTransport(options: AuditOptions): Promise<'socket.io' | 'ws'> {
  if (options.transport !== 'auto') return options.transport;
  const probe = new URL(options.path, httpUrl(new URL(options.url)));
  probe.search = '?EIO=4&transport=polling';
  const answer = await httpGet(probe.href, options.stepTimeoutMs);
  if (answer === undefined) return 'ws'; // no HTTP answer there: a plain ws server (an unreachable one fails on the first dial)
  const engineOpen = answer.status === 200 && /^\d*0\{.*"sid"/.test(answer.body);
  const sid = engineOpen ? /"sid"\s*:\s*"([^"]+)"/.exec(answer.body)?.[1] : undefined;
  if (sid !== undefined) {
    // Close the polling session at once (an Engine.IO close packet), instead of leaving it to time out.
    probe.search = `?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
    await httpPost(probe.href, '1', options.stepTimeoutMs);
  }
  const portcullisRefusal = answer.status >= 400 && /"code"\s*:/.test(answer.body) && /"retryable"/.test(answer.body);
  return engineOpen || portcullisRefusal ? 'socket.io' : 'ws';
}

function driverFor(transport: 'socket.io' | 'ws', options: AuditOptions): { driver: Driver; namespace: string | null } {
  const url = new URL(options.url);
  if (transport === 'socket.io') {
    const namespace =
      options.namespace !== '/' ? options.namespace : url.pathname !== '/' && !url.pathname.startsWith(options.path) ? url.pathname : '/';
    return { driver: socketIoDriver(httpUrl(url), options.path, namespace), namespace };
  }
  const wsUrl = new URL(url);
  if (wsUrl.protocol === 'http:') wsUrl.protocol = 'ws:';
  if (wsUrl.protocol === 'https:') wsUrl.protocol = 'wss:';
  return { driver: wsDriver(wsUrl), namespace: null };
}

/** Runs the audit. `progress` receives one short line per step. */
export async function runAudit(options: AuditOptions, progress: (line: string) => void = () => {}): Promise<AuditReport> {
  const started = Date.now();
  progress('detecting the transport');
  const transport = await detectTransport(options);
  const { driver, namespace } = driverFor(transport, options);
  const redactor = createRedactor();
  const dialer = createDialer(driver, options, redactor);
  const results: ProbeResult[] = [];
  let authMode: AuthMode = 'message';
  try {
    progress(`discovering how ${transport} takes credentials`);
    const bare = await dialer.dial({ origin: options.origin, auth: undefined });
    if (bare.stage === 'http' && bare.status === 0) throw new UnreachableError(`cannot connect: ${describeDial(bare)}`);
    if (bare.stage === 'refused' || bare.stage === 'http') authMode = 'handshake';
    else if (bare.stage === 'open' && options.credentials !== undefined) {
      const credential = await options.credentials();
      redactor.add(credential);
      const answer = await bare.conn.authenticate(credential.auth ?? {}, options.stepTimeoutMs);
      if (answer.kind === 'silent') authMode = 'none';
    }
    hangUp(bare);
    const ctx: ProbeContext = createContext(options, driver, dialer, redactor, authMode, options.credentials);
    const step = async (name: string, probe: (c: ProbeContext) => Promise<ProbeResult>): Promise<ProbeResult> => {
      progress(`probing ${name}`);
      try {
        return await probe(ctx);
      } catch (err) {
        return { probe: name, status: 'error', note: redactor.redact(err instanceof Error ? err.message : String(err)), findings: [] };
      }
    };
    // The long waits run beside the rest.
    const deadline = step('deadline', probeDeadline);
    for (const [name, probe] of [
      ['plaintext', probePlaintext],
      ['origin', probeOrigin],
      ['isolation', probeIsolation],
      ['attempts', probeAttempts],
      ['credentials-in-query', probeQueryCredentials],
      ['subprotocol', probeSubprotocol],
      ['payloads', probePayloads],
      ['error-oracle', probeOracle],
    ] as const) {
      results.push(await step(name, probe));
    }
    // After the payload probe: its 1 MB message may be relayed to every open connection.
    results.push(await step('expiry', probeExpiry));
    progress(`waiting for the deadline probe (${options.deadlineMs} ms)`);
    results.push(await deadline);
    results.push(await step('pending-limit', probePendingLimit));
    results.push(probeRetryAfter(ctx, dialer.tooMany));
  } finally {
    dialer.hangUpAll();
  }
  const findings = results.flatMap((r) => r.findings).sort((a, b) => SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity));
  const summary = Object.fromEntries(SEVERITIES.map((s) => [s, findings.filter((f) => f.severity === s).length])) as Record<
    Severity,
    number
  >;
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'portcullis audit', version: version() },
    target: { url: redactor.redact(options.url), transport, namespace, authMode },
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    connections: dialer.dials,
    summary,
    findings,
    probes: results.map(({ probe, status, note }) => ({ probe, status, note })),
  };
}
