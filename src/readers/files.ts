/** Shared by the file-based readers: image file recognition and bounded whole-file reads. */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_SEVERITY } from '../checks/severity.js';
import type { Finding } from '../types.js';
import type { FileRecord, RecordBatch } from './types.js';

/** Extensions of the image formats sharp decodes here (svg excluded: it is a document, not pixels). */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif', '.bmp']);

export function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());
}

/**
 * Flags for opening any file of a dataset. O_NONBLOCK: a FIFO (a named pipe where a file should be) opens at
 * once and reads as empty, where a plain open() would wait for a writer forever and hang the scan. It changes
 * nothing for regular files.
 */
export const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/**
 * Fills `buf` from byte `position` of `fd` (pread, looping on short reads); shorter (a view) when the file ends
 * first, as when it shrank under us. I/O errors throw.
 */
export function readFully<T extends Uint8Array>(fd: number, buf: T, position = 0): T {
  let at = 0;
  while (at < buf.length) {
    const n = readSync(fd, buf, at, buf.length - at, position + at);
    if (n === 0) break;
    at += n;
  }
  return at === buf.length ? buf : (buf.subarray(0, at) as T);
}

/**
 * Reads a whole small file (LevelDB's CURRENT, a list) like readFileSync, but opened with OPEN_FLAGS and
 * refused when it is not a regular file.
 * @throws Error when it cannot be opened or read, or is not a regular file.
 */
export function readSmallFile(file: string, maxBytes = 64 * 1024 * 1024): Buffer {
  const fd = openSync(file, OPEN_FLAGS);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`'${file}' is not a regular file`);
    if (st.size > maxBytes) throw new Error(`'${file}' is ${st.size} bytes, more than the ${maxBytes} expected`);
    return readFully(fd, Buffer.alloc(st.size));
  } finally {
    closeSync(fd);
  }
}

/**
 * Files larger than this are reported, not read: no training image is 1 GiB, and reading one whole would
 * take the worker's memory with it.
 */
export const MAX_FILE_BYTES = 1 << 30;

/**
 * Reads a whole file, or returns the finding that says why it could not be read. Reads through one open
 * descriptor with fstat, so a file that changes size under us is still bounded by what fstat said.
 */
export function readWhole(abs: string, shown: string, loc: Pick<Finding, 'line' | 'index'>): Uint8Array | Finding {
  let fd: number;
  try {
    fd = openSync(abs, OPEN_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const kind = code === 'ENOENT' ? 'missing_file' : 'io_error';
    return { kind, severity: DEFAULT_SEVERITY[kind], message: code === 'ENOENT' ? `File '${shown}' does not exist.` : `Cannot open '${shown}': ${(e as Error).message}`, file: shown, ...loc };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { kind: 'io_error', severity: DEFAULT_SEVERITY.io_error, message: `'${shown}' is not a regular file.`, file: shown, ...loc };
    if (st.size > MAX_FILE_BYTES) {
      return { kind: 'oversized_image', severity: DEFAULT_SEVERITY.oversized_image, message: `File is ${st.size} bytes, above the ${MAX_FILE_BYTES}-byte limit; not read.`, file: shown, ...loc };
    }
    return readFully(fd, new Uint8Array(st.size));
  } catch (e) {
    return { kind: 'io_error', severity: DEFAULT_SEVERITY.io_error, message: `Cannot read '${shown}': ${(e as Error).message}`, file: shown, ...loc };
  } finally {
    closeSync(fd);
  }
}

/** Files read per batch: small enough to bound memory (a batch holds its files' bytes), big enough to amortise. */
export const FILES_PER_BATCH = 32;

/** One file of a file-based dataset, before it is read. */
export interface FileEntry {
  abs: string;
  shown: string;
  index: number;
  line?: number;
  label?: number;
}

/** Reads entries whole, in order, as batches of FileRecords, with a finding for each file that cannot be read. */
export function* readFileBatches(entries: Iterable<FileEntry>): Generator<RecordBatch> {
  let records: FileRecord[] = [];
  let damage: Finding[] = [];
  for (const e of entries) {
    const loc: Pick<Finding, 'line' | 'index'> = e.line === undefined ? { index: e.index } : { line: e.line, index: e.index };
    const bytes = readWhole(e.abs, e.shown, loc);
    if (bytes instanceof Uint8Array) {
      const rec: FileRecord = { kind: 'file', index: e.index, file: e.shown, bytes };
      if (e.line !== undefined) rec.line = e.line;
      if (e.label !== undefined) rec.label = e.label;
      records.push(rec);
    } else {
      damage.push(bytes);
    }
    if (records.length + damage.length >= FILES_PER_BATCH) {
      yield { records, damage };
      records = [];
      damage = [];
    }
  }
  if (records.length + damage.length > 0) yield { records, damage };
}

/**
 * The text of a list file, or null when the bytes are not text. Tolerant on purpose: a list with a few bad
 * bytes (a NUL run, invalid UTF-8) is still a damaged list whose bad lines should be reported, not a binary
 * file to skip. Binary means more control bytes (other than tab, CR and LF) than 16 or 1% of the bytes,
 * whichever is more; what is left is judged by its lines (list sniffers want entries that name real files).
 */
export function decodeListText(bytes: Uint8Array): string | null {
  let control = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) control++;
  }
  if (control > Math.max(16, bytes.length / 100)) return null;
  return new TextDecoder('utf-8').decode(bytes);
}
