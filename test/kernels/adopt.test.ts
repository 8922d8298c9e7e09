/**
 * The kernel linked to h5wasm's heap (adoptMemory): rows read into the heap are scanned where they lie. Same
 * oracle as the copy path (scanJs), on every dtype, lengths around the arena size, unaligned views, and after
 * the heap has grown (its buffer replaced).
 */
import { describe, expect, it } from 'vitest';
import { adoptMemory, loadKernel, OUT_BYTES } from '../../src/kernels/scan.js';
import { scanJs } from '../../src/kernels/scan-js.js';
import { H5 } from '../../src/readers/hdf5/h5.js';
import { expectSameStats, makeArray, setNaN, type Dtype } from './arrays.js';

const BYTES: Record<Dtype, number> = { f32: 4, f64: 8, u8: 1 };

describe('kernel on h5wasm memory', async () => {
  const h5 = await H5.load();

  it('catches the Memory of h5wasm and links a kernel instance to it', () => {
    expect(h5.memory).toBeDefined();
    expect(h5.memory!.buffer).toBe(h5.heap());
    const out = h5.malloc(OUT_BYTES);
    expect(adoptMemory(h5.memory!, out)).toBe(true);
  });

  it.each(['f32', 'f64', 'u8'] as Dtype[])('scans %s arrays in the heap exactly as the oracle', (dtype) => {
    const kernel = loadKernel();
    let seed = 1;
    for (const len of [16, 17, 1023, 65_537, 300_001]) {
      for (const offset of [0, 1, 3]) {
        const src = makeArray(dtype, len, seed++, { special: 0.01 });
        const ptr = h5.malloc((len + offset) * BYTES[dtype]);
        expect(ptr).toBeGreaterThan(0);
        const Ctor = dtype === 'f32' ? Float32Array : dtype === 'f64' ? Float64Array : Uint8Array;
        const view = new Ctor(h5.heap(), ptr + offset * BYTES[dtype], len);
        view.set(src as never);
        const got = { ...kernel.scan(view) };
        const want = scanJs(src);
        const label = `${dtype} len ${len} offset ${offset}`;
        expectSameStats(got, want, src, label);
        h5.free(ptr);
      }
    }
  });

  it('settles the moments of data far from 0 in the heap with the linked instance (shifted-sum pass)', () => {
    const kernel = loadKernel();
    for (const dtype of ['f32', 'f64'] as const) {
      for (const len of [16, 1027, 70_001]) {
        const src = makeArray(dtype, len, len, { special: 0 }) as Float32Array | Float64Array;
        for (let i = 0; i < len; i++) src[i] = 1e4 + src[i]! / 100;
        if (len > 1000) setNaN(src, 999);
        const plain = scanJs(src);
        // The case under test: one-pass sums that cancel (std/|mean| ~ 6e-5).
        expect(plain.m2 / plain.sumSq).toBeLessThan(1e-4);
        const ptr = h5.malloc(len * BYTES[dtype]);
        const view = new (dtype === 'f32' ? Float32Array : Float64Array)(h5.heap(), ptr, len);
        view.set(src);
        const got = { ...kernel.scan(view) };
        expectSameStats(got, scanJs(src), src, `${dtype} len ${len} offset data`);
        h5.free(ptr);
      }
    }
  });

  it('keeps working after the heap grows and its buffer is replaced', () => {
    const kernel = loadKernel();
    const ptr = h5.malloc(4 * 100);
    new Float32Array(h5.heap(), ptr, 100).fill(2)[37] = Number.NaN;
    const before = h5.heap();
    const big = h5.malloc(256 * 1024 * 1024);
    expect(big).toBeGreaterThan(0);
    expect(h5.heap()).not.toBe(before);
    const s = kernel.scan(new Float32Array(h5.heap(), ptr, 100));
    expect([s.nan, s.firstNan, s.min, s.max, s.sum]).toEqual([1, 37, 2, 2, 198]);
    h5.free(big);
    h5.free(ptr);
  });
});

describe('kernel arena', () => {
  it('scans data written into its own arena in place, as the oracle does', () => {
    const kernel = loadKernel();
    const arena = kernel.arena!;
    expect(arena.length).toBeGreaterThanOrEqual(256 * 256 * 3);
    for (const [len, offset] of [[16, 0], [1000, 3], [196_608, 0], [arena.length - 7, 7]] as const) {
      const src = makeArray('u8', len, len + offset) as Uint8Array;
      const view = arena.subarray(offset, offset + len);
      view.set(src);
      const got = { ...kernel.scan(view) };
      expect(got).toEqual(scanJs(src));
      // Scanning in place leaves the data as it was.
      expect(Buffer.compare(Buffer.from(view), Buffer.from(src))).toBe(0);
    }
  });
});
