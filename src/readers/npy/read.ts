/**
 * Reading one unit of a partition (rows [start, end) of one array) as RowsRecord slabs: pread for a loose file
 * or a stored `.npz` member, a bounded streaming inflate for a deflated member. Slabs are views of buffers
 * reused across the partition. Damage (a file that shrank, a CRC that does not match, a deflate stream that
 * breaks) is yielded after every complete row before it.
 */
import { Readable } from 'node:stream';
import { createInflateRaw, crc32 } from 'node:zlib';
import { fortranRowsToC, toNative, type NpyDtype } from '../../decode/npy.js';
import type { RecordBatch, RowsRecord } from '../types.js';
import { loadKernel } from '../../kernels/scan.js';
import { readFully } from '../files.js';
import { DIRECT_READ_BYTES } from '../hdf5/layout.js';
import { corrupt, rowBytesOf, type ArraySpec } from './survey.js';

export interface Unit {
  array: ArraySpec;
  start: number;
  end: number;
}

/** Reused buffers, grown as needed: the bytes read, a second one for swapping or transposing, float16 widened. */
export interface Buffers {
  slab: number;
  raw?: Uint8Array;
  scratch?: Uint8Array;
  wide?: Float32Array;
}

/** Compressed bytes read at a time; inflate output chunks are as large. */
const INFLATE_CHUNK = 1 << 20;

/** A fresh ArrayBuffer (8-aligned) of at least `n` bytes, or `b` when it is large enough. */
function grow(b: Uint8Array | undefined, n: number): Uint8Array {
  return b !== undefined && b.length >= n ? b : new Uint8Array(Math.max(n, 8));
}

const dtypeOf = (a: ArraySpec): NpyDtype => ({ kind: a.kind, descr: a.descr, itemSize: a.itemSize, bigEndian: a.bigEndian });

function record(a: ArraySpec, firstRow: number, rows: number, bytes: Uint8Array, buf: Buffers): RowsRecord {
  const rowElems = a.shape.slice(1).reduce((x, y) => x * y, 1);
  const n = rows * rowElems;
  if (a.bigEndian && a.itemSize > 1) buf.scratch = grow(buf.scratch, n * a.itemSize);
  if (a.kind === 'f16' && (buf.wide === undefined || buf.wide.length < n)) buf.wide = new Float32Array(n);
  const data = toNative(dtypeOf(a), bytes, n, buf.scratch, buf.wide);
  return {
    kind: 'rows', file: a.file, field: a.name, dtype: a.kind === 'bool' ? 'u8' : (a.kind as RowsRecord['dtype']), rowShape: a.shape.slice(1),
    firstRow, rows, data, isLabel: a.isLabel, countsRecords: a.counts,
  };
}

const where = (a: ArraySpec): { field?: string } => (a.zip === undefined ? {} : { field: a.name });

export async function* readUnit(fd: number, u: Unit, buf: Buffers): AsyncGenerator<RecordBatch> {
  if (u.array.zip?.method === 8) yield* readDeflated(fd, u, buf);
  else yield* readPlain(fd, u, buf);
}

/** Rows by pread: C order in runs of whole rows; Fortran order column by column, then transposed. */
export function* readPlain(fd: number, u: Unit, buf: Buffers): Generator<RecordBatch> {
  const a = u.array;
  const rb = rowBytesOf(a);
  const per = Math.max(1, Math.floor(buf.slab / Math.max(rb, 1)));
  const n0 = a.shape.length === 0 ? 1 : (a.shape[0] as number);
  const cols = a.shape.slice(1).reduce((x, y) => x * y, 1);
  // A stored member read whole is checked against its CRC (header, data and anything after, as stored).
  const zip = a.zip;
  const checkCrc = zip !== undefined && u.start === 0 && u.end === a.rows && a.rows === n0;
  // C order: the CRC runs over the rows as they are read; Fortran order reads columns, so it takes a pass of its own.
  let crc = checkCrc && !a.fortran ? crc32(readFully(fd, Buffer.alloc(a.dataOffset - (zip as { start: number }).start), (zip as { start: number }).start)) : 0;
  // Little-endian C-order rows that need no conversion are read into the scan kernel's memory, ~224 KiB at a
  // time, and scanned there while still in the CPU cache (as HDF5's direct reads: src/readers/hdf5/layout.ts).
  const arena = loadKernel().arena;
  const inPlace = !a.fortran && (!a.bigEndian || a.itemSize === 1) && a.kind !== 'f16' && arena !== undefined && rb <= arena.length;
  const step = inPlace ? Math.max(1, Math.floor(Math.min(buf.slab, DIRECT_READ_BYTES) / Math.max(rb, 1))) : per;
  for (let s = u.start; s < u.end; s += step) {
    const rows = Math.min(step, u.end - s);
    if (!inPlace) buf.raw = grow(buf.raw, rows * rb);
    const want = (inPlace ? (arena as Uint8Array) : (buf.raw as Uint8Array)).subarray(0, rows * rb);
    if (!a.fortran) {
      const got = readFully(fd, want, a.dataOffset + s * rb);
      const whole = Math.floor(got.length / rb);
      if (whole > 0) yield { records: [record(a, s, whole, got, buf)] };
      if (checkCrc) crc = crc32(got, crc);
      if (whole < rows) {
        yield { records: [], damage: [corrupt(a.file, `Data of '${a.name}' ends at byte ${a.dataOffset + s * rb + got.length}, inside row ${s + whole} (the file shrank while it was read).`, { ...where(a), offset: a.dataOffset + s * rb + got.length, index: s + whole })] };
        return;
      }
      continue;
    }
    // Fortran order: column c of rows [s, s + rows) is contiguous at (c·n0 + s)·item.
    for (let c = 0; c < cols; c++) {
      const part = want.subarray(c * rows * a.itemSize, (c + 1) * rows * a.itemSize);
      const at = a.dataOffset + (c * n0 + s) * a.itemSize;
      if (readFully(fd, part, at).length < part.length) {
        yield { records: [], damage: [corrupt(a.file, `Data of '${a.name}' ends before byte ${at + part.length}, in the column holding rows ${s}–${s + rows - 1} (the file shrank while it was read).`, { ...where(a), offset: at, index: s })] };
        return;
      }
    }
    buf.scratch = grow(buf.scratch, rows * rb);
    const c = buf.scratch.subarray(0, rows * rb);
    fortranRowsToC([rows, ...a.shape.slice(1)], a.itemSize, want, 0, rows, c);
    // The transposed rows are in scratch; swap/widen may need scratch too, so move them to raw first.
    want.set(c);
    yield { records: [record(a, s, rows, want, buf)] };
  }
  if (checkCrc && zip !== undefined) {
    const dataEnd = a.fortran ? zip.start : a.dataOffset + a.rows * rb;
    for (let at = dataEnd; at < zip.start + zip.size;) {
      const got = readFully(fd, Buffer.alloc(Math.min(zip.start + zip.size - at, 1 << 20)), at);
      if (got.length === 0) break;
      crc = crc32(got, crc);
      at += got.length;
    }
    if ((crc >>> 0) !== zip.crc) {
      yield { records: [], damage: [corrupt(a.file, `Member '${zip.member}' fails its CRC-32 check (stored ${hex(zip.crc)}, computed ${hex(crc)}): its bytes were altered.`, { field: a.name, offset: zip.start })] };
    }
  }
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

/** The compressed bytes of a member, INFLATE_CHUNK at a time. */
function* compressed(fd: number, start: number, size: number): Generator<Buffer> {
  for (let at = 0; at < size;) {
    const b = readFully(fd, Buffer.allocUnsafe(Math.min(INFLATE_CHUNK, size - at)), start + at);
    if (b.length === 0) return;
    yield b;
    at += b.length;
  }
}

/**
 * A deflated member, inflated as a stream (output pulled as it is consumed, so memory stays at a few chunks
 * whatever the member's size), its header skipped, its rows gathered into slabs. Its CRC and size are checked
 * at the end; a broken stream is damage after the rows inflated before it. (Deflate notices damage only some
 * bytes after it: rows inflated in between may hold altered values. Holding the whole member back until its CRC
 * is known would cost its size in memory; the member is reported damaged either way.)
 */
async function* readDeflated(fd: number, u: Unit, buf: Buffers): AsyncGenerator<RecordBatch> {
  const a = u.array;
  const zip = a.zip as NonNullable<ArraySpec['zip']>;
  const rb = rowBytesOf(a);
  const total = a.rows * rb;
  // Fortran order is transposed from the whole array (bounded by MAX_INFLATED_FORTRAN in the survey).
  const per = a.fortran ? a.rows : Math.max(1, Math.floor(buf.slab / Math.max(rb, 1)));
  buf.raw = grow(buf.raw, Math.min(per, a.rows) * rb);
  const raw = buf.raw;
  let out = 0; // bytes of inflated member seen
  let crc = 0;
  let filled = 0; // bytes in raw
  let row = 0;
  const emit = (rows: number): RecordBatch => {
    let bytes = raw.subarray(0, rows * rb);
    if (a.fortran) {
      buf.scratch = grow(buf.scratch, rows * rb);
      fortranRowsToC(a.shape, a.itemSize, raw, 0, rows, buf.scratch);
      raw.set(buf.scratch.subarray(0, rows * rb));
      bytes = raw.subarray(0, rows * rb);
    }
    const r = { records: [record(a, row, rows, bytes, buf)] };
    row += rows;
    return r;
  };
  const src = Readable.from(compressed(fd, zip.start, zip.compSize));
  const inflate = createInflateRaw({ chunkSize: INFLATE_CHUNK });
  src.on('error', (e) => inflate.destroy(e));
  src.pipe(inflate);
  let failure: string | undefined;
  try {
    for await (const chunk of inflate as AsyncIterable<Buffer>) {
      crc = crc32(chunk, crc);
      let c = chunk;
      if (out < a.dataOffset) c = c.subarray(Math.min(c.length, a.dataOffset - out));
      out += chunk.length;
      while (c.length > 0 && row * rb + filled < total) {
        const take = Math.min(c.length, per * rb - filled, total - row * rb - filled);
        raw.set(c.subarray(0, take), filled);
        filled += take;
        c = c.subarray(take);
        if (filled === Math.min(per, a.rows - row) * rb) {
          // Fortran order needs every row before any can be emitted; C order emits each full slab.
          if (!a.fortran || filled === total) yield emit(filled / rb);
          filled = 0;
        }
      }
      if (out > zip.size) break; // more than the directory declares: reported below
    }
  } catch (e) {
    failure = `its deflate stream is damaged after ${out} bytes of output (${(e as Error).message})`;
  } finally {
    src.destroy();
    inflate.destroy();
  }
  if (!a.fortran && filled >= rb) yield emit(Math.floor(filled / rb));
  if (failure === undefined && out !== zip.size) failure = `it inflates to ${out > zip.size ? 'more than' : 'only'} ${out > zip.size ? zip.size : out} bytes, not the ${zip.size} its directory entry declares`;
  if (failure === undefined && (crc >>> 0) !== zip.crc) failure = `it fails its CRC-32 check (stored ${hex(zip.crc)}, computed ${hex(crc)}): its bytes were altered`;
  if (failure !== undefined) {
    const detail = row < a.rows ? `; ${row} of ${a.rows} rows read` : '';
    yield { records: [], damage: [corrupt(a.file, `Member '${zip.member}': ${failure}${detail}.`, { field: a.name, offset: zip.start, ...(row < a.rows ? { index: row } : {}) })] };
  }
}
