/**
 * `portcullis audit <url>`: options, the credential source, the progress line, the
 * report (text or `--json`) and the exit code.
 *
 * Exit codes: 0 no finding at or above `--fail-on`; 1 at least one; 2 bad usage;
 * 3 the target could not be reached.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { parseArgs, promisify } from 'node:util';
import { atLeast, SEVERITIES, type Severity } from '../../catalogue.js';
import { type AuditOptions, type Credential, parseCredential, TRANSPORTS, type TransportChoice } from './model.js';
import { renderReport } from './render.js';
import { runAudit, UnreachableError } from './run.js';

export const AUDIT_USAGE = `usage: portcullis audit <url> [options]
  <url>                      ws://, wss://, http:// or https:// (Socket.IO: the server's URL, a path names the namespace)
  --transport <t>            socket.io | ws | auto (default auto: an Engine.IO handshake decides)
  --origin <origin>          the app's own origin, sent with every handshake; look-alikes are built from it
  --credentials <file>       a valid credential: a bare token, or JSON {"auth","headers","query","protocols"}
  --credentials-cmd <cmd>    a command printing a fresh credential (same format) each time it runs
  --namespace <nsp>          Socket.IO namespace (default /)
  --path <path>              Socket.IO path (default /socket.io/)
  --username <name>          a real user name, for the error-oracle probe
  --emit <event>             an application event: emitted by a pending probe (must not be answered)
  --deadline <duration>      how long a silent connection may live (default 10s)
  --max-connections <n>      most silent connections the pending-limit probe opens (default 64)
  --rate <n>                 new connections per second, at most (default 20)
  --max-expiry-wait <dur>    longest wait for a short-lived credential to expire (default 30s)
  --timeout <duration>       per-step answer timeout (default 3s)
  --fail-on <severity>       exit 1 when a finding is at or above it: ${SEVERITIES.join(' | ')} | none (default high)
  --json                     the report as JSON (schemaVersion 1, see docs/audit.md)
  --schema                   print the JSON report's JSON Schema and exit
`;

/** `500ms`, `5s`, `1m` or a number of milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (match === null) throw new TypeError(`not a duration: ${JSON.stringify(text)} (e.g. 500ms, 5s, 1m)`);
  const n = Number(match[1]);
  return Math.round(match[2] === 's' ? n * 1000 : match[2] === 'm' ? n * 60_000 : n);
}

function positive(name: string, text: string, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new TypeError(`--${name} must be an integer from 1 to ${max}`);
  return n;
}

const run = promisify(execFile);

function credentialSource(file: string | undefined, cmd: string | undefined): (() => Promise<Credential>) | undefined {
  if (file !== undefined && cmd !== undefined) throw new TypeError('give --credentials or --credentials-cmd, not both');
  if (file !== undefined) {
    let cached: Promise<Credential> | undefined; // a file is read once
    return () => {
      cached ??= readFile(file, 'utf8').then(parseCredential);
      return cached;
    };
  }
  if (cmd !== undefined) {
    return async () => {
      const { stdout } = await run('/bin/sh', ['-c', cmd], { timeout: 10_000, maxBuffer: 64 * 1024 }).catch(() => {
        // Never echo the command's output: it may hold the credential.
        throw new Error('--credentials-cmd failed');
      });
      return parseCredential(stdout);
    };
  }
  return undefined;
}

/** Parses argv into audit options, or throws a TypeError for bad usage. */
export function parseAuditArgs(args: string[]): { options: AuditOptions; json: boolean; failOn: Severity | 'none' } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      transport: { type: 'string', default: 'auto' },
      origin: { type: 'string' },
      credentials: { type: 'string' },
      'credentials-cmd': { type: 'string' },
      namespace: { type: 'string', default: '/' },
      path: { type: 'string', default: '/socket.io/' },
      username: { type: 'string' },
      emit: { type: 'string' },
      deadline: { type: 'string', default: '10s' },
      'max-connections': { type: 'string', default: '64' },
      rate: { type: 'string', default: '20' },
      'max-expiry-wait': { type: 'string', default: '30s' },
      timeout: { type: 'string', default: '3s' },
      'fail-on': { type: 'string', default: 'high' },
      json: { type: 'boolean', default: false },
    },
  });
  const [url, ...extra] = positionals;
  if (url === undefined || extra.length > 0) throw new TypeError('audit takes exactly one URL');
  const parsed = new URL(url);
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(parsed.protocol)) throw new TypeError(`unsupported URL scheme ${parsed.protocol}`);
  const transport = values.transport as TransportChoice;
  if (!TRANSPORTS.includes(transport)) throw new TypeError(`--transport must be one of ${TRANSPORTS.join(', ')}`);
  const failOn = values['fail-on'] as Severity | 'none';
  if (failOn !== 'none' && !SEVERITIES.includes(failOn)) throw new TypeError(`--fail-on must be one of ${SEVERITIES.join(', ')}, none`);
  if (values.origin !== undefined) new URL(values.origin);
  const namespace = values.namespace ?? '/';
  if (!namespace.startsWith('/')) throw new TypeError('--namespace starts with /');
  const options: AuditOptions = {
    url: parsed.href,
    transport,
    origin: values.origin,
    credentials: credentialSource(values.credentials, values['credentials-cmd']),
    namespace,
    path: values.path ?? '/socket.io/',
    deadlineMs: parseDuration(values.deadline ?? '10s'),
    maxConnections: positive('max-connections', values['max-connections'] ?? '64', 1000),
    rate: positive('rate', values.rate ?? '20', 1000),
    username: values.username,
    emit: values.emit,
    maxExpiryWaitMs: parseDuration(values['max-expiry-wait'] ?? '30s'),
    stepTimeoutMs: parseDuration(values.timeout ?? '3s'),
  };
  return { options, json: values.json ?? false, failOn };
}

/** Runs `portcullis audit`; resolves with the exit code. */
export async function auditCommand(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseAuditArgs>;
  try {
    parsed = parseAuditArgs(args);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${AUDIT_USAGE}`);
    return 2;
  }
  const tty = process.stderr.isTTY === true;
  const progress = (line: string): void => {
    if (tty) process.stderr.write(`\r\u001b[2K${line}…`);
  };
  try {
    const report = await runAudit(parsed.options, progress);
    if (tty) process.stderr.write('\r\u001b[2K');
    process.stdout.write(
      parsed.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report, { colour: process.stdout.isTTY === true }),
    );
    const failing = parsed.failOn === 'none' ? [] : report.findings.filter((f) => atLeast(f.severity, parsed.failOn as Severity));
    return failing.length > 0 ? 1 : 0;
  } catch (err) {
    if (tty) process.stderr.write('\r\u001b[2K');
    process.stderr.write(`portcullis audit: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof UnreachableError ? 3 : 1;
  }
}
