/**
 * Value statistics with extreme magnitudes against numpy: mean and std stay finite and exact (relative 1e-9)
 * where Σx² would overflow (float64 near ±1e300) or cancel (data far from 0 with a small spread). numpy's own
 * np.std overflows on such data too, so the oracle is computed with scaling: s·np.std(x/s), s·np.mean(x/s).
 * The data goes through the whole path: kernel scans of records, per-partition accumulators, the merge.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { accumulate, createAccumulator, finishStats, mergeAccumulators } from '../../src/checks/stats.js';
import { scanIntegers } from '../../src/checks/integers.js';
import { createStats, loadKernel, type Kernel } from '../../src/kernels/scan.js';

const PYTHON = '/usr/bin/python3';

interface Case {
  name: string;
  dtype: 'f32' | 'f64' | 'i64';
  values: number[];
  mean: number;
  std: number;
  min: number;
  max: number;
}

/** Each case: the values (float32 ones exactly as stored), and numpy's scaled mean and std in float64. */
const CASES = JSON.parse(
  execFileSync(PYTHON, ['-c', String.raw`
import json, math, warnings
from fractions import Fraction
import numpy as np
warnings.simplefilter("ignore")
rng = np.random.default_rng(14)
cases = []
def add(name, x, dtype, exact=False):
    x64 = x.astype(np.float64)
    # a power of two, so x/s is exact and only numpy's own arithmetic rounds
    s = 2.0 ** (int(np.ceil(np.log2(np.max(np.abs(x64))))) - 1)
    mean, std = s * np.mean(x64 / s), s * np.std(x64 / s)
    if exact:
        # numpy's float64 mean is off by a few ulps here (an ulp of 2^62 is 1024, the spread ~600) and its
        # std with it: the oracle is exact rational arithmetic on the same float64 values instead.
        q = [Fraction(float(v)) for v in x64]
        m = sum(q, Fraction(0)) / len(q)
        mean, std = float(m), math.sqrt(sum(((v - m) ** 2 for v in q), Fraction(0)) / len(q))
    cases.append({"name": name, "dtype": dtype, "values": [float(v) if dtype != "i64" else int(v) for v in x],
                  "mean": float(mean), "std": float(std), "min": float(x64.min()), "max": float(x64.max())})
ordinary = rng.standard_normal(20) * 10
# float64 near the top of the range: x*x and the sum both overflow
x = np.concatenate([rng.choice([-1.0, 1.0], 3000) * 1e300 * (1 + rng.random(3000)), ordinary])
rng.shuffle(x); add("f64 ±1e300 and ordinary", x, "f64")
x = np.concatenate([np.full(50, 1.7e308), np.full(50, 1.6e308), ordinary]); add("f64 sum overflows", x, "f64")
x = np.concatenate([np.full(50, -1.7976931348623157e308), np.full(70, 1.7976931348623157e308)]); add("f64 ±DBL_MAX", x, "f64")
x = 1e200 * (1 + 1e-6 * rng.standard_normal(4000)); add("f64 1e200, tiny spread", x, "f64")
# float32 near FLT_MAX: Σx² is 1e77 (fine in float64) but one-pass variance cancels when the spread is small
x = np.concatenate([rng.choice([-1.0, 1.0], 3000) * 3e38 * (1 + 0.1 * rng.random(3000)), ordinary]).astype(np.float32)
add("f32 ±3e38 and ordinary", x, "f32")
x = (3e38 * (1 + 1e-4 * rng.standard_normal(5000))).astype(np.float32); add("f32 near 3e38, small spread", x, "f32")
x = (1e6 + rng.standard_normal(5000)).astype(np.float32); add("f32 1e6 + noise", x, "f32")
x = rng.standard_normal(5000).astype(np.float32); add("f32 ordinary", x, "f32")
# spread just above the share where the one-pass sums are trusted (m2/Σx² ≈ 1.2e-4): their rounding must not show
x = (100 + 1.1 * rng.standard_normal(200000)).astype(np.float32); add("f32 100 ± 1.1, one pass", x, "f32")
x = 1e5 + 1100 * rng.standard_normal(200000); add("f64 1e5 ± 1100, one pass", x, "f64")
x = (2**62 + rng.integers(-1000, 1000, 3000)).astype(np.int64); add("int64 near 2^62", x, "i64", exact=True)
print(json.dumps(cases))
`], { encoding: 'utf8', maxBuffer: 1 << 28 }),
) as Case[];

/** Scans `values` as records of `recordLen`, into 4 partition accumulators merged in order, as a scan does. */
function statsOf(kernel: Kernel, c: Case, recordLen: number) {
  const parts = [createAccumulator(), createAccumulator(), createAccumulator(), createAccumulator()];
  const data = c.dtype === 'f32' ? Float32Array.from(c.values) : c.dtype === 'f64' ? Float64Array.from(c.values)
    : BigInt64Array.from(c.values.map((v) => BigInt(v)));
  const records = Math.ceil(data.length / recordLen);
  for (let r = 0; r < records; r++) {
    const rec = data.subarray(r * recordLen, (r + 1) * recordLen);
    const s = rec instanceof BigInt64Array ? scanIntegers(rec, createStats()) : kernel.scan(rec, createStats());
    accumulate(parts[Math.floor((r * parts.length) / records)]!, s);
  }
  const total = createAccumulator();
  for (const p of parts) mergeAccumulators(total, p);
  return finishStats(total)!;
}

describe('value statistics with extreme magnitudes equal numpy (scaled)', () => {
  const kernels: [string, Kernel][] = [['wasm', loadKernel()], ['js', loadKernel({ forceJs: true })]];
  for (const c of CASES) {
    for (const [name, kernel] of kernels) {
      it(`${c.name} (${name} kernel)`, () => {
        for (const recordLen of [c.values.length, 784, 33, 1]) {
          const st = statsOf(kernel, c, recordLen);
          const label = `${c.name} records of ${recordLen}`;
          expect(st.values, label).toBe(c.values.length);
          expect([st.min, st.max], label).toEqual([c.min, c.max]);
          expect(Number.isFinite(st.mean) && Number.isFinite(st.std), `${label}: ${st.mean} ${st.std}`).toBe(true);
          const big = Math.max(Math.abs(c.min), Math.abs(c.max));
          // The mean to 1e-9 of the largest magnitude (it may be ~0 from cancelling ±values); std relative.
          expect(Math.abs(st.mean! - c.mean), `${label} mean ${st.mean} vs ${c.mean}`).toBeLessThanOrEqual(1e-9 * big);
          expect(Math.abs(st.std! - c.std), `${label} std ${st.std} vs ${c.std}`).toBeLessThanOrEqual(1e-9 * c.std);
        }
      });
    }
  }
});
