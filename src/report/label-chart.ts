/**
 * Terminal rendering of the label analysis: the histogram as a horizontal bar chart (eighth-block resolution),
 * the per-label risk table, the recommended batch size and the sorted-labels verdict. Plain text when color is off.
 */
import { formatPercent, labelAtRisk, MAX_PRACTICAL_BATCH_SIZE, TARGET_ALL_LABELS_PROBABILITY } from '../label-rules.js';
import type { LabelReport } from '../types.js';
import { formatCount } from '../numbers.js';

export interface LabelChartOptions {
  color: boolean;
  /** Terminal columns; every line fits in it. Default 80, at least MIN_WIDTH. */
  width?: number;
  /** Label rows in the chart (and at-risk rows in the table) before the rest is collapsed into one line. */
  maxRows?: number;
}

const DEFAULT_WIDTH = 80;
/** Narrower than this the table columns cannot fit; narrower requests are widened to it. */
const MIN_WIDTH = 40;
const DEFAULT_MAX_ROWS = 20;
/** Collapsing needs room for at least one at-risk row and one of the largest labels (the bar scale). */
const MIN_ROWS = 2;
/**
 * When collapsing, at-risk labels take at most this share of the chart rows (the worst ones), so the chart still
 * shows the bulk of the distribution; the risk table lists them all anyway.
 */
const RISKY_ROW_SHARE = 0.5;
/** Blocking labels named in the recommendation line before "and N more". */
const MAX_NAMED_BLOCKERS = 8;
const FULL_BLOCK = '█';
/** Partial blocks by eighths: index e is e/8 of a cell. */
const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'] as const;
const RISK_MARK = '⚠';

const ANSI = { bold: 1, dim: 2, yellow: 33, cyan: 36 } as const;
type Style = keyof typeof ANSI | null;
/** A piece of a line with its style: lines are fitted to the width on plain text, then colored. */
type Segment = readonly [text: string, style: Style];

/** One label's batch figures, as the report gives them. */
interface LabelRisk {
  label: number;
  count: number;
  shuffled: number;
  sequential: number;
  expectedBatchesWithout: number;
}

interface Row {
  label: string;
  count: number;
  risk: LabelRisk | undefined;
  atRisk: boolean;
}

/** What the chart shows, read from a report's `labels` (so a report read back from disk renders the same). */
interface ChartView {
  risks: LabelRisk[];
  /** Labels with a label_missing_in_batches finding: the rule of the findings themselves (label-rules.ts). */
  flagged: Set<number>;
  fullBatches: number;
  recommendedBatchSize: number | null;
  blockingLabels: number[];
  imbalanceRatio: number;
  labelChanges: number;
  expectedChanges: number;
  singleLabelBatchShare: number;
  sorted: boolean;
  inStorageOrder: boolean;
  batchSize: number;
  records: number;
}

/**
 * The label chart of a report's `labels`: null when the report has no batch analysis (no labels, or a report
 * from before it).
 */
export function renderLabelChart(labels: LabelReport, opts: LabelChartOptions): string | null {
  const analysis = chartView(labels);
  return analysis === null ? null : renderView(analysis, labels.histogram, opts);
}

function renderView(analysis: ChartView, histogram: Record<string, number>, opts: LabelChartOptions): string {
  const width = Math.max(MIN_WIDTH, Math.floor(opts.width ?? DEFAULT_WIDTH));
  const maxRows = Math.max(MIN_ROWS, Math.floor(opts.maxRows ?? DEFAULT_MAX_ROWS));
  const paint = (segs: readonly Segment[]): string => render(fit(segs, width), opts.color);
  const out: string[] = [];

  const rows = collectRows(analysis, histogram);
  const total = rows.reduce((s, r) => s + r.count, 0);
  const present = rows.filter((r) => r.count > 0).length;
  out.push(paint([
    [`Labels: ${plural(rows.length, 'label')}, ${num(total)} records`, 'bold'],
    [present >= 2 ? `, largest/smallest ${ratio(analysis.imbalanceRatio)}:1` : '', 'dim'],
  ]));
  if (rows.length === 0) return `${out.join('\n')}\n`;

  // Chart: which rows to show when there are too many, then in label order.
  const shown = chooseRows(rows, maxRows);
  const hidden = rows.filter((r) => !shown.has(r));
  const maxCount = rows.reduce((m, r) => Math.max(m, r.count), 0);
  const visible = rows.filter((r) => shown.has(r));
  const labelW = Math.max(...visible.map((r) => r.label.length));
  const countW = Math.max(...visible.map((r) => num(r.count).length));
  const pctW = Math.max(...visible.map((r) => share(r.count, total).length));
  // "  label bar count pct ⚠": 2 + label + 1 + bar + 1 + count + 1 + pct + 2 (mark)
  const barW = Math.max(1, width - (2 + labelW + 1 + 1 + countW + 1 + pctW + 2));
  for (const r of visible) {
    const style: Style = r.atRisk ? 'yellow' : 'cyan';
    out.push(paint([
      [`  ${r.label.padStart(labelW)} `, r.atRisk ? 'yellow' : null],
      [bar(r.count, maxCount, barW).padEnd(barW), style],
      [` ${num(r.count).padStart(countW)} ${share(r.count, total).padStart(pctW)}`, null],
      [r.atRisk ? ` ${RISK_MARK}` : '', 'yellow'],
    ]));
  }
  if (hidden.length > 0) {
    const records = hidden.reduce((s, r) => s + r.count, 0);
    const risky = hidden.filter((r) => r.atRisk).length;
    out.push(paint([[`  … ${plural(hidden.length, 'more label')} (${num(records)} records, ` +
      `${share(records, total)})${risky > 0 ? `, ${num(risky)} of them at risk` : ''}`, 'dim']]));
  }

  // Risk table: the labels with a label_missing_in_batches finding, worst first.
  const B = analysis.batchSize;
  const atRisk = rows.filter((r) => r.atRisk && r.risk !== undefined).sort(byRisk).map((r) => r.risk!);
  out.push('');
  if (atRisk.length === 0) {
    out.push(paint([[`No label is missing from many batches of ${B}.`, null]]));
  } else {
    out.push(...wrap(`Labels at risk with batches of ${B} (share of batches without the label):`, width)
      .map((l) => paint([[l, 'bold']])));
    const header = ['label', 'share', 'shuffled', 'in order', 'per epoch'];
    const cells = atRisk.slice(0, maxRows).map((r) => [
      String(r.label),
      share(r.count, analysis.records),
      formatPercent(r.shuffled),
      analysis.fullBatches > 0 && analysis.inStorageOrder ? formatPercent(r.sequential) : '–',
      analysis.fullBatches > 0 ? `${batches(r.expectedBatchesWithout)} of ${num(analysis.fullBatches)}` : '–',
    ]);
    const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]!.length)));
    const line = (row: readonly string[]): string => `  ${row.map((x, c) => x.padStart(widths[c]!)).join('  ')}`;
    out.push(paint([[line(header), 'dim']]));
    for (const row of cells) out.push(paint([[line(row), null]]));
    if (atRisk.length > maxRows) {
      out.push(paint([[`  … ${plural(atRisk.length - maxRows, 'more label')} at risk`, 'dim']]));
    }
    out.push(...wrap('"per epoch": full batches of a shuffled epoch expected to lack the label.', width, '  ')
      .map((l) => paint([[l, 'dim']])));
  }

  // Recommendation and verdict: prose, wrapped to the width.
  out.push('');
  const target = formatPercent(TARGET_ALL_LABELS_PROBABILITY);
  if (analysis.records === 0) {
    out.push(...wrap('No records: no batch size to recommend.', width).map((l) => paint([[l, null]])));
  } else if (analysis.recommendedBatchSize !== null) {
    const rec = analysis.recommendedBatchSize;
    const verdict = B >= rec ? `the current ${B} is enough` : `the current ${B} is not`;
    out.push(...wrap(`Recommended batch size: ${num(rec)} or more puts every label in a shuffled batch with ` +
      `probability ≥ ${target}; ${verdict}.`, width).map((l) => paint([[l, B >= rec ? null : 'yellow']])));
  } else {
    const cap = Math.min(analysis.records, MAX_PRACTICAL_BATCH_SIZE);
    const counts = new Map(analysis.risks.map((r) => [r.label, r.count]));
    const named = analysis.blockingLabels.slice(0, MAX_NAMED_BLOCKERS)
      .map((l) => `${l} (${counts.get(l) ? plural(counts.get(l)!, 'record') : 'no records'})`).join(', ');
    const more = analysis.blockingLabels.length > MAX_NAMED_BLOCKERS
      ? ` and ${num(analysis.blockingLabels.length - MAX_NAMED_BLOCKERS)} more` : '';
    const which = analysis.blockingLabels.length === 1 ? 'label' : 'labels';
    out.push(...wrap(`No batch size up to ${num(cap)} puts every label in a shuffled batch with probability ≥ ` +
      `${target}; blocked by ${which} ${named}${more}.`, width).map((l) => paint([[l, 'yellow']])));
  }
  const changes = `${num(analysis.labelChanges)} label changes in storage order, about ` +
    `${num(Math.round(analysis.expectedChanges))} in a shuffled order`;
  let order: string;
  if (!analysis.inStorageOrder) order = 'Storage order: not read in order (image folder loaders shuffle).';
  else if (present < 2) order = 'Storage order: a single label, nothing to shuffle.';
  else if (analysis.sorted) {
    order = `Storage order: looks sorted by label (${changes}` +
      (analysis.fullBatches > 0 ? `; ${formatPercent(analysis.singleLabelBatchShare)} of batches hold one label` : '') +
      '). Shuffle it when building (e.g. convert_imageset --shuffle) or shuffle in the data layer.';
  } else order = `Storage order: looks shuffled (${changes}).`;
  out.push(...wrap(order, width).map((l) => paint([[l, analysis.sorted ? 'yellow' : null]])));
  return `${out.join('\n')}\n`;
}

/** Every label of the histogram and of the analysis (never-seen classes have no histogram entry), by label. */
function collectRows(analysis: ChartView, histogram: Record<string, number>): Row[] {
  const flagged = analysis.flagged;
  const risks = new Map(analysis.risks.map((r) => [String(r.label), r]));
  const labels = new Set([...Object.keys(histogram), ...risks.keys()]);
  return [...labels]
    .map((label) => {
      const risk = risks.get(label);
      const atRisk = risk !== undefined && flagged.has(risk.label);
      return { label, count: histogram[label] ?? risk?.count ?? 0, risk, atRisk };
    })
    .sort((a, b) => Number(a.label) - Number(b.label) || (a.label < b.label ? -1 : 1));
}

/**
 * The rows worth a line when not all fit: the riskiest labels first (always shown, up to RISKY_ROW_SHARE of the
 * rows, so the largest labels, which set the bar scale, keep their place), then the most frequent.
 */
function chooseRows(rows: readonly Row[], maxRows: number): Set<Row> {
  if (rows.length <= maxRows) return new Set(rows);
  const riskyRows = Math.max(1, Math.min(maxRows - 1, Math.ceil(maxRows * RISKY_ROW_SHARE)));
  const shown = new Set<Row>(rows.filter((r) => r.atRisk).sort(byRisk).slice(0, riskyRows));
  for (const r of [...rows].sort((a, b) => b.count - a.count)) {
    if (shown.size >= maxRows) break;
    shown.add(r);
  }
  return shown;
}

/** Worst first: the larger of the two missing fractions, then the rarer label. */
function byRisk(a: Row, b: Row): number {
  const ra = a.risk ? Math.max(a.risk.shuffled, a.risk.sequential) : 0;
  const rb = b.risk ? Math.max(b.risk.shuffled, b.risk.sequential) : 0;
  return rb - ra || a.count - b.count || Number(a.label) - Number(b.label);
}

/** A bar of count/max of `cells` cells in eighths; any non-zero count gets at least an eighth, so it shows. */
export function bar(count: number, max: number, cells: number): string {
  if (count <= 0 || max <= 0) return '';
  const eighths = Math.max(1, Math.round((count / max) * cells * 8));
  return FULL_BLOCK.repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8]!;
}

/** Truncates a line to `width` characters (code points; block and box characters are one cell), marking the cut. */
function fit(segs: readonly Segment[], width: number): Segment[] {
  const total = segs.reduce((n, [t]) => n + [...t].length, 0);
  if (total <= width) return [...segs];
  const out: Segment[] = [];
  let room = width - 1;
  for (const [t, style] of segs) {
    const chars = [...t];
    if (chars.length <= room) { out.push([t, style]); room -= chars.length; continue; }
    out.push([`${chars.slice(0, room).join('')}…`, style]);
    break;
  }
  return out;
}

function render(segs: readonly Segment[], color: boolean): string {
  const paint = ([t, style]: Segment): string =>
    (color && style !== null && t !== '' ? `\u001b[${ANSI[style]}m${t}\u001b[0m` : t);
  return segs.map(paint).join('');
}

/** Greedy word wrap: the first line starts with `indent`, continuation lines with two more spaces. */
function wrap(text: string, width: number, indent = ''): string[] {
  const lines: string[] = [];
  const more = `${indent}  `;
  let line = indent;
  let empty = true;
  for (const word of text.split(' ')) {
    if (empty) { line += word; empty = false; continue; }
    if ([...line].length + 1 + [...word].length <= width) line += ` ${word}`;
    else { lines.push(line); line = more + word; }
  }
  lines.push(line);
  return lines;
}

const num = formatCount;
const plural = (n: number, w: string): string => `${num(n)} ${w}${n === 1 ? '' : 's'}`;
const share = (n: number, total: number): string => (total > 0 ? formatPercent(n / total) : '–');
const ratio = (x: number): string => (x < 10 ? x.toFixed(1) : num(Math.round(x)));
const batches = (x: number): string => (x === 0 ? '0' : x < 0.1 ? '<0.1' : x < 10 ? x.toFixed(1) : num(Math.round(x)));

/** The chart's view of a report's labels; null when the report predates the batch analysis. */
function chartView(l: LabelReport): ChartView | null {
  const m = l.missingInBatches;
  if (m === undefined || l.recommendedBatchSize === undefined) return null;
  const threshold = l.missingThreshold ?? 0.05;
  const inStorageOrder = l.inStorageOrder ?? true;
  const labels = new Set([...Object.keys(l.histogram), ...Object.keys(m)].map(Number));
  const risks: LabelRisk[] = [...labels].sort((a, b) => a - b).map((label) => {
    const x = m[String(label)];
    return {
      label, count: l.histogram[String(label)] ?? 0, shuffled: x?.shuffled ?? 0, sequential: x?.sequential ?? 0,
      expectedBatchesWithout: x?.expectedBatchesWithout ?? 0,
    };
  });
  return {
    risks,
    flagged: new Set(l.records > 0 ? risks.filter((r) => labelAtRisk(r, threshold, inStorageOrder)).map((r) => r.label) : []),
    fullBatches: l.fullBatches ?? 0,
    recommendedBatchSize: l.recommendedBatchSize,
    blockingLabels: l.blockingLabels ?? [],
    imbalanceRatio: l.imbalanceRatio ?? 1,
    labelChanges: l.labelChanges ?? 0,
    expectedChanges: l.expectedLabelChanges ?? 0,
    singleLabelBatchShare: l.singleLabelBatchShare ?? 0,
    sorted: l.sortedLabels ?? false,
    inStorageOrder,
    batchSize: l.batchSize,
    records: l.records,
  };
}
