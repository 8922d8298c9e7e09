/**
 * The fuzzer of issue 8: mutates copies of every fixture dataset (bit flips, byte runs, truncation, chunk
 * duplication, length-field edits, hostile list lines) and runs the built CLI on each mutant, asserting that it
 * exits 0 or 1 within a time bound, prints no stack trace, writes a valid JSON report and writes nothing into the
 * dataset. Deterministic: mutant `i` of seed `K` is always the same bytes, whatever else runs.
 *
 *   npx tsx scripts/fuzz.ts [--count N] [--seconds S] [--seed K] [--out DIR] [--fixture a,b] [--start I]
 *                           [--timeout S] [--jobs J] [--keep] [--cli dist/bundle/nanscan.cjs] [--differential ENV=V,...]
 *                           [--against OTHER_CLI]
 *
 * With --differential, every mutant is also scanned with those environment variables set, and the two reports
 * must have the same exit code, record counts and findings: e.g. `--differential NANSCAN_NO_NATIVE_PNG=1`
 * checks that the native PNG fast path changes no finding (the same for NANSCAN_NO_NATIVE_JPEG=1). With
 * `--against <cli>`, the second scan runs another build instead (e.g. main's, checked out and built beside this
 * one): a refactoring of a reader must not change one finding on thousands of damaged datasets.
 *
 * Reproduce one mutant: `--fixture <dir> --seed K --start I --count 1 --keep` saves it whether or not it fails.
 */
import { rng } from './lib/caffe.js';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32c } from '@node-rs/crc32';
import { FIXTURES, TFRECORD_SUBFOLDER_DATASETS, type FixtureSpec } from './lib/fixture-spec.js';
import { FINDING_KINDS } from '../src/types.js';
import { TFRECORD_NAME } from '../src/readers/tfrecord/sniff.js';
import { CLI, ROOT } from '../test/helpers/cli.js';
import { hashTree } from '../test/helpers/tree.js';

// ---------------------------------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------------------------------

export type Rng = () => number;

/** mulberry32 (shared with the fixtures): the same seed gives the same stream everywhere. */
export const mulberry32: (seed: number) => Rng = rng;

/**
 * The PRNG seed of one mutant, from (campaign seed, fixture, index) alone: a mutant does not depend on which
 * other mutants ran before it, on the --fixture filter or on parallelism, so any failure replays from its recipe.
 */
export function mutantSeed(seed: number, fixture: string, index: number): number {
  let h = 0x811c9dc5;
  for (const c of `${seed}\0${fixture}\0${index}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h >>> 0;
}

const int = (r: Rng, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)]!;
function weighted<T>(r: Rng, xs: readonly (readonly [T, number])[]): T {
  const total = xs.reduce((s, [, w]) => s + w, 0);
  let x = r() * total;
  for (const [v, w] of xs) if ((x -= w) < 0) return v;
  return xs[xs.length - 1]![0];
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures and targets
// ---------------------------------------------------------------------------------------------------------------

export interface FuzzFixture {
  /** Folder under fixtures/. */
  dir: string;
  format: FixtureSpec['format'] | 'parquet' | 'arrow' | 'webdataset' | 'npy';
  /** The dataset path inside the folder (list or single file), or undefined when the folder is the dataset. */
  datasetFile?: string;
}

export const FUZZ_FIXTURES: FuzzFixture[] = [
  // Written by scripts/make-table-fixtures.ts: nulls, NaN, a zstd Parquet file of three row groups; an Arrow stream
  // of three record batches with float16 and fixed-size-list columns.
  { dir: 'parquet', format: 'parquet', datasetFile: 'planted.parquet' },
  { dir: 'arrow', format: 'arrow', datasetFile: 'planted.arrow' },
  ...FIXTURES.map((f): FuzzFixture => ({
    dir: f.dir, format: f.format, ...(f.datasetFile === undefined ? {} : { datasetFile: f.datasetFile }),
  })),
  // Written by scripts/make_webdataset_fixtures.py (Python's tarfile), not by the fixture spec.
  { dir: 'webdataset/clean', format: 'webdataset' },
  { dir: 'webdataset/formats', format: 'webdataset' },
  // NumPy fixtures (scripts/make-npy-fixtures.ts): features read with their paired label file; a deflated .npz.
  { dir: 'npy/clean', format: 'npy', datasetFile: 'X_train.npy' },
  { dir: 'npy/npz', format: 'npy', datasetFile: 'faults.npz' },
];

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|tiff?|bmp)$/i;
const PAGE = 4096;

/** Files of a folder, relative, sorted (sorted so that target choice is deterministic). */
function listFiles(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(root, rel)).sort()) {
    const r = rel === '' ? name : `${rel}/${name}`;
    if (statSync(path.join(root, r)).isDirectory()) out.push(...listFiles(root, r));
    else out.push(r);
  }
  return out;
}

/**
 * How likely each file of a dataset is to be mutated: the files its reader actually parses, weighted by how much
 * parsing they get (LevelDB tables and logs over CURRENT; a list file as much as all its images together).
 */
function targetWeight(fx: FuzzFixture, file: string, size: number, imageCount: number): number {
  const base = path.basename(file);
  switch (fx.format) {
    case 'lmdb':
      return base === 'data.mdb' ? 1 : 0; // lock.mdb is never read
    case 'leveldb':
      if (/\.(ldb|sst)$/.test(base)) return 4;
      if (/\.log$/.test(base)) return size > 0 ? 3 : 0.3; // an empty log still takes insertions
      if (/^MANIFEST-/.test(base)) return 3;
      if (base === 'CURRENT') return 1.5;
      return 0; // LOG and LOCK are LevelDB's own diagnostics and lock: never read
    case 'hdf5':
      if (base.endsWith('.h5')) return 5;
      return base.endsWith('.txt') ? 1.5 : 0;
    case 'image-folder':
      return IMAGE_EXT.test(base) ? 1 : 0;
    case 'image-list':
      if (file === fx.datasetFile) return Math.max(1, imageCount);
      return IMAGE_EXT.test(base) ? 1 : 0;
    case 'parquet':
    case 'arrow':
      return file === fx.datasetFile ? 1 : 0;
    case 'webdataset':
      return /\.(tar|tar\.gz|tgz)$/.test(base) ? 1 : 0;
    case 'tfrecord':
      return TFRECORD_NAME.test(base) ? 1 : 0;
    case 'npy':
      // Loose .npy files are all read (features and their label file); of an .npz folder, the archive scanned.
      return /\.npy$/.test(base) || file === fx.datasetFile ? 1 : 0;
  }
}

type Kind = 'lmdb' | 'ldb' | 'log' | 'current' | 'h5' | 'png' | 'jpeg' | 'list' | 'tar' | 'tfrecord' | 'npy' | 'other';

function fileKind(fx: FuzzFixture, file: string): Kind {
  const base = path.basename(file);
  if (base === 'data.mdb') return 'lmdb';
  if (fx.format === 'tfrecord' && TFRECORD_NAME.test(base) && !/\.(gz|gzip|zlib|zz)$/i.test(base)) return 'tfrecord';
  if (/\.(ldb|sst)$/.test(base)) return 'ldb';
  if (/\.log$/.test(base) || /^MANIFEST-/.test(base)) return 'log';
  if (base === 'CURRENT') return 'current';
  if (base.endsWith('.h5')) return 'h5';
  if (base.endsWith('.tar')) return 'tar';
  if (/\.png$/i.test(base)) return 'png';
  if (/\.jpe?g$/i.test(base)) return 'jpeg';
  if (/\.np[yz]$/i.test(base)) return 'npy';
  if (file === fx.datasetFile || (fx.format === 'hdf5' && base.endsWith('.txt'))) return 'list';
  return 'other';
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------------------------

/** One applied mutation, as recorded in a recipe (enough to read what was done; replay uses seed and index). */
export interface Op {
  op: string;
  file: string;
  [param: string]: string | number | boolean;
}

/** An offset biased to where formats keep their headers (the start) and footers (the end). */
function pickOffset(r: Rng, len: number): number {
  if (len <= 1) return 0;
  const x = r();
  if (x < 0.25) return int(r, Math.min(len, PAGE * 2));
  if (x < 0.4) return len - 1 - int(r, Math.min(len, 512));
  return int(r, len);
}

function pickRunLength(r: Rng, max: number): number {
  const n = weighted(r, [[1 + int(r, 8), 5], [1 + int(r, 64), 3], [1 + int(r, 4096), 1]] as const);
  return Math.max(0, Math.min(n, max));
}

const LENGTH_VALUES = (size: number): number[] => [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0xffffffff, size, PAGE - 1, PAGE, PAGE + 1];

/** Offsets of length-like fields the format really has, with width and byte order, for targeted length edits. */
function structuredFields(kind: Kind, b: Buffer): { at: number; width: 2 | 4 | 8; le: boolean }[] {
  const out: { at: number; width: 2 | 4 | 8; le: boolean }[] = [];
  if (kind === 'lmdb') {
    // Page header (pgno 8, pad 2, flags 2, lower 2 | overflow pages 4, upper 2) and the first node offsets.
    for (let p = 0; p + 16 <= b.length; p += PAGE) {
      out.push({ at: p, width: 8, le: true }, { at: p + 10, width: 2, le: true }, { at: p + 12, width: 2, le: true },
        { at: p + 14, width: 2, le: true }, { at: p + 12, width: 4, le: true });
      for (let k = 0; k < 4 && p + 18 + 2 * k <= b.length; k++) out.push({ at: p + 16 + 2 * k, width: 2, le: true });
    }
    // Meta pages: everything after the page header is 4/8-byte fields (magic, version, mapsize, db records, last pgno, txnid).
    for (const p of [0, PAGE]) for (let o = 16; o < 16 + 136 && p + o + 8 <= b.length; o += 8) out.push({ at: p + o, width: 8, le: true });
  } else if (kind === 'tfrecord') {
    // Record length fields (uint64 LE), walked through the framing.
    for (let at = 0; at + 12 <= b.length && out.length < 64;) {
      out.push({ at, width: 8, le: true });
      at += 16 + Number(b.readBigUInt64LE(at));
    }
  } else if (kind === 'log') {
    // Physical record headers: crc 4, length 2, type 1, in 32 KiB blocks.
    for (let at = 0; at + 7 <= b.length;) {
      const inBlock = 32768 - (at % 32768);
      if (inBlock < 7) { at += inBlock; continue; }
      out.push({ at: at + 4, width: 2, le: true });
      at += 7 + b.readUInt16LE(at + 4);
    }
  } else if (kind === 'png') {
    for (let at = 8; at + 12 <= b.length && out.length < 64;) {
      out.push({ at, width: 4, le: false });
      if (b.toString('latin1', at + 4, at + 8) === 'IHDR') out.push({ at: at + 8, width: 4, le: false }, { at: at + 12, width: 4, le: false });
      at += 12 + b.readUInt32BE(at);
    }
  } else if (kind === 'jpeg') {
    for (let at = 2; at + 4 <= b.length && out.length < 64;) {
      if (b[at] !== 0xff) break;
      const m = b[at + 1]!;
      out.push({ at: at + 2, width: 2, le: false });
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        out.push({ at: at + 5, width: 2, le: false }, { at: at + 7, width: 2, le: false }); // height, width
      }
      if (m === 0xda) break; // entropy-coded data follows
      at += 2 + b.readUInt16BE(at + 2);
    }
  } else if (kind === 'tar') {
    // Tar headers' size fields (12 octal digits at 124): written in binary here, which a strict parser rejects;
    // text sizes come from the checksum fix-up's walk staying in step.
    for (let at = 0; at + 512 <= b.length && out.length < 64;) {
      out.push({ at: at + 124, width: 8, le: false }, { at: at + 148, width: 4, le: false });
      const size = parseInt(b.toString('latin1', at + 124, at + 136).replace(/\0.*$/s, '').trim() || '0', 8);
      if (!Number.isSafeInteger(size)) break;
      at += 512 + Math.ceil(size / 512) * 512;
    }
  } else if (kind === 'h5') {
    // Superblock v0/v1 addresses (base, free-space, EOF, driver) and the root symbol table entry: 8-byte LE.
    for (let o = 24; o < 96 && o + 8 <= b.length; o += 8) out.push({ at: o, width: 8, le: true });
  }
  return out;
}

function writeWord(b: Buffer, at: number, width: 2 | 4 | 8, le: boolean, value: number): void {
  if (width === 2) { const v = value & 0xffff; if (le) b.writeUInt16LE(v, at); else b.writeUInt16BE(v, at); }
  else if (width === 4) { const v = value >>> 0; if (le) b.writeUInt32LE(v, at); else b.writeUInt32BE(v, at); }
  else { const v = BigInt(value); if (le) b.writeBigUInt64LE(v, at); else b.writeBigUInt64BE(v, at); }
}

/**
 * LMDB pointers: a branch node's child page number, a leaf node's data size, a big (overflow) value's first page.
 * Pointing them at their own page, the meta pages, past the end or at 4 GiB makes loops and huge reads (issue 8:
 * "an LMDB whose pages point in a loop"); random bytes rarely hit them.
 */
function lmdbNodeOp(r: Rng, file: string, b: Buffer, ops: Op[]): boolean {
  const pages = Math.floor(b.length / PAGE);
  const nodes: { page: number; at: number; flags: number }[] = [];
  for (let p = 2; p < pages; p++) {
    const base = p * PAGE;
    const flags = b.readUInt16LE(base + 10);
    if ((flags & 0x03) === 0) continue; // neither branch nor leaf
    const lower = b.readUInt16LE(base + 12);
    for (let k = 0; 16 + 2 * k < Math.min(lower, PAGE - 2); k++) {
      const at = base + b.readUInt16LE(base + 16 + 2 * k);
      if (at + 16 <= base + PAGE) nodes.push({ page: p, at, flags });
    }
  }
  if (nodes.length === 0) return false;
  const n = pick(r, nodes);
  if (n.flags & 0x01) {
    // Branch node: pgno is lo(2) | hi(2) << 16 | flags(2) << 32.
    const to = pick(r, [n.page, n.page, 0, 1, 2, pages - 1, pages, 0xffffffff, 2 ** 40]);
    b.writeUInt16LE(to % 65536, n.at);
    b.writeUInt16LE(Math.floor(to / 65536) % 65536, n.at + 2);
    b.writeUInt16LE(Math.floor(to / 2 ** 32) % 65536, n.at + 4);
    ops.push({ op: 'lmdb-child', file, page: n.page, node: n.at % PAGE, to });
    return true;
  }
  // Leaf node: data size is lo | hi << 16; F_BIGDATA (1) in flags means the data is an overflow page number.
  if (r() < 0.5) {
    const size = pick(r, [0, 1, PAGE, 0x7fffffff, 0xffffffff, b.length]);
    b.writeUInt32LE(size >>> 0, n.at);
    const big = r() < 0.3;
    if (big) b.writeUInt16LE(b.readUInt16LE(n.at + 4) | 1, n.at + 4);
    ops.push({ op: 'lmdb-leaf-size', file, page: n.page, node: n.at % PAGE, size, bigdata: big });
    return true;
  }
  const ksize = b.readUInt16LE(n.at + 6);
  const dataAt = n.at + 8 + ksize;
  if (dataAt + 8 > b.length) return false;
  const to = pick(r, [n.page, 0, 1, pages - 1, pages, 0xffffffff]);
  b.writeBigUInt64LE(BigInt(to), dataAt);
  b.writeUInt16LE(b.readUInt16LE(n.at + 4) | 1, n.at + 4);
  ops.push({ op: 'lmdb-overflow-pgno', file, page: n.page, node: n.at % PAGE, to });
  return true;
}

/** One binary mutation of `b`; returns the new contents (truncation and insertion change the length). */
function binaryOp(r: Rng, kind: Kind, file: string, b: Buffer, ops: Op[]): Buffer {
  if (kind === 'lmdb' && r() < 0.25 && lmdbNodeOp(r, file, b, ops)) return b;
  if (kind === 'npy' && r() < 0.3 && b.length > 16) {
    // The .npy header dict (its first bytes; an .npz member's when stored): shapes, dtypes, quotes, brackets.
    const at = 8 + int(r, Math.min(b.length, 160) - 8);
    const ch = pick(r, [...'0123456789(),\' <>:fiuFT{}[]L-']);
    b[at] = ch.charCodeAt(0);
    ops.push({ op: 'npy-header', file, offset: at, char: ch });
    return b;
  }
  const op = weighted(r, [['bitflip', 4], ['run', 3], ['truncate', 1.5], ['dup', 2], ['length', 3]] as const);
  if (b.length === 0 && op !== 'dup') {
    const bytes = Buffer.from(Array.from({ length: 1 + int(r, 64) }, () => int(r, 256)));
    ops.push({ op: 'fill-empty', file, bytes: bytes.length });
    return bytes;
  }
  switch (op) {
    case 'bitflip': {
      const n = 1 + int(r, 8);
      const at: number[] = [];
      for (let k = 0; k < n; k++) {
        const o = pickOffset(r, b.length);
        b[o] = b[o]! ^ (1 << int(r, 8));
        at.push(o);
      }
      ops.push({ op, file, offsets: at.join(',') });
      return b;
    }
    case 'run': {
      const at = pickOffset(r, b.length);
      const n = pickRunLength(r, b.length - at);
      const fill = pick(r, ['00', 'ff', 'random'] as const);
      for (let k = at; k < at + n; k++) b[k] = fill === '00' ? 0 : fill === 'ff' ? 0xff : int(r, 256);
      ops.push({ op, file, offset: at, length: n, fill });
      return b;
    }
    case 'truncate': {
      // Page boundaries and small cuts are where formats look for what comes next.
      const at = r() < 0.3 && b.length > PAGE ? PAGE * int(r, Math.ceil(b.length / PAGE)) + pick(r, [0, 0, 1, -1]) : int(r, b.length);
      const cut = Math.max(0, Math.min(at, b.length - 1));
      ops.push({ op, file, at: cut, size: b.length });
      return b.subarray(0, cut);
    }
    case 'dup': {
      if (b.length === 0) return b;
      const from = pickOffset(r, b.length);
      const n = Math.max(1, pickRunLength(r, b.length - from));
      const chunk = Buffer.from(b.subarray(from, from + n));
      const to = pickOffset(r, b.length);
      if (r() < 0.5) {
        chunk.copy(b, to, 0, Math.min(n, b.length - to));
        ops.push({ op: 'dup-over', file, from, length: n, to });
        return b;
      }
      const times = pick(r, [1, 1, 2, 4, 16]);
      ops.push({ op: 'dup-insert', file, from, length: n, to, times });
      return Buffer.concat([b.subarray(0, to), ...Array.from({ length: times }, () => chunk), b.subarray(to)]);
    }
    case 'length': {
      const fields = structuredFields(kind, b).filter((f) => f.at + f.width <= b.length);
      const value = pick(r, LENGTH_VALUES(b.length));
      if (fields.length > 0 && r() < 0.6) {
        const f = pick(r, fields);
        writeWord(b, f.at, f.width, f.le, value);
        ops.push({ op: 'length-field', file, offset: f.at, width: f.width, le: f.le, value });
        return b;
      }
      const width = pick(r, [2, 4, 8] as const);
      if (b.length < width) return b;
      const at = Math.floor(pickOffset(r, b.length - width + 1) / width) * width;
      const le = r() < 0.7;
      writeWord(b, at, width, le, value);
      ops.push({ op: 'length-word', file, offset: at, width, le, value });
      return b;
    }
  }
}

/** Paths a hostile list line may name: itself, devices, folders, missing files, names the OS refuses. */
function hostileNames(listBase: string, isH5: boolean): string[] {
  const ext = isH5 ? '.h5' : '.jpg';
  return [listBase, `./${listBase}`, '/dev/zero', '/dev/urandom', '/dev/stdin', '/proc/self/fd/0', '/dev/null', '.', '..', '/',
    `missing${ext}`, `/nonexistent/dir/missing${ext}`, `${'d/'.repeat(3000)}x${ext}`, `${'x'.repeat(300)}${ext}`,
    `imgs${ext}/`, ' ', `~/${ext}`, `\u00e9\u0000${ext}`];
}

const LABELS = ['-1', '99999999999999999999', 'NaN', '1e309', '0x10', '', '2147483648', '-0', '1.5', '+3'];

/** One text mutation of a list file (an image list or an HDF5 list). */
function listOp(r: Rng, file: string, isH5: boolean, b: Buffer, ops: Op[]): Buffer {
  const text = b.toString('utf8');
  const lines = text.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) lines.push(isH5 ? 'x.h5' : 'x.jpg 0');
  const li = int(r, lines.length);
  const line = lines[li]!;
  const [pathPart, ...rest] = line.split(' ');
  const op = weighted(r, [['dup-line', 2], ['hostile', 4], ['long-line', 2], ['label', isH5 ? 0 : 2], ['delete-line', 1],
    ['crlf', 0.5], ['bom', 0.5], ['no-final-newline', 0.5]] as const);
  let trailing = '\n';
  switch (op) {
    case 'dup-line': {
      const times = pick(r, [1, 2, 100, 5000]);
      const to = int(r, lines.length + 1);
      lines.splice(to, 0, ...Array.from({ length: times }, () => line));
      ops.push({ op, file, line: li + 1, to: to + 1, times });
      break;
    }
    case 'hostile': {
      const name = pick(r, hostileNames(path.basename(file), isH5));
      const newLine = [name, ...(isH5 ? [] : [rest.length > 0 ? rest.join(' ') : '0'])].join(' ');
      if (r() < 0.5) lines[li] = newLine;
      else lines.splice(li, 0, newLine);
      ops.push({ op, file, line: li + 1, name: name.length > 80 ? `${name.slice(0, 40)}…(${name.length} chars)` : name });
      break;
    }
    case 'long-line': {
      const n = pick(r, [5000, 70_000, 1_200_000]);
      const body = pick(r, ['a', 'a/', ' ', '\t'] as const).repeat(Math.ceil(n / 2)).slice(0, n);
      const newLine = isH5 ? body : `${body} 1`;
      lines.splice(li, 0, newLine);
      ops.push({ op, file, line: li + 1, length: newLine.length });
      break;
    }
    case 'label': {
      const label = pick(r, LABELS);
      lines[li] = `${pathPart ?? ''} ${label}`;
      ops.push({ op, file, line: li + 1, label });
      break;
    }
    case 'delete-line':
      lines.splice(li, 1);
      ops.push({ op, file, line: li + 1 });
      break;
    case 'crlf':
      ops.push({ op, file });
      return Buffer.from(lines.map((l) => `${l}\r\n`).join(''));
    case 'bom':
      ops.push({ op, file });
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]);
    case 'no-final-newline':
      trailing = '';
      ops.push({ op, file });
      break;
  }
  return Buffer.from(lines.join('\n') + trailing);
}

/** LevelDB's CURRENT names the MANIFEST: make it name something else. */
function currentOp(r: Rng, file: string, ops: Op[]): Buffer {
  const up = '../'.repeat(12);
  const name = pick(r, ['MANIFEST-999999\n', `${up}dev/zero\n`, `${up}dev/urandom\n`, `${up}dev/stdin\n`, 'CURRENT\n', '.\n', '..\n',
    'LOG\n', 'LOCK\n', '000005.ldb\n', '000004.log\n', '000003.log\n', 'MANIFEST-000002', 'MANIFEST-000002\n\n\n', '\n', '',
    `MANIFEST-${'9'.repeat(5000)}\n`, `${'a'.repeat(70_000)}\n`, 'MANIFEST-000002\0\n']);
  ops.push({ op: 'current', file, content: name.length > 80 ? `${name.slice(0, 40)}…(${name.length} chars)` : JSON.stringify(name) });
  return Buffer.from(name);
}

// Checksum fix-ups: a mutation the CRC catches stops at the CRC; recomputing it sends the mutant into the parser.

function lvlMask(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

function fixLogCrcs(b: Buffer): number {
  let fixed = 0;
  for (let at = 0; at + 7 <= b.length;) {
    const inBlock = 32768 - (at % 32768);
    if (inBlock < 7) { at += inBlock; continue; }
    const len = b.readUInt16LE(at + 4);
    if (at + 7 + len > b.length) break;
    b.writeUInt32LE(lvlMask(crc32c(b.subarray(at + 6, at + 7 + len))), at);
    fixed++;
    at += 7 + len;
  }
  return fixed;
}

function varint(b: Buffer, at: number): [number, number] {
  let v = 0;
  for (let shift = 0, i = at; i < b.length && shift < 49; shift += 7, i++) {
    v += (b[i]! & 0x7f) * 2 ** shift;
    if ((b[i]! & 0x80) === 0) return [v, i + 1];
  }
  throw new Error('bad varint');
}

/** Recomputes the block trailers of an SSTable: every data block the index names, the index and the metaindex. */
function fixTableCrcs(b: Buffer): number {
  if (b.length < 48) return 0;
  const f = b.length - 48;
  const [metaOff, p0] = varint(b, f);
  const [metaSize, p] = varint(b, p0);
  const [indexOff, p2] = varint(b, p);
  const [indexSize] = varint(b, p2);
  const blocks: [number, number][] = [[metaOff, metaSize], [indexOff, indexSize]];
  if (indexOff + indexSize + 5 > f) return 0;
  // Walk the index block's entries (prefix-compressed keys; the values are block handles).
  const nRestarts = b.readUInt32LE(indexOff + indexSize - 4);
  const end = indexOff + indexSize - 4 - 4 * nRestarts;
  for (let at = indexOff; at < end && blocks.length < 100_000;) {
    const [, a1] = varint(b, at);
    const [nonShared, a2] = varint(b, a1);
    const [valueLen, a3] = varint(b, a2);
    const v = a3 + nonShared;
    const [off, v1] = varint(b, v);
    const [size] = varint(b, v1);
    blocks.push([off, size]);
    at = v + valueLen;
  }
  let fixed = 0;
  for (const [off, size] of blocks) {
    if (off + size + 5 > b.length) continue;
    b.writeUInt32LE(lvlMask(crc32c(b.subarray(off, off + size + 1))), off + size + 1);
    fixed++;
  }
  return fixed;
}

function fixPngCrcs(b: Buffer): number {
  let fixed = 0;
  for (let at = 8; at + 12 <= b.length;) {
    const len = b.readUInt32BE(at);
    if (at + 12 + len > b.length) break;
    b.writeUInt32BE(zlibCrc32(b.subarray(at + 4, at + 8 + len)) >>> 0, at + 8 + len);
    fixed++;
    at += 12 + len;
  }
  return fixed;
}

/** Tar header checksums recomputed along the header chain, so a mutated header reaches the parser's fields. */
function fixTarChecksums(b: Buffer): number {
  let fixed = 0;
  for (let at = 0; at + 512 <= b.length;) {
    const h = b.subarray(at, at + 512);
    if (h.every((x) => x === 0)) break;
    h.fill(0x20, 148, 156);
    const sum = h.reduce((s, x) => s + x, 0);
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    fixed++;
    const size = parseInt(h.toString('latin1', 124, 136).replace(/\0.*$/s, '').trim() || '0', 8);
    if (!Number.isSafeInteger(size) || size < 0) break;
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return fixed;
}

/** Recomputes both CRCs of every TFRecord record whose length fits the file. */
function fixTfrecordCrcs(b: Buffer): number {
  let fixed = 0;
  for (let at = 0; at + 12 <= b.length;) {
    const len = Number(b.readBigUInt64LE(at));
    if (at + 16 + len > b.length) break;
    b.writeUInt32LE(lvlMask(crc32c(b.subarray(at, at + 8))), at + 8);
    b.writeUInt32LE(lvlMask(crc32c(b.subarray(at + 12, at + 12 + len))), at + 12 + len);
    fixed++;
    at += 16 + len;
  }
  return fixed;
}

function fixCrcs(kind: Kind, b: Buffer): number {
  try {
    if (kind === 'tar') return fixTarChecksums(b);
    if (kind === 'tfrecord') return fixTfrecordCrcs(b);
    if (kind === 'log') return fixLogCrcs(b);
    if (kind === 'ldb') return fixTableCrcs(b);
    if (kind === 'png') return fixPngCrcs(b);
  } catch {
    // The mutation broke the structure the fix-up walks: leave the checksums as they are.
  }
  return 0;
}

export interface Recipe {
  fixture: string;
  seed: number;
  index: number;
  /** The path scanned, relative to the mutant folder. */
  scan: string;
  ops: Op[];
}

/**
 * Writes mutant `index` of `seed` for `fx` into `dest` (which must not exist): a copy of the fixture folder with
 * one to three mutations of one of its files (sometimes a second file too). Never touches fixtures/.
 */
export function makeMutant(fx: FuzzFixture, seed: number, index: number, dest: string): Recipe {
  const r = mulberry32(mutantSeed(seed, fx.dir, index));
  const src = path.join(ROOT, 'fixtures', fx.dir);
  // Datasets of their own inside a fixture folder (fixtures/tfrecord/other and shards) are left out: one input,
  // one dataset.
  const own = new Set(TFRECORD_SUBFOLDER_DATASETS.map((d) => path.join(ROOT, 'fixtures', d)));
  cpSync(src, dest, { recursive: true, filter: (f) => !own.has(f) });
  const files = listFiles(dest);
  const images = files.filter((f) => IMAGE_EXT.test(f)).length;
  const weights = files.map((f) => [f, targetWeight(fx, f, statSync(path.join(dest, f)).size, images)] as const).filter(([, w]) => w > 0);
  const ops: Op[] = [];
  const targets = [weighted(r, weights)];
  if (r() < 0.15) targets.push(weighted(r, weights));
  for (const file of targets) {
    const abs = path.join(dest, file);
    const kind = fileKind(fx, file);
    let b: Buffer = readFileSync(abs);
    const n = weighted(r, [[1, 6], [2, 3], [3, 1.5]] as const);
    for (let k = 0; k < n; k++) {
      if (kind === 'list' && r() < 0.7) b = listOp(r, file, fx.format === 'hdf5', b, ops);
      else if (kind === 'current' && r() < 0.5) b = currentOp(r, file, ops);
      else b = binaryOp(r, kind, file, b, ops);
    }
    if ((kind === 'log' || kind === 'ldb' || kind === 'png' || kind === 'tar' || kind === 'tfrecord') && r() < 0.5) {
      ops.push({ op: 'fix-crc', file, blocks: fixCrcs(kind, b) });
    }
    writeFileSync(abs, b);
  }
  return { fixture: fx.dir, seed, index, scan: fx.datasetFile ?? '.', ops };
}

// ---------------------------------------------------------------------------------------------------------------
// Running and judging one mutant
// ---------------------------------------------------------------------------------------------------------------

export type FailureKind =
  | 'timeout' | 'signal' | 'exit-code' | 'stack-trace' | 'stderr' | 'no-report' | 'invalid-json' | 'invalid-report'
  | 'dataset-count' | 'tree-changed' | 'differential';

export interface Failure {
  kind: FailureKind;
  message: string;
}

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

const OUTPUT_CAP = 1 << 20;

/** Runs the CLI in its own process group, killed as a group after `timeoutMs`. */
function runCli(cli: string, args: readonly string[], cwd: string, timeoutMs: number, env?: Readonly<Record<string, string>>): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    // stdin stays an open pipe nobody writes: a reader that follows a list to /dev/stdin hangs here as it would
    // in a terminal, and the timeout catches it.
    const child = spawn(process.execPath, [cli, ...args], {
      cwd, detached: true, stdio: ['pipe', 'pipe', 'pipe'], ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => { if (stdout.length < OUTPUT_CAP) stdout += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { if (stderr.length < OUTPUT_CAP) stderr += d.toString('utf8'); });
    child.stdin.on('error', () => {});
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
    }, timeoutMs);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ status, signal, timedOut, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\)|\(<anonymous>\))$/m;
const KINDS = new Set<string>(FINDING_KINDS);

/** Every assertion of the brief, as a list of what failed (empty: the mutant passed). */
function judge(run: Run, reportFile: string, hashBefore: string, mutantRoot: string): Failure[] {
  const out: Failure[] = [];
  if (run.timedOut) out.push({ kind: 'timeout', message: `no exit within ${Math.round(run.ms / 1000)} s; process group killed` });
  else if (run.signal !== null) out.push({ kind: 'signal', message: `killed by ${run.signal}` });
  else if (run.status !== 0 && run.status !== 1) out.push({ kind: 'exit-code', message: `exit code ${run.status}` });
  if (STACK.test(run.stdout) || STACK.test(run.stderr)) {
    const frame = (run.stderr.match(STACK) ?? run.stdout.match(STACK))?.[0]?.trim() ?? '';
    out.push({ kind: 'stack-trace', message: `stack trace printed (${frame})` });
  } else if (run.stderr.trim() !== '') {
    // With -q and no TTY nanscan has nothing to say on stderr; anything there is a leak from a library or a crash.
    out.push({ kind: 'stderr', message: `stderr: ${run.stderr.trim().slice(0, 300)}` });
  }
  if (hashTree(mutantRoot) !== hashBefore) out.push({ kind: 'tree-changed', message: 'the dataset tree changed during the scan' });
  if (run.timedOut || run.signal !== null) return out;
  if (!existsSync(reportFile)) {
    out.push({ kind: 'no-report', message: 'no JSON report written' });
    return out;
  }
  let report: unknown;
  try {
    report = JSON.parse(readFileSync(reportFile, 'utf8'));
  } catch (e) {
    out.push({ kind: 'invalid-json', message: `report does not parse: ${(e as Error).message}` });
    return out;
  }
  out.push(...checkReport(report, run.status));
  return out;
}

/** The report contract (DESIGN.md), as far as one mutant of one dataset can check it. */
function checkReport(report: unknown, status: number | null): Failure[] {
  const out: Failure[] = [];
  const bad = (message: string): void => { out.push({ kind: 'invalid-report', message }); };
  const r = report as Record<string, unknown>;
  if (typeof r !== 'object' || r === null) { bad('report is not an object'); return out; }
  if (r.schemaVersion !== 1) bad(`schemaVersion is ${JSON.stringify(r.schemaVersion)}`);
  if (r.complete !== true) bad('report marked incomplete without an interrupt');
  if (r.exitCode !== status) bad(`report exitCode ${JSON.stringify(r.exitCode)} but process exited ${status}`);
  if (!Array.isArray(r.datasets)) { bad('datasets is not an array'); return out; }
  if (r.datasets.length !== 1) {
    const skipped = Array.isArray(r.skipped) ? (r.skipped as { path: string; reason: string }[]).map((s) => `${s.path}: ${s.reason}`).join('; ') : '';
    out.push({ kind: 'dataset-count', message: `${r.datasets.length} datasets for one input${skipped ? ` (skipped ${skipped})` : ''}` });
  }
  for (const d of r.datasets as Record<string, unknown>[]) {
    if (typeof d !== 'object' || d === null) { bad('a dataset is not an object'); continue; }
    if (!Number.isInteger(d.records) || (d.records as number) < 0) bad(`records is ${JSON.stringify(d.records)}`);
    if (!Array.isArray(d.findings)) { bad('findings is not an array'); continue; }
    const counts = (d.findingCounts ?? {}) as Record<string, unknown>;
    const seen: Record<string, number> = {};
    for (const f of d.findings as Record<string, unknown>[]) {
      if (!KINDS.has(String(f.kind))) bad(`finding kind ${JSON.stringify(f.kind)} is not in the kinds list`);
      if (f.severity !== 'error' && f.severity !== 'warning') bad(`finding ${String(f.kind)} has severity ${JSON.stringify(f.severity)}`);
      if (typeof f.message !== 'string' || f.message === '') bad(`finding ${String(f.kind)} has no message`);
      seen[String(f.kind)] = (seen[String(f.kind)] ?? 0) + 1;
    }
    for (const [k, n] of Object.entries(seen)) {
      const c = counts[k];
      if (typeof c !== 'number' || c < n) bad(`findingCounts.${k} is ${JSON.stringify(c)} but ${n} ${k} findings are listed`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Campaign
// ---------------------------------------------------------------------------------------------------------------

export interface CampaignOptions {
  /** Mutants to run (the campaign stops at `count` or `seconds`, whichever comes first). */
  count: number;
  seconds: number;
  seed: number;
  /** Where failing mutants are saved. */
  out: string;
  /** Fixture folders to fuzz (default: all), e.g. ['lmdb/clean']. Mutant i uses fixtures[i % n]. */
  fixtures?: readonly string[];
  /** First mutant index (to replay or continue a campaign). */
  start?: number;
  /** Mutants in flight. */
  jobs?: number;
  /** Per-mutant wall-clock bound. */
  timeoutMs?: number;
  /** Save every mutant, passing or not (for replay). */
  keep?: boolean;
  /** The built CLI to run (default: this checkout's dist/bundle/nanscan.cjs). */
  cli?: string;
  /** Progress and failure lines. */
  log?: (line: string) => void;
  /**
   * Environment variables for a second scan of every mutant, whose report must agree with the first (exit code,
   * records, findings): e.g. { NANSCAN_NO_NATIVE_PNG: '1' } checks that the native PNG path changes nothing.
   */
  differential?: Readonly<Record<string, string>>;
  /** Another build's CLI for that second scan (with `differential`'s variables, if any). */
  against?: string;
}

/** The second scan of a differential campaign: another environment, another build, or both. */
interface SecondScan {
  env: Readonly<Record<string, string>>;
  cli?: string;
}

export interface MutantResult {
  recipe: Recipe;
  failures: Failure[];
  ms: number;
  status: number | null;
  savedTo?: string;
}

export interface CampaignResult {
  mutants: number;
  seconds: number;
  perFixture: Record<string, { mutants: number; failed: number }>;
  failuresByKind: Partial<Record<FailureKind, number>>;
  failed: MutantResult[];
}

/** Whole mutant folders are saved up to this size; bigger ones are saved as their recipe. */
const SAVE_CAP = 2 * 1024 * 1024;
/** Saved folders per (fixture, failure kind): a systematic bug must not fill the disk with copies of itself. */
const SAVE_PER_SIGNATURE = 10;

function treeSize(dir: string): number {
  let n = 0;
  for (const f of listFiles(dir)) n += statSync(path.join(dir, f)).size;
  return n;
}

/**
 * Scans `target` (a dataset inside `<work>/mutant/`) with the built CLI and judges the run. The JSON report goes
 * to `<work>/report.json`, outside the hashed tree.
 */
async function scanAndJudge(cli: string, work: string, target: string, timeoutMs: number,
  differential?: SecondScan): Promise<{ run: Run; failures: Failure[] }> {
  const mutantRoot = path.join(work, 'mutant');
  const hashBefore = hashTree(mutantRoot);
  const reportFile = path.join(work, 'report.json');
  const args = (file: string): string[] => ['scan', path.relative(work, target), '--json', file, '-q', '--workers', '1'];
  const run = await runCli(cli, args(reportFile), work, timeoutMs);
  const failures = judge(run, reportFile, hashBefore, mutantRoot);
  if (differential === undefined || failures.length > 0) return { run, failures };
  const otherFile = path.join(work, 'report-differential.json');
  const other = await runCli(differential.cli ?? cli, args(otherFile), work, timeoutMs, differential.env);
  const otherFailures = judge(other, otherFile, hashBefore, mutantRoot);
  if (otherFailures.length > 0) {
    return { run, failures: otherFailures.map((f) => ({ ...f, message: `with ${secondText(differential)}: ${f.message}` })) };
  }
  const a = comparable(readFileSync(reportFile, 'utf8'));
  const b = comparable(readFileSync(otherFile, 'utf8'));
  if (a !== b) {
    failures.push({ kind: 'differential', message: `reports differ with ${secondText(differential)}: ${firstDifference(a, b)}` });
  }
  return { run, failures };
}

const secondText = (d: SecondScan): string =>
  [...Object.entries(d.env).map(([k, v]) => `${k}=${v}`), ...(d.cli === undefined ? [] : [d.cli])].join(' ');

/** What two scans of the same data must agree on: exit code, and each dataset's record count and findings. */
function comparable(reportText: string): string {
  const r = JSON.parse(reportText) as { exitCode: unknown; datasets: { records: unknown; findingCounts: unknown; findings: unknown }[] };
  return JSON.stringify({
    exitCode: r.exitCode,
    // findingCounts lists kinds in the order they were first met, which depends on which decodes finish first.
    datasets: r.datasets.map((d) => ({ records: d.records, findingCounts: sortKeys(d.findingCounts), findings: d.findings })),
  }, null, 1);
}

function sortKeys(o: unknown): unknown {
  return typeof o === 'object' && o !== null ? Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b))) : o;
}

function firstDifference(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  const i = x.findIndex((line, k) => line !== y[k]);
  return `${(x[i] ?? '').trim().slice(0, 200)} / ${(y[i] ?? '').trim().slice(0, 200)}`;
}

/**
 * Checks a saved dataset (a regression case) against every assertion of the fuzzer: `dir` is copied to a temp
 * folder first, so the scan runs on a copy and the repository is never the tree being hashed.
 */
export async function checkSaved(dir: string, scan: string, timeoutMs = 30_000, cli = CLI): Promise<{ status: number | null; failures: Failure[] }> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'nanscan-fuzz-case-'));
  try {
    const dataset = path.join(work, 'mutant', path.basename(dir));
    cpSync(dir, dataset, { recursive: true });
    const { run, failures } = await scanAndJudge(cli, work, path.join(dataset, scan), timeoutMs);
    return { status: run.status, failures };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function runOne(fx: FuzzFixture, index: number, o: Required<Omit<CampaignOptions, 'log' | 'fixtures' | 'differential' | 'against'>>,
  tmp: string, saved: Map<string, number>, second: SecondScan | undefined): Promise<MutantResult> {
  const work = path.join(tmp, `m${index}`);
  const mutantRoot = path.join(work, 'mutant');
  mkdirSync(work);
  const dataset = path.join(mutantRoot, path.basename(fx.dir));
  try {
    const recipe = makeMutant(fx, o.seed, index, dataset);
    const reportFile = path.join(work, 'report.json');
    const { run, failures } = await scanAndJudge(o.cli, work, path.join(dataset, recipe.scan), o.timeoutMs, second);
    const result: MutantResult = { recipe, failures, ms: run.ms, status: run.status };
    if (failures.length > 0 || o.keep) {
      const name = `${fx.dir.replace(/\//g, '_')}-s${o.seed}-i${index}`;
      const dest = path.join(o.out, name);
      rmSync(dest, { recursive: true, force: true });
      mkdirSync(dest, { recursive: true });
      const sig = `${fx.dir}:${failures[0]?.kind ?? 'kept'}`;
      const n = saved.get(sig) ?? 0;
      const whole = o.keep || (n < SAVE_PER_SIGNATURE && treeSize(mutantRoot) <= SAVE_CAP);
      if (whole) {
        saved.set(sig, n + 1);
        cpSync(dataset, path.join(dest, path.basename(fx.dir)), { recursive: true });
      }
      writeFileSync(path.join(dest, 'recipe.json'), `${JSON.stringify({
        ...recipe, scan: path.join(path.basename(fx.dir), recipe.scan), datasetSaved: whole, failures,
        status: run.status, signal: run.signal, ms: Math.round(run.ms), stderr: run.stderr.slice(0, 4000),
        replay: `npx tsx scripts/fuzz.ts --fixture ${fx.dir} --seed ${o.seed} --start ${index} --count 1 --keep`,
      }, null, 2)}\n`);
      if (existsSync(reportFile)) cpSync(reportFile, path.join(dest, 'report.json'));
      result.savedTo = dest;
    }
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Runs mutants until `count` or `seconds` is reached; failures are saved under `out` and returned. */
export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const o = {
    count: options.count, seconds: options.seconds, seed: options.seed, out: path.resolve(options.out),
    cli: path.resolve(options.cli ?? CLI), start: options.start ?? 0, jobs: options.jobs ?? 2, timeoutMs: options.timeoutMs ?? 30_000, keep: options.keep ?? false,
  };
  const log = options.log ?? (() => {});
  const fixtures = options.fixtures === undefined ? FUZZ_FIXTURES : options.fixtures.map((d) => {
    const f = FUZZ_FIXTURES.find((x) => x.dir === d);
    if (f === undefined) throw new Error(`unknown fixture '${d}' (known: ${FUZZ_FIXTURES.map((x) => x.dir).join(', ')})`);
    return f;
  });
  if (!existsSync(o.cli)) throw new Error(`${o.cli} is missing: run npm run build first`);
  const against = options.against === undefined ? undefined : path.resolve(options.against);
  if (against !== undefined && !existsSync(against)) throw new Error(`${against} (--against) is missing`);
  const second: SecondScan | undefined = options.differential === undefined && against === undefined ? undefined
    : { env: options.differential ?? {}, ...(against === undefined ? {} : { cli: against }) };
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'nanscan-fuzz-'));
  const t0 = performance.now();
  const deadline = t0 + o.seconds * 1000;
  const perFixture: CampaignResult['perFixture'] = {};
  const failuresByKind: CampaignResult['failuresByKind'] = {};
  const failed: MutantResult[] = [];
  const saved = new Map<string, number>();
  let next = o.start;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (next < o.start + o.count && performance.now() < deadline) {
      const index = next++;
      const fx = fixtures[index % fixtures.length]!;
      const res = await runOne(fx, index, o, tmp, saved, second);
      done++;
      const pf = (perFixture[fx.dir] ??= { mutants: 0, failed: 0 });
      pf.mutants++;
      if (res.failures.length > 0) {
        pf.failed++;
        failed.push(res);
        for (const k of new Set(res.failures.map((f) => f.kind))) failuresByKind[k] = (failuresByKind[k] ?? 0) + 1;
        log(`FAIL #${index} ${fx.dir} [${res.recipe.ops.map((op) => op.op).join(', ')}]: ${res.failures.map((f) => `${f.kind}: ${f.message}`).join(' | ')}`);
      }
      if (done % 100 === 0) log(`${done} mutants, ${failed.length} failed, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
  };
  try {
    mkdirSync(o.out, { recursive: true });
    await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, lane));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const result: CampaignResult = { mutants: done, seconds: (performance.now() - t0) / 1000, perFixture, failuresByKind, failed };
  if (failed.length > 0 || o.keep) {
    writeFileSync(path.join(o.out, 'summary.json'), `${JSON.stringify({ ...result, failed: failed.map((f) => ({ ...f.recipe, failures: f.failures, savedTo: f.savedTo })) }, null, 2)}\n`);
  }
  return result;
}

export function formatSummary(r: CampaignResult): string {
  const lines = [`${r.mutants} mutants in ${r.seconds.toFixed(1)} s (${(r.mutants / r.seconds).toFixed(2)}/s), ${r.failed.length} failed`];
  for (const [dir, s] of Object.entries(r.perFixture).sort()) lines.push(`  ${dir.padEnd(22)} ${String(s.mutants).padStart(6)} mutants  ${s.failed} failed`);
  const kinds = Object.entries(r.failuresByKind);
  if (kinds.length > 0) lines.push(`failures by kind: ${kinds.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------------------------

function parseArgs(argv: readonly string[]): CampaignOptions {
  const o: CampaignOptions = { count: 1000, seconds: 600, seed: 1, out: 'fuzz-out', log: (l) => console.log(l) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    const n = (): number => {
      const x = Number(v());
      if (!Number.isFinite(x) || x < 0) throw new Error(`${a} needs a number >= 0`);
      return x;
    };
    if (a === '--count') o.count = n();
    else if (a === '--seconds') o.seconds = n();
    else if (a === '--seed') o.seed = n();
    else if (a === '--out') o.out = v();
    else if (a === '--start') o.start = n();
    else if (a === '--jobs') o.jobs = n();
    else if (a === '--timeout') o.timeoutMs = n() * 1000;
    else if (a === '--fixture') o.fixtures = v().split(',');
    else if (a === '--keep') o.keep = true;
    else if (a === '--cli') o.cli = v();
    else if (a === '--against') o.against = v();
    else if (a === '--differential') {
      o.differential = Object.fromEntries(v().split(',').map((kv) => {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new Error(`--differential takes NAME=VALUE pairs, got '${kv}'`);
        return [kv.slice(0, eq), kv.slice(eq + 1)];
      }));
    }
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

async function main(): Promise<number> {
  let options: CampaignOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`fuzz: ${(e as Error).message}`);
    return 2;
  }
  const result = await runCampaign(options);
  console.log(formatSummary(result));
  if (result.failed.length > 0) console.log(`failing mutants saved under ${path.resolve(options.out)}`);
  return result.failed.length > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await main();
}
