/**
 * Dataset-level statistics by record layout (an array field and its record shape), gathered in the worker pass:
 * which element positions are constant so far (always; near-free after the first records), per-channel value
 * statistics of C×H×W records (always; one kernel pass per channel plane when there are several channels), and,
 * when asked for (`elementStats`), full per-element sums for means, stds and the mean file.
 */
import type { Kernel, ScanInput, ScanStats } from '../kernels/scan.js';
import type { NumericArray } from '../readers/types.js';
import {
  addRecord, createConstantTracker, createElements, elementKey, MAX_ELEMENTS, mergeConstantTrackers, mergeElements,
  trackRecord, type ChannelAxis, type ConstantTracker, type ElementAccumulator,
} from './elements.js';
import { accumulate, createAccumulator, mergeAccumulators, type StatsAccumulator } from './stats.js';

/** Layouts tracked per partition; records of further layouts (mixed image sizes) are counted, not tracked. */
export const MAX_LAYOUTS = 8;

export interface LayoutTally {
  field: string;
  shape: number[];
  channelAxis: ChannelAxis;
  records: number;
  /** Null when the record is larger than MAX_ELEMENTS: no per-element statistics. */
  constants: ConstantTracker | null;
  /** Per channel (C×H×W records only, or all layouts in full mode), over finite records. */
  channels: StatsAccumulator[] | null;
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
  private readonly plane: ScanStats;

  /** `scratch` must not be the caller's: record() scans channel planes into it. */
  constructor(private readonly kernel: Kernel, private readonly full: boolean, scratch: ScanStats) {
    this.plane = scratch;
  }

  /**
   * One record of `field` with `shape` whose values are all finite. `whole` is the kernel's stats of the whole
   * record (reused as the channel's when there is one channel).
   */
  record(field: string, shape: number[], axis: ChannelAxis, data: ScanInput | ArrayLike<number>, integer: boolean, whole?: ScanStats): void {
    const t = this.layout(field, shape, axis, integer);
    if (t === null) {
      this.untracked++;
      return;
    }
    t.records++;
    if (t.constants !== null) trackRecord(t.constants, data);
    if (t.elements !== null) addRecord(t.elements, data);
    if (t.channels !== null && axis === 'first' && isScanInput(data)) {
      const channels = t.channels.length;
      if (channels === 1 && whole !== undefined) accumulate(t.channels[0]!, whole);
      else {
        const per = data.length / channels;
        for (let c = 0; c < channels; c++) {
          accumulate(t.channels[c]!, this.kernel.scan((data as ScanInput).subarray(c * per, (c + 1) * per), this.plane));
        }
      }
    }
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
    if (t.elements === null && t.channels === null && (c === null || (c.records > 0 && c.positions.length === 0))) {
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

  private layout(field: string, shape: number[], axis: ChannelAxis, integer: boolean): LayoutTally | null {
    const l = this.last;
    if (l !== undefined && l.field === field && sameShape(l.shape, shape)) return l;
    const key = elementKey(field, shape);
    let t = this.layouts[key];
    if (t === undefined) {
      if (this.count >= MAX_LAYOUTS) return null;
      this.count++;
      const n = shape.reduce((a, b) => a * b, 1);
      const small = n <= MAX_ELEMENTS;
      // Channel statistics come from kernel passes over channel planes (C×H×W); for H×W×C pixels, from the
      // element sums in full mode.
      const channels = axis === 'first' && shape.length === 3 ? shape[0]! : 0;
      t = this.layouts[key] = {
        field, shape: [...shape], channelAxis: axis, records: 0,
        constants: small ? createConstantTracker(field, [...shape], axis) : null,
        channels: channels > 0 ? Array.from({ length: channels }, createAccumulator) : null,
        elements: small && this.full ? createElements(field, [...shape], axis, integer) : null,
      };
    }
    this.last = t;
    return t;
  }

  result(): LayoutResult {
    return { layouts: this.layouts, untracked: this.untracked };
  }
}

function isScanInput(d: unknown): d is ScanInput {
  return d instanceof Float32Array || d instanceof Float64Array || d instanceof Uint8Array;
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
      into.layouts[key] = {
        ...f,
        constants: f.constants === null ? null : { ...f.constants, positions: [...f.constants.positions], values: [...f.constants.values] },
        channels: f.channels === null ? null : f.channels.map((c) => ({ ...c })),
      };
      continue;
    }
    t.records += f.records;
    if (t.constants !== null && f.constants !== null) mergeConstantTrackers(t.constants, f.constants);
    if (t.channels !== null && f.channels !== null) f.channels.forEach((c, i) => mergeAccumulators(t.channels![i]!, c));
    if (t.elements !== null && f.elements !== null) mergeElements(t.elements, f.elements);
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
