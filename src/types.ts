/** Public types of the scan report: the JSON contract of docs/DESIGN.md (schemaVersion 1). */

import type { FindingKind, Severity } from './kinds.js';

export { FINDING_KINDS, KINDS, type FindingKind, type KindInfo, type Severity } from './kinds.js';

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
  /** LMDB named database (sub-database) holding the record; absent for the main database. */
  database?: string;
  /** Flat index of an element position within a record (constant_feature), C-order. */
  element?: number;
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
  /** Finite values that become Inf when cast to float16 but not when cast to float32 (|x| ≥ 65520). */
  fp16Overflow: number;
  /** Float64 values that become Inf when cast to float32 (|x| ≥ 3.4028235677973366e38). */
  fp32Overflow: number;
  /**
   * JPEG images whose pixels entered these statistics from a 1/8-scale decode (the default; `fullDecode` turns it
   * off): each value is the mean of an 8×8 block, so the mean is the pixels' mean up to rounding, while std, min
   * and max are those of the block means (narrower than the pixels'). Absent when every image was decoded fully.
   */
  scaledImages?: number;
  /**
   * Per channel of the dataset's main record layout (channel = first axis of C×H×W records, last axis of decoded
   * H×W×C images; images only with `elementStats`): what per-channel normalisation computes.
   */
  channels?: ChannelStat[];
}

export interface ChannelStat {
  channel: number;
  /** Values of the channel over all records and positions. */
  values: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
}

/** Statistics of one record layout: an array field and its record shape. */
export interface ElementReport {
  field: string;
  /** Shape of one record (C×H×W for Datums and HDF5 image rows, H×W×C for decoded images). */
  shape: number[];
  /** Records of this layout with only finite values (records holding NaN or ±Inf are left out). */
  records: number;
  /**
   * Element positions that hold one value in every record (each a `constant_feature` finding); null when a record
   * has more than 196,608 values, or the layout is one of many (images of many sizes) past the positions nanscan
   * tracks at once: no per-element statistics then.
   */
  constantElements: number | null;
  /** Per element position, C-order (only with the `elementStats` option). */
  mean?: number[];
  std?: number[];
  min?: number[];
  max?: number[];
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
  /**
   * False when no data layer reads the records in storage order (image folders: loaders shuffle): only
   * shuffled batches count, and no shuffle advice is given. Absent means true.
   */
  inStorageOrder?: false;
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

/**
 * Why part of a dataset was not checked, and what is counted: records of the dataset, or other parts of it
 * (HDF5 datasets and compound fields, files in a folder, LMDB named databases). The table of reasons is
 * UNCHECKED_REASONS in src/coverage.ts.
 */
export type UncheckedReason =
  | 'opaque_value'
  | 'unsupported_image'
  | 'unsupported_type'
  | 'not_an_image'
  | 'named_database';

export type CoverageUnit = 'record' | 'field' | 'file' | 'database';

/** One group of what was not checked, for one reason. */
export interface UncheckedGroup {
  reason: UncheckedReason;
  unit: CoverageUnit;
  /** How many (records, fields, files or databases, by `unit`). Exact. */
  count: number;
  /** What they are, in words: "values that are neither Caffe Datums nor encoded images". */
  description: string;
  /** A few of them, as locators ("key 00000042", "meta/names"), at most --max-examples. */
  examples: string[];
}

/** What was checked and what was not: "no problems" is said only of what was checked. */
export interface Coverage {
  /** Records read (the dataset's `records`). */
  records: number;
  /** Records every applicable check ran on: `records` less the records of `unchecked` groups. */
  checkedRecords: number;
  /** Entries that are not samples and were left alone (LMDB `__len__`/`__keys__`-style metadata keys). */
  metadataEntries?: number;
  /** Empty when everything was checked. */
  unchecked: UncheckedGroup[];
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
  /** Statistics of the data's values: every value but those of label arrays (HDF5 label datasets). */
  stats: ValueStats | null;
  /** Per-element statistics by record layout (constant positions always; means and stds with `elementStats`). */
  elements?: ElementReport[];
  /**
   * Statistics of the values of label arrays (HDF5 datasets named label, labels, y, target or targets, one value
   * a row), apart from `stats`; absent when the dataset has none. Present for regression targets too.
   */
  labelStats?: ValueStats | null;
  /** Shapes seen, "CxHxW" → records, for consistency checks. */
  shapes?: Record<string, number>;
  /** What was checked, and what was not and why. */
  coverage: Coverage;
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

/** Version tag of the opaque shard payload (Report.shard.datasets). */
export const SHARD_FORMAT = 'nanscan-shard/2';

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
  /**
   * Present in shard reports (`--shard i/n`): what `nanscan merge` needs to join them exactly. `datasets` is
   * internal to nanscan (raw partition results): its layout changes with the version, which `format` names, and
   * merge refuses reports of another version. Not part of the report's contract.
   */
  shard?: { index: number; count: number; format: typeof SHARD_FORMAT; datasets: unknown[] };
  /** Present when a baseline was applied: the known findings it removed from this report. */
  baseline?: { file: string; suppressed: number; suppressedByKind: Partial<Record<FindingKind, number>> };
  /**
   * The process exit code this report stands for: 0 nothing at or above failOn, 1 findings at or above it (or
   * more warnings than maxWarnings), 130 / 143 the scan was interrupted (SIGINT / SIGTERM; an aborted signal
   * gives 130): an incomplete report is never a pass. (2, "could not run", has no report.)
   */
  exitCode: ReportExitCode;
}

export type ReportExitCode = 0 | 1 | 130 | 143;

/** The exit code of an interrupted scan: 128 + SIGINT, as a shell reports Ctrl-C. SIGTERM gives 143. */
export const EXIT_INTERRUPTED = 130;

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
