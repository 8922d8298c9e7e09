/**
 * The CLI on the committed NumPy fixtures (scripts/make-npy-fixtures.ts), with numpy as the oracle: the rows
 * holding NaN/±Inf, the negative labels, the constant feature positions, the rows a truncated file still holds and
 * the members whose CRC fails are computed by numpy here, and the report must name exactly those.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_PYTHON } from '../../scripts/lib/caffe.js';
import { NPY_FIXTURE_DATASETS } from '../../scripts/lib/npy-fixtures.js';
import type { Report } from '../../src/types.js';
import { ROOT, scanJson } from '../helpers/cli.js';
import { hashTree } from '../helpers/tree.js';

const DIR = path.join(ROOT, 'fixtures', 'npy');

const ORACLE = String.raw`
import json, os, sys, zipfile, numpy as np
d = sys.argv[1]
out = {}
def values(field, a):
    a = np.asarray(a, dtype='f8').reshape(len(a), -1)
    f = []
    for kind, test in (('nan', np.isnan), ('posinf', np.isposinf), ('neginf', np.isneginf)):
        f += [[kind, field, int(i), None] for i in np.flatnonzero(test(a).any(1))]
    return f
def constant(field, a):
    a = np.asarray(a, dtype='f8').reshape(len(a), -1)
    ok = a[np.isfinite(a).all(1)]
    return [['constant_feature', field, None, int(e)] for e in np.flatnonzero(np.ptp(ok, 0) == 0)] if len(ok) > 1 else []
def labels(field, y):
    return [['label_out_of_range', field, int(i), None] for i in np.flatnonzero(np.asarray(y) < 0)]
X = np.load(os.path.join(d, 'clean/X_train.npy')); y = np.load(os.path.join(d, 'clean/y_train.npy'))
out['clean/X_train.npy'] = values('X_train', X) + constant('X_train', X) + labels('y_train', y)
z = np.load(os.path.join(d, 'npz/faults.npz'))
out['npz/faults.npz'] = values('data', z['data']) + constant('data', z['data']) + labels('label', z['label'])
z = np.load(os.path.join(d, 'npz/stored.npz'))
out['npz/stored.npz'] = values('x', z['x']) + constant('x', z['x']) + labels('targets', z['targets'])
f = os.path.join(d, 'truncated/cut.npy')
with open(f, 'rb') as h:
    v = np.lib.format.read_magic(h); shape, fortran, dtype = np.lib.format._read_array_header(h, v); off = h.tell()
size = os.path.getsize(f); row = int(np.prod(shape[1:])) * dtype.itemsize
out['truncated/cut.npy'] = [['corrupt_file', 'cut', (size - off) // row, None]]
bad = []
with zipfile.ZipFile(os.path.join(d, 'crc/bad.npz')) as zf:
    for n in zf.namelist():
        try: zf.read(n)
        except zipfile.BadZipFile: bad.append(['corrupt_file', n[:-4], None, None])
out['crc/bad.npz'] = bad
out['not-npy/fake.npy'] = [['corrupt_file', None, None, None]]
print(json.dumps(out))
`;

let oracle: Record<string, [string, string | null, number | null, number | null][]> = {};
let report: Report;
let status: number | null;
let before = '';

beforeAll(() => {
  before = hashTree(DIR);
  const r = spawnSync(SYSTEM_PYTHON, ['-c', ORACLE, DIR], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`numpy failed: ${r.stderr}`);
  oracle = JSON.parse(r.stdout) as typeof oracle;
  const run = scanJson(['fixtures/npy']);
  report = run.report;
  status = run.run.status;
});

afterAll(() => {
  // A scan writes nothing into (or beside) the files it reads.
  expect(hashTree(DIR)).toBe(before);
});

const dataset = (rel: string): Report['datasets'][number] => {
  const d = report.datasets.find((x) => x.path === path.join('fixtures', 'npy', rel));
  if (d === undefined) throw new Error(`no dataset ${rel} in ${report.datasets.map((x) => x.path).join(', ')}`);
  return d;
};

describe('nanscan scan on NumPy fixtures', () => {
  it('finds one dataset per .npy features file and per .npz, the label file read with its features', () => {
    expect(report.datasets.map((d) => [d.path, d.format]).sort()).toEqual(
      Object.keys(oracle).map((k) => [path.join('fixtures', 'npy', k), 'npy']).sort());
    expect(report.datasets.map((d) => d.path)).toEqual(NPY_FIXTURE_DATASETS.map((d) => `fixtures/${d}`));
    expect(status).toBe(1);
  });

  it.each(Object.keys({ 'clean/X_train.npy': 0, 'npz/faults.npz': 0, 'npz/stored.npz': 0, 'truncated/cut.npy': 0, 'crc/bad.npz': 0, 'not-npy/fake.npy': 0 }))(
    '%s: exactly the findings numpy predicts', (rel) => {
      const d = dataset(rel);
      const got = d.findings
        .filter((f) => f.kind !== 'label_missing_in_batches')
        .map((f) => [f.kind, f.field ?? null, f.kind === 'constant_feature' ? null : (f.index ?? null), f.element ?? null]);
      expect(got.sort(), JSON.stringify(d.findings)).toEqual([...(oracle[rel] ?? [])].sort());
      for (const f of d.findings) expect(f.file).toBe(d.path);
    });

  it('counts records as numpy does, and the truncation at the first missing row and the file end', () => {
    expect(dataset('clean/X_train.npy')).toMatchObject({ records: 256, findingCounts: {} });
    expect(dataset('npz/faults.npz').records).toBe(300);
    expect(dataset('npz/stored.npz').records).toBe(120);
    const cut = dataset('truncated/cut.npy');
    const missing = oracle['truncated/cut.npy']?.[0]?.[2];
    expect(cut.records).toBe(missing);
    expect(cut.findings[0]?.message).toContain(`${missing} of 100 rows complete`);
    // The label of one record in 300 is absent from most batches: the label analysis saw the label member.
    expect(dataset('npz/faults.npz').findingCounts['label_missing_in_batches']).toBe(1);
    expect(dataset('crc/bad.npz').records).toBe(50);
  });
});
