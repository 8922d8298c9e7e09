/** Test helpers: run the plyvel fixture script, read a database with our reader, compare, hash a tree. */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { leveldbReader } from '../../../src/readers/leveldb/index.js';
import type { Finding } from '../../../src/types.js';
import type { RecordBatch, SourceInfo } from '../../../src/readers/types.js';
import { damageFinding } from '../../../src/checks/severity.js';

/** Debian's interpreter: the `python3` on PATH is another one, without plyvel. */
export const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(path.dirname(new URL(import.meta.url).pathname), 'plyvel_fixtures.py');

export type Job =
  | { op: 'make'; kind: string; dir: string; [k: string]: unknown }
  | { op: 'dump'; dir: string; out: string };

/** Run fixture jobs in one Python process. */
export function runPython(jobs: Job[], tmp: string): void {
  const file = path.join(tmp, `jobs-${crypto.randomUUID()}.json`);
  fs.writeFileSync(file, JSON.stringify(jobs));
  execFileSync(PYTHON, [SCRIPT, file], { stdio: ['ignore', 'inherit', 'inherit'] });
  fs.rmSync(file);
}

/** Copy a database directory (plyvel modifies what it opens: the oracle is always taken from a copy). */
export function copyDb(from: string, to: string): string {
  fs.rmSync(to, { recursive: true, force: true });
  fs.cpSync(from, to, { recursive: true, preserveTimestamps: true });
  return to;
}

/** The dump format of plyvel_fixtures.py: u32le key length, key, u32le value length, value. */
export function encodePairs(pairs: Iterable<[Uint8Array, Uint8Array]>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of pairs) {
    const h = Buffer.alloc(4);
    h.writeUInt32LE(k.length);
    const h2 = Buffer.alloc(4);
    h2.writeUInt32LE(v.length);
    parts.push(h, Buffer.from(k), h2, Buffer.from(v));
  }
  return Buffer.concat(parts);
}

export function decodePairs(buf: Buffer): [Buffer, Buffer][] {
  const out: [Buffer, Buffer][] = [];
  let p = 0;
  while (p < buf.length) {
    const kl = buf.readUInt32LE(p);
    const k = buf.subarray(p + 4, p + 4 + kl);
    p += 4 + kl;
    const vl = buf.readUInt32LE(p);
    out.push([k, buf.subarray(p + 4, p + 4 + vl)]);
    p += 4 + vl;
  }
  return out;
}

export interface ReadResult {
  pairs: [Buffer, Buffer][];
  /** Findings from info() followed by the damage of every partition, in partition order. */
  findings: Finding[];
  /** The source info, its damage given severities as the host gives them. */
  info: Omit<SourceInfo, 'findings'> & { findings: Finding[] };
  partitions: number;
  /** Record indices restart at 0 in each partition and count up by one. */
  indicesOk: boolean;
}

/**
 * Read a database the way the scanner does: open + info + plan(n) in one reader, then each partition with a
 * fresh reader opened from the spec after a JSON round trip (as a worker thread would).
 */
export async function readDb(dir: string, n: number, display = 'db'): Promise<ReadResult> {
  const source = { format: 'leveldb' as const, path: display, absPath: dir };
  const main = await leveldbReader.open(source);
  const info = main.info();
  const parts = main.plan(n);
  main.close();
  const pairs: [Buffer, Buffer][] = [];
  const findings: Finding[] = info.findings.map(damageFinding);
  let indicesOk = true;
  for (const p of parts) {
    const worker = await leveldbReader.open(source);
    const spec = JSON.parse(JSON.stringify(p));
    let next = 0;
    for await (const batch of worker.read(spec) as Iterable<RecordBatch>) {
      for (const r of batch.records) {
        if (r.kind !== 'kv') throw new Error(`a LevelDB reader yielded a ${r.kind} record`);
        if (r.index !== next++) indicesOk = false;
        pairs.push([Buffer.from(r.key), Buffer.from(r.value)]);
      }
      if (batch.damage) findings.push(...batch.damage.map(damageFinding));
    }
    worker.close();
  }
  return { pairs, findings, info: { ...info, findings: info.findings.map(damageFinding) }, partitions: parts.length, indicesOk };
}

/** Names, contents and mtimes of every file under `dir`. */
export function hashTree(dir: string): string {
  const h = crypto.createHash('sha256');
  const walk = (d: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.statSync(p);
      h.update(`${path.relative(dir, p)}\0${st.mtimeMs}\0${st.size}\0${st.mode}\0`);
      if (st.isDirectory()) walk(p);
      else h.update(fs.readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

export interface Fixture {
  dir: string;
  /** What LevelDB itself returns (iterated from a copy). */
  oracle: [Buffer, Buffer][];
}

/**
 * Write databases with plyvel into `root`, then dump each from a copy (`root/oracle-NAME`): LevelDB changes what it
 * opens, so the original stays as LevelDB's writer left it.
 */
export function buildFixtures(root: string, specs: Record<string, { kind: string; [k: string]: unknown }>): Record<string, Fixture> {
  const jobs: Job[] = Object.entries(specs).map(([name, s]) => ({ ...s, op: 'make', dir: path.join(root, name) }));
  runPython(jobs, root);
  return oracleOf(root, Object.keys(specs));
}

/** Dump the named databases under `root` from copies. */
export function oracleOf(root: string, names: string[]): Record<string, Fixture> {
  const dumps: Job[] = names.map((name) => ({
    op: 'dump', dir: copyDb(path.join(root, name), path.join(root, `oracle-${name}`)), out: path.join(root, `${name}.dump`),
  }));
  runPython(dumps, root);
  const out: Record<string, Fixture> = {};
  for (const name of names) {
    out[name] = { dir: path.join(root, name), oracle: decodePairs(fs.readFileSync(path.join(root, `${name}.dump`))) };
  }
  return out;
}

/** Compare key/value sequences; returns a short description of the first difference, or '' when equal. */
export function diffPairs(got: [Buffer, Buffer][], want: [Buffer, Buffer][]): string {
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    const g = got[i];
    const w = want[i];
    if (!g || !w || !g[0].equals(w[0]) || !g[1].equals(w[1])) {
      return `pair ${i} differs: got ${g ? g[0].toString('hex') : 'nothing'}, want ${w ? w[0].toString('hex') : 'nothing'} (${got.length} vs ${want.length} pairs)`;
    }
  }
  return '';
}
