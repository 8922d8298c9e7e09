/**
 * Issue 6 fixtures, in every format that carries labels: 10,000 records where one class occurs 3 times, the
 * same records sorted by label, and a balanced shuffled control. The math is checked against exact values.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { caffeKey, encodeDatum, rng, SYSTEM_PYTHON, writeLevelDb, writeLmdb, type KV } from '../../scripts/lib/caffe.js';
import type { DatasetReport } from '../../src/types.js';
import { scanJson } from '../helpers/cli.js';

const N = 10_000;
const B = 64;
const RARE = 7;

function shuffled(labels: number[], seed: number): number[] {
  const next = rng(seed);
  const a = [...labels];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** 10 classes; class RARE has 3 records, the rest share the remainder evenly. */
const rareLabels = (): number[] => {
  const out: number[] = [];
  for (let i = 0; i < N - 3; i++) out.push([0, 1, 2, 3, 4, 5, 6, 8, 9][i % 9]!);
  out.push(RARE, RARE, RARE);
  return out;
};
const CASES = {
  rare: shuffled(rareLabels(), 1),
  sorted: [...rareLabels()].sort((a, b) => a - b),
  control: shuffled(Array.from({ length: N }, (_, i) => i % 10), 2),
};

/** C(N−n, B)/C(N, B), computed independently of the scanner with exact BigInt products (30 digits kept). */
function exactAbsent(n: number, k: number, b: number): number {
  let num = 1n;
  let den = 1n;
  for (let i = 0; i < b; i++) {
    num *= BigInt(n - k - i);
    den *= BigInt(n - i);
  }
  const scale = 10n ** 30n;
  return Number((num * scale) / den) / 1e30;
}

let root: string;
const datasets: Record<string, Record<string, string>> = { lmdb: {}, leveldb: {}, hdf5: {}, 'image-list': {} };

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'nanscan-labels-'));
  // Ten distinct tiny images, named by list lines many times over: decoding stays cheap.
  const imgDir = path.join(root, 'imgs');
  mkdirSync(imgDir);
  for (let i = 0; i < 10; i++) {
    const px = Buffer.alloc(8 * 8 * 3, 0).map((_, j) => (j * 13 + i * 29) & 0xff);
    writeFileSync(path.join(imgDir, `${i}.png`), await sharp(px, { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer());
  }
  for (const [name, labels] of Object.entries(CASES)) {
    const next = rng(3);
    const records: KV[] = labels.map((label, i) => {
      const data = new Uint8Array(16).map(() => (next() * 256) & 0xff);
      return [caffeKey(i), encodeDatum({ channels: 1, height: 4, width: 4, data, label, encoded: false })];
    });
    const db = path.join(root, `${name}_lmdb`);
    await writeLmdb(db, records);
    datasets.lmdb![name] = db;
    const ldb = path.join(root, `${name}_leveldb`);
    await writeLevelDb(ldb, records, 'caffe');
    datasets.leveldb![name] = ldb;
    // HDF5 as Caffe's HDF5Data layer reads it: `data` rows and an (N, 1) float `label`.
    const h5 = path.join(root, `${name}.h5`);
    writeFileSync(`${h5}.labels`, Buffer.from(Int32Array.from(labels).buffer));
    const r = spawnSync(SYSTEM_PYTHON, ['-c', `import sys, h5py, numpy as np
labels = np.fromfile(sys.argv[1] + '.labels', dtype='<i4').astype('float32').reshape(-1, 1)
data = np.random.default_rng(4).normal(size=(labels.shape[0], 4)).astype('float32')
with h5py.File(sys.argv[1], 'w') as f:
    f.create_dataset('data', data=data)
    f.create_dataset('label', data=labels)`, h5], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    datasets.hdf5![name] = h5;
    const list = path.join(root, `${name}.txt`);
    writeFileSync(list, labels.map((l, i) => `imgs/${i % 10}.png ${l}`).join('\n') + '\n');
    datasets['image-list']![name] = list;
  }
}, 300_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const scanOne = (p: string): DatasetReport => {
  const { report } = scanJson([p, '--batch-size', String(B), '--max-examples', '100']);
  expect(report.datasets).toHaveLength(1);
  return report.datasets[0]!;
};

const labelFindings = (d: DatasetReport): string[] =>
  d.findings.filter((f) => f.kind === 'label_missing_in_batches' || f.kind === 'sorted_labels')
    .map((f) => `${f.kind}${f.label === undefined ? '' : ` ${f.label}`}`).sort();

describe.each(['lmdb', 'leveldb', 'hdf5', 'image-list'])('label distributions in %s', (format) => {
  it('flags the class with 3 records in 10,000, with the exact probabilities', () => {
    const d = scanOne(datasets[format]!.rare!);
    expect(d.format).toBe(format);
    expect(labelFindings(d)).toEqual([`label_missing_in_batches ${RARE}`]);
    const m = d.labels!.missingInBatches![String(RARE)]!;
    const exact = exactAbsent(N, 3, B);
    expect(Math.abs(m.shuffled - exact) / exact).toBeLessThan(1e-9);
    expect(Math.abs(d.labels!.missingInBatches!['0']!.shuffled - exactAbsent(N, d.labels!.histogram['0']!, B))).toBeLessThan(1e-12);
    expect(m.expectedBatchesWithout).toBeCloseTo(Math.floor(N / B) * exact, 9);
    expect(d.labels!.histogram[String(RARE)]).toBe(3);
    expect(d.labels!.recommendedBatchSize).toBeGreaterThan(B);
  });

  it('flags the same records sorted by label, with single-class batches', () => {
    const d = scanOne(datasets[format]!.sorted!);
    const found = labelFindings(d);
    expect(found).toContain('sorted_labels');
    // Sorted: every label is absent from nearly every batch in storage order.
    for (let k = 0; k < 10; k++) expect(found).toContain(`label_missing_in_batches ${k}`);
    expect(d.labels!.sortedLabels).toBe(true);
    expect(d.labels!.singleLabelBatchShare).toBeGreaterThan(0.9);
    expect(d.labels!.missingInBatches!['0']!.sequential).toBeGreaterThan(0.85);
  });

  it('gives no label finding on a balanced shuffled control', () => {
    const d = scanOne(datasets[format]!.control!);
    expect(labelFindings(d)).toEqual([]);
    expect(d.labels!.sortedLabels).toBe(false);
    expect(Object.values(d.labels!.histogram)).toEqual(Array(10).fill(N / 10));
  });
});
