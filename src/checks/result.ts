/**
 * What the per-record analysis takes and gives: its options and the result of one partition (merged by
 * finalize.ts, carried by the pool's messages and by shard reports). JSON-safe, structured-clone-safe.
 */
import type { SeverityCounts, SeverityOverrides } from './findings.js';
import type { StatsAccumulator } from './stats.js';
import type { UncheckedTally } from '../coverage.js';
import type { LayoutResult } from './layouts.js';
import type { Finding, FindingKind, Severity } from '../types.js';

/** Options the per-record analysis needs; JSON-safe. */
export interface AnalyzeOptions {
  maxExamples: number;
  limitInputPixels: number;
  /** Encoded images decoded concurrently per worker (sharp runs them on the libuv pool). */
  imageConcurrency: number;
  forceJsKernel: boolean;
  /** --num-classes, for per-record label range checks. */
  numClasses: number | null;
  severity: SeverityOverrides;
  imageStrictness: 'warning' | 'error';
  /** Longest a single image decode may take before it is reported and skipped. */
  timeoutMs: number;
  /** Full per-element sums (means, stds, the mean file), beyond the always-on constant and channel tallies. */
  elementStats: boolean;
  /** Decode JPEGs at full size always (see ScanOptions.fullDecode). */
  fullDecode: boolean;
}

/** Records of one shape ("C×H×W"), with the first few locators for findings. */
export interface ShapeTally {
  /** The sample member the shape is of (an image member of a WebDataset sample); undefined for whole records. */
  field?: string;
  channels: number;
  height: number;
  width: number;
  count: number;
  examples: { index: number; database?: string; key?: string; file?: string; line?: number }[];
}

/** Labels as a partition holds them: the narrowest array type that holds every label. */
export type LabelArray = Int32Array | Uint16Array | Uint8Array;

export function isLabelArray(v: LabelArray | readonly LabelArray[]): v is LabelArray {
  return ArrayBuffer.isView(v);
}

/**
 * A partition's labels in storage order, in the narrowest array that holds them: 1 byte a record for up to 256
 * classes, 2 for up to 65,536, 4 beyond (the main process tallies them as partitions finish: OrderedLabels). The
 * push compares with the current type's range inline: it runs once a record.
 */
export class LabelBuffer {
  private a: LabelArray = new Uint8Array(1024);
  private min = 0;
  private max = 0xff;
  length = 0;

  push(label: number): void {
    if (this.length === this.a.length || label < this.min || label > this.max) this.grow(label);
    this.a[this.length++] = label;
  }

  /** The labels so far (a copy, trimmed). */
  labels(): LabelArray {
    return this.a.slice(0, this.length);
  }

  /** Room for one more: twice the room when full, a wider type when `next` does not fit (an Int32Array takes any). */
  private grow(next: number): void {
    const a = this.a;
    const room = this.length === a.length ? 2 * a.length : a.length;
    const wide = a instanceof Int32Array || next < 0 || next > 0xffff;
    const out = wide ? new Int32Array(room) : a instanceof Uint16Array || next > 0xff ? new Uint16Array(room) : new Uint8Array(room);
    out.set(a.subarray(0, this.length));
    this.a = out;
    // A label beyond int32 wraps in an Int32Array, as it always did: it never grows the array again.
    [this.min, this.max] = wide ? [-Infinity, Infinity] : [0, out instanceof Uint8Array ? 0xff : 0xffff];
  }
}

/** What a worker returns for one partition. `index` fields in findings and shapes are partition-local. */
export interface PartitionResult {
  records: number;
  bytes: number;
  findings: Finding[];
  findingCounts: Partial<Record<FindingKind, number>>;
  severityCounts: Record<Severity, number>;
  /**
   * Labels in storage order; `labelled` of them are meaningful (the rest of the buffer is spare). In the narrowest
   * array that holds them (LabelBuffer): 1 byte a record for up to 256 classes, 2 for up to 65,536.
   */
  labels: LabelArray;
  labelled: number;
  /** Records whose Datum set the label field (Caffe reads an absent label as 0). */
  explicitLabels: number;
  stats: StatsAccumulator;
  shapes: Record<string, ShapeTally>;
  /** How the key/value values looked, by database ('' for the main one), to judge what each database holds. */
  values: Record<string, KvValues>;
  kernel: 'wasm-simd' | 'js';
  /** Label values that were not integers (a regression target when most are; errors when few are). */
  nonIntegerLabels: number;
  /** Value statistics of label arrays (HDF5 label datasets), kept out of `stats`. */
  labelStats?: StatsAccumulator;
  /**
   * Per-row label findings of label arrays (negative, not below --num-classes, not an integer), held back:
   * only the whole dataset tells a class label (these are errors) from a regression target (they are not).
   * Exact counts, examples capped like `findings`; indexes are absolute rows.
   */
  labelChecks?: { findings: Finding[]; counts: Partial<Record<FindingKind, number>>; severities: SeverityCounts };
  /** Whether finding and shape indexes are partition-local (key/value records) rather than absolute rows. */
  localIndexes: boolean;
  /** Entries counted by the format's declared total that are not records (LMDB named databases). */
  uncounted: number;
  /** Dataset-level statistics by record layout: constant positions, channels, element sums (checks/layouts.ts). */
  layouts: LayoutResult;
  /** What was read but not checked, by reason (reader notes and the analyzer's own). */
  unchecked: UncheckedTally;
  /** JPEGs whose pixels entered `stats` from a 1/8-scale decode (see ScanOptions.fullDecode). */
  scaledImages?: number;
}

/**
 * Key/value values by what they are: the dataset (not a partition) decides whether it holds Datums, encoded
 * images or something else (finalize.ts, judgeValues), and so whether an odd value is damage or just unchecked.
 */
export interface KvValues {
  /** Values that decode as Caffe Datums with content. */
  datums: number;
  /** Values that are encoded images (checked as images), and the first few of them. */
  images: number;
  imageExamples: Finding[];
  /** Shapes of those images: the dataset's shapes, unless the database holds Datums (then they are damage). */
  imageShapes: Record<string, ShapeTally>;
  /** Values that are neither (empty, not a Datum, a Datum that does not decode or is empty), and the first few. */
  odd: number;
  /** Example findings of odd values: `message` says what the value is ("is empty (0 bytes)"); kind is decided later. */
  oddExamples: Finding[];
  /** Entries under metadata keys (`__len__`, `__keys__`): not samples, not records. */
  metadata: number;
  /** Pickled values whose members were checked (record.ts `pickled`), and the first few. */
  pickles: number;
  pickleExamples: Finding[];
  /** Values that start like a pickle but are not valid ones (truncated, corrupt); `message` says where. */
  badPickles: number;
  badPickleExamples: Finding[];
  /**
   * Valid-looking pickles nanscan does not interpret (a global outside its allow-list: torch tensors, custom
   * classes) or that hold nothing checkable; `message` names the global or says so.
   */
  uncheckedPickles: number;
  uncheckedPickleExamples: Finding[];
}

/** A database's tally before any value is seen. */
export function emptyKvValues(): KvValues {
  return {
    datums: 0, images: 0, imageExamples: [], imageShapes: {}, odd: 0, oddExamples: [], metadata: 0,
    pickles: 0, pickleExamples: [], badPickles: 0, badPickleExamples: [], uncheckedPickles: 0, uncheckedPickleExamples: [],
  };
}
