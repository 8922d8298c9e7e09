/**
 * scan() (src/scan.ts through the library API, src/index.ts) on a tree of several datasets written by the
 * formats' own libraries: one dataset entry each with its counts, the exit code against failOn and maxWarnings,
 * stopping through an AbortSignal, the errors it rejects with, and that it writes nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scan, ScanError, type Report } from '../src/index.js';
import { PY_DATUM, runPython } from './helpers/python.js';
import { hashTree } from './helpers/tree.js';

/**
 * The tree: an LMDB of 10 Caffe Datums (labels 0,1,0,1,…; value 3 of record 4 is NaN as a float_data), an
 * HDF5 file of 6 rows with one NaN (row 2) and one +Inf (row 5), a NumPy array of 5 clean rows, an image
 * folder of 2 classes (3 noisy PNGs), and a README nobody reads.
 */
const WRITE_TREE = PY_DATUM + String.raw`
import os, sys, lmdb, h5py, numpy as np
from PIL import Image
r = sys.argv[1]
rng = np.random.default_rng(7)
os.makedirs(os.path.join(r, 'train_lmdb'))
env = lmdb.open(os.path.join(r, 'train_lmdb'), map_size=1 << 22)
with env.begin(write=True) as t:
    for i in range(10):
        v = rng.normal(size=12).astype('f4')
        if i == 4: v[3] = np.nan
        t.put(b'%08d' % i, datum(3, 2, 2, v.tolist(), i % 2))
env.close()
x = rng.normal(size=(6, 4)).astype('f4')
x[2, 1] = np.nan
x[5, 0] = np.inf
with h5py.File(os.path.join(r, 'features.h5'), 'w') as f:
    f['data'] = x
    f['label'] = np.array([0, 1, 2, 0, 1, 2], 'f4')
np.save(os.path.join(r, 'clean.npy'), rng.normal(size=(5, 3)).astype('f4'))
for c, n in (('cat', 2), ('dog', 1)):
    os.makedirs(os.path.join(r, 'images', c))
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)).save(os.path.join(r, 'images', c, '%d.png' % i))
with open(os.path.join(r, 'README.txt'), 'w') as f: f.write('Datasets for the scan tests.\n')
`;

let tmp: string;
let root: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-scan-'));
  root = path.join(tmp, 'tree');
  fs.mkdirSync(root);
  runPython(WRITE_TREE, [root]);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** What a report says apart from timings, for comparing two scans. */
function stable(r: Report): unknown {
  return { ...r, startedAt: null, durationMs: null, options: { ...r.options, workers: null }, datasets: r.datasets.map((d) => ({ ...d, durationMs: null })) };
}

describe('scan() of a tree of datasets', () => {
  let report: Report;
  let before: string;
  beforeAll(async () => {
    before = hashTree(root);
    report = await scan('tree', { cwd: tmp, workers: 0 });
  });

  it('reports one dataset per dataset, with its format and record count', () => {
    expect(report.datasets.map((d) => [d.path, d.format, d.records, d.complete])).toEqual([
      ['tree/clean.npy', 'npy', 5, true],
      ['tree/features.h5', 'hdf5', 6, true],
      ['tree/images', 'image-folder', 3, true],
      ['tree/train_lmdb', 'lmdb', 10, true],
    ]);
    expect(report.summary).toMatchObject({ datasets: 4, records: 24, skipped: 1 });
    expect(report.complete).toBe(true);
  });

  it('lists the file it did not scan as skipped', () => {
    expect(report.skipped).toEqual([{ path: 'tree/README.txt', reason: 'not a recognised dataset format' }]);
  });

  it('finds each planted value in its own dataset, and labels in storage order', () => {
    const byPath = Object.fromEntries(report.datasets.map((d) => [d.path, d]));
    expect(byPath['tree/clean.npy']!.findingCounts).toEqual({});
    const h5 = byPath['tree/features.h5']!;
    expect(h5.findingCounts).toMatchObject({ nan: 1, posinf: 1 });
    expect(h5.findings.filter((f) => f.kind === 'nan' || f.kind === 'posinf').map((f) => [f.kind, f.file, f.field, f.index]))
      .toEqual([['nan', 'tree/features.h5', 'data', 2], ['posinf', 'tree/features.h5', 'data', 5]]);
    expect(h5.labels?.histogram).toEqual({ 0: 2, 1: 2, 2: 2 });
    const db = byPath['tree/train_lmdb']!;
    expect(db.findingCounts).toMatchObject({ nan: 1 });
    expect(db.findings.find((f) => f.kind === 'nan')).toMatchObject({ key: '00000004', index: 4 });
    expect(db.labels?.histogram).toEqual({ 0: 5, 1: 5 });
    expect(byPath['tree/images']!.labels?.histogram).toEqual({ 0: 2, 1: 1 });
    expect(byPath['tree/images']!.labels?.classNames).toEqual(['cat', 'dog']);
    // The summary adds up the datasets.
    const sum = (k: 'nan' | 'posinf'): number => report.datasets.reduce((n, d) => n + (d.findingCounts[k] ?? 0), 0);
    expect(report.summary.findingCounts).toMatchObject({ nan: sum('nan'), posinf: sum('posinf') });
    expect(report.summary.errors).toBe(report.datasets.reduce((n, d) => n + (d.severityCounts?.error ?? 0), 0));
  });

  it('writes nothing', () => {
    expect(hashTree(root)).toBe(before);
  });

  it('gives the same report with workers as without', async () => {
    const withWorkers = await scan('tree', { cwd: tmp, workers: 2 });
    expect(stable(withWorkers)).toEqual(stable(report));
  });
});

describe('the exit code of a report', () => {
  const code = async (o: Parameters<typeof scan>[1]): Promise<number> => (await scan('tree/features.h5', { cwd: tmp, workers: 0, ...o })).exitCode;

  it('is 1 when a finding reaches failOn, else 0', async () => {
    expect(await code({})).toBe(1);
    expect(await code({ failOn: 'error' })).toBe(1);
    expect(await code({ failOn: 'none' })).toBe(0);
    // Clean data passes whatever failOn says.
    expect((await scan('tree/clean.npy', { cwd: tmp, workers: 0, failOn: 'warning' })).exitCode).toBe(0);
  });

  it('follows severity overrides: a kind turned off or down no longer fails the gate', async () => {
    const off = await scan('tree/features.h5', { cwd: tmp, workers: 0, severity: { nan: 'off', posinf: 'warning' } });
    expect(off.datasets[0]!.findingCounts.nan).toBeUndefined();
    expect(off.datasets[0]!.findings.find((f) => f.kind === 'posinf')?.severity).toBe('warning');
    expect(off.summary.errors).toBe(0);
    expect(off.exitCode).toBe(0);
    expect(await code({ severity: { nan: 'off', posinf: 'warning' }, failOn: 'warning' })).toBe(1);
    expect(await code({ severity: { nan: 'off', posinf: 'warning' }, maxWarnings: 0 })).toBe(1);
    expect(await code({ severity: { nan: 'off', posinf: 'warning' }, maxWarnings: off.summary.warnings })).toBe(0);
  });
});

describe('stopping a scan', () => {
  it('through a signal aborted before it starts: every dataset listed, nothing read, exit code 130', async () => {
    const c = new AbortController();
    c.abort();
    const r = await scan('tree', { cwd: tmp, workers: 0, signal: c.signal });
    expect(r.complete).toBe(false);
    expect(r.exitCode).toBe(130);
    expect(r.datasets.map((d) => [d.path, d.records, d.complete])).toEqual([
      ['tree/clean.npy', 0, false], ['tree/features.h5', 0, false], ['tree/images', 0, false], ['tree/train_lmdb', 0, false],
    ]);
  });

  it('through a signal aborted while it runs: resolves with what was read, marked incomplete', async () => {
    const c = new AbortController();
    const r = await scan('tree', {
      cwd: tmp, workers: 0, signal: c.signal,
      onProgress: (p) => { if (p.records > 0) c.abort(); },
    });
    expect(r.complete).toBe(false);
    expect(r.exitCode).toBe(130);
    expect(r.summary.records).toBeLessThan(24);
    expect(r.datasets.some((d) => !d.complete)).toBe(true);
    // A stop is not damage: no finding says a part could not be read.
    expect(r.summary.findingCounts.io_error).toBeUndefined();
  });
});

describe('scan() refusals', () => {
  const rejection = async (p: Promise<unknown>): Promise<ScanError> => {
    const e = await p.then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(ScanError);
    return e as ScanError;
  };

  it('rejects a path that does not exist', async () => {
    const e = await rejection(scan('tree/nope', { cwd: tmp }));
    expect(e.code).toBe('SCAN_SOURCE_NOT_FOUND');
    expect(e.message).toBe("Path 'tree/nope' does not exist.");
  });

  it('rejects paths holding no dataset, unless allowEmpty', async () => {
    const e = await rejection(scan('tree/README.txt', { cwd: tmp, exclude: ['**'] }));
    expect(e.code).toBe('SCAN_NO_DATASET');
    expect(e.message).toBe("No dataset found in 'tree/README.txt' (1 path skipped as not datasets or excluded). " +
      'Pass --allow-empty (allowEmpty) to accept an empty scan.');
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty, { recursive: true });
    expect((await rejection(scan(['tree/clean.npy', 'empty'], { cwd: tmp }))).code).toBe('SCAN_NO_DATASET');
    const r = await scan('empty', { cwd: tmp, allowEmpty: true });
    expect(r.datasets).toEqual([]);
    expect(r.exitCode).toBe(0);
  });

  it('rejects an empty path list', async () => {
    expect((await rejection(scan([], { cwd: tmp }))).code).toBe('SCAN_INVALID_OPTION');
  });
});
