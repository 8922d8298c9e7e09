/**
 * Test helpers for the LMDB reader: fixture generation with real liblmdb (py-lmdb, mdb_load) and npm `lmdb`,
 * reading every partition, an independent page scanner (to know what a damaged page held), and damage tools that
 * only ever touch copies.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Finding } from '../../../src/types.js';
import type { Partition, Reader, RecordBatch } from '../../../src/readers/types.js';
import { lmdbReader, type LmdbReader } from '../../../src/readers/lmdb/index.js';
import { damageFinding } from '../../../src/checks/severity.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Debian's interpreter, which has the `lmdb` module linked to liblmdb 0.9.24. */
export const PYTHON = '/usr/bin/python3';

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.error ?? ''}`);
}

export function makeV1Envs(outDir: string, names: string[] = []): void {
  run(PYTHON, [path.join(here, 'make_envs.py'), outDir, ...names]);
}

export function makeV2Envs(outDir: string): void {
  run(process.execPath, [path.join(here, 'write_v2.mjs'), outDir]);
}

export interface Expected {
  lines: string[];
  entries: number;
  names: string[];
  depth?: number;
}

export function expected(outDir: string, name: string): Expected {
  const lines = fs.readFileSync(path.join(outDir, `${name}.dump`), 'utf8').split('\n').filter((l) => l.length > 0);
  const j = JSON.parse(fs.readFileSync(path.join(outDir, `${name}.json`), 'utf8')) as { entries: number; names: string[]; depth?: number };
  return { lines, entries: j.entries, names: j.names, depth: j.depth };
}

export async function openEnv(dir: string): Promise<LmdbReader> {
  return (await lmdbReader.open({ format: 'lmdb', path: dir, absPath: dir })) as LmdbReader;
}

export interface ReadResult {
  /** "keyhex valuehex" per record, partitions concatenated in order. */
  lines: string[];
  damage: Finding[];
  partitions: number;
}

/** Reads every partition of `plan` (optionally through JSON, as a worker would receive it) with `reader`. */
export function readPlan(reader: Reader, plan: Partition[]): ReadResult {
  const lines: string[] = [];
  const damage: Finding[] = [];
  for (const p of plan) {
    let index = 0;
    for (const batch of reader.read(p) as Iterable<RecordBatch>) {
      for (const rec of batch.records) {
        if (rec.kind !== 'kv') throw new Error('not a kv record');
        if (rec.index !== index) throw new Error(`partition ${p.index}: record index ${rec.index}, expected ${index}`);
        index++;
        lines.push(`${Buffer.from(rec.key).toString('hex')} ${Buffer.from(rec.value).toString('hex')}`);
      }
      if (batch.damage) damage.push(...batch.damage.map(damageFinding));
    }
  }
  return { lines, damage, partitions: plan.length };
}

export async function readDir(dir: string, parts = 1): Promise<ReadResult & { info: Omit<ReturnType<Reader['info']>, 'findings'> & { findings: Finding[] } }> {
  const r = await openEnv(dir);
  try {
    return { ...readPlan(r, r.plan(parts)), info: { ...r.info(), findings: r.info().findings.map(damageFinding) } };
  } finally {
    r.close();
  }
}

/** Index of the first differing line, or -1. */
export function firstDiff(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** sha256 over every file name and content below `dir`. */
export function hashDir(dir: string): string {
  const h = crypto.createHash('sha256');
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((x, y) => x.name.localeCompare(y.name))) {
      const p = path.join(d, e.name);
      h.update(`${path.relative(dir, p)}\0`);
      if (e.isDirectory()) walk(p);
      else h.update(fs.readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

/** Copies an environment directory (data.mdb only unless `withLock`). */
export function copyEnv(src: string, dst: string, withLock = false): string {
  fs.mkdirSync(dst, { recursive: true });
  fs.copyFileSync(path.join(src, 'data.mdb'), path.join(dst, 'data.mdb'));
  if (withLock && fs.existsSync(path.join(src, 'lock.mdb'))) fs.copyFileSync(path.join(src, 'lock.mdb'), path.join(dst, 'lock.mdb'));
  return dst;
}

/** Overwrites bytes of `dir/data.mdb` at `offset`. */
export function patch(dir: string, offset: number, bytes: Uint8Array): void {
  const fd = fs.openSync(path.join(dir, 'data.mdb'), 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

export function readAt(dir: string, offset: number, len: number): Buffer {
  const fd = fs.openSync(path.join(dir, 'data.mdb'), 'r');
  try {
    const b = Buffer.alloc(len);
    fs.readSync(fd, b, 0, len, offset);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

export interface PageInfo {
  flags: number;
  /** Entries (from mp_lower). */
  n: number;
  children: number[];
}

/**
 * Independent, trusting scanner of an undamaged format-1 file: every page whose own number matches, with its
 * type, entry count and (branch pages) children. Only sound for files without free pages (one transaction).
 */
export function scanPages(dir: string): { psize: number; root: number; lastPg: number; pages: Map<number, PageInfo> } {
  const buf = fs.readFileSync(path.join(dir, 'data.mdb'));
  const psize = buf.readUInt32LE(40);
  const m = buf.readBigUInt64LE(144) >= buf.readBigUInt64LE(psize + 144) ? 0 : psize;
  const root = Number(buf.readBigUInt64LE(m + 128));
  const lastPg = Number(buf.readBigUInt64LE(m + 136));
  const pages = new Map<number, PageInfo>();
  for (let pg = 2; (pg + 1) * psize <= buf.length; pg++) {
    const o = pg * psize;
    if (Number(buf.readBigUInt64LE(o)) !== pg) continue;
    const flags = buf.readUInt16LE(o + 10);
    const n = flags & 0x04 ? 0 : (buf.readUInt16LE(o + 12) - 16) / 2;
    const children: number[] = [];
    if (flags === 0x01) {
      for (let i = 0; i < n; i++) {
        const no = o + buf.readUInt16LE(o + 16 + 2 * i);
        children.push(buf.readUInt32LE(no) + buf.readUInt16LE(no + 4) * 2 ** 32);
      }
    }
    pages.set(pg, { flags, n, children });
  }
  return { psize, root, lastPg, pages };
}

/** Records in the subtree below `pgno` (leaves' entry counts), by the independent scanner. */
export function recordsUnder(pages: Map<number, PageInfo>, pgno: number, reachable?: (pg: number) => boolean): number {
  const p = pages.get(pgno);
  if (p === undefined || (reachable !== undefined && !reachable(pgno))) return 0;
  if (p.flags === 0x02) return p.n;
  return p.children.reduce((a, c) => a + recordsUnder(pages, c, reachable), 0);
}

/** Pages of the tree in key order at a given level (1 = root). */
export function pagesAtLevel(pages: Map<number, PageInfo>, root: number, level: number): number[] {
  let cur = [root];
  for (let l = 1; l < level; l++) cur = cur.flatMap((p) => pages.get(p)?.children ?? []);
  return cur;
}

/** Byte offset of branch node `i`'s child pointer in page `pgno`. */
export function childPointerOffset(dir: string, psize: number, pgno: number, i: number): number {
  const hdr = readAt(dir, pgno * psize, 16 + 2 * (i + 1));
  return pgno * psize + hdr.readUInt16LE(16 + 2 * i);
}

/** A 48-bit branch child number as the 6 bytes mn_lo, mn_hi, mn_flags (§6.2). */
export function childBytes(pgno: number): Uint8Array {
  const b = Buffer.alloc(6);
  b.writeUInt32LE(pgno % 2 ** 32, 0);
  b.writeUInt16LE(Math.floor(pgno / 2 ** 32), 4);
  return b;
}
