/**
 * The LevelDB reader module (format: LevelDB's doc/table_format.md, log_format.md and version_edit.cc): read-only by construction — every file is opened with
 * `O_RDONLY | O_NONBLOCK` (files.ts OPEN_FLAGS); LOCK is never opened, nothing is created or written — so a
 * database another process holds open, or one on a read-only mount, reads the same. Every block CRC is verified.
 *
 * Partition spec (JSON; a fresh reader in another thread needs nothing else):
 *   { lo, hi }          user-key range [lo, hi) as hex, null = unbounded; partitions tile the key space in order
 *   lastSequence        MANIFEST last sequence, null = unknown (repair mode: hide nothing)
 *   logs                live logs [{ number, name }] in replay order; every partition replays them all
 *   tables              live tables overlapping the range, in merge order
 *                       [{ level, number, name, size, smallest, largest }] (keys hex user keys or null)
 * Cuts fall on data-block boundaries (index separators), balanced by block size; a database that is mostly log
 * is one partition (see `plan`). Problems found while opening (CURRENT, MANIFEST, missing or truncated tables) are
 * `info().findings`; damage in logs is reported by the first partition, damage in a table or block by the
 * partition holding its lower bound, so each problem is reported once however the key space is split.
 */
import fs from 'node:fs';
import path from 'node:path';
import { invalidPartition } from '../../errors.js';
import type { Damage } from '../../records.js';
import type { JsonValue, Partition, Reader, ReaderModule, RecordBatch, Source, SourceInfo } from '../types.js';
import { BLOCK_TRAILER_SIZE } from './block.js';
import { compareBytes, fromHex, toHex } from './keys.js';
import { isLevelDbDir, loadLayout, type Layout, type TableRef } from './layout.js';
import { NUM_LEVELS, userKeyOf } from './manifest.js';
import { lowerBoundEntry, replayLogs, type LiveLog, type Memtable } from './memtable.js';
import { mergeSources } from './merge.js';
import { chooseCuts, type WeightPoint } from './plan.js';
import { MemSource, TablesSource, type ReadContext, type Source as EntrySource } from './source.js';
import { openTable } from './table.js';

export { isLevelDbDir };

type TableSpec = {
  level: number;
  number: number;
  name: string;
  size: number;
  smallest: string | null;
  largest: string | null;
};

type PartitionSpec = {
  lo: string | null;
  hi: string | null;
  lastSequence: number | null;
  logs: { number: number; name: string }[];
  tables: TableSpec[];
};

export const leveldbReader: ReaderModule = {
  format: 'leveldb',
  async open(source: Source): Promise<Reader> {
    return new LevelDbReader(source);
  },
};

class LevelDbReader implements Reader {
  private readonly dir: string;
  private readonly display: (name: string) => string;
  private readonly layout: Layout;
  /** Replayed logs, kept for the reader's life: a worker reads several partitions of one source. */
  private memtable: { logs: string; table: Memtable } | null = null;

  constructor(source: Source) {
    this.dir = source.absPath;
    this.display = (name) => path.join(source.path, name);
    this.layout = loadLayout(this.dir, this.display);
  }

  info(): SourceInfo {
    return { bytes: this.layout.bytes, findings: [...this.layout.findings] };
  }

  /**
   * Key ranges cut at data-block boundaries of the tables, balanced by stored block size. Every partition must
   * replay every live log (a log is not ordered by key), so a database whose live logs hold at least as many bytes
   * as its tables — a Caffe database is often nothing but a log — is one partition: splitting it multiplied the
   * replay (measured: 300k Datums in 240 MB of logs, 0.6–0.8 s of replay per reader).
   */
  plan(maxPartitions: number): Partition[] {
    const n = Math.max(1, Math.floor(maxPartitions) || 1);
    const tableBytes = this.layout.tables.reduce((sum, t) => sum + t.size, 0);
    const cuts = n === 1 || this.layout.logBytes >= tableBytes ? [] : chooseCuts(this.weights(), n);
    const bounds: (Uint8Array | null)[] = [null, ...cuts, null];
    const parts: Partition[] = [];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const lo = bounds[i]!;
      const hi = bounds[i + 1]!;
      const spec: PartitionSpec = {
        lo: lo === null ? null : toHex(lo),
        hi: hi === null ? null : toHex(hi),
        lastSequence: this.layout.lastSequence,
        logs: this.layout.logs.map((l) => ({ number: l.number, name: l.name })),
        tables: this.layout.tables.filter((t) => overlaps(t, lo, hi)).map(tableSpec),
      };
      parts.push({ index: i, spec });
    }
    return parts;
  }

  *read(partition: Partition): Generator<RecordBatch> {
    const spec = parseSpec(partition.spec);
    const lo = spec.lo === null ? null : fromHex(spec.lo);
    const hi = spec.hi === null ? null : fromHex(spec.hi);
    const mt = this.replay(spec.logs);
    const damage: Damage[] = lo === null ? [...mt.findings] : [];
    const ctx: ReadContext = {
      dir: this.dir,
      display: this.display,
      lo,
      hi,
      // §7.4: the log's sequences raise the last sequence; unknown (repair mode) hides nothing.
      lastSequence: spec.lastSequence === null ? Infinity : Math.max(spec.lastSequence, mt.maxSequence),
      report: (f) => damage.push(f),
    };
    // §10 merge order: memtable, each level-0 table, then each deeper level as one concatenated stream.
    const sources: EntrySource[] = [];
    const from = lo === null ? 0 : lowerBoundEntry(mt.entries, lo);
    const to = hi === null ? mt.entries.length : lowerBoundEntry(mt.entries, hi);
    if (to > from) sources.push(new MemSource(0, mt.entries, from, to));
    const refs = spec.tables.map(tableRef);
    for (const t of refs.filter((r) => r.level === 0)) sources.push(new TablesSource(sources.length + 1, ctx, [t]));
    for (let level = 1; level < NUM_LEVELS; level++) {
      const inLevel = refs.filter((r) => r.level === level);
      if (inLevel.length > 0) sources.push(new TablesSource(sources.length + 1, ctx, inLevel));
    }
    yield* mergeSources(sources, damage);
  }

  close(): void {
    this.memtable = null;
  }

  private replay(logs: LiveLog[]): Memtable {
    const id = JSON.stringify(logs);
    if (this.memtable?.logs !== id) this.memtable = { logs: id, table: replayLogs(this.dir, logs, this.display) };
    return this.memtable.table;
  }

  /** Weight points for `chooseCuts`: each data block at its index separator, weighing its stored size. */
  private weights(): WeightPoint[] {
    const points: WeightPoint[] = [];
    for (const t of this.layout.tables) {
      const r = openTable(path.join(this.dir, t.name), t.size);
      if ('error' in r) {
        // Reported by the partition that reads it; for planning it weighs its size at its last key.
        if (t.largest !== null) points.push({ key: t.largest, weight: t.size });
        continue;
      }
      fs.closeSync(r.table.fd);
      for (const e of r.table.index) points.push({ key: userKeyOf(e.key), weight: e.size + BLOCK_TRAILER_SIZE });
    }
    return points;
  }
}

function overlaps(t: TableRef, lo: Uint8Array | null, hi: Uint8Array | null): boolean {
  if (t.smallest === null || t.largest === null) return true;
  return (hi === null || compareBytes(t.smallest, hi) < 0) && (lo === null || compareBytes(t.largest, lo) >= 0);
}

function tableSpec(t: TableRef): TableSpec {
  return {
    level: t.level, number: t.number, name: t.name, size: t.size,
    smallest: t.smallest === null ? null : toHex(t.smallest),
    largest: t.largest === null ? null : toHex(t.largest),
  };
}

function tableRef(t: TableSpec): TableRef {
  return {
    level: t.level, number: t.number, name: t.name, size: t.size,
    smallest: t.smallest === null ? null : fromHex(t.smallest),
    largest: t.largest === null ? null : fromHex(t.largest),
  };
}

const HEX = /^(?:[0-9a-f]{2})*$/;

/** The spec crossed a thread boundary: check its shape before trusting it. */
function parseSpec(v: JsonValue): PartitionSpec {
  const bad = (what: string): never => {
    throw invalidPartition('LevelDB', what);
  };
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return bad('not an object');
  const key = (x: JsonValue | undefined, name: string): string | null =>
    x === null ? null : typeof x === 'string' && HEX.test(x) ? x : bad(`${name} is not hex or null`);
  const num = (x: JsonValue | undefined, name: string): number =>
    typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? x : bad(`${name} is not a count`);
  const name = (x: JsonValue | undefined): string =>
    typeof x === 'string' && /^[\w.-]+$/.test(x) ? x : bad(`file name ${String(x)}`);
  const list = (x: JsonValue | undefined, what: string): { [k: string]: JsonValue }[] =>
    Array.isArray(x) && x.every((e) => e !== null && typeof e === 'object' && !Array.isArray(e))
      ? (x as { [k: string]: JsonValue }[])
      : bad(`${what} is not a list`);
  return {
    lo: key(v.lo, 'lo'),
    hi: key(v.hi, 'hi'),
    lastSequence: v.lastSequence === null ? null : num(v.lastSequence, 'lastSequence'),
    logs: list(v.logs, 'logs').map((l) => ({ number: num(l.number, 'log number'), name: name(l.name) })),
    tables: list(v.tables, 'tables').map((t) => ({
      level: num(t.level, 'level'), number: num(t.number, 'table number'), name: name(t.name), size: num(t.size, 'size'),
      smallest: key(t.smallest, 'smallest'), largest: key(t.largest, 'largest'),
    })),
  };
}
