/**
 * Pure planning for the HDF5 reader: how many rows one read takes (slabs), how a source splits into partitions
 * (row ranges of files), and the Caffe HDF5Data consistency rules. No h5wasm here, so all of it is unit-testable.
 */
import type { Damage } from '../../records.js';
import type { RawRun } from './direct.js';
import type { DatasetInfo } from './h5.js';

/**
 * Bytes one read aims for. Measured on float32 (N,3,32,32), low-level reads into one reused buffer touching
 * every page: 3–6 MiB slabs run at 6–6.7 (chunked) and 10–11 (contiguous) GB/s, 16 MiB ones at 4.5–5.3 and
 * 10–11, 1.5 MiB ones at 5.5–6 and 9–10 (the slab stops fitting the CPU caches above a few MiB; 100 MB slabs
 * ran at half speed).
 */
export const DEFAULT_SLAB_BYTES = 4 * 1024 * 1024;
/**
 * Bytes one direct read (direct.ts: rows read with pread into the scan kernel's memory) aims for. The buffer
 * must stay in L2 (512 KiB a core on the Zen 3 VMs, 1 MiB on the Zen 5 ones): on Zen 3, pread of a 2 GiB file
 * from the page cache into one reused buffer ran at 9.7 GB/s into 64–128 KiB and 2.2–2.4 GB/s into 192 KiB–
 * 4 MiB; pread plus the wasm scan of the same bytes 5.3–5.6 GB/s at 96–240 KiB and 3.5 GB/s at 60 KiB, where
 * the system call starts to show. On Zen 5, 6.45 GB of 12 KiB rows with one worker took 1.54–1.57 s at
 * 128 KiB, 1.48–1.52 s at 160 KiB and 1.37–1.44 s at 192–256 KiB (each read is a batch for the analyser, so
 * fewer reads also mean fewer batches); 224 KiB sits inside both plateaus, and inside the kernel's 256 KiB arena.
 */
export const DIRECT_READ_BYTES = 224 * 1024;

/**
 * No single read is bigger than this, even for one huge row or one huge chunk: h5wasm's heap tops out at
 * 2 GiB, and a filtered chunk needs HDF5's own decompression buffer of the same size beside ours.
 */
export const MAX_SLAB_BYTES = 512 * 1024 * 1024;
/**
 * Smallest partition worth a worker's time: a partition costs a file open (about a millisecond) and a
 * message; below a few MiB that dominates the read itself.
 */
export const DEFAULT_MIN_PARTITION_BYTES = 8 * 1024 * 1024;

/**
 * Rows per read of `ds` within `budget` bytes: whole chunks when the layout is chunked (a chunk split across
 * two reads is decompressed twice, since HDF5's default 1 MiB chunk cache rarely holds it), and at least one
 * row. 0 when one row alone exceeds MAX_SLAB_BYTES (unreadable here).
 */
export function slabRows(ds: Pick<DatasetInfo, 'rows' | 'rowBytes' | 'chunkRows'>, budget: number): number {
  if (ds.rowBytes === 0) return Math.max(1, ds.rows); // nothing to read: one record for all rows
  if (ds.rowBytes > MAX_SLAB_BYTES) return 0;
  const fit = Math.max(1, Math.floor(Math.min(budget, MAX_SLAB_BYTES) / ds.rowBytes));
  const c = ds.chunkRows;
  if (c > 0) {
    if (c <= fit) return Math.floor(fit / c) * c;
    if (c * ds.rowBytes <= MAX_SLAB_BYTES) return c;
  }
  return fit;
}

/**
 * Row ranges [start, end) covering [from, to) in reads of at most `per` rows, each ending on a chunk boundary
 * (rows are chunked from row 0) when whole chunks fit in a read.
 */
export function* slabRanges(from: number, to: number, per: number, chunkRows: number): Generator<[number, number]> {
  let s = from;
  while (s < to) {
    let e = s + per;
    if (chunkRows > 0 && per >= chunkRows) {
      const aligned = Math.floor(e / chunkRows) * chunkRows;
      if (aligned > s) e = aligned;
    }
    e = Math.min(e, to);
    yield [s, e];
    s = e;
  }
}

/**
 * Reads covering rows [from, to) through `runs` (sorted, disjoint, from direct.ts) of `rowBytes`-byte rows, as
 * [first row, rows, file offset], each inside one run and at most `per` rows long.
 */
export function* directReads(runs: readonly RawRun[], rowBytes: number, from: number, to: number, per: number):
  Generator<[number, number, number]> {
  for (const run of clipRuns(runs, rowBytes, from, to)) {
    for (let i = 0; i < run.rows; i += per) yield [run.row + i, Math.min(per, run.rows - i), run.offset + i * rowBytes];
  }
}

/** The parts of `runs` inside rows [from, to) (what one partition's reader needs to know). */
export function clipRuns(runs: readonly RawRun[], rowBytes: number, from: number, to: number): RawRun[] {
  const out: RawRun[] = [];
  for (const run of runs) {
    const s = Math.max(from, run.row);
    const e = Math.min(to, run.row + run.rows);
    if (s < e) out.push({ row: s, rows: e - s, offset: run.offset + (s - run.row) * rowBytes });
  }
  return out;
}

/** What planning needs to know about one readable file. */
export interface PlanFile {
  /** Absolute path. */
  path: string;
  /** Display path. */
  file: string;
  /** Rows of the longest dataset. */
  rows: number;
  /** Bytes of one row across all the file's datasets (balances partitions by bytes read). */
  rowBytes: number;
  /** Cut rows at multiples of this (the chunk rows of the file's biggest dataset), so no chunk is read twice. */
  align: number;
}

/** Rows [start, end) of every scanned dataset of one file (each dataset clipped to its own length). */
export interface Segment {
  path: string;
  file: string;
  start: number;
  end: number;
}

/**
 * Splits files (in list order) into at most `maxPartitions` runs of segments of about equal bytes, cutting
 * inside big files at chunk boundaries so that several workers can share one file. Every row of every file
 * lands in exactly one segment, and concatenating the partitions in order gives list order, then row order.
 */
export function planSegments(files: readonly PlanFile[], maxPartitions: number, minPartitionBytes: number): Segment[][] {
  const live = files.filter((f) => f.rows > 0);
  const total = live.reduce((a, f) => a + f.rows * f.rowBytes, 0);
  const byMin = minPartitionBytes > 0 ? Math.max(1, Math.floor(total / minPartitionBytes)) : Infinity;
  const count = Math.max(1, Math.min(Math.floor(maxPartitions), byMin));
  const target = total / count;
  const parts: Segment[][] = [];
  let cur: Segment[] = [];
  let acc = 0;
  const close = (): void => {
    if (cur.length > 0) parts.push(cur);
    cur = [];
    acc = 0;
  };
  for (const f of live) {
    let start = 0;
    while (start < f.rows) {
      const seg = (end: number): void => {
        cur.push({ path: f.path, file: f.file, start, end });
        acc += (end - start) * f.rowBytes;
        start = end;
      };
      // The last partition, and rows that cost nothing to read, take the rest of the file.
      if (parts.length === count - 1 || f.rowBytes === 0) {
        seg(f.rows);
        break;
      }
      const fit = (target - acc) / f.rowBytes;
      if (start + fit >= f.rows) {
        seg(f.rows);
        if (acc >= target) close();
        continue;
      }
      const align = Math.max(1, f.align);
      let end = Math.round((start + fit) / align) * align;
      if (end <= start) {
        // Less than half a chunk of room left: end this partition, or give an empty one a whole chunk.
        if (cur.length > 0) {
          close();
          continue;
        }
        end = (Math.floor(start / align) + 1) * align;
      }
      seg(Math.min(end, f.rows));
      close();
    }
  }
  close();
  return parts;
}

/** The group a dataset is in: its path up to the last '/' ('' for the root group). */
export const groupOf = (name: string): string => name.slice(0, Math.max(0, name.lastIndexOf('/')));

/**
 * Caffe rule: sibling datasets (in the same group) must have the same number of rows: data and label line up
 * by row. Datasets of different groups (`train/` and `val/`) are different sets of records and are not
 * compared. One finding per group that disagrees.
 */
export function lengthFindings(file: string, datasets: readonly DatasetInfo[]): Damage[] {
  const groups = new Map<string, DatasetInfo[]>();
  for (const d of datasets) {
    const g = groupOf(d.name);
    const list = groups.get(g);
    if (list === undefined) groups.set(g, [d]);
    else list.push(d);
  }
  const out: Damage[] = [];
  for (const [g, siblings] of groups) {
    if (siblings.length < 2 || siblings.every((d) => d.rows === (siblings[0] as DatasetInfo).rows)) continue;
    const list = siblings.map((d) => `'${d.name}' ${d.rows}`).join(', ');
    out.push({
      kind: 'inconsistent_lengths',
      message: `Datasets of ${g === '' ? 'one file' : `group '${g}'`} disagree on their row count: ${list}.`,
      file,
    });
  }
  return out;
}

/** A dataset's row shape as numpy writes it: `(N, 3, 8, 8)`. */
const rowShapeOf = (d: DatasetInfo): string => `(N${d.rowShape.map((x) => `, ${x}`).join('')})`;
const shapeOf = (d: DatasetInfo): string => `${d.dtype} ${rowShapeOf(d)}`;

/**
 * Caffe rule: the files of one list must agree on the number of values per row of each dataset, and hold the
 * same datasets. Caffe's HDF5Data layer shapes its top from the first file and copies `count / shape(0)` values
 * per row from every later file, converting any integer or float type to its own: another trailing shape with
 * the same number of values ((N,) against (N, 1)) or another numeric type (float32 against float64) reads the
 * same, while another number of values per row misaligns every row (or reads past the end). Each dataset is
 * compared with the first file that has it; one finding per disagreeing file. Compound datasets (which the
 * layer cannot read at all) are compared by presence only.
 */
export function crossFileFindings(files: readonly { file: string; datasets: readonly DatasetInfo[] }[]): Damage[] {
  const out: Damage[] = [];
  const first = new Map<string, { file: string; ds: DatasetInfo }>();
  const firstFile = files[0];
  for (const f of files) {
    const here = new Map(f.datasets.map((d) => [d.name, d]));
    for (const d of f.datasets) {
      const ref = first.get(d.name);
      if (ref === undefined) {
        first.set(d.name, { file: f.file, ds: d });
        continue;
      }
      if (d.compound !== undefined || ref.ds.compound !== undefined || d.rowElems === ref.ds.rowElems) continue;
      const values = (x: DatasetInfo): string => `${x.rowElems} value${x.rowElems === 1 ? '' : 's'} per row ${rowShapeOf(x)}`;
      out.push({
        kind: 'shape_mismatch',
        message: `Dataset '${d.name}' has ${values(d)} in ${f.file} but ${values(ref.ds)} in ${ref.file}: ` +
          `Caffe's HDF5Data layer copies ${ref.ds.rowElems} a row from every file, so these rows are misread.`,
        file: f.file,
        field: d.name,
      });
    }
    // Datasets of the list's first file are the layer's tops: every file must have them.
    if (firstFile !== undefined && f !== firstFile) {
      for (const d of firstFile.datasets) {
        if (here.has(d.name)) continue;
        out.push({
          kind: 'shape_mismatch',
          message: `${f.file} has no dataset '${d.name}', which ${firstFile.file} has (${shapeOf(d)}).`,
          file: f.file,
          field: d.name,
        });
      }
    }
  }
  return out;
}
