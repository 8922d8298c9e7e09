/** The label chart: rows, collapsing, bar scale, width and color, computed from analyses rather than snapshots. */
import { describe, expect, it } from 'vitest';
import { rng } from '../../scripts/lib/caffe.js';
import { analyzeLabelBatches, withBatchAnalysis } from '../../src/checks/label-batches.js';
import type { LabelAnalysis } from '../../src/checks/label-batches.js';
import { labelHistogram } from '../../src/checks/labels.js';
import { renderLabelChart } from '../../src/report/label-chart.js';

const EIGHTHS = '▏▎▍▌▋▊▉';
// A chart row: indent, label, one space, bar (blocks then padding), count, percentage, maybe a risk mark.
const ROW = /^ {2}\s*(-?\d+) ([█▏▎▍▌▋▊▉]*) *\s([\d,]+) +\S+%( ⚠)?$/;

function labelsFor(counts: readonly number[], seed: number): Int32Array {
  const out = new Int32Array(counts.reduce((s, n) => s + n, 0));
  let at = 0;
  counts.forEach((n, k) => { out.fill(k, at, at + n); at += n; });
  const next = rng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

interface ChartCase { color?: boolean; width?: number; maxRows?: number; numClasses?: number | null; batchSize?: number }

function chart(labels: Int32Array, opts: ChartCase = {}) {
  const batchSize = opts.batchSize ?? 64;
  const a = analyzeLabelBatches(labels, { batchSize, numClasses: opts.numClasses ?? null });
  const report = withBatchAnalysis(labelHistogram(labels, opts.numClasses ?? null, batchSize), a);
  const h = report.histogram;
  // The chart reads the report alone (as text.ts does with a report read back from JSON).
  const text = renderLabelChart(JSON.parse(JSON.stringify(report)) as typeof report, { color: opts.color ?? false, width: opts.width, maxRows: opts.maxRows })!;
  return { a, h, text, lines: text.split('\n') };
}

/** Chart rows as label → bar length in eighths. */
function bars(lines: readonly string[]): Map<number, { eighths: number; count: number }> {
  const out = new Map<number, { eighths: number; count: number }>();
  for (const line of lines) {
    const m = ROW.exec(line);
    if (!m) continue;
    const bar = m[2]!;
    const full = [...bar].filter((c) => c === '█').length;
    const partial = [...bar].find((c) => c !== '█');
    out.set(Number(m[1]), { eighths: full * 8 + (partial ? EIGHTHS.indexOf(partial) + 1 : 0), count: Number(m[3]!.replace(/,/g, '')) });
  }
  return out;
}

const atRisk = (a: LabelAnalysis): number[] =>
  a.findings.filter((f) => f.kind === 'label_missing_in_batches').map((f) => f.label!);

describe('renderLabelChart', () => {
  it('has a row per label, with its count, when they fit', () => {
    const counts = [500, 1200, 30, 3, 800, 2000];
    const { lines } = chart(labelsFor(counts, 1));
    const rows = bars(lines);
    expect([...rows.keys()]).toEqual([0, 1, 2, 3, 4, 5]);
    counts.forEach((n, k) => expect(rows.get(k)!.count).toBe(n));
    expect(lines.some((l) => l.includes('more label'))).toBe(false);
  });

  it('scales bars with counts: the largest label has the longest bar, and order is kept', () => {
    const counts = [500, 1200, 30, 3, 800, 2000, 1999];
    for (const width of [40, 80, 140]) {
      const rows = [...bars(chart(labelsFor(counts, 2), { width }).lines).values()];
      const longest = Math.max(...rows.map((r) => r.eighths));
      const largest = rows.reduce((m, r) => (r.count > m.count ? r : m));
      expect(largest.eighths).toBe(longest);
      for (const r of rows) for (const s of rows) if (r.count < s.count) expect(r.eighths).toBeLessThanOrEqual(s.eighths);
      expect(rows.every((r) => r.eighths > 0)).toBe(true); // even 3 of 6532 shows
      // Eighth-block resolution: the bar is count/max of the bar width, to the nearest eighth.
      const ratioError = rows.map((r) => Math.abs(r.eighths / longest - r.count / largest.count));
      expect(Math.max(...ratioError)).toBeLessThan(1.5 / longest + 1e-12);
    }
  });

  it('collapses many labels into "… N more labels" but always shows the riskiest', () => {
    // 60 labels, three of them rare enough to be missing from most batches.
    const counts = Array.from({ length: 60 }, (_, k) => (k === 17 ? 2 : k === 41 ? 5 : k === 55 ? 9 : 400 + 10 * k));
    const { a, lines } = chart(labelsFor(counts, 3), { maxRows: 10 });
    const rows = bars(lines);
    expect(rows.size).toBe(10);
    expect(lines.some((l) => l.includes(`… ${60 - 10} more labels`))).toBe(true);
    for (const k of [17, 41, 55]) expect(atRisk(a)).toContain(k);
    for (const k of [17, 41, 55]) expect(rows.has(k)).toBe(true);
    expect(rows.has(59)).toBe(true); // the largest, which sets the scale
  });

  it('shows never-seen classes of --num-classes as empty, at-risk rows', () => {
    const { lines } = chart(labelsFor([300, 300], 4), { numClasses: 3 });
    const rows = bars(lines);
    expect(rows.get(2)).toEqual({ eighths: 0, count: 0 });
    expect(lines.find((l) => ROW.exec(l)?.[1] === '2')).toMatch(/⚠$/);
  });

  it('lists the labels at risk in the table with their numbers, and the recommendation', () => {
    const { a, text, lines } = chart(labelsFor([3000, 3000, 3000, 997, 3], 5));
    expect(atRisk(a)).toEqual([4]);
    const row = lines.find((l) => /^\s+4\s+0\.03%/.test(l));
    expect(row).toBeDefined();
    const r = a.risks.find((x) => x.label === 4)!;
    expect(row).toContain(`${Math.round(r.expectedBatchesWithout)} of ${a.fullBatches}`);
    expect(text).toContain(`Recommended batch size: ${a.recommendedBatchSize!.toLocaleString('en-US')} or more`);
    expect(text).toContain('Storage order: looks shuffled');
  });

  it('says when no practical batch size works, naming the blockers, and when labels look sorted', () => {
    const labels = new Int32Array(200_000).map((_, i) => (i < 100_000 ? 0 : 1));
    labels[199_999] = 2;
    const { a, text } = chart(labels);
    expect(a.recommendedBatchSize).toBeNull();
    expect(text.replace(/\s+/g, ' ')).toContain('blocked by label 2 (1 record)');
    expect(text).toContain('looks sorted by label');
  });

  it('respects the width on every line, and never emits ANSI codes without color', () => {
    const counts = Array.from({ length: 40 }, (_, k) => (k % 7 === 0 ? 2 : 50 + 37 * k));
    const labels = labelsFor(counts, 6);
    for (const width of [40, 57, 80, 123]) {
      const { text, lines } = chart(labels, { width, maxRows: 12, numClasses: 45 });
      expect(text).not.toMatch(/\u001b/);
      for (const l of lines) expect([...l].length).toBeLessThanOrEqual(width);
    }
    const colored = chart(labels, { color: true, width: 80, maxRows: 12 });
    expect(colored.text).toMatch(/\u001b\[\d+m/);
    // Colors change nothing but the escapes.
    expect(colored.text.replace(/\u001b\[\d+m/g, '')).toBe(chart(labels, { width: 80, maxRows: 12 }).text);
  });

  it('handles an empty dataset and a single label', () => {
    expect(chart(new Int32Array(0)).text).toContain('0 labels, 0 records');
    const one = chart(new Int32Array(500).fill(7));
    expect([...bars(one.lines).keys()]).toEqual([7]);
    expect(one.text).toContain('a single label');
    expect(one.text).toContain('No label is missing');
  });
});
