/**
 * Scalar reference implementation of the value scan: the fallback when wasm SIMD is unavailable, the path for
 * tiny arrays, and the oracle the wasm kernel is tested against. Runs on any thread.
 */
import type { ScanInput, ScanStats } from './scan.js';

/** Largest finite float16 value. */
export const FLOAT16_MAX = 65504;
/**
 * Smallest magnitude that becomes ±Inf when cast to float16: casts round to nearest, ties to even, so values in
 * (65504, 65520) round down to 65504, and 65520 (65504 + half an ulp) ties to the even 65536, which is Inf.
 * numpy's `np.float16(x)` agrees for float32 and float64 x (it rounds once, from the value itself).
 */
export const FLOAT16_OVERFLOW = 65520;
/** Largest finite float32 value, 0x1.fffffep+127. */
export const FLOAT32_MAX = 3.4028234663852886e38;
/**
 * Smallest magnitude that becomes ±Inf when cast to float32: FLT_MAX + half an ulp, 0x1.ffffffp+127 = 2^128 - 2^103
 * (ties to the even 2^128). Only float64 values (and no integer of 64 bits or less) can reach it.
 */
export const FLOAT32_OVERFLOW = 3.4028235677973366e38;

/**
 * Per-array moments are re-derived exactly (a shifted-sum pass in the wasm kernel, two passes in JS) when the
 * one-pass sums cancel: when Σx² − (Σx)²/n comes out below this share of Σx². Above it, the one-pass result
 * is good to ~1e-10 relative (Σx² carries ~1e-14 of rounding; measured against numpy in the tests); below it,
 * which takes std/|mean| < 0.01 (data far from 0 with a small spread), that rounding would show.
 */
const CANCELLATION = 1e-4;
/** Values beyond 2^400 in magnitude make the exact pass scale by a power of two, so squares stay finite. */
const SCALE_FROM = 2 ** 400;

/** A fresh stats record in the empty-input state. */
export function createStats(): ScanStats {
  return {
    count: 0,
    nan: 0,
    posinf: 0,
    neginf: 0,
    fp16Overflow: 0,
    fp32Overflow: 0,
    min: Number.NaN,
    max: Number.NaN,
    sum: 0,
    sumSq: 0,
    mean: Number.NaN,
    meanLo: 0,
    m2: 0,
    scale: 0,
    firstNan: -1,
    firstPosinf: -1,
    firstNeginf: -1,
    firstFp16Overflow: -1,
    firstFp32Overflow: -1,
  };
}

/**
 * x · 2^e, exact wherever the result is a normal number: two power-of-two factors, each a normal number for
 * |e| up to 2046, so neither 2^e itself nor an intermediate product overflows or underflows early.
 */
export function ldexp(x: number, e: number): number {
  if (e === 0) return x;
  const h = Math.trunc(e / 2);
  return x * 2 ** h * 2 ** (e - h);
}

/**
 * Fills `out.mean`, `out.meanLo`, `out.m2` and `out.scale` from the one-pass sums the scan left in `out` (count,
 * the special counts, min, max, sum, sumSq), so that mean = out.mean (+ out.meanLo) and Σ(x−mean)² =
 * out.m2 · 4^out.scale over the finite values of `data`. The one-pass form sumSq − sum·mean is used when it is
 * trustworthy; otherwise (the sums cancel, or overflow: float64 values beyond ~1e154) the moments are computed
 * again exactly, with the values scaled by 2^−scale when they are huge. Constant data gives m2 = 0 exactly.
 * The wasm kernel does the same with its own shifted-sum pass (scan.ts).
 */
export function settleMoments(out: ScanStats, data: ArrayLike<number>): ScanStats {
  if (settleOnePass(out, data instanceof Uint8Array)) return out;
  return exactMoments(out, data, out.count - out.nan - out.posinf - out.neginf);
}

/**
 * The cheap part of settleMoments: true when the moments could be set from the one-pass sums alone (no finite
 * value, constant data, or sums that do not cancel). `exactSums`: the sums are exact integers (bytes), so
 * n·Σx² − (Σx)² is exact too while below 2^53.
 */
export function settleOnePass(out: ScanStats, exactSums: boolean): boolean {
  const n = out.count - out.nan - out.posinf - out.neginf;
  out.scale = 0;
  out.meanLo = 0;
  if (n === 0) {
    out.mean = Number.NaN;
    out.m2 = 0;
    return true;
  }
  if (out.min === out.max) {
    out.mean = out.min;
    out.m2 = 0;
    return true;
  }
  const mean = out.sum / n;
  const m2 = out.sumSq - out.sum * mean;
  // Comparisons with NaN are false, so a sum or square that overflowed lands in the exact pass too.
  // (Here the spread is large next to the mean, so the mean's own rounding, left out of meanLo, is noise.)
  if (m2 > CANCELLATION * out.sumSq && m2 < Infinity) {
    out.mean = mean;
    out.m2 = m2;
    return true;
  }
  if (exactSums && n * out.sumSq <= 2 ** 53) {
    out.mean = mean;
    out.m2 = (n * out.sumSq - out.sum * out.sum) / n;
    return true;
  }
  return false;
}

/**
 * Whether the exact moments may come from one pass of shifted sums, S1 = Σ(x − c) and S2 = Σ(x − c)² with c the
 * one-pass mean (settleShifted): when that mean is finite and no value needs scaling.
 */
export function canShift(out: ScanStats): boolean {
  return Number.isFinite(out.sum) && Math.max(Math.abs(out.min), Math.abs(out.max)) <= SCALE_FROM;
}

/** Sets the moments from shifted sums s1 = Σ(x − c), s2 = Σ(x − c)² over the n finite values. */
export function settleShifted(out: ScanStats, c: number, s1: number, s2: number): ScanStats {
  const n = out.count - out.nan - out.posinf - out.neginf;
  const corr = s1 / n;
  const hi = c + corr;
  out.mean = hi;
  out.meanLo = twoSumError(c, corr, hi);
  out.m2 = Math.max(0, s2 - s1 * corr);
  out.scale = 0;
  return out;
}

/** The rounding error of hi = a + b (Knuth's TwoSum): a + b = hi + error exactly. */
export function twoSumError(a: number, b: number, hi: number): number {
  const bb = hi - a;
  return a - (hi - bb) + (b - bb);
}

/** Two-pass moments (corrected two-pass algorithm), over finite values only, scaled when they are huge. */
function exactMoments(out: ScanStats, data: ArrayLike<number>, n: number): ScanStats {
  const big = Math.max(Math.abs(out.min), Math.abs(out.max));
  const e = big > SCALE_FROM ? Math.ceil(Math.log2(big)) : 0;
  const s = ldexp(1, -e);
  const len = data.length;
  let sum = 0;
  for (let i = 0; i < len; i++) {
    const x = data[i]!;
    if (x - x === 0) sum += x * s;
  }
  const mean = sum / n;
  let d = 0;
  let dd = 0;
  for (let i = 0; i < len; i++) {
    const x = data[i]!;
    if (x - x !== 0) continue;
    const y = x * s - mean;
    d += y;
    dd += y * y;
  }
  // mean + d/n is the mean to well beyond float64 precision; keep it as a rounded value and its residual.
  const c = d / n;
  const hi = mean + c;
  out.mean = ldexp(hi, e);
  out.meanLo = ldexp(twoSumError(mean, c, hi), e);
  if (out.mean < out.min || out.mean > out.max) {
    out.mean = out.mean < out.min ? out.min : out.max;
    out.meanLo = 0;
  }
  out.m2 = Math.max(0, dd - (d * d) / n);
  out.scale = e;
  return out;
}

/**
 * Scans `data` in index order and fills `out` (see {@link ScanStats}). Reading an element of a Float32Array
 * yields its exact float64 value, so min/max are the exact stored values and x*x is exact for float32.
 * A zero min or max is reported as +0 whatever the sign of the zeros seen, because which zero wins depends
 * on visiting order, and the wasm kernel visits in a different order.
 */
export function scanJs(data: ScanInput, out: ScanStats = createStats()): ScanStats {
  // Bytes get their own loop: the shared float loop took 4.3 us per 784-byte u8 array once V8 had seen
  // floats in it, the byte loop 1.6-1.8 us. Sharing one loop between float32 and float64 measured free.
  if (data instanceof Float32Array || data instanceof Float64Array) return scanFloats(data, out);
  if (data instanceof Uint8Array) return scanBytes(data, out);
  // Reachable from untyped callers only; an Int32Array read as floats or bytes would give silent garbage.
  throw new TypeError(`scan() expects a Float32Array, Float64Array or Uint8Array, got ${describe(data)}.`);
}

/** Names a received value for error messages: its constructor for objects, else its type. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

function scanFloats(data: Float32Array | Float64Array, out: ScanStats): ScanStats {
  const n = data.length;
  let nan = 0;
  let posinf = 0;
  let neginf = 0;
  let fp16 = 0;
  let fp32 = 0;
  let firstNan = -1;
  let firstPosinf = -1;
  let firstNeginf = -1;
  let firstFp16 = -1;
  let firstFp32 = -1;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const x = data[i] as number;
    // x - x is 0 for every finite x (including ±0 and subnormals) and NaN for NaN and ±Inf.
    if (x - x === 0) {
      if (x < min) min = x;
      if (x > max) max = x;
      sum += x;
      sumSq += x * x;
      if (x >= FLOAT16_OVERFLOW || x <= -FLOAT16_OVERFLOW) {
        // Exclusive: a value that overflows float32 is reported as that, not also as float16 overflow.
        if (x >= FLOAT32_OVERFLOW || x <= -FLOAT32_OVERFLOW) {
          if (fp32 === 0) firstFp32 = i;
          fp32++;
        } else {
          if (fp16 === 0) firstFp16 = i;
          fp16++;
        }
      }
    } else if (x !== x) {
      if (nan === 0) firstNan = i;
      nan++;
    } else if (x > 0) {
      if (posinf === 0) firstPosinf = i;
      posinf++;
    } else {
      if (neginf === 0) firstNeginf = i;
      neginf++;
    }
  }
  out.count = n;
  out.nan = nan;
  out.posinf = posinf;
  out.neginf = neginf;
  out.fp16Overflow = fp16;
  out.fp32Overflow = fp32;
  // min > max only when no finite value was seen; + 0 turns -0 into +0 and leaves every other value alone.
  out.min = min > max ? Number.NaN : min + 0;
  out.max = min > max ? Number.NaN : max + 0;
  out.sum = sum;
  out.sumSq = sumSq;
  out.firstNan = firstNan;
  out.firstPosinf = firstPosinf;
  out.firstNeginf = firstNeginf;
  out.firstFp16Overflow = firstFp16;
  out.firstFp32Overflow = firstFp32;
  return settleMoments(out, data);
}

/** Bytes have no special values; sums are exact integers (below 2^53 for any array that fits in memory). */
function scanBytes(data: Uint8Array, out: ScanStats): ScanStats {
  const n = data.length;
  let min = 255;
  let max = 0;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const x = data[i] as number;
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
    sumSq += x * x;
  }
  out.count = n;
  out.nan = 0;
  out.posinf = 0;
  out.neginf = 0;
  out.fp16Overflow = 0;
  out.fp32Overflow = 0;
  out.min = n === 0 ? Number.NaN : min;
  out.max = n === 0 ? Number.NaN : max;
  out.sum = sum;
  out.sumSq = sumSq;
  out.firstNan = -1;
  out.firstPosinf = -1;
  out.firstNeginf = -1;
  out.firstFp16Overflow = -1;
  out.firstFp32Overflow = -1;
  return settleMoments(out, data);
}

/** Moments of a set of finite values: StatsAccumulator has these fields, and so does a chunked scan's tally. */
export interface Moments {
  /** Finite values. */
  values: number;
  /** Their mean (0 while there is none, so the record stays JSON-safe), and its rounding residual. */
  mean: number;
  meanLo: number;
  /** Σ(x − mean)², divided by 4^scale; kept at most 2^900. */
  m2: number;
  /** Power-of-two exponent of m2: 0 unless values (or their spread) go beyond ~2^400. */
  scale: number;
}

/** Means beyond this make the merge work in units of 2^scale, so their difference and its square stay finite. */
const BIG_MEAN = 2 ** 400;
/** m2 is renormalised (scale raised) above this, so sums of a few m2 never overflow. */
const M2_LIMIT = 2 ** 900;

/**
 * Merges a part of `nB` finite values with mean `meanB` (+ residual `loB`) and centred sum of squares m2B·4^eB
 * into `acc` (Chan, Golub and LeVeque): M2 = M2a + M2b + δ²·na·nb/n, mean = meanA + δ·nb/n, δ = meanB − meanA.
 * The means' residuals enter δ, and the new mean keeps its own (TwoSum), so merging thousands of records whose
 * spread is a few ulps of their mean stays exact. Huge means are handled in units of 2^scale.
 */
export function mergeMoments(acc: Moments, nB: number, meanB: number, loB: number, m2B: number, eB: number): void {
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
function renormalise(acc: Moments): void {
  if (!(acc.m2 > M2_LIMIT)) return;
  const k = Math.ceil((Math.log2(acc.m2) - 800) / 2);
  acc.m2 = ldexp(acc.m2, -2 * k);
  acc.scale += k;
}
