/**
 * Parquet and Arrow readers on the committed fixtures (scripts/make-table-fixtures.ts). Expected findings come
 * from independent readers: DuckDB reading the Parquet files back (NaN, ±Inf, nulls by row group, labels,
 * constant rows), and apache-arrow's whole-table reader (`tableFromIPC`) for the Arrow files.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scan } from '../../../src/scan.js';
import type { DatasetReport, Finding } from '../../../src/types.js';
import { ROOT } from '../../helpers/cli.js';
import { hashTree } from '../../helpers/tree.js';

const FIX = path.join(ROOT, 'fixtures');
/** Rows per row group (Parquet, DuckDB ROW_GROUP_SIZE) and per record batch (Arrow) in the planted fixtures. */
const GROUP = 2048;

async function scanOne(rel: string, workers = 0): Promise<DatasetReport> {
  const report = await scan([rel], { cwd: ROOT, workers, maxExamples: 1000 });
  expect(report.datasets).toHaveLength(1);
  return report.datasets[0]!;
}

const pick = (d: DatasetReport, kind: string): Finding[] => d.findings.filter((f) => f.kind === kind);
const at = (fs: Finding[]): [string | undefined, number | undefined][] => fs.map((f) => [f.field, f.index]);

/** What the planted tables hold, in the finding shapes nanscan should report. */
interface Planted {
  rows: number;
  nan: [string, number][];
  posinf: [string, number][];
  neginf: [string, number][];
  /** One null_value finding per column and row group: [column, first row, count]. */
  nulls: [string, number, number][];
  negativeLabels: number[];
  constantRows: number[];
}

/** Null findings by row group: rows given in order. */
function nullGroups(column: string, rows: number[]): [string, number, number][] {
  const by = new Map<number, number[]>();
  for (const r of rows) by.set(Math.floor(r / GROUP), [...(by.get(Math.floor(r / GROUP)) ?? []), r]);
  return [...by.values()].map((rs) => [column, rs[0]!, rs.length]);
}

async function duckPlanted(c: DuckDBConnection, file: string): Promise<Planted> {
  const q = async (sql: string): Promise<number[]> =>
    (await c.runAndReadAll(sql.replaceAll('$F', `read_parquet('${file}', file_row_number = true)`))).getRows().map((r) => Number(r[0]));
  return {
    rows: (await q('SELECT count(*) FROM $F'))[0]!,
    nan: (await q('SELECT file_row_number FROM $F WHERE isnan(x) ORDER BY 1')).map((r) => ['x', r]),
    posinf: (await q("SELECT file_row_number FROM $F WHERE x = 'inf'::FLOAT ORDER BY 1")).map((r) => ['x', r]),
    neginf: (await q("SELECT file_row_number FROM $F WHERE x = '-inf'::FLOAT ORDER BY 1")).map((r) => ['x', r]),
    nulls: [
      ...nullGroups('x', await q('SELECT file_row_number FROM $F WHERE x IS NULL ORDER BY 1')),
      ...nullGroups('label', await q('SELECT file_row_number FROM $F WHERE label IS NULL ORDER BY 1')),
    ],
    negativeLabels: await q('SELECT file_row_number FROM $F WHERE label < 0 ORDER BY 1'),
    constantRows: await q('SELECT file_row_number FROM $F WHERE list_min(emb) = list_max(emb) ORDER BY 1'),
  };
}

function arrowPlanted(file: string): Planted {
  const t = tableFromIPC(readFileSync(file));
  const x = t.getChild('x')!;
  const half = t.getChild('half')!;
  const label = t.getChild('label')!;
  const emb = t.getChild('emb')!;
  const p: Planted = { rows: t.numRows, nan: [], posinf: [], neginf: [], nulls: [], negativeLabels: [], constantRows: [] };
  const xNulls: number[] = [];
  const labelNulls: number[] = [];
  const infs: [string, number][] = [];
  for (let i = 0; i < t.numRows; i++) {
    const v = x.get(i) as number | null;
    if (v === null) xNulls.push(i);
    else if (Number.isNaN(v)) p.nan.push(['x', i]);
    else if (v === Infinity) infs.push(['x', i]);
    else if (v === -Infinity) p.neginf.push(['x', i]);
    if (half.get(i) === Infinity) infs.push(['half', i]);
    const l = label.get(i) as bigint | null;
    if (l === null) labelNulls.push(i);
    else if (l < 0n) p.negativeLabels.push(i);
    const e = [...(emb.get(i) as Iterable<number>)];
    if (e.every((y) => y === e[0])) p.constantRows.push(i);
  }
  p.posinf = infs;
  p.nulls = [...nullGroups('x', xNulls), ...nullGroups('label', labelNulls)];
  return p;
}

/** Findings of a planted dataset against what the oracle says it holds. */
function expectPlanted(d: DatasetReport, o: Planted): void {
  expect(d.records).toBe(o.rows);
  expect(at(pick(d, 'nan'))).toEqual(o.nan);
  expect(at(pick(d, 'posinf')).sort()).toEqual([...o.posinf].sort());
  expect(at(pick(d, 'neginf'))).toEqual(o.neginf);
  expect(pick(d, 'null_value').map((f) => [f.field, f.index, f.count]).sort()).toEqual([...o.nulls].sort());
  expect(pick(d, 'label_out_of_range').map((f) => f.index)).toEqual(o.negativeLabels);
  expect(pick(d, 'constant_sample').map((f) => [f.field, f.index])).toEqual(o.constantRows.map((r) => ['emb', r]));
  expect(pick(d, 'constant_feature').map((f) => f.field)).toEqual(['flat']);
  expect(pick(d, 'corrupt_file')).toEqual([]);
  // The text column is named as not checked, once.
  expect(pick(d, 'unchecked').map((f) => [f.count, f.message.includes('note')])).toEqual([[1, true]]);
}

let duck: DuckDBConnection;
let before = '';
beforeAll(async () => {
  before = hashTree(FIX);
  duck = await (await DuckDBInstance.create(':memory:')).connect();
});
afterAll(() => {
  duck.closeSync();
  // Read-only: nothing was written into or beside the fixtures.
  expect(hashTree(FIX)).toBe(before);
});

describe('parquet', () => {
  it('finds what DuckDB finds in the planted file (zstd): NaN, ±Inf, nulls per row group, a negative label, constant rows and column', async () => {
    const o = await duckPlanted(duck, path.join(FIX, 'parquet/planted.parquet'));
    expectPlanted(await scanOne('fixtures/parquet/planted.parquet'), o);
  });

  it('reads the clean file (snappy, three row groups) with no findings but the text column, and the same in 2 workers', async () => {
    const rows = Number((await duck.runAndReadAll(`SELECT count(*) FROM '${path.join(FIX, 'parquet/clean.parquet')}'`)).getRows()[0]![0]);
    for (const workers of [0, 2]) {
      const d = await scanOne('fixtures/parquet/clean.parquet', workers);
      expect(d.records).toBe(rows);
      expect(d.findings.map((f) => f.kind)).toEqual(['unchecked']);
      expect(d.labels?.histogram).toEqual(Object.fromEntries(Array.from({ length: 10 }, (_, k) => [String(k), 500])));
    }
  });

  it('reports a corrupt page as corrupt_file at its row group, column and offset, and reads every other chunk', async () => {
    const offset = Number(readFileSync(path.join(FIX, 'parquet/corrupt-page.offset'), 'utf8'));
    const d = await scanOne('fixtures/parquet/corrupt-page.parquet');
    expect(d.records).toBe(5000);
    const bad = pick(d, 'corrupt_file');
    expect(bad.map((f) => [f.file, f.field, f.offset])).toEqual([['fixtures/parquet/corrupt-page.parquet', 'x', offset]]);
    expect(bad[0]!.message).toMatch(/^Row group 1, column 'x' \(rows 2048–4095\): page header does not parse/);
    // The labels of every row group, the damaged one included, were still read.
    expect(Object.values(d.labels?.histogram ?? {}).reduce((a, b) => a + b, 0)).toBe(5000);
  });

  it.each([
    ['truncated.parquet', /does not end with the Parquet magic 'PAR1'/],
    ['bad-footer.parquet', /footer length 2147483392 does not fit in the file/],
  ])('reports %s as a corrupt file it cannot open', async (name, why) => {
    const d = await scanOne(`fixtures/parquet/${name}`);
    expect(d.records).toBe(0);
    expect(d.findings.map((f) => f.kind)).toEqual(['corrupt_file']);
    expect(d.findings[0]!.message).toMatch(why);
  });

  it('decodes image columns: a truncated PNG, an external image not checked, labels by row', async () => {
    const d = await scanOne('fixtures/parquet/images.parquet');
    expect(d.records).toBe(6);
    expect(d.coverage.checkedRecords).toBe(5);
    expect(pick(d, 'truncated_image').map((f) => [f.field, f.index])).toEqual([['image', 2]]);
    expect(pick(d, 'unchecked')[0]!.message).toContain('img4.png');
    expect(d.labels?.histogram).toEqual({ 0: 2, 1: 2, 2: 2 });
  });
});

describe('arrow', () => {
  it('finds what apache-arrow\'s table reader finds in the planted stream: NaN, ±Inf (float16 too), nulls per batch, labels, constant rows', async () => {
    expectPlanted(await scanOne('fixtures/arrow/planted.arrow'), arrowPlanted(path.join(FIX, 'arrow/planted.arrow')));
  });

  it.each(['clean.arrow', 'clean.feather'])('reads %s (stream and file format) with no findings but the text column', async (name) => {
    const rows = tableFromIPC(readFileSync(path.join(FIX, 'arrow', name))).numRows;
    for (const workers of [0, 2]) {
      const d = await scanOne(`fixtures/arrow/${name}`, workers);
      expect(d.records).toBe(rows);
      expect(d.findings.map((f) => f.kind)).toEqual(['unchecked']);
    }
  });

  it('reads the batches before a truncation and reports where the stream was cut', async () => {
    const d = await scanOne('fixtures/arrow/truncated.arrow');
    expect(d.records).toBe(2 * GROUP);
    const bad = pick(d, 'corrupt_file');
    expect(bad).toHaveLength(1);
    expect(bad[0]!.message).toMatch(/Arrow stream is cut short: message body of \d+ bytes runs past the end of the file/);
  });

  it('decodes image columns like Parquet', async () => {
    const d = await scanOne('fixtures/arrow/images.arrow');
    expect(d.records).toBe(6);
    expect(d.coverage.checkedRecords).toBe(5);
    expect(pick(d, 'truncated_image').map((f) => [f.field, f.index])).toEqual([['image', 2]]);
    expect(d.labels?.histogram).toEqual({ 0: 2, 1: 2, 2: 2 });
  });
});
