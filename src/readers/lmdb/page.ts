/**
 * Validating parsers for one branch page, one leaf page and one DUPSORT sub-page (LMDB.md §4, §6, §8, §10.2,
 * checks P2–P7, P11, P14–P16 of §15.2). Each returns `undefined` when the page is sound, else a short description
 * of what is wrong; nothing is read before its offset has been checked against the page.
 *
 * `b` is a block buffer, `p` the page's offset in it. Keys are returned as views into `b` (blocks are never
 * overwritten, see file.ts), so they double as record keys without a copy.
 */
import {
  DB_SIZE,
  F_BIGDATA,
  F_DUPDATA,
  F_SUBDATA,
  N_FLAGS,
  N_HI,
  N_KSIZE,
  NODE_HEADER,
  P_BRANCH,
  P_DIRTY,
  P_LEAF,
  P_LEAF2,
  P_OVERFLOW,
  P_SUBP,
} from './constants.js';
import { even, u16, u32, u64, type Layout } from './layout.js';

export function view(b: Uint8Array, start: number, len: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + start, len);
}

/** A private copy of `len` bytes at `start` (never `Buffer#slice`, which is a view). */
export function copyBytes(b: Uint8Array, start = 0, len = b.length - start): Uint8Array {
  return Uint8Array.prototype.slice.call(b, start, start + len);
}

/** Page type names for messages. */
export function flagsName(flags: number): string {
  const f = flags & ~P_DIRTY;
  if (f === P_BRANCH) return 'branch';
  if (f === P_LEAF) return 'leaf';
  if (f === (P_LEAF | P_LEAF2)) return 'leaf2';
  if (f === P_OVERFLOW) return 'overflow';
  return `flags 0x${flags.toString(16)}`;
}

/** What the walker expects at a given place in a tree. */
export type PageRole = 'branch' | 'leaf' | 'leaf2';

/**
 * Header checks shared by every page read by number (P2, P3): its own page number and its type. `P_DIRTY` is
 * masked: LMDB clears it before writing, and a stray bit does not change how the page reads (§4).
 */
export function checkHeader(L: Layout, b: Uint8Array, p: number, pgno: number, role: PageRole | 'overflow'): string | undefined {
  const own = u64(b, p);
  const flags = u16(b, p + L.offFlags);
  if (own !== pgno) {
    if (own === 0 && flags === 0 && isZero(b, p, L.psize)) return 'the page is all zeros';
    return `its page-number field says ${own}`;
  }
  const f = flags & ~P_DIRTY;
  const want = role === 'branch' ? P_BRANCH : role === 'leaf' ? P_LEAF : role === 'leaf2' ? P_LEAF | P_LEAF2 : P_OVERFLOW;
  if (f !== want) return `it should be a ${role} page but its flags are 0x${flags.toString(16)} (${flagsName(flags)})`;
  return undefined;
}

function isZero(b: Uint8Array, p: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[p + i] !== 0) return false;
  return true;
}

/** `mp_lower` / `mp_upper` as absolute offsets in the page, checked (P5): `[ptrEnd, areaStart]` is free space. */
function bounds(L: Layout, b: Uint8Array, p: number, end: number): { n: number; area: number } | string {
  const lower = u16(b, p + L.offLower);
  const upper = u16(b, p + L.offUpper);
  const ptrEnd = L.base + lower;
  const area = L.base + upper;
  if (ptrEnd < L.hdr || ptrEnd > area || area > end || (ptrEnd - L.hdr) % 2 !== 0) {
    return `its free-space bounds are impossible (lower ${lower}, upper ${upper}, page size ${end})`;
  }
  return { n: (ptrEnd - L.hdr) / 2, area };
}

export interface BranchNodes {
  n: number;
  children: number[];
  /** Separator keys; `seps[0]` is ignored by LMDB (§6.2) and set to an empty view. */
  seps: Uint8Array[];
}

/**
 * Parse a branch page (P5, P6, P7). Separator order is checked by the walker, which knows the comparator. Every
 * node is checked; children and separators are filled in only for nodes `[from, to)` (all by default): a
 * partition that reads a slice of a page's children makes no key views for the rest.
 */
export function parseBranch(L: Layout, b: Uint8Array, p: number, out: BranchNodes, from = 0, to = Infinity): string | undefined {
  const psize = L.psize;
  const bd = bounds(L, b, p, psize);
  if (typeof bd === 'string') return bd;
  const { n, area } = bd;
  if (n === 0) return 'the branch page has no children';
  let used = 0;
  out.n = n;
  for (let i = 0; i < n; i++) {
    const no = L.base + u16(b, p + L.hdr + 2 * i);
    if (no % 2 !== 0 || no < area || no + NODE_HEADER > psize) return `node ${i} has an impossible offset ${no}`;
    const ksize = u16(b, p + no + N_KSIZE);
    if (no + NODE_HEADER + ksize > psize) return `node ${i}'s key (${ksize} bytes) runs past the end of the page`;
    used += even(NODE_HEADER + ksize);
    if (i < from || i >= to) continue;
    // 48-bit child page number: mn_lo | mn_hi << 16 | mn_flags << 32 (§6.2).
    out.children[i] = u32(b, p + no) + u16(b, p + no + N_FLAGS) * 0x1_0000_0000;
    out.seps[i] = view(b, p + no + NODE_HEADER, i === 0 ? 0 : ksize);
  }
  if (used > psize - area) return `its nodes overlap (${used} bytes of nodes in ${psize - area} bytes of node area)`;
  return undefined;
}

/** What a leaf of a given tree may contain (P15). */
export interface LeafRules {
  /** Main tree of a non-DUPSORT DB: `F_SUBDATA` nodes are named databases. */
  allowSubData: boolean;
  /** DUPSORT DB: `F_DUPDATA` nodes, no `F_BIGDATA`. */
  dupsort: boolean;
  /** Keys of a duplicates sub-database are items and may be empty (§10.4). */
  allowEmptyKey: boolean;
  /** `P_LEAF2` item size of a DUPFIXED duplicates sub-database (§8); 0 elsewhere. */
  leaf2Size: number;
}

export interface LeafNodes {
  n: number;
  /** The block buffer the offsets below point into. */
  buf: Uint8Array;
  keys: Uint8Array[];
  /** Per node: flags, offset of the data in the block buffer, and `dsize` (§6.2). Unused for P_LEAF2 pages. */
  flags: Int32Array;
  dataOff: Int32Array;
  dsize: Float64Array;
}

/**
 * Room for the nodes of a leaf page: grown to the largest page met (`n` is at most psize / 2), not allocated at
 * that size up front: a walker is made per partition, and 64 of them at 32 KiB each cost ~2 ms of a small scan.
 */
export function newLeafNodes(psize: number): LeafNodes {
  const start = Math.min(64, Math.ceil(psize / 2));
  return { n: 0, buf: new Uint8Array(0), keys: [], flags: new Int32Array(start), dataOff: new Int32Array(start), dsize: new Float64Array(start) };
}

function reserveLeaf(out: LeafNodes, n: number): void {
  if (n <= out.flags.length) return;
  const size = Math.max(n, 2 * out.flags.length);
  out.flags = new Int32Array(size);
  out.dataOff = new Int32Array(size);
  out.dsize = new Float64Array(size);
}

export function newBranchNodes(): BranchNodes {
  return { n: 0, children: [], seps: [] };
}

/** Parse a leaf page (P5, P6, P7, P11, P14, P15). Key order is left to the walker. */
export function parseLeaf(L: Layout, b: Uint8Array, p: number, rules: LeafRules, out: LeafNodes): string | undefined {
  const psize = L.psize;
  const bd = bounds(L, b, p, psize);
  if (typeof bd === 'string') return bd;
  const { n, area } = bd;
  out.n = n;
  out.buf = b;
  reserveLeaf(out, n);
  if (rules.leaf2Size > 0) {
    // P_LEAF2 (§8): items of md_pad bytes packed after the header; mp_lower still counts them.
    const ks = rules.leaf2Size;
    const pad = u16(b, p + L.offPad);
    if (pad !== ks) return `its fixed item size ${pad} differs from the database's ${ks}`;
    if (L.hdr + n * ks > psize) return `its ${n} items of ${ks} bytes do not fit in the page`;
    for (let i = 0; i < n; i++) out.keys[i] = view(b, p + L.hdr + i * ks, ks);
    return undefined;
  }
  let used = 0;
  for (let i = 0; i < n; i++) {
    const no = L.base + u16(b, p + L.hdr + 2 * i);
    if (no % 2 !== 0 || no < area || no + NODE_HEADER > psize) return `node ${i} has an impossible offset ${no}`;
    const nflags = u16(b, p + no + N_FLAGS);
    const ksize = u16(b, p + no + N_KSIZE);
    const dsize = u16(b, p + no) + u16(b, p + no + N_HI) * 0x10000;
    let stored: number;
    if (nflags === 0) stored = dsize;
    else if (nflags === F_BIGDATA && !rules.dupsort) stored = L.bigdataBytes;
    else if (nflags === F_SUBDATA && rules.allowSubData) stored = DB_SIZE;
    else if (nflags === F_DUPDATA && rules.dupsort) stored = dsize;
    else if (nflags === (F_DUPDATA | F_SUBDATA) && rules.dupsort) stored = DB_SIZE;
    else return `node ${i} has invalid flags 0x${nflags.toString(16)}`;
    if ((nflags & F_SUBDATA) !== 0 && dsize !== DB_SIZE) return `node ${i} holds a database record of ${dsize} bytes, not ${DB_SIZE}`;
    if (ksize === 0 && !rules.allowEmptyKey) return `node ${i} has an empty key`;
    const end = no + NODE_HEADER + ksize + stored;
    if (end > psize) return `node ${i} (key ${ksize} bytes, data ${stored} bytes) runs past the end of the page`;
    used += even(NODE_HEADER + ksize + stored);
    out.keys[i] = view(b, p + no + NODE_HEADER, ksize);
    out.flags[i] = nflags;
    out.dataOff[i] = p + no + NODE_HEADER + ksize;
    out.dsize[i] = dsize;
  }
  if (used > psize - area) return `its nodes overlap (${used} bytes of nodes in ${psize - area} bytes of node area)`;
  return undefined;
}

/**
 * Items of a DUPSORT sub-page (§10.2, P16): a small leaf page embedded in a node's `dsize` data bytes at `d`.
 * Offsets are relative to the sub-page start; its `mp_pgno` is meaningless; flags keep `P_DIRTY` in format 1.
 */
export function parseSubPage(L: Layout, b: Uint8Array, d: number, dsize: number, leaf2: boolean, items: Uint8Array[]): string | undefined {
  if (dsize < L.hdr) return `its duplicates sub-page is only ${dsize} bytes`;
  const flags = u16(b, d + L.offFlags) & ~P_DIRTY;
  const want = P_LEAF | P_SUBP | (leaf2 ? P_LEAF2 : 0);
  if (flags !== want) return `its duplicates sub-page has flags 0x${flags.toString(16)}, expected 0x${want.toString(16)}`;
  const bd = bounds(L, b, d, dsize);
  if (typeof bd === 'string') return `its duplicates sub-page: ${bd}`;
  const { n, area } = bd;
  items.length = n;
  if (leaf2) {
    const ks = u16(b, d + L.offPad);
    if (ks === 0 || L.hdr + n * ks > dsize) return `its fixed-size duplicates sub-page has ${n} items of ${ks} bytes in ${dsize} bytes`;
    for (let i = 0; i < n; i++) items[i] = view(b, d + L.hdr + i * ks, ks);
    return undefined;
  }
  for (let i = 0; i < n; i++) {
    const no = L.base + u16(b, d + L.hdr + 2 * i);
    if (no % 2 !== 0 || no < area || no + NODE_HEADER > dsize) return `its duplicates sub-page's node ${i} has an impossible offset ${no}`;
    const ksize = u16(b, d + no + N_KSIZE);
    if (no + NODE_HEADER + ksize > dsize) return `its duplicates sub-page's item ${i} runs past the sub-page`;
    items[i] = view(b, d + no + NODE_HEADER, ksize);
  }
  return undefined;
}
