/**
 * What a decoded pickle (src/decode/pickle.ts) holds, as the members of a sample: the same analysis as a
 * WebDataset sample or a TFRecord Example then checks them (record.ts `members`).
 *
 *   ndarray, numeric list           → `array` (numpy scalars are 0-d arrays)
 *   int or float under a label name → `label` (isLabelName on the dict key), and the int of an (array, int) pair
 *   float                           → a one-value `array`
 *   bytes that sniff as an image    → `image` ({'img': jpeg_bytes, 'label': 3}, as BasicSR-style projects store)
 *   dict, list, tuple of mixed items→ their items, named by path: `meta.depth`, `[0]`, `frames[2]`
 *   anything else                   → `opaque` (str, None, bools, other ints, dtypes, strings arrays)
 */
import { sniffImage } from '../decode/image.js';
import { NdArray, ndarrayToTyped, PyDict, PyFloat, PyTuple, type PyValue } from '../decode/pickle.js';
import type { Scratch } from '../decode/pickle-numpy.js';
import { isLabelName } from '../label-names.js';
import type { SampleField } from '../records.js';

/** Members of one sample at most: past this the rest are not checked (no real sample has so many). */
const MAX_FIELDS = 256;
/** Containers nested deeper than this are opaque (memo references can even make a list contain itself). */
const MAX_DEPTH = 8;
/** Values visited at most: shared references can make a small pickle a huge tree. */
const MAX_VISITS = 4096;

/** The name of a bare top-level value (`pickle.dumps(ndarray)`). */
const TOP = 'value';

/**
 * The members of a decoded value. Arrays that need a copy (misaligned, big-endian) are copied into `scratch`
 * when given: they are then valid only until its next reset.
 */
export function pickleFields(v: PyValue, scratch?: Scratch): SampleField[] {
  const w = new Walker(scratch);
  if (v instanceof PyDict) w.dict(v, '', 0);
  else if (Array.isArray(v) && !isNumericList(v)) w.seq(v, '', 0);
  else if (v instanceof PyTuple) w.seq(v.items, '', 0);
  else w.member(TOP, v, false, 0);
  return w.out;
}

class Walker {
  readonly out: SampleField[] = [];
  private visits = 0;

  constructor(private readonly scratch?: Scratch) {}

  dict(d: PyDict, prefix: string, depth: number): void {
    for (const [k, x] of d.map) {
      const key = typeof k === 'string' ? k : String(k as number);
      this.member(prefix === '' ? key : `${prefix}.${key}`, x, isLabelName(key), depth + 1);
    }
  }

  seq(items: readonly PyValue[], prefix: string, depth: number): void {
    // (array, int) and (image bytes, int): the int is the label (torchvision's (sample, target) convention).
    const pair = items.length === 2 && isIntLike(items[1]!) && (isArrayLike(items[0]!) || items[0] instanceof Uint8Array);
    items.forEach((x, i) => this.member(`${prefix}[${i}]`, x, pair && i === 1, depth + 1));
  }

  member(name: string, x: PyValue, isLabel: boolean, depth: number): void {
    if (this.out.length >= MAX_FIELDS || ++this.visits > MAX_VISITS) return;
    const out = this.out;
    if (isLabel) {
      const label = scalarOf(x);
      if (label !== null) {
        out.push({ type: 'label', name, value: label });
        return;
      }
    }
    if (x instanceof NdArray) {
      const t = ndarrayToTyped(x, this.scratch);
      out.push(t === null ? { type: 'opaque', name } : { type: 'array', name, dtype: t.dtype, shape: x.shape, data: t.data });
    } else if (x instanceof PyFloat) {
      out.push({ type: 'array', name, dtype: 'f64', shape: [], data: Float64Array.of(x.value) });
    } else if (x instanceof Uint8Array) {
      out.push(x.length > 0 && sniffImage(x) !== null ? { type: 'image', name, bytes: x } : { type: 'opaque', name });
    } else if (x instanceof PyDict && depth < MAX_DEPTH) {
      this.dict(x, name, depth);
    } else if ((Array.isArray(x) || x instanceof PyTuple) && depth < MAX_DEPTH) {
      const items = Array.isArray(x) ? x : x.items;
      if (isNumericList(items)) out.push(numericList(name, items));
      else this.seq(items, name, depth);
    } else {
      out.push({ type: 'opaque', name });
    }
  }
}

function isIntLike(x: PyValue): boolean {
  return typeof x === 'number' || (x instanceof NdArray && x.shape.length === 0 && /^.[iu]/.test(x.dtype));
}

function isArrayLike(x: PyValue): boolean {
  return x instanceof NdArray || (Array.isArray(x) && isNumericList(x));
}

/** A label's value: a Python int or float, or a numpy scalar (0-d array) of a numeric dtype. */
function scalarOf(x: PyValue): number | null {
  if (typeof x === 'number') return x;
  if (typeof x === 'bigint') return Number(x);
  if (x instanceof PyFloat) return x.value;
  if (x instanceof NdArray && x.shape.length === 0 && x.dtype.slice(1) !== 'b1') {
    const t = ndarrayToTyped(x);
    return t === null ? null : Number(t.data[0]!);
  }
  return null;
}

/** A non-empty list of Python ints and floats (bools excluded: they are flags, not values). */
function isNumericList(items: readonly PyValue[]): boolean {
  if (items.length === 0) return false;
  for (const x of items) if (typeof x !== 'number' && !(x instanceof PyFloat)) return false;
  return true;
}

function numericList(name: string, items: readonly PyValue[]): SampleField {
  const values = items.map((x) => (x instanceof PyFloat ? x.value : (x as number)));
  const ints = items.every((x) => typeof x === 'number' && x >= -(2 ** 31) && x < 2 ** 31);
  return ints
    ? { type: 'array', name, dtype: 'i32', shape: [values.length], data: Int32Array.from(values) }
    : { type: 'array', name, dtype: 'f64', shape: [values.length], data: Float64Array.from(values) };
}
