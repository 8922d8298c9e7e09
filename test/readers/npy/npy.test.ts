/**
 * The NumPy reader against numpy: files and archives written by numpy in a temporary folder, read through the
 * reader (small slabs and partitions, so slabs and row ranges split), and every value compared byte for byte with
 * what numpy loads (dumped C-order little-endian; float16 as float32, bool as uint8). Damage is planted with
 * byte edits and must come back as the findings named, with every row before it still read.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_PYTHON } from '../../../scripts/lib/caffe.js';
import { discover } from '../../../src/discover.js';
import { ScanError } from '../../../src/errors.js';
import { createNpyReader, pairNpyFiles } from '../../../src/readers/npy/index.js';
import type { Reader, RowsRecord, SourceInfo } from '../../../src/readers/types.js';
import type { Finding } from '../../../src/types.js';

const GEN = String.raw`
import os, sys, json, zipfile, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(3)
expect = {}
def dump(key, field, a):
    b = np.asarray(a)
    if b.dtype.kind == 'f' and b.dtype.itemsize == 2: b = b.astype('<f4')
    elif b.dtype.kind == 'b': b = b.astype('u1')
    else: b = b.astype(b.dtype.newbyteorder('<'))
    name = key.replace('/', '_') + '__' + field + '.bin'
    np.ascontiguousarray(b).tofile(os.path.join(out, name))
    expect.setdefault(key, {})[field] = name
def save(rel, a):
    p = os.path.join(out, rel); os.makedirs(os.path.dirname(p), exist_ok=True); np.save(p, a)
    dump(rel, os.path.basename(rel)[:-4], np.load(p))
save('one/be_fortran.npy', np.asfortranarray(rng.standard_normal((37, 3, 5)).astype('>f4')))
save('one/half.npy', np.array(rng.standard_normal((41, 7)) * 1000, dtype='<f2'))
save('one/bool.npy', rng.random((33, 2)) > 0.5)
save('one/scalar.npy', np.array(-7, dtype='>i8'))
save('one/vector.npy', rng.integers(-9, 9, 29).astype('<i2'))
save('one/four_d.npy', rng.standard_normal((9, 2, 3, 4)))
save('one/u64.npy', rng.integers(0, 2**63, (11, 3), dtype='<u8'))
save('pair/X_train.npy', rng.standard_normal((50, 4)).astype('<f4'))
save('pair/y_train.npy', rng.integers(0, 3, 50).astype('<i8'))
np.save(os.path.join(out, 'one/empty.npy'), np.zeros((0, 5), dtype='<f4'))
np.save(os.path.join(out, 'one/object.npy'), np.array([{'a': 1}, None], dtype=object), allow_pickle=True)
np.save(os.path.join(out, 'one/structured.npy'), np.zeros(3, dtype=[('x', '<f4'), ('y', '<i8')]))
arrs = dict(data=rng.standard_normal((4096, 6)).astype('<f4'), label=rng.integers(0, 4, 4096), fort=np.asfortranarray(rng.standard_normal((4096, 3)).astype('>f8')), half=rng.standard_normal((4096,)).astype('<f2'), names=np.array(['a', 'b']))
np.savez(os.path.join(out, 'stored.npz'), **arrs)
np.savez_compressed(os.path.join(out, 'deflated.npz'), **arrs)
for k, v in arrs.items():
    if v.dtype.kind != 'U':
        dump('stored.npz', k, v); dump('deflated.npz', k, v)
# zip64 records everywhere (as for archives over 4 GiB): zipfile writes them past its limits.
zipfile.ZIP64_LIMIT = 1
zipfile.ZIP_FILECOUNT_LIMIT = 0
np.savez(os.path.join(out, 'zip64.npz'), data=arrs['data'], label=arrs['label'])
dump('zip64.npz', 'data', arrs['data']); dump('zip64.npz', 'label', arrs['label'])
json.dump(expect, open(os.path.join(out, 'expect.json'), 'w'))
`;
import { damageFinding } from '../../../src/checks/severity.js';

let dir = '';
let expected: Record<string, Record<string, string>> = {};

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nanscan-npyr-'));
  const r = spawnSync(SYSTEM_PYTHON, ['-c', GEN, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`numpy failed: ${r.stderr}`);
  expected = JSON.parse(readFileSync(path.join(dir, 'expect.json'), 'utf8')) as typeof expected;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const small = createNpyReader({ slabBytes: 1000, minPartitionBytes: 0 });

interface Read {
  info: SourceInfo;
  fields: Map<string, Buffer[]>;
  records: RowsRecord[];
  damage: Finding[];
}

async function readSource(rel: string, parts = 4, mod = small): Promise<Read> {
  const abs = path.join(dir, rel);
  const reader: Reader = await mod.open({ format: 'npy', path: rel, absPath: abs });
  const out: Read = { info: reader.info(), fields: new Map(), records: [], damage: [] };
  try {
    for (const p of reader.plan(parts)) {
      for await (const b of reader.read(structuredClone(p))) {
        for (const r of b.records) {
          if (r.kind !== 'rows') throw new Error('not rows');
          const copy = { ...r, data: r.data.slice() } as RowsRecord;
          out.records.push(copy);
          const list = out.fields.get(r.field) ?? [];
          list.push(Buffer.from(copy.data.buffer, copy.data.byteOffset, copy.data.byteLength));
          out.fields.set(r.field, list);
        }
        out.damage.push(...(b.damage ?? []).map(damageFinding));
      }
    }
  } finally {
    reader.close();
  }
  return out;
}

function expectSame(read: Read, key: string, only?: string): void {
  const want = expected[key];
  if (want === undefined) throw new Error(`no expectation for ${key}`);
  for (const [field, file] of Object.entries(want)) {
    if (only !== undefined && field !== only) continue;
    const got = Buffer.concat(read.fields.get(field) ?? []);
    expect(got.equals(readFileSync(path.join(dir, file))), `${key}:${field}`).toBe(true);
  }
}

describe('NumPy reader against numpy', () => {
  it('reads loose .npy files of every layout as numpy loads them, in slabs and row-range partitions', async () => {
    for (const key of Object.keys(expected).filter((k) => k.startsWith('one/'))) {
      const r = await readSource(key);
      expectSame(r, key);
      expect(r.damage, key).toEqual([]);
      expect(r.info.findings, key).toEqual([]);
    }
    const half = await readSource('one/half.npy');
    expect(half.records.every((r) => r.dtype === 'f16' && r.data instanceof Float32Array)).toBe(true);
    expect(half.records.length).toBeGreaterThan(1);
    const scalar = await readSource('one/scalar.npy');
    expect(scalar.records.map((r) => [r.firstRow, r.rows, r.rowShape])).toEqual([[0, 1, []]]);
    const fortran = await readSource('one/be_fortran.npy');
    expect(fortran.records[0]?.rowShape).toEqual([3, 5]);
  });

  it('reads a features file with its paired label file, labels marked, features counting the records', async () => {
    const r = await readSource('pair/X_train.npy');
    expectSame(r, 'pair/X_train.npy');
    expectSame(r, 'pair/y_train.npy');
    const byField = (f: string): RowsRecord[] => r.records.filter((x) => x.field === f);
    expect(byField('X_train').every((x) => !x.isLabel && x.countsRecords)).toBe(true);
    expect(byField('y_train').every((x) => x.isLabel && !x.countsRecords && x.file === path.join('pair', 'y_train.npy'))).toBe(true);
  });

  it('reports object, structured and empty arrays as unchecked, never reading them', async () => {
    for (const [rel, what] of [['one/object.npy', 'object array'], ['one/structured.npy', 'dtype ['], ['one/empty.npy', 'empty array']] as const) {
      const r = await readSource(rel);
      expect(r.records, rel).toEqual([]);
      expect(r.info.unchecked?.[0]?.reason, rel).toBe('unsupported_type');
      expect(r.info.unchecked?.[0]?.examples[0], rel).toContain(what);
    }
  });

  it('reads stored, deflated and zip64 .npz archives member by member', async () => {
    for (const key of ['stored.npz', 'deflated.npz', 'zip64.npz']) {
      const r = await readSource(key, 3);
      expectSame(r, key);
      expect(r.damage, key).toEqual([]);
      expect(r.info.findings, key).toEqual([]);
      expect(r.records.filter((x) => x.isLabel).map((x) => x.field), key).toContain('label');
      expect(new Set(r.records.filter((x) => x.countsRecords).map((x) => x.field)), key).toEqual(new Set(['data']));
    }
    const s = await readSource('stored.npz');
    expect(s.info.unchecked?.[0]?.examples).toEqual(['stored.npz:names.npy (dtype <U1)']);
  });
});

/** Copies a generated file with an edit, returning its relative name. */
function edited(rel: string, name: string, edit: (b: Buffer) => Buffer): string {
  const b = edit(Buffer.from(readFileSync(path.join(dir, rel))));
  const out = path.join(dir, 'edited', name);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, b);
  return path.join('edited', name);
}

describe('NumPy reader on damage', () => {
  it('a truncated .npy: corrupt_file at the first missing row, every complete row before it read', async () => {
    const rel = edited('one/four_d.npy', 'cut.npy', (b) => b.subarray(0, b.length - 2 * 24 * 8 - 5));
    const r = await readSource(rel);
    const rows = r.records.reduce((n, x) => n + x.rows, 0);
    expect(rows).toBe(6); // 9 rows, the last 2 and 5 bytes of row 6 gone
    expect(r.info.findings).toEqual([expect.objectContaining({ kind: 'corrupt_file', file: rel, field: 'cut', index: 6 })]);
    expect(r.info.findings[0]?.offset).toBe(readFileSync(path.join(dir, rel)).length);
    const full = readFileSync(path.join(dir, expected['one/four_d.npy']!['four_d']!));
    expect(Buffer.concat(r.fields.get('cut') ?? []).equals(full.subarray(0, 6 * 24 * 8))).toBe(true);
  });

  it('a broken deflate stream: corrupt_file for that member, the other members still read', async () => {
    const zip = readFileSync(path.join(dir, 'deflated.npz'));
    // The `data` member's compressed bytes start after its local header; damage some in the middle.
    const at = zip.indexOf('data.npy') + 'data.npy'.length + 60000;
    const rel = edited('deflated.npz', 'bad-deflate.npz', (b) => { b.fill(0xff, at, at + 40); return b; });
    const r = await readSource(rel);
    const dmg = [...r.info.findings, ...r.damage];
    expect(dmg.length, JSON.stringify(dmg)).toBe(1);
    expect(dmg[0]).toMatchObject({ kind: 'corrupt_file', file: rel, field: 'data' });
    for (const m of ['label', 'fort', 'half']) expectSame(r, 'deflated.npz', m);
    // Rows of `data` inflated before the damaged bytes are numpy's rows (deflate notices damage only some way
    // after it: rows between may differ, and the member is reported).
    const data = Buffer.concat(r.fields.get('data') ?? []);
    const want = readFileSync(path.join(dir, expected['deflated.npz']!['data']!));
    let same = 0;
    while (same < data.length && data[same] === want[same]) same++;
    expect(same).toBeGreaterThan(24 * 1000);
    expect(dmg[0]?.message).toContain(`; ${data.length / 24} of 4096 rows read`);
    expect(dmg[0]?.index).toBe(data.length / 24);
  });

  it('a stored member with a changed byte fails its CRC; an archive with no central directory cannot be opened', async () => {
    const zip = readFileSync(path.join(dir, 'stored.npz'));
    const at = zip.indexOf('label.npy') + 'label.npy'.length + 200;
    const rel = edited('stored.npz', 'flip.npz', (b) => { b[at] = (b[at] as number) ^ 1; return b; });
    const r = await readSource(rel);
    expect(r.damage).toEqual([expect.objectContaining({ kind: 'corrupt_file', field: 'label' })]);
    expect(r.damage[0]?.message).toMatch(/CRC-32/);
    const junk = edited('stored.npz', 'junk.npz', (b) => Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(10)]).subarray(0, b.length > 0 ? 14 : 0));
    const err = await small.open({ format: 'npy', path: junk, absPath: path.join(dir, junk) }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ScanError);
    expect((err as ScanError).code).toBe('SCAN_CORRUPT_SOURCE');
  });

  it('an archive cut short: members found from their local headers, rows up to the cut read', async () => {
    // Cut inside the stored `label` member (the second), 100 int64 rows into its data.
    const zip = readFileSync(path.join(dir, 'stored.npz'));
    const labelAt = zip.indexOf('label.npy');
    for (const [name, src, member, rowBytes] of [['cut-stored.npz', 'stored.npz', 'label', 8], ['cut-deflated.npz', 'deflated.npz', 'label', 8]] as const) {
      const whole = readFileSync(path.join(dir, src));
      const at = src === 'stored.npz' ? labelAt + 'label.npy'.length + 20 + 128 + 100 * rowBytes + 3 : whole.indexOf('label.npy') + 'label.npy'.length + 20 + 600;
      const rel = edited(src, name, (b) => b.subarray(0, at));
      const r = await readSource(rel);
      const dmg = [...r.info.findings, ...r.damage];
      expect(dmg[0]).toMatchObject({ kind: 'corrupt_file', file: rel });
      expect(dmg[0]?.message).toMatch(/local headers/);
      expect(dmg.some((f) => f.field === member), JSON.stringify(dmg)).toBe(true);
      expectSame(r, src, 'data'); // the member before the cut, whole
      const got = Buffer.concat(r.fields.get(member) ?? []);
      const want = readFileSync(path.join(dir, expected[src]![member]!));
      expect(got.length).toBeGreaterThan(0);
      expect(got.length % rowBytes).toBe(0);
      // A cut (unlike altered bytes) leaves every row inflated before it exact.
      expect(got.equals(want.subarray(0, got.length))).toBe(true);
      if (src === 'stored.npz') expect(got.length / rowBytes).toBe(100);
    }
  });

  it('a header that lies about its shape is a truncation; a header that is no dict is corrupt', async () => {
    const lie = edited('one/vector.npy', 'lie.npy', (b) => Buffer.from(b.toString('latin1').replace("'shape': (29,)", "'shape': (99,)"), 'latin1'));
    const r = await readSource(lie);
    expect(r.records.reduce((n, x) => n + x.rows, 0)).toBe(29);
    expect(r.info.findings).toEqual([expect.objectContaining({ kind: 'corrupt_file', index: 29 })]);
    const junk = edited('one/vector.npy', 'junk.npy', (b) => Buffer.from(b.toString('latin1').replace("'shape': (29,)", "'shape': os.x  "), 'latin1'));
    const err = await small.open({ format: 'npy', path: junk, absPath: path.join(dir, junk) }).then(() => null, (e: unknown) => e);
    expect((err as ScanError).code).toBe('SCAN_CORRUPT_SOURCE');
    expect((err as ScanError).message).toMatch(/junk\.npy.*dict literal/);
  });
});

/** A .npy file written by hand (a header numpy would not write), into the temp folder. */
function handMade(name: string, dict: string, data: Buffer): string {
  const pad = 64 - ((10 + dict.length + 1) % 64);
  const body = Buffer.from(dict + ' '.repeat(pad % 64) + '\n', 'latin1');
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, body.length & 0xff, body.length >> 8]);
  const out = path.join(dir, 'hand', name);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, Buffer.concat([pre, body, data]));
  return path.join('hand', name);
}

describe('NumPy reader limits and label rules', () => {
  it('a row too large to read at once is unchecked, not allocated', async () => {
    const rel = handMade('huge.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 100000000), }", Buffer.alloc(64));
    const r = await readSource(rel);
    expect(r.records).toEqual([]);
    expect(r.info.unchecked?.[0]?.examples[0]).toMatch(/over the \d+-byte read limit/);
  });

  it('a label-named array with several values a row (one-hot) is data; one label array a source', async () => {
    const rel = 'onehot.npz';
    const py = spawnSync(SYSTEM_PYTHON, ['-c', `import numpy as np, sys
np.savez(sys.argv[1], x=np.zeros((6, 2), 'f4'), y=np.eye(6, 3, dtype='f4'), target=np.arange(6), labels=np.arange(6))`, path.join(dir, rel)], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const r = await readSource(rel);
    expect([...new Set(r.records.filter((x) => x.isLabel).map((x) => x.field))]).toEqual(['labels']);
    expect(r.records.some((x) => x.field === 'y' && !x.isLabel)).toBe(true);
  });
});

describe('label pairing of loose .npy files', () => {
  const pairs = (names: string[]): Record<string, string> =>
    Object.fromEntries([...pairNpyFiles('/d', names).labelOf].map(([l, f]) => [path.basename(l), path.basename(f)]));
  const labels = (names: string[]): string[] => [...pairNpyFiles('/d', names).labels].map((l) => path.basename(l)).sort();

  it('pairs the conventional names', () => {
    expect(pairs(['X_train.npy', 'y_train.npy', 'X_test.npy', 'y_test.npy'])).toEqual({ 'y_train.npy': 'X_train.npy', 'y_test.npy': 'X_test.npy' });
    expect(pairs(['data.npy', 'labels.npy'])).toEqual({ 'labels.npy': 'data.npy' });
    expect(pairs(['train.npy', 'train_labels.npy', 'test_data.npy', 'test_labels.npy'])).toEqual({ 'train_labels.npy': 'train.npy', 'test_labels.npy': 'test_data.npy' });
  });

  it('is conservative: no partner, no label (unless the stem is a label name); ambiguity pairs nothing', () => {
    expect(labels(['y_train.npy'])).toEqual([]);
    expect(labels(['weights_y.npy', 'bias.npy'])).toEqual([]);
    expect(labels(['labels.npy'])).toEqual(['labels.npy']);
    expect(pairs(['a.npy', 'b.npy', 'labels.npy'])).toEqual({});
    expect(labels(['a.npy', 'b.npy', 'labels.npy'])).toEqual(['labels.npy']);
    expect(labels(['embedding.npy', 'mean.npy'])).toEqual([]);
  });

  it('discovery makes features and their labels one dataset', async () => {
    const found = await discover([path.join(dir, 'pair')], dir);
    expect(found.sources.map((s) => [s.format, path.basename(s.absPath)])).toEqual([['npy', 'X_train.npy']]);
  });
});
