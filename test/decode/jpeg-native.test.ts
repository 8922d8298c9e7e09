import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { rng } from '../../scripts/lib/caffe.js';
import { FIXTURES } from '../../scripts/lib/fixture-spec.js';
import { loadNativeJpeg, type NativeJpeg, type NativeJpegResult } from '../../src/decode/jpeg-native.js';

// Build (or find up to date) the addon the way an install does. Without a compiler or jpeglib.h the script
// warns and exits 0 and nanscan falls back to sharp; the tests need the addon (.ci/run installs
// libjpeg62-turbo-dev), so they fail with the build's warning rather than skip.
const build = spawnSync(process.execPath, ['scripts/build-native.mjs'], { encoding: 'utf8' });
const buildWarning = build.stderr.trim();
const native = loadNativeJpeg();

const ROOT = join(import.meta.dirname, '..', '..');
const MAX_PIXELS = 50e6;
const STATUSES = ['ok', 'warning', 'error', 'oversized'];

/** Smooth gradients plus noise, like the fixture script: compresses like a photo. */
function noisy(width: number, height: number, seed = 1): Sharp {
  const next = rng(seed);
  const px = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) {
    px[(y * width + x) * 3 + c] = (x * 3 + y * 2 + c * 40 + next() * 30) & 0xff;
  }
  return sharp(px, { raw: { width, height, channels: 3 } });
}

/** What `decode` returned, minus the pixels: for readable failure messages. */
function summary(r: NativeJpegResult): Record<string, unknown> {
  const { pixels: _pixels, fullWidth, fullHeight, ...rest } = r as NativeJpegResult & { pixels?: Buffer; fullWidth?: number; fullHeight?: number };
  // A full-size decode: the image's size is the pixels' size.
  if (rest.status === 'ok' || rest.status === 'warning') expect([fullWidth, fullHeight]).toEqual([rest.width, rest.height]);
  return rest;
}

/** Every invariant a result must satisfy, whatever the input. */
function checkShape(r: NativeJpegResult, maxPixels: number): void {
  expect(STATUSES).toContain(r.status);
  if (r.status === 'ok' || r.status === 'warning') {
    // 1, 3 or 4 for real files; a crafted 2- or 5..10-component file comes back as its components (JCS_UNKNOWN).
    expect(r.channels).toBeGreaterThanOrEqual(1);
    expect(r.channels).toBeLessThanOrEqual(10);
    expect(r.width * r.height).toBeLessThanOrEqual(maxPixels);
    expect(r.pixels.length).toBe(r.width * r.height * r.channels);
  }
  if (r.status === 'warning') expect(r.warnings).toBeGreaterThan(0);
  if (r.status === 'warning' || r.status === 'error') expect(r.message.length).toBeGreaterThan(0);
  if (r.status === 'oversized') expect(r.width * r.height).toBeGreaterThan(maxPixels);
}

/** Offset of the first SOFn marker (FFC0..FFCF except DHT C4, JPG C8, DAC CC). */
function sofOffset(b: Uint8Array): number {
  for (let i = 2; i + 9 < b.length; i++) {
    const m = b[i + 1]!;
    if (b[i] === 0xff && m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return i;
  }
  throw new Error('no SOF marker');
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

describe('loadNativeJpeg', () => {
  it('returns null with NANSCAN_NO_NATIVE_JPEG=1, also after a successful load', () => {
    loadNativeJpeg(); // fill the cache first: the env must still win
    const saved = process.env.NANSCAN_NO_NATIVE_JPEG;
    process.env.NANSCAN_NO_NATIVE_JPEG = '1';
    try {
      expect(loadNativeJpeg()).toBeNull();
    } finally {
      if (saved === undefined) delete process.env.NANSCAN_NO_NATIVE_JPEG;
      else process.env.NANSCAN_NO_NATIVE_JPEG = saved;
    }
    expect(loadNativeJpeg()).toBe(native);
  });

  it('is built and loads', () => {
    expect(build.status).toBe(0);
    expect(buildWarning).toBe('');
    expect(native).not.toBeNull();
  });
});

describe('native JPEG decoder', () => {
  const n = native as NativeJpeg;

  it('names its libjpeg', () => {
    expect(n.version).toMatch(/^libjpeg(-turbo)? \d/);
  });

  it('throws a TypeError only for arguments of the wrong type', () => {
    const decode = n.decode as (...args: unknown[]) => unknown;
    expect(() => decode('not bytes', 1)).toThrow(TypeError);
    expect(() => decode(new Uint16Array(4), 1)).toThrow(TypeError);
    expect(() => decode(new Uint8Array(4))).toThrow(TypeError);
    expect(() => decode(new Uint8Array(4), NaN)).toThrow(TypeError);
  });

  // sharp's libvips decodes JPEG with libjpeg-turbo's API too (islow IDCT, fancy upsampling): measured
  // bit-identical for all of these, so any difference at all means the addon set something up differently.
  const cases: [string, () => Promise<Buffer>, number, number, number][] = [
    ['baseline RGB, quality 90', () => noisy(256, 256).jpeg({ quality: 90 }).toBuffer(), 256, 256, 3],
    ['progressive', () => noisy(256, 256, 2).jpeg({ quality: 90, progressive: true }).toBuffer(), 256, 256, 3],
    // b-w, not .grayscale(): sharp writes a .grayscale() image as a 3-component JPEG.
    ['grayscale', () => noisy(256, 256, 3).toColourspace('b-w').jpeg({ quality: 90 }).toBuffer(), 256, 256, 1],
    ['4:2:0', () => noisy(256, 256, 4).jpeg({ quality: 90, chromaSubsampling: '4:2:0' }).toBuffer(), 256, 256, 3],
    ['4:4:4', () => noisy(256, 256, 5).jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer(), 256, 256, 3],
    ['odd size 257×131', () => noisy(257, 131, 6).jpeg({ quality: 90 }).toBuffer(), 257, 131, 3],
    ['odd size progressive 4:2:0', () => noisy(131, 257, 7).jpeg({ quality: 80, progressive: true }).toBuffer(), 131, 257, 3],
  ];
  for (const [name, make, width, height, channels] of cases) {
    it(`decodes ${name} exactly like sharp`, async () => {
      const buf = await make();
      const r = n.decode(buf, MAX_PIXELS);
      expect(summary(r)).toEqual({ status: 'ok', width, height, channels });
      // sharp outputs a 1-component JPEG as 3 channels unless asked to keep it b-w.
      const ref = await (channels === 1 ? sharp(buf).toColourspace('b-w') : sharp(buf)).raw().toBuffer({ resolveWithObject: true });
      expect([ref.info.width, ref.info.height, ref.info.channels]).toEqual([width, height, channels]);
      if (r.status === 'ok') expect(Buffer.compare(r.pixels, ref.data)).toBe(0);
    });
  }

  it('decodes CMYK to 4 channels as stored: Adobe-inverted, where sharp and PIL invert back', async () => {
    const buf = await noisy(64, 48, 8).toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer();
    const r = n.decode(buf, MAX_PIXELS);
    expect(summary(r)).toEqual({ status: 'ok', width: 64, height: 48, channels: 4 });
    // libvips inverts CMYK from files with an Adobe APP14 marker (as Photoshop writes them, and sharp does).
    expect(buf.includes(Buffer.from('Adobe'))).toBe(true);
    const ref = await sharp(buf).pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
    expect(ref.info.channels).toBe(4);
    if (r.status === 'ok') expect(Buffer.compare(r.pixels.map((v) => 255 - v), ref.data)).toBe(0);
  });

  it('reads a view in place: byteOffset of a subarray is honoured', async () => {
    const buf = await noisy(40, 30, 9).jpeg().toBuffer();
    const padded = new Uint8Array(buf.length + 100).fill(0x55);
    padded.set(buf, 37);
    const view = padded.subarray(37, 37 + buf.length);
    expect(summary(n.decode(view, MAX_PIXELS))).toEqual({ status: 'ok', width: 40, height: 30, channels: 3 });
  });

  it('decodes into a caller buffer when the pixels fit, and into a new one when they do not', async () => {
    const buf = await noisy(40, 30, 12).jpeg().toBuffer();
    const fresh = n.decode(buf, MAX_PIXELS);
    if (fresh.status !== 'ok') throw new Error(fresh.status);
    // A view into the middle of a larger buffer: pixels land at its start, nothing outside is touched.
    const backing = new Uint8Array(8000).fill(7);
    const out = backing.subarray(100, 100 + 40 * 30 * 3 + 5);
    const into = n.decode(buf, MAX_PIXELS, out);
    if (into.status !== 'ok') throw new Error(into.status);
    expect(into.pixels.buffer).toBe(backing.buffer);
    expect(into.pixels.byteOffset).toBe(100);
    expect(into.pixels.length).toBe(3600);
    expect(Buffer.compare(Buffer.from(into.pixels), Buffer.from(fresh.pixels))).toBe(0);
    expect(backing.subarray(0, 100).every((v) => v === 7)).toBe(true);
    expect(backing.subarray(3700).every((v) => v === 7)).toBe(true);
    // Too small: a buffer of its own, and `out` untouched.
    const small = new Uint8Array(100).fill(9);
    const other = n.decode(buf, MAX_PIXELS, small);
    if (other.status !== 'ok') throw new Error(other.status);
    expect(other.pixels.buffer).not.toBe(small.buffer);
    expect(small.every((v) => v === 9)).toBe(true);
    expect(() => n.decode(buf, MAX_PIXELS, new Float32Array(10) as unknown as Uint8Array)).toThrow(TypeError);
  });

  describe('damaged files', async () => {
    const base = await noisy(256, 256, 10).jpeg({ quality: 90 }).toBuffer();
    const progressive = await noisy(256, 256, 11).jpeg({ quality: 90, progressive: true }).toBuffer();

    it('cut at 50%: libjpeg pads with a fake EOI and warns', () => {
      for (const b of [base, progressive]) {
        const r = n.decode(b.subarray(0, b.length >> 1), MAX_PIXELS);
        checkShape(r, MAX_PIXELS);
        // Then "Corrupt JPEG data: premature end of data segment" for the half that is gone.
        expect(summary(r)).toMatchObject({ status: 'warning', width: 256, height: 256, message: 'Premature end of JPEG file' });
        if (r.status === 'warning') expect(r.warnings).toBeGreaterThanOrEqual(1);
      }
    });

    it('EOI (last 2 bytes) cut: one warning', () => {
      // Also only the final 0xD9 cut: a lone 0xFF at the end is no marker either.
      for (const cut of [2, 1]) {
        const r = n.decode(base.subarray(0, base.length - cut), MAX_PIXELS);
        expect(summary(r)).toEqual({ status: 'warning', width: 256, height: 256, channels: 3, message: 'Premature end of JPEG file', warnings: 1 });
      }
    });

    it('one byte of entropy-coded data inverted mid-file: the Huffman decoder desyncs and warns', () => {
      const b = Buffer.from(base);
      const mid = b.length >> 1;
      b[mid] = b[mid]! ^ 0xff; // every bit of the middle byte flipped
      const r = n.decode(b, MAX_PIXELS);
      checkShape(r, MAX_PIXELS);
      expect(summary(r)).toMatchObject({ status: 'warning', message: expect.stringMatching(/^Corrupt JPEG data: \d+ extraneous bytes before marker 0xd9$/) });
    });

    it('a flipped bit that keeps the Huffman stream in sync is undetectable: ok, with other pixels', () => {
      const b = Buffer.from(base);
      const at = (b.length >> 1) + 97; // measured: 0x10 here changes coefficients but not the code lengths
      b[at] = b[at]! ^ 0x10;
      const r = n.decode(b, MAX_PIXELS);
      const clean = n.decode(base, MAX_PIXELS);
      expect(r.status).toBe('ok');
      if (r.status === 'ok' && clean.status === 'ok') expect(Buffer.compare(r.pixels, clean.pixels)).not.toBe(0);
    });

    it('junk between the last scan and EOI: warning (when more than the bit buffer reads ahead)', () => {
      const junk = Buffer.alloc(100, 0x42); // bytes that are not a marker
      const b = Buffer.concat([base.subarray(0, base.length - 2), junk, base.subarray(base.length - 2)]);
      expect(summary(n.decode(b, MAX_PIXELS))).toMatchObject({ status: 'warning', message: expect.stringMatching(/^Corrupt JPEG data: \d+ extraneous bytes before marker 0xd9$/) });
      // Bytes after EOI are never read.
      expect(n.decode(Buffer.concat([base, junk]), MAX_PIXELS).status).toBe('ok');
    });

    it('empty and non-JPEG inputs are errors', () => {
      expect(n.decode(new Uint8Array(0), MAX_PIXELS)).toEqual({ status: 'error', message: 'Empty input: 0 bytes' });
      expect(n.decode(Buffer.from('these are my notes, not a JPEG\n'), MAX_PIXELS))
        .toEqual({ status: 'error', message: 'Not a JPEG file: starts with 0x74 0x68' });
      expect(n.decode(Uint8Array.from([0xff, 0xd8]), MAX_PIXELS)).toEqual({ status: 'error', message: 'JPEG datastream contains no image' });
    });

    it('a header declaring 60000×60000 is oversized, without decompressing', () => {
      // SOF: FFCx, length(2), precision(1), height(2), width(2). 16-bit fields: 100000 is not expressible.
      const b = Buffer.from(base);
      const sof = sofOffset(b);
      b.writeUInt16BE(60000, sof + 5);
      b.writeUInt16BE(60000, sof + 7);
      expect(n.decode(b, MAX_PIXELS)).toEqual({ status: 'oversized', width: 60000, height: 60000 });
      const t0 = performance.now();
      for (let i = 0; i < 100; i++) n.decode(b, MAX_PIXELS);
      expect(performance.now() - t0).toBeLessThan(200); // measured ~0.01 ms each: only the header is parsed
      // Past libjpeg's JPEG_MAX_DIMENSION the header itself is rejected, whatever maxPixels says.
      b.writeUInt16BE(65535, sof + 5);
      b.writeUInt16BE(65535, sof + 7);
      expect(n.decode(b, Infinity)).toEqual({ status: 'error', message: 'Maximum supported image dimension is 65500 pixels' });
      // Height 0 would need a DNL marker, which libjpeg does not support.
      b.writeUInt16BE(0, sof + 5);
      expect(n.decode(b, MAX_PIXELS)).toEqual({ status: 'error', message: 'Empty JPEG image (DNL not supported)' });
    });

    it('maxPixels is inclusive', () => {
      expect(n.decode(base, 256 * 256).status).toBe('ok');
      expect(n.decode(base, 256 * 256 - 1)).toEqual({ status: 'oversized', width: 256, height: 256 });
    });

    it('a progressive file with more than 500 scans is an error (decode time would be unbounded)', async () => {
      const prog = await noisy(64, 64, 12).jpeg({ quality: 90, progressive: true }).toBuffer();
      // Each SOS segment runs to the next marker that is not a stuffed 0xFF00 or a restart marker.
      const scans: [number, number][] = [];
      for (let i = 2; i + 4 <= prog.length && prog[i + 1] !== 0xd9;) {
        const end = i + 2 + prog.readUInt16BE(i + 2);
        if (prog[i + 1] !== 0xda) { i = end; continue; }
        let j = end;
        while (j + 1 < prog.length && !(prog[j] === 0xff && prog[j + 1] !== 0 && (prog[j + 1]! < 0xd0 || prog[j + 1]! > 0xd7))) j++;
        scans.push([i, j]);
        i = j;
      }
      expect(scans.length).toBeGreaterThan(5);
      const [from, to] = scans[scans.length - 1]!;
      // The last scan repeated: libjpeg warns "Inconsistent progression sequence" per repeat and goes on.
      const repeated = (copies: number): Buffer => Buffer.concat([
        prog.subarray(0, to), ...Array.from({ length: copies }, () => prog.subarray(from, to)), prog.subarray(to),
      ]);
      expect(summary(n.decode(repeated(400), MAX_PIXELS)))
        .toMatchObject({ status: 'warning', message: expect.stringMatching(/^Inconsistent progression sequence/) });
      expect(n.decode(repeated(600), MAX_PIXELS)).toEqual({ status: 'error', message: 'Too many scans in progressive JPEG (more than 500 for its size)' });
    });

    it('random garbage after a valid SOI is an error, never a crash', () => {
      for (let seed = 0; seed < 300; seed++) {
        const next = rng(1000 + seed);
        const len = 1 + Math.floor(next() * 2000);
        const b = new Uint8Array(2 + len);
        b.set([0xff, 0xd8]);
        for (let i = 2; i < b.length; i++) b[i] = Math.floor(next() * 256);
        if (seed % 2) b[2] = 0xff; // as the fixture script's garbage: SOI and the start of a marker
        const r = n.decode(b, MAX_PIXELS);
        checkShape(r, MAX_PIXELS);
        expect(r.status, JSON.stringify(summary(r))).toBe('error');
      }
    });
  });

  it('fixture JPEGs: those the spec damaged are not ok, the rest are', () => {
    const damaged = new Set<string>();
    for (const spec of FIXTURES) {
      for (const f of spec.faults) {
        if (f.file && (f.kind === 'truncated_image' || f.kind === 'corrupt_image')) damaged.add(`${spec.dir}/${f.file}`);
      }
    }
    const files = walk(join(ROOT, 'fixtures', 'images')).filter((f) => /\.jpe?g$/i.test(f));
    expect(files.length).toBeGreaterThan(20);
    let seenDamaged = 0;
    for (const f of files) {
      const rel = relative(join(ROOT, 'fixtures'), f).split('\\').join('/');
      const r = n.decode(readFileSync(f), MAX_PIXELS);
      checkShape(r, MAX_PIXELS);
      if (damaged.has(rel)) {
        seenDamaged++;
        expect(r.status, rel).not.toBe('ok');
      } else {
        expect(r.status, rel).toBe('ok');
      }
    }
    expect(seenDamaged).toBe([...damaged].filter((d) => /\.jpe?g$/i.test(d)).length);
  });

  it('2,000 seeded mutations of valid JPEGs all return a well-formed result', async () => {
    const seeds = [
      await noisy(64, 48, 20).jpeg({ quality: 85 }).toBuffer(),
      await noisy(64, 48, 21).jpeg({ quality: 85, progressive: true }).toBuffer(),
      await noisy(40, 40, 22).toColourspace('b-w').jpeg({ quality: 85 }).toBuffer(),
      await noisy(33, 17, 23).jpeg({ quality: 85, chromaSubsampling: '4:4:4' }).toBuffer(),
    ];
    const maxPixels = 1e6; // mutated dimensions come back oversized instead of allocating
    const next = rng(4242);
    const int = (n: number): number => Math.floor(next() * n);
    const counts: Record<string, number> = { ok: 0, warning: 0, error: 0, oversized: 0 };
    for (let i = 0; i < 2000; i++) {
      const src = seeds[i % seeds.length]!;
      let b = Uint8Array.from(src);
      // Headers (tables, SOF, SOS) are the first ~600 bytes: aim half the damage there.
      const pos = (): number => (next() < 0.5 ? int(Math.min(b.length, 620)) : int(b.length));
      const kind = int(5);
      for (let k = 1 + int(3); k > 0; k--) {
        if (kind === 0) { const at = pos(); b[at] = b[at]! ^ (1 << int(8)); } // bit flip
        else if (kind === 1) b[pos()] = int(256); // byte replaced
        else if (kind === 2) b = b.subarray(0, pos()); // truncation
        else if (kind === 3) { const at = pos(); b.fill(next() < 0.5 ? 0xff : int(256), at, at + 1 + int(64)); } // byte run
        else { const from = pos(); b.copyWithin(pos(), from, from + 1 + int(200)); } // bytes moved
      }
      const r = n.decode(b, maxPixels);
      checkShape(r, maxPixels);
      counts[r.status]!++;
    }
    // All four outcomes happen: the loop reaches past the header and the error paths after allocation.
    for (const s of STATUSES) expect(counts[s], JSON.stringify(counts)).toBeGreaterThan(0);
  });
});
