/**
 * Mergeable value statistics. Each scanned array arrives with its count, mean and centred sum of squares
 * (ScanStats.mean/m2/scale); they are merged with Chan, Golub and LeVeque's pairwise formula, so partitions
 * (and shards) merge in a fixed order to the same bits, and mean and std stay exact and finite whatever the
 * magnitudes: no Σx² that cancels (data far from 0) or overflows (float64 values near ±1e308).
 */
import type { ScanStats } from '../kernels/scan.js';
import { ldexp, mergeMoments, type Moments } from '../kernels/scan-js.js';
import type { ValueStats } from '../types.js';

/** Moments (count as `values`, mean, residual, m2, scale: see Moments) plus range and special counts. */
export interface StatsAccumulator extends Moments {
  min: number;
  max: number;
  nan: number;
  posinf: number;
  neginf: number;
  fp16Overflow: number;
  fp32Overflow: number;
}

export function createAccumulator(): StatsAccumulator {
  return {
    values: 0, min: Infinity, max: -Infinity, mean: 0, meanLo: 0, m2: 0, scale: 0,
    nan: 0, posinf: 0, neginf: 0, fp16Overflow: 0, fp32Overflow: 0,
  };
}

/** Adds one array's kernel stats. */
export function accumulate(acc: StatsAccumulator, s: ScanStats): void {
  const finite = s.count - s.nan - s.posinf - s.neginf;
  if (finite > 0) {
    if (s.min < acc.min) acc.min = s.min;
    if (s.max > acc.max) acc.max = s.max;
    mergeMoments(acc, finite, s.mean, s.meanLo, s.m2, s.scale);
  }
  acc.nan += s.nan;
  acc.posinf += s.posinf;
  acc.neginf += s.neginf;
  acc.fp16Overflow += s.fp16Overflow;
  acc.fp32Overflow += s.fp32Overflow;
}

export function mergeAccumulators(into: StatsAccumulator, from: StatsAccumulator): void {
  if (from.min < into.min) into.min = from.min;
  if (from.max > into.max) into.max = from.max;
  if (from.values > 0) mergeMoments(into, from.values, from.mean, from.meanLo, from.m2, from.scale);
  into.nan += from.nan;
  into.posinf += from.posinf;
  into.neginf += from.neginf;
  into.fp16Overflow += from.fp16Overflow;
  into.fp32Overflow += from.fp32Overflow;
}

/** The report's view; null when the dataset held no scanned values at all. */
export function finishStats(acc: StatsAccumulator): ValueStats | null {
  if (acc.values === 0 && acc.nan === 0 && acc.posinf === 0 && acc.neginf === 0) return null;
  const n = acc.values;
  return {
    values: n,
    min: n > 0 ? acc.min : null,
    max: n > 0 ? acc.max : null,
    // The residual is below an ulp of the mean unless many merges added up; it never hurts to add it back.
    mean: n > 0 ? acc.mean + acc.meanLo : null,
    // Population standard deviation, √(M2/n), taken in units of 2^scale so that it stays finite.
    std: n > 0 ? ldexp(Math.sqrt(acc.m2 / n), acc.scale) : null,
    nan: acc.nan,
    posinf: acc.posinf,
    neginf: acc.neginf,
    fp16Overflow: acc.fp16Overflow,
    fp32Overflow: acc.fp32Overflow,
  };
}
