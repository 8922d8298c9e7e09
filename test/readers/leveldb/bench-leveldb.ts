/**
 * Speed of the LevelDB reader vs LevelDB itself (plyvel), on the measured shape: 50k records of ~2 KiB,
 * Snappy, 64 KiB blocks, written by plyvel. Not a test: `npx tsx test/readers/leveldb/bench-leveldb.ts [dir]`.
 * Our side: open + plan(1) + read everything, one thread, CRC on every block. plyvel: iteration of an open
 * copy (opening replays and rewrites, so it is not timed), with and without verify_checksums. Medians of 5, as
 * wall time and as CPU time of the process (steadier than wall time on a machine shared with other jobs).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { leveldbReader } from '../../../src/readers/leveldb/index.js';
import type { RecordBatch } from '../../../src/readers/types.js';
import { copyDb, PYTHON, runPython } from './helpers.js';

const REPS = 5;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-leveldb-bench-'));
const dir = process.argv[2] ?? path.join(tmp, 'bench');
if (!fs.existsSync(dir)) runPython([{ op: 'make', kind: 'bench', dir }], tmp);

const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!;
const times: number[] = [];
const cpuTimes: number[] = [];
const cpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
let records = 0;
let bytes = 0;
for (let rep = 0; rep < REPS + 1; rep++) {
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const reader = await leveldbReader.open({ format: 'leveldb', path: 'db', absPath: dir });
  records = 0;
  bytes = 0;
  for (const p of reader.plan(1)) {
    for (const batch of reader.read(p) as Iterable<RecordBatch>) {
      for (const r of batch.records) {
        records++;
        if (r.kind === 'kv') bytes += r.value.length;
      }
    }
  }
  reader.close();
  if (rep > 0) {
    // the first run warms caches and the JIT
    times.push((performance.now() - t0) / 1000);
    cpuTimes.push(cpuSeconds() - c0);
  }
}
const rate = (label: string, s: number): string =>
  `${label} ${s.toFixed(3)} s: ${(records / s / 1000).toFixed(0)}k rec/s, ${(bytes / 1e6 / s).toFixed(0)} MB/s`;
console.log(`nanscan leveldb reader: ${records} records, ${(bytes / 1e6).toFixed(1)} MB of values; ` +
  `${rate('wall', median(times))}; ${rate('CPU', median(cpuTimes))} (medians of ${REPS})`);

const copy = copyDb(dir, path.join(tmp, 'plyvel-copy'));
const py = `
import plyvel, sys, time
db = plyvel.DB(sys.argv[1])
for verify in (False, True):
    ts = []; cs = []
    for rep in range(${REPS + 1}):
        t = time.perf_counter(); c = time.process_time(); n = 0; b = 0
        for k, v in db.iterator(verify_checksums=verify, fill_cache=False):
            n += 1; b += len(v)
        ts.append(time.perf_counter() - t); cs.append(time.process_time() - c)
    s = sorted(ts[1:])[len(ts[1:]) // 2]; cpu = sorted(cs[1:])[len(cs[1:]) // 2]
    print(f'plyvel (verify_checksums={verify}): {n} records, {b/1e6:.1f} MB; wall {s:.3f} s: {n/s/1000:.0f}k rec/s, {b/1e6/s:.0f} MB/s; '
          f'CPU {cpu:.3f} s: {n/cpu/1000:.0f}k rec/s, {b/1e6/cpu:.0f} MB/s (medians of ${REPS})')
db.close()
`;
process.stdout.write(execFileSync(PYTHON, ['-c', py, copy]));
fs.rmSync(tmp, { recursive: true, force: true });
