/**
 * Writes the committed NumPy fixtures under fixtures/npy/ with numpy itself (Debian's python3), seeded, so the
 * files are what users' numpy writes. Run: `npx tsx scripts/make-npy-fixtures.ts`. Each fixture's faults are
 * listed here; the tests find them again with numpy (test/e2e/npy.test.ts), not from this list.
 *
 * - clean/X_train.npy + y_train.npy: float32 (256, 6) features and int64 labels 0–3, no fault (the label file
 *   is read with the features: sniff.ts pairing rule).
 * - npz/faults.npz (np.savez_compressed, deflated): `data` float32 (300, 3, 4) with NaN in row 17, +Inf in row
 *   101, -Inf in row 230 and element [1, 2] constant (0.25) in every row; `label` int64 (300,) 0–4, -1 in row 42.
 * - npz/stored.npz (np.savez, stored): `x` big-endian float64 (120, 5), Fortran order, NaN in row 7;
 *   `targets` uint8 (120,).
 * - truncated/cut.npy: float32 (100, 6) cut 10 bytes into row 60.
 * - crc/bad.npz (np.savez, stored): `data` float32 (50, 4) with one data byte changed after writing (its CRC no
 *   longer matches), `label` int64 (50,) intact.
 * - not-npy/fake.npy: text, named .npy.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SYSTEM_PYTHON } from './lib/caffe.js';

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'npy');

const PY = String.raw`
import os, sys, zipfile, numpy as np
out = sys.argv[1]
def p(*a):
    f = os.path.join(out, *a)
    os.makedirs(os.path.dirname(f), exist_ok=True)
    return f
rng = np.random.default_rng(20261204)
np.save(p('clean', 'X_train.npy'), rng.standard_normal((256, 6)).astype('<f4'))
np.save(p('clean', 'y_train.npy'), rng.integers(0, 4, 256).astype('<i8'))

data = rng.standard_normal((300, 3, 4)).astype('<f4')
data[17, 0, 1] = np.nan
data[101, 2, 3] = np.inf
data[230, 1, 0] = -np.inf
data[:, 1, 2] = 0.25
label = rng.integers(0, 5, 300).astype('<i8')
label[42] = -1
np.savez_compressed(p('npz', 'faults.npz'), data=data, label=label)

x = np.asfortranarray(rng.standard_normal((120, 5)).astype('>f8'))
x[7, 3] = np.nan
np.savez(p('npz', 'stored.npz'), x=x, targets=rng.integers(0, 3, 120).astype('u1'))

cut = rng.standard_normal((100, 6)).astype('<f4')
np.save(p('truncated', 'cut.npy'), cut)
f = p('truncated', 'cut.npy')
b = open(f, 'rb').read()
hdr = len(b) - cut.nbytes
open(f, 'wb').write(b[:hdr + 60 * 24 + 10])

np.savez(p('crc', 'bad.npz'), data=rng.standard_normal((50, 4)).astype('<f4'), label=rng.integers(0, 2, 50).astype('<i8'))
f = p('crc', 'bad.npz')
z = zipfile.ZipFile(f)
info = z.getinfo('data.npy')
z.close()
b = bytearray(open(f, 'rb').read())
name_len = int.from_bytes(b[info.header_offset + 26:info.header_offset + 28], 'little')
extra_len = int.from_bytes(b[info.header_offset + 28:info.header_offset + 30], 'little')
start = info.header_offset + 30 + name_len + extra_len
b[start + 128 + 4 * 10 + 1] ^= 0x10  # row 2, element 2 of data: a low mantissa byte (still a finite float)
open(f, 'wb').write(bytes(b))

open(p('not-npy', 'fake.npy'), 'w').write('this is not a NumPy file\n')
`;

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const r = spawnSync(SYSTEM_PYTHON, ['-c', PY, OUT], { encoding: 'utf8' });
if (r.status !== 0) throw new Error(`numpy failed: ${r.stderr}`);
console.log(`wrote ${OUT}`);
