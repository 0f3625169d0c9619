/**
 * Renders a results file as the Markdown that BENCHMARKS.md holds: machine,
 * versions, settings and the table.
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

interface Results {
  profile: string;
  startedAt: string;
  durationMs: number;
  machine: { nproc: number; cpuModel: string; memoryGiB: number; kernel: string; node: string; openFilesLimit: string };
  versions: Record<string, string>;
  git: { commit: string; dirty: boolean };
  table: Row[];
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
lines.push('| fig | measure | ratio or value: median [min–max] | target | holds | detail |');
lines.push('|---|---|---|---|---|---|');
for (const row of r.table) {
  lines.push(`| ${row.figure} | ${cell(row.item)} | ${cell(row.value)} | ${cell(row.target)} | ${mark(row.holds)} | ${cell(row.detail)} |`);
}
console.log(lines.join('\n'));
