/**
 * `npm run bench`: each format on a generated dataset (made once into the temp folder with the real
 * libraries), against what users would run instead, plus the kernel's GB/s. Numbers are medians of several
 * runs; compare the ratios measured in the same run — the machines are shared and noisy.
 *
 *   BENCH_RUNS=n        repetitions (default 5)
 *   BENCH_ONLY=a,b      sections: lmdb, leveldb, hdf5, npy, images, png, merge, kernel, webdataset, startup (default),
 *                       parquet (bench/parquet.ts), tfrecord (bench/tfrecord.ts), pickle (bench/pickle.ts),
 *                       scale (bench/scale.ts: peak memory from 1M to 20M records, 100M with BENCH_LARGE=1)
 *   BENCH_LARGE=1       the large sets: lmdb on 3,000,000 Datums instead of 300,000 (3.1 GB), hdf5 on 6 GiB
 *                       (6.45 GB) instead of 2 GiB. Generating them takes ~3.5 minutes and ~10 GB of the temp folder.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { benchPickle } from './pickle.js';
import { loadNativeJpeg } from '../src/decode/jpeg-native.js';
import { caffeKey, encodeDatum, mnistDatum, rng, SYSTEM_PYTHON, writeLevelDb, writeLmdb, type KV } from '../scripts/lib/caffe.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'lmdb,leveldb,hdf5,npy,images,png,merge,kernel,webdataset,startup').split(','));
const LARGE = process.env.BENCH_LARGE === '1';
const here = path.dirname(fileURLToPath(import.meta.url));
const TMP = os.tmpdir();

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

interface ScanRun { records: number; bytes: number; ms: number; maxRssMiB: number; kernel: string; findings: number }

function scanOnce(dir: string, workers?: number, env: Record<string, string> = {}): ScanRun {
  const args = [path.join(here, 'scan-child.mjs'), dir, ...(workers === undefined ? [] : [String(workers)])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as ScanRun;
}

function python(code: string, ...args: string[]): string {
  const r = spawnSync(SYSTEM_PYTHON, ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

/**
 * Reads every file under `p` once, so that the timed runs start from the page cache ("warm cache", as the
 * targets say). These VMs reclaim page cache on their own (kdamond), so a dataset written or read minutes ago
 * may be on disk again, and the first timed run would measure the disk.
 */
function warm(p: string): void {
  const st = statSync(p);
  if (st.isDirectory()) {
    for (const name of readdirSync(p)) warm(path.join(p, name));
    return;
  }
  if (!st.isFile()) return;
  const fd = openSync(p, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    while (readSync(fd, buf, 0, buf.length, null) > 0) { /* read and drop */ }
  } finally {
    closeSync(fd);
  }
}

/** One timed run of a reference: its own timing in ms and, when measured, its peak RSS (summed over its processes). */
interface RefRun { ms: number; maxRssMiB?: number }
interface Reference { name: string; run: () => RefRun }

/**
 * A Python reference that prints its time in ms as its first output word, run under ref-child.mjs so that its
 * peak RSS is summed over its pool's processes as nanscan's is over its workers.
 */
function pyRef(name: string, code: string, ...args: string[]): Reference {
  return {
    name,
    run: () => {
      const r = spawnSync(process.execPath, [path.join(here, 'ref-child.mjs'), SYSTEM_PYTHON, '-c', code, ...args],
        { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (r.status !== 0) throw new Error(r.stderr);
      const { stdout, maxRssMiB } = JSON.parse(r.stdout) as { stdout: string; maxRssMiB: number };
      return { ms: Number(stdout.split(/\s+/)[0]), maxRssMiB };
    },
  };
}

/** What compare() measured: nanscan's records and median ms, and each reference's median ms. */
interface Compared { records: number; ms: number; refMs: number[] }

/**
 * Runs nanscan (default workers, and 1 worker) and the reference commands; prints rates and their ratios. The
 * runs alternate round by round (nanscan, nanscan with 1 worker, each reference), so that a change in the
 * machine's load during the section falls on all of them alike.
 */
function compare(title: string, dir: string, unit: string, refs: readonly Reference[]): Compared {
  warm(dir);
  const scans: ScanRun[] = [];
  const single: ScanRun[] = [];
  const refRuns: RefRun[][] = refs.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    scans.push(scanOnce(dir));
    single.push(scanOnce(dir, 1));
    refs.forEach((r, j) => refRuns[j]!.push(r.run()));
  }
  const first = scans[0]!;
  const ms = median(scans.map((s) => s.ms));
  const ms1 = median(single.map((s) => s.ms));
  console.log(`\n${title} (${os.availableParallelism()} cores, kernel ${first.kernel})`);
  console.log(`  nanscan, default workers: ${fmt(first.records / (ms / 1000))} ${unit}/s, ${fmt(first.bytes / 1e6 / (ms / 1000))} MB/s` +
    ` (median of ${RUNS}: ${ms.toFixed(0)} ms for ${fmt(first.records)} ${unit}, ${(first.bytes / 1e6).toFixed(0)} MB)`);
  console.log(`  nanscan, 1 worker:        ${fmt(first.records / (ms1 / 1000))} ${unit}/s (${ms1.toFixed(0)} ms); default / 1 worker: ${(ms1 / ms).toFixed(2)}x`);
  refs.forEach((r, j) => {
    const runs = refRuns[j]!;
    const refMs = median(runs.map((x) => x.ms));
    const rss = runs.flatMap((x) => (x.maxRssMiB === undefined ? [] : [x.maxRssMiB]));
    console.log(`  ${r.name}: ${fmt(first.records / (refMs / 1000))} ${unit}/s, ${fmt(first.bytes / 1e6 / (refMs / 1000))} MB/s` +
      ` (${refMs.toFixed(0)} ms); nanscan / it: ${(refMs / ms).toFixed(2)}x` +
      (rss.length > 0 ? `; its peak RSS ${median(rss).toFixed(0)} MiB median` : ''));
  });
  console.log(`  peak RSS: ${median(scans.map((s) => s.maxRssMiB)).toFixed(0)} MiB median, ${Math.max(...scans.map((s) => s.maxRssMiB)).toFixed(0)} MiB max; findings: ${first.findings}`);
  return { records: first.records, ms, refMs: refRuns.map((runs) => median(runs.map((x) => x.ms))) };
}

// What a user would write instead: PIL open().load() in a process pool of one process per core.
const PIL_POOL = `import sys, time
from multiprocessing import Pool
from PIL import Image
def load(p):
    with Image.open(p) as im: im.load()
    return 1
files = open(sys.argv[1]).read().split('\\n')
t = time.perf_counter()
with Pool() as pool: n = sum(pool.imap_unordered(load, files, chunksize=64))
print((time.perf_counter() - t) * 1000)`;

/** Compares a class-folder image tree with the PIL pool over the same files; returns the files and the timings. */
function compareImageFolder(title: string, folder: string, name: string): { files: string[]; compared: Compared } {
  const files = readdirSync(folder).flatMap((c) => readdirSync(path.join(folder, c)).map((f) => path.join(folder, c, f)));
  const listFile = path.join(TMP, `nanscan-bench-${name}-files.txt`);
  writeFileSync(listFile, files.join('\n'));
  const hasPil = spawnSync(SYSTEM_PYTHON, ['-c', 'import PIL'], { encoding: 'utf8' }).status === 0;
  const compared = compare(title, folder, 'images',
    hasPil ? [pyRef('PIL open().load() in a process pool (python3-pil)', PIL_POOL, listFile)] : []);
  if (!hasPil) console.log('  (install python3-pil for the PIL reference)');
  return { files, compared };
}

/**
 * What the JPEG decoder itself allows: libjpeg-turbo through the native addon, at the 1/8 scale the integrity
 * check uses, one image at a time in this thread, over the first `n` files (in memory, and read one by one as a
 * worker does); best of 3 rounds. Times the number of cores, it is what a scanner with no other cost would reach.
 */
function jpegCeiling(files: readonly string[], c: Compared, n = 4000): void {
  const native = loadNativeJpeg();
  if (native === null) {
    console.log('  (native JPEG addon not built: no decoder ceiling)');
    return;
  }
  const some = files.slice(0, n);
  const bufs = some.map((f) => readFileSync(f));
  const out = new Uint8Array(1 << 20);
  const best = (decode: () => void): number => {
    let ms = Infinity;
    for (let round = 0; round < 3; round++) {
      const t = performance.now();
      decode();
      ms = Math.min(ms, performance.now() - t);
    }
    return some.length / (ms / 1000);
  };
  const inMemory = best(() => { for (const b of bufs) native.decode(b, 50_000_000, out, 8); });
  const withRead = best(() => { for (const f of some) native.decode(readFileSync(f), 50_000_000, out, 8); });
  const cores = os.availableParallelism();
  const ours = c.records / (c.ms / 1000);
  console.log(`  ${native.version} alone, 1/8 scale, one thread: ${fmt(inMemory)} images/s (files in memory), ` +
    `${fmt(withRead)} with readFileSync; × ${cores} cores: ${fmt(inMemory * cores)} images/s, which nanscan reaches at ` +
    `${(100 * ours / (inMemory * cores)).toFixed(0)}%` +
    (c.refMs[0] === undefined ? '' : `; that ceiling / the PIL pool: ${((inMemory * cores) / (c.records / (c.refMs[0] / 1000))).toFixed(2)}x`));
}

async function datums(name: string, n: number, write: (dir: string, recs: Iterable<KV>) => Promise<void>): Promise<string> {
  const dir = path.join(TMP, `nanscan-bench-${name}-${n}`);
  if (existsSync(path.join(dir, 'CURRENT')) || existsSync(path.join(dir, 'data.mdb'))) return dir;
  console.log(`generating ${dir} …`);
  const next = rng(7);
  function* records(): Generator<KV> {
    for (let i = 0; i < n; i++) yield [caffeKey(i), mnistDatum(i, Math.floor(next() * 10), next)];
  }
  // Written under another name and renamed: an interrupted run leaves no database that looks complete.
  await write(`${dir}.part`, records());
  renameSync(`${dir}.part`, dir);
  return dir;
}

const PY_LMDB_ITER = `import lmdb,time,sys
env=lmdb.open(sys.argv[1],readonly=True,lock=False)
t=time.perf_counter()
with env.begin() as txn:
  for k,v in txn.cursor(): pass
print((time.perf_counter()-t)*1000)`;

const PLYVEL_ITER = `import plyvel,time,sys,shutil,tempfile,os
d=tempfile.mkdtemp(); c=os.path.join(d,'db'); shutil.copytree(sys.argv[1],c)
db=plyvel.DB(c)
t=time.perf_counter()
for k,v in db.iterator(): pass
print((time.perf_counter()-t)*1000)
db.close(); shutil.rmtree(d)`;

if (ONLY.has('pickle')) benchPickle(RUNS);
if (ONLY.has('scale')) (await import('./scale.js')).benchScale(RUNS, LARGE);

/**
 * What a user would write to check a Datum LMDB: py-lmdb + numpy in a pool of 2 processes, each iterating its
 * half of the key range (the keys are convert_mnist_data's `%08d`), taking the Datum's `data` bytes by parsing
 * the protobuf fields by hand, and checking the pixels as float32. Prints ms, then the records seen.
 */
const PY_LMDB_POOL = `import lmdb, numpy as np, sys, time
from multiprocessing import Pool
PATH = sys.argv[1]
def varint(v, i):
    r = s = 0
    while True:
        b = v[i]; i += 1; r |= (b & 0x7f) << s; s += 7
        if b < 0x80: return r, i
def datum_data(v):
    i, n = 0, len(v)
    while i < n:
        tag, i = varint(v, i)
        wt = tag & 7
        if wt == 0: _, i = varint(v, i)
        elif wt == 2:
            ln, i = varint(v, i)
            if tag >> 3 == 4: return v[i:i + ln]
            i += ln
        elif wt == 5: i += 4
        elif wt == 1: i += 8
        else: raise ValueError('wire type %d' % wt)
    return b''
def check(bounds):
    lo, hi = bounds
    env = lmdb.open(PATH, readonly=True, lock=False)
    n = bad = 0
    with env.begin(buffers=True) as txn:
        cur = txn.cursor()
        if cur.set_range(lo):
            for k, v in cur:
                if hi is not None and bytes(k) >= hi: break
                px = np.frombuffer(datum_data(v), dtype=np.uint8).astype(np.float32)
                if not np.isfinite(px).all(): bad += 1
                px.min(); px.max(); px.std()
                n += 1
    env.close()
    return n
entries = lmdb.open(PATH, readonly=True, lock=False).stat()['entries']
mid = b'%08d' % (entries // 2)
t = time.perf_counter()
with Pool(2) as pool: n = sum(pool.map(check, [(b'', mid), (mid, None)]))
ms = (time.perf_counter() - t) * 1000
assert n == entries, (n, entries)
print(ms, n)`;

if (ONLY.has('lmdb')) {
  const n = LARGE ? 3_000_000 : 300_000;
  const dir = await datums('lmdb', n, writeLmdb);
  compare(`LMDB, ${fmt(n)} raw 1×28×28 Datums`, dir, 'records', [
    pyRef('py-lmdb + numpy pool of 2 (Datum data parsed, isfinite/min/max/std as float32)', PY_LMDB_POOL, dir),
    pyRef('py-lmdb cursor iteration, no decoding, no checks', PY_LMDB_ITER, dir),
  ]);
}

if (ONLY.has('leveldb')) {
  const dir = await datums('leveldb', 300_000, (d, r) => writeLevelDb(d, r, 'caffe'));
  compare('LevelDB, 300,000 raw 1×28×28 Datums (convert_imageset options, compacted)', dir, 'records',
    [pyRef('plyvel iteration of an opened copy, no decoding', PLYVEL_ITER, dir)]);
}

if (ONLY.has('hdf5')) {
  // 174,763 or 524,288 rows × 3·32·32 float32: 2 GiB, or 6 GiB (6.45 GB) with BENCH_LARGE=1; the same layout.
  const rows = LARGE ? 524_288 : 174_763;
  const file = path.join(TMP, LARGE ? 'nanscan-bench-hdf5-large' : 'nanscan-bench-hdf5', 'train.h5');
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    console.log(`generating ${file} (${(rows * 3 * 32 * 32 * 4 / 2 ** 30).toFixed(0)} GiB float32, chunked (64,3,32,32)) …`);
    // Written under another name and renamed: an interrupted run leaves no file that looks complete.
    python(`import h5py, numpy as np, sys
n = int(sys.argv[2])
with h5py.File(sys.argv[1], 'w') as f:
    d = f.create_dataset('data', shape=(n, 3, 32, 32), dtype='float32', chunks=(64, 3, 32, 32))
    rng = np.random.default_rng(1)
    for s in range(0, n, 4096):
        e = min(n, s + 4096)
        d[s:e] = rng.standard_normal((e - s, 3, 32, 32), dtype=np.float32)
    f.create_dataset('label', data=(np.arange(n) % 10).astype('int32'))`, `${file}.part`, String(rows));
    renameSync(`${file}.part`, file);
  }
  // What a user would write instead: h5py reading slabs into a reused buffer, numpy checking them.
  const H5PY_CHECK = `import h5py, numpy as np, time, sys
f = h5py.File(sys.argv[1], 'r'); d = f['data']; n = d.shape[0]; buf = np.empty((1024,) + d.shape[1:], dtype=d.dtype)
t = time.perf_counter(); bad = 0
for s in range(0, n, 1024):
    e = min(n, s + 1024); b = buf[:e - s]; d.read_direct(b, np.s_[s:e], np.s_[0:e - s])
    bad += int((~np.isfinite(b)).sum()); b.min(); b.max(); b.std()
print((time.perf_counter() - t) * 1000)`;
  compare(`HDF5, ${(statSync(file).size / 1e9).toFixed(2)} GB float32 (${fmt(rows)} × 3×32×32), chunked`, file, 'rows',
    [pyRef('h5py read_direct + numpy isfinite/min/max/std, 1024-row slabs', H5PY_CHECK, file)]);
  // The same scan with every row read through h5wasm (NANSCAN_HDF5_DIRECT=0): what direct reads are worth.
  // Interleaved, so that both see the same machine.
  const pairs = Array.from({ length: RUNS }, () => [scanOnce(path.dirname(file), undefined, { NANSCAN_HDF5_DIRECT: '0' }).ms, scanOnce(path.dirname(file)).ms]);
  const viaH5 = median(pairs.map((p) => p[0]!));
  const direct = median(pairs.map((p) => p[1]!));
  console.log(`  rows through h5wasm instead of direct reads: ${fmt(statSync(file).size / 1e6 / (viaH5 / 1000))} MB/s` +
    ` (${viaH5.toFixed(0)} ms); direct reads, same runs: ${direct.toFixed(0)} ms, ${(viaH5 / direct).toFixed(2)}x`);
}

if (ONLY.has('npy')) {
  (await import('./npy.js')).runNpyBench(RUNS);
}

if (ONLY.has('images')) {
  const folder = path.join(TMP, 'nanscan-bench-jpeg-folder');
  const distinct = 200;
  const jpegs: Buffer[] = [];
  const makeJpegs = async (): Promise<void> => {
    if (jpegs.length > 0) return;
    for (let i = 0; i < distinct; i++) {
      const next = rng(1000 + i);
      const px = Buffer.alloc(256 * 256 * 3);
      for (let p = 0; p < px.length; p++) px[p] = ((p % 768) / 3 + next() * 40) & 0xff;
      jpegs.push(await sharp(px, { raw: { width: 256, height: 256, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
    }
  };
  if (!existsSync(path.join(folder, 'c9'))) {
    console.log(`generating ${folder} (20,000 256×256 JPEGs in 10 class folders) …`);
    await makeJpegs();
    for (let i = 0; i < 20_000; i++) {
      const d = path.join(folder, `c${i % 10}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, `${i}.jpg`), jpegs[i % distinct]!);
    }
  }
  const lmdbDir = path.join(TMP, 'nanscan-bench-jpeg-lmdb');
  if (!existsSync(path.join(lmdbDir, 'data.mdb'))) {
    console.log(`generating ${lmdbDir} (50,000 encoded 256×256 JPEG Datums) …`);
    await makeJpegs();
    function* records(): Generator<KV> {
      for (let i = 0; i < 50_000; i++) yield [caffeKey(i, `${i}.jpg`), encodeDatum({ data: jpegs[i % distinct]!, label: i % 10, encoded: true })];
    }
    await writeLmdb(lmdbDir, records());
  }
  const { files, compared } = compareImageFolder('Image folder, 20,000 256×256 JPEGs', folder, 'jpeg');
  jpegCeiling(files, compared);
  compare('LMDB, 50,000 encoded 256×256 JPEG Datums', lmdbDir, 'images', []);
  console.log(`  (folder size: ${(files.reduce((n, f) => n + statSync(f).size, 0) / 1e6).toFixed(0)} MB)`);
}

if (ONLY.has('png')) {
  // BasicSR-style datasets store PNG (lossless crops): 10,000 256×256 RGB PNGs with noise, as sharp writes them.
  const folder = path.join(TMP, 'nanscan-bench-png-folder');
  if (!existsSync(path.join(folder, 'c9'))) {
    console.log(`generating ${folder} (10,000 256×256 PNGs in 10 class folders) …`);
    const pngs: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      const next = rng(2000 + i);
      const px = Buffer.alloc(256 * 256 * 3);
      for (let p = 0; p < px.length; p++) px[p] = ((p % 768) / 3 + next() * 24) & 0xff;
      pngs.push(await sharp(px, { raw: { width: 256, height: 256, channels: 3 } }).png().toBuffer());
    }
    for (let i = 0; i < 10_000; i++) {
      const d = path.join(folder, `c${i % 10}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, `${i}.png`), pngs[i % pngs.length]!);
    }
  }
  const { files } = compareImageFolder('Image folder, 10,000 256×256 PNGs', folder, 'png');
  console.log(`  (folder size: ${(files.reduce((n, f) => n + statSync(f).size, 0) / 1e6).toFixed(0)} MB)`);
}

if (ONLY.has('webdataset')) await (await import('./webdataset.js')).benchWebdataset(RUNS);

if (ONLY.has('merge')) {
  // 1,000 shard reports of the 300k-record LMDB, made in-process, then merged: time and memory of the merge.
  const dir = await datums('lmdb', 300_000, writeLmdb);
  const shardsDir = path.join(TMP, 'nanscan-bench-shards');
  const n = 1000;
  if (!existsSync(path.join(shardsDir, `s${n}.json`))) {
    console.log(`writing ${n} shard reports into ${shardsDir} …`);
    mkdirSync(shardsDir, { recursive: true });
    const { scan } = (await import('../dist/index.js')) as typeof import('../src/index.js');
    for (let i = 1; i <= n; i++) {
      const r = await scan(dir, { workers: 0, shard: { index: i, count: n } });
      writeFileSync(path.join(shardsDir, `s${i}.json`), JSON.stringify(r));
    }
  }
  const MERGE = `import { readFileSync } from 'node:fs';
import { mergeReports } from '${path.join(here, '..', 'dist', 'index.js')}';
const files = process.argv.slice(1);
const t0 = performance.now();
const reports = files.map((f) => JSON.parse(readFileSync(f, 'utf8')));
const merged = mergeReports(reports);
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ ms, records: merged.summary.records, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));`;
  {
    const count = n;
    const files = Array.from({ length: count }, (_, i) => path.join(shardsDir, `s${i + 1}.json`));
    const runs = Array.from({ length: RUNS }, () => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', MERGE, ...files], { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (r.status !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout) as { ms: number; records: number; maxRssMiB: number };
    });
    const ms = median(runs.map((r) => r.ms));
    console.log(`\nMerge of ${count} shard reports (${fmt(runs[0]!.records)} records): ${ms.toFixed(0)} ms, ` +
      `${(ms / (count / 100)).toFixed(0)} ms per 100 shards (reading the JSON included), peak RSS ${median(runs.map((r) => r.maxRssMiB)).toFixed(0)} MiB`);
  }
}

if (ONLY.has('tfrecord')) {
  await (await import('./tfrecord.js')).runTfrecordBench(RUNS);
}

if (ONLY.has('kernel')) {
  const kernelBench = path.join(here, 'kernel.mjs');
  const { runKernelBench } = (await import(kernelBench)) as { runKernelBench: () => Promise<unknown> };
  console.log('\nKernel (GB/s include the copy into wasm memory)');
  console.log(JSON.stringify(await runKernelBench(), null, 1));
}

if (ONLY.has('parquet')) await (await import('./parquet.js')).benchParquet(RUNS);

if (ONLY.has('startup')) {
  // What a scan of a small dataset costs on top of starting Node: the nanscan command on a 600-record LMDB and
  // a 1,000-row HDF5 file, against `node -e 0`, alternating round by round. Wall time of the whole process.
  const lmdbDir = path.join(here, '..', 'fixtures', 'demo', 'mnist_lmdb');
  const h5 = path.join(TMP, 'nanscan-bench-hdf5-small', 'small.h5');
  if (!existsSync(h5)) {
    mkdirSync(path.dirname(h5), { recursive: true });
    python(`import h5py, numpy as np, sys
rng = np.random.default_rng(3)
with h5py.File(sys.argv[1], 'w') as f:
    f.create_dataset('data', data=rng.random((1000, 1, 28, 28), dtype=np.float32), chunks=(64, 1, 28, 28))
    f.create_dataset('label', data=(np.arange(1000) % 10).astype('int32'))`, `${h5}.part`);
    renameSync(`${h5}.part`, h5);
  }
  const cli = path.join(here, '..', 'dist', 'bundle', 'nanscan.cjs');
  const wall = (args: string[]): number => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    const ms = performance.now() - t0;
    // Exit code 1 means findings (the demo LMDB has some); 2 means the scan failed.
    if (r.status !== 0 && r.status !== 1) throw new Error(`${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
    return ms;
  };
  const rounds = 15;
  const bare: number[] = [];
  const lmdbMs: number[] = [];
  const h5Ms: number[] = [];
  for (let i = 0; i < rounds; i++) {
    bare.push(wall(['-e', '0']));
    lmdbMs.push(wall([cli, 'scan', lmdbDir, '-q', '--no-progress']));
    h5Ms.push(wall([cli, 'scan', h5, '-q', '--no-progress']));
  }
  const b = median(bare);
  console.log(`\nStart-up: wall time of the whole command, median of ${rounds} alternating rounds`);
  console.log(`  node -e 0: ${b.toFixed(0)} ms`);
  console.log(`  nanscan scan <LMDB, 600 raw 28×28 Datums (fixtures/demo/mnist_lmdb)> -q --no-progress: ${median(lmdbMs).toFixed(0)} ms (+${(median(lmdbMs) - b).toFixed(0)} ms)`);
  console.log(`  nanscan scan <HDF5, 1,000 × 1×28×28 float32> -q --no-progress: ${median(h5Ms).toFixed(0)} ms (+${(median(h5Ms) - b).toFixed(0)} ms)`);
}
