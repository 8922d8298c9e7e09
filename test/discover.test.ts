/**
 * Discovery (src/discover.ts) on trees written by the formats' own libraries (Debian's py-lmdb, plyvel, h5py,
 * numpy, PIL) and on the committed Parquet, TFRecord and WebDataset fixtures: which format each path is found
 * as, what is skipped and why, and that nothing is dropped silently.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discover, type Discovery } from '../src/discover.js';
import { ScanError } from '../src/errors.js';
import { listImageFolder } from '../src/readers/image-folder.js';
import { ROOT } from './helpers/cli.js';
import { runPython } from './helpers/python.js';

/**
 * helpers/tree.ts's hashTree, for a tree with names that are not UTF-8 and links to nothing: names as bytes,
 * links by lstat (a link's target text, not what it points at).
 */
function hashRawTree(root: string): string {
  const h = createHash('sha256');
  const walk = (dir: Buffer): void => {
    for (const name of fs.readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const p = Buffer.concat([dir, Buffer.from('/'), name]);
      const st = fs.lstatSync(p);
      h.update(Buffer.concat([p, Buffer.from(`\0${st.mode}\0${st.size}\0${st.mtimeMs}\0`)]));
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) h.update(fs.readlinkSync(p, { encoding: 'buffer' }));
      else if (st.isFile()) h.update(fs.readFileSync(p));
    }
  };
  walk(Buffer.from(root));
  return h.digest('hex');
}

/** Writes every Python-made dataset of the tree under sys.argv[1]. */
const WRITE_TREE = String.raw`
import sys, os, lmdb, plyvel, h5py, numpy as np
from PIL import Image
r = sys.argv[1]
def lmdb_dir(p, n):
    os.makedirs(p, exist_ok=True)
    env = lmdb.open(p, map_size=1 << 20)
    with env.begin(write=True) as t:
        for i in range(n): t.put(b'%08d' % i, b'v%d' % i)
    env.close()
lmdb_dir(os.path.join(r, 'train_lmdb'), 3)
env = lmdb.open(os.path.join(r, 'single.mdb'), subdir=False, map_size=1 << 20)   # writes single.mdb-lock beside it
with env.begin(write=True) as t: t.put(b'k', b'v')
env.close()
db = plyvel.DB(os.path.join(r, 'train_leveldb'), create_if_missing=True)
for i in range(3): db.put(b'%08d' % i, b'v%d' % i)
db.close()
with h5py.File(os.path.join(r, 'plain.h5'), 'w') as f: f['data'] = np.zeros((2, 3), 'f4')
os.makedirs(os.path.join(r, 'h5'))
for n in ('a', 'b'):
    with h5py.File(os.path.join(r, 'h5', n + '.h5'), 'w') as f: f['data'] = np.ones((2, 3), 'f4')
with open(os.path.join(r, 'h5', 'train_h5.txt'), 'w') as f: f.write('a.h5\nb.h5\n')
for c in ('cat', 'dog'):
    os.makedirs(os.path.join(r, 'images', c))
    Image.new('RGB', (4, 4)).save(os.path.join(r, 'images', c, '1.png'))
os.makedirs(os.path.join(r, 'images', '.ipynb_checkpoints'))
os.makedirs(os.path.join(r, 'listed', 'imgs'))
Image.new('RGB', (4, 4)).save(os.path.join(r, 'listed', 'imgs', 'x.png'))
with open(os.path.join(r, 'listed', 'train.txt'), 'w') as f: f.write('imgs/x.png 0\n')
np.save(os.path.join(r, 'arr.npy'), np.zeros((3, 2), 'f4'))
# Nested: a database folder is one dataset and is never descended into; a plain folder is searched.
lmdb_dir(os.path.join(r, 'deep', 'er', 'val_lmdb'), 2)
lmdb_dir(os.path.join(r, 'deep', 'er', 'val_lmdb', 'inner_lmdb'), 1)
# Folders of TFRecord and WebDataset shards are read from their own files: datasets below them are their own.
lmdb_dir(os.path.join(r, 'tfr', 'nested_lmdb'), 1)
os.makedirs(os.path.join(r, 'wds', 'more'))
with h5py.File(os.path.join(r, 'wds', 'more', 'extra.h5'), 'w') as f: f['data'] = np.ones((1, 2), 'f4')
# A hidden folder is searched like any other.
lmdb_dir(os.path.join(r, '.hidden', 'h_lmdb'), 1)
`;

const NOT_UTF8 = Buffer.from([0x62, 0x61, 0x64, 0xff, 0x2e, 0x6e, 0x70, 0x79]); // "bad\xff.npy"

let root: string;
let found: Discovery;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-discover-'));
  fs.cpSync(path.join(ROOT, 'fixtures/tfrecord/shards'), path.join(root, 'tfr'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'fixtures/webdataset/clean'), path.join(root, 'wds'), { recursive: true });
  runPython(WRITE_TREE, [root]);
  fs.copyFileSync(path.join(ROOT, 'fixtures/parquet/clean.parquet'), path.join(root, 'table.parquet'));
  fs.writeFileSync(path.join(root, 'README.txt'), 'Nothing to see.\n');
  fs.symlinkSync(path.join(root, 'nowhere.h5'), path.join(root, 'dangling.h5'));
  fs.mkdirSync(path.join(root, 'stray'));
  fs.writeFileSync(path.join(root, 'stray', 'lock.mdb'), 'a 0\nb 1\n');
  fs.writeFileSync(Buffer.concat([Buffer.from(`${root}/`), NOT_UTF8]), fs.readFileSync(path.join(root, 'arr.npy')));
  found = await discover(['.'], root);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('discover() on a tree of datasets', () => {
  it('finds each dataset once, with its format, in sorted path order', () => {
    expect(found.sources.map((s) => [s.format, s.path])).toEqual([
      ['lmdb', '.hidden/h_lmdb'],
      ['npy', 'arr.npy'],
      ['lmdb', 'deep/er/val_lmdb'],
      // The HDF5 list claims a.h5 and b.h5: they are scanned as part of it, not again on their own.
      ['hdf5', 'h5/train_h5.txt'],
      // A hidden (notebook checkpoint) subfolder does not stop a class folder tree from being an image folder.
      ['image-folder', 'images'],
      // The list's folder holds a list, so it is not an image folder; the list claims its image.
      ['image-list', 'listed/train.txt'],
      ['hdf5', 'plain.h5'],
      // subdir=False: the data file is the dataset, its -lock file belongs to it.
      ['lmdb', 'single.mdb'],
      ['parquet', 'table.parquet'],
      ['tfrecord', 'tfr'],
      ['lmdb', 'tfr/nested_lmdb'],
      ['leveldb', 'train_leveldb'],
      ['lmdb', 'train_lmdb'],
      ['webdataset', 'wds'],
      ['hdf5', 'wds/more/extra.h5'],
    ]);
    for (const s of found.sources) expect(s.absPath).toBe(path.join(root, s.path));
    expect(found.emptyPaths).toEqual([]);
  });

  it('lists every file it does not scan, with the reason, and drops nothing silently', () => {
    expect(found.skipped).toEqual([
      { path: 'README.txt', reason: 'not a recognised dataset format' },
      { path: 'bad\\xff.npy', reason: expect.stringMatching(/^name is not valid UTF-8/) as unknown as string },
      { path: 'dangling.h5', reason: expect.stringMatching(/^cannot be read: ENOENT/) as unknown as string },
      // A lock file with no data file beside it is never opened, so never taken for a list, whatever it holds.
      { path: 'stray/lock.mdb', reason: 'not a recognised dataset format (named like an LMDB lock file; not opened)' },
    ]);
    // The -lock beside single.mdb and the files inside database folders are part of their datasets: not listed.
    expect(found.skipped.map((s) => s.path)).not.toContain('single.mdb-lock');
  });

  it('writes nothing while discovering', async () => {
    const before = hashRawTree(root);
    await discover(['.'], root);
    expect(hashRawTree(root)).toBe(before);
  });
});

describe('discover() on paths named explicitly', () => {
  const one = async (p: string): Promise<[string, string][]> =>
    (await discover([p], root)).sources.map((s) => [s.format, s.path]);

  it('takes a data.mdb or a lock file for its LMDB environment', async () => {
    expect(await one('train_lmdb/data.mdb')).toEqual([['lmdb', 'train_lmdb']]);
    expect(await one('train_lmdb/lock.mdb')).toEqual([['lmdb', 'train_lmdb']]);
    expect(await one('single.mdb-lock')).toEqual([['lmdb', 'single.mdb']]);
  });

  it('scans a named database folder as one dataset, without descending into it', async () => {
    expect(await one('deep/er/val_lmdb')).toEqual([['lmdb', 'deep/er/val_lmdb']]);
    expect(await one('deep')).toEqual([['lmdb', 'deep/er/val_lmdb']]);
    expect(await one('train_leveldb')).toEqual([['leveldb', 'train_leveldb']]);
  });

  it('scans each file of an HDF5 list once, and a listed .h5 named alone as its own dataset', async () => {
    expect(await one('h5/a.h5')).toEqual([['hdf5', 'h5/a.h5']]);
    expect((await discover(['h5/train_h5.txt', 'h5/a.h5'], root)).sources.map((s) => s.path)).toEqual(['h5/train_h5.txt']);
  });

  it('never skips a file the user named: unrecognised text is read as a list, and reported by its reader', async () => {
    expect(await one('README.txt')).toEqual([['hdf5', 'README.txt']]);
    const labelled = path.join(root, 'labels.txt');
    fs.writeFileSync(labelled, 'no/such/file.png 3\n');
    try {
      expect(await one('labels.txt')).toEqual([['image-list', 'labels.txt']]);
    } finally {
      fs.rmSync(labelled);
    }
  });

  it('keeps absolute paths absolute and relative paths as typed', async () => {
    const abs = path.join(root, 'plain.h5');
    expect(await one(abs)).toEqual([['hdf5', abs]]);
    expect((await discover(['./plain.h5'], root)).sources.map((s) => s.path)).toEqual(['./plain.h5']);
  });

  it('visits a path given twice once', async () => {
    expect((await discover(['train_lmdb', './train_lmdb', path.join(root, 'train_lmdb')], root)).sources).toHaveLength(1);
  });

  it('names a path that does not exist with SCAN_SOURCE_NOT_FOUND', async () => {
    const e = await discover(['no-such-dir'], root).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(ScanError);
    expect((e as ScanError).code).toBe('SCAN_SOURCE_NOT_FOUND');
    expect((e as ScanError).message).toBe("Path 'no-such-dir' does not exist.");
  });

  it('reports a path holding no dataset in emptyPaths, with its files skipped', async () => {
    const d = await discover(['stray', 'train_lmdb'], root);
    expect(d.emptyPaths).toEqual(['stray']);
    expect(d.sources.map((s) => s.path)).toEqual(['train_lmdb']);
    expect(d.skipped.map((s) => s.path)).toEqual(['stray/lock.mdb']);
  });

  it('filters datasets by include/exclude globs, listing the excluded ones as skipped', async () => {
    const d = await discover(['.'], root, { include: ['**/*_lmdb', '*.h5'], exclude: ['deep/**'] });
    expect(d.sources.map((s) => s.path)).toEqual(['.hidden/h_lmdb', 'plain.h5', 'tfr/nested_lmdb', 'train_lmdb']);
    expect(d.skipped.filter((s) => s.reason === 'excluded by the include/exclude globs').map((s) => s.path)).toEqual([
      'arr.npy', 'deep/er/val_lmdb', 'h5/train_h5.txt', 'images', 'listed/train.txt', 'single.mdb', 'table.parquet',
      'tfr', 'train_leveldb', 'wds', 'wds/more/extra.h5',
    ]);
  });
});

describe('discover() and datasets inside an image folder', () => {
  it('finds an LMDB and an HDF5 file below a folder of images as datasets of their own, not as its unchecked files', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-discover-inner-'));
    try {
      fs.mkdirSync(path.join(dir, 'data'));
      fs.copyFileSync(path.join(root, 'images/cat/1.png'), path.join(dir, 'data/preview.png'));
      fs.copyFileSync(path.join(root, 'plain.h5'), path.join(dir, 'data/feat.h5'));
      fs.cpSync(path.join(root, 'train_lmdb'), path.join(dir, 'data/sub/train_lmdb'), { recursive: true });
      fs.copyFileSync(path.join(root, 'single.mdb'), path.join(dir, 'data/one.mdb'));
      fs.copyFileSync(path.join(root, 'single.mdb-lock'), path.join(dir, 'data/one.mdb-lock'));
      fs.writeFileSync(path.join(dir, 'data/README.txt'), 'A preview and the data.\n');
      const d = await discover(['.'], dir);
      // The one image makes '.' an image folder (class 'data'); before, the LMDBs and the HDF5 file were only
      // counted as its files that are not images.
      expect(d.sources.map((s) => [s.format, s.path])).toEqual([
        ['image-folder', '.'], ['hdf5', 'data/feat.h5'], ['lmdb', 'data/one.mdb'], ['lmdb', 'data/sub/train_lmdb'],
      ]);
      expect(d.sources[0]!.exclude!.sort()).toEqual([
        'data/feat.h5', 'data/one.mdb', 'data/one.mdb-lock', 'data/sub/train_lmdb/data.mdb', 'data/sub/train_lmdb/lock.mdb',
      ].map((f) => path.join(dir, f)));
      // What the folder reader is left with: the image, and the README as a file that is not an image.
      const listing = listImageFolder(dir, new Set(d.sources[0]!.exclude), '.');
      expect(listing.files).toEqual(['data/preview.png']);
      expect(listing.notImages).toEqual({ count: 1, examples: ['data/README.txt'] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('discover() and image folders with odd entries', () => {
  it('finds a folder whose image names are not UTF-8 and that holds a dangling link', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-discover-img-'));
    try {
      const png = fs.readFileSync(path.join(root, 'images/cat/1.png'));
      fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9, 0x2e, 0x70, 0x6e, 0x67])]), png);
      fs.symlinkSync(path.join(dir, 'gone.png'), path.join(dir, 'link.png'));
      const d = await discover(['.'], dir);
      expect(d.sources.map((s) => [s.format, s.path])).toEqual([['image-folder', '.']]);
      expect(d.skipped).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
