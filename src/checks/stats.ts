/** Mergeable value statistics: sums, not means, so partitions (and later shards) merge exactly. */
import type { ScanStats } from '../kernels/scan.js';
import type { ValueStats } from '../types.js';

export interface StatsAccumulator {
  values: number;
  min: number;
  max: number;
  sum: number;
  sumSq: number;
  nan: number;
  posinf: number;
  neginf: number;
  fp16Overflow: number;
}

export function createAccumulator(): StatsAccumulator {
  return { values: 0, min: Infinity, max: -Infinity, sum: 0, sumSq: 0, nan: 0, posinf: 0, neginf: 0, fp16Overflow: 0 };
}

/** Adds one array's kernel stats. */
export function accumulate(acc: StatsAccumulator, s: ScanStats): void {
  const finite = s.count - s.nan - s.posinf - s.neginf;
  acc.values += finite;
  if (finite > 0) {
    if (s.min < acc.min) acc.min = s.min;
    if (s.max > acc.max) acc.max = s.max;
    acc.sum += s.sum;
    acc.sumSq += s.sumSq;
  }
  acc.nan += s.nan;
  acc.posinf += s.posinf;
  acc.neginf += s.neginf;
  acc.fp16Overflow += s.fp16Overflow;
}

export function mergeAccumulators(into: StatsAccumulator, from: StatsAccumulator): void {
  into.values += from.values;
  if (from.min < into.min) into.min = from.min;
  if (from.max > into.max) into.max = from.max;
  into.sum += from.sum;
  into.sumSq += from.sumSq;
  into.nan += from.nan;
  into.posinf += from.posinf;
  into.neginf += from.neginf;
  into.fp16Overflow += from.fp16Overflow;
}

/** The report's view; null when the dataset held no scanned values at all. */
export function finishStats(acc: StatsAccumulator): ValueStats | null {
  if (acc.values === 0 && acc.nan === 0 && acc.posinf === 0 && acc.neginf === 0) return null;
  const n = acc.values;
  const mean = n > 0 ? acc.sum / n : null;
  // Population variance from sums; clamped because rounding can make it slightly negative.
  const std = n > 0 && mean !== null ? Math.sqrt(Math.max(0, acc.sumSq / n - mean * mean)) : null;
  return {
    values: n,
    min: n > 0 ? acc.min : null,
    max: n > 0 ? acc.max : null,
    mean,
    std,
    nan: acc.nan,
    posinf: acc.posinf,
    neginf: acc.neginf,
    fp16Overflow: acc.fp16Overflow,
  };
}
