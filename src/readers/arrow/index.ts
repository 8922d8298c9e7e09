/**
 * Arrow IPC reader: one `.arrow`/`.feather` file, stream or file format (messages.ts), is one dataset; its rows
 * are the records. Decoding is apache-arrow's, imported only when an Arrow file is scanned.
 *
 * Planning walks the message headers (pread, bodies skipped). Partitions are runs of record batches:
 * `{ v: 1, format: 'arrow', path, file, schema: [offset, length], dictionaries: [[offset, length]…],
 * batches: [[offset, length, firstRow, batchIndex]…] }`. A worker reads each batch's bytes, prefixes the schema
 * (and any dictionary batches) and decodes that small stream on its own, so batches are read by index whatever
 * the format, and a batch that does not decode is a `corrupt_file` finding (batch, rows, offset) while every other
 * batch is read. A walk that stops early (a truncated file, a length past the end, metadata that does not parse)
 * is a `corrupt_file` finding at the offset where it stopped; the batches before it are read. A file without a
 * readable schema message cannot be read at all: `open()` throws SCAN_CORRUPT_SOURCE.
 *
 * Columns map to records as table/columns.ts describes; non-numeric columns are listed once at open as
 * `unsupported_type`. Batches with compressed bodies (LZ4/ZSTD) are not decoded here: counted as records, with an
 * `unchecked` note.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { Message, RecordBatchReader, type Field, type Schema } from 'apache-arrow';
import { Footer } from 'apache-arrow/ipc/metadata/file';
import { invalidPartition, ScanError } from '../../errors.js';
import type { Damage } from '../../records.js';
import { OPEN_FLAGS } from '../files.js';
import type { JsonValue, OpenPurpose, Partition, Reader, ReaderModule, RecordBatch, Source, SourceInfo, UncheckedNote } from '../types.js';
import { tableBatch, type ImageColumn, type NumericColumn } from '../table/columns.js';
import { BatchDamage, imageColumn, numericColumn, planArrowColumns, type ArrowColumnPlan } from './columns.js';
import { DICTIONARY_BATCH, RECORD_BATCH, SCHEMA, walkMessages, type MessageSpan, type MessageWalk } from './messages.js';

/** Bytes a partition aims for: large enough to amortise a worker round trip. */
const PARTITION_BYTES = 64 * 1024 * 1024;
/** The end-of-stream marker appended to each batch's small stream. */
const EOS = Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

type Span = [number, number];
interface ArrowSpec {
  v: 1;
  format: 'arrow';
  path: string;
  file: string;
  dictionaries: Span[];
  batches: [number, number, number, number][];
}

const isNums = (a: unknown, n: number): boolean => Array.isArray(a) && a.length === n && a.every((x) => Number.isSafeInteger(x) && (x as number) >= 0);

function parseSpec(spec: unknown): ArrowSpec {
  const s = spec as Partial<ArrowSpec> | null;
  if (s === null || typeof s !== 'object' || s.format !== 'arrow' || s.v !== 1 || typeof s.path !== 'string' || typeof s.file !== 'string' ||
    !Array.isArray(s.dictionaries) || !s.dictionaries.every((d) => isNums(d, 2)) ||
    !Array.isArray(s.batches) || !s.batches.every((b) => isNums(b, 4))) {
    throw invalidPartition('arrow', 'expected { v: 1, format: "arrow", path, file, dictionaries, batches }');
  }
  return s as ArrowSpec;
}

function corrupt(file: string, message: string, offset: number, extra: Partial<Damage> = {}): Damage {
  return { kind: 'corrupt_file', message, file, offset, ...extra };
}

function readSpan(fd: number, [offset, length]: Span): Buffer {
  const b = Buffer.alloc(length);
  const n = readSync(fd, b, 0, length, offset);
  return n === length ? b : b.subarray(0, n);
}

class ArrowReader implements Reader {
  private fd: number | null;
  private readonly columns: ArrowColumnPlan[];
  private readonly byOffset = new Map<number, MessageSpan>();

  constructor(
    private readonly source: Source, fd: number, private readonly size: number, private readonly messages: MessageSpan[],
    /** The schema message each batch's small stream starts with. */
    private readonly schema: Buffer, fields: readonly Field[], private readonly findings: Damage[],
  ) {
    this.fd = fd;
    this.columns = planArrowColumns(fields);
    for (const m of messages) this.byOffset.set(m.offset, m);
  }

  info(): SourceInfo {
    const unsupported = this.columns.filter((c) => c.kind === 'unsupported').map((c) => c.name);
    const unchecked: UncheckedNote[] = unsupported.length > 0 ? [{ reason: 'unsupported_type', count: unsupported.length, examples: unsupported.slice(0, 8) }] : [];
    const expected = this.messages.reduce((n, m) => n + m.rows, 0);
    return { bytes: this.size, expectedRecords: expected, findings: this.findings, unchecked };
  }

  plan(maxPartitions: number): Partition[] {
    const dictionaries: Span[] = this.messages.filter((m) => m.type === DICTIONARY_BATCH).map((m) => [m.offset, m.length]);
    const batches = this.messages.filter((m) => m.type === RECORD_BATCH);
    const total = batches.reduce((n, b) => n + b.length, 0);
    const target = Math.max(PARTITION_BYTES, total / Math.max(1, maxPartitions));
    const parts: Partition[] = [];
    let group: [number, number, number, number][] = [];
    let bytes = 0;
    let row = 0;
    batches.forEach((b, i) => {
      group.push([b.offset, b.length, row, i]);
      row += b.rows;
      bytes += b.length;
      if (bytes >= target || i === batches.length - 1) {
        const spec: ArrowSpec = { v: 1, format: 'arrow', path: this.source.absPath, file: this.source.path, dictionaries, batches: group };
        parts.push({ index: parts.length, spec: spec as unknown as JsonValue });
        group = [];
        bytes = 0;
      }
    });
    return parts;
  }

  *read(partition: Partition): Generator<RecordBatch> {
    const spec = parseSpec(partition.spec);
    const fd = this.fd;
    if (fd === null) throw new ScanError('SCAN_INTERNAL', 'Arrow reader used after close().');
    const prefix = [this.schema, ...spec.dictionaries.map((d) => readSpan(fd, d))];
    const first = spec.batches[0]?.[2] ?? 0;
    for (const [offset, length, firstRow, index] of spec.batches) yield this.readBatch(fd, prefix, offset, length, firstRow, index, spec.file, firstRow - first);
  }

  private readBatch(fd: number, prefix: Buffer[], offset: number, length: number, firstRow: number, index: number, file: string, partitionRow: number): RecordBatch {
    const span = this.byOffset.get(offset);
    const rows = span?.rows ?? 0;
    const where = `Record batch ${index} (rows ${firstRow}–${firstRow + rows - 1}, offset ${offset})`;
    if (span?.compressed === true) {
      return { records: [], tableRows: rows, unchecked: [{ reason: 'opaque_value', count: rows, examples: [`${file} record batch ${index} (compressed IPC body, not decoded)`] }] };
    }
    let batch;
    try {
      // One buffer, the batch read straight into it after the schema: no copy of the (large) batch body.
      const head = prefix.reduce((n, b) => n + b.length, 0);
      const bytes = Buffer.allocUnsafe(head + length + EOS.length);
      let at = 0;
      for (const b of prefix) at += b.copy(bytes, at);
      const got = readSync(fd, bytes, head, length, offset);
      if (got !== length) throw new Error(`only ${got} of its ${length} bytes could be read`);
      EOS.copy(bytes, head + length);
      const reader = RecordBatchReader.from(bytes);
      batch = reader.next().value as { numRows: number; data: { children: unknown[] } } | undefined;
      if (batch === undefined) throw new Error('no record batch in the message');
    } catch (e) {
      return { records: [], tableRows: rows, damage: [corrupt(file, `${where} does not decode: ${(e as Error).message}.`, offset)] };
    }
    const damage: Damage[] = [];
    const numeric: NumericColumn[] = [];
    const images: ImageColumn[] = [];
    const children = batch.data.children as Parameters<typeof numericColumn>[0][];
    for (const c of this.columns) {
      if (c.kind === 'unsupported') continue;
      const d = children[c.index];
      try {
        if (d === undefined || d.length !== rows) throw new BatchDamage(`column has ${d?.length ?? 0} rows, not the batch's ${rows}`);
        if (c.kind === 'numeric') numeric.push(numericColumn(d, c.name, c.isLabel));
        else images.push(imageColumn(d, c.name));
      } catch (e) {
        if (!(e instanceof BatchDamage)) throw e;
        damage.push(corrupt(file, `${where}, column '${c.name}': ${e.message}.`, offset, { field: c.name }));
      }
    }
    return tableBatch(numeric, images, this.columns.some((c) => c.kind === 'image'), file, firstRow, rows, damage, partitionRow);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export const arrowReader: ReaderModule = {
  format: 'arrow',
  // Not isolated: a partition that meets an image column moves to a worker process by itself (see parquet).
  async open(source: Source, _purpose?: OpenPurpose): Promise<Reader> {
    const fd = openSync(source.absPath, OPEN_FLAGS);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new ScanError('SCAN_CORRUPT_SOURCE', `Arrow source ${source.path} is not a regular file.`);
      const walk = walkMessages(fd, st.size);
      const schema = readSchema(fd, st.size, walk);
      if (typeof schema === 'string') throw new ScanError('SCAN_CORRUPT_SOURCE', `Cannot read Arrow file ${source.path}: ${schema}.`);
      const findings: Damage[] = [];
      if (walk.damage !== null) findings.push(corrupt(source.path, `Arrow ${walk.file ? 'file' : 'stream'} is cut short: ${walk.damage.reason}; the batches before offset ${walk.damage.offset} are read.`, walk.damage.offset));
      else if (walk.file && (!walk.ended || readSpan(fd, [Math.max(0, st.size - 6), 6]).toString('latin1') !== 'ARROW1')) {
        findings.push(corrupt(source.path, 'Arrow file ends without its footer (no closing \'ARROW1\'): truncated; readers that use the footer cannot open it.', st.size));
      }
      return new ArrowReader(source, fd, st.size, walk.messages, schema.message, schema.fields, findings);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  },
};

/**
 * The schema: the stream's first message, or (IPC files whose stream part starts with a batch, as apache-arrow's
 * own file writer makes them) the footer's, re-encoded as a schema message. A reason when there is none.
 */
function readSchema(fd: number, size: number, walk: MessageWalk): { message: Buffer; fields: Field[] } | string {
  const first = walk.messages[0];
  if (first?.type === SCHEMA) {
    const message = readSpan(fd, [first.offset, first.length]);
    try {
      const frame = message.readUInt32LE(0) === 0xffffffff ? 8 : 4;
      return { message, fields: (Message.decode(message.subarray(frame)).header() as Schema).fields };
    } catch (e) {
      return `schema does not parse: ${(e as Error).message}`;
    }
  }
  const why = walk.damage !== null ? `${walk.damage.reason} (offset ${walk.damage.offset})` : 'no schema message at the start';
  if (!walk.file || size < 16) return why;
  const tail = readSpan(fd, [size - 10, 10]);
  const len = tail.readInt32LE(0);
  if (tail.toString('latin1', 4) !== 'ARROW1' || !(len > 0 && len <= size - 18)) return `${why}, and no footer holding one`;
  let schema: Schema;
  try {
    schema = Footer.decode(readSpan(fd, [size - 10 - len, len])).schema;
  } catch (e) {
    return `${why}, and the footer does not parse: ${(e as Error).message}`;
  }
  const meta = Message.encode(Message.from(schema));
  const padded = Math.ceil(meta.length / 8) * 8;
  const message = Buffer.alloc(8 + padded);
  message.writeUInt32LE(0xffffffff, 0);
  message.writeUInt32LE(padded, 4);
  message.set(meta, 8);
  return { message, fields: schema.fields };
}
