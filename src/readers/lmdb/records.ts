/**
 * Turns the main tree's leaves into record batches (LMDB.md §14.4, §14.5): inline values, overflow values,
 * DUPSORT duplicates (sub-pages and sub-databases, each item a record with the same key) and named
 * sub-databases, which are listed but not yielded and not scanned inside (this version reads the main DB only).
 */
import type { KvRecord, RecordBatch } from '../types.js';
import {
  F_BIGDATA,
  F_DUPDATA,
  F_SUBDATA,
  MAX_DEPTH,
  MDB_DUPFIXED,
  MDB_DUPSORT,
} from './constants.js';
import { formatKey } from '../../checks/keys.js';
import { dupCompare, keyCompare, showKey } from './keys.js';
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

/** Reads the subtrees `entries` of the main tree described by `db`, in key order. */
export function* readMain(ctx: ReadContext, db: DbRecord, entries: readonly WalkEntry[]): Generator<RecordBatch, void, void> {
  const dupsort = (db.flags & MDB_DUPSORT) !== 0;
  const dupfixed = dupsort && (db.flags & MDB_DUPFIXED) !== 0;
  const walker = new TreeWalker(ctx, {
    depth: db.depth,
    compare: keyCompare(db.flags),
    rules: { allowSubData: !dupsort, dupsort, allowEmptyKey: false, leaf2Size: 0 },
    name: 'the main tree',
  });
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
  const cut = (): RecordBatch => {
    const batch: RecordBatch = sink.length > 0 ? { records, damage: sink.splice(0) } : { records };
    if (uncounted > 0) batch.uncounted = uncounted;
    records = [];
    bytes = 0;
    uncounted = 0;
    return batch;
  };

  for (const leaf of walker.leaves(entries)) {
    const b = leaf.buf;
    const leafPgno = walker.leafPgno;
    for (let i = 0; i < leaf.n; i++) {
      const key = leaf.keys[i] as Uint8Array;
      const f = leaf.flags[i] as number;
      const d = leaf.dataOff[i] as number;
      const dsize = leaf.dsize[i] as number;
      if (f === 0) {
        records.push({ kind: 'kv', index: index++, key, value: view(b, d, dsize) });
        bytes += dsize;
      } else if (f === F_BIGDATA) {
        const value = readOverflow(ctx, b, d, dsize, key, leafPgno);
        if (value === undefined) continue;
        records.push({ kind: 'kv', index: index++, key, value });
        bytes += dsize;
      } else if (f === F_SUBDATA) {
        ctx.subDbNames.add(subDbName(key, ctx.version));
        uncounted++;
        continue;
      } else if (f === F_DUPDATA) {
        const bad = parseSubPage(ctx.layout, b, d, dsize, dupfixed, items);
        if (bad !== undefined) {
          sink.push({
            kind: 'corrupt_file',
            severity: 'error',
            file: ctx.display,
            page: leafPgno,
            key: formatKey(key),
            message: `LMDB leaf page ${leafPgno}: the duplicates of key ${showKey(key)} are corrupt (${bad}); they were skipped.`,
          });
          continue;
        }
        const cmp = dupCompare(db.flags);
        for (let j = 0; j < items.length; j++) {
          const item = items[j] as Uint8Array;
          if (j > 0 && cmp(items[j - 1] as Uint8Array, item) >= 0) {
            sink.push({
              kind: 'corrupt_file',
              severity: 'error',
              file: ctx.display,
              page: leafPgno,
              key: formatKey(key),
              message: `LMDB leaf page ${leafPgno}: the duplicates of key ${showKey(key)} are not in default LMDB order; they were still read.`,
            });
            break;
          }
        }
        for (const item of items) {
          records.push({ kind: 'kv', index: index++, key, value: item });
          bytes += item.length;
        }
      } else {
        // F_DUPDATA | F_SUBDATA: the key's items are the keys of a nested tree (§10.3).
        const sub = readDb(b, d);
        const where = `LMDB leaf page ${leafPgno}: the duplicates sub-database of key ${showKey(key)}`;
        const problem = checkDupDb(sub, ctx.lastPg, dupfixed);
        if (problem !== undefined) {
          sink.push({ kind: 'corrupt_file', severity: 'error', file: ctx.display, page: leafPgno, key: formatKey(key), message: `${where} is corrupt: ${problem}; its items were skipped.` });
          continue;
        }
        const subWalker = new TreeWalker(ctx, {
          depth: sub.depth,
          compare: dupCompare(db.flags),
          rules: { allowSubData: false, dupsort: false, allowEmptyKey: true, leaf2Size: dupfixed ? sub.pad : 0 },
          name: `the duplicates of key ${showKey(key)}`,
        });
        for (const sl of subWalker.leaves([{ pgno: sub.root, level: 1, lo: null, hi: null, parent: leafPgno }])) {
          subLeaf = sl.buf;
          for (let j = 0; j < sl.n; j++) {
            const item = sl.keys[j] as Uint8Array;
            records.push({ kind: 'kv', index: index++, key, value: item });
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
  flushLostValues(ctx);
  if (records.length > 0 || sink.length > 0 || uncounted > 0) yield cut();
}

/** A duplicates sub-database's `MDB_db` (§10.3) must describe a non-empty tree inside the database. */
function checkDupDb(db: DbRecord, lastPg: number, dupfixed: boolean): string | undefined {
  if (!(db.root >= 2 && db.root <= lastPg)) return `its root page ${db.root === -1 ? 'P_INVALID' : db.root} is outside pages 2..${lastPg}`;
  if (db.depth < 1 || db.depth > MAX_DEPTH) return `its depth ${db.depth} is outside 1..${MAX_DEPTH}`;
  if (dupfixed && (db.pad === 0 || db.pad > 0xffff)) return `its fixed item size ${db.pad} is invalid`;
  return undefined;
}
