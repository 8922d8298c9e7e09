/**
 * How a decoded pickle becomes a sample's members (src/checks/pickled.ts), on values pickled by Python: arrays and
 * numeric lists, labels by name and by (array, int) pairs, floats as one-value arrays, image bytes, nesting, and
 * what stays opaque.
 */
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { rng } from '../../scripts/lib/caffe.js';
import { pickleFields, PickleTemplates } from '../../src/checks/pickled.js';
import { decodePickle } from '../../src/decode/pickle.js';
import { Scratch } from '../../src/decode/pickle-numpy.js';
import type { SampleField } from '../../src/readers/types.js';

function fieldsOf(python: string): string[] {
  const r = spawnSync('/usr/bin/python3', ['-c', `import io, pickle, sys, numpy as np
from PIL import Image
b = io.BytesIO(); Image.new('RGB', (4, 4)).save(b, format='PNG'); png = b.getvalue()
sys.stdout.write(pickle.dumps(${python}, protocol=4).hex())`], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const d = decodePickle(Buffer.from(r.stdout, 'hex'));
  if (d.status !== 'ok') throw new Error(JSON.stringify(d));
  return pickleFields(d.value).map(show);
}

function show(f: SampleField): string {
  if (f.type === 'array') return `array ${f.name} ${f.dtype} [${f.shape.join(',')}] ${Array.from(f.data as ArrayLike<number>).join(',')}`;
  if (f.type === 'label') return `label ${f.name} ${f.value}`;
  if (f.type === 'image') return `image ${f.name} ${f.bytes.length > 0}`;
  return `opaque ${f.name}`;
}

describe('pickled values as sample members', () => {
  it('maps a dict: arrays, numeric lists, a float, labels by name, image bytes, nested dicts, the rest opaque', () => {
    expect(fieldsOf(`{'x': np.arange(3, dtype='f4'), 'pts': [1, 2], 'w': [0.5, 2], 'scale': 0.25, 'target': np.int64(4),
      'img': png, 'raw': b'abc', 'meta': {'depth': np.float32(1.5), 'label': 2}, 'flag': True, 'id': 7, 'name': 's', 'none': None,
      'frames': [np.zeros(2, 'u1'), 'f']}`)).toEqual([
      'array x f32 [3] 0,1,2',
      'array pts i32 [2] 1,2',
      'array w f64 [2] 0.5,2',
      'array scale f64 [] 0.25',
      'label target 4',
      'image img true',
      'opaque raw',
      'array meta.depth f32 [] 1.5',
      'label meta.label 2',
      'opaque flag',
      'opaque id',
      'opaque name',
      'opaque none',
      'array frames[0] u8 [2] 0,0',
      'opaque frames[1]',
    ]);
  });

  it('takes the int of an (array, int) or (image, int) pair as the label, and names members by position', () => {
    expect(fieldsOf(`(np.ones(2, '>f8'), 3)`)).toEqual(['array [0] f64 [2] 1,1', 'label [1] 3']);
    expect(fieldsOf(`[png, np.int32(1)]`)).toEqual(['image [0] true', 'label [1] 1']);
    expect(fieldsOf(`(np.ones(2), 3, 4)`)).toEqual(['array [0] f64 [2] 1,1', 'opaque [1]', 'opaque [2]']);
    expect(fieldsOf(`np.float16([1, 2])`)).toEqual(['array value f16 [2] 1,2']);
    expect(fieldsOf(`[0.5, 1.5]`)).toEqual(['array value f64 [2] 0.5,1.5']);
  });

  it('bounds what it walks: a list that contains itself, and shared references', () => {
    const selfRef = fieldsOf(`(lambda l: (l.append(l), l)[1])([np.ones(1)])`);
    expect(selfRef[0]).toBe('array [0] f64 [1] 1');
    expect(selfRef.length).toBeLessThanOrEqual(256);
    const shared = fieldsOf(`(lambda a: [[[[[[[[[[a, a], [a, a]]] * 2] * 2] * 2] * 2] * 2] * 2] * 2])(np.ones(1))`);
    expect(shared.length).toBeLessThanOrEqual(256);
  });
});

/**
 * Values as a database holds them: the same pickle around different arrays and labels. Each case is decoded one
 * value at a time by PickleTemplates, which decodes a value only when no earlier one has its skeleton, and must
 * give what decoding every value gives, with the arrays' bytes and the labels numpy and Python wrote.
 */
describe('pickled values decoded once per skeleton', () => {
  const WRITER = String.raw`
import io, pickle, sys, numpy as np
from PIL import Image
rng = np.random.default_rng(5)
b = io.BytesIO(); Image.new('RGB', (4, 4)).save(b, format='PNG'); png = b.getvalue()
def arr(kind, i):
    if kind == 'f4': x = rng.standard_normal(8).astype('f4')
    elif kind == 'be': x = rng.standard_normal(5).astype('>f8')
    elif kind == 'f2': x = rng.standard_normal(6).astype('f2')
    elif kind == 'fortran': x = np.asfortranarray(rng.standard_normal((2, 3)))
    else: x = rng.integers(0, 255, 7, dtype='u1')
    if kind != 'u1' and i % 7 == 3: x.flat[i % x.size] = np.nan
    if kind == 'f4' and i % 11 == 5: x[1] = np.inf
    return x
def want(x):
    c = np.ascontiguousarray(x)
    return (c.astype('<f4') if c.dtype == np.float16 else c.astype(c.dtype.newbyteorder('<'))).tobytes().hex()
# Runs of 20 values of one form (case, protocol, array kind), with random labels: as databases are written.
for i in range(800):
    case = (i // 20) % 8
    protocol = [0, 2, 3, 4, 5][(i // 160) % 5]
    kind = ['f4', 'be', 'f2', 'fortran', 'u1'][(case + i // 160) % 5]
    x = arr(kind, i); label = int(rng.integers(0, 4))
    if case == 0: v, name = {'x': x, 'label': label}, 'x'
    elif case == 1: v, name = (x, label), '[0]'
    elif case == 2: v, name = {'x': x, 'label': np.int64(label)}, 'x'
    elif case == 3: v, name = {'x': x, 'label': np.array(label, '>i4')[()], 'note': 'same'}, 'x'
    elif case == 4:
        # The same length of bytes, an image or not: the payload decides.
        img = png if rng.random() < 0.5 else bytes(len(png))
        v, name = {'img': img, 'x': x, 'label': label}, 'x'
    elif case == 5:
        k = b'%02d' % (i % 3)
        v, name = {k: k, 'x': x, 'label': label}, 'x'
    elif case == 6: v, name = {'x': x, 'target': float(label), 'meta': {'id': label}}, 'x'
    else: v, name = [x, np.float32(label), label], '[0]'
    p = pickle.dumps(v, protocol=protocol)
    # Where the array's bytes lie in the pickle (-1 when written as text: protocols 0 and 2).
    raw = x.tobytes(order='A')
    sys.stdout.write('%s %s %s %d %d %d\n' % (p.hex(), name, want(x), label, p.find(raw), len(raw)))
`;

  // Each line: the pickle's hex, the array's member name, its bytes as numpy gives them (C order, little-endian),
  // the label, and where the array's bytes lie in the pickle and how many.
  let lines: string[][];
  beforeAll(() => {
    const r = spawnSync('/usr/bin/python3', ['-c', WRITER], { encoding: 'utf8', maxBuffer: 1 << 26 });
    expect(r.status, r.stderr).toBe(0);
    lines = r.stdout.trim().split('\n').map((l) => l.split(' '));
    expect(lines.length).toBe(800);
  });

  it('gives every value the members a full decode gives, with the bytes numpy wrote, and decodes few', () => {
    const templates = new PickleTemplates();
    const scratch = new Scratch();
    lines.forEach(([hex, name, bytes, label], i) => {
      const value = Buffer.from(hex!, 'hex');
      const full = decodePickle(value);
      if (full.status !== 'ok') throw new Error(`value ${i}: ${JSON.stringify(full)}`);
      scratch.reset();
      const got = templates.fields(value, scratch);
      if (got.status !== 'ok') throw new Error(`value ${i}: ${JSON.stringify(got)}`);
      expect(got.fields.map(show), `value ${i}`).toEqual(pickleFields(full.value).map(show));
      const x = got.fields.find((f) => f.name === name);
      if (x?.type !== 'array') throw new Error(`value ${i}: no array '${name}'`);
      expect(Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength).toString('hex'), `value ${i}`).toBe(bytes);
      const l = got.fields.find((f) => f.type === 'label');
      if ((i / 20 | 0) % 8 < 6) expect(l?.type === 'label' ? l.value : null, `value ${i}`).toBe(Number(label));
    });
    // Protocols 0 and 2 write bytes as text (_codecs.encode): their arrays are not payloads, nor is a value whose
    // key is its bytes (case 5) a template. That leaves 21 runs of 20, each decoding about one value per label.
    expect(templates.hits).toBeGreaterThan(300);
  });

  it('gives a damaged value what decoding it gives: 5,600 mutants among the values they were made from', () => {
    const values = lines.map((l) => Buffer.from(l[0]!, 'hex'));
    const templates = new PickleTemplates();
    const scratch = new Scratch();
    const outcome = (v: Uint8Array): string => {
      scratch.reset();
      const got = templates.fields(v, scratch);
      return got.status === 'ok' ? got.fields.map(exact).join('\n') : JSON.stringify(got);
    };
    const decoded = (v: Uint8Array): string => {
      const d = decodePickle(v);
      return d.status === 'ok' ? pickleFields(d.value).map(exact).join('\n') : JSON.stringify(d);
    };
    const next = rng(0x9e3779b9);
    const random = (n: number): number => Math.floor(next() * n);
    let mutants = 0;
    let fromTemplates = 0;
    for (let round = 0; round < 7; round++) {
      values.forEach((clean, i) => {
        outcome(clean);
        // Half in the array's bytes (where a protocol 3–5 pickle holds them), half anywhere.
        const v = Buffer.from(clean);
        const [payload, size] = [Number(lines[i]![4]), Number(lines[i]![5])];
        const at = payload >= 0 && random(2) === 0 ? payload + random(size) : random(v.length);
        let m: Uint8Array = v;
        switch (random(4)) {
          case 0: v[at]! ^= 1 << random(8); break;
          case 1: v[at] = random(256); break;
          case 2: v.fill(0xff, at, Math.min(at + 4, v.length)); break;
          default: m = v.subarray(0, at);
        }
        const hits = templates.hits;
        expect(outcome(m), `round ${round}, value ${i}, byte ${at}`).toBe(decoded(m));
        fromTemplates += templates.hits - hits;
        mutants++;
      });
    }
    expect(mutants).toBe(5600);
    // The mutants that only changed payloads came from templates: the comparison above held the reuse to account.
    expect(fromTemplates).toBeGreaterThan(1000);
  });
});

/** A member with every byte it carries: array values as stored, image bytes, labels. */
function exact(f: SampleField): string {
  if (f.type === 'array') {
    return `array ${f.name} ${f.dtype} [${f.shape.join(',')}] ${Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength).toString('hex')}`;
  }
  if (f.type === 'image') return `image ${f.name} ${Buffer.from(f.bytes).toString('hex')}`;
  return show(f);
}
