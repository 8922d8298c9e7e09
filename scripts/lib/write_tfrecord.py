"""Writes the TFRecord fixtures (fixtures/tfrecord/) and a manifest of the faults planted in them.

Independent of nanscan's reader: framing per tensorflow/core/lib/io/record_writer.cc with a table CRC-32C
written here, tf.train.Example encoded by hand per example.proto / feature.proto (packed floats and int64s, as
TensorFlow writes them), JPEGs by PIL. Deterministic (seeded). Run: /usr/bin/python3 scripts/lib/write_tfrecord.py OUT
"""
import gzip
import io
import json
import os
import random
import struct
import sys
import zlib

from PIL import Image

_T = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _T.append(c)


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = _T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(b):
    c = crc32c(b)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data):
    n = struct.pack('<Q', len(data))
    return n + struct.pack('<I', masked(n)) + data + struct.pack('<I', masked(data))


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def ld(field, payload):
    return varint((field << 3) | 2) + varint(len(payload)) + payload


def feature(value):
    kind, vals = value
    if kind == 'bytes':
        return ld(1, b''.join(ld(1, v) for v in vals))
    if kind == 'float':
        return ld(2, ld(1, struct.pack('<%df' % len(vals), *vals)))
    return ld(3, ld(1, b''.join(varint(v) for v in vals)))


def example(features):
    entries = b''.join(ld(1, ld(1, k.encode()) + ld(2, feature(v))) for k, v in features.items())
    return ld(1, entries)


def jpeg(seed, size=(16, 12)):
    rnd = random.Random(seed)
    im = Image.new('RGB', size, tuple(rnd.randrange(256) for _ in range(3)))
    for _ in range(20):
        im.putpixel((rnd.randrange(size[0]), rnd.randrange(size[1])), tuple(rnd.randrange(256) for _ in range(3)))
    b = io.BytesIO()
    im.save(b, 'JPEG', quality=90)
    return b.getvalue()


def image_example(i, rnd, label=None, image=None):
    return example({
        'image/encoded': ('bytes', [image if image is not None else jpeg(i)]),
        'image/class/label': ('int64', [label if label is not None else i % 10]),
        'x': ('float', [rnd.uniform(-1, 1) for _ in range(8)]),
        'ids': ('int64', [i, -i, 3]),
        'name': ('bytes', [b'sample-%d' % i]),
    })


def write(path, datas):
    """Writes framed records; returns each record's byte offset."""
    offsets, blob = [], bytearray()
    for d in datas:
        offsets.append(len(blob))
        blob += frame(d)
    with open(path, 'wb') as f:
        f.write(blob)
    return offsets, bytes(blob)


def main(out):
    os.makedirs(os.path.join(out, 'shards'), exist_ok=True)
    os.makedirs(os.path.join(out, 'other'), exist_ok=True)
    rnd = random.Random(7)
    m = {}
    # Clean: a folder of two shards, 6 + 5 image Examples.
    for s, rng in ((0, range(0, 6)), (1, range(6, 11))):
        write(os.path.join(out, 'shards', 'train.tfrecord-%05d-of-00002' % s), [image_example(i, rnd) for i in rng])
    # Values: NaN at record 3 ('x' element 2), +Inf at record 5 ('x' element 0), label 12 at record 7.
    datas = []
    for i in range(10):
        x = [rnd.uniform(-1, 1) for _ in range(8)]
        if i == 3:
            x[2] = float('nan')
        if i == 5:
            x[0] = float('inf')
        datas.append(example({'x': ('float', x), 'label': ('int64', [12 if i == 7 else i % 10])}))
    offs, _ = write(os.path.join(out, 'values.tfrecord'), datas)
    m['values.tfrecord'] = {'records': 10, 'nan': [3, offs[3]], 'posinf': [5, offs[5]], 'label': [7, offs[7], 12]}
    # A truncated JPEG in image/encoded of record 2 (the record itself intact).
    good = jpeg(2, (64, 48))
    datas = [image_example(i, rnd, image=good[: len(good) // 2] if i == 2 else None) for i in range(5)]
    offs, _ = write(os.path.join(out, 'bad-jpeg.tfrecord'), datas)
    m['bad-jpeg.tfrecord'] = {'records': 5, 'image': [2, offs[2]]}
    # Data CRC: one byte of record 4's data flipped; record 5 on still read.
    datas = [image_example(i, rnd) for i in range(8)]
    offs, blob = write(os.path.join(out, 'other', 'data-crc.tfrecord'), datas)
    b = bytearray(blob)
    b[offs[4] + 12 + 20] ^= 0x40
    open(os.path.join(out, 'other', 'data-crc.tfrecord'), 'wb').write(b)
    m['other/data-crc.tfrecord'] = {'records': 8, 'bad': [4, offs[4]]}
    # Length CRC: record 3's length CRC flipped: framing lost at record 3, found again at record 4.
    offs, blob = write(os.path.join(out, 'length-crc.tfrecord'), datas)
    b = bytearray(blob)
    b[offs[3] + 9] ^= 0x01
    open(os.path.join(out, 'length-crc.tfrecord'), 'wb').write(b)
    m['length-crc.tfrecord'] = {'records': 7, 'lost': [3, offs[3]], 'resumed': offs[4]}
    # Truncated inside record 6.
    offs, blob = write(os.path.join(out, 'truncated.tfrecord'), datas)
    open(os.path.join(out, 'truncated.tfrecord'), 'wb').write(blob[: offs[6] + 30])
    m['truncated.tfrecord'] = {'records': 6, 'cut': [6, offs[6]]}
    # GZIP and ZLIB compressed (TFRecordOptions compression_type), and a gzip stream cut short.
    plain = b''.join(frame(d) for d in datas)
    open(os.path.join(out, 'train.tfrecord.gz'), 'wb').write(gzip.compress(plain, mtime=0))
    open(os.path.join(out, 'train.tfrecord.zlib'), 'wb').write(zlib.compress(plain))
    gz = gzip.compress(plain, mtime=0)
    open(os.path.join(out, 'cut.tfrecord.gz'), 'wb').write(gz[: len(gz) * 2 // 3])
    m['train.tfrecord.gz'] = {'records': 8}
    m['train.tfrecord.zlib'] = {'records': 8}
    # Empty: 0 records.
    open(os.path.join(out, 'empty.tfrecord'), 'wb').close()
    # Record 2 of an Example file is not an Example: a length-delimited field 1 whose length runs past the end.
    datas = [image_example(i, rnd) for i in range(4)]
    datas[2] = b'\x0a\x7f\x01\x02'
    offs, _ = write(os.path.join(out, 'other', 'not-example.tfrecord'), datas)
    m['other/not-example.tfrecord'] = {'records': 4, 'bad': [2, offs[2]]}
    # A file of text lines (not Examples): read and counted, not checked.
    # (In other/, as the bad records above: the folder dataset would count them as unchecked, which the fixture
    # suite's located findings cannot name.)
    write(os.path.join(out, 'other', 'text.tfrecord'), [b'line %d of plain text' % i for i in range(5)])
    m['other/text.tfrecord'] = {'records': 5}
    # A file named otherwise (found by its framing when named explicitly).
    write(os.path.join(out, 'other', 'train-00000-of-00001'), [image_example(i, rnd) for i in range(3)])
    with open(os.path.join(out, 'manifest.json'), 'w') as f:
        json.dump(m, f, indent=1, sort_keys=True)


def read(path):
    """An independent framing reader (as tf.data.TFRecordDataset reads, with CRC checks): each record's offset,
    length and whether its data CRC verifies, stopping at the first length whose CRC fails or that runs past the
    end. GZIP/ZLIB files are inflated whole (fixtures are small)."""
    blob = open(path, 'rb').read()
    if blob[:2] == b'\x1f\x8b':
        blob = gzip.decompress(blob)
    elif path.endswith('.zlib'):
        blob = zlib.decompress(blob)
    out, at = [], 0
    while at + 12 <= len(blob):
        n, = struct.unpack_from('<Q', blob, at)
        if struct.unpack_from('<I', blob, at + 8)[0] != masked(blob[at:at + 8]) or at + 16 + n > len(blob):
            break
        data = blob[at + 12:at + 12 + n]
        out.append({'offset': at, 'length': n, 'ok': struct.unpack_from('<I', blob, at + 12 + n)[0] == masked(data)})
        at += 16 + n
    return {'records': out, 'end': at, 'size': len(blob)}


if __name__ == '__main__':
    if sys.argv[1] == '--read':
        json.dump(read(sys.argv[2]), sys.stdout)
    else:
        main(sys.argv[1])
