/**
 * The Parquet footer and the column layout nanscan reads from it, validated before hyparquet allocates anything
 * a lying length would size. Layout (parquet-format README "File format"): `PAR1`, column chunks, the
 * thrift-compact FileMetaData, its length (u32 LE), `PAR1`.
 */
import { readSync } from 'node:fs';
import { parquetMetadata, parquetSchema, type FileMetaData, type SchemaTree } from 'hyparquet';
import type { Dtype } from '../table/columns.js';
import { isLabelName } from '../labels.js';

/** `PAR1`, at both ends of the file. */
export const PARQUET_MAGIC = 0x31524150;
/** Magic + footer length + magic: the smallest Parquet file is 12 bytes. */
const MIN_FILE_BYTES = 12;
/** A footer larger than this is not believed (real footers are KiB to a few MiB, even with many row groups). */
const MAX_FOOTER_BYTES = 256 * 1024 * 1024;

export type Footer = { ok: true; metadata: FileMetaData; headMagic: boolean } | { ok: false; reason: string; offset: number };

/** Reads and parses the footer of an open file of `size` bytes. Never throws for damage. */
export function readFooter(fd: number, size: number): Footer {
  if (size < MIN_FILE_BYTES) return { ok: false, reason: `file is ${size} bytes, too short for a Parquet file (at least 12)`, offset: 0 };
  const tail = Buffer.alloc(8);
  readSync(fd, tail, 0, 8, size - 8);
  if (tail.readUInt32LE(4) !== PARQUET_MAGIC) {
    return { ok: false, reason: `the file does not end with the Parquet magic 'PAR1' (found 0x${tail.subarray(4).toString('hex')}): truncated or not Parquet`, offset: size - 4 };
  }
  const length = tail.readUInt32LE(0);
  if (length > size - MIN_FILE_BYTES || length > MAX_FOOTER_BYTES) {
    return { ok: false, reason: `footer length ${length} does not fit in the file (${size} bytes)`, offset: size - 8 };
  }
  const footer = Buffer.alloc(length + 8);
  readSync(fd, footer, 0, footer.length, size - 8 - length);
  const head = Buffer.alloc(4);
  readSync(fd, head, 0, 4, 0);
  try {
    return { ok: true, metadata: parquetMetadata(footer), headMagic: head.readUInt32LE(0) === PARQUET_MAGIC };
  } catch (e) {
    return { ok: false, reason: `footer metadata does not parse: ${(e as Error).message}`, offset: size - 8 - length };
  }
}

/** What nanscan makes of one top-level column. */
export type ColumnPlan =
  | { kind: 'scalar'; name: string; leaf: string[]; dtype: Dtype; isLabel: boolean }
  | { kind: 'list'; name: string; leaf: string[]; dtype: Dtype; isLabel: boolean }
  | { kind: 'image'; name: string; bytesLeaf: string[]; pathLeaf: string[] | null }
  | { kind: 'unsupported'; name: string };

/** The numeric dtype of a leaf, or null (strings, bytes, dates, decimals, timestamps…: not features). */
export function leafDtype(tree: SchemaTree): Dtype | null {
  const e = tree.element;
  if (tree.children.length > 0) return null;
  const ct = e.converted_type;
  const lt = e.logical_type;
  switch (e.type) {
    case 'FLOAT': return 'f32';
    case 'DOUBLE': return 'f64';
    case 'BOOLEAN': return 'u8';
    case 'INT32':
      if (ct === 'INT_8') return 'i8';
      if (ct === 'INT_16') return 'i16';
      if (ct === 'UINT_8') return 'u8';
      if (ct === 'UINT_16') return 'u16';
      if (ct === 'UINT_32') return 'u32';
      if (ct === undefined || ct === 'INT_32') return lt === undefined || lt.type === 'INTEGER' ? 'i32' : null;
      return null;
    case 'INT64':
      if (ct === 'UINT_64') return 'u64';
      if (ct === undefined || ct === 'INT_64') return lt === undefined || lt.type === 'INTEGER' ? 'i64' : null;
      return null;
    case 'FIXED_LEN_BYTE_ARRAY':
      return lt?.type === 'FLOAT16' ? 'f16' : null;
    default:
      return null;
  }
}

/**
 * Classifies the top-level columns: numeric leaves, lists of numbers (the three-level LIST layout every writer
 * uses: `optional group x (LIST) { repeated group list { optional <numeric> element } }`), image structs
 * (`{bytes: binary, path: string}`, the Hugging Face `Image` feature), and the rest.
 */
export function planColumns(metadata: FileMetaData, labelNames?: readonly string[]): ColumnPlan[] {
  const root = parquetSchema(metadata);
  return root.children.map((c): ColumnPlan => {
    const name = c.element.name;
    const dtype = leafDtype(c);
    if (dtype !== null) return { kind: 'scalar', name, leaf: [name], dtype, isLabel: isLabelName(name, labelNames) };
    const isList = c.element.converted_type === 'LIST' || c.element.logical_type?.type === 'LIST';
    const rep = c.children[0];
    if (isList && c.children.length === 1 && rep !== undefined && rep.element.repetition_type === 'REPEATED' && rep.children.length === 1) {
      const el = rep.children[0]!;
      const d = leafDtype(el);
      if (d !== null) return { kind: 'list', name, leaf: [name, rep.element.name, el.element.name], dtype: d, isLabel: isLabelName(name, labelNames) };
    }
    const bytes = c.children.find((k) => k.element.name === 'bytes' && k.element.type === 'BYTE_ARRAY' && k.children.length === 0);
    const p = c.children.find((k) => k.element.name === 'path' && k.element.type === 'BYTE_ARRAY' && k.children.length === 0);
    if (bytes !== undefined && c.children.length <= 2 && (p !== undefined || c.children.length === 1)) {
      return { kind: 'image', name, bytesLeaf: [name, 'bytes'], pathLeaf: p === undefined ? null : [name, 'path'] };
    }
    return { kind: 'unsupported', name };
  });
}
