/**
 * The differential test behind 1/8-scale JPEG decoding (ScanOptions.fullDecode): over thousands of damaged JPEGs
 * (bit flips, truncations, byte runs, lost and duplicated segments of several encodings), a 1/8-scale decode must
 * classify every file exactly as a full decode does: the same status (clean, warnings, error), and the same
 * finding kind and message once classified. The full decode is the oracle; libjpeg-turbo's scaled decode reads
 * every entropy-coded coefficient, which is why they agree.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImageNow } from '../../src/decode/image.js';
import { loadNativeJpeg } from '../../src/decode/jpeg-native.js';
import { ROOT } from '../helpers/cli.js';

/** Mutants in all: at least 5,000, as the performance issue asks. */
const MUTANTS = 6000;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Encodings users' JPEGs come in: baseline 4:2:0 and 4:4:4, progressive, grayscale, odd sizes, the fixtures. */
async function sources(): Promise<Buffer[]> {
  const next = rng(7);
  const out: Buffer[] = [];
  for (const [w, h, ch] of [[256, 256, 3], [97, 61, 3], [64, 48, 1], [200, 120, 3]] as const) {
    const px = Buffer.alloc(w * h * ch);
    for (let i = 0; i < px.length; i++) px[i] = ((i % (w * ch)) / ch + next() * 60) & 0xff;
    const img = (): Sharp => sharp(px, { raw: { width: w, height: h, channels: ch } });
    out.push(await img().jpeg({ quality: 90 }).toBuffer());
    out.push(await img().jpeg({ quality: 75, progressive: true }).toBuffer());
    if (ch === 3) out.push(await img().jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer());
    out.push(await img().jpeg({ quality: 80, optimiseCoding: false }).toBuffer());
  }
  const dir = path.join(ROOT, 'fixtures/images/classes/bird');
  for (const f of readdirSync(dir)) if (f.endsWith('.jpg')) out.push(readFileSync(path.join(dir, f)));
  return out.filter((b) => b[0] === 0xff && b[1] === 0xd8);
}

function mutate(src: Buffer, next: () => number): Buffer {
  const b = Buffer.from(src);
  const at = (): number => Math.floor(next() * b.length);
  switch (Math.floor(next() * 6)) {
    case 0: { // bit flips
      const n = 1 + Math.floor(next() * 8);
      for (let i = 0; i < n; i++) b[at()]! ^= 1 << Math.floor(next() * 8);
      return b;
    }
    case 1: // truncation
      return b.subarray(0, Math.max(4, at()));
    case 2: { // a run of random bytes
      const start = at();
      const n = 1 + Math.floor(next() * 64);
      for (let i = start; i < Math.min(b.length, start + n); i++) b[i] = Math.floor(next() * 256);
      return b;
    }
    case 3: { // a run of zeros (a lost disk block)
      const start = at();
      b.fill(0, start, Math.min(b.length, start + 1 + Math.floor(next() * 512)));
      return b;
    }
    case 4: { // a slice cut out
      const start = at();
      const end = Math.min(b.length, start + 1 + Math.floor(next() * 256));
      return Buffer.concat([b.subarray(0, start), b.subarray(end)]);
    }
    default: { // a slice duplicated
      const start = at();
      const end = Math.min(b.length, start + 1 + Math.floor(next() * 256));
      return Buffer.concat([b.subarray(0, end), b.subarray(start)]);
    }
  }
}

let srcs: Buffer[];
beforeAll(async () => { srcs = await sources(); });

const native = loadNativeJpeg();

describe.runIf(native !== null)('1/8-scale JPEG decoding', () => {
  it(`classifies ${MUTANTS} damaged JPEGs exactly as a full decode`, () => {
    const next = rng(20261204);
    const statuses: Record<string, number> = {};
    const differences: string[] = [];
    for (let i = 0; i < MUTANTS; i++) {
      const buf = mutate(srcs[i % srcs.length]!, next);
      const full = native!.decode(buf, 50_000_000, undefined, 1);
      const small = native!.decode(buf, 50_000_000, undefined, 8);
      statuses[full.status] = (statuses[full.status] ?? 0) + 1;
      // Null when the mutant no longer starts like a JPEG (then only the decoder statuses are compared).
      const f = decodeImageNow(buf, { limitInputPixels: 50_000_000, scale: 1 });
      const s = decodeImageNow(buf, { limitInputPixels: 50_000_000, scale: 8 });
      const describe = (r: typeof f): string =>
        r === null ? 'not a JPEG' : r.ok ? `ok ${r.width}×${r.height}×${r.channels} ${r.warning ?? ''}` : `${r.kind} ${r.reason}`;
      if (full.status !== small.status || describe(f) !== describe(s)) {
        differences.push(`mutant ${i} of source ${i % srcs.length}: full ${full.status} (${describe(f)}), 1/8 ${small.status} (${describe(s)})`);
      }
    }
    expect(differences).toEqual([]);
    // The mutants exercise every outcome, or the comparison proves little.
    expect(statuses.ok).toBeGreaterThan(MUTANTS / 20);
    expect(statuses.warning).toBeGreaterThan(MUTANTS / 20);
    expect(statuses.error).toBeGreaterThan(MUTANTS / 20);
  });

  it('gives each 8×8 block\'s mean at 1/8 scale, with the full image\'s size', () => {
    const full = native!.decode(srcs[0]!, 50_000_000, undefined, 1);
    const small = native!.decode(srcs[0]!, 50_000_000, undefined, 8);
    if (full.status !== 'ok' || small.status !== 'ok') throw new Error('source must decode cleanly');
    expect([small.width, small.height, small.fullWidth, small.fullHeight]).toEqual([32, 32, 256, 256]);
    // The thumbnail's mean is the image's mean up to rounding (DC coefficients are block means).
    const mean = (p: Uint8Array): number => p.reduce((a, b) => a + b, 0) / p.length;
    expect(Math.abs(mean(small.pixels) - mean(full.pixels))).toBeLessThan(1);
  });
});
