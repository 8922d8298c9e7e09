/** Shared by the file-based readers: image file recognition and bounded whole-file reads. */
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync } from 'node:fs';
import path from 'node:path';
import type { Damage } from '../records.js';
import type { FileRecord, RecordBatch } from './types.js';

/**
 * Extensions of image files: the formats decoded here, those recognised but counted unchecked (HEIC/HEIF), and
 * every extension of torchvision's IMG_EXTENSIONS (.ppm and .pgm included). SVG is excluded: a document, not
 * pixels.
 */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif', '.bmp', '.ppm', '.pgm']);

/**
 * torchvision's IMG_EXTENSIONS (torchvision/datasets/folder.py): the only files ImageFolder loads, matched by
 * `filename.lower().endswith(...)`. A class folder with none of them makes ImageFolder raise.
 */
export const TORCHVISION_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp'];

/** Extension of a name given as text or as raw bytes (extensions are ASCII: bytes read as latin1). */
function extensionOf(name: string | Uint8Array): string {
  const s = typeof name === 'string' ? name : Buffer.from(name.buffer, name.byteOffset, name.byteLength).toString('latin1');
  return path.extname(s).toLowerCase();
}

export function isImageName(name: string | Uint8Array): boolean {
  return IMAGE_EXTENSIONS.has(extensionOf(name));
}

/** Whether torchvision's ImageFolder would load a file of this name. */
export function isTorchvisionImageName(name: string | Uint8Array): boolean {
  return TORCHVISION_EXTENSIONS.includes(extensionOf(name));
}

/**
 * A name in raw bytes as Python sees it (os.fsdecode: UTF-8 with surrogateescape): its code points, with each
 * byte that is not part of valid UTF-8 as U+DC80..U+DCFF. Sorting these sorts names as Python's `sorted()`.
 */
export function codePoints(bytes: Uint8Array): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    let n = 0;
    let min = 0;
    if (b0 < 0x80) n = 1;
    else if (b0 >= 0xc2 && b0 <= 0xdf) { n = 2; min = 0x80; }
    else if (b0 >= 0xe0 && b0 <= 0xef) { n = 3; min = 0x800; }
    else if (b0 >= 0xf0 && b0 <= 0xf4) { n = 4; min = 0x10000; }
    let cp = -1;
    if (n === 1) cp = b0;
    else if (n > 1 && i + n <= bytes.length) {
      cp = b0 & (0xff >> (n + 1));
      for (let k = 1; k < n; k++) {
        const c = bytes[i + k]!;
        if ((c & 0xc0) !== 0x80) { cp = -1; break; }
        cp = (cp << 6) | (c & 0x3f);
      }
      if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) cp = -1;
    }
    if (cp < 0) { out.push(0xdc00 + b0); i++; } else { out.push(cp); i += n; }
  }
  return out;
}

/**
 * A file name (or path) in raw bytes as shown in reports: UTF-8 as is; bytes that are not valid UTF-8 and
 * control characters as `\xNN` (a latin-1 `café.jpg` shows as `caf\xe9.jpg`), so that no name is lost or
 * garbles a terminal.
 */
export function displayName(bytes: Uint8Array): string {
  let out = '';
  const hex = (b: number): string => `\\x${b.toString(16).padStart(2, '0')}`;
  for (const cp of codePoints(bytes)) {
    if (cp >= 0xdc80 && cp <= 0xdcff) out += hex(cp - 0xdc00);
    else if (cp < 0x20 || cp === 0x7f) out += hex(cp);
    else out += String.fromCodePoint(cp);
  }
  return out;
}

/**
 * Paths read as bytes are kept as byte strings: one latin1 character per byte, exact for any name (UTF-8 or
 * not), cheap to make and compared as the bytes are. These turn them back into bytes, into what fs takes, and
 * into what a report shows.
 */
export const bytesOf = (s: string): Buffer => Buffer.from(s, 'latin1');

/** A printable ASCII byte string is its own text: the same bytes, the same display name. */
const PRINTABLE = /^[\x20-\x7e]*$/;

/** How a byte-string path is shown (displayName of its bytes; itself when printable ASCII). */
export function displayBytes(s: string): string {
  return PRINTABLE.test(s) ? s : displayName(bytesOf(s));
}

/**
 * The byte-string path `rel` under the folder `root` (text) as fs takes it: a string when `rel` is printable
 * ASCII, else bytes. A `rel` starting with '/' is already absolute.
 */
export function fsPathUnder(root: string, rel: string): string | Buffer {
  if (PRINTABLE.test(rel)) return rel.startsWith('/') ? rel : `${root}/${rel}`;
  const bytes = bytesOf(rel);
  return bytes[0] === 0x2f ? bytes : Buffer.concat([Buffer.from(`${root}/`), bytes]);
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
export function readWhole(abs: string | Buffer, shown: string, loc: Pick<Damage, 'line' | 'index'>): Uint8Array | Damage {
  let fd: number;
  try {
    fd = openSync(abs, OPEN_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const target = danglingTarget(abs);
      const message = target === null ? `File '${shown}' does not exist.`
        : `'${shown}' is a symbolic link to '${target}', which does not exist.`;
      return { kind: 'missing_file', message, file: shown, ...loc };
    }
    return { kind: 'io_error', message: `Cannot open '${shown}': ${(e as Error).message}`, file: shown, ...loc };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { kind: 'io_error', message: `'${shown}' is not a regular file.`, file: shown, ...loc };
    if (st.size > MAX_FILE_BYTES) {
      return { kind: 'oversized_image', message: `File is ${st.size} bytes, above the ${MAX_FILE_BYTES}-byte limit; not read.`, file: shown, ...loc };
    }
    // Not zero-filled (zeroing what the read then overwrites was 4% of a PNG folder's scan): readFully returns
    // only the bytes it read, so no byte of the fresh memory is ever seen. A plain Uint8Array, not a Buffer,
    // whose slice() would be a view.
    const fresh = Buffer.allocUnsafeSlow(st.size);
    return readFully(fd, new Uint8Array(fresh.buffer, fresh.byteOffset, fresh.length));
  } catch (e) {
    return { kind: 'io_error', message: `Cannot read '${shown}': ${(e as Error).message}`, file: shown, ...loc };
  } finally {
    closeSync(fd);
  }
}

/** The target of a symbolic link that points nowhere (as the link says it), or null when `p` is not a link. */
function danglingTarget(p: string | Buffer): string | null {
  try {
    if (!lstatSync(p).isSymbolicLink()) return null;
    return displayName(readlinkSync(p, { encoding: 'buffer' }));
  } catch {
    return null;
  }
}

/** Files read per batch: small enough to bound memory (a batch holds its files' bytes), big enough to amortise. */
export const FILES_PER_BATCH = 32;

/** One file of a file-based dataset, before it is read. */
export interface FileEntry {
  /** A Buffer when the path is not valid UTF-8 (fs takes paths as bytes). */
  abs: string | Buffer;
  shown: string;
  index: number;
  line?: number;
  label?: number;
}

const NO_BYTES = new Uint8Array(0);

/**
 * Reads entries whole, in order, as batches of FileRecords. Every entry is a record, as it is an entry of the
 * data loader's: one that cannot be read (missing, a dangling link, not a regular file) carries the finding
 * that says why, and no bytes.
 */
export function* readFileBatches(entries: Iterable<FileEntry>): Generator<RecordBatch> {
  let records: FileRecord[] = [];
  for (const e of entries) {
    const loc: Pick<Damage, 'line' | 'index'> = e.line === undefined ? { index: e.index } : { line: e.line, index: e.index };
    const bytes = readWhole(e.abs, e.shown, loc);
    const rec: FileRecord = bytes instanceof Uint8Array
      ? { kind: 'file', index: e.index, file: e.shown, bytes }
      : { kind: 'file', index: e.index, file: e.shown, bytes: NO_BYTES, unreadable: bytes };
    if (e.line !== undefined) rec.line = e.line;
    if (e.label !== undefined) rec.label = e.label;
    records.push(rec);
    if (records.length >= FILES_PER_BATCH) {
      yield { records };
      records = [];
    }
  }
  if (records.length > 0) yield { records };
}

/**
 * The text of a list file, or null when the bytes are not text. Tolerant on purpose: a list with a few bad
 * bytes (a NUL run, invalid UTF-8) is still a damaged list whose bad lines should be reported, not a binary
 * file to skip. Binary means more control bytes (other than tab, CR and LF) than 16 or 1% of the bytes,
 * whichever is more; what is left is judged by its lines (list sniffers want entries that name real files).
 */
export function decodeListText(bytes: Uint8Array): string | null {
  const most = Math.max(16, bytes.length / 100);
  let control = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && ++control > most) return null;
  }
  return new TextDecoder('utf-8').decode(bytes);
}
