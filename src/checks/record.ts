/**
 * Per-record analysis inside a worker: decides what a key/value record holds (Caffe Datum, encoded image,
 * or something opaque), runs the record checks on it and keeps the partition's running tallies.
 */
import { DatumDecoder, looksLikeDatum, type Datum } from '../decode/datum.js';
import { looksLikePickle } from '../decode/pickle.js';
import { Scratch } from '../decode/pickle-numpy.js';
import { PickleTemplates } from './pickled.js';
import { decodeImageNow, decodeImageWithSharp, isConstantImage, sniffImage, type ImageResult } from '../decode/image.js';
import { createStats, type Kernel, type ScanStats } from '../kernels/scan.js';
import { emptyKvValues, LabelBuffer, type AnalyzeOptions, type KvValues, type PartitionResult, type ShapeTally } from './result.js';
import { addUnchecked, type UncheckedTally } from '../coverage.js';
import type { Damage, FileRecord, KvRecord, NumericArray, RowsRecord, SampleField, SampleRecord, UncheckedNote } from '../records.js';
import type { Finding } from '../types.js';
import { FindingSink } from './findings.js';
import { scanIntegers } from './integers.js';
import { formatKey } from '../keys.js';
import { labelRangeProblem } from './labels.js';
import { damageFinding, DEFAULT_SEVERITY } from './severity.js';
import { LayoutStats } from './layouts.js';
import { accumulate, createAccumulator } from './stats.js';
import { hasSpecial, isSpecialValue, valueFindings, type RecordLocator } from './values.js';

/** Where a record is: turned into a finding's locator only when there is a finding (keys cost a decode). */
interface Where {
  index: number;
  key?: Uint8Array;
  /** LMDB named database of a key/value record. */
  database?: string;
  file?: string;
  line?: number;
  /** A sample's own name (WebDataset `__key__`), shown as the finding's key as it is. */
  name?: string;
  /** Byte offset of a sample in its file (TFRecord). */
  offset?: number;
  /** The member of a sample a finding is about. */
  field?: string;
}

interface PendingImage {
  promise: Promise<ImageResult>;
  /** The result once `promise` has resolved (set by its handler), so that finished images are taken in order without waiting. */
  done?: ImageResult;
  where: Where;
  what: string;
  /** A copy of the encoded image, kept for a scaled decode that may have to be confirmed at full size. */
  bytes?: Uint8Array;
}

export class PartitionAnalyzer {
  private readonly sink: FindingSink;
  private readonly decoder = new DatumDecoder();
  private readonly pickleScratch = new Scratch();
  /** Pickled values' members by skeleton: most values of a database differ only in their arrays' bytes. */
  private readonly pickles = new PickleTemplates();
  private readonly stats = createAccumulator();
  /** Label arrays' values: reported apart from the data's (`labelStats`). */
  private readonly labelStats = createAccumulator();
  /** Per-row label findings of label arrays, held back until the dataset is known to hold classes (finalize). */
  private readonly labelSink: FindingSink;
  private readonly scratch: ScanStats = createStats();
  private readonly shapes: Record<string, ShapeTally> = {};
  private lastShape: ShapeTally | undefined;
  private readonly kvWhere: Where = { index: 0 };
  private readonly memberWhere: Where = { index: 0 };
  private readonly labels = new LabelBuffer();
  private explicitLabels = 0;
  private records = 0;
  private bytes = 0;
  /** Key/value values by database ('' for the main one): each database is judged on its own values. */
  private readonly values: Record<string, KvValues> = {};
  private lastValues: { db: string | undefined; v: KvValues } | undefined;
  /** Label values that are not integers: the label field holds regression targets, not classes. */
  private nonIntegerLabels = 0;
  /** Key/value record indexes are partition-local; row indexes are absolute. */
  private localIndexes = false;
  /** Whether sample members' bytes count as read (not for a pickled value, whose bytes kv() counted). */
  private memberBytes = true;
  /** Entries the reader met that the format counts but that are not records (named sub-databases). */
  uncounted = 0;
  /** JPEGs scanned from a 1/8-scale decode (their pixels entered the value statistics as block means). */
  private scaledImages = 0;
  /**
   * Scale of the next synchronous JPEG decode: 1 while the last image's layout still wants full pixels (constant
   * positions to track), 8 once it has nothing left to learn (see ScanOptions.fullDecode).
   */
  private pixelScale: 1 | 8 = 1;
  /** Image decodes in flight, oldest first: results are taken in record order so output is deterministic. */
  private readonly pending: PendingImage[] = [];

  private readonly skip: ReadonlySet<number>;

  constructor(
    private readonly kernel: Kernel, private readonly options: AnalyzeOptions,
    private readonly nativeStart?: (index: number) => void, skip: readonly number[] = [],
    private readonly observer?: RecordObserver,
  ) {
    this.skip = new Set(skip);
    this.sink = new FindingSink(options.maxExamples, options.severity);
    this.layouts = new LayoutStats(options.elementStats);
    this.labelSink = new FindingSink(options.maxExamples, options.severity);
  }

  private readonly uncheckedTally: UncheckedTally = {};
  private readonly layouts: LayoutStats;

  /** Reader damage (a broken page, a bad block): its kind's severity is assigned here. */
  damage(damage: readonly Damage[]): void {
    for (const d of damage) this.sink.add(damageFinding(d));
  }

  /** Table rows whose column slabs count no records (RecordBatch.tableRows). */
  countRecords(n: number): void {
    this.records += n;
  }

  /** What the reader met but could not pass on to be checked. */
  unchecked(notes: readonly UncheckedNote[]): void {
    for (const n of notes) addUnchecked(this.uncheckedTally, n.reason, n.count, n.examples, this.options.maxExamples);
  }

  /** An image record no decoder here reads: counted as not checked, with its file or key as the example. */
  private uncheckedImage(where: Where): void {
    const l = this.loc(where);
    const example = l.file !== undefined ? (l.line !== undefined ? `${l.file}:${l.line}` : l.file) : l.key !== undefined ? `key ${l.key}` : `record ${where.index}`;
    addUnchecked(this.uncheckedTally, 'unsupported_image', 1, [example], this.options.maxExamples);
  }

  /**
   * Analyses one key/value record. Returns a promise only when it had to wait for image decodes. What a value
   * that is neither a Datum nor an image means depends on the whole database (finalize.ts judges it), so such
   * values are only tallied here.
   */
  kv(rec: KvRecord): Promise<void> | undefined {
    this.observer?.record?.(Buffer.from(rec.key).toString('latin1'));
    this.localIndexes = true;
    const v = this.valuesOf(rec.database);
    if (isMetadataKey(rec.key)) {
      v.metadata++;
      return undefined;
    }
    this.records++;
    this.bytes += rec.value.length;
    const value = rec.value;
    // One locator object, reused: sync findings read it at once; queued images take a copy.
    const where = this.kvWhere;
    where.index = rec.index;
    where.key = rec.key;
    where.database = rec.database;
    if (value.length === 0) return this.odd(v, where, 'is empty (0 bytes)');
    if (sniffImage(value) !== null) {
      if (v.imageExamples.length < this.options.maxExamples) v.imageExamples.push({ ...this.note(where), message: '' });
      v.images++;
      return this.queueImage(value, where, IMAGE_VALUE);
    }
    // Datums first: a protocol 0 pickle starts with '(' (0x28), which is also the tag of a Datum's label.
    let notDatum: string | null = null;
    if (looksLikeDatum(value)) {
      const r = this.decoder.decode(value);
      if (!r.ok) notDatum = `does not decode as a Caffe Datum: ${r.reason}`;
      else {
        const d = r.datum;
        if (d.channels === 0 && d.height === 0 && d.width === 0 && d.data === null && d.floatData === null) {
          notDatum = 'decodes to an empty Datum: no shape, no data, no float_data';
        } else {
          v.datums++;
          return this.datum(d, where);
        }
      }
    }
    if (looksLikePickle(value)) return this.pickled(value, v, where);
    return this.odd(v, where, notDatum ?? `starts with ${describeStart(value)}: neither a Caffe Datum, a pickle nor an encoded image`);
  }

  /**
   * A pickled value (`pickle.dumps({'img': ndarray, 'label': int})`): decoded without running anything, and its
   * members analysed as a sample's. One that is not a valid pickle, or that nanscan does not interpret (a torch
   * tensor, a custom class), is only tallied: what it means depends on the database (finalize.ts).
   */
  private pickled(value: Uint8Array, v: KvValues, where: Where): Promise<void> | undefined {
    // Array copies go to scratch room reused per value: the analysis reads them synchronously and keeps none.
    this.pickleScratch.reset();
    const r = this.pickles.fields(value, this.pickleScratch);
    if (r.status === 'invalid') {
      v.badPickles++;
      if (v.badPickleExamples.length < this.options.maxExamples) {
        v.badPickleExamples.push({ ...this.note(where), message: `is not a valid pickle (${r.reason}, at byte ${r.offset})` });
      }
      return undefined;
    }
    const fields = r.status === 'ok' ? r.fields : [];
    if (!fields.some((f) => f.type !== 'opaque')) {
      v.uncheckedPickles++;
      if (v.uncheckedPickleExamples.length < this.options.maxExamples) {
        const what = r.status === 'unsupported' ? r.reason : 'no array, number, label or image';
        v.uncheckedPickleExamples.push({ ...this.note(where), message: what });
      }
      return undefined;
    }
    v.pickles++;
    if (v.pickleExamples.length < this.options.maxExamples) v.pickleExamples.push({ ...this.note(where), message: '' });
    return this.members(fields, where, false);
  }

  /** A value that is neither a Datum nor an image: counted, and the first few kept with what they are. */
  private odd(v: KvValues, where: Where, what: string): undefined {
    v.odd++;
    if (v.oddExamples.length < this.options.maxExamples) v.oddExamples.push({ ...this.note(where), message: what });
    return undefined;
  }

  private valuesOf(db: string | undefined): KvValues {
    const last = this.lastValues;
    if (last !== undefined && last.db === db) return last.v;
    const v = (this.values[db ?? ''] ??= emptyKvValues());
    this.lastValues = { db, v };
    return v;
  }

  /** A placeholder finding at `where`, whose kind and message finalize decides. */
  private note(where: Where): Finding {
    return { kind: 'bad_record', severity: DEFAULT_SEVERITY.bad_record, message: '', ...this.loc(where) };
  }

  /**
   * Analyses a slab of array rows (HDF5). Each row is a record: values are scanned row by row so findings
   * name the row. Rows of a label field feed the label analysis when they are single integer values.
   */
  rows(rec: RowsRecord): void {
    const rowSize = rec.rowShape.reduce((a, b) => a * b, 1);
    if (rec.countsRecords) this.records += rec.rows;
    this.bytes += rec.data.byteLength;
    const isFloat = rec.dtype === 'f16' || rec.dtype === 'f32' || rec.dtype === 'f64';
    const loc = (row: number): RecordLocator => ({ file: rec.file, index: rec.firstRow + row, field: rec.field });
    // Labels are not data: their values are summed apart, so the data's mean and std are the data's.
    const stats = rec.isLabel ? this.labelStats : this.stats;
    if (rowSize === 1) {
      // One value a row: scan the slab at once (per-row calls would cost more than the scan), and find the
      // rows of any special values only when the slab has some.
      const s = this.scanAny(rec.data);
      accumulate(stats, s);
      // Taken now: the rescans below reuse the kernel's stats object.
      const finite = hasNoSpecial(s);
      if (hasSpecial(s)) {
        for (let r = 0; r < rec.rows; r++) {
          if (!isSpecialValue(Number(rec.data[r]!))) continue;
          const one = this.scanAny(rec.data.subarray(r, r + 1));
          for (const f of valueFindings(one, loc(r), `'${rec.field}'`, true)) this.sink.add(f);
        }
      }
      if (rec.isLabel) this.rowLabels(rec);
      else this.layouts.rows(rec.field, [1], rec.data, rec.rows, !isFloat, finite ? null : (r) => Number.isFinite(Number(rec.data[r]!)));
      return;
    }
    // Two tiers: one kernel call over the whole slab gives the statistics and says whether any value is
    // special; rows are rescanned one by one only then. Constant rows are found by comparing each row with
    // its first value, which stops at the second element of any ordinary row.
    const slab = this.scanAny(rec.data);
    accumulate(stats, slab);
    const special = hasSpecial(slab);
    // Taken now: the row rescans below reuse the kernel's stats object.
    const finite = hasNoSpecial(slab);
    const data = rec.data;
    for (let r = 0; r < rec.rows; r++) {
      const start = r * rowSize;
      if (special || isConstantRow(data, start, rowSize)) {
        const s = this.scanAny(data.subarray(start, start + rowSize));
        if (hasSpecial(s) || (s.count >= 2 && s.min === s.max)) {
          for (const f of valueFindings(s, loc(r), `'${rec.field}'`, isFloat)) this.sink.add(f);
        }
      }
    }
    if (!rec.isLabel) {
      this.layouts.rows(rec.field, rec.rowShape, data, rec.rows, !isFloat, finite ? null : (r) => isFiniteRun(data, r * rowSize, rowSize));
    }
  }

  private scanAny(data: NumericArray): ScanStats {
    if (data instanceof Float32Array || data instanceof Float64Array || data instanceof Uint8Array) {
      return this.kernel.scan(data, this.scratch);
    }
    return scanIntegers(data, this.scratch);
  }

  /**
   * The labels of a slab of label rows (one value a row), in storage order. Integers feed the label analysis;
   * NaN and ±Inf are already value findings. Each row that breaks a class label (negative, not below
   * --num-classes, not an integer) is a `label_out_of_range` at its row, held back in `labelSink`: a label
   * array whose values are mostly not integers is a regression target, and finalize then drops them.
   */
  private rowLabels(rec: RowsRecord): void {
    const data = rec.data;
    const numClasses = this.options.numClasses;
    for (let r = 0; r < rec.rows; r++) {
      const v = Number(data[r]!);
      if (!Number.isFinite(v)) continue; // reported as a `nan`/`posinf`/`neginf` finding on the label field
      let bad: string | null;
      if (!Number.isInteger(v)) {
        this.nonIntegerLabels++;
        bad = `label ${v} is not an integer`;
      } else if (v < -(2 ** 31) || v >= 2 ** 31) {
        bad = `label ${v} is beyond any class index`;
      } else {
        this.labels.push(v);
        this.explicitLabels++;
        bad = labelRangeProblem(v, numClasses);
      }
      if (bad !== null) {
        this.labelSink.add({ kind: 'label_out_of_range', severity: DEFAULT_SEVERITY.label_out_of_range,
          message: `Label of row ${rec.firstRow + r} in '${rec.field}': ${bad}.`, label: v,
          file: rec.file, index: rec.firstRow + r, field: rec.field });
      }
    }
  }

  /**
   * Analyses one sample: each array member as an array row of its own layout (by member name), the first label
   * member as the sample's label, image members as images. A sample with nothing checkable in it is counted as
   * not checked.
   */
  sample(rec: SampleRecord): Promise<void> | undefined {
    this.localIndexes = true;
    this.records++;
    const base: Where = { index: rec.index, file: rec.file };
    if (rec.key !== undefined) base.name = rec.key;
    if (rec.offset !== undefined) base.offset = rec.offset;
    if (rec.damaged === true) return undefined;
    if (!rec.fields.some((f) => f.type !== 'opaque')) {
      const l = this.loc(base);
      addUnchecked(this.uncheckedTally, 'opaque_value', 1, [`${l.file ?? ''}${l.key !== undefined ? ` ${l.key}` : ` record ${rec.index}`}`], this.options.maxExamples);
      return undefined;
    }
    return this.members(rec.fields, base, true);
  }

  /**
   * The members of one sample (a SampleRecord's, or a pickled key/value record's), located at `base` plus the
   * member's name as `field`. `countBytes`: whether the members' bytes are the record's (a key/value record
   * counted its value's bytes already).
   */
  private members(fields: readonly SampleField[], base: Where, countBytes: boolean): Promise<void> | undefined {
    this.memberBytes = countBytes;
    let labelled = false;
    let waits: Promise<void>[] | undefined;
    // One locator for the members, reused: sync findings read it at once, queued images take a copy.
    const where = this.memberWhere;
    where.index = base.index;
    where.key = base.key;
    where.database = base.database;
    where.file = base.file;
    where.line = base.line;
    where.name = base.name;
    where.offset = base.offset;
    for (const f of fields) {
      if (f.type === 'opaque') continue;
      where.field = f.name;
      if (f.type === 'label' && !labelled) {
        labelled = true;
        this.sampleLabel(f.value, where);
      } else if (f.type === 'image') {
        if (countBytes) this.bytes += f.bytes.length;
        const wait = this.queueImage(f.bytes, where, `the image '${f.name}'`);
        if (wait !== undefined) (waits ??= []).push(wait);
      } else {
        this.sampleArray(f.type === 'label' ? { type: 'array', name: f.name, dtype: 'f64', shape: [], data: Float64Array.of(f.value) } : f, where);
      }
    }
    return waits === undefined ? undefined : Promise.all(waits).then(() => undefined);
  }

  /** One array member of a sample: its values checked, and its elements tracked under the member's name. */
  private sampleArray(f: Extract<SampleField, { type: 'array' }>, where: Where): void {
    if (this.memberBytes) this.bytes += f.data.byteLength;
    const isFloat = f.dtype === 'f16' || f.dtype === 'f32' || f.dtype === 'f64';
    const s = this.scanAny(f.data);
    accumulate(this.stats, s);
    const finite = hasNoSpecial(s);
    if (hasSpecial(s) || (s.count >= 2 && s.min === s.max)) {
      for (const x of valueFindings(s, this.loc(where), `'${f.name}'`, isFloat)) this.sink.add(x);
    }
    if (finite) this.layouts.rows(f.name, f.shape, f.data, 1, !isFloat, null);
  }

  /** A sample's label: integers feed the label analysis; anything else is a finding at the sample. */
  private sampleLabel(v: number, where: Where): void {
    if (!Number.isFinite(v)) {
      this.sampleArray({ type: 'array', name: where.field ?? 'label', dtype: 'f64', shape: [], data: Float64Array.of(v) }, where);
      return;
    }
    if (!Number.isInteger(v)) {
      this.nonIntegerLabels++;
      this.labelSink.add({ kind: 'label_out_of_range', severity: DEFAULT_SEVERITY.label_out_of_range,
        message: `Label ${v} of the sample is not an integer.`, label: v, ...this.loc(where) });
      return;
    }
    if (v < -(2 ** 31) || v >= 2 ** 31) {
      this.sink.add({ kind: 'label_out_of_range', severity: DEFAULT_SEVERITY.label_out_of_range,
        message: `Sample has label ${v}, beyond any class index.`, label: v, ...this.loc(where) });
      return;
    }
    this.label(v, where, 'Sample');
  }

  /** Analyses one file of a folder or list: an image, or a finding saying what it is instead. */
  file(rec: FileRecord): Promise<void> | undefined {
    this.records++;
    this.bytes += rec.bytes.length;
    const where: Where = { index: rec.index, file: rec.file };
    if (rec.line !== undefined) where.line = rec.line;
    if (rec.label !== undefined) this.label(rec.label, where, 'Entry');
    if (rec.unreadable !== undefined) {
      this.sink.add(damageFinding(rec.unreadable));
      return undefined;
    }
    if (sniffImage(rec.bytes) === null) {
      const b = rec.bytes;
      const what = b.length === 0 ? 'is empty (0 bytes)'
        // macOS writes these `._name.jpg` files beside the real ones when copying to other file systems.
        : b.length >= 4 && b[0] === 0 && b[1] === 5 && b[2] === 0x16 && b[3] === 7 ? 'is a macOS AppleDouble metadata file (a "._" file), not an image'
        : `is not an image (starts with ${describeStart(b)})`;
      this.sink.add({ kind: 'corrupt_image', severity: DEFAULT_SEVERITY.corrupt_image, message: `File ${what}.`, ...this.loc(where) });
      return undefined;
    }
    return this.queueImage(rec.bytes, where, 'the image');
  }

  private label(label: number, where: Where, what: string): void {
    this.labels.push(label);
    this.explicitLabels++;
    const bad = labelRangeProblem(label, this.options.numClasses);
    if (bad !== null) {
      this.sink.add({ kind: 'label_out_of_range', severity: DEFAULT_SEVERITY.label_out_of_range,
        message: `${what} has ${bad}.`, label, ...this.loc(where) });
    }
  }

  private datum(d: Datum, where: Where): Promise<void> | undefined {
    if (d.hasLabel) this.label(d.label, where, 'Datum');
    // Caffe reads an absent label as 0: keep storage order complete without counting it as explicit.
    else this.labels.push(0);
    if (d.encoded) {
      if (d.data === null || d.data.length === 0) {
        this.sink.add({ kind: 'bad_record', severity: DEFAULT_SEVERITY.bad_record,
          message: 'Encoded Datum holds no image data.', ...this.loc(where) });
        return undefined;
      }
      return this.queueImage(d.data, where, 'the encoded image');
    }
    const expected = d.channels * d.height * d.width;
    // Built only for a message: this runs once per record.
    const shape = (): string => `${d.channels}×${d.height}×${d.width}`;
    // A record whose shape disagrees with its bytes is reported as such, and kept out of the shape tally:
    // its declared shape is not evidence of the dataset's.
    let consistent = true;
    if (d.data !== null && d.data.length > 0) {
      if (expected !== d.data.length) {
        consistent = false;
        this.mismatch(where, `Datum declares ${shape()} = ${expected} values but data holds ${d.data.length} bytes.`);
      }
      this.scan(d.data, where, 'data', false);
      if (consistent) this.layouts.chw('data', d.channels, d.height, d.width, d.data, true);
    } else if (d.floatData !== null) {
      if (expected !== d.floatData.length) {
        consistent = false;
        this.mismatch(where, `Datum declares ${shape()} = ${expected} values but float_data holds ${d.floatData.length}.`);
      }
      const s = this.scan(d.floatData, where, 'float_data', true);
      if (consistent && hasNoSpecial(s)) this.layouts.chw('float_data', d.channels, d.height, d.width, d.floatData, false);
    } else {
      // (A Datum with neither shape nor data never gets here: kv() counts it as an odd value.)
      this.mismatch(where, `Datum declares ${shape()} = ${expected} values but holds neither data nor float_data.`);
      return undefined;
    }
    if (consistent) this.tallyShape(d.channels, d.height, d.width, where);
    return undefined;
  }

  private scan(data: Uint8Array | Float32Array, where: Where, what: string, isFloat: boolean): ScanStats {
    const s = this.kernel.scan(data, this.scratch);
    accumulate(this.stats, s);
    // Most records are clean: look for findings only when the stats say there is one.
    if (hasSpecial(s) || (s.count >= 2 && s.min === s.max)) {
      for (const f of valueFindings(s, this.loc(where), what, isFloat)) this.sink.add(f);
    }
    return s;
  }

  private mismatch(where: Where, message: string): void {
    this.sink.add({ kind: 'shape_mismatch', severity: DEFAULT_SEVERITY.shape_mismatch, message, ...this.loc(where) });
  }

  private tallyShape(
    channels: number, height: number, width: number, where: Where, shapes: Record<string, ShapeTally> = this.shapes,
  ): void {
    // Records mostly share one shape: skip building the id string when it repeats.
    let t = shapes === this.shapes ? this.lastShape : undefined;
    const field = where.field;
    if (t === undefined || t.channels !== channels || t.height !== height || t.width !== width || t.field !== field) {
      const id = field === undefined ? `${channels}×${height}×${width}` : `${field}:${channels}×${height}×${width}`;
      t = shapes[id] ??= { ...(field === undefined ? {} : { field }), channels, height, width, count: 0, examples: [] };
      if (shapes === this.shapes) this.lastShape = t;
    }
    t.count++;
    if (t.examples.length < this.options.maxExamples) t.examples.push(this.loc(where) as ShapeTally['examples'][number]);
  }

  private queueImage(bytes: Uint8Array, where: Where, what: string): Promise<void> | undefined {
    if (this.skip.has(where.index)) {
      this.sink.add({ kind: 'corrupt_image', severity: DEFAULT_SEVERITY.corrupt_image,
        message: 'The image decoder crashed on this record (it killed a worker process); it was not decoded again.', ...this.loc(where) });
      return undefined;
    }
    this.nativeStart?.(where.index);
    if (this.observer?.decode !== undefined) {
      this.observer.decode(where.file ?? (where.key ? Buffer.from(where.key).toString('latin1') : ''));
    }
    // Images that earlier ones are still waiting behind (in sharp) and that have finished since: checked now,
    // in record order.
    while (this.pending.length > 0 && this.pending[0]!.done !== undefined) {
      const p = this.pending.shift()!;
      this.imageResult(p.done!, p.where, p.what, p.bytes);
    }
    // BMP, and JPEG or PNG with the native decoders: decoded now, on this thread. With nothing queued, into the
    // kernel's arena when it fits (scanned there without a copy) and checked at once; behind images still in
    // sharp, into a buffer of its own and queued already decoded, so that findings keep record order. (Sending
    // it to sharp instead would turn every image after the first that needs sharp into a sharp decode.)
    const scale = this.options.fullDecode ? 1 : this.pixelScale;
    const decodeOptions = { limitInputPixels: this.options.limitInputPixels, scale };
    const queued = this.pending.length > 0;
    const now = decodeImageNow(bytes, decodeOptions, queued ? undefined : this.kernel.arena);
    if (now !== null && !queued) {
      this.imageResult(now, where, what, bytes);
      return undefined;
    }
    // The reader may reuse its buffers after we return: what is kept must be a copy, and so must the key.
    const own: Where = { ...where };
    if (where.key !== undefined) own.key = Uint8Array.prototype.slice.call(where.key);
    let entry: PendingImage;
    if (now !== null) {
      entry = { promise: Promise.resolve(now), done: now, where: own, what };
      if (now.ok && now.scaled !== undefined) entry.bytes = Uint8Array.prototype.slice.call(bytes);
    } else {
      const copy = Uint8Array.prototype.slice.call(bytes);
      entry = { promise: withTimeout(decodeImageWithSharp(copy, decodeOptions), this.options.timeoutMs), where: own, what };
      entry.promise.then((r) => { entry.done = r; }, () => undefined);
    }
    this.pending.push(entry);
    return this.pending.length >= this.options.imageConcurrency ? this.takeImage() : undefined;
  }

  private async takeImage(): Promise<void> {
    const p = this.pending.shift();
    if (p === undefined) return;
    this.imageResult(p.done ?? await p.promise, p.where, p.what, p.bytes);
  }

  /**
   * The checks on one decoded (or undecodable) image. A scaled decode (`r.scaled`, from the synchronous path,
   * which passes the encoded `bytes`) is enough for the integrity checks; it is decoded again at full size when
   * its pixels are needed: a thumbnail that is constant (confirmed, or not, at full size) or a pixel layout that
   * still tracks constant positions.
   */
  private imageResult(r: ImageResult, where: Where, what: string, bytes?: Uint8Array): void {
    const loc = this.loc(where);
    if (!r.ok && r.kind === 'unsupported') {
      this.uncheckedImage(where);
      return;
    }
    if (!r.ok) {
      this.sink.add({ kind: r.kind, severity: DEFAULT_SEVERITY[r.kind], message: `Image ${r.reason}.`, ...loc });
      return;
    }
    const shape = [r.height, r.width, r.channels];
    if (r.scaled !== undefined) {
      if (bytes !== undefined && (isConstantImage(r.pixels, r.channels) || !this.layouts.countIfSettled('pixels', shape, 'last', true))) {
        const full = decodeImageNow(bytes, { limitInputPixels: this.options.limitInputPixels, scale: 1 }, this.kernel.arena);
        if (full !== null) {
          this.imageResult(full, where, what);
          return;
        }
      }
      this.scaledImages++;
    }
    if (r.warning !== undefined && this.options.imageStrictness === 'warning') {
      this.sink.add({ kind: 'corrupt_image', severity: 'warning', message: `Image ${r.warning}.`, ...loc });
    }
    const s = this.kernel.scan(r.pixels, this.scratch);
    accumulate(this.stats, s);
    // An image is constant when every pixel is the same colour, not only when every byte is equal.
    if (isConstantImage(r.pixels, r.channels)) {
      const colour = [...r.pixels.subarray(0, r.channels)].join(', ');
      this.sink.add({ kind: 'constant_sample', severity: DEFAULT_SEVERITY.constant_sample,
        message: `Every pixel of ${what} (${r.width}×${r.height}, ${r.channels} channels) is (${colour}): zero variance.`, ...loc });
    }
    this.tallyShape(r.channels, r.height, r.width, where, what === IMAGE_VALUE ? this.valuesOf(where.database).imageShapes : this.shapes);
    if (r.scaled === undefined) {
      this.layouts.record('pixels', shape, 'last', r.pixels, true);
      this.pixelScale = this.layouts.settled('pixels', shape) ? 8 : 1;
    }
  }

  private loc(w: Where): RecordLocator {
    const l: RecordLocator = {};
    if (w.file !== undefined) l.file = w.file;
    if (w.line !== undefined) l.line = w.line;
    if (w.database !== undefined) l.database = w.database;
    if (w.key !== undefined) l.key = formatKey(w.key);
    else if (w.name !== undefined) l.key = w.name;
    if (w.field !== undefined) l.field = w.field;
    if (w.offset !== undefined) l.offset = w.offset;
    l.index = w.index;
    return l;
  }

  async finish(): Promise<PartitionResult> {
    while (this.pending.length > 0) await this.takeImage();
    const findings = this.sink.findings;
    // Stable sort: record findings by index, reader damage (which has no index) after them in the order met.
    findings.sort((a, b) => (a.index ?? Number.MAX_SAFE_INTEGER) - (b.index ?? Number.MAX_SAFE_INTEGER));
    return {
      records: this.records, bytes: this.bytes, findings, findingCounts: this.sink.counts,
      severityCounts: this.sink.severities,
      labels: this.labels.labels(), labelled: this.labels.length, explicitLabels: this.explicitLabels,
      stats: this.stats, shapes: this.shapes, values: this.values,
      kernel: this.kernel.backend, nonIntegerLabels: this.nonIntegerLabels, localIndexes: this.localIndexes,
      labelStats: this.labelStats,
      labelChecks: { findings: this.labelSink.findings, counts: this.labelSink.counts, severities: this.labelSink.severities },
      uncounted: this.uncounted, unchecked: this.uncheckedTally, layouts: this.layouts.result(),
      scaledImages: this.scaledImages,
    };
  }
}

/**
 * Observers of the analysis: called with a record's key (latin1) before it is analysed, and with its file or key
 * before its image is decoded. For test worker entries (test/pool/fixtures/faulty-worker.mjs makes a worker crash
 * or run out of memory at a chosen record); production workers pass none.
 */
export interface RecordObserver {
  record?: (name: string) => void;
  decode?: (name: string) => void;
}

/** What a key/value value that is an image is called in messages; its shape is tallied apart (KvValues). */
const IMAGE_VALUE = 'the image value';

/**
 * Keys that by convention hold metadata, not samples: `__len__` and `__keys__` (the folder2lmdb scripts of
 * PyTorch projects), `__meta__` and the like. Their values are pickles or counts; they are not records.
 */
function isMetadataKey(key: Uint8Array): boolean {
  const n = key.length;
  return n > 4 && key[0] === 0x5f && key[1] === 0x5f && key[n - 1] === 0x5f && key[n - 2] === 0x5f;
}

/** The first bytes of a file that is not an image, for the message: printable text quoted, else hex. */
function describeStart(b: Uint8Array): string {
  const head = b.subarray(0, 16);
  const text = String.fromCharCode(...head);
  return /^[\x20-\x7e\t\r\n]+$/.test(text) ? `'${text.replace(/[\r\n\t]/g, ' ')}'` : `0x${Buffer.from(head).toString('hex')}`;
}

/**
 * Bounds a decode in time. libvips cannot cancel a running decode, so a pathological file keeps one libuv
 * thread busy until it ends, but the scan no longer waits for it: it becomes a finding.
 */
function withTimeout(p: Promise<ImageResult>, ms: number): Promise<ImageResult> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<ImageResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, kind: 'corrupt_image', reason: `took longer than ${ms} ms to decode; given up` }), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** No NaN or ±Inf: the record's values may enter the dataset-level statistics. */
function hasNoSpecial(s: ScanStats): boolean {
  return s.nan + s.posinf + s.neginf === 0;
}

/** Whether every element of data[start, start + n) is finite. */
function isFiniteRun(data: NumericArray, start: number, n: number): boolean {
  for (let i = start; i < start + n; i++) if (!Number.isFinite(Number(data[i]!))) return false;
  return true;
}

/** Whether every element of data[start, start + n) equals the first (NaN never does: NaN !== NaN). */
function isConstantRow(data: NumericArray, start: number, n: number): boolean {
  if (n < 2) return false;
  const first = data[start];
  for (let i = start + 1; i < start + n; i++) if (data[i] !== first) return false;
  return true;
}
