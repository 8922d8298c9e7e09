/**
 * Sample records (WebDataset samples, TFRecord Examples, table rows with image columns): what the analyzer makes of
 * each kind of member, with numpy-free oracles (the values are planted, the images are committed fixtures whose
 * state the image tests establish with Pillow).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PartitionAnalyzer } from '../../src/checks/record.js';
import { loadKernel } from '../../src/kernels/scan.js';
import type { AnalyzeOptions } from '../../src/pool/protocol.js';
import type { SampleRecord } from '../../src/readers/types.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const OPTIONS: AnalyzeOptions = {
  maxExamples: 10, limitInputPixels: 1e8, imageConcurrency: 4, forceJsKernel: false, numClasses: 3,
  severity: {}, imageStrictness: 'warning', timeoutMs: 10_000, elementStats: true, fullDecode: false,
};

function features(i: number, nan = false): Float32Array {
  const a = Float32Array.from({ length: 6 }, (_, j) => (j === 5 ? 7 : i * 0.5 + j));
  if (nan) a[2] = Number.NaN;
  return a;
}

async function analyse(samples: SampleRecord[]) {
  const a = new PartitionAnalyzer(loadKernel(), OPTIONS);
  for (const s of samples) await a.sample(s);
  return a.finish();
}

describe('sample records', () => {
  it('checks array members by name, labels as labels, and counts a sample with nothing checkable as unchecked', async () => {
    const samples: SampleRecord[] = [];
    for (let i = 0; i < 8; i++) {
      samples.push({ kind: 'sample', index: i, file: 'shard-0.tar', key: `s${i}`, fields: [
        { type: 'array', name: 'x', dtype: 'f32', shape: [6], data: features(i, i === 3) },
        { type: 'label', name: 'cls', value: i === 5 ? 4 : i % 3 },
        { type: 'opaque', name: 'json' },
      ] });
    }
    samples.push({ kind: 'sample', index: 8, file: 'shard-0.tar', key: 'meta', offset: 1024, fields: [{ type: 'opaque', name: 'txt' }] });
    const r = await analyse(samples);
    expect(r.records).toBe(9);
    expect(r.localIndexes).toBe(true);
    const nan = r.findings.filter((f) => f.kind === 'nan');
    expect(nan).toHaveLength(1);
    expect(nan[0]).toMatchObject({ file: 'shard-0.tar', key: 's3', index: 3, field: 'x' });
    const range = r.findings.filter((f) => f.kind === 'label_out_of_range');
    expect(range).toHaveLength(1);
    expect(range[0]).toMatchObject({ key: 's5', label: 4, field: 'cls' });
    expect([...r.labels]).toEqual([0, 1, 2, 0, 1, 4, 0, 1]);
    expect(r.unchecked.opaque_value).toEqual({ count: 1, examples: ['shard-0.tar meta'] });
    // Element 5 is 7 in every sample: the constant tracker sees it (the NaN sample stays out of the tallies).
    const layout = Object.values(r.layouts.layouts).find((l) => l.field === 'x');
    expect(layout?.records).toBe(7);
    expect(layout?.constants?.positions).toEqual([5]);
    expect(layout?.constants?.values).toEqual([7]);
  });

  it('decodes image members and locates their findings by sample and member', async () => {
    const good = readFileSync(path.join(ROOT, 'fixtures/images/classes/bird/bird0.jpg'));
    const cut = readFileSync(path.join(ROOT, 'fixtures/images/classes/bird/cut.png'));
    const blank = readFileSync(path.join(ROOT, 'fixtures/images/classes/bird/blank.png'));
    const r = await analyse([good, cut, blank].map((bytes, i) => ({ kind: 'sample', index: i, file: 'a.tfrecord', offset: i * 100,
      fields: [{ type: 'image', name: 'image/encoded', bytes }, { type: 'label', name: 'label', value: 1 }] })));
    expect(r.records).toBe(3);
    const cut_ = r.findings.filter((f) => f.kind === 'truncated_image');
    expect(cut_.map((f) => [f.index, f.offset, f.field])).toEqual([[1, 100, 'image/encoded']]);
    expect(r.findings.filter((f) => f.kind === 'constant_sample').map((f) => f.index)).toEqual([2]);
    expect(r.labelled).toBe(3);
  });

  it('holds back non-integer labels and reports a NaN label as a value finding', async () => {
    const r = await analyse([0.5, Number.NaN, 2].map((value, i) => ({ kind: 'sample', index: i, file: 'f',
      fields: [{ type: 'label', name: 'y', value }] })));
    expect(r.nonIntegerLabels).toBe(1);
    expect(r.labelChecks!.findings.map((f) => f.index)).toEqual([0]);
    expect(r.findings.filter((f) => f.kind === 'nan').map((f) => [f.index, f.field])).toEqual([[1, 'y']]);
    expect([...r.labels]).toEqual([2]);
  });
});

describe('shapes of sample members', () => {
  it('compares an image member\'s shape with the same member of other samples only', async () => {
    const { checkShapes } = await import('../../src/checks/consistency.js');
    const { FindingSink } = await import('../../src/checks/findings.js');
    const sharp = (await import('sharp')).default;
    const rgb = await sharp(Buffer.from(Array.from({ length: 8 * 8 * 3 }, (_, i) => (i * 37) & 0xff)), { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
    const grey = await sharp(Buffer.from(Array.from({ length: 8 * 8 }, (_, i) => (i * 29) & 0xff)), { raw: { width: 8, height: 8, channels: 1 } })
      .toColourspace('b-w').png().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const samples: SampleRecord[] = [0, 1, 2].map((i) => ({ kind: 'sample', index: i, file: 's.tar', key: `k${i}`, fields: [
      { type: 'image', name: 'jpg', bytes: rgb },
      // One seg member of three is RGB: that one mismatches, the grayscale members never clash with the RGB jpgs.
      { type: 'image', name: 'seg.png', bytes: i === 2 ? rgb : grey },
    ] }));
    const r = await analyse(samples);
    const sink = new FindingSink(10);
    checkShapes(r.shapes, sink);
    expect(sink.findings.map((f) => [f.kind, f.key, f.field])).toEqual([['channel_mismatch', 'k2', 'seg.png']]);
  });
});
