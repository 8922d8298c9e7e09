/**
 * Opening an environment read-only (LMDB.md §14.1, §14.2): locate data.mdb (never lock.mdb), recognise the
 * variant, validate both metas, pick the current snapshot and describe what is wrong with the file as a whole.
 * Throws ScanError `SCAN_CORRUPT_SOURCE` only when nothing can be read.
 */
import fs from 'node:fs';
import { OPEN_FLAGS, readFully } from '../files.js';
import path from 'node:path';
import { ScanError } from '../../errors.js';
import type { Damage } from '../../records.js';
import type { Source } from '../types.js';
import { MDB_ENCRYPT, MIN_PSIZE_V1 } from './constants.js';
import { PageFile } from './file.js';
import { makeLayout, u16, type Layout } from './layout.js';
import { findPage1, HEAD_BYTES, page0Psize, parseMeta, psizeOk, sniffVariant, type Meta, type MetaResult } from './meta.js';

export interface Env {
  /** Absolute path of the data file. */
  dataPath: string;
  /** The data file as shown in findings: `path.join(source.path, 'data.mdb')`. */
  display: string;
  file: PageFile;
  layout: Layout;
  meta: Meta;
  /** Open-time findings (a bad meta page, truncation, odd flags). */
  findings: Damage[];
}

/** data.mdb inside a directory source; the file itself for a single-file (`MDB_NOSUBDIR`) source. */
export function dataFileOf(source: Source): { dataPath: string; display: string } {
  let isDir = true;
  try {
    isDir = fs.statSync(source.absPath).isDirectory();
  } catch {
    // Reported when the open fails below.
  }
  return isDir
    ? { dataPath: path.join(source.absPath, 'data.mdb'), display: path.join(source.path, 'data.mdb') }
    : { dataPath: source.absPath, display: source.path };
}

export function openEnv(source: Source): Env {
  const { dataPath, display } = dataFileOf(source);
  const fail = (what: string): ScanError => new ScanError('SCAN_CORRUPT_SOURCE', `${display} ${what}`, { data: { file: display } });
  let fd: number;
  try {
    fd = fs.openSync(dataPath, OPEN_FLAGS);
  } catch (err) {
    throw new ScanError('SCAN_CORRUPT_SOURCE', `${display} cannot be opened: ${(err as Error).message}`, { cause: err, data: { file: display } });
  }
  let file: PageFile | undefined;
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 2 * MIN_PSIZE_V1) throw fail(`is ${size} bytes, too short to be an LMDB data file (two meta pages need at least ${2 * MIN_PSIZE_V1})`);
    // Page 0 plus page 1 for every candidate page size, in one read.
    const head = readHead(fd, Math.min(size, HEAD_BYTES));
    const v0 = sniffVariant(head);
    if (v0.kind === 'unsupported') throw fail(`is an LMDB file nanscan cannot read: ${v0.why}`);
    let version: 1 | 2;
    let psize: number;
    const ps0 = v0.kind === 'lmdb' ? page0Psize(head, v0.version) : 0;
    if (v0.kind === 'lmdb' && psizeOk(v0.version, ps0)) {
      version = v0.version;
      psize = ps0;
    } else {
      // Page 0 is damaged: page 1 (found by its own page size) may still hold a snapshot (§5.4).
      const p1 = findPage1(head);
      if (p1 === undefined) {
        throw fail(
          v0.kind === 'lmdb'
            ? `is not readable: meta page 0 gives an invalid page size ${ps0} and meta page 1 cannot be found`
            : 'is not an LMDB data file, or both of its meta pages are destroyed: no LMDB magic in page 0 or page 1',
        );
      }
      version = p1.version;
      psize = p1.psize;
    }
    let layout = makeLayout(version, psize);
    let r0: MetaResult = parseMeta(head, 0, 0, layout);
    let r1: MetaResult = parseMeta(head, psize, 1, layout);
    if (!r1.ok) {
      // A damaged page size in page 0 hides page 1: look for page 1 by its own page size before trusting page 0.
      const alt = findPage1(head);
      if (alt !== undefined && (alt.psize !== psize || alt.version !== version)) {
        version = alt.version;
        psize = alt.psize;
        layout = makeLayout(version, psize);
        r0 = parseMeta(head, 0, 0, layout);
        r1 = parseMeta(head, psize, 1, layout);
      }
    }
    if (!r0.ok && !r1.ok) throw fail(`is not readable: both meta pages are invalid (page 0: ${r0.problem}; page 1: ${r1.problem})`);
    const findings: Damage[] = [];
    let meta: Meta;
    if (r0.ok && r1.ok) {
      meta = r1.meta.txnid > r0.meta.txnid ? r1.meta : r0.meta;
      findings.push(...metaWarnings(meta === r0.meta ? r0.warnings : r1.warnings, display, meta));
    } else {
      // Exactly one is valid: use it, and say that the other is broken (§5.4: it may be the older snapshot).
      const good = r0.ok ? r0 : (r1 as Extract<MetaResult, { ok: true }>);
      const bad = r0.ok ? (r1 as Extract<MetaResult, { ok: false }>) : r0;
      meta = good.meta;
      const badPage = meta.page === 0 ? 1 : 0;
      findings.push({
        kind: 'corrupt_file',
        minor: true,
        file: display,
        page: badPage,
        message: `LMDB meta page ${badPage} of ${display} is invalid (${bad.problem}); using meta page ${meta.page} (transaction ${meta.txnid}), which may be the previous snapshot.`,
      });
      findings.push(...metaWarnings(good.warnings, display, meta));
    }
    if (version === 2 && (meta.envFlags & MDB_ENCRYPT) !== 0) {
      throw fail('is an encrypted LMDB environment (data format 2, MDB_ENCRYPT): nanscan cannot read encrypted pages without the key');
    }
    // Format 2 records a per-page checksum size in the last 2 bytes of page 0 (§16.4).
    const sumsize = version === 2 && r0.ok && head.length >= psize ? u16(head, psize - 2) : 0;
    if (sumsize !== 0) {
      throw fail(`uses LMDB per-page checksums (${sumsize} bytes per page, data format 2), which nanscan does not support`);
    }
    file = new PageFile(fd, size, psize);
    file.setLastPage(meta.lastPg);
    const pagesNeeded = meta.lastPg + 1;
    if (file.pages < pagesNeeded) {
      const missing = pagesNeeded * psize - size;
      findings.push({
        kind: 'corrupt_file',
        file: display,
        offset: size,
        message:
          `LMDB data file ${display} is truncated: it is ${size} bytes, but meta page ${meta.page} (transaction ${meta.txnid}) ` +
          `uses ${pagesNeeded} pages of ${psize} bytes (${pagesNeeded * psize} bytes); ${missing} bytes ` +
          `(${pagesNeeded - file.pages} pages from page ${file.pages} on) are missing. Records on the missing pages are lost.`,
      });
    }
    return { dataPath, display, file, layout, meta, findings };
  } catch (err) {
    if (file !== undefined) file.close();
    else fs.closeSync(fd);
    throw err;
  }
}

function readHead(fd: number, len: number): Buffer {
  return readFully(fd, Buffer.alloc(len));
}

function metaWarnings(warnings: string[], display: string, meta: Meta): Damage[] {
  return warnings.map((w) => ({
    kind: 'corrupt_file' as const,
    minor: true,
    file: display,
    page: meta.page,
    message: `LMDB meta page ${meta.page} of ${display}: ${w}.`,
  }));
}
