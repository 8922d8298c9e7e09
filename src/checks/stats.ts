/**
 * Mergeable value statistics. Each scanned array arrives with its count, mean and centred sum of squares
 * (ScanStats.mean/m2/scale); they are merged with Chan, Golub and LeVeque's pairwise formula, so partitions
 * (and shards) merge in a fixed order to the same bits, and mean and std stay exact and finite whatever the
 * magnitudes: no Σx² that cancels (data far from 0) or overflows (float64 values near ±1e308).
 */
import type { ScanStats } from '../kernels/scan.js';
import { ldexp, twoSumError } from '../kernels/scan-js.js';
import type { ValueStats } from '../types.js';

export interface StatsAccumulator {
  /** Finite values. */
  values: number;
  min: number;
  max: number;
  /** Mean of the finite values (0 while there is none, so the record stays JSON-safe). */
  mean: number;
  /** Rounding residual of mean (see ScanStats.meanLo): merges stay exact when the spread is tiny next to it. */
  meanLo: number;
  /** Σ(x − mean)² over the finite values, divided by 4^scale; kept at most 2^900. */
  m2: number;
  /** Power-of-two exponent of m2: 0 unless values (or their spread) go beyond ~2^400. */
  scale: number;
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
    addMoments(acc, finite, s.mean, s.meanLo, s.m2, s.scale);
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
  if (from.values > 0) addMoments(into, from.values, from.mean, from.meanLo, from.m2, from.scale);
  into.nan += from.nan;
  into.posinf += from.posinf;
  into.neginf += from.neginf;
  into.fp16Overflow += from.fp16Overflow;
  into.fp32Overflow += from.fp32Overflow;
}

/** Means beyond this make the merge work in units of 2^scale, so their difference and its square stay finite. */
const BIG_MEAN = 2 ** 400;
/** m2 is renormalised (scale raised) above this, so sums of a few m2 never overflow. */
const M2_LIMIT = 2 ** 900;

/**
 * Merges a part of `nB` finite values with mean `meanB` (+ residual `loB`) and centred sum of squares m2B·4^eB
 * into `acc` (Chan et al.): M2 = M2a + M2b + δ²·na·nb/n, mean = meanA + δ·nb/n, with δ = meanB − meanA. The means'
 * residuals enter δ, and the new mean keeps its own (TwoSum), so merging thousands of records whose spread is
 * a few ulps of their mean stays exact.
 */
function addMoments(acc: StatsAccumulator, nB: number, meanB: number, loB: number, m2B: number, eB: number): void {
  const nA = acc.values;
  if (nA === 0) {
    acc.values = nB;
    acc.mean = meanB;
    acc.meanLo = loB;
    acc.m2 = m2B;
    acc.scale = eB;
    renormalise(acc);
    return;
  }
  const n = nA + nB;
  const meanA = acc.mean;
  const eA = acc.scale;
  const w = nB / n;
  // The common fast path: ordinary magnitudes, nothing scaled.
  if (eA === 0 && eB === 0 && Math.abs(meanA) < BIG_MEAN && Math.abs(meanB) < BIG_MEAN) {
    const d = meanB - meanA + (loB - acc.meanLo);
    const step = d * w;
    const hi = meanA + step;
    acc.meanLo += twoSumError(meanA, step, hi);
    acc.mean = hi;
    acc.values = n;
    acc.m2 = acc.m2 + m2B + d * d * nA * w;
    if (acc.m2 > M2_LIMIT) renormalise(acc);
    return;
  }
  const big = Math.max(Math.abs(meanA), Math.abs(meanB));
  const e = Math.max(eA, eB, big >= BIG_MEAN ? Math.ceil(Math.log2(big)) : 0);
  const a = ldexp(meanA, -e);
  const d = ldexp(meanB, -e) - a + ldexp(loB - acc.meanLo, -e);
  const step = d * w;
  // |a + d·w| is at most max(|meanA|, |meanB|)·2^-e, so the mean never overflows on the way back.
  const hi = a + step;
  acc.meanLo = ldexp(ldexp(acc.meanLo, -e) + twoSumError(a, step, hi), e);
  acc.mean = ldexp(hi, e);
  acc.values = n;
  acc.m2 = ldexp(acc.m2, 2 * (eA - e)) + ldexp(m2B, 2 * (eB - e)) + d * d * nA * w;
  acc.scale = e;
  renormalise(acc);
}

/** Raises the scale until m2 is at most M2_LIMIT (powers of two: exact). */
function renormalise(acc: StatsAccumulator): void {
  if (!(acc.m2 > M2_LIMIT)) return;
  const k = Math.ceil((Math.log2(acc.m2) - 800) / 2);
  acc.m2 = ldexp(acc.m2, -2 * k);
  acc.scale += k;
}

/** The report's view; null when the dataset held no scanned values at all. */
export function finishStats(acc: StatsAccumulator): ValueStats | null {
  if (acc.values === 0 && acc.nan === 0 && acc.posinf === 0 && acc.neginf === 0) return null;
  const n = acc.values;
  return {
    values: n,
    min: n > 0 ? acc.min : null,
    max: n > 0 ? acc.max : null,
    mean: n > 0 ? acc.mean : null,
    // Population standard deviation, √(M2/n), taken in units of 2^scale so that it stays finite.
    std: n > 0 ? ldexp(Math.sqrt(acc.m2 / n), acc.scale) : null,
    nan: acc.nan,
    posinf: acc.posinf,
    neginf: acc.neginf,
    fp16Overflow: acc.fp16Overflow,
    fp32Overflow: acc.fp32Overflow,
  };
}
