/**
 * The JSON report's schema (`--json`), as a JSON Schema (draft 2020-12) document, and a
 * small validator for the subset of JSON Schema it uses, so that tests (and users without
 * a JSON Schema library) can check a report. `schemaVersion` changes only when a field
 * changes meaning or disappears; new optional fields do not change it.
 */
import { CATALOGUE, SEVERITIES } from '../../catalogue.js';
import { SCHEMA_VERSION } from './run.js';

type Schema = Readonly<Record<string, unknown>>;

const text = { type: 'string' } as const;
const severity = { type: 'string', enum: SEVERITIES } as const;

/** The schema of `portcullis audit --json`. */
export const REPORT_SCHEMA: Schema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: `https://github.com/portcullis/portcullis/audit-report-v${SCHEMA_VERSION}.json`,
  title: 'portcullis audit report',
  type: 'object',
  additionalProperties: false,
  required: ['schemaVersion', 'tool', 'target', 'startedAt', 'durationMs', 'connections', 'summary', 'findings', 'probes'],
  properties: {
    schemaVersion: { const: SCHEMA_VERSION },
    tool: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'version'],
      properties: { name: { const: 'portcullis audit' }, version: text },
    },
    target: {
      type: 'object',
      additionalProperties: false,
      required: ['url', 'transport', 'namespace', 'authMode'],
      properties: {
        url: text,
        transport: { enum: ['socket.io', 'ws'] },
        namespace: { type: ['string', 'null'] },
        authMode: { enum: ['handshake', 'message', 'none'] },
      },
    },
    startedAt: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$' },
    durationMs: { type: 'integer', minimum: 0 },
    connections: { type: 'integer', minimum: 0 },
    summary: {
      type: 'object',
      additionalProperties: false,
      required: [...SEVERITIES],
      properties: Object.fromEntries(SEVERITIES.map((s) => [s, { type: 'integer', minimum: 0 }])),
    },
    findings: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'severity', 'title', 'evidence', 'fix'],
        properties: {
          id: { enum: CATALOGUE.map((w) => w.id) },
          severity,
          title: text,
          evidence: {
            type: 'object',
            additionalProperties: false,
            required: ['sent', 'received'],
            properties: { sent: text, received: text },
          },
          fix: {
            type: 'object',
            additionalProperties: false,
            required: ['portcullis', 'without'],
            properties: { portcullis: text, without: text },
          },
        },
      },
    },
    probes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['probe', 'status', 'note'],
        properties: { probe: text, status: { enum: ['finding', 'pass', 'skipped', 'error'] }, note: text },
      },
    },
  },
};

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(actual: string, expected: string): boolean {
  return actual === expected || (expected === 'number' && actual === 'integer');
}

/**
 * Validates `value` against `schema` (keywords: type, const, enum, required, properties,
 * additionalProperties: false, items, minimum, pattern). Returns the errors, empty when valid.
 */
export function validateAgainst(schema: Schema, value: unknown, at = '$'): string[] {
  const errors: string[] = [];
  const actual = typeOf(value);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => typeMatches(actual, t))) return [`${at}: expected ${types.join(' or ')}, got ${actual}`];
  }
  if ('const' in schema && value !== schema.const) errors.push(`${at}: expected ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value))
    errors.push(`${at}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`);
  if (typeof schema.minimum === 'number' && typeof value === 'number' && value < schema.minimum)
    errors.push(`${at}: below ${schema.minimum}`);
  if (typeof schema.pattern === 'string' && typeof value === 'string' && !new RegExp(schema.pattern).test(value)) {
    errors.push(`${at}: does not match ${schema.pattern}`);
  }
  if (actual === 'object') {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required ?? []) as string[]) if (!(key in object)) errors.push(`${at}: missing ${key}`);
    for (const [key, child] of Object.entries(object)) {
      const sub = properties[key];
      if (sub !== undefined) errors.push(...validateAgainst(sub, child, `${at}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${at}: unexpected property ${key}`);
    }
  }
  if (actual === 'array' && schema.items !== undefined) {
    for (const [i, item] of (value as unknown[]).entries()) errors.push(...validateAgainst(schema.items as Schema, item, `${at}[${i}]`));
  }
  return errors;
}

/** Validates a report against {@link REPORT_SCHEMA}. */
export function validateReport(value: unknown): string[] {
  return validateAgainst(REPORT_SCHEMA, value);
}
