/**
 * The two LMDB data formats differ only in a few sizes (LMDB.md §16). `Layout` holds them so the page code is
 * written once; `u16`/`u32`/`u64` read little-endian fields from byte arrays without DataView allocation.
 */
import {
  BIGDATA_BYTES_V1,
  BIGDATA_BYTES_V2,
  PAGE_HEADER_V1,
  PAGE_HEADER_V2,
  PH_FLAGS,
  PH_LOWER,
  PH_PAD,
  PH_PAGES,
  PH_TAIL_V1,
  PH_TAIL_V2,
  PH_UPPER,
} from './constants.js';

export interface Layout {
  readonly version: 1 | 2;
  readonly psize: number;
  /** `PAGEHDRSZ`: where the pointer array, `P_LEAF2` items, `MDB_meta` and overflow data start. */
  readonly hdr: number;
  /** `PAGEBASE`: added to `mp_lower`, `mp_upper` and node pointers (0 in format 1, 24 in format 2, §16.2). */
  readonly base: number;
  /** Offsets of `mp_pad`, `mp_flags`, `mp_lower`, `mp_upper`, `mp_pages` from the page start. */
  readonly offPad: number;
  readonly offFlags: number;
  readonly offLower: number;
  readonly offUpper: number;
  readonly offPages: number;
  /** Bytes an `F_BIGDATA` node stores (§7, §16.3). */
  readonly bigdataBytes: number;
}

export function makeLayout(version: 1 | 2, psize: number): Layout {
  const tail = version === 1 ? PH_TAIL_V1 : PH_TAIL_V2;
  const hdr = version === 1 ? PAGE_HEADER_V1 : PAGE_HEADER_V2;
  return {
    version,
    psize,
    hdr,
    base: version === 1 ? 0 : hdr,
    offPad: tail + PH_PAD,
    offFlags: tail + PH_FLAGS,
    offLower: tail + PH_LOWER,
    offUpper: tail + PH_UPPER,
    offPages: tail + PH_PAGES,
    bigdataBytes: version === 1 ? BIGDATA_BYTES_V1 : BIGDATA_BYTES_V2,
  };
}

export function u16(b: Uint8Array, o: number): number {
  return (b[o] as number) | ((b[o + 1] as number) << 8);
}

export function u32(b: Uint8Array, o: number): number {
  return ((b[o] as number) | ((b[o + 1] as number) << 8) | ((b[o + 2] as number) << 16)) + (b[o + 3] as number) * 0x1000000;
}

/**
 * A u64 as a JS number, or `Infinity` when it does not fit in 2^53 (page numbers, counts: §18). Callers compare
 * against file-derived bounds, so Infinity simply fails every range check.
 */
export function u64(b: Uint8Array, o: number): number {
  const hi = u32(b, o + 4);
  if (hi > 0x1fffff) return Infinity;
  return hi * 0x1_0000_0000 + u32(b, o);
}

/** A u64 as a bigint (txnids are compared exactly, whatever their size). */
export function u64n(b: Uint8Array, o: number): bigint {
  return (BigInt(u32(b, o + 4)) << 32n) | BigInt(u32(b, o));
}

/** `EVEN()` of `mdb.c`: nodes start on even offsets (§6.2). */
export function even(n: number): number {
  return (n + 1) & ~1;
}
