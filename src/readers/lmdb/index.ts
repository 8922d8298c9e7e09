/**
 * Read-only, validating LMDB reader in pure TypeScript (format: liblmdb's mdb.c; liblmdb itself crashes with SIGBUS/SIGSEGV on damaged files).
 * It reads the data file (`data.mdb`, or a single-file environment) with positional reads only: no mmap, no lock file, no writes, so a damaged file yields
 * findings instead of the SIGBUS/SIGSEGV the native library gives.
 *
 * Scope: 64-bit little-endian files in data format 1 (LMDB 0.9: py-lmdb, Caffe, mdb tools) and data format 2
 * (npm `lmdb` 3.x) without encryption or checksums, in the directory layout (`data.mdb`) or as a single file
 * (`MDB_NOSUBDIR`). The main DB and every named database are read, main DB first, then the named DBs in key
 * order; DUPSORT DBs yield one record per item.
 */
import { invalidPartition, ScanError } from '../../errors.js';
import type { Damage } from '../../records.js';
import type { OpenPurpose, Partition, Reader, ReaderModule, RecordBatch, Source, SourceInfo } from '../types.js';
import { F_SUBDATA, MAX_DEPTH, MDB_DUPFIXED, MDB_DUPSORT, MDB_INTEGERDUP, MDB_REVERSEDUP } from './constants.js';
import { openEnv, type Env } from './env.js';
import type { PageFile } from './file.js';
import { fromHex, keyCompare, toHex } from './keys.js';
import { readDb, type DbRecord } from './meta.js';
import { copyBytes } from './page.js';
import { planPartitions, type LmdbPartitionSpec, type LmdbTreeSpec, type PlanTree } from './plan.js';
import { readTrees, subDbName, type ReadContext, type TreeToRead } from './records.js';
import { Bitmap, TreeWalker, type WalkEntry } from './walk.js';

export type { LmdbPartitionSpec, LmdbTreeSpec } from './plan.js';
export { isLmdbDir, isLmdbFile } from './sniff.js';

/** The reader object; `subDatabases` is an addition to `Reader`. */
export interface LmdbReader extends Reader {
  /**
   * Names of the named databases (main-tree records with `F_SUBDATA`), in key order. Filled at open when the
   * main tree is small enough to list (at most `NAMES_WALK_MAX_PAGES` pages, always the case when it holds only
   * named DBs), and extended by `read()` as they are met.
   */
  readonly subDatabases: string[];
}

/**
 * Main trees up to this many pages are walked at open to list named databases, whose trees are then planned and
 * read. A bigger main tree (records and named DBs side by side, rare) is not walked twice: the named DBs a read
 * meets in it are reported as unchecked (`named_database`). 1024 pages = 4 MiB of leaves at 4 KiB pages, walked
 * in the main thread at about the speed of a read of those records (overflow values are not read): tens of
 * milliseconds, paid only by databases that small.
 */
export const NAMES_WALK_MAX_PAGES = 1024;

/** A named database found at open: its name, its key in the main tree, its `MDB_db` record. */
interface NamedDb {
  name: string;
  key: Uint8Array;
  db: DbRecord;
}

class Lmdb implements LmdbReader {
  readonly subDatabases: string[] = [];
  private readonly names = new Set<string>();
  /** Readable named DBs, in key order; null when the main tree was not listed. */
  private named: NamedDb[] | null = null;
  /** Hex keys of every named DB listed at open (readable or not). */
  private namedKeys: string[] = [];
  /** Named DBs whose `MDB_db` record is damaged: findings, and the names that were not read. */
  private readonly namedFindings: Damage[] = [];
  private readonly unreadable: string[] = [];
  /** Records the damaged named DBs' records still declare, when plausible (so the count comparison sees them lost). */
  private unreadableEntries = 0;
  private closed = false;

  constructor(
    private readonly env: Env,
    purpose: OpenPurpose,
  ) {
    // A worker reads what the plan tells it: the named DBs come in its partition specs.
    if (purpose === 'plan') this.listNamed();
  }

  info(): SourceInfo {
    const e = this.env;
    const info: SourceInfo = { bytes: e.file.size, declaredRecords: this.declared(), findings: [...e.findings, ...this.namedFindings] };
    if (this.unreadable.length > 0) info.unchecked = [{ reason: 'named_database', count: this.unreadable.length, examples: [...this.unreadable] }];
    return info;
  }

  /**
   * Records the file declares: md_entries of the main DB (which counts each named DB's entry) and, when the named
   * DBs were listed, minus those entries plus each readable named DB's own md_entries.
   */
  private declared(): number {
    const main = this.env.meta.main.entries;
    if (this.named === null) return main;
    return this.named.reduce((n, d) => n + d.db.entries, main - this.namedKeys.length + this.unreadableEntries);
  }

  plan(maxPartitions: number): Partition[] {
    this.assertOpen();
    const main = this.env.meta.main;
    const trees: PlanTree[] = [{ key: null, db: main, records: Math.max(1, main.entries - this.namedKeys.length) }];
    for (const d of this.named ?? []) trees.push({ key: d.key, db: d.db, records: Math.max(1, d.db.entries) });
    return planPartitions(this.env, trees, this.named === null ? null : this.namedKeys, maxPartitions);
  }

  *read(partition: Partition): Generator<RecordBatch, void, void> {
    this.assertOpen();
    const env = this.env;
    const spec = parseSpec(partition.spec);
    const { meta } = env;
    if (spec.meta !== meta.page || spec.txnid !== meta.txnid.toString()) {
      yield {
        records: [],
        damage: [
          {
            kind: 'corrupt_file',
            file: env.display,
            message: `LMDB data file ${env.display} changed while it was being scanned (planned from meta page ${spec.meta}, transaction ${spec.txnid}; now meta page ${meta.page}, transaction ${meta.txnid}); partition ${partition.index} was not read.`,
          },
        ],
      };
      return;
    }
    const ctx = this.context(env.file.fork());
    for (const p of spec.above) if (p < ctx.visited.size) ctx.visited.mark(p);
    const trees: TreeToRead[] = spec.trees.map((t) => {
      const entries: WalkEntry[] = t.pages.map((pgno, i) => {
        const e: WalkEntry = { pgno, level: t.levels[i] as number, lo: fromHex(t.bounds[i]), hi: fromHex(t.bounds[i + 1]), parent: t.parents[i] as number };
        const slice = t.children[i];
        if (slice !== null && slice !== undefined) e.children = slice;
        return e;
      });
      const tree: TreeToRead = { flags: t.flags, depth: t.depth, entries };
      if (t.db !== null) tree.database = subDbName(fromHex(t.db) as Uint8Array, ctx.version);
      return tree;
    });
    try {
      yield* readTrees(ctx, trees, spec.named === null ? null : new Set(spec.named));
    } finally {
      // Done or abandoned: the consumer holds no view any more.
      ctx.file.release();
      this.addNames(ctx.subDbNames);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.env.file.close();
  }

  private context(file: PageFile): ReadContext {
    const { layout, meta, display } = this.env;
    const visited = new Bitmap(Math.min(file.pages, meta.lastPg + 1));
    visited.mark(0);
    if (visited.size > 1) visited.mark(1);
    return { file, layout, lastPg: meta.lastPg, display, visited, sink: [], version: layout.version, subDbNames: new Set() };
  }

  /**
   * Lists the named databases of a small main tree with their `MDB_db` records (they can only exist when it is
   * not DUPSORT, §9). Damage met in the main tree is reported by read(); a damaged `MDB_db` is reported here.
   */
  private listNamed(): void {
    const { meta, display } = this.env;
    const db = meta.main;
    if (db.root < 0 || (db.flags & MDB_DUPSORT) !== 0) {
      this.named = [];
      return;
    }
    if (db.branchPages + db.leafPages > NAMES_WALK_MAX_PAGES) return;
    const ctx = this.context(this.env.file);
    const walker = new TreeWalker(ctx, {
      depth: db.depth,
      compare: keyCompare(db.flags),
      rules: { allowSubData: true, dupsort: false, allowEmptyKey: false, leaf2Size: 0 },
      name: 'the main tree',
    });
    const named: NamedDb[] = [];
    try {
      for (const leaf of walker.leaves([{ pgno: db.root, level: 1, lo: null, hi: null, parent: -1 }])) {
        for (let i = 0; i < leaf.n; i++) {
          if (leaf.flags[i] !== F_SUBDATA) continue;
          const key = copyBytes(leaf.keys[i] as Uint8Array);
          const name = subDbName(key, ctx.version);
          ctx.subDbNames.add(name);
          this.namedKeys.push(toHex(key) as string);
          const sub = readDb(leaf.buf, leaf.dataOff[i] as number);
          const problem = checkNamedDb(sub, meta.lastPg);
          if (problem === undefined) {
            named.push({ name, key, db: sub });
            continue;
          }
          this.unreadable.push(name);
          // Every record needs a few bytes of some page: a count beyond that is as damaged as the rest.
          if (Number.isFinite(sub.entries) && sub.entries <= ((meta.lastPg + 1) * meta.psize) / 8) this.unreadableEntries += sub.entries;
          this.namedFindings.push({
            kind: 'corrupt_file',
            file: display,
            page: walker.leafPgno,
            database: name,
            message: `LMDB leaf page ${walker.leafPgno}: the record of the named database '${name}' is corrupt (${problem}); its records were not read.`,
          });
        }
      }
    } finally {
      this.env.file.release();
    }
    this.named = named;
    this.addNames(ctx.subDbNames);
  }

  private addNames(names: Set<string>): void {
    for (const n of names) {
      if (!this.names.has(n)) {
        this.names.add(n);
        this.subDatabases.push(n);
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new ScanError('SCAN_ABORTED', `LMDB reader for ${this.env.display} is closed`);
  }
}

/** A named database's `MDB_db` (§9) must describe an empty tree or a tree inside the database (M7–M11). */
function checkNamedDb(db: DbRecord, lastPg: number): string | undefined {
  if ((db.flags & (MDB_DUPFIXED | MDB_INTEGERDUP | MDB_REVERSEDUP)) !== 0 && (db.flags & MDB_DUPSORT) === 0) {
    return `its flags 0x${db.flags.toString(16)} set duplicate options without DUPSORT`;
  }
  if (db.root === -1) {
    if (db.depth !== 0 || db.entries !== 0) return `it is empty (root P_INVALID) but has depth ${db.depth} and ${db.entries} entries`;
    return undefined;
  }
  if (!(db.root >= 2 && db.root <= lastPg)) return `its root page ${db.root} is outside pages 2..${lastPg}`;
  if (db.depth < 1 || db.depth > MAX_DEPTH) return `its depth ${db.depth} is outside 1..${MAX_DEPTH}`;
  if (!Number.isFinite(db.entries)) return 'its entry count is absurd';
  if (!(db.branchPages + db.leafPages + db.overflowPages <= lastPg - 1)) {
    return `it claims more pages than the file has (${db.branchPages}+${db.leafPages}+${db.overflowPages} > ${lastPg - 1})`;
  }
  return undefined;
}

/** Validates a partition spec coming back from a worker message. */
function parseSpec(spec: unknown): LmdbPartitionSpec {
  const s = spec as Partial<LmdbPartitionSpec> | null;
  const okNums = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => Number.isSafeInteger(x) && x >= 0);
  const hex = (b: unknown): b is string => typeof b === 'string' && /^(?:[0-9a-f]{2})*$/.test(b);
  const okTree = (t: Partial<LmdbTreeSpec> | null): boolean =>
    t !== null &&
    typeof t === 'object' &&
    (t.db === null || hex(t.db)) &&
    Number.isSafeInteger(t.flags) &&
    Number.isSafeInteger(t.depth) &&
    okNums(t.pages) &&
    okNums(t.levels) &&
    Array.isArray(t.parents) &&
    t.parents.every((x) => Number.isSafeInteger(x) && x >= -1) &&
    t.levels.length === t.pages.length &&
    t.parents.length === t.pages.length &&
    Array.isArray(t.bounds) &&
    t.bounds.length === t.pages.length + 1 &&
    t.bounds.every((b) => b === null || hex(b)) &&
    Array.isArray(t.children) &&
    t.children.length === t.pages.length &&
    t.children.every((c) => c === null || (okNums(c) && c.length === 2 && (c[0] as number) < (c[1] as number)));
  if (
    s === null ||
    typeof s !== 'object' ||
    s.v !== 3 ||
    typeof s.meta !== 'number' ||
    typeof s.txnid !== 'string' ||
    !okNums(s.above) ||
    !Array.isArray(s.trees) ||
    !s.trees.every((t) => okTree(t as Partial<LmdbTreeSpec> | null)) ||
    !(s.named === null || (Array.isArray(s.named) && s.named.every(hex)))
  ) {
    throw invalidPartition('LMDB', 'not made by this reader\'s plan()');
  }
  return s as LmdbPartitionSpec;
}

export const lmdbReader: ReaderModule = {
  format: 'lmdb',
  async open(source: Source, purpose: OpenPurpose = 'plan'): Promise<LmdbReader> {
    const env = openEnv(source);
    try {
      return new Lmdb(env, purpose);
    } catch (err) {
      env.file.close();
      throw err;
    }
  },
};
