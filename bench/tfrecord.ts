/**
 * TFRecord section of `npm run bench` (BENCH_ONLY=tfrecord): nanscan against the Python reference
 * (bench/tfrecord_reference.py: what the PyTorch `tfrecord` package's reader does, CRCs checked, Examples decoded,
 * images decoded with PIL) on (1) ~1 GB of Examples with 512 float32s each, in one file, and (2) ~20k JPEG
 * Examples in 8 shards. Runs alternate (nanscan, reference, nanscan, ...); medians; ratio.
 *
 * The datasets are written here (framing with @node-rs/crc32, Examples encoded by hand, JPEGs by sharp) into the
 * temp folder, once.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32c } from '@node-rs/crc32';
import sharp from 'sharp';
import { SYSTEM_PYTHON } from '../scripts/lib/caffe.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

const mask = (c: number): number => ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;

function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) { out.push((v & 0x7f) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
  return out;
}
const ld = (field: number, payload: Uint8Array): Buffer => Buffer.concat([Buffer.from([(field << 3) | 2, ...varint(payload.length)]), payload]);

function feature(name: string, f: { floats?: Float32Array; bytes?: Uint8Array; int?: number }): Buffer {
  const value = f.floats ? ld(2, ld(1, new Uint8Array(f.floats.buffer, f.floats.byteOffset, f.floats.byteLength)))
    : f.bytes ? ld(1, ld(1, f.bytes)) : ld(3, ld(1, Buffer.from(varint(f.int!))));
  return ld(1, Buffer.concat([ld(1, Buffer.from(name)), ld(2, value)]));
}

function frame(data: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(data.length));
  head.writeUInt32LE(mask(crc32c(head.subarray(0, 8))), 8);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(mask(crc32c(data)));
  return Buffer.concat([head, data, tail]);
}

/** Writes `n` records made by `make(i)` to `file` (through a temporary name, so a half-written file never stays). */
function writeRecords(file: string, n: number, make: (i: number) => Buffer): void {
  const fd = openSync(`${file}.part`, 'w');
  let chunk: Buffer[] = [];
  let size = 0;
  for (let i = 0; i < n; i++) {
    const f = frame(make(i));
    chunk.push(f);
    size += f.length;
    if (size > 16 << 20) { writeSync(fd, Buffer.concat(chunk)); chunk = []; size = 0; }
  }
  writeSync(fd, Buffer.concat(chunk));
  closeSync(fd);
  renameSync(`${file}.part`, file);
}

export async function datasets(tmp: string): Promise<{ floats: string; images: string }> {
  const floats = path.join(tmp, 'nanscan-bench-tfrecord-floats.tfrecord');
  if (!existsSync(floats)) {
    let seed = 1;
    const x = new Float32Array(512);
    writeRecords(floats, 500_000, (i) => {
      for (let k = 0; k < x.length; k++) { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; x[k] = seed / 2 ** 31 - 1; }
      return ld(1, Buffer.concat([feature('x', { floats: x }), feature('label', { int: i % 100 })]));
    });
  }
  const images = path.join(tmp, 'nanscan-bench-tfrecord-images');
  if (!existsSync(path.join(images, 'train.tfrecord-00007-of-00008'))) {
    mkdirSync(images, { recursive: true });
    // 256 distinct 96x96 JPEGs (noise, so they do not compress to nothing), cycled over 20,000 records.
    const jpegs = await Promise.all(Array.from({ length: 256 }, (_, i) => {
      const px = Buffer.alloc(96 * 96 * 3);
      let s = i + 1;
      for (let k = 0; k < px.length; k++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; px[k] = (s >>> 24) & (k % 7 === 0 ? 0xff : 0x3f); }
      return sharp(px, { raw: { width: 96, height: 96, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
    }));
    for (let s = 0; s < 8; s++) {
      writeRecords(path.join(images, `train.tfrecord-${String(s).padStart(5, '0')}-of-00008`), 2500, (i) => {
        const n = s * 2500 + i;
        return ld(1, Buffer.concat([feature('image/encoded', { bytes: jpegs[n % 256]! }), feature('image/class/label', { int: n % 10 })]));
      });
    }
  }
  return { floats, images };
}

function warm(p: string): void {
  const st = statSync(p);
  if (st.isDirectory()) { for (const n of readdirSync(p)) warm(path.join(p, n)); return; }
  const fd = openSync(p, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  while (readSync(fd, buf, 0, buf.length, null) > 0) { /* read and drop */ }
  closeSync(fd);
}

interface Run { ms: number; records: number; bytes: number; maxRssMiB: number; findings: number }

function nanscan(p: string): Run {
  const r = spawnSync(process.execPath, [path.join(here, 'scan-child.mjs'), p], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Run;
}

function reference(p: string): { ms: number; out: string } {
  const t0 = performance.now();
  const r = spawnSync(SYSTEM_PYTHON, [path.join(here, 'tfrecord_reference.py'), p], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return { ms: performance.now() - t0, out: r.stdout.trim() };
}

export async function runTfrecordBench(runs: number, tmp = os.tmpdir()): Promise<void> {
  const { floats, images } = await datasets(tmp);
  for (const [title, p] of [['TFRecord, 500k Examples x 512 float32 (one file)', floats], ['TFRecord, 20k JPEG Examples (8 shards)', images]] as const) {
    warm(p);
    // The reference checks CRCs with Debian's python3-crc32c (apt-get install python3-crc32c); without it, nanscan alone.
    const hasRef = spawnSync(SYSTEM_PYTHON, ['-c', 'import crc32c'], { encoding: 'utf8' }).status === 0;
    const ours: Run[] = [];
    const theirs: number[] = [];
    let refOut = '';
    for (let i = 0; i < runs; i++) {
      ours.push(nanscan(p));
      if (!hasRef) continue;
      const r = reference(p);
      theirs.push(r.ms);
      refOut = r.out;
    }
    const ms = median(ours.map((r) => r.ms));
    const refMs = median(theirs);
    const first = ours[0]!;
    console.log(`\n${title} (${os.availableParallelism()} cores)`);
    console.log(`  nanscan: ${fmt(first.records / (ms / 1000))} records/s, ${fmt(first.bytes / 1e6 / (ms / 1000))} MB/s ` +
      `(median of ${runs}: ${ms.toFixed(0)} ms, ${fmt(first.records)} records, ${(first.bytes / 1e6).toFixed(0)} MB, peak RSS ${median(ours.map((r) => r.maxRssMiB)).toFixed(0)} MiB, ${first.findings} findings)`);
    if (!hasRef) {
      console.log('  (install python3-crc32c for the Python reference)');
      continue;
    }
    console.log(`  Python reference (framing + CRC-32C + Example decode + numpy isfinite / PIL decode): ${refMs.toFixed(0)} ms ` +
      `(records bad nonfinite: ${refOut}); nanscan / it: ${(refMs / ms).toFixed(2)}x`);
  }
}
