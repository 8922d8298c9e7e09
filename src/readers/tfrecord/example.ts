/**
 * `tf.train.Example` decoding (tensorflow/core/example/example.proto, feature.proto), by hand: a protobuf
 * library would build an object per value, and only three messages matter:
 *
 *   Example  { Features features = 1; }
 *   Features { map<string, Feature> feature = 1; }          // map entry: { string key = 1; Feature value = 2; }
 *   Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
 *   BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1 [packed]; }
 *   Int64List { repeated int64 value = 1 [packed]; }
 *
 * Unknown fields are skipped, as every protobuf parser does (then counted: a SequenceExample parses as its
 * `context`, and its `feature_lists`, field 2, are not checked). Floats arrive as a Float32Array (a view when
 * aligned), int64 values as a BigInt64Array written through 32-bit halves (no BigInt per value).
 */
import { sniffImage } from '../../decode/image.js';
import { DEFAULT_LABEL_NAMES, isLabelName } from '../labels.js';
import type { SampleField } from '../types.js';

/** Wire types (protobuf encoding spec). */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/**
 * Label feature names: the common ones, and `class` (TensorFlow's image pipelines write `image/class/label`; the
 * last path component is matched, so that is `label`).
 */
export const TF_LABEL_NAMES: readonly string[] = [...DEFAULT_LABEL_NAMES, 'class'];

export class WireError extends Error {}

export interface DecodedExample {
  fields: SampleField[];
  /** Whether the Example had fields this decoder skipped (e.g. a SequenceExample's feature_lists). */
  skipped: boolean;
  /** Whether field 1 (features) was present: a message without it is not taken as an Example. */
  hasFeatures: boolean;
}

/** A protobuf reader over `b[pos..end)`. Every read is bounds-checked; failures throw WireError. */
class Wire {
  constructor(readonly b: Uint8Array, public pos: number, readonly end: number) {}

  varint(): number {
    // Values up to 2^53 exactly (lengths, tags); larger varints are read through varint64().
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const byte = this.b[this.pos++]!;
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) return result;
      mul *= 128;
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** A varint as two's-complement int64 halves, written at `out[k]` (low) and `out[k+1]` (high). */
  varint64(out: Int32Array, k: number): void {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const byte = this.b[this.pos++]!;
      const bits = byte & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) { lo |= bits << 28; hi |= bits >>> 4; }
      else hi |= bits << (7 * i - 32);
      if (byte < 0x80) { out[k] = lo; out[k + 1] = hi; return; }
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** A length-delimited field's end, checked against the enclosing message. */
  sub(): number {
    const n = this.varint();
    if (n > this.end - this.pos) throw new WireError(`length ${n} runs past the end of its message`);
    return this.pos + n;
  }

  skip(wire: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === I64) this.advance(8);
    else if (wire === I32) this.advance(4);
    else if (wire === LEN) this.pos = this.sub();
    else throw new WireError(`wire type ${wire} is not valid here`);
  }

  advance(n: number): void {
    if (n > this.end - this.pos) throw new WireError('field runs past the end of its message');
    this.pos += n;
  }
}

/** Decodes one serialized Example into sample fields. @throws WireError when the bytes are not valid protobuf. */
export function decodeExample(data: Uint8Array, labelNames: readonly string[] = TF_LABEL_NAMES): DecodedExample {
  const w = new Wire(data, 0, data.length);
  const out: DecodedExample = { fields: [], skipped: false, hasFeatures: false };
  while (w.pos < w.end) {
    const tag = w.varint();
    if (tag >>> 3 === 1 && (tag & 7) === LEN) {
      out.hasFeatures = true;
      const end = w.sub();
      features(new Wire(data, w.pos, end), out, labelNames);
      w.pos = end;
    } else {
      if (tag >>> 3 === 0) throw new WireError('field number 0');
      if (tag >>> 3 === 1) throw new WireError(`Example field 1 has wire type ${tag & 7}, not a message`);
      w.skip(tag & 7);
      out.skipped = true;
    }
  }
  return out;
}

function features(w: Wire, out: DecodedExample, labelNames: readonly string[]): void {
  while (w.pos < w.end) {
    const tag = w.varint();
    if (tag === ((1 << 3) | LEN)) {
      const end = w.sub();
      entry(new Wire(w.b, w.pos, end), out, labelNames);
      w.pos = end;
    } else {
      if (tag >>> 3 === 0) throw new WireError('field number 0');
      w.skip(tag & 7);
      out.skipped = true;
    }
  }
}

const utf8 = new TextDecoder('utf-8');

/** One map entry: a name and a Feature. */
function entry(w: Wire, out: DecodedExample, labelNames: readonly string[]): void {
  let name = '';
  let fStart = -1;
  let fEnd = -1;
  while (w.pos < w.end) {
    const tag = w.varint();
    if (tag === ((1 << 3) | LEN)) {
      const end = w.sub();
      name = utf8.decode(w.b.subarray(w.pos, end));
      w.pos = end;
    } else if (tag === ((2 << 3) | LEN)) {
      fEnd = w.sub();
      fStart = w.pos;
      w.pos = fEnd;
    } else {
      if (tag >>> 3 === 0) throw new WireError('field number 0');
      w.skip(tag & 7);
    }
  }
  if (fStart < 0) { out.fields.push({ type: 'opaque', name }); return; }
  feature(new Wire(w.b, fStart, fEnd), name, out, labelNames);
}

/** A Feature: its last list wins, as protobuf's oneof does. */
function feature(w: Wire, name: string, out: DecodedExample, labelNames: readonly string[]): void {
  let kind = 0;
  let start = 0;
  let end = 0;
  while (w.pos < w.end) {
    const tag = w.varint();
    const field = tag >>> 3;
    if ((field === 1 || field === 2 || field === 3) && (tag & 7) === LEN) {
      end = w.sub();
      start = w.pos;
      kind = field;
      w.pos = end;
    } else {
      if (field === 0) throw new WireError('field number 0');
      w.skip(tag & 7);
    }
  }
  const list = new Wire(w.b, start, end);
  if (kind === 1) bytesList(list, name, out);
  else if (kind === 2) out.fields.push({ type: 'array', name, dtype: 'f32', ...floatList(list) });
  else if (kind === 3) int64List(list, name, out, labelNames);
  else out.fields.push({ type: 'opaque', name }); // an empty Feature: no value to check
}

function bytesList(w: Wire, name: string, out: DecodedExample): void {
  const values: Uint8Array[] = [];
  while (w.pos < w.end) {
    const tag = w.varint();
    if (tag === ((1 << 3) | LEN)) {
      const end = w.sub();
      values.push(w.b.subarray(w.pos, end));
      w.pos = end;
    } else {
      if (tag >>> 3 === 0) throw new WireError('field number 0');
      w.skip(tag & 7);
    }
  }
  values.forEach((v, i) => {
    const shown = values.length === 1 ? name : `${name}[${i}]`;
    out.fields.push(sniffImage(v) !== null ? { type: 'image', name: shown, bytes: v } : { type: 'opaque', name: shown });
  });
  if (values.length === 0) out.fields.push({ type: 'opaque', name });
}

/**
 * Float storage for unaligned float lists, carved out of 1 MiB arenas: one allocation per arena, not per record
 * (a 2 KiB Float32Array per record kept the garbage collector busy). A full arena is dropped, not reused: the
 * views handed out keep it alive as long as they are held.
 */
const ARENA_FLOATS = 1 << 18;
let arena = new Float32Array(ARENA_FLOATS);
let arenaUsed = 0;

function floatsOf(n: number): Float32Array {
  if (n > ARENA_FLOATS / 4) return new Float32Array(n);
  if (arenaUsed + n > ARENA_FLOATS) {
    arena = new Float32Array(ARENA_FLOATS);
    arenaUsed = 0;
  }
  arenaUsed += n;
  return arena.subarray(arenaUsed - n, arenaUsed);
}

function floatList(w: Wire): { shape: number[]; data: Float32Array } {
  // Packed (one LEN field) is what TensorFlow writes; unpacked (I32 per value) is valid protobuf too.
  let packedAt = -1;
  let packedEnd = -1;
  let count = 0;
  const scan = w.pos;
  while (w.pos < w.end) {
    const tag = w.varint();
    if (tag === ((1 << 3) | LEN)) {
      const end = w.sub();
      if ((end - w.pos) % 4 !== 0) throw new WireError('packed floats are not a multiple of 4 bytes');
      if (packedAt < 0) { packedAt = w.pos; packedEnd = end; }
      count += (end - w.pos) / 4;
      w.pos = end;
    } else if (tag === ((1 << 3) | I32)) {
      w.advance(4);
      count++;
    } else {
      if (tag >>> 3 === 0) throw new WireError('field number 0');
      w.skip(tag & 7);
    }
  }
  const b = w.b;
  // One packed run, 4-byte aligned: a view, no copy (little-endian hosts, as every Node platform is).
  if (packedAt >= 0 && packedEnd - packedAt === count * 4 && (b.byteOffset + packedAt) % 4 === 0) {
    return { shape: [count], data: new Float32Array(b.buffer, b.byteOffset + packedAt, count) };
  }
  const data = floatsOf(count);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let k = 0;
  w.pos = scan;
  while (w.pos < w.end) {
    const tag = w.varint();
    if (tag === ((1 << 3) | LEN)) {
      const end = w.sub();
      bytes.set(b.subarray(w.pos, end), k * 4);
      k += (end - w.pos) / 4;
      w.pos = end;
    } else if (tag === ((1 << 3) | I32)) {
      bytes.set(b.subarray(w.pos, w.pos + 4), k * 4);
      k++;
      w.pos += 4;
    } else {
      w.skip(tag & 7);
    }
  }
  return { shape: [count], data };
}

/** The two halves of a label's value. */
const SCRATCH = new Int32Array(2);

function int64List(w: Wire, name: string, out: DecodedExample, labelNames: readonly string[]): void {
  // Count first (varints end in a byte < 0x80), then decode into 32-bit halves of one BigInt64Array.
  const scan = w.pos;
  let count = 0;
  while (w.pos < w.end) {
    const tag = w.varint();
    if (tag === ((1 << 3) | LEN)) {
      const end = w.sub();
      for (let i = w.pos; i < end; i++) if (w.b[i]! < 0x80) count++;
      w.pos = end;
    } else if (tag === ((1 << 3) | VARINT)) {
      w.varint();
      count++;
    } else {
      if (tag >>> 3 === 0) throw new WireError('field number 0');
      w.skip(tag & 7);
    }
  }
  // A label (one value under a label name): no arrays, the value as a number (exact below 2^53; labels that
  // large are out of range however they are rounded).
  const label = count === 1 && isLabelName(name, labelNames);
  const data = label ? null : new BigInt64Array(count);
  const halves = data === null ? SCRATCH : new Int32Array(data.buffer);
  let k = 0;
  w.pos = scan;
  while (w.pos < w.end) {
    const tag = w.varint();
    if (tag === ((1 << 3) | LEN)) {
      const end = w.sub();
      const packed = new Wire(w.b, w.pos, end);
      while (packed.pos < end && k < count) packed.varint64(halves, 2 * k++);
      if (packed.pos !== end) throw new WireError('packed int64 values run past their field');
      w.pos = end;
    } else if (tag === ((1 << 3) | VARINT)) {
      if (k >= count) throw new WireError('int64 values miscounted');
      w.varint64(halves, 2 * k++);
    } else {
      w.skip(tag & 7);
    }
  }
  if (data === null) {
    out.fields.push({ type: 'label', name, value: halves[1]! * 0x100000000 + (halves[0]! >>> 0) });
  } else {
    out.fields.push({ type: 'array', name, dtype: 'i64', shape: [count], data });
  }
}
