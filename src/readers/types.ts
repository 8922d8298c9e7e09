/**
 * The seam between storage formats and everything else. A reader knows a format and nothing about checks.
 * Readers are opened twice: once in the main thread to describe the source and plan partitions, then once per
 * worker, which reads its own partitions (no record bytes cross threads).
 */
import type { Finding, UncheckedReason } from '../types.js';

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
 * A key/value record (LMDB, LevelDB). `index` is the 0-based position in key order *within the partition*;
 * the main thread adds the partition's base once earlier partitions are counted. `key` and `value` are views
 * that stay valid only until the iterator advances: copy what you keep.
 */
export interface KvRecord {
  kind: 'kv';
  index: number;
  key: Uint8Array;
  value: Uint8Array;
  /** The LMDB named database holding the record (findings' `database`); undefined for the main database. */
  database?: string;
}

export type NumericArray =
  | Float32Array | Float64Array | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | BigInt64Array | BigUint64Array;

/**
 * A slab of consecutive rows of one numeric array (HDF5 dataset rows; rows along the first dimension are
 * records). Unlike KvRecord indexes, `firstRow` is absolute: the row number within `file`'s dataset `field`.
 * `data` holds `rows * rowSize` elements, row-major, and is a view valid until the iterator advances.
 * float16 data arrives already widened to Float32Array (with `dtype: 'f16'`).
 */
export interface RowsRecord {
  kind: 'rows';
  /** Display path of the file holding the array. */
  file: string;
  /** The array's name within the file (HDF5 dataset path without the leading '/'). */
  field: string;
  dtype: 'f16' | 'f32' | 'f64' | 'i8' | 'u8' | 'i16' | 'u16' | 'i32' | 'u32' | 'i64' | 'u64';
  /** Shape of one row (the dataset shape without its first dimension); [] for a 1-D dataset. */
  rowShape: number[];
  firstRow: number;
  rows: number;
  data: NumericArray;
  /** Whether this field holds labels (named `label`/`labels`): its values feed the label analysis. */
  isLabel: boolean;
  /**
   * Whether these rows count as the dataset's records: rows of the file's longest array (a file's `data` and
   * `label` rows are the same records; a small auxiliary array such as a `mean` is not).
   */
  countsRecords: boolean;
}

/**
 * One file of a file-based dataset (an image in a folder or named by a list). `index` is absolute: the
 * entry's position in the dataset (sorted folder order, or list order). `bytes` is the whole file.
 */
export interface FileRecord {
  kind: 'file';
  index: number;
  /** Display path of the file. */
  file: string;
  /** 1-based line of the list file that names it. */
  line?: number;
  /** Class label from the class folder or the list line. */
  label?: number;
  bytes: Uint8Array;
  /**
   * Set when the file could not be read (`missing_file` for a missing file or a dangling link, `io_error`,
   * `oversized_image` for a file too large to read): the entry is still a record (the loader has it, with its
   * label), and this is its finding; `bytes` is then empty.
   */
  unreadable?: Finding;
}

/**
 * One member of a sample record. An `array` holds numbers (a float_list feature, an `.npy` member, a decoded
 * pickled ndarray) and is checked like an array row; a `label` is one class label (a `cls` member, an int64
 * feature named like a label); an `image` is encoded image bytes (checked like an image file); an `opaque` member
 * is counted but cannot be checked (JSON, text, bytes of no known kind).
 */
export type SampleField =
  | { type: 'array'; name: string; dtype: RowsRecord['dtype']; shape: number[]; data: NumericArray }
  | { type: 'label'; name: string; value: number }
  | { type: 'image'; name: string; bytes: Uint8Array }
  | { type: 'opaque'; name: string };

/**
 * A record made of named members: a WebDataset sample (the tar members sharing a basename), a TFRecord
 * `tf.train.Example`, a row of a table with an image column. `index` is the 0-based position *within the
 * partition* (as for KvRecord: the main thread adds the partition's base). Views stay valid only until the
 * iterator advances.
 */
export interface SampleRecord {
  kind: 'sample';
  index: number;
  /** Display path of the file (shard) holding the sample. */
  file: string;
  /** The sample's own name, when the format has one (WebDataset's `__key__`): a finding's `key`. */
  key?: string;
  /** Byte offset of the sample in `file` (a TFRecord record's length field): a finding's `offset`. */
  offset?: number;
  fields: SampleField[];
}

export type DataRecord = KvRecord | RowsRecord | FileRecord | SampleRecord;

/**
 * What a read step yields: records (in order) and damage met on the way. Damage findings are complete
 * findings (kind `corrupt_file` or `io_error`, with `file` and `page`/`offset` where known); `lostRecords`
 * counts records known to be unreadable, when the format knows it.
 */
/**
 * Something a reader met but does not pass on as records, or passes on as records it knows cannot be checked:
 * an HDF5 dataset of a non-numeric type, a file in an image folder that is not an image, a named database it did
 * not read. Counted in the dataset's coverage and reported as an `unchecked` finding.
 */
export interface UncheckedNote {
  reason: UncheckedReason;
  /** How many, in the reason's unit (see UNCHECKED_REASONS). */
  count: number;
  /** Locators of a few of them ("meta/names", "cls/README.txt"). */
  examples: string[];
}

export interface RecordBatch {
  records: DataRecord[];
  damage?: Finding[];
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
  /** Findings about the source as a whole, found while opening (e.g. one bad meta page). */
  findings: Finding[];
  /** Parts of the source found while opening that no partition will read (see UncheckedNote). */
  unchecked?: UncheckedNote[];
  /** Class names by label, when the format names its classes (class-per-folder image trees). */
  classNames?: string[];
}

export interface Reader {
  info(): SourceInfo;
  /** Split the source into at most `maxPartitions` partitions covering every record once, in storage order. */
  plan(maxPartitions: number): Partition[];
  /** Read one partition. Never throws for damage in the data: damage is yielded. */
  read(partition: Partition): Iterable<RecordBatch> | AsyncIterable<RecordBatch>;
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
