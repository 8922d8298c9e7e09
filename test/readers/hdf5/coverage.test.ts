/**
 * HDF5 coverage and the Caffe rules, scan by scan, against what numpy says of the fixtures (coverage_fixtures.py):
 * compound fields scanned and their non-numeric members unchecked, datasets with no numeric content unchecked,
 * lengths compared between siblings only, label datasets checked row by row, Caffe lists compared by values per
 * row. Clean data gives no finding and nothing unchecked; the fixture tree is never written.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scan } from '../../../src/index.js';
import type { DatasetReport, Finding } from '../../../src/types.js';
import { hashTree } from '../../helpers/tree.js';
import { PYTHON } from './helpers.js';

const SCRIPT = fileURLToPath(new URL('./coverage_fixtures.py', import.meta.url));
const NUM_CLASSES = 5;

interface Rows { nan: number[]; posinf: number[]; neginf: number[] }
interface Oracle {
  compound: { fields: Record<string, Rows>; records: number };
  groups: { mismatch: { group: string; rows: Record<string, number> } };
  labels: {
    negative: number[]; tooLarge: number[]; nonInteger: number[]; histogram: Record<string, number>;
    stats: { values: number; min: number; max: number; mean: number };
    labelStats: { values: number; min: number; max: number };
  };
  regression: { nonInteger: number };
  caffe: { values: Record<string, number> };
}

let root: string;
let dir: string;
let oracle: Oracle;
let treeBefore: string;

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'nanscan-h5cov-'));
  dir = path.join(root, 'fx');
  execFileSync(PYTHON, [SCRIPT, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  oracle = JSON.parse(readFileSync(path.join(dir, 'oracle.json'), 'utf8')) as Oracle;
  treeBefore = hashTree(dir);
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Scans one fixture in this thread (display paths relative to the fixture folder). */
async function scanOne(rel: string, numClasses: number | null = null): Promise<DatasetReport> {
  const report = await scan([rel], { cwd: dir, workers: 0, numClasses, maxExamples: 100 });
  expect(report.datasets).toHaveLength(1);
  return report.datasets[0]!;
}

const brief = (f: Finding): string => `${f.kind} ${f.file ?? ''}:${f.field ?? ''}#${f.index ?? ''}`;
const ofKind = (d: DatasetReport, ...kinds: string[]): Finding[] => d.findings.filter((f) => kinds.includes(f.kind));

describe('compound datasets', () => {
  it('numeric fields are scanned as <dataset>.<member>: findings at their row, as numpy finds them', async () => {
    const d = await scanOne('compound.h5');
    const want: string[] = [];
    for (const [field, rows] of Object.entries(oracle.compound.fields)) {
      for (const kind of ['nan', 'posinf', 'neginf'] as const) for (const r of rows[kind]) want.push(`${kind} compound.h5:${field}#${r}`);
    }
    expect(want).toEqual(expect.arrayContaining(['nan compound.h5:meta.x#7', 'posinf compound.h5:meta.y#3', 'nan compound.h5:meta.nest.b#11']));
    expect(ofKind(d, 'nan', 'posinf', 'neginf').map(brief).sort()).toEqual(want.sort());
    expect(d.records).toBe(oracle.compound.records);
  });

  it('non-numeric members, and a compound with no numeric member, are unchecked: one unsupported_type group', async () => {
    const d = await scanOne('compound.h5');
    expect(d.coverage.unchecked).toHaveLength(1);
    const g = d.coverage.unchecked[0]!;
    expect(g).toMatchObject({ reason: 'unsupported_type', unit: 'field', count: 4 });
    expect([...g.examples].sort()).toEqual([
      'compound.h5:meta.flag (enum)', 'compound.h5:meta.name (string)', 'compound.h5:meta.note (string)',
      'compound.h5:words (compound with no numeric field)',
    ]);
    const unchecked = ofKind(d, 'unchecked');
    expect(unchecked).toHaveLength(1);
    expect(unchecked[0]).toMatchObject({ severity: 'warning', count: 4, file: 'compound.h5' });
    expect(d.findingCounts.unchecked).toBe(1);
  });
});

describe('structure', () => {
  it('inconsistent_lengths compares siblings: train/ against val/ is no finding, test/data against test/label is', async () => {
    const d = await scanOne('groups.h5');
    const f = ofKind(d, 'inconsistent_lengths');
    expect(f).toHaveLength(1);
    const m = oracle.groups.mismatch;
    const list = Object.entries(m.rows).map(([n, r]) => `'${n}' ${r}`).join(', ');
    expect(f[0]).toMatchObject({
      file: 'groups.h5', severity: 'error', message: `Datasets of group '${m.group}' disagree on their row count: ${list}.`,
    });
    expect(d.coverage.unchecked).toEqual([]);
  });

  it('a string dataset, a scalar and a zero-length dataset are unchecked; the data beside them is scanned', async () => {
    const d = await scanOne('unsupported.h5');
    expect(d.coverage.unchecked).toHaveLength(1);
    expect(d.coverage.unchecked[0]).toMatchObject({ reason: 'unsupported_type', unit: 'field', count: 3 });
    expect([...d.coverage.unchecked[0]!.examples].sort()).toEqual([
      'unsupported.h5:empty (no values, shape (0, 3))', 'unsupported.h5:scalar (scalar)', 'unsupported.h5:text (string)',
    ]);
    expect(d.findings.map((f) => f.kind)).toEqual(['unchecked']);
    expect(d.stats?.values).toBe(30);
  });
});

describe('label datasets', () => {
  it('negative, too large and non-integer labels are errors at their rows; the class analysis covers the rest', async () => {
    const d = await scanOne('labels.h5', NUM_CLASSES);
    const L = oracle.labels;
    const rows = (xs: number[]): string[] => xs.map((r) => `label_out_of_range labels.h5:label#${r}`);
    expect(ofKind(d, 'label_out_of_range').map(brief).sort()).toEqual([...rows(L.negative), ...rows(L.tooLarge), ...rows(L.nonInteger)].sort());
    expect(d.findingCounts.label_out_of_range).toBe(L.negative.length + L.tooLarge.length + L.nonInteger.length);
    const frac = ofKind(d, 'label_out_of_range').find((f) => f.index === L.nonInteger[0]);
    expect(frac?.message).toContain('label 1.5 is not an integer');
    expect(frac?.label).toBe(1.5);
    expect(ofKind(d, 'label_out_of_range').find((f) => f.index === L.tooLarge[0])?.message).toContain(`not below --num-classes ${NUM_CLASSES}`);
    // One fractional label no longer hides the analysis of the others.
    expect(d.labels?.histogram).toEqual(L.histogram);
    expect(d.labels?.numClasses).toBe(NUM_CLASSES);
  });

  it('value statistics are the data\'s alone; the labels\' are labelStats', async () => {
    const d = await scanOne('labels.h5', NUM_CLASSES);
    const L = oracle.labels;
    expect(d.stats?.values).toBe(L.stats.values);
    expect(d.stats?.min).toBeCloseTo(L.stats.min, 6);
    expect(d.stats?.max).toBeCloseTo(L.stats.max, 6);
    expect(d.stats?.mean).toBeCloseTo(L.stats.mean, 6);
    expect(d.labelStats).toMatchObject({ values: L.labelStats.values, min: L.labelStats.min, max: L.labelStats.max, nan: 0 });
  });

  it('one label dataset per group: `label` before `Y`; the other is data', async () => {
    const d = await scanOne('twolabels.h5');
    expect(d.labels?.records).toBe(12);
    expect(d.labelStats).toMatchObject({ values: 12, min: 0, max: 2 });
    expect(d.stats?.values).toBe(36);
    expect(d.stats?.max).toBeGreaterThan(90);
  });

  it('a float regression target (mostly non-integers) has no class analysis and no label errors', async () => {
    const d = await scanOne('regression.h5', NUM_CLASSES);
    expect(oracle.regression.nonInteger).toBeGreaterThan(15);
    expect(d.labels).toBeNull();
    expect(ofKind(d, 'label_out_of_range')).toEqual([]);
    expect(d.findingCounts.label_out_of_range).toBeUndefined();
    expect(d.labelStats?.values).toBe(30);
    expect(d.stats?.values).toBe(60);
  });
});

describe('Caffe HDF5Data lists', () => {
  it('(N,) against (N, 1) labels and float32 against float64 data: no finding', async () => {
    const d = await scanOne('same.txt');
    expect(d.findings).toEqual([]);
    expect(d.records).toBe(20);
    expect(d.labels?.records).toBe(20);
  });

  it('another number of values per row is an error naming both files and their row shapes', async () => {
    const d = await scanOne('differ.txt');
    const f = ofKind(d, 'shape_mismatch');
    expect(f).toHaveLength(1);
    const v = oracle.caffe.values;
    expect(f[0]).toMatchObject({ severity: 'error', file: 'caffe3.h5', field: 'data' });
    expect(f[0]!.message).toBe(`Dataset 'data' has ${v['caffe3.h5']} values per row (N, 3, 4, 5) in caffe3.h5 but ` +
      `${v['caffe1.h5']} values per row (N, 3, 4, 4) in caffe1.h5: Caffe's HDF5Data layer copies ${v['caffe1.h5']} a row ` +
      'from every file, so these rows are misread.');
    expect(d.findings.filter((x) => x.severity === 'error')).toHaveLength(1);
  });
});

it('clean data: no finding, nothing unchecked, every record checked', async () => {
  const d = await scanOne('clean.h5');
  expect(d.findings).toEqual([]);
  expect(d.coverage).toEqual({ records: 30, checkedRecords: 30, unchecked: [] });
  expect(d.complete).toBe(true);
  expect(d.labels?.records).toBe(30);
});

it('never writes to the fixture tree', () => {
  expect(hashTree(dir)).toBe(treeBefore);
});
