/**
 * Opening a table file (LEVELDB.md §9.1–§9.3, §9.7–§9.9): footer at the MANIFEST's recorded size, then the
 * index block (one separator key and BlockHandle per data block), and a checksum check of the metaindex and
 * filter blocks (their damage is a warning only: LevelDB ignores it, `Table::ReadMeta`).
 */
import fs from 'node:fs';
import { OPEN_FLAGS } from '../files.js';
import { BLOCK_TRAILER_SIZE, BlockIter, readBlock } from './block.js';
import { readFully } from '../files.js';
import { ByteReader, DecodeError, fixed32, isIoError } from './varint.js';

/** §9.3 `Footer::kEncodedLength`: two BlockHandles padded to 40 bytes, then the 8-byte magic. */
export const FOOTER_SIZE = 48;
const FOOTER_HANDLES_SIZE = 40;
/** §9.3 `kTableMagicNumber` = 0xdb4775248b80fb57, as two little-endian fixed32 halves. */
const MAGIC_LO = 0x8b80fb57;
const MAGIC_HI = 0xdb477524;
/** Layout oddities worth listing per table before the rest is noise. */
const MAX_LAYOUT_WARNINGS = 8;
/** §9.8: the metaindex entry LevelDB writes for a filter policy. */
const FILTER_PREFIX = 'filter.';
/** §9.8: filter block = filters, fixed32 offsets, fixed32 array start, 1 byte base_lg. */
const FILTER_TAIL = 5;

export interface IndexEntry {
  /** Separator internal key K_i: last key of block i ≤ K_i < first key of block i+1 (§9.7). Owned copy. */
  key: Uint8Array;
  offset: number;
  size: number;
}

export interface OpenTable {
  fd: number;
  /** Bytes of the table (MANIFEST `file_size`). */
  size: number;
  index: IndexEntry[];
  /** Problems that lose nothing (bad metaindex or filter, odd layout). */
  warnings: string[];
}

/** `io` marks a file that cannot be opened at all (vanished: the database changed during the scan?). */
export type TableOpenResult = { table: OpenTable } | { error: string; offset?: number; io?: true };

/** Open `file` read-only and decode its footer and index. The caller closes `table.fd`. */
export function openTable(file: string, size: number): TableOpenResult {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
  } catch (e) {
    return { error: `cannot open: ${(e as Error).message}`, io: true };
  }
  try {
    const r = decodeTable(fd, size);
    if ('error' in r) fs.closeSync(fd);
    return r;
  } catch (e) {
    fs.closeSync(fd);
    if (!isIoError(e)) throw e;
    return { error: `read failed: ${(e as Error).message}`, io: true };
  }
}

function decodeTable(fd: number, size: number): TableOpenResult {
  const onDisk = fs.fstatSync(fd).size;
  if (onDisk < size) return { error: `file is ${onDisk} bytes, the MANIFEST records ${size} (truncated)` };
  if (size < FOOTER_SIZE) return { error: `file is too short to be an sstable (${size} bytes)` };
  const footerAt = size - FOOTER_SIZE;
  const footer = Buffer.allocUnsafe(FOOTER_SIZE);
  if (readFully(fd, footer, footerAt).length < FOOTER_SIZE) return { error: 'footer cannot be read', offset: footerAt };
  if (fixed32(footer, FOOTER_HANDLES_SIZE) !== MAGIC_LO || fixed32(footer, FOOTER_HANDLES_SIZE + 4) !== MAGIC_HI) {
    return { error: 'not an sstable (bad magic number)', offset: footerAt };
  }
  const warnings: string[] = [];
  let meta: { offset: number; size: number };
  let index: { offset: number; size: number };
  const fr = new ByteReader(footer, 0, FOOTER_HANDLES_SIZE);
  try {
    meta = handle(fr);
    index = handle(fr);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return { error: `bad footer: ${e.message}`, offset: footerAt };
  }
  // T1 (§12): LevelDB ignores the padding; a writer zero-fills it.
  if (footer.subarray(fr.pos, FOOTER_HANDLES_SIZE).some((b) => b !== 0)) warnings.push('footer padding is not zero');

  const ib = readBlock(fd, index.offset, index.size, footerAt);
  if ('error' in ib) return { error: `index block: ${ib.error}`, offset: index.offset };
  const entries: IndexEntry[] = [];
  const it = new BlockIter(ib.data);
  let expected = 0;
  while (it.next()) {
    const vr = new ByteReader(ib.data, it.valueOffset, it.valueOffset + it.valueLength);
    let h: { offset: number; size: number };
    try {
      // §9.7: "we intentionally allow extra stuff in index_value".
      h = handle(vr);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      return { error: `index block: bad block handle in entry ${entries.length}: ${e.message}`, offset: index.offset };
    }
    // T2 (§12): data blocks tile the file from offset 0.
    if (h.offset !== expected && warnings.length < MAX_LAYOUT_WARNINGS) warnings.push(`data block ${entries.length} starts at ${h.offset}, expected ${expected}`);
    expected = h.offset + h.size + BLOCK_TRAILER_SIZE;
    entries.push({ key: it.key.slice(0, it.keyLength), offset: h.offset, size: h.size });
  }
  if (it.error !== undefined) return { error: `index block: ${it.error}`, offset: index.offset };
  if (it.warning !== undefined) warnings.push(`index block: ${it.warning}`);
  if (entries.length === 0) warnings.push('index block is empty: the table has no data blocks');
  checkMeta(fd, meta, footerAt, warnings);
  return { table: { fd, size, index: entries, warnings } };
}

/** §9.2 BlockHandle: varint64 offset, varint64 size. */
function handle(r: ByteReader): { offset: number; size: number } {
  return { offset: r.varint64(), size: r.varint64() };
}

/** §9.8: verify the metaindex block and any filter block it names; problems are warnings. */
function checkMeta(fd: number, meta: { offset: number; size: number }, limit: number, warnings: string[]): void {
  const mb = readBlock(fd, meta.offset, meta.size, limit);
  if ('error' in mb) {
    warnings.push(`metaindex block at offset ${meta.offset}: ${mb.error}`);
    return;
  }
  const it = new BlockIter(mb.data);
  while (it.next()) {
    const name = Buffer.from(it.key.subarray(0, it.keyLength)).toString('latin1');
    if (!name.startsWith(FILTER_PREFIX)) continue;
    try {
      const h = handle(new ByteReader(mb.data, it.valueOffset, it.valueOffset + it.valueLength));
      const fb = readBlock(fd, h.offset, h.size, limit);
      if ('error' in fb) warnings.push(`filter block at offset ${h.offset}: ${fb.error}`);
      else if (!filterLooksSane(fb.data)) warnings.push(`filter block at offset ${h.offset}: offsets out of range`);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      warnings.push(`metaindex entry '${name}': ${e.message}`);
    }
  }
  if (it.error !== undefined) warnings.push(`metaindex block: ${it.error}`);
}

/** §9.8: array start ≤ size − 5, offsets non-decreasing and ≤ array start. */
function filterLooksSane(d: Uint8Array): boolean {
  if (d.length < FILTER_TAIL) return false;
  const arrayStart = fixed32(d, d.length - FILTER_TAIL);
  if (arrayStart > d.length - FILTER_TAIL) return false;
  let prev = 0;
  for (let p = arrayStart; p + 4 <= d.length - FILTER_TAIL; p += 4) {
    const o = fixed32(d, p);
    if (o < prev || o > arrayStart) return false;
    prev = o;
  }
  return true;
}
