/**
 * HDF5 reader: one `.h5` file, or a Caffe HDF5Data list (a text file naming `.h5` files, one per line). One
 * module handles both, format `'hdf5'`: `open()` sniffs the source, and a source without the HDF5 signature
 * that reads as text is a list (anything else is opened as HDF5 and, failing that, is a corrupt file).
 *
 * Records are rows along the first dimension of every numeric dataset (float16/32/64, int/uint 8–64) with at
 * least one dimension, in every group. Records are handed out as typed-array views of a reused buffer: a
 * record's `data` is valid only until the iterator advances (float16 is widened into a reused Float32Array,
 * same rule). Two ways to read rows:
 * - direct (direct.ts): plain data, contiguous or in chunks of whole rows, unfiltered and little-endian, is read
 *   with `pread` in ~128 KiB runs of rows straight into the scan kernel's memory, where it is scanned while it
 *   is still in the CPU cache (DIRECT_READ_BYTES). A worker reading only such data never loads h5wasm.
 * - through h5wasm: everything else (compressed, big-endian, other chunk indexes, damaged metadata), in
 *   chunk-aligned slabs into one reused wasm-heap buffer, scanned in place there. h5wasm's `slice()` is not
 *   used: it allocates and copies twice per read (MEASURED §6: 1 GB/s against 3–6 GB/s this way).
 * Which way each dataset goes is decided once, by the main thread, and is listed in `access`.
 *
 * Partition spec (JSON, readable by a fresh reader in any thread): `{ v: 2, segments: [{ path, file, start,
 * end, datasets }] }` — rows [start, end) of the file at absolute `path` (each dataset clipped to its own
 * length), `file` being its display path; `datasets` are the file's scanned datasets as the survey described
 * them (DatasetInfo), each with `runs` (direct.ts, clipped to the segment) when it is read directly.
 * Partitions run in list order, then row order. Within a segment, datasets come one after the other (all of
 * `data`'s rows, then all of `label`'s), in name order.
 *
 * The main thread surveys the files lazily (on `info()`/`plan()`): missing files, files HDF5 cannot open,
 * unreadable headers and the Caffe rules (row counts within a file, shapes across a list) are open-time
 * findings. Workers only open the files of their own partitions.
 */
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import { adoptMemory, OUT_BYTES } from '../../kernels/scan.js';
import { invalidOption, invalidPartition, ScanError } from '../../errors.js';
import type { Damage } from '../../records.js';
import type {
  JsonValue, NumericArray, OpenPurpose, Partition, Reader, ReaderModule, RecordBatch, RowsRecord, Source, SourceInfo,
  UncheckedNote,
} from '../types.js';
import { OPEN_FLAGS, readFully } from '../files.js';
import { locateRows, readSuperblock, type RawRun } from './direct.js';
import { DEFAULT_LABEL_NAMES } from '../labels.js';
import { H5, type CompoundInfo, type DatasetInfo, type Dtype, type FieldInfo } from './h5.js';
import { widenHalf } from './half.js';
import {
  clipRuns,
  crossFileFindings,
  DEFAULT_MIN_PARTITION_BYTES,
  DEFAULT_SLAB_BYTES,
  DIRECT_READ_BYTES,
  directReads,
  lengthFindings,
  MAX_SLAB_BYTES,
  planSegments,
  slabRanges,
  slabRows,
  type PlanFile,
  type Segment,
} from './layout.js';
import { isHdf5File, listedFiles, type ListedFile } from './sniff.js';

export { isHdf5File, isHdf5List, listedFiles, type ListedFile } from './sniff.js';

export interface Hdf5ReaderOptions {
  /**
   * Bytes one read through h5wasm aims for (default 4 MiB, at most MAX_SLAB_BYTES). Direct reads take
   * DIRECT_READ_BYTES (128 KiB), or this when it is smaller.
   */
  slabBytes?: number;
  /** Smallest partition `plan()` makes, in bytes (default 8 MiB; 0 splits as finely as asked). */
  minPartitionBytes?: number;
  /**
   * Dataset names that hold labels (last path component, case-insensitive; default `label`, `labels`). They
   * travel in the partition spec (as each dataset's `isLabel`), so workers opening the default module agree.
   */
  labelNames?: readonly string[];
  /**
   * Read plain datasets with pread (direct.ts) rather than through h5wasm (default true, unless the
   * environment sets NANSCAN_HDF5_DIRECT=0). Off, every dataset goes through h5wasm: for comparing the two in
   * tests and benchmarks, and a way around direct reads should they ever misread a file.
   */
  direct?: boolean;
}

export interface Hdf5Reader extends Reader {
  /** Whether the source is one HDF5 file or a list of them. */
  readonly kind: 'file' | 'list';
  /**
   * Objects not scanned, as `<file>:<dataset> (<reason>)`: links, and what `unchecked` holds (datasets and
   * compound fields with no numeric content: strings, enums, references, scalars, empty ones).
   */
  readonly skipped: string[];
  /** Datasets and compound fields with no numeric content, as `<file>:<dataset>[.<field>] (<what>)`. */
  readonly unchecked: string[];
  /**
   * The source's record count as Caffe sees it: per readable file, the rows of its longest numeric dataset
   * (the `data`-like one), summed over the list. Batches count every dataset's rows separately.
   */
  readonly records: number;
  /**
   * How each scanned dataset is read, as `<file>:<dataset>` → `'direct'`, or why it goes through h5wasm (the
   * reason direct.ts gave: `filtered (compressed) data`, `big-endian integer`, …).
   */
  readonly access: ReadonlyMap<string, string>;
}

const SPEC_VERSION = 2;

/** Examples an unchecked note carries at most (the report keeps --max-examples of them). */
const MAX_NOTE_EXAMPLES = 1000;

/** A scanned dataset as the survey found it, with its row runs when it is read directly. */
interface ScannedDataset extends DatasetInfo {
  runs?: RawRun[];
}

/** One file of the source, as the survey found it. */
interface SurveyedFile {
  path: string;
  file: string;
  datasets: ScannedDataset[];
  rows: number;
}

/** One segment of a partition spec: rows [start, end) of one file, and the datasets to read there. */
interface SpecSegment extends Segment {
  datasets: ScannedDataset[];
}

interface Survey {
  files: SurveyedFile[];
  findings: Damage[];
  skipped: string[];
  /** Datasets and compound fields not checked (unsupported_type), as `<file>:<name> (<what>)`. */
  unchecked: string[];
  bytes: number;
  /** HDF5's reason for each file it could not open at all. */
  unopenable: string[];
  access: Map<string, string>;
}

/** The datasets of a segment that have rows in it. */
const liveDatasets = (seg: SpecSegment): ScannedDataset[] => seg.datasets.filter((d) => seg.start < Math.min(seg.end, d.rows));

/** Whether reading `d` needs h5wasm: it has bytes, and direct.ts could not locate them. */
const throughHdf5 = (d: ScannedDataset): boolean => d.runs === undefined && d.rowBytes > 0;

/** A numeric dataset that one read cannot hold (a row over MAX_SLAB_BYTES) is reported, not read. */
const readable = (d: DatasetInfo): boolean => slabRows(d, MAX_SLAB_BYTES) > 0;

function corrupt(file: string, message: string, extra: Partial<Damage> = {}): Damage {
  return { kind: 'corrupt_file', message, file, ...extra };
}

class Hdf5SourceReader implements Hdf5Reader {
  private surveyed: Survey | undefined;
  private closed = false;
  /** Whether the dataset being read is its file's longest (its rows are the records); see readSegment. */
  private primary = false;

  constructor(
    /** Loaded for describing and planning; a reader opened only to read loads it when a dataset needs it. */
    private h5: H5 | undefined,
    private readonly source: Source,
    readonly kind: 'file' | 'list',
    /** List entries (a single pseudo-entry for a lone file). */
    private readonly entries: ListedFile[],
    private readonly slabBytes: number,
    private readonly minPartitionBytes: number,
    private readonly labelNames: readonly string[],
    private readonly direct: boolean,
  ) {}

  get skipped(): string[] {
    return this.survey().skipped;
  }

  get unchecked(): string[] {
    return this.survey().unchecked;
  }

  get records(): number {
    return this.survey().files.reduce((a, f) => a + f.rows, 0);
  }

  get access(): ReadonlyMap<string, string> {
    return this.survey().access;
  }

  /** HDF5's reasons for the files it could not open. */
  openErrors(): string[] {
    return [...this.survey().unopenable];
  }

  info(): SourceInfo {
    const s = this.survey();
    // A file's records are the rows of its longest array (RowsRecord.countsRecords).
    const expectedRecords = s.files.reduce((n, f) => n + f.datasets.reduce((m, d) => Math.max(m, d.rows), 0), 0);
    const info: SourceInfo = { bytes: s.bytes, findings: [...s.findings], expectedRecords };
    if (s.unchecked.length > 0) {
      // One note for the whole source (a list's files together); examples bounded, the count exact.
      const note: UncheckedNote = { reason: 'unsupported_type', count: s.unchecked.length, examples: s.unchecked.slice(0, MAX_NOTE_EXAMPLES) };
      info.unchecked = [note];
    }
    return info;
  }

  plan(maxPartitions: number): Partition[] {
    if (!Number.isInteger(maxPartitions) || maxPartitions < 1) {
      throw invalidOption('maxPartitions', 'a positive integer', maxPartitions);
    }
    const files: PlanFile[] = this.survey().files.map((f) => {
      const biggest = f.datasets.reduce<DatasetInfo | undefined>(
        (b, d) => (b === undefined || d.rows * d.rowBytes > b.rows * b.rowBytes ? d : b), undefined);
      return {
        path: f.path,
        file: f.file,
        rows: f.rows,
        rowBytes: f.datasets.reduce((a, d) => a + d.rowBytes, 0),
        align: biggest?.chunkRows || 1,
      };
    });
    const parts = planSegments(files, maxPartitions, this.minPartitionBytes);
    if (parts.length === 0) parts.push([]); // nothing to read: one empty partition keeps callers simple
    const byPath = new Map(this.survey().files.map((f) => [f.path, f]));
    return parts.map((segments, index) => {
      const specSegments: SpecSegment[] = segments.map((seg) => ({
        ...seg,
        datasets: (byPath.get(seg.path) as SurveyedFile).datasets.map((d) => {
          if (d.runs === undefined) return d;
          return { ...d, runs: clipRuns(d.runs, d.rowBytes, seg.start, seg.end) };
        }),
      }));
      return { index, spec: { v: SPEC_VERSION, segments: specSegments as unknown as JsonValue[] } };
    });
  }

  /** Async only to load h5wasm the first time a dataset needs it; direct reads never wait. */
  async *read(partition: Partition, scratch?: Uint8Array): AsyncGenerator<RecordBatch> {
    if (this.closed) throw new ScanError('SCAN_ABORTED', `Reader for ${this.source.path} is closed.`);
    const { segments } = parseSpec(partition.spec);
    let buf: SlabBuffer | undefined;
    try {
      for (const seg of segments) {
        if (buf === undefined && liveDatasets(seg).some(throughHdf5)) {
          this.h5 ??= await H5.load();
          linkKernel(this.h5);
          buf = new SlabBuffer(this.h5);
        }
        yield* this.readSegment(seg, buf, scratch);
      }
    } finally {
      buf?.free();
    }
  }

  close(): void {
    this.closed = true;
  }

  private *readSegment(seg: SpecSegment, buf: SlabBuffer | undefined, scratch: Uint8Array | undefined): Generator<RecordBatch> {
    const live = liveDatasets(seg);
    let id: bigint | undefined;
    let fd: number | undefined;
    const damage = (message: string): RecordBatch => ({ records: [], damage: [corrupt(seg.file, message)] });
    try {
      if (buf !== undefined && live.some(throughHdf5)) {
        const opened = (this.h5 as H5).open(seg.path);
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
        this.primary = ds === primary;
        const to = Math.min(seg.end, ds.rows);
        if (ds.rowBytes === 0) {
          if (ds.compound === undefined) {
            yield { records: [rowsRecord(this.primary, seg.file, ds, seg.start, to - seg.start, emptyArray(ds.dtype as Dtype))] };
          } else {
            const c = ds.compound;
            for (let i = 0; i < c.fields.length; i++) {
              const f = c.fields[i] as FieldInfo;
              yield { records: [fieldRecord(this.primary && i === 0, seg.file, ds, f, seg.start, to - seg.start, emptyArray(f.dtype))] };
            }
          }
          continue;
        }
        if (ds.runs !== undefined) {
          yield* this.readDirect(fd as number, seg.file, ds, ds.runs, seg.start, to, scratch);
          continue;
        }
        if (buf === undefined || id === undefined) throw new Error('h5wasm not loaded for a dataset that needs it');
        const per = slabRows(ds, this.slabBytes);
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
          if (!(yield* this.readRange(id, seg.file, ds, s, e, to, buf))) break;
        }
      }
    } finally {
      if (id !== undefined) (this.h5 as H5).close(id);
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
  private *readDirect(
    fd: number, file: string, ds: ScannedDataset, runs: readonly RawRun[], from: number, to: number, scratch: Uint8Array | undefined,
  ): Generator<RecordBatch> {
    const per = Math.max(1, Math.floor(Math.min(this.slabBytes, DIRECT_READ_BYTES) / ds.rowBytes));
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
      yield { records: [rowsRecord(this.primary, file, ds, s, n, typedView(space, ds.dtype as Dtype, n * ds.rowElems, wideScratch))] };
    }
  }

  /**
   * Reads rows [s, e) of `ds`. When HDF5 fails on chunked data (a damaged chunk), the range is bisected down to
   * single chunks so that every readable row is still yielded; each run of unreadable rows becomes one
   * `corrupt_file`. Contiguous data fails only where the file ends early or cannot be read, so the rest of the
   * dataset (up to `to`) is reported lost at once and false is returned: stop reading it.
   */
  private *readRange(id: bigint, file: string, ds: DatasetInfo, s: number, e: number, to: number,
    buf: SlabBuffer): Generator<RecordBatch, boolean> {
    const h5 = this.h5 as H5;
    const err = h5.readRows(id, ds, s, e - s, buf.ptr);
    if (err === null) {
      yield* this.slab(file, ds, s, e - s, buf);
      return true;
    }
    if (ds.chunkRows === 0) {
      yield { records: [], damage: [lostRows(file, ds, s, to, err)] };
      return false;
    }
    const pieces: { s: number; e: number; err: string | null }[] = [];
    this.bisect(id, ds, s, e, err, buf, pieces);
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i] as (typeof pieces)[number];
      if (p.err === null) {
        // Bisection overwrote the buffer: read this good piece again before handing it out.
        const again = h5.readRows(id, ds, p.s, p.e - p.s, buf.ptr);
        if (again === null) {
          yield* this.slab(file, ds, p.s, p.e - p.s, buf);
          continue;
        }
        p.err = again;
      }
      // Merge a run of bad pieces into one finding.
      let end = p.e;
      while (i + 1 < pieces.length && (pieces[i + 1] as (typeof pieces)[number]).err !== null) end = (pieces[++i] as (typeof pieces)[number]).e;
      yield { records: [], damage: [lostRows(file, ds, p.s, end, p.err)] };
    }
    return true;
  }

  /**
   * The records of `rows` rows of `ds` just read into `buf`: the rows themselves, or for a compound dataset
   * each numeric field gathered into an array of its own (one batch per field; only the first field's rows
   * count as records).
   */
  private *slab(file: string, ds: DatasetInfo, firstRow: number, rows: number, buf: SlabBuffer): Generator<RecordBatch> {
    if (ds.compound === undefined) {
      yield { records: [rowsRecord(this.primary, file, ds, firstRow, rows, buf.view(ds.dtype as Dtype, rows * ds.rowElems))] };
      return;
    }
    const c = ds.compound;
    for (let i = 0; i < c.fields.length; i++) {
      const f = c.fields[i] as FieldInfo;
      // Taken again for every field: the heap's buffer is replaced when it grows.
      const data = gatherField(buf.raw(rows * ds.rowBytes), c.size, rows * ds.rowElems, f, gatherScratch);
      yield { records: [fieldRecord(this.primary && i === 0, file, ds, f, firstRow, rows, data)] };
    }
  }

  /** Splits a failed range at chunk boundaries until each failure is one chunk (contiguous data: not split). */
  private bisect(id: bigint, ds: DatasetInfo, s: number, e: number, err: string | null, buf: SlabBuffer,
    out: { s: number; e: number; err: string | null }[]): void {
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
      this.bisect(id, ds, a, b, (this.h5 as H5).readRows(id, ds, a, b - a, buf.ptr), buf, out);
    }
  }

  private survey(): Survey {
    if (this.surveyed !== undefined) return this.surveyed;
    const h5 = this.h5;
    if (h5 === undefined) throw new Error('An HDF5 reader opened only to read cannot describe or plan its source.');
    const s: Survey = { files: [], findings: [], skipped: [], unchecked: [], bytes: 0, unopenable: [], access: new Map() };
    this.entries.forEach((entry, index) => {
      const display = this.kind === 'file' ? this.source.path : this.display(entry.path);
      if (!entry.exists) {
        s.findings.push({
          kind: 'missing_file',
          message: `Line ${entry.line} of ${this.source.path} names '${entry.raw}', but ${display} does not exist.`,
          // DESIGN.md: list entries carry the entry's path as resolved, with the list's line.
          file: display,
          line: entry.line,
          index,
        });
        return;
      }
      s.bytes += fileSize(entry.path);
      const f = surveyFile(h5, entry.path, display, this.labelNames, this.direct, s);
      if (f !== null) s.files.push(f);
    });
    if (this.kind === 'list') s.findings.push(...crossFileFindings(s.files));
    this.surveyed = s;
    return s;
  }

  /**
   * A listed file's display path: relative when the list's own path was given relative, from the list's shown
   * folder (so it does not depend on the process's cwd, which a library caller's `cwd` option need not be).
   */
  private display(abs: string): string {
    if (path.isAbsolute(this.source.path)) return abs;
    return path.join(path.dirname(this.source.path), path.relative(path.dirname(this.source.absPath), abs));
  }
}

/** Opens, walks and closes one file, recording findings and skips in `s`. Null when it cannot be opened. */
function surveyFile(h5: H5, absPath: string, display: string, labelNames: readonly string[], direct: boolean,
  s: Survey): SurveyedFile | null {
  const opened = h5.open(absPath);
  if ('error' in opened) {
    s.findings.push(corrupt(display, `Cannot open HDF5 file: ${opened.error}.`));
    s.unopenable.push(opened.error);
    return null;
  }
  let fd: number | undefined;
  try {
    const walk = h5.walk(opened.id, labelNames);
    for (const p of walk.problems) {
      s.findings.push(corrupt(display, p.name === '' ? `${p.message}.` : `Dataset '${p.name}': ${p.message}.`,
        p.name === '' ? {} : { field: p.name }));
    }
    for (const k of walk.skipped) s.skipped.push(`${display}:${k.name} (${k.reason})`);
    for (const u of walk.unsupported) {
      s.skipped.push(`${display}:${u.name} (${u.reason})`);
      s.unchecked.push(`${display}:${u.name} (${u.reason})`);
    }
    // Direct reads (direct.ts): the superblock once per file, then each dataset from its object header.
    let locate: (d: DatasetInfo) => { runs: RawRun[] } | { unsupported: string } = () => ({ unsupported: 'direct reads turned off' });
    if (direct) {
      try {
        fd = openSync(absPath, OPEN_FLAGS);
        const size = fstatSync(fd).size;
        const sb = readSuperblock(fd, size);
        const f = fd;
        locate = 'unsupported' in sb ? () => sb : (d) => {
          const addr = h5.objectAddress(opened.id, d);
          return addr === null ? { unsupported: 'HDF5 gives no object address' } : locateRows(f, size, sb, addr, d);
        };
      } catch (e) {
        const why = { unsupported: (e as Error).message };
        locate = () => why;
      }
    }
    const datasets: ScannedDataset[] = [];
    for (const d of walk.datasets) {
      if (readable(d)) {
        const where = locate(d);
        s.access.set(`${display}:${d.name}`, 'runs' in where ? 'direct' : where.unsupported);
        datasets.push('runs' in where ? { ...d, runs: where.runs } : d);
        continue;
      }
      s.findings.push({
        kind: 'io_error',
        message: `Dataset '${d.name}' has rows of ${d.rowBytes} bytes, more than one read can hold (${MAX_SLAB_BYTES}); not scanned.`,
        file: display,
        field: d.name,
      });
    }
    s.findings.push(...lengthFindings(display, datasets));
    if (datasets.length === 0) s.skipped.push(`${display} (no numeric dataset)`);
    return { path: absPath, file: display, datasets, rows: datasets.reduce((a, d) => Math.max(a, d.rows), 0) };
  } finally {
    h5.close(opened.id);
    if (fd !== undefined) closeSync(fd);
  }
}

/** A reused buffer for direct reads of `bytes`: the caller's scratch (the kernel's arena) when it is big enough. */
function directSpace(bytes: number, scratch: Uint8Array | undefined): Uint8Array {
  if (scratch !== undefined && bytes <= scratch.length) return scratch;
  if (ownSpace === undefined || ownSpace.length < bytes) ownSpace = new Uint8Array(Math.max(bytes, DIRECT_READ_BYTES));
  return ownSpace;
}

/** Direct reads when the kernel has no arena (JS kernel) or a row is bigger than it; grown to the biggest row. */
let ownSpace: Uint8Array | undefined;
/** float16 rows widened for the kernel (direct reads). */
const wideScratch: { wide?: Float32Array } = {};

function fileSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

/** The reused read buffer of one `read()`: one `_malloc`'d block, grown when a slab needs more, freed at the end. */
class SlabBuffer {
  ptr = 0;
  private bytes = 0;
  private readonly scratch: { wide?: Float32Array } = {};

  constructor(private readonly h5: H5) {}

  /** Makes room for `bytes`; false when the heap (2 GiB at most) cannot hold them. */
  ensure(bytes: number): boolean {
    if (bytes <= this.bytes) return true;
    this.free();
    this.ptr = this.h5.malloc(bytes);
    if (this.ptr === 0) return false;
    this.bytes = bytes;
    return true;
  }

  /**
   * A view of the first `n` elements. Taken after every read: the heap's ArrayBuffer is replaced when the heap
   * grows (HDF5 allocates during reads).
   */
  view(dtype: Dtype, n: number): NumericArray {
    return typedView(new Uint8Array(this.h5.heap(), this.ptr, n * BYTES[dtype]), dtype, n, this.scratch);
  }

  /** The first `n` bytes (compound rows, as HDF5 laid them out). Taken after every read, as `view`. */
  raw(n: number): Uint8Array {
    return new Uint8Array(this.h5.heap(), this.ptr, n);
  }

  free(): void {
    if (this.ptr !== 0) this.h5.free(this.ptr);
    this.ptr = 0;
    this.bytes = 0;
  }
}

const BYTES: Record<Dtype, number> = { f16: 2, f32: 4, f64: 8, i8: 1, u8: 1, i16: 2, u16: 2, i32: 4, u32: 4, i64: 8, u64: 8 };

/**
 * The first `n` elements of `bytes` (aligned to the element size) as `dtype`; float16 is widened into
 * `scratch.wide` (reused, grown when needed).
 */
function typedView(bytes: Uint8Array, dtype: Dtype, n: number, scratch: { wide?: Float32Array }): NumericArray {
  const b = bytes.buffer as ArrayBuffer;
  const p = bytes.byteOffset;
  switch (dtype) {
    case 'f16': {
      if (scratch.wide === undefined || scratch.wide.length < n) scratch.wide = new Float32Array(n);
      const out = scratch.wide.subarray(0, n);
      widenHalf(new Uint16Array(b, p, n), out);
      return out;
    }
    case 'f32': return new Float32Array(b, p, n);
    case 'f64': return new Float64Array(b, p, n);
    case 'i8': return new Int8Array(b, p, n);
    case 'u8': return new Uint8Array(b, p, n);
    case 'i16': return new Int16Array(b, p, n);
    case 'u16': return new Uint16Array(b, p, n);
    case 'i32': return new Int32Array(b, p, n);
    case 'u32': return new Uint32Array(b, p, n);
    case 'i64': return new BigInt64Array(b, p, n);
    case 'u64': return new BigUint64Array(b, p, n);
  }
}

function emptyArray(dtype: Dtype): NumericArray {
  switch (dtype) {
    case 'f16': case 'f32': return new Float32Array(0);
    case 'f64': return new Float64Array(0);
    case 'i8': return new Int8Array(0);
    case 'u8': return new Uint8Array(0);
    case 'i16': return new Int16Array(0);
    case 'u16': return new Uint16Array(0);
    case 'i32': return new Int32Array(0);
    case 'u32': return new Uint32Array(0);
    case 'i64': return new BigInt64Array(0);
    case 'u64': return new BigUint64Array(0);
  }
}

/** The reused buffer compound fields are gathered into (and float16 fields widened into). */
const gatherScratch: { bytes: Uint8Array; wide?: Float32Array } = { bytes: new Uint8Array(0) };

/**
 * The values of field `f` of `n` compound elements of `size` bytes at `bytes`, gathered into `scratch` (reused,
 * grown when needed) as a typed array, big-endian members byte-swapped. Members may sit at any offset (h5py
 * packs compounds), so values are copied byte by byte rather than viewed.
 */
export function gatherField(bytes: Uint8Array, size: number, n: number, f: FieldInfo,
  scratch: { bytes: Uint8Array; wide?: Float32Array }): NumericArray {
  const w = f.elemBytes;
  const fb = w * f.elems;
  const total = n * fb;
  if (scratch.bytes.length < total) scratch.bytes = new Uint8Array(Math.max(total, 2 * scratch.bytes.length));
  const out = scratch.bytes;
  let o = 0;
  if (f.littleEndian || w === 1) {
    for (let e = 0, p = f.offset; e < n; e++, p += size) {
      if (fb >= 64) {
        out.set(bytes.subarray(p, p + fb), o);
        o += fb;
      } else {
        for (let k = 0; k < fb; k++) out[o++] = bytes[p + k] as number;
      }
    }
  } else {
    for (let e = 0; e < n; e++) {
      for (let v = 0, p = e * size + f.offset; v < f.elems; v++, p += w) {
        for (let k = w - 1; k >= 0; k--) out[o++] = bytes[p + k] as number;
      }
    }
  }
  return typedView(out, f.dtype, n * f.elems, scratch);
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

const DTYPES = new Set<string>(Object.keys(BYTES));

/** Validates a partition spec at the worker boundary. */
function parseSpec(spec: JsonValue): { segments: SpecSegment[] } {
  const bad = (why: string): ScanError => invalidPartition('HDF5', why);
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw bad('not an object');
  if (spec['v'] !== SPEC_VERSION) throw bad(`version ${String(spec['v'])}, expected ${SPEC_VERSION}`);
  const segs = spec['segments'];
  if (!Array.isArray(segs)) throw bad('no segments');
  const count = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  const segments = segs.map((s, i) => {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw bad(`segment ${i} is not an object`);
    const { path: p, file, start, end, datasets } = s;
    if (typeof p !== 'string' || !path.isAbsolute(p)) throw bad(`segment ${i} has no absolute path`);
    if (typeof file !== 'string') throw bad(`segment ${i} has no file`);
    if (!count(start) || !count(end) || end < start) throw bad(`segment ${i} has an invalid row range`);
    if (!Array.isArray(datasets)) throw bad(`segment ${i} has no datasets`);
    const ds = datasets.map((d, j) => {
      const where = `segment ${i} dataset ${j}`;
      if (d === null || typeof d !== 'object' || Array.isArray(d)) throw bad(`${where} is not an object`);
      const { name, dtype, elemBytes, rows, rowShape, rowElems, rowBytes, chunkRows, isLabel, fixedExtent, runs, compound } = d;
      if (typeof name !== 'string' || typeof dtype !== 'string' || !(DTYPES.has(dtype) || dtype === 'compound')) {
        throw bad(`${where} has no name or dtype`);
      }
      const c = dtype === 'compound' ? parseCompound(compound, (why) => bad(`${where} ${why}`)) : undefined;
      if (!count(rows) || !count(rowElems) || !count(rowBytes) || !count(chunkRows) || !count(elemBytes) ||
        !Array.isArray(rowShape) || !rowShape.every(count) || rowElems !== rowShape.reduce<number>((a, b) => a * (b as number), 1) ||
        elemBytes !== (c === undefined ? BYTES[dtype as Dtype] : c.size) || rowBytes !== rowElems * elemBytes || rowBytes > MAX_SLAB_BYTES) {
        throw bad(`${where} has an inconsistent shape`);
      }
      if (c !== undefined && runs !== undefined) throw bad(`${where} is a compound with direct reads`);
      const info: ScannedDataset = {
        name, dtype: dtype as Dtype | 'compound', elemBytes, rows, rowShape: rowShape as number[], rowElems, rowBytes, chunkRows,
        isLabel: isLabel === true, fixedExtent: fixedExtent === true,
      };
      if (c !== undefined) info.compound = c;
      if (runs === undefined) return info;
      if (!Array.isArray(runs)) throw bad(`${where} has invalid runs`);
      info.runs = runs.map((r) => {
        if (r === null || typeof r !== 'object' || Array.isArray(r) || !count(r['row']) || !count(r['rows']) || !count(r['offset'])) {
          throw bad(`${where} has invalid runs`);
        }
        return { row: r['row'], rows: r['rows'], offset: r['offset'] };
      });
      return info;
    });
    return { path: p, file, start, end, datasets: ds };
  });
  return { segments };
}

/** Validates a compound dataset's layout in a partition spec: every field inside the element. */
function parseCompound(v: JsonValue | undefined, bad: (why: string) => ScanError): CompoundInfo {
  const count = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad('has no compound layout');
  const { size, fields, reclaim } = v;
  if (!count(size) || size === 0 || !Array.isArray(fields) || fields.length === 0 || typeof reclaim !== 'boolean') {
    throw bad('has an invalid compound layout');
  }
  return {
    size, reclaim,
    fields: fields.map((f) => {
      if (f === null || typeof f !== 'object' || Array.isArray(f)) throw bad('has an invalid compound field');
      const { name, dtype, offset, elemBytes, shape, elems, littleEndian } = f;
      if (typeof name !== 'string' || typeof dtype !== 'string' || !DTYPES.has(dtype) || !count(offset) || !count(elems) ||
        elemBytes !== BYTES[dtype as Dtype] || !Array.isArray(shape) || !shape.every(count) ||
        elems !== shape.reduce<number>((a, b) => a * (b as number), 1) || typeof littleEndian !== 'boolean' ||
        offset + elems * elemBytes > size) {
        throw bad('has an invalid compound field');
      }
      return { name, dtype: dtype as Dtype, offset, elemBytes, shape: shape as number[], elems, littleEndian };
    }),
  };
}

/** A reader module with non-default read and partition sizes (tests use small ones to exercise splitting). */
export function createHdf5Reader(options: Hdf5ReaderOptions = {}): ReaderModule {
  const slabBytes = options.slabBytes ?? DEFAULT_SLAB_BYTES;
  const minPartitionBytes = options.minPartitionBytes ?? DEFAULT_MIN_PARTITION_BYTES;
  if (!Number.isSafeInteger(slabBytes) || slabBytes < 1 || slabBytes > MAX_SLAB_BYTES) {
    throw invalidOption('slabBytes', `an integer from 1 to ${MAX_SLAB_BYTES}`, slabBytes);
  }
  if (!Number.isSafeInteger(minPartitionBytes) || minPartitionBytes < 0) {
    throw invalidOption('minPartitionBytes', 'a non-negative integer', minPartitionBytes);
  }
  const labelNames = options.labelNames ?? DEFAULT_LABEL_NAMES;
  if (!Array.isArray(labelNames) || !labelNames.every((n) => typeof n === 'string' && n !== '' && !n.includes('/'))) {
    throw invalidOption('labelNames', 'a list of dataset names', labelNames);
  }
  const labels = labelNames.map((n) => n.toLowerCase());
  const direct = options.direct ?? process.env['NANSCAN_HDF5_DIRECT'] !== '0';
  return {
    format: 'hdf5',
    async open(source: Source, purpose: OpenPurpose = 'plan'): Promise<Hdf5Reader> {
      const abs = source.absPath;
      if (!path.isAbsolute(abs)) throw invalidOption('source.absPath', 'an absolute path', abs);
      let stat;
      try {
        stat = statSync(abs);
      } catch (cause) {
        throw new ScanError('SCAN_SOURCE_NOT_FOUND', `Cannot read ${source.path}.`, { cause });
      }
      if (!stat.isFile()) throw new ScanError('SCAN_SOURCE_UNRECOGNISED', `${source.path} is not a file.`);
      let entries: ListedFile[] | null = null;
      if (!isHdf5File(abs)) {
        try {
          entries = listedFiles(abs);
          // Text naming nothing is no list (an empty or blank `.h5`): open it as HDF5.
          if (entries.length === 0) entries = null;
        } catch {
          entries = null; // not text: open it as HDF5, which reports what is wrong with it
        }
      }
      const kind = entries !== null ? 'list' : 'file';
      const list = entries ?? [{ line: 0, raw: source.path, path: abs, exists: true }];
      // A reader that only reads partitions loads h5wasm when a dataset needs it (read()), maybe never.
      if (purpose === 'read') return new Hdf5SourceReader(undefined, source, kind, list, slabBytes, minPartitionBytes, labels, direct);
      const h5 = await H5.load();
      linkKernel(h5);
      if (kind === 'list') return new Hdf5SourceReader(h5, source, kind, list, slabBytes, minPartitionBytes, labels, direct);
      const reader = new Hdf5SourceReader(h5, source, kind, list, slabBytes, minPartitionBytes, labels, direct);
      // A lone file that HDF5 cannot open at all is a corrupt source (the caller reports corrupt_file).
      const failed = reader.openErrors()[0];
      if (failed !== undefined) {
        throw new ScanError('SCAN_CORRUPT_SOURCE', `Cannot open HDF5 file ${source.path}: ${failed}.`, {
          data: { file: source.path, hdf5: failed },
        });
      }
      return reader;
    },
  };
}

let kernelLinked = false;

/**
 * Once per thread: links the value kernel to h5wasm's heap, so that the rows this reader hands out (views of
 * the heap) are scanned where they were read, without a copy (MEASURED §6 said this could not be done; it can,
 * see H5.memory). Without it, scans copy; results are the same.
 */
function linkKernel(h5: H5): void {
  if (kernelLinked) return;
  kernelLinked = true;
  const memory = h5.memory;
  if (memory === undefined) return;
  const out = h5.malloc(OUT_BYTES);
  if (out !== 0 && !adoptMemory(memory, out)) h5.free(out);
}

/** The HDF5 reader with default sizes. */
export const hdf5Reader: ReaderModule = createHdf5Reader();
