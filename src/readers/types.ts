/**
 * The seam between storage formats and everything else. A reader knows a format and nothing about checks.
 * Readers are opened twice: once in the main thread to describe the source and plan partitions, then once per
 * worker, which reads its own partitions (no record bytes cross threads).
 */
import type { Finding } from '../types.js';

export type SourceFormat = 'lmdb' | 'leveldb' | 'hdf5' | 'image-folder' | 'image-list';

/** A dataset found by discovery. */
export interface Source {
  format: SourceFormat;
  /** As shown in the report: relative to the cwd when the user typed a relative path. */
  path: string;
  /** Absolute path used for I/O. */
  absPath: string;
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
}

export type DataRecord = KvRecord;

/**
 * What a read step yields: records (in order) and damage met on the way. Damage findings are complete
 * findings (kind `corrupt_file` or `io_error`, with `file` and `page`/`offset` where known); `lostRecords`
 * counts records known to be unreadable, when the format knows it.
 */
export interface RecordBatch {
  records: DataRecord[];
  damage?: Finding[];
}

export interface SourceInfo {
  /** Bytes of the dataset files (for the report and MB/s). */
  bytes: number;
  /** The record count the format declares, when it has one (LMDB md_entries). */
  declaredRecords?: number;
  /** Findings about the source as a whole, found while opening (e.g. one bad meta page). */
  findings: Finding[];
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

export interface ReaderModule {
  readonly format: SourceFormat;
  /**
   * Open a source. Throws ScanError `SCAN_CORRUPT_SOURCE` when nothing at all can be read (the caller turns it
   * into a `corrupt_file` finding); never writes, locks or creates anything beside the dataset.
   */
  open(source: Source): Promise<Reader>;
}
