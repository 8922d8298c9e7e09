/**
 * Microbench: one process, one image at a time, the same PNGs decoded by
 *   (a) the native addon (native/png), (b) sharp as src/decode/image.ts calls it, (c) PIL, if python3 has it.
 * Each timing includes readFileSync (PIL: open()), like a scanner worker does; CPU time (user + system) is
 * reported next to wall time, since the machine may be shared.
 *
 *   node scripts/build-native.mjs && npx tsx bench/png-native.ts [--n 2000] [--rounds 3] [--dir D]
 *
 * Default images: the first N of bench/run.ts's PNG folder (/tmp/nanscan-bench-png-folder: 256×256 RGB with
 * noise, written by sharp); run `BENCH_ONLY=png npx tsx bench/run.ts` once to create it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadNativePng, type NativePng } from '../src/decode/png-native.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const N = Number(arg('n') ?? 2000);
const ROUNDS = Number(arg('rounds') ?? 3);
const DIR = arg('dir') ?? '/tmp/nanscan-bench-png-folder';
const MAX_PIXELS = 50_000_000;

function listPngs(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (out.length >= N) return;
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.png')) out.push(join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

if (!existsSync(DIR)) {
  console.error(`${DIR} not found: run BENCH_ONLY=png npx tsx bench/run.ts once, or pass --dir`);
  process.exit(1);
}
const files = listPngs(DIR);
const addon = loadNativePng();
if (addon === null) {
  console.error('native PNG addon not loadable; run: node scripts/build-native.mjs');
  process.exit(1);
}
const native: NativePng = addon;
sharp.concurrency(1);
sharp.cache(false);

// Correctness guard: a bench of a decoder that falls back is worthless.
for (const f of files.slice(0, 20)) {
  const r = native.decode(readFileSync(f), MAX_PIXELS);
  if (r.status !== 'ok') throw new Error(`${f}: ${r.status}${'message' in r ? ` ${r.message}` : ''}`);
}

interface Timing { wall: number; cpu: number }
const best = (a: Timing, b: Timing): Timing => (b.cpu < a.cpu ? b : a);
async function time(fn: () => Promise<void> | void): Promise<Timing> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const c = process.cpuUsage(c0);
  return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
}

// The scanner decodes into a reused buffer (the kernel's 256 KiB arena); so does this.
const arena = new Uint8Array(256 * 1024);
let nativeT: Timing = { wall: Infinity, cpu: Infinity };
let sharpT: Timing = { wall: Infinity, cpu: Infinity };
for (let round = 0; round < ROUNDS; round++) {
  nativeT = best(nativeT, await time(() => {
    for (const f of files) {
      const r = native.decode(readFileSync(f), MAX_PIXELS, arena);
      if (r.status !== 'ok') throw new Error(`${f}: ${r.status}`);
    }
  }));
  sharpT = best(sharpT, await time(async () => {
    for (const f of files) {
      await sharp(readFileSync(f), { failOn: 'warning', sequentialRead: true, limitInputPixels: MAX_PIXELS }).raw().toBuffer();
    }
  }));
}

// PIL: timed inside python (wall and process CPU), so interpreter start-up is not counted; best of rounds.
const PIL_SCRIPT = `
import sys, time
from PIL import Image
files = sys.stdin.read().split('\\n')
best = None
for _ in range(int(sys.argv[1])):
    t0, c0 = time.perf_counter(), time.process_time()
    for p in files:
        with Image.open(p) as im:
            im.load()
    t = ((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000)
    best = t if best is None or t[1] < best[1] else best
print(best[0], best[1])
`;
let pilT: Timing | null = null;
if (spawnSync('/usr/bin/python3', ['-c', 'import PIL'], { stdio: 'ignore' }).status === 0) {
  const r = spawnSync('/usr/bin/python3', ['-c', PIL_SCRIPT, String(ROUNDS)], { input: files.join('\n'), encoding: 'utf8' });
  if (r.status === 0) {
    const [wall, cpu] = r.stdout.trim().split(' ').map(Number);
    pilT = { wall: wall!, cpu: cpu! };
  } else console.error(`PIL run failed: ${r.stderr.trim().split('\n').pop()}`);
}

const n = files.length;
const bytes = files.reduce((sum, f) => sum + statSync(f).size, 0);
const line = (name: string, t: Timing): string =>
  `${name} ${(n / (t.wall / 1000)).toFixed(0).padStart(6)} images/s  ${(t.wall / n).toFixed(3)} ms/image wall  ${(t.cpu / n).toFixed(3)} ms/image CPU`;
console.log(`${n} PNGs from ${DIR} (mean ${(bytes / n / 1024).toFixed(1)} KiB), one process, sequential, best of ${ROUNDS} by CPU`);
console.log(`addon: ${native.version}; sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`);
console.log(line('(a) native', nativeT));
console.log(line('(b) sharp ', sharpT));
if (pilT !== null) console.log(line('(c) PIL   ', pilT));
console.log(`CPU per image: sharp/native ${(sharpT.cpu / nativeT.cpu).toFixed(2)}×` +
  (pilT !== null ? `, PIL/native ${(pilT.cpu / nativeT.cpu).toFixed(2)}×` : ', PIL not available'));
