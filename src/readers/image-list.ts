/**
 * Caffe ImageData list files: one `relative/path.jpg <int label>` per line, paths relative to a root folder
 * (Caffe's `root_folder`; here the list's own folder unless `--root-folder` is given). Like Caffe, the label
 * is what follows the last space, so paths may contain spaces. The list is one dataset, in list order.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_SEVERITY } from '../checks/severity.js';
import { invalidPartition } from '../errors.js';
import type { Finding } from '../types.js';
import { decodeListText, FILES_PER_BATCH, isImageName, OPEN_FLAGS, readFileBatches, readSmallFile } from './files.js';
import type { Partition, Reader, ReaderModule, RecordBatch, Source, SourceInfo } from './types.js';

/** A list larger than this is not an image list we sniff (the reader still reads any size when told to). */
const SNIFF_BYTES = 64 * 1024;

export interface ListEntry {
  line: number;
  path: string;
  label: number;
}

export interface ParsedList {
  entries: ListEntry[];
  /** Lines that are neither blank nor an entry. */
  bad: { line: number; text: string; reason: string }[];
}

const LABEL = /^[+-]?\d+$/;

/** Parses list text. Blank lines and `#` comments are ignored. */
export function parseImageList(text: string): ParsedList {
  const entries: ListEntry[] = [];
  const bad: ParsedList['bad'] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const cut = raw.search(/\s\S+$/);
    if (cut < 0) {
      bad.push({ line: i + 1, text: raw, reason: 'has no label (expected "<path> <integer label>")' });
      continue;
    }
    const p = raw.slice(0, cut).trim();
    const l = raw.slice(cut).trim();
    if (/[\u0000-\u001f\ufffd]/.test(p)) {
      bad.push({ line: i + 1, text: raw, reason: 'has a path with control characters or invalid UTF-8' });
      continue;
    }
    if (!LABEL.test(l) || !Number.isSafeInteger(Number(l)) || Math.abs(Number(l)) >= 2 ** 31) {
      bad.push({ line: i + 1, text: raw, reason: `label '${l}' is not a 32-bit integer` });
      continue;
    }
    entries.push({ line: i + 1, path: p, label: Number(l) });
  }
  return { entries, bad };
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

/** Absolute paths of the files a list names (for discovery: those are not scanned again on their own). */
export function listedImageFiles(listFile: string, rootFolder?: string): string[] {
  const root = rootFolder ?? path.dirname(listFile);
  return parseImageList(readSmallFile(listFile, Number.MAX_SAFE_INTEGER).toString('utf8')).entries.map((e) => path.resolve(root, e.path));
}

interface ListPartition {
  start: number;
  end: number;
}

class ImageListReader implements Reader {
  private readonly parsed: ParsedList;
  private readonly shownRoot: string;
  private readonly absRoot: string;

  constructor(private readonly source: Source, text: string) {
    this.parsed = parseImageList(text);
    this.absRoot = source.rootFolder ?? path.dirname(source.absPath);
    this.shownRoot = source.rootFolder ?? path.dirname(source.path);
  }

  info(): SourceInfo {
    const findings: Finding[] = this.parsed.bad.map((b) => ({
      kind: 'bad_record', severity: DEFAULT_SEVERITY.bad_record,
      message: `List line ${b.line} ${b.reason}: '${visible(b.text.slice(0, 200))}'.`, file: this.source.path, line: b.line,
    }));
    let bytes = 0;
    for (const e of this.parsed.entries) {
      try { bytes += statSync(path.resolve(this.absRoot, e.path)).size; } catch { /* reported when read */ }
    }
    return { bytes, findings, expectedRecords: this.parsed.entries.length };
  }

  plan(maxPartitions: number): Partition[] {
    const total = this.parsed.entries.length;
    const n = Math.max(1, Math.min(maxPartitions, Math.ceil(total / FILES_PER_BATCH)));
    return Array.from({ length: n }, (_, i) => ({
      index: i,
      spec: { start: Math.floor((i * total) / n), end: Math.floor(((i + 1) * total) / n) } satisfies ListPartition,
    }));
  }

  *read(p: Partition): Iterable<RecordBatch> {
    const spec = p.spec as Partial<ListPartition> | null;
    const total = this.parsed.entries.length;
    if (
      spec === null || typeof spec !== 'object' || Array.isArray(spec) || !Number.isSafeInteger(spec.start) ||
      !Number.isSafeInteger(spec.end) || spec.start! < 0 || spec.start! > spec.end! || spec.end! > total
    ) {
      throw invalidPartition('image list', `not a run of its ${total} entries`);
    }
    const start = spec.start!;
    yield* readFileBatches(this.parsed.entries.slice(start, spec.end).map((e, i) => ({
      abs: path.resolve(this.absRoot, e.path), shown: path.join(this.shownRoot, e.path), index: start + i,
      line: e.line, label: e.label,
    })));
  }

  close(): void {}
}

export const imageListReader: ReaderModule = {
  format: 'image-list',
  open: async (source) => new ImageListReader(source, readSmallFile(source.absPath, Number.MAX_SAFE_INTEGER).toString('utf8')),
};

/** Control characters shown as \xNN, so a damaged line cannot garble a terminal or a report. */
function visible(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
