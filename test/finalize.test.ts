/**
 * finalizeDataset() (src/finalize.ts): partition results merged into one dataset report. The results come from
 * the real path (reader → plan → runPartition), on an LMDB of Caffe Datums written by py-lmdb, so that what is
 * merged is what workers produce: counts add up, indexes become dataset-wide, examples are capped while counts
 * stay exact, and the label analysis sees the labels of all partitions in storage order, whatever the split.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalyzeOptions, PartitionResult } from '../src/checks/result.js';
import { finalizeDataset, type DatasetInput } from '../src/finalize.js';
import { loadKernel } from '../src/kernels/scan.js';
import { runPartition } from '../src/pool/run-partition.js';
import { loadReader } from '../src/readers/registry.js';
import type { Source, SourceInfo } from '../src/readers/types.js';
import type { DatasetReport, Finding } from '../src/types.js';
import { PY_DATUM, runPython } from './helpers/python.js';

const RECORDS = 40;
/** Records whose Datum holds a NaN: every fourth from 3. */
const NAN_AT = Array.from({ length: RECORDS }, (_, i) => i).filter((i) => i % 4 === 3);

/** 40 Datums (3×8×8 float_data: several to an LMDB page, so that plan() can split them), labels 0 for the first 20 and 1 for the rest (sorted), a NaN in NAN_AT. */
const WRITE_LMDB = PY_DATUM + String.raw`
import json, os, sys, lmdb, numpy as np
out, nan_at = sys.argv[1], set(json.loads(sys.argv[2]))
rng = np.random.default_rng(11)
os.makedirs(out)
env = lmdb.open(out, map_size=1 << 22)
allv = []
with env.begin(write=True) as t:
    for i in range(40):
        v = rng.normal(size=192).astype('f4')
        if i in nan_at: v[i % 192] = np.nan
        allv.append(v)
        t.put(b'%08d' % i, datum(3, 8, 8, v.tolist(), 0 if i < 20 else 1))
env.close()
finite = np.concatenate(allv).astype('f8')
finite = finite[np.isfinite(finite)]
print(json.dumps({'values': int(finite.size), 'mean': finite.mean(), 'std': finite.std(), 'min': finite.min(), 'max': finite.max()}))
`;

const ANALYZE: AnalyzeOptions = {
  maxExamples: 100, limitInputPixels: 1e6, imageConcurrency: 1, forceJsKernel: true, numClasses: null, severity: {},
  imageStrictness: 'warning', timeoutMs: 10_000, elementStats: false, fullDecode: false,
};

let tmp: string;
let source: Source;
/** numpy's statistics of the finite values written. */
let numpyStats: { values: number; mean: number; std: number; min: number; max: number };
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-finalize-'));
  const db = path.join(tmp, 'sorted_lmdb');
  numpyStats = JSON.parse(runPython(WRITE_LMDB, [db, JSON.stringify(NAN_AT)])) as typeof numpyStats;
  source = { format: 'lmdb', path: 'sorted_lmdb', absPath: db };
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Plans `parts` partitions and runs each, as the in-process pool does. */
async function partitionResults(parts: number, options: Partial<AnalyzeOptions> = {}): Promise<{ info: SourceInfo; results: PartitionResult[] }> {
  const reader = await (await loadReader('lmdb')).open(source, 'plan');
  try {
    const info = reader.info();
    const plan = reader.plan(parts);
    // As many partitions as asked for, or fewer: an LMDB splits at page boundaries.
    expect(plan.length).toBeGreaterThanOrEqual(Math.min(parts, 2));
    expect(plan.length).toBeLessThanOrEqual(parts);
    const kernel = loadKernel({ forceJs: true });
    const results: PartitionResult[] = [];
    for (const p of plan) results.push(await runPartition(reader, p, kernel, { ...ANALYZE, ...options }));
    return { info, results };
  } finally {
    reader.close();
  }
}

function finalize(info: SourceInfo | null, results: (PartitionResult | null)[], o: Partial<DatasetInput> = {}): DatasetReport {
  return finalizeDataset({
    source, info, findings: [], results, durationMs: 1.4, maxExamples: 20, numClasses: null, batchSize: 8, severity: {},
    missingThreshold: 0.05, ...o,
  });
}

/**
 * The report without what may differ between two splits of the same data: the duration, and the last digits of
 * mean and std (sums added in another grouping; scan() always plans 64 partitions for this reason).
 */
const comparable = (r: DatasetReport): unknown => ({ ...r, durationMs: null, stats: r.stats === null ? null : { ...r.stats, mean: null, std: null } });

/** C(n, k) / C(m, k) in log space: the chance that a shuffled batch of k misses a label (DESIGN.md, label math). */
function missProbability(n: number, m: number, k: number): number {
  let log = 0;
  for (let i = 0; i < k; i++) log += Math.log(n - i) - Math.log(m - i);
  return Math.exp(log);
}

describe('finalizeDataset() over real partition results', () => {
  it('adds records and counts over partitions, with dataset-wide indexes', async () => {
    const { info, results } = await partitionResults(5);
    // Each partition counts from 0: its NaN finding indexes are local until finalize adds the records before it.
    expect(results.every((r) => r.localIndexes)).toBe(true);
    let base = 0;
    for (const p of results) {
      const local = p.findings.filter((f) => f.kind === 'nan').map((f) => f.index!);
      expect(local.map((i) => i + base)).toEqual(NAN_AT.filter((i) => i >= base && i < base + p.records));
      base += p.records;
    }
    expect(base).toBe(RECORDS);
    const r = finalize(info, results);
    expect(r).toMatchObject({ path: 'sorted_lmdb', format: 'lmdb', records: RECORDS, complete: true, durationMs: 1, declaredRecords: RECORDS });
    expect(r.findingCounts.nan).toBe(NAN_AT.length);
    const nans = r.findings.filter((f) => f.kind === 'nan');
    expect(nans.map((f) => f.index)).toEqual(NAN_AT);
    expect(nans.map((f) => f.key)).toEqual(NAN_AT.map((i) => String(i).padStart(8, '0')));
    expect(r.stats).toMatchObject({ nan: NAN_AT.length, values: numpyStats.values, min: numpyStats.min, max: numpyStats.max });
    expect(r.stats!.mean).toBeCloseTo(numpyStats.mean, 12);
    expect(r.stats!.std).toBeCloseTo(numpyStats.std, 12);
    expect(r.shapes).toEqual({ '3×8×8': RECORDS });
    expect(r.coverage).toMatchObject({ records: RECORDS, checkedRecords: RECORDS });
  });

  it('gives the same report however the dataset was split', async () => {
    const one = await partitionResults(1);
    const reference = comparable(finalize(one.info, one.results));
    for (const parts of [3, 7]) {
      const split = await partitionResults(parts);
      const r = finalize(split.info, split.results);
      expect(comparable(r)).toEqual(reference);
      expect(r.stats!.mean).toBeCloseTo(numpyStats.mean, 12);
      expect(r.stats!.std).toBeCloseTo(numpyStats.std, 12);
    }
  });

  it('caps examples per kind at maxExamples, and keeps the counts exact', async () => {
    const { info, results } = await partitionResults(4);
    for (const cap of [0, 1, 4]) {
      const r = finalize(info, results, { maxExamples: cap });
      expect(r.findingCounts.nan).toBe(NAN_AT.length);
      // The first ones, in storage order.
      expect(r.findings.filter((f) => f.kind === 'nan').map((f) => f.index)).toEqual(NAN_AT.slice(0, cap));
      expect(r.severityCounts?.error).toBe(finalize(info, results).severityCounts?.error);
    }
  });

  it('analyses the labels of all partitions together, in storage order', async () => {
    const { info, results } = await partitionResults(5);
    const r = finalize(info, results, { batchSize: 8 });
    const labels = r.labels!;
    expect(labels).toMatchObject({
      histogram: { 0: 20, 1: 20 }, records: RECORDS, numClasses: 2, numClassesSource: 'inferred', batchSize: 8,
      fullBatches: 5, partialBatch: 0, labelChanges: 1, sortedLabels: true,
    });
    // Batches of 8 in storage order: 0-7, 8-15 hold only 0; 16-23 both; 24-31, 32-39 only 1.
    expect(labels.singleLabelBatchShare).toBeCloseTo(4 / 5, 12);
    expect(labels.missingInBatches!['0']!.sequential).toBeCloseTo(2 / 5, 12);
    expect(labels.missingInBatches!['1']!.sequential).toBeCloseTo(2 / 5, 12);
    expect(labels.missingInBatches!['0']!.shuffled).toBeCloseTo(missProbability(20, 40, 8), 12);
    expect(r.findingCounts.sorted_labels).toBe(1);
    // Labels from one partition alone would say something else: the first holds only label 0.
    const first = finalize(info, results.slice(0, 1), { batchSize: 8 });
    expect(first.labels!.histogram).toEqual({ 0: 8 });
    // With --num-classes, a class never seen is in the analysis too.
    const three = finalize(info, results, { numClasses: 3 });
    expect(three.labels).toMatchObject({ numClasses: 3, numClassesSource: 'option' });
    expect(three.labels!.missingInBatches!['2']).toMatchObject({ shuffled: 1, sequential: 1 });
    expect(three.findings.some((f) => f.kind === 'label_missing_in_batches' && f.label === 2)).toBe(true);
  });

  it('marks a dataset incomplete when a partition failed, and keeps the findings it was given', async () => {
    const { info, results } = await partitionResults(4);
    const failed: Finding = { kind: 'io_error', severity: 'error', message: 'Could not read part 2 of 4.', file: 'sorted_lmdb' };
    const r = finalize(info, [results[0]!, null, ...results.slice(2)], { findings: [failed] });
    const lost = results[1]!.records;
    const from = results[0]!.records;
    expect(lost).toBeGreaterThan(0);
    expect(r.complete).toBe(false);
    expect(r.records).toBe(RECORDS - lost);
    expect(r.findingCounts.io_error).toBe(1);
    // The records of the failed partition are unreachable: the declared count says so.
    expect(r.findingCounts.record_count_mismatch).toBe(1);
    expect(r.findings.find((f) => f.kind === 'record_count_mismatch')!.message)
      .toBe(`The database declares 40 entries but ${RECORDS - lost} could be read: ${lost} are unreachable.`);
    // Indexes after the gap count the records read, not the records stored.
    expect(r.findings.filter((f) => f.kind === 'nan').map((f) => f.index))
      .toEqual(NAN_AT.filter((i) => i < from || i >= from + lost).map((i) => (i < from ? i : i - lost)));
  });

  it('says nothing of the declared count when the scan was stopped or is a shard', async () => {
    const { info, results } = await partitionResults(4);
    for (const o of [{ aborted: true }, { partial: true }]) {
      const r = finalize(info, results.slice(0, 2), o);
      expect(r.findingCounts.record_count_mismatch).toBeUndefined();
      expect(r.records).toBe(results[0]!.records + results[1]!.records);
    }
    expect(finalize(info, results.slice(0, 2), { aborted: true }).complete).toBe(false);
  });

  it('applies severity overrides to merged findings, and drops kinds turned off', async () => {
    const { info, results } = await partitionResults(2);
    const r = finalize(info, results, { severity: { nan: 'warning', sorted_labels: 'off' } });
    expect(r.findingCounts.nan).toBe(NAN_AT.length);
    expect(r.findings.filter((f) => f.kind === 'nan').every((f) => f.severity === 'warning')).toBe(true);
    expect(r.findingCounts.sorted_labels).toBeUndefined();
    expect(r.findings.some((f) => f.kind === 'sorted_labels')).toBe(false);
  });

  it('makes a report of a dataset that could not be opened from its findings alone', () => {
    const f: Finding = { kind: 'corrupt_file', severity: 'error', message: 'Not an LMDB file.', file: 'sorted_lmdb' };
    const r = finalize(null, [], { findings: [f] });
    expect(r).toMatchObject({ records: 0, bytes: 0, complete: false, labels: null, stats: null, findingCounts: { corrupt_file: 1 } });
    expect(r.findings).toEqual([f]);
  });
});
