/** Test helpers for the value-scan kernels: seeded arrays with injected special values, and a naive oracle. */
import { rng } from '../../scripts/lib/caffe.js';
import { expect } from 'vitest';
import type { ScanInput, ScanStats } from '../../src/kernels/scan.js';

export type Dtype = 'f32' | 'f64' | 'u8';

/** mulberry32, the fixtures' seeded generator. */
export { rng };

export const FLT_MAX = 3.4028234663852886e38;
/** The float32 right above 65504 (65504 + 2^-8): rounds down to 65504 when cast to float16. */
export const F32_ABOVE_F16_MAX = 65504.00390625;
/** The float32 right below 65520 (65520 - 2^-8): the largest float32 that does not overflow float16. */
export const F32_BELOW_F16_OVERFLOW = 65519.99609375;
/** 2^128 - 2^103: the smallest magnitude that overflows float32 (FLT_MAX + half an ulp). */
export const F32_OVERFLOW = 3.4028235677973366e38;
/** The float64 right below it: rounds down to FLT_MAX. */
export const F64_BELOW_F32_OVERFLOW = 3.4028235677973362e38;

/** NaN bit patterns, so payload and sign cannot matter: quiet, negative, signalling, all-ones mantissa. */
const F32_NAN_BITS = [0x7fc00000, 0xffc00000, 0x7f800001, 0x7fffffff, 0xff800001];
const F64_NAN_BITS = [0x7ff8000000000000n, 0xfff8000000000000n, 0x7ff0000000000001n, 0x7fffffffffffffffn];

/** Values every float test should meet: the float16 edge, ±0, subnormals, FLT_MAX, infinities. */
export const EDGE_VALUES = [
  65504, -65504, F32_ABOVE_F16_MAX, -F32_ABOVE_F16_MAX, 65505, -65505, F32_BELOW_F16_OVERFLOW, 65520, -65520, 65536,
  0, -0, 1e-45, -1e-45, 5.877471754111438e-39, FLT_MAX, -FLT_MAX, Infinity, -Infinity,
];
const F64_ONLY_EDGES = [
  5e-324, -5e-324, 2.2250738585072014e-308 / 3, 65504.00000000001, 65519.99999999999, F64_BELOW_F32_OVERFLOW,
  F32_OVERFLOW, -F32_OVERFLOW, 1e300, -1.7976931348623157e308,
];

export interface ArrayOptions {
  /** Probability that an element is replaced by an edge value or NaN. */
  special?: number;
  /** Element offset into a larger buffer, so the view is not 16-byte aligned. */
  offset?: number;
}

/**
 * A seeded array of `len` values of `dtype` in a fresh buffer, starting `offset` elements in (so views with
 * any byteOffset are exercised). Floats are mostly uniform in [-100, 100) with `special` of them replaced.
 */
export function makeArray(dtype: Dtype, len: number, seed: number, options: ArrayOptions = {}): ScanInput {
  const next = rng(seed);
  const offset = options.offset ?? 0;
  const special = options.special ?? 0.05;
  if (dtype === 'u8') {
    const a = new Uint8Array(len + offset + 3).subarray(offset, offset + len);
    for (let i = 0; i < len; i++) a[i] = Math.floor(next() * 256);
    return a;
  }
  const a =
    dtype === 'f32'
      ? new Float32Array(len + offset + 3).subarray(offset, offset + len)
      : new Float64Array(len + offset + 3).subarray(offset, offset + len);
  const edges = dtype === 'f64' ? [...EDGE_VALUES, ...F64_ONLY_EDGES] : EDGE_VALUES;
  for (let i = 0; i < len; i++) {
    if (next() < special) {
      if (next() < 0.3) setNaN(a, i, Math.floor(next() * 5));
      else a[i] = edges[Math.floor(next() * edges.length)]!;
    } else {
      a[i] = next() * 200 - 100;
    }
  }
  return a;
}

/** Writes a NaN with one of several bit patterns at index i. */
export function setNaN(a: Float32Array | Float64Array, i: number, which = 0): void {
  if (a instanceof Float32Array) {
    new Uint32Array(a.buffer, a.byteOffset, a.length)[i] = F32_NAN_BITS[which % F32_NAN_BITS.length]!;
  } else {
    new BigUint64Array(a.buffer, a.byteOffset, a.length)[i] = F64_NAN_BITS[which % F64_NAN_BITS.length]!;
  }
}

/** Trivially correct stats, written differently from scanJs on purpose (library predicates, reduce). */
export function naiveStats(data: ScanInput): ScanStats {
  const values = Array.from(data);
  const firstOf = (p: (x: number) => boolean) => values.findIndex(p);
  const countOf = (p: (x: number) => boolean) => values.filter(p).length;
  const isNan = (x: number) => Number.isNaN(x);
  const isPos = (x: number) => x === Infinity;
  const isNeg = (x: number) => x === -Infinity;
  const isOver32 = (x: number) => Number.isFinite(x) && Math.abs(x) >= F32_OVERFLOW;
  const isOver = (x: number) => Number.isFinite(x) && Math.abs(x) >= 65520 && !isOver32(x);
  const finite = values.filter((x) => Number.isFinite(x));
  const zeroToPositive = (x: number) => (x === 0 ? 0 : x);
  return {
    count: values.length,
    nan: countOf(isNan),
    posinf: countOf(isPos),
    neginf: countOf(isNeg),
    fp16Overflow: countOf(isOver),
    fp32Overflow: countOf(isOver32),
    min: finite.length === 0 ? Number.NaN : zeroToPositive(finite.reduce((m, x) => Math.min(m, x))),
    max: finite.length === 0 ? Number.NaN : zeroToPositive(finite.reduce((m, x) => Math.max(m, x))),
    sum: finite.reduce((s, x) => s + x, 0),
    sumSq: finite.reduce((s, x) => s + x * x, 0),
    ...naiveMoments(finite),
    firstNan: firstOf(isNan),
    firstPosinf: firstOf(isPos),
    firstNeginf: firstOf(isNeg),
    firstFp16Overflow: firstOf(isOver),
    firstFp32Overflow: firstOf(isOver32),
  };
}

/**
 * Mean and Σ(x−mean)² of finite values, two-pass over values divided by a power of two near the largest
 * magnitude (so nothing overflows), as { mean, m2, scale } with Σ(x−mean)² = m2 · 4^scale.
 */
export function naiveMoments(finite: number[]): { mean: number; meanLo: number; m2: number; scale: number } {
  if (finite.length === 0) return { mean: Number.NaN, meanLo: 0, m2: 0, scale: 0 };
  const big = finite.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  const scale = big > 2 ** 400 ? Math.ceil(Math.log2(big)) : 0;
  const h = Math.floor(scale / 2);
  const y = finite.map((x) => x / 2 ** h / 2 ** (scale - h));
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  // corrected two-pass: the (Σd)²/n term takes out the rounding of the mean itself
  const d = y.reduce((a, b) => a + (b - mean), 0);
  const m2 = y.reduce((a, b) => a + (b - mean) * (b - mean), 0) - (d * d) / y.length;
  return { mean: mean * 2 ** h * 2 ** (scale - h), meanLo: 0, m2, scale };
}

/**
 * Asserts two stats agree: every field exactly (Object.is for min/max, so -0 and NaN count) except the
 * rounding-dependent ones: sum and sumSq within 1e-9 of Σ|x| and Σx² (when finite; else equal), and the
 * moments — mean within 1e-9 of max|x|, Σ(x−mean)² within 1e-9 relative plus 1e-12 of Σx² (in scaled units).
 */
export function expectSameStats(actual: ScanStats, expected: ScanStats, data: ScanInput, label: string): void {
  const { sum, sumSq, mean, meanLo, m2, scale, ...exact } = actual;
  const { sum: eSum, sumSq: eSumSq, mean: eMean, meanLo: eMeanLo, m2: eM2, scale: eScale, ...eExact } = expected;
  expect(exact, label).toEqual(eExact);
  expect(Object.is(actual.min, expected.min) && Object.is(actual.max, expected.max), `${label} min/max sign`).toBe(true);
  const close = (a: number, e: number, tol: number, what: string) => {
    if (!Number.isFinite(e) || !Number.isFinite(tol)) expect(a, `${label} ${what}`).toBe(e);
    else expect(Math.abs(a - e), `${label} ${what}: ${a} vs ${e}`).toBeLessThanOrEqual(tol);
  };
  if (data instanceof Uint8Array) {
    expect([sum, sumSq], label).toEqual([eSum, eSumSq]);
  } else {
    close(sum, eSum, 1e-9 * absSum(data), 'sum');
    close(sumSq, eSumSq, 1e-9 * eSumSq, 'sumSq');
  }
  if (Number.isNaN(eMean)) {
    expect(mean, `${label} mean`).toBeNaN();
    expect([m2, scale], `${label} m2`).toEqual([0, 0]);
    return;
  }
  const big = Math.max(Math.abs(expected.min), Math.abs(expected.max));
  close(mean, eMean, 1e-9 * big, 'mean');
  close(meanLo, eMeanLo, 1e-9 * big, 'meanLo');
  // Compare Σ(x−mean)² in units of 4^max(scale): scales may differ (a power of two either way).
  const e = Math.max(scale, eScale);
  const a = m2 / 2 ** (e - scale) / 2 ** (e - scale);
  const b = eM2 / 2 ** (e - eScale) / 2 ** (e - eScale);
  const sq = (big / 2 ** Math.floor(e / 2) / 2 ** Math.ceil(e / 2)) ** 2 * (actual.count - actual.nan - actual.posinf - actual.neginf);
  close(a, b, 1e-9 * b + 1e-12 * sq, 'm2');
}

/** Σ|x| over finite values: the scale against which reordered float64 sums are compared. */
export function absSum(data: ScanInput): number {
  let s = 0;
  for (const x of data) if (Number.isFinite(x)) s += Math.abs(x);
  return s;
}
