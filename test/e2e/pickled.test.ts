/**
 * Pickled LMDB values end to end: databases written the way PyTorch projects write them (py-lmdb,
 * `txn.put(key.encode(), pickle.dumps(sample))` at every pickle protocol, `subdir=False` files, folder2lmdb's
 * `__len__`/`__keys__` metadata; plyvel for LevelDB), with planted faults whose keys and fields the scan must report exactly; a
 * pickle that would run `os.system` is never run; a pickle in a Datum database is damage, a corrupt one among
 * raw bytes is only unchecked.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetReport } from '../../src/types.js';
import { scanJson } from '../helpers/cli.js';
import { hashTree } from '../helpers/tree.js';

const PYTHON = '/usr/bin/python3';

const WRITER = String.raw`
import io, os, pickle, sys
import lmdb, numpy as np
from PIL import Image
out = sys.argv[1]
rng = np.random.default_rng(7)

def jpeg(seed):
    r = np.random.default_rng(seed)
    b = io.BytesIO()
    Image.fromarray((r.random((16, 16, 3)) * 255).astype('uint8')).save(b, format='JPEG')
    return b.getvalue()

class Evil:
    def __reduce__(self):
        return (os.system, ('touch ' + os.path.join(out, 'ran'),))

env = lmdb.open(os.path.join(out, 'main'), map_size=1 << 26)
keys = []
with env.begin(write=True) as t:
    for i in range(60):
        x = rng.standard_normal(32).astype('float32')
        s = {'x': x, 'label': i % 10}
        if i == 3: x[7] = np.nan
        if i == 8: s['meta'] = {'depth': np.array([0.5, np.inf]), 'id': 8}
        if i == 14: s['label'] = 12
        if i == 20: s = {'img': jpeg(20)[:250], 'label': 1}
        if i == 21: s = {'img': jpeg(21), 'label': 1}
        if i == 40: s = (x, 11)
        if i == 45: s = {'caption': 'a cat', 'path': None}
        if i == 50: x[0] = 70000.0
        if i == 52: s['x'] = np.array([1, np.nan, 2], '>f4')
        if i == 55: s['x'] = np.asfortranarray(np.full((2, 3), -np.inf))
        v = pickle.dumps(s, protocol=i % 6)
        if i == 27: v = v[:-9]
        if i == 33: v = b'\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00)R.'
        if i == 34: v = pickle.dumps({'x': Evil()})
        keys.append(b'%08d' % i)
        t.put(keys[-1], v)
    t.put(b'__len__', pickle.dumps(len(keys)))
    t.put(b'__keys__', pickle.dumps(keys))
env.close()

env = lmdb.open(os.path.join(out, 'single.lmdb'), map_size=1 << 24, subdir=False)
with env.begin(write=True) as t:
    for i in range(10):
        a = rng.random((4, 4)).astype('float16')
        if i == 6: a[2, 2] = np.inf
        t.put(('sample-%d' % i).encode(), pickle.dumps((a, i % 3), protocol=4))
env.close()

def varint(n):
    b = bytearray()
    while True:
        x = n & 0x7f; n >>= 7
        if n: b.append(x | 0x80)
        else: b.append(x); return bytes(b)

env = lmdb.open(os.path.join(out, 'datums'), map_size=1 << 24)
with env.begin(write=True) as t:
    for i in range(20):
        data = bytes(rng.integers(0, 256, 16, dtype=np.uint8))
        v = b'\x08\x01\x10\x04\x18\x04\x22\x10' + data + b'\x28' + varint(i % 4)
        if i == 11: v = pickle.dumps({'x': np.arange(3, dtype='f4'), 'label': 1})
        t.put(b'%08d' % i, v)
env.close()

import plyvel
db = plyvel.DB(os.path.join(out, 'level'), create_if_missing=True)
for i in range(30):
    x = rng.standard_normal((2, 5))
    if i == 13: x[1, 4] = -np.inf
    db.put(b'%08d' % i, pickle.dumps({'feat': x, 'y': i % 2}, protocol=i % 6))
db.close()

env = lmdb.open(os.path.join(out, 'raw'), map_size=1 << 24)
with env.begin(write=True) as t:
    for i in range(20):
        t.put(b'%08d' % i, rng.standard_normal(8).astype('float32').tobytes() if i != 4 else pickle.dumps([1.5, 2.5])[:-3])
env.close()
`;

let dir = '';
let before = '';
const datasets = new Map<string, DatasetReport>();

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'nanscan-pickled-'));
  const w = spawnSync(PYTHON, ['-c', WRITER, dir], { encoding: 'utf8' });
  expect(w.stderr).toBe('');
  expect(w.status).toBe(0);
  before = hashTree(dir);
  const { report } = scanJson([dir, '--workers', '2', '--num-classes', '10', '--max-examples', '100'], dir);
  for (const d of report.datasets) datasets.set(path.basename(d.path), d);
});

afterAll(() => {
  if (dir) {
    // Read-only: nothing written in or beside the databases.
    expect(hashTree(dir)).toBe(before);
    rmSync(dir, { recursive: true, force: true });
  }
});

const located = (d: DatasetReport): string[] =>
  d.findings.filter((f) => f.key !== undefined).map((f) => `${f.kind} ${f.key} ${f.field ?? '-'}`).sort((a, b) => (a.split(' ')[1]! < b.split(' ')[1]! ? -1 : 1));

describe('pickled samples in LMDB', () => {
  it('finds each planted fault at its key and field, in every pickle protocol', () => {
    const d = datasets.get('main')!;
    expect(d.format).toBe('lmdb');
    expect(located(d)).toEqual([
      'nan 00000003 x',
      'posinf 00000008 meta.depth',
      'label_out_of_range 00000014 label',
      'truncated_image 00000020 img',
      'bad_record 00000027 -',
      'label_out_of_range 00000040 [1]',
      'fp16_overflow 00000050 x',
      'nan 00000052 x',
      'neginf 00000055 x',
    ]);
    expect(d.findings.find((f) => f.kind === 'bad_record')!.message).toMatch(/^Value is not a valid pickle \(truncated: .*\); in a database of pickles pickle\.loads raises on it\.$/);
    expect(d.findings.find((f) => f.key === '00000014')!.database).toBeUndefined();
    expect(d.findings.find((f) => f.key === '00000014')!.index).toBe(14);
  });

  it('counts what it could not interpret as unchecked, naming the global, and runs nothing', () => {
    const d = datasets.get('main')!;
    expect(existsSync(path.join(dir, 'ran'))).toBe(false);
    expect(d.records).toBe(60);
    expect(d.coverage.metadataEntries).toBe(2);
    expect(d.coverage.checkedRecords).toBe(57);
    expect(d.coverage.unchecked).toMatchObject([{ reason: 'opaque_value', unit: 'record', count: 3 }]);
    expect(d.coverage.unchecked[0]!.examples).toEqual([
      "key 00000033 (global 'torch._utils._rebuild_tensor_v2')",
      "key 00000034 (global 'posix.system')",
      'key 00000045 (no array, number, label or image)',
    ]);
    expect(d.findingCounts.unchecked).toBe(1);
    expect(d.findingCounts.record_count_mismatch).toBeUndefined();
    // Labels of the pickles feed the class analysis (classes 0–9 from --num-classes; 12 and 11 are out of range).
    expect(d.labels?.numClasses).toBe(10);
  });

  it('reads a subdir=False database file: (float16 array, label) tuples', () => {
    const d = datasets.get('single.lmdb')!;
    expect(d.records).toBe(10);
    expect(located(d)).toEqual(['posinf sample-6 [0]']);
    expect(d.coverage.checkedRecords).toBe(10);
    expect(d.labels?.histogram).toEqual({ 0: 4, 1: 3, 2: 3 });
  });

  it('reads pickles in a LevelDB written by plyvel the same way', () => {
    const d = datasets.get('level')!;
    expect(d.format).toBe('leveldb');
    expect(d.records).toBe(30);
    expect(located(d)).toEqual(['neginf 00000013 feat']);
    expect(d.coverage.checkedRecords).toBe(30);
    expect(d.labels?.histogram).toEqual({ 0: 15, 1: 15 });
  });

  it('calls a pickle in a Datum database a bad record, and a broken pickle among raw bytes only unchecked', () => {
    const datums = datasets.get('datums')!;
    expect(located(datums)).toEqual(['bad_record 00000011 -']);
    expect(datums.findings[0]!.message).toContain('is a pickle, not a Datum');
    const raw = datasets.get('raw')!;
    expect(raw.findingCounts).toEqual({ unchecked: 1 });
    expect(raw.coverage.checkedRecords).toBe(0);
    expect(raw.coverage.unchecked[0]!.count).toBe(20);
  });
});
