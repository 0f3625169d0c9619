#!/usr/bin/env node
/**
 * `portcullis`: small tools around the library.
 *
 *   portcullis codes                         the error-code table (code, close, HTTP, action)
 *   portcullis sign-hmac --key-id K --secret-env VAR [--namespace /] [--field sub=alice ...]
 *                                            a signed handshake for the `hmac` strategy, as JSON
 *   portcullis demo [--port 3000]            the example chat (from a repository checkout)
 *   portcullis audit <url> [options]         a black-box security audit of a Socket.IO or ws endpoint
 *   portcullis catalogue                     the weaknesses the audit checks, as a Markdown table
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { catalogueMarkdown } from '../catalogue.js';
import { signHandshake } from '../client/hmac-signer.js';
import { ERROR_CODES } from '../errors.js';
import { AUDIT_USAGE, auditCommand } from './audit/command.js';
import { REPORT_SCHEMA } from './audit/schema.js';

const USAGE = `usage:
  portcullis codes
  portcullis sign-hmac --key-id <id> --secret-env <VAR> [--namespace /] [--field key=value ...]
  portcullis demo [--port 3000] [--host 127.0.0.1]
  portcullis audit <url> [options]          (portcullis audit --help)
  portcullis catalogue
`;

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

function codes(): void {
  const rows = Object.entries(ERROR_CODES).map(([code, info]) => [
    code,
    String(info.closeCode),
    String(info.status),
    info.action,
    info.message,
  ]);
  const header = ['code', 'close', 'http', 'action', 'message'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  for (const row of [header, ...rows]) out(row.map((cell, i) => cell.padEnd(widths[i] as number)).join('  '));
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

async function demo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { port: { type: 'string', default: '3000' }, host: { type: 'string', default: '127.0.0.1' } },
  });
  const candidates = ['../../examples/chat/server.ts', '../../examples/chat/server.js'].map((p) =>
    fileURLToPath(new URL(p, import.meta.url)),
  );
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    process.stderr.write('the demo ships with the repository: clone it, then `npm ci && npm run demo`\n');
    return 1;
  }
  process.env.PORT = values.port;
  process.env.HOST = values.host;
  process.argv[1] = found;
  await import(pathToFileURL(found).href);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'codes':
      codes();
      return 0;
    case 'sign-hmac':
      return signHmac(rest);
    case 'demo':
      return demo(rest);
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

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`portcullis: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
