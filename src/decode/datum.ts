/**
 * Caffe `Datum` protobuf decoding (caffe.proto), shared by the LMDB and LevelDB readers' records.
 *
 *   message Datum { optional int32 channels = 1; optional int32 height = 2; optional int32 width = 3;
 *                   optional bytes data = 4; optional int32 label = 5; repeated float float_data = 6;
 *                   optional bool encoded = 7 [default = false]; }
 *
 * Hand-written rather than a protobuf library: the message is seven fields, this runs ~500k times a second,
 * and a malformed value must become a precise reason (`bad_record`), not an exception from generated code.
 */

/** Wire types (protobuf encoding spec). 3/4 are the deprecated groups, which Datum never uses. */
const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** A varint is at most 10 bytes (64 bits in 7-bit groups). */
const MAX_VARINT_BYTES = 10;

/** First bytes a Datum can start with: the tag of any of its fields with its proper wire type. */
const DATUM_TAGS = new Set([0x08, 0x10, 0x18, 0x22, 0x28, 0x35, 0x32, 0x38]);

/** A decoded Datum. `data` is a view into the input; `floatData` a view into a reused scratch array. */
export interface Datum {
  channels: number;
  height: number;
  width: number;
  /** Field 4, or null when absent. A view into the input buffer. */
  data: Uint8Array | null;
  label: number;
  hasLabel: boolean;
  /** Field 6 values (packed or not), or null when absent. Valid until the next decode. */
  floatData: Float32Array | null;
  encoded: boolean;
}

export type DatumResult = { ok: true; datum: Datum } | { ok: false; reason: string };

/** True when `buf` starts like a Datum: worth a `bad_record` finding if it then fails to decode. */
export function looksLikeDatum(buf: Uint8Array): boolean {
  return buf.length > 0 && DATUM_TAGS.has(buf[0]!);
}

/**
 * Reusable decoder: keeps one float scratch buffer and its parse state in fields, so decoding allocates
 * nothing per record (no closure, no DataView: this runs ~500k times a second).
 */
export class DatumDecoder {
  private scratch = new Float32Array(1024);
  private readonly datum: Datum = {
    channels: 0, height: 0, width: 0, data: null, label: 0, hasLabel: false, floatData: null, encoded: false,
  };
  private readonly result: DatumResult = { ok: true, datum: this.datum };
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  /** The last varint: its value (exact below 2^53, enough for lengths) and its low 32 bits (int32 fields). */
  private v = 0;
  private lo32 = 0;

  /** Decodes `buf`. The returned object and its views are reused by the next call. */
  decode(buf: Uint8Array): DatumResult {
    const d = this.datum;
    d.channels = 0; d.height = 0; d.width = 0; d.data = null; d.label = 0; d.hasLabel = false;
    d.floatData = null; d.encoded = false;
    this.buf = buf;
    this.pos = 0;
    const end = buf.length;
    let nFloats = 0;
    let view: DataView | undefined;
    while (this.pos < end) {
      const tagPos = this.pos;
      let err = this.readVarint();
      if (err) return fail(err);
      const tag = this.v;
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 0) return fail(`field number 0 at byte ${tagPos}`);
      switch (wire) {
        case WIRE_VARINT: {
          err = this.readVarint();
          if (err) return fail(err);
          if (field === 4 || field === 6) {
            return fail(`field ${field} (${field === 4 ? 'data' : 'float_data'}) has wire type varint at byte ${tagPos}`);
          }
          const int32 = this.lo32;
          if (field === 1) d.channels = int32;
          else if (field === 2) d.height = int32;
          else if (field === 3) d.width = int32;
          else if (field === 5) { d.label = int32; d.hasLabel = true; }
          else if (field === 7) d.encoded = int32 !== 0 || this.v !== 0;
          break;
        }
        case WIRE_I32: {
          const at = this.pos;
          if (at + 4 > end) return fail(`fixed32 field ${field} runs past the end at byte ${tagPos}`);
          if (field === 6) {
            if (nFloats === this.scratch.length) this.grow(nFloats * 2);
            view ??= new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
            this.scratch[nFloats++] = view.getFloat32(at, true);
          } else if (field >= 1 && field <= 7) {
            return fail(`field ${field} has wire type fixed32 at byte ${tagPos}`);
          }
          this.pos = at + 4;
          break;
        }
        case WIRE_LEN: {
          err = this.readVarint();
          if (err) return fail(err);
          const len = this.v;
          const at = this.pos;
          if (len > end - at) {
            return fail(`field ${field} declares ${len} bytes at byte ${tagPos} but only ${end - at} remain`);
          }
          if (field === 4) {
            d.data = buf.subarray(at, at + len);
          } else if (field === 6) {
            // Packed float_data (proto3 style writers); Caffe itself writes it unpacked.
            if (len % 4 !== 0) return fail(`packed float_data of ${len} bytes is not a multiple of 4`);
            const n = len / 4;
            if (nFloats + n > this.scratch.length) this.grow(Math.max(nFloats + n, nFloats * 2));
            view ??= new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
            for (let i = 0; i < n; i++) this.scratch[nFloats++] = view.getFloat32(at + 4 * i, true);
          } else if (field >= 1 && field <= 7) {
            return fail(`field ${field} has wire type length-delimited at byte ${tagPos}`);
          }
          this.pos = at + len;
          break;
        }
        case WIRE_I64: {
          if (this.pos + 8 > end) return fail(`fixed64 field ${field} runs past the end at byte ${tagPos}`);
          if (field >= 1 && field <= 7) return fail(`field ${field} has wire type fixed64 at byte ${tagPos}`);
          this.pos += 8;
          break;
        }
        default:
          return fail(`invalid wire type ${wire} for field ${field} at byte ${tagPos}`);
      }
    }
    if (nFloats > 0) d.floatData = this.scratch.subarray(0, nFloats);
    this.buf = EMPTY;
    return this.result;
  }

  /** Reads a varint at `pos` into `v` and `lo32`; returns an error reason, or null. */
  private readVarint(): string | null {
    const buf = this.buf;
    const end = buf.length;
    let pos = this.pos;
    let result = 0;
    let mul = 1;
    let lo = 0;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (pos >= end) return `varint runs past the end of the value at byte ${pos}`;
      const b = buf[pos++]!;
      // `result` loses bits above 2^53 (only lengths use it); int32 fields take the exact low 32 bits,
      // which is how protobuf narrows a 64-bit varint to int32 (negative int32 values take 10 bytes).
      result += (b & 0x7f) * mul;
      if (i < 5) lo |= (b & 0x7f) << (7 * i);
      mul *= 128;
      if (b < 0x80) {
        this.v = result;
        this.lo32 = lo;
        this.pos = pos;
        return null;
      }
    }
    return `varint longer than ${MAX_VARINT_BYTES} bytes at byte ${pos - MAX_VARINT_BYTES}`;
  }

  private grow(n: number): void {
    const next = new Float32Array(Math.max(n, 1024));
    next.set(this.scratch);
    this.scratch = next;
  }
}

/** Holds no record between decodes, so the last value can be collected. */
const EMPTY = new Uint8Array(0);

function fail(reason: string): DatumResult {
  return { ok: false, reason };
}
