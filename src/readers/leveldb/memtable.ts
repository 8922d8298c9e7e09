/**
 * Replays the live write-ahead logs into a "memtable" view (LEVELDB.md §5, §7.2, §10 step 1): each logical record
 * is a WriteBatch; entry i of a batch has sequence `sequence + i`; per user key only the newest entry is kept, as
 * LevelDB's iterator would see it. Malformed batches are applied up to the bad entry, like `WriteBatch::Iterate`
 * with `paranoid_checks` off. Entries point into their batch's bytes (no per-entry views): a Caffe log holds
 * hundreds of thousands of entries, and per-entry allocations dominated the replay time.
 */
import fs from 'node:fs';
import { OPEN_FLAGS } from '../files.js';
import type { Damage } from '../../records.js';
import { compareKeys } from './keys.js';
import { readLogRecords } from './log.js';
import { fixed32, fixed64, isIoError } from './varint.js';

/** §5: fixed64 sequence + fixed32 count. */
const BATCH_HEADER_SIZE = 12;
const BATCH_COUNT_OFFSET = 8;
/** §5 entry tags (`db/dbformat.h` — `kTypeDeletion`, `kTypeValue`). */
const TAG_DELETION = 0;
const TAG_VALUE = 1;
/** §1.2: a varint32 has at most 5 bytes. */
const MAX_VARINT32_BYTES = 5;

export interface MemEntry {
  /** The WriteBatch bytes holding the entry. */
  batch: Uint8Array;
  keyOffset: number;
  keyLength: number;
  valueOffset: number;
  valueLength: number;
  seq: number;
  deleted: boolean;
}

export interface LiveLog {
  number: number;
  /** File name in the database directory. */
  name: string;
}

export interface Memtable {
  /** One entry per user key (the newest), sorted bytewise. */
  entries: MemEntry[];
  /** Highest `sequence + count − 1` of any replayed batch, or −1 (§7.4). */
  maxSequence: number;
  /** Damage met while replaying. */
  findings: Damage[];
}

/** Replay `logs` (already in ascending number order, §7.2). `display(name)` gives a file's report path. */
export function replayLogs(dir: string, logs: readonly LiveLog[], display: (name: string) => string): Memtable {
  const table = new EntryTable();
  const findings: Damage[] = [];
  let maxSequence = -1;
  // L4 (§12): consecutive batches continue each other's sequence numbers; a gap is a lost batch.
  let expected = -1;

  for (const log of logs) {
    const file = display(log.name);
    const err = (minor: boolean, offset: number, message: string, count?: number): void => {
      const f: Damage = { kind: 'corrupt_file', message: `${log.name} offset ${offset}: ${message}`, file, offset };
      if (minor) f.minor = true;
      if (count !== undefined) f.count = count;
      findings.push(f);
    };
    let fd: number;
    try {
      fd = fs.openSync(`${dir}/${log.name}`, OPEN_FLAGS);
    } catch (e) {
      findings.push({ kind: 'io_error', file, message: `${log.name}: cannot open log: ${(e as Error).message}` });
      continue;
    }
    try {
      const size = fs.fstatSync(fd).size;
      const report = (p: { minor?: true; offset: number; message: string; bytes: number }): void =>
        err(p.minor === true, p.offset, p.bytes > 0 ? `${p.message} (${p.bytes} bytes)` : p.message);
      for (const rec of readLogRecords(fd, size, report)) {
        const data = rec.data;
        if (data.length < BATCH_HEADER_SIZE) {
          err(false, rec.offset, `log record too small for a WriteBatch (${data.length} bytes), skipped`);
          continue;
        }
        const seq = fixed64(data, 0);
        const count = fixed32(data, BATCH_COUNT_OFFSET);
        if (seq === undefined) {
          err(false, rec.offset, 'WriteBatch sequence number beyond 2^53, batch skipped');
          continue;
        }
        if (expected >= 0 && seq !== expected) {
          if (seq > expected) {
            err(false, rec.offset, `sequence numbers ${expected}…${seq - 1} are missing: ${seq - expected} entries lost with damaged log records`, seq - expected);
          } else {
            err(true, rec.offset, `WriteBatch sequence ${seq} overlaps the previous batch (expected ${expected})`);
          }
        }
        expected = seq + count;
        if (count > 0 && seq + count - 1 > maxSequence) maxSequence = seq + count - 1;
        const found = applyBatch(data, seq, table);
        if (typeof found === 'string') {
          const [applied, why] = found.split('\0') as [string, string];
          const n = Number(applied);
          err(false, rec.offset, `malformed WriteBatch (${why}); ${n} entries applied as LevelDB does, the rest dropped`, count > n ? count - n : undefined);
        } else if (found !== count) {
          err(false, rec.offset, `malformed WriteBatch (WriteBatch has wrong count: header ${count}, found ${found}); all ${found} entries applied as LevelDB does`);
        }
      }
    } catch (e) {
      if (!isIoError(e)) throw e;
      // An I/O error ends this log, not the scan; what was replayed stays.
      findings.push({ kind: 'io_error', file, message: `${log.name}: read failed: ${(e as Error).message}` });
    } finally {
      fs.closeSync(fd);
    }
  }

  return { entries: table.sorted(), maxSequence, findings };
}

/**
 * Newest entry per user key. Logs written in key order (convert_imageset: one increasing counter) only append to
 * a list; the first key out of order switches to a map keyed by latin1 strings (one JS code unit per byte, so
 * string order is byte order), sorted at the end (convert_mnist_data rewrites its first keys again and again).
 */
class EntryTable {
  private list: MemEntry[] | null = [];
  private map: Map<string, MemEntry> | null = null;

  add(e: MemEntry): void {
    const list = this.list;
    if (list !== null) {
      const last = list[list.length - 1];
      if (last === undefined || compareEntryKeys(e, last) > 0) {
        list.push(e);
        return;
      }
      this.map = new Map(list.map((x) => [latin1Key(x), x]));
      this.list = null;
    }
    const k = latin1Key(e);
    const old = this.map!.get(k);
    // Later batches carry higher sequences; `>=` also keeps the later of two equal ones, as the memtable does.
    if (old === undefined || e.seq >= old.seq) this.map!.set(k, e);
  }

  sorted(): MemEntry[] {
    if (this.list !== null) return this.list;
    const keys = [...this.map!.keys()].sort();
    return keys.map((k) => this.map!.get(k)!);
  }
}

function latin1Key(e: MemEntry): string {
  return Buffer.from(e.batch.buffer, e.batch.byteOffset, e.batch.byteLength).toString('latin1', e.keyOffset, e.keyOffset + e.keyLength);
}

function compareEntryKeys(a: MemEntry, b: MemEntry): number {
  const n = a.keyLength < b.keyLength ? a.keyLength : b.keyLength;
  const ab = a.batch;
  const bb = b.batch;
  for (let i = 0; i < n; i++) {
    const d = ab[a.keyOffset + i]! - bb[b.keyOffset + i]!;
    if (d !== 0) return d;
  }
  return a.keyLength - b.keyLength;
}

/** First entry whose key is ≥ `key`. */
export function lowerBoundEntry(entries: readonly MemEntry[], key: Uint8Array): number {
  let a = 0;
  let b = entries.length;
  while (a < b) {
    const m = (a + b) >>> 1;
    const e = entries[m]!;
    if (compareKeys(e.batch.subarray(e.keyOffset, e.keyOffset + e.keyLength), e.keyLength, key, key.length) < 0) a = m + 1;
    else b = m;
  }
  return a;
}

/**
 * Apply one batch's entries to `map` (§5 `WriteBatch::Iterate` + `MemTableInserter`). Returns the number of
 * entries found, or "applied\0reason" when an entry does not parse (the ones before it stay applied).
 */
function applyBatch(data: Uint8Array, seq: number, table: EntryTable): number | string {
  const end = data.length;
  let p = BATCH_HEADER_SIZE;
  let found = 0;
  while (p < end) {
    const tag = data[p++]!;
    if (tag !== TAG_VALUE && tag !== TAG_DELETION) return `${found}\0unknown WriteBatch tag ${tag}`;
    // Length-prefixed key, then (puts) length-prefixed value; inline varint32s, bounded by the record.
    let keyLength = 0;
    for (let i = 0; ; i++) {
      if (p >= end || i === MAX_VARINT32_BYTES) return `${found}\0bad key length`;
      const b = data[p++]!;
      keyLength += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) break;
    }
    if (keyLength > end - p) return `${found}\0key runs past the record`;
    const keyOffset = p;
    p += keyLength;
    let valueLength = 0;
    if (tag === TAG_VALUE) {
      for (let i = 0; ; i++) {
        if (p >= end || i === MAX_VARINT32_BYTES) return `${found}\0bad value length`;
        const b = data[p++]!;
        valueLength += (b & 0x7f) * 2 ** (7 * i);
        if (b < 0x80) break;
      }
      if (valueLength > end - p) return `${found}\0value runs past the record`;
    }
    table.add({ batch: data, keyOffset, keyLength, valueOffset: p, valueLength, seq: seq + found, deleted: tag === TAG_DELETION });
    found++;
    p += valueLength;
  }
  return found;
}
