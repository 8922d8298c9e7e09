/**
 * LMDB on-disk constants: magic, offsets, flags and limits. Every value cites its section of
 * docs/formats/LMDB.md ("§n") and the `mdb.c` symbol it comes from.
 */

/** `mdb.c` — `MDB_MAGIC`: u32 at the start of `MDB_meta` (§2). */
export const MDB_MAGIC = 0xbeefc0de;
/** The magic as a little-endian reader sees a big-endian file's bytes `BE EF C0 DE` (§2). */
export const MDB_MAGIC_SWAPPED = 0xdec0efbe;
/** `mdb.c` — `MDB_DATA_VERSION` of LMDB 0.9.x (format 1) and of `mdb.master3` / npm `lmdb` 3.x (format 2) (§2, §16). */
export const DATA_VERSION_1 = 1;
export const DATA_VERSION_2 = 2;
/** `MDB_DEVEL` builds write version 999 (§2): unsupported. */
export const DATA_VERSION_DEVEL = 999;

/** Page header size: `PAGEHDRSZ` (§4 format 1, §16.1 format 2; 64-bit hosts). */
export const PAGE_HEADER_V1 = 16;
export const PAGE_HEADER_V2 = 24;
/** Where a plain 32-bit build puts `MDB_meta` (12-byte header, §2): only recognised, to reject it clearly. */
export const META_OFFSET_32BIT = 12;

/** Page header fields (§4 / §16.1). `mp_pgno` is at 0 in both formats; the others move by 8 in format 2. */
export const PH_PGNO = 0;
/** Offsets of `mp_pad`, `mp_flags`, `mp_lower`, `mp_upper` / `mp_pages`, relative to the end of `mp_pgno` +
 * optional `mp_txnid`: add `PH_TAIL_V1` (8) or `PH_TAIL_V2` (16). */
export const PH_TAIL_V1 = 8;
export const PH_TAIL_V2 = 16;
export const PH_PAD = 0;
export const PH_FLAGS = 2;
export const PH_LOWER = 4;
export const PH_UPPER = 6;
export const PH_PAGES = 4;

/** Page flags (`mdb.c` — `P_BRANCH` … , §4). */
export const P_BRANCH = 0x01;
export const P_LEAF = 0x02;
export const P_OVERFLOW = 0x04;
export const P_META = 0x08;
/** Always cleared before a page is written in format 1, except inside sub-pages (§4, §10.2); masked. */
export const P_DIRTY = 0x10;
export const P_LEAF2 = 0x20;
export const P_SUBP = 0x40;

/** `MDB_meta` field offsets relative to the start of `MDB_meta` (= the page header size) (§5.1, §16.4). */
export const MM_MAGIC = 0;
export const MM_VERSION = 4;
export const MM_DBS = 24;
/** `MDB_db` size on 64-bit hosts (§5.2). */
export const DB_SIZE = 48;
export const MM_FREE_DB = MM_DBS;
export const MM_MAIN_DB = MM_DBS + DB_SIZE;
export const MM_LAST_PG = MM_DBS + 2 * DB_SIZE;
export const MM_TXNID = MM_LAST_PG + 8;
/** End of the fields we read from `MDB_meta`. */
export const MM_END = MM_TXNID + 8;

/** `MDB_db` field offsets (§5.2). `md_pad` of `FREE_DBI` in a meta is `mm_psize`, `md_flags` is `mm_flags`. */
export const MD_PAD = 0;
export const MD_FLAGS = 4;
export const MD_DEPTH = 6;
export const MD_BRANCH_PAGES = 8;
export const MD_LEAF_PAGES = 16;
export const MD_OVERFLOW_PAGES = 24;
export const MD_ENTRIES = 32;
export const MD_ROOT = 40;

/** `mdb.c` — `P_INVALID`: `md_root` of an empty tree (§5.2). */
export const P_INVALID = 0xffff_ffff_ffff_ffffn;

/** Database flags stored in `md_flags` (`lmdb.h` — "Database Flags", §5.2). */
export const MDB_REVERSEKEY = 0x02;
export const MDB_DUPSORT = 0x04;
export const MDB_INTEGERKEY = 0x08;
export const MDB_DUPFIXED = 0x10;
export const MDB_INTEGERDUP = 0x20;
export const MDB_REVERSEDUP = 0x40;
/** Bits a DB may carry; npm `lmdb` adds 0x100 for its "versions" feature (§5.2). */
export const KNOWN_DB_FLAGS = 0x7e | 0x100;

/** Environment flags in `mm_flags` (§5.3, §16.4): format-2 encryption makes every page unreadable to us. */
export const MDB_ENCRYPT = 0x2000;

/** Node header (`MDB_node`, §6.2): lo, hi, flags, ksize, then the key at 8. */
export const NODE_HEADER = 8;
export const N_LO = 0;
export const N_HI = 2;
export const N_FLAGS = 4;
export const N_KSIZE = 6;

/** Leaf node flags (`mdb.c` — `F_BIGDATA`, `F_SUBDATA`, `F_DUPDATA`, §6.2). */
export const F_BIGDATA = 0x01;
export const F_SUBDATA = 0x02;
export const F_DUPDATA = 0x04;

/** Bytes an `F_BIGDATA` node stores: a u64 page number (format 1) or `MDB_ovpage` (format 2, §16.3). */
export const BIGDATA_BYTES_V1 = 8;
export const BIGDATA_BYTES_V2 = 24;

/** Page-size limits (§3, §14.1, §16.2). */
export const MIN_PSIZE_V1 = 512;
export const MAX_PSIZE_V1 = 0x8000;
export const MIN_PSIZE_V2 = 256;
export const MAX_PSIZE_V2 = 0x10000;

/** `mdb.c` — `CURSOR_STACK`: the deepest tree LMDB can walk (§13, M9). */
export const MAX_DEPTH = 32;

/** Page numbers and counts must stay exact as JS numbers (§18). */
export const MAX_SAFE_PGNO = Number.MAX_SAFE_INTEGER;

/** Largest value we allocate for; larger values are reported rather than read (§18, brief). */
export const MAX_VALUE_BYTES = 1 << 30;
