/** Test helpers for the value-scan kernels: seeded arrays with injected special values, and a naive oracle. */
import { rng } from '../../scripts/lib/caffe.js';
import type { ScanInput, ScanStats } from '../../src/kernels/scan.js';

export type Dtype = 'f32' | 'f64' | 'u8';

/** mulberry32, the fixtures' seeded generator. */
export { rng };

export const FLT_MAX = 3.4028234663852886e38;
/** The float32 right above 65504 (65504 + 2^-8): the smallest float32 that counts as float16 overflow. */
export const F32_ABOVE_F16_MAX = 65504.00390625;

/** NaN bit patterns, so payload and sign cannot matter: quiet, negative, signalling, all-ones mantissa. */
const F32_NAN_BITS = [0x7fc00000, 0xffc00000, 0x7f800001, 0x7fffffff, 0xff800001];
const F64_NAN_BITS = [0x7ff8000000000000n, 0xfff8000000000000n, 0x7ff0000000000001n, 0x7fffffffffffffffn];

/** Values every float test should meet: the float16 edge, ±0, subnormals, FLT_MAX, infinities. */
export const EDGE_VALUES = [
  65504, -65504, F32_ABOVE_F16_MAX, -F32_ABOVE_F16_MAX, 65505, -65505, 65520, -65520,
  0, -0, 1e-45, -1e-45, 5.877471754111438e-39, FLT_MAX, -FLT_MAX, Infinity, -Infinity,
];
const F64_ONLY_EDGES = [5e-324, -5e-324, 2.2250738585072014e-308 / 3, 65504.00000000001];

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
  const isOver = (x: number) => Number.isFinite(x) && Math.abs(x) > 65504;
  const finite = values.filter((x) => Number.isFinite(x));
  const zeroToPositive = (x: number) => (x === 0 ? 0 : x);
  return {
    count: values.length,
    nan: countOf(isNan),
    posinf: countOf(isPos),
    neginf: countOf(isNeg),
    fp16Overflow: countOf(isOver),
    min: finite.length === 0 ? Number.NaN : zeroToPositive(finite.reduce((m, x) => Math.min(m, x))),
    max: finite.length === 0 ? Number.NaN : zeroToPositive(finite.reduce((m, x) => Math.max(m, x))),
    sum: finite.reduce((s, x) => s + x, 0),
    sumSq: finite.reduce((s, x) => s + x * x, 0),
    firstNan: firstOf(isNan),
    firstPosinf: firstOf(isPos),
    firstNeginf: firstOf(isNeg),
    firstFp16Overflow: firstOf(isOver),
  };
}

/** Σ|x| over finite values: the scale against which reordered float64 sums are compared. */
export function absSum(data: ScanInput): number {
  let s = 0;
  for (const x of data) if (Number.isFinite(x)) s += Math.abs(x);
  return s;
}
