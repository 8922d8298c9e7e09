"""Writes the LMDB layouts of issue 14 with real liblmdb (Debian python3-lmdb), as projects write them, holding
Caffe Datums, and prints what py-lmdb iterates (the oracle) as JSON on stdout.

usage: /usr/bin/python3 make_named.py OUTDIR
  OUTDIR/single/train.lmdb (+ train.lmdb-lock): subdir=False, 300 Datums; 00000042 is a float Datum with a NaN
  OUTDIR/splits/: max_dbs=3, named DBs train (2000 Datums) and val (200 Datums; 00000013 holds a NaN float Datum,
                  00000077 has label -1); the main DB holds only the two named-DB entries
  OUTDIR/dups/:   max_dbs=2, named DB aug with dupsort=True: 100 keys with 3 Datums each (sub-pages) and k0050
                  with 600 (a duplicates sub-database); the second duplicate of k0007 is a float Datum with +Inf
Oracle: {layout: {db name or "": [[keyhex, count of values], ...]}} in cursor order, duplicates counted.
"""
import json
import os
import random
import struct
import sys

import lmdb

MAP = 64 << 20


def varint(v):
    v &= (1 << 64) - 1  # int32 fields: negative values are sign-extended to 10 bytes, as protobuf does
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def datum(rng, label, floats=None):
    """A 1x4x4 Datum in field order, as Caffe's SerializeToString writes it (float_data unpacked)."""
    head = b'\x08\x01\x10\x04\x18\x04'
    if floats is None:
        data = rng.randbytes(16)
        return head + b'\x22' + varint(len(data)) + data + b'\x28' + varint(label)
    return head + b'\x28' + varint(label) + b''.join(b'\x35' + struct.pack('<f', x) for x in floats)


def floats_with(rng, bad):
    xs = [rng.uniform(-1, 1) for _ in range(16)]
    xs[5] = bad
    return xs


def oracle(env, names):
    out = {}
    with env.begin() as txn:
        out[''] = [[k.hex(), 1] for k, _ in txn.cursor()]
        for n in names:
            db = env.open_db(n, txn=txn, create=False)
            rows = []
            for k, _ in txn.cursor(db=db):
                if rows and rows[-1][0] == k.hex():
                    rows[-1][1] += 1
                else:
                    rows.append([k.hex(), 1])
            out[n.decode()] = rows
    return out


def main():
    outdir = sys.argv[1]
    result = {}
    rng = random.Random(14)

    os.makedirs(os.path.join(outdir, 'single'))
    path = os.path.join(outdir, 'single', 'train.lmdb')
    env = lmdb.open(path, subdir=False, map_size=MAP)
    with env.begin(write=True) as txn:
        for i in range(300):
            v = datum(rng, i % 5, floats_with(rng, float('nan')) if i == 42 else None)
            txn.put(b'%08d' % i, v)
    result['single'] = oracle(env, [])
    env.close()

    path = os.path.join(outdir, 'splits')
    env = lmdb.open(path, max_dbs=3, map_size=MAP)
    train = env.open_db(b'train')
    val = env.open_db(b'val')
    with env.begin(write=True) as txn:
        for i in range(2000):
            txn.put(b'%08d' % i, datum(rng, i % 5), db=train)
        for i in range(200):
            if i == 13:
                v = datum(rng, i % 5, floats_with(rng, float('nan')))
            else:
                v = datum(rng, -1 if i == 77 else i % 5)
            txn.put(b'%08d' % i, v, db=val)
    result['splits'] = oracle(env, [b'train', b'val'])
    env.close()

    path = os.path.join(outdir, 'dups')
    env = lmdb.open(path, max_dbs=2, map_size=MAP)
    aug = env.open_db(b'aug', dupsort=True)
    with env.begin(write=True) as txn:
        for i in range(100):
            key = b'k%04d' % i
            vals = sorted(datum(rng, (i + j) % 5) for j in range(600 if i == 50 else 3))
            for j, v in enumerate(vals):
                if i == 7 and j == 1:
                    v = datum(rng, i % 5, floats_with(rng, float('inf')))
                txn.put(key, v, db=aug)
    result['dups'] = oracle(env, [b'aug'])
    env.close()

    json.dump(result, sys.stdout)


main()
