/**
 * Partitioning the main tree and the named databases' trees for parallel reads. The trees are planned as one
 * sequence of subtrees (main DB first, then named DBs in key order), so a partition may end one tree and start
 * the next. Runs in the main thread and reads only the upper levels: it descends level by level from the roots
 * until there are at least `maxPartitions` subtrees (or it reaches the leaves), then groups consecutive
 * subtrees into balanced groups weighted by the records they are expected to hold.
 *
 * A partition's spec lists its subtrees with their levels and the separator keys that bound them, so a fresh
 * reader in another thread can walk them and still check every key against its range (which also keeps a
 * misdirected pointer from yielding the same page in two partitions). The last level is not listed child by
 * child: consecutive children of one branch page are listed as that page with a slice of its children, and the
 * reader takes their bounds from the page's separators. A 50,000-record LMDB whose 56 level-2 pages hold 12,500
 * leaves was planned as 12,500 entries (a 419 KB plan, ~60 ms of the main thread); it is now one or two entries a
 * partition, and only the pages a partition boundary falls in are parsed. A page the planner cannot expand
 * (damaged) is kept as a subtree of its own level: the worker reads it again and reports it.
 */
import type { JsonValue, Partition } from '../types.js';
import type { Env } from './env.js';
import { keyCompare, toHex, type Compare } from './keys.js';
import type { DbRecord } from './meta.js';
import { u16 } from './layout.js';
import { checkHeader, newBranchNodes, parseBranch } from './page.js';
import { childBounds } from './walk.js';

/**
 * The subtrees of one tree a partition holds. Entry i is page `pages[i]` at `levels[i]`, holding keys in
 * `[bounds[i], bounds[i+1])`; when `children[i]` is `[from, to]`, only the subtrees of that branch page's
 * children `from..to-1` (the page is one the planner expanded, in `above`).
 */
export type LmdbTreeSpec = {
  /** Hex of the named database's key in the main tree; null for the main DB. */
  db: string | null;
  /** The tree's `md_flags` and `md_depth`. */
  flags: number;
  depth: number;
  pages: number[];
  levels: number[];
  /** Hex separator keys; null = unbounded. Length `pages.length + 1`. */
  bounds: (string | null)[];
  /** The branch page pointing at each entry (-1 for the root), for messages. */
  parents: number[];
  /** Per entry: null for the whole page, or the slice `[from, to)` of its children. */
  children: ([number, number] | null)[];
};

/** The JSON spec of one partition: runs of subtrees of the main tree and of the named databases, in read order. */
export type LmdbPartitionSpec = {
  /** Spec version. */
  v: 3;
  /** Meta page (0/1) and its txnid (decimal) the plan was made from: the reader must see the same snapshot. */
  meta: number;
  txnid: string;
  trees: LmdbTreeSpec[];
  /** Branch pages the planner expanded (ancestors of every entry): the reader treats them as visited. */
  above: number[];
  /**
   * Hex keys of every named database the main tree holds, when it was listed at open (their records are read as
   * trees of their own, or reported as unreadable): a reader meeting one of them in the main tree passes over it.
   * Null when the main tree was not listed: every named database met is then reported as unchecked.
   */
  named: string[] | null;
};

/** A tree to plan: the main DB (`key` null) or a named database, with the records it is expected to hold. */
export interface PlanTree {
  key: Uint8Array | null;
  db: DbRecord;
  /** Expected records, to weigh its subtrees against other trees' (md_entries; at least 1). */
  records: number;
}

interface Entry {
  tree: number;
  pgno: number;
  parent: number;
  level: number;
  lo: Uint8Array | null;
  hi: Uint8Array | null;
}

/** A subtree of the plan's last level: whole (`n` 0), or a branch page that counts as one unit per child. */
interface Item {
  e: Entry;
  n: number;
}

/** Consecutive units of one item that go to one partition. */
interface Piece {
  item: number;
  from: number;
  to: number;
}

/** What a partition lists of one tree: a whole page, or children `[from, to)` of an expanded branch page. */
interface SpecEntry {
  tree: number;
  pgno: number;
  level: number;
  parent: number;
  lo: Uint8Array | null;
  hi: Uint8Array | null;
  children: [number, number] | null;
}

/** Weigh subtrees by their entry counts when there are few enough to read (one page each). */
const MAX_WEIGHED = 512;

export function planPartitions(env: Env, trees: readonly PlanTree[], named: string[] | null, maxPartitions: number): Partition[] {
  try {
    return plan(env, trees, named, maxPartitions);
  } finally {
    // The plan keeps no views into the pages it read (bounds are hex).
    env.file.release();
  }
}

function plan(env: Env, trees: readonly PlanTree[], named: string[] | null, maxPartitions: number): Partition[] {
  const { meta, file, layout: L } = env;
  const base = { v: 3 as const, meta: meta.page, txnid: meta.txnid.toString(), named };
  const max = Math.max(1, Math.floor(maxPartitions));
  const compares = trees.map((t) => keyCompare(t.db.flags));
  const br = newBranchNodes();
  const seen = new Set<number>();
  const noExpand = new Set<number>();
  const above: number[] = [];
  /** The page at `pgno` as a sound branch (children filled into `br`), else false. */
  const readBranch = (pgno: number, compare: Compare): boolean => {
    if (!(pgno >= 2 && pgno <= meta.lastPg && pgno < file.pages)) return false;
    try {
      const blk = file.block(pgno, 1, false);
      const p = (pgno - blk.first) * L.psize;
      if (checkHeader(L, blk.buf, p, pgno, 'branch') !== undefined) return false;
      // Views into the block stay valid for the whole plan: blocks are recycled only by release() below.
      if (parseBranch(L, blk.buf, p, br) !== undefined) return false;
      for (let i = 2; i < br.n; i++) if (compare(br.seps[i - 1] as Uint8Array, br.seps[i] as Uint8Array) >= 0) return false;
      return true;
    } catch {
      return false;
    }
  };
  const expandable = (e: Entry): boolean => e.level < (trees[e.tree] as PlanTree).db.depth && !noExpand.has(e.pgno);

  let entries: Entry[] = [];
  trees.forEach((t, tree) => {
    if (t.db.root < 0) return;
    // A root met twice (two named DBs sharing a tree) is kept but never expanded: the worker reports it.
    if (seen.has(t.db.root)) noExpand.add(t.db.root);
    seen.add(t.db.root);
    entries.push({ tree, pgno: t.db.root, parent: -1, level: 1, lo: null, hi: null });
  });
  // Descend level by level while a level has fewer than `max` subtrees. The last level is not listed child by
  // child: its branch pages count one unit per child (from their headers), and only the pages a partition
  // boundary falls in are parsed (below). Listing 12,500 leaves of 56 pages was ~35 ms of a ~60 ms plan.
  let sizes: number[] = [];
  while (entries.length < max) {
    sizes = entries.map((e) => (expandable(e) ? branchChildren(env, e.pgno) : 0));
    if (sizes.every((n) => n === 0)) break;
    if (sizes.reduce((a, n) => a + Math.max(1, n), 0) >= max) break;
    const next: Entry[] = [];
    let expanded = false;
    for (const e of entries) {
      const compare = compares[e.tree] as Compare;
      if (!expandable(e) || !readBranch(e.pgno, compare)) {
        // Damaged below its header: kept whole, never expanded (the worker reports it).
        if (expandable(e)) noExpand.add(e.pgno);
        next.push(e);
        continue;
      }
      expanded = true;
      above.push(e.pgno);
      const cuts = childBounds(compare, e.lo, e.hi, br);
      for (let i = 0; i < br.n; i++) {
        const child = br.children[i] as number;
        // A child met twice (cycle, shared page) is kept but never expanded: the worker reports it.
        if (seen.has(child)) noExpand.add(child);
        seen.add(child);
        next.push({ tree: e.tree, pgno: child, parent: e.pgno, level: e.level + 1, lo: cuts[i] ?? null, hi: cuts[i + 1] ?? null });
      }
    }
    entries = next;
    sizes = [];
    if (!expanded) break;
  }
  if (entries.length === 0) return [{ index: 0, spec: { ...base, trees: [], above: [] } satisfies LmdbPartitionSpec }];

  const items: Item[] = entries.map((e, i) => ({ e, n: sizes[i] ?? 0 }));
  const unitsOf = (): number => items.reduce((a, it) => a + Math.max(1, it.n), 0);
  // A unit's weight: its tree's expected records, shared out by the entry counts of the tree's units (so that
  // a branch page of one tree and a leaf of another weigh what they hold, not what their pages count).
  let counts: number[][] | null = null;
  if (unitsOf() <= MAX_WEIGHED) {
    counts = items.map((it) => {
      if (it.n > 0 && readBranch(it.e.pgno, compares[it.e.tree] as Compare)) {
        it.n = br.n;
        return br.children.slice(0, br.n).map((c) => entryCount(env, c));
      }
      it.n = 0;
      return [entryCount(env, it.e.pgno)];
    });
  }
  const countOf = (i: number, c: number): number => (counts === null ? 1 : ((counts[i] as number[])[c] as number));
  const perTree = new Map<number, number>();
  items.forEach((it, i) => {
    let s = 0;
    for (let c = 0; c < Math.max(1, it.n); c++) s += countOf(i, c);
    perTree.set(it.e.tree, (perTree.get(it.e.tree) ?? 0) + s);
  });
  const weightOf = (i: number, c: number): number => {
    const tree = (items[i] as Item).e.tree;
    return ((trees[tree] as PlanTree).records * countOf(i, c)) / (perTree.get(tree) as number);
  };
  let total = 0;
  items.forEach((it, i) => {
    for (let c = 0; c < Math.max(1, it.n); c++) total += weightOf(i, c);
  });
  const k = Math.min(max, unitsOf());
  const groups: Piece[][] = [];
  let cum = 0;
  items.forEach((it, i) => {
    for (let c = 0; c < Math.max(1, it.n); c++) {
      const w = weightOf(i, c);
      const g = Math.min(k - 1, Math.floor(((cum + w / 2) * k) / total));
      cum += w;
      const last = groups[groups.length - 1];
      const piece = last?.[last.length - 1];
      if (last === undefined || groups.length - 1 < g) groups.push([{ item: i, from: c, to: c + 1 }]);
      else if (piece !== undefined && piece.item === i) piece.to = c + 1;
      else last.push({ item: i, from: c, to: c + 1 });
    }
  });

  // A page cut between partitions is parsed once, for its children's bounds, and goes in `above`. One that
  // does not parse is listed whole in the first partition that has part of it: the worker reports it.
  let cutItem = -1;
  let cuts: (Uint8Array | null)[] | null = null;
  let listedWhole = false;
  const whole = (e: Entry): SpecEntry => ({ tree: e.tree, pgno: e.pgno, level: e.level, parent: e.parent, lo: e.lo, hi: e.hi, children: null });
  const lists: SpecEntry[][] = groups.map((g) =>
    g.flatMap((pc): SpecEntry[] => {
      const { e, n } = items[pc.item] as Item;
      if (n === 0 || (pc.from === 0 && pc.to === n)) return [whole(e)];
      if (cutItem !== pc.item) {
        cutItem = pc.item;
        listedWhole = false;
        cuts = readBranch(e.pgno, compares[e.tree] as Compare) && br.n === n ? childBounds(compares[e.tree] as Compare, e.lo, e.hi, br) : null;
        if (cuts !== null) above.push(e.pgno);
      }
      if (cuts === null) {
        if (listedWhole) return [];
        listedWhole = true;
        return [whole(e)];
      }
      const [lo, hi] = [cuts[pc.from] ?? null, cuts[pc.to] ?? null];
      return [{ tree: e.tree, pgno: e.pgno, level: e.level, parent: e.parent, lo, hi, children: [pc.from, pc.to] }];
    }),
  );
  return lists
    .filter((list) => list.length > 0)
    .map((list, index) => {
      const parts: LmdbTreeSpec[] = [];
      for (let i = 0; i < list.length; ) {
        let j = i;
        while (j < list.length && (list[j] as SpecEntry).tree === (list[i] as SpecEntry).tree) j++;
        const run = list.slice(i, j);
        const t = trees[(list[i] as SpecEntry).tree] as PlanTree;
        parts.push({
          db: toHex(t.key),
          flags: t.db.flags,
          depth: t.db.depth,
          pages: run.map((e) => e.pgno),
          levels: run.map((e) => e.level),
          parents: run.map((e) => e.parent),
          bounds: [...run.map((e) => toHex(e.lo)), toHex((run[run.length - 1] as SpecEntry).hi)],
          children: run.map((e) => e.children),
        });
        i = j;
      }
      const spec: LmdbPartitionSpec = { ...base, trees: parts, above };
      return { index, spec: spec as JsonValue };
    });
}

/** Children of a branch page from its header (`mp_lower`), when the header is one; else 0 (one read, a count only). */
function branchChildren(env: Env, pgno: number): number {
  const { file, layout: L, meta } = env;
  if (!(pgno >= 2 && pgno <= meta.lastPg && pgno < file.pages)) return 0;
  try {
    const blk = file.block(pgno, 1, false);
    const p = (pgno - blk.first) * L.psize;
    if (checkHeader(L, blk.buf, p, pgno, 'branch') !== undefined) return 0;
    const lower = u16(blk.buf, p + L.offLower);
    const n = (L.base + lower - L.hdr) / 2;
    return Number.isInteger(n) && n >= 1 && n <= L.psize ? n : 0;
  } catch {
    return 0;
  }
}

/**
 * Entries on a page from its `mp_lower` (no validation: a weight only). Read as a stream: the leaves weighed
 * lie side by side, and read-ahead reads them in a few reads (a 600-record LMDB: 19 reads instead of 162).
 */
function entryCount(env: Env, pgno: number): number {
  const { file, layout: L, meta } = env;
  if (!(pgno >= 2 && pgno <= meta.lastPg && pgno < file.pages)) return 1;
  try {
    const blk = file.block(pgno, 1, true);
    const lower = u16(blk.buf, (pgno - blk.first) * L.psize + L.offLower);
    return Math.max(1, Math.min(L.psize, (L.base + lower - L.hdr) / 2));
  } catch {
    return 1;
  }
}
