/**
 * NumPy section of `npm run bench` (BENCH_ONLY=npy): a ~1 GB float32 `.npy` (2,000,000 × 128), scanned by
 * nanscan (bench/scan-child.mjs: a fresh process, default workers) and checked by numpy the way a user would
 * (np.load with mmap_mode='r', then per 8,192-row slab np.isfinite, min, max, std), runs alternating so both see
 * the same machine; medians and their ratio.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SYSTEM_PYTHON } from '../scripts/lib/caffe.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const NUMPY_CHECK = `import numpy as np, time, sys
t = time.perf_counter()
a = np.load(sys.argv[1], mmap_mode='r'); n = a.shape[0]; bad = 0
for s in range(0, n, 8192):
    b = a[s:s + 8192]
    bad += int((~np.isfinite(b)).sum()); b.min(); b.max(); b.std()
print((time.perf_counter() - t) * 1000)`;

function python(code: string, ...args: string[]): string {
  const r = spawnSync(SYSTEM_PYTHON, ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

function warm(file: string): void {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    while (readSync(fd, buf, 0, buf.length, null) > 0) { /* read and drop */ }
  } finally {
    closeSync(fd);
  }
}

export function runNpyBench(runs: number): void {
  const file = path.join(os.tmpdir(), 'nanscan-bench-npy', 'train.npy');
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    console.log(`generating ${file} (2,000,000 × 128 float32, 1.02 GB) …`);
    python(`import numpy as np, sys
a = np.lib.format.open_memmap(sys.argv[1], mode='w+', dtype='<f4', shape=(2_000_000, 128))
rng = np.random.default_rng(1)
for s in range(0, a.shape[0], 65536):
    a[s:s + 65536] = rng.standard_normal((min(65536, a.shape[0] - s), 128), dtype=np.float32)
a.flush()`, file);
  }
  warm(file);
  const scans: { ms: number; records: number; bytes: number; maxRssMiB: number; findings: number }[] = [];
  const refs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, [path.join(here, 'scan-child.mjs'), file], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(r.stderr);
    scans.push(JSON.parse(r.stdout) as (typeof scans)[number]);
    refs.push(Number(python(NUMPY_CHECK, file)));
  }
  const ms = median(scans.map((s) => s.ms));
  const ref = median(refs);
  const mb = statSync(file).size / 1e6;
  console.log(`\nNumPy .npy, ${mb.toFixed(0)} MB float32 (2,000,000 × 128), ${os.availableParallelism()} cores, ${runs} alternating runs`);
  console.log(`  nanscan, default workers: ${(mb / (ms / 1000)).toFixed(0)} MB/s (median ${ms.toFixed(0)} ms; runs ${scans.map((s) => s.ms.toFixed(0)).join(', ')}); ` +
    `${scans[0]!.records.toLocaleString('en-US')} records, findings ${scans[0]!.findings}, peak RSS ${median(scans.map((s) => s.maxRssMiB)).toFixed(0)} MiB`);
  console.log(`  numpy mmap + isfinite/min/max/std per 8,192 rows: ${(mb / (ref / 1000)).toFixed(0)} MB/s (median ${ref.toFixed(0)} ms; runs ${refs.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`  nanscan / numpy speed: ${(ref / ms).toFixed(2)}x`);
}
