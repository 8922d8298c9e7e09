/**
 * Typed wrapper around the wasm SIMD value-scanning kernel (src/kernels/wasm/scan.wat), with the scalar JS
 * fallback. The only module that touches the wasm; each thread that imports it compiles its own instance.
 */
import { SCAN_WASM_BASE64 } from './generated/scan-wasm.js';
import {
  canShift, createStats, describe, mergeMoments, scanJs, settleMoments, settleOnePass, settleShifted, type Moments,
} from './scan-js.js';

export { createStats } from './scan-js.js';

/** Stats over one array. min/max/sum/sumSq cover finite values only; first* are element indexes or -1. */
export interface ScanStats {
  /** Elements scanned. */
  count: number;
  nan: number;
  posinf: number;
  neginf: number;
  /**
   * Finite values that become ±Inf when cast to float16 (|x| >= 65520, FLOAT16_OVERFLOW: casts round to
   * nearest even) but not when cast to float32; always 0 for u8.
   */
  fp16Overflow: number;
  /** Finite values that become ±Inf when cast to float32 (|x| >= FLOAT32_OVERFLOW); only float64 data has any. */
  fp32Overflow: number;
  /** Over finite values; NaN when there is none (empty or all non-finite). A zero is always +0. */
  min: number;
  max: number;
  /**
   * One-pass sums over finite values, accumulated in float64; the order (and so the rounding) is the
   * backend's. They may cancel or overflow (float64 values beyond ~1e154): use mean and m2 for statistics.
   */
  sum: number;
  sumSq: number;
  /** Mean of the finite values (NaN when there is none); always finite otherwise. */
  mean: number;
  /**
   * Rounding residual of mean: mean + meanLo is the mean to about twice float64's precision (0 unless the
   * exact pass ran). Merges need it when the spread is near the resolution of the mean (values ~2^62 ± 600).
   */
  meanLo: number;
  /** Σ(x − mean)² over finite values, divided by 4^scale: finite whatever the values. */
  m2: number;
  /** Power-of-two exponent of m2 (0 unless the values are beyond 2^400 in magnitude). */
  scale: number;
  firstNan: number;
  firstPosinf: number;
  firstNeginf: number;
  firstFp16Overflow: number;
  firstFp32Overflow: number;
}

export type ScanInput = Float32Array | Float64Array | Uint8Array;

export interface Kernel {
  readonly backend: 'wasm-simd' | 'js';
  /**
   * Memory the kernel scans where it lies (the wasm arena, 256 KiB), for a producer that can write its output
   * there, such as the JPEG decoder: scan() of a view of it skips the copy. Any scan() of other data overwrites
   * it. Undefined for the JS kernel.
   */
  readonly arena?: Uint8Array;
  /** Scans `data`; fills and returns `out` (a reused object, so the hot path allocates nothing). */
  scan(data: ScanInput, out?: ScanStats): ScanStats;
}

/**
 * Memory layout of the instance (one 64 KiB page of header, then the arena; never grown, so the typed views
 * made at load time stay valid for the life of the thread):
 *   OUT_PTR   0      OUT_BYTES result record written by each `scan_<dtype>(ptr, len, out)` call: f64 min,
 *                    max, sum, sumSq; i32 nan, posinf, neginf, fp16Overflow, fp32Overflow, pad; i32 first index
 *                    of each, pad (relative to `ptr`, -1 when none). With no finite value min is +Inf, max -Inf.
 *   ARENA_PTR 65536  CHUNK_BYTES of input, copied in with TypedArray.set (a memmove at ~10 GB/s).
 * The copy is what makes any input byteOffset work: the arena is 64 KiB-aligned whatever the caller's view.
 * Inputs longer than one chunk are scanned chunk by chunk and merged here; first indexes are offset by the
 * chunk start, so they always index `data`. Inside the kernel the len % 4 (f32), len % 2 (f64) or len % 16
 * (u8) tail elements go through a scalar path; see the .wat header for the two-tier block scheme.
 *
 * NaN semantics match scanJs exactly: NaN (any payload or sign) and ±Inf never reach min/max/sum/sumSq;
 * ±Inf are counted as posinf/neginf only; subnormals and -0 are finite; -0 equals 0, and a zero min or max
 * is reported as +0.
 */
const OUT_PTR = 0;
/** Size of the kernel's result record (see scan.wat); a caller of adoptMemory() reserves this many bytes. */
export const OUT_BYTES = 80;
/** Index of the first first-index in the record's i32 view (which starts at byte 32): byte 56. */
const FIRSTS = 6;
const ARENA_PTR = 65536;
/**
 * 256 KiB: the chunk stays in L2 (512 KiB per core on Zen 3) between the copy and the scan, and the per-chunk
 * call and merge are noise. Copy + scan of 256 MiB measured nearly flat in chunk size (GB/s f32/f64, medians
 * of 7): 64 KiB 6.98/10.05, 256 KiB 7.11/10.22, 1 MiB 7.02/10.08, 4 MiB 7.00/10.12. The arena is per thread,
 * so a small one also keeps worker memory down.
 */
const CHUNK_BYTES = 256 * 1024;
const WASM_PAGE_BYTES = 65536;
/**
 * Arrays shorter than this go to scanJs. Measured per call on this machine (ns, wasm vs JS, noisy): length 1
 * 60-90 vs 18, 8: 45-65 vs 35-50, 16: 55-65 vs 50-90, 64: 60-105 vs 170-300. The wasm side has a fixed
 * ~55 ns (call ~27, TypedArray.set ~24, read-back ~8), which matters for one-float label rows. Results are
 * identical either way except sum rounding.
 */
const WASM_MIN_LENGTH = 16;

/** The subset of the WebAssembly JS API used here; lib "ES2023" and @types/node 20 do not declare it. */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Memory: new (descriptor: { initial: number; maximum?: number }) => { readonly buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { readonly exports: object };
}
type ScanFn = (ptr: number, len: number, out: number) => void;
/** Writes S1 = Σ(x − c) and S2 = Σ(x − c)² over finite values to out+16 and out+24; masked = 0: no NaN/±Inf. */
type MomentsFn = (ptr: number, len: number, c: number, masked: number, out: number) => void;
interface ScanExports {
  scan_f32: ScanFn;
  scan_f64: ScanFn;
  scan_u8: ScanFn;
  moments_f32: MomentsFn;
  moments_f64: MomentsFn;
}
interface WasmInstance {
  exports: ScanExports;
  buffer: ArrayBuffer;
}

/** A WebAssembly.Memory of another module (h5wasm's heap); its `buffer` is replaced whenever it grows. */
export interface ForeignMemory {
  readonly buffer: ArrayBuffer;
}

/**
 * The kernel linked to another module's memory: arrays that already live there are scanned in place, without
 * the copy into our arena (which costs about as much as the scan itself). `out` is 64 bytes of that memory
 * for the result record.
 */
interface Adopted {
  memory: ForeignMemory;
  exports: ScanExports;
  out: number;
  /** Views of the result record, remade when the memory has grown. */
  buffer: ArrayBuffer | undefined;
  outF64: Float64Array;
  outI32: Int32Array;
}

const JS_KERNEL: Kernel = Object.freeze({ backend: 'js' as const, scan: scanJs });

class WasmKernel implements Kernel {
  readonly backend = 'wasm-simd' as const;
  private readonly scanF32: ScanFn;
  private readonly scanF64: ScanFn;
  private readonly scanU8: ScanFn;
  private readonly exports: ScanExports;
  /** A chunk's stats while scanChunked merges chunks. */
  private readonly part: ScanStats = createStats();
  private readonly arenaF32: Float32Array;
  private readonly arenaF64: Float64Array;
  private readonly arenaU8: Uint8Array;
  private readonly outF64: Float64Array;
  private readonly outI32: Int32Array;
  private readonly wasmMinLength: number;
  /** Set by adoptMemory(): the memory whose arrays are scanned in place. */
  adopted: Adopted | undefined;

  constructor({ exports, buffer }: WasmInstance, wasmMinLength: number) {
    this.wasmMinLength = wasmMinLength;
    this.scanF32 = exports.scan_f32;
    this.scanF64 = exports.scan_f64;
    this.scanU8 = exports.scan_u8;
    this.exports = exports;
    this.arenaF32 = new Float32Array(buffer, ARENA_PTR, CHUNK_BYTES / 4);
    this.arenaF64 = new Float64Array(buffer, ARENA_PTR, CHUNK_BYTES / 8);
    this.arenaU8 = new Uint8Array(buffer, ARENA_PTR, CHUNK_BYTES);
    this.outF64 = new Float64Array(buffer, OUT_PTR, 4);
    this.outI32 = new Int32Array(buffer, OUT_PTR + 32, 12);
  }

  get arena(): Uint8Array {
    return this.arenaU8;
  }

  scan(data: ScanInput, out: ScanStats = createStats()): ScanStats {
    const n = data.length;
    if (n < this.wasmMinLength) return scanJs(data, out);
    if (data.buffer === this.arenaU8.buffer && data.byteOffset >= ARENA_PTR) return this.scanOwn(data, out);
    const a = this.adopted;
    if (a !== undefined && data.buffer === a.memory.buffer) return this.scanInPlace(a, data, out);
    // One monomorphic branch per dtype keeps the `set` and call sites cheap on the per-record hot path.
    if (data instanceof Float32Array) {
      if (n > this.arenaF32.length) return this.scanChunked(data, this.arenaF32, this.scanF32, out);
      this.arenaF32.set(data);
      this.scanF32(ARENA_PTR, n, OUT_PTR);
    } else if (data instanceof Float64Array) {
      if (n > this.arenaF64.length) return this.scanChunked(data, this.arenaF64, this.scanF64, out);
      this.arenaF64.set(data);
      this.scanF64(ARENA_PTR, n, OUT_PTR);
    } else if (data instanceof Uint8Array) {
      if (n > this.arenaU8.length) return this.scanChunked(data, this.arenaU8, this.scanU8, out);
      this.arenaU8.set(data);
      this.scanU8(ARENA_PTR, n, OUT_PTR);
    } else {
      throw new TypeError(`scan() expects a Float32Array, Float64Array or Uint8Array, got ${describe(data)}.`);
    }
    return this.readOut(data, out, ARENA_PTR);
  }

  /** Scans an array that already lies in our own memory (written there through `arena`). */
  private scanOwn(data: ScanInput, out: ScanStats): ScanStats {
    const n = data.length;
    if (data instanceof Float32Array) this.scanF32(data.byteOffset, n, OUT_PTR);
    else if (data instanceof Float64Array) this.scanF64(data.byteOffset, n, OUT_PTR);
    else this.scanU8(data.byteOffset, n, OUT_PTR);
    return this.readOut(data, out, data.byteOffset);
  }

  /** Scans an array of the adopted memory where it lies: one call, whatever its length. */
  private scanInPlace(a: Adopted, data: ScanInput, out: ScanStats): ScanStats {
    if (a.buffer !== a.memory.buffer) {
      a.buffer = a.memory.buffer;
      a.outF64 = new Float64Array(a.buffer, a.out, 4);
      a.outI32 = new Int32Array(a.buffer, a.out + 32, 12);
    }
    const n = data.length;
    if (data instanceof Float32Array) a.exports.scan_f32(data.byteOffset, n, a.out);
    else if (data instanceof Float64Array) a.exports.scan_f64(data.byteOffset, n, a.out);
    else if (data instanceof Uint8Array) a.exports.scan_u8(data.byteOffset, n, a.out);
    else throw new TypeError(`scan() expects a Float32Array, Float64Array or Uint8Array, got ${describe(data)}.`);
    return this.readOut(data, out, data.byteOffset, a.exports, a.out, a.outF64, a.outI32);
  }

  /**
   * Copies the single-call result record into `out` and settles the moments: from the one-pass sums when they
   * can be trusted, else with one more kernel pass over the data (still at `ptr`, in cache) of sums shifted
   * by the one-pass mean, else (values beyond 2^400) in JS.
   */
  private readOut(
    data: ScanInput, out: ScanStats, ptr: number, exports = this.exports, outPtr = OUT_PTR, f = this.outF64, c = this.outI32,
  ): ScanStats {
    const min = f[0]!;
    const max = f[1]!;
    out.count = data.length;
    out.nan = c[0]!;
    out.posinf = c[1]!;
    out.neginf = c[2]!;
    out.fp16Overflow = c[3]!;
    out.fp32Overflow = c[4]!;
    // min > max only when no finite value was seen (+Inf/-Inf identities); + 0 canonicalises -0.
    out.min = min > max ? Number.NaN : min + 0;
    out.max = min > max ? Number.NaN : max + 0;
    out.sum = f[2]!;
    out.sumSq = f[3]!;
    out.firstNan = c[FIRSTS]!;
    out.firstPosinf = c[FIRSTS + 1]!;
    out.firstNeginf = c[FIRSTS + 2]!;
    out.firstFp16Overflow = c[FIRSTS + 3]!;
    out.firstFp32Overflow = c[FIRSTS + 4]!;
    if (settleOnePass(out, data instanceof Uint8Array)) return out;
    if (data instanceof Uint8Array || !canShift(out)) return settleMoments(out, data);
    const shift = out.sum / (out.count - out.nan - out.posinf - out.neginf);
    const masked = out.nan + out.posinf + out.neginf > 0 ? 1 : 0;
    (data instanceof Float32Array ? exports.moments_f32 : exports.moments_f64)(ptr, data.length, shift, masked, outPtr);
    return settleShifted(out, shift, f[2]!, f[3]!);
  }

  /**
   * Inputs larger than the arena: copy and scan one chunk at a time, merging in chunk order. Each chunk's
   * moments are settled while it is in the arena, and merged (Chan) across chunks.
   */
  private scanChunked<T extends ScanInput>(data: T, arena: T, fn: ScanFn, out: ScanStats): ScanStats {
    const p = this.part;
    const n = data.length;
    const chunk = arena.length;
    let nan = 0;
    let posinf = 0;
    let neginf = 0;
    let fp16 = 0;
    let fp32 = 0;
    let firstNan = -1;
    let firstPosinf = -1;
    let firstNeginf = -1;
    let firstFp16 = -1;
    let firstFp32 = -1;
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    let sumSq = 0;
    const m: Moments = { values: 0, mean: 0, meanLo: 0, m2: 0, scale: 0 };
    for (let start = 0; start < n; start += chunk) {
      const len = Math.min(chunk, n - start);
      const piece = data.subarray(start, start + len);
      arena.set(piece);
      fn(ARENA_PTR, len, OUT_PTR);
      this.readOut(piece, p, ARENA_PTR);
      // A category's first index comes from the first chunk in which it is counted.
      if (nan === 0 && p.nan > 0) firstNan = start + p.firstNan;
      if (posinf === 0 && p.posinf > 0) firstPosinf = start + p.firstPosinf;
      if (neginf === 0 && p.neginf > 0) firstNeginf = start + p.firstNeginf;
      if (fp16 === 0 && p.fp16Overflow > 0) firstFp16 = start + p.firstFp16Overflow;
      if (fp32 === 0 && p.fp32Overflow > 0) firstFp32 = start + p.firstFp32Overflow;
      nan += p.nan;
      posinf += p.posinf;
      neginf += p.neginf;
      fp16 += p.fp16Overflow;
      fp32 += p.fp32Overflow;
      if (p.min < min) min = p.min;
      if (p.max > max) max = p.max;
      sum += p.sum;
      sumSq += p.sumSq;
      const finite = len - p.nan - p.posinf - p.neginf;
      if (finite > 0) mergeMoments(m, finite, p.mean, p.meanLo, p.m2, p.scale);
    }
    out.count = n;
    out.nan = nan;
    out.posinf = posinf;
    out.neginf = neginf;
    out.fp16Overflow = fp16;
    out.fp32Overflow = fp32;
    // NaN < x is false: chunks without finite values leave min/max alone.
    out.min = min > max ? Number.NaN : min + 0;
    out.max = min > max ? Number.NaN : max + 0;
    out.sum = sum;
    out.sumSq = sumSq;
    out.mean = m.values > 0 ? m.mean : Number.NaN;
    out.meanLo = m.meanLo;
    out.m2 = m.m2;
    out.scale = m.scale;
    out.firstNan = firstNan;
    out.firstPosinf = firstPosinf;
    out.firstNeginf = firstNeginf;
    out.firstFp16Overflow = firstFp16;
    out.firstFp32Overflow = firstFp32;
    return out;
  }
}

/** undefined until the first loadKernel() of this thread; null when wasm SIMD is unavailable here. */
let wasmInstance: WasmInstance | null | undefined;
let defaultKernel: WasmKernel | undefined;
/** The compiled module, for instances linked to other memories (adoptMemory). */
let wasmModule: object | undefined;

function instantiate(): WasmInstance | null {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return null;
  const bytes = new Uint8Array(Buffer.from(SCAN_WASM_BASE64, 'base64'));
  // validate() is the SIMD probe: the module itself uses v128, so it fails exactly when SIMD is missing.
  if (!api.validate(bytes)) return null;
  try {
    // Fixed size, never grown: growing would detach the views WasmKernel keeps.
    const memory = new api.Memory({ initial: (ARENA_PTR + CHUNK_BYTES) / WASM_PAGE_BYTES });
    wasmModule = new api.Module(bytes);
    const instance = new api.Instance(wasmModule, { env: { memory } });
    return { exports: instance.exports as ScanExports, buffer: memory.buffer };
  } catch {
    // Compile or link failure on an exotic engine: the JS backend is correct, only slower, and the chosen
    // backend is reported (Kernel.backend), so the fallback is never silent.
    return null;
  }
}

/**
 * Returns the value-scanning kernel for this thread. Synchronous (the module is tiny): compiles once per
 * thread and caches. Falls back to JS when SIMD is unavailable or with `{ forceJs: true }` (the scan option
 * `forceJsKernel`, which is where NANSCAN_FORCE_JS_KERNEL=1 is read).
 *
 * @example
 * const kernel = loadKernel();
 * const stats = createStats();
 * kernel.scan(new Float32Array([1, NaN, -Infinity]), stats); // stats.nan === 1, stats.firstNeginf === 2
 */
export function loadKernel(options?: {
  forceJs?: boolean;
  /**
   * @internal Tests only: arrays shorter than this go to the JS path (default 16). 0 drives the wasm kernel
   * on every length. Kernels made with it share this thread's instance, which is safe because scan() is
   * synchronous.
   */
  wasmMinLength?: number;
}): Kernel {
  if (options?.forceJs === true) return JS_KERNEL;
  if (wasmInstance === undefined) wasmInstance = instantiate();
  if (wasmInstance === null) return JS_KERNEL;
  const min = options?.wasmMinLength;
  if (min !== undefined && min !== WASM_MIN_LENGTH) return new WasmKernel(wasmInstance, min);
  return (defaultKernel ??= new WasmKernel(wasmInstance, WASM_MIN_LENGTH));
}

/**
 * Lets this thread's kernel scan arrays that live in `memory` (another wasm module's, such as h5wasm's heap) in
 * place: a second instance of the kernel is linked to that memory. `out` is the address of OUT_BYTES in it that
 * the caller reserves for the kernel's result record. Returns false (and changes nothing) when the wasm kernel
 * is not in use or cannot be linked; scans then copy as usual.
 */
export function adoptMemory(memory: ForeignMemory, out: number): boolean {
  // (With the scan's forceJsKernel the analysis scans with the JS kernel and never uses the linked instance.)
  const kernel = loadKernel();
  if (!(kernel instanceof WasmKernel) || wasmModule === undefined || out <= 0 || out % 8 !== 0) return false;
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly!;
  try {
    const instance = new api.Instance(wasmModule, { env: { memory } });
    const exports = instance.exports as ScanExports;
    kernel.adopted = {
      memory, exports, out, buffer: undefined, outF64: new Float64Array(0), outI32: new Int32Array(0),
    };
    return true;
  } catch {
    return false;
  }
}
