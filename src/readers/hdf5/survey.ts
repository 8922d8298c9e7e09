/**
 * The main thread's survey of an HDF5 source: every file of the list opened once through h5wasm and walked,
 * each plain dataset located for direct reads (direct.ts), and the open-time findings made on the way (missing
 * files, files HDF5 cannot open, unreadable headers, rows too big to read, the Caffe rules on row counts and
 * shapes). Its result is what `info()` reports and what `plan()` splits into partitions.
 */
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Damage } from '../../records.js';
import type { Source } from '../types.js';
import { OPEN_FLAGS } from '../files.js';
import { locateRows, readSuperblock, type RawLocation, type RawRun } from './direct.js';
import type { DatasetInfo, H5, Walk } from './h5.js';
import { crossFileFindings, lengthFindings, MAX_SLAB_BYTES, slabRows } from './layout.js';
import { quickWalk } from './quick.js';
import type { ListedFile } from './sniff.js';

/** A scanned dataset as the survey found it, with its row runs when it is read directly. */
export interface ScannedDataset extends DatasetInfo {
  runs?: RawRun[];
}

/** One file of the source, as the survey found it. */
export interface SurveyedFile {
  path: string;
  file: string;
  datasets: ScannedDataset[];
  rows: number;
}

export interface Survey {
  files: SurveyedFile[];
  findings: Damage[];
  skipped: string[];
  /** Datasets and compound fields not checked (unsupported_type), as `<file>:<name> (<what>)`. */
  unchecked: string[];
  bytes: number;
  /** HDF5's reason for each file it could not open at all. */
  unopenable: string[];
  access: Map<string, string>;
}

/** What the survey needs to know of the source besides h5wasm. */
export interface SurveyTarget {
  source: Source;
  /** Whether the source is one HDF5 file or a list of them. */
  kind: 'file' | 'list';
  /** List entries (a single pseudo-entry for a lone file). */
  entries: readonly ListedFile[];
  /** Dataset names that hold labels (lower case). */
  labelNames: readonly string[];
  /** Whether plain datasets are located for direct reads. */
  direct: boolean;
}

/** A `corrupt_file` finding in `file` (the read steps report damaged rows with it too). */
export function corrupt(file: string, message: string, extra: Partial<Damage> = {}): Damage {
  return { kind: 'corrupt_file', message, file, ...extra };
}

/** A numeric dataset that one read cannot hold (a row over MAX_SLAB_BYTES) is reported, not read. */
const readable = (d: DatasetInfo): boolean => slabRows(d, MAX_SLAB_BYTES) > 0;

/**
 * Surveys every file of the source with `h5`; without it (null), from the files' own metadata (quick.ts), or
 * null when a file needs HDF5 itself.
 */
export function surveySource(h5: H5, t: SurveyTarget): Survey;
export function surveySource(h5: null, t: SurveyTarget): Survey | null;
export function surveySource(h5: H5 | null, t: SurveyTarget): Survey | null {
  if (h5 === null && !t.direct) return null;
  const s: Survey = { files: [], findings: [], skipped: [], unchecked: [], bytes: 0, unopenable: [], access: new Map() };
  for (const [index, entry] of t.entries.entries()) {
    const display = t.kind === 'file' ? t.source.path : displayPath(t.source, entry.path);
    if (!entry.exists) {
      s.findings.push({
        kind: 'missing_file',
        message: `Line ${entry.line} of ${t.source.path} names '${entry.raw}', but ${display} does not exist.`,
        // DESIGN.md: list entries carry the entry's path as resolved, with the list's line.
        file: display,
        line: entry.line,
        index,
      });
      continue;
    }
    s.bytes += fileSize(entry.path);
    if (h5 === null) {
      const q = quickWalk(entry.path, t.labelNames);
      if ('unsupported' in q) return null;
      const locate = (d: DatasetInfo): RawLocation => {
        const runs = q.runs.get(d);
        return runs === undefined ? { unsupported: 'not located' } : { runs };
      };
      s.files.push(surveyed(q.walk, locate, entry.path, display, s));
      continue;
    }
    const f = surveyFile(h5, entry.path, display, t.labelNames, t.direct, s);
    if (f !== null) s.files.push(f);
  }
  if (t.kind === 'list') s.findings.push(...crossFileFindings(s.files));
  return s;
}

/**
 * A listed file's display path: relative when the list's own path was given relative, from the list's shown
 * folder (so it does not depend on the process's cwd, which a library caller's `cwd` option need not be).
 */
function displayPath(source: Source, abs: string): string {
  if (path.isAbsolute(source.path)) return abs;
  return path.join(path.dirname(source.path), path.relative(path.dirname(source.absPath), abs));
}

/** Opens, walks and closes one file, recording findings and skips in `s`. Null when it cannot be opened. */
function surveyFile(h5: H5, absPath: string, display: string, labelNames: readonly string[], direct: boolean,
  s: Survey): SurveyedFile | null {
  const opened = h5.open(absPath);
  if ('error' in opened) {
    s.findings.push(corrupt(display, `Cannot open HDF5 file: ${opened.error}.`));
    s.unopenable.push(opened.error);
    return null;
  }
  let fd: number | undefined;
  try {
    const walk = h5.walk(opened.id, labelNames);
    // Direct reads (direct.ts): the superblock once per file, then each dataset from its object header.
    let locate: (d: DatasetInfo) => RawLocation = () => ({ unsupported: 'direct reads turned off' });
    if (direct) {
      try {
        fd = openSync(absPath, OPEN_FLAGS);
        const size = fstatSync(fd).size;
        const sb = readSuperblock(fd, size);
        const f = fd;
        locate = 'unsupported' in sb ? () => sb : (d) => {
          const addr = h5.objectAddress(opened.id, d);
          return addr === null ? { unsupported: 'HDF5 gives no object address' } : locateRows(f, size, sb, addr, d);
        };
      } catch (e) {
        const why = { unsupported: (e as Error).message };
        locate = () => why;
      }
    }
    return surveyed(walk, locate, absPath, display, s);
  } finally {
    h5.close(opened.id);
    if (fd !== undefined) closeSync(fd);
  }
}

/** A file's survey from its walk, each dataset located (or not) by `locate`; findings and skips go to `s`. */
function surveyed(walk: Walk, locate: (d: DatasetInfo) => RawLocation, absPath: string, display: string, s: Survey): SurveyedFile {
  for (const p of walk.problems) {
    s.findings.push(corrupt(display, p.name === '' ? `${p.message}.` : `Dataset '${p.name}': ${p.message}.`,
      p.name === '' ? {} : { field: p.name }));
  }
  for (const k of walk.skipped) s.skipped.push(`${display}:${k.name} (${k.reason})`);
  for (const u of walk.unsupported) {
    s.skipped.push(`${display}:${u.name} (${u.reason})`);
    s.unchecked.push(`${display}:${u.name} (${u.reason})`);
  }
  const datasets: ScannedDataset[] = [];
  for (const d of walk.datasets) {
    if (readable(d)) {
      const where = locate(d);
      s.access.set(`${display}:${d.name}`, 'runs' in where ? 'direct' : where.unsupported);
      datasets.push('runs' in where ? { ...d, runs: where.runs } : d);
      continue;
    }
    s.findings.push({
      kind: 'io_error',
      message: `Dataset '${d.name}' has rows of ${d.rowBytes} bytes, more than one read can hold (${MAX_SLAB_BYTES}); not scanned.`,
      file: display,
      field: d.name,
    });
  }
  s.findings.push(...lengthFindings(display, datasets));
  if (datasets.length === 0) s.skipped.push(`${display} (no numeric dataset)`);
  return { path: absPath, file: display, datasets, rows: datasets.reduce((a, d) => Math.max(a, d.rows), 0) };
}

function fileSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}
