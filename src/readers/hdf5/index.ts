/**
 * HDF5 reader: one `.h5` file, or a Caffe HDF5Data list (a text file naming `.h5` files, one per line). One
 * module handles both, format `'hdf5'`: `open()` sniffs the source, and a source without the HDF5 signature
 * that reads as text is a list (anything else is opened as HDF5 and, failing that, is a corrupt file).
 *
 * Records are rows along the first dimension of every numeric dataset (float16/32/64, int/uint 8–64) with at
 * least one dimension, in every group. Records are handed out as typed-array views of a reused buffer: a
 * record's `data` is valid only until the iterator advances (float16 is widened into a reused Float32Array,
 * same rule; views.ts). Two ways to read rows (read.ts):
 * - direct (direct.ts): plain data, contiguous or in chunks of whole rows, unfiltered and little-endian, is read
 *   with `pread` in ~224 KiB runs of rows straight into the scan kernel's memory, where it is scanned while it
 *   is still in the CPU cache (DIRECT_READ_BYTES). A worker reading only such data never loads h5wasm.
 * - through h5wasm: everything else (compressed, big-endian, other chunk indexes, damaged metadata), in
 *   chunk-aligned slabs into one reused wasm-heap buffer, scanned in place there. h5wasm's `slice()` is not
 *   used: it allocates and copies twice per read (measured on these machines: 1 GB/s against 3–6 GB/s this way).
 * Which way each dataset goes is decided once, by the main thread, and is listed in `access`.
 *
 * The main thread surveys the files lazily (on `info()`/`plan()`; survey.ts): missing files, files HDF5 cannot
 * open, unreadable headers and the Caffe rules (row counts within a file, shapes across a list) are open-time
 * findings. `plan()` splits the survey into partition specs (spec.ts) that a fresh reader in any thread can
 * read; workers only open the files of their own partitions.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { adoptMemory, OUT_BYTES } from '../../kernels/scan.js';
import { invalidOption, ScanError } from '../../errors.js';
import type { OpenPurpose, Partition, Reader, ReaderModule, RecordBatch, Source, SourceInfo, UncheckedNote } from '../types.js';
import { DEFAULT_LABEL_NAMES } from '../labels.js';
import { H5 } from './h5.js';
import { DEFAULT_MIN_PARTITION_BYTES, DEFAULT_SLAB_BYTES, MAX_SLAB_BYTES } from './layout.js';
import { liveDatasets, readSegment, throughHdf5 } from './read.js';
import { isHdf5File, listedFiles, type ListedFile } from './sniff.js';
import { parseSpec, planPartitions } from './spec.js';
import { surveySource, type Survey } from './survey.js';
import { SlabBuffer } from './views.js';

export { isHdf5File, isHdf5List, listedFiles, type ListedFile } from './sniff.js';
export { gatherField } from './views.js';

export interface Hdf5ReaderOptions {
  /**
   * Bytes one read through h5wasm aims for (default 4 MiB, at most MAX_SLAB_BYTES). Direct reads take
   * DIRECT_READ_BYTES (224 KiB), or this when it is smaller.
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

/** Examples an unchecked note carries at most (the report keeps --max-examples of them). */
const MAX_NOTE_EXAMPLES = 1000;

class Hdf5SourceReader implements Hdf5Reader {
  private closed = false;

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
    /** The survey, when it was made without HDF5 (quick.ts). */
    private surveyed?: Survey,
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
    return planPartitions(this.survey().files, maxPartitions, this.minPartitionBytes);
  }

  /**
   * A plain generator when h5wasm is not needed or already loaded (no promise per batch: see runPartition), an
   * async one when it must be loaded first.
   */
  read(partition: Partition, scratch?: Uint8Array): Iterable<RecordBatch> | AsyncIterable<RecordBatch> {
    if (this.h5 !== undefined) return this.readWith(partition, scratch);
    let needsHdf5 = true;
    try {
      needsHdf5 = parseSpec(partition.spec).segments.some((seg) => liveDatasets(seg).some(throughHdf5));
    } catch {
      // A spec that does not parse: the generator throws it when read, as it always did.
    }
    return needsHdf5 ? this.loadThenRead(partition, scratch) : this.readWith(partition, scratch);
  }

  private async *loadThenRead(partition: Partition, scratch?: Uint8Array): AsyncGenerator<RecordBatch> {
    if (this.closed) throw new ScanError('SCAN_ABORTED', `Reader for ${this.source.path} is closed.`);
    parseSpec(partition.spec);
    this.h5 ??= await H5.load();
    yield* this.readWith(partition, scratch);
  }

  private *readWith(partition: Partition, scratch?: Uint8Array): Generator<RecordBatch> {
    if (this.closed) throw new ScanError('SCAN_ABORTED', `Reader for ${this.source.path} is closed.`);
    const { segments } = parseSpec(partition.spec);
    let buf: SlabBuffer | undefined;
    try {
      for (const seg of segments) {
        if (buf === undefined && liveDatasets(seg).some(throughHdf5)) {
          const h5 = this.h5;
          if (h5 === undefined) throw new Error('h5wasm not loaded for a dataset that needs it');
          linkKernel(h5);
          buf = new SlabBuffer(h5);
        }
        yield* readSegment(seg, buf, this.slabBytes, scratch);
      }
    } finally {
      buf?.free();
    }
  }

  close(): void {
    this.closed = true;
  }

  private survey(): Survey {
    if (this.surveyed !== undefined) return this.surveyed;
    const h5 = this.h5;
    if (h5 === undefined) throw new Error('An HDF5 reader opened only to read cannot describe or plan its source.');
    const { source, kind, entries, labelNames, direct } = this;
    this.surveyed = surveySource(h5, { source, kind, entries, labelNames, direct });
    return this.surveyed;
  }
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
      // Files whose datasets are all read directly are surveyed without HDF5 (quick.ts): no h5wasm to load.
      const quick = surveySource(null, { source, kind, entries: list, labelNames: labels, direct });
      if (quick !== null) return new Hdf5SourceReader(undefined, source, kind, list, slabBytes, minPartitionBytes, labels, direct, quick);
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
 * the heap) are scanned where they were read, without a copy (an earlier measurement said this could not be done; it
 * can, see H5.memory). Without it, scans copy; results are the same.
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
