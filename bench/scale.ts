/**
 * Memory at scale (BENCH_ONLY=scale): LMDBs of 1, 5 and 20 million small float Datums (4 values, labels of 10
 * classes; 100 million too with BENCH_LARGE=1: 4.6 GB, ~2.5 minutes to write), written with py-lmdb, each scanned
 * by nanscan with its default workers. Prints records/s and the peak RSS summed over the process and its workers,
 * and what the peak gains a record between sizes: the labels are tallied as partitions finish and dropped, so
 * the main process does not keep a byte a record.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SYSTEM_PYTHON } from '../scripts/lib/caffe.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Caffe Datums written as convert_imageset would for float data: channels 4, height 1, width 1, label, four
// float_data values (one tag and four bytes each, as Caffe's proto2 serialiser writes a repeated float).
const WRITE = `import lmdb, struct, sys
d, n = sys.argv[1], int(sys.argv[2])
env = lmdb.open(d, map_size=1 << 36, writemap=True, sync=False)
t = env.begin(write=True)
for i in range(n):
    v = bytes([0x08, 4, 0x10, 1, 0x18, 1, 0x28, i % 10])
    for k in range(4):
        v += b'\\x35' + struct.pack('<f', ((i * 7 + k) % 1000) / 100.0)
    t.put(b'%010d' % i, v, append=True)
    if i % 500000 == 499999:
        t.commit(); t = env.begin(write=True)
t.commit(); env.sync(); env.close()`;

interface ScanRun { records: number; ms: number; maxRssMiB: number }

export function benchScale(runs: number, large: boolean): void {
  const sizes = [1_000_000, 5_000_000, 20_000_000, ...(large ? [100_000_000] : [])];
  const rows: { n: number; ms: number; rss: number }[] = [];
  for (const n of sizes) {
    const dir = path.join(os.tmpdir(), `nanscan-bench-scale-${n}`);
    if (!existsSync(path.join(dir, 'data.mdb'))) {
      console.log(`generating ${dir} (${n.toLocaleString('en-US')} float Datums) …`);
      const w = spawnSync(SYSTEM_PYTHON, ['-c', WRITE, dir, String(n)], { encoding: 'utf8' });
      if (w.status !== 0) throw new Error(w.stderr);
    }
    // Read once first: the timed runs start from the page cache.
    spawnSync('cat', [path.join(dir, 'data.mdb')], { stdio: ['ignore', 'ignore', 'ignore'] });
    const got: ScanRun[] = [];
    for (let i = 0; i < (n >= 100_000_000 ? 1 : runs); i++) {
      const r = spawnSync(process.execPath, [path.join(here, 'scan-child.mjs'), dir], { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (r.status !== 0) throw new Error(r.stderr);
      const run = JSON.parse(r.stdout) as ScanRun;
      if (run.records !== n) throw new Error(`${dir}: ${run.records} records scanned, ${n} written`);
      got.push(run);
    }
    rows.push({ n, ms: median(got.map((g) => g.ms)), rss: median(got.map((g) => g.maxRssMiB)) });
  }
  console.log(`\nMemory at scale: LMDB of float Datums, default workers (${os.availableParallelism()} cores; medians of ${runs}, one run at 100M)`);
  rows.forEach((r, i) => {
    const prev = rows[i - 1];
    const perRecord = prev === undefined ? '' : `; +${((r.rss - prev.rss) * 2 ** 20 / (r.n - prev.n)).toFixed(2)} bytes a record over ${prev.n.toLocaleString('en-US')}`;
    console.log(`  ${r.n.toLocaleString('en-US').padStart(11)} records: ${(r.ms / 1000).toFixed(2)} s, ` +
      `${Math.round(r.n / r.ms * 1000).toLocaleString('en-US')} records/s, peak RSS ${r.rss.toFixed(0)} MiB${perRecord}`);
  });
}
