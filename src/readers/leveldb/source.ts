/**
 * Sorted entry streams for the merge (LEVELDB.md §10): the replayed logs (one entry per user key), one stream per
 * level-0 table, and one per deeper level (its tables are disjoint, so they are concatenated, as
 * `Version::NewConcatenatingIterator`). Streams are limited to the partition's user-key range [lo, hi): a table is
 * entered at the first data block whose index key reaches lo and left at the first one whose index key reaches
 * hi. Damage met in a block is reported only by the partition that "owns" the block (the one holding the block's
 * lower bound), so each problem is reported once however the key space is split.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Damage } from '../../records.js';
import { BlockIter, readBlock, Scratch } from './block.js';
import { compareBytes, compareKeys, showRange } from './keys.js';
import type { TableRef } from './layout.js';
import { TAG_SIZE, userKeyOf } from './manifest.js';
import type { MemEntry } from './memtable.js';
import { FOOTER_SIZE, openTable, type OpenTable } from './table.js';
import { fixed32, isIoError } from './varint.js';

/** §3 `enum ValueType`. */
const TYPE_DELETION = 0;
const TYPE_VALUE = 1;
/** §3: sequence = tag >> 8, built from the tag's two fixed32 halves (§14). */
const HI_HALF_TO_SEQ = 0x1000000;
const SEQ_SHIFT = 8;

export interface ReadContext {
  dir: string;
  display: (name: string) => string;
  /** Partition range of user keys, [lo, hi); null = unbounded. */
  lo: Uint8Array | null;
  hi: Uint8Array | null;
  /** Entries above it are invisible (§7.4, §10 step 3). */
  lastSequence: number;
  report: (f: Damage) => void;
}

/** The current entry of a stream; the key buffer is reused, the value bytes stay valid. */
export interface Source {
  readonly order: number;
  key: Uint8Array;
  keyLength: number;
  seq: number;
  deleted: boolean;
  data: Uint8Array;
  valueOffset: number;
  valueLength: number;
  next(): boolean;
  close(): void;
}

export function inRange(key: Uint8Array | null, lo: Uint8Array | null, hi: Uint8Array | null): boolean {
  if (key === null) return lo === null;
  return (lo === null || compareBytes(key, lo) >= 0) && (hi === null || compareBytes(key, hi) < 0);
}

export class MemSource implements Source {
  key: Uint8Array = new Uint8Array(0);
  keyLength = 0;
  seq = 0;
  deleted = false;
  data: Uint8Array = new Uint8Array(0);
  valueOffset = 0;
  valueLength = 0;
  private i: number;

  constructor(
    readonly order: number,
    private readonly entries: readonly MemEntry[],
    from: number,
    private readonly to: number,
  ) {
    this.i = from;
  }

  next(): boolean {
    if (this.i >= this.to) return false;
    const e = this.entries[this.i++]!;
    this.key = e.batch.subarray(e.keyOffset, e.keyOffset + e.keyLength);
    this.keyLength = e.keyLength;
    this.seq = e.seq;
    this.deleted = e.deleted;
    this.data = e.batch;
    this.valueOffset = e.valueOffset;
    this.valueLength = e.valueLength;
    return true;
  }

  close(): void {}
}

/** Tables read one after another (one level-0 table, or the tables of one deeper level in key order). */
export class TablesSource implements Source {
  key: Uint8Array = new Uint8Array(0);
  keyLength = 0;
  seq = 0;
  deleted = false;
  data: Uint8Array = new Uint8Array(0);
  valueOffset = 0;
  valueLength = 0;
  private ti = -1;
  private ref: TableRef | null = null;
  private table: OpenTable | null = null;
  private block = 0;
  private blockEnd = 0;
  private iter: BlockIter | null = null;
  private badKeys = 0;
  private hidden = 0;
  private readonly scratch = new Scratch();

  constructor(
    readonly order: number,
    private readonly ctx: ReadContext,
    private readonly tables: readonly TableRef[],
  ) {}

  next(): boolean {
    const { lo, hi, lastSequence } = this.ctx;
    for (;;) {
      const it = this.iter;
      if (it !== null) {
        while (it.next()) {
          const k = it.key;
          const kl = it.keyLength - TAG_SIZE;
          // §10 step 5 / T9: an internal key must hold a tag with type 0 or 1; LevelDB skips others.
          if (kl < 0 || k[kl]! > TYPE_VALUE) {
            this.badKeys++;
            continue;
          }
          if (lo !== null && compareKeys(k, kl, lo, lo.length) < 0) continue;
          if (hi !== null && compareKeys(k, kl, hi, hi.length) >= 0) {
            // Everything after this entry in the table is ≥ hi too.
            this.endBlock();
            this.block = this.blockEnd;
            break;
          }
          const seq = fixed32(k, kl + 4) * HI_HALF_TO_SEQ + (fixed32(k, kl) >>> SEQ_SHIFT);
          if (seq > lastSequence) {
            this.hidden++;
            continue;
          }
          this.keyLength = kl;
          this.key = k;
          this.seq = seq;
          this.deleted = k[kl] === TYPE_DELETION;
          this.data = it.data;
          this.valueOffset = it.valueOffset;
          this.valueLength = it.valueLength;
          return true;
        }
        if (this.iter !== null) this.endBlock();
        continue;
      }
      if (this.table !== null && this.block < this.blockEnd) {
        this.loadBlock();
        continue;
      }
      if (!this.nextTable()) return false;
    }
  }

  close(): void {
    this.closeTable();
    this.ti = this.tables.length;
  }

  /** Lower bound of block i's user keys: the previous separator, or the table's smallest key. */
  private blockLow(i: number): Uint8Array | null {
    return i === 0 ? this.ref!.smallest : userKeyOf(this.table!.index[i - 1]!.key);
  }

  private loadBlock(): void {
    const t = this.table!;
    const i = this.block++;
    const e = t.index[i]!;
    let r: ReturnType<typeof readBlock>;
    try {
      r = readBlock(t.fd, e.offset, e.size, t.size - FOOTER_SIZE, this.scratch);
    } catch (err) {
      // An I/O error (EIO, a file cut short under us) loses this block, not the scan.
      if (!isIoError(err)) throw err;
      r = { error: `read failed: ${(err as Error).message}` };
    }
    if ('error' in r) {
      const low = this.blockLow(i);
      if (inRange(low, this.ctx.lo, this.ctx.hi)) {
        this.problem('lost', e.offset,
          `table ${this.ref!.name}: data block ${i} at offset ${e.offset} (${e.size} bytes, keys ${showRange(low, userKeyOf(e.key))}): ${r.error}; ` +
          'its records are lost (how many is unknown) and older values of those keys may show instead');
      }
      return;
    }
    this.iter = new BlockIter(r.data);
  }

  /** Report what the finished block left behind (owned blocks only), then drop it. */
  private endBlock(): void {
    const it = this.iter!;
    this.iter = null;
    const i = this.block - 1;
    const bad = this.badKeys;
    this.badKeys = 0;
    if (it.error === undefined && it.warning === undefined && bad === 0) return;
    const low = this.blockLow(i);
    if (!inRange(low, this.ctx.lo, this.ctx.hi)) return;
    const e = this.table!.index[i]!;
    const where = `table ${this.ref!.name}: data block ${i} at offset ${e.offset} (keys ${showRange(low, userKeyOf(e.key))})`;
    if (it.error !== undefined) {
      this.problem('lost', e.offset, `${where}: ${it.error}; the entries after offset ${it.entryOffset} in the block are lost (how many is unknown)`);
    }
    if (bad > 0) this.problem('lost', e.offset, `${where}: ${bad} entries with a corrupt internal key skipped, as LevelDB skips them`, bad);
    if (it.warning !== undefined) this.problem('minor', e.offset, `${where}: ${it.warning}`);
  }

  private nextTable(): boolean {
    this.closeTable();
    const { lo, hi } = this.ctx;
    if (++this.ti >= this.tables.length) return false;
    const ref = this.tables[this.ti]!;
    this.ref = ref;
    const owned = inRange(ref.smallest, lo, hi);
    const r = openTable(path.join(this.ctx.dir, ref.name), ref.size);
    if ('error' in r) {
      if (owned) {
        this.problem(r.io ? 'io_error' : 'lost', r.offset,
          `table ${ref.name} (level ${ref.level}, keys ${showRange(ref.smallest, ref.largest)}): ${r.error}; ` +
          'its records cannot be read and older values of those keys may show instead');
      }
      return true;
    }
    this.table = r.table;
    if (owned) for (const w of r.table.warnings) this.problem('minor', undefined, `table ${ref.name}: ${w}`);
    const index = r.table.index;
    // First block whose separator's user key reaches lo; last block is the first whose separator reaches hi.
    this.block = lo === null ? 0 : lowerBound(index, lo);
    this.blockEnd = hi === null ? index.length : Math.min(index.length, lowerBound(index, hi) + 1);
    return true;
  }

  private closeTable(): void {
    if (this.hidden > 0 && this.ref !== null) {
      this.problem('minor', undefined,
        `table ${this.ref.name}: ${this.hidden} entries have sequence numbers above the database's last sequence ` +
        `${this.ctx.lastSequence} and are hidden, as LevelDB hides them`, this.hidden);
    }
    this.hidden = 0;
    this.iter = null;
    if (this.table !== null) {
      const fd = this.table.fd;
      this.table = null;
      fs.closeSync(fd);
    }
  }

  /**
   * Damage in the current table: `lost` loses entries, `minor` loses nothing (Damage.minor), `io_error` is an error
   * that is not damage in the file.
   */
  private problem(what: 'lost' | 'minor' | 'io_error', offset: number | undefined, message: string, count?: number): void {
    const f: Damage = { kind: what === 'io_error' ? 'io_error' : 'corrupt_file', message, file: this.ctx.display(this.ref!.name) };
    if (what === 'minor') f.minor = true;
    if (offset !== undefined) f.offset = offset;
    if (count !== undefined) f.count = count;
    this.ctx.report(f);
  }
}

/** First index entry whose separator's user key is ≥ key (separators are non-decreasing, §9.7). */
function lowerBound(index: readonly { key: Uint8Array }[], key: Uint8Array): number {
  let a = 0;
  let b = index.length;
  while (a < b) {
    const m = (a + b) >>> 1;
    if (compareBytes(userKeyOf(index[m]!.key), key) < 0) a = m + 1;
    else b = m;
  }
  return a;
}
