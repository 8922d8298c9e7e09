/**
 * Meta pages: recognise the variant (LMDB.md §2), parse and validate both metas (§5, §15.1 M1–M11) and pick the
 * current one (§5.4: larger txnid, page 0 on a tie). Everything here reads at most the first 64 KiB + a page.
 */
import {
  DATA_VERSION_1,
  DATA_VERSION_2,
  DATA_VERSION_DEVEL,
  KNOWN_DB_FLAGS,
  MAX_DEPTH,
  MAX_PSIZE_V1,
  MAX_PSIZE_V2,
  MD_BRANCH_PAGES,
  MD_DEPTH,
  MD_ENTRIES,
  MD_FLAGS,
  MD_LEAF_PAGES,
  MD_OVERFLOW_PAGES,
  MD_PAD,
  MD_ROOT,
  MDB_DUPFIXED,
  MDB_DUPSORT,
  MDB_INTEGERDUP,
  MDB_INTEGERKEY,
  MDB_MAGIC,
  MDB_MAGIC_SWAPPED,
  MDB_REVERSEDUP,
  META_OFFSET_32BIT,
  MIN_PSIZE_V1,
  MIN_PSIZE_V2,
  MM_FREE_DB,
  MM_LAST_PG,
  MM_MAGIC,
  MM_MAIN_DB,
  MM_TXNID,
  MM_VERSION,
  P_META,
  PAGE_HEADER_V1,
  PAGE_HEADER_V2,
} from './constants.js';
import { u16, u32, u64, u64n, type Layout } from './layout.js';

/** An `MDB_db` record (§5.2). `root` is -1 for `P_INVALID`; counts are Infinity when beyond 2^53. */
export interface DbRecord {
  pad: number;
  flags: number;
  depth: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
  entries: number;
  root: number;
}

export interface Meta {
  page: 0 | 1;
  psize: number;
  envFlags: number;
  lastPg: number;
  txnid: bigint;
  free: DbRecord;
  main: DbRecord;
}

/** What page 0's first bytes say (§2). */
export type Variant =
  | { kind: 'lmdb'; version: 1 | 2 }
  | { kind: 'unsupported'; why: string }
  | { kind: 'unknown' };

/** Bytes read from the start of the file: page 0 plus page 1 for every candidate page size. */
export const HEAD_BYTES = MAX_PSIZE_V2 + 256;

/** Identify the variant from the meta at the start of `b` (a page 0 or a page 1). */
export function sniffVariant(b: Uint8Array, off = 0): Variant {
  if (b.length < off + 32) return { kind: 'unknown' };
  const at = (o: number): number => u32(b, off + o);
  const v1 = PAGE_HEADER_V1 + MM_MAGIC;
  const v2 = PAGE_HEADER_V2 + MM_MAGIC;
  if (at(v1) === MDB_MAGIC) {
    const ver = at(v1 + MM_VERSION);
    if (ver === DATA_VERSION_1) return { kind: 'lmdb', version: 1 };
    if (ver === DATA_VERSION_DEVEL) return { kind: 'unsupported', why: 'it was written by an MDB_DEVEL build of LMDB (data version 999)' };
    return { kind: 'unsupported', why: `its data format version is ${ver} (supported: 1 and 2)` };
  }
  if (at(v2) === MDB_MAGIC) {
    // [JS] mdb_env_read_header compares only the low 16 bits of the version (§2).
    const ver = at(v2 + MM_VERSION) & 0xffff;
    if (ver === DATA_VERSION_2) return { kind: 'lmdb', version: 2 };
    if (ver === DATA_VERSION_DEVEL) return { kind: 'unsupported', why: 'it was written by an MDB_DEVEL build of LMDB (data version 999)' };
    return { kind: 'unsupported', why: `its data format version is ${ver} (supported: 1 and 2)` };
  }
  if (at(META_OFFSET_32BIT) === MDB_MAGIC) {
    return { kind: 'unsupported', why: 'it was written by a 32-bit build of LMDB (4-byte page numbers); only 64-bit files are supported' };
  }
  if (at(v1) === MDB_MAGIC_SWAPPED || at(v2) === MDB_MAGIC_SWAPPED || at(META_OFFSET_32BIT) === MDB_MAGIC_SWAPPED) {
    return { kind: 'unsupported', why: 'it was written on a big-endian machine; only little-endian files are supported' };
  }
  return { kind: 'unknown' };
}

function isPow2(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

export function psizeOk(version: 1 | 2, ps: number): boolean {
  return version === 1 ? isPow2(ps) && ps >= MIN_PSIZE_V1 && ps <= MAX_PSIZE_V1 : isPow2(ps) && ps >= MIN_PSIZE_V2 && ps <= MAX_PSIZE_V2;
}

/**
 * Page 0 is unreadable: look for page 1 at every page size the format allows (its own `mm_psize` must agree),
 * so a torn first page still lets the previous-or-current snapshot in page 1 be used (§5.4).
 */
export function findPage1(head: Uint8Array): { version: 1 | 2; psize: number } | undefined {
  for (let ps = MIN_PSIZE_V2; ps <= MAX_PSIZE_V2; ps *= 2) {
    if (ps + 64 > head.length) break;
    const v = sniffVariant(head, ps);
    if (v.kind !== 'lmdb') continue;
    const hdr = v.version === 1 ? PAGE_HEADER_V1 : PAGE_HEADER_V2;
    if (u64(head, ps) === 1 && u32(head, ps + hdr + MM_FREE_DB + MD_PAD) === ps && psizeOk(v.version, ps)) {
      return { version: v.version, psize: ps };
    }
  }
  return undefined;
}

/** Page size stored in page 0's meta, for a recognised variant. */
export function page0Psize(head: Uint8Array, version: 1 | 2): number {
  const hdr = version === 1 ? PAGE_HEADER_V1 : PAGE_HEADER_V2;
  return u32(head, hdr + MM_FREE_DB + MD_PAD);
}

export function readDb(b: Uint8Array, o: number): DbRecord {
  const rootLo = u32(b, o + MD_ROOT);
  const rootHi = u32(b, o + MD_ROOT + 4);
  return {
    pad: u32(b, o + MD_PAD),
    flags: u16(b, o + MD_FLAGS),
    depth: u16(b, o + MD_DEPTH),
    branchPages: u64(b, o + MD_BRANCH_PAGES),
    leafPages: u64(b, o + MD_LEAF_PAGES),
    overflowPages: u64(b, o + MD_OVERFLOW_PAGES),
    entries: u64(b, o + MD_ENTRIES),
    root: rootLo === 0xffffffff && rootHi === 0xffffffff ? -1 : u64(b, o + MD_ROOT),
  };
}

/** Problems of one `MDB_db` against M7–M11 (§15.1); empty when fine. */
function checkDb(name: string, db: DbRecord, lastPg: number, isFree: boolean): string | undefined {
  if (db.root === -1) {
    if (db.depth !== 0 || db.entries !== 0 || db.branchPages + db.leafPages + db.overflowPages !== 0) {
      return `the ${name} tree is empty (root P_INVALID) but has depth ${db.depth}, ${db.entries} entries and ${db.branchPages + db.leafPages + db.overflowPages} pages`;
    }
    return undefined;
  }
  if (!(db.root >= 2 && db.root <= lastPg)) return `the ${name} tree's root page ${db.root} is outside pages 2..${lastPg}`;
  if (db.depth < 1 || db.depth > MAX_DEPTH) return `the ${name} tree's depth ${db.depth} is outside 1..${MAX_DEPTH}`;
  if (!Number.isFinite(db.entries)) return `the ${name} tree's entry count is absurd`;
  if (!(db.branchPages + db.leafPages + db.overflowPages <= lastPg - 1)) {
    return `the ${name} tree claims more pages than the file has (${db.branchPages}+${db.leafPages}+${db.overflowPages} > ${lastPg - 1})`;
  }
  if (isFree) return undefined;
  const f = db.flags;
  if ((f & (MDB_DUPFIXED | MDB_INTEGERDUP | MDB_REVERSEDUP)) !== 0 && (f & MDB_DUPSORT) === 0) {
    return `the ${name} tree's flags 0x${f.toString(16)} set duplicate options without DUPSORT`;
  }
  return undefined;
}

export type MetaResult = { ok: true; meta: Meta; warnings: string[] } | { ok: false; problem: string };

/** Parse and validate the meta in page `page` (bytes `b` from offset `off`). */
export function parseMeta(b: Uint8Array, off: number, page: 0 | 1, layout: Layout): MetaResult {
  const { version, psize, hdr } = layout;
  if (b.length < off + hdr + MM_TXNID + 8) return { ok: false, problem: 'it lies beyond the end of the file' };
  const pgno = u64(b, off);
  if (pgno !== page) return { ok: false, problem: `its page number field is ${pgno}` };
  const flags = u16(b, off + layout.offFlags);
  if ((flags & P_META) === 0) return { ok: false, problem: `its page flags 0x${flags.toString(16)} lack P_META` };
  const m = off + hdr;
  const magic = u32(b, m + MM_MAGIC);
  if (magic !== MDB_MAGIC) return { ok: false, problem: `its magic is 0x${magic.toString(16).padStart(8, '0')}, not 0xbeefc0de` };
  const ver = u32(b, m + MM_VERSION);
  if ((version === 1 ? ver : ver & 0xffff) !== version) return { ok: false, problem: `its data version is ${ver}, page 0 says ${version}` };
  const free = readDb(b, m + MM_FREE_DB);
  const main = readDb(b, m + MM_MAIN_DB);
  if (free.pad !== psize) return { ok: false, problem: `its page size ${free.pad} differs from ${psize}` };
  const lastPg = u64(b, m + MM_LAST_PG);
  if (!(lastPg >= 1 && lastPg < Number.MAX_SAFE_INTEGER)) return { ok: false, problem: `its last page number ${lastPg} is invalid` };
  const envFlags = free.flags;
  if ((envFlags & MDB_INTEGERKEY) === 0) {
    return { ok: false, problem: `its environment flags 0x${envFlags.toString(16)} lack the free tree's INTEGERKEY bit` };
  }
  const p = checkDb('free-page', free, lastPg, true) ?? checkDb('main', main, lastPg, false);
  if (p !== undefined) return { ok: false, problem: p };
  const warnings: string[] = [];
  if ((main.flags & ~KNOWN_DB_FLAGS) !== 0) warnings.push(`the main DB has unknown flag bits 0x${main.flags.toString(16)}`);
  return { ok: true, meta: { page, psize, envFlags, lastPg, txnid: u64n(b, m + MM_TXNID), free, main }, warnings };
}

/** Size check of the chosen meta against the file (M1, M6): the number of missing bytes, 0 if complete. */
export function missingBytes(meta: Meta, fileSize: number): number {
  return Math.max(0, (meta.lastPg + 1) * meta.psize - fileSize);
}
