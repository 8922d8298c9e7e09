/** Recognising HDF5 files (signature at 0 or after a user block) and Caffe HDF5Data lists. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHdf5File, isHdf5List, listedFiles } from '../../../src/readers/hdf5/index.js';
import { makeFixtures, type Fixtures } from './helpers.js';

let fx: Fixtures;

beforeAll(() => {
  fx = makeFixtures();
  // Extra sniffing cases beside (not inside) the fixture tree.
  mkdirSync(path.join(fx.root, 'extra'));
  // Binary: far more control bytes than a damaged text list would have (decodeListText allows 16, or 1%).
  writeFileSync(path.join(fx.root, 'extra', 'binary.txt'), Buffer.concat([Buffer.from('a.h5\n'), Buffer.alloc(64, 1)]));
  writeFileSync(path.join(fx.root, 'extra', 'abs.txt'), `${fx.abs('a.h5')}\r\n# ${fx.abs('b.h5')}\r\n`);
  writeFileSync(path.join(fx.root, 'extra', 'sig-at-1000.bin'), Buffer.concat([Buffer.alloc(1000), Buffer.from('\x89HDF\r\n\x1a\n', 'latin1')]));
  writeFileSync(path.join(fx.root, 'extra', 'sig-at-1024.bin'), Buffer.concat([Buffer.alloc(1024), Buffer.from('\x89HDF\r\n\x1a\n', 'latin1')]));
});

afterAll(() => {
  fx?.cleanup();
});

describe('isHdf5File', () => {
  it('finds the signature at 0 and after a user block', () => {
    for (const f of ['a.h5', 'b.h5', 'types.h5', 'ub.h5', 'trunc.h5', 'badchunk.h5']) expect(isHdf5File(fx.abs(f)), f).toBe(true);
    expect(isHdf5File(path.join(fx.root, 'extra', 'sig-at-1024.bin'))).toBe(true);
  });

  it('rejects everything else without throwing', () => {
    for (const f of ['garbage.h5', 'empty.h5', 'clean.txt', 'sub', 'nope.h5']) expect(isHdf5File(fx.abs(f)), f).toBe(false);
    // Only powers of two from 512 are valid superblock offsets.
    expect(isHdf5File(path.join(fx.root, 'extra', 'sig-at-1000.bin'))).toBe(false);
  });
});

describe('HDF5 lists', () => {
  it('isHdf5List takes lists that name an existing HDF5 file', () => {
    for (const f of ['clean.txt', 'mixed.txt', 'damaged.txt']) expect(isHdf5List(fx.abs(f)), f).toBe(true);
    expect(isHdf5List(path.join(fx.root, 'extra', 'abs.txt'))).toBe(true);
  });

  it('isHdf5List rejects image lists, HDF5 files, binaries and missing paths', () => {
    for (const f of ['images.txt', 'a.h5', 'garbage.h5', 'empty.h5', 'sub', 'nope.txt']) expect(isHdf5List(fx.abs(f)), f).toBe(false);
    expect(isHdf5List(path.join(fx.root, 'extra', 'binary.txt'))).toBe(false);
  });

  it('listedFiles resolves entries against the list folder, keeping line numbers', () => {
    expect(listedFiles(fx.abs('mixed.txt'))).toEqual([
      { line: 1, raw: 'a.h5', path: fx.abs('a.h5'), exists: true },
      { line: 2, raw: 'missing.h5', path: fx.abs('missing.h5'), exists: false },
      { line: 3, raw: 'sub/c.h5', path: fx.abs('sub/c.h5'), exists: true },
    ]);
    expect(listedFiles(fx.abs('clean.txt')).map((e) => [e.line, e.path])).toEqual([[2, fx.abs('a.h5')], [4, fx.abs('b.h5')]]);
    expect(listedFiles(path.join(fx.root, 'extra', 'abs.txt'))).toEqual([{ line: 1, raw: fx.abs('a.h5'), path: fx.abs('a.h5'), exists: true }]);
  });

  it('falls back to the working directory for entries the list folder lacks (as Caffe resolves them)', () => {
    const list = path.join(fx.root, 'extra', 'cwd.txt');
    writeFileSync(list, `${path.relative(process.cwd(), fx.abs('b.h5'))}\n`);
    expect(listedFiles(list)).toEqual([expect.objectContaining({ path: fx.abs('b.h5'), exists: true })]);
  });

  it('refuses binary lists', () => {
    expect(() => listedFiles(path.join(fx.root, 'extra', 'binary.txt'))).toThrow(/not a text file/);
  });
});
