#!/usr/bin/env node
/**
 * `portcullis`: small tools around the library.
 *
 *   portcullis codes [--json]                the error-code table of the wire protocol (src/protocol.ts)
 *   portcullis sign-hmac --key-id K --secret-env VAR [--namespace /] [--field sub=alice ...]
 *                                            a signed handshake for the `hmac` strategy, as JSON
 *   portcullis audit <url> [options]         a black-box security audit of a Socket.IO or ws endpoint
 *   portcullis catalogue                     the weaknesses the audit checks, as a Markdown table
 *
 * The demo chat is not a CLI command: it needs the repository's example app and
 * its dev dependencies (socket.io, ws, esbuild). Clone the repository and run
 * `npm ci && npm run demo`.
 */
import { parseArgs } from 'node:util';
import { catalogueMarkdown } from '../catalogue.js';
import { signHandshake } from '../client/hmac-signer.js';
import { CODE_HEADER, ERROR_CODES, PROTOCOL_VERSION } from '../protocol.js';
import { AUDIT_USAGE, auditCommand } from './audit/command.js';
import { REPORT_SCHEMA } from './audit/schema.js';

const USAGE = `usage:
  portcullis codes [--json]
  portcullis sign-hmac --key-id <id> --secret-env <VAR> [--namespace /] [--field key=value ...]
  portcullis audit <url> [options]          (portcullis audit --help)
  portcullis catalogue

The demo chat lives in the repository: git clone it, then \`npm ci && npm run demo\`.
`;

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Prints the code table of the wire module, as text or (`--json`) as `{ protocol, codeHeader, codes }`. */
function codes(args: string[]): number {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } } });
  if (values.json === true) {
    out(JSON.stringify({ protocol: PROTOCOL_VERSION, codeHeader: CODE_HEADER, codes: ERROR_CODES }, null, 2));
    return 0;
  }
  const rows = Object.entries(ERROR_CODES).map(([code, info]) => [
    code,
    String(info.closeCode),
    String(info.status),
    info.retryable ? 'yes' : 'no',
    info.action,
    info.message,
  ]);
  const header = ['code', 'close', 'http', 'retryable', 'action', 'message'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  out(`portcullis wire protocol ${PROTOCOL_VERSION} (PROTOCOL.md); an HTTP refusal names its code in ${CODE_HEADER}`);
  for (const row of [header, ...rows])
    out(
      row
        .map((cell, i) => cell.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd(),
    );
  return 0;
}

async function signHmac(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'key-id': { type: 'string' },
      'secret-env': { type: 'string' },
      namespace: { type: 'string', default: '/' },
      field: { type: 'string', multiple: true, default: [] },
    },
  });
  const keyId = values['key-id'];
  const secretVar = values['secret-env'];
  // The secret comes from the environment, never from argv (which other users can read in `ps`).
  const secret = secretVar === undefined ? undefined : process.env[secretVar];
  if (keyId === undefined || secret === undefined || secret === '') {
    process.stderr.write(`sign-hmac needs --key-id and --secret-env naming a set variable\n${USAGE}`);
    return 2;
  }
  const fields: Record<string, string> = {};
  for (const pair of values.field ?? []) {
    const i = pair.indexOf('=');
    if (i <= 0) {
      process.stderr.write(`--field expects key=value, got ${JSON.stringify(pair)}\n`);
      return 2;
    }
    fields[pair.slice(0, i)] = pair.slice(i + 1);
  }
  out(JSON.stringify(await signHandshake({ keyId, secret, namespace: values.namespace ?? '/', fields })));
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'codes':
      return codes(rest);
    case 'sign-hmac':
      return signHmac(rest);
    case 'catalogue':
      out(catalogueMarkdown());
      return 0;
    case 'audit':
      if (rest.includes('--help') || rest.includes('-h')) {
        out(AUDIT_USAGE);
        return 0;
      }
      if (rest.includes('--schema')) {
        out(JSON.stringify(REPORT_SCHEMA, null, 2));
        return 0;
      }
      return auditCommand(rest);
    case undefined:
    case '-h':
    case '--help':
      out(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}

// `portcullis codes | head`: a reader that stops early is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`portcullis: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
