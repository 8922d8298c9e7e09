/**
 * Reading one segment of an HDF5 partition spec into record batches, each dataset one of three ways: direct
 * (pread of rows direct.ts located, into the scan kernel's arena), through h5wasm into the wasm-heap slab, and
 * compound datasets through h5wasm with each numeric field gathered into an array of its own. Rows HDF5 or the
 * file cannot give are reported as `corrupt_file` damage, and reading goes on with the rest.
 */
import { closeSync, openSync } from 'node:fs';
import type { Damage } from '../../records.js';
import type { NumericArray, RecordBatch, RowsRecord } from '../types.js';
import { OPEN_FLAGS, readFully } from '../files.js';
import type { RawRun } from './direct.js';
import type { DatasetInfo, Dtype, FieldInfo } from './h5.js';
import { DIRECT_READ_BYTES, directReads, slabRanges, slabRows } from './layout.js';
import type { SpecSegment } from './spec.js';
import { corrupt, type ScannedDataset } from './survey.js';
import { directSpace, emptyArray, gatherField, gatherScratch, typedView, wideScratch, type SlabBuffer } from './views.js';

/** The datasets of a segment that have rows in it. */
export const liveDatasets = (seg: SpecSegment): ScannedDataset[] => seg.datasets.filter((d) => seg.start < Math.min(seg.end, d.rows));

/** Whether reading `d` needs h5wasm: it has bytes, and direct.ts could not locate them. */
export const throughHdf5 = (d: ScannedDataset): boolean => d.runs === undefined && d.rowBytes > 0;

/**
 * The record batches of segment `seg`. `buf` (and the h5wasm it lives in) is there when some dataset of the
 * partition goes through h5wasm; `scratch` is the scan kernel's arena, where direct reads land when they fit.
 */
export function* readSegment(seg: SpecSegment, buf: SlabBuffer | undefined, slabBytes: number,
  scratch: Uint8Array | undefined): Generator<RecordBatch> {
  const live = liveDatasets(seg);
  let id: bigint | undefined;
  let fd: number | undefined;
  const damage = (message: string): RecordBatch => ({ records: [], damage: [corrupt(seg.file, message)] });
  try {
    if (buf !== undefined && live.some(throughHdf5)) {
      const opened = buf.h5.open(seg.path);
      // The survey opened it: the file changed since, or this thread's HDF5 sees it differently.
      if ('error' in opened) {
        yield damage(`Cannot open HDF5 file: ${opened.error}.`);
        return;
      }
      id = opened.id;
    }
    if (live.some((d) => d.runs !== undefined && d.runs.length > 0)) {
      try {
        fd = openSync(seg.path, OPEN_FLAGS);
      } catch (e) {
        yield damage(`Cannot open HDF5 file: ${(e as Error).message}.`);
        return;
      }
    }
    // The file's records are the rows of its longest array (first by name on a tie).
    const primary = seg.datasets.reduce<DatasetInfo | undefined>((a, b) => (a === undefined || b.rows > a.rows ? b : a), undefined);
    for (const ds of live) {
      // Whether the dataset's rows are the records (RowsRecord.countsRecords).
      const counts = ds === primary;
      const to = Math.min(seg.end, ds.rows);
      if (ds.rowBytes === 0) {
        if (ds.compound === undefined) {
          yield { records: [rowsRecord(counts, seg.file, ds, seg.start, to - seg.start, emptyArray(ds.dtype as Dtype))] };
        } else {
          const c = ds.compound;
          for (let i = 0; i < c.fields.length; i++) {
            const f = c.fields[i] as FieldInfo;
            yield { records: [fieldRecord(counts && i === 0, seg.file, ds, f, seg.start, to - seg.start, emptyArray(f.dtype))] };
          }
        }
        continue;
      }
      if (ds.runs !== undefined) {
        yield* readDirect(fd as number, seg.file, ds, ds.runs, seg.start, to, counts, slabBytes, scratch);
        continue;
      }
      if (buf === undefined || id === undefined) throw new Error('h5wasm not loaded for a dataset that needs it');
      const per = slabRows(ds, slabBytes);
      const need = Math.min(per, to - seg.start) * ds.rowBytes;
      if (!buf.ensure(need)) {
        yield { records: [], damage: [{
          kind: 'io_error',
          message: `Rows ${seg.start}–${to - 1} of dataset '${ds.name}' not scanned: no room for a ${need}-byte read in the HDF5 heap.`,
          file: seg.file, field: ds.name, index: seg.start, count: to - seg.start,
        }] };
        continue;
      }
      for (const [s, e] of slabRanges(seg.start, to, per, ds.chunkRows)) {
        if (!(yield* readRange(id, seg.file, ds, s, e, to, counts, buf))) break;
      }
    }
  } finally {
    if (id !== undefined) (buf as SlabBuffer).h5.close(id);
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Reads rows [from, to) of `ds` with pread, DIRECT_READ_BYTES at a time (or slabBytes when smaller: tests
 * use that to cut reads finely), into the scan kernel's arena, where the kernel scans them in place while
 * they are still in L2; a row bigger than that is read alone into a buffer of its own (and copied through
 * the arena by the kernel). Reading such rows in 128 KiB pieces, each scanned in the arena, was tried and
 * measured ~10% slower on 3×224×224 float32 rows (1 GiB, 2 workers: 466–510 ms against 412–454 ms).
 * A read that fails or comes up short (the file changed since the survey checked every run against its
 * size) loses the rest of the dataset's rows in this segment, reported as one `corrupt_file`.
 */
function* readDirect(fd: number, file: string, ds: ScannedDataset, runs: readonly RawRun[], from: number, to: number,
  counts: boolean, slabBytes: number, scratch: Uint8Array | undefined): Generator<RecordBatch> {
  const per = Math.max(1, Math.floor(Math.min(slabBytes, DIRECT_READ_BYTES) / ds.rowBytes));
  const space = directSpace(per * ds.rowBytes, scratch);
  for (const [s, n, offset] of directReads(runs, ds.rowBytes, from, to, per)) {
    const bytes = n * ds.rowBytes;
    let why: string | null = null;
    try {
      if (readFully(fd, space.subarray(0, bytes), offset).length < bytes) why = `the file ends before byte ${offset + bytes}`;
    } catch (e) {
      why = (e as Error).message;
    }
    if (why !== null) {
      yield { records: [], damage: [lostRows(file, ds, s, to, why)] };
      return;
    }
    yield { records: [rowsRecord(counts, file, ds, s, n, typedView(space, ds.dtype as Dtype, n * ds.rowElems, wideScratch))] };
  }
}

/**
 * Reads rows [s, e) of `ds`. When HDF5 fails on chunked data (a damaged chunk), the range is bisected down to
 * single chunks so that every readable row is still yielded; each run of unreadable rows becomes one
 * `corrupt_file`. Contiguous data fails only where the file ends early or cannot be read, so the rest of the
 * dataset (up to `to`) is reported lost at once and false is returned: stop reading it.
 */
function* readRange(id: bigint, file: string, ds: DatasetInfo, s: number, e: number, to: number, counts: boolean,
  buf: SlabBuffer): Generator<RecordBatch, boolean> {
  const err = buf.h5.readRows(id, ds, s, e - s, buf.ptr);
  if (err === null) {
    yield* slab(file, ds, s, e - s, counts, buf);
    return true;
  }
  if (ds.chunkRows === 0) {
    yield { records: [], damage: [lostRows(file, ds, s, to, err)] };
    return false;
  }
  const pieces: Piece[] = [];
  bisect(id, ds, s, e, err, buf, pieces);
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i] as Piece;
    if (p.err === null) {
      // Bisection overwrote the buffer: read this good piece again before handing it out.
      const again = buf.h5.readRows(id, ds, p.s, p.e - p.s, buf.ptr);
      if (again === null) {
        yield* slab(file, ds, p.s, p.e - p.s, counts, buf);
        continue;
      }
      p.err = again;
    }
    // Merge a run of bad pieces into one finding.
    let end = p.e;
    while (i + 1 < pieces.length && (pieces[i + 1] as Piece).err !== null) end = (pieces[++i] as Piece).e;
    yield { records: [], damage: [lostRows(file, ds, p.s, end, p.err)] };
  }
  return true;
}

/** Rows [s, e) of a bisected range, and HDF5's error reading them (null: they read). */
interface Piece {
  s: number;
  e: number;
  err: string | null;
}

/**
 * The records of `rows` rows of `ds` just read into `buf`: the rows themselves, or for a compound dataset
 * each numeric field gathered into an array of its own (one batch per field; only the first field's rows
 * count as records).
 */
function* slab(file: string, ds: DatasetInfo, firstRow: number, rows: number, counts: boolean, buf: SlabBuffer): Generator<RecordBatch> {
  if (ds.compound === undefined) {
    yield { records: [rowsRecord(counts, file, ds, firstRow, rows, buf.view(ds.dtype as Dtype, rows * ds.rowElems))] };
    return;
  }
  const c = ds.compound;
  for (let i = 0; i < c.fields.length; i++) {
    const f = c.fields[i] as FieldInfo;
    // Taken again for every field: the heap's buffer is replaced when it grows.
    const data = gatherField(buf.raw(rows * ds.rowBytes), c.size, rows * ds.rowElems, f, gatherScratch);
    yield { records: [fieldRecord(counts && i === 0, file, ds, f, firstRow, rows, data)] };
  }
}

/** Splits a failed range at chunk boundaries until each failure is one chunk (contiguous data: not split). */
function bisect(id: bigint, ds: DatasetInfo, s: number, e: number, err: string | null, buf: SlabBuffer, out: Piece[]): void {
  if (err === null) {
    out.push({ s, e, err });
    return;
  }
  const c = ds.chunkRows;
  let mid = c > 0 ? Math.floor((s + e) / 2 / c) * c : s;
  if (c > 0 && mid <= s) mid = (Math.floor(s / c) + 1) * c;
  if (c === 0 || mid >= e) {
    out.push({ s, e, err });
    return;
  }
  for (const [a, b] of [[s, mid], [mid, e]] as const) {
    bisect(id, ds, a, b, buf.h5.readRows(id, ds, a, b - a, buf.ptr), buf, out);
  }
}

/** `corrupt_file` for rows [s, e) of `ds` that HDF5 cannot read. */
function lostRows(file: string, ds: DatasetInfo, s: number, e: number, err: string): Damage {
  const rows = e === s + 1 ? `Row ${s}` : `Rows ${s}–${e - 1}`;
  return corrupt(file, `${rows} of dataset '${ds.name}' cannot be read: ${err}.`, { field: ds.name, index: s, count: e - s });
}

function rowsRecord(countsRecords: boolean, file: string, ds: DatasetInfo, firstRow: number, rows: number, data: NumericArray): RowsRecord {
  return { kind: 'rows', file, field: ds.name, dtype: ds.dtype as Dtype, rowShape: ds.rowShape, firstRow, rows, data, isLabel: ds.isLabel, countsRecords };
}

/** Rows of one numeric field of a compound dataset: `field` is `<dataset>.<member>`, never a label. */
function fieldRecord(countsRecords: boolean, file: string, ds: DatasetInfo, f: FieldInfo, firstRow: number, rows: number,
  data: NumericArray): RowsRecord {
  return {
    kind: 'rows', file, field: f.name, dtype: f.dtype, rowShape: [...ds.rowShape, ...f.shape], firstRow, rows, data,
    isLabel: false, countsRecords,
  };
}
