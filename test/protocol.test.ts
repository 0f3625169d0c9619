/**
 * The docs can't drift from the wire module: PROTOCOL.md's tables and those of docs/ (errors.md, security-and-limits.md, ws.md)
 * are parsed and checked against `src/protocol.ts` (codes, close codes, HTTP
 * statuses, retryability, actions, messages, event names, frame types) and
 * `DEFAULTS`; PROTOCOL.md's sections are numbered in order and its version line
 * and changelog name the current version.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEFAULTS } from '../src/core/defaults.js';
import {
  BEARER_PROTOCOL_PREFIX,
  ClientAction,
  CODE_HEADER,
  codeForCloseCode,
  codeForStatus,
  ERROR_CODES,
  type ErrorCode,
  FrameType,
  isErrorCode,
  PROTOCOL_VERSION,
  SocketIoEvent,
} from '../src/protocol.js';

const read = (name: string): string => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');
const PROTOCOL = read('PROTOCOL.md');
/** The docs pages holding the code table, the limits table and the ws options table. */
const ERRORS = read('docs/errors.md');
const LIMITS = read('docs/security-and-limits.md');
const WS = read('docs/ws.md');

/** The body of the section whose heading starts with `heading` (up to the next heading of the same or a higher level). */
function section(md: string, heading: string): string {
  const lines = md.split('\n');
  const start = lines.findIndex((line) => line.startsWith(heading));
  assert.notEqual(start, -1, `no heading "${heading}"`);
  const level = (/^#+/.exec(heading) as RegExpExecArray)[0].length;
  const end = lines.findIndex((line, i) => i > start && /^#+ /.test(line) && (/^#+/.exec(line) as RegExpExecArray)[0].length <= level);
  return lines.slice(start + 1, end === -1 ? undefined : end).join('\n');
}

/** Every markdown table of `text`, as rows of cells keyed by header (the separator row dropped). */
function tables(text: string): Record<string, string>[][] {
  const result: Record<string, string>[][] = [];
  let current: string[][] = [];
  const flush = (): void => {
    if (current.length >= 2) {
      const [header, , ...rows] = current as [string[], string[], ...string[][]];
      result.push(rows.map((cells) => Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']))));
    }
    current = [];
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('|')) current.push(splitRow(line));
    else flush();
  }
  flush();
  return result;
}

/** Cells of a table row; `|` inside backticks or escaped as `\|` does not split. */
function splitRow(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let code = false;
  for (let i = 1; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '`') code = !code;
    if (c === '\\' && line[i + 1] === '|') {
      cell += '|';
      i++;
    } else if (c === '|' && !code) {
      cells.push(cell.trim());
      cell = '';
    } else cell += c;
  }
  return cells;
}

/** The backticked identifiers of a cell (`` `a`, `b` `` → ['a', 'b']). */
function ticks(cell: string | undefined): string[] {
  return [...(cell ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
}

/** The one table of a section that has a column named `column`. */
function tableWith(text: string, column: string): Record<string, string>[] {
  const found = tables(text).filter((t) => t[0] !== undefined && column in t[0]);
  assert.equal(found.length, 1, `expected one table with a "${column}" column, found ${found.length}`);
  return found[0] as Record<string, string>[];
}

/** Checks one code-table row against the module: close, HTTP status, and the optional columns. */
function checkRow(code: ErrorCode, row: Record<string, string>, where: string): void {
  const info = ERROR_CODES[code];
  const label = `${where}: ${code}`;
  assert.equal(Number(row.close), info.closeCode, `${label} close`);
  assert.equal(Number(/^\d+/.exec(row.HTTP ?? '')?.[0]), info.status, `${label} HTTP`);
  if (info.status === 429) assert.match(row.HTTP ?? '', /Retry-After/, `${label} HTTP names Retry-After`);
  if ('retryable' in row) assert.equal(row.retryable, info.retryable ? 'yes' : 'no', `${label} retryable`);
  if ('action' in row) assert.equal(ticks(row.action)[0], info.action, `${label} action`);
  if ('message' in row) assert.equal(ticks(row.message)[0], info.message, `${label} message`);
}

/** Every code appears in exactly one row of `table`; returns the rows by code. */
function byCode(table: Record<string, string>[], where: string): Map<ErrorCode, Record<string, string>> {
  const rows = new Map<ErrorCode, Record<string, string>>();
  for (const row of table) {
    for (const code of ticks(row.code)) {
      assert.ok(isErrorCode(code), `${where}: unknown code ${code}`);
      assert.ok(!rows.has(code), `${where}: ${code} listed twice`);
      rows.set(code, row);
    }
  }
  assert.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_CODES).sort(), `${where}: every code, once`);
  return rows;
}

describe('PROTOCOL.md agrees with src/protocol.ts', () => {
  it('names the protocol version at the top and in its changelog', () => {
    const [, version] = /^Protocol version: \*\*([\d.]+)\*\*/m.exec(PROTOCOL.slice(0, 400)) ?? [];
    assert.equal(version, PROTOCOL_VERSION);
    const heading = /^## \d+\. Changelog$/m.exec(PROTOCOL)?.[0] ?? '## Changelog';
    const changelog = section(PROTOCOL, heading);
    assert.equal(/^- \*\*([\d.]+)\*\*/m.exec(changelog)?.[1], PROTOCOL_VERSION, 'the newest changelog entry is the current version');
  });

  it('numbers its sections in order', () => {
    let major = 0;
    let minor = 0;
    for (const line of PROTOCOL.split('\n')) {
      const top = /^## (\d+)\. /.exec(line);
      if (top) {
        assert.equal(Number(top[1]), ++major, line);
        minor = 0;
        continue;
      }
      const sub = /^### (\d+)\.(\d+) /.exec(line);
      if (sub) {
        assert.equal(Number(sub[1]), major, line);
        assert.equal(Number(sub[2]), ++minor, line);
      }
    }
    assert.ok(major >= 6);
  });

  it('lists every code with its close code, HTTP status, retryability, action and fixed message (§1.1)', () => {
    const rows = byCode(tableWith(section(PROTOCOL, '### 1.1 '), 'code'), 'PROTOCOL.md §1.1');
    for (const [code, row] of rows) {
      for (const column of ['close', 'HTTP', 'retryable', 'action', 'message']) assert.ok(column in row, column);
      checkRow(code, row, 'PROTOCOL.md §1.1');
    }
  });

  it('explains every client action (§1.2)', () => {
    const actions = tableWith(section(PROTOCOL, '### 1.2 '), 'action').map((row) => ticks(row.action)[0]);
    assert.deepEqual(actions.sort(), Object.values(ClientAction).sort());
  });

  it('documents the code header, the CONNECT_ERROR form and the bearer prefix', () => {
    const forms = section(PROTOCOL, '### 1.3 ');
    assert.ok(forms.includes(`\`${CODE_HEADER}: <code>\``));
    assert.ok(forms.includes('"data": { "code": string, "retryable": boolean, "retryAfter"?: number }'));
    assert.ok(section(PROTOCOL, '### 4.1 ').includes(`\`Sec-WebSocket-Protocol: <subprotocol>, ${BEARER_PROTOCOL_PREFIX}<token>\``));
  });

  it('states the code a client assumes from a bare status or close code (§1.3)', () => {
    const forms = section(PROTOCOL, '### 1.3 ');
    const pairs = [...forms.matchAll(/`(\d{3,4}) ([a-z_]+)`/g)].map((m) => [Number(m[1]), m[2]] as const);
    assert.ok(pairs.length >= 8, 'the fallback list is there');
    for (const [number, code] of pairs) {
      assert.equal(number >= 1000 ? codeForCloseCode(number) : codeForStatus(number), code, `${number}`);
    }
    assert.equal(codeForStatus(502), 'internal_error');
    assert.equal(codeForStatus(404), undefined);
  });

  it('uses the default Socket.IO event names (§3.2, §3.3)', () => {
    const events = [section(PROTOCOL, '### 3.2 '), section(PROTOCOL, '### 3.3 ')].flatMap((s) =>
      tableWith(s, 'event').map((row) => ticks(row.event)[0]),
    );
    assert.deepEqual([...new Set(events)].sort(), Object.values(SocketIoEvent).sort());
  });

  it('uses the ws frame types (§4.2)', () => {
    const types = tableWith(section(PROTOCOL, '### 4.2 '), 'type').map((row) => ticks(row.type)[0]);
    assert.deepEqual(types.sort(), Object.values(FrameType).sort());
  });

  it('states the defaults of DEFAULTS (§2.2)', () => {
    for (const row of tableWith(section(PROTOCOL, '### 2.2 '), 'setting')) {
      const [setting] = ticks(row.setting);
      const value = lookup(setting as string);
      assert.equal(parseDefault(row.default ?? ''), value, `${setting}`);
    }
  });
});

describe('docs/ agrees with src/protocol.ts', () => {
  it('lists every code with its close code, HTTP status, retryability, action and message', () => {
    const rows = byCode(tableWith(section(ERRORS, '# Error codes'), 'code'), 'docs/errors.md');
    for (const [code, row] of rows) checkRow(code, row, 'docs/errors.md');
  });

  it('states the defaults of DEFAULTS in its limits and ws options tables', () => {
    const checked = new Set<string>();
    const limits = tableWith(section(LIMITS, '# Limits and security defaults'), 'option');
    const wsOptions = tableWith(section(WS, '## Options'), 'option');
    for (const [row, prefix] of [...limits.map((r) => [r, ''] as const), ...wsOptions.map((r) => [r, 'ws.'] as const)]) {
      const [option] = ticks(row.option);
      if (option === undefined) continue; // a fixed limit, not an option (e.g. forwarding hops)
      const transport = /\(`ws`\)/.test(row.option ?? '') ? 'ws.' : prefix;
      const value = lookup(`${transport}${option}`, false) ?? lookup(option as string, false);
      if (value === undefined || typeof value === 'object') continue;
      assert.equal(parseDefault(row.default ?? ''), value, `docs ${option}`);
      checked.add(`${transport}${option}`);
    }
    for (const key of ['timeoutMs', 'maxPending', 'maxPendingPerIp', 'expiringLeadMs', 'payload.maxBytes', 'ws.mode', 'ws.maxPayload']) {
      assert.ok(checked.has(key), `docs state ${key}`);
    }
  });
});

describe('src/protocol.ts', () => {
  it('imports nothing (the browser client loads it)', () => {
    const source = read('src/protocol.ts');
    assert.doesNotMatch(source, /^\s*import\s/m);
    assert.doesNotMatch(source, /\brequire\(|\bimport\(/);
  });

  it('gives each close code to codes of one HTTP status and one close code to each status', () => {
    for (const a of Object.values(ERROR_CODES)) {
      for (const b of Object.values(ERROR_CODES)) {
        assert.equal(a.closeCode === b.closeCode, a.status === b.status);
      }
    }
  });
});

/** A default by its dotted path: `DEFAULTS.x`, `DEFAULTS.transport.x`, `DEFAULTS.ws.x`… */
function lookup(path: string, required = true): unknown {
  const walk = (root: unknown, parts: string[]): unknown =>
    parts.reduce<unknown>(
      (obj, key) => (typeof obj === 'object' && obj !== null && key in obj ? (obj as Record<string, unknown>)[key] : undefined),
      root,
    );
  const parts = path.split('.');
  const value = walk(DEFAULTS, parts) ?? walk(DEFAULTS.transport, parts);
  if (required) assert.notEqual(value, undefined, `no default ${path}`);
  return value;
}

/** `5000 ms`, `` `5000` ``, `` `false` ``, `false`, `` `'auto'` `` → 5000, false, 'auto'. */
function parseDefault(cell: string): unknown {
  const text = (ticks(cell)[0] ?? cell).trim();
  if (text === 'true' || text === 'false') return text === 'true';
  const quoted = /^'([^']*)'$/.exec(text);
  if (quoted) return quoted[1];
  const number = /^\d+/.exec(text);
  return number ? Number(number[0]) : text;
}
