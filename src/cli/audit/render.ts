/**
 * The terminal report: a summary table first, then each finding with its evidence and
 * fix, then what every probe concluded. Colours only when the output is a TTY.
 */
import { SEVERITIES, type Severity } from '../../catalogue.js';
import type { AuditReport } from './run.js';

const COLOURS: Readonly<Record<Severity, string>> = { critical: '35', high: '31', medium: '33', low: '36', info: '37' };

export interface RenderOptions {
  readonly colour: boolean;
}

export function renderReport(report: AuditReport, options: RenderOptions): string {
  const paint = (code: string, text: string): string => (options.colour ? `\u001b[${code}m${text}\u001b[0m` : text);
  const bold = (text: string): string => paint('1', text);
  const lines: string[] = [];
  const { target } = report;
  lines.push(bold(`portcullis audit ${report.tool.version}: ${target.url}`));
  lines.push(
    `transport ${target.transport}${target.namespace === null ? '' : `, namespace ${target.namespace}`}, credentials taken ${target.authMode === 'handshake' ? 'with the handshake' : target.authMode === 'message' ? 'by message after connecting' : 'nowhere (none asked)'}; ${report.connections} connections in ${(report.durationMs / 1000).toFixed(1)} s`,
  );
  lines.push('');
  const order = [...SEVERITIES].reverse();
  lines.push(bold('severity   findings'));
  for (const severity of order) lines.push(`${paint(COLOURS[severity], severity.padEnd(10))} ${report.summary[severity]}`);
  lines.push('');
  if (report.findings.length === 0) lines.push('No findings.');
  else {
    const idWidth = Math.max(...report.findings.map((f) => f.id.length));
    lines.push(bold(`${'severity'.padEnd(9)} ${'id'.padEnd(idWidth)}  title`));
    for (const f of report.findings) lines.push(`${paint(COLOURS[f.severity], f.severity.padEnd(9))} ${f.id.padEnd(idWidth)}  ${f.title}`);
  }
  for (const [i, f] of report.findings.entries()) {
    lines.push('');
    lines.push(`${bold(`${i + 1}. ${f.title}`)} ${paint(COLOURS[f.severity], `[${f.severity}]`)} ${f.id}`);
    lines.push(`   sent:      ${f.evidence.sent}`);
    lines.push(`   received:  ${f.evidence.received}`);
    lines.push(`   fix (portcullis): ${f.fix.portcullis}`);
    lines.push(`   fix (without):    ${f.fix.without}`);
  }
  lines.push('');
  lines.push(bold('probes'));
  const width = Math.max(...report.probes.map((p) => p.probe.length));
  for (const p of report.probes) lines.push(`  ${p.probe.padEnd(width)}  ${p.status.padEnd(7)}  ${p.note}`.trimEnd());
  return `${lines.join('\n')}\n`;
}
