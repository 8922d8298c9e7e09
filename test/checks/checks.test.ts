import { describe, expect, it } from 'vitest';
import { checkShapes } from '../../src/checks/consistency.js';
import { FindingSink } from '../../src/checks/findings.js';
import { scanIntegers } from '../../src/checks/integers.js';
import { formatKey } from '../../src/checks/keys.js';
import { labelHistogram, labelRangeProblem } from '../../src/checks/labels.js';
import { accumulate, createAccumulator, finishStats, mergeAccumulators } from '../../src/checks/stats.js';
import { isConstant, valueFindings } from '../../src/checks/values.js';
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

  it('treats 65504 as representable and 65505 as overflow', () => {
    expect(valueFindings(stats([65504, -65504]), {}, 'x', true)).toEqual([]);
    expect(valueFindings(stats([1, -65505]), {}, 'x', true).map((x) => x.kind)).toEqual(['fp16_overflow']);
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
  });
});

describe('formatKey', () => {
  it('shows printable UTF-8 as is and anything else as hex', () => {
    expect(formatKey(new TextEncoder().encode('00000001_cat.jpg'))).toBe('00000001_cat.jpg');
    expect(formatKey(Uint8Array.from([0xff, 0x00, 0x41]))).toBe('hex:ff0041');
    expect(formatKey(Uint8Array.from([0x41, 0x0a]))).toBe('hex:410a');
  });
});
