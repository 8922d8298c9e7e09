/**
 * The native PNG decoder (native/png, on libdeflate) against two independent decoders: sharp, which decodes every
 * PNG the addon does not take (so with and without the addon decodeImage() must give identical results), and
 * PIL, whose pixels for every file the addon calls clean must be the addon's. PNGs are written the ways real
 * projects write them: PIL (every mode, optimize, compress_level 0..9, text and other ancillary chunks, ICC
 * profiles) and sharp (compression levels, adaptive filtering, palettes, gray, alpha, interlaced, 16-bit).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, decodeImageNow } from '../../src/decode/image.js';
import { loadNativePng, type NativePngResult } from '../../src/decode/png-native.js';
import { decodeWithSharp, outcome } from '../helpers/png.js';
import { PYTHON } from '../helpers/python.js';

// Build (or find up to date) the addon the way an install does. Without libdeflate the script warns and exits 0
// and nanscan decodes PNGs with sharp; the tests need the addon (.ci/run installs libdeflate-dev), so they fail
// with the build's warning rather than skip.
const build = spawnSync(process.execPath, ['scripts/build-native.mjs'], { encoding: 'utf8' });
const buildWarning = build.stderr.trim();
const native = loadNativePng();

const MAX_PIXELS = 50e6;
const OPTIONS = { limitInputPixels: MAX_PIXELS };

function noisy(width: number, height: number, channels: 1 | 2 | 3 | 4, seed: number): Sharp {
  let s = seed;
  const px = Buffer.alloc(width * height * channels);
  for (let i = 0; i < px.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    px[i] = ((i % (width * channels)) / channels * 3 + (s >>> 26)) & 0xff;
  }
  return sharp(px, { raw: { width, height, channels } });
}

interface PilCase { name: string; mode: string; width: number; height: number; channels: number; fast: boolean }

let dir: string;
let pil: PilCase[];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nanscan-png-'));
  const r = spawnSync(PYTHON, [join(import.meta.dirname, 'png_pil_corpus.py'), dir], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`png_pil_corpus.py failed: ${r.stderr}`);
  pil = JSON.parse(r.stdout) as PilCase[];
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('native PNG decoder', () => {
  it('is built and loads', () => {
    expect(buildWarning).toBe('');
    expect(native).not.toBeNull();
    expect(native!.version).toMatch(/^libdeflate \d+\.\d+/);
  });

  it('decodes every PNG PIL writes as PIL and sharp do, and takes the 8-bit ones', async () => {
    expect(pil.length).toBeGreaterThan(60);
    const taken: string[] = [];
    for (const c of pil) {
      const buf = readFileSync(join(dir, `${c.name}.png`));
      const r = native!.decode(buf, MAX_PIXELS);
      expect({ name: c.name, status: r.status }).toEqual({ name: c.name, status: c.fast ? 'ok' : expect.stringMatching(/^(unsupported|invalid)$/) });
      const withNative = await decodeImage(buf, OPTIONS);
      const withSharp = await decodeWithSharp(buf);
      expect({ name: c.name, outcome: outcome(withNative) }).toEqual({ name: c.name, outcome: outcome(withSharp) });
      if (r.status !== 'ok') continue;
      taken.push(c.name);
      // PIL is the independent oracle: its pixels, in sharp's layout (LA as RGBA, palettes expanded).
      const oracle = readFileSync(join(dir, `${c.name}.raw`));
      expect({ name: c.name, size: [r.width, r.height, r.channels] }).toEqual({ name: c.name, size: [c.width, c.height, c.channels] });
      expect(Buffer.from(r.pixels).equals(oracle), c.name).toBe(true);
    }
    expect(taken.length).toBe(pil.filter((c) => c.fast).length);
  });

  it('decodes every PNG sharp writes as sharp reads it', async () => {
    const cases: [string, Promise<Buffer>, boolean][] = [];
    for (const level of [0, 1, 6, 9] as const) {
      cases.push([`rgb level ${level}`, noisy(97, 61, 3, level).png({ compressionLevel: level }).toBuffer(), true]);
      cases.push([`rgb adaptive level ${level}`, noisy(97, 61, 3, level).png({ compressionLevel: level, adaptiveFiltering: true }).toBuffer(), true]);
    }
    cases.push(['rgba', noisy(64, 40, 4, 1).png().toBuffer(), true]);
    cases.push(['gray', noisy(64, 40, 1, 2).toColourspace('b-w').png().toBuffer(), true]);
    cases.push(['gray+alpha', noisy(64, 40, 2, 3).png().toBuffer(), true]);
    cases.push(['256×256 rgb', noisy(256, 256, 3, 4).png().toBuffer(), true]);
    // libimagequant palettes: 8 bits per index for 256 colours; fewer colours pack smaller indices (to sharp).
    cases.push(['palette', noisy(64, 40, 3, 5).png({ palette: true }).toBuffer(), true]);
    cases.push(['palette with alpha', noisy(64, 40, 4, 6).png({ palette: true }).toBuffer(), true]);
    cases.push(['palette 4 colours', noisy(64, 40, 3, 7).png({ palette: true, colours: 4 }).toBuffer(), false]);
    cases.push(['interlaced', noisy(64, 40, 3, 8).png({ progressive: true }).toBuffer(), false]);
    cases.push(['16-bit', noisy(64, 40, 3, 9).toColourspace('rgb16').png().toBuffer(), false]);
    cases.push(['with ICC profile', noisy(64, 40, 3, 10).withIccProfile('p3').png().toBuffer(), false]);
    for (const [name, promise, fast] of cases) {
      const buf = await promise;
      const r = native!.decode(buf, MAX_PIXELS);
      expect({ name, status: r.status }).toEqual({ name, status: fast ? 'ok' : expect.stringMatching(/^(unsupported|invalid)$/) });
      expect({ name, outcome: outcome(await decodeImage(buf, OPTIONS)) }).toEqual({ name, outcome: outcome(await decodeWithSharp(buf)) });
    }
  });

  it('decodes into the caller\'s buffer when the pixels fit, and into a new one when not', async () => {
    const buf = await noisy(40, 30, 3, 11).png().toBuffer();
    const big = new Uint8Array(40 * 30 * 3 + 100);
    const into = decodeImageNow(buf, OPTIONS, big);
    expect(into?.ok && into.pixels.buffer === big.buffer && into.pixels.byteOffset === 0 && into.pixels.length === 3600).toBe(true);
    const small = new Uint8Array(100);
    const fresh = decodeImageNow(buf, OPTIONS, small);
    expect(fresh?.ok && fresh.pixels.buffer !== small.buffer && fresh.pixels.length === 3600).toBe(true);
    // Both the same pixels as sharp's.
    const ref = await decodeWithSharp(buf);
    expect(outcome(into!)).toBe(outcome(ref));
    expect(outcome(fresh!)).toBe(outcome(ref));
    // A palette image (expanded from scratch memory) into the caller's buffer, too.
    const pal = await noisy(40, 30, 3, 12).png({ palette: true }).toBuffer();
    const p = decodeImageNow(pal, OPTIONS, big);
    expect(p?.ok && p.pixels.buffer === big.buffer).toBe(true);
    expect(outcome(p!)).toBe(outcome(await decodeWithSharp(pal)));
  });

  it('leaves a file over the pixel limit undecoded, and decodeImage() reports it as before', async () => {
    const buf = await noisy(40, 30, 3, 13).png().toBuffer();
    expect(native!.decode(buf, 1199)).toEqual({ status: 'oversized', width: 40, height: 30 });
    expect(native!.decode(buf, 1200).status).toBe('ok');
    const options = { limitInputPixels: 1199 };
    const r = await decodeImage(buf, options);
    expect(r.ok ? 'ok' : r.kind).toBe('oversized_image');
    expect(decodeImageNow(buf, options)).toBeNull();
  });

  it('is not used with NANSCAN_NO_NATIVE_PNG=1', async () => {
    const buf = await noisy(8, 8, 3, 14).png().toBuffer();
    expect(decodeImageNow(buf, OPTIONS)?.ok).toBe(true);
    process.env.NANSCAN_NO_NATIVE_PNG = '1';
    try {
      expect(loadNativePng()).toBeNull();
      expect(decodeImageNow(buf, OPTIONS)).toBeNull();
    } finally {
      delete process.env.NANSCAN_NO_NATIVE_PNG;
    }
  });

  it('throws TypeError only for arguments of the wrong type', () => {
    const decode = native!.decode as (...args: unknown[]) => NativePngResult;
    expect(() => decode()).toThrow(TypeError);
    expect(() => decode('png', 1)).toThrow(TypeError);
    expect(() => decode(new Uint16Array(4), 1)).toThrow(TypeError);
    expect(() => decode(new Uint8Array(4), -1)).toThrow(TypeError);
    expect(() => decode(new Uint8Array(4), 1, new Float32Array(4))).toThrow(TypeError);
    expect(decode(new Uint8Array(0), 1)).toEqual({ status: 'invalid', message: 'no PNG signature' });
  });
});
