/**
 * Coverage: what a key/value database holds is judged from its values, and what nanscan cannot check is said,
 * never called clean and never called damage. Databases are written the way projects write them, with py-lmdb
 * (Caffe Datums from caffe_pb2-compatible protobuf bytes, BasicSR-style PNG values, `ndarray.tobytes()` values,
 * folder2lmdb-style pickles with `__len__`/`__keys__` metadata keys).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetReport } from '../../src/types.js';
import { runCli, scanJson } from '../helpers/cli.js';
import { hashTree } from '../helpers/tree.js';

const PYTHON = '/usr/bin/python3';

// Datums are encoded by hand in Python (the wire format of caffe.proto), so the test does not trust our encoder.
const WRITER = String.raw`
import io, pickle, struct, sys, lmdb, numpy as np
from PIL import Image
out = sys.argv[1]

def varint(n):
    b = bytearray()
    while True:
        x = n & 0x7f; n >>= 7
        if n: b.append(x | 0x80)
        else: b.append(x); return bytes(b)

def datum(c, h, w, data, label):
    return (b'\x08' + varint(c) + b'\x10' + varint(h) + b'\x18' + varint(w) +
            b'\x22' + varint(len(data)) + data + b'\x28' + varint(label))

def png(seed):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buf, format='PNG')
    return buf.getvalue()

rng = np.random.default_rng(1)
# 1. Raw ndarray bytes (one planted NaN nanscan cannot know about).
env = lmdb.open(out + '/raw', map_size=1 << 24)
with env.begin(write=True) as t:
    for i in range(30):
        a = rng.standard_normal(12).astype(np.float32)
        if i == 7: a[3] = np.nan
        t.put(b'%08d' % i, a.tobytes())
env.close()

# 2. BasicSR-style PNG values, one value that is not an image, plus pickled __len__/__keys__ metadata.
env = lmdb.open(out + '/images', map_size=1 << 24)
keys = []
with env.begin(write=True) as t:
    for i in range(20):
        k = b'img_%03d' % i
        keys.append(k)
        t.put(k, b'this is not a png' if i == 13 else png(i))
    t.put(b'__len__', pickle.dumps(20))
    t.put(b'__keys__', pickle.dumps(keys))
env.close()

# 3. Caffe Datums, with an empty value, a JSON value and a raw PNG among them.
env = lmdb.open(out + '/datums', map_size=1 << 24)
with env.begin(write=True) as t:
    for i in range(40):
        v = datum(1, 4, 4, bytes(rng.integers(0, 256, 16, dtype=np.uint8)), i % 4)
        if i == 3: v = b''
        if i == 17: v = b'{"label": 3}'
        if i == 29: v = png(29)
        t.put(b'%08d' % i, v)
env.close()
`;

let dir = '';
let before = '';
const datasets = new Map<string, DatasetReport>();

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'nanscan-coverage-'));
  const w = spawnSync(PYTHON, ['-c', WRITER, dir], { encoding: 'utf8' });
  expect(w.stderr).toBe('');
  expect(w.status).toBe(0);
  before = hashTree(dir);
  const { report } = scanJson([dir, '--workers', '2'], dir);
  for (const d of report.datasets) datasets.set(path.basename(d.path), d);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const keysOf = (d: DatasetReport, kind: string): (string | undefined)[] =>
  d.findings.filter((f) => f.kind === kind).map((f) => f.key);

describe('a key/value database is judged by what its values are', () => {
  it('raw ndarray bytes are unchecked, never damage, and the report does not call them clean', () => {
    const d = datasets.get('raw')!;
    expect(d.records).toBe(30);
    expect(d.findingCounts).toEqual({ unchecked: 1 });
    expect(d.coverage.checkedRecords).toBe(0);
    expect(d.coverage.unchecked).toMatchObject([{ reason: 'opaque_value', unit: 'record', count: 30 }]);
    expect(d.coverage.unchecked[0]!.examples[0]).toBe('key 00000000');
    const f = d.findings[0]!;
    expect(f.severity).toBe('warning');
    expect(f.count).toBe(30);
  });

  it('an image database checks every image, calls a non-image value an error, and leaves metadata keys alone', () => {
    const d = datasets.get('images')!;
    expect(d.records).toBe(20);
    expect(d.coverage).toEqual({ records: 20, checkedRecords: 20, metadataEntries: 2, unchecked: [] });
    expect(d.findingCounts).toEqual({ corrupt_image: 1 });
    expect(keysOf(d, 'corrupt_image')).toEqual(['img_013']);
    expect(d.findings[0]!.severity).toBe('error');
    // The declared count (22 entries) is reached: 20 records and 2 metadata entries.
    expect(d.declaredRecords).toBe(22);
    expect(d.findingCounts.record_count_mismatch).toBeUndefined();
  });

  it('a Datum database calls an empty value, a JSON value and a raw PNG bad records at their keys', () => {
    const d = datasets.get('datums')!;
    expect(d.records).toBe(40);
    expect(d.findingCounts).toEqual({ bad_record: 3 });
    expect(keysOf(d, 'bad_record').sort()).toEqual(['00000003', '00000017', '00000029']);
    expect(d.findings.every((f) => f.severity === 'error')).toBe(true);
    expect(d.findings.find((f) => f.key === '00000003')!.message).toContain('is empty (0 bytes)');
    expect(d.findings.find((f) => f.key === '00000029')!.message).toContain('encoded image, not a Datum');
    expect(d.coverage.unchecked).toEqual([]);
  });

  it('never writes into the databases', () => {
    expect(hashTree(dir)).toBe(before);
  });
});

describe('the gate acts on what was not checked', () => {
  it('--fail-on error passes a partly checked dataset, --fail-on warning fails it, and the text says why', () => {
    const raw = path.join(dir, 'raw');
    const lenient = runCli(['scan', raw, '--no-color'], dir);
    expect(lenient.status).toBe(0);
    expect(lenient.stdout).not.toContain('✔ No problems found.');
    expect(lenient.stdout).toContain('No problems found in 0 of 30 records; 30 not checked');
    const strict = runCli(['scan', raw, '--fail-on', 'warning'], dir);
    expect(strict.status).toBe(1);
  });

  it('HTML and JUnit show it: a "Not checked" table, checkedRecords, and a failing coverage testcase', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'nanscan-coverage-out-'));
    try {
      const html = path.join(out, 'r.html');
      const xml = path.join(out, 'r.xml');
      const r = runCli(['scan', path.join(dir, 'raw'), '--fail-on', 'warning', '-q', '--html', html, '--junit', xml], dir);
      expect(r.status).toBe(1);
      const page = readFileSync(html, 'utf8');
      expect(page).toContain('<h3>Not checked</h3>');
      expect(page).toContain('0 of 30 records checked');
      expect(page).toContain('neither Caffe Datums nor encoded images');
      const junit = readFileSync(xml, 'utf8');
      expect(junit).toContain('<property name="checkedRecords" value="0"/>');
      expect(junit).toMatch(/<testcase name="coverage"[^>]*>\s*<failure type="unchecked"/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
