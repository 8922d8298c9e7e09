/**
 * The reused buffers the HDF5 reader reads rows into, and the typed-array views of them it hands out: the
 * wasm-heap slab of reads through h5wasm, the space of direct reads (the scan kernel's arena when it is big
 * enough), float16 widened into a reused Float32Array, and compound fields gathered into arrays of their own.
 * Every view is valid only until the next read into the same buffer.
 */
import type { NumericArray } from '../types.js';
import type { Dtype, FieldInfo, H5 } from './h5.js';
import { widenHalf } from './half.js';
import { DIRECT_READ_BYTES } from './layout.js';

export const BYTES: Record<Dtype, number> = { f16: 2, f32: 4, f64: 8, i8: 1, u8: 1, i16: 2, u16: 2, i32: 4, u32: 4, i64: 8, u64: 8 };

/** The reused read buffer of one `read()`: one `_malloc`'d block, grown when a slab needs more, freed at the end. */
export class SlabBuffer {
  ptr = 0;
  private bytes = 0;
  private readonly scratch: { wide?: Float32Array } = {};

  /** `h5` is the h5wasm the buffer lives in, and the one its reads go through. */
  constructor(readonly h5: H5) {}

  /** Makes room for `bytes`; false when the heap (2 GiB at most) cannot hold them. */
  ensure(bytes: number): boolean {
    if (bytes <= this.bytes) return true;
    this.free();
    this.ptr = this.h5.malloc(bytes);
    if (this.ptr === 0) return false;
    this.bytes = bytes;
    return true;
  }

  /**
   * A view of the first `n` elements. Taken after every read: the heap's ArrayBuffer is replaced when the heap
   * grows (HDF5 allocates during reads).
   */
  view(dtype: Dtype, n: number): NumericArray {
    return typedView(new Uint8Array(this.h5.heap(), this.ptr, n * BYTES[dtype]), dtype, n, this.scratch);
  }

  /** The first `n` bytes (compound rows, as HDF5 laid them out). Taken after every read, as `view`. */
  raw(n: number): Uint8Array {
    return new Uint8Array(this.h5.heap(), this.ptr, n);
  }

  free(): void {
    if (this.ptr !== 0) this.h5.free(this.ptr);
    this.ptr = 0;
    this.bytes = 0;
  }
}

/** A reused buffer for direct reads of `bytes`: the caller's scratch (the kernel's arena) when it is big enough. */
export function directSpace(bytes: number, scratch: Uint8Array | undefined): Uint8Array {
  if (scratch !== undefined && bytes <= scratch.length) return scratch;
  if (ownSpace === undefined || ownSpace.length < bytes) ownSpace = new Uint8Array(Math.max(bytes, DIRECT_READ_BYTES));
  return ownSpace;
}

/** Direct reads when the kernel has no arena (JS kernel) or a row is bigger than it; grown to the biggest row. */
let ownSpace: Uint8Array | undefined;
/** float16 rows widened for the kernel (direct reads). */
export const wideScratch: { wide?: Float32Array } = {};

/**
 * The first `n` elements of `bytes` (aligned to the element size) as `dtype`; float16 is widened into
 * `scratch.wide` (reused, grown when needed).
 */
export function typedView(bytes: Uint8Array, dtype: Dtype, n: number, scratch: { wide?: Float32Array }): NumericArray {
  const b = bytes.buffer as ArrayBuffer;
  const p = bytes.byteOffset;
  switch (dtype) {
    case 'f16': {
      if (scratch.wide === undefined || scratch.wide.length < n) scratch.wide = new Float32Array(n);
      const out = scratch.wide.subarray(0, n);
      widenHalf(new Uint16Array(b, p, n), out);
      return out;
    }
    case 'f32': return new Float32Array(b, p, n);
    case 'f64': return new Float64Array(b, p, n);
    case 'i8': return new Int8Array(b, p, n);
    case 'u8': return new Uint8Array(b, p, n);
    case 'i16': return new Int16Array(b, p, n);
    case 'u16': return new Uint16Array(b, p, n);
    case 'i32': return new Int32Array(b, p, n);
    case 'u32': return new Uint32Array(b, p, n);
    case 'i64': return new BigInt64Array(b, p, n);
    case 'u64': return new BigUint64Array(b, p, n);
  }
}

export function emptyArray(dtype: Dtype): NumericArray {
  switch (dtype) {
    case 'f16': case 'f32': return new Float32Array(0);
    case 'f64': return new Float64Array(0);
    case 'i8': return new Int8Array(0);
    case 'u8': return new Uint8Array(0);
    case 'i16': return new Int16Array(0);
    case 'u16': return new Uint16Array(0);
    case 'i32': return new Int32Array(0);
    case 'u32': return new Uint32Array(0);
    case 'i64': return new BigInt64Array(0);
    case 'u64': return new BigUint64Array(0);
  }
}

/** The reused buffer compound fields are gathered into (and float16 fields widened into). */
export const gatherScratch: { bytes: Uint8Array; wide?: Float32Array } = { bytes: new Uint8Array(0) };

/**
 * The values of field `f` of `n` compound elements of `size` bytes at `bytes`, gathered into `scratch` (reused,
 * grown when needed) as a typed array, big-endian members byte-swapped. Members may sit at any offset (h5py
 * packs compounds), so values are copied byte by byte rather than viewed.
 */
export function gatherField(bytes: Uint8Array, size: number, n: number, f: FieldInfo,
  scratch: { bytes: Uint8Array; wide?: Float32Array }): NumericArray {
  const w = f.elemBytes;
  const fb = w * f.elems;
  const total = n * fb;
  if (scratch.bytes.length < total) scratch.bytes = new Uint8Array(Math.max(total, 2 * scratch.bytes.length));
  const out = scratch.bytes;
  let o = 0;
  if (f.littleEndian || w === 1) {
    for (let e = 0, p = f.offset; e < n; e++, p += size) {
      if (fb >= 64) {
        out.set(bytes.subarray(p, p + fb), o);
        o += fb;
      } else {
        for (let k = 0; k < fb; k++) out[o++] = bytes[p + k] as number;
      }
    }
  } else {
    for (let e = 0; e < n; e++) {
      for (let v = 0, p = e * size + f.offset; v < f.elems; v++, p += w) {
        for (let k = w - 1; k >= 0; k--) out[o++] = bytes[p + k] as number;
      }
    }
  }
  return typedView(out, f.dtype, n * f.elems, scratch);
}
