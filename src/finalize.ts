/** Merges a dataset's partition results (in partition order) into its report, then runs dataset-level checks. */
import { checkShapes } from './checks/consistency.js';
import { FindingSink, type SeverityOverrides } from './checks/findings.js';
import { analyzeLabelBatches, tallyLabels, withBatchAnalysis, type LabelTally } from './checks/label-batches.js';
import { labelHistogram } from './checks/labels.js';
import { damageFinding, DEFAULT_SEVERITY } from './checks/severity.js';
import { createAccumulator, finishStats, mergeAccumulators } from './checks/stats.js';
import { emptyKvValues, type KvValues, type LabelArray, type PartitionResult, type ShapeTally } from './checks/result.js';
import type { Source, SourceInfo } from './readers/types.js';
import { channelStats, elementMean, elementPosition, elementStd, constantChannels, type ElementAccumulator } from './checks/elements.js';
import { emptyLayouts, mergeLayouts, type LayoutResult } from './checks/layouts.js';
import { addUnchecked, uncheckedFinding, uncheckedGroups, type UncheckedTally } from './coverage.js';
import type { ChannelStat, DatasetReport, ElementReport, Finding, ValueStats } from './types.js';
import { formatCount } from './numbers.js';

export interface DatasetInput {
  source: Source;
  info: SourceInfo | null;
  /** Findings about the dataset as a whole (open failures, failed partitions). */
  findings: Finding[];
  /** One entry per partition, in partition order; null when the partition could not be read. */
  results: (PartitionResult | null)[];
  durationMs: number;
  /** The scan was stopped before this dataset was fully read. */
  aborted?: boolean;
  /** A shard's part of the dataset: its declared record count is not comparable. */
  partial?: boolean;
  maxExamples: number;
  numClasses: number | null;
  batchSize: number;
  severity: SeverityOverrides;
  missingThreshold: number;
  /**
   * The labels of `results`, tallied in storage order as partitions finished (scan.ts, which then drops them from
   * the results); when absent, they are tallied here from the results' own labels.
   */
  labels?: LabelTally;
  /** Full per-element sums by layout key, merged as partitions finished (scan.ts; only with elementStats). */
  elements?: Record<string, ElementAccumulator>;
}

export function finalizeDataset(d: DatasetInput): DatasetReport {
  const sink = new FindingSink(d.maxExamples, d.severity);
  for (const f of d.info?.findings ?? []) sink.add(damageFinding(f));
  for (const f of d.findings) sink.add(f);

  const stats = createAccumulator();
  const labelStats = createAccumulator();
  /** Per-row label findings of label arrays, kept only when the labels are classes (see below). */
  const labelChecks: Finding[] = [];
  const labelCounts = new FindingSink(0);
  const shapes: Record<string, ShapeTally> = {};
  const labelParts: LabelArray[] = [];
  let records = 0;
  let bytes = 0;
  let explicitLabels = 0;
  let nonIntegerLabels = 0;
  let uncounted = 0;
  let scaledImages = 0;
  const unchecked: UncheckedTally = {};
  const layouts = emptyLayouts();
  const values: Record<string, KvValues> = {};
  for (const n of d.info?.unchecked ?? []) addUnchecked(unchecked, n.reason, n.count, n.examples, d.maxExamples);
  let complete = !d.aborted && d.results.every((r) => r !== null) && d.findings.length === 0;
  for (const r of d.results) {
    if (r === null) continue;
    // Record indexes are partition-local until the records of earlier partitions are counted.
    const base = r.localIndexes ? records : 0;
    for (const f of r.findings) sink.keep(f.index === undefined ? f : { ...f, index: f.index + base });
    sink.mergeCounts(r.findingCounts, r.severityCounts);
    if (r.findingCounts.corrupt_file) complete = false;
    mergeAccumulators(stats, r.stats);
    scaledImages += r.scaledImages ?? 0;
    mergeShapes(shapes, r.shapes, base, d.maxExamples);
    if (d.labels === undefined) labelParts.push(r.labels.subarray(0, r.labelled));
    explicitLabels += r.explicitLabels;
    nonIntegerLabels += r.nonIntegerLabels;
    if (r.labelStats) mergeAccumulators(labelStats, r.labelStats);
    if (r.labelChecks) {
      labelChecks.push(...r.labelChecks.findings);
      labelCounts.mergeCounts(r.labelChecks.counts, r.labelChecks.severities);
    }
    records += r.records;
    bytes += r.bytes;
    uncounted += r.uncounted;
    for (const [db, v] of Object.entries(r.values ?? {})) {
      mergeValues((values[db] ??= emptyKvValues()), v, base, d.maxExamples);
    }
    mergeLayouts(layouts, r.layouts);
    for (const [reason, t] of Object.entries(r.unchecked ?? {})) {
      addUnchecked(unchecked, reason as keyof UncheckedTally, t.count, t.examples, d.maxExamples);
    }
  }

  // Each database is judged on its own values (a named `meta` database beside Datums is not a Datum database).
  // Image values are the dataset's shapes unless the database holds Datums (then they are bad records).
  let metadata = 0;
  for (const db of Object.keys(values).sort()) {
    const v = values[db]!;
    metadata += v.metadata;
    const holds = judgeValues(v, sink, unchecked, d.maxExamples);
    if (holds === 'images' || holds === 'other') mergeShapes(shapes, v.imageShapes, 0, d.maxExamples);
  }
  checkShapes(shapes, sink);

  const declared = d.info?.declaredRecords;
  const reached = records + uncounted + metadata;
  if (declared !== undefined && declared !== reached && !d.aborted && !d.partial) {
    complete = false;
    sink.add({
      kind: 'record_count_mismatch', severity: DEFAULT_SEVERITY.record_count_mismatch,
      message: `The database declares ${declared} entries but ${reached} could be read` +
        `${uncounted + metadata > 0 ? ` (${records} records${uncounted > 0 ? `, ${uncounted} named databases` : ''}` +
          `${metadata > 0 ? `, ${metadata} metadata entries` : ''})` : ''}` +
        `${declared > reached ? `: ${declared - reached} are unreachable` : ''}.`,
      file: d.source.path, count: Math.abs(declared - reached),
    });
  }

  let labels = null;
  // Label values mostly not integers are a regression target: statistics only, no class analysis and no
  // per-row label errors. Otherwise they are classes: the few non-integer, negative or too large labels are
  // errors at their rows, and the class analysis covers the integer ones.
  const regression = nonIntegerLabels > explicitLabels;
  if (!regression) {
    for (const f of labelChecks) sink.keep(f);
    sink.mergeCounts(labelCounts.counts, labelCounts.severities);
  }
  if (explicitLabels > 0 && !regression) {
    const tally = d.labels ?? tallyLabels(labelParts, d.batchSize);
    const histogram = labelHistogram(tally, d.numClasses, d.batchSize);
    if (d.info?.classNames) histogram.classNames = d.info.classNames;
    // A source no loader reads in storage order (SourceInfo.unordered: image folders) has only the shuffled-batch
    // risk.
    const analysis = analyzeLabelBatches(tally, {
      batchSize: d.batchSize, numClasses: d.numClasses, missingThreshold: d.missingThreshold,
      inStorageOrder: d.info?.unordered !== true,
    });
    for (const f of analysis.findings) sink.add({ ...f, file: d.source.path });
    labels = withBatchAnalysis(histogram, analysis, d.missingThreshold);
  }

  const { channels, elements } = layoutFindings(layouts, d.elements ?? {}, sink, d.source.path);

  const groups = uncheckedGroups(unchecked);
  for (const g of groups) sink.add(uncheckedFinding(g, d.source.path));
  const uncheckedRecords = groups.reduce((n, g) => n + (g.unit === 'record' ? g.count : 0), 0);

  const report: DatasetReport = {
    path: d.source.path,
    format: d.source.format,
    records,
    bytes: d.info?.bytes ?? bytes,
    durationMs: Math.round(d.durationMs),
    complete,
    labels,
    stats: withScaled(finishStats(stats), scaledImages),
    ...(labelStats.values > 0 || labelStats.nan + labelStats.posinf + labelStats.neginf > 0 ? { labelStats: finishStats(labelStats) } : {}),
    coverage: {
      records, checkedRecords: Math.max(0, records - uncheckedRecords),
      ...(metadata > 0 ? { metadataEntries: metadata } : {}), unchecked: groups,
    },
    findingCounts: sink.counts,
    severityCounts: sink.severities,
    findings: sink.findings,
  };
  if (declared !== undefined) report.declaredRecords = declared;
  if (channels.length > 0 && report.stats !== null) report.stats.channels = channels;
  if (elements.length > 0) report.elements = elements;
  if (Object.keys(shapes).length > 0) {
    report.shapes = Object.fromEntries(Object.entries(shapes).sort().map(([k, t]) => [k, t.count]));
  }
  return report;
}

function mergeShapes(into: Record<string, ShapeTally>, from: Record<string, ShapeTally>, base: number, maxExamples: number): void {
  for (const [id, t] of Object.entries(from)) {
    const to = (into[id] ??= { ...(t.field === undefined ? {} : { field: t.field }), channels: t.channels, height: t.height, width: t.width, count: 0, examples: [] });
    to.count += t.count;
    for (const ex of t.examples) {
      if (to.examples.length < maxExamples) to.examples.push({ ...ex, index: ex.index + base });
    }
  }
}

function mergeValues(into: KvValues, v: KvValues, base: number, maxExamples: number): void {
  into.datums += v.datums;
  into.images += v.images;
  into.odd += v.odd;
  into.metadata += v.metadata;
  mergeShapes(into.imageShapes, v.imageShapes, base, maxExamples);
  into.pickles += v.pickles;
  into.badPickles += v.badPickles;
  into.uncheckedPickles += v.uncheckedPickles;
  const keep = (to: Finding[], from: Finding[]): void => {
    for (const f of from) if (to.length < maxExamples) to.push({ ...f, index: f.index! + base });
  };
  keep(into.imageExamples, v.imageExamples);
  keep(into.oddExamples, v.oddExamples);
  keep(into.pickleExamples, v.pickleExamples);
  keep(into.badPickleExamples, v.badPickleExamples);
  keep(into.uncheckedPickleExamples, v.uncheckedPickleExamples);
}

/**
 * What a key/value database (the main one, or one named database) holds, judged from all its values: Caffe
 * Datums when at least half of them decode as Datums with content, encoded images when at least half are images,
 * pickles when at least half are valid-looking pickles (checked, or not interpreted: a torch tensor), else
 * neither (raw bytes of unknown layout, JSON).
 *
 * A value that does not fit is damage where the loader cannot read it: in a Datum database (Caffe's data layer
 * aborts: `bad_record`), in an image database (`corrupt_image`) and in a pickle database (`pickle.loads` raises:
 * `bad_record`); in any other database it is a record nanscan cannot check (`unchecked`, never damage). A pickle
 * nanscan does not interpret is never damage in a pickle database or any other: only `unchecked`.
 */
function judgeValues(
  v: KvValues, sink: FindingSink, unchecked: UncheckedTally, maxExamples: number,
): 'datums' | 'images' | 'pickles' | 'other' {
  const pickled = v.pickles + v.uncheckedPickles;
  const total = v.datums + v.images + v.odd + pickled + v.badPickles;
  const holds = v.datums > 0 && 2 * v.datums >= total ? 'datums'
    : v.images > 0 && 2 * v.images >= total ? 'images'
    : pickled > 0 && 2 * pickled >= total ? 'pickles' : 'other';
  const report = (n: number, examples: Finding[], kind: 'bad_record' | 'corrupt_image', message: (f: Finding) => string): void => {
    if (n === 0) return;
    for (const f of examples) sink.add({ ...f, kind, severity: DEFAULT_SEVERITY[kind], message: message(f) });
    sink.count(kind, DEFAULT_SEVERITY[kind], n - examples.length);
  };
  const skip = (n: number, examples: Finding[], withReason: boolean): void => {
    if (n === 0) return;
    addUnchecked(unchecked, 'opaque_value', n, examples.map((f) => `${describeKey(f)}${withReason ? ` (${f.message})` : ''}`), maxExamples);
  };
  const PICKLE = 'is a pickle';
  if (holds === 'datums') {
    const why = 'in a database of Caffe Datums the data layer aborts on it.';
    report(v.odd, v.oddExamples, 'bad_record', (f) => `Value ${f.message}; ${why}`);
    report(v.badPickles, v.badPickleExamples, 'bad_record', (f) => `Value ${f.message}; ${why}`);
    report(v.pickles, v.pickleExamples, 'bad_record', () => `Value ${PICKLE}, not a Datum; ${why}`);
    report(v.uncheckedPickles, v.uncheckedPickleExamples, 'bad_record', (f) => `Value ${PICKLE} (${f.message}), not a Datum; ${why}`);
    report(v.images, v.imageExamples, 'bad_record', () =>
      'Value is an encoded image, not a Datum: in a database of Caffe Datums the data layer cannot parse it.');
  } else if (holds === 'images') {
    const why = 'in a database of encoded images it is not an image.';
    report(v.odd, v.oddExamples, 'corrupt_image', (f) => `Value ${f.message}; ${why}`);
    report(v.badPickles, v.badPickleExamples, 'corrupt_image', (f) => `Value ${f.message}; ${why}`);
    report(v.pickles, v.pickleExamples, 'corrupt_image', () => `Value ${PICKLE}; ${why}`);
    report(v.uncheckedPickles, v.uncheckedPickleExamples, 'corrupt_image', (f) => `Value ${PICKLE} (${f.message}); ${why}`);
  } else if (holds === 'pickles') {
    const why = 'in a database of pickles pickle.loads raises on it.';
    report(v.odd, v.oddExamples, 'bad_record', (f) => `Value ${f.message}; ${why}`);
    report(v.badPickles, v.badPickleExamples, 'bad_record', (f) => `Value ${f.message}; ${why}`);
    report(v.images, v.imageExamples, 'bad_record', () => `Value is an encoded image, not a pickle; ${why}`);
    skip(v.uncheckedPickles, v.uncheckedPickleExamples, true);
  } else {
    skip(v.odd, v.oddExamples, false);
    skip(v.badPickles, v.badPickleExamples, true);
    skip(v.uncheckedPickles, v.uncheckedPickleExamples, true);
  }
  return holds;
}

function describeKey(f: Finding): string {
  return `${f.database !== undefined ? `db ${f.database} ` : ''}key ${f.key ?? '?'}`;
}

/** Per-element arrays in the report only up to this many positions; larger layouts go to the mean file. */
const ELEMENT_ARRAYS_MAX = 4096;

/**
 * Dataset-level findings of the record layouts (`constant_feature` per constant position, `channel_std_zero` per
 * constant channel), the channel statistics of the main layout (the one with most records) and the report's
 * per-layout summary.
 */
function layoutFindings(
  layouts: LayoutResult, sums: Record<string, ElementAccumulator>, sink: FindingSink, file: string,
): { channels: ChannelStat[]; elements: ElementReport[] } {
  const elements: ElementReport[] = [];
  let main: { records: number; channels: ChannelStat[] } = { records: 0, channels: [] };
  for (const [key, t] of Object.entries(layouts.layouts).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const c = t.constants;
    // Sums over every record of the layout, or none: a partition that could not keep sums leaves them partial.
    const acc = sums[key]?.count === t.records ? sums[key] : undefined;
    const pixels = t.field === 'pixels' || (t.field === 'data' && t.channelAxis === 'first');
    if (c !== null && c.records >= 2) {
      const what = pixels ? 'Pixel' : 'Feature';
      const why = pixels
        ? 'per-pixel standardisation divides by a zero std there (images with always-black borders are a legitimate case: ' +
          '"severity": {"constant_feature": "off"} turns this off)'
        : 'per-feature standardisation (x − mean) / std divides by zero there and gives NaN';
      c.positions.forEach((i, k) => {
        sink.add({
          kind: 'constant_feature', severity: DEFAULT_SEVERITY.constant_feature, file, field: t.field, element: i,
          message: `${what} ${elementPosition(t, i)} of '${t.field}' is ${c.values[k]} in all ${formatCount(c.records)} records: ${why}.`,
        });
      });
      for (const ch of constantChannels(c)) {
        sink.add({
          kind: 'channel_std_zero', severity: DEFAULT_SEVERITY.channel_std_zero, file, field: t.field,
          message: `Channel ${ch.channel} of '${t.field}' is ${ch.value} in every position of all ${formatCount(c.records)} records: ` +
            'per-channel normalisation (x − mean[c]) / std[c] divides by zero.',
        });
      }
    }
    const channels: ChannelStat[] = acc !== undefined ? channelStats(acc) : [];
    if (t.records > main.records && channels.length > 0) main = { records: t.records, channels };
    const e: ElementReport = { field: t.field, shape: t.shape, records: t.records, constantElements: c === null ? null : c.positions.length };
    if (acc !== undefined && acc.count > 0 && acc.sum.length <= ELEMENT_ARRAYS_MAX) {
      const n = acc.sum.length;
      e.mean = Array.from({ length: n }, (_, i) => elementMean(acc, i));
      e.std = Array.from({ length: n }, (_, i) => elementStd(acc, i));
      e.min = Array.from(acc.min);
      e.max = Array.from(acc.max);
    }
    elements.push(e);
  }
  return { channels: main.channels, elements };
}

/** Says how many images' pixels entered the statistics as block means (1/8-scale JPEG decodes). */
function withScaled(stats: ValueStats | null, scaledImages: number): ValueStats | null {
  return stats === null || scaledImages === 0 ? stats : { ...stats, scaledImages };
}
