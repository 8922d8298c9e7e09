/**
 * `npm run bench`: the LMDB scan on 300,000 raw 28×28 Datums (generated once into the temp folder with
 * python3-lmdb), against py-lmdb iterating the same file, and the kernel's GB/s. Numbers are medians of
 * several runs; compare ratios from the same run, the machines are noisy.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { caffeKey, mnistDatum, rng, SYSTEM_PYTHON, writeLmdb, type KV } from '../scripts/lib/caffe.js';

const N = Number(process.env.BENCH_RECORDS ?? 300_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const here = path.dirname(fileURLToPath(import.meta.url));

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function makeDataset(): Promise<string> {
  const dir = path.join(os.tmpdir(), `nanscan-bench-${N}`);
  if (existsSync(path.join(dir, 'data.mdb'))) return dir;
  const next = rng(7);
  function* records(): Generator<KV> {
    for (let i = 0; i < N; i++) yield [caffeKey(i), mnistDatum(i, Math.floor(next() * 10), next)];
  }
  console.log(`generating ${N} records into ${dir} …`);
  await writeLmdb(dir, records());
  return dir;
}

function scanOnce(dir: string, workers?: number): { records: number; bytes: number; ms: number; maxRssMiB: number; kernel: string; findings: number } {
  const args = [path.join(here, 'scan-child.mjs'), dir, ...(workers === undefined ? [] : [String(workers)])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

function pyLmdbOnce(dir: string): number {
  const code = `import lmdb,time,sys
env=lmdb.open(sys.argv[1],readonly=True,lock=False)
t=time.perf_counter();n=0;b=0
with env.begin() as txn:
  for k,v in txn.cursor():
    n+=1;b+=len(v)
print((time.perf_counter()-t)*1000)`;
  const r = spawnSync(SYSTEM_PYTHON, ['-c', code, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.trim());
}

const dir = await makeDataset();
const scans = Array.from({ length: RUNS }, () => scanOnce(dir));
const single = Array.from({ length: RUNS }, () => scanOnce(dir, 1));
const py = Array.from({ length: RUNS }, () => pyLmdbOnce(dir));
const first = scans[0]!;
const ms = median(scans.map((s) => s.ms));
const ms1 = median(single.map((s) => s.ms));
const pyMs = median(py);
console.log(`\nLMDB scan, ${first.records} raw 1×28×28 Datums, ${(first.bytes / 1e6).toFixed(0)} MB data.mdb, ${os.availableParallelism()} cores, kernel ${first.kernel}`);
console.log(`  nanscan, default workers: ${(first.records / (ms / 1000)).toFixed(0)} records/s, ${(first.bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s (median of ${RUNS}: ${ms.toFixed(0)} ms)`);
console.log(`  nanscan, 1 worker:        ${(first.records / (ms1 / 1000)).toFixed(0)} records/s (${ms1.toFixed(0)} ms)`);
console.log(`  py-lmdb cursor iteration, no decoding (reference): ${(first.records / (pyMs / 1000)).toFixed(0)} records/s (${pyMs.toFixed(0)} ms)`);
console.log(`  ratio nanscan / py-lmdb iteration: ${(pyMs / ms).toFixed(2)}x; default / 1 worker: ${(ms1 / ms).toFixed(2)}x`);
console.log(`  peak RSS: ${median(scans.map((s) => s.maxRssMiB)).toFixed(0)} MiB (median), ${Math.max(...scans.map((s) => s.maxRssMiB)).toFixed(0)} MiB (max)`);
console.log(`  findings on the clean set: ${first.findings}`);

const kernelBench = path.join(here, 'kernel.mjs');
if (existsSync(kernelBench)) {
  const { runKernelBench } = (await import(kernelBench)) as { runKernelBench: () => Promise<unknown> };
  console.log('\nKernel');
  console.log(await runKernelBench());
}
