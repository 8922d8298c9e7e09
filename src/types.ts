/** Public types of the scan report: the JSON contract of ../shared/DESIGN.md (schemaVersion 1). */
import type { ShardDataset } from './shard.js';

export type Severity = 'error' | 'warning';

/** Finding kinds. Kinds may be added; a kind is never renamed (it is the report's contract). */
export const FINDING_KINDS = [
  'nan',
  'posinf',
  'neginf',
  'fp16_overflow',
  'constant_sample',
  'shape_mismatch',
  'bad_record',
  'label_out_of_range',
  'corrupt_image',
  'truncated_image',
  'channel_mismatch',
  'size_mismatch',
  'missing_file',
  'corrupt_file',
  'inconsistent_lengths',
  'label_missing_in_batches',
  'sorted_labels',
  'io_error',
  'record_count_mismatch',
  'oversized_image',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/**
 * One problem, with a locator. Databases locate records by `key` and `index` (position in key order);
 * HDF5 rows by `file`, `index` and `field`; list entries by `file`, `line` and `index`; file-level damage by
 * `file` alone (plus `page` or `offset` where the format has them).
 */
export interface Finding {
  kind: FindingKind;
  severity: Severity;
  message: string;
  key?: string;
  index?: number;
  file?: string;
  line?: number;
  field?: string;
  label?: number;
  count?: number;
  page?: number;
  offset?: number;
}

/** Value statistics over every finite float (or integer pixel) value the dataset holds. */
export interface ValueStats {
  values: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  nan: number;
  posinf: number;
  neginf: number;
  fp16Overflow: number;
}

export interface LabelReport {
  /** label → count, keys in numeric order. */
  histogram: Record<string, number>;
  records: number;
  numClasses: number;
  /** Whether numClasses came from --num-classes or was inferred as max label + 1. */
  numClassesSource: 'option' | 'inferred';
  /** Class names by label, when labels come from class folders (sorted folder names, as torchvision does). */
  classNames?: string[];
  batchSize: number;
  /**
   * Per label (every label seen, and every class below numClasses): the fraction of shuffled batches of
   * `batchSize` without it, and of the full batches in storage order without it.
   */
  missingInBatches?: Record<string, MissingInBatches>;
  /** Fraction at which a label gets a `label_missing_in_batches` finding. */
  missingThreshold?: number;
  /** Smallest batch size at which every label is in a shuffled batch with probability ≥ 99%; null: none practical. */
  recommendedBatchSize?: number | null;
  /** When no practical batch size gets there: the labels that prevent it, worst first. */
  blockingLabels?: number[];
  /** Largest label count over the smallest. */
  imbalanceRatio?: number;
  /** Full batches in storage order, and records in the partial last one (not counted in `sequential`). */
  fullBatches?: number;
  partialBatch?: number;
  /** Label changes between neighbours in storage order, and their expectation in a shuffled order. */
  labelChanges?: number;
  expectedLabelChanges?: number;
  /** Share of full storage-order batches that hold a single label. */
  singleLabelBatchShare?: number;
  sortedLabels?: boolean;
}

export interface MissingInBatches {
  shuffled: number;
  sequential: number;
  /** Expected shuffled batches per epoch without the label. */
  expectedBatchesWithout: number;
  /** Probability (lower bound) that at least one batch of a shuffled epoch lacks the label. */
  pEpochHasOne: number;
  sequentialBatchesWithout: number;
}

export interface DatasetReport {
  path: string;
  format: string;
  /** Records read (databases: entries; HDF5: rows; images: files). */
  records: number;
  bytes: number;
  durationMs: number;
  /** Whether every record was reached; false when damage hid some of them. */
  complete: boolean;
  /** Record count the format itself declares (e.g. LMDB's md_entries), when it has one. */
  declaredRecords?: number;
  labels: LabelReport | null;
  stats: ValueStats | null;
  /** Shapes seen, "CxHxW" → records, for consistency checks. */
  shapes?: Record<string, number>;
  findingCounts: Partial<Record<FindingKind, number>>;
  /** Exact counts by severity (a kind's severity can vary, e.g. corrupt_image). */
  severityCounts: Record<Severity, number>;
  findings: Finding[];
}

export interface SkippedPath {
  path: string;
  reason: string;
}

export interface ReportSummary {
  datasets: number;
  records: number;
  bytes: number;
  errors: number;
  warnings: number;
  findingCounts: Partial<Record<FindingKind, number>>;
  skipped: number;
}

export interface Report {
  tool: { name: 'nanscan'; version: string };
  schemaVersion: 1;
  startedAt: string;
  durationMs: number;
  options: ReportOptions;
  summary: ReportSummary;
  /** False when the scan was interrupted (Ctrl-C, SIGTERM, an aborted signal): the report covers part of the input. */
  complete: boolean;
  datasets: DatasetReport[];
  skipped: SkippedPath[];
  kernel: 'wasm-simd' | 'js';
  /** Present in shard reports (`--shard i/n`): what `nanscan merge` needs to join them exactly. */
  shard?: { index: number; count: number; datasets: ShardDataset[] };
  /** Present when a baseline was applied: the known findings it removed from this report. */
  baseline?: { file: string; suppressed: number; suppressedByKind: Partial<Record<FindingKind, number>> };
  exitCode: 0 | 1;
}

/** The options that shape results, echoed into the report. */
export interface ReportOptions {
  batchSize: number;
  numClasses: number | null;
  failOn: 'error' | 'warning' | 'none';
  maxExamples: number;
  workers: number;
  maxWarnings: number | null;
  missingThreshold: number;
  imageStrictness: 'warning' | 'error';
  severity: Partial<Record<FindingKind, Severity | 'off'>>;
}
