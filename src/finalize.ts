/** Merges a dataset's partition results (in partition order) into its report, then runs dataset-level checks. */
import { checkShapes } from './checks/consistency.js';
import { FindingSink, type SeverityOverrides } from './checks/findings.js';
import { analyzeLabelBatches, withBatchAnalysis } from './checks/label-batches.js';
import { labelHistogram } from './checks/labels.js';
import { DEFAULT_SEVERITY } from './checks/severity.js';
import { createAccumulator, finishStats, mergeAccumulators } from './checks/stats.js';
import type { PartitionResult, ShapeTally } from './pool/protocol.js';
import type { Source, SourceInfo } from './readers/types.js';
import { addUnchecked, uncheckedFinding, uncheckedGroups, type UncheckedTally } from './coverage.js';
import type { DatasetReport, Finding } from './types.js';

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
}

export function finalizeDataset(d: DatasetInput): DatasetReport {
  const sink = new FindingSink(d.maxExamples, d.severity);
  for (const f of d.info?.findings ?? []) sink.add(f);
  for (const f of d.findings) sink.add(f);

  const stats = createAccumulator();
  const shapes: Record<string, ShapeTally> = {};
  const labelParts: Int32Array[] = [];
  let records = 0;
  let bytes = 0;
  let explicitLabels = 0;
  let nonIntegerLabels = 0;
  let uncounted = 0;
  const unchecked: UncheckedTally = {};
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
    for (const [id, t] of Object.entries(r.shapes)) {
      const into = (shapes[id] ??= { channels: t.channels, height: t.height, width: t.width, count: 0, examples: [] });
      into.count += t.count;
      for (const ex of t.examples) {
        if (into.examples.length < d.maxExamples) into.examples.push({ ...ex, index: ex.index + base });
      }
    }
    labelParts.push(r.labels.subarray(0, r.labelled));
    explicitLabels += r.explicitLabels;
    nonIntegerLabels += r.nonIntegerLabels;
    records += r.records;
    bytes += r.bytes;
    uncounted += r.uncounted;
    for (const [reason, t] of Object.entries(r.unchecked ?? {})) {
      addUnchecked(unchecked, reason as keyof UncheckedTally, t.count, t.examples, d.maxExamples);
    }
  }

  checkShapes(shapes, sink);

  const declared = d.info?.declaredRecords;
  const reached = records + uncounted;
  if (declared !== undefined && declared !== reached && !d.aborted && !d.partial) {
    complete = false;
    sink.add({
      kind: 'record_count_mismatch', severity: DEFAULT_SEVERITY.record_count_mismatch,
      message: `The database declares ${declared} entries but ${reached} could be read` +
        `${uncounted > 0 ? ` (${records} records and ${uncounted} named databases)` : ''}` +
        `${declared > reached ? `: ${declared - reached} are unreachable` : ''}.`,
      file: d.source.path, count: Math.abs(declared - reached),
    });
  }

  let labels = null;
  // Labels that are not all integers are regression targets: statistics only, no class analysis.
  if (explicitLabels > 0 && nonIntegerLabels === 0) {
    const all = new Int32Array(labelParts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of labelParts) { all.set(p, at); at += p.length; }
    const histogram = labelHistogram(all, d.numClasses, d.batchSize);
    if (d.info?.classNames) histogram.classNames = d.info.classNames;
    // Image folders have no storage order a data loader follows (ImageFolder loaders shuffle, and the sorted
    // listing is ours): only the shuffled-batch risk applies to them.
    const analysis = analyzeLabelBatches(all, {
      batchSize: d.batchSize, numClasses: d.numClasses, missingThreshold: d.missingThreshold,
      inStorageOrder: d.source.format !== 'image-folder',
    });
    for (const f of analysis.findings) sink.add({ ...f, file: d.source.path });
    labels = withBatchAnalysis(histogram, analysis, d.missingThreshold);
  }

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
    stats: finishStats(stats),
    coverage: { records, checkedRecords: Math.max(0, records - uncheckedRecords), unchecked: groups },
    findingCounts: sink.counts,
    severityCounts: sink.severities,
    findings: sink.findings,
  };
  if (declared !== undefined) report.declaredRecords = declared;
  if (Object.keys(shapes).length > 0) {
    report.shapes = Object.fromEntries(Object.entries(shapes).sort().map(([k, t]) => [k, t.count]));
  }
  return report;
}
