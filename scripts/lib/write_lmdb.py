"""Writes key/value records from stdin into a classic-format LMDB with Debian's python3-lmdb (liblmdb 0.9).

Run with /usr/bin/python3 (the Debian interpreter that has the module). stdin is a stream of frames:
u32le key length, key bytes, u32le value length, value bytes. Usage: write_lmdb.py <dir> [map_size]
"""
import struct
import sys

import lmdb


def main():
    path = sys.argv[1]
    map_size = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 34
    env = lmdb.open(path, map_size=map_size, subdir=True, meminit=False)
    inp = sys.stdin.buffer
    txn = env.begin(write=True)
    n = 0
    while True:
        head = inp.read(4)
        if not head:
            break
        (klen,) = struct.unpack("<I", head)
        key = inp.read(klen)
        (vlen,) = struct.unpack("<I", inp.read(4))
        value = inp.read(vlen)
        txn.put(key, value)
        n += 1
        # Caffe's convert_imageset commits every 1000 records; do the same.
        if n % 1000 == 0:
            txn.commit()
            txn = env.begin(write=True)
    txn.commit()
    env.close()


main()
