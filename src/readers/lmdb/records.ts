/**
 * Turns the leaves of the main tree and of named databases into record batches (LMDB.md §9, §14.4, §14.5):
 * inline values, overflow values, DUPSORT duplicates (sub-pages and sub-databases, each item a record with the
 * same key). A named database's entry in the main tree is not a record; its records are read as a tree of
 * their own, and carry its name (`database`).
 */
import type { Damage } from '../../records.js';
import type { KvRecord, RecordBatch } from '../types.js';
import {
  F_BIGDATA,
  F_DUPDATA,
  F_SUBDATA,
  MAX_DEPTH,
  MDB_DUPFIXED,
  MDB_DUPSORT,
} from './constants.js';
import { formatKey } from '../../keys.js';
import { dupCompare, keyCompare, showKey, toHex } from './keys.js';
import type { DbRecord } from './meta.js';
import { readDb } from './meta.js';
import { flushLostValues, readOverflow } from './overflow.js';
import { parseSubPage, view } from './page.js';
import { TreeWalker, type WalkContext, type WalkEntry } from './walk.js';

/** Batches are cut at this many records or bytes: big enough to amortise the consumer's per-batch work. */
const BATCH_RECORDS = 1024;
const BATCH_BYTES = 4 << 20;

export interface ReadContext extends WalkContext {
  /** Data format (named-DB keys carry a NUL in format 2, §16.6). */
  version: 1 | 2;
  /** Names of named sub-databases met in the main tree. */
  subDbNames: Set<string>;
}

/** Name of a named sub-database from its main-tree key (§9, §16.6). */
export function subDbName(key: Uint8Array, version: 1 | 2): string {
  const len = version === 2 && key.length > 0 && key[key.length - 1] === 0 ? key.length - 1 : key.length;
  return Buffer.from(key.buffer, key.byteOffset, len).toString('utf8');
}

/** One tree to read: the main DB or a named database, with the subtrees of it a partition holds. */
export interface TreeToRead {
  /** `md_flags` and `md_depth` of the tree (from the meta, or from the named DB's record in the main tree). */
  flags: number;
  depth: number;
  /** The named database's name (findings' `database`); undefined for the main DB. */
  database?: string;
  entries: readonly WalkEntry[];
}

/**
 * Reads the subtrees of each tree in turn, in key order, as one run of records (`index` counts on across trees).
 * In the main tree, a named-database entry (`F_SUBDATA`) is not a record: when its name is in `planned` its
 * records are read by the partitions the plan gave it, and the declared count already leaves the entry out;
 * otherwise (`planned` null: the main tree was too big to list named DBs at open) it is counted as `uncounted`
 * against md_entries and reported as an unchecked named database.
 */
export function* readTrees(ctx: ReadContext, trees: readonly TreeToRead[], planned: ReadonlySet<string> | null): Generator<RecordBatch, void, void> {
  const sink = ctx.sink;
  let records: KvRecord[] = [];
  let bytes = 0;
  let index = 0;
  const items: Uint8Array[] = [];
  let subLeaf: Uint8Array | null = null;
  /** Called on resuming after a yield: the consumer is done with earlier batches (see file.ts). */
  const resumed = (current: Uint8Array): void => {
    ctx.file.advance(subLeaf === null ? [current] : [current, subLeaf]);
  };
  // Named-database entries of the main tree: counted in md_entries, but not records.
  let uncounted = 0;
  let unread: string[] = [];
  /** Findings from `mark` on belong to the tree being read: they get its `database`. */
  let mark = 0;
  let database: string | undefined;
  const tag = (): void => {
    if (database !== undefined) for (let i = mark; i < sink.length; i++) (sink[i] as Damage).database ??= database;
    mark = sink.length;
  };
  const cut = (): RecordBatch => {
    tag();
    const batch: RecordBatch = sink.length > 0 ? { records, damage: sink.splice(0) } : { records };
    if (uncounted > 0) batch.uncounted = uncounted;
    if (unread.length > 0) batch.unchecked = [{ reason: 'named_database', count: unread.length, examples: unread }];
    records = [];
    bytes = 0;
    uncounted = 0;
    unread = [];
    mark = 0;
    return batch;
  };

  for (const tree of trees) {
    tag();
    database = tree.database;
    const isMain = database === undefined;
    const flags = tree.flags;
    const dupsort = (flags & MDB_DUPSORT) !== 0;
    const dupfixed = dupsort && (flags & MDB_DUPFIXED) !== 0;
    const walker = new TreeWalker(ctx, {
      depth: tree.depth,
      compare: keyCompare(flags),
      rules: { allowSubData: isMain && !dupsort, dupsort, allowEmptyKey: false, leaf2Size: 0 },
      name: isMain ? 'the main tree' : `the named database '${database}'`,
    });
    for (const leaf of walker.leaves(tree.entries)) {
      const b = leaf.buf;
      const leafPgno = walker.leafPgno;
      for (let i = 0; i < leaf.n; i++) {
        const key = leaf.keys[i] as Uint8Array;
        const f = leaf.flags[i] as number;
        const d = leaf.dataOff[i] as number;
        const dsize = leaf.dsize[i] as number;
        if (f === 0) {
          records.push({ kind: 'kv', index: index++, key, value: view(b, d, dsize), database });
          bytes += dsize;
        } else if (f === F_BIGDATA) {
          const value = readOverflow(ctx, b, d, dsize, key, leafPgno);
          if (value === undefined) continue;
          records.push({ kind: 'kv', index: index++, key, value, database });
          bytes += dsize;
        } else if (f === F_SUBDATA) {
          const name = subDbName(key, ctx.version);
          ctx.subDbNames.add(name);
          if (planned === null || !planned.has(toHex(key) as string)) {
            uncounted++;
            unread.push(name);
          }
          continue;
        } else if (f === F_DUPDATA) {
          const bad = parseSubPage(ctx.layout, b, d, dsize, dupfixed, items);
          if (bad !== undefined) {
            sink.push(duplicatesDamage(ctx.display, leafPgno, key, `are corrupt (${bad}); they were skipped`));
            continue;
          }
          const cmp = dupCompare(flags);
          for (let j = 0; j < items.length; j++) {
            const item = items[j] as Uint8Array;
            if (j > 0 && cmp(items[j - 1] as Uint8Array, item) >= 0) {
              sink.push(duplicatesDamage(ctx.display, leafPgno, key, 'are not in default LMDB order; they were still read'));
              break;
            }
          }
          for (const item of items) {
            records.push({ kind: 'kv', index: index++, key, value: item, database });
            bytes += item.length;
          }
        } else {
          // F_DUPDATA | F_SUBDATA: the key's items are the keys of a nested tree (§10.3).
          const sub = readDb(b, d);
          const where = `LMDB leaf page ${leafPgno}: the duplicates sub-database of key ${showKey(key)}`;
          const problem = checkDupDb(sub, ctx.lastPg, dupfixed);
          if (problem !== undefined) {
            sink.push({ kind: 'corrupt_file', file: ctx.display, page: leafPgno, key: formatKey(key), message: `${where} is corrupt: ${problem}; its items were skipped.` });
            continue;
          }
          const subWalker = new TreeWalker(ctx, {
            depth: sub.depth,
            compare: dupCompare(flags),
            rules: { allowSubData: false, dupsort: false, allowEmptyKey: true, leaf2Size: dupfixed ? sub.pad : 0 },
            name: `the duplicates of key ${showKey(key)}${isMain ? '' : ` in the named database '${database}'`}`,
          });
          for (const sl of subWalker.leaves([{ pgno: sub.root, level: 1, lo: null, hi: null, parent: leafPgno }])) {
            subLeaf = sl.buf;
            for (let j = 0; j < sl.n; j++) {
              const item = sl.keys[j] as Uint8Array;
              records.push({ kind: 'kv', index: index++, key, value: item, database });
              bytes += item.length;
              if (records.length >= BATCH_RECORDS || ctx.file.wantsYield) {
                yield cut();
                resumed(b);
              }
            }
          }
          subLeaf = null;
        }
        if (records.length >= BATCH_RECORDS || bytes >= BATCH_BYTES || ctx.file.wantsYield) {
          yield cut();
          resumed(b);
        }
      }
    }
    // Values lost past the end of a truncated file are reported per tree (their keys are this tree's).
    flushLostValues(ctx);
  }
  if (records.length > 0 || sink.length > 0 || uncounted > 0 || unread.length > 0) yield cut();
}

/** A duplicates sub-database's `MDB_db` (§10.3) must describe a non-empty tree inside the database. */
function checkDupDb(db: DbRecord, lastPg: number, dupfixed: boolean): string | undefined {
  if (!(db.root >= 2 && db.root <= lastPg)) return `its root page ${db.root === -1 ? 'P_INVALID' : db.root} is outside pages 2..${lastPg}`;
  if (db.depth < 1 || db.depth > MAX_DEPTH) return `its depth ${db.depth} is outside 1..${MAX_DEPTH}`;
  if (dupfixed && (db.pad === 0 || db.pad > 0xffff)) return `its fixed item size ${db.pad} is invalid`;
  return undefined;
}

/** Damage in the duplicates (DUPSORT values) of one key on a leaf page. */
function duplicatesDamage(file: string, page: number, key: Uint8Array, what: string): Damage {
  return {
    kind: 'corrupt_file', file, page, key: formatKey(key),
    message: `LMDB leaf page ${page}: the duplicates of key ${showKey(key)} ${what}.`,
  };
}
