/**
 * Writes the Parquet and Arrow fixtures (fixtures/parquet, fixtures/arrow) with real writers: DuckDB (C++, npm
 * `@duckdb/node-api`) for Parquet, apache-arrow's IPC writer for Arrow streams and files, sharp for the PNGs.
 * Deterministic data, fixed damage. Run: `npx tsx scripts/make-table-fixtures.ts`.
 *
 * The tests compute what each fixture holds with an independent reader (DuckDB reading the Parquet back), and
 * from the arrays written here for Arrow (DuckDB has no Arrow IPC reader without a download).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { Binary, Field, FixedSizeList, Float16, Float32, Float64, Int64, List, Struct, Table, Utf8, vectorFromArray, tableToIPC } from 'apache-arrow';
import sharp from 'sharp';
import { parquetMetadata } from 'hyparquet';

const ROOT = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** An 8×8 RGB PNG of one colour plus a gradient (not constant). */
async function png(seed: number): Promise<Buffer> {
  const raw = Buffer.alloc(8 * 8 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7 + seed * 31) & 0xff;
  return sharp(raw, { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
}

/** The planted table, as SQL over range(N): the same values in Parquet (DuckDB) and Arrow (see arrowPlanted). */
const PLANTED_SQL = `SELECT
  CASE WHEN i = 11 THEN 'nan'::FLOAT WHEN i = 2500 THEN 'inf'::FLOAT WHEN i = 4100 THEN '-inf'::FLOAT
       WHEN i IN (7, 3000, 3001) THEN NULL ELSE (i % 97) * 0.5 END::FLOAT AS x,
  2.5::DOUBLE AS flat,
  [i % 5, (i + 1) % 7, (i + 2) % 11, i % 3]::FLOAT[] AS emb,
  CASE WHEN i = 20 THEN -1 WHEN i = 4000 THEN NULL ELSE i % 10 END::BIGINT AS label,
  'row ' || i AS note
FROM range(5000) t(i)`;

async function parquet(dir: string): Promise<void> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const out = (name: string): string => path.join(dir, name).replaceAll("'", "''");
  // clean: floats, a fixed-length embedding list, labels, a text column; snappy; 3 row groups of 2048 rows.
  await c.run(`COPY (SELECT ((i % 101) * 0.25 - 3)::FLOAT AS x, [sin(i), cos(i), i % 13]::FLOAT[] AS emb, (i % 10)::INTEGER AS label,
    'row ' || i AS note FROM range(5000) t(i)) TO '${out('clean.parquet')}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 2048)`);
  await c.run(`COPY (${PLANTED_SQL}) TO '${out('planted.parquet')}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 2048)`);
  // images: 6 rows, one row group; row 2's PNG is cut in half, row 4's image is external (bytes null, a path).
  const rows: string[] = [];
  for (let i = 0; i < 6; i++) {
    let b = await png(i);
    if (i === 2) b = b.subarray(0, b.length >> 1);
    const bytes = i === 4 ? 'NULL' : `from_hex('${b.toString('hex')}')`;
    rows.push(`SELECT ${i} AS i, {'bytes': ${bytes}, 'path': 'img${i}.png'} AS image, ${i % 3}::BIGINT AS label`);
  }
  await c.run(`COPY (${rows.join(' UNION ALL ')} ORDER BY i) TO '${out('images.parquet')}' (FORMAT parquet)`);
  c.closeSync();

  const clean = readFileSync(path.join(dir, 'clean.parquet'));
  // truncated: the first half of clean.parquet (no footer left).
  writeFileSync(path.join(dir, 'truncated.parquet'), clean.subarray(0, clean.length >> 1));
  // bad-footer: the footer length field made larger than the file.
  const badFooter = Buffer.from(clean);
  badFooter.writeUInt32LE(0x7fffff00, badFooter.length - 8);
  writeFileSync(path.join(dir, 'bad-footer.parquet'), badFooter);
  // corrupt-page: the page header of row group 1's `x` chunk overwritten with 0xFF bytes.
  const md = parquetMetadata(clean);
  const chunk = md.row_groups[1]!.columns.find((k) => k.meta_data?.path_in_schema[0] === 'x')!.meta_data!;
  const at = Number(chunk.dictionary_page_offset ?? chunk.data_page_offset);
  const corrupt = Buffer.from(clean);
  corrupt.fill(0xff, at, at + 16);
  writeFileSync(path.join(dir, 'corrupt-page.parquet'), corrupt);
  writeFileSync(path.join(dir, 'corrupt-page.offset'), `${at}\n`);
}

/** The planted Arrow table: the same values as PLANTED_SQL, in 3 record batches of ≤ 2048 rows. */
function arrowPlanted(): Table {
  const parts: Table[] = [];
  for (let start = 0; start < 5000; start += 2048) {
    const n = Math.min(2048, 5000 - start);
    const idx = Array.from({ length: n }, (_, k) => start + k);
    parts.push(new Table({
      x: vectorFromArray(idx.map((i) => (i === 11 ? NaN : i === 2500 ? Infinity : i === 4100 ? -Infinity : [7, 3000, 3001].includes(i) ? null : (i % 97) * 0.5)), new Float32()),
      flat: vectorFromArray(idx.map(() => 2.5), new Float64()),
      half: vectorFromArray(idx.map((i) => (i === 1234 ? Infinity : (i % 8) * 0.25)), new Float16()),
      emb: vectorFromArray(idx.map((i) => [i % 5, (i + 1) % 7, (i + 2) % 11, i % 3]), new FixedSizeList(4, new Field('item', new Float32(), true))),
      label: vectorFromArray(idx.map((i) => (i === 20 ? -1n : i === 4000 ? null : BigInt(i % 10))), new Int64()),
      note: vectorFromArray(idx.map((i) => `row ${i}`), new Utf8()),
    }));
  }
  return new Table(parts.flatMap((t) => t.batches));
}

async function arrow(dir: string): Promise<void> {
  const cleanParts: Table[] = [];
  for (let start = 0; start < 5000; start += 2048) {
    const idx = Array.from({ length: Math.min(2048, 5000 - start) }, (_, k) => start + k);
    cleanParts.push(new Table({
      x: vectorFromArray(idx.map((i) => (i % 101) * 0.25 - 3), new Float32()),
      emb: vectorFromArray(idx.map((i) => [Math.sin(i), Math.cos(i), i % 13]), new List(new Field('item', new Float32(), true))),
      label: vectorFromArray(idx.map((i) => BigInt(i % 10)), new Int64()),
      note: vectorFromArray(idx.map((i) => `row ${i}`), new Utf8()),
    }));
  }
  const clean = new Table(cleanParts.flatMap((t) => t.batches));
  const stream = tableToIPC(clean, 'stream');
  writeFileSync(path.join(dir, 'clean.arrow'), stream);
  writeFileSync(path.join(dir, 'clean.feather'), tableToIPC(clean, 'file'));
  writeFileSync(path.join(dir, 'planted.arrow'), tableToIPC(arrowPlanted(), 'stream'));
  // truncated: the stream cut 100 bytes into its last record batch's body.
  writeFileSync(path.join(dir, 'truncated.arrow'), stream.subarray(0, stream.length - 2000));
  const imgs: { bytes: Uint8Array | null; path: string }[] = [];
  for (let i = 0; i < 6; i++) {
    let b: Uint8Array | null = await png(i);
    if (i === 2) b = b.subarray(0, b.length >> 1);
    if (i === 4) b = null;
    imgs.push({ bytes: b, path: `img${i}.png` });
  }
  const images = new Table({
    image: vectorFromArray(imgs, new Struct([new Field('bytes', new Binary(), true), new Field('path', new Utf8(), true)])),
    label: vectorFromArray(imgs.map((_, i) => BigInt(i % 3)), new Int64()),
  });
  writeFileSync(path.join(dir, 'images.arrow'), tableToIPC(images, 'stream'));
}

for (const [name, make] of [['parquet', parquet], ['arrow', arrow]] as const) {
  const dir = path.join(ROOT, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await make(dir);
}
