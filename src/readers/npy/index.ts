/**
 * NumPy reader (format `npy`): a loose `.npy` file (with the label file the rule in sniff.ts pairs with it), or
 * an `.npz` archive, whose `.npy` members are the arrays of one dataset (like the datasets of one HDF5 file).
 * Rows along the first axis are records (a 1-D array: one value a record; 0-d: one record), handed out as
 * RowsRecord slabs, typed-array views of reused memory: little-endian C-order rows ~224 KiB at a time in the
 * scan kernel's own memory (scanned in place), everything else in ~4 MiB slabs (big-endian data swapped, float16
 * widened, Fortran order transposed into C order, deflated members inflated).
 *
 * Partition spec (JSON): `{ v: 1, units: [{ array, start, end }] }`, rows [start, end) of each array as the
 * survey described it (survey.ts ArraySpec). A loose file is split by row ranges (its label file's rows go with
 * the same range); an `.npz` by members (a deflated member is read whole, from the start of its stream).
 * Object arrays and other non-numeric dtypes are never read: they are `unchecked` (unsupported_type).
 */
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { invalidOption, invalidPartition, ScanError } from '../../errors.js';
import type { JsonValue, OpenPurpose, Partition, Reader, ReaderModule, RecordBatch, Source, SourceInfo } from '../types.js';
import { OPEN_FLAGS } from '../files.js';
import { readPlain, readUnit, type Buffers, type Unit } from './read.js';
import { survey, type ArraySpec, type Survey } from './survey.js';

export { isNpyFile, isNpzFile, pairNpyFiles, labelFileFor } from './sniff.js';

export interface NpyReaderOptions {
  /** Bytes of one slab (default 4 MiB). */
  slabBytes?: number;
  /** Smallest partition `plan()` makes, in bytes (default 8 MiB; 0 splits as finely as asked). */
  minPartitionBytes?: number;
}

const SPEC_VERSION = 1;
const MAX_NOTE_EXAMPLES = 1000;
export const DEFAULT_SLAB_BYTES = 4 * 1024 * 1024;
const MAX_SLAB_BYTES = 256 * 1024 * 1024;
const DEFAULT_MIN_PARTITION_BYTES = 8 * 1024 * 1024;

class NpySourceReader implements Reader {
  private surveyed: Survey | undefined;
  private closed = false;

  constructor(
    private readonly source: Source,
    private readonly slabBytes: number,
    private readonly minPartitionBytes: number,
  ) {}

  survey(): Survey {
    this.surveyed ??= survey(this.source.absPath, this.source.path);
    return this.surveyed;
  }

  info(): SourceInfo {
    const s = this.survey();
    const primary = s.arrays.find((a) => a.counts);
    const info: SourceInfo = { bytes: s.bytes, findings: [...s.findings], expectedRecords: primary?.rows ?? 0 };
    if (s.unchecked.length > 0) {
      info.unchecked = [{ reason: 'unsupported_type', count: s.unchecked.length, examples: s.unchecked.slice(0, MAX_NOTE_EXAMPLES) }];
    }
    return info;
  }

  plan(maxPartitions: number): Partition[] {
    if (!Number.isInteger(maxPartitions) || maxPartitions < 1) throw invalidOption('maxPartitions', 'a positive integer', maxPartitions);
    const arrays = this.survey().arrays;
    const bytes = (a: ArraySpec): number => a.rows * rowBytes(a);
    const total = arrays.reduce((n, a) => n + bytes(a), 0);
    const floor = Math.max(1, this.minPartitionBytes);
    const groups: Unit[][] = [];
    if (arrays.some((a) => a.zip !== undefined)) {
      // Members, whole, grouped in order until each group holds its share of the bytes.
      const target = Math.max(floor, total / maxPartitions);
      let cur: Unit[] = [];
      let held = 0;
      for (const a of arrays.filter((x) => x.rows > 0)) {
        if (cur.length > 0 && held + bytes(a) > target && groups.length < maxPartitions - 1) {
          groups.push(cur);
          cur = [];
          held = 0;
        }
        cur.push({ array: a, start: 0, end: a.rows });
        held += bytes(a);
      }
      if (cur.length > 0) groups.push(cur);
    } else {
      // Row ranges over the longest array; every array reads the same range (clipped to its own rows).
      const rows = arrays.reduce((n, a) => Math.max(n, a.rows), 0);
      const n = Math.max(1, Math.min(maxPartitions, rows, Math.floor(total / floor)));
      for (let k = 0; k < n; k++) {
        const start = Math.floor((rows * k) / n);
        const end = Math.floor((rows * (k + 1)) / n);
        groups.push(arrays.filter((a) => a.rows > start).map((a) => ({ array: a, start, end: Math.min(end, a.rows) })));
      }
    }
    if (groups.length === 0) groups.push([]);
    return groups.map((units, index) => ({ index, spec: { v: SPEC_VERSION, units: units as unknown as JsonValue[] } }));
  }

  /**
   * A plain generator unless a unit is a deflated .npz member (inflated by a zlib stream, which is async): no
   * promise per batch for the rest (see runPartition).
   */
  read(partition: Partition): Iterable<RecordBatch> | AsyncIterable<RecordBatch> {
    let deflated = true;
    try {
      deflated = parseSpec(partition.spec).some((u) => u.array.zip?.method === 8);
    } catch {
      // A spec that does not parse: the generator throws it when read, as it always did.
    }
    return deflated ? this.readAsync(partition) : this.readPlainUnits(partition);
  }

  private *readPlainUnits(partition: Partition): Generator<RecordBatch> {
    const units = this.units(partition);
    const buffers: Buffers = { slab: this.slabBytes };
    for (const u of units) {
      const fd = openUnit(u);
      if (typeof fd !== 'number') {
        yield fd;
        continue;
      }
      try {
        yield* readPlain(fd, u, buffers);
      } finally {
        closeSync(fd);
      }
    }
  }

  private async *readAsync(partition: Partition): AsyncGenerator<RecordBatch> {
    const units = this.units(partition);
    const buffers: Buffers = { slab: this.slabBytes };
    for (const u of units) {
      const fd = openUnit(u);
      if (typeof fd !== 'number') {
        yield fd;
        continue;
      }
      try {
        yield* readUnit(fd, u, buffers);
      } finally {
        closeSync(fd);
      }
    }
  }

  /** The partition's units, checked (called from inside the generators, so a bad spec throws when read). */
  private units(partition: Partition): Unit[] {
    if (this.closed) throw new ScanError('SCAN_ABORTED', `Reader for ${this.source.path} is closed.`);
    return parseSpec(partition.spec);
  }

  close(): void {
    this.closed = true;
  }
}

/** The unit's file opened for reading, or the batch that says it cannot be. */
function openUnit(u: Unit): number | RecordBatch {
  try {
    return openSync(u.array.path, OPEN_FLAGS);
  } catch (e) {
    return { records: [], damage: [{ kind: 'io_error', message: `Cannot open: ${(e as Error).message}.`, file: u.array.file }] };
  }
}

const rowBytes = (a: Pick<ArraySpec, 'shape' | 'itemSize'>): number => a.shape.slice(1).reduce((x, y) => x * y, 1) * a.itemSize;

const KINDS = new Set(['f16', 'f32', 'f64', 'i8', 'u8', 'i16', 'u16', 'i32', 'u32', 'i64', 'u64', 'bool']);

/** Validates a partition spec (a worker must not trust one it did not make: it sizes reads from it). */
function parseSpec(spec: JsonValue): Unit[] {
  const bad = (why: string): ScanError => invalidPartition('npy', why);
  const obj = (x: unknown): x is Record<string, JsonValue> => x !== null && typeof x === 'object' && !Array.isArray(x);
  const count = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  if (!obj(spec) || spec['v'] !== SPEC_VERSION || !Array.isArray(spec['units'])) throw bad('not a v1 spec with units');
  return spec['units'].map((u, i) => {
    if (!obj(u) || !obj(u['array']) || !count(u['start']) || !count(u['end']) || u['end'] < u['start']) throw bad(`unit ${i} is malformed`);
    const a = u['array'];
    const { name, file, descr, kind, itemSize, bigEndian, fortran, shape, dataOffset, rows, isLabel, counts, zip } = a;
    const p = a['path'];
    if (typeof name !== 'string' || typeof file !== 'string' || typeof p !== 'string' || !path.isAbsolute(p) || typeof descr !== 'string' ||
      typeof kind !== 'string' || !KINDS.has(kind) || !count(itemSize) || ![1, 2, 4, 8].includes(itemSize) || typeof bigEndian !== 'boolean' ||
      typeof fortran !== 'boolean' || !Array.isArray(shape) || !shape.every(count) || !count(dataOffset) || !count(rows) ||
      typeof isLabel !== 'boolean' || typeof counts !== 'boolean') {
      throw bad(`unit ${i} has an invalid array`);
    }
    const dims = shape as number[];
    const rb = rowBytes({ shape: dims, itemSize });
    const declared = dims.length === 0 ? 1 : (dims[0] as number);
    if (rows > declared || u['end'] > rows || !Number.isSafeInteger(rb * declared) || (fortran && dims.length < 2)) {
      throw bad(`unit ${i} has rows outside its array`);
    }
    const array: ArraySpec = {
      name, file, path: p, descr, kind: kind as ArraySpec['kind'], itemSize, bigEndian, fortran, shape: dims, dataOffset, rows, isLabel, counts,
    };
    if (zip !== undefined) {
      if (!obj(zip) || typeof zip['member'] !== 'string' || (zip['method'] !== 0 && zip['method'] !== 8) || !count(zip['start']) ||
        !count(zip['compSize']) || !count(zip['size']) || !count(zip['crc'])) {
        throw bad(`unit ${i} has an invalid zip member`);
      }
      if (zip['method'] === 8 && (u['start'] !== 0 || u['end'] !== rows)) throw bad(`unit ${i} reads part of a deflated member`);
      array.zip = { member: zip['member'], method: zip['method'], start: zip['start'], compSize: zip['compSize'], size: zip['size'], crc: zip['crc'] };
    }
    return { array, start: u['start'], end: u['end'] };
  });
}

/** A reader module with non-default sizes (tests use small ones to exercise splitting). */
export function createNpyReader(options: NpyReaderOptions = {}): ReaderModule {
  const slabBytes = options.slabBytes ?? DEFAULT_SLAB_BYTES;
  const minPartitionBytes = options.minPartitionBytes ?? DEFAULT_MIN_PARTITION_BYTES;
  if (!Number.isSafeInteger(slabBytes) || slabBytes < 1 || slabBytes > MAX_SLAB_BYTES) {
    throw invalidOption('slabBytes', `an integer from 1 to ${MAX_SLAB_BYTES}`, slabBytes);
  }
  if (!Number.isSafeInteger(minPartitionBytes) || minPartitionBytes < 0) {
    throw invalidOption('minPartitionBytes', 'a non-negative integer', minPartitionBytes);
  }
  return {
    format: 'npy',
    open(source: Source, purpose: OpenPurpose = 'plan'): Promise<Reader> {
      if (!path.isAbsolute(source.absPath)) return Promise.reject(invalidOption('source.absPath', 'an absolute path', source.absPath));
      const reader = new NpySourceReader(source, slabBytes, minPartitionBytes);
      try {
        if (purpose === 'plan') reader.survey(); // throws SCAN_CORRUPT_SOURCE when nothing is readable
      } catch (e) {
        return Promise.reject(e as Error);
      }
      return Promise.resolve(reader);
    },
  };
}

/** The NumPy reader with default sizes. */
export const npyReader: ReaderModule = createNpyReader();
