/**
 * Dataset-level statistics: constant features, channel statistics and the mean file, on data written by h5py,
 * py-lmdb and PIL, checked against numpy (and the mean file against protobufjs and numpy).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeReports } from '../../src/shard.js';
import type { DatasetReport, Report } from '../../src/types.js';
import { runCli, scanJson } from '../helpers/cli.js';
import { hashTree } from '../helpers/tree.js';

const PYTHON = '/usr/bin/python3';

const WRITER = String.raw`
import io, json, os, sys, h5py, lmdb, numpy as np
from PIL import Image
out = sys.argv[1]
rng = np.random.default_rng(5)

# Tabular features: 400 rows of 12 float32 features far from zero, column 5 constant; a varied control file.
x = (1000 + rng.standard_normal((400, 12)) * np.arange(1, 13)).astype(np.float32)
x[:, 5] = 2.5
with h5py.File(out + '/features.h5', 'w') as f:
    f['data'] = x
    f['label'] = rng.integers(0, 3, 400).astype(np.int64)
with h5py.File(out + '/control.h5', 'w') as f:
    f['data'] = (rng.standard_normal((300, 12))).astype(np.float32)

# Raw-pixel Datums 3x6x5, channel 1 always 128.
def varint(n):
    b = bytearray()
    while True:
        v = n & 0x7f; n >>= 7
        if n: b.append(v | 0x80)
        else: b.append(v); return bytes(b)
pix = rng.integers(0, 256, (250, 3, 6, 5), dtype=np.uint8)
pix[:, 1] = 128
env = lmdb.open(out + '/pixels', map_size=1 << 24)
with env.begin(write=True) as t:
    for i in range(250):
        d = pix[i].tobytes()
        t.put(b'%08d' % i, b'\x08\x03\x10\x06\x18\x05\x22' + varint(len(d)) + d + b'\x28' + varint(i % 4))
env.close()

# An image folder of RGB PNGs, 7x9.
os.makedirs(out + '/images/a'); os.makedirs(out + '/images/b')
imgs = rng.integers(0, 256, (40, 7, 9, 3), dtype=np.uint8)
for i in range(40):
    Image.fromarray(imgs[i]).save(out + '/images/%s/%03d.png' % ('ab'[i % 2], i))

ref = {
  'features': [x.astype(np.float64).mean(0).tolist(), x.astype(np.float64).std(0).tolist()],
  'pixels_mean': pix.astype(np.float64).mean(0).astype(np.float32).ravel().tolist(),
  'pixels_channels': [[float(pix[:, c].mean()), float(pix[:, c].std())] for c in range(3)],
  # Folder order: a/000, a/002, ..., b/001, ...: the mean does not depend on it.
  'images_mean_chw': imgs.astype(np.float64).mean(0).transpose(2, 0, 1).astype(np.float32).ravel().tolist(),
}
json.dump(ref, open(out + '/ref.json', 'w'))
`;

let dir = '';
let ref: { features: number[][]; pixels_mean: number[]; pixels_channels: number[][]; images_mean_chw: number[] };
let before = '';
const byName = new Map<string, DatasetReport>();

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'nanscan-stats-'));
  const w = spawnSync(PYTHON, ['-c', WRITER, dir], { encoding: 'utf8' });
  expect(w.stderr).toBe('');
  ref = JSON.parse(readFileSync(path.join(dir, 'ref.json'), 'utf8')) as typeof ref;
  rmSync(path.join(dir, 'ref.json'));
  before = hashTree(dir);
  for (const d of scanJson([dir, '--workers', '2']).report.datasets) byName.set(path.basename(d.path), d);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('constant features', () => {
  it('finds exactly the planted constant column, with its field, element and value', () => {
    const d = byName.get('features.h5')!;
    expect(d.findingCounts).toEqual({ constant_feature: 1 });
    const f = d.findings[0]!;
    expect([f.field, f.element, f.severity]).toEqual(['data', 5, 'warning']);
    expect(f.message).toContain('column 5');
    expect(f.message).toContain('is 2.5 in all 400 records');
    const e = d.elements!.find((x) => x.field === 'data')!;
    expect(e).toMatchObject({ shape: [12], records: 400, constantElements: 1 });
  });

  it('finds none in clean data with real variation', () => {
    expect(byName.get('control.h5')!.findingCounts).toEqual({});
  });

  it('gives per-column means and stds equal to numpy\'s with elementStats', async () => {
    const { scan } = await import('../../src/index.js');
    const report = await scan(path.join(dir, 'features.h5'), { elementStats: true, workers: 0 });
    const e = report.datasets[0]!.elements!.find((x) => x.field === 'data')!;
    ref.features[0]!.forEach((m, j) => expect(e.mean![j]).toBeCloseTo(m, 8));
    ref.features[1]!.forEach((s, j) => expect(Math.abs(e.std![j]! - s)).toBeLessThan(1e-9 * Math.max(1, s)));
    expect(e.std![5]).toBe(0);
  });
});

describe('channels', () => {
  it('reports per-channel statistics equal to numpy\'s (elementStats), and the constant channel as channel_std_zero', async () => {
    expect(byName.get('pixels')!.stats!.channels).toBeUndefined();
    const { scan } = await import('../../src/index.js');
    const report = await scan(path.join(dir, 'pixels'), { elementStats: true, workers: 0 });
    const d = report.datasets[0]!;
    expect(d.findingCounts.channel_std_zero).toBe(1);
    expect(d.findings.find((f) => f.kind === 'channel_std_zero')!.message).toMatch(/^Channel 1 of 'data' is 128 /);
    // Every position of channel 1 is constant too: 6×5 constant_feature findings, counted exactly.
    expect(d.findingCounts.constant_feature).toBe(30);
    const channels = d.stats!.channels!;
    expect(channels.map((c) => c.values)).toEqual([250 * 30, 250 * 30, 250 * 30]);
    channels.forEach((c, i) => {
      expect(c.mean).toBeCloseTo(ref.pixels_channels[i]![0]!, 9);
      expect(c.std).toBeCloseTo(ref.pixels_channels[i]![1]!, 9);
    });
    expect(channels[1]).toMatchObject({ std: 0, min: 128, max: 128 });
    const { renderHtml } = await import('../../src/report/html.js');
    const page = renderHtml(report, { now: () => new Date(0), hostname: 'h', cwd: dir });
    expect(page).toContain('<h3>Channels</h3>');
    expect(page).toMatch(/<tr class="w"><td class="n">1<\/td><td class="n">128<\/td><td class="n">0<\/td>/);
  });

  it('show in the text report', () => {
    const r = runCli(['scan', path.join(dir, 'pixels'), '--no-color', '--write-mean', path.join(tmpdir(), 'nanscan-stats-mean.npy')], dir);
    expect(r.stdout).toMatch(/channels: 0 mean [\d.]+ std [\d.]+ · 1 mean 128 std 0 · 2 mean/);
    rmSync(path.join(tmpdir(), 'nanscan-stats-mean.npy'));
    const f = runCli(['scan', path.join(dir, 'features.h5'), '--no-color'], dir);
    expect(f.stdout).toContain('3 classes, inferred from the largest label');
    expect(f.stdout).toContain("Feature column 5 of 'data' is 2.5 in all 400 records");
  });
});

describe('the mean file', () => {
  const Blob = protobuf.parse(`syntax = "proto2"; package caffe;
    message BlobProto { repeated float data = 5 [packed = true]; optional int32 num = 1; optional int32 channels = 2;
      optional int32 height = 3; optional int32 width = 4; }`).root.lookupType('caffe.BlobProto');
  const decode = (file: string): { num: number; channels: number; height: number; width: number; data: number[] } =>
    Blob.toObject(Blob.decode(readFileSync(file))) as { num: number; channels: number; height: number; width: number; data: number[] };

  it('of raw-pixel Datums is the BlobProto of numpy\'s per-pixel mean, C×H×W', () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'nanscan-mean-')), 'mean.binaryproto');
    const r = runCli(['scan', path.join(dir, 'pixels'), '--write-mean', out, '-q'], dir);
    expect(r.stderr).toBe('');
    const b = decode(out);
    expect([b.num, b.channels, b.height, b.width]).toEqual([1, 3, 6, 5]);
    expect(Float32Array.from(b.data)).toEqual(Float32Array.from(ref.pixels_mean));
  });

  it('of decoded images is C×H×W: RGB in .npy, BGR in .binaryproto (as OpenCV decodes them for Caffe)', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'nanscan-mean-'));
    expect(runCli(['scan', path.join(dir, 'images'), '--write-mean', path.join(out, 'm.npy'), '-q'], dir).stderr).toBe('');
    const np = spawnSync(PYTHON, ['-c', 'import sys, json, numpy as np\na = np.load(sys.argv[1])\nprint(json.dumps([list(a.shape), str(a.dtype), a.ravel().tolist()]))', path.join(out, 'm.npy')], { encoding: 'utf8' });
    const [shape, dtype, values] = JSON.parse(np.stdout) as [number[], string, number[]];
    expect([shape, dtype]).toEqual([[3, 7, 9], 'float32']);
    expect(Float32Array.from(values)).toEqual(Float32Array.from(ref.images_mean_chw));
    runCli(['scan', path.join(dir, 'images'), '--write-mean', path.join(out, 'm.binaryproto'), '-q'], dir);
    const b = decode(path.join(out, 'm.binaryproto'));
    const plane = 7 * 9;
    expect(b.data.slice(0, plane)).toEqual(Array.from(Float32Array.from(ref.images_mean_chw.slice(2 * plane))));
    expect(b.data.slice(2 * plane)).toEqual(Array.from(Float32Array.from(ref.images_mean_chw.slice(0, plane))));
  });

  it('is refused with one line when the scan holds several datasets', () => {
    const r = runCli(['scan', dir, '--write-mean', path.join(tmpdir(), 'never.npy'), '-q'], dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error: Cannot write the mean file .*never\.npy: it is the mean of one dataset, and \d+ were scanned\.\n$/);
  });
});

describe('shards', () => {
  it('merge to the same constant features and channel statistics as one scan', () => {
    const whole = scanJson([path.join(dir, 'pixels'), path.join(dir, 'features.h5')]).report;
    const shards: Report[] = [1, 2, 3].map((i) => scanJson([path.join(dir, 'pixels'), path.join(dir, 'features.h5'), '--shard', `${i}/3`, '--fail-on', 'none']).report);
    const merged = mergeReports(shards);
    const pick = (r: Report): unknown => r.datasets.map((d) => [d.findingCounts, d.findings, d.elements]);
    expect(pick(merged)).toEqual(pick(whole));
  });

  it('never wrote into the datasets', () => {
    expect(hashTree(dir)).toBe(before);
  });
});
