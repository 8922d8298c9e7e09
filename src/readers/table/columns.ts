/**
 * Table columns (Parquet, Arrow) to records: the one mapping both table readers share.
 *
 * - A table without an image column is read column by column: each numeric column (scalars, fixed-size lists,
 *   lists) becomes RowsRecord slabs (`countsRecords: false`), and the batch says how many table rows it covers
 *   (RecordBatch.tableRows), so a row counts once however many columns it has.
 * - A table with an image column (the Hugging Face `Image` feature: a struct `{bytes, path}`) is read row by
 *   row: each row is a SampleRecord with its image, its label and its numeric values, so images are decoded and
 *   checked and findings name the row.
 * - Lists whose rows differ in length (ragged) become one RowsRecord per run of consecutive rows of one length
 *   (`rowShape` [length]): each row is checked whole, and per-element statistics are kept per length.
 * - A null in a numeric column is a `null_value` finding (one per column and partition: the first null row and
 *   the count), yielded by the reader: nulls live in the storage (validity bitmaps, definition levels) that
 *   only the reader sees; the analyzer gets the non-null rows, in runs.
 */
import type { Damage } from '../../records.js';
import type { NumericArray, RecordBatch, RowsRecord, SampleField, SampleRecord, UncheckedNote } from '../types.js';

export type Dtype = RowsRecord['dtype'];

/** One column of one partition (a Parquet row group, an Arrow record batch), as typed arrays. */
export interface NumericColumn {
  name: string;
  dtype: Dtype;
  isLabel: boolean;
  /** Elements, row after row (a null row's slot, if any, holds anything). */
  values: NumericArray;
  /** Per row: 1 present, 0 null. null when every row is present. */
  valid: Uint8Array | null;
  /**
   * Row r's elements are values[starts[r], starts[r + 1]) (lists). Undefined: `size` elements a row, row r at
   * r * size (scalars: size 1; fixed-size lists).
   */
  starts?: Int32Array;
  size: number;
}

/** An image column of one partition: the encoded bytes of each row, or its external path when the bytes are null. */
export interface ImageColumn {
  name: string;
  bytes: (Uint8Array | null)[];
  paths: (string | null)[];
}

/** How many rows of `col` are null, and the first. */
export function nullsOf(col: NumericColumn, rows: number): { count: number; first: number } {
  if (col.valid === null) return { count: 0, first: -1 };
  let count = 0;
  let first = -1;
  for (let r = 0; r < rows; r++) {
    if (col.valid[r] === 0) {
      if (first < 0) first = r;
      count++;
    }
  }
  return { count, first };
}

/** The `null_value` finding of a column with nulls. `firstRow` is added to the row numbers shown. */
export function nullFinding(file: string, column: string, count: number, first: number, index: number): Damage {
  return {
    kind: 'null_value', file, field: column, index, count,
    message: `Column '${column}' is null in ${count} row${count === 1 ? '' : 's'}${count > 1 ? `, the first at row ${first}` : ` (row ${first})`}.`,
  };
}

function rowLength(col: NumericColumn, r: number): number {
  return col.starts === undefined ? col.size : col.starts[r + 1]! - col.starts[r]!;
}

function rowStart(col: NumericColumn, r: number): number {
  return col.starts === undefined ? r * col.size : col.starts[r]!;
}

/**
 * The RowsRecords of a column: one per run of consecutive non-null rows of one length (a column without nulls
 * and of one row length is one record). Rows of length 0 hold nothing to check and are left out.
 */
export function columnRecords(col: NumericColumn, file: string, firstRow: number, rows: number): RowsRecord[] {
  if (col.valid === null && col.starts === undefined) {
    // The common case: every row present, one length. One slab, no per-row walk.
    return rows === 0 || col.size === 0 ? [] : [{
      kind: 'rows', file, field: col.name, dtype: col.dtype, rowShape: col.size === 1 ? [] : [col.size],
      firstRow, rows, data: col.values.subarray(0, rows * col.size), isLabel: col.isLabel, countsRecords: false,
    }];
  }
  const out: RowsRecord[] = [];
  let r = 0;
  while (r < rows) {
    if (col.valid !== null && col.valid[r] === 0) {
      r++;
      continue;
    }
    const len = rowLength(col, r);
    let end = r + 1;
    while (end < rows && (col.valid === null || col.valid[end] === 1) && rowLength(col, end) === len) end++;
    if (len > 0) {
      const start = rowStart(col, r);
      out.push({
        kind: 'rows', file, field: col.name, dtype: col.dtype,
        rowShape: col.starts === undefined && col.size === 1 ? [] : [len],
        firstRow: firstRow + r, rows: end - r, data: col.values.subarray(start, start + (end - r) * len),
        isLabel: col.isLabel, countsRecords: false,
      });
    }
    r = end;
  }
  return out;
}

/**
 * The SampleRecords of a table with image columns: row r of the batch is record base + r (a partition-local index).
 * A label column gives a `label` member (one value a row), other numeric columns `array` members. Rows whose
 * image bytes are null are returned in `external` (their images are files elsewhere, not checked here).
 */
export function sampleRecords(
  numeric: readonly NumericColumn[], images: readonly ImageColumn[], file: string, rows: number, base: number,
): { records: SampleRecord[]; external: string[]; externalCount: number } {
  const records: SampleRecord[] = [];
  const external: string[] = [];
  let externalCount = 0;
  for (let r = 0; r < rows; r++) {
    const fields: SampleField[] = [];
    for (const img of images) {
      const b = img.bytes[r];
      if (b !== null && b !== undefined) fields.push({ type: 'image', name: img.name, bytes: b });
      else {
        const p = img.paths[r];
        // Neither bytes nor path: a null image, reported by the caller as a null value.
        if (p === null || p === undefined) continue;
        externalCount++;
        if (external.length < 8) external.push(`${img.name} of row ${r}: ${p}`);
        fields.push({ type: 'opaque', name: img.name });
      }
    }
    for (const col of numeric) {
      if (col.valid !== null && col.valid[r] === 0) continue;
      const len = rowLength(col, r);
      const start = rowStart(col, r);
      if (col.isLabel && len === 1 && col.starts === undefined) {
        fields.push({ type: 'label', name: col.name, value: Number(col.values[start]!) });
      } else if (len > 0) {
        fields.push({ type: 'array', name: col.name, dtype: col.dtype, shape: col.starts === undefined && col.size === 1 ? [] : [len], data: col.values.subarray(start, start + len) });
      }
    }
    records.push({ kind: 'sample', index: base + r, file, fields });
  }
  return { records, external, externalCount };
}

/**
 * The batch of one partition's columns: null findings, then row slabs (no image column) or sample records (an
 * image column). `damage` holds the reader's findings so far and is returned in the batch. Sample records and
 * their findings carry partition-local indexes (finalize adds the records of earlier partitions): `partitionRow`
 * is this batch's first row within its partition. Row findings carry absolute row numbers.
 */
export function tableBatch(
  numeric: readonly NumericColumn[], images: readonly ImageColumn[], imageMode: boolean, file: string, firstRow: number, rows: number,
  damage: Damage[], partitionRow: number,
): RecordBatch {
  const base = imageMode ? partitionRow : firstRow;
  for (const col of numeric) {
    const n = nullsOf(col, rows);
    if (n.count > 0) damage.push(nullFinding(file, col.name, n.count, firstRow + n.first, base + n.first));
  }
  for (const img of images) {
    let count = 0;
    let first = -1;
    for (let r = 0; r < rows; r++) {
      if (img.bytes[r] === null && img.paths[r] === null) {
        if (first < 0) first = r;
        count++;
      }
    }
    if (count > 0) damage.push(nullFinding(file, img.name, count, firstRow + first, base + first));
  }
  if (!imageMode) return { records: numeric.flatMap((c) => columnRecords(c, file, firstRow, rows)), damage, tableRows: rows };
  const s = sampleRecords(numeric, images, file, rows, partitionRow);
  const unchecked: UncheckedNote[] = s.externalCount > 0
    ? [{ reason: 'opaque_value', count: s.externalCount, examples: s.external.map((e) => `${file} ${e} (an external image file, not checked)`) }]
    : [];
  return { records: s.records, damage, unchecked };
}
