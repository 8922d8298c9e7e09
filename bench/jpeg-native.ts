/**
 * Microbench: one process, one image at a time, the same 2,000 256×256 quality-90 JPEGs decoded by
 *   (a) the native addon (native/jpeg), (b) sharp as src/decode/image.ts calls it, (c) PIL, if python3 has it.
 * Each timing includes readFileSync (PIL: open()), like a scanner worker does.
 *
 *   node scripts/build-native.mjs && npx tsx bench/jpeg-native.ts [--n 2000] [--rounds 3]
 *
 * Images are cached in /tmp/jpegbench (delete it to regenerate).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { rng } from '../scripts/lib/caffe.js';
import { loadNativeJpeg, type NativeJpeg } from '../src/decode/jpeg-native.js';

const DIR = '/tmp/jpegbench';
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('n', 2000);
const ROUNDS = arg('rounds', 3);
const SIZE = 256;
const MAX_PIXELS = 50_000_000;

async function makeImages(): Promise<string[]> {
  mkdirSync(DIR, { recursive: true });
  const have = new Set(readdirSync(DIR));
  const files: string[] = [];
  for (let i = 0; i < N; i++) {
    const name = `img${String(i).padStart(5, '0')}.jpg`;
    files.push(join(DIR, name));
    if (have.has(name)) continue;
    const next = rng(i + 1);
    const px = new Uint8Array(SIZE * SIZE * 3);
    for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) for (let c = 0; c < 3; c++) {
      px[(y * SIZE + x) * 3 + c] = (x * 3 + y * 2 + c * 40 + i * 7 + next() * 30) & 0xff;
    }
    writeFileSync(files[i]!, await sharp(px, { raw: { width: SIZE, height: SIZE, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
  }
  return files;
}

function loadAddon(): NativeJpeg {
  const addon = loadNativeJpeg();
  if (addon === null) {
    console.error('native addon not loadable; run: node scripts/build-native.mjs');
    process.exit(1);
  }
  return addon;
}

const files = await makeImages();
const native = loadAddon();
sharp.concurrency(1);
sharp.cache(false);

// Correctness guard: a bench of a decoder that fails is worthless.
for (const f of files.slice(0, 20)) {
  const r = native.decode(readFileSync(f), MAX_PIXELS);
  if (r.status !== 'ok') throw new Error(`${f}: ${r.status}${'message' in r ? ` ${r.message}` : ''}`);
}

// Best of ROUNDS, native and sharp rounds interleaved: other processes' CPU use on a 2-core box is noise
// that comes and goes, and the minimum is the signal.
let nativeMs = Infinity;
let sharpMs = Infinity;
for (let round = 0; round < ROUNDS; round++) {
  let t0 = performance.now();
  for (const f of files) {
    const r = native.decode(readFileSync(f), MAX_PIXELS);
    if (r.status !== 'ok') throw new Error(`${f}: ${r.status}`);
  }
  nativeMs = Math.min(nativeMs, performance.now() - t0);

  t0 = performance.now();
  for (const f of files) {
    await sharp(readFileSync(f), { failOn: 'warning', sequentialRead: true, limitInputPixels: MAX_PIXELS }).raw().toBuffer();
  }
  sharpMs = Math.min(sharpMs, performance.now() - t0);
}

// PIL: timed inside python so interpreter start-up is not counted; same best-of-rounds.
const PIL_SCRIPT = `
import sys, time
from PIL import Image
files = sys.stdin.read().split('\\n')
best = float('inf')
for _ in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    for p in files:
        with Image.open(p) as im:
            im.load()
    best = min(best, time.perf_counter() - t0)
print(best * 1000)
`;
let pilMs: number | null = null;
if (spawnSync('/usr/bin/python3', ['-c', 'import PIL'], { stdio: 'ignore' }).status === 0) {
  const r = spawnSync('/usr/bin/python3', ['-c', PIL_SCRIPT, String(ROUNDS)], { input: files.join('\n'), encoding: 'utf8' });
  if (r.status === 0) pilMs = Number(r.stdout.trim());
  else console.error(`PIL run failed: ${r.stderr.trim().split('\n').pop()}`);
}

const rate = (ms: number): number => N / (ms / 1000);
const bytes = files.reduce((sum, f) => sum + statSync(f).size, 0);
console.log(`${N} JPEGs ${SIZE}×${SIZE} q90 (mean ${(bytes / N / 1024).toFixed(1)} KiB), one process, sequential, best of ${ROUNDS}`);
console.log(`addon: ${native.version}; sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`);
console.log(`(a) native  ${rate(nativeMs).toFixed(0).padStart(6)} images/s  ${(nativeMs / N).toFixed(3)} ms/image`);
console.log(`(b) sharp   ${rate(sharpMs).toFixed(0).padStart(6)} images/s  ${(sharpMs / N).toFixed(3)} ms/image`);
if (pilMs !== null) console.log(`(c) PIL     ${rate(pilMs).toFixed(0).padStart(6)} images/s  ${(pilMs / N).toFixed(3)} ms/image`);
console.log(`native/sharp ${(sharpMs / nativeMs).toFixed(2)}×` + (pilMs !== null ? `, native/PIL ${(pilMs / nativeMs).toFixed(2)}×` : ', PIL not available'));
