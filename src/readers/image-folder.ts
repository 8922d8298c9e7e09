/**
 * Image folders, read as torchvision's ImageFolder reads them (torchvision/datasets/folder.py):
 *
 * - Class layout: the folder holds subfolders with images. Every subfolder is a class, hidden ones included
 *   (`find_classes` takes every directory entry that is a directory, symlinks followed, and sorts the names),
 *   and a class's label is its index in that sorted list; nanscan's labels are the same, so the label analysis
 *   describes what training sees. A class's files are every file under it (`os.walk`, links followed), in
 *   sorted folder then sorted name order. ImageFolder loads only names ending in one of its IMG_EXTENSIONS.
 *   What it does unexpectedly is reported as `class_folder`: a hidden class folder (warning: it shifts every
 *   label after it), a class folder with no file ImageFolder loads (error: ImageFolder raises
 *   `FileNotFoundError: Found no valid file for the classes ...`), an image beside the class folders (warning:
 *   ImageFolder never reads it; it is not checked either).
 * - Flat layout: images directly in the folder (and below it), no labels; also when images beside subfolders
 *   are the majority.
 *
 * Files whose names are not images by extension (README.txt, labels.csv, .DS_Store) inside the data are not
 * records: they are counted as `not_an_image` (unchecked files), since a folder loader skips them. A file with
 * an image extension is a record whatever it holds; a dangling symlink is a record with a `missing_file`
 * finding. Names are read as bytes, so a name that is not valid UTF-8 is read and shown escaped (`caf\xe9.jpg`).
 */
import { isUtf8 } from 'node:buffer';
import { opendirSync, readdirSync, statSync, type Dir, type Dirent } from 'node:fs';
import path from 'node:path';
import { invalidPartition } from '../errors.js';
import type { Damage } from '../records.js';
import {
  bytesOf, codePoints, displayBytes, FILES_PER_BATCH, fsPathUnder, isImageName, isTorchvisionImageName,
  readFileBatches, type FileEntry,
} from './files.js';
import type { Partition, Reader, ReaderModule, RecordBatch, Source, SourceInfo, UncheckedNote } from './types.js';

interface FolderPartition {
  start: number;
  /** Relative paths as raw bytes in latin1 strings (JSON-safe, and exact for any byte sequence). */
  files: string[];
  labels: number[] | null;
}

export interface FolderListing {
  /** Image paths relative to the folder, raw bytes as latin1 strings, in ImageFolder's order. */
  files: string[];
  /** Labels by file in the class layout (ImageFolder's class indexes). */
  labels: number[] | null;
  /** Class names by label (escaped when not UTF-8), every class folder ImageFolder would make. */
  classNames: string[] | null;
  /** `class_folder` findings (and `io_error` for a folder that cannot be listed), with display paths. */
  findings: Damage[];
  /** Files inside the data that are not images by name. */
  notImages: { count: number; examples: string[] };
}

/** Examples kept of the files that are not images. */
const NOT_IMAGE_EXAMPLES = 20;

/** One directory level read as bytes: subfolders (links followed) and everything else, in Python's sort order. */
interface Level {
  dirs: string[];
  files: string[];
}

/*
 * Names and paths in the listing are byte strings (files.ts; readdir's 'latin1' encoding): a Buffer per name (the
 * listing's earlier form) cost ~40% of listing 10,000 files in allocation and garbage collection.
 */

/** Only names with a byte above 0x7f can be anything but ASCII. */
const NON_ASCII = /[^\x00-\x7f]/;

/** Python's `sorted()` on names decoded with surrogateescape: by code point. */
function sortPy(names: string[]): string[] {
  // UTF-8 keeps code point order bytewise, and byte strings compare bytewise: only names that are not UTF-8
  // need their code points.
  if (names.every((n) => !NON_ASCII.test(n) || isUtf8(bytesOf(n)))) return names.sort();
  const keyed = names.map((name) => ({ name, key: codePoints(bytesOf(name)) }));
  keyed.sort(({ key: x }, { key: y }) => {
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return x.length - y.length;
  });
  return keyed.map((k) => k.name);
}

/** One folder, `dir` a byte string. */
function readLevel(dir: string): Level | Error {
  let entries: Dirent[];
  try {
    entries = readdirSync(bytesOf(dir), { withFileTypes: true, encoding: 'latin1' });
  } catch (e) {
    return e as Error;
  }
  const dirs: string[] = [];
  const files: string[] = [];
  for (const entry of entries) {
    // The entry's own type, without a stat per file (20,000 stats: ~100 ms); only links are followed, as
    // os.scandir's is_dir() does. A link to nothing is a file name, as it is for os.walk.
    let isDir = entry.isDirectory();
    if (entry.isSymbolicLink()) {
      try { isDir = statSync(bytesOf(`${dir}/${entry.name}`)).isDirectory(); } catch { isDir = false; }
    }
    (isDir ? dirs : files).push(entry.name);
  }
  return { dirs: sortPy(dirs), files: sortPy(files) };
}

const join = (a: string, b: string): string => (a.length === 0 ? b : `${a}/${b}`);

/**
 * Lists a folder as ImageFolder would. `exclude` holds absolute paths of files other datasets (lists) claim.
 * Symlinked folders are followed once (cycles are cut by device and inode).
 */
export function listImageFolder(root: string, exclude: ReadonlySet<string> = new Set(), shownRoot = root): FolderListing {
  const rootBytes = Buffer.from(root).toString('latin1');
  const findings: Damage[] = [];
  const notImages = { count: 0, examples: [] as string[] };
  const shown = (rel: string): string => path.join(shownRoot, displayBytes(rel));
  const excluded = (rel: string): boolean => exclude.size > 0 && exclude.has(path.join(root, bytesOf(rel).toString('utf8')));
  const rootReal = folderId(rootBytes) ?? root;
  let seen = new Set<string>();

  /**
   * Every image under `rel`, as groups of one folder's images in sorted name order (non-images counted);
   * walkClass() puts the groups in torchvision's order.
   */
  const walk = (rel: string, groups: { rel: string; files: string[] }[]): { torch: number; images: number } => {
    const counts = { torch: 0, images: 0 };
    const abs = join(rootBytes, rel);
    // A folder is known by device and inode (realpath would turn a name that is not UTF-8 into another).
    const real = folderId(abs);
    if (real === null || seen.has(real)) return counts;
    seen.add(real);
    const level = readLevel(abs);
    if (level instanceof Error) {
      findings.push({ kind: 'io_error', file: shown(rel),
        message: `Folder '${shown(rel)}' cannot be listed: ${level.message}` });
      return counts;
    }
    const out: string[] = [];
    groups.push({ rel, files: out });
    for (const name of level.files) {
      const r = join(rel, name);
      if (excluded(r)) continue;
      const image = isImageName(name);
      if (image) {
        out.push(r);
        counts.images++;
        // torchvision's extensions are a subset of ours.
        if (isTorchvisionImageName(name)) counts.torch++;
      } else {
        notImages.count++;
        if (notImages.examples.length < NOT_IMAGE_EXAMPLES) notImages.examples.push(shown(r));
      }
    }
    for (const d of level.dirs) {
      const sub = walk(join(rel, d), groups);
      counts.torch += sub.torch;
      counts.images += sub.images;
    }
    return counts;
  };

  const top = readLevel(rootBytes);
  if (top instanceof Error) {
    findings.push({ kind: 'io_error', file: shownRoot,
      message: `Folder '${shownRoot}' cannot be listed: ${top.message}` });
    return { files: [], labels: null, classNames: null, findings, notImages };
  }
  const topImages = top.files.filter((n) => isImageName(n) && !excluded(n));
  const classes = top.dirs.map((name) => {
    // Each class is walked on its own, as os.walk is: two classes that link to one folder both have its files.
    seen = new Set([rootReal]);
    const groups: { rel: string; files: string[] }[] = [];
    const counts = walk(name, groups);
    // torchvision's make_dataset: `for root, _, fnames in sorted(os.walk(class_dir))`, names sorted in each:
    // folders in the order of their whole paths, so `cls/sub-a` comes before `cls/sub/x` ('-' sorts before '/'),
    // unlike a depth-first walk.
    groups.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
    return { name, files: groups.flatMap((g) => g.files), ...counts };
  });
  const inClasses = classes.reduce((n, c) => n + c.images, 0);

  if (inClasses === 0 || topImages.length >= inClasses) {
    // Flat layout: every image, top level first, then each folder's, in os.walk order; no labels.
    const files: string[] = [];
    for (const name of top.files) {
      if (excluded(name)) continue;
      if (isImageName(name)) files.push(name);
      else {
        notImages.count++;
        if (notImages.examples.length < NOT_IMAGE_EXAMPLES) notImages.examples.push(shown(name));
      }
    }
    for (const c of classes) files.push(...c.files);
    return { files, labels: null, classNames: null, findings, notImages };
  }

  // Class layout.
  const classNames = classes.map((c) => displayBytes(c.name));
  const n = classes.length;
  classes.forEach((c, label) => {
    const folder = shown(c.name);
    const hidden = c.name.startsWith('.');
    const at = `label ${label} of ${n} under ImageFolder`;
    if (c.torch === 0) {
      const what = c.images > 0
        ? `holds no file ImageFolder loads (its ${c.images} image${c.images === 1 ? ' has an extension' : 's have extensions'} outside torchvision's IMG_EXTENSIONS)`
        : 'holds no image file';
      findings.push({ kind: 'class_folder', loaderFails: true, file: folder,
        message: `${hidden ? 'Hidden class' : 'Class'} folder '${folder}' (${at}) ${what}: ImageFolder raises ` +
          `"FileNotFoundError: Found no valid file for the classes ${classNames[label]}".` });
    } else if (hidden) {
      findings.push({ kind: 'class_folder', file: folder,
        message: `Hidden folder '${folder}' is a class under ImageFolder (${at}), with ${c.images} image${c.images === 1 ? '' : 's'}: ` +
          'every class sorted after it has its label shifted by one.' });
    }
  });
  for (const name of topImages) {
    findings.push({ kind: 'class_folder', file: shown(name),
      message: `Image '${shown(name)}' lies beside the class folders: ImageFolder never reads it (it has no class), and it was not checked.` });
  }
  // Errors first: reporters that show one mark per kind take the first finding's severity.
  findings.sort((a, b) => Number(b.loaderFails === true) - Number(a.loaderFails === true));
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((c, label) => {
    for (const f of c.files) { files.push(f); labels.push(label); }
  });
  return { files, labels, classNames, findings, notImages };
}

/** Device and inode of the folder at byte string `p`. */
function folderId(p: string): string | null {
  try {
    const st = statSync(bytesOf(p), { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

/**
 * A folder holds images directly, or its subfolders do (class-per-folder). Hidden subfolders (notebooks'
 * checkpoints) and empty ones do not decide either way (the reader reports them); a non-empty one without
 * images (a database, a tree of datasets) makes this no image folder, and discovery searches it further.
 */
export function looksLikeImageFolder(dir: string): boolean {
  // Names as byte strings: a folder or file whose name is not UTF-8 is still found.
  const root = Buffer.from(dir).toString('latin1');
  let names: string[];
  try {
    names = readdirSync(bytesOf(root), { encoding: 'latin1' });
  } catch {
    return false;
  }
  if (names.some((n) => isImageName(n) && isFile(join(root, n)))) return true;
  const subdirs = names.filter((n) => !n.startsWith('.')).map((n) => join(root, n)).filter(isDir);
  if (subdirs.length === 0) return false;
  let withImages = 0;
  for (const d of subdirs) {
    const inner = firstImage(d);
    if (inner === 'unreadable' || inner === 'no images') return false;
    if (inner === 'image') withImages++;
  }
  return withImages > 0;
}

/**
 * Whether a folder holds an image by name, reading its entries only up to the first image (a class folder
 * of 1,300 ImageNet images was read whole, and read again by discovery and by the listing).
 */
function firstImage(dir: string): 'image' | 'no images' | 'empty' | 'unreadable' {
  let handle: Dir | undefined;
  try {
    // Names as text: a name that is not UTF-8 is decoded lossily, but its ASCII extension survives.
    handle = opendirSync(bytesOf(dir));
    let entries = 0;
    for (let e = handle.readSync(); e !== null; e = handle.readSync()) {
      entries++;
      if (isImageName(e.name)) return 'image';
    }
    return entries === 0 ? 'empty' : 'no images';
  } catch {
    return 'unreadable';
  } finally {
    try { handle?.closeSync(); } catch { /* already closed */ }
  }
}

function isFile(p: string): boolean {
  try { return statSync(bytesOf(p)).isFile(); } catch { return false; }
}
function isDir(p: string): boolean {
  try { return statSync(bytesOf(p)).isDirectory(); } catch { return false; }
}

class ImageFolderReader implements Reader {
  private listed: FolderListing | undefined;

  constructor(private readonly source: Source) {}

  /**
   * The folder's files, listed on first use: info() and plan() need it (in the main thread); read() does not,
   * since a partition carries its files, so workers never walk the tree (20,000 files: ~50 ms each).
   */
  private get listing(): FolderListing {
    return (this.listed ??= listImageFolder(this.source.absPath, new Set(this.source.exclude ?? []), this.source.path));
  }

  get classNames(): string[] | null {
    return this.listing.classNames;
  }

  info(): SourceInfo {
    const { findings, notImages } = this.listing;
    // Loaders shuffle a folder: its listing order is not an order training reads (no storage-order label risks).
    const info: SourceInfo = { findings: [...findings], expectedRecords: this.listing.files.length, unordered: true };
    if (this.classNames) info.classNames = this.classNames;
    if (notImages.count > 0) {
      const note: UncheckedNote = { reason: 'not_an_image', count: notImages.count, examples: notImages.examples };
      info.unchecked = [note];
    }
    return info;
  }

  plan(maxPartitions: number): Partition[] {
    const { files, labels } = this.listing;
    const n = Math.max(1, Math.min(maxPartitions, Math.ceil(files.length / FILES_PER_BATCH)));
    const out: Partition[] = [];
    for (let i = 0; i < n; i++) {
      const start = Math.floor((i * files.length) / n);
      const end = Math.floor(((i + 1) * files.length) / n);
      const spec: FolderPartition = { start, files: files.slice(start, end), labels: labels ? labels.slice(start, end) : null };
      out.push({ index: i, spec: spec as unknown as Partition['spec'] });
    }
    return out;
  }

  *read(p: Partition): Iterable<RecordBatch> {
    const spec = parseFolderSpec(p.spec);
    yield* readFileBatches(spec.files.map((rel, i) => {
      const e: FileEntry = { abs: fsPathUnder(this.source.absPath, rel), shown: path.join(this.source.path, displayBytes(rel)), index: spec.start + i };
      const label = spec.labels?.[i];
      if (label !== undefined) e.label = label;
      return e;
    }));
  }

  close(): void {}
}

/** The spec crossed a thread boundary: check its shape before trusting it. */
function parseFolderSpec(v: Partition['spec']): FolderPartition {
  const s = v as Partial<FolderPartition> | null;
  const count = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;
  if (
    s === null || typeof s !== 'object' || Array.isArray(s) || !count(s.start) ||
    !Array.isArray(s.files) || !s.files.every((f) => typeof f === 'string') ||
    !(s.labels === null || (Array.isArray(s.labels) && s.labels.length === s.files.length && s.labels.every(Number.isSafeInteger)))
  ) {
    throw invalidPartition('image folder', 'not made by this reader\'s plan()');
  }
  return s as FolderPartition;
}

export const imageFolderReader: ReaderModule = {
  isolated: true,
  format: 'image-folder',
  open: async (source) => new ImageFolderReader(source),
};
