"""Writes key/value records from stdin into a LevelDB with Debian's python3-plyvel (the real libleveldb).

Run with /usr/bin/python3. stdin: frames of u32le key length, key, u32le value length, value.
Usage: write_leveldb.py <dir> <mode>
  mode 'caffe'  — like convert_imageset --backend=leveldb: a write batch committed every 1000 records
                  (write_buffer_size 256 MiB, block_size 64 KiB), then compact_range() so tables exist;
  mode 'mnist'  — like convert_mnist_data: the batch is never cleared, so each commit rewrites the records
                  before it, and nothing is compacted (the data stays in the log).
"""
import struct
import sys

import plyvel


def frames(inp):
    while True:
        head = inp.read(4)
        if not head:
            return
        (klen,) = struct.unpack("<I", head)
        key = inp.read(klen)
        (vlen,) = struct.unpack("<I", inp.read(4))
        yield key, inp.read(vlen)


def main():
    path, mode = sys.argv[1], sys.argv[2]
    db = plyvel.DB(path, create_if_missing=True, error_if_exists=True,
                   write_buffer_size=256 << 20, block_size=64 << 10)
    batch = db.write_batch()
    n = 0
    for key, value in frames(sys.stdin.buffer):
        batch.put(key, value)
        n += 1
        if n % 1000 == 0:
            batch.write()
            if mode == 'caffe':
                batch = db.write_batch()
    batch.write()
    if mode == 'caffe':
        db.compact_range()
    db.close()


main()
