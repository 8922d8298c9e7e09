/** Text reporter for people at a terminal: a summary per dataset, findings grouped by kind with examples. */
import { formatBytes as bytes } from './context.js';
import { cleanVerdict } from '../coverage.js';
import type { DatasetReport, Finding, FindingKind, Report, UncheckedGroup } from '../types.js';
import { renderLabelChart } from './label-chart.js';
import { formatCount } from '../numbers.js';

export interface TextOptions {
  color: boolean;
  /** Terminal columns for the label chart. Default 80. */
  width?: number;
  /** Example findings printed per kind (the JSON keeps --max-examples). */
  examplesPerKind?: number;
}

const ANSI = { red: 31, yellow: 33, green: 32, dim: 2, bold: 1, cyan: 36 } as const;

export function renderText(report: Report, options: TextOptions): string {
  const c = (style: keyof typeof ANSI, s: string): string => (options.color ? `\u001b[${ANSI[style]}m${s}\u001b[0m` : s);
  const perKind = options.examplesPerKind ?? 3;
  const out: string[] = [];
  const s = report.summary;
  out.push(c('bold', `nanscan ${report.tool.version}`) +
    c('dim', ` · ${plural(s.datasets, 'dataset')}, ${num(s.records)} records, ${bytes(s.bytes)} in ` +
      `${seconds(report.durationMs)} (kernel: ${report.kernel})`));
  for (const d of report.datasets) {
    out.push('');
    out.push(datasetHeader(d, c));
    const kinds = Object.keys(d.findingCounts) as FindingKind[];
    for (const kind of kinds.sort((a, b) => severityRank(d, a) - severityRank(d, b) || (a < b ? -1 : 1))) {
      const examples = d.findings.filter((f) => f.kind === kind);
      const sev = examples[0]?.severity ?? 'error';
      const mark = sev === 'error' ? c('red', '✖') : c('yellow', '⚠');
      out.push(`  ${mark} ${kind.padEnd(24)} ${num(d.findingCounts[kind] ?? 0).padStart(8)}`);
      for (const f of examples.slice(0, perKind)) out.push(`      ${c('dim', locator(d, f))}${f.message}`);
      const more = (d.findingCounts[kind] ?? 0) - Math.min(perKind, examples.length);
      if (more > 0) out.push(c('dim', `      … and ${num(more)} more`));
    }
    if (d.labels) {
      const names = d.labels.classNames ? ` (${d.labels.classNames.map((n, i) => `${i}=${n}`).join(', ')})` : '';
      out.push(c('dim', `  ${plural(d.labels.numClasses, 'class', 'classes')}, ${d.labels.numClassesSource === 'option' ? 'from --num-classes' : 'inferred from the largest label'}${names}`));
      const chart = renderLabelChart(d.labels, { color: options.color, width: options.width ?? 80, maxRows: 12 });
      if (chart !== null) for (const line of chart.trimEnd().split('\n')) out.push(`  ${line}`);
    }
    if (d.stats && d.stats.min !== null) {
      const st = d.stats;
      out.push(c('dim', `  values: min ${fmt(st.min)}, max ${fmt(st.max)}, mean ${fmt(st.mean)}, std ${fmt(st.std)}`));
      if (st.scaledImages !== undefined) {
        out.push(c('dim', `  (${formatCount(st.scaledImages)} JPEGs checked from 1/8-scale decodes: these statistics are of 8×8 block means; --full-decode for exact pixel statistics)`));
      }
      if (st.channels !== undefined && st.channels.length > 0) {
        out.push(c('dim', `  channels: ${st.channels.map((ch) => `${ch.channel} mean ${fmt(ch.mean)} std ${fmt(ch.std)}`).join(' · ')}`));
      }
    }
  }
  if (report.skipped.length > 0) {
    out.push('');
    out.push(c('dim', `Skipped ${plural(report.skipped.length, 'path')} that ${report.skipped.length === 1 ? 'is not a dataset' : 'are not datasets'}:`));
    for (const sk of report.skipped.slice(0, 10)) out.push(c('dim', `  ${sk.path}: ${sk.reason}`));
    if (report.skipped.length > 10) out.push(c('dim', `  … and ${report.skipped.length - 10} more`));
  }
  out.push('');
  if (report.baseline) {
    out.push(c('dim', `Baseline ${report.baseline.file}: ${plural(report.baseline.suppressed, 'known finding')} not shown.`));
  }
  const tally = `${plural(s.errors, 'error')}, ${plural(s.warnings, 'warning')}`;
  const gate = c('dim', ` (--fail-on ${report.options.failOn}: exit ${report.exitCode})`);
  // What was not checked, over all datasets: "no problems" is said of the checked part only.
  const groups: UncheckedGroup[] = report.datasets.flatMap((d) => d.coverage.unchecked);
  const checked = report.datasets.reduce((n, d) => n + d.coverage.checkedRecords, 0);
  const uncheckedWarnings = report.datasets.reduce((n, d) =>
    n + d.findings.filter((f) => f.kind === 'unchecked' && f.severity === 'warning').length, 0);
  const onlyUnchecked = s.errors === 0 && s.warnings === uncheckedWarnings;
  // An interrupted scan has no verdict, and an empty one (--allow-empty) checked nothing: neither ends in ✔.
  if (!report.complete) {
    out.push(c('yellow', 'Interrupted: this report covers only what was read before the stop.'));
    out.push(c('red', '✖ ') + c('bold', 'Scan interrupted: no verdict on what was not read') +
      c('dim', ` (${tally} in what was read; exit ${report.exitCode})`));
  } else if (report.datasets.length === 0) out.push(c('yellow', '⚠ No dataset found in the given paths: nothing was checked.'));
  else if (s.errors + s.warnings === 0 && groups.length === 0) out.push(c('green', `✔ No problems found.`));
  else if (onlyUnchecked) {
    out.push(c('yellow', `✔ ${cleanVerdict(s.records, checked, groups)}`) + (s.warnings > 0 ? gate : ''));
  } else {
    out.push((s.errors > 0 ? c('red', '✖ ') : c('yellow', '⚠ ')) + c('bold', tally) + gate);
  }
  return `${out.join('\n')}\n`;
}

function datasetHeader(d: DatasetReport, c: (s: keyof typeof ANSI, t: string) => string): string {
  const declared = d.declaredRecords !== undefined && d.declaredRecords !== d.records ? ` of ${num(d.declaredRecords)} declared` : '';
  const status = d.severityCounts.error > 0 ? c('red', '✖') : d.severityCounts.warning > 0 ? c('yellow', '⚠') : c('green', '✔');
  const checked = d.coverage.checkedRecords < d.records ? ` (${num(d.coverage.checkedRecords)} checked)` : '';
  return `${status} ${c('bold', d.path)} ${c('cyan', d.format)} ` +
    c('dim', `${num(d.records)} records${declared}${checked}, ${bytes(d.bytes)}${d.complete ? '' : ', incomplete'}`);
}

function severityRank(d: DatasetReport, kind: FindingKind): number {
  return d.findings.find((f) => f.kind === kind)?.severity === 'warning' ? 1 : 0;
}

/**
 * Where a finding is. A list entry (`line` set) is a line of the list, which is the dataset: `list.txt:31 →
 * imgs/missing.jpg` (the entry as the list names it, relative to the list's folder when it lies under it).
 */
function locator(d: DatasetReport, f: Finding): string {
  const parts: string[] = [];
  if (f.line !== undefined) {
    const folder = d.path.includes('/') ? d.path.slice(0, d.path.lastIndexOf('/') + 1) : '';
    const entry = f.file !== undefined && folder !== '' && f.file.startsWith(folder) ? f.file.slice(folder.length) : f.file;
    parts.push(entry !== undefined ? `${d.path}:${f.line} → ${entry}` : `${d.path}:${f.line}`);
  } else if (f.file !== undefined) parts.push(f.file);
  if (f.database !== undefined) parts.push(`db ${f.database}`);
  if (f.key !== undefined) parts.push(`key ${f.key}`);
  if (f.field !== undefined) parts.push(`field ${f.field}`);
  if (f.index !== undefined && f.line === undefined) parts.push(`#${f.index}`);
  if (f.page !== undefined) parts.push(`page ${f.page}`);
  if (f.offset !== undefined) parts.push(`offset ${f.offset}`);
  return parts.length > 0 ? `${parts.join(' ')}: ` : '';
}

const num = formatCount;
const plural = (n: number, w: string, ws = `${w}s`): string => `${num(n)} ${n === 1 ? w : ws}`;
const seconds = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);
const fmt = (x: number | null): string => (x === null ? '–' : Number.isInteger(x) ? String(x) : x.toPrecision(5));

