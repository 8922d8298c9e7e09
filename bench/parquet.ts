/**
 * Parquet and Arrow throughput (`BENCH_ONLY=parquet`, bench/run.ts): a table of float32 columns (~512 MB of
 * values; ROWS × COLS), written once into the temp folder by DuckDB as snappy Parquet and by apache-arrow as an
 * IPC stream (the Hugging Face cache layout). nanscan (default workers) against what a user would run instead:
 * DuckDB (npm @duckdb/node-api, all cores) computing, per column, the NaN count, min, max and stddev. Runs
 * alternate (nanscan, DuckDB, nanscan…) so that both see the same machine load; medians and their ratio.
 *
 *   BENCH_PARQUET_ROWS=n   rows (default 16,000,000)
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { Field, Float32, makeData, RecordBatch, Schema, Struct, Table, tableToIPC } from 'apache-arrow';

const COLS = 8;
const ROWS = Number(process.env.BENCH_PARQUET_ROWS ?? 16_000_000);
const here = path.dirname(fileURLToPath(import.meta.url));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface ScanRun { records: number; bytes: number; ms: number; maxRssMiB: number; findings: number }

function scanOnce(file: string): ScanRun {
  const r = spawnSync(process.execPath, [path.join(here, 'scan-child.mjs'), file], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as ScanRun;
}

function warm(file: string): void {
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  while (readSync(fd, buf, 0, buf.length, null) > 0) { /* read and drop */ }
  closeSync(fd);
}

const columns = Array.from({ length: COLS }, (_, c) => `c${c}`);

async function makeParquet(file: string): Promise<void> {
  const c = await (await DuckDBInstance.create(':memory:')).connect();
  // A few planted NaNs so that both sides have something to find.
  const cols = columns.map((n, k) => `CASE WHEN i % 5000003 = ${k} THEN 'nan'::FLOAT ELSE (random() * 2 - 1)::FLOAT END AS ${n}`).join(', ');
  await c.run(`SELECT setseed(0.5)`);
  await c.run(`COPY (SELECT ${cols} FROM range(${ROWS}) t(i)) TO '${file}' (FORMAT parquet, COMPRESSION snappy)`);
  c.closeSync();
}

/** The same shape as an Arrow IPC stream, in record batches of 64 Ki rows. */
function makeArrow(file: string): void {
  const fields = columns.map((n) => new Field(n, new Float32(), false));
  const schema = new Schema(fields);
  let seed = 12345;
  const next = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const batches: RecordBatch[] = [];
  for (let start = 0; start < ROWS; start += 65536) {
    const n = Math.min(65536, ROWS - start);
    const children = columns.map((_, k) => {
      const v = new Float32Array(n);
      for (let i = 0; i < n; i++) v[i] = (start + i) % 5000003 === k ? NaN : next();
      return makeData({ type: new Float32(), length: n, data: v });
    });
    batches.push(new RecordBatch(schema, makeData({ type: new Struct(fields), length: n, children })));
  }
  writeFileSync(file, tableToIPC(new Table(schema, batches), 'stream'));
}

async function duckdbMs(file: string): Promise<number> {
  const c = await (await DuckDBInstance.create(':memory:')).connect();
  const agg = columns.map((n) => `count(*) FILTER (WHERE isnan(${n})), min(${n}) FILTER (WHERE NOT isnan(${n})), max(${n}) FILTER (WHERE NOT isnan(${n})), stddev(${n}) FILTER (WHERE NOT isnan(${n}))`).join(', ');
  const t = performance.now();
  await c.runAndReadAll(`SELECT ${agg} FROM read_parquet('${file}')`);
  const ms = performance.now() - t;
  c.closeSync();
  return ms;
}

export async function benchParquet(runs: number): Promise<void> {
  const dir = os.tmpdir();
  const pq = path.join(dir, `nanscan-bench-${ROWS}x${COLS}.parquet`);
  const ar = path.join(dir, `nanscan-bench-${ROWS}x${COLS}.arrow`);
  if (!existsSync(pq)) await makeParquet(pq);
  if (!existsSync(ar)) makeArrow(ar);
  for (const [file, label] of [[pq, 'Parquet (snappy, DuckDB-written)'], [ar, 'Arrow IPC stream']] as const) {
    warm(file);
    const scans: ScanRun[] = [];
    const refs: number[] = [];
    for (let r = 0; r < runs; r++) {
      scans.push(scanOnce(file));
      if (file === pq) refs.push(await duckdbMs(file));
    }
    const s = scans[0]!;
    const ms = median(scans.map((x) => x.ms));
    const mb = (COLS * ROWS * 4) / 1e6;
    console.log(`\n${label}: ${ROWS.toLocaleString('en-US')} rows × ${COLS} float32 columns, ${(statSync(file).size / 1e6).toFixed(0)} MB on disk, ${mb.toFixed(0)} MB of values`);
    console.log(`  nanscan: ${ms.toFixed(0)} ms median of ${runs} (${(mb / (ms / 1000)).toFixed(0)} MB/s of values), ${s.records.toLocaleString('en-US')} records, ${s.findings} findings, peak RSS ${median(scans.map((x) => x.maxRssMiB)).toFixed(0)} MiB`);
    if (refs.length > 0) {
      const ref = median(refs);
      console.log(`  DuckDB (isnan count, min, max, stddev per column): ${ref.toFixed(0)} ms; nanscan / DuckDB time: ${(ms / ref).toFixed(2)}x`);
    }
  }
}
