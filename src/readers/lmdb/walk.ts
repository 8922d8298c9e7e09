/**
 * Depth-first, left-to-right walk of one B-tree with an explicit stack (LMDB.md §14.4), validating every page it
 * touches (§15.2): page range (P1), own number (P2), type for its level (P3, P4), bounds and nodes (P5–P7),
 * key order within and across leaves (P9), keys inside the parent's separators (P10), no page twice (P13).
 *
 * A broken page produces one `corrupt_file` finding and its subtree is skipped; the walk goes on with every other
 * reachable page. The walk cannot loop: a page is entered at most once (bitmap) and never deeper than `depth`.
 * Pages that lie past the end of a truncated file are reported together, one finding per run of consecutive
 * missing pages in key order, instead of one per page.
 */
import type { Damage } from '../../records.js';
import type { PageFile } from './file.js';
import type { Compare } from './keys.js';
import { rangeText, showKey } from './keys.js';
import type { Layout } from './layout.js';
import {
  checkHeader,
  copyBytes,
  newBranchNodes,
  newLeafNodes,
  parseBranch,
  parseLeaf,
  type BranchNodes,
  type LeafNodes,
  type LeafRules,
  type PageRole,
} from './page.js';

/** One bit per page, sized by the file (never by an untrusted count). */
export class Bitmap {
  private readonly bits: Uint8Array;
  constructor(readonly size: number) {
    this.bits = new Uint8Array(Math.ceil(size / 8));
  }
  /** Marks page `i`; false when it was already marked. `i` must be < size. */
  mark(i: number): boolean {
    const byte = i >>> 3;
    const m = 1 << (i & 7);
    const cur = this.bits[byte] as number;
    if ((cur & m) !== 0) return false;
    this.bits[byte] = cur | m;
    return true;
  }
  has(i: number): boolean {
    return i < this.size && ((this.bits[i >>> 3] as number) & (1 << (i & 7))) !== 0;
  }
}

/**
 * A subtree to walk: its root page, its level (1 = the tree's root) and its key bounds [lo, hi). With `children`,
 * only the subtrees of children `[from, to)` of the branch page `pgno` (a slice of a page the planner expanded;
 * `lo` and `hi` then bound the slice, not the page).
 */
export interface WalkEntry {
  pgno: number;
  level: number;
  lo: Uint8Array | null;
  hi: Uint8Array | null;
  /** The branch page that points here, for messages (-1: the meta or the plan). */
  parent: number;
  children?: readonly [from: number, to: number];
}

/** Shared state of one read: the file, where findings go, which pages were entered. */
export interface WalkContext {
  file: PageFile;
  layout: Layout;
  lastPg: number;
  /** Display path of data.mdb (findings' `file`). */
  display: string;
  visited: Bitmap;
  sink: Damage[];
  /** Overflow values lost past the end of a truncated file, reported together at the end of a read. */
  lostValues?: { count: number; firstPage: number; firstKey: Uint8Array; lastKey: Uint8Array };
}

/** Tree-specific parameters. */
export interface TreeParams {
  /** `md_depth` from the tree's `MDB_db`. */
  depth: number;
  compare: Compare;
  rules: LeafRules;
  /** For messages: "the main tree", "the duplicates of key 'x'". */
  name: string;
}

/**
 * Key bounds of a branch page's children `[from, to)` (all of them by default): child `from + i` holds keys in
 * `[cuts[i], cuts[i+1])` (§6.3), where the separators are clamped into `[lo, hi)`, the range of the page or of the
 * slice of its children, so that no child's range leaves its parent's (and partitions never overlap). Clamping
 * into a slice's range gives the same cuts as clamping into the page's, since separators increase. Separators
 * must already be known to increase, and must not live in a block that can be recycled (the returned bounds are
 * the separators themselves).
 */
export function childBounds(
  compare: Compare,
  lo: Uint8Array | null,
  hi: Uint8Array | null,
  br: BranchNodes,
  from = 0,
  to = br.n,
): (Uint8Array | null)[] {
  const cuts: (Uint8Array | null)[] = [lo];
  for (let i = from + 1; i < to; i++) {
    const s = br.seps[i] as Uint8Array;
    if (lo !== null && compare(s, lo) < 0) cuts.push(lo);
    else if (hi !== null && compare(s, hi) > 0) cuts.push(hi);
    else cuts.push(s);
  }
  cuts.push(hi);
  return cuts;
}

/** Order findings per walk are capped: a DB with a custom comparator would otherwise report every page. */
const MAX_ORDER_FINDINGS = 20;

export class TreeWalker {
  /** The leaf just yielded; valid until the generator resumes. */
  readonly leaf: LeafNodes;
  leafPgno = -1;
  private readonly branch: BranchNodes = newBranchNodes();
  private prevKey: Uint8Array | null = null;
  private orderFindings = 0;
  private eofRun: { count: number; first: number; lo: Uint8Array | null; hi: Uint8Array | null } | null = null;

  constructor(
    private readonly ctx: WalkContext,
    private readonly tree: TreeParams,
  ) {
    this.leaf = newLeafNodes(ctx.layout.psize);
  }

  /** Walks the entries in order; yields once per sound leaf page (read `this.leaf`). */
  *leaves(entries: readonly WalkEntry[]): Generator<LeafNodes, void, void> {
    const stack: WalkEntry[] = [];
    for (let i = entries.length - 1; i >= 0; i--) stack.push(entries[i] as WalkEntry);
    const { depth, compare } = this.tree;
    while (stack.length > 0) {
      const e = stack.pop() as WalkEntry;
      const role: PageRole = e.level < depth ? 'branch' : this.tree.rules.leaf2Size > 0 ? 'leaf2' : 'leaf';
      const slice = e.children;
      if (slice !== undefined && role !== 'branch') {
        this.broken(e, role, `the plan gives a slice of its children, but level ${e.level} holds leaves`);
        continue;
      }
      const page = this.enter(e, role, slice !== undefined);
      if (page === undefined) continue;
      const [b, p] = page;
      if (role === 'branch') {
        const br = this.branch;
        // Parsed from a private copy: its separators become the children's bounds on the stack and must outlive
        // the block, which may be recycled (file.ts). One copy per branch page instead of one per separator.
        // A slice's separators: its own, and the one before it (order); the planner checked the whole page.
        const first = slice === undefined ? 0 : Math.max(0, slice[0] - 1);
        const bad = parseBranch(this.ctx.layout, copyBytes(b, p, this.ctx.layout.psize), 0, br, first, slice?.[1]);
        if (bad !== undefined) {
          this.broken(e, role, bad);
          continue;
        }
        let order: string | undefined;
        for (let i = Math.max(2, first + 1); i < Math.min(br.n, slice?.[1] ?? Infinity); i++) {
          if (compare(br.seps[i - 1] as Uint8Array, br.seps[i] as Uint8Array) >= 0) {
            order = `its separator keys ${i - 1} and ${i} are not in default LMDB order`;
            break;
          }
        }
        if (order !== undefined) {
          this.broken(e, role, order);
          continue;
        }
        const [from, to] = slice ?? [0, br.n];
        if (to > br.n) {
          this.broken(e, role, `it has ${br.n} children, fewer than the ${to} it had when the scan was planned`);
          continue;
        }
        // Child i holds keys in [sep[i], sep[i+1]) (§6.3), intersected with this page's own bounds.
        const cuts = childBounds(compare, e.lo, e.hi, br, from, to);
        for (let i = to - 1; i >= from; i--) {
          stack.push({ pgno: br.children[i] as number, level: e.level + 1, lo: cuts[i - from] ?? null, hi: cuts[i - from + 1] ?? null, parent: e.pgno });
        }
        continue;
      }
      const leaf = this.leaf;
      const bad = parseLeaf(this.ctx.layout, b, p, this.tree.rules, leaf);
      if (bad !== undefined) {
        this.broken(e, role, bad);
        continue;
      }
      const n = leaf.n;
      if (n === 0) continue;
      const keys = leaf.keys;
      let sorted = true;
      for (let i = 1; i < n; i++) {
        if (compare(keys[i - 1] as Uint8Array, keys[i] as Uint8Array) >= 0) {
          sorted = false;
          break;
        }
      }
      // P10: a leaf whose keys fall outside its parent's separators is misplaced (a stray pointer, a page of
      // another subtree): its records are not yielded, which also keeps partitions from overlapping.
      let outside = -1;
      if (sorted) {
        if (e.lo !== null && compare(keys[0] as Uint8Array, e.lo) < 0) outside = 0;
        else if (e.hi !== null && compare(keys[n - 1] as Uint8Array, e.hi) >= 0) outside = n - 1;
      } else {
        for (let i = 0; i < n && outside < 0; i++) {
          const k = keys[i] as Uint8Array;
          if ((e.lo !== null && compare(k, e.lo) < 0) || (e.hi !== null && compare(k, e.hi) >= 0)) outside = i;
        }
      }
      if (outside >= 0) {
        this.broken(e, role, `its key ${showKey(keys[outside] as Uint8Array)} lies outside the key range its parent page gives it`);
        continue;
      }
      const prev = this.prevKey;
      if (!sorted) {
        this.orderProblem(e, 'its keys are not in default LMDB order');
      } else if (prev !== null && compare(prev, keys[0] as Uint8Array) >= 0) {
        this.orderProblem(e, 'its first key is not greater than the last key of the previous leaf');
      }
      // Copied: the leaf's block may be recycled before the next leaf is compared with it.
      this.prevKey = copyBytes(keys[n - 1] as Uint8Array);
      this.leafPgno = e.pgno;
      yield leaf;
    }
    this.flushEof();
  }

  /**
   * Range, truncation, cycle and header checks; the page's block and offset, or undefined (reported). A `shared`
   * page (a slice's branch page) may have been entered before: by the plan, which marked it (its `above`), or by
   * another slice of it.
   */
  private enter(e: WalkEntry, role: PageRole, shared = false): [Uint8Array, number] | undefined {
    const { file, lastPg, visited } = this.ctx;
    const pg = e.pgno;
    if (!(pg >= 2 && pg <= lastPg)) {
      this.flushEof();
      this.broken(e, role, `the page number is outside the database's pages 2..${lastPg}`);
      return undefined;
    }
    if (pg >= file.pages) {
      if (this.eofRun === null) this.eofRun = { count: 0, first: pg, lo: e.lo, hi: e.hi };
      this.eofRun.count++;
      this.eofRun.hi = e.hi;
      return undefined;
    }
    this.flushEof();
    if (!visited.mark(pg) && !shared) {
      this.broken(e, role, 'it was already reached from another page (a cycle or a shared subtree)');
      return undefined;
    }
    let b: Uint8Array;
    let p: number;
    try {
      const blk = file.block(pg, 1, role !== 'branch');
      b = blk.buf;
      p = (pg - blk.first) * file.psize;
    } catch (err) {
      this.ctx.sink.push({
        kind: 'io_error',
        file: this.ctx.display,
        page: pg,
        message: `Could not read page ${pg} of ${this.ctx.display}: ${(err as Error).message}.`,
      });
      return undefined;
    }
    const bad = checkHeader(this.ctx.layout, b, p, pg, role);
    if (bad !== undefined) {
      this.broken(e, role, bad);
      return undefined;
    }
    return [b, p];
  }

  private describe(e: WalkEntry, role: PageRole): string {
    const from = e.parent >= 0 ? `, reached from page ${e.parent}` : '';
    const slice = e.children === undefined ? '' : `, children ${e.children[0]}..${e.children[1] - 1} of it`;
    return `page ${e.pgno} (${role} at level ${e.level} of ${this.tree.depth} in ${this.tree.name}${from}, ${rangeText(e.lo, e.hi)}${slice})`;
  }

  private broken(e: WalkEntry, role: PageRole, what: string): void {
    const lost = role === 'branch' ? 'the records below it were skipped' : 'its records were skipped';
    this.ctx.sink.push({
      kind: 'corrupt_file',
      file: this.ctx.display,
      page: e.pgno,
      message: `LMDB ${this.describe(e, role)} is corrupt: ${what}; ${lost}.`,
    });
  }

  private orderProblem(e: WalkEntry, what: string): void {
    if (++this.orderFindings > MAX_ORDER_FINDINGS) return;
    this.ctx.sink.push({
      kind: 'corrupt_file',
      file: this.ctx.display,
      page: e.pgno,
      message:
        `LMDB ${this.describe(e, 'leaf')}: ${what}; its records were still read` +
        (this.orderFindings === MAX_ORDER_FINDINGS ? ' (further order problems in this part are not reported)' : '') +
        '.',
    });
  }

  private flushEof(): void {
    const r = this.eofRun;
    if (r === null) return;
    this.eofRun = null;
    const what = r.count === 1 ? `page ${r.first} lies` : `${r.count} pages (the first is page ${r.first}) lie`;
    const whose = r.count === 1 ? 'its records' : 'their records';
    this.ctx.sink.push({
      kind: 'corrupt_file',
      file: this.ctx.display,
      page: r.first,
      message: `LMDB ${what} beyond the end of ${this.ctx.display}, which is truncated; ${whose} in ${this.tree.name} (${rangeText(r.lo, r.hi)}) are lost.`,
    });
  }
}
