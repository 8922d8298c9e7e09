/**
 * Parquet reader: one `.parquet` file (a Hugging Face shard, a pandas/pyarrow/DuckDB export) is one dataset;
 * its rows are the records. Decoding is hyparquet's (pure JS, with hyparquet-compressors for snappy, gzip, zstd,
 * brotli and lz4), imported only when a Parquet file is scanned.
 *
 * Partitions are runs of row groups: `{ v: 1, format: 'parquet', path, file, groups: [first, end) }`; a worker
 * reopens the file and rereads its footer. Each column chunk is read on its own (chunk.ts), so damage in one
 * (a corrupt page, a chunk past the end of a truncated file, a bad decompression) is a `corrupt_file` finding
 * naming the row group, column and offset, and every other chunk is still read. A file whose footer cannot be
 * read (wrong magic, a length past the file, thrift that does not parse) cannot be read at all: `open()` throws
 * SCAN_CORRUPT_SOURCE.
 *
 * Columns map to records as columns.ts describes. Columns that are not numbers (strings, binary, dates,
 * decimals, nested structs other than images) are listed once at open as `unsupported_type` (one per column),
 * as HDF5 lists its non-numeric datasets.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { parquetSchema, type FileMetaData, type SchemaTree } from 'hyparquet';
import { invalidPartition, ScanError } from '../../errors.js';
import type { Damage } from '../../records.js';
import { OPEN_FLAGS } from '../files.js';
import type { OpenPurpose, Partition, Reader, ReaderModule, RecordBatch, Source, SourceInfo, UncheckedNote } from '../types.js';
import { tableBatch, type ImageColumn, type NumericColumn } from '../table/columns.js';
import { ChunkDamage, listColumn, readChunk, readScalar, structMember } from './chunk.js';
import { planColumns, readFooter, type ColumnPlan } from './footer.js';

/** Bytes (compressed) a partition aims for: large enough to amortise a worker round trip. */
const PARTITION_BYTES = 64 * 1024 * 1024;
/** A row group declaring more rows than this is not believed (its columns would be allocated at this size). */
const MAX_GROUP_ROWS = 1 << 28;

interface ParquetSpec {
  v: 1;
  format: 'parquet';
  path: string;
  file: string;
  groups: [number, number];
}

function parseSpec(spec: unknown): ParquetSpec {
  const s = spec as Partial<ParquetSpec> | null;
  if (s === null || typeof s !== 'object' || s.format !== 'parquet' || s.v !== 1 || typeof s.path !== 'string' || typeof s.file !== 'string' ||
    !Array.isArray(s.groups) || s.groups.length !== 2 || !s.groups.every((g) => Number.isInteger(g) && g >= 0)) {
    throw invalidPartition('parquet', 'expected { v: 1, format: "parquet", path, file, groups: [first, end] }');
  }
  return s as ParquetSpec;
}

function corrupt(file: string, message: string, offset: number, extra: Partial<Damage> = {}): Damage {
  return { kind: 'corrupt_file', message, file, offset, ...extra };
}

class ParquetReader implements Reader {
  private fd: number | null;
  private readonly tree: SchemaTree;
  private readonly columns: ColumnPlan[];
  private readonly starts: number[] = [];

  constructor(private readonly source: Source, fd: number, private readonly size: number, private readonly metadata: FileMetaData, private readonly findings: Damage[]) {
    this.fd = fd;
    this.tree = parquetSchema(metadata);
    this.columns = planColumns(metadata);
    let at = 0;
    for (const rg of metadata.row_groups) {
      this.starts.push(at);
      at += Number(rg.num_rows);
    }
  }

  info(): SourceInfo {
    const unsupported = this.columns.filter((c) => c.kind === 'unsupported').map((c) => c.name);
    const unchecked: UncheckedNote[] = unsupported.length > 0 ? [{ reason: 'unsupported_type', count: unsupported.length, examples: unsupported.slice(0, 8) }] : [];
    return { bytes: this.size, expectedRecords: Number(this.metadata.num_rows), findings: this.findings, unchecked };
  }

  plan(maxPartitions: number): Partition[] {
    const groups = this.metadata.row_groups;
    const total = groups.reduce((n, g) => n + Number(g.total_byte_size), 0);
    const target = Math.max(PARTITION_BYTES, total / Math.max(1, maxPartitions));
    const parts: Partition[] = [];
    let first = 0;
    let bytes = 0;
    for (let g = 0; g < groups.length; g++) {
      bytes += Number(groups[g]!.total_byte_size);
      if (bytes >= target || g === groups.length - 1) {
        parts.push({ index: parts.length, spec: { v: 1, format: 'parquet', path: this.source.absPath, file: this.source.path, groups: [first, g + 1] } });
        first = g + 1;
        bytes = 0;
      }
    }
    return parts;
  }

  *read(partition: Partition): Generator<RecordBatch> {
    const spec = parseSpec(partition.spec);
    if (this.fd === null) throw new ScanError('SCAN_INTERNAL', 'Parquet reader used after close().');
    const end = Math.min(spec.groups[1], this.metadata.row_groups.length);
    const first = this.starts[spec.groups[0]] ?? 0;
    for (let g = spec.groups[0]; g < end; g++) yield this.readGroup(this.fd, g, spec.file, this.starts[g]! - first);
  }

  private readGroup(fd: number, g: number, file: string, partitionRow: number): RecordBatch {
    const rows = Number(this.metadata.row_groups[g]!.num_rows);
    const firstRow = this.starts[g]!;
    const damage: Damage[] = [];
    if (!(rows >= 0 && rows <= MAX_GROUP_ROWS)) {
      damage.push(corrupt(file, `Row group ${g} declares ${rows} rows; not read.`, 0));
      return { records: [], damage };
    }
    const guard = <T>(what: string, read: () => T): T | null => {
      try {
        return read();
      } catch (e) {
        if (!(e instanceof ChunkDamage)) throw e;
        damage.push(corrupt(file, `Row group ${g}, column '${what}' (rows ${firstRow}–${firstRow + rows - 1}): ${e.message}.`, e.offset, { field: what }));
        return null;
      }
    };
    const chunk = <T>(leaf: readonly string[], what: string, decode: (pages: ReturnType<typeof readChunk>) => T): T | null =>
      guard(what, () => decode(readChunk(fd, this.size, this.metadata, this.tree, g, leaf)));
    const numeric: NumericColumn[] = [];
    const images: ImageColumn[] = [];
    for (const c of this.columns) {
      if (c.kind === 'scalar') {
        const col = guard(c.name, () => readScalar(fd, this.size, this.metadata, this.tree, g, c.name, c.dtype, c.isLabel));
        if (col !== null) numeric.push(col);
      } else if (c.kind === 'list') {
        const optional = this.tree.children.find((k) => k.element.name === c.name)?.element.repetition_type !== 'REQUIRED';
        const col = chunk(c.leaf, c.name, (p) => listColumn(p, rows, c.name, c.dtype, c.isLabel, optional, 0));
        if (col !== null) numeric.push(col);
      } else if (c.kind === 'image') {
        const optional = this.tree.children.find((k) => k.element.name === c.name)?.element.repetition_type !== 'REQUIRED';
        const bytes = chunk(c.bytesLeaf, c.name, (p) => structMember(p, rows, optional));
        if (bytes === null) continue;
        const paths = c.pathLeaf === null ? null : chunk(c.pathLeaf, c.name, (p) => structMember(p, rows, optional));
        images.push({
          name: c.name,
          bytes: bytes.map((b) => (b instanceof Uint8Array ? b : null)),
          paths: (paths ?? bytes.map(() => null)).map((p) => (p instanceof Uint8Array ? Buffer.from(p).toString('utf8') : typeof p === 'string' ? p : null)),
        });
      }
    }
    return tableBatch(numeric, images, this.columns.some((c) => c.kind === 'image'), file, firstRow, rows, damage, partitionRow);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export const parquetReader: ReaderModule = {
  format: 'parquet',
  // Not isolated: a table of numbers needs no native decoder. A partition that meets an image column moves to a
  // worker process by itself (the analyzer's first native decode asks for it; see pool/worker-main.ts).
  async open(source: Source, _purpose?: OpenPurpose): Promise<Reader> {
    const fd = openSync(source.absPath, OPEN_FLAGS);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new ScanError('SCAN_CORRUPT_SOURCE', `Parquet source ${source.path} is not a regular file.`);
      const footer = readFooter(fd, st.size);
      if (!footer.ok) {
        throw new ScanError('SCAN_CORRUPT_SOURCE', `Cannot read Parquet file ${source.path}: ${footer.reason} (offset ${footer.offset}).`, { data: { offset: footer.offset } });
      }
      const findings: Damage[] = footer.headMagic ? [] : [corrupt(source.path, 'File does not start with the Parquet magic \'PAR1\'.', 0)];
      return new ParquetReader(source, fd, st.size, footer.metadata, findings);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  },
};
