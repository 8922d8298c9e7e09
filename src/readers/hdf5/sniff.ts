/**
 * Recognising HDF5 sources without loading h5wasm: the superblock signature of an HDF5 file, and Caffe
 * HDF5Data `source:` lists (a text file naming one `.h5` file per line). Discovery calls these on every
 * candidate file, so they read a few bytes and never throw.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { ScanError } from '../../errors.js';
import { decodeListText, OPEN_FLAGS, readFully } from '../files.js';

/** The 8-byte HDF5 format signature (`\x89HDF\r\n\x1a\n`). */
export const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The superblock may follow a user block, so the spec allows the signature at 0, 512, 1024, 2048, … (powers of
 * two from 512). Searching past this offset would mean reading far into files that are not HDF5.
 */
const MAX_SIGNATURE_OFFSET = 2 ** 40;
const FIRST_USER_BLOCK = 512;

/** A list bigger than this is not sniffed as a list (lists are small; this bounds what discovery reads). */
export const LIST_SNIFF_BYTES = 1024 * 1024;
/** Entries sniffed before giving up: a real list names an existing file long before this. */
const SNIFF_ENTRIES = 1000;
/** The reader reads whole lists up to this size; beyond it the list is refused as unreasonable. */
export const LIST_MAX_BYTES = 64 * 1024 * 1024;

/** Whether `file` is an HDF5 file: the signature at offset 0 or after a user block. Never throws. */
export function isHdf5File(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, OPEN_FLAGS);
  } catch {
    return false;
  }
  try {
    const size = statSync(file).size;
    const sig = Buffer.alloc(HDF5_SIGNATURE.length);
    for (let off = 0; off + sig.length <= size && off <= MAX_SIGNATURE_OFFSET; off = off === 0 ? FIRST_USER_BLOCK : off * 2) {
      if (readSync(fd, sig, 0, sig.length, off) === sig.length && sig.equals(HDF5_SIGNATURE)) return true;
    }
    return false;
  } catch {
    return false; // a directory, a device, an I/O error: not an HDF5 file we can read
  } finally {
    closeSync(fd);
  }
}

export interface ListedFile {
  /** 1-based line in the list. */
  line: number;
  /** The line as written (trimmed). */
  raw: string;
  /** Absolute path the entry resolves to. */
  path: string;
  /** Whether that path is an existing regular file. */
  exists: boolean;
}

/**
 * Reads up to `limit` bytes of `file` as UTF-8 text; when the file is longer, only the complete lines read.
 * Returns null for binary content (a NUL byte) or invalid UTF-8. `truncated` tells whether text was left out.
 */
function readText(file: string, limit: number): { text: string; truncated: boolean } | null {
  const fd = openSync(file, OPEN_FLAGS);
  try {
    const size = statSync(file).size;
    const n = Math.min(size, limit);
    const read = readFully(fd, Buffer.alloc(n));
    const truncated = size > read.length;
    // A cut may split a line (and a multi-byte character): keep complete lines only.
    const bytes = truncated ? read.subarray(0, read.lastIndexOf(0x0a) + 1) : read;
    const text = decodeListText(bytes);
    return text === null ? null : { text, truncated };
  } finally {
    closeSync(fd);
  }
}

/**
 * Where a list entry points. Relative entries resolve against the list's folder; Caffe itself opens them
 * relative to the working directory it runs in, so when the list-relative path does not exist and the
 * cwd-relative one does, that one is used.
 */
function resolveEntry(listDir: string, raw: string): { path: string; exists: boolean } {
  const primary = path.resolve(listDir, raw);
  if (isRegularFile(primary)) return { path: primary, exists: true };
  if (!path.isAbsolute(raw)) {
    const fromCwd = path.resolve(raw);
    if (fromCwd !== primary && isRegularFile(fromCwd)) return { path: fromCwd, exists: true };
  }
  return { path: primary, exists: false };
}

function isRegularFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The non-blank, non-comment lines of list text, with 1-based line numbers. */
function* entryLines(text: string): Generator<{ line: number; raw: string }> {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] as string).trim();
    if (raw !== '' && !raw.startsWith('#')) yield { line: i + 1, raw };
  }
}

/**
 * The entries of an HDF5 list, in list order, so discovery can leave the files it names to the list.
 * @throws ScanError `SCAN_SOURCE_UNRECOGNISED` when the list is binary or larger than LIST_MAX_BYTES; the fs error
 *   when it cannot be read.
 */
export function listedFiles(listPath: string): ListedFile[] {
  const t = readText(listPath, LIST_MAX_BYTES);
  if (t === null) throw new ScanError('SCAN_SOURCE_UNRECOGNISED', `'${listPath}' is not a text file, so not an HDF5 list.`);
  if (t.truncated) {
    throw new ScanError('SCAN_SOURCE_UNRECOGNISED', `'${listPath}' is larger than ${LIST_MAX_BYTES} bytes, so not an HDF5 list.`);
  }
  const dir = path.dirname(path.resolve(listPath));
  return [...entryLines(t.text)].map((e) => ({ ...e, ...resolveEntry(dir, e.raw) }));
}

/**
 * Whether `file` is a Caffe HDF5Data list: a text file (only its first LIST_SNIFF_BYTES are read) whose
 * entries are paths, at least one of which is an existing HDF5 file (among its first SNIFF_ENTRIES entries).
 * Image lists (`path label`) name no HDF5 file and so are not taken. Never throws.
 */
export function isHdf5List(file: string): boolean {
  try {
    if (!statSync(file).isFile() || isHdf5File(file)) return false;
    const t = readText(file, LIST_SNIFF_BYTES);
    if (t === null) return false;
    const dir = path.dirname(path.resolve(file));
    let seen = 0;
    for (const e of entryLines(t.text)) {
      const r = resolveEntry(dir, e.raw);
      if (r.exists && isHdf5File(r.path)) return true;
      if (++seen >= SNIFF_ENTRIES) break;
    }
    return false;
  } catch {
    return false;
  }
}
