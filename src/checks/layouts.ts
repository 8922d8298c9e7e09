/**
 * Dataset-level statistics by record layout (an array field and its record shape), gathered in the worker pass:
 * which element positions are constant so far (always; near-free after the first records: a record is compared
 * only at the positions still constant), and, when asked for (`elementStats`), full per-element sums for means,
 * stds, per-channel statistics and the mean file. (Per-channel statistics by default cost a kernel pass per channel
 * plane: measured +15% on the HDF5 bench of 3×32×32 rows, so they come with the sums.)
 */
import type { ScanInput } from '../kernels/scan.js';
import type { NumericArray } from '../records.js';
import {
  addRecord, createConstantTracker, createElements, elementKey, MAX_ELEMENTS, mergeConstantTrackers, mergeElements,
  constantPositions, settleTracker, trackRecord, type ChannelAxis, type ConstantTracker, type ElementAccumulator,
} from './elements.js';

/** Layouts tracked per partition; records of further layouts (mixed image sizes) are counted, not tracked. */
export const MAX_LAYOUTS = 8;

/**
 * Element positions given a constant tracker (and sums) per partition, over all its layouts, and in the main
 * thread over a dataset: a folder of images in many sizes would otherwise hold a tracker of every size's first
 * image (up to 196,608 positions each) in every partition. Layouts past it get no per-element statistics.
 */
export const PARTITION_POSITIONS = 2 * MAX_ELEMENTS;
export const DATASET_POSITIONS = 4 * MAX_ELEMENTS;

export interface LayoutTally {
  field: string;
  shape: number[];
  channelAxis: ChannelAxis;
  records: number;
  /** Null when the record is larger than MAX_ELEMENTS: no per-element statistics. */
  constants: ConstantTracker | null;
  /** Full per-element sums, when asked for. */
  elements: ElementAccumulator | null;
}

/** What a partition returns: tallies by layout key, and records of layouts past MAX_LAYOUTS. */
export interface LayoutResult {
  layouts: Record<string, LayoutTally>;
  untracked: number;
}

export class LayoutStats {
  private readonly layouts: Record<string, LayoutTally> = {};
  private count = 0;
  private untracked = 0;
  private last: LayoutTally | undefined;
  /** Positions still to give trackers in this partition (PARTITION_POSITIONS). */
  private budget = PARTITION_POSITIONS;

  constructor(private readonly full: boolean) {}

  /**
   * One record of `field` with `shape` whose values are all finite. `whole` is the kernel's stats of the whole
   * record (reused as the channel's when there is one channel).
   */
  record(field: string, shape: number[], axis: ChannelAxis, data: ScanInput | ArrayLike<number>, integer: boolean): void {
    const t = this.layout(field, shape, axis, integer);
    if (t === null) {
      this.untracked++;
      return;
    }
    t.records++;
    if (t.constants !== null) trackRecord(t.constants, data);
    if (t.elements !== null) addRecord(t.elements, data);
  }

  /**
   * `rows` records of `rowSize` values each from one slab (HDF5 rows). `finite(r)` says whether row r may enter
   * the statistics; null when the slab holds no NaN or ±Inf at all.
   */
  rows(
    field: string, shape: number[], data: NumericArray, rows: number, integer: boolean, finite: ((r: number) => boolean) | null,
  ): void {
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) return;
    const axis: ChannelAxis = shape.length === 3 ? 'first' : 'none';
    const t = this.layout(field, shape, axis, integer);
    if (t === null) {
      this.untracked += rows;
      return;
    }
    const c = t.constants;
    // Nothing left to learn from these rows: every position has varied, and no sums are kept.
    if (t.elements === null && (c === null || (c.records > 0 && constantPositions(c) === 0))) {
      t.records += rows;
      if (c !== null) c.records += rows;
      return;
    }
    const n = data.length / Math.max(rows, 1);
    for (let r = 0; r < rows; r++) {
      if (finite !== null && !finite(r)) continue;
      this.record(field, shape, axis, data.subarray(r * n, (r + 1) * n), integer);
    }
  }

  /**
   * Counts one record of `field` with `shape` without its values when nothing is left to learn from them: every
   * position has varied and no sums are kept, or the layout is not tracked. False (nothing counted) when its
   * values are needed: a new layout, or positions still constant. (A JPEG decoded at 1/8 scale asks this before
   * it is decoded again at full size.)
   */
  countIfSettled(field: string, shape: number[], axis: ChannelAxis, integer: boolean): boolean {
    const t = this.layout(field, shape, axis, integer);
    if (t === null) {
      this.untracked++;
      return true;
    }
    const c = t.constants;
    if (t.elements !== null || (c !== null && (c.records === 0 || constantPositions(c) > 0))) return false;
    t.records++;
    if (c !== null) c.records++;
    return true;
  }

  /** Whether records of `field` with `shape` have nothing left to give (see countIfSettled); never creates it. */
  settled(field: string, shape: readonly number[]): boolean {
    const t = this.last !== undefined && this.last.field === field && sameShape(this.last.shape, shape) ? this.last : this.layouts[elementKey(field, shape)];
    if (t === undefined) return this.count >= MAX_LAYOUTS;
    const c = t.constants;
    return t.elements === null && (c === null || (c.records > 0 && constantPositions(c) === 0));
  }

  /** One C×H×W record (a Datum): as record(), without building the shape for the common case of a repeat. */
  chw(field: string, c: number, h: number, w: number, data: ScanInput, integer: boolean): void {
    const l = this.last;
    if (l !== undefined && l.field === field && l.shape.length === 3 && l.shape[0] === c && l.shape[1] === h && l.shape[2] === w) {
      l.records++;
      const k = l.constants;
      // Nothing left to learn: every position has varied, and no sums are kept.
      if (l.elements === null && (k === null || (k.records > 0 && constantPositions(k) === 0))) {
        if (k !== null) k.records++;
        return;
      }
      l.records--;
    }
    this.record(field, [c, h, w], 'first', data, integer);
  }

  private layout(field: string, shape: number[], axis: ChannelAxis, integer: boolean): LayoutTally | null {
    const l = this.last;
    if (l !== undefined && l.field === field && sameShape(l.shape, shape)) return l;
    const key = elementKey(field, shape);
    let t = this.layouts[key];
    if (t === undefined) {
      if (this.count >= MAX_LAYOUTS) return null;
      this.count++;
      const n = shape.reduce((a, b) => a * b, 1);
      const small = n <= MAX_ELEMENTS && n <= this.budget;
      if (small) this.budget -= n;
      t = this.layouts[key] = {
        field, shape: [...shape], channelAxis: axis, records: 0,
        constants: small ? createConstantTracker(field, [...shape], axis) : null,
        elements: small && this.full ? createElements(field, [...shape], axis, integer) : null,
      };
    }
    this.last = t;
    return t;
  }

  result(): LayoutResult {
    for (const t of Object.values(this.layouts)) if (t.constants !== null) settleTracker(t.constants);
    return { layouts: this.layouts, untracked: this.untracked };
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Merges partition results in storage order. Element sums are merged as they come and then dropped from `from`. */
export function mergeLayouts(into: LayoutResult, from: LayoutResult | undefined): void {
  if (from === undefined) return;
  into.untracked += from.untracked;
  for (const [key, f] of Object.entries(from.layouts)) {
    const t = into.layouts[key];
    if (t === undefined) {
      const held = Object.values(into.layouts).reduce((n, l) => n + (l.constants?.positions.length ?? 0), 0);
      const keep = f.constants !== null && held + f.constants.positions.length <= DATASET_POSITIONS;
      into.layouts[key] = {
        ...f,
        constants: keep ? { ...f.constants!, positions: [...f.constants!.positions], values: [...f.constants!.values] } : null,
      };
      continue;
    }
    t.records += f.records;
    // A partition that could not track this layout leaves its positions unknown: no claim about them then.
    if (t.constants !== null && f.constants !== null) mergeConstantTrackers(t.constants, f.constants);
    else t.constants = null;
    if (t.elements !== null && f.elements !== null) mergeElements(t.elements, f.elements);
    else t.elements = null;
  }
}

export function emptyLayouts(): LayoutResult {
  return { layouts: {}, untracked: 0 };
}

/**
 * Full per-element sums, merged in partition order as partitions finish and then dropped from their results, so
 * a scan holds one accumulator per layout plus those of partitions that finished early, not one per partition.
 */
export class OrderedElements {
  readonly merged: Record<string, ElementAccumulator> = {};
  private next = 0;
  private readonly waiting = new Map<number, Record<string, ElementAccumulator> | null>();

  /** Partition `index` finished (null: it failed). Takes its element sums out of `layouts`. */
  add(index: number, layouts: LayoutResult | null): void {
    let sums: Record<string, ElementAccumulator> | null = null;
    if (layouts !== null) {
      for (const [key, t] of Object.entries(layouts.layouts)) {
        if (t.elements === null) continue;
        (sums ??= {})[key] = t.elements;
        t.elements = null;
      }
    }
    this.waiting.set(index, sums);
    while (this.waiting.has(this.next)) {
      for (const [key, e] of Object.entries(this.waiting.get(this.next) ?? {})) {
        const into = this.merged[key];
        if (into === undefined) this.merged[key] = e;
        else mergeElements(into, e);
      }
      this.waiting.delete(this.next++);
    }
  }
}
