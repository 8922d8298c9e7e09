/**
 * From a directory to the files a reader must merge (LEVELDB.md §2, §7, §13): CURRENT → MANIFEST → live tables per
 * level and live logs. When CURRENT or the MANIFEST is damaged we fall back the way §13 describes: the
 * highest-numbered MANIFEST that decodes cleanly, else every table as level 0 and every log as live (RepairDB's
 * idea, read-only). Nothing here opens a file for writing; LOCK is never touched.
 */
import fs from 'node:fs';
import { readSmallFile } from '../files.js';
import path from 'node:path';
import { ScanError } from '../../errors.js';
import type { Damage } from '../../records.js';
import { compareBytes, showRange } from './keys.js';
import { compareInternalKeys, NUM_LEVELS, readManifest, userKeyOf, type ManifestResult } from './manifest.js';
import type { LiveLog } from './memtable.js';
import { isIoError } from './varint.js';

/** §3, §7.1 step 2: the only comparator whose order we reproduce. */
export const BYTEWISE_COMPARATOR = 'leveldb.BytewiseComparator';
/** §2.1 `db/filename.cc` — `MakeFileName`: numbers are zero-padded to at least six digits. */
const FILE_NUMBER_DIGITS = 6;
const TABLE_RE = /^(\d+)\.(ldb|sst)$/;
const LOG_RE = /^(\d+)\.log$/;
const MANIFEST_RE = /^MANIFEST-(\d+)$/;
/** §2.2 `SetCurrentFile`: the MANIFEST name plus exactly one newline. */
const CURRENT = 'CURRENT';
const NEWLINE = 0x0a;

export interface TableRef {
  level: number;
  number: number;
  /** File name in the directory. */
  name: string;
  /** Bytes that belong to the table: MANIFEST `file_size` (§9.3), or the on-disk size in repair mode. */
  size: number;
  /** User keys from the MANIFEST (§7.1); null when unknown (repair mode). */
  smallest: Uint8Array | null;
  largest: Uint8Array | null;
}

export interface Layout {
  /** The MANIFEST used, or null in repair mode. */
  manifest: string | null;
  /** Readable tables in merge order: level 0 as the version orders it, then levels 1–6 (§10). */
  tables: TableRef[];
  logs: LiveLog[];
  /** MANIFEST last sequence (§7.4), null when unknown (nothing is hidden then). */
  lastSequence: number | null;
  findings: Damage[];
  /** Bytes of the live files (CURRENT, MANIFEST, tables, logs). */
  bytes: number;
  /** Bytes of the live logs alone (every partition replays them, §7.2). */
  logBytes: number;
}

interface DirFiles {
  tables: Map<number, string[]>;
  logs: LiveLog[];
  manifests: { number: number; name: string }[];
}

function listDir(dir: string): DirFiles {
  const tables = new Map<number, string[]>();
  const logs: LiveLog[] = [];
  const manifests: { number: number; name: string }[] = [];
  for (const name of fs.readdirSync(dir)) {
    let m = TABLE_RE.exec(name);
    if (m) {
      const n = Number(m[1]);
      tables.set(n, [...(tables.get(n) ?? []), name]);
      continue;
    }
    m = LOG_RE.exec(name);
    if (m) {
      logs.push({ number: Number(m[1]), name });
      continue;
    }
    m = MANIFEST_RE.exec(name);
    if (m) manifests.push({ number: Number(m[1]), name });
  }
  // §7.2: logs are replayed in ascending numeric order, not by name.
  logs.sort((a, b) => a.number - b.number);
  manifests.sort((a, b) => b.number - a.number);
  return { tables, logs, manifests };
}

/** Cheap sniff: `CURRENT` names a `MANIFEST-…` that exists. */
export function isLevelDbDir(dir: string): boolean {
  try {
    const name = currentTarget(readSmallFile(path.join(dir, CURRENT)));
    return name !== undefined && MANIFEST_RE.test(name) && fs.statSync(path.join(dir, name)).isFile();
  } catch {
    return false;
  }
}

/** §2.2: the text before the single final newline, or undefined when CURRENT is malformed. */
function currentTarget(buf: Buffer): string | undefined {
  if (buf.length < 2 || buf[buf.length - 1] !== NEWLINE) return undefined;
  const name = buf.subarray(0, buf.length - 1).toString('latin1');
  return name.includes('/') || name.includes('\n') || name.includes('\0') ? undefined : name;
}

/** Resolve a database directory. Throws ScanError when nothing can be read or the comparator is foreign. */
export function loadLayout(dir: string, display: (name: string) => string): Layout {
  const findings: Damage[] = [];
  let files: DirFiles;
  try {
    files = listDir(dir);
  } catch (e) {
    throw new ScanError('SCAN_CORRUPT_SOURCE', `Cannot list LevelDB directory ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const corrupt = (name: string, message: string, minor = false, offset?: number): void => {
    const f: Damage = { kind: 'corrupt_file', message, file: display(name) };
    if (minor) f.minor = true;
    if (offset !== undefined) f.offset = offset;
    findings.push(f);
  };

  let bytes = 0;
  // 1. CURRENT (§2.2).
  let named: string | undefined;
  try {
    const buf = readSmallFile(path.join(dir, CURRENT));
    bytes += buf.length;
    named = currentTarget(buf);
    if (named === undefined) corrupt(CURRENT, 'CURRENT is malformed (it must hold a MANIFEST name and one newline)');
    else if (!fs.existsSync(path.join(dir, named))) {
      corrupt(CURRENT, `CURRENT names ${named}, which does not exist`);
      named = undefined;
    } else if (!MANIFEST_RE.test(named)) corrupt(CURRENT, `CURRENT names '${named}', not a MANIFEST-<number> file`, true);
  } catch (e) {
    findings.push({ kind: 'missing_file', file: display(CURRENT), message: `CURRENT cannot be read: ${(e as Error).message}` });
  }

  // 2. The MANIFEST CURRENT names, else the highest-numbered one that decodes cleanly (§13).
  let chosen: { name: string; result: ManifestResult } | undefined;
  const candidates = [...(named ? [named] : []), ...files.manifests.map((m) => m.name).filter((n) => n !== named)];
  for (const name of candidates) {
    let result: ManifestResult;
    try {
      result = readManifest(path.join(dir, name));
    } catch (e) {
      if (!isIoError(e)) throw e;
      findings.push({ kind: 'io_error', file: display(name), message: `${name} cannot be read: ${(e as Error).message}` });
      continue;
    }
    for (const p of result.problems) {
      corrupt(name, `${name} offset ${p.offset}: ${p.message}${p.bytes ? ` (${p.bytes} bytes)` : ''}`, p.minor === true, p.offset);
    }
    if (result.clean) {
      if (name !== named) {
        corrupt(name, `CURRENT does not lead to a usable MANIFEST; using ${name}, the highest-numbered one that decodes cleanly (it may be older than the database's last state)`, true);
      }
      chosen = { name, result };
      break;
    }
  }

  if (chosen === undefined) {
    if (files.tables.size === 0 && files.logs.length === 0) {
      throw new ScanError('SCAN_CORRUPT_SOURCE', `${dir} has no readable MANIFEST, table or log: nothing of the LevelDB database can be read`);
    }
    return repairLayout(dir, files, findings, bytes, display);
  }

  const { state } = chosen.result;
  bytes += chosen.result.bytes;
  if (state.comparator !== undefined && state.comparator !== BYTEWISE_COMPARATOR) {
    throw new ScanError(
      'SCAN_CORRUPT_SOURCE',
      `${dir} uses the comparator '${state.comparator}'; nanscan reads only ${BYTEWISE_COMPARATOR} databases (their key order is known)`,
      { data: { comparator: state.comparator } },
    );
  }
  // §7.1 step 4: LevelDB refuses a MANIFEST without these; we read on, hiding nothing and replaying every log.
  for (const [field, v] of [['log number', state.logNumber], ['next file number', state.nextFile], ['last sequence', state.lastSequence]] as const) {
    if (v === undefined) corrupt(chosen.name, `${chosen.name} has no ${field} entry (LevelDB refuses to open it)`);
  }

  // 3. Live logs (§7.2): N ≥ log number, or N = prev log number.
  const logNumber = state.logNumber ?? 0;
  const logs = files.logs.filter((l) => l.number >= logNumber || l.number === state.prevLogNumber);

  // 4. Live tables (§7.3), in merge order (§7.1 step 5: by smallest internal key, ties by number).
  const tables: TableRef[] = [];
  const seen = new Map<number, number>();
  for (let level = 0; level < NUM_LEVELS; level++) {
    const metas = [...state.levels[level]!.values()].sort((a, b) => compareInternalKeys(a.smallest, b.smallest, compareBytes) || a.number - b.number);
    let prevLargest: Uint8Array | undefined;
    for (const f of metas) {
      const smallest = userKeyOf(f.smallest);
      const largest = userKeyOf(f.largest);
      const range = showRange(smallest, largest);
      const other = seen.get(f.number);
      if (other !== undefined) corrupt(chosen.name, `table ${f.number} is listed in level ${other} and level ${level}`, true);
      seen.set(f.number, level);
      // M6 (§12): files of levels ≥ 1 must not overlap, or LevelDB's own lookups miss keys.
      if (level > 0 && prevLargest && compareInternalKeys(prevLargest, f.smallest, compareBytes) >= 0) {
        corrupt(chosen.name, `level ${level} tables overlap at table ${f.number} ${range}`, true);
      }
      prevLargest = f.largest;
      const base = String(f.number).padStart(FILE_NUMBER_DIGITS, '0');
      // §2.1 `TableCache::FindTable`: N.ldb, else the legacy N.sst.
      const present = files.tables.get(f.number) ?? [];
      const name = present.includes(`${base}.ldb`) ? `${base}.ldb` : present.includes(`${base}.sst`) ? `${base}.sst` : undefined;
      if (name === undefined) {
        findings.push({
          kind: 'missing_file', file: display(`${base}.ldb`),
          message: `table ${base}.ldb (level ${level}, keys ${range}) named by ${chosen.name} is missing: values in that key range may be missing or stale`,
        });
        continue;
      }
      if (present.includes(`${base}.ldb`) && present.includes(`${base}.sst`)) {
        corrupt(`${base}.sst`, `both ${base}.ldb and ${base}.sst exist; ${base}.ldb is used, as LevelDB does`, true);
      }
      let onDisk: number;
      try {
        onDisk = fs.statSync(path.join(dir, name)).size;
      } catch (e) {
        findings.push({ kind: 'io_error', file: display(name), message: `${name} cannot be read: ${(e as Error).message}` });
        continue;
      }
      if (onDisk < f.size) {
        // §13: the footer sits at the recorded size, which is gone; a block's size lives only in the index.
        corrupt(name, `table ${name} (level ${level}, keys ${range}) is truncated: ${onDisk} bytes on disk, ${chosen.name} records ${f.size}; its records cannot be read and values in that key range may be missing or stale`);
        bytes += onDisk;
        continue;
      }
      if (onDisk > f.size) {
        corrupt(name, `table ${name} has ${onDisk - f.size} bytes beyond the ${f.size} ${chosen.name} records; reading the first ${f.size}, as LevelDB does`, true);
      }
      bytes += onDisk;
      tables.push({ level, number: f.number, name, size: f.size, smallest, largest });
    }
  }
  const logBytes = logs.reduce((sum, l) => sum + fileSize(path.join(dir, l.name)), 0);
  return { manifest: chosen.name, tables, logs, lastSequence: state.lastSequence ?? null, findings, bytes: bytes + logBytes, logBytes };
}

/** §13 "MANIFEST unusable altogether": every table as level 0 (newest first), every log live, sequences decide. */
function repairLayout(dir: string, files: DirFiles, findings: Damage[], bytes: number, display: (n: string) => string): Layout {
  const tables: TableRef[] = [];
  for (const [number, names] of [...files.tables].sort((a, b) => b[0] - a[0])) {
    const name = names.find((n) => n.endsWith('.ldb')) ?? names[0]!;
    const size = fileSize(path.join(dir, name));
    bytes += size;
    tables.push({ level: 0, number, name, size, smallest: null, largest: null });
  }
  const logBytes = files.logs.reduce((sum, l) => sum + fileSize(path.join(dir, l.name)), 0);
  findings.push({
    kind: 'corrupt_file', file: display(''),
    message: `no usable MANIFEST: reading all ${tables.length} table(s) and ${files.logs.length} log(s) in the directory as RepairDB would; keys removed by a compaction may reappear from leftover tables`,
  });
  return { manifest: null, tables, logs: files.logs, lastSequence: null, findings, bytes: bytes + logBytes, logBytes };
}

function fileSize(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}
