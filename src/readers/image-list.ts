/**
 * Caffe ImageData list files: one `relative/path.jpg <int label>` per line, paths relative to a root folder
 * (Caffe's `root_folder`; here the list's own folder unless `--root-folder` is given). The list is one
 * dataset, in list order, and each of its entries is a record (one naming a missing file too, with its
 * `missing_file` finding).
 *
 * Lines are read as Caffe's ImageDataLayer reads them (`std::getline`, then the label is `atoi` of what follows
 * the last space, the path everything before it, untrimmed): paths may contain spaces; a CR before the newline
 * is harmless (atoi stops at it). Caffe has no comments and no blank lines: a `# comment` is read as a path, a
 * blank line as an entry with an empty path, and either makes training abort with "Could not load"; a label
 * that is not an integer is read by atoi as 0 (or its leading digits), silently. Each of these is a
 * `bad_record` with its line. (Caffe before 2016 read `infile >> filename >> label`, which skipped blank lines
 * but stopped reading the whole list, silently, at the first line whose label was not a number.)
 *
 * The list is parsed as bytes (latin1 text), so a path that is not UTF-8 names its file exactly, and is shown
 * escaped.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { invalidPartition } from '../errors.js';
import type { Damage } from '../records.js';
import {
  bytesOf, decodeListText, displayBytes, FILES_PER_BATCH, fsPathUnder, isImageName, OPEN_FLAGS, readFileBatches, readSmallFile,
} from './files.js';
import type { OpenPurpose, Partition, Reader, ReaderModule, RecordBatch, Source, SourceInfo } from './types.js';

/** A list larger than this is not an image list we sniff (the reader still reads any size when told to). */
const SNIFF_BYTES = 64 * 1024;

export interface ListEntry {
  line: number;
  /** The path as written: raw bytes as a latin1 string when parsed from bytes (see parseImageList). */
  path: string;
  label: number;
}

export interface ParsedList {
  entries: ListEntry[];
  /** Lines that are not `<path> <integer label>` (blank and `#` lines included). */
  bad: { line: number; text: string; reason: string }[];
}

const LABEL = /^[+-]?\d+$/;

/**
 * Parses list text, line by line as Caffe does. Pass the file's bytes as a latin1 string to keep paths exact
 * (a UTF-8 string works too, for text already decoded).
 */
export function parseImageList(text: string): ParsedList {
  const entries: ListEntry[] = [];
  const bad: ParsedList['bad'] = [];
  const len = text.length;
  let no = 0;
  // getline: the text after the last newline is a line only when it is not empty.
  for (let start = 0; start < len; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = len;
    no++;
    const stop = end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
    // The usual line, `path label` with a plain path and a decimal label, is read from its characters (a list of
    // 1,281,167 lines took ~1 s through slices and regular expressions); any other goes through parseLine().
    // The last space of this line, looked for in this line only (lastIndexOf would run on into the lines
    // before it: a list without labels would take quadratic time).
    let cut = stop - 1;
    while (cut > start && text.charCodeAt(cut) !== 32) cut--;
    const label = cut > start ? plainLabel(text, cut + 1, stop) : null;
    if (label !== null && text.charCodeAt(start) !== 35 /* # */ && plainPath(text, start, cut)) {
      entries.push({ line: no, path: text.slice(start, cut), label });
    } else {
      parseLine(text.slice(start, stop), no, entries, bad);
    }
    start = end + 1;
  }
  return { entries, bad };
}

/** The label in `text[from, to)` when it is `[+-]?\d{1,9}` (so a 32-bit integer); else null. */
function plainLabel(text: string, from: number, to: number): number | null {
  let i = from;
  const sign = text.charCodeAt(i);
  if (sign === 43 || sign === 45) i++;
  if (i === to || to - i > 9) return null;
  let v = 0;
  for (; i < to; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return null;
    v = v * 10 + d;
  }
  return sign === 45 ? -v : v;
}

/** Whether `text[from, to)` is a non-empty path without control characters. */
function plainPath(text: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** One line (without its newline and CR), as Caffe reads it: an entry, or what is wrong with it. */
function parseLine(line: string, no: number, entries: ListEntry[], bad: ParsedList['bad']): void {
  if (line.trim() === '') {
    bad.push({ line: no, text: line, reason: 'is blank (Caffe reads it as an entry with an empty path, which cannot load)' });
    return;
  }
  const comment = line.startsWith('#') ? ' (Caffe has no comments: it reads this line as a path and a label)' : '';
  const cut = line.lastIndexOf(' ');
  if (cut < 0) {
    const tab = line.includes('\t') ? ': Caffe splits at the last space, not at a tab' : '';
    bad.push({ line: no, text: line, reason: `has no label (expected "<path> <integer label>")${tab}${comment}` });
    return;
  }
  const p = line.slice(0, cut);
  const l = line.slice(cut + 1);
  if (p === '') {
    bad.push({ line: no, text: line, reason: 'has an empty path' });
    return;
  }
  if (/[\u0000-\u001f\u007f]/.test(p)) {
    bad.push({ line: no, text: line, reason: 'has a path with control characters' });
    return;
  }
  if (!LABEL.test(l) || !Number.isSafeInteger(Number(l)) || Math.abs(Number(l)) >= 2 ** 31) {
    const what = l === '' ? 'nothing after its last space' : `label '${l}'`;
    bad.push({ line: no, text: line, reason: `has ${what} where a 32-bit integer label belongs (Caffe's atoi reads it as ${atoi(l)})${comment}` });
    return;
  }
  entries.push({ line: no, path: p, label: Number(l) });
}

/** C's atoi, as Caffe reads a label: leading whitespace, a sign, digits; 0 when there are none. */
function atoi(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  if (m === null) return 0;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && Math.abs(n) < 2 ** 31 ? n : n > 0 ? 2 ** 31 - 1 : -(2 ** 31);
}


/** Cheap sniff: a small text file whose first entries parse and name image files. */
export function isImageList(file: string): boolean {
  let text: string;
  try {
    if (statSync(file).size === 0) return false;
    const fd = openSync(file, OPEN_FLAGS);
    try {
      const buf = Buffer.alloc(SNIFF_BYTES);
      const n = readSync(fd, buf, 0, SNIFF_BYTES, 0);
      const t = decodeListText(buf.subarray(0, n));
      if (t === null) return false;
      text = t;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
  // Judge the complete lines only: the sniff window may cut the last one.
  const complete = text.includes('\n') ? text.slice(0, text.lastIndexOf('\n')) : text;
  const { entries, bad } = parseImageList(complete);
  return entries.length > 0 && entries.filter((e) => isImageName(e.path)).length >= Math.max(1, bad.length);
}

/** A relative path that path.resolve() would leave as it is once joined to an absolute, normal root. */
const NORMAL_RELATIVE = /^(?!\/)(?!.*(?:^|\/)\.{1,2}(?:\/|$))(?!.*\/\/)(?!.*\/$)[\x20-\x7e]+$/;

/** Absolute paths of the files a list names (for discovery: those are not scanned again on their own). */
export function listedImageFiles(listFile: string, rootFolder?: string): Set<string> {
  const root = path.resolve(rootFolder ?? path.dirname(listFile));
  const out = new Set<string>();
  for (const e of parseImageList(readSmallFile(listFile, Number.MAX_SAFE_INTEGER).toString('latin1')).entries) {
    // Most list paths are plain relative ASCII paths: joined without path.resolve() (1,000,000 of them: ~0.2 s).
    out.add(NORMAL_RELATIVE.test(e.path) ? `${root}${path.sep}${e.path}` : path.resolve(root, bytesOf(e.path).toString('utf8')));
  }
  return out;
}

/**
 * A run of the list's entries, carried in the partition itself (as an image folder's files are), so that a
 * worker never reads and parses the whole list again: a 1,000,000-line list took ~1 s to parse, in every worker.
 */
interface ListPartition {
  start: number;
  /** Per entry: its path as written (raw bytes as a latin1 string), its line and its label. */
  paths: string[];
  lines: number[];
  labels: number[];
}

class ImageListReader implements Reader {
  private parsedList: ParsedList | undefined;
  private readonly shownRoot: string;
  private readonly absRoot: string;

  constructor(private readonly source: Source, purpose: OpenPurpose) {
    this.absRoot = source.rootFolder ?? path.dirname(source.absPath);
    this.shownRoot = source.rootFolder ?? path.dirname(source.path);
    // Read at open when planning, so that an unreadable list fails open() as before.
    if (purpose === 'plan') void this.parsed;
  }

  /** The list, read and parsed on first use (a reader opened to read partitions never needs it). */
  private get parsed(): ParsedList {
    return (this.parsedList ??= parseImageList(readSmallFile(this.source.absPath, Number.MAX_SAFE_INTEGER).toString('latin1')));
  }

  info(): SourceInfo {
    const findings: Damage[] = this.parsed.bad.map((b) => ({
      kind: 'bad_record', message: `List line ${b.line} ${b.reason}: '${displayBytes(b.text.slice(0, 200))}'.`, file: this.source.path, line: b.line,
    }));
    // No byte count up front: it took a stat of every listed file (~6.6 s for 1,000,000 lines); the report
    // counts the bytes read instead, as for image folders.
    return { findings, expectedRecords: this.parsed.entries.length };
  }

  plan(maxPartitions: number): Partition[] {
    const entries = this.parsed.entries;
    const total = entries.length;
    const n = Math.max(1, Math.min(maxPartitions, Math.ceil(total / FILES_PER_BATCH)));
    return Array.from({ length: n }, (_, i) => {
      const start = Math.floor((i * total) / n);
      const run = entries.slice(start, Math.floor(((i + 1) * total) / n));
      const spec: ListPartition = { start, paths: run.map((e) => e.path), lines: run.map((e) => e.line), labels: run.map((e) => e.label) };
      return { index: i, spec: spec as unknown as Partition['spec'] };
    });
  }

  *read(p: Partition): Iterable<RecordBatch> {
    const spec = parseListSpec(p.spec);
    yield* readFileBatches(spec.paths.map((rel, i) => ({
      // The root, then the path exactly as the list holds it.
      abs: fsPathUnder(this.absRoot, rel),
      shown: path.join(this.shownRoot, displayBytes(rel)),
      index: spec.start + i,
      line: spec.lines[i]!,
      label: spec.labels[i]!,
    })));
  }

  close(): void {}
}

/** The spec crossed a process boundary: check its shape before trusting it. */
function parseListSpec(v: Partition['spec']): ListPartition {
  const s = v as Partial<ListPartition> | null;
  const ints = (a: unknown, n: number): boolean => Array.isArray(a) && a.length === n && a.every((x) => Number.isSafeInteger(x));
  if (
    s === null || typeof s !== 'object' || Array.isArray(s) || !Number.isSafeInteger(s.start) || (s.start as number) < 0 ||
    !Array.isArray(s.paths) || !s.paths.every((x) => typeof x === 'string') ||
    !ints(s.lines, s.paths.length) || !ints(s.labels, s.paths.length)
  ) {
    throw invalidPartition('image list', 'not made by this reader\'s plan()');
  }
  return s as ListPartition;
}

export const imageListReader: ReaderModule = {
  isolated: true,
  format: 'image-list',
  open: async (source, purpose = 'plan') => new ImageListReader(source, purpose),
};
