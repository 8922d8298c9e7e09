/**
 * Tar members grouped into samples by WebDataset's rules (webdataset/tariterators.py, `base_plus_ext` and
 * `group_by_keys`): a member's `__key__` is its path up to the first `.` of its basename (the folder part kept), the
 * rest is its extension, lower-cased; consecutive members with one key form one sample. Names with no `.` in the
 * basename (or starting with one) belong to no sample, and top-level `__name__` files are metadata: WebDataset
 * skips both, and so does nanscan.
 *
 * Members become sample fields by their extension's last component: images (checked by the analyzer), labels
 * (`cls`, `cls2`, `class` as WebDataset decodes them, with `int()`; `label`, `target`, … holding one number),
 * `.npy` arrays (decoded by src/decode/npy.ts, as `np.load` reads them), everything else opaque (counted, not
 * checked). Per shard, at its end, what WebDataset's loader trips over:
 * a sample without a member most of the shard's samples have (`to_tuple('jpg', 'cls')` raises KeyError), two
 * members of one sample with one extension (WebDataset raises "duplicate file name"), a key met again after other
 * samples (WebDataset yields it as two samples).
 */
import type { Damage } from '../../records.js';
import { displayName, IMAGE_EXTENSIONS, MAX_FILE_BYTES } from '../files.js';
import { isLabelName } from '../labels.js';
import { isNumeric, npyElements, npyRowCount, npyRows, parseNpyHeader } from '../../decode/npy.js';
import type { RecordBatch, SampleField, SampleRecord, UncheckedNote } from '../types.js';
import type { TarDamage, TarMember, TarSink, Want } from './tar.js';

/** Extensions WebDataset's default decoders turn into an int (webdataset/autodecode.py, basichandlers). */
const INT_EXTENSIONS = new Set(['cls', 'cls2', 'class']);

/** Batches: enough samples to amortise a batch, few enough bytes to bound memory. */
const SAMPLES_PER_BATCH = 64;
const BATCH_BYTES = 16 * 1024 * 1024;

/** Examples kept per unchecked reason and batch. */
const NOTE_EXAMPLES = 5;

/** A label member longer than this holds no single number. */
const MAX_LABEL_BYTES = 4096;

/** WebDataset's `base_plus_ext`: the key, and the extension lower-cased; null when the name has none. */
export function splitKey(name: string): { key: string; ext: string } | null {
  const m = /^((?:.*\/|)[^.]+)[.]([^/]*)$/s.exec(name);
  if (m === null) return null;
  return { key: m[1]!, ext: m[2]!.replace(/[A-Z]+/g, (c) => c.toLowerCase()) };
}

type Kind = 'image' | 'label' | 'npy' | 'opaque';

/** What a member of extension `ext` is, by its last component. */
export function kindOf(ext: string): Kind {
  const last = ext.slice(ext.lastIndexOf('.') + 1);
  if (IMAGE_EXTENSIONS.has(`.${last}`)) return 'image';
  if (INT_EXTENSIONS.has(last) || isLabelName(last)) return 'label';
  if (last === 'npy') return 'npy';
  return 'opaque';
}

/** Python's `int()` on text: optional sign, digits with single underscores between them, whitespace around. */
const PY_INT = /^[+-]?\d+(?:_\d+)*$/;
/** Python's `float()`: decimal or exponent notation, and nan / inf / infinity. */
const PY_FLOAT = /^[+-]?(?:(?:\d+(?:_\d+)*)?\.?\d+(?:_\d+)*(?:[eE][+-]?\d+)?|\d+(?:_\d+)*\.|nan|inf|infinity)$/i;

function parseNumber(text: string, float: boolean): number | null {
  const t = text.trim();
  if (PY_INT.test(t)) return Number(t.replace(/_/g, ''));
  if (!float || !PY_FLOAT.test(t)) return null;
  const l = t.toLowerCase().replace(/_/g, '');
  if (l.endsWith('nan')) return NaN;
  if (l.endsWith('inf') || l.endsWith('infinity')) return l.startsWith('-') ? -Infinity : Infinity;
  return Number(l);
}

interface Current {
  key: string;
  offset: number;
  fields: SampleField[];
  exts: Set<string>;
  /** Cut off by damage that stopped the shard: its missing members are that damage, not a sample without them. */
  cut?: boolean;
}

interface Seen {
  index: number;
  key: string;
  offset: number;
  exts: string[];
  cut: boolean;
}

/**
 * Groups one shard's members into samples (a TarSink). Samples are collected in `records` until taken; findings
 * in `damage`. `index` numbers samples within the partition (several shards may share it).
 */
export class SampleGrouper implements TarSink {
  records: SampleRecord[] = [];
  findings: Damage[] = [];
  private notes: Partial<Record<UncheckedNote['reason'], UncheckedNote>> = {};
  /** Bytes held by `records` (to size batches). */
  bytes = 0;
  private current: Current | null = null;
  private readonly keys = new Set<string>();
  private readonly seen: Seen[] = [];
  private readonly extCounts = new Map<string, number>();

  constructor(private readonly file: string, public index: number) {}

  want(m: TarMember): Want {
    const split = splitKey(m.name);
    if (split === null) return 'skip';
    const kind = kindOf(split.ext);
    if (kind === 'image' || kind === 'npy') return m.size <= MAX_FILE_BYTES ? 'read' : 'skip';
    if (kind === 'label') return m.size <= MAX_LABEL_BYTES ? 'read' : 'skip';
    return 'skip';
  }

  member(m: TarMember, data: Uint8Array | null): void {
    const name = m.name;
    // WebDataset's metadata files: `__…__` at the top level.
    if (!name.includes('/') && name.startsWith('__') && name.endsWith('__')) return;
    const split = splitKey(name);
    if (split === null) return;
    const { key, ext } = split;
    if (this.current === null || this.current.key !== key) {
      this.flush();
      if (this.keys.has(key)) {
        this.find('bad_record', true, key, m.offset, ext,
          `Key '${displayName(Buffer.from(key, 'latin1'))}' appears again at byte ${m.offset}, after other samples: WebDataset yields it as a second sample.`);
      }
      this.keys.add(key);
      this.current = { key, offset: m.offset, fields: [], exts: new Set() };
    }
    const cur = this.current;
    if (cur.exts.has(ext)) {
      this.find('bad_record', false, key, m.offset, ext,
        `Sample has a second '.${displayName(Buffer.from(ext, 'latin1'))}' member (at byte ${m.offset}): WebDataset raises "duplicate file name in tar file".`);
      return;
    }
    cur.exts.add(ext);
    const field = this.field(m, ext, data, key);
    if (field !== null) cur.fields.push(field);
  }

  /**
   * Damage that stops the shard: a `corrupt_file` at the shard. A member cut short was passed on as far as it goes:
   * an image keeps its partial bytes (the analyzer's truncated_image names the sample), a partial label is no label.
   */
  damage(d: TarDamage): void {
    const cur = this.current;
    const split = d.member === undefined ? null : splitKey(d.member.name);
    if (cur !== null) cur.cut = true;
    if (cur !== null && split !== null && split.key === cur.key) {
      const i = cur.fields.findIndex((f) => f.name === split.ext);
      const f = cur.fields[i];
      if (f !== undefined && f.type === 'label') cur.fields[i] = { type: 'opaque', name: f.name };
    }
    const f: Damage = { kind: 'corrupt_file', file: this.file, offset: d.offset, message: `Shard '${this.file}': ${d.message}.` };
    if (d.warning === true) f.minor = true;
    this.findings.push(f);
  }

  private field(m: TarMember, ext: string, data: Uint8Array | null, key: string): SampleField | null {
    const kind = kindOf(ext);
    const shownExt = displayName(Buffer.from(ext, 'latin1'));
    if (kind === 'image') {
      if (data === null) {
        this.find('oversized_image', false, key, m.offset, ext,
          `Member '.${shownExt}' is ${m.size} bytes, above the ${MAX_FILE_BYTES}-byte limit; not read.`);
        return { type: 'opaque', name: ext };
      }
      this.bytes += data.length;
      return { type: 'image', name: ext, bytes: data };
    }
    if (kind === 'npy') return this.npyField(m, ext, data, key);
    if (kind === 'label') {
      const last = ext.slice(ext.lastIndexOf('.') + 1);
      const int = INT_EXTENSIONS.has(last);
      const text = data === null ? null : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
      const value = text === null ? null : parseNumber(text, !int);
      if (value !== null) return { type: 'label', name: ext, value };
      if (int) {
        const shown = text === null ? `${m.size} bytes` : `'${text.length > 40 ? `${text.slice(0, 40)}…` : text.trim()}'`;
        this.find('bad_record', false, key, m.offset, ext,
          `Member '.${shownExt}' holds ${shown}, not an integer: WebDataset's decoder (int()) raises on it.`);
      }
      // A `label`/`target` member of several numbers or text is not a class label: kept, not checked.
      return { type: 'opaque', name: ext };
    }
    return { type: 'opaque', name: ext };
  }

  /** An `.npy` member: its array, decoded by the NumPy reader's decoder (src/decode/npy.ts). */
  private npyField(m: TarMember, ext: string, data: Uint8Array | null, key: string): SampleField {
    const shownExt = displayName(Buffer.from(ext, 'latin1'));
    const bad = (what: string): SampleField => {
      this.find('bad_record', false, key, m.offset, ext, `Member '.${shownExt}' ${what}.`);
      return { type: 'opaque', name: ext };
    };
    if (data === null) return bad(`is ${m.size} bytes, above the ${MAX_FILE_BYTES}-byte limit; not read`);
    const h = parseNpyHeader(data);
    if ('error' in h) return bad(`is not a readable .npy array: ${h.error}`);
    if (!isNumeric(h.dtype)) {
      this.note('unsupported_type', `${this.file} ${displayName(Buffer.from(key, 'latin1'))}.${shownExt} (${h.dtype.descr})`);
      return { type: 'opaque', name: ext };
    }
    const need = npyElements(h) * h.dtype.itemSize;
    const have = data.length - h.headerBytes;
    if (have < need) return bad(`holds ${have} bytes of data, and its shape (${h.shape.join(', ')}) of ${h.dtype.descr} needs ${need}: np.load raises`);
    const rows = npyRows(h, data.subarray(h.headerBytes), 0, npyRowCount(h));
    this.bytes += need;
    return { type: 'array', name: ext, dtype: rows.dtype, shape: h.shape, data: rows.data };
  }

  private note(reason: UncheckedNote['reason'], example: string): void {
    const n = (this.notes[reason] ??= { reason, count: 0, examples: [] });
    n.count++;
    if (n.examples.length < NOTE_EXAMPLES) n.examples.push(example);
  }

  /** The sample being assembled is complete. */
  flush(): void {
    const cur = this.current;
    if (cur === null) return;
    this.current = null;
    const rec: SampleRecord = { kind: 'sample', index: this.index, file: this.file,
      key: displayName(Buffer.from(cur.key, 'latin1')), offset: cur.offset, fields: cur.fields };
    this.records.push(rec);
    const exts = [...cur.exts];
    for (const e of exts) this.extCounts.set(e, (this.extCounts.get(e) ?? 0) + 1);
    this.seen.push({ index: this.index, key: cur.key, offset: cur.offset, exts, cut: cur.cut === true });
    this.index++;
  }

  /**
   * The end of the shard: samples without a member that more than half of the shard's samples have. (Judged per
   * shard: shards are written by one writer, and a rule over the whole dataset would need every shard first.)
   */
  finish(): void {
    this.flush();
    const n = this.seen.length;
    const common = [...this.extCounts].filter(([, c]) => c > n / 2 && c < n).map(([e, c]) => [e, c] as const);
    if (common.length === 0) return;
    for (const s of this.seen) {
      if (s.cut) continue;
      for (const [ext, c] of common) {
        if (s.exts.includes(ext)) continue;
        this.find('bad_record', false, s.key, s.offset, ext,
          `Sample has no '.${displayName(Buffer.from(ext, 'latin1'))}' member, which ${c} of the shard's ${n} samples have: ` +
          `WebDataset loaders that ask for it raise KeyError.`, s.index);
      }
    }
  }

  /** `minor`: the sample is still read as WebDataset reads it (Damage.minor). */
  private find(kind: Damage['kind'], minor: boolean, key: string, offset: number, field: string, message: string, index?: number): void {
    const f: Damage = { kind, message, file: this.file, key: displayName(Buffer.from(key, 'latin1')), offset,
      field: displayName(Buffer.from(field, 'latin1')) };
    // The sample index: the sample being assembled (or the one given); rebased to the dataset by the main thread.
    f.index = index ?? this.index;
    if (minor) f.minor = true;
    this.findings.push(f);
  }

  /** Whether a batch is ready to yield. */
  get ready(): boolean {
    return this.records.length >= SAMPLES_PER_BATCH || this.bytes >= BATCH_BYTES;
  }

  /** Takes the completed samples (the caller yields them). */
  take(): RecordBatch {
    const out: RecordBatch = { records: this.records, damage: this.findings };
    const notes = Object.values(this.notes);
    if (notes.length > 0) out.unchecked = notes;
    this.records = [];
    this.findings = [];
    this.notes = {};
    this.bytes = 0;
    return out;
  }
}
