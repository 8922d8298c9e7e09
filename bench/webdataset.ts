/**
 * WebDataset bench (`BENCH_ONLY=webdataset npm run bench`): 20,000 256×256 JPEG samples (`.jpg` + `.cls`) in 10 tar
 * shards written by Python's tarfile, scanned by nanscan and by what users run instead: Python's tarfile iterating
 * each shard with PIL `Image.open().load()` on every image and `int()` on every label, one shard per task in a
 * process pool of 2 (the cores here). Runs alternate (nanscan, then Python) so that both see the same machine load;
 * medians of BENCH_RUNS (default 5), and their ratio.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { rng, SYSTEM_PYTHON } from '../scripts/lib/caffe.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SAMPLES = 20_000;
const SHARDS = 10;
const DISTINCT = 200;

/** Writes the shards with tarfile (as webdataset.ShardWriter does) from DISTINCT JPEGs made by sharp. */
const WRITE = String.raw`
import io, os, sys, tarfile
src, out, samples, shards = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
jpegs = [open(os.path.join(src, f'{i}.jpg'), 'rb').read() for i in range(len(os.listdir(src)))]
per = samples // shards
for s in range(shards):
    with tarfile.open(os.path.join(out, f'shard-{s:06d}.tar'), 'w') as t:
        for i in range(s * per, (s + 1) * per):
            for ext, data in (('jpg', jpegs[i % len(jpegs)]), ('cls', str(i % 10).encode())):
                ti = tarfile.TarInfo(f'{i:06d}.{ext}')
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
`;

/** What users run instead: tarfile + PIL in a pool of 2, one shard per task; prints milliseconds. */
const REFERENCE = String.raw`
import io, os, sys, tarfile, time
from multiprocessing import Pool
from PIL import Image
def shard(p):
    n = 0
    with tarfile.open(p) as t:
        for m in t:
            if not m.isreg(): continue
            data = t.extractfile(m).read()
            if m.name.endswith('.jpg'):
                with Image.open(io.BytesIO(data)) as im: im.load()
                n += 1
            elif m.name.endswith('.cls'):
                int(data)
    return n
d = sys.argv[1]
files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith('.tar'))
t0 = time.perf_counter()
with Pool(2) as pool: n = sum(pool.imap_unordered(shard, files))
print((time.perf_counter() - t0) * 1000)
`;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface ScanRun { records: number; bytes: number; ms: number; maxRssMiB: number; findings: number }

export async function benchWebdataset(runs: number): Promise<void> {
  const dir = path.join(os.tmpdir(), 'nanscan-bench-webdataset');
  if (!existsSync(path.join(dir, `shard-${String(SHARDS - 1).padStart(6, '0')}.tar`))) {
    console.log(`generating ${dir} (${SAMPLES.toLocaleString('en-US')} 256×256 JPEG samples in ${SHARDS} shards) …`);
    const src = path.join(os.tmpdir(), 'nanscan-bench-webdataset-jpegs');
    mkdirSync(src, { recursive: true });
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < DISTINCT; i++) {
      const next = rng(1000 + i);
      const px = Buffer.alloc(256 * 256 * 3);
      for (let p = 0; p < px.length; p++) px[p] = ((p % 768) / 3 + next() * 40) & 0xff;
      writeFileSync(path.join(src, `${i}.jpg`), await sharp(px, { raw: { width: 256, height: 256, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
    }
    const w = spawnSync(SYSTEM_PYTHON, ['-c', WRITE, src, dir, String(SAMPLES), String(SHARDS)], { encoding: 'utf8' });
    if (w.status !== 0) throw new Error(w.stderr);
  }
  const nanscan: ScanRun[] = [];
  const reference: number[] = [];
  for (let r = 0; r < runs; r++) {
    const s = spawnSync(process.execPath, [path.join(here, 'scan-child.mjs'), dir], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (s.status !== 0) throw new Error(s.stderr);
    nanscan.push(JSON.parse(s.stdout) as ScanRun);
    const p = spawnSync(SYSTEM_PYTHON, ['-c', REFERENCE, dir], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(p.stderr);
    reference.push(Number(p.stdout.trim()));
  }
  const first = nanscan[0]!;
  const ms = median(nanscan.map((s) => s.ms));
  const refMs = median(reference);
  const rate = (n: number, t: number): string => Math.round(n / (t / 1000)).toLocaleString('en-US');
  console.log(`\nWebDataset, ${SAMPLES.toLocaleString('en-US')} 256×256 JPEG samples in ${SHARDS} tar shards (${os.availableParallelism()} cores)`);
  console.log(`  nanscan, default workers: ${rate(first.records, ms)} samples/s, ${(first.bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s` +
    ` (median of ${runs}: ${ms.toFixed(0)} ms; runs ${nanscan.map((s) => s.ms.toFixed(0)).join(', ')})`);
  console.log(`  tarfile + PIL open().load(), pool of 2: ${rate(first.records, refMs)} samples/s (median ${refMs.toFixed(0)} ms; runs ` +
    `${reference.map((x) => x.toFixed(0)).join(', ')}); nanscan / it: ${(refMs / ms).toFixed(2)}x`);
  console.log(`  peak RSS: ${median(nanscan.map((s) => s.maxRssMiB)).toFixed(0)} MiB median; findings: ${first.findings}`);
}
