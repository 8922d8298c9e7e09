/**
 * What readers yield and checks analyse: the record kinds and the notes on what could not be checked. Shared by
 * both sides of the reader seam (src/readers/types.ts re-exports it), so neither imports the other.
 */
import type { Finding, UncheckedReason } from './types.js';

/**
 * Damage a reader met: what (`kind`), where (file, page, offset, key, index) and a message, but no severity. The
 * host gives it the severity of its kind from the one table of kinds (src/kinds.ts) and the user's overrides, so a
 * reader never decides how loud a finding is. `minor` marks damage that loses nothing a loader would read (a
 * layout anomaly the format's own reader tolerates, such as padding that is not zero or a torn tail a writer
 * recovers from): the host reports it as a warning. `loaderFails` marks damage that makes the format's own loader
 * refuse the whole dataset (torchvision's ImageFolder raising on an empty class folder): the host reports it as an
 * error, whatever its kind's default.
 */
export interface Damage extends Omit<Finding, 'severity'> {
  /** Readers never set a severity (the type makes it a compile error). */
  severity?: never;
  minor?: true;
  loaderFails?: true;
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
  unreadable?: Damage;
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
  /**
   * The reader yielded damage for this record (a `bad_record`: a failed data CRC, bytes that do not parse): it is a
   * record the loader meets, and it was judged, so it is neither checked further nor counted as not checked.
   */
  damaged?: true;
}

export type DataRecord = KvRecord | RowsRecord | FileRecord | SampleRecord;

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
