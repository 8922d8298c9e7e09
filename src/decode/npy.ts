/**
 * NumPy `.npy` decoding, pure (no I/O): the header (format versions 1.0, 2.0 and 3.0, see numpy's
 * `numpy/lib/format.py`) and rows of numeric arrays as native-endian typed arrays.
 *
 * A file is: the magic `\x93NUMPY`, major and minor version bytes, the header length (little-endian u16 for
 * version 1, u32 for 2 and 3), then a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape':
 * (3, 4), }` padded with spaces and ending in `\n` (latin-1, or UTF-8 in version 3), then the data. numpy reads
 * the dict with `ast.literal_eval`; we parse the few literal forms it can hold (strings, integers, booleans,
 * None, tuples, lists, dicts) ourselves and never evaluate anything. Object arrays hold a pickle after the
 * header: they are recognised (kind `object`) and never parsed.
 */
import type { NumericArray, RowsRecord } from '../readers/types.js';
import { widenHalf } from '../readers/hdf5/half.js';

export type NpyKind =
  | 'f16' | 'f32' | 'f64' | 'i8' | 'u8' | 'i16' | 'u16' | 'i32' | 'u32' | 'i64' | 'u64' | 'bool' | 'object' | 'other';

export interface NpyDtype {
  kind: NpyKind;
  /** The descr as written (a typestr such as `<f4`, or a structured dtype's list rendered back as text). */
  descr: string;
  /** Bytes per element (0 when unknown, for `other` dtypes we cannot size). */
  itemSize: number;
  bigEndian: boolean;
}

export interface NpyHeader {
  version: 1 | 2 | 3;
  /** Offset of the data: magic, version, length field and the header dict together. */
  headerBytes: number;
  dtype: NpyDtype;
  fortranOrder: boolean;
  shape: number[];
}

export const NPY_MAGIC = Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59); // \x93NUMPY

/**
 * Largest header accepted. numpy writes headers of a few hundred bytes (more for large structured dtypes) and,
 * since 1.24, refuses to read ones over 10,000 bytes unless told to; a bigger limit here costs nothing.
 */
export const MAX_NPY_HEADER_BYTES = 1 << 20;

/** Whether `bytes` starts with the `.npy` magic. */
export function hasNpyMagic(bytes: Uint8Array): boolean {
  if (bytes.length < NPY_MAGIC.length) return false;
  for (let i = 0; i < NPY_MAGIC.length; i++) if (bytes[i] !== NPY_MAGIC[i]) return false;
  return true;
}

/**
 * The total header size (the data offset) that the first 12 bytes of a file declare, so a caller knows how much
 * to read before parseNpyHeader.
 */
export function npyHeaderSize(prefix: Uint8Array): number | { error: string } {
  if (!hasNpyMagic(prefix)) return { error: 'no .npy magic (\\x93NUMPY) at offset 0' };
  if (prefix.length < 10) return { error: `file ends at byte ${prefix.length}, inside the .npy preamble` };
  const major = prefix[6] as number;
  if (major !== 1 && major !== 2 && major !== 3) return { error: `unknown .npy format version ${major}.${prefix[7] as number} at offset 6` };
  if (major === 1) return 10 + ((prefix[8] as number) | ((prefix[9] as number) << 8));
  if (prefix.length < 12) return { error: `file ends at byte ${prefix.length}, inside the .npy preamble` };
  const len = ((prefix[8] as number) | ((prefix[9] as number) << 8) | ((prefix[10] as number) << 16)) + (prefix[11] as number) * 2 ** 24;
  return 12 + len;
}

/** Parses the header of a `.npy` file; `bytes` holds at least the whole header (see npyHeaderSize). */
export function parseNpyHeader(bytes: Uint8Array): NpyHeader | { error: string } {
  const size = npyHeaderSize(bytes);
  if (typeof size !== 'number') return size;
  const version = bytes[6] as 1 | 2 | 3;
  if (size > MAX_NPY_HEADER_BYTES) return { error: `header declares ${size} bytes, more than the ${MAX_NPY_HEADER_BYTES} accepted` };
  if (bytes.length < size) return { error: `file ends at byte ${bytes.length}, inside the ${size}-byte .npy header` };
  const start = version === 1 ? 10 : 12;
  let text: string;
  try {
    text = new TextDecoder(version === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(bytes.subarray(start, size));
  } catch {
    return { error: 'header is not valid UTF-8' };
  }
  let dict: Literal;
  try {
    dict = parseLiteral(text);
  } catch (e) {
    return { error: `header is not a Python dict literal: ${(e as Error).message}` };
  }
  if (!(dict instanceof Map)) return { error: 'header is not a dict' };
  const keys = [...dict.keys()].sort().join(',');
  if (keys !== 'descr,fortran_order,shape') return { error: `header keys are {${keys}}, not {descr, fortran_order, shape}` };
  const fortran = dict.get('fortran_order');
  if (typeof fortran !== 'boolean') return { error: "header 'fortran_order' is not True or False" };
  const shapeLit = dict.get('shape');
  if (!Array.isArray(shapeLit) || !shapeLit.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    return { error: "header 'shape' is not a tuple of non-negative integers" };
  }
  const shape = shapeLit as number[];
  const dtype = parseDescr(dict.get('descr') as Literal);
  if ('error' in dtype) return dtype;
  let elems = 1;
  for (const d of shape) elems *= d;
  if (!Number.isSafeInteger(elems) || !Number.isSafeInteger(elems * dtype.itemSize)) {
    return { error: `shape (${shape.join(', ')}) of ${dtype.descr} overflows the byte count` };
  }
  return { version, headerBytes: size, dtype, fortranOrder: fortran, shape };
}

/** Elements in the array. */
export function npyElements(h: NpyHeader): number {
  return h.shape.reduce((a, b) => a * b, 1);
}

/** Records in the array: rows along the first axis; a 0-d array is one record. */
export function npyRowCount(h: NpyHeader): number {
  return h.shape.length === 0 ? 1 : (h.shape[0] as number);
}

/** Elements in one row (the shape without its first axis). */
export function npyRowElems(h: NpyHeader): number {
  return h.shape.slice(1).reduce((a, b) => a * b, 1);
}

/** Whether the reader hands the array's values to the checks (`bool` is read as u8). */
export function isNumeric(d: NpyDtype): d is NpyDtype & { kind: RowsRecord['dtype'] | 'bool' } {
  return d.kind !== 'object' && d.kind !== 'other';
}

/** The dtype rows are handed out as (`bool` → `u8`). */
export function rowsDtype(d: NpyDtype): RowsRecord['dtype'] {
  if (!isNumeric(d)) throw new Error(`dtype ${d.descr} is not numeric`);
  return d.kind === 'bool' ? 'u8' : d.kind;
}

/**
 * Rows [firstRow, firstRow + rows) of a numeric array as a native-endian typed array in C order (for a
 * Fortran-order array the rows are gathered and transposed, so element positions mean what they mean in C
 * order). `data` is the array's data from its first element: for C order it needs to reach only the last
 * requested row, for Fortran order it must hold the whole array. The result may be a view of `data` (aligned
 * little-endian data is not copied); float16 is widened to Float32Array (dtype `f16`).
 */
export function npyRows(h: NpyHeader, data: Uint8Array, firstRow: number, rows: number): { dtype: RowsRecord['dtype']; data: NumericArray } {
  const dtype = rowsDtype(h.dtype);
  const rowElems = npyRowElems(h);
  const n = rows * rowElems;
  const item = h.dtype.itemSize;
  if (firstRow < 0 || rows < 0 || firstRow + rows > npyRowCount(h)) throw new RangeError(`rows ${firstRow}+${rows} outside the array`);
  let src: Uint8Array;
  if (!h.fortranOrder || h.shape.length <= 1) {
    const off = firstRow * rowElems * item;
    if (data.length < off + n * item) throw new RangeError(`data holds ${data.length} bytes, rows need ${off + n * item}`);
    src = data.subarray(off, off + n * item);
  } else {
    const total = npyElements(h);
    if (data.length < total * item) throw new RangeError(`data holds ${data.length} bytes, the Fortran-order array needs ${total * item}`);
    src = new Uint8Array(n * item);
    fortranRowsToC(h.shape, item, data, firstRow, rows, src);
  }
  return { dtype, data: toNative(h.dtype, src, n) };
}

/**
 * Copies rows [firstRow, firstRow + rows) of a Fortran-order array (`data`: the whole array) into `out` in C
 * order. Fortran order puts element (i0, i1, …) at i0 + n0·(i1 + n1·(i2 + …)): a row's elements are n0 apart.
 */
export function fortranRowsToC(shape: readonly number[], item: number, data: Uint8Array, firstRow: number, rows: number, out: Uint8Array): void {
  const n0 = shape[0] as number;
  const rest = shape.slice(1);
  const rowElems = rest.reduce((a, b) => a * b, 1);
  // For C position c within a row (last axis fastest), its Fortran column index (first remaining axis fastest).
  const col = new Float64Array(rowElems);
  const idx = new Array<number>(rest.length).fill(0);
  for (let c = 0; c < rowElems; c++) {
    let f = 0;
    for (let k = rest.length - 1; k >= 0; k--) f = f * (rest[k] as number) + (idx[k] as number);
    col[c] = f;
    for (let k = rest.length - 1; k >= 0; k--) {
      idx[k] = (idx[k] as number) + 1;
      if ((idx[k] as number) < (rest[k] as number)) break;
      idx[k] = 0;
    }
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < rowElems; c++) {
      const from = ((col[c] as number) * n0 + firstRow + r) * item;
      out.set(data.subarray(from, from + item), (r * rowElems + c) * item);
    }
  }
}

/**
 * `n` elements of `src` as a native-endian typed array: a view when `src` is little-endian and aligned, else a
 * copy (into `scratch` when given and large enough: an 8-byte-aligned buffer the caller reuses). float16 is
 * widened into a Float32Array (into `wide` when given and large enough).
 */
export function toNative(d: NpyDtype, src: Uint8Array, n: number, scratch?: Uint8Array, wide?: Float32Array): NumericArray {
  const kind = d.kind === 'bool' ? 'u8' : d.kind;
  const item = d.itemSize;
  const bytes = n * item;
  let s = src.subarray(0, bytes);
  if (d.bigEndian && item > 1) {
    const out = scratch !== undefined && scratch.length >= bytes && scratch.byteOffset % 8 === 0 ? scratch.subarray(0, bytes) : new Uint8Array(bytes);
    swapInto(s, out, item);
    s = out;
  } else if (item > 1 && s.byteOffset % item !== 0) {
    const out = scratch !== undefined && scratch.length >= bytes && scratch.byteOffset % 8 === 0 && scratch.buffer !== s.buffer
      ? scratch.subarray(0, bytes) : new Uint8Array(bytes);
    out.set(s);
    s = out;
  }
  const { buffer, byteOffset } = s;
  switch (kind) {
    case 'f16': {
      const out = wide !== undefined && wide.length >= n ? wide.subarray(0, n) : new Float32Array(n);
      widenHalf(new Uint16Array(buffer, byteOffset, n), out);
      return out;
    }
    case 'f32': return new Float32Array(buffer, byteOffset, n);
    case 'f64': return new Float64Array(buffer, byteOffset, n);
    case 'i8': return new Int8Array(buffer, byteOffset, n);
    case 'u8': return new Uint8Array(buffer, byteOffset, n);
    case 'i16': return new Int16Array(buffer, byteOffset, n);
    case 'u16': return new Uint16Array(buffer, byteOffset, n);
    case 'i32': return new Int32Array(buffer, byteOffset, n);
    case 'u32': return new Uint32Array(buffer, byteOffset, n);
    case 'i64': return new BigInt64Array(buffer, byteOffset, n);
    case 'u64': return new BigUint64Array(buffer, byteOffset, n);
    default: throw new Error(`dtype ${d.descr} is not numeric`);
  }
}

/** Reverses the bytes of each `item`-byte element of `src` into `out` (same length; may not overlap). */
function swapInto(src: Uint8Array, out: Uint8Array, item: number): void {
  const n = src.length;
  for (let i = 0; i < n; i += item) {
    for (let k = 0; k < item; k++) out[i + k] = src[i + item - 1 - k] as number;
  }
}

const NUMERIC: Record<string, NpyKind> = {
  f2: 'f16', f4: 'f32', f8: 'f64', i1: 'i8', u1: 'u8', i2: 'i16', u2: 'u16', i4: 'i32', u4: 'u32', i8: 'i64', u8: 'u64', b1: 'bool',
};

/** A descr: a typestr (`<f4`, `|O`, `<U10`, `>i8`), or a list (structured dtype), which is `other`. */
function parseDescr(v: Literal): NpyDtype | { error: string } {
  if (Array.isArray(v)) return { kind: 'other', descr: renderLiteral(v), itemSize: structuredSize(v), bigEndian: false };
  if (typeof v !== 'string') return { error: "header 'descr' is neither a type string nor a list of fields" };
  const m = /^([<>|=])?([a-zA-Z])(\d*)(\[.*\])?$/.exec(v);
  if (m === null) return { error: `header 'descr' '${v}' is not a NumPy type string` };
  const order = m[1] ?? '|';
  const code = m[2] as string;
  const count = m[3] === '' || m[3] === undefined ? NaN : Number(m[3]);
  const bigEndian = order === '>';
  if (code === 'O') return { kind: 'object', descr: v, itemSize: 8, bigEndian: false };
  const kind = NUMERIC[`${code}${m[3] ?? ''}`];
  // `=` is native order: numpy on a little-endian machine (every machine nanscan runs on) reads it little-endian.
  if (kind !== undefined && m[4] === undefined) return { kind, descr: v, itemSize: count, bigEndian };
  // Strings, bytes, void, complex, datetimes, long double: not numbers we check.
  const itemSize = Number.isSafeInteger(count) ? (code === 'U' ? 4 * count : count) : 0;
  return { kind: 'other', descr: v, itemSize, bigEndian };
}

/** Bytes of a structured dtype's element, or 0 when a field's size is not known. */
function structuredSize(fields: Literal[]): number {
  let size = 0;
  for (const f of fields) {
    if (!Array.isArray(f) || f.length < 2) return 0;
    const t = f[1] as Literal;
    const sub = Array.isArray(t) ? { itemSize: structuredSize(t) } : parseDescr(t);
    if ('error' in sub || sub.itemSize === 0) return 0;
    let n = 1;
    const shape = f[2];
    if (Array.isArray(shape)) for (const d of shape) n *= typeof d === 'number' ? d : NaN;
    else if (typeof shape === 'number') n = shape;
    size += sub.itemSize * n;
  }
  return Number.isSafeInteger(size) ? size : 0;
}

/** A Python literal as numpy headers use them: tuples and lists are arrays, dicts are Maps. */
type Literal = string | number | boolean | null | Literal[] | Map<string, Literal>;

function renderLiteral(v: Literal): string {
  if (Array.isArray(v)) return `[${v.map(renderLiteral).join(', ')}]`;
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `'${k}': ${renderLiteral(x)}`).join(', ')}}`;
  if (typeof v === 'string') return `'${v}'`;
  return String(v);
}

/** Nesting deeper than this is no dtype numpy writes, and would only cost stack. */
const MAX_DEPTH = 64;

/**
 * Parses one Python literal (the whole of `text`, surrounding whitespace allowed). Strict: anything outside
 * the forms numpy writes (quoted strings, decimal integers with an optional Python 2 `L`, True/False/None,
 * tuples, lists, dicts with string keys) is an error.
 */
function parseLiteral(text: string): Literal {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`${what} at character ${i}`);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r\f\v'.includes(text[i] as string)) i++;
  };
  const str = (): string => {
    const q = text[i] as string;
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i] as string;
      if (c === q) {
        i++;
        return out;
      }
      if (c === '\n') fail('newline in string');
      if (c === '\\') {
        const e = text[i + 1];
        const simple: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', t: '\t', r: '\r', '0': '\0' };
        if (e === undefined || simple[e] === undefined) fail('unsupported escape in string');
        out += simple[e as string] as string;
        i += 2;
        continue;
      }
      out += c;
      i++;
    }
  };
  const value = (depth: number): Literal => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    ws();
    const c = text[i];
    if (c === "'" || c === '"') return str();
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const items: Literal[] = [];
      let comma = true;
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          // `(5)` is the integer 5 in Python, not a tuple; numpy writes `(5,)`.
          if (close === ')' && items.length === 1 && !comma) return items[0] as Literal;
          return items;
        }
        if (!comma) fail(`expected ',' or '${close}'`);
        items.push(value(depth + 1));
        ws();
        comma = text[i] === ',';
        if (comma) i++;
      }
    }
    if (c === '{') {
      i++;
      const map = new Map<string, Literal>();
      let comma = true;
      for (;;) {
        ws();
        if (text[i] === '}') {
          i++;
          return map;
        }
        if (!comma) fail("expected ',' or '}'");
        if (text[i] !== "'" && text[i] !== '"') fail('dict key is not a string');
        const k = str();
        if (map.has(k)) fail(`duplicate key '${k}'`);
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        map.set(k, value(depth + 1));
        ws();
        comma = text[i] === ',';
        if (comma) i++;
      }
    }
    const m = /^(?:(-?\d+)L?|True|False|None)(?![A-Za-z0-9_])/.exec(text.slice(i, i + 40));
    if (m === null) return fail('unexpected token');
    i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n)) fail('integer too large');
    return n;
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}
