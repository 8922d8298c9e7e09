/**
 * The pickle reader against Python's own pickle (Debian's python3 with numpy): every protocol 0–5 for dicts of
 * ndarrays of every numeric dtype (float16, big-endian, Fortran order, 0-d, empty), tuples, lists, nested dicts,
 * numpy scalars, JPEG bytes, strings and big ints, compared element-wise with numpy's values; then hostile
 * input: globals that would run code, truncations, random mutations (checked against a restricted Unpickler).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodePickle, looksLikePickle, NdArray, ndarrayToTyped, PyDict, PyFloat, PySet, PyTuple, type PyValue,
} from '../../src/decode/pickle.js';

const PYTHON = '/usr/bin/python3';
const HERE = path.dirname(new URL(import.meta.url).pathname);

interface Case { name: string; protocol: number; pickle: string; expect: unknown }
let cases: Case[] = [];
let tmp: string;

function python(script: string, input?: string): string {
  const r = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8', input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

beforeAll(() => {
  const r = spawnSync(PYTHON, [path.join(HERE, 'pickle/oracle.py')], { encoding: 'utf8', maxBuffer: 1 << 28 });
  expect(r.status, r.stderr).toBe(0);
  cases = JSON.parse(r.stdout) as Case[];
  tmp = mkdtempSync(path.join(os.tmpdir(), 'nanscan-pickle-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A decoded value in the oracle's JSON form (oracle.py `enc`). */
function toJson(v: PyValue): unknown {
  if (v === null) return null;
  if (typeof v === 'boolean') return { bool: v };
  if (typeof v === 'number' || typeof v === 'bigint') return { int: String(v) };
  if (typeof v === 'string') return { str: v };
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') };
  if (v instanceof PyFloat) return { float: Number.isFinite(v.value) ? v.value : pyRepr(v.value) };
  if (Array.isArray(v)) return { list: v.map(toJson) };
  if (v instanceof PyTuple) return { tuple: v.items.map(toJson) };
  if (v instanceof PySet) return { set: v.items.map(toJson) };
  if (v instanceof PyDict) return { dict: [...v.map].map(([k, x]) => [toJson(k as PyValue), toJson(x)]) };
  if (v instanceof NdArray) {
    const t = ndarrayToTyped(v);
    if (t === null) return { unconvertible: v.dtype };
    const float = t.dtype === 'f16' || t.dtype === 'f32' || t.dtype === 'f64';
    const values = Array.from(t.data as ArrayLike<number | bigint>, (x) =>
      float ? (Number.isFinite(x) ? Number(x) : pyRepr(Number(x))) : String(x));
    return { nd: v.dtype, shape: v.shape, values };
  }
  return { other: String(v) };
}

const pyRepr = (x: number): string => (Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf');

describe('pickles written by Python, protocols 0 to 5', () => {
  it('decodes every case to exactly what Python pickled (numpy values element-wise)', () => {
    expect(cases.length).toBeGreaterThan(60);
    for (const c of cases) {
      const bytes = Buffer.from(c.pickle, 'base64');
      const r = decodePickle(bytes);
      expect(r.status, `${c.name}, protocol ${c.protocol}: ${r.status === 'ok' ? '' : r.reason}`).toBe('ok');
      if (r.status !== 'ok') continue;
      expect(toJson(r.value), `${c.name}, protocol ${c.protocol}`).toEqual(c.expect);
      expect(looksLikePickle(bytes), `${c.name}, protocol ${c.protocol}`).toBe(true);
    }
  });

  it('reads numpy 2 pickles (numpy._core) as numpy 1 ones', () => {
    const c = cases.find((x) => x.name === 'dict of an image and a label' && x.protocol === 0)!;
    const text = Buffer.from(c.pickle, 'base64').toString('latin1').replace('numpy.core.multiarray', 'numpy._core.multiarray');
    const r = decodePickle(Buffer.from(text, 'latin1'));
    expect(r.status).toBe('ok');
    if (r.status === 'ok') expect(toJson(r.value)).toEqual(c.expect);
  });

  it('says every proper prefix of every pickle is not a valid pickle, with an offset inside it', () => {
    for (const c of cases.filter((x) => x.name !== 'a large array')) {
      const bytes = Buffer.from(c.pickle, 'base64');
      for (let n = 0; n < bytes.length; n++) {
        const r = decodePickle(bytes.subarray(0, n));
        expect(r.status, `${c.name} p${c.protocol} cut at ${n}`).toBe('invalid');
        if (r.status === 'invalid') expect(r.offset).toBeLessThanOrEqual(n);
      }
    }
  });
});

describe('hostile pickles', () => {
  it('never runs a global: os.system is unsupported, named, and runs nothing', () => {
    const marker = path.join(tmp, 'ran');
    const hex = python(`
import os, pickle, sys
class Evil:
    def __reduce__(self):
        return (os.system, ('touch ' + ${JSON.stringify(marker)},))
sys.stdout.write(''.join(pickle.dumps({'x': Evil()}, protocol=p).hex() + '\\n' for p in range(6)))
`);
    for (const line of hex.trim().split('\n')) {
      const r = decodePickle(Buffer.from(line, 'hex'));
      expect(r).toEqual({ status: 'unsupported', reason: "global 'posix.system'" });
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('names torch tensors, PIL images and custom classes as unsupported globals', () => {
    const torch = Buffer.from('\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00)R.', 'latin1');
    expect(decodePickle(torch)).toEqual({ status: 'unsupported', reason: "global 'torch._utils._rebuild_tensor_v2'" });
    const custom = python(`
import pickle, sys, collections
P = collections.namedtuple('P', 'a b')
sys.stdout.write(pickle.dumps(P(1, 2), protocol=4).hex())
`);
    expect(decodePickle(Buffer.from(custom, 'hex'))).toEqual({ status: 'unsupported', reason: "global '__main__.P'" });
    for (const [bytes, reason] of [
      ['\x80\x02X\x01\x00\x00\x00aQ.', 'persistent ids (PERSID)'],
      ['\x80\x02\x82\x01.', 'extension codes (EXT)'],
      ['\x80\x05\x97.', 'out-of-band buffers (protocol 5 PICKLE_BUFFER)'],
    ] as const) {
      expect(decodePickle(Buffer.from(bytes, 'latin1'))).toEqual({ status: 'unsupported', reason });
    }
  });

  it('reports an object array as unsupported, a data length that lies as invalid', () => {
    const obj = python(`
import pickle, sys, numpy as np
sys.stdout.write(pickle.dumps({'o': np.array([1, 'a'], dtype=object)}, protocol=2).hex())
`);
    expect(decodePickle(Buffer.from(obj, 'hex'))).toEqual({ status: 'unsupported', reason: 'an object array' });
    // A shape of (2, 3) float32 with 24 bytes of data, written by hand in protocol 2 the way numpy writes it.
    const ok = Buffer.from(python(`
import pickle, sys, numpy as np
sys.stdout.write(pickle.dumps(np.zeros((2, 3), 'f4'), protocol=3).hex())
`), 'hex');
    const lying = Buffer.from(ok.toString('latin1').replace('K\x02K\x03\x86', 'K\x02K\x04\x86'), 'latin1');
    const r = decodePickle(lying);
    expect(r.status).toBe('invalid');
  });

  it('survives random mutations in bounded time, never calls damage what Python loads, never lets a global through', () => {
    const seeds = cases.filter((c) => c.name !== 'a large array' && c.name !== 'bytes of a JPEG');
    let state = 12345;
    const rand = (n: number): number => { state = (state * 1103515245 + 12345) >>> 0; return state % n; };
    const mutants: Buffer[] = [];
    for (let i = 0; i < 1500; i++) {
      const c = seeds[rand(seeds.length)]!;
      const b = Buffer.from(c.pickle, 'base64');
      const k = 1 + rand(3);
      for (let j = 0; j < k; j++) {
        const op = rand(3);
        const at = rand(b.length);
        if (op === 0) b[at] = rand(256);
        else if (op === 1) b[at] = b[at]! ^ (1 << rand(8));
        else b.writeUInt8([0x80, 0xff, 0x7f, 0x00, 0x01][rand(5)]!, at);
      }
      mutants.push(b);
    }
    const t0 = performance.now();
    const ours = mutants.map((b) => decodePickle(b).status);
    expect(performance.now() - t0).toBeLessThan(5000);
    // Python's loads with an Unpickler that refuses every global outside the same allow-list: 'ok' where it
    // loads, 'raise' where it raises on the bytes, 'refused' at a global it does not allow.
    const theirs = python(`
import pickle, sys, io
ALLOW = {('numpy.core.multiarray', '_reconstruct'), ('numpy', 'ndarray'), ('numpy', 'dtype'),
         ('numpy.core.multiarray', 'scalar'), ('numpy.core.numeric', '_frombuffer'), ('_codecs', 'encode'),
         ('collections', 'OrderedDict')} | {(m, n) for m in ('builtins', '__builtin__')
                                           for n in ('bytes', 'bytearray', 'set', 'frozenset')}
class Refused(Exception): pass
class U(pickle.Unpickler):
    def find_class(self, m, n):
        if (m, n) not in ALLOW: raise Refused()
        return super().find_class(m, n)
    def persistent_load(self, pid): raise Refused()
out = []
for line in sys.stdin.read().split():
    try:
        U(io.BytesIO(bytes.fromhex(line))).load(); out.append('ok')
    except Refused: out.append('refused')
    except Exception: out.append('raise')
sys.stdout.write(' '.join(out))
`, mutants.map((b) => b.toString('hex')).join('\n')).split(' ');
    const wrong: string[] = [];
    ours.forEach((s, i) => {
      // Damage is claimed only where Python raises too, and no global Python refuses is ever let through. (The
      // other way round, a value decoded where numpy would raise on an odd argument, is a missed bad_record,
      // not a false alarm: numpy's argument checks are not copied.)
      if ((s === 'invalid' && theirs[i] === 'ok') || (s === 'ok' && theirs[i] === 'refused')) {
        wrong.push(`${s} vs ${theirs[i]}: ${mutants[i]!.toString("hex")}`);
      }
    });
    expect(wrong.slice(0, 5)).toEqual([]);
  });
});
