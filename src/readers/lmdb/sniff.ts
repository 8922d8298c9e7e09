/**
 * Cheap LMDB sniffs for discovery: read the head of a data file (page 0, and page 1 at every page size, so a
 * torn page 0 is still recognised) and look for an LMDB meta page (LMDB.md §1, §2). Never opens a lock file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { OPEN_FLAGS, readFully } from '../files.js';
import { MIN_PSIZE_V2 } from './constants.js';
import { findPage1, HEAD_BYTES, sniffVariant } from './meta.js';

/** `dir/data.mdb` is an LMDB data file: the directory layout. */
export function isLmdbDir(dir: string): boolean {
  return isLmdbFile(path.join(dir, 'data.mdb'), true);
}

/** Bytes read first: page 0's header and the start of its meta (the magic is at 16, or 24 in format 2). */
const QUICK_BYTES = 64;

/**
 * `file` starts with an LMDB meta page of format 1 or 2, or of a variant we recognise in order to reject it
 * clearly (32-bit, big-endian), whatever its name: a single-file (`MDB_NOSUBDIR`) environment. Cheap on other
 * files: 64 bytes are read, and page 1 is looked for (64 KiB, for a torn page 0) only when the file could still
 * be an LMDB data file (`thorough`, a name ending in `.mdb`/`.lmdb`, or page 0 numbered 0) and its size is whole
 * pages.
 */
export function isLmdbFile(file: string, thorough = false): boolean {
  if (isLockName(file)) return false;
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return false;
    const quick = readHead(fd, QUICK_BYTES);
    if (sniffVariant(quick).kind !== 'unknown') return true;
    const maybe = thorough || /\.l?mdb$/i.test(file) || (quick.length >= 8 && quick.subarray(0, 8).every((b) => b === 0));
    if (!maybe || st.size < 2 * MIN_PSIZE_V2 || st.size % MIN_PSIZE_V2 !== 0) return false;
    return findPage1(readHead(fd, HEAD_BYTES)) !== undefined;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function readHead(fd: number, len: number): Buffer {
  return readFully(fd, Buffer.alloc(len));
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
