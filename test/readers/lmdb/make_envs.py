"""Writes LMDB test environments with real liblmdb (Debian python3-lmdb 1.4.0 / LMDB 0.9.24) and dumps what
py-lmdb iterates, so the TypeScript reader can be cross-checked byte for byte.

usage: /usr/bin/python3 make_envs.py OUTDIR [NAME ...]
For each env NAME: OUTDIR/NAME/ (data.mdb + lock.mdb), OUTDIR/NAME.dump (one "keyhex valuehex" line per record
of the main DB in cursor order, named-DB entries left out, then the records of each named DB in name order) and
OUTDIR/NAME.json (stat of the main DB, records declared, names).
Deterministic: every env uses its own seeded RNG.
"""
import json
import os
import random
import subprocess
import sys

import lmdb

MAP = 256 << 20


def put_all(path, records, txn_size=None, **kw):
    env = lmdb.open(path, map_size=MAP, **kw)
    recs = list(records)
    step = txn_size or max(1, len(recs))
    for i in range(0, len(recs), step):
        with env.begin(write=True) as txn:
            for k, v in recs[i:i + step]:
                txn.put(k, v)
    env.close()


def gen_empty(path):
    lmdb.open(path, map_size=MAP).close()


def gen_one(path):
    put_all(path, [(b'only-key', b'only-value')])


def gen_small(path):
    # Single transaction: no free pages, so every leaf-typed page in the file is live (the damage tests rely on it).
    rng = random.Random(1)
    put_all(path, [(b'k%09d' % i, rng.randbytes(rng.randint(30, 90))) for i in range(30000)])


def gen_medium(path):
    # Caffe-like: zero-padded keys, ~800-byte values, a commit per 1000 records; 16 MB, enough for the block
    # cache to recycle buffers many times.
    rng = random.Random(11)
    blob = rng.randbytes(1 << 16)
    recs = [(b'%08d_img/%d.jpg' % (i, i), blob[(i * 131) % 60000:][:700 + (i * 37) % 200]) for i in range(12000)]
    put_all(path, recs, txn_size=1000)


def gen_two_txn(path):
    # Two commits: meta 0 holds transaction 2 (all records), meta 1 transaction 1 (the first 1000).
    rng = random.Random(2)
    put_all(path, [(b'r%06d' % i, rng.randbytes(40)) for i in range(2000)], txn_size=1000)


def gen_big(path):
    rng = random.Random(3)
    sizes = [2022, 2023, 3084, 4080, 4081, 9000, 100000, 250000, 300000, 1 << 20]
    recs = []
    for i in range(300):
        size = sizes[i] if i < len(sizes) else rng.choice([100, 1500, 5000, 20000, 70000])
        recs.append((b'big%05d' % i, rng.randbytes(size)))
    put_all(path, recs, txn_size=50)


def gen_binary(path):
    # Varied key lengths 1..511 (the default max key size), bytes 0x00 and 0xff included, random order.
    rng = random.Random(4)
    keys = set()
    while len(keys) < 4000:
        n = rng.choice([1, 2, 3, 8, 16, 64, 200, 511, rng.randint(1, 511)])
        keys.add(bytes(rng.choice([0, 255, rng.randint(0, 255)]) for _ in range(n)))
    recs = [(k, rng.randbytes(rng.randint(0, 300))) for k in keys]
    rng.shuffle(recs)
    put_all(path, recs, txn_size=500)


def gen_churn(path):
    # Puts, then deletes and updates in later transactions: free pages, stale separators, depth 3.
    rng = random.Random(5)
    env = lmdb.open(path, map_size=MAP)
    for t in range(20):
        with env.begin(write=True) as txn:
            for i in range(1000):
                j = t * 1000 + i
                txn.put(b'c%07d' % ((j * 7919) % 20000), rng.randbytes(rng.randint(10, 120)))
    with env.begin(write=True) as txn:
        for j in range(0, 20000, 3):
            txn.delete(b'c%07d' % j)
    with env.begin(write=True) as txn:
        for j in range(1, 20000, 7):
            txn.put(b'c%07d' % j, rng.randbytes(rng.randint(500, 3000)))
    env.close()


def gen_named(path):
    rng = random.Random(6)
    env = lmdb.open(path, map_size=MAP, max_dbs=4)
    alpha = env.open_db(b'alpha')
    beta = env.open_db(b'beta')
    with env.begin(write=True) as txn:
        for i in range(500):
            txn.put(b'main%04d' % i, rng.randbytes(20))
            txn.put(b'a%04d' % i, rng.randbytes(30), db=alpha)
            txn.put(b'b%04d' % i, rng.randbytes(30), db=beta)
    env.close()


def gen_named_many(path):
    # The main DB holds only named DBs (as py-lmdb users write them): a deep one, a DUPSORT one with sub-pages and a
    # duplicates sub-database, an INTEGERKEY one, an empty one, and one with overflow values.
    rng = random.Random(12)
    env = lmdb.open(path, map_size=MAP, max_dbs=8)
    deep = env.open_db(b'deep')
    dups = env.open_db(b'dups', dupsort=True)
    ints = env.open_db(b'ints', integerkey=True)
    env.open_db(b'hollow')
    large = env.open_db(b'large')
    with env.begin(write=True) as txn:
        for i in range(20000):
            txn.put(b'd%07d' % i, rng.randbytes(rng.randint(10, 60)), db=deep)
        for i in range(200):
            n = 2000 if i == 100 else rng.randint(1, 8)
            for _ in range(n):
                txn.put(b'k%04d' % i, rng.randbytes(rng.randint(1, 30)), db=dups)
        for i in range(3000):
            txn.put(rng.randrange(1 << 64).to_bytes(8, 'little'), rng.randbytes(20), db=ints)
        for i in range(40):
            txn.put(b'L%03d' % i, rng.randbytes(rng.choice([3000, 9000, 20000])), db=large)
    env.close()


def mdb_load(path, header, items):
    """Writes an env with mdb_load from (key, value) pairs in the mdb_dump bytevalue format."""
    os.makedirs(path, exist_ok=True)
    lines = ['VERSION=3', 'format=bytevalue', 'type=btree'] + header + ['HEADER=END']
    for k, v in items:
        lines.append(' ' + k.hex())
        lines.append(' ' + v.hex())
    lines.append('DATA=END')
    subprocess.run(['mdb_load', path], input=('\n'.join(lines) + '\n').encode(), check=True)


def gen_dupsort(path):
    # DUPSORT main DB: single items, sub-pages (a few items) and a sub-database (thousands of items).
    rng = random.Random(7)
    items = []
    for i in range(300):
        n = 1 if i % 3 == 0 else rng.randint(2, 12)
        if i == 150:
            n = 3000
        vals = sorted({rng.randbytes(rng.randint(1, 40)) for _ in range(n)})
        items += [(b'd%04d' % i, v) for v in vals]
    mdb_load(path, ['dupsort=1'], items)


def gen_dupfixed(path):
    rng = random.Random(8)
    items = []
    for i in range(100):
        n = 2000 if i == 50 else rng.randint(1, 20)
        vals = sorted({rng.randbytes(8) for _ in range(n)})
        items += [(b'f%04d' % i, v) for v in vals]
    mdb_load(path, ['dupsort=1', 'dupfixed=1'], items)


def gen_intkey(path):
    # INTEGERKEY main DB: 8-byte native (little-endian) unsigned keys, ordered numerically, not bytewise.
    rng = random.Random(9)
    keys = sorted({rng.randrange(1 << 64) for _ in range(3000)} | {1, 255, 256, 65536})
    mdb_load(path, ['integerkey=1'], [(k.to_bytes(8, 'little'), rng.randbytes(rng.randint(1, 60))) for k in keys])


def gen_reversekey(path):
    # REVERSEKEY main DB: keys compared from their last byte backwards.
    rng = random.Random(10)
    keys = sorted({rng.randbytes(rng.randint(1, 12)) for _ in range(3000)}, key=lambda k: k[::-1])
    mdb_load(path, ['reversekey=1'], [(k, rng.randbytes(rng.randint(1, 60))) for k in keys])


GENERATORS = {
    'empty': gen_empty,
    'one': gen_one,
    'small': gen_small,
    'two_txn': gen_two_txn,
    'medium': gen_medium,
    'big': gen_big,
    'binary': gen_binary,
    'churn': gen_churn,
    'named': gen_named,
    'named_many': gen_named_many,
    'dupsort': gen_dupsort,
    'dupfixed': gen_dupfixed,
    'intkey': gen_intkey,
    'reversekey': gen_reversekey,
}


def dump(path, out):
    env = lmdb.open(path, readonly=True, lock=False, max_dbs=8)
    names = []
    dbs = []
    with env.begin() as txn:
        # Named DBs are the main-DB records whose value is an MDB_db; learn them by trying to open each key.
        for k, v in txn.cursor():
            if len(v) != 48:
                continue
            try:
                dbs.append(env.open_db(k, txn=txn, create=False))
                names.append(k)
            except lmdb.Error:
                pass
        declared = txn.stat()['entries'] - len(names)
        with open(out + '.dump', 'w') as f:
            for k, v in txn.cursor():
                if k not in names:
                    f.write(k.hex() + ' ' + v.hex() + '\n')
            # Then every named DB's records, in key order of the names (duplicates included).
            for db in dbs:
                declared += txn.stat(db)['entries']
                for k, v in txn.cursor(db=db):
                    f.write(k.hex() + ' ' + v.hex() + '\n')
        st = txn.stat()
    info = {k: st[k] for k in ('psize', 'depth', 'branch_pages', 'leaf_pages', 'overflow_pages')}
    # Records declared: md_entries of the main DB without its named-DB entries, plus each named DB's md_entries.
    info['entries'] = declared
    info['names'] = [n.decode() for n in names]
    with open(out + '.json', 'w') as f:
        json.dump(info, f)
    env.close()


def main():
    outdir = sys.argv[1]
    names = sys.argv[2:] or list(GENERATORS)
    for name in names:
        path = os.path.join(outdir, name)
        GENERATORS[name](path)
        dump(path, path)


if __name__ == '__main__':
    main()
