/**
 * Issue 14, LMDB part: single-file environments (py-lmdb `subdir=False`) and named databases (`max_dbs`,
 * `open_db`), written with real liblmdb holding Caffe Datums. Every record of every named DB is read once, in
 * order (main DB first, then named DBs in key order), as py-lmdb iterates them; findings carry `database`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { findingFingerprint } from '../../../src/baseline.js';
import { discover } from '../../../src/discover.js';
import { describeFinding } from '../../../src/report/context.js';
import { renderText } from '../../../src/report/text.js';
import { scan } from '../../../src/index.js';
import { lmdbReader, type LmdbReader } from '../../../src/readers/lmdb/index.js';
import type { LmdbPartitionSpec } from '../../../src/readers/lmdb/plan.js';
import type { Partition, RecordBatch, Source } from '../../../src/readers/types.js';
import type { DatasetReport, Finding } from '../../../src/types.js';
import { hashTree } from '../../helpers/tree.js';
import { PYTHON } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** py-lmdb's cursor order per database ('' = main DB): [key hex, values] (duplicates counted). */
type Oracle = Record<string, Record<string, [string, number][]>>;

let tmp: string;
let oracle: Oracle;
let pristine: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-lmdb-named-'));
  const r = spawnSync(PYTHON, [path.join(here, 'make_named.py'), tmp], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(r.stderr);
  oracle = JSON.parse(r.stdout) as Oracle;
  pristine = hashTree(tmp);
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const source = (p: string): Source => ({ format: 'lmdb', path: p, absPath: p });

/** What the oracle says the reader must yield: named DBs' records in name order ("db keyhex" per record). */
function expectedRecords(layout: string): string[] {
  const out: string[] = [];
  for (const [db, rows] of Object.entries(oracle[layout]!).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    for (const [key, n] of rows) {
      // Main-DB entries of a layout with named DBs are those DBs, not records.
      if (db === '' && Object.keys(oracle[layout]!).length > 1) continue;
      for (let i = 0; i < n; i++) out.push(`${db} ${key}`);
    }
  }
  return out;
}

/** Reads every partition as a worker does: specs through JSON, a reader opened for 'read' only. */
async function readAll(p: string, parts: number): Promise<{ records: string[]; batches: RecordBatch[] }> {
  const planner = (await lmdbReader.open(source(p))) as LmdbReader;
  const plan = planner.plan(parts).map((x): Partition => JSON.parse(JSON.stringify(x)) as Partition);
  planner.close();
  const worker = await lmdbReader.open(source(p), 'read');
  const records: string[] = [];
  const batches: RecordBatch[] = [];
  try {
    for (const part of plan) {
      let index = 0;
      for (const batch of worker.read(part) as Iterable<RecordBatch>) {
        batches.push({ ...batch, records: [] });
        for (const rec of batch.records) {
          if (rec.kind !== 'kv') throw new Error('not a kv record');
          expect(rec.index).toBe(index++);
          records.push(`${rec.database ?? ''} ${Buffer.from(rec.key).toString('hex')}`);
        }
      }
    }
  } finally {
    worker.close();
  }
  return { records, batches };
}

const LAYOUTS = [
  { layout: 'single', at: 'single/train.lmdb', records: 300 },
  { layout: 'splits', at: 'splits', records: 2200 },
  { layout: 'dups', at: 'dups', records: 897 },
];

describe.each(LAYOUTS)('reader: $layout', ({ layout, at, records }) => {
  it('yields every record of every database once, in py-lmdb\'s order, for plan(1), plan(3), plan(7) and plan(64)', async () => {
    const exp = expectedRecords(layout);
    expect(exp).toHaveLength(records);
    for (const parts of [1, 3, 7, 64]) {
      const { records: got, batches } = await readAll(path.join(tmp, at), parts);
      expect(got).toEqual(exp);
      expect(batches.flatMap((b) => b.damage ?? [])).toEqual([]);
      expect(batches.flatMap((b) => b.unchecked ?? [])).toEqual([]);
      expect(batches.reduce((n, b) => n + (b.uncounted ?? 0), 0)).toBe(0);
    }
  });

  it('declares the records of every named DB (md_entries) and reports nothing unchecked', async () => {
    const r = (await lmdbReader.open(source(path.join(tmp, at)))) as LmdbReader;
    try {
      const info = r.info();
      expect(info.declaredRecords).toBe(records);
      expect(info.findings).toEqual([]);
      expect(info.unchecked).toBeUndefined();
      expect(r.subDatabases).toEqual(Object.keys(oracle[layout]!).filter((d) => d !== ''));
    } finally {
      r.close();
    }
  });
});

describe('plans over named databases', () => {
  it('split the named trees by subtree, in order, and name each tree once per partition', async () => {
    const r = (await lmdbReader.open(source(path.join(tmp, 'splits')))) as LmdbReader;
    try {
      const plan = r.plan(8);
      expect(plan.length).toBeGreaterThan(2);
      const dbs = plan.flatMap((p) => (p.spec as LmdbPartitionSpec).trees.map((t) => t.db));
      const hex = (s: string): string => Buffer.from(s).toString('hex');
      // Main DB first (its one leaf holds only the two named-DB entries), then train, then val.
      expect(dbs.filter((d, i) => d !== dbs[i - 1])).toEqual([null, hex('train'), hex('val')]);
      expect(plan.filter((p) => (p.spec as LmdbPartitionSpec).trees.some((t) => t.db === hex('train'))).length).toBeGreaterThan(1);
    } finally {
      r.close();
    }
  });
});

/** Record findings as "kind database key index". */
const located = (d: DatasetReport): string[] =>
  d.findings.filter((f) => f.key !== undefined).map((f) => `${f.kind} ${f.database ?? '-'} ${f.key} ${f.index}`).sort();

async function scanOne(p: string): Promise<DatasetReport> {
  const report = await scan([p], { cwd: tmp, workers: 0, maxExamples: 1000 });
  expect(report.datasets).toHaveLength(1);
  return report.datasets[0]!;
}

describe('scans', () => {
  it('a subdir=False file named on the command line: its path is the file', async () => {
    const d = await scanOne('single/train.lmdb');
    expect(d.path).toBe(path.join('single', 'train.lmdb'));
    expect(d.format).toBe('lmdb');
    expect(d.records).toBe(300);
    expect(d.declaredRecords).toBe(300);
    expect(located(d)).toEqual(['nan - 00000042 42']);
    expect(d.coverage.unchecked).toEqual([]);
    expect(d.complete).toBe(true);
  });

  it('named DBs train and val: every record checked, findings located by database, key and index', async () => {
    const d = await scanOne('splits');
    expect(d.records).toBe(2200);
    expect(d.declaredRecords).toBe(2200);
    // Indexes count on from the main DB through train (2000 records) into val.
    expect(located(d)).toEqual(['label_out_of_range val 00000077 2077', 'nan val 00000013 2013']);
    expect(d.findingCounts.record_count_mismatch).toBeUndefined();
    expect(d.findingCounts.unchecked).toBeUndefined();
    expect(d.coverage).toEqual({ records: 2200, checkedRecords: 2200, unchecked: [] });
    expect(d.labels!.histogram['-1']).toBe(1);
    expect(d.labels!.records).toBe(2200);
  });

  it('reports show the database: text, the shared locator, and baseline fingerprints', async () => {
    const report = await scan(['splits'], { cwd: tmp, workers: 0 });
    const text = renderText(report, { color: false });
    expect(text).toMatch(/db val key 00000077 #2077: /);
    const nan = report.datasets[0]!.findings.find((f) => f.kind === 'nan')!;
    expect(describeFinding(nan)).toMatch(/^db val, key 00000013, index 2013: /);
    // The same key in another database is another finding; findings without a database keep their fingerprint.
    expect(findingFingerprint('splits', nan)).not.toBe(findingFingerprint('splits', { ...nan, database: 'train' }));
    const { database: _, ...plain } = nan;
    const legacy = createHash('sha256')
      .update(JSON.stringify([plain.kind, 'splits', plain.key, null, null, null, null, null, null]))
      .digest('hex').slice(0, 32);
    expect(findingFingerprint('splits', plain)).toBe(legacy);
  });

  it('a DUPSORT named DB: every duplicate is a record', async () => {
    const d = await scanOne('dups');
    expect(d.records).toBe(897);
    expect(d.declaredRecords).toBe(897);
    // k0000..k0006 hold 3 values each; k0007's float Datum sorts after its two pixel Datums (0x28 > 0x22).
    expect(located(d)).toEqual(['posinf aug k0007 23']);
    expect(d.coverage.unchecked).toEqual([]);
    expect(Object.keys(d.findingCounts)).toEqual(['posinf']);
  });

  it('left the datasets byte for byte as written (lock files included)', () => {
    expect(hashTree(tmp)).toBe(pristine);
  });
});

/** A copy of `from` (data file only) in a fresh folder. */
function copyOf(from: string): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'copy-'));
  fs.copyFileSync(path.join(tmp, from, 'data.mdb'), path.join(dir, 'data.mdb'));
  return dir;
}

function patch(dir: string, offset: number, bytes: Uint8Array): void {
  const fd = fs.openSync(path.join(dir, 'data.mdb'), 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

describe('damage in named databases is a finding, and the scan goes on', () => {
  it('a broken leaf of train: corrupt_file with database and page; val is still scanned', async () => {
    const dir = copyOf('splits');
    const r = (await lmdbReader.open(source(dir))) as LmdbReader;
    const hex = Buffer.from('train').toString('hex');
    const trainTree = r.plan(64).flatMap((p) => (p.spec as LmdbPartitionSpec).trees.filter((t) => t.db === hex));
    r.close();
    // A leaf in the middle of train's tree: its records are lost, and only those.
    const leaves = trainTree.flatMap((t) => t.pages.filter((_, i) => t.levels[i] === t.depth));
    expect(leaves.length).toBeGreaterThan(2);
    const leaf = leaves[1]!;
    const buf = fs.readFileSync(path.join(dir, 'data.mdb'));
    const lost = (buf.readUInt16LE(leaf * 4096 + 12) - 16) / 2;
    patch(dir, leaf * 4096, Buffer.alloc(8, 0xee));
    const before = hashTree(dir);
    const d = await scanOne(dir);
    expect(hashTree(dir)).toBe(before);
    const corrupt = d.findings.filter((f) => f.kind === 'corrupt_file');
    expect(corrupt).toHaveLength(1);
    expect(corrupt[0]).toMatchObject({ database: 'train', page: leaf, file: path.join(dir, 'data.mdb') } satisfies Partial<Finding>);
    expect(corrupt[0]!.message).toMatch(/named database 'train'/);
    expect(d.records).toBe(2200 - lost);
    expect(d.findingCounts.record_count_mismatch).toBe(1);
    expect(d.complete).toBe(false);
    expect(located(d)).toEqual([`label_out_of_range val 00000077 ${2077 - lost}`, `nan val 00000013 ${2013 - lost}`]);
  });

  it('a broken MDB_db record of val: corrupt_file and one unchecked named database; train is scanned', async () => {
    const dir = copyOf('splits');
    const buf = fs.readFileSync(path.join(dir, 'data.mdb'));
    // The main DB's one leaf (its root, from the newer meta) holds "train" and "val", each followed by its
    // 48-byte MDB_db; md_root is at +40.
    const meta = buf.readBigUInt64LE(144) >= buf.readBigUInt64LE(4096 + 144) ? 0 : 4096;
    const mainRoot = Number(buf.readBigUInt64LE(meta + 128));
    const at = mainRoot * 4096 + buf.subarray(mainRoot * 4096, (mainRoot + 1) * 4096).indexOf(Buffer.from('val'));
    expect(at).toBeGreaterThan(mainRoot * 4096);
    const root = Buffer.alloc(8);
    root.writeBigUInt64LE(0x7fff_ffffn);
    patch(dir, at + 3 + 40, root);
    const d = await scanOne(dir);
    expect(d.records).toBe(2000);
    // val's md_entries is intact: its 200 records are declared, and counted as unreachable.
    expect(d.declaredRecords).toBe(2200);
    expect(d.findingCounts.record_count_mismatch).toBe(1);
    expect(d.complete).toBe(false);
    const corrupt = d.findings.filter((f) => f.kind === 'corrupt_file');
    expect(corrupt).toHaveLength(1);
    expect(corrupt[0]).toMatchObject({ database: 'val', page: Math.floor(at / 4096) });
    expect(d.coverage.unchecked).toMatchObject([{ reason: 'named_database', unit: 'database', count: 1, examples: ['val'] }]);
    expect(d.findingCounts.unchecked).toBe(1);
    expect(located(d)).toEqual([]);
  });
});

describe('a main tree too big to list at open, with named databases beside its records', () => {
  it('reports the named databases it met as unchecked, and keeps the declared count right', async () => {
    const dir = path.join(tmp, 'bigmain');
    const code = `import lmdb, sys
env = lmdb.open(sys.argv[1], max_dbs=2, map_size=1 << 26)
extra = env.open_db(b'extra')
with env.begin(write=True) as txn:
    for i in range(30000):
        # Padded with an unknown field (15, length-delimited) to make the tree big: still a valid Datum.
        txn.put(b'%08d' % i, bytes([8, 1, 16, 2, 24, 2, 34, 4, 1, 2, 3, i % 256, 40, i % 3, 0x7a, 0x96, 1]) + b'\\0' * 150)
    txn.put(b'x', b'y', db=extra)
env.close()`;
    const r = spawnSync(PYTHON, ['-c', code, dir], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const reader = (await lmdbReader.open(source(dir))) as LmdbReader;
    expect(reader.subDatabases).toEqual([]);
    reader.close();
    const d = await scanOne(dir);
    expect(d.records).toBe(30000);
    expect(d.declaredRecords).toBe(30001);
    expect(d.findingCounts.record_count_mismatch).toBeUndefined();
    expect(d.coverage.unchecked).toMatchObject([{ reason: 'named_database', count: 1, examples: ['extra'] }]);
  });
});

describe('discovery', () => {
  it('finds a subdir=False file in a folder, whatever its name, and does not list its lock file as skipped', async () => {
    const found = await discover(['single', 'splits'], tmp);
    expect(found.sources.map((s) => [s.format, s.path])).toEqual([
      ['lmdb', path.join('single', 'train.lmdb')],
      ['lmdb', 'splits'],
    ]);
    expect(found.skipped).toEqual([]);
  });

  it('takes a lock file named on the command line for its data file, without opening it', async () => {
    const found = await discover([path.join('single', 'train.lmdb-lock')], tmp);
    expect(found.sources.map((s) => s.path)).toEqual([path.join('single', 'train.lmdb')]);
  });

  it('recognises a single file whose page 0 is torn by its page 1, and reads nothing else as LMDB', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'sniff-'));
    const torn = Buffer.from(fs.readFileSync(path.join(tmp, 'single', 'train.lmdb')));
    torn.fill(0, 0, 4096);
    fs.writeFileSync(path.join(dir, 'torn.lmdb'), torn);
    fs.writeFileSync(path.join(dir, 'random.bin'), Buffer.alloc(8192, 0x5a));
    fs.writeFileSync(path.join(dir, 'other-lock'), 'a file named like a lock file, no data file beside it');
    const found = await discover([path.relative(tmp, dir)], tmp);
    expect(found.sources.map((s) => path.basename(s.path))).toEqual(['torn.lmdb']);
    expect(found.skipped.map((s) => path.basename(s.path)).sort()).toEqual(['other-lock', 'random.bin']);
    const d = await scanOne(path.join(dir, 'torn.lmdb'));
    expect(d.records).toBe(300);
    expect(d.findings.filter((f) => f.kind === 'corrupt_file').map((f) => f.page)).toEqual([0]);
    fs.rmSync(dir, { recursive: true });
  });

  it('keeps a data.mdb named directly working', async () => {
    const found = await discover([path.join('splits', 'data.mdb')], tmp);
    expect(found.sources.map((s) => [s.format, s.path])).toEqual([['lmdb', 'splits']]);
  });
});

describe('mutants of the named-database layouts', () => {
  it('never throw: damage in named trees, their MDB_db records or the main leaf is yielded as findings', async () => {
    let seed = 14;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let damaged = 0;
    for (const layout of ['splits', 'dups']) {
      const clean = fs.readFileSync(path.join(tmp, layout, 'data.mdb'));
      const pages = clean.length / 4096;
      const meta = clean.readBigUInt64LE(144) >= clean.readBigUInt64LE(4096 + 144) ? 0 : 4096;
      const mainRoot = Number(clean.readBigUInt64LE(meta + 128));
      for (let m = 0; m < 60; m++) {
        const buf = Buffer.from(clean);
        // Half the mutants hit the main leaf (named-DB records), the rest any non-meta page.
        const page = m % 2 === 0 ? mainRoot : 2 + next(pages - 2);
        for (let k = 0, n = 1 + next(4); k < n; k++) {
          const at = page * 4096 + (next(2) === 0 ? next(64) : next(4096));
          if (next(2) === 0) buf[at] = (buf[at] as number) ^ (1 << next(8));
          else buf.fill(next(2) === 0 ? 0 : 0xff, at, Math.min(at + 1 + next(16), (page + 1) * 4096));
        }
        const dir = fs.mkdtempSync(path.join(tmp, 'mutant-'));
        fs.writeFileSync(path.join(dir, 'data.mdb'), buf);
        const planner = (await lmdbReader.open(source(dir))) as LmdbReader;
        const info = planner.info();
        const plan = planner.plan(4);
        planner.close();
        const worker = await lmdbReader.open(source(dir), 'read');
        let findings = info.findings.length + (info.unchecked?.length ?? 0);
        for (const p of plan) {
          for (const b of worker.read(JSON.parse(JSON.stringify(p)) as Partition) as Iterable<RecordBatch>) {
            findings += (b.damage?.length ?? 0) + (b.unchecked?.length ?? 0);
          }
        }
        worker.close();
        if (findings > 0) damaged++;
        fs.rmSync(dir, { recursive: true });
      }
    }
    // Most mutants hit structure the reader checks (not only key or value bytes).
    expect(damaged).toBeGreaterThan(30);
  });
});
