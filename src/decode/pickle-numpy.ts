/**
 * numpy arrays and scalars in pickles, rebuilt without numpy: what `ndarray.__reduce_ex__`, `dtype.__reduce__`
 * and the scalar types' `__reduce__` write (numpy `multiarray/methods.c` `array_reduce_ex`, `array_setstate`;
 * `descriptor.c` `arraydescr_reduce`, `arraydescr_setstate`; numpy 2 moved `numpy.core` to `numpy._core`).
 *
 *   protocol 0–4: _reconstruct(ndarray, (0,), b'b') then BUILD (version, shape, dtype, is_fortran, rawdata)
 *   protocol 5:   _frombuffer(buffer, dtype, shape, order)          (in-band buffers only)
 *   scalars:      scalar(dtype, rawbytes)
 *   dtypes:       dtype(typestr, align, copy) then BUILD (version, endian, subdescr, names, fields, elsize, …)
 */
import type { NumericArray, RowsRecord } from '../readers/types.js';
import { widenHalf } from '../readers/hdf5/half.js';
import { NdArray, PyDtype, PyGlobal, PyTuple, type PyValue } from './pickle-values.js';

const FUNCTIONS = new Map([
  ['numpy.dtype', 'dtype'], ['numpy.core.multiarray._reconstruct', '_reconstruct'],
  ['numpy._core.multiarray._reconstruct', '_reconstruct'], ['numpy.core.multiarray.scalar', 'scalar'],
  ['numpy._core.multiarray.scalar', 'scalar'], ['numpy.core.numeric._frombuffer', '_frombuffer'],
  ['numpy._core.numeric._frombuffer', '_frombuffer'],
]);

const NUMPY_GLOBALS = new Set([
  'numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct', 'numpy.ndarray', 'numpy.dtype',
  'numpy.core.multiarray.scalar', 'numpy._core.multiarray.scalar',
  // Protocol 5 arrays (numpy ≥ 1.16): in-band PickleBuffer data as bytes/bytearray.
  'numpy.core.numeric._frombuffer', 'numpy._core.numeric._frombuffer',
]);

export function isNumpyGlobal(name: string): boolean {
  return NUMPY_GLOBALS.has(name);
}

export function buildDtype(dt: PyDtype, state: PyValue): Problem | null {
  if (!(state instanceof PyTuple) || state.items.length < 8) return { unsupported: true, reason: 'dtype state of an unknown version' };
  const [, endian, subdescr, names] = state.items;
  if (typeof endian !== 'string' || !['<', '>', '|', '='].includes(endian)) return { unsupported: true, reason: `dtype byte order '${String(endian).slice(0, 4)}'` };
  dt.endian = endian;
  if (subdescr !== null || names !== null) dt.structured = true;
  return null;
}

/**
 * What numpy would make of odd arguments is numpy's business: only a data length that does not match the shape
 * (numpy raises ValueError on it) is damage; every other surprise is `unsupported`.
 */
export interface Problem {
  /** Valid, perhaps, but not something this reader interprets (object arrays): never damage. */
  unsupported: boolean;
  reason: string;
}

/** Applies one allowed numpy global to `args` (REDUCE). */
export function callNumpy(name: string, args: PyValue[]): { value: PyValue } | Problem {
  // The function's own name (numpy 1 and numpy 2 modules alike), without building a string per call.
  const fn = FUNCTIONS.get(name);
  if (fn === 'dtype') {
    const t = args[0];
    // The type strings numpy's dtype pickles carry (kind and size); anything else is left to numpy to judge.
    if (typeof t !== 'string' || !/^([fiuc]\d{1,2}|b1|O[48]|[SUV]\d{1,9}|[mM]8)$/.test(t)) return { unsupported: true, reason: `dtype '${String(t).slice(0, 20)}'` };
    return { value: new PyDtype(t) };
  }
  if (fn === '_reconstruct') {
    const cls = args[0];
    if (!(cls instanceof PyGlobal) || cls.name !== 'numpy.ndarray') return { unsupported: true, reason: 'an ndarray subclass' };
    return { value: new NdArray() };
  }
  if (fn === 'scalar') {
    const [dt, raw] = args;
    if (!(dt instanceof PyDtype)) return { unsupported: true, reason: 'numpy scalar without a dtype' };
    if (!(raw instanceof Uint8Array) || dt.structured) return { unsupported: true, reason: `numpy scalar of dtype '${dt.typestr}'` };
    const a = new NdArray();
    a.dtype = dt.descr;
    a.data = raw;
    a.pending = false;
    if (raw.length !== dt.itemsize) return { unsupported: false, reason: `numpy scalar of ${raw.length} bytes for dtype '${dt.descr}'` };
    return { value: a };
  }
  if (fn === '_frombuffer') {
    const [buf, dt, shapeV, order] = args;
    if (!(buf instanceof Uint8Array)) return { unsupported: true, reason: '_frombuffer of an out-of-band buffer' };
    if (!(dt instanceof PyDtype)) return { unsupported: true, reason: '_frombuffer without a dtype' };
    const shape = shapeOf(shapeV ?? null);
    if (shape === null) return { unsupported: true, reason: '_frombuffer with a bad shape' };
    const a = new NdArray();
    return fill(a, dt, shape, order === 'F', buf);
  }
  return { unsupported: true, reason: `call of '${name}'` };
}

/** BUILD of a `_reconstruct` result: (version, shape, dtype, is_fortran, rawdata), version optional. */
export function buildArray(a: NdArray, state: PyValue): Problem | null {
  if (!a.pending) return { unsupported: true, reason: 'BUILD of a built ndarray' };
  if (!(state instanceof PyTuple)) return { unsupported: true, reason: 'ndarray state is not a tuple' };
  const at = state.items.length === 5 ? 1 : 0;
  if (state.items.length - at !== 4) return { unsupported: true, reason: `ndarray state of ${state.items.length} items` };
  const [shapeV, dt, fortran, raw] = [state.items[at]!, state.items[at + 1]!, state.items[at + 2]!, state.items[at + 3]!];
  const shape = shapeOf(shapeV ?? null);
  if (shape === null) return { unsupported: true, reason: 'ndarray state with a bad shape' };
  if (!(dt instanceof PyDtype)) return { unsupported: true, reason: 'ndarray state without a dtype' };
  if (Array.isArray(raw)) return { unsupported: true, reason: 'an object array' };
  if (!(raw instanceof Uint8Array)) return { unsupported: true, reason: 'ndarray state without data bytes' };
  const r = fill(a, dt, shape, fortran === true || fortran === 1, raw);
  return 'reason' in r ? r : null;
}

function fill(a: NdArray, dt: PyDtype, shape: number[], fortran: boolean, raw: Uint8Array): { value: NdArray } | Problem {
  if (dt.typestr[0] === 'O') return { unsupported: true, reason: 'an object array' };
  const n = shape.reduce((x, y) => x * y, 1);
  // numpy raises on a buffer that does not match (ValueError "buffer size does not match array size").
  if (n * dt.itemsize !== raw.length) {
    return { unsupported: false, reason: `ndarray ${JSON.stringify(shape)} of '${dt.descr}' needs ${n * dt.itemsize} bytes but holds ${raw.length}` };
  }
  a.dtype = dt.descr;
  a.shape = shape;
  a.fortranOrder = fortran;
  a.data = raw;
  a.structured = dt.structured;
  a.pending = false;
  return { value: a };
}

function shapeOf(v: PyValue): number[] | null {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : typeof v === 'number' ? [v] : null;
  if (items === null || items.length > 32) return null;
  const shape: number[] = [];
  for (const d of items) {
    if (typeof d !== 'number' || d < 0 || !Number.isSafeInteger(d)) return null;
    shape.push(d);
  }
  return shape;
}

type Ctor = { new (b: ArrayBuffer, off: number, n: number): NumericArray; BYTES_PER_ELEMENT: number };

const TYPES: Record<string, { dtype: RowsRecord['dtype']; ctor: Ctor }> = {
  f2: { dtype: 'f16', ctor: Uint16Array as unknown as Ctor },
  f4: { dtype: 'f32', ctor: Float32Array }, f8: { dtype: 'f64', ctor: Float64Array },
  i1: { dtype: 'i8', ctor: Int8Array }, i2: { dtype: 'i16', ctor: Int16Array }, i4: { dtype: 'i32', ctor: Int32Array },
  i8: { dtype: 'i64', ctor: BigInt64Array as unknown as Ctor },
  u1: { dtype: 'u8', ctor: Uint8Array }, b1: { dtype: 'u8', ctor: Uint8Array }, u2: { dtype: 'u16', ctor: Uint16Array },
  u4: { dtype: 'u32', ctor: Uint32Array }, u8: { dtype: 'u64', ctor: BigUint64Array as unknown as Ctor },
};

/** TYPES by full descr ('<f4', '>f4', '|u1'): looked up per array without building a string. */
const BY_DESCR = new Map(Object.entries(TYPES).flatMap(([k, t]) => ['<', '>', '|'].map((e) => [`${e}${k}`, t] as const)));

/**
 * The array's values as a native typed array in C order (big-endian swapped, float16 widened to float32, Fortran
 * order transposed), or null for a dtype that holds no plain numbers (strings, complex, datetimes, records).
 */
export function ndarrayToTyped(a: NdArray, scratch?: Scratch): { dtype: RowsRecord['dtype']; data: NumericArray } | null {
  if (a.structured || a.pending) return null;
  const t = BY_DESCR.get(a.dtype);
  if (t === undefined) return null;
  const size = t.ctor.BYTES_PER_ELEMENT;
  const n = a.data.length / size;
  let bytes = a.data;
  // A copy (Uint8Array's slice: a Buffer's slice would be a view) when the bytes are swapped or misaligned.
  if (a.dtype[0] === '>' && size > 1) {
    bytes = copy(a.data, scratch);
    for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  } else if (bytes.byteOffset % size !== 0) {
    bytes = copy(a.data, scratch);
  }
  let data: NumericArray = new t.ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  if (t.dtype === 'f16') {
    const wide = new Float32Array(n);
    widenHalf(data as Uint16Array, wide);
    data = wide;
  }
  if (a.fortranOrder && a.shape.length >= 2) data = toC(data, a.shape);
  return { dtype: t.dtype, data };
}

/** Fortran-order elements → C order (the multi-index walked in C order, its Fortran offset kept up to date). */
function toC(src: NumericArray, shape: number[]): NumericArray {
  const out = new (src.constructor as new (n: number) => NumericArray)(src.length);
  const k = shape.length;
  const fStride: number[] = [];
  for (let j = 0, s = 1; j < k; j++) { fStride.push(s); s *= shape[j]!; }
  const idx = new Array<number>(k).fill(0);
  let f = 0;
  for (let c = 0; c < src.length; c++) {
    (out as Float64Array)[c] = (src as Float64Array)[f]!;
    for (let j = k - 1; j >= 0; j--) {
      idx[j]!++;
      f += fStride[j]!;
      if (idx[j]! < shape[j]!) break;
      f -= idx[j]! * fStride[j]!;
      idx[j] = 0;
    }
  }
  return out;
}

/**
 * Aligned room for the copies of one value's arrays (misaligned or byte-swapped data), reused from one value to
 * the next: a fresh ArrayBuffer per array cost more than the copy. `reset()` before each value; what `take`
 * gave is valid until then.
 */
export class Scratch {
  // Made on first use: an analyzer has one, and most partitions never meet a pickle.
  private buf = new ArrayBuffer(0);
  private used = 0;

  reset(): void {
    this.used = 0;
  }

  take(n: number): Uint8Array {
    if (this.used + n > this.buf.byteLength) {
      // Grown for the next values; arrays already handed out keep the old buffer.
      if (n > this.buf.byteLength / 4 && n <= 1 << 24) this.buf = new ArrayBuffer(2 * Math.max(n, this.buf.byteLength, 1 << 15));
      else if (n > 1 << 24) return new Uint8Array(n);
      else this.buf = new ArrayBuffer(Math.max(this.buf.byteLength, 1 << 16));
      this.used = 0;
    }
    const out = new Uint8Array(this.buf, this.used, n);
    this.used += (n + 7) & ~7;
    return out;
  }
}

/** An aligned copy (a plain Uint8Array: slicing a Buffer's view would build a Buffer). */
function copy(b: Uint8Array, scratch?: Scratch): Uint8Array {
  const out = scratch?.take(b.length) ?? new Uint8Array(b.length);
  out.set(b);
  return out;
}
