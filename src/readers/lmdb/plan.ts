/**
 * Partitioning the main tree for parallel reads. Runs in the main thread and reads only the upper levels: it
 * descends level by level from the root until there are at least `maxPartitions` subtrees (or it reaches the
 * leaves), then groups consecutive subtrees into balanced groups weighted by their entry counts.
 *
 * A partition's spec lists its subtrees with their levels and the separator keys that bound them, so a fresh
 * reader in another thread can walk them and still check every key against its range (which also keeps a
 * misdirected pointer from yielding the same page in two partitions). A page the planner cannot expand
 * (damaged) is kept as a subtree of its own level: the worker reads it again and reports it.
 */
import type { JsonValue, Partition } from '../types.js';
import type { Env } from './env.js';
import { keyCompare, toHex } from './keys.js';
import { u16 } from './layout.js';
import { checkHeader, newBranchNodes, parseBranch } from './page.js';
import { childBounds } from './walk.js';

/** The JSON spec of one partition. Entry i is page `pages[i]` at `levels[i]`, holding keys in `[bounds[i], bounds[i+1])`. */
export type LmdbPartitionSpec = {
  /** Spec version. */
  v: 1;
  /** Meta page (0/1) and its txnid (decimal) the plan was made from: the reader must see the same snapshot. */
  meta: number;
  txnid: string;
  pages: number[];
  levels: number[];
  /** Hex separator keys; null = unbounded. Length `pages.length + 1`. */
  bounds: (string | null)[];
  /** The branch page pointing at each entry (-1 for the root), for messages. */
  parents: number[];
  /** Branch pages the planner expanded (ancestors of every entry): the reader treats them as visited. */
  above: number[];
};

interface Entry {
  pgno: number;
  parent: number;
  level: number;
  lo: Uint8Array | null;
  hi: Uint8Array | null;
}

/** Weigh subtrees by their entry counts when there are few enough to read (one page each). */
const MAX_WEIGHED = 512;

export function planPartitions(env: Env, maxPartitions: number): Partition[] {
  try {
    return plan(env, maxPartitions);
  } finally {
    // The plan keeps no views into the pages it read (bounds are hex).
    env.file.release();
  }
}

function plan(env: Env, maxPartitions: number): Partition[] {
  const { meta, file, layout: L } = env;
  const db = meta.main;
  const base = { v: 1 as const, meta: meta.page, txnid: meta.txnid.toString() };
  const single = (pages: number[]): Partition[] => [
    { index: 0, spec: { ...base, pages, levels: pages.map(() => 1), parents: pages.map(() => -1), bounds: [null, ...pages.map(() => null)], above: [] } satisfies LmdbPartitionSpec },
  ];
  if (db.root < 0) return single([]);
  const max = Math.max(1, Math.floor(maxPartitions));
  if (max === 1 || db.depth <= 1) return single([db.root]);

  const compare = keyCompare(db.flags);
  const br = newBranchNodes();
  const seen = new Set<number>([db.root]);
  const noExpand = new Set<number>();
  const above: number[] = [];
  /** The page at `pgno` as a sound branch (children filled into `br`), else false. */
  const readBranch = (pgno: number): boolean => {
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

  let entries: Entry[] = [{ pgno: db.root, parent: -1, level: 1, lo: null, hi: null }];
  while (entries.length < max) {
    const next: Entry[] = [];
    let expanded = false;
    for (const e of entries) {
      if (e.level >= db.depth || noExpand.has(e.pgno) || !readBranch(e.pgno)) {
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
        next.push({ pgno: child, parent: e.pgno, level: e.level + 1, lo, hi });
      }
    }
    entries = next;
    if (!expanded) break;
  }

  const weights = entries.map((e) => (entries.length <= MAX_WEIGHED ? entryCount(env, e.pgno) : 1));
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
    const spec: LmdbPartitionSpec = {
      ...base,
      pages: g.map((e) => e.pgno),
      levels: g.map((e) => e.level),
      parents: g.map((e) => e.parent),
      bounds: [...g.map((e) => toHex(e.lo)), toHex((g[g.length - 1] as Entry).hi)],
      above,
    };
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
