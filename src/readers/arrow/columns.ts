/**
 * Arrow columns (apache-arrow `Data`) to the typed-array columns of table/columns.ts. The decoded buffers are
 * views of the batch's bytes; each one is checked against the length the batch declares (apache-arrow clamps a
 * buffer that the metadata says is longer than the body, silently).
 */
import { type Field, Type, type Data, type DataType } from 'apache-arrow';
import { widenHalf } from '../hdf5/half.js';
import { isLabelName } from '../labels.js';
import type { NumericArray } from '../types.js';
import type { Dtype, ImageColumn, NumericColumn } from '../table/columns.js';

export type ArrowColumnPlan =
  | { kind: 'numeric'; name: string; index: number; isLabel: boolean }
  | { kind: 'image'; name: string; index: number }
  | { kind: 'unsupported'; name: string; index: number };

/** The dtype of a numeric Arrow type, or null. */
function scalarDtype(t: DataType): Dtype | null {
  if (t.typeId === Type.Bool) return 'u8';
  if (t.typeId === Type.Float) {
    const p = (t as unknown as { precision: number }).precision;
    return p === 0 ? 'f16' : p === 1 ? 'f32' : 'f64';
  }
  if (t.typeId === Type.Int) {
    const { bitWidth, isSigned } = t as unknown as { bitWidth: number; isSigned: boolean };
    const d = `${isSigned ? 'i' : 'u'}${bitWidth}`;
    return ['i8', 'u8', 'i16', 'u16', 'i32', 'u32', 'i64', 'u64'].includes(d) ? (d as Dtype) : null;
  }
  return null;
}

function isList(t: DataType): boolean {
  return t.typeId === Type.List || t.typeId === Type.LargeList || t.typeId === Type.FixedSizeList;
}

function isBinary(t: DataType): boolean {
  return t.typeId === Type.Binary || t.typeId === Type.LargeBinary;
}

/** What nanscan makes of each field of a schema. */
export function planArrowColumns(fields: readonly Field[], labelNames?: readonly string[]): ArrowColumnPlan[] {
  return fields.map((f, index): ArrowColumnPlan => {
    const t = f.type;
    const name = f.name;
    if (scalarDtype(t) !== null) return { kind: 'numeric', name, index, isLabel: isLabelName(name, labelNames) };
    if (isList(t)) {
      const child = (t as unknown as { children: Field[] }).children[0];
      if (child !== undefined && scalarDtype(child.type) !== null && child.type.typeId !== Type.Bool) {
        return { kind: 'numeric', name, index, isLabel: isLabelName(name, labelNames) };
      }
    }
    if (t.typeId === Type.Struct) {
      const kids = (t as unknown as { children: Field[] }).children;
      const bytes = kids.find((k) => k.name === 'bytes' && isBinary(k.type));
      if (bytes !== undefined && kids.length <= 2 && kids.every((k) => k === bytes || (k.name === 'path' && (k.type.typeId === Type.Utf8 || k.type.typeId === Type.LargeUtf8)))) {
        return { kind: 'image', name, index };
      }
    }
    return { kind: 'unsupported', name, index };
  });
}

/** The buffers of a batch do not hold what its metadata declares. */
export class BatchDamage extends Error {}

/** Per-row validity (1 present) from a validity bitmap, or null when every row is present. */
function validity(d: Data): Uint8Array | null {
  if (d.nullCount <= 0 || d.nullBitmap === undefined || d.nullBitmap === null || d.nullBitmap.length === 0) return null;
  const bits = d.nullBitmap;
  if (bits.length * 8 < d.offset + d.length) throw new BatchDamage('validity bitmap shorter than the column');
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const b = d.offset + i;
    out[i] = (bits[b >> 3]! >> (b & 7)) & 1;
  }
  return out;
}

/** The element values of a primitive `Data`, `count` of them from its offset, as a typed array of `dtype`. */
function primitive(d: Data, dtype: Dtype, count: number): NumericArray {
  const v = d.values as NumericArray | undefined;
  if (v === undefined) throw new BatchDamage('column has no value buffer');
  if (dtype === 'u8' && d.type.typeId === Type.Bool) {
    if (v.length * 8 < d.offset + count) throw new BatchDamage('boolean buffer shorter than the column');
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const b = d.offset + i;
      out[i] = (Number(v[b >> 3]!) >> (b & 7)) & 1;
    }
    return out;
  }
  if (v.length < d.offset + count) throw new BatchDamage(`value buffer holds ${v.length} values, fewer than the ${d.offset + count} declared`);
  const view = v.subarray(d.offset, d.offset + count);
  if (dtype === 'f16') {
    const out = new Float32Array(count);
    widenHalf(view as Uint16Array, out);
    return out;
  }
  return view;
}

/** A numeric column (scalar, list, large list or fixed-size list) of one batch. */
export function numericColumn(d: Data, name: string, isLabel: boolean): NumericColumn {
  const t = d.type;
  const rows = d.length;
  const valid = validity(d);
  const dtype = scalarDtype(t);
  if (dtype !== null) return { name, dtype, isLabel, values: primitive(d, dtype, rows), valid, size: 1 };
  const child = d.children[0];
  if (child === undefined) throw new BatchDamage('list column has no child values');
  const cd = scalarDtype(child.type)!;
  const childValid = validity(child);
  if (t.typeId === Type.FixedSizeList) {
    const k = (t as unknown as { listSize: number }).listSize;
    if (child.length < (d.offset + rows) * k) throw new BatchDamage('fixed-size list values shorter than the column');
    const values = primitive(child, cd, child.length).subarray(d.offset * k, (d.offset + rows) * k);
    return { name, dtype: cd, isLabel, values, valid: mergeElementNulls(valid, childValid, rows, k, d.offset * k), size: k };
  }
  const offs = d.valueOffsets as Int32Array | BigInt64Array | undefined;
  if (offs === undefined || offs.length < d.offset + rows + 1) throw new BatchDamage('list offsets shorter than the column');
  const starts = new Int32Array(rows + 1);
  for (let r = 0; r <= rows; r++) {
    const o = Number(offs[d.offset + r]!);
    if (!(o >= 0 && o <= child.length && (r === 0 || o >= starts[r - 1]!))) throw new BatchDamage(`list offset ${o} of row ${r} is out of order or past the ${child.length} values`);
    starts[r] = o;
  }
  const values = primitive(child, cd, child.length);
  let merged = valid;
  if (childValid !== null) {
    merged = valid ?? new Uint8Array(rows).fill(1);
    for (let r = 0; r < rows; r++) {
      for (let i = starts[r]!; i < starts[r + 1]!; i++) if (childValid[i] === 0) merged[r] = 0;
    }
  }
  return { name, dtype: cd, isLabel, values, valid: merged, starts, size: 0 };
}

/** Row validity with rows holding a null element marked null too (fixed-size lists). */
function mergeElementNulls(valid: Uint8Array | null, childValid: Uint8Array | null, rows: number, k: number, base: number): Uint8Array | null {
  if (childValid === null) return valid;
  const out = valid ?? new Uint8Array(rows).fill(1);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < k; i++) if (childValid[base + r * k + i] === 0) out[r] = 0;
  }
  return out;
}

/** Variable-length binary or string values of a `Data`, one a row (null for a null row). */
function binaries(d: Data, rowValid: Uint8Array | null): (Uint8Array | null)[] {
  const valid = validity(d);
  const offs = d.valueOffsets as Int32Array | BigInt64Array | undefined;
  const v = d.values as Uint8Array | undefined;
  if (offs === undefined || v === undefined || offs.length < d.offset + d.length + 1) throw new BatchDamage('binary offsets shorter than the column');
  const out: (Uint8Array | null)[] = [];
  for (let r = 0; r < d.length; r++) {
    if ((valid !== null && valid[r] === 0) || (rowValid !== null && rowValid[r] === 0)) {
      out.push(null);
      continue;
    }
    const a = Number(offs[d.offset + r]!);
    const b = Number(offs[d.offset + r + 1]!);
    if (!(a >= 0 && b >= a && b <= v.length)) throw new BatchDamage(`binary value of row ${r} lies outside its buffer`);
    out.push(v.subarray(a, b));
  }
  return out;
}

/** An image struct column (`{bytes, path}`) of one batch. */
export function imageColumn(d: Data, name: string): ImageColumn {
  const fields = (d.type as unknown as { children: Field[] }).children;
  const rowValid = validity(d);
  const bi = fields.findIndex((f) => f.name === 'bytes');
  const pi = fields.findIndex((f) => f.name === 'path');
  const bytes = binaries(d.children[bi]!, rowValid);
  const paths = pi < 0 ? bytes.map(() => null) : binaries(d.children[pi]!, rowValid).map((p) => (p === null ? null : Buffer.from(p).toString('utf8')));
  return { name, bytes, paths };
}
