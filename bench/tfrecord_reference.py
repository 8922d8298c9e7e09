"""The reference a user runs instead of nanscan on TFRecords, without TensorFlow: what the PyTorch `tfrecord`
package's reader does (tfrecord/reader.py: framing, both masked CRC-32Cs checked with the `crc32c` module,
then Example decoding), with the Example decoded by hand (no protobuf module here): float_list values as one
numpy.frombuffer each, int64 varints in Python, image bytes decoded with PIL (`Image.open(...).load()`, as
tf.io.decode_jpeg would decode them); then NaN/Inf counted with numpy.isfinite.

usage: /usr/bin/python3 bench/tfrecord_reference.py FILE_OR_FOLDER  -> prints records, bad, nonfinite
"""
import io
import os
import struct
import sys

import crc32c
import numpy as np
from PIL import Image


def masked(b):
    c = crc32c.crc32c(b)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(b, i):
    v = s = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << s
        if x < 0x80:
            return v, i
        s += 7


def fields(b, i, end):
    while i < end:
        tag, i = varint(b, i)
        wt = tag & 7
        if wt == 2:
            n, i = varint(b, i)
            yield tag >> 3, b[i:i + n]
            i += n
        elif wt == 0:
            _, i = varint(b, i)
        elif wt == 5:
            i += 4
        elif wt == 1:
            i += 8
        else:
            raise ValueError('wire type')


def check_example(data, stats):
    for f, features in fields(data, 0, len(data)):
        if f != 1:
            continue
        for _, entry in fields(features, 0, len(features)):
            value = None
            for k, v in fields(entry, 0, len(entry)):
                if k == 2:
                    value = v
            for kind, lst in fields(value, 0, len(value)):
                for _, payload in fields(lst, 0, len(lst)):
                    if kind == 2:
                        a = np.frombuffer(payload, dtype='<f4')
                        stats['nonfinite'] += int(a.size - np.count_nonzero(np.isfinite(a)))
                    elif kind == 3:
                        i = 0
                        while i < len(payload):
                            _, i = varint(payload, i)
                    elif kind == 1 and payload[:3] == b'\xff\xd8\xff':
                        try:
                            Image.open(io.BytesIO(payload)).load()
                        except Exception:
                            stats['bad'] += 1


def read(path, stats):
    with open(path, 'rb') as f:
        while True:
            head = f.read(12)
            if len(head) < 12:
                return
            n, = struct.unpack('<Q', head[:8])
            if struct.unpack('<I', head[8:])[0] != masked(head[:8]):
                stats['bad'] += 1
                return
            data = f.read(n)
            crc = f.read(4)
            if len(crc) < 4 or struct.unpack('<I', crc)[0] != masked(data):
                stats['bad'] += 1
                continue
            stats['records'] += 1
            check_example(memoryview(data).tobytes(), stats)


def main(p):
    stats = {'records': 0, 'bad': 0, 'nonfinite': 0}
    files = [os.path.join(p, n) for n in sorted(os.listdir(p))] if os.path.isdir(p) else [p]
    for f in files:
        read(f, stats)
    print(stats['records'], stats['bad'], stats['nonfinite'])


if __name__ == '__main__':
    main(sys.argv[1])
