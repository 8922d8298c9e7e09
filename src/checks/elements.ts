/**
 * Per-element statistics over the records of a dataset: for every position of a record (feature 37 of a
 * 40-value row, pixel (c, y, x) of an image) the count, mean, std, min and max over all records. They find what
 * per-record checks cannot: a feature that is constant over the whole dataset (standardisation divides by a zero
 * std), a channel with zero std, and they give the per-pixel mean Caffe's `compute_image_mean` computes.
 *
 * Accumulated in the worker pass, one accumulator per array layout (field and record shape), merged across
 * partitions and shards. Integer data (pixels) is summed exactly in float64 (exact below 2^53), so any merge order
 * gives the same bits; float data is summed relative to the first record's values (a per-element shift, which
 * keeps `sumSq / n - mean²` from cancelling when the mean is far from zero), and merged in partition order.
 * Records holding NaN or ±Inf are left out: they are findings already, and would make every statistic NaN.
 */

/** Most values a record may have for per-element statistics (3×256×256 images fit): 40 bytes each per partition. */
export const MAX_ELEMENTS = 3 * 256 * 256;

/** Where a record's channels are: C×H×W (Caffe Datums, HDF5 image rows), H×W×C (decoded images), or none. */
export type ChannelAxis = 'first' | 'last' | 'none';

export interface ElementAccumulator {
  /** The array the records come from ('data', 'float_data', an HDF5 dataset path, 'pixels'). */
  field: string;
  /** Shape of one record, C-order. */
  shape: number[];
  channelAxis: ChannelAxis;
  /** Integer data: no shift, exact sums. */
  integer: boolean;
  /** Records accumulated. */
  count: number;
  /** Float data: the first record's values, which sums are taken relative to; null for integer data. */
  shift: Float64Array | null;
  sum: Float64Array;
  sumSq: Float64Array;
  min: Float64Array;
  max: Float64Array;
}

export function elementKey(field: string, shape: readonly number[]): string {
  return `${field} ${shape.join('×')}`;
}

export function createElements(field: string, shape: number[], channelAxis: ChannelAxis, integer: boolean): ElementAccumulator {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    field, shape, channelAxis, integer, count: 0, shift: integer ? null : new Float64Array(n),
    sum: new Float64Array(n), sumSq: new Float64Array(n), min: new Float64Array(n).fill(Infinity), max: new Float64Array(n).fill(-Infinity),
  };
}

/** Adds one record. The caller checks that `data` has the accumulator's element count and only finite values. */
export function addRecord(acc: ElementAccumulator, data: ArrayLike<number>): void {
  const { sum, sumSq, min, max } = acc;
  const n = sum.length;
  const shift = acc.shift;
  if (shift === null) {
    for (let i = 0; i < n; i++) {
      const x = data[i]!;
      sum[i]! += x;
      sumSq[i]! += x * x;
      if (x < min[i]!) min[i] = x;
      if (x > max[i]!) max[i] = x;
    }
  } else if (acc.count === 0) {
    for (let i = 0; i < n; i++) {
      const x = data[i]!;
      shift[i] = x;
      min[i] = x;
      max[i] = x;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const x = data[i]!;
      const d = x - shift[i]!;
      sum[i]! += d;
      sumSq[i]! += d * d;
      if (x < min[i]!) min[i] = x;
      if (x > max[i]!) max[i] = x;
    }
  }
  acc.count++;
}

/** Merges `from` into `into` (same field and shape). Sums move to `into`'s shift: Σ(x−a) = Σ(x−b) + n(b−a). */
export function mergeElements(into: ElementAccumulator, from: ElementAccumulator): void {
  if (from.count === 0) return;
  const n = into.sum.length;
  if (into.count === 0) {
    into.count = from.count;
    into.sum.set(from.sum);
    into.sumSq.set(from.sumSq);
    into.min.set(from.min);
    into.max.set(from.max);
    if (into.shift !== null && from.shift !== null) into.shift.set(from.shift);
    return;
  }
  const m = from.count;
  for (let i = 0; i < n; i++) {
    let s = from.sum[i]!;
    let q = from.sumSq[i]!;
    if (into.shift !== null && from.shift !== null) {
      const d = from.shift[i]! - into.shift[i]!;
      // Σ(x−a)² = Σ(x−b)² + 2(b−a)Σ(x−b) + n(b−a)², with a = into's shift, b = from's.
      q += 2 * d * s + m * d * d;
      s += m * d;
    }
    into.sum[i]! += s;
    into.sumSq[i]! += q;
    if (from.min[i]! < into.min[i]!) into.min[i] = from.min[i]!;
    if (from.max[i]! > into.max[i]!) into.max[i] = from.max[i]!;
  }
  into.count += m;
}

/** Mean of element i. */
export function elementMean(acc: ElementAccumulator, i: number): number {
  return (acc.shift?.[i] ?? 0) + acc.sum[i]! / acc.count;
}

/** Population std of element i; exactly 0 when every record holds the same value there. */
export function elementStd(acc: ElementAccumulator, i: number): number {
  if (acc.min[i] === acc.max[i]) return 0;
  const m = acc.sum[i]! / acc.count;
  return Math.sqrt(Math.max(0, acc.sumSq[i]! / acc.count - m * m));
}

/** The per-element means as float32, C-order: the mean image of Caffe's compute_image_mean for a C×H×W layout. */
export function meanArray(acc: ElementAccumulator): Float32Array {
  const out = new Float32Array(acc.sum.length);
  for (let i = 0; i < out.length; i++) out[i] = elementMean(acc, i);
  return out;
}

/** Channels of a record layout, and the elements of channel c (strided for H×W×C). */
export function channelCount(acc: ElementAccumulator): number {
  if (acc.channelAxis === 'none' || acc.shape.length === 0) return 0;
  return acc.channelAxis === 'first' ? acc.shape[0]! : acc.shape[acc.shape.length - 1]!;
}

export interface ChannelStat {
  channel: number;
  /** Values over all records and positions of the channel. */
  values: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}

/**
 * Per-channel statistics from the per-element sums: a channel's sum is the sum of its elements' sums, so no
 * second pass is needed. (The std is over every value of the channel in every record, as per-channel
 * normalisation computes it.)
 */
export function channelStats(acc: ElementAccumulator): ChannelStat[] {
  const channels = channelCount(acc);
  if (channels === 0 || acc.count === 0) return [];
  const n = acc.sum.length;
  const per = n / channels;
  const out: ChannelStat[] = [];
  for (let c = 0; c < channels; c++) {
    // Sums relative to a per-channel reference (the first element's shift), so float channels far from zero
    // keep their precision.
    const ref = acc.shift?.[acc.channelAxis === 'first' ? c * per : c] ?? 0;
    let sum = 0;
    let sumSq = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let k = 0; k < per; k++) {
      const i = acc.channelAxis === 'first' ? c * per + k : k * channels + c;
      const d = (acc.shift?.[i] ?? 0) - ref;
      const s = acc.sum[i]!;
      sum += s + acc.count * d;
      sumSq += acc.sumSq[i]! + 2 * d * s + acc.count * d * d;
      if (acc.min[i]! < min) min = acc.min[i]!;
      if (acc.max[i]! > max) max = acc.max[i]!;
    }
    const values = acc.count * per;
    const m = sum / values;
    out.push({ channel: c, values, mean: ref + m, std: min === max ? 0 : Math.sqrt(Math.max(0, sumSq / values - m * m)), min, max });
  }
  return out;
}

/** "(c, y, x) = (0, 3, 17)" or "column 37": an element's position in the record's own terms. */
export function elementPosition(acc: { shape: number[]; channelAxis: ChannelAxis }, i: number): string {
  const shape = acc.shape;
  if (shape.length <= 1) return `column ${i}`;
  const idx: number[] = [];
  let rest = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(rest % shape[d]!);
    rest = Math.floor(rest / shape[d]!);
  }
  const names = shape.length === 3 ? (acc.channelAxis === 'last' ? 'y, x, c' : 'c, y, x') : shape.length === 2 ? 'row, col' : null;
  return names === null ? `index (${idx.join(', ')})` : `(${names}) = (${idx.join(', ')})`;
}

/**
 * Which element positions have held one value in every record so far: the cheap, always-on half of the
 * per-element statistics. Each record is compared only at the positions still constant, so after the first few
 * records of ordinary data the cost per record is near zero. Mergeable: a position is constant over the dataset
 * when it is constant in every partition, with the same value.
 */
export interface ConstantTracker {
  field: string;
  shape: number[];
  channelAxis: ChannelAxis;
  records: number;
  /** Positions still constant, ascending, and their value (see `first` while there is one record). */
  positions: number[];
  values: number[];
  /**
   * After the first record only: a copy of its values, every position still constant. Kept as a typed copy (a
   * memcpy) rather than two arrays of every position: an image has 196,608 of them, and a scan meets a first
   * record in every partition. The second record, or settleTracker(), turns it into `positions` and `values`.
   */
  first?: ArrayLike<number>;
}

export function createConstantTracker(field: string, shape: number[], channelAxis: ChannelAxis): ConstantTracker {
  return { field, shape, channelAxis, records: 0, positions: [], values: [] };
}

/** How many positions are still constant. */
export function constantPositions(t: ConstantTracker): number {
  return t.first !== undefined ? t.first.length : t.positions.length;
}

/** Adds one record (finite values only; same element count as the shape). */
export function trackRecord(t: ConstantTracker, data: ArrayLike<number>): void {
  if (t.records++ === 0) {
    t.first = ArrayBuffer.isView(data) ? (data as unknown as Uint8Array).slice() : Array.from(data);
    return;
  }
  const first = t.first;
  if (first !== undefined) {
    t.first = undefined;
    const n = first.length;
    for (let i = 0; i < n; i++) {
      if (data[i] === first[i]) {
        t.positions.push(i);
        t.values.push(first[i]!);
      }
    }
    return;
  }
  const { positions, values } = t;
  const n = positions.length;
  if (n === 0) return;
  // Most records change nothing (the positions left are the truly constant ones): a read-only pass first.
  let k = 0;
  while (k < n && data[positions[k]!] === values[k]) k++;
  if (k === n) return;
  let kept = k;
  for (k++; k < n; k++) {
    const i = positions[k]!;
    const v = values[k]!;
    if (data[i] === v) {
      positions[kept] = i;
      values[kept++] = v;
    }
  }
  positions.length = kept;
  values.length = kept;
}

/** Turns a one-record tracker's `first` into positions and values (for merging and results). */
export function settleTracker(t: ConstantTracker): void {
  const first = t.first;
  if (first === undefined) return;
  t.first = undefined;
  t.positions = Array.from({ length: first.length }, (_, i) => i);
  t.values = Array.from(first);
}

/** Merges partition `from` into `into` (same field and shape; `from` comes later in storage order). */
export function mergeConstantTrackers(into: ConstantTracker, from: ConstantTracker): void {
  if (from.records === 0) return;
  settleTracker(into);
  settleTracker(from);
  if (into.records === 0) {
    into.records = from.records;
    into.positions = [...from.positions];
    into.values = [...from.values];
    return;
  }
  const positions: number[] = [];
  const values: number[] = [];
  let j = 0;
  for (let k = 0; k < into.positions.length; k++) {
    const i = into.positions[k]!;
    while (j < from.positions.length && from.positions[j]! < i) j++;
    if (j < from.positions.length && from.positions[j] === i && from.values[j] === into.values[k]) {
      positions.push(i);
      values.push(into.values[k]!);
    }
  }
  into.records += from.records;
  into.positions = positions;
  into.values = values;
}

/** Channels whose every position is constant with one value over all records: std 0 for the whole channel. */
export function constantChannels(t: ConstantTracker): { channel: number; value: number }[] {
  const shape = t.shape;
  if (t.channelAxis === 'none' || shape.length < 2 || t.records < 2) return [];
  const channels = t.channelAxis === 'first' ? shape[0]! : shape[shape.length - 1]!;
  const per = shape.reduce((a, b) => a * b, 1) / channels;
  const count = new Array<number>(channels).fill(0);
  const value = new Array<number | undefined>(channels).fill(undefined);
  const mixed = new Array<boolean>(channels).fill(false);
  t.positions.forEach((i, k) => {
    const c = t.channelAxis === 'first' ? Math.floor(i / per) : i % channels;
    const v = t.values[k]!;
    if (value[c] === undefined) value[c] = v;
    else if (value[c] !== v) mixed[c] = true;
    count[c]!++;
  });
  const out: { channel: number; value: number }[] = [];
  for (let c = 0; c < channels; c++) if (count[c] === per && !mixed[c]) out.push({ channel: c, value: value[c]! });
  return out;
}

/**
 * The mean image as Caffe lays it out: C×H×W float32. Decoded images (H×W×C, RGB from the decoders here) are
 * transposed, and for `order: 'bgr'` their three colour channels reversed, as OpenCV decodes them for Caffe's
 * data layers and compute_image_mean. C×H×W records keep their stored order; rows of other shapes become
 * 1×1×N (or 1×H×W).
 */
export function meanImage(acc: ElementAccumulator, order: 'rgb' | 'bgr'): { data: Float32Array; shape: [number, number, number] } {
  const mean = meanArray(acc);
  const s = acc.shape;
  if (acc.channelAxis === 'last' && s.length === 3) {
    const [h, w, c] = s as [number, number, number];
    const out = new Float32Array(mean.length);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < c; k++) {
          const to = order === 'bgr' && c === 3 ? 2 - k : k;
          out[(to * h + y) * w + x] = mean[(y * w + x) * c + k]!;
        }
      }
    }
    return { data: out, shape: [c, h, w] };
  }
  if (s.length === 3) return { data: mean, shape: [s[0]!, s[1]!, s[2]!] };
  if (s.length === 2) return { data: mean, shape: [1, s[0]!, s[1]!] };
  return { data: mean, shape: [1, 1, mean.length] };
}
