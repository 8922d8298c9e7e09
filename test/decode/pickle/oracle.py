"""Pickles written by Python's own pickle (protocols 0-5) with numpy, and what each holds, as JSON for
test/decode/pickle.test.ts: arrays as dtype descr, shape and values in C order (floats as numbers, NaN/Inf as
strings, ints as decimal strings)."""
import base64, collections, io, json, math, pickle, sys
import numpy as np
from PIL import Image


def enc(o):
    if isinstance(o, np.ndarray) or isinstance(o, np.generic):
        a = np.asarray(o)
        flat = a.flatten(order='C')
        if a.dtype.kind == 'f':
            vals = [('nan' if math.isnan(x) else ('inf' if x > 0 else '-inf')) if not math.isfinite(x) else x
                    for x in (float(v) for v in flat)]
        else:
            vals = [str(int(v)) for v in flat]
        return {'nd': a.dtype.str, 'shape': list(a.shape), 'values': vals}
    if isinstance(o, bool):
        return {'bool': o}
    if isinstance(o, int):
        return {'int': str(o)}
    if isinstance(o, float):
        return {'float': o if math.isfinite(o) else repr(o)}
    if o is None:
        return None
    if isinstance(o, str):
        return {'str': o}
    if isinstance(o, (bytes, bytearray)):
        return {'bytes': bytes(o).hex()}
    if isinstance(o, dict):
        return {'dict': [[enc(k), enc(v)] for k, v in o.items()]}
    if isinstance(o, list):
        return {'list': [enc(x) for x in o]}
    if isinstance(o, tuple):
        return {'tuple': [enc(x) for x in o]}
    if isinstance(o, (set, frozenset)):
        return {'set': [enc(x) for x in o]}
    raise TypeError(type(o))


def jpeg():
    rng = np.random.default_rng(3)
    img = Image.fromarray((rng.random((16, 16, 3)) * 255).astype('uint8'))
    b = io.BytesIO()
    img.save(b, format='JPEG')
    return b.getvalue()


def cases():
    rng = np.random.default_rng(11)
    img = rng.standard_normal((2, 3, 4)).astype('<f4')
    img[1, 2, 3] = np.nan
    every = {
        'f2': np.array([0, 1.5, 65504, -np.inf, np.nan, 6e-8], '<f2'),
        'f4': np.array([0, -0.0, 1e-45, 3.4028235e38, np.inf], '<f4'),
        'f8': np.array([1e300, -1e-300, np.nan, 0.1], '<f8'),
        'i1': np.array([-128, 127, 0], 'i1'), 'i2': np.array([-32768, 32767], '<i2'),
        'i4': np.array([-2**31, 2**31 - 1], '<i4'), 'i8': np.array([-2**63, 2**63 - 1, 2**53 + 1], '<i8'),
        'u1': np.array([0, 255], 'u1'), 'u2': np.array([65535], '<u2'), 'u4': np.array([2**32 - 1], '<u4'),
        'u8': np.array([2**64 - 1, 0], '<u8'), 'b1': np.array([True, False, True]),
    }
    yield 'dict of an image and a label', {'img': img, 'label': 3}
    yield 'every numeric dtype', every
    yield 'big-endian arrays', {'f4': np.arange(6, dtype='>f4').reshape(2, 3) / 3, 'i8': np.array([-5, 2**40], '>i8'),
                                'f2': np.array([1.5, -2, np.inf], '>f2'), 'u2': np.array([1, 65535], '>u2')}
    yield 'Fortran-ordered arrays', {'a': np.asfortranarray(rng.standard_normal((3, 4)).astype('f4')),
                                     'b': np.asfortranarray(np.arange(24, dtype='<i2').reshape(2, 3, 4))}
    yield 'a sliced (non-contiguous) array', {'s': np.arange(12, dtype='f8').reshape(3, 4)[:, ::2]}
    yield '0-d and empty arrays', {'zero_d': np.array(2.5), 'empty': np.zeros((0, 3), 'f4'), 'empty1': np.array([], 'i8')}
    yield 'a tuple (ndarray, int)', (rng.random(5).astype('f4'), 7)
    yield 'a list of arrays', [np.ones((2, 2), 'u1'), np.full(3, -1, 'i4')]
    yield 'nested dicts', {'meta': {'depth': np.array([1.0, np.inf], 'f8'), 'name': 'x', 'id': 12}, 'x': [1, 2.5, None]}
    yield 'numpy scalars', {'f32': np.float32(1.5), 'i64': np.int64(3), 'b': np.bool_(True), 'f16': np.float16(0.5),
                            'u8': np.uint64(2**64 - 1)}
    yield 'bytes of a JPEG', {'img': jpeg(), 'label': 1}
    yield 'strings', ['plain', 'héllo ☃ \n\\ \r \x00 "\'', '', 'a' * 300]
    yield 'ints and floats', [0, -1, 255, 256, 65535, 65536, 2**31, -2**31 - 1, 2**53 + 1, -2**63, 2**70, -2**100,
                              True, False, None, 1.5, -0.0, 1e300, float('inf'), float('nan')]
    yield 'containers', [collections.OrderedDict([('b', 1), ('a', 2)]), bytearray(b'\x00\xff'), b'', b'abc' * 100,
                         (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), {}, {1: 'one', (1, 2): 'pair'}, frozenset([3])]
    big = np.arange(70000, dtype='f4')
    yield 'a large array', {'x': big}


out = []
for name, obj in cases():
    for proto in range(6):
        out.append({'name': name, 'protocol': proto, 'pickle': base64.b64encode(pickle.dumps(obj, protocol=proto)).decode(),
                    'expect': enc(obj)})
json.dump(out, sys.stdout)
