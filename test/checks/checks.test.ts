import { describe, expect, it } from 'vitest';
import { checkShapes } from '../../src/checks/consistency.js';
import { FindingSink } from '../../src/checks/findings.js';
import { scanIntegers } from '../../src/checks/integers.js';
import { formatKey } from '../../src/keys.js';
import { labelHistogram, labelRangeProblem } from '../../src/checks/labels.js';
import { accumulate, createAccumulator, finishStats, mergeAccumulators } from '../../src/checks/stats.js';
import { hasSpecial, isConstant, valueFindings } from '../../src/checks/values.js';
import { createStats, loadKernel } from '../../src/kernels/scan.js';
import type { ShapeTally } from '../../src/pool/protocol.js';

const kernel = loadKernel();
const stats = (xs: number[]) => ({ ...kernel.scan(Float32Array.from(xs), createStats()) });

describe('valueFindings', () => {
  it('reports each special value kind with its count and first element', () => {
    const f = valueFindings(stats([1, NaN, 2, NaN, Infinity, -Infinity, 70000]), { key: 'k', index: 3 }, 'float_data', true);
    expect(f.map((x) => [x.kind, x.count, x.key, x.index])).toEqual([
      ['nan', 2, 'k', 3], ['posinf', 1, 'k', 3], ['neginf', 1, 'k', 3], ['fp16_overflow', 1, 'k', 3],
    ]);
    expect(f[0]!.message).toBe('2 NaN in float_data, first at element 1.');
    expect(f[3]!.severity).toBe('warning');
  });

  it('reports float16 overflow from 65520 on: values up to it round to 65504', () => {
    expect(valueFindings(stats([65504, -65504, 65505, -65519.99]), {}, 'x', true)).toEqual([]);
    const f = valueFindings(stats([1, -65520, 70000]), { index: 4 }, 'x', true);
    expect(f.map((x) => [x.kind, x.severity, x.count, x.index])).toEqual([['fp16_overflow', 'warning', 2, 4]]);
    expect(f[0]!.message).toBe(
      '2 value(s) in x become Inf when cast to float16 (|x| ≥ 65520; the largest finite float16 is 65504), first at element 1.');
  });

  it('reports float32 overflow of float64 values as an error, with the largest magnitude, and not also as float16', () => {
    const s64 = kernel.scan(Float64Array.from([1, 3.4028235677973366e38, 7e4, -1e300, 3.4028235677973362e38]), createStats());
    expect(hasSpecial(s64)).toBe(true);
    const f = valueFindings(s64, { file: 'a.h5', index: 9, field: 'data' }, "'data'", true);
    expect(f.map((x) => [x.kind, x.severity, x.count, x.file, x.index, x.field])).toEqual([
      ['fp16_overflow', 'warning', 2, 'a.h5', 9, 'data'],
      ['fp32_overflow', 'error', 2, 'a.h5', 9, 'data'],
    ]);
    expect(f[1]!.message).toBe(
      "2 float64 value(s) in 'data' become Inf when cast to float32 (|x| ≥ 3.4028235677973366e+38; the largest " +
      'finite float32 is 3.4028234663852886e+38), first at element 1; largest magnitude 1e+300.');
  });

  it('reports float16 overflow of integer arrays too (int32 beyond ±65519)', () => {
    const s = scanIntegers(Int32Array.from([0, 65519, -65520, 100000]), createStats());
    expect(hasSpecial(s)).toBe(true);
    expect(valueFindings(s, {}, 'x', false).map((x) => [x.kind, x.count])).toEqual([['fp16_overflow', 2]]);
    expect(hasSpecial(scanIntegers(Int32Array.from([0, 65519, -65519]), createStats()))).toBe(false);
  });

  it('flags constant samples, but not single values or arrays with NaN', () => {
    expect(isConstant(stats([3, 3, 3]))).toBe(true);
    expect(isConstant(stats([-0, 0]))).toBe(true);
    expect(isConstant(stats([3]))).toBe(false);
    expect(isConstant(stats([3, 3, NaN]))).toBe(false);
    expect(isConstant(stats([3, 4]))).toBe(false);
    const u8 = kernel.scan(new Uint8Array(784), createStats());
    expect(valueFindings(u8, { index: 0 }, 'data', false).map((x) => x.kind)).toEqual(['constant_sample']);
  });

  it('skips float checks on integer pixels', () => {
    const u8 = kernel.scan(Uint8Array.from([0, 255, 7]), createStats());
    expect(valueFindings(u8, {}, 'data', false)).toEqual([]);
  });
});

describe('FindingSink', () => {
  it('keeps counts exact and examples capped per kind', () => {
    const sink = new FindingSink(2);
    for (let i = 0; i < 5; i++) sink.add({ kind: 'nan', severity: 'error', message: '', index: i });
    sink.add({ kind: 'constant_sample', severity: 'warning', message: '' });
    expect(sink.counts).toEqual({ nan: 5, constant_sample: 1 });
    expect(sink.severities).toEqual({ error: 5, warning: 1 });
    expect(sink.findings.map((f) => f.index)).toEqual([0, 1, undefined]);
  });
});

describe('stats', () => {
  it('merges partitions into the same mean and std as one pass', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 100 + 5);
    const whole = createAccumulator();
    accumulate(whole, kernel.scan(Float64Array.from(xs), createStats()));
    const a = createAccumulator();
    const b = createAccumulator();
    accumulate(a, kernel.scan(Float64Array.from(xs.slice(0, 333)), createStats()));
    accumulate(b, kernel.scan(Float64Array.from(xs.slice(333)), createStats()));
    mergeAccumulators(a, b);
    const m = finishStats(a)!;
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const std = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length);
    expect(m.mean).toBeCloseTo(mean, 9);
    expect(m.std).toBeCloseTo(std, 9);
    expect(m.min).toBe(Math.min(...xs));
    const w = finishStats(whole)!;
    expect([w.values, w.min, w.max]).toEqual([m.values, m.min, m.max]);
    expect(w.mean).toBeCloseTo(m.mean!, 12);
    expect(w.std).toBeCloseTo(m.std!, 12);
  });

  it('is null when nothing was scanned', () => {
    expect(finishStats(createAccumulator())).toBeNull();
  });
});

describe('scanIntegers', () => {
  it('gives range statistics for every integer type', () => {
    for (const arr of [Int8Array.from([-3, 5, 0]), Uint16Array.from([3, 5, 0]), Int32Array.from([-3, 5, 0]),
      BigInt64Array.from([-3n, 5n, 0n])]) {
      const s = scanIntegers(arr, createStats());
      expect([s.count, s.max, s.nan]).toEqual([3, 5, 0]);
      expect(s.min).toBe(arr instanceof Uint16Array ? 0 : -3);
    }
    expect(Number.isNaN(scanIntegers(new Int32Array(0), createStats()).min)).toBe(true);
  });
});

describe('checkShapes', () => {
  const tally = (c: number, h: number, w: number, count: number, first: number): ShapeTally =>
    ({ channels: c, height: h, width: w, count, examples: [{ index: first, key: `k${first}` }] });

  it('reports minority shapes against the majority, by channel or size', () => {
    const sink = new FindingSink(10);
    checkShapes({ a: tally(3, 32, 32, 100, 0), b: tally(1, 32, 32, 2, 7), c: tally(3, 30, 32, 5, 9) }, sink);
    expect(sink.counts).toEqual({ channel_mismatch: 2, size_mismatch: 5 });
    expect(sink.findings.map((f) => [f.kind, f.key])).toEqual([['channel_mismatch', 'k7'], ['size_mismatch', 'k9']]);
  });

  it('is silent when every record has one shape', () => {
    const sink = new FindingSink(10);
    checkShapes({ a: tally(3, 32, 32, 100, 0) }, sink);
    expect(sink.findings).toEqual([]);
  });
});

describe('labels', () => {
  it('flags negative labels and labels beyond --num-classes', () => {
    expect(labelRangeProblem(-1, null)).toMatch(/negative/);
    expect(labelRangeProblem(10, 10)).toMatch(/not below --num-classes 10/);
    expect(labelRangeProblem(9, 10)).toBeNull();
    expect(labelRangeProblem(1000, null)).toBeNull();
  });

  it('builds a numeric-order histogram and infers the class count', () => {
    const h = labelHistogram(Int32Array.from([10, 2, 2, 0]), null, 64);
    expect(Object.keys(h.histogram)).toEqual(['0', '2', '10']);
    expect(h.histogram['2']).toBe(2);
    expect([h.numClasses, h.numClassesSource]).toEqual([11, 'inferred']);
    // Labels too far apart to count by offset (a Map), negative ones, none at all.
    const wide = labelHistogram([Int32Array.from([2_000_000_000, -5, 3]), Uint8Array.from([3])], null, 64);
    expect(Object.entries(wide.histogram)).toEqual([['3', 2], ['2000000000', 1], ['-5', 1]]);
    expect(wide.numClasses).toBe(2_000_000_001);
    expect(labelHistogram(Int32Array.from([-1, -1]), null, 64).numClasses).toBe(0);
    expect(labelHistogram([], 7, 64)).toEqual({ histogram: {}, records: 0, numClasses: 7, numClassesSource: 'option', batchSize: 64 });
  });
});

describe('formatKey', () => {
  it('shows printable UTF-8 as is and anything else as hex', () => {
    expect(formatKey(new TextEncoder().encode('00000001_cat.jpg'))).toBe('00000001_cat.jpg');
    expect(formatKey(Uint8Array.from([0xff, 0x00, 0x41]))).toBe('hex:ff0041');
    expect(formatKey(Uint8Array.from([0x41, 0x0a]))).toBe('hex:410a');
  });
});
