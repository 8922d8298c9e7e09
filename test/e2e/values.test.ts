/**
 * Issue 14, value checks end to end: an HDF5 file written by h5py with float64 values that overflow float32
 * (fp32_overflow, error, with the row, count and largest magnitude), values at the float16 edge (65520 and
 * the float64 right below it, which numpy rounds to 65504), an int32 field beyond float16's range, and
 * values near ±1e300 whose squares overflow: the report's mean and std stay finite and equal numpy's
 * (scaled, since numpy's own np.std overflows on them).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetReport, Report } from '../../src/types.js';
import { scanJson, type CliRun } from '../helpers/cli.js';

const PYTHON = '/usr/bin/python3';

let dir: string;
let oracle: { mean: number; std: number; min: number; max: number; values: number; fp16: number; fp32: number };
let run: CliRun;
let report: Report;
let d: DatasetReport;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nanscan-values-'));
  const py = spawnSync(PYTHON, ['-c', String.raw`
import json, sys, warnings
import h5py, numpy as np
warnings.simplefilter("ignore")
rng = np.random.default_rng(14)
data = rng.standard_normal((30, 8)) * 10
data[5, 2] = 1e39                       # float32 overflow
data[5, 6] = -3.5e38                    # float32 overflow (beyond -FLT_MAX - half an ulp)
data[9, 1] = 65520.0                    # float16 overflow (ties to even: Inf)
data[9, 4] = np.nextafter(65520.0, 0)   # rounds to 65504: fine
data[12, 0] = 3.4028235677973362e38     # rounds to FLT_MAX as float32: float16 overflow only
huge = rng.choice([-1.0, 1.0], (20, 4)) * 1e300 * (1 + rng.random((20, 4)))
counts = np.arange(60, dtype=np.int32).reshape(30, 2)
counts[3, 0] = 70000                    # an integer beyond float16's range
with h5py.File(sys.argv[1], "w") as f:
    f["data"] = data
    f["huge"] = huge
    f["counts"] = counts
x = np.concatenate([data.ravel(), huge.ravel(), counts.ravel().astype(np.float64)])
s = 2.0 ** 1000                          # a power of two: x/s is exact
print(json.dumps({"mean": float(s * np.mean(x / s)), "std": float(s * np.std(x / s)),
                  "min": float(x.min()), "max": float(x.max()), "values": int(x.size),
                  "fp16": int((np.isinf(x.astype(np.float16)) & ~np.isinf(x.astype(np.float32))).sum()),
                  "fp32": int(np.isinf(x.astype(np.float32)).sum())}))
`, path.join(dir, 'extreme.h5')], { encoding: 'utf8' });
  expect(py.status, py.stderr).toBe(0);
  oracle = JSON.parse(py.stdout) as typeof oracle;
  ({ run, report } = scanJson(['extreme.h5', '--workers', '1', '--max-examples', '100'], dir));
  d = report.datasets[0]!;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('float32 and float16 overflow and extreme statistics in an HDF5 file', () => {
  it('reports each float64 row that overflows float32 as an error with its row, count and largest magnitude', () => {
    expect(run.status).toBe(1);
    const fp32 = d.findings.filter((f) => f.kind === 'fp32_overflow');
    const row5 = fp32.find((f) => f.field === 'data')!;
    expect(row5).toMatchObject({ severity: 'error', file: 'extreme.h5', field: 'data', index: 5, count: 2 });
    expect(row5.message).toContain('first at element 2; largest magnitude 1e+39');
    // every row of 'huge' overflows float32; the counts add up to numpy's
    expect(fp32.filter((f) => f.field === 'huge').map((f) => f.index)).toEqual([...Array(20).keys()]);
    expect(d.findingCounts.fp32_overflow).toBe(21);
    expect(fp32.reduce((a, f) => a + f.count!, 0)).toBe(oracle.fp32);
    expect(d.stats!.fp32Overflow).toBe(oracle.fp32);
  });

  it('reports float16 overflow where numpy gives Inf, including integers, and not for float32 overflow', () => {
    const fp16 = d.findings.filter((f) => f.kind === 'fp16_overflow');
    expect(fp16.map((f) => [f.field, f.index, f.count])).toEqual([['counts', 3, 1], ['data', 9, 1], ['data', 12, 1]]);
    expect(d.stats!.fp16Overflow).toBe(oracle.fp16);
  });

  it('keeps mean and std finite and equal to numpy computed with scaling', () => {
    const st = d.stats!;
    expect([st.values, st.min, st.max]).toEqual([oracle.values, oracle.min, oracle.max]);
    expect(Number.isFinite(st.mean) && Number.isFinite(st.std)).toBe(true);
    expect(Math.abs(st.mean! - oracle.mean)).toBeLessThanOrEqual(1e-9 * Math.max(Math.abs(oracle.min), oracle.max));
    expect(Math.abs(st.std! - oracle.std)).toBeLessThanOrEqual(1e-9 * oracle.std);
  });
});
