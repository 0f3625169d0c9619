/**
 * Renders a results file as the Markdown that BENCHMARKS.md holds: machine,
 * versions, settings, the headline table of the peers (when the run has them)
 * and the table of every row.
 *
 *   node --import tsx bench/report.ts [bench/results/latest.json]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface Row {
  figure: string;
  item: string;
  value: string;
  detail: string;
  target: string;
  holds: boolean | null;
}

interface Spread {
  median: number;
  min: number;
  max: number;
}

interface Pair {
  ratio: Spread;
  referenceUs: Spread;
  subjectUs: Spread;
}

interface PeersResult {
  transport: 'socket.io' | 'ws';
  aa: Pair;
  portcullis: Pair;
  peers: { peer: string; label: string; vsVanilla: Pair; headToHead: Pair }[];
}

interface Results {
  profile: string;
  startedAt: string;
  durationMs: number;
  machine: { nproc: number; cpuModel: string; memoryGiB: number; kernel: string; node: string; openFilesLimit: string };
  versions: Record<string, string>;
  git: { commit: string; dirty: boolean };
  table: Row[];
  results: { peers?: PeersResult[] };
}

const file = process.argv[2] ?? fileURLToPath(new URL('./results/latest.json', import.meta.url));
const r = JSON.parse(readFileSync(file, 'utf8')) as Results;
const cell = (s: string): string => s.replaceAll('|', '\\|');
const mark = (h: boolean | null): string => (h === null ? '' : h ? 'yes' : '**no**');

const lines: string[] = [];
lines.push(
  `Run: \`${r.profile}\` profile, ${r.startedAt}, ${(r.durationMs / 1000).toFixed(0)} s, commit \`${r.git.commit}\`${r.git.dirty ? ' (with uncommitted changes)' : ''}.`,
);
lines.push('');
lines.push(
  `Machine: ${r.machine.nproc} CPUs (\`nproc\`), ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, Linux ${r.machine.kernel}, open files ${r.machine.openFilesLimit}.`,
);
lines.push('');
lines.push(
  `Versions: Node ${r.machine.node}, ${Object.entries(r.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}.`,
);
lines.push('');
const fmt = (x: Spread): string => `${x.median.toFixed(2)} [${x.min.toFixed(2)}–${x.max.toFixed(2)}]`;
const us = (x: Pair): string => `${x.subjectUs.median.toFixed(0)} vs ${x.referenceUs.median.toFixed(0)} µs`;
const WHERE: Readonly<Record<PeersResult['transport'], string>> = {
  'socket.io': 'Socket.IO, JWT HS256 in the CONNECT `auth`',
  ws: '`ws`, JWT HS256 at the upgrade (bearer subprotocol entry)',
};
for (const p of r.results.peers ?? []) {
  lines.push(`| ${WHERE[p.transport]} | server CPU per handshake, X vs vanilla | vanilla ÷ X | X ÷ portcullis, head to head |`);
  lines.push('|---|---|---|---|');
  for (const x of p.peers) {
    const how = x.peer === 'thream' ? '' : p.transport === 'socket.io' ? '`io.use` + ' : 'upgrade handler + ';
    lines.push(`| ${how}${x.label} | ${us(x.vsVanilla)} | ${fmt(x.vsVanilla.ratio)} | ${fmt(x.headToHead.ratio)} |`);
  }
  lines.push(`| **portcullis** (defaults) | ${us(p.portcullis)} | ${fmt(p.portcullis.ratio)} | — |`);
  lines.push(`| vanilla (A/A floor) | ${us(p.aa)} | ${fmt(p.aa.ratio)} | — |`);
  lines.push('');
}
lines.push('| fig | measure | ratio or value: median [min–max] | target | holds | detail |');
lines.push('|---|---|---|---|---|---|');
for (const row of r.table) {
  lines.push(`| ${row.figure} | ${cell(row.item)} | ${cell(row.value)} | ${cell(row.target)} | ${mark(row.holds)} | ${cell(row.detail)} |`);
}
console.log(lines.join('\n'));
