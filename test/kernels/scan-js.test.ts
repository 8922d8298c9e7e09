/** The scalar JS scan (fallback and oracle) against hand-computed cases and a naive loop. */
import { describe, expect, it } from 'vitest';
import { createStats, FLOAT16_MAX, FLOAT16_OVERFLOW, FLOAT32_OVERFLOW, scanJs } from '../../src/kernels/scan-js.js';
import {
  expectSameStats, F32_ABOVE_F16_MAX, F32_OVERFLOW, F64_BELOW_F32_OVERFLOW, FLT_MAX, makeArray, naiveStats, setNaN, type Dtype,
} from './arrays.js';

const DTYPES: Dtype[] = ['f32', 'f64', 'u8'];

describe('scanJs', () => {
  it('counts specials, records first indexes and keeps non-finite values out of min/max/sums', () => {
    const s = scanJs(new Float32Array([2, Number.NaN, -Infinity, 3, 70000, -0, Infinity, Number.NaN, -70000]));
    expect(s).toEqual({
      count: 9,
      nan: 2,
      posinf: 1,
      neginf: 1,
      fp16Overflow: 2,
      fp32Overflow: 0,
      min: -70000,
      max: 70000,
      sum: 5,
      sumSq: 4 + 9 + 2 * 4.9e9,
      mean: 1,
      meanLo: 0,
      m2: 4 + 9 + 2 * 4.9e9 - 5,
      scale: 0,
      firstNan: 1,
      firstPosinf: 6,
      firstNeginf: 2,
      firstFp16Overflow: 4,
      firstFp32Overflow: -1,
    });
  });

  it('counts float16 overflow from 65520 on (round-to-nearest-even), not from above 65504', () => {
    expect([FLOAT16_MAX, FLOAT16_OVERFLOW]).toEqual([65504, 65520]);
    expect(scanJs(new Float32Array([65504, -65504, F32_ABOVE_F16_MAX, -65505, 65519.99])).fp16Overflow).toBe(0);
    const over = scanJs(new Float32Array([1, 65519, 65520, -65520, FLT_MAX, -FLT_MAX, Infinity]));
    expect(over.fp16Overflow).toBe(4);
    expect(over.fp32Overflow).toBe(0);
    expect(over.firstFp16Overflow).toBe(2);
    expect(scanJs(new Float64Array([65504.00000000001, 65519.99999999999])).fp16Overflow).toBe(0);
  });

  it('counts float32 overflow in float64 data from FLT_MAX + half an ulp on, and not as float16 overflow', () => {
    expect(FLOAT32_OVERFLOW).toBe(2 ** 128 - 2 ** 103);
    const s = scanJs(new Float64Array([FLT_MAX, F64_BELOW_F32_OVERFLOW, 70000, F32_OVERFLOW, -1e300, 1.5]));
    expect([s.fp16Overflow, s.firstFp16Overflow, s.fp32Overflow, s.firstFp32Overflow]).toEqual([3, 0, 2, 3]);
  });

  it('reports min and max as NaN when there is no finite value, and sums as 0', () => {
    const inputs = [new Float32Array(0), new Float64Array([Number.NaN, Infinity, -Infinity]), new Uint8Array(0)];
    for (const data of inputs) {
      const s = scanJs(data);
      expect(s.min).toBeNaN();
      expect(s.max).toBeNaN();
      expect(s.sum).toBe(0);
      expect(s.sumSq).toBe(0);
      expect(s.mean).toBeNaN();
      expect([s.m2, s.scale]).toEqual([0, 0]);
    }
  });

  it('reports a zero min or max as +0 whatever zeros it saw', () => {
    for (const values of [[-0, -0], [-0, 0, -0], [0, -0]]) {
      const s = scanJs(new Float64Array(values));
      expect(Object.is(s.min, 0)).toBe(true);
      expect(Object.is(s.max, 0)).toBe(true);
    }
    expect(Object.is(scanJs(new Float32Array([-0, 1])).min, 0)).toBe(true);
    expect(Object.is(scanJs(new Float32Array([-1, -0])).max, 0)).toBe(true);
  });

  it('counts every NaN bit pattern (negative, signalling, any payload) as NaN', () => {
    for (const a of [new Float32Array(5), new Float64Array(4)]) {
      for (let i = 0; i < a.length; i++) setNaN(a, i, i);
      const s = scanJs(a);
      expect(s.nan).toBe(a.length);
      expect(s.posinf + s.neginf + s.fp16Overflow).toBe(0);
    }
  });

  it('treats subnormals as finite values', () => {
    const s = scanJs(new Float64Array([5e-324, -5e-324]));
    expect(s).toMatchObject({ nan: 0, min: -5e-324, max: 5e-324, sum: 0 });
    expect(scanJs(new Float32Array([1e-45])).max).toBe(1.401298464324817e-45);
  });

  it('reports u8 data without specials', () => {
    const s = scanJs(new Uint8Array([7, 0, 255, 3]));
    expect(s).toEqual({
      ...createStats(),
      count: 4,
      min: 0,
      max: 255,
      sum: 265,
      sumSq: 49 + 255 * 255 + 9,
      mean: 265 / 4,
      m2: 49 + 255 * 255 + 9 - 265 * (265 / 4),
    });
  });

  it('equals a naive loop on seeded arrays of every dtype, length and offset', () => {
    for (const dtype of DTYPES) {
      for (let len = 0; len <= 67; len++) {
        const data = makeArray(dtype, len, len * 31 + 7, { special: 0.2, offset: len % 5 });
        expectSameStats(scanJs(data), naiveStats(data), data, `${dtype} length ${len}`);
      }
      for (const [len, special] of [[5000, 0.01], [5000, 0.5], [1000, 0], [1000, 1]] as const) {
        const data = makeArray(dtype, len, len + special * 100, { special });
        expectSameStats(scanJs(data), naiveStats(data), data, `${dtype} length ${len} special ${special}`);
      }
    }
  });

  it('fills and returns the given out object, overwriting every field', () => {
    const out = createStats();
    const dirty = scanJs(new Float32Array([Number.NaN, Infinity, -Infinity, 1e6]), out);
    expect(dirty).toBe(out);
    expect(out.firstNan).toBe(0);
    scanJs(new Float32Array([1, 2]), out);
    expect(out).toEqual({ ...createStats(), count: 2, min: 1, max: 2, sum: 3, sumSq: 5, mean: 1.5, m2: 0.5 });
    expect(scanJs(new Float32Array([1]))).not.toBe(out);
  });
});
