import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { XMLParser } from 'fast-xml-parser';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caffeKey, mnistDatum, rng, SYSTEM_PYTHON, writeLmdb, type KV } from '../../scripts/lib/caffe.js';
import { FIXTURES, TABLE_FIXTURES, TFRECORD_SUBFOLDER_DATASETS, WEBDATASET_FIXTURE_DATASETS, type FixtureSpec } from '../../scripts/lib/fixture-spec.js';
import { NPY_FIXTURE_DATASETS } from '../../scripts/lib/npy-fixtures.js';
import { scan } from '../../src/index.js';
import type { DatasetReport } from '../../src/types.js';
import { CLI, ROOT, runCli, scanJson } from '../helpers/cli.js';
import { hashTree } from '../helpers/tree.js';

const FIXTURES_DIR = path.join(ROOT, 'fixtures');
let before: string;

beforeAll(() => { before = hashTree(FIXTURES_DIR); });
afterAll(() => {
  // The scanner never writes to a dataset: every scan in this file ran on the committed fixtures.
  expect(hashTree(FIXTURES_DIR)).toBe(before);
});

/** Findings that point at a record or a file, as "kind key-or-file[:line]" (database file damage excluded). */
const located = (d: DatasetReport): string[] =>
  d.findings.filter((f) => f.key !== undefined || (d.format !== 'lmdb' && d.format !== 'leveldb' && f.file !== undefined))
    .map((f) => `${f.kind} ${f.key ?? f.file}${f.line === undefined ? '' : `:${f.line}`}`).sort();

const expectedLocated = (spec: FixtureSpec): string[] =>
  spec.faults.filter((f) => f.key !== undefined || f.file !== undefined)
    .map((f) => `${f.kind} ${f.key ?? `fixtures/${spec.dir}/${f.file}`}${f.line === undefined ? '' : `:${f.line}`}`).sort();

describe('nanscan scan on the committed fixtures', () => {
  // Fixtures with JPEGs run twice: with the native libjpeg-turbo decoder (the default when it is built) and
  // with sharp alone (NANSCAN_NO_NATIVE_JPEG=1). Both must classify every damaged file the same way.
  const runs = FIXTURES.flatMap((spec) => (spec.format.startsWith('image') || spec.dir === 'lmdb/encoded'
    ? [{ spec, decoder: 'native JPEG decoder', env: {} }, { spec, decoder: 'sharp only', env: { NANSCAN_NO_NATIVE_JPEG: '1' } }]
    : [{ spec, decoder: '', env: {} }]));
  for (const { spec, decoder, env } of runs) {
    it(`reports exactly the injected faults of ${spec.dir}${decoder ? ` (${decoder})` : ''}`, () => {
      const { run, report } = scanJson([`fixtures/${spec.dir}`, '--max-examples', '1000'], undefined, env);
      // fixtures/tfrecord holds TFRecord folders of its own, scanned as their own datasets (tested elsewhere).
      const own = report.datasets.filter((x) => !TFRECORD_SUBFOLDER_DATASETS.some((sub) => x.path === `fixtures/${sub}`));
      expect(own).toHaveLength(1);
      const d = own[0]!;
      expect(d.path).toBe(`fixtures/${spec.dir}${spec.datasetFile ? `/${spec.datasetFile}` : ''}`);
      expect(d.format).toBe(spec.format);
      expect(located(d)).toEqual(expectedLocated(spec));
      for (const f of spec.faults.filter((x) => x.severity !== undefined)) {
        expect(d.findings.find((x) => x.kind === f.kind && x.file?.endsWith(f.file!))?.severity).toBe(f.severity);
      }
      expect(Object.keys(d.findingCounts).sort()).toEqual([...new Set(spec.faults.map((f) => f.kind))].sort());
      // Every kept finding is counted; counts are exact when nothing was capped.
      const total = Object.values(d.findingCounts).reduce((a, b) => a + b, 0);
      expect(total).toBe(d.findings.length);
      const errors = d.findings.some((f) => f.severity === 'error');
      expect(run.status).toBe(errors ? 1 : 0);
      expect(report.exitCode).toBe(run.status);
    });
  }

  it('names the damaged page of a page-damaged data.mdb and reads every other page', () => {
    const { report } = scanJson(['fixtures/lmdb/page-damaged']);
    const d = report.datasets[0]!;
    const corrupt = d.findings.find((f) => f.kind === 'corrupt_file')!;
    expect(corrupt.file).toBe('fixtures/lmdb/page-damaged/data.mdb');
    expect(corrupt.page).toBeGreaterThan(1);
    expect(d.complete).toBe(false);
    expect(d.declaredRecords).toBe(400);
    // A 4 KiB leaf holds a handful of ~800-byte records: all the others are still read.
    expect(d.records).toBeGreaterThanOrEqual(390);
    expect(d.records).toBeLessThan(400);
  });

  it('reads what a truncated data.mdb still holds', () => {
    const { report } = scanJson(['fixtures/lmdb/truncated']);
    const d = report.datasets[0]!;
    expect(d.declaredRecords).toBe(2000);
    expect(d.records).toBeGreaterThan(0);
    expect(d.records).toBeLessThan(2000);
    expect(d.findings.find((f) => f.kind === 'corrupt_file')?.message).toMatch(/truncat/i);
  });

  it('finds every dataset under a folder and keeps their order', () => {
    const { run, report } = scanJson(['fixtures']);
    expect(run.status).toBe(1);
    expect(report.datasets.map((d) => d.path)).toEqual([
      ...FIXTURES.map((s) => `fixtures/${s.dir}${s.datasetFile ? `/${s.datasetFile}` : ''}`),
      ...TABLE_FIXTURES.map((t) => `fixtures/${t.path}`),
      ...NPY_FIXTURE_DATASETS.map((d) => `fixtures/${d}`),
      ...WEBDATASET_FIXTURE_DATASETS.map((d) => `fixtures/${d}`),
      ...TFRECORD_SUBFOLDER_DATASETS.map((d) => `fixtures/${d}`),
    ].sort());
    // The list's images are scanned once, as part of the list, not again as a folder.
    expect(report.datasets.filter((d) => d.path.startsWith('fixtures/images/list'))).toHaveLength(1);
    expect(report.summary.records).toBe(report.datasets.reduce((n, d) => n + d.records, 0));
  });

  it('exits 2 with a clear message for a path that does not exist', () => {
    const run = runCli(['scan', 'fixtures/nope']);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("Path 'fixtures/nope' does not exist.");
  });

  it('exits 2 on a usage error', () => {
    expect(runCli(['scan', 'fixtures/lmdb/clean', '--fail-on', 'sometimes']).status).toBe(2);
    expect(runCli(['scan']).status).toBe(2);
  });

  it('follows --fail-on', () => {
    // demo/mnist_lmdb has errors and warnings; lmdb/encoded errors; a warning-only dataset is made below.
    expect(runCli(['scan', 'fixtures/demo/mnist_lmdb', '--fail-on', 'none', '-q']).status).toBe(0);
    expect(runCli(['scan', 'fixtures/demo/mnist_lmdb', '--fail-on', 'error', '-q']).status).toBe(1);
    expect(runCli(['scan', 'fixtures/lmdb/clean', '--fail-on', 'warning', '-q']).status).toBe(0);
  });

  it('prints a readable text report naming keys and kinds', () => {
    const run = runCli(['scan', 'fixtures/demo']);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('fixtures/demo/features_lmdb');
    expect(run.stdout).toMatch(/nan\s+\d+/);
    expect(run.stdout).toContain('key 00000017');
    expect(run.stdout).toMatch(/\d+ errors?, \d+ warnings?/);
    // Not a TTY: no colour codes, no progress line.
    expect(run.stdout).not.toContain('\u001b[');
    expect(run.stderr).toBe('');
  });

  it('writes JUnit, SARIF and HTML reports, and GitHub annotations under GitHub Actions', () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'nanscan-reports-'));
    try {
      const files = { junit: path.join(out, 'r.xml'), sarif: path.join(out, 'r.sarif'), html: path.join(out, 'r.html') };
      const run = spawnSync(process.execPath, [CLI, 'scan', 'fixtures/demo', '--junit', files.junit, '--sarif', files.sarif,
        '--html', files.html, '-q'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, GITHUB_ACTIONS: 'true' } });
      expect(run.status).toBe(1);
      const junit = new XMLParser({ ignoreAttributes: false }).parse(readFileSync(files.junit, 'utf8'));
      expect(junit.testsuites.testsuite).toHaveLength(2);
      const sarif = JSON.parse(readFileSync(files.sarif, 'utf8'));
      expect(sarif.version).toBe('2.1.0');
      expect(sarif.runs[0].results.some((r: { ruleId: string }) => r.ruleId === 'nan')).toBe(true);
      expect(readFileSync(files.html, 'utf8')).toContain('fixtures/demo/features_lmdb');
      // -q silences the text report, not the annotations GitHub needs.
      expect(run.stdout).toMatch(/^::error file=fixtures\/demo\/features_lmdb.*::/m);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('caps examples per kind but never the counts', () => {
    const { report } = scanJson(['fixtures/demo/features_lmdb', '--max-examples', '1']);
    const d = report.datasets[0]!;
    expect(d.findings.filter((f) => f.kind === 'nan')).toHaveLength(1);
    expect(d.findingCounts.nan).toBe(2); // records 17 and 402
    expect(d.findings.find((f) => f.kind === 'nan')!.count).toBe(2); // two NaN values in record 17
    expect(d.stats!.nan).toBe(4);
  });

  it('gives the same report from the library as from the CLI, in-process and with workers', async () => {
    const { report: cli } = scanJson(['fixtures/lmdb', '--max-examples', '50']);
    for (const workers of [0, 1, 3]) {
      const lib = await scan('fixtures/lmdb', { cwd: ROOT, maxExamples: 50, workers });
      const strip = (d: DatasetReport): unknown => ({ ...d, durationMs: 0 });
      expect(lib.datasets.map(strip)).toEqual(cli.datasets.map(strip));
      expect(lib.summary).toEqual(cli.summary);
    }
  });
});

describe('a clean Caffe LMDB of 10,000 Fashion-MNIST-sized records', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'nanscan-clean-'));
    const next = rng(2024);
    const records: KV[] = [];
    for (let i = 0; i < 10_000; i++) records.push([caffeKey(i), mnistDatum(i, Math.floor(next() * 10), next)]);
    await writeLmdb(path.join(dir, 'train_lmdb'), records);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports zero findings and exits 0', () => {
    const treeBefore = hashTree(dir);
    const { run, report } = scanJson([path.join(dir, 'train_lmdb')]);
    expect(run.status).toBe(0);
    const d = report.datasets[0]!;
    expect(d.records).toBe(10_000);
    expect(d.declaredRecords).toBe(10_000);
    expect(d.findings).toEqual([]);
    expect(d.complete).toBe(true);
    expect(d.labels!.records).toBe(10_000);
    expect(Object.values(d.labels!.histogram).reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(d.shapes).toEqual({ '1×28×28': 10_000 });
    expect(d.stats!.min).toBe(0);
    expect(d.stats!.max).toBe(255);
    expect(hashTree(dir)).toBe(treeBefore);
  });
});

describe('an LMDB with a named sub-database beside its records', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'nanscan-named-'));
    const code = `import lmdb, sys
env = lmdb.open(sys.argv[1], max_dbs=2, map_size=1 << 24)
meta = env.open_db(b'meta')
with env.begin(write=True) as txn:
    for i in range(50):
        txn.put(b'%08d' % i, bytes([8, 1, 16, 2, 24, 2, 34, 4, 1 + i % 7, 20 + (i * 3) % 11, 40 + (i * 5) % 13, 100 + i, 40, i % 3]))
    txn.put(b'source', b'made by a test', db=meta)
env.close()`;
    const r = spawnSync(SYSTEM_PYTHON, ['-c', code, path.join(dir, 'db')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the named database\'s record too, and declares main records plus its md_entries', () => {
    const { run, report } = scanJson([path.join(dir, 'db')]);
    const d = report.datasets[0]!;
    expect(d.records).toBe(51);
    expect(d.declaredRecords).toBe(51);
    // The named DB's one value is not a Datum: at most an unchecked opaque value, never a count mismatch.
    expect(Object.keys(d.findingCounts).filter((k) => k !== 'unchecked')).toEqual([]);
    expect(d.coverage.unchecked.filter((g) => g.reason === 'named_database')).toEqual([]);
    expect(run.status).toBe(0);
  });
});

describe('a folder holding a single-file LMDB (py-lmdb subdir=False)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'nanscan-nosubdir-'));
    const code = `import lmdb, struct, sys
env = lmdb.open(sys.argv[1] + '/data/train.db', subdir=False, max_dbs=2, map_size=1 << 24)
val = env.open_db(b'val')
with env.begin(write=True) as txn:
    for i in range(40):
        txn.put(b'%08d' % i, bytes([8, 1, 16, 2, 24, 2, 34, 4, 1, 2, 3, i % 256, 40, i % 3]), db=val)
    txn.put(b'%08d' % 40, bytes([8, 1, 16, 1, 24, 2, 40, 1]) + b''.join(b'\\x35' + struct.pack('<f', x) for x in [1.0, float('nan')]), db=val)
env.close()
open(sys.argv[1] + '/data/notes.txt', 'w').write('not a dataset')`;
    mkdirSync(path.join(dir, 'data'));
    const r = spawnSync(SYSTEM_PYTHON, ['-c', code, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('discovers it by its meta page, scans its named DB, leaves the lock file alone and the tree unchanged', () => {
    const treeBefore = hashTree(dir);
    expect(readdirSync(path.join(dir, 'data')).sort()).toEqual(['notes.txt', 'train.db', 'train.db-lock']);
    const { run, report } = scanJson(['data'], dir);
    expect(report.datasets.map((d) => [d.format, d.path])).toEqual([['lmdb', path.join('data', 'train.db')]]);
    expect(report.skipped).toEqual([{ path: path.join('data', 'notes.txt'), reason: 'not a recognised dataset format' }]);
    const d = report.datasets[0]!;
    expect(d.records).toBe(41);
    expect(d.declaredRecords).toBe(41);
    expect(d.findings.filter((f) => f.kind === 'nan').map((f) => [f.database, f.key, f.index])).toEqual([['val', '00000040', 40]]);
    expect(d.coverage.unchecked).toEqual([]);
    expect(run.status).toBe(1);
    const text = runCli(['scan', '--no-color', 'data'], dir);
    expect(text.stdout).toMatch(/db val key 00000040 #40: /);
    expect(hashTree(dir)).toBe(treeBefore);
  });
});
