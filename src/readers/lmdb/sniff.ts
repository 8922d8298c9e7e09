/**
 * Cheap LMDB sniffs for discovery: read the head of a data file (page 0, and page 1 at every page size, so a
 * torn page 0 is still recognised) and look for an LMDB meta page (LMDB.md §1, §2). Never opens a lock file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { OPEN_FLAGS } from '../files.js';
import { findPage1, HEAD_BYTES, sniffVariant } from './meta.js';

/** `dir/data.mdb` is an LMDB data file: the directory layout. */
export function isLmdbDir(dir: string): boolean {
  return isLmdbFile(path.join(dir, 'data.mdb'));
}

/**
 * `file` starts with an LMDB meta page of format 1 or 2, or of a variant we recognise in order to reject it
 * clearly (32-bit, big-endian), whatever its name: a single-file (`MDB_NOSUBDIR`) environment.
 */
export function isLmdbFile(file: string): boolean {
  if (isLockName(file)) return false;
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
    if (!fs.fstatSync(fd).isFile()) return false;
    const buf = Buffer.alloc(HEAD_BYTES);
    let n = 0;
    for (;;) {
      const r = fs.readSync(fd, buf, n, HEAD_BYTES - n, n);
      if (r === 0) break;
      n += r;
      if (n === HEAD_BYTES) break;
    }
    const head = buf.subarray(0, n);
    return sniffVariant(head).kind !== 'unknown' || findPage1(head) !== undefined;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** LMDB's lock file names (`lock.mdb`, `<data file>-lock`): never opened, not even to sniff. */
export function isLockName(file: string): boolean {
  const base = path.basename(file);
  return base === 'lock.mdb' || base.endsWith('-lock');
}

/** The data file a `<data file>-lock` lock file belongs to, when that file is an LMDB data file. */
export function dataFileOfLock(lockFile: string): string | undefined {
  if (!lockFile.endsWith('-lock')) return undefined;
  const data = lockFile.slice(0, -'-lock'.length);
  return isLmdbFile(data) ? data : undefined;
}
