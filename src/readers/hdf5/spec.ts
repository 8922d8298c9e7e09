/**
 * HDF5 partition specs: the survey split into partitions by the main thread (`planPartitions`), and the specs
 * validated again where a worker opens them (`parseSpec`).
 *
 * A spec is JSON, readable by a fresh reader in any thread: `{ v: 2, segments: [{ path, file, start, end,
 * datasets }] }` — rows [start, end) of the file at absolute `path` (each dataset clipped to its own length),
 * `file` being its display path; `datasets` are the file's scanned datasets as the survey described them
 * (DatasetInfo), each with `runs` (direct.ts, clipped to the segment) when it is read directly. Partitions run
 * in list order, then row order. Within a segment, datasets come one after the other (all of `data`'s rows,
 * then all of `label`'s), in name order.
 */
import path from 'node:path';
import { invalidPartition, type ScanError } from '../../errors.js';
import type { JsonValue, Partition } from '../types.js';
import type { CompoundInfo, DatasetInfo, Dtype } from './h5.js';
import { clipRuns, MAX_SLAB_BYTES, planSegments, type PlanFile, type Segment } from './layout.js';
import type { ScannedDataset, SurveyedFile } from './survey.js';
import { BYTES } from './views.js';

const SPEC_VERSION = 2;

/** One segment of a partition spec: rows [start, end) of one file, and the datasets to read there. */
export interface SpecSegment extends Segment {
  datasets: ScannedDataset[];
}

/**
 * At most `maxPartitions` partitions of the surveyed `files`, none smaller than `minPartitionBytes` (one empty
 * partition when there is nothing to read), split on the chunk rows of each file's biggest dataset.
 */
export function planPartitions(files: readonly SurveyedFile[], maxPartitions: number, minPartitionBytes: number): Partition[] {
  const plan: PlanFile[] = files.map((f) => {
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
  const parts = planSegments(plan, maxPartitions, minPartitionBytes);
  if (parts.length === 0) parts.push([]); // nothing to read: one empty partition keeps callers simple
  const byPath = new Map(files.map((f) => [f.path, f]));
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

const DTYPES = new Set<string>(Object.keys(BYTES));

/** Validates a partition spec at the worker boundary. */
export function parseSpec(spec: JsonValue): { segments: SpecSegment[] } {
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
