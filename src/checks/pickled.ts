/**
 * What a decoded pickle (src/decode/pickle.ts) holds, as the members of a sample: the same analysis as a
 * WebDataset sample or a TFRecord Example then checks them (record.ts `members`).
 *
 *   ndarray, numeric list           → `array` (numpy scalars are 0-d arrays)
 *   int or float under a label name → `label` (isLabelName on the dict key), and the int of an (array, int) pair
 *   float                           → a one-value `array`
 *   bytes that sniff as an image    → `image` ({'img': jpeg_bytes, 'label': 3}, as BasicSR-style projects store)
 *   dict, list, tuple of mixed items→ their items, named by path: `meta.depth`, `[0]`, `frames[2]`
 *   anything else                   → `opaque` (str, None, bools, other ints, dtypes, strings arrays)
 */
import { sniffImage } from '../decode/image.js';
import { decodePickle, NdArray, ndarrayToTyped, PyDict, PyFloat, PyTuple, type PyValue } from '../decode/pickle.js';
import type { Scratch } from '../decode/pickle-numpy.js';
import { isLabelName } from '../label-names.js';
import type { SampleField } from '../records.js';

/** Members of one sample at most: past this the rest are not checked (no real sample has so many). */
const MAX_FIELDS = 256;
/** Containers nested deeper than this are opaque (memo references can even make a list contain itself). */
const MAX_DEPTH = 8;
/** Values visited at most: shared references can make a small pickle a huge tree. */
const MAX_VISITS = 4096;

/** The name of a bare top-level value (`pickle.dumps(ndarray)`). */
const TOP = 'value';

/**
 * The members of a decoded value. Arrays that need a copy (misaligned, big-endian) are copied into `scratch`
 * when given: they are then valid only until its next reset.
 */
export function pickleFields(v: PyValue, scratch?: Scratch): SampleField[] {
  return walk(new Walker(scratch, null), v).out;
}

function walk(w: Walker, v: PyValue): Walker {
  if (v instanceof PyDict) w.dict(v, '', 0);
  else if (Array.isArray(v) && !isNumericList(v)) w.seq(v, '', 0);
  else if (v instanceof PyTuple) w.seq(v.items, '', 0);
  else w.member(TOP, v, false, 0);
  return w;
}

/**
 * How to make one member of a value from another value of the same skeleton: the member itself when nothing in
 * it comes from a bytes payload (a Python int label, a float, a numeric list, an opaque value), or the payload's
 * place for an ndarray's data or a bytes member (looked at again: an image or not, a scalar label's value).
 */
type Recipe =
  | { field: SampleField; nd?: undefined; start?: undefined }
  | { field?: undefined; nd: NdArray; start: number; end: number; name: string; isLabel: boolean }
  | { field?: undefined; nd?: undefined; start: number; end: number; name: string; isLabel: boolean };

class Walker {
  readonly out: SampleField[] = [];
  private visits = 0;

  /**
   * `from`: the pickle the value was decoded from, to note where each member came from in `recipes`; null when
   * not wanted, or once a member came from elsewhere (the value cannot be a template).
   */
  constructor(private readonly scratch: Scratch | undefined, private from: Uint8Array | null) {}

  readonly recipes: Recipe[] = [];

  get templatable(): boolean {
    return this.from !== null;
  }

  dict(d: PyDict, prefix: string, depth: number): void {
    for (const [k, x] of d.map) {
      // A bytes key is named by its bytes (String of a Uint8Array): a payload that would not be the same in
      // every value of the skeleton.
      if (k instanceof Uint8Array) this.from = null;
      const key = typeof k === 'string' ? k : String(k as number);
      this.member(prefix === '' ? key : `${prefix}.${key}`, x, isLabelName(key), depth + 1);
    }
  }

  seq(items: readonly PyValue[], prefix: string, depth: number): void {
    // (array, int) and (image bytes, int): the int is the label (torchvision's (sample, target) convention).
    const pair = items.length === 2 && isIntLike(items[1]!) && (isArrayLike(items[0]!) || items[0] instanceof Uint8Array);
    items.forEach((x, i) => this.member(`${prefix}[${i}]`, x, pair && i === 1, depth + 1));
  }

  member(name: string, x: PyValue, isLabel: boolean, depth: number): void {
    if (this.out.length >= MAX_FIELDS || ++this.visits > MAX_VISITS) return;
    if (x instanceof PyDict && depth < MAX_DEPTH) {
      this.dict(x, name, depth);
    } else if ((Array.isArray(x) || x instanceof PyTuple) && depth < MAX_DEPTH) {
      const items = Array.isArray(x) ? x : x.items;
      if (isNumericList(items)) this.fixed(numericList(name, items));
      else this.seq(items, name, depth);
    } else if (x instanceof NdArray || x instanceof Uint8Array) {
      this.note(name, x, isLabel);
      this.leaf(name, x, isLabel);
    } else {
      const label = isLabel ? scalarOf(x) : null;
      if (label !== null) this.fixed({ type: 'label', name, value: label });
      else if (x instanceof PyFloat) this.fixed({ type: 'array', name, dtype: 'f64', shape: [], data: Float64Array.of(x.value) });
      else this.fixed({ type: 'opaque', name });
    }
  }

  /** A member whose bytes are a payload's (an ndarray or bytes): what it is depends on them. */
  leaf(name: string, x: NdArray | Uint8Array, isLabel: boolean): void {
    const out = this.out;
    if (x instanceof NdArray) {
      const label = isLabel ? scalarOf(x) : null;
      if (label !== null) {
        out.push({ type: 'label', name, value: label });
        return;
      }
      const t = ndarrayToTyped(x, this.scratch);
      out.push(t === null ? { type: 'opaque', name } : { type: 'array', name, dtype: t.dtype, shape: x.shape, data: t.data });
    } else {
      out.push(x.length > 0 && sniffImage(x) !== null ? { type: 'image', name, bytes: x } : { type: 'opaque', name });
    }
  }

  /** A member from the skeleton alone: the same in every value of that skeleton. */
  private fixed(f: SampleField): void {
    this.out.push(f);
    if (this.from !== null) this.recipes.push({ field: f });
  }

  /** Notes where a payload member's bytes lie in the pickle, or that the value cannot be a template. */
  private note(name: string, x: NdArray | Uint8Array, isLabel: boolean): void {
    const from = this.from;
    if (from === null) return;
    const bytes = x instanceof NdArray ? x.data : x;
    const start = bytes.byteOffset - from.byteOffset;
    if (bytes.length === 0 && x instanceof NdArray) {
      this.recipes.push({ nd: copyArray(x), start: 0, end: 0, name, isLabel });
    } else if (bytes.buffer === from.buffer && start >= 0 && start + bytes.length <= from.length) {
      const end = start + bytes.length;
      if (x instanceof Uint8Array) this.recipes.push({ start, end, name, isLabel });
      else this.recipes.push({ nd: copyArray(x), start, end, name, isLabel });
    } else {
      // Bytes made by the decoder (protocol 0-2 bytes through _codecs.encode): not a payload of the pickle.
      this.from = null;
    }
  }
}

/**
 * The array as a template keeps it: everything but its data, which apply() takes from each value. Not a view of
 * this value's bytes either: that would keep the reader's buffer alive as long as the template.
 */
function copyArray(x: NdArray): NdArray {
  return Object.assign(new NdArray(), x, { data: NO_DATA });
}

const NO_DATA = new Uint8Array(0);

/** Templates kept at most per cache (each holds its skeleton, at most MAX_SKELETON bytes). */
const MAX_TEMPLATES = 1024;
const MAX_SKELETON = 4096;
/** Payload layouts (a value's length and its payloads' places) tried per value. */
const MAX_LAYOUTS = 4;
/** Places at which the templates of one layout may differ (a label's int, a name's digits). */
const MAX_KEYS = 32;

interface Template {
  /** The pickle's bytes outside its payloads, in order. */
  skeleton: Uint8Array;
  view: DataView;
  recipes: Recipe[];
}

/** Templates of one length and one set of payload places, found by their bytes at the places where they differ. */
interface Layout {
  length: number;
  /** Payloads' [start, end) pairs, sorted and disjoint. */
  spans: number[];
  /** Where the templates differ from the first: places in a value, and the same places in a skeleton. */
  keys: number[];
  skeletonKeys: number[];
  templates: Template[];
  byKey: Map<number, Template>;
  /** Values that found a template here. */
  hits: number;
}

export type PickledFields =
  | { status: 'ok'; fields: SampleField[] }
  | { status: 'unsupported'; reason: string }
  | { status: 'invalid'; reason: string; offset: number };

/**
 * The members of pickled values, decoded once per skeleton. The values of a database are mostly the same pickle
 * but for the bytes of their arrays (and their labels): `pickle.dumps({'x': ndarray, 'label': 3})` is ~170 bytes of
 * opcodes, keys and numpy's names around the array's payload. The decoder never reads a bytes payload (it only
 * takes a view of it and checks its length), so two pickles whose bytes are equal outside their payloads decode
 * to the same structure, with the same members, and differ only in those payloads. A value whose length, payload
 * places and bytes outside them match a template's gets the template's members, those from payloads made again
 * from its own bytes (its arrays' values, whether bytes are an image, a numpy scalar label's value), without
 * decoding. Anything else is decoded and may become a template.
 */
export class PickleTemplates {
  private readonly layouts: Layout[] = [];
  private templates = 0;
  /** Values whose members came from a template. */
  hits = 0;

  fields(buf: Uint8Array, scratch: Scratch): PickledFields {
    for (const l of this.layouts) {
      if (l.length !== buf.length) continue;
      const t = l.byKey.get(keyOf(buf, l.keys));
      if (t !== undefined && sameOutside(buf, l.spans, t)) {
        this.hits++;
        l.hits++;
        return { status: 'ok', fields: apply(t, buf, scratch) };
      }
    }
    const r = decodePickle(buf);
    if (r.status !== 'ok') return r;
    const w = walk(new Walker(scratch, this.templates < MAX_TEMPLATES ? buf : null), r.value);
    if (w.templatable) this.keep(buf, w.recipes);
    return { status: 'ok', fields: w.out };
  }

  private keep(buf: Uint8Array, recipes: Recipe[]): void {
    const spans = spansOf(recipes);
    let payload = 0;
    for (let i = 0; i < spans.length; i += 2) payload += spans[i + 1]! - spans[i]!;
    if (buf.length - payload > MAX_SKELETON) return;
    // The skeleton, and the value's place of each of its bytes.
    const skeleton = new Uint8Array(buf.length - payload);
    const places: number[] = [];
    for (let i = 0, p = 0, at = 0; i <= spans.length; i += 2) {
      const end = i < spans.length ? spans[i]! : buf.length;
      for (; p < end; p++) {
        places.push(p);
        skeleton[at++] = buf[p]!;
      }
      if (i < spans.length) p = spans[i + 1]!;
    }
    const t: Template = { skeleton, view: new DataView(skeleton.buffer), recipes };
    let l = this.layouts.find((x) => x.length === buf.length && sameSpans(x.spans, spans));
    if (l === undefined) {
      l = { length: buf.length, spans, keys: [], skeletonKeys: [], templates: [t], byKey: new Map([[keyOf(skeleton, []), t]]), hits: 0 };
      if (this.layouts.length < MAX_LAYOUTS) {
        this.layouts.push(l);
      } else {
        // The layout that served fewest values gives its place (a database whose values change form as it goes).
        let least = 0;
        for (let i = 1; i < this.layouts.length; i++) if (this.layouts[i]!.hits < this.layouts[least]!.hits) least = i;
        this.templates -= this.layouts[least]!.templates.length;
        this.layouts[least] = l;
      }
      this.templates++;
      return;
    }
    // Every template of a layout equals the first outside the key places: a new difference is a new key place.
    const first = l.templates[0]!.skeleton;
    const added: number[] = [];
    for (let i = 0; i < first.length; i++) if (first[i] !== skeleton[i] && !l.skeletonKeys.includes(i)) added.push(i);
    if (l.skeletonKeys.length + added.length > MAX_KEYS) return;
    if (added.length > 0) {
      const pairs = [...l.skeletonKeys, ...added].sort((x, y) => x - y);
      l.skeletonKeys = pairs;
      l.keys = pairs.map((i) => places[i]!);
      l.byKey = new Map(l.templates.map((x) => [keyOf(x.skeleton, pairs), x]));
    }
    const k = keyOf(skeleton, l.skeletonKeys);
    // Another template with these key bytes (a hash collision): the first keeps the place.
    if (l.byKey.has(k)) return;
    l.byKey.set(k, t);
    l.templates.push(t);
    this.templates++;
  }
}

function apply(t: Template, buf: Uint8Array, scratch: Scratch): SampleField[] {
  const w = new Walker(scratch, null);
  for (const r of t.recipes) {
    if (r.field !== undefined) w.out.push(r.field);
    else if (r.nd !== undefined) {
      if (r.end > r.start) r.nd.data = buf.subarray(r.start, r.end);
      w.leaf(r.name, r.nd, r.isLabel);
    } else {
      w.leaf(r.name, buf.subarray(r.start, r.end), r.isLabel);
    }
  }
  return w.out;
}

/** The payloads' places, sorted, overlapping and touching ones joined. */
function spansOf(recipes: readonly Recipe[]): number[] {
  const xs: (readonly [number, number])[] = [];
  for (const r of recipes) if (r.field === undefined && r.end > r.start) xs.push([r.start, r.end]);
  xs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [s, e] of xs) {
    if (out.length > 0 && s <= out[out.length - 1]!) out[out.length - 1] = Math.max(out[out.length - 1]!, e);
    else out.push(s, e);
  }
  return out;
}

function sameSpans(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** FNV-1a of the bytes at `places`. */
function keyOf(b: Uint8Array, places: readonly number[]): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < places.length; i++) h = Math.imul(h ^ b[places[i]!]!, 0x01000193);
  return h;
}

/** Whether `b`'s bytes outside `spans` are the template's skeleton: four at a time (a byte loop costs twice as much). */
function sameOutside(b: Uint8Array, spans: readonly number[], t: Template): boolean {
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  const { skeleton, view: s } = t;
  let p = 0;
  let at = 0;
  for (let i = 0; i <= spans.length; i += 2) {
    const end = i < spans.length ? spans[i]! : b.length;
    for (; p + 4 <= end; p += 4, at += 4) if (v.getInt32(p, true) !== s.getInt32(at, true)) return false;
    for (; p < end; p++, at++) if (b[p] !== skeleton[at]) return false;
    if (i < spans.length) p = spans[i + 1]!;
  }
  return true;
}

function isIntLike(x: PyValue): boolean {
  return typeof x === 'number' || (x instanceof NdArray && x.shape.length === 0 && /^.[iu]/.test(x.dtype));
}

function isArrayLike(x: PyValue): boolean {
  return x instanceof NdArray || (Array.isArray(x) && isNumericList(x));
}

/** A label's value: a Python int or float, or a numpy scalar (0-d array) of a numeric dtype. */
function scalarOf(x: PyValue): number | null {
  if (typeof x === 'number') return x;
  if (typeof x === 'bigint') return Number(x);
  if (x instanceof PyFloat) return x.value;
  if (x instanceof NdArray && x.shape.length === 0 && x.dtype.slice(1) !== 'b1') {
    const t = ndarrayToTyped(x);
    return t === null ? null : Number(t.data[0]!);
  }
  return null;
}

/** A non-empty list of Python ints and floats (bools excluded: they are flags, not values). */
function isNumericList(items: readonly PyValue[]): boolean {
  if (items.length === 0) return false;
  for (const x of items) if (typeof x !== 'number' && !(x instanceof PyFloat)) return false;
  return true;
}

function numericList(name: string, items: readonly PyValue[]): SampleField {
  const values = items.map((x) => (x instanceof PyFloat ? x.value : (x as number)));
  const ints = items.every((x) => typeof x === 'number' && x >= -(2 ** 31) && x < 2 ** 31);
  return ints
    ? { type: 'array', name, dtype: 'i32', shape: [values.length], data: Int32Array.from(values) }
    : { type: 'array', name, dtype: 'f64', shape: [values.length], data: Float64Array.from(values) };
}
