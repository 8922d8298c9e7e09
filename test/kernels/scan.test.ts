/** The wasm SIMD kernel and its wrapper against the JS oracle, over every tail length, chunking and offset. */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Kernel, ScanInput, ScanStats } from '../../src/kernels/scan.js';
import { scanJs } from '../../src/kernels/scan-js.js';
import { expectSameStats, FLT_MAX, makeArray, naiveStats, setNaN, type Dtype } from './arrays.js';
import { parseOptions } from '../../src/options.js';

// The generated module is gitignored; (re)build it so these tests never run a stale or missing kernel.
// A no-op costing one hash when scan.wat has not changed.
execFileSync(process.execPath, ['scripts/build-kernel.mjs'], {
  cwd: fileURLToPath(new URL('../..', import.meta.url)),
  stdio: 'inherit',
});
const { createStats, loadKernel } = await import('../../src/kernels/scan.js');

/** Every length goes to wasm, including the ones the default kernel hands to JS. */
const wasm = loadKernel({ wasmMinLength: 0 });
const DTYPES: Dtype[] = ['f32', 'f64', 'u8'];
const BYTES: Record<Dtype, number> = { f32: 4, f64: 8, u8: 1 };

/**
 * Asserts `actual` equals the JS oracle: counts, first indexes and min/max bit for bit; sums and moments
 * within rounding (see expectSameStats), since only the accumulation order differs. u8 sums are exact.
 */
function expectMatchesOracle(actual: ScanStats, data: ScanInput, label: string): void {
  expectSameStats(actual, scanJs(data), data, label);
}

describe('loadKernel', () => {
  it('uses wasm SIMD on this Node and caches the kernel per thread', () => {
    expect(loadKernel().backend).toBe('wasm-simd');
    expect(loadKernel()).toBe(loadKernel());
  });

  it('falls back to the JS kernel when forced (the forceJsKernel option, or NANSCAN_FORCE_JS_KERNEL=1 read by parseOptions)', () => {
    const forced = loadKernel({ forceJs: true });
    expect(forced.backend).toBe('js');
    const data = makeArray('f32', 1000, 5, { special: 0.1 });
    expect(forced.scan(data)).toEqual(scanJs(data));
    process.env['NANSCAN_FORCE_JS_KERNEL'] = '1';
    try {
      expect(parseOptions({}).forceJsKernel).toBe(true);
      expect(parseOptions({ forceJsKernel: false }).forceJsKernel).toBe(false);
    } finally {
      delete process.env['NANSCAN_FORCE_JS_KERNEL'];
    }
    expect(parseOptions({}).forceJsKernel).toBe(false);
  });
});

describe('wasm kernel', () => {
  it('matches the oracle on every tail length 0-67 and every element offset, for each dtype', () => {
    for (const dtype of DTYPES) {
      for (let len = 0; len <= 67; len++) {
        for (let offset = 0; offset < 16 / BYTES[dtype]; offset++) {
          for (const special of [0, 0.1, 0.5]) {
            const data = makeArray(dtype, len, len * 1009 + offset * 17 + special * 10, { special, offset });
            expectMatchesOracle(wasm.scan(data), data, `${dtype} len ${len} offset ${offset} special ${special}`);
          }
        }
      }
    }
  });

  it('finds a lone special at every position of short arrays (scalar tail, odd vector and blocks)', () => {
    for (const dtype of ['f32', 'f64'] as const) {
      for (const len of [1, 3, 4, 5, 8, 9, 17, 33, 67]) {
        for (let pos = 0; pos < len; pos++) {
          for (const value of [Number.NaN, Infinity, -Infinity, 65520, -65536, -FLT_MAX, 1e300]) {
            const data = makeArray(dtype, len, pos, { special: 0 }) as Float32Array | Float64Array;
            data[pos] = value;
            expectMatchesOracle(wasm.scan(data), data, `${dtype} len ${len} ${value} at ${pos}`);
          }
        }
      }
    }
  });

  it('matches the oracle around 4 KiB block boundaries, clean and with one flagged block', () => {
    for (const dtype of DTYPES) {
      const block = 4096 / BYTES[dtype];
      for (const base of [block, 2 * block, 3 * block]) {
        for (const delta of [-17, -9, -8, -5, -4, -1, 0, 1, 2, 3, 4, 7, 8, 9, 16, 33]) {
          const len = base + delta;
          const clean = makeArray(dtype, len, len, { special: 0 });
          expectMatchesOracle(wasm.scan(clean), clean, `${dtype} clean len ${len}`);
          if (dtype === 'u8') continue;
          // One special in the second block, and another category at the very end (tail or odd vector).
          const dirty = makeArray(dtype, len, len + 1, { special: 0 }) as Float32Array | Float64Array;
          dirty[block + (len % 7)] = Number.NaN;
          dirty[len - 1] = -Infinity;
          expectMatchesOracle(wasm.scan(dirty), dirty, `${dtype} dirty len ${len}`);
        }
      }
    }
  });

  it('handles all-special and all-clean arrays', () => {
    for (const dtype of ['f32', 'f64'] as const) {
      for (const len of [16, 100, 5000]) {
        for (const fillValue of [Number.NaN, Infinity, -Infinity, 70000, -0, 65504, 65520, 1e-45, -1e300]) {
          const data = makeArray(dtype, len, 1, { special: 0 }).fill(fillValue);
          expectMatchesOracle(wasm.scan(data), data, `${dtype} ${len} x ${fillValue}`);
        }
        const nans = makeArray(dtype, len, 2, { special: 0 }) as Float32Array | Float64Array;
        for (let i = 0; i < len; i++) setNaN(nans, i, i);
        expectMatchesOracle(wasm.scan(nans), nans, `${dtype} ${len} NaN patterns`);
      }
    }
    for (const fillValue of [0, 255, 128]) {
      const data = new Uint8Array(5000).fill(fillValue);
      expectMatchesOracle(wasm.scan(data), data, `u8 x ${fillValue}`);
    }
  });

  it('matches the oracle on arrays spanning many arena chunks, with specials at chunk edges', () => {
    for (const dtype of DTYPES) {
      // 4 MiB + a tail: several chunks of the 256 KiB arena (still more than one if the arena grows to 2 MiB).
      const elems = (4 * 1024 * 1024) / BYTES[dtype];
      const len = elems + 13;
      const sparse = makeArray(dtype, len, 42, { special: 0.0001, offset: 1 });
      expectMatchesOracle(wasm.scan(sparse), sparse, `${dtype} large sparse`);
      const clean = makeArray(dtype, len, 43, { special: 0, offset: 3 });
      expectMatchesOracle(wasm.scan(clean), clean, `${dtype} large clean`);
      if (dtype === 'u8') continue;
      // First occurrences late, at and just before power-of-two boundaries where chunks start, so the
      // wrapper's chunk offset is part of every first index.
      const edged = makeArray(dtype, len, 44, { special: 0 }) as Float32Array | Float64Array;
      const quarter = elems / 4;
      edged[3 * quarter - 1] = Number.NaN;
      edged[3 * quarter] = Infinity;
      edged[quarter + 1] = -Infinity;
      edged[len - 1] = 65536;
      edged[len - 2] = Number.NaN;
      const s = wasm.scan(edged);
      expectMatchesOracle(s, edged, `${dtype} large edged`);
      expect([s.firstNan, s.firstPosinf, s.firstNeginf, s.firstFp16Overflow]).toEqual([
        3 * quarter - 1,
        3 * quarter,
        quarter + 1,
        len - 1,
      ]);
    }
  });

  it('matches the oracle on sums that cancel and on float64 values whose squares overflow', () => {
    const cancel = new Float32Array(10000).map((_, i) => (i % 2 ? FLT_MAX : -FLT_MAX));
    expectMatchesOracle(wasm.scan(cancel), cancel, 'f32 ±FLT_MAX');
    const huge = new Float64Array(1000).map((_, i) => (i % 3 ? 1e300 : -1e300));
    const s = wasm.scan(huge);
    expectMatchesOracle(s, huge, 'f64 ±1e300');
    expect(s.sumSq).toBe(Infinity);
  });
});

describe('moments of data far from 0 (the shifted-sum pass)', () => {
  /** Values offset + noise·u, with a few specials, so Σx² − (Σx)²/n cancels and the shifted pass runs. */
  function offsetArray(dtype: 'f32' | 'f64', len: number, seed: number, offset: number, noise: number, specials: boolean) {
    const a = makeArray(dtype, len, seed, { special: 0, offset: seed % 3 }) as Float32Array | Float64Array;
    for (let i = 0; i < len; i++) a[i] = offset + (noise * a[i]!) / 100;
    if (specials && len > 2) {
      setNaN(a, seed % len);
      a[(seed * 7) % len] = Infinity;
    }
    return a;
  }

  it('equals a two-pass oracle on every tail length, with and without specials, for f32 and f64', () => {
    for (const dtype of ['f32', 'f64'] as const) {
      for (let len = 2; len <= 70; len++) {
        for (const specials of [false, true]) {
          const data = offsetArray(dtype, len, len, 1000, 1e-2, specials);
          const label = `${dtype} len ${len} specials ${specials}`;
          const got = wasm.scan(data);
          expectSameStats(got, scanJs(data), data, label);
          expectSameStats(got, naiveStats(data), data, `${label} (naive)`);
        }
      }
    }
  });

  it('equals the oracle over many arena chunks (merged per chunk) and in float64 far from 0', () => {
    for (const [dtype, offset, noise] of [['f32', 1e6, 1], ['f64', 1.6e9, 1e3], ['f64', 2 ** 62, 4096]] as const) {
      const data = offsetArray(dtype, (3 * 256 * 1024) / (dtype === 'f32' ? 4 : 8) + 5, 9, offset, noise, true);
      const got = wasm.scan(data);
      expectSameStats(got, naiveStats(data), data, `${dtype} ${offset} chunked`);
      const finite = got.count - got.nan - got.posinf - got.neginf;
      // A real spread, measured: not 0 and not swamped by rounding of the offset.
      expect(Math.sqrt(got.m2 / finite) / noise).toBeGreaterThan(0.1);
    }
  });
});

describe('Kernel.scan (default thresholds)', () => {
  const kernel = loadKernel();

  it('gives the same results as the wasm-only kernel whichever path a length takes', () => {
    for (const dtype of DTYPES) {
      for (const len of [0, 1, 7, 15, 16, 17, 63, 64, 784, 3072]) {
        const data = makeArray(dtype, len, len + 99, { special: 0.05 });
        expectMatchesOracle(kernel.scan(data), data, `${dtype} len ${len}`);
      }
    }
  });

  it('fills and returns the given out object, overwriting every field', () => {
    const out = createStats();
    const dirty = new Float32Array(100).fill(Number.NaN);
    dirty[50] = Infinity;
    expect(kernel.scan(dirty, out)).toBe(out);
    expect(out).toMatchObject({ nan: 99, firstNan: 0, firstPosinf: 50 });
    expect(out.min).toBeNaN();
    kernel.scan(new Float32Array(64).fill(2), out);
    expect(out).toEqual({ ...createStats(), count: 64, min: 2, max: 2, sum: 128, sumSq: 256, mean: 2 });
    kernel.scan(new Uint8Array(100).fill(3), out);
    expect(out).toEqual({ ...createStats(), count: 100, min: 3, max: 3, sum: 300, sumSq: 900, mean: 3 });
    const fresh = kernel.scan(new Float64Array(100));
    expect(fresh).not.toBe(out);
    expect(fresh).toEqual({ ...createStats(), count: 100, min: 0, max: 0, mean: 0 });
  });

  it('accepts Buffer and other Uint8Array subclasses', () => {
    const buf = Buffer.from([1, 2, 3, 250, ...new Array<number>(60).fill(9)]);
    expectMatchesOracle(kernel.scan(buf), buf, 'Buffer');
  });

  it('rejects other typed arrays instead of misreading them', () => {
    const ints = new Int32Array(100) as unknown as Float32Array;
    expect(() => kernel.scan(ints)).toThrow(TypeError);
  });

  it('keeps results correct after many calls with changing dtypes and sizes', () => {
    const kernels: Kernel[] = [kernel, wasm];
    for (let i = 0; i < 300; i++) {
      const dtype = DTYPES[i % 3]!;
      const data = makeArray(dtype, (i * 37) % 3000, i, { special: 0.01, offset: i % 2 });
      expectMatchesOracle(kernels[i % 2]!.scan(data), data, `call ${i}`);
    }
  });
});
