/** Per-element and per-channel statistics, and the mean file, against numpy and protobufjs. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import {
  addRecord, channelStats, constantChannels, createConstantTracker, mergeConstantTrackers, trackRecord, createElements, elementMean, elementPosition, elementStd, meanArray, mergeElements,
  type ChannelAxis, type ElementAccumulator,
} from '../../src/checks/elements.js';
import { encodeBlobProto, encodeNpy } from '../../src/mean-file.js';

const PYTHON = '/usr/bin/python3';

/** Runs numpy on data passed as a float64 .npy-free raw buffer; returns the JSON the script prints. */
function numpy(script: string, data: Float64Array, shape: number[]): unknown {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanscan-elements-'));
  try {
    const file = path.join(dir, 'x.bin');
    writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const code = `import json, sys, numpy as np\nx = np.fromfile(sys.argv[1], dtype='<f8').reshape(${JSON.stringify(shape)})\n${script}`;
    const r = spawnSync(PYTHON, ['-c', code, file], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A seeded generator (mulberry32), so each run tests the same data. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Accumulates `records` (rows of `n` values) split at `cuts` into partitions, merged in order. */
function accumulate(
  rows: Float64Array, n: number, shape: number[], axis: ChannelAxis, integer: boolean, cuts: number[], asType: (a: Float64Array) => ArrayLike<number>,
): ElementAccumulator {
  const total = rows.length / n;
  const bounds = [0, ...cuts, total];
  const whole = createElements('data', shape, axis, integer);
  for (let p = 0; p + 1 < bounds.length; p++) {
    const part = createElements('data', shape, axis, integer);
    for (let r = bounds[p]!; r < bounds[p + 1]!; r++) addRecord(part, asType(rows.subarray(r * n, (r + 1) * n)));
    mergeElements(whole, part);
  }
  return whole;
}

describe('per-element statistics', () => {
  it('match numpy column by column on float32 features far from zero, merged over partitions; a constant column has std 0', () => {
    const next = rng(7);
    const records = 500;
    const n = 40;
    const rows = new Float64Array(records * n);
    for (let r = 0; r < records; r++) {
      for (let j = 0; j < n; j++) rows[r * n + j] = Math.fround(j === 17 ? 3.25 : 1e4 + j + (next() - 0.5) * (j + 1));
    }
    const acc = accumulate(rows, n, [n], 'none', false, [1, 170, 171, 399], (a) => Float32Array.from(a));
    expect(acc.count).toBe(records);
    const ref = numpy('print(json.dumps([x.mean(0).tolist(), x.std(0).tolist(), x.min(0).tolist(), x.max(0).tolist()]))', rows, [records, n]) as number[][];
    for (let j = 0; j < n; j++) {
      expect(elementMean(acc, j)).toBeCloseTo(ref[0]![j]!, 9);
      expect(Math.abs(elementStd(acc, j) - ref[1]![j]!)).toBeLessThan(1e-9 * Math.max(1, ref[1]![j]!));
      expect(acc.min[j]).toBe(ref[2]![j]);
      expect(acc.max[j]).toBe(ref[3]![j]);
    }
    const constant = Array.from({ length: n }, (_, j) => j).filter((j) => elementStd(acc, j) === 0);
    expect(constant).toEqual([17]);
    expect(elementPosition(acc, 17)).toBe('column 17');
  });

  it('sum pixels exactly: any partitioning gives the same bits, equal to numpy\'s mean; channels C×H×W and H×W×C', () => {
    const next = rng(11);
    const records = 300;
    const shape = [3, 8, 6];
    const n = 3 * 8 * 6;
    const rows = new Float64Array(records * n).map(() => Math.floor(next() * 256));
    const u8 = (a: Float64Array): Uint8Array => Uint8Array.from(a);
    const a = accumulate(rows, n, shape, 'first', true, [100, 200], u8);
    const b = accumulate(rows, n, shape, 'first', true, [1, 2, 3, 250, 299], u8);
    expect(Buffer.from(meanArray(a).buffer)).toEqual(Buffer.from(meanArray(b).buffer));
    expect(a.sum).toEqual(b.sum);
    const ref = numpy(
      'print(json.dumps([x.mean(0).astype(np.float32).tolist(), [[float(x[:, c].mean()), float(x[:, c].std()), float(x[:, c].min()), float(x[:, c].max())] for c in range(3)],' +
      ' [[float(x.reshape(-1, 8, 6, 3)[..., c].mean()), float(x.reshape(-1, 8, 6, 3)[..., c].std())] for c in range(3)]]))',
      rows, [records, ...shape]) as [number[][][], number[][], number[][]];
    expect(Array.from(meanArray(a))).toEqual(ref[0].flat(2));
    const chw = channelStats(a);
    expect(chw.map((c) => c.values)).toEqual([records * 48, records * 48, records * 48]);
    chw.forEach((c, i) => {
      expect(c.mean).toBeCloseTo(ref[1][i]![0]!, 10);
      expect(c.std).toBeCloseTo(ref[1][i]![1]!, 10);
      expect([c.min, c.max]).toEqual([ref[1][i]![2], ref[1][i]![3]]);
    });
    // The same bytes read as H×W×C records (8×6×3): channel = last axis.
    const hwc = accumulate(rows, n, [8, 6, 3], 'last', true, [150], u8);
    channelStats(hwc).forEach((c, i) => {
      expect(c.mean).toBeCloseTo(ref[2][i]![0]!, 10);
      expect(c.std).toBeCloseTo(ref[2][i]![1]!, 10);
    });
    expect(elementPosition(a, 1 * 48 + 2 * 6 + 5)).toBe('(c, y, x) = (1, 2, 5)');
    expect(elementPosition(hwc, 5)).toBe('(y, x, c) = (0, 1, 2)');
  });

  it('a channel that is constant over every record has std exactly 0, the others do not', () => {
    const shape = [3, 4, 4];
    const acc = createElements('data', shape, 'first', true);
    const next = rng(3);
    for (let r = 0; r < 50; r++) {
      const rec = new Uint8Array(48).map((_, i) => (i >= 16 && i < 32 ? 128 : Math.floor(next() * 256)));
      addRecord(acc, rec);
    }
    expect(channelStats(acc).map((c) => c.std === 0)).toEqual([false, true, false]);
  });
});

describe('constant positions', () => {
  it('are exactly the columns a brute-force check finds, however the records are split into partitions', () => {
    const next = rng(21);
    const n = 60;
    const records = 200;
    // Columns 3, 17 and 40 constant; column 41 constant but for one record; the rest random small integers.
    const rows = Array.from({ length: records }, (_, r) => Uint8Array.from({ length: n }, (_, j) =>
      j === 3 || j === 17 || j === 40 || (j === 41 && r !== 150) ? 9 : Math.floor(next() * 3)));
    const brute = Array.from({ length: n }, (_, j) => j).filter((j) => rows.every((row) => row[j] === rows[0]![j]));
    expect(brute).toEqual([3, 17, 40]);
    for (const cuts of [[], [1], [100, 150, 151], [10, 20, 30, 199]]) {
      const bounds = [0, ...cuts, records];
      const whole = createConstantTracker('data', [n], 'none');
      for (let p = 0; p + 1 < bounds.length; p++) {
        const part = createConstantTracker('data', [n], 'none');
        for (let r = bounds[p]!; r < bounds[p + 1]!; r++) trackRecord(part, rows[r]!);
        mergeConstantTrackers(whole, part);
      }
      expect(whole.records).toBe(records);
      expect(whole.positions).toEqual(brute);
      expect(whole.values).toEqual([9, 9, 9]);
    }
  });

  it('make a channel constant only when all its positions hold one value', () => {
    const t = createConstantTracker('data', [2, 2, 2], 'first');
    trackRecord(t, Uint8Array.from([1, 2, 3, 4, 7, 7, 7, 7]));
    trackRecord(t, Uint8Array.from([5, 2, 3, 4, 7, 7, 7, 7]));
    expect(constantChannels(t)).toEqual([{ channel: 1, value: 7 }]);
    const u = createConstantTracker('data', [2, 2, 2], 'first');
    trackRecord(u, Uint8Array.from([1, 2, 3, 4, 7, 7, 7, 8]));
    trackRecord(u, Uint8Array.from([5, 2, 3, 4, 7, 7, 7, 8]));
    expect(constantChannels(u)).toEqual([]);
  });
});

describe('the mean file', () => {
  const mean = Float32Array.from({ length: 3 * 4 * 5 }, (_, i) => i / 7 + 100);

  it('as .binaryproto: a BlobProto protobufjs decodes to num 1, C, H, W and the data, in C order', () => {
    const root = protobuf.parse(`syntax = "proto2"; package caffe;
      message BlobShape { repeated int64 dim = 1 [packed = true]; }
      message BlobProto { optional BlobShape shape = 7; repeated float data = 5 [packed = true];
        repeated float diff = 6 [packed = true]; optional int32 num = 1 [default = 0];
        optional int32 channels = 2 [default = 0]; optional int32 height = 3 [default = 0]; optional int32 width = 4 [default = 0]; }`).root;
    const Blob = root.lookupType('caffe.BlobProto');
    const decoded = Blob.toObject(Blob.decode(encodeBlobProto(mean, 3, 4, 5))) as { num: number; channels: number; height: number; width: number; data: number[] };
    expect([decoded.num, decoded.channels, decoded.height, decoded.width]).toEqual([1, 3, 4, 5]);
    expect(Float32Array.from(decoded.data)).toEqual(mean);
  });

  it('as .npy: numpy loads a float32 C×H×W array with the same values', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nanscan-npy-'));
    try {
      const file = path.join(dir, 'mean.npy');
      writeFileSync(file, encodeNpy(mean, [3, 4, 5]));
      const r = spawnSync(PYTHON, ['-c', 'import sys, json, numpy as np\na = np.load(sys.argv[1])\nprint(json.dumps([str(a.dtype), list(a.shape), a.flags["C_CONTIGUOUS"], a.ravel().tolist()]))', file], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      const [dtype, shape, c, values] = JSON.parse(r.stdout) as [string, number[], boolean, number[]];
      expect([dtype, shape, c]).toEqual(['float32', [3, 4, 5], true]);
      expect(Float32Array.from(values)).toEqual(mean);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
