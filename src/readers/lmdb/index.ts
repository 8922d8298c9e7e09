/**
 * Read-only, validating LMDB reader in pure TypeScript (format: LMDB.md; behaviour on damage: MEASURED.md §4).
 * It reads data.mdb with positional reads only: no mmap, no lock file, no writes, so a damaged file yields
 * findings instead of the SIGBUS/SIGSEGV the native library gives.
 *
 * Scope: the main DB of 64-bit little-endian files in data format 1 (LMDB 0.9: py-lmdb, Caffe, mdb tools) and
 * data format 2 (npm `lmdb` 3.x) without encryption or checksums. Named sub-databases are listed in
 * `subDatabases` but not scanned inside in this version; DUPSORT main DBs yield one record per item.
 */
import fs from 'node:fs';
import { OPEN_FLAGS } from '../files.js';
import path from 'node:path';
import { ScanError } from '../../errors.js';
import type { Partition, Reader, ReaderModule, RecordBatch, Source, SourceInfo } from '../types.js';
import { F_SUBDATA, MDB_DUPSORT } from './constants.js';
import { openEnv, type Env } from './env.js';
import type { PageFile } from './file.js';
import { fromHex, keyCompare } from './keys.js';
import { findPage1, HEAD_BYTES, sniffVariant } from './meta.js';
import { planPartitions, type LmdbPartitionSpec } from './plan.js';
import { readMain, subDbName, type ReadContext } from './records.js';
import { Bitmap, TreeWalker, type WalkEntry } from './walk.js';

export type { LmdbPartitionSpec } from './plan.js';
export { isLmdbDir, isLmdbFile } from './sniff.js';

/** The reader object; `subDatabases` is an addition to `Reader`. */
export interface LmdbReader extends Reader {
  /**
   * Names of named sub-databases (main-tree records with `F_SUBDATA`), which are not yielded as records. Filled
   * at open when the main tree is small (at most `NAMES_WALK_MAX_PAGES` pages, always the case when it holds
   * only named DBs), and extended by `read()` as they are met.
   */
  readonly subDatabases: string[];
}

/** Main trees up to this many pages are walked at open to list named sub-databases. */
export const NAMES_WALK_MAX_PAGES = 64;

class Lmdb implements LmdbReader {
  readonly subDatabases: string[] = [];
  private readonly names = new Set<string>();
  private closed = false;

  constructor(private readonly env: Env) {
    this.listNames();
  }

  info(): SourceInfo {
    const e = this.env;
    return { bytes: e.file.size, declaredRecords: e.meta.main.entries, findings: [...e.findings] };
  }

  plan(maxPartitions: number): Partition[] {
    this.assertOpen();
    return planPartitions(this.env, maxPartitions);
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
            severity: 'error',
            file: env.display,
            message: `LMDB data file ${env.display} changed while it was being scanned (planned from meta page ${spec.meta}, transaction ${spec.txnid}; now meta page ${meta.page}, transaction ${meta.txnid}); partition ${partition.index} was not read.`,
          },
        ],
      };
      return;
    }
    const ctx = this.context(env.file.fork());
    for (const p of spec.above) if (p < ctx.visited.size) ctx.visited.mark(p);
    const entries: WalkEntry[] = spec.pages.map((pgno, i) => ({
      pgno,
      level: spec.levels[i] as number,
      lo: fromHex(spec.bounds[i]),
      hi: fromHex(spec.bounds[i + 1]),
      parent: spec.parents[i] as number,
    }));
    try {
      yield* readMain(ctx, meta.main, entries);
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

  /** Lists named sub-databases of a small main tree (they can only exist when it is not DUPSORT, §9). */
  private listNames(): void {
    const { meta } = this.env;
    const db = meta.main;
    if (db.root < 0 || (db.flags & MDB_DUPSORT) !== 0) return;
    if (db.branchPages + db.leafPages > NAMES_WALK_MAX_PAGES) return;
    const ctx = this.context(this.env.file);
    const walker = new TreeWalker(ctx, {
      depth: db.depth,
      compare: keyCompare(db.flags),
      rules: { allowSubData: true, dupsort: false, allowEmptyKey: false, leaf2Size: 0 },
      name: 'the main tree',
    });
    // Damage met here is reported by read(); this walk only collects names.
    for (const leaf of walker.leaves([{ pgno: db.root, level: 1, lo: null, hi: null, parent: -1 }])) {
      for (let i = 0; i < leaf.n; i++) {
        if (leaf.flags[i] === F_SUBDATA) ctx.subDbNames.add(subDbName(leaf.keys[i] as Uint8Array, ctx.version));
      }
    }
    this.addNames(ctx.subDbNames);
    this.env.file.release();
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

/** Validates a partition spec coming back from a worker message. */
function parseSpec(spec: unknown): LmdbPartitionSpec {
  const s = spec as Partial<LmdbPartitionSpec> | null;
  const okNums = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => Number.isSafeInteger(x) && x >= 0);
  if (
    s === null ||
    typeof s !== 'object' ||
    s.v !== 1 ||
    typeof s.meta !== 'number' ||
    typeof s.txnid !== 'string' ||
    !okNums(s.pages) ||
    !okNums(s.levels) ||
    !okNums(s.above) ||
    !Array.isArray(s.parents) ||
    !s.parents.every((x) => Number.isSafeInteger(x) && x >= -1) ||
    s.levels.length !== s.pages.length ||
    s.parents.length !== s.pages.length ||
    !Array.isArray(s.bounds) ||
    s.bounds.length !== s.pages.length + 1 ||
    !s.bounds.every((b) => b === null || (typeof b === 'string' && /^(?:[0-9a-f]{2})*$/.test(b)))
  ) {
    throw new ScanError('SCAN_INVALID_OPTION', 'Invalid LMDB partition spec (not made by this reader\'s plan()).');
  }
  return s as LmdbPartitionSpec;
}

export const lmdbReader: ReaderModule = {
  format: 'lmdb',
  async open(source: Source): Promise<LmdbReader> {
    const env = openEnv(source);
    try {
      return new Lmdb(env);
    } catch (err) {
      env.file.close();
      throw err;
    }
  },
};
