/**
 * TFRecord files (a file, or a folder of shards read in sorted order, as one dataset) of `tf.train.Example`s.
 * Each record becomes a SampleRecord (float lists, int64 lists, a label, images, opaque bytes: see example.ts);
 * framing damage is yielded as findings (see framing.ts). Partitions are runs of whole files, and a large
 * uncompressed file is split at record boundaries found by walking its headers (one 12-byte pread a record).
 * Not isolated: a file of float and int64 features needs no native decoder and is read in threads (500,000
 * Examples × 512 floats: peak RSS ~430 → ~320 MiB against worker processes from the start, time unchanged). A
 * partition that meets an image moves to a worker process before decoding it, with the rest of the source
 * (pool/worker-main.ts), as a database of encoded images does.
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { createGunzip, createInflate } from 'node:zlib';
import { invalidPartition, ScanError } from '../../errors.js';
import type { Damage } from '../../records.js';
import { OPEN_FLAGS, readFully } from '../files.js';
import type { Partition, Reader, ReaderModule, RecordBatch, SampleRecord, Source, SourceInfo, UncheckedNote } from '../types.js';
import { decodeExample, WireError } from './example.js';
import { crc32cOf, unmask } from '../leveldb/crc32c.js';
import { FOOTER_BYTES, fileSource, FrameWalker, HEADER_BYTES, MAX_RECORD_BYTES, RESYNC_SCAN_BYTES, type ByteSource, type FrameEvent } from './framing.js';
import { codecOf, headOf, isFrameHeader, tfrecordFilesIn, type Codec } from './sniff.js';

/**
 * A run of one file's records: those whose length field starts in [start, end); `first` is the record number at
 * `start` (-1: unknown).
 */
interface Piece {
  abs: string;
  shown: string;
  codec: Codec;
  start: number;
  /** -1: to the end of the file. */
  end: number;
  first: number;
  /** Whether the file holds Examples (decided by its first record when the piece starts there: null). */
  examples: boolean | null;
}

export interface TfFile {
  abs: string;
  shown: string;
  size: number;
  codec: Codec;
}

/**
 * Bytes a partition should hold at least: a worker round trip and a file open cost far less than reading this
 * (about 0.1 s), and a 1 GB file still splits into enough partitions for 2 workers.
 */
const MIN_PARTITION_BYTES = 64 << 20;

/** Examples kept per unchecked note. */
const NOTE_EXAMPLES = 5;

class TfrecordReader implements Reader {
  private listed: TfFile[] | undefined;

  constructor(private readonly source: Source) {}

  private get files(): TfFile[] {
    return (this.listed ??= listFiles(this.source));
  }

  info(): SourceInfo {
    return { findings: [], bytes: this.files.reduce((n, f) => n + f.size, 0) };
  }

  plan(maxPartitions: number): Partition[] {
    return planPieces(this.files, maxPartitions, MIN_PARTITION_BYTES)
      .map((pieces, index) => ({ index, spec: { tfrecord: pieces as unknown as Partition['spec'] } }));
  }

  async *read(p: Partition): AsyncGenerator<RecordBatch> {
    const pieces = parseSpec(p.spec);
    const state = { index: 0 };
    for (const piece of pieces) yield* readPiece(piece, state);
  }

  close(): void {}
}

/**
 * Groups files (and pieces of large uncompressed files) into at most `maxPartitions` runs of about equal bytes,
 * at least `minBytes` each, in storage order. Exported for tests (small `minBytes`).
 */
export function planPieces(files: readonly TfFile[], maxPartitions: number, minBytes: number): Piece[][] {
  const total = files.reduce((n, f) => n + f.size, 0);
  const target = Math.max(minBytes, Math.ceil(total / Math.max(1, maxPartitions)));
  const parts: Piece[][] = [[]];
  let bytes = 0;
  for (const f of files) {
    const pieces = f.codec === 'none' && f.size > target + target / 2 ? splitFile(f, target) : [wholeFile(f)];
    for (const p of pieces) {
      if (bytes >= target && parts.length < maxPartitions) { parts.push([]); bytes = 0; }
      parts[parts.length - 1]!.push(p);
      bytes += (p.end < 0 ? f.size : p.end) - p.start;
    }
  }
  return parts;
}

/** The files of a source: the file, or the TFRecord files of a folder in sorted order; sizes and codecs. */
export function listFiles(source: Source): TfFile[] {
  const { absPath, path: shown } = source;
  let names: { abs: string; shown: string }[];
  if (statSync(absPath).isDirectory()) {
    names = tfrecordFilesIn(absPath).map((n) => ({ abs: path.join(absPath, n), shown: path.join(shown, n) }));
  } else {
    names = [{ abs: absPath, shown }];
  }
  return names.map(({ abs, shown: s }) => {
    let size = 0;
    try { size = statSync(abs).size; } catch { /* reported when read */ }
    return { abs, shown: s, size, codec: codecOf(headOf(abs)) };
  });
}

function wholeFile(f: TfFile): Piece {
  return { abs: f.abs, shown: f.shown, codec: f.codec, start: 0, end: -1, first: 0, examples: null };
}

/**
 * Splits an uncompressed file into pieces of about `target` bytes at record boundaries. Walking every header to
 * find them costs a pread per record (measured: 6-8 s for 500k records of a 1 GB file, as long as the scan
 * itself); instead, from each cut point, the next offset where a record verifies is searched as resynchronising
 * does (length CRC, data CRC, and the next record's length CRC or the end of the file): a few KiB read per cut.
 * A cut point with no verified record after it within the scan bound is dropped (its bytes stay in the piece
 * before, which reports the damage). Record numbers of later pieces are then unknown (`first` -1).
 */
function splitFile(f: TfFile, target: number): Piece[] {
  let fd: number;
  try { fd = openSync(f.abs, OPEN_FLAGS); } catch { return [wholeFile(f)]; }
  try {
    const examples = firstIsExample(fd, f.size);
    const starts = [0];
    for (let cut = target; f.size - cut >= target / 2; cut += target) {
      const at = recordStartAfter(fd, Math.max(cut, starts[starts.length - 1]! + 1), f.size);
      if (at !== null && f.size - at >= HEADER_BYTES) starts.push(at);
    }
    return starts.map((start, i) => ({
      abs: f.abs, shown: f.shown, codec: 'none', start, end: i + 1 < starts.length ? starts[i + 1]! : -1,
      first: i === 0 ? 0 : -1, examples: i === 0 ? null : examples,
    }));
  } finally {
    closeSync(fd);
  }
}

/** Bytes read at a time while searching for a record start. */
const SEARCH_WINDOW = 1 << 20;

/** The first offset at or after `from` where a record verifies (see splitFile), within RESYNC_SCAN_BYTES; or null. */
function recordStartAfter(fd: number, from: number, size: number): number | null {
  const win = Buffer.allocUnsafe(SEARCH_WINDOW + HEADER_BYTES);
  const head = Buffer.alloc(HEADER_BYTES);
  for (let base = from; base < Math.min(size, from + RESYNC_SCAN_BYTES); base += SEARCH_WINDOW) {
    const b = readFully(fd, win, base);
    for (let i = 0; i + HEADER_BYTES <= b.length && i < SEARCH_WINDOW; i++) {
      if (!isFrameHeader(b, i)) continue;
      const at = base + i;
      const length = b.readUInt32LE(i + 4) * 0x100000000 + b.readUInt32LE(i);
      const next = at + HEADER_BYTES + length + FOOTER_BYTES;
      if (length > MAX_RECORD_BYTES || next > size) continue;
      const data = readFully(fd, Buffer.allocUnsafe(length + FOOTER_BYTES), at + HEADER_BYTES);
      if (data.length < length + FOOTER_BYTES || unmask(data.readUInt32LE(length)) !== crc32cOf(data.subarray(0, length))) continue;
      if (next === size || (readFully(fd, head, next).length === HEADER_BYTES && isFrameHeader(head))) return at;
    }
  }
  return null;
}

/** Whether the first record of an uncompressed file is an Example (see judge in readPiece); true when unreadable. */
function firstIsExample(fd: number, size: number): boolean {
  const head = readFully(fd, Buffer.alloc(HEADER_BYTES), 0);
  if (!isFrameHeader(head)) return true;
  const length = head.readUInt32LE(4) * 0x100000000 + head.readUInt32LE(0);
  if (length > Math.min(size, 64 << 20)) return true;
  return isExampleData(readFully(fd, Buffer.alloc(length), HEADER_BYTES));
}

/** A record is taken as an Example when it parses and holds `features` (or is empty: an empty Example). */
function isExampleData(data: Uint8Array): boolean {
  try {
    return decodeExample(data).hasFeatures || data.length === 0;
  } catch (e) {
    if (e instanceof WireError) return false;
    throw e;
  }
}

/**
 * The gzip/zlib stream of a file, inflated through Node's streaming zlib (bounded buffers), as a ByteSource. The
 * file stream has a descriptor of its own, closed by the stream itself (`close()` destroys both when the walk
 * stops early): closing it under a read in flight would raise an error nothing listens to.
 */
function inflatedSource(abs: string, codec: Codec, failed: { error: Error | null }): ByteSource & { close(): void } {
  const file = createReadStream('', { fd: openSync(abs, OPEN_FLAGS), autoClose: true, highWaterMark: 1 << 20 });
  file.on('error', (e) => { failed.error ??= e; });
  const stream = file.pipe(codec === 'gzip' ? createGunzip() : createInflate());
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let chunk: Buffer | null = null;
  let used = 0;
  return {
    async pull(dst, at, max) {
      while (chunk === null || used >= chunk.length) {
        if (failed.error) return 0;
        try {
          const r = await it.next();
          if (r.done === true) return 0;
          chunk = r.value;
          used = 0;
        } catch (e) {
          failed.error = e as Error;
          return 0;
        }
      }
      const n = Math.min(max, chunk.length - used);
      chunk.copy(dst, at, used, used + n);
      used += n;
      return n;
    },
    close() {
      stream.destroy();
      file.destroy();
    },
  };
}

/** Reads one piece: its records as samples, its damage as findings. `state.index` numbers the partition's records. */
async function* readPiece(piece: Piece, state: { index: number }): AsyncGenerator<RecordBatch> {
  const { shown } = piece;
  const ioError = (e: unknown): RecordBatch => ({ records: [], damage: [{ kind: 'io_error', file: shown, message: `Cannot read '${shown}': ${(e as Error).message}` }] });
  let fd: number;
  try { fd = openSync(piece.abs, OPEN_FLAGS); } catch (e) { yield ioError(e); return; }
  const failed: { error: Error | null } = { error: null };
  let inflated: (ByteSource & { close(): void }) | undefined;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error('not a regular file');
    const plain = piece.codec === 'none';
    if (!plain) inflated = inflatedSource(piece.abs, piece.codec, failed);
    const src = inflated ?? fileSource(fd, readSync, piece.start);
    const end = piece.end < 0 ? Infinity : piece.end;
    const walker = new FrameWalker(src, piece.start, end, plain ? st.size : Infinity);
    const at = (offset: number): string => plain ? `byte offset ${offset}` : `offset ${offset} of the inflated ${piece.codec} stream`;
    let ordinal: number | null = piece.first < 0 ? null : piece.first;
    /**
     * Whether the file holds Examples, decided by its first record: a file of other payloads (serialized
     * tensors, text, other protos) is read and counted but not checked, never reported as damage; in a file of
     * Examples, a record that does not parse is a bad record (tf.io.parse_example fails on it).
     */
    let examples = piece.examples;
    for await (const events of walker.events()) {
      const records: SampleRecord[] = [];
      const damage: Damage[] = [];
      const skipped: UncheckedNote = { reason: 'opaque_value', count: 0, examples: [] };
      const nth = (): string => (ordinal === null ? 'A record' : `Record ${ordinal}`);
      const push = (offset: number, fields: SampleRecord['fields'], damaged = false): void => {
        const r: SampleRecord = { kind: 'sample', index: state.index++, file: shown, offset, fields };
        if (damaged) r.damaged = true;
        records.push(r);
        if (ordinal !== null) ordinal++;
      };
      for (const e of events) {
        if (e.type === 'record') {
          let decoded;
          try {
            decoded = decodeExample(e.data);
          } catch (err) {
            if (!(err instanceof WireError)) throw err;
            decoded = err;
          }
          const isExample = !(decoded instanceof WireError) && (decoded.hasFeatures || e.data.length === 0);
          examples ??= isExample;
          if (!examples) {
            // Not an Example file (SequenceExample-free protos, serialized tensors, text): counted, not checked.
            push(e.offset, [{ type: 'opaque', name: 'record' }]);
          } else if (decoded instanceof WireError) {
            damage.push({ kind: 'bad_record', file: shown, index: state.index, offset: e.offset,
              message: `${nth()} of '${shown}' at ${at(e.offset)} is not a valid tf.train.Example (${decoded.message}); its CRC verifies, so it was written so.` });
            push(e.offset, [], true);
          } else {
            if (decoded.skipped) {
              skipped.count++;
              if (skipped.examples.length < NOTE_EXAMPLES) skipped.examples.push(`${shown} record at ${at(e.offset)} (fields other than features, e.g. a SequenceExample's feature_lists)`);
            }
            push(e.offset, decoded.fields);
          }
        } else if (e.type === 'bad_crc') {
          damage.push({ kind: 'bad_record', file: shown, index: state.index, offset: e.offset,
            message: `${nth()} of '${shown}' at ${at(e.offset)} fails its data CRC-32C (${e.length} bytes): its bytes are not what was written; TensorFlow raises DataLossError on it.` });
          push(e.offset, [], true);
        } else if (e.type === 'oversized') {
          push(e.offset, [{ type: 'opaque', name: `record of ${e.length} bytes (too large to read)` }]);
        } else if (e.type === 'truncated' && failed.error) {
          // The inflated stream ended because the compressed one is damaged: that finding (below) says it.
        } else {
          damage.push(framingFinding(e, shown, ordinal, at));
          if (e.type === 'lost') ordinal = null;
        }
      }
      const batch: RecordBatch = { records };
      if (damage.length > 0) batch.damage = damage;
      if (skipped.count > 0) batch.unchecked = [skipped];
      yield batch;
    }
    if (failed.error) {
      yield { records: [], damage: [{ kind: 'corrupt_file', file: shown,
        message: `'${shown}' is not a valid ${piece.codec} stream (${failed.error.message}); the records before the damage were read, the rest of the file was not.` }] };
    }
  } catch (e) {
    if (e instanceof ScanError) throw e;
    if (e instanceof Error && !('code' in e) && !(e.message === 'not a regular file')) throw e;
    yield ioError(e);
  } finally {
    inflated?.close();
    closeSync(fd);
  }
}

/** The corrupt_file finding of a framing event: the length lost, or the stream cut short. */
function framingFinding(e: Extract<FrameEvent, { type: 'lost' | 'truncated' }>, shown: string, ordinal: number | null, at: (o: number) => string): Damage {
  const which = ordinal === null ? 'a record' : `record ${ordinal}`;
  let message: string;
  if (e.type === 'lost') {
    message = `'${shown}': the length of ${which} at ${at(e.offset)} fails its CRC-32C, so the framing is lost; ` + (e.resumed !== null
      ? `a verified record was found again at ${at(e.resumed)} (scanning ${e.scanned} bytes forward) and reading resumed there; the records in between (an unknown number) were not read.`
      : `no verified record was found in the ${Math.min(e.scanned, RESYNC_SCAN_BYTES)} bytes scanned after it, and the rest of the file was not read.`);
  } else if (e.length === null) {
    message = `'${shown}' ends inside the header of ${which} at ${at(e.offset)} (${e.available} of 12 bytes): the file is truncated.`;
  } else {
    message = `'${shown}' ends inside ${which} at ${at(e.offset)}: its length says ${e.length} bytes of data (and 16 of framing) but only ${e.available} bytes follow; the file is truncated.`;
  }
  return { kind: 'corrupt_file', file: shown, offset: e.offset, message };
}

/** The spec crossed a thread boundary: check its shape before trusting it. */
function parseSpec(v: Partition['spec']): Piece[] {
  const s = v as { tfrecord?: unknown } | null;
  const int = (x: unknown, min: number): boolean => Number.isSafeInteger(x) && (x as number) >= min;
  const ok = s !== null && typeof s === 'object' && !Array.isArray(s) && Array.isArray(s.tfrecord) &&
    (s.tfrecord as unknown[]).every((p) => {
      const q = p as Partial<Piece> | null;
      return q !== null && typeof q === 'object' && typeof q.abs === 'string' && typeof q.shown === 'string' &&
        (q.codec === 'none' || q.codec === 'gzip' || q.codec === 'zlib') && int(q.start, 0) && int(q.end, -1) && int(q.first, -1) &&
        (q.examples === null || typeof q.examples === 'boolean');
    });
  if (!ok) throw invalidPartition('TFRecord', 'not made by this reader\'s plan()');
  return s.tfrecord as Piece[];
}

export const tfrecordReader: ReaderModule = {
  format: 'tfrecord',
  open: async (source, purpose = 'plan') => {
    const reader = new TfrecordReader(source);
    // A worker reads the files its partitions name: no listing.
    if (purpose === 'read') return reader;
    try {
      void reader.info();
    } catch (e) {
      throw new ScanError('SCAN_CORRUPT_SOURCE', `Cannot open TFRecord source ${source.path}: ${(e as Error).message}.`, { cause: e });
    }
    return reader;
  },
};
