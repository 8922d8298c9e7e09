/**
 * TFRecord framing (tensorflow/core/lib/io/record_writer.cc, record_reader.cc): each record is
 *
 *   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)
 *
 * with `masked = rotr32(crc, 15) + 0xa282ead8` (the LevelDB mask). The walker below reads a byte stream (a file
 * through pread, or an inflated GZIP/ZLIB stream) into one reused window and yields records as views into it,
 * with damage as events: a length whose CRC fails (the framing is lost: it scans forward to resynchronise), a
 * data CRC that fails (the record is bad; the framing is intact), a record cut short by the end of the stream.
 */
import { crc32cOf, unmask } from '../leveldb/crc32c.js';

/** Bytes before a record's data (length + its CRC) and after it (the data's CRC). */
export const HEADER_BYTES = 12;
export const FOOTER_BYTES = 4;

/**
 * Records longer than this are not buffered (a length that verifies but is this large is a scanner limit, not
 * damage: it is skipped and reported unchecked). TensorFlow itself refuses records whose length overflows its
 * `size_t`; no training record is 1 GiB.
 */
export const MAX_RECORD_BYTES = 1 << 30;

/**
 * How far past a bad length the walker looks for the next offset where a length and its CRC verify (and the
 * data CRC after it). Bounded so that a file of garbage costs a bounded scan.
 */
export const RESYNC_SCAN_BYTES = 32 << 20;

/** Window size: large reads (4 MiB) amortise syscalls; it grows only for a record larger than it. */
const WINDOW_BYTES = 4 << 20;

/**
 * CRC-32C table for the 8-byte length fields: a JS loop over 8 bytes costs less than a call into the native
 * CRC (measured: ~25 ns against ~90 ns a call), and resynchronising tests one length per byte offset.
 */
const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32C of 8 bytes at `at` (the length field). */
export function crc32c8(b: Uint8Array, at: number): number {
  let c = -1;
  for (let i = at; i < at + 8; i++) c = TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** A byte stream: returns how many bytes it put at `dst[at..]` (0 at the end). May be async (inflate). */
export interface ByteSource {
  pull(dst: Buffer, at: number, max: number): number | Promise<number>;
}

/** A file read through pread from `position` on. */
export function fileSource(fd: number, readSync: (fd: number, b: Buffer, o: number, l: number, p: number) => number, position: number): ByteSource {
  let pos = position;
  return {
    pull(dst, at, max) {
      const n = readSync(fd, dst, at, max, pos);
      pos += n;
      return n;
    },
  };
}

export type FrameEvent =
  /** A record whose length and data CRCs verify; `data` is a view into a window that is never reused. */
  | { type: 'record'; offset: number; data: Uint8Array }
  /** The data CRC fails: the record's bytes are not what was written. */
  | { type: 'bad_crc'; offset: number; length: number }
  /** The length CRC fails at `offset`; `resumed` is where a verified record was found again, or null. */
  | { type: 'lost'; offset: number; resumed: number | null; scanned: number }
  /** The stream ends inside a record (or its header) that starts at `offset`. */
  | { type: 'truncated'; offset: number; length: number | null; available: number }
  /** A record whose length verifies but is above MAX_RECORD_BYTES: skipped unread. */
  | { type: 'oversized'; offset: number; length: number };

/** Events are handed out in batches of at most this many records or bytes of record data. */
const BATCH_RECORDS = 512;
const BATCH_BYTES = 4 << 20;

/**
 * Walks the records whose length field starts in [start, end) of a stream that begins at `start`, yielding
 * events in batches. The window is never reused: when it must move, the rest is copied into a new one, so the
 * record views handed out stay valid for as long as the caller holds them (one 4 MiB allocation per 4 MiB read).
 */
export class FrameWalker {
  private buf = Buffer.allocUnsafe(WINDOW_BYTES);
  private lo = 0;
  private hi = 0;
  /** Stream offset of buf[0]. */
  private base: number;
  private eof = false;

  constructor(private readonly src: ByteSource, start: number, private readonly end: number, private readonly streamSize: number) {
    this.base = start;
  }

  /**
   * Makes `n` bytes available from `lo`; false when the stream ends first. Callers test the window first: an
   * await per record (when the bytes are there) cost more than the CRCs.
   */
  private async fill(n: number): Promise<boolean> {
    if (this.hi - this.lo >= n) return true;
    if (this.lo > 0) this.move(Math.max(this.hi - this.lo, WINDOW_BYTES));
    while (this.hi < n && !this.eof) {
      // Grows as bytes arrive (doubling), never to a declared length at once: an inflated stream has no size to
      // check a length against, and a lying length must not allocate what the stream never delivers.
      if (this.hi === this.buf.length) this.move(Math.min(n, this.buf.length * 2));
      const r = this.src.pull(this.buf, this.hi, this.buf.length - this.hi);
      const got = typeof r === 'number' ? r : await r;
      if (got === 0) this.eof = true;
      this.hi += got;
    }
    return this.hi - this.lo >= n;
  }

  /** Moves the unread bytes to the start of a new window of `size` bytes (the old one may still be viewed). */
  private move(size: number): void {
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, this.lo, this.hi);
    this.base += this.lo;
    this.hi -= this.lo;
    this.lo = 0;
    this.buf = next;
  }

  /** The verified length at window position `p` (its 12 header bytes are in the window), or null. */
  private lengthAt(p: number): number | null {
    const b = this.buf;
    if (unmask(b.readUInt32LE(p + 8)) !== crc32c8(b, p)) return null;
    const hi = b.readUInt32LE(p + 4);
    // Above 2^53 a length cannot be a number exactly; any length that large is past every stream's end.
    return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x100000000 + b.readUInt32LE(p);
  }

  /** Bytes the stream may still hold after a header at `offset`, for a length to fit in. */
  private room(offset: number): number {
    return this.streamSize - offset - HEADER_BYTES - FOOTER_BYTES;
  }

  async *events(): AsyncGenerator<FrameEvent[]> {
    let out: FrameEvent[] = [];
    let bytes = 0;
    for (;;) {
      if (out.length >= BATCH_RECORDS || bytes >= BATCH_BYTES) {
        yield out;
        out = [];
        bytes = 0;
      }
      const offset = this.base + this.lo;
      if (offset >= this.end) break;
      if (this.hi - this.lo < HEADER_BYTES && !(await this.fill(HEADER_BYTES))) {
        if (this.hi > this.lo) out.push({ type: 'truncated', offset, length: null, available: this.hi - this.lo });
        break;
      }
      const length = this.lengthAt(this.lo);
      if (length === null) {
        const resumed = await this.resync();
        out.push({ type: 'lost', offset, resumed, scanned: this.base + this.lo - offset });
        if (resumed === null) break;
        continue;
      }
      const total = HEADER_BYTES + length + FOOTER_BYTES;
      if (length > this.room(offset)) {
        // Past the end of the file (its size is known): truncated, without reading or allocating anything.
        out.push({ type: 'truncated', offset, length, available: this.streamSize - offset });
        break;
      }
      if (length > MAX_RECORD_BYTES) {
        out.push({ type: 'oversized', offset, length });
        if (!(await this.skip(total))) {
          out.push({ type: 'truncated', offset, length, available: this.base + this.hi - offset });
          break;
        }
        continue;
      }
      if (this.hi - this.lo < total && !(await this.fill(total))) {
        out.push({ type: 'truncated', offset, length, available: this.hi - this.lo });
        break;
      }
      const at = this.lo + HEADER_BYTES;
      const data = this.buf.subarray(at, at + length);
      if (unmask(this.buf.readUInt32LE(at + length)) === crc32cOf(data)) out.push({ type: 'record', offset, data });
      else out.push({ type: 'bad_crc', offset, length });
      bytes += length;
      this.lo += total;
    }
    if (out.length > 0) yield out;
  }

  /** Skips `n` bytes from `lo` without buffering them all; false when the stream ends first. */
  private async skip(n: number): Promise<boolean> {
    let left = n;
    while (left > 0) {
      if (this.hi === this.lo && !(await this.fill(1))) return false;
      const step = Math.min(left, this.hi - this.lo);
      this.lo += step;
      left -= step;
    }
    return true;
  }

  /**
   * After a bad length at `lo`: looks at each following offset (up to RESYNC_SCAN_BYTES) for a length whose CRC
   * verifies, that fits the stream, and whose data CRC verifies too (a random 12 bytes pass the length CRC once
   * in 2^32; both CRCs, once in 2^64). Leaves `lo` there and returns its offset, or null (then `lo` is where the
   * scan stopped).
   */
  private async resync(): Promise<number | null> {
    const from = this.base + this.lo;
    for (;;) {
      this.lo++;
      const offset = this.base + this.lo;
      if (offset - from > RESYNC_SCAN_BYTES) return null;
      if (this.hi - this.lo < HEADER_BYTES && !(await this.fill(HEADER_BYTES))) {
        this.lo = this.hi;
        return null;
      }
      const length = this.lengthAt(this.lo);
      if (length === null || length > MAX_RECORD_BYTES || length > this.room(offset)) continue;
      if (!(await this.fill(HEADER_BYTES + length + FOOTER_BYTES))) continue;
      const at = this.lo + HEADER_BYTES;
      if (unmask(this.buf.readUInt32LE(at + length)) === crc32cOf(this.buf.subarray(at, at + length))) return offset;
    }
  }
}
