/**
 * The seam between storage formats and everything else. A reader knows a format and nothing about checks.
 * Readers are opened twice: once in the main thread to describe the source and plan partitions, then once per
 * worker, which reads its own partitions (no record bytes cross threads).
 */
import type { DataRecord, Damage, UncheckedNote } from '../records.js';

export type {
  DataRecord, Damage, FileRecord, KvRecord, NumericArray, RowsRecord, SampleField, SampleRecord, UncheckedNote,
} from '../records.js';

export type SourceFormat =
  | 'lmdb' | 'leveldb' | 'hdf5' | 'image-folder' | 'image-list' | 'npy' | 'webdataset' | 'tfrecord' | 'parquet' | 'arrow';

/** A dataset found by discovery. */
export interface Source {
  format: SourceFormat;
  /** As shown in the report: relative to the cwd when the user typed a relative path. */
  path: string;
  /** Absolute path used for I/O. */
  absPath: string;
  /** Absolute paths of files inside the source that belong to another dataset (named by a list file). */
  exclude?: string[];
  /** Folder that list-file paths are relative to (Caffe's `root_folder`); default: the list's folder. */
  rootFolder?: string;
}

/** JSON-safe value: partitions and options cross the worker boundary by structured clone. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/** A unit of work a worker can read by itself. `index` orders partitions in storage order. */
export interface Partition {
  index: number;
  spec: JsonValue;
}

/**
 * What a read step yields: records (in order) and damage met on the way (kind `corrupt_file`, `io_error`, …, with
 * `file` and `page`/`offset` where known; the host assigns its severity).
 */
export interface RecordBatch {
  records: DataRecord[];
  damage?: Damage[];
  /** Parts of the partition not yielded as records (or yielded, but not checkable). */
  unchecked?: UncheckedNote[];
  /**
   * Entries the format counts in its declared total but that are not records (LMDB named-database entries):
   * the declared count is compared with records + these.
   */
  uncounted?: number;
  /**
   * Records this batch adds that none of its records counts: the rows of a table read column by column, whose
   * RowsRecord slabs all have `countsRecords: false` (Parquet, Arrow), so that a row counts once.
   */
  tableRows?: number;
}

export interface SourceInfo {
  /**
   * Bytes of the dataset files (for the report and MB/s). Undefined when knowing them up front would cost a
   * pass of its own (a stat per file of an image folder): the report then counts the bytes read.
   */
  bytes?: number;
  /** The record count the format declares, when it has one (LMDB md_entries). */
  declaredRecords?: number;
  /**
   * Records the source is expected to yield, for the progress display only (percent and ETA): HDF5 rows, list
   * entries, folder images. Unlike `declaredRecords`, never compared with what was read (no finding).
   * Default: `declaredRecords`.
   */
  expectedRecords?: number;
  /** Damage to the source as a whole, found while opening (e.g. one bad meta page). */
  findings: Damage[];
  /** Parts of the source found while opening that no partition will read (see UncheckedNote). */
  unchecked?: UncheckedNote[];
  /** Class names by label, when the format names its classes (class-per-folder image trees). */
  classNames?: string[];
  /**
   * Set when no data loader reads the records in the order the reader yields them (ImageFolder loaders shuffle,
   * and a folder's listing order is the reader's own): the label analysis then skips the storage-order risks.
   */
  unordered?: true;
}

export interface Reader {
  info(): SourceInfo;
  /** Split the source into at most `maxPartitions` partitions covering every record once, in storage order. */
  plan(maxPartitions: number): Partition[];
  /**
   * Read one partition. Never throws for damage in the data: damage is yielded. `scratch`, when given, is memory
   * the caller's scan kernel reads in place (its arena): a reader may read record bytes into it and yield views
   * of it (valid until the iterator advances), saving a copy.
   */
  read(partition: Partition, scratch?: Uint8Array): Iterable<RecordBatch> | AsyncIterable<RecordBatch>;
  /** Idempotent. */
  close(): void;
}

/**
 * Why a source is opened: `'plan'` (the default) to describe it and plan partitions, `'read'` only to read
 * partitions a planning reader made (in a worker). A reader may skip work only planning needs; `info()` and
 * `plan()` of a `'read'` reader may throw.
 */
export type OpenPurpose = 'plan' | 'read';

export interface ReaderModule {
  readonly format: SourceFormat;
  /**
   * Its records are files for native decoders (libvips, libjpeg), which a hostile file can crash: the pool runs
   * every partition of its sources in worker processes from the start. (Key/value readers that meet encoded
   * images are moved to processes when they do.)
   */
  readonly isolated?: boolean;
  /**
   * Open a source. Throws ScanError `SCAN_CORRUPT_SOURCE` when nothing at all can be read (the caller turns it
   * into a `corrupt_file` finding); never writes, locks or creates anything beside the dataset.
   */
  open(source: Source, purpose?: OpenPurpose): Promise<Reader>;
}
