/** The CLI on Parquet and Arrow files: discovery by name and by magic, exit codes, JSON findings, read-only. */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, scanJson } from '../helpers/cli.js';
import { hashTree } from '../helpers/tree.js';

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'nanscan-table-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('nanscan scan on Parquet and Arrow', () => {
  it('exits 0 on clean files, 1 on planted ones, and writes nothing', () => {
    const before = hashTree(path.join(ROOT, 'fixtures'));
    const clean = scanJson(['fixtures/parquet/clean.parquet', 'fixtures/arrow/clean.arrow', 'fixtures/arrow/clean.feather']);
    expect(clean.run.status).toBe(0);
    expect(clean.report.datasets.map((d) => [d.format, d.records])).toEqual([['parquet', 5000], ['arrow', 5000], ['arrow', 5000]]);
    const planted = scanJson(['fixtures/parquet/planted.parquet', 'fixtures/arrow/planted.arrow']);
    expect(planted.run.status).toBe(1);
    for (const d of planted.report.datasets) {
      expect(d.findingCounts.null_value).toBe(3);
      expect(d.findingCounts.nan).toBe(1);
      expect(d.findings.find((f) => f.kind === 'null_value')).toMatchObject({ field: 'x', index: 7, count: 1, severity: 'error' });
    }
    expect(hashTree(path.join(ROOT, 'fixtures'))).toBe(before);
  });

  it('recognises shards by their magic whatever their name', () => {
    copyFileSync(path.join(ROOT, 'fixtures/parquet/planted.parquet'), path.join(tmp, 'shard-0'));
    copyFileSync(path.join(ROOT, 'fixtures/arrow/planted.arrow'), path.join(tmp, 'shard-1'));
    const { run, report } = scanJson([tmp]);
    expect(run.status).toBe(1);
    expect(report.datasets.map((d) => [path.basename(d.path), d.format, d.records])).toEqual([['shard-0', 'parquet', 5000], ['shard-1', 'arrow', 5000]]);
  });

  it('reports a Parquet file without a footer as a corrupt file (exit 1), not a scanner failure', () => {
    const { run, report } = scanJson(['fixtures/parquet/truncated.parquet']);
    expect(run.status).toBe(1);
    expect(report.datasets[0]!.findings.map((f) => f.kind)).toEqual(['corrupt_file']);
  });
});
