/**
 * Partitioning the main tree and the named databases' trees for parallel reads. The trees are planned as one
 * sequence of subtrees (main DB first, then named DBs in key order), so a partition may end one tree and start
 * the next. Runs in the main thread and reads only the upper levels: it descends level by level from the roots
 * until there are at least `maxPartitions` subtrees (or it reaches the leaves), then groups consecutive
 * subtrees into balanced groups weighted by the records they are expected to hold.
 *
 * A partition's spec lists its subtrees with their levels and the separator keys that bound them, so a fresh
 * reader in another thread can walk them and still check every key against its range (which also keeps a
 * misdirected pointer from yielding the same page in two partitions). A page the planner cannot expand
 * (damaged) is kept as a subtree of its own level: the worker reads it again and reports it.
 */
import type { JsonValue, Partition } from '../types.js';
import type { Env } from './env.js';
import { keyCompare, toHex, type Compare } from './keys.js';
import type { DbRecord } from './meta.js';
import { u16 } from './layout.js';
import { checkHeader, newBranchNodes, parseBranch } from './page.js';
import { childBounds } from './walk.js';

/** The subtrees of one tree a partition holds. Entry i is page `pages[i]` at `levels[i]`, holding keys in `[bounds[i], bounds[i+1])`. */
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
};

/** The JSON spec of one partition: runs of subtrees of the main tree and of the named databases, in read order. */
export type LmdbPartitionSpec = {
  /** Spec version. */
  v: 2;
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
  const base = { v: 2 as const, meta: meta.page, txnid: meta.txnid.toString(), named };
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

  let entries: Entry[] = [];
  trees.forEach((t, tree) => {
    if (t.db.root < 0) return;
    // A root met twice (two named DBs sharing a tree) is kept but never expanded: the worker reports it.
    if (seen.has(t.db.root)) noExpand.add(t.db.root);
    seen.add(t.db.root);
    entries.push({ tree, pgno: t.db.root, parent: -1, level: 1, lo: null, hi: null });
  });
  while (entries.length < max) {
    const next: Entry[] = [];
    let expanded = false;
    for (const e of entries) {
      const t = trees[e.tree] as PlanTree;
      const compare = compares[e.tree] as Compare;
      if (e.level >= t.db.depth || noExpand.has(e.pgno) || !readBranch(e.pgno, compare)) {
        next.push(e);
        continue;
      }
      expanded = true;
      above.push(e.pgno);
      const cuts = childBounds(compare, e.lo, e.hi, br);
      for (let i = 0; i < br.n; i++) {
        const child = br.children[i] as number;
        const lo = cuts[i] ?? null;
        const hi = cuts[i + 1] ?? null;
        // A child met twice (cycle, shared page) is kept but never expanded: the worker reports it.
        if (seen.has(child)) noExpand.add(child);
        seen.add(child);
        next.push({ tree: e.tree, pgno: child, parent: e.pgno, level: e.level + 1, lo, hi });
      }
    }
    entries = next;
    if (!expanded) break;
  }
  if (entries.length === 0) return [{ index: 0, spec: { ...base, trees: [], above: [] } satisfies LmdbPartitionSpec }];

  // A subtree's weight: its tree's expected records, shared out by the entry counts of the tree's subtrees (so
  // that a branch page of one tree and a leaf of another weigh what they hold, not what their pages count).
  const counts = entries.map((e) => (entries.length <= MAX_WEIGHED ? entryCount(env, e.pgno) : 1));
  const perTree = new Map<number, number>();
  entries.forEach((e, i) => perTree.set(e.tree, (perTree.get(e.tree) ?? 0) + (counts[i] as number)));
  const weights = entries.map((e, i) => ((trees[e.tree] as PlanTree).records * (counts[i] as number)) / (perTree.get(e.tree) as number));
  const total = weights.reduce((a, w) => a + w, 0);
  const k = Math.min(max, entries.length);
  const groups: Entry[][] = [];
  let cum = 0;
  entries.forEach((e, i) => {
    const w = weights[i] as number;
    const g = Math.min(k - 1, Math.floor(((cum + w / 2) * k) / total));
    cum += w;
    const last = groups[groups.length - 1];
    if (groups.length === 0 || groups.length - 1 < g) groups.push([e]);
    else (last as Entry[]).push(e);
  });
  return groups.map((g, index) => {
    const parts: LmdbTreeSpec[] = [];
    for (let i = 0; i < g.length; ) {
      let j = i;
      while (j < g.length && (g[j] as Entry).tree === (g[i] as Entry).tree) j++;
      const run = g.slice(i, j);
      const t = trees[(g[i] as Entry).tree] as PlanTree;
      parts.push({
        db: toHex(t.key),
        flags: t.db.flags,
        depth: t.db.depth,
        pages: run.map((e) => e.pgno),
        levels: run.map((e) => e.level),
        parents: run.map((e) => e.parent),
        bounds: [...run.map((e) => toHex(e.lo)), toHex((run[run.length - 1] as Entry).hi)],
      });
      i = j;
    }
    const spec: LmdbPartitionSpec = { ...base, trees: parts, above };
    return { index, spec: spec as JsonValue };
  });
}

/** Entries on a page from its `mp_lower` (one read, no validation: a weight only). */
function entryCount(env: Env, pgno: number): number {
  const { file, layout: L, meta } = env;
  if (!(pgno >= 2 && pgno <= meta.lastPg && pgno < file.pages)) return 1;
  try {
    const blk = file.block(pgno, 1, false);
    const lower = u16(blk.buf, (pgno - blk.first) * L.psize + L.offLower);
    return Math.max(1, Math.min(L.psize, (L.base + lower - L.hdr) / 2));
  } catch {
    return 1;
  }
}
