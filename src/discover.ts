/**
 * Discovery: walks the paths the user gave and finds the datasets in them. A database folder is one dataset
 * and is never descended into. Unrecognised files are listed as skipped, not reported as errors.
 */
import { closeSync, existsSync, openSync, promises as fsp, readSync, type Dirent } from 'node:fs';
import path from 'node:path';
import { isUtf8 } from 'node:buffer';
import { displayName, isImageName, OPEN_FLAGS } from './readers/files.js';
import { ScanError } from './errors.js';
import { globToRegExp } from './glob.js';
import { listImageFolder, looksLikeImageFolder } from './readers/image-folder.js';
import { isImageList, listedImageFiles } from './readers/image-list.js';
// Cheap sniffers only: these modules load no database library.
import { isHdf5File, isHdf5List, listedFiles as listedHdf5Files } from './readers/hdf5/sniff.js';
import { dataFileOfLock, isLmdbFile, isLockName } from './readers/lmdb/sniff.js';
import { ARROW_EXTENSION, isArrowFile, isParquetFile, PARQUET_EXTENSION } from './readers/table/sniff.js';
import { expandBraces, hasBraces, isShardName, isTarFile } from './readers/webdataset/shards.js';
import { isTfrecordFile, TFRECORD_NAME } from './readers/tfrecord/sniff.js';
import { isNpyFile, isNpzFile, NPY_EXTENSION, NPZ_EXTENSION, pairingOf } from './readers/npy/sniff.js';
import type { Source, SourceFormat } from './readers/types.js';
import type { SkippedPath } from './types.js';

export interface Discovery {
  sources: Source[];
  skipped: SkippedPath[];
  /** Paths given in which no dataset was found at all (before include/exclude and list claims). */
  emptyPaths: string[];
}

/** Bytes of an explicitly named file read to decide whether it is list text. */
const LIST_SNIFF_BYTES = 1024 * 1024;

/** File names HDF5 files go by (the HDF Group's and h5py's conventions). */
const HDF5_EXTENSION = /\.(h5|hdf5|he5|hdf)$/i;

/**
 * LMDB keeps its data in `data.mdb` (and a `lock.mdb` we never touch); a single-file environment
 * (`MDB_NOSUBDIR`) is any file starting with an LMDB meta page, beside its `<name>-lock`.
 */
const LMDB_DATA = 'data.mdb';

/**
 * Finds datasets under `paths`. Display paths keep the form the user typed (relative stays relative).
 * @throws ScanError `SCAN_SOURCE_NOT_FOUND` when a given path does not exist.
 */
export interface DiscoverOptions {
  rootFolder?: string;
  /** Globs on display paths: a dataset must match one include (when any) and no exclude. */
  include?: readonly string[];
  exclude?: readonly string[];
}

export async function discover(paths: readonly string[], cwd: string, options: DiscoverOptions = {}): Promise<Discovery> {
  const out: Discovery = { sources: [], skipped: [], emptyPaths: [] };
  const seen = new Set<string>();
  // WebDataset shard patterns (`shards-{000000..000099}.tar`): a dataset when any shard they name exists (the
  // reader reports each missing one); a pattern naming no existing file is a path that does not exist.
  const patterns = new Set<string>();
  for (const p of paths) {
    const abs = path.resolve(cwd, p);
    if (existsSync(abs)) continue;
    if (hasBraces(p) && (expandBraces(abs) ?? []).some((f) => existsSync(f))) patterns.add(p);
    else throw new ScanError('SCAN_SOURCE_NOT_FOUND', hasBraces(p) ? `No file named by the pattern '${p}' exists.` : `Path '${p}' does not exist.`);
  }
  for (const p of paths) {
    if (patterns.has(p)) {
      add(out, 'webdataset', path.resolve(cwd, p), p, seen);
      continue;
    }
    // Like ESLint's patterns that match no file: a path with no dataset in it is named (SCAN_NO_DATASET).
    if (!(await visit(path.resolve(cwd, p), p, out, seen, true))) out.emptyPaths.push(p);
  }
  claimListedFiles(out, options.rootFolder === undefined ? undefined : path.resolve(cwd, options.rootFolder));
  claimNpyLabels(out);
  const include = (options.include ?? []).map((g) => globToRegExp(g, 'include'));
  const exclude = (options.exclude ?? []).map((g) => globToRegExp(g, 'exclude'));
  if (include.length + exclude.length > 0) {
    out.sources = out.sources.filter((s) => {
      const p = s.path.split(path.sep).join('/');
      const keep = (include.length === 0 || include.some((g) => g.test(p))) && !exclude.some((g) => g.test(p));
      if (!keep) out.skipped.push({ path: s.path, reason: 'excluded by the include/exclude globs' });
      return keep;
    });
  }
  return out;
}

export { globToRegExp } from './glob.js';

/**
 * A loose `.npy` label file that the pairing rule (readers/npy/sniff.ts) reads with a features file found here
 * belongs to that dataset, not to one of its own.
 */
function claimNpyLabels(out: Discovery): void {
  const npy = out.sources.filter((s) => s.format === 'npy' && NPY_EXTENSION.test(s.absPath));
  if (npy.length < 2) return;
  const present = new Set(npy.map((s) => s.absPath));
  const claimed = new Set<string>();
  for (const s of npy) {
    for (const [label, features] of pairingOf(s.absPath).labelOf) if (present.has(features)) claimed.add(label);
  }
  out.sources = out.sources.filter((s) => !(s.format === 'npy' && claimed.has(s.absPath)));
}

/**
 * A list file is one dataset, and the files it names belong to it alone (DESIGN.md): image folders exclude
 * them, and a folder left with no image of its own is not a dataset.
 */
function claimListedFiles(out: Discovery, rootFolder: string | undefined): void {
  // HDF5 lists (Caffe HDF5Data sources) claim the .h5 files they name.
  // A list that names itself or another list claims no list: every list stays a dataset of its own.
  const claimedH5 = new Set<string>();
  const lists = new Set<string>();
  for (const s of out.sources) {
    if (s.format !== 'hdf5' || isHdf5File(s.absPath)) continue;
    try {
      for (const f of listedHdf5Files(s.absPath)) claimedH5.add(f.path);
      lists.add(s.absPath);
    } catch {
      // An unreadable list is reported when it is scanned.
    }
  }
  if (claimedH5.size > 0) {
    out.sources = out.sources.filter((s) => !(s.format === 'hdf5' && claimedH5.has(s.absPath) && !lists.has(s.absPath)));
  }
  const claimed = new Set<string>();
  // Only image folders can lose files to a list: with none, the lists are not read here (a 1,000,000-line list
  // is ~1.3 s of parsing and path building).
  const folders = out.sources.some((s) => s.format === 'image-folder');
  for (const s of out.sources) {
    if (s.format !== 'image-list') continue;
    if (rootFolder !== undefined) s.rootFolder = rootFolder;
    if (!folders) continue;
    try {
      for (const f of listedImageFiles(s.absPath, s.rootFolder)) claimed.add(f);
    } catch {
      // An unreadable list is reported when it is scanned.
    }
  }
  if (claimed.size === 0) return;
  // Sorted, the paths under a folder are one run, found by binary search: a list beside 1,000 class folders
  // would otherwise filter all of its 1,281,167 paths once per folder.
  const sorted = [...claimed].sort();
  const firstAtLeast = (key: string): number => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((sorted[mid] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  out.sources = out.sources.filter((s) => {
    if (s.format !== 'image-folder') return true;
    const prefix = s.absPath + path.sep;
    const from = firstAtLeast(prefix);
    let to = from;
    while (to < sorted.length && (sorted[to] as string).startsWith(prefix)) to++;
    const inside = sorted.slice(from, to);
    if (inside.length === 0) return true;
    s.exclude = [...(s.exclude ?? []), ...inside];
    return listImageFolder(s.absPath, new Set(s.exclude)).files.length > 0;
  });
}

async function visit(abs: string, shown: string, out: Discovery, seen: Set<string>, explicit = false): Promise<boolean> {
  let real: string;
  let stat;
  try {
    real = await fsp.realpath(abs);
    stat = await fsp.stat(real);
  } catch (e) {
    out.skipped.push({ path: shown, reason: `cannot be read: ${(e as Error).message}` });
    return false;
  }
  // Symlink loops and a path given twice: every real file or folder is visited once.
  if (seen.has(real)) return true;
  seen.add(real);
  if (stat.isFile()) {
    if (path.basename(abs) === LMDB_DATA) {
      return add(out, 'lmdb', path.dirname(abs), path.dirname(shown), seen);
    }
    // LMDB lock files are never opened, not even to sniff them. Beside its data file a `-lock` belongs to that
    // dataset (not skipped noise); named on its own it stands for its data file.
    if (isLockName(abs)) {
      const data = path.basename(abs) === 'lock.mdb' ? undefined : dataFileOfLock(abs);
      if (data !== undefined) return explicit && add(out, 'lmdb', data, shown.slice(0, -'-lock'.length), seen);
      if (path.basename(abs) === 'lock.mdb' && existsSync(path.join(path.dirname(abs), LMDB_DATA))) {
        return explicit && add(out, 'lmdb', path.dirname(abs), path.dirname(shown), seen);
      }
      out.skipped.push({ path: shown, reason: 'not a recognised dataset format (named like an LMDB lock file; not opened)' });
      return false;
    }
    // A single-file LMDB environment, recognised by its meta page whatever its name.
    if (isLmdbFile(abs, explicit)) return add(out, 'lmdb', abs, shown, seen);
    // By signature, or by name: a .h5 file whose signature is damaged is a corrupt HDF5 file, not "not a dataset".
    if (isHdf5File(abs) || HDF5_EXTENSION.test(abs) || isHdf5List(abs)) {
      return add(out, 'hdf5', abs, shown, seen);
    }
    // NumPy: by magic, or by name, so that a damaged `.npy`/`.npz` is reported as corrupt rather than skipped.
    if (NPY_EXTENSION.test(abs) || NPZ_EXTENSION.test(abs) || isNpyFile(abs) || isNpzFile(abs)) {
      return add(out, 'npy', abs, shown, seen);
    }
    // Parquet and Arrow: by signature, or by name (a truncated shard is a corrupt file, not "not a dataset").
    // Each file is a dataset of its own: a Hugging Face split of several shards is reported shard by shard.
    if (isParquetFile(abs) || PARQUET_EXTENSION.test(abs)) return add(out, 'parquet', abs, shown, seen);
    if (isArrowFile(abs) || ARROW_EXTENSION.test(abs)) return add(out, 'arrow', abs, shown, seen);
    // A WebDataset shard: a tar file by its first header, or named like one (a damaged shard is still a shard).
    if (isShardName(abs) || isTarFile(abs)) {
      return add(out, 'webdataset', abs, shown, seen);
    }
    // TFRecord files by name (shards, compressed ones); a file named otherwise, when named by the user and its
    // first length verifies its CRC.
    if (TFRECORD_NAME.test(abs) || (explicit && isTfrecordFile(abs))) {
      return add(out, 'tfrecord', abs, shown, seen);
    }
    if (isImageList(abs)) {
      return add(out, 'image-list', abs, shown, seen);
    }
    // A file the user named is scanned, never skipped: skipping it would let a broken list pass the gate. No
    // sniffer claimed it, so it is taken as a list, however damaged (even binary: damage can put NULs in a
    // list). Lines ending in an integer label make it an image list, whose reader reports each bad line;
    // otherwise it is an HDF5 list, whose reader reports a binary file as not a list.
    if (explicit) {
      const text = readListText(abs);
      return add(out, text !== null && /^\S.*\s[+-]?\d+\s*$/m.test(text) ? 'image-list' : 'hdf5', abs, shown, seen);
    }
    out.skipped.push({ path: shown, reason: 'not a recognised dataset format' });
    return false;
  }
  if (!stat.isDirectory()) {
    out.skipped.push({ path: shown, reason: 'not a regular file or folder' });
    return false;
  }
  let entries: Dirent[];
  try {
    entries = await fsp.readdir(abs, { withFileTypes: true });
  } catch (e) {
    out.skipped.push({ path: shown, reason: `cannot be listed: ${(e as Error).message}` });
    return false;
  }
  // A folder holding a list file is not itself an image folder: the list says what its images are.
  // (An image is no list: a folder of 2,000 JPEGs was 2,000 sniffs. A database's files are not sniffed either.)
  const hasList = (): boolean => entries.some((e) => e.isFile() && !isImageName(e.name) && isImageList(path.join(abs, e.name)));
  const format = detectFolder(entries) ?? (!hasList() && looksLikeImageFolder(abs) ? 'image-folder' : null);
  let found = false;
  if (format !== null) {
    found = add(out, format, abs, shown, seen);
    if (format === 'image-folder') await claimInnerDatasets(out.sources[out.sources.length - 1]!, out, seen);
    // A TFRecord or WebDataset folder is read from the files directly in it: datasets in its subfolders are
    // datasets of their own, searched for as in any folder (else they were neither scanned nor listed).
    if (format !== 'tfrecord' && format !== 'webdataset') return found;
    const dirs: Dirent[] = [];
    for (const e of entries) {
      if (e.isDirectory() || (e.isSymbolicLink() && (await fsp.stat(path.join(abs, e.name)).then((st) => st.isDirectory(), () => false)))) {
        dirs.push(e);
      }
    }
    entries = dirs;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // A name that is not UTF-8 reaches us decoded lossily (U+FFFD), a path that names no file: it is listed under
  // its bytes, escaped, with the true reason (readers open datasets by string paths), not as "cannot be read".
  const notUtf8 = new Map<string, Buffer[]>();
  if (entries.some((e) => e.name.includes('\uFFFD'))) {
    for (const n of await fsp.readdir(abs, { encoding: 'buffer' }).catch(() => [])) {
      if (!isUtf8(n)) notUtf8.set(n.toString('utf8'), [...(notUtf8.get(n.toString('utf8')) ?? []), n]);
    }
  }
  for (const e of entries) {
    const raw = notUtf8.get(e.name);
    if (raw === undefined) {
      found = (await visit(path.join(abs, e.name), path.join(shown, e.name), out, seen)) || found;
      continue;
    }
    // Several such names may decode to one string: each is listed once, at the first of their entries.
    for (const n of raw.splice(0)) out.skipped.push({ path: path.join(shown, displayName(n)), reason: NOT_UTF8_REASON });
  }
  return found;
}

/**
 * A folder is a database when it holds the format's marker files: LMDB's `data.mdb`; LevelDB's CURRENT or a
 * MANIFEST beside numbered table or log files (a damaged database is still recognised, and its damage reported);
 * a WebDataset when most of its files are tar shards.
 */
function detectFolder(entries: readonly Dirent[]): SourceFormat | null {
  // One pass (discovery runs this on every class folder of an image folder: thousands of names each).
  let lmdb = false;
  let meta = false;
  let tables = false;
  let visible = 0;
  let shards = 0;
  let tfrecord = false;
  for (const e of entries) {
    if (e.isDirectory()) continue;
    const n = e.name;
    if (n === LMDB_DATA) lmdb = true;
    else if (n === 'CURRENT' || /^MANIFEST-\d+$/.test(n)) meta = true;
    else if (/^\d+\.(ldb|sst|log)$/.test(n)) tables = true;
    if (!n.startsWith('.')) {
      visible++;
      if (isShardName(n)) shards++;
    }
    if (TFRECORD_NAME.test(n)) tfrecord = true;
  }
  if (lmdb) return 'lmdb';
  if (meta && tables) return 'leveldb';
  // WebDataset: a folder whose files are mostly tar shards (beside them, at most as many others: a README, a
  // shard list, an index).
  if (shards > 0 && 2 * shards >= visible) return 'webdataset';
  // A folder of TFRecord shards is one dataset (the shards in sorted order, as tf.data reads a sorted glob).
  if (tfrecord) return 'tfrecord';
  return null;
}

const NOT_UTF8_REASON = 'name is not valid UTF-8: nanscan opens datasets by UTF-8 paths (rename it to scan it)';

/**
 * Datasets of other formats inside an image folder (an LMDB or an HDF5 file beside the images or the class
 * folders) are datasets of their own, and their files are not the image folder's: the folder reader would only
 * count them as files that are not images, and leave them unchecked. Found by their folders' marker files and by
 * the sniffers, run on the files that are not images (an image folder holds few of those). Links are not
 * followed here.
 */
async function claimInnerDatasets(folder: Source, out: Discovery, seen: Set<string>): Promise<void> {
  const exclude: string[] = [];
  const walk = async (dir: string, shown: string, listed: Dirent[] | null): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = listed ?? (await fsp.readdir(dir, { withFileTypes: true }));
    } catch {
      return; // The folder reader reports it.
    }
    // Only folders and files that are not images can be datasets (a class folder's images are passed over
    // without a path built for each).
    const candidates = entries.filter((e) => e.isDirectory() || (e.isFile() && !isImageName(e.name) && !isLockName(e.name)));
    candidates.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of candidates) {
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) {
        const inner = await fsp.readdir(abs, { withFileTypes: true }).catch(() => null);
        const format = inner === null ? null : detectFolder(inner);
        if (format === null) {
          if (inner !== null) await walk(abs, path.join(shown, e.name), inner);
        } else if (add(out, format, abs, path.join(shown, e.name), seen)) {
          exclude.push(...(await filesUnder(abs)));
        }
      } else {
        const probe: Discovery = { sources: [], skipped: [], emptyPaths: [] };
        if (await visit(abs, path.join(shown, e.name), probe, seen)) {
          out.sources.push(...probe.sources);
          exclude.push(abs);
          if (existsSync(`${abs}-lock`) && probe.sources.some((p) => p.format === 'lmdb')) exclude.push(`${abs}-lock`);
        }
      }
    }
  };
  await walk(folder.absPath, folder.path, null);
  if (exclude.length > 0) folder.exclude = [...(folder.exclude ?? []), ...exclude];
}

/** Every file below a folder (links not followed). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const abs = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(abs)));
    else out.push(abs);
  }
  return out;
}

/** Adds a dataset; true (found) also when it was found before, through another path. */
function add(out: Discovery, format: SourceFormat, abs: string, shown: string, seen: Set<string>): boolean {
  const key = `${format}:${abs}`;
  if (seen.has(key)) return true;
  seen.add(key);
  out.sources.push({ format, path: shown === '' ? '.' : shown, absPath: abs });
  return true;
}

/** The start of a file as text, binary bytes decoded lossily; null when it is empty or unreadable. */
function readListText(file: string): string | null {
  try {
    const fd = openSync(file, OPEN_FLAGS);
    try {
      const buf = Buffer.alloc(LIST_SNIFF_BYTES);
      const n = readSync(fd, buf, 0, buf.length, 0);
      return n === 0 ? null : new TextDecoder('utf-8').decode(buf.subarray(0, n));
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}
