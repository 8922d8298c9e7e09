/**
 * Differential fuzz of HDF5 direct reads (src/readers/hdf5/direct.ts): copies a folder holding a Caffe HDF5Data
 * list, damages the metadata of one listed file per mutant (1–3 random bytes in its first 6 KiB or last 4 KiB,
 * where headers, B-trees, heaps and chunk indexes lie), and scans the list with the built CLI twice, with direct
 * reads on and off (`NANSCAN_HDF5_DIRECT=0`: every row through h5wasm). The record counts and the findings
 * (kind, file, field, row, count) must be the same: direct reads may only ever be faster, never different.
 * The copy lives in the temp folder; the source folder is only read.
 *
 *   npx tsx scripts/fuzz-hdf5-direct.ts <folder> <list file in it> [--seed K] [--count N] [--only I]
 *   npx tsx scripts/fuzz-hdf5-direct.ts fixtures/hdf5/plain train.txt --seed 2 --count 400
 *
 * Exits 1 when any mutant differs, printing both summaries; `--only I` replays mutant I of the seed.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rng } from './lib/caffe.js';

const CLI = fileURLToPath(new URL('../dist/bundle/nanscan.cjs', import.meta.url));

interface Finding { kind: string; file?: string; field?: string; index?: number; count?: number }

/** What one scan found, as comparable text (record counts and findings, sorted). */
function summary(list: string, env: Record<string, string>): string {
  const r = spawnSync(process.execPath, [CLI, 'scan', '--json', '-', list, '--workers', '0'], {
    encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 1 << 26,
  });
  if (r.status === null || r.status > 1) return `exit ${r.status ?? r.signal}: ${r.stderr.slice(0, 300)}`;
  const report = JSON.parse(r.stdout) as { datasets: { records: number; findings: Finding[] }[] };
  return JSON.stringify(report.datasets.map((d) => [
    d.records, d.findings.map((f) => `${f.kind}|${f.file}|${f.field}|${f.index}|${f.count}`).sort(),
  ]));
}

function main(): number {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const [folder, listName] = args;
  if (folder === undefined || listName === undefined || listName.startsWith('--')) {
    process.stderr.write('usage: fuzz-hdf5-direct.ts <folder> <list file in it> [--seed K] [--count N] [--only I]\n');
    return 2;
  }
  const seed = opt('--seed', 1);
  const count = opt('--count', 100);
  const only = opt('--only', -1);
  const files = readFileSync(path.join(folder, listName), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const next = rng(seed);
  const work = mkdtempSync(path.join(os.tmpdir(), 'nanscan-direct-fuzz-'));
  let same = 0;
  let differ = 0;
  try {
    for (let i = 0; i < count; i++) {
      const victim = files[Math.floor(next() * files.length)] as string;
      // Drawn before --only skips anything, so that mutant i is the same bytes however it is run.
      const edits: [number, number, number][] = [];
      for (let k = 1 + Math.floor(next() * 3); k > 0; k--) edits.push([next(), next(), next()]);
      if (only >= 0 && i !== only) continue;
      const copy = path.join(work, 'src');
      rmSync(copy, { recursive: true, force: true });
      cpSync(folder, copy, { recursive: true });
      const p = path.join(copy, victim);
      const buf = readFileSync(p);
      const where: number[] = [];
      for (const [a, b, c] of edits) {
        const at = a < 0.5 ? Math.floor(b * Math.min(6144, buf.length)) : buf.length - 1 - Math.floor(b * Math.min(4096, buf.length));
        buf[at] = Math.floor(c * 256);
        where.push(at);
      }
      writeFileSync(p, buf);
      const list = path.join(copy, listName);
      const direct = summary(list, {});
      const viaHdf5 = summary(list, { NANSCAN_HDF5_DIRECT: '0' });
      if (direct === viaHdf5) {
        same++;
        continue;
      }
      differ++;
      process.stdout.write(`mutant ${i}: ${victim} bytes ${where.join(', ')}\n  direct: ${direct}\n  h5wasm: ${viaHdf5}\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(`${same + differ} mutants, ${differ} differ\n`);
  return differ === 0 ? 0 : 1;
}

process.exitCode = main();
