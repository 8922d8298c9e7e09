/**
 * Little-endian fixed-width integers and varints (LEVELDB.md §1.1, §1.2), with a bounds-checked cursor for the
 * variable-length structures (VersionEdit, WriteBatch, BlockHandle). Hot loops (block entries) inline their own
 * decoding; everything else goes through `ByteReader`, which throws `DecodeError` and never reads past `end`.
 */

/** Internal: a structure does not parse. Always caught inside the leveldb reader and turned into a finding. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

/** A system error from `fs` (it has an errno `code`), as opposed to a bug. */
export function isIoError(e: unknown): boolean {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string';
}

/** §1.2: a varint32 has at most 5 bytes, a varint64 at most 10 (`GetVarint32PtrFallback`, `GetVarint64Ptr`). */
const MAX_VARINT32_BYTES = 5;
const MAX_VARINT64_BYTES = 10;
/** §14: values at or above 2^53 do not fit a JS number exactly; for file numbers, sizes and sequences that is corruption. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** §1.1: fixed32, least significant byte first. */
export function fixed32(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16)) + buf[off + 3]! * 0x1000000;
}

/** §1.1: fixed64 as a number; undefined when it is ≥ 2^53 (only sequence numbers use fixed64, §14). */
export function fixed64(buf: Uint8Array, off: number): number | undefined {
  const hi = fixed32(buf, off + 4);
  if (hi >= 0x200000) return undefined; // 2^21 · 2^32 = 2^53
  return hi * 0x100000000 + fixed32(buf, off);
}

export class ByteReader {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  byte(): number {
    if (this.pos >= this.end) throw new DecodeError('unexpected end of data');
    return this.buf[this.pos++]!;
  }

  /** §1.2: 7 bits a byte, low group first; LevelDB keeps the low 32 bits of an over-long value, so do we. */
  varint32(): number {
    let result = 0;
    for (let i = 0; i < MAX_VARINT32_BYTES; i++) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) return result % 0x100000000;
    }
    throw new DecodeError('varint32 longer than 5 bytes');
  }

  /** §1.2, §14: multiplication instead of shifts so that values beyond 32 bits survive. */
  varint64(): number {
    let result = 0;
    for (let i = 0; i < MAX_VARINT64_BYTES; i++) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) {
        if (result > MAX_SAFE) throw new DecodeError('varint64 value beyond 2^53');
        return result;
      }
    }
    throw new DecodeError('varint64 longer than 10 bytes');
  }

  bytes(n: number): Uint8Array {
    if (n > this.remaining) throw new DecodeError(`${n} bytes announced, ${this.remaining} left`);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** §1.2 `GetLengthPrefixedSlice`: varint32 length, then the bytes. */
  lengthPrefixed(): Uint8Array {
    return this.bytes(this.varint32());
  }
}
