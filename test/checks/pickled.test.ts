/**
 * How a decoded pickle becomes a sample's members (src/checks/pickled.ts), on values pickled by Python: arrays and
 * numeric lists, labels by name and by (array, int) pairs, floats as one-value arrays, image bytes, nesting, and
 * what stays opaque.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { pickleFields } from '../../src/checks/pickled.js';
import { decodePickle } from '../../src/decode/pickle.js';
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
