/**
 * What the main thread learns about a NumPy source before planning: each array's header (where its data
 * starts, its dtype and shape), how many of its rows are really there, which arrays are labels and which one
 * counts the records, and the damage met on the way (as findings, never thrown, unless nothing is readable).
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import path from 'node:path';
import { constants as zc, inflateRawSync } from 'node:zlib';
import {
  isNumeric, MAX_NPY_HEADER_BYTES, npyElements, npyHeaderSize, npyRowCount, npyRowElems, parseNpyHeader,
  type NpyHeader, type NpyKind,
} from '../../decode/npy.js';
import { ScanError } from '../../errors.js';
import type { Damage } from '../../records.js';
import { OPEN_FLAGS, readFully } from '../files.js';
import { DEFAULT_LABEL_NAMES, isLabelName } from '../labels.js';
import { labelFileFor, NPZ_EXTENSION } from './sniff.js';
import { memberDataOffset, readCentralDirectory, readLocalHeaders, type ZipMember } from './zip.js';

/** One array to read, as a partition spec carries it (JSON-safe). */
export interface ArraySpec {
  /** `field` of its records: the file's stem, or the `.npz` member's name without `.npy`. */
  name: string;
  /** Display path of the file holding it. */
  file: string;
  /** Absolute path of that file. */
  path: string;
  descr: string;
  kind: NpyKind;
  itemSize: number;
  bigEndian: boolean;
  fortran: boolean;
  shape: number[];
  /** Where the data starts: a file offset, or for a deflated member an offset in the inflated member. */
  dataOffset: number;
  /** Rows present and complete (fewer than the header declares when the data is cut short). */
  rows: number;
  isLabel: boolean;
  /** Whether its rows are the records (the longest array of the source). */
  counts: boolean;
  /** The `.npz` member holding it. */
  zip?: { member: string; method: number; start: number; compSize: number; size: number; crc: number };
}

export interface Survey {
  arrays: ArraySpec[];
  findings: Damage[];
  /** Arrays not checked, as `<file>:<name> (<why>)`. */
  unchecked: string[];
  bytes: number;
}

/** One row is read whole into memory: a row larger than this is reported (unchecked), not read. */
export const MAX_ROW_BYTES = 256 * 1024 * 1024;

/** Fortran-order deflated members are inflated whole to be transposed: up to this size. */
export const MAX_INFLATED_FORTRAN = 256 * 1024 * 1024;

export function corrupt(file: string, message: string, extra: Partial<Damage> = {}): Damage {
  return { kind: 'corrupt_file', message, file, ...extra };
}

const shapeText = (h: NpyHeader): string => `(${h.shape.join(', ')}${h.shape.length === 1 ? ',' : ''})`;

/** Bytes of one row. */
export const rowBytesOf = (a: Pick<ArraySpec, 'shape' | 'itemSize'>): number => a.shape.slice(1).reduce((x, y) => x * y, 1) * a.itemSize;

/**
 * Complete rows when only `avail` data bytes exist. In C order rows are contiguous; in Fortran order a row
 * is complete when its element in the last column is there.
 */
function completeRows(h: NpyHeader, avail: number): number {
  const rows = npyRowCount(h);
  const item = h.dtype.itemSize;
  if (!h.fortranOrder || h.shape.length <= 1) return Math.min(rows, Math.floor(avail / (npyRowElems(h) * item)));
  const lastCol = (npyRowElems(h) - 1) * rows * item;
  return Math.max(0, Math.min(rows, Math.floor((avail - lastCol) / item)));
}

/** The header at the start of `bytes` (a prefix of the file or member). */
function header(bytes: Uint8Array): NpyHeader | { error: string; need?: number } {
  const size = npyHeaderSize(bytes);
  if (typeof size !== 'number') return size;
  if (size <= MAX_NPY_HEADER_BYTES && bytes.length < size) return { error: 'short', need: size };
  return parseNpyHeader(bytes);
}

/** An array from a parsed header; `avail` data bytes are present. */
function arrayOf(h: NpyHeader, name: string, file: string, abs: string, dataOffset: number, avail: number, where: string, s: Survey): ArraySpec | undefined {
  if (!isNumeric(h.dtype)) {
    s.unchecked.push(`${where} (${h.dtype.kind === 'object' ? 'object array (pickled; not loaded)' : `dtype ${h.dtype.descr}`})`);
    return undefined;
  }
  if (npyElements(h) === 0) {
    s.unchecked.push(`${where} (empty array, shape ${shapeText(h)})`);
    return undefined;
  }
  const rowBytes = npyRowElems(h) * h.dtype.itemSize;
  if (rowBytes > MAX_ROW_BYTES) {
    s.unchecked.push(`${where} (rows of ${rowBytes} bytes, over the ${MAX_ROW_BYTES}-byte read limit)`);
    return undefined;
  }
  const need = npyElements(h) * h.dtype.itemSize;
  const rows = avail >= need ? npyRowCount(h) : completeRows(h, avail);
  return {
    name, file, path: abs, descr: h.dtype.descr, kind: h.dtype.kind, itemSize: h.dtype.itemSize, bigEndian: h.dtype.bigEndian,
    fortran: h.fortranOrder && h.shape.length > 1, shape: h.shape, dataOffset, rows, isLabel: false, counts: false,
  };
}

function truncation(h: NpyHeader, a: ArraySpec | undefined, dataStart: number, avail: number, what: string): string {
  const need = npyElements(h) * h.dtype.itemSize;
  const rows = a === undefined ? '' : `; ${a.rows} of ${npyRowCount(h)} rows complete`;
  return `${what} ends at byte ${dataStart + avail} of the ${dataStart + need} its header declares (shape ${shapeText(h)} ${h.dtype.descr}, data from offset ${dataStart})${rows}.`;
}

/** Surveys a loose `.npy` file (and the label file read with it). */
function surveyNpy(abs: string, shown: string, labelNames: readonly string[] | undefined, s: Survey): void {
  const files: { abs: string; shown: string; label: boolean }[] = [{ abs, shown, label: isLabelName(stem(abs), labelNames) }];
  const partner = labelFileFor(abs, labelNames);
  if (partner !== undefined) files.push({ abs: partner, shown: path.join(path.dirname(shown), path.basename(partner)), label: true });
  for (const f of files) {
    let fd: number;
    try {
      fd = openSync(f.abs, OPEN_FLAGS);
    } catch (e) {
      s.findings.push({ kind: 'io_error', message: `Cannot open: ${(e as Error).message}.`, file: f.shown });
      continue;
    }
    try {
      const size = fstatSync(fd).size;
      s.bytes += size;
      let h = header(readFully(fd, Buffer.alloc(Math.min(size, 65536)), 0));
      if ('need' in h && h.need !== undefined) h = header(readFully(fd, Buffer.alloc(Math.min(size, h.need)), 0));
      if ('error' in h) {
        s.findings.push(corrupt(f.shown, `Not a readable NumPy .npy file: ${h.error}.`, { offset: 0 }));
        continue;
      }
      const avail = Math.max(0, size - h.headerBytes);
      const a = arrayOf(h, stem(f.abs), f.shown, f.abs, h.headerBytes, avail, `${f.shown}:${stem(f.abs)}`, s);
      if (a !== undefined) {
        a.isLabel = f.label;
        s.arrays.push(a);
      }
      if (avail < npyElements(h) * h.dtype.itemSize && isNumeric(h.dtype)) {
        s.findings.push(corrupt(f.shown, truncation(h, a, h.headerBytes, avail, 'File'), { offset: size, ...(a === undefined ? {} : { field: a.name, index: a.rows }) }));
      }
    } finally {
      closeSync(fd);
    }
  }
}

const stem = (p: string): string => path.basename(p).replace(/\.npy$/i, '');

/** The first bytes of a member, inflated when deflated (at most `n` bytes of compressed input). */
function memberHead(fd: number, m: ZipMember, start: number, n: number): Buffer {
  const raw = readFully(fd, Buffer.alloc(Math.min(n, m.compSize)), start);
  if (m.method === 0) return raw.subarray(0, Math.min(raw.length, m.size));
  // Z_SYNC_FLUSH: what inflates from a prefix, with no error for the stream not ending there.
  return inflateRawSync(raw, { finishFlush: zc.Z_SYNC_FLUSH, maxOutputLength: Math.max(1, Math.min(m.size, n * 1032)) });
}

/** Surveys a `.npz`: every `.npy` member is an array of the one dataset. */
function surveyNpz(abs: string, shown: string, s: Survey): void {
  let fd: number;
  try {
    fd = openSync(abs, OPEN_FLAGS);
  } catch (cause) {
    throw new ScanError('SCAN_SOURCE_NOT_FOUND', `Cannot read ${shown}.`, { cause });
  }
  try {
    const size = fstatSync(fd).size;
    s.bytes += size;
    let members = readCentralDirectory(fd, size);
    if (!Array.isArray(members)) {
      // Cut short, most likely: the members before the cut are still there, each behind its local header.
      const local = readLocalHeaders(fd, size);
      if (local.length === 0) {
        throw new ScanError('SCAN_CORRUPT_SOURCE', `Cannot read NumPy .npz ${shown}: ${members.error} (offset ${members.offset}).`, {
          data: { file: shown, offset: members.offset },
        });
      }
      s.findings.push(corrupt(shown, `Archive has ${members.error}; ${local.length} member(s) found from their local headers.`, { offset: members.offset }));
      members = local.map((m) => {
        // A stored member cut by the end of the file holds what is left: its rows up to the cut are read.
        if (m.method === 0 && m.compSize < m.size) return { ...m, size: m.compSize };
        return m;
      });
    }
    for (const m of members) {
      if (m.name.endsWith('/')) continue;
      const name = m.name.replace(/\.npy$/i, '');
      const where = `${shown}:${m.name}`;
      if (!/\.npy$/i.test(m.name)) {
        s.unchecked.push(`${where} (not an .npy member)`);
        continue;
      }
      if ((m.flags & 1) !== 0 || (m.method !== 0 && m.method !== 8)) {
        s.unchecked.push(`${where} (${(m.flags & 1) !== 0 ? 'encrypted' : `compression method ${m.method}`})`);
        continue;
      }
      const start = memberDataOffset(fd, size, m);
      if (typeof start !== 'number') {
        s.findings.push(corrupt(shown, `Member '${m.name}': ${start.error}.`, { field: name, offset: start.offset }));
        continue;
      }
      let h: ReturnType<typeof header>;
      try {
        h = header(memberHead(fd, m, start, 16384));
        if ('need' in h && h.need !== undefined) h = header(memberHead(fd, m, start, Math.ceil(h.need / 4) + 16384));
      } catch (e) {
        h = { error: `deflate stream is damaged (${(e as Error).message})` };
      }
      if ('error' in h) {
        s.findings.push(corrupt(shown, `Member '${m.name}' is not a readable .npy array: ${h.error}.`, { field: name, offset: start }));
        continue;
      }
      const avail = Math.max(0, m.size - h.headerBytes);
      const a = arrayOf(h, name, shown, abs, m.method === 0 ? start + h.headerBytes : h.headerBytes, avail, where, s);
      // A cut deflated Fortran-order member has no complete row we can place without the whole array.
      if (a !== undefined && a.fortran && m.method === 8 && a.rows < npyRowCount(h)) a.rows = 0;
      if (avail < npyElements(h) * h.dtype.itemSize && isNumeric(h.dtype)) {
        s.findings.push(corrupt(shown, truncation(h, a, 0, avail, `Member '${m.name}'`), { field: name, offset: start, ...(a === undefined ? {} : { index: a.rows }) }));
      }
      if (a === undefined) continue;
      if (a.fortran && m.method === 8 && npyElements(h) * a.itemSize > MAX_INFLATED_FORTRAN) {
        s.unchecked.push(`${where} (Fortran-order compressed member over ${MAX_INFLATED_FORTRAN} bytes)`);
        continue;
      }
      a.zip = { member: m.name, method: m.method, start, compSize: m.compSize, size: m.size, crc: m.crc };
      a.isLabel = isLabelName(name);
      s.arrays.push(a);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Surveys a source. @throws ScanError `SCAN_CORRUPT_SOURCE` when nothing in it is readable (a file named
 * `.npy` that is not one, an `.npz` with no central directory).
 */
export function survey(abs: string, shown: string, labelNames?: readonly string[]): Survey {
  const s: Survey = { arrays: [], findings: [], unchecked: [], bytes: 0 };
  if (NPZ_EXTENSION.test(abs)) surveyNpz(abs, shown, s);
  else surveyNpy(abs, shown, labelNames, s);
  if (!NPZ_EXTENSION.test(abs) && s.arrays.length === 0 && s.unchecked.length === 0) {
    const first = s.findings[0];
    throw new ScanError('SCAN_CORRUPT_SOURCE', `${shown}: ${first?.message ?? 'no array'}`, {
      data: { file: shown, offset: first?.offset ?? 0 },
    });
  }
  // As for HDF5 datasets: a label array has one value a row (a one-hot (N, 10) `y` is data), and one label array
  // a source (the first by the order of the label names); other label-named arrays are scanned as data.
  const rank = (a: ArraySpec): number => Math.max(0, DEFAULT_LABEL_NAMES.indexOf(a.name.toLowerCase()));
  const label = s.arrays
    .filter((a) => a.isLabel && a.shape.slice(1).every((d) => d === 1))
    .reduce<ArraySpec | undefined>((b, a) => (b === undefined || rank(a) < rank(b) ? a : b), undefined);
  for (const a of s.arrays) a.isLabel = a === label;
  // The longest array counts the records (0-d arrays are scalars beside it, unless alone); siblings of another
  // length are a misalignment (as HDF5 datasets of one file).
  const sized = s.arrays.filter((a) => a.shape.length > 0);
  const pool = sized.length > 0 ? sized : s.arrays;
  const declared = (a: ArraySpec): number => (a.shape.length === 0 ? 1 : (a.shape[0] as number));
  const primary = pool.reduce<ArraySpec | undefined>((b, a) => (b === undefined || declared(a) > declared(b) ? a : b), undefined);
  if (primary !== undefined) primary.counts = true;
  if (sized.length > 1 && !sized.every((a) => declared(a) === declared(sized[0] as ArraySpec))) {
    const list = sized.map((a) => `'${a.name}' ${declared(a)}`).join(', ');
    s.findings.push({
      kind: 'inconsistent_lengths', message: `Arrays disagree on their row count: ${list}.`, file: shown,
    });
  }
  return s;
}
