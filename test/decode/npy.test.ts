/**
 * The .npy decoder against numpy: arrays written by numpy (`np.save`, `write_array(version=…)`, `np.savez`),
 * and for each the values numpy reads back, dumped as C-order little-endian bytes (float16 as float32, bool as
 * uint8), compared byte for byte with what npyRows returns.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_PYTHON } from '../../scripts/lib/caffe.js';
import { npyRowCount, npyRows, parseNpyHeader, type NpyHeader } from '../../src/decode/npy.js';

const GEN = String.raw`
import sys, json, os, io, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(7)
cases = {}
def add(name, a, version=None):
    p = os.path.join(out, name + '.npy')
    with open(p, 'wb') as f:
        if version is None: np.save(f, a, allow_pickle=True)
        else: np.lib.format.write_array(f, a, version=version, allow_pickle=True)
    meta = {'shape': list(a.shape), 'descr': np.lib.format.dtype_to_descr(a.dtype), 'fortran': bool(a.flags.f_contiguous and not a.flags.c_contiguous)}
    b = np.load(p, allow_pickle=False) if a.dtype.kind in 'biuf' else None
    if b is not None:
        if b.dtype.kind == 'f' and b.dtype.itemsize == 2: b = b.astype('<f4')
        elif b.dtype.kind == 'b': b = b.astype('u1')
        else: b = b.astype(b.dtype.newbyteorder('<'))
        np.ascontiguousarray(b).tofile(p + '.expect')
        meta['expect'] = True
    cases[name] = meta
base = rng.standard_normal((5, 3, 2))
for t in ['f2', 'f4', 'f8', 'i1', 'u1', 'i2', 'u2', 'i4', 'u4', 'i8', 'u8']:
    a = (base * 100).astype('<' + t) if t[0] != 'u' else np.abs(base * 100).astype('<' + t)
    add('le_' + t, a)
    add('be_' + t, a.astype('>' + t))
f = rng.standard_normal((4, 7)).astype('<f4'); f[1, 2] = np.nan; f[3, 6] = np.inf
add('nan_f32', f)
add('half_special', np.array([np.nan, np.inf, -np.inf, 65504, -0.0, 6e-8, 1.0], dtype='<f2'))
add('fortran_2d', np.asfortranarray(rng.standard_normal((6, 5)).astype('<f4')))
add('fortran_3d', np.asfortranarray(np.arange(4 * 3 * 5, dtype='>i4').reshape(4, 3, 5)))
add('fortran_4d', np.asfortranarray(rng.standard_normal((3, 2, 4, 2))))
add('zero_d', np.array(3.5, dtype='<f8'))
add('empty', np.zeros((0, 5), dtype='<f4'))
add('one_d', np.arange(17, dtype='<i8'))
add('four_d', rng.standard_normal((2, 3, 4, 5)).astype('<f4'))
add('bool', rng.random((6, 4)) > 0.5)
add('object', np.array([{'a': 1}, None, 'x'], dtype=object))
add('structured', np.zeros(3, dtype=[('x', '<f4'), ('y', '<i8', (2,))]))
add('strings', np.array(['ab', 'cde'], dtype='<U3'))
add('complex', np.ones(3, dtype='<c8'))
add('v2', rng.standard_normal((3, 4)).astype('<f4'), version=(2, 0))
add('v3', np.arange(6, dtype='<u2').reshape(2, 3), version=(3, 0))
json.dump(cases, open(os.path.join(out, 'cases.json'), 'w'))
`;

let dir = '';
let cases: Record<string, { shape: number[]; descr: unknown; fortran: boolean; expect?: boolean }> = {};

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nanscan-npy-'));
  const r = spawnSync(SYSTEM_PYTHON, ['-c', GEN, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`numpy failed: ${r.stderr}`);
  cases = JSON.parse(readFileSync(path.join(dir, 'cases.json'), 'utf8')) as typeof cases;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function header(name: string): { h: NpyHeader; bytes: Uint8Array } {
  const bytes = new Uint8Array(readFileSync(path.join(dir, `${name}.npy`)));
  const h = parseNpyHeader(bytes);
  if ('error' in h) throw new Error(`${name}: ${h.error}`);
  return { h, bytes };
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

describe('parseNpyHeader and npyRows against numpy', () => {
  it('reads every numeric case as numpy does, whole and row by row', () => {
    const numeric = Object.entries(cases).filter(([, c]) => c.expect === true);
    expect(numeric.length).toBeGreaterThan(25);
    for (const [name, c] of numeric) {
      const { h, bytes } = header(name);
      expect(h.shape, name).toEqual(c.shape);
      expect(h.fortranOrder, name).toBe(c.fortran);
      const data = bytes.subarray(h.headerBytes);
      const expected = new Uint8Array(readFileSync(path.join(dir, `${name}.npy.expect`)));
      const rows = npyRowCount(h);
      const all = npyRows(h, data, 0, rows);
      expect(Buffer.from(bytesOf(all.data)).equals(Buffer.from(expected)), name).toBe(true);
      // Row by row: the same bytes, in pieces.
      const per = rows === 0 ? 0 : expected.length / rows;
      for (let r = 0; r < rows; r++) {
        const one = npyRows(h, data, r, 1);
        expect(Buffer.from(bytesOf(one.data)).equals(Buffer.from(expected.subarray(r * per, (r + 1) * per))), `${name} row ${r}`).toBe(true);
      }
    }
  });

  it('names the dtypes', () => {
    const kinds = Object.fromEntries(Object.keys(cases).map((n) => [n, header(n).h.dtype]));
    expect(kinds['le_f2']).toMatchObject({ kind: 'f16', itemSize: 2, bigEndian: false });
    expect(kinds['be_i8']).toMatchObject({ kind: 'i64', itemSize: 8, bigEndian: true, descr: '>i8' });
    expect(kinds['be_f4']).toMatchObject({ kind: 'f32', bigEndian: true });
    expect(kinds['bool']).toMatchObject({ kind: 'bool', itemSize: 1 });
    expect(kinds['object']).toMatchObject({ kind: 'object' });
    expect(kinds['structured']).toMatchObject({ kind: 'other', itemSize: 20 });
    expect(kinds['strings']).toMatchObject({ kind: 'other', itemSize: 12 });
    expect(kinds['complex']).toMatchObject({ kind: 'other', itemSize: 8 });
    expect(header('v2').h.version).toBe(2);
    expect(header('v3').h.version).toBe(3);
    expect(npyRows(header('le_f2').h, header('le_f2').bytes.subarray(header('le_f2').h.headerBytes), 0, 1).dtype).toBe('f16');
    expect(npyRows(header('bool').h, header('bool').bytes.subarray(header('bool').h.headerBytes), 0, 1).dtype).toBe('u8');
    expect(npyRowCount(header('zero_d').h)).toBe(1);
  });

  it('refuses object arrays as numbers', () => {
    const { h, bytes } = header('object');
    expect(() => npyRows(h, bytes.subarray(h.headerBytes), 0, 1)).toThrow(/not numeric/);
  });
});

describe('parseNpyHeader on headers that lie', () => {
  const make = (dict: string, version = 1): Uint8Array => {
    const body = Buffer.from(dict, 'latin1');
    const pre = version === 1 ? Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, body.length & 0xff, body.length >> 8])
      : Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0, body.length & 0xff, body.length >> 8, 0, 0]);
    return new Uint8Array(Buffer.concat([pre, body]));
  };
  const err = (b: Uint8Array): string => {
    const r = parseNpyHeader(b);
    return 'error' in r ? r.error : 'ok';
  };

  it('accepts the forms numpy writes', () => {
    expect(err(make("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }   \n"))).toBe('ok');
    expect(err(make('{"descr": "<f4", "fortran_order": True, "shape": (3L,)}'))).toBe('ok');
    expect(parseNpyHeader(make("{'descr': '<f4', 'fortran_order': False, 'shape': (), }"))).toMatchObject({ shape: [] });
  });

  it('rejects what is not a valid header', () => {
    expect(err(new Uint8Array(Buffer.from('PK\x03\x04not npy at all')))).toMatch(/no .npy magic/);
    expect(err(make("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }").subarray(0, 30))).toMatch(/inside the/);
    expect(err(make("{'descr': '<f4', 'fortran_order': False}"))).toMatch(/keys/);
    expect(err(make("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'x': 1}"))).toMatch(/keys/);
    expect(err(make("{'descr': '<f4', 'fortran_order': 0, 'shape': (3, 4)}"))).toMatch(/fortran_order/);
    expect(err(make("{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 4)}"))).toMatch(/shape/);
    expect(err(make("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4.5)}"))).toMatch(/dict literal/);
    expect(err(make("{'descr': __import__('os').system('x'), 'fortran_order': False, 'shape': (3,)}"))).toMatch(/dict literal/);
    expect(err(make("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}"))).toMatch(/overflows/);
    expect(err(make("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} extra"))).toMatch(/trailing/);
    expect(err(make("{'descr': '<f4', 'descr': '<f4', 'shape': (3,)}"))).toMatch(/duplicate/);
    expect(err(make("{'descr': 'hello', 'fortran_order': False, 'shape': (3,)}"))).toMatch(/type string/);
    expect(err(make('['.repeat(5000)))).toMatch(/too deep/);
    const v9 = make("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}");
    v9[6] = 9;
    expect(err(v9)).toMatch(/version 9/);
    const huge = make("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", 2);
    huge[11] = 0x7f;
    expect(err(huge)).toMatch(/more than/);
  });
});
