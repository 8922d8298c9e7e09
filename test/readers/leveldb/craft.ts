/** Byte-level builders for unit tests: LevelDB's log writer (LEVELDB.md §4) and block builder (§9.6). */
import { crc32cOf, mask } from '../../../src/readers/leveldb/crc32c.js';

export const BLOCK = 32768;
const HEADER = 7;
export const FULL = 1;
export const FIRST = 2;
export const MIDDLE = 3;
export const LAST = 4;

/** One physical record with a valid CRC (type byte then payload, §4.2). */
export function physical(type: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(HEADER);
  h.writeUInt32LE(mask(crc32cOf(payload, crc32cOf(Uint8Array.of(type)))), 0);
  h.writeUInt16LE(payload.length, 4);
  h[6] = type;
  return Buffer.concat([h, payload]);
}

/** `log::Writer::AddRecord` for each record: fragments within 32 KiB blocks, zero-filled trailers. */
export function writeLog(records: Uint8Array[]): Buffer {
  const out: Buffer[] = [];
  let offset = 0; // position in the current block
  for (const rec of records) {
    let left = rec.length;
    let p = 0;
    let begin = true;
    do {
      const leftover = BLOCK - offset;
      if (leftover < HEADER) {
        if (leftover > 0) out.push(Buffer.alloc(leftover));
        offset = 0;
      }
      const avail = BLOCK - offset - HEADER;
      const n = Math.min(left, avail);
      const end = n === left;
      const type = begin && end ? FULL : begin ? FIRST : end ? LAST : MIDDLE;
      out.push(physical(type, rec.subarray(p, p + n)));
      offset += HEADER + n;
      p += n;
      left -= n;
      begin = false;
    } while (left > 0);
  }
  return Buffer.concat(out);
}

/** A WriteBatch (§5): sequence, count, then put (1) / delete (0) entries. */
export function writeBatch(seq: number, ops: ([Uint8Array, Uint8Array] | [Uint8Array])[], count = ops.length): Buffer {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(12);
  h.writeBigUInt64LE(BigInt(seq), 0);
  h.writeUInt32LE(count, 8);
  parts.push(h);
  for (const op of ops) {
    parts.push(Buffer.of(op.length === 2 ? 1 : 0), varint(op[0].length), Buffer.from(op[0]));
    if (op.length === 2) parts.push(varint(op[1].length), Buffer.from(op[1]));
  }
  return Buffer.concat(parts);
}

export function varint(v: number): Buffer {
  const b: number[] = [];
  while (v >= 0x80) {
    b.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  b.push(v);
  return Buffer.from(b);
}

/** `BlockBuilder`: prefix-compressed entries, a restart point every `interval` entries, then the restart array. */
export function buildBlock(entries: [Uint8Array, Uint8Array][], interval = 16): Buffer {
  const parts: Buffer[] = [];
  const restarts: number[] = [];
  let size = 0;
  let prev = Buffer.alloc(0);
  entries.forEach(([k, v], i) => {
    let shared = 0;
    if (i % interval === 0) restarts.push(size);
    else while (shared < prev.length && shared < k.length && prev[shared] === k[shared]) shared++;
    const e = Buffer.concat([varint(shared), varint(k.length - shared), varint(v.length), Buffer.from(k.subarray(shared)), Buffer.from(v)]);
    parts.push(e);
    size += e.length;
    prev = Buffer.from(k);
  });
  if (restarts.length === 0) restarts.push(0);
  const tail = Buffer.alloc(4 * (restarts.length + 1));
  restarts.forEach((r, i) => tail.writeUInt32LE(r, 4 * i));
  tail.writeUInt32LE(restarts.length, 4 * restarts.length);
  return Buffer.concat([...parts, tail]);
}
