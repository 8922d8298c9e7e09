/**
 * Key order (LMDB.md §11) and how keys are shown in messages. Only the built-in comparators can be checked: an
 * application comparator (`mdb_set_compare`) leaves no trace in the file, so order failures are worded as
 * "not in default LMDB order".
 */
import { MDB_INTEGERDUP, MDB_INTEGERKEY, MDB_REVERSEDUP, MDB_REVERSEKEY } from './constants.js';

export type Compare = (a: Uint8Array, b: Uint8Array) => number;

/** Keys up to this length are compared in JS: cheaper than the native call for the usual short keys. */
const JS_COMPARE_MAX = 48;

/** `mdb_cmp_memn`: memcmp over the common length, shorter first on a tie (Buffer.compare for long keys). */
export const memnCompare: Compare = (a, b) => {
  const n = a.length < b.length ? a.length : b.length;
  if (n > JS_COMPARE_MAX) return Buffer.compare(a, b);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
};

/**
 * `mdb_cmp_memnr`: bytes from the last one backwards, shorter first on a tie. Also serves `INTEGERKEY` /
 * `INTEGERDUP`: for equal-size little-endian unsigned integers (all keys of such a DB are 4 or all 8 bytes,
 * §11) comparing from the most significant byte down is the numeric order.
 */
export const reverseCompare: Compare = (a, b) => {
  let i = a.length;
  let j = b.length;
  while (i > 0 && j > 0) {
    const d = (a[--i] as number) - (b[--j] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
};

/** Comparator for a DB's keys from its `md_flags`. */
export function keyCompare(dbFlags: number): Compare {
  return (dbFlags & (MDB_REVERSEKEY | MDB_INTEGERKEY)) !== 0 ? reverseCompare : memnCompare;
}

/** Comparator for a DUPSORT DB's items (from the parent's flags, §10.3, §11). */
export function dupCompare(dbFlags: number): Compare {
  return (dbFlags & (MDB_REVERSEDUP | MDB_INTEGERDUP)) !== 0 ? reverseCompare : memnCompare;
}

const SHOW_MAX = 40;

/** A key for people: `'text'` when printable ASCII, else `0x…` hex; long keys are cut with `…`. */
export function showKey(k: Uint8Array): string {
  let printable = true;
  for (let i = 0; i < k.length; i++) {
    const c = k[i] as number;
    if (c < 0x20 || c > 0x7e) {
      printable = false;
      break;
    }
  }
  if (printable) {
    const s = Buffer.from(k.buffer, k.byteOffset, Math.min(k.length, SHOW_MAX)).toString('latin1');
    return `'${s}${k.length > SHOW_MAX ? '…' : ''}'`;
  }
  const n = Math.min(k.length, SHOW_MAX / 2);
  return `0x${Buffer.from(k.buffer, k.byteOffset, n).toString('hex')}${k.length > n ? '…' : ''}`;
}

/** "keys from 'x' up to 'y'" for a subtree bounded by separators (lo inclusive, hi exclusive, §6.3). */
export function rangeText(lo: Uint8Array | null, hi: Uint8Array | null): string {
  if (lo && hi) return `keys from ${showKey(lo)} up to ${showKey(hi)}`;
  if (lo) return `keys from ${showKey(lo)} to the end`;
  if (hi) return `keys up to ${showKey(hi)}`;
  return 'all keys';
}

export function toHex(k: Uint8Array | null): string | null {
  return k === null ? null : Buffer.from(k.buffer, k.byteOffset, k.length).toString('hex');
}

export function fromHex(s: unknown): Uint8Array | null {
  return typeof s === 'string' ? new Uint8Array(Buffer.from(s, 'hex')) : null;
}
