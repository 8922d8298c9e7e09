/**
 * Pickled LMDB values (BENCH_ONLY=pickle): 200,000 `pickle.dumps({'x': float32[256], 'label': int})` values written
 * with py-lmdb, scanned by nanscan against what users run instead: a py-lmdb cursor, `pickle.loads` and
 * `np.isfinite(x).all()` per value, in one process and in a `multiprocessing.Pool(2)` (each worker reads half the
 * key range). Runs alternate (nanscan, single, pool, nanscan, …) so that the shared machine's noise hits all
 * alike; medians are reported.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SYSTEM_PYTHON } from '../scripts/lib/caffe.js';

const N = 200_000;
const here = path.dirname(fileURLToPath(import.meta.url));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function python(code: string, ...args: string[]): string {
  const r = spawnSync(SYSTEM_PYTHON, ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

const WRITE = `import lmdb, pickle, sys, numpy as np
n = int(sys.argv[2]); rng = np.random.default_rng(1)
env = lmdb.open(sys.argv[1], map_size=1 << 31)
for s in range(0, n, 10000):
    with env.begin(write=True) as t:
        for i in range(s, min(n, s + 10000)):
            t.put(b'%08d' % i, pickle.dumps({'x': rng.standard_normal(256).astype(np.float32), 'label': i % 10}))
env.close()`;

// One process: what a dataset check script does. Prints ms and the count of non-finite samples.
const SINGLE = `import lmdb, pickle, time, sys, numpy as np
t = time.perf_counter(); bad = 0
env = lmdb.open(sys.argv[1], readonly=True, lock=False)
with env.begin() as txn:
    for k, v in txn.cursor():
        if not np.isfinite(pickle.loads(v)['x']).all(): bad += 1
print((time.perf_counter() - t) * 1000, bad)`;

// Two processes, each over half the key range (keys are '%08d').
const POOL = `import lmdb, pickle, time, sys, numpy as np
from multiprocessing import Pool
path, n = sys.argv[1], int(sys.argv[2])
def part(r):
    env = lmdb.open(path, readonly=True, lock=False); bad = 0
    with env.begin() as txn:
        c = txn.cursor(); end = b'%08d' % r[1]
        if c.set_range(b'%08d' % r[0]):
            for k, v in c:
                if k >= end: break
                if not np.isfinite(pickle.loads(v)['x']).all(): bad += 1
    return bad
if __name__ == '__main__':
    t = time.perf_counter()
    with Pool(2) as p: bad = sum(p.map(part, [(0, n // 2), (n // 2, n)]))
    print((time.perf_counter() - t) * 1000, bad)`;

function nanscan(dir: string): { ms: number; records: number; bytes: number; findings: number } {
  const r = spawnSync(process.execPath, [path.join(here, 'scan-child.mjs'), dir], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as { ms: number; records: number; bytes: number; findings: number };
}

export function benchPickle(runs: number): void {
  const dir = path.join(os.tmpdir(), `nanscan-bench-pickle-${N}`);
  if (!existsSync(path.join(dir, 'data.mdb'))) {
    console.log(`generating ${dir} …`);
    python(WRITE, dir, String(N));
  }
  for (const f of readdirSync(dir)) readFileSync(path.join(dir, f)); // warm the page cache
  const ours: number[] = [];
  const single: number[] = [];
  const pool: number[] = [];
  let first: ReturnType<typeof nanscan> | undefined;
  for (let i = 0; i < runs; i++) {
    const s = nanscan(dir);
    first ??= s;
    ours.push(s.ms);
    single.push(Number(python(SINGLE, dir).split(' ')[0]));
    pool.push(Number(python(POOL, dir, String(N)).split(' ')[0]));
  }
  const ms = median(ours);
  const rate = (t: number): string => `${Math.round(N / (t / 1000)).toLocaleString('en-US')} records/s (${t.toFixed(0)} ms)`;
  console.log(`\nLMDB, ${N.toLocaleString('en-US')} pickled {'x': float32[256], 'label': int} (${os.availableParallelism()} cores, ${(first!.bytes / 1e6).toFixed(0)} MB, medians of ${runs} alternating runs)`);
  console.log(`  nanscan, default workers:                        ${rate(ms)}; findings ${first!.findings}`);
  console.log(`  py-lmdb + pickle.loads + np.isfinite, 1 process: ${rate(median(single))}; nanscan / it: ${(median(single) / ms).toFixed(2)}x`);
  console.log(`  the same in multiprocessing.Pool(2):             ${rate(median(pool))}; nanscan / it: ${(median(pool) / ms).toFixed(2)}x`);
}
