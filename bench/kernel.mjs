/**
 * Value-scan kernel benchmark: GB/s on large float32/float64 arrays (wasm vs JS in the same process, copy into
 * the wasm arena included) and per-call rates for small records (784 u8 pixels, 3072 float32).
 * Needs `npx tsc -p tsconfig.build.json` first. Run directly (`node bench/kernel.mjs [--mib N]`) or call
 * runKernelBench() from bench/run.mjs.
 */
import { fileURLToPath } from 'node:url';
import { createStats, loadKernel } from '../dist/kernels/scan.js';

const MIB = 1024 * 1024;

/** Deterministic roughly-uniform values in [-1, 1): a cheap LCG, because Math.random over 64M elements is slow. */
function fill(arr, seed) {
  let s = seed >>> 0;
  for (let i = 0; i < arr.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    arr[i] = s / 2147483648 - 1;
  }
  return arr;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median GB/s of whole-array scans, wasm and JS alternating so both see the same machine noise. */
function largeRate(data, wasm, js, reps, jsReps) {
  const out = createStats();
  const gb = data.byteLength / 1e9;
  const time = (k) => {
    const t0 = process.hrtime.bigint();
    k.scan(data, out);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  time(wasm); // warm-up: JIT and first touch of the arena
  time(js);
  const w = [];
  const j = [];
  for (let r = 0; r < reps; r++) {
    w.push(gb / time(wasm));
    if (r < jsReps) j.push(gb / time(js));
  }
  // Best-of alongside the median: on this shared 2-core machine the median mostly measures the neighbours.
  return {
    wasmGBs: round(median(w)),
    jsGBs: round(median(j)),
    ratio: round(median(w) / median(j)),
    wasmBestGBs: round(Math.max(...w)),
    jsBestGBs: round(Math.max(...j)),
  };
}

/** Median calls/s over `reps` timed runs of `durationMs` each, reusing one stats object (the hot path). */
function callRate(data, kernel, durationMs, reps) {
  const out = createStats();
  const rates = [];
  for (let i = 0; i < 20000; i++) kernel.scan(data, out); // warm-up
  for (let r = 0; r < reps; r++) {
    let calls = 0;
    const t0 = process.hrtime.bigint();
    const limit = BigInt(durationMs * 1e6);
    let elapsed = 0n;
    do {
      for (let i = 0; i < 1000; i++) kernel.scan(data, out);
      calls += 1000;
      elapsed = process.hrtime.bigint() - t0;
    } while (elapsed < limit);
    rates.push(calls / (Number(elapsed) / 1e9));
  }
  return median(rates);
}

function smallRate(data, wasm, js, durationMs, reps) {
  const w = callRate(data, wasm, durationMs, reps);
  const j = callRate(data, js, durationMs, reps);
  return {
    wasmCallsPerSec: Math.round(w),
    jsCallsPerSec: Math.round(j),
    wasmNsPerCall: round(1e9 / w),
    jsNsPerCall: round(1e9 / j),
    wasmGBs: round((w * data.byteLength) / 1e9),
  };
}

const round = (x) => Math.round(x * 100) / 100;

/**
 * Runs the whole kernel benchmark and returns the numbers.
 * @param {{ mib?: number, reps?: number, jsReps?: number, smallMs?: number }} [options]
 */
export async function runKernelBench(options = {}) {
  const mib = options.mib ?? 256;
  const reps = options.reps ?? 7;
  const jsReps = options.jsReps ?? 3;
  const smallMs = options.smallMs ?? 300;
  const wasm = loadKernel();
  const js = loadKernel({ forceJs: true });

  let f32 = fill(new Float32Array((mib * MIB) / 4), 1);
  const large = { f32: largeRate(f32, wasm, js, reps, jsReps) };
  // One NaN per 64 KiB: every 4 KiB block of the two-tier scheme is clean except one in 16, the realistic
  // "a few bad records" case; this is the cost of the flagged-block path.
  for (let i = 12345; i < f32.length; i += 16384) f32[i] = Number.NaN;
  large.f32SparseNan = largeRate(f32, wasm, js, Math.min(reps, 3), 1);
  f32 = undefined;
  let f64 = fill(new Float64Array((mib * MIB) / 8), 2);
  large.f64 = largeRate(f64, wasm, js, reps, jsReps);
  f64 = undefined;

  const pixels = new Uint8Array(784);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) & 255;
  const floats = fill(new Float32Array(3072), 3);
  const small = {
    u8x784: smallRate(pixels, wasm, js, smallMs, 5),
    f32x3072: smallRate(floats, wasm, js, smallMs, 5),
  };
  return { backend: wasm.backend, arrayMiB: mib, large, small };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--mib');
  const mib = i > 0 ? Number(process.argv[i + 1]) : undefined;
  const r = await runKernelBench(mib === undefined ? {} : { mib });
  const { large, small } = r;
  const pad = (x, w) => String(x).padStart(w);
  console.log(`kernel backend: ${r.backend}; ${r.arrayMiB} MiB arrays; medians; GB/s include the copy into wasm memory`);
  for (const [name, v] of Object.entries(large)) {
    const best = `best ${v.wasmBestGBs} / ${v.jsBestGBs}`;
    console.log(`  ${name.padEnd(12)} wasm ${pad(v.wasmGBs, 6)} GB/s   js ${pad(v.jsGBs, 6)} GB/s   (${v.ratio}x; ${best})`);
  }
  for (const [name, v] of Object.entries(small)) {
    const w = `${(v.wasmCallsPerSec / 1e6).toFixed(2)} M calls/s (${v.wasmNsPerCall} ns, ${v.wasmGBs} GB/s)`;
    const j = `${(v.jsCallsPerSec / 1e6).toFixed(2)} M calls/s (${v.jsNsPerCall} ns)`;
    console.log(`  ${name.padEnd(12)} wasm ${w}   js ${j}`);
  }
}
