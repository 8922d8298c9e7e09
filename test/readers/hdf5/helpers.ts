/** HDF5 test helpers: fixtures written by Debian's h5py, and an oracle comparison of everything a reader yields. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hdf5Reader } from '../../../src/readers/hdf5/index.js';
import type { Partition, ReaderModule, RecordBatch, RowsRecord } from '../../../src/readers/types.js';
import type { Finding } from '../../../src/types.js';
import { damageFinding } from '../../../src/checks/severity.js';

/** Debian's interpreter: the `python3` first on PATH is another one, without h5py. */
export const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./fixtures.py', import.meta.url));

interface OracleDataset {
  dtype: string;
  shape: number[];
  bin: string;
}

export interface Fixtures {
  root: string;
  /** The fixture tree (what the reader may only read). */
  dir: string;
  oracleDir: string;
  /** file (relative to `dir`) → dataset name → oracle. */
  manifest: Record<string, Record<string, OracleDataset>>;
  abs(rel: string): string;
  cleanup(): void;
}

export function makeFixtures(): Fixtures {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nanscan-h5-'));
  const dir = path.join(root, 'fx');
  execFileSync(PYTHON, [SCRIPT, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const oracleDir = path.join(root, 'fx-oracle');
  const manifest = JSON.parse(readFileSync(path.join(oracleDir, 'manifest.json'), 'utf8')) as Fixtures['manifest'];
  return {
    root, dir, oracleDir, manifest,
    abs: (rel) => path.join(dir, rel),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** numpy dtype (kind + itemsize) → the dtype the reader must report. */
export const READER_DTYPE: Record<string, RowsRecord['dtype']> = {
  f2: 'f16', f4: 'f32', f8: 'f64', i1: 'i8', u1: 'u8', i2: 'i16', u2: 'u16', i4: 'i32', u4: 'u32', i8: 'i64', u8: 'u64',
};

function oracleArray(bytes: Buffer, dtype: string): ArrayLike<number | bigint> {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  switch (dtype) {
    case 'f2': case 'f4': return new Float32Array(ab);
    case 'f8': return new Float64Array(ab);
    case 'i1': return new Int8Array(ab);
    case 'u1': return new Uint8Array(ab);
    case 'i2': return new Int16Array(ab);
    case 'u2': return new Uint16Array(ab);
    case 'i4': return new Int32Array(ab);
    case 'u4': return new Uint32Array(ab);
    case 'i8': return new BigInt64Array(ab);
    case 'u8': return new BigUint64Array(ab);
    default: throw new Error(`unknown oracle dtype ${dtype}`);
  }
}

const same = (a: number | bigint, b: number | bigint): boolean =>
  a === b || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));

export interface ReadResult {
  /** `file|field` → how many times each row was yielded. */
  coverage: Map<string, Uint8Array>;
  /** Every yielded record, in order (data dropped). */
  order: { file: string; field: string; firstRow: number; rows: number; isLabel: boolean }[];
  damage: Finding[];
  mismatches: string[];
  partitions: number;
}

/**
 * Plans with `planner`, then reads each partition (after a JSON round trip, as across a worker boundary) with a
 * second reader opened on the same source, comparing every value with the oracle while its view is valid.
 */
export async function readAll(fx: Fixtures, module: ReaderModule, source: string, maxPartitions: number,
  displayRoot = fx.dir): Promise<ReadResult> {
  const src = { format: 'hdf5' as const, path: source, absPath: path.resolve(source) };
  const planner = (await module.open(src)) as Hdf5Reader;
  const parts = planner.plan(maxPartitions).map((p) => JSON.parse(JSON.stringify(p)) as Partition);
  planner.close();
  const reader = await module.open(src, 'read');
  const out: ReadResult = { coverage: new Map(), order: [], damage: [], mismatches: [], partitions: parts.length };
  const oracles = new Map<string, ArrayLike<number | bigint>>();
  for (const part of parts) {
    for await (const batch of reader.read(part) as AsyncIterable<RecordBatch>) {
      out.damage.push(...(batch.damage ?? []).map(damageFinding));
      for (const rec of batch.records) {
        if (rec.kind !== 'rows') throw new Error('HDF5 reader yielded a kv record');
        const rel = path.relative(displayRoot, path.resolve(rec.file));
        const od = fx.manifest[rel]?.[rec.field];
        if (od === undefined) {
          out.mismatches.push(`unexpected ${rel}:${rec.field}`);
          continue;
        }
        const key = `${rel}|${rec.field}`;
        let oracle = oracles.get(key);
        if (oracle === undefined) {
          oracle = oracleArray(readFileSync(path.join(fx.oracleDir, od.bin)), od.dtype);
          oracles.set(key, oracle);
        }
        if (rec.dtype !== READER_DTYPE[od.dtype]) out.mismatches.push(`${key}: dtype ${rec.dtype} for ${od.dtype}`);
        if (JSON.stringify(rec.rowShape) !== JSON.stringify(od.shape.slice(1))) out.mismatches.push(`${key}: rowShape ${String(rec.rowShape)}`);
        const rowElems = od.shape.slice(1).reduce((a, b) => a * b, 1);
        if (rec.data.length !== rec.rows * rowElems) out.mismatches.push(`${key}: ${rec.data.length} elements for ${rec.rows} rows`);
        const base = rec.firstRow * rowElems;
        for (let i = 0; i < rec.data.length; i++) {
          if (!same(rec.data[i] as number | bigint, oracle[base + i] as number | bigint)) {
            out.mismatches.push(`${key}: element ${base + i} is ${String(rec.data[i])}, h5py says ${String(oracle[base + i])}`);
            break;
          }
        }
        let cov = out.coverage.get(key);
        if (cov === undefined) {
          cov = new Uint8Array(od.shape[0] as number);
          out.coverage.set(key, cov);
        }
        for (let r = rec.firstRow; r < rec.firstRow + rec.rows; r++) cov[r] = (cov[r] ?? 0) + 1;
        out.order.push({ file: rel, field: rec.field, firstRow: rec.firstRow, rows: rec.rows, isLabel: rec.isLabel });
      }
    }
  }
  reader.close();
  return out;
}

/** Rows of `file|field` not yielded exactly once. */
export function badCoverage(r: ReadResult, fx: Fixtures, files: readonly string[], skipRows: Record<string, [number, number]> = {}): string[] {
  const bad: string[] = [];
  for (const f of files) {
    for (const [name, od] of Object.entries(fx.manifest[f] ?? {})) {
      const key = `${f}|${name}`;
      const cov = r.coverage.get(key);
      const rows = od.shape[0] as number;
      const skip = skipRows[key];
      for (let i = 0; i < rows; i++) {
        const want = skip !== undefined && i >= skip[0] && i < skip[1] ? 0 : 1;
        const got = cov?.[i] ?? 0;
        if (got !== want) {
          bad.push(`${key} row ${i} yielded ${got} times`);
          break;
        }
      }
    }
  }
  return bad;
}
