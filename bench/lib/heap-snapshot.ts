/**
 * Reading V8 `.heapsnapshot` files: self size and count per object class
 * (`type:name`, e.g. `object:Connection`, `closure:onClose`, `string`), and the
 * per-socket difference between two servers holding the same sockets.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface ClassSizes {
  /** bytes and count per class */
  readonly classes: Map<string, { bytes: number; count: number }>;
  readonly total: number;
}

const GROUPED_TYPES = new Set(['string', 'concatenated string', 'sliced string', 'number', 'hidden', 'code', 'array']);

export function classSizes(path: string): ClassSizes {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const classes = new Map<string, { bytes: number; count: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType] as number] ?? '?';
    const size = snap.nodes[i + iSize] as number;
    const name = GROUPED_TYPES.has(type) ? '' : (snap.strings[snap.nodes[i + iName] as number] ?? '?').slice(0, 60);
    const key = name === '' ? type : `${type}:${name}`;
    const entry = classes.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += size;
    entry.count++;
    classes.set(key, entry);
    total += size;
  }
  return { classes, total };
}

/** Per-socket growth of each class: (after − before) / sockets. */
export function growth(before: ClassSizes, after: ClassSizes, sockets: number): Map<string, { bytes: number; count: number }> {
  const out = new Map<string, { bytes: number; count: number }>();
  for (const key of new Set([...before.classes.keys(), ...after.classes.keys()])) {
    const a = before.classes.get(key) ?? { bytes: 0, count: 0 };
    const b = after.classes.get(key) ?? { bytes: 0, count: 0 };
    out.set(key, { bytes: (b.bytes - a.bytes) / sockets, count: (b.count - a.count) / sockets });
  }
  return out;
}
