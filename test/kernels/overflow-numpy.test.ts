/**
 * Float16 and float32 overflow against numpy: a value is counted exactly when numpy's cast turns it into Inf
 * (np.float16(x), np.float32(x): round to nearest, ties to even). The values are the edges and their
 * neighbours (np.nextafter in float32 and in float64), scanned by the wasm kernel (SIMD blocks and scalar
 * tails) and the JS kernel, and integer arrays by scanIntegers.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { scanIntegers } from '../../src/checks/integers.js';
import { createStats, loadKernel, type Kernel } from '../../src/kernels/scan.js';

const PYTHON = '/usr/bin/python3';

interface Oracle {
  f32: number[];
  f32Inf16: boolean[];
  f64: number[];
  f64Inf16: boolean[];
  f64Inf32: boolean[];
  i32: number[];
  i32Inf16: boolean[];
  i16Inf16: number;
  u8Inf16: number;
}

const ORACLE = JSON.parse(
  execFileSync(PYTHON, ['-c', String.raw`
import json, warnings
import numpy as np
warnings.simplefilter("ignore")
def around(x, dt, k=3):
    out, lo, hi = [dt(x)], dt(x), dt(x)
    for _ in range(k):
        lo, hi = np.nextafter(lo, dt(-np.inf)), np.nextafter(hi, dt(np.inf))
        out += [lo, hi]
    return out
edges = [65504.0, 65519.99, 65520.0, 65536.0, 3.4028234663852886e38, 3.4028235677973366e38]
f32 = []
for e in edges:
    for s in (1, -1):
        f32 += [v for v in around(s * e, np.float32) if np.isfinite(v)]
f32 = np.array(f32, dtype=np.float32)
f64 = []
for e in edges + [1e300, 1.7976931348623157e308]:
    for s in (1, -1):
        f64 += [v for v in around(s * e, np.float64) if np.isfinite(v)]
        f64 += [np.float64(v) for v in around(np.float32(s * e), np.float32) if np.isfinite(v)]
f64 = np.array(f64, dtype=np.float64)
i32 = np.array([65503, 65504, 65505, 65519, 65520, 65521, -65519, -65520, 2**31 - 1, -2**31, 0], dtype=np.int32)
i16 = np.array([-32768, 32767, 0], dtype=np.int16)
u8 = np.arange(256, dtype=np.uint8)
print(json.dumps({
    "f32": [float(v) for v in f32], "f32Inf16": [bool(b) for b in np.isinf(f32.astype(np.float16))],
    "f64": [float(v) for v in f64], "f64Inf16": [bool(b) for b in np.isinf(f64.astype(np.float16))],
    "f64Inf32": [bool(b) for b in np.isinf(f64.astype(np.float32))],
    "i32": [int(v) for v in i32], "i32Inf16": [bool(b) for b in np.isinf(i32.astype(np.float16))],
    "i16Inf16": int(np.isinf(i16.astype(np.float16)).sum()), "u8Inf16": int(np.isinf(u8.astype(np.float16)).sum()),
}))
`], { encoding: 'utf8' }),
) as Oracle;

const KERNELS: [string, Kernel][] = [
  ['wasm', loadKernel({ wasmMinLength: 0 })],
  ['js', loadKernel({ forceJs: true })],
];

/** `value` at `pos` of an array of ordinary values, long enough for SIMD blocks, the odd vector and the tail. */
function embed<T extends Float32Array | Float64Array>(Ctor: new (n: number) => T, value: number, len: number, pos: number): T {
  const a = new Ctor(len);
  for (let i = 0; i < len; i++) a[i] = (i % 17) - 8;
  a[pos] = value;
  return a;
}

describe('overflow counts equal numpy casts', () => {
  it('has an oracle that holds the edges on both sides', () => {
    expect(ORACLE.f32Inf16.filter(Boolean).length).toBeGreaterThan(10);
    expect(ORACLE.f32Inf16.filter((b) => !b).length).toBeGreaterThan(10);
    expect(ORACLE.f64Inf32.filter(Boolean).length).toBeGreaterThan(10);
    expect(ORACLE.f64Inf32.filter((b) => !b).length).toBeGreaterThan(10);
    // The documented thresholds: numpy makes Inf of 65520 but not of the float64 or float32 right below it.
    const at = (x: number) => ORACLE.f64Inf16[ORACLE.f64.indexOf(x)];
    expect([at(65520), at(65519.99999999999), at(65519.99609375), at(65504)]).toEqual([true, false, false, false]);
    const at32 = (x: number) => ORACLE.f64Inf32[ORACLE.f64.indexOf(x)];
    expect([at32(3.4028235677973366e38), at32(3.4028235677973362e38)]).toEqual([true, false]);
  });

  for (const [name, kernel] of KERNELS) {
    it(`float32 data, ${name} kernel: float16 overflow exactly where numpy gives Inf, never float32 overflow`, () => {
      const all = kernel.scan(Float32Array.from(ORACLE.f32), createStats());
      expect(all.fp16Overflow).toBe(ORACLE.f32Inf16.filter(Boolean).length);
      expect(all.fp32Overflow).toBe(0);
      ORACLE.f32.forEach((x, i) => {
        for (const [len, pos] of [[1, 0], [7, 5], [64, 33], [2051, 1500], [2051, 2050]] as const) {
          const s = kernel.scan(embed(Float32Array, x, len, pos), createStats());
          const inf16 = ORACLE.f32Inf16[i]!;
          expect([s.fp16Overflow, s.firstFp16Overflow, s.fp32Overflow], `${x} len ${len}`).toEqual(
            [inf16 ? 1 : 0, inf16 ? pos : -1, 0]);
        }
      });
    });

    it(`float64 data, ${name} kernel: float32 overflow where numpy's float32 cast gives Inf, float16 overflow for the rest`, () => {
      const all = kernel.scan(Float64Array.from(ORACLE.f64), createStats());
      const inf32 = ORACLE.f64Inf32.filter(Boolean).length;
      expect(all.fp32Overflow).toBe(inf32);
      expect(all.fp16Overflow).toBe(ORACLE.f64Inf16.filter(Boolean).length - inf32);
      ORACLE.f64.forEach((x, i) => {
        const is32 = ORACLE.f64Inf32[i]!;
        const is16 = ORACLE.f64Inf16[i]! && !is32;
        for (const [len, pos] of [[1, 0], [3, 1], [64, 33], [1027, 700], [1027, 1026]] as const) {
          const s = kernel.scan(embed(Float64Array, x, len, pos), createStats());
          expect([s.fp16Overflow, s.firstFp16Overflow, s.fp32Overflow, s.firstFp32Overflow], `${x} len ${len}`).toEqual(
            [is16 ? 1 : 0, is16 ? pos : -1, is32 ? 1 : 0, is32 ? pos : -1]);
        }
      });
    });

    it(`uint8 data, ${name} kernel: never overflows`, () => {
      const s = kernel.scan(Uint8Array.from({ length: 4096 }, (_, i) => i % 256), createStats());
      expect([s.fp16Overflow, s.fp32Overflow]).toEqual([ORACLE.u8Inf16, 0]);
    });
  }

  it('integer data (scanIntegers): int32 overflows float16 where numpy says so; int16 never', () => {
    const s = scanIntegers(Int32Array.from(ORACLE.i32), createStats());
    expect(s.fp16Overflow).toBe(ORACLE.i32Inf16.filter(Boolean).length);
    expect(s.firstFp16Overflow).toBe(ORACLE.i32Inf16.indexOf(true));
    expect(s.fp32Overflow).toBe(0);
    ORACLE.i32.forEach((x, i) => {
      expect(scanIntegers(Int32Array.of(1, x), createStats()).fp16Overflow, `${x}`).toBe(ORACLE.i32Inf16[i] ? 1 : 0);
      expect(scanIntegers(BigInt64Array.of(1n, BigInt(x)), createStats()).fp16Overflow, `int64 ${x}`).toBe(ORACLE.i32Inf16[i] ? 1 : 0);
    });
    expect(scanIntegers(Int16Array.of(-32768, 32767, 0), createStats()).fp16Overflow).toBe(ORACLE.i16Inf16);
    expect(ORACLE.i16Inf16).toBe(0);
  });
});
