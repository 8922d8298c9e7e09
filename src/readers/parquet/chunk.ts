/**
 * One column chunk (one column of one row group): its bytes read with pread, its page headers checked, then
 * decoded by hyparquet's `readColumn` and turned into typed arrays. hyparquet is called only on pages whose
 * declared sizes fit: it sizes its buffers from page headers (`new Uint8Array(uncompressed_page_size)`, arrays of
 * `num_values`), which a damaged file can make arbitrarily large.
 */
import { readSync } from 'node:fs';
import type { ColumnChunk, Compressors, DecodedArray, FileMetaData, SchemaTree } from 'hyparquet';
import type { ColumnDecoder } from 'hyparquet/src/types.js';
import { readColumn, parquetHeader } from 'hyparquet/src/column.js';
import { DEFAULT_PARSERS } from 'hyparquet/src/convert.js';
import { getTreePath } from 'hyparquet/src/schema.js';
import { compressors as allCompressors } from 'hyparquet-compressors';
import type { NumericArray } from '../types.js';
import type { Dtype, NumericColumn } from '../table/columns.js';
import { readFlat } from './flat.js';

/** Largest page (uncompressed) believed: writers aim for 1 MiB pages; a huge value is a lying header. */
export const MAX_PAGE_BYTES = 256 * 1024 * 1024;
/** Largest value count of a page of a nested (list) column believed (arrays of this many are allocated). */
const MAX_NESTED_PAGE_VALUES = 1 << 25;

/** Decompressors that refuse an output larger than MAX_PAGE_BYTES before allocating it. */
export const BOUNDED_COMPRESSORS: Compressors = Object.fromEntries(
  Object.entries(allCompressors).map(([codec, f]) => [codec, (input: Uint8Array, outputLength: number): Uint8Array => {
    if (!(outputLength >= 0 && outputLength <= MAX_PAGE_BYTES)) throw new Error(`page declares ${outputLength} uncompressed bytes`);
    return f(input, outputLength);
  }]),
) as Compressors;

/** A chunk that cannot be read: why, and the file offset where. */
export class ChunkDamage extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

/** Byte range of a column chunk: from its dictionary page (if any) or first data page, `total_compressed_size` long. */
function chunkRange(chunk: ColumnChunk, size: number): { start: number; end: number } {
  const m = chunk.meta_data;
  if (m === undefined) throw new ChunkDamage('column chunk has no metadata', 0);
  const dict = m.dictionary_page_offset === undefined ? undefined : Number(m.dictionary_page_offset);
  const start = dict !== undefined && dict > 0 && dict < Number(m.data_page_offset) ? dict : Number(m.data_page_offset);
  const end = start + Number(m.total_compressed_size);
  if (!(start >= 4 && end > start && end <= size)) {
    throw new ChunkDamage(`column chunk [${start}, ${end}) lies outside the file (${size} bytes)`, Math.min(Math.max(start, 0), size));
  }
  return { start, end };
}

/** Walks the page headers, checking each page fits in the chunk and its sizes are believable. */
function checkPages(bytes: Uint8Array, base: number, rows: number, flat: boolean): void {
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  let values = 0;
  while (reader.offset < bytes.length - 1 && (!flat || values < rows)) {
    const at = base + reader.offset;
    let h;
    try {
      h = parquetHeader(reader);
    } catch (e) {
      throw new ChunkDamage(`page header does not parse: ${(e as Error).message}`, at);
    }
    const cs = Number(h.compressed_page_size);
    const us = Number(h.uncompressed_page_size);
    if (!(cs >= 0 && reader.offset + cs <= bytes.length)) throw new ChunkDamage(`page of ${cs} bytes runs past the end of its column chunk`, at);
    if (!(us >= 0 && us <= MAX_PAGE_BYTES)) throw new ChunkDamage(`page declares ${us} uncompressed bytes`, at);
    const n = Number(h.data_page_header?.num_values ?? h.data_page_header_v2?.num_values ?? h.dictionary_page_header?.num_values ?? 0);
    const limit = h.dictionary_page_header !== undefined ? us : flat ? rows - values : MAX_NESTED_PAGE_VALUES;
    if (!(n >= 0 && n <= limit)) throw new ChunkDamage(`page declares ${n} values, more than it can hold`, at);
    if (h.dictionary_page_header === undefined) values += n;
    reader.offset += cs;
  }
}

interface Chunk {
  bytes: Uint8Array;
  start: number;
  rows: number;
  flat: boolean;
  decoder: ColumnDecoder;
}

/**
 * Reads the column chunk of leaf `leaf` in row group `group` and checks its pages.
 * @throws ChunkDamage for anything wrong in the file.
 */
function readChunkBytes(fd: number, size: number, metadata: FileMetaData, tree: SchemaTree, group: number, leaf: readonly string[]): Chunk {
  const rg = metadata.row_groups[group]!;
  const rows = Number(rg.num_rows);
  const chunk = rg.columns.find((c) => c.meta_data?.path_in_schema.join('\u0000') === leaf.join('\u0000'));
  if (chunk?.meta_data === undefined) throw new ChunkDamage(`row group has no chunk for column '${leaf.join('.')}'`, 0);
  const { start, end } = chunkRange(chunk, size);
  const bytes = new Uint8Array(end - start);
  const got = readSync(fd, bytes, 0, bytes.length, start);
  if (got !== bytes.length) throw new ChunkDamage(`column chunk ends early (${got} of ${bytes.length} bytes)`, start + got);
  const m = chunk.meta_data;
  let schemaPath: SchemaTree[];
  try {
    schemaPath = getTreePath(tree, m.path_in_schema);
  } catch (e) {
    throw new ChunkDamage((e as Error).message, start);
  }
  const flat = schemaPath.length === 2;
  checkPages(bytes, start, rows, flat);
  const decoder: ColumnDecoder = { pathInSchema: m.path_in_schema, type: m.type, element: schemaPath.at(-1)!.element, schemaPath,
    codec: m.codec, parsers: DEFAULT_PARSERS, compressors: BOUNDED_COMPRESSORS, utf8: false };
  return { bytes, start, rows, flat, decoder };
}

/** Decodes a chunk with hyparquet's readColumn: one decoded array per data page. */
function decodeChunk(c: Chunk): DecodedArray[] {
  try {
    return readColumn({ view: new DataView(c.bytes.buffer), offset: 0 }, { groupStart: 0, groupRows: c.rows, selectStart: 0, selectEnd: c.rows }, c.decoder).data;
  } catch (e) {
    throw new ChunkDamage(`column chunk does not decode: ${(e as Error).message}`, c.start);
  }
}

/**
 * The decoded pages of leaf `leaf` in row group `group`.
 * @throws ChunkDamage for anything wrong in the file.
 */
export function readChunk(fd: number, size: number, metadata: FileMetaData, tree: SchemaTree, group: number, leaf: readonly string[]): DecodedArray[] {
  return decodeChunk(readChunkBytes(fd, size, metadata, tree, group, leaf));
}

/**
 * A scalar column of row group `group`: through the fast flat path (flat.ts) when its encodings allow, else
 * through readColumn.
 * @throws ChunkDamage for anything wrong in the file.
 */
export function readScalar(fd: number, size: number, metadata: FileMetaData, tree: SchemaTree, group: number, name: string, dtype: Dtype, isLabel: boolean): NumericColumn {
  const c = readChunkBytes(fd, size, metadata, tree, group, [name]);
  let flat;
  try {
    flat = readFlat(c.bytes, c.rows, c.decoder, new CTORS[dtype](c.rows));
  } catch (e) {
    throw new ChunkDamage(`column chunk does not decode: ${(e as Error).message}`, c.start);
  }
  if (flat !== null) return { name, dtype, isLabel, values: flat.values, valid: flat.valid, size: 1 };
  return scalarColumn(decodeChunk(c), c.rows, name, dtype, isLabel, c.start);
}

const CTORS: Record<Dtype, new (n: number) => NumericArray> = {
  f16: Float32Array, f32: Float32Array, f64: Float64Array, i8: Int8Array, u8: Uint8Array, i16: Int16Array,
  u16: Uint16Array, i32: Int32Array, u32: Uint32Array, i64: BigInt64Array, u64: BigUint64Array,
};

function isNull(v: unknown): boolean {
  return v === undefined || v === null;
}

/** Stores one decoded value (number, boolean, bigint) into a typed array of the column's dtype. */
function put(out: NumericArray, i: number, v: unknown, big: boolean): void {
  if (big) (out as BigInt64Array)[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
  else (out as Float64Array)[i] = typeof v === 'bigint' ? Number(v) : Number(v);
}

/**
 * A scalar column from its pages. Pages without nulls come as typed arrays (copied in whole); pages with nulls,
 * dictionary pages and booleans come as JS arrays, `undefined` (or null) where a row is null.
 * @throws ChunkDamage when the pages do not hold the row group's row count.
 */
export function scalarColumn(pages: readonly DecodedArray[], rows: number, name: string, dtype: Dtype, isLabel: boolean, offset: number): NumericColumn {
  const first = pages[0];
  const Ctor = CTORS[dtype];
  if (pages.length === 1 && first instanceof Ctor && first.length === rows) {
    return { name, dtype, isLabel, values: first as NumericArray, valid: null, size: 1 };
  }
  const values = new Ctor(rows);
  const big = values instanceof BigInt64Array || values instanceof BigUint64Array;
  let valid: Uint8Array | null = null;
  let at = 0;
  for (const p of pages) {
    if (at + p.length > rows) throw new ChunkDamage(`column '${name}' holds more values than its row group's ${rows} rows`, offset);
    if (p instanceof Ctor) {
      (values as Float64Array).set(p as Float64Array, at);
      at += p.length;
      continue;
    }
    for (let i = 0; i < p.length; i++, at++) {
      const v: unknown = p[i];
      if (isNull(v)) (valid ??= new Uint8Array(rows).fill(1))[at] = 0;
      else put(values, at, v, big);
    }
  }
  if (at !== rows) throw new ChunkDamage(`column '${name}' holds ${at} values for its row group's ${rows} rows`, offset);
  return { name, dtype, isLabel, values, valid, size: 1 };
}

/**
 * A list column: each row decoded as `[list]` (or `[]` for a null row) under an optional column, the list
 * itself under a required one. A null element inside a list makes the row count as null.
 */
export function listColumn(pages: readonly DecodedArray[], rows: number, name: string, dtype: Dtype, isLabel: boolean, optional: boolean, offset: number): NumericColumn {
  const lists: (ArrayLike<unknown> | null)[] = [];
  let total = 0;
  for (const p of pages) {
    for (let i = 0; i < p.length; i++) {
      let row: unknown = p[i];
      if (optional) row = Array.isArray(row) && row.length === 1 ? row[0] : null;
      const list = Array.isArray(row) || ArrayBuffer.isView(row) ? (row as ArrayLike<unknown>) : null;
      lists.push(list);
      if (list !== null) total += list.length;
    }
  }
  if (lists.length !== rows) throw new ChunkDamage(`column '${name}' holds ${lists.length} rows for its row group's ${rows}`, offset);
  const values = new CTORS[dtype](total);
  const big = values instanceof BigInt64Array || values instanceof BigUint64Array;
  const starts = new Int32Array(rows + 1);
  let valid: Uint8Array | null = null;
  let at = 0;
  for (let r = 0; r < rows; r++) {
    starts[r] = at;
    const list = lists[r]!;
    let ok = list !== null;
    if (list !== null) {
      for (let i = 0; i < list.length; i++) {
        const v = list[i];
        if (isNull(v)) ok = false;
        else put(values, at + i, v, big);
      }
      at += list.length;
    }
    if (!ok) (valid ??= new Uint8Array(rows).fill(1))[r] = 0;
  }
  starts[rows] = at;
  return { name, dtype, isLabel, values, valid, starts, size: 0 };
}

/** Binary or string values of a struct member, one a row: `[value]` under an optional struct, `[]` for a null struct. */
export function structMember(pages: readonly DecodedArray[], rows: number, optional: boolean): unknown[] {
  const out: unknown[] = [];
  for (const p of pages) {
    for (let i = 0; i < p.length; i++) {
      const v: unknown = p[i];
      out.push(optional ? (Array.isArray(v) && v.length === 1 ? v[0] : null) : v);
    }
  }
  if (out.length !== rows) throw new ChunkDamage(`struct member holds ${out.length} rows for its row group's ${rows}`, 0);
  return out;
}
