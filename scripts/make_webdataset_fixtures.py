"""Writes fixtures/webdataset/: WebDataset shards as webdataset.ShardWriter / tarp write them (Python's tarfile,
members in key order, `<key>.jpg` + `<key>.cls` + `<key>.json`), with planted faults. Deterministic (seeded pixels,
fixed mtimes and owners, gzip mtime 0). Run: /usr/bin/python3 scripts/make_webdataset_fixtures.py [out_dir]

  clean/     two shards (PAX_FORMAT, tarfile's default, as ShardWriter writes), 8 samples each; no fault.
  formats/   one dataset of odd but valid shards: GNU long names (> 100 chars), pax headers with non-ASCII paths,
             ustar name+prefix, folder-prefixed keys (train/000001.jpg), dots in folder names (v1.2/...), folder and
             symlink members, a `__meta__` file, .npy and .txt members, a gzipped shard; no fault.
  damaged/   planted faults, listed in damaged/FAULTS.json (kind, shard, key, field) for the tests.
"""
import gzip
import io
import json
import os
import random
import shutil
import sys
import tarfile

import numpy as np
from PIL import Image

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'webdataset')
MTIME = 1700000000


def jpeg(seed, w=16, h=16):
    rnd = random.Random(seed)
    img = Image.new('RGB', (w, h))
    img.putdata([((x * 13 + rnd.randrange(40)) % 256, (y * 11 + rnd.randrange(40)) % 256, (seed * 7) % 256)
                 for y in range(h) for x in range(w)])
    b = io.BytesIO()
    img.save(b, 'JPEG', quality=90)
    return b.getvalue()


def png(seed, w=16, h=16):
    rnd = random.Random(seed)
    img = Image.new('RGB', (w, h))
    img.putdata([(rnd.randrange(256), rnd.randrange(256), 0) for _ in range(w * h)])
    b = io.BytesIO()
    img.save(b, 'PNG')
    return b.getvalue()


def npy(arr):
    b = io.BytesIO()
    np.save(b, arr)
    return b.getvalue()


def info(name, size, kind=tarfile.REGTYPE):
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.type = kind
    ti.mtime = MTIME
    ti.mode = 0o644 if kind == tarfile.REGTYPE else 0o755
    ti.uid = ti.gid = 1000
    ti.uname = ti.gname = 'wds'
    return ti


def write_tar(path, members, fmt=tarfile.PAX_FORMAT, gz=False):
    """members: (name, bytes) for files, (name, None, type, linkname) for others."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=fmt) as tar:
        for m in members:
            if len(m) == 2:
                name, data = m
                tar.addfile(info(name, len(data)), io.BytesIO(data))
            else:
                name, _, kind, link = m
                ti = info(name, 0, kind)
                ti.linkname = link
                tar.addfile(ti)
    data = buf.getvalue()
    if gz:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    with open(path, 'wb') as f:
        f.write(data)
    return data


def sample(key, seed, label, extra=True):
    out = [(f'{key}.jpg', jpeg(seed)), (f'{key}.cls', str(label).encode())]
    if extra:
        out.append((f'{key}.json', json.dumps({'key': key, 'seed': seed}).encode()))
    return out


def member_offsets(path):
    with tarfile.open(path) as t:
        return {m.name: (m.offset, m.offset_data, m.size) for m in t.getmembers()}


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    for d in ('clean', 'formats', 'damaged'):
        os.makedirs(os.path.join(OUT, d))

    # clean: 2 shards x 8 samples, labels 0..3.
    for s in range(2):
        members = []
        for i in range(8):
            n = s * 8 + i
            members += sample(f'{n:06d}', n, n % 4)
        write_tar(os.path.join(OUT, 'clean', f'clean-{s:06d}.tar'), members)

    # formats: one dataset, every shard valid.
    fm = os.path.join(OUT, 'formats')
    long_dir = 'a-very-long-folder-name-' + 'x' * 90
    write_tar(os.path.join(fm, 'f-000000.tar'), [
        (long_dir + '/000000.jpg', jpeg(100)), (long_dir + '/000000.cls', b'1'),
        (long_dir + '/000001.jpg', jpeg(101)), (long_dir + '/000001.cls', b'2'),
    ], fmt=tarfile.GNU_FORMAT)
    write_tar(os.path.join(fm, 'f-000001.tar'), [
        ('train', None, tarfile.DIRTYPE, ''),
        ('train/caf\u00e9-000002.jpg', jpeg(102)), ('train/caf\u00e9-000002.cls', b' 3\n'),
        ('v1.2/000003.seg.png', png(103)), ('v1.2/000003.jpg', jpeg(103)), ('v1.2/000003.cls', b'0'),
        ('v1.2/000004.JPG', jpeg(104)), ('v1.2/000004.cls', b'1'), ('v1.2/000004.txt', b'a caption'),
        ('v1.2/000004.npy', npy(np.asfortranarray(np.arange(6, dtype='>f8').reshape(2, 3)))),
        ('v1.2/000004-link.jpg', None, tarfile.SYMTYPE, '000004.JPG'),
        ('__meta__', b'{"shard": 1}'),
    ], fmt=tarfile.PAX_FORMAT)
    ustar_dir = 'u' * 120
    write_tar(os.path.join(fm, 'f-000002.tar'), [
        (ustar_dir + '/000005.jpg', jpeg(105)), (ustar_dir + '/000005.cls', b'2'),
    ], fmt=tarfile.USTAR_FORMAT)
    write_tar(os.path.join(fm, 'f-000003.tar.gz'), sample('000006', 106, 3) + sample('000007', 107, 0), gz=True)

    # damaged: one shard per fault family.
    dm = os.path.join(OUT, 'damaged')
    faults = []
    shard = lambda n: f'fixtures/webdataset/damaged/{n}'

    # d-000000.tar: record-level faults.
    members = []
    members += sample('000000', 200, 0)
    good = jpeg(201)
    members += [('000001.jpg', good[:len(good) // 2]), ('000001.cls', b'1'), ('000001.json', b'{}')]
    faults.append({'kind': 'truncated_image', 'shard': shard('d-000000.tar'), 'key': '000001', 'field': 'jpg'})
    members += [('000002.jpg', jpeg(202)), ('000002.cls', b'cat'), ('000002.json', b'{}')]
    faults.append({'kind': 'bad_record', 'shard': shard('d-000000.tar'), 'key': '000002', 'field': 'cls'})
    members += [('000003.cls', b'3'), ('000003.json', b'{}')]
    faults.append({'kind': 'bad_record', 'shard': shard('d-000000.tar'), 'key': '000003', 'field': 'jpg'})
    members += sample('000004', 204, 0)
    members += [('000004.npy', npy(np.array([1.0, np.nan, 2.0], dtype=np.float32)))]
    faults.append({'kind': 'nan', 'shard': shard('d-000000.tar'), 'key': '000004', 'field': 'npy'})
    members += sample('000005', 205, 1)
    members += sample('000006', 206, 2)
    write_tar(os.path.join(dm, 'd-000000.tar'), members)

    # d-000001.tar: cut in the middle of the 4th sample's image.
    members = []
    for i in range(6):
        members += sample(f'{10 + i:06d}', 210 + i, i % 4)
    data = write_tar(os.path.join(dm, 'd-000001.tar'), members)
    offs = member_offsets(os.path.join(dm, 'd-000001.tar'))
    off, data_off, size = offs['000013.jpg']
    cut = data_off + size // 2
    with open(os.path.join(dm, 'd-000001.tar'), 'wb') as f:
        f.write(data[:cut])
    faults.append({'kind': 'corrupt_file', 'shard': shard('d-000001.tar'), 'offset': off})
    faults.append({'kind': 'truncated_image', 'shard': shard('d-000001.tar'), 'key': '000013', 'field': 'jpg'})

    # d-000002.tar: a bad header checksum at the 3rd sample's first header.
    members = []
    for i in range(5):
        members += sample(f'{20 + i:06d}', 220 + i, i % 4)
    data = bytearray(write_tar(os.path.join(dm, 'd-000002.tar'), members))
    offs = member_offsets(os.path.join(dm, 'd-000002.tar'))
    off = offs['000022.jpg'][0]
    data[off + 148] ^= 0x01  # one digit of the checksum field itself
    with open(os.path.join(dm, 'd-000002.tar'), 'wb') as f:
        f.write(data)
    faults.append({'kind': 'corrupt_file', 'shard': shard('d-000002.tar'), 'offset': off})

    # d-000003.tar.gz: a gzipped shard with a non-integer label and a key split apart.
    members = sample('000030', 230, 0) + sample('000031', 231, 1)
    members += [('000032.jpg', jpeg(232)), ('000032.cls', b'2.5'), ('000032.json', b'{}')]
    faults.append({'kind': 'bad_record', 'shard': shard('d-000003.tar.gz'), 'key': '000032', 'field': 'cls'})
    members += sample('000030', 233, 0)
    faults.append({'kind': 'bad_record', 'shard': shard('d-000003.tar.gz'), 'key': '000030', 'field': 'jpg', 'severity': 'warning'})
    write_tar(os.path.join(dm, 'd-000003.tar.gz'), members, gz=True)

    with open(os.path.join(dm, 'FAULTS.json'), 'w') as f:
        json.dump(faults, f, indent=1)
        f.write('\n')


main()
