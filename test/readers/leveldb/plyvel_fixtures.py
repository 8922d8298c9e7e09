"""Writes LevelDB fixtures with the real library (Debian's python3-plyvel, LevelDB 1.23) and dumps what LevelDB
itself returns, as the oracle for the TypeScript reader. Run with /usr/bin/python3 (the Debian interpreter).

Usage: plyvel_fixtures.py JOBS.json — a list of jobs run in order:
  {"op": "make", "kind": K, "dir": D, ...options}   create database D (see the make_* functions)
  {"op": "dump", "dir": D, "out": F}                open D with LevelDB (this modifies D!) and write every pair
                                                    as u32le key length, key, u32le value length, value
  {"op": "hold", "dir": D, "out": F}                like dump, then print "ready" and keep D open until stdin ends
Seeded, so fixtures are deterministic for a given LevelDB.
"""
import json
import random
import struct
import sys

import plyvel


def value(rng, n):
    """Half random bytes, half repetitive text: Snappy compresses it, but not to nothing."""
    head = bytes(rng.getrandbits(8) for _ in range(n // 2))
    text = (b'{"label": %d, "pad": "' % rng.randrange(10)) * (n // 40 + 1)
    return (head + text)[:n]


def make_empty(d, o):
    plyvel.DB(d, create_if_missing=True).close()


def make_logonly(d, o):
    """A few writes that never reach a table: the log holds everything (LEVELDB.md §2.3)."""
    db = plyvel.DB(d, create_if_missing=True, write_buffer_size=4 << 20)
    rng = random.Random(1)
    for i in range(20):
        db.put(b'key%03d' % i, value(rng, 50 + i))
    db.put(b'', b'empty key')
    db.put(b'empty-value', b'')
    db.put(b'big', value(rng, 100_000))  # FIRST/MIDDLE/LAST fragments across 32 KiB blocks
    db.delete(b'key003')
    db.put(b'key005', b'overwritten')
    with db.write_batch() as wb:  # one batch: put and delete of one key, two puts of another
        wb.put(b'key007', b'x')
        wb.delete(b'key007')
        wb.put(b'key008', b'first')
        wb.put(b'key008', b'second')
    db.close()


def make_compacted(d, o):
    """Many tables over several levels, then overwrites and deletions in newer levels and in the log."""
    comp = o.get('compression', 'snappy')
    db = plyvel.DB(d, create_if_missing=True, write_buffer_size=64 * 1024, block_size=1024, compression=comp,
                   max_file_size=128 * 1024)
    rng = random.Random(2)
    n = o.get('n', 4000)
    for i in range(n):
        db.put(b'k%06d' % i, value(rng, rng.randint(100, 1100)))
    db.compact_range()
    for i in range(0, n, 7):
        db.put(b'k%06d' % i, b'new-' + value(rng, rng.randint(20, 400)))
    for i in range(0, n, 11):
        db.delete(b'k%06d' % i)
    for i in range(n, n + 600):
        db.put(b'k%06d' % i, value(rng, rng.randint(100, 600)))
    for i in range(0, n, 13):
        db.put(b'k%06d' % i, b'log-' + value(rng, 30))
    for i in range(5, n, 17):
        db.delete(b'k%06d' % i)
    db.close()


def make_binary(d, o):
    """Binary keys: 0x00 and 0xff bytes, the empty key, keys that are prefixes of others."""
    db = plyvel.DB(d, create_if_missing=True, write_buffer_size=64 * 1024, block_size=1024, max_file_size=96 * 1024)
    rng = random.Random(3)
    keys = set([b'', b'\x00', b'\x00\x00', b'\xff', b'\xff\xff', b'\x7f', b'\x80'])
    while len(keys) < 2500:
        k = bytes(rng.choice([0, 1, 0x7f, 0x80, 0xfe, 0xff, rng.getrandbits(8)]) for _ in range(rng.randint(1, 24)))
        keys.add(k)
        if rng.random() < 0.2:
            keys.add(k + b'\x00')
    keys = sorted(keys)
    rng.shuffle(keys)
    for k in keys:
        db.put(k, value(rng, rng.randint(0, 700)))
    db.compact_range()
    for k in keys[::9]:
        db.delete(k)
    for k in keys[::5]:
        db.put(k, b'again-' + k)
    db.close()


def make_mnist(d, o):
    """convert_mnist_data's writer: one WriteBatch, committed every 1000 puts and never cleared (LEVELDB.md §11.2)."""
    db = plyvel.DB(d, create_if_missing=True, block_size=65536, write_buffer_size=o.get('write_buffer', 256 << 20))
    rng = random.Random(4)
    wb = db.write_batch()
    count = 0
    for item in range(o.get('items', 5000)):
        label = rng.randrange(10)
        pixels = bytes(rng.getrandbits(8) if rng.random() < 0.2 else 0 for _ in range(784))
        # A caffe.Datum: channels 1, height 28, width 28, data, label.
        datum = b'\x08\x01\x10\x1c\x18\x1c\x22\x90\x06' + pixels + bytes([0x28, label])
        wb.put(b'%08d' % item, datum)
        count += 1
        if count % 1000 == 0:
            wb.write()
    if count % 1000 != 0:
        wb.write()
    db.close()


def make_bench(d, o):
    """The measured shape: 50k records of ~2 KiB (256 random bytes + JSON-ish text), Snappy, 64 KiB blocks."""
    db = plyvel.DB(d, create_if_missing=True, block_size=65536, write_buffer_size=16 << 20)
    rng = random.Random(5)
    for i in range(o.get('n', 50_000)):
        head = bytes(rng.getrandbits(8) for _ in range(256))
        text = json.dumps({'id': i, 'label': rng.randrange(1000), 'words': ['w%d' % rng.randrange(500) for _ in range(300)]})
        db.put(b'%08d' % i, (head + text.encode())[:2048])
    db.close()


def make_datums(d, o):
    """convert_imageset-style: raw 1x28x28 Datums, a fresh WriteBatch per 1000 puts, Caffe's options (LEVELDB.md §11.1).
    1000 distinct Datums are reused in turn: 800 KB apart, beyond any 64 KiB block, so Snappy sees no repeats."""
    db = plyvel.DB(d, create_if_missing=True, block_size=65536, write_buffer_size=256 << 20)
    rng = random.Random(6)
    pool = []
    for _ in range(1000):
        raw = rng.randbytes(784)
        pixels = bytes(b if b < 52 else 0 for b in raw)  # about 80 % zeros, like MNIST
        pool.append(b'\x08\x01\x10\x1c\x18\x1c\x22\x90\x06' + pixels + bytes([0x28, rng.randrange(10)]))
    n = o.get('items', 300_000)
    for start in range(0, n, 1000):
        with db.write_batch() as wb:
            for item in range(start, min(n, start + 1000)):
                wb.put(b'%08d' % item, pool[item % 1000])
    db.close()


def dump(d, out):
    db = plyvel.DB(d)
    with open(out, 'wb') as f:
        for k, v in db:
            f.write(struct.pack('<I', len(k)) + k + struct.pack('<I', len(v)) + v)
    return db


def main():
    for job in json.load(open(sys.argv[1])):
        op = job['op']
        if op == 'make':
            globals()['make_' + job['kind']](job['dir'], job)
        elif op == 'dump':
            dump(job['dir'], job['out']).close()
        elif op == 'hold':
            db = dump(job['dir'], job['out'])
            print('ready', flush=True)
            sys.stdin.read()
            db.close()
        else:
            raise SystemExit('unknown op ' + op)


if __name__ == '__main__':
    main()
