/**
 * MANIFEST replay (LEVELDB.md §6, §7.1): the log-container records of a MANIFEST are VersionEdits; applying them
 * in order (deletions before additions within an edit, `VersionSet::Builder::Apply`) gives the live tables per
 * level, the log number, prev log number, next file number and last sequence.
 */
import fs from 'node:fs';
import { OPEN_FLAGS } from '../files.js';
import { readLogRecords, type LogProblem } from './log.js';
import { ByteReader, DecodeError } from './varint.js';

/** §6 `db/version_edit.cc` — `enum Tag`. */
const TAG_COMPARATOR = 1;
const TAG_LOG_NUMBER = 2;
const TAG_NEXT_FILE_NUMBER = 3;
const TAG_LAST_SEQUENCE = 4;
const TAG_COMPACT_POINTER = 5;
const TAG_DELETED_FILE = 6;
const TAG_NEW_FILE = 7;
const TAG_PREV_LOG_NUMBER = 9;
/** §6 `config::kNumLevels`. */
export const NUM_LEVELS = 7;
/** §3: an internal key ends in an 8-byte tag. */
export const TAG_SIZE = 8;

export interface FileMeta {
  level: number;
  number: number;
  /** File size recorded by the MANIFEST; LevelDB reads the footer there (§9.3). */
  size: number;
  /** Internal keys (§3). */
  smallest: Uint8Array;
  largest: Uint8Array;
}

export interface VersionState {
  comparator: string | undefined;
  logNumber: number | undefined;
  prevLogNumber: number | undefined;
  nextFile: number | undefined;
  lastSequence: number | undefined;
  /** Per level: file number → metadata. */
  levels: Map<number, FileMeta>[];
}

export interface ManifestResult {
  state: VersionState;
  /** Problems with a file offset; `clean` is false when any of them is an error. */
  problems: LogProblem[];
  clean: boolean;
  records: number;
  bytes: number;
}

/** Read and apply one MANIFEST. Stops at the first damaged record, as `VersionSet::Recover` does. */
export function readManifest(path: string): ManifestResult {
  const state: VersionState = {
    comparator: undefined, logNumber: undefined, prevLogNumber: undefined, nextFile: undefined, lastSequence: undefined,
    levels: Array.from({ length: NUM_LEVELS }, () => new Map<number, FileMeta>()),
  };
  const problems: LogProblem[] = [];
  let records = 0;
  const fd = fs.openSync(path, OPEN_FLAGS);
  let bytes = 0;
  try {
    bytes = fs.fstatSync(fd).size;
    for (const rec of readLogRecords(fd, bytes, (p) => problems.push(p))) {
      if (problems.some((p) => p.minor !== true)) break;
      try {
        applyEdit(state, rec.data);
        records++;
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        problems.push({ offset: rec.offset, bytes: rec.data.length, message: `bad VersionEdit: ${e.message}` });
        break;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return { state, problems, clean: !problems.some((p) => p.minor !== true), records, bytes };
}

/** §6 `VersionEdit::DecodeFrom` then `Builder::Apply`: decode fully first, so a bad edit changes nothing. */
function applyEdit(state: VersionState, data: Uint8Array): void {
  const r = new ByteReader(data, 0, data.length);
  const deleted: [number, number][] = [];
  const added: FileMeta[] = [];
  const scalars: Partial<VersionState> = {};
  while (r.remaining > 0) {
    const tag = r.varint32();
    switch (tag) {
      case TAG_COMPARATOR:
        scalars.comparator = Buffer.from(r.lengthPrefixed()).toString('latin1');
        break;
      case TAG_LOG_NUMBER:
        scalars.logNumber = r.varint64();
        break;
      case TAG_PREV_LOG_NUMBER:
        scalars.prevLogNumber = r.varint64();
        break;
      case TAG_NEXT_FILE_NUMBER:
        scalars.nextFile = r.varint64();
        break;
      case TAG_LAST_SEQUENCE:
        scalars.lastSequence = r.varint64();
        break;
      case TAG_COMPACT_POINTER:
        level(r);
        internalKey(r); // a reader has no use for compaction pointers
        break;
      case TAG_DELETED_FILE:
        deleted.push([level(r), r.varint64()]);
        break;
      case TAG_NEW_FILE: {
        const lv = level(r);
        const number = r.varint64();
        const size = r.varint64();
        const smallest = internalKey(r);
        const largest = internalKey(r);
        added.push({ level: lv, number, size, smallest, largest });
        break;
      }
      default:
        // Tags carry no length: nothing after an unknown one can be decoded (§6).
        throw new DecodeError(`unknown tag ${tag}`);
    }
  }
  Object.assign(state, scalars);
  for (const [lv, number] of deleted) state.levels[lv]!.delete(number);
  for (const f of added) state.levels[f.level]!.set(f.number, f);
}

/** §6 `GetLevel`: varint32 < kNumLevels. */
function level(r: ByteReader): number {
  const lv = r.varint32();
  if (lv >= NUM_LEVELS) throw new DecodeError(`level ${lv} out of range`);
  return lv;
}

/** §6 `GetInternalKey`: non-empty; copied so the MANIFEST buffer can go. */
function internalKey(r: ByteReader): Uint8Array {
  const k = r.lengthPrefixed();
  if (k.length === 0) throw new DecodeError('empty internal key');
  return Uint8Array.from(k);
}

/** Internal-key order (§3): user key ascending, then the 8-byte tag as an unsigned number descending. */
export function compareInternalKeys(a: Uint8Array, b: Uint8Array, compareUser: (x: Uint8Array, y: Uint8Array) => number): number {
  const ua = userKeyOf(a);
  const ub = userKeyOf(b);
  const c = compareUser(ua, ub);
  if (c !== 0) return c;
  // Tags are little-endian: compare from the most significant byte down, descending.
  for (let i = TAG_SIZE - 1; i >= 0; i--) {
    const d = (b[ub.length + i] ?? 0) - (a[ua.length + i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The user-key part of an internal key; keys shorter than a tag (corrupt, §3) are taken whole. */
export function userKeyOf(ikey: Uint8Array): Uint8Array {
  return ikey.length >= TAG_SIZE ? ikey.subarray(0, ikey.length - TAG_SIZE) : ikey;
}
