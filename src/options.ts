/** ScanOptions: validated once, at the public edge, before any I/O. */
import { availableParallelism } from 'node:os';
import { DEFAULT_LIMIT_INPUT_PIXELS } from './decode/image.js';
import type { SeverityOverrides } from './checks/findings.js';
import { invalidOption, ScanError } from './errors.js';
import { globToRegExp } from './glob.js';
import { FINDING_KINDS, type FindingKind } from './types.js';

export type FailOn = 'error' | 'warning' | 'none';

export interface ScanOptions {
  /** Batch size of the training job, for the label analysis. Default 64. */
  batchSize?: number;
  /** Number of classes; labels outside [0, numClasses) are findings. Default: inferred. */
  numClasses?: number | null;
  /** Lowest severity that makes the report's exitCode 1. Default 'error'. */
  failOn?: FailOn;
  /** More warnings than this make the exitCode 1, whatever failOn says (ESLint's --max-warnings). Default: no limit. */
  maxWarnings?: number | null;
  /** Per-kind severity: 'error', 'warning', or 'off' to drop the kind. */
  severity?: SeverityOverrides;
  /** Fraction of batches without a label at which it is reported (label_missing_in_batches). Default 0.05. */
  missingThreshold?: number;
  /**
   * 'warning' (default): images that decode only by tolerating decoder warnings are reported (as warnings);
   * 'error': only images that do not decode at all are.
   */
  imageStrictness?: 'warning' | 'error';
  /**
   * Longest one image may take to decode through sharp before it is reported and skipped. Default 30,000 ms.
   * JPEGs decoded by the native decoder run synchronously and cannot be interrupted; their time is bounded
   * instead by the pixel limit and a limit on progressive scans that shrinks with the image's size.
   */
  timeoutMs?: number;
  /** Globs (matched against dataset paths as shown) a dataset must match / must not match to be scanned. */
  include?: string[];
  exclude?: string[];
  /** Findings kept per kind per dataset (counts are always exact). Default 20. */
  maxExamples?: number;
  /** Worker threads; 0 scans in this thread. Default: one per core. */
  workers?: number;
  /** Images declaring more pixels are reported, not decoded. Default 50,000,000. */
  limitInputPixels?: number;
  /**
   * Full per-element statistics (mean, std, min, max of every element position, e.g. the per-pixel mean of
   * Caffe's compute_image_mean) in `DatasetReport.elements`, and channel statistics of decoded images. Costs a
   * pass of sums over every value and 40 bytes per element position. Default false (constant features and the
   * channel statistics of C×H×W records are always computed).
   */
  elementStats?: boolean;
  /**
   * Write the per-pixel mean of the (one) dataset scanned to this file, C×H×W float32: `.binaryproto` as Caffe's
   * compute_image_mean writes it (BlobProto; decoded colour images in BGR order, as Caffe's data layer sees them),
   * `.npy` as a NumPy array (RGB). Implies `elementStats`.
   */
  writeMean?: string;
  /**
   * Decode every JPEG at full size. By default a JPEG is decoded at 1/8 scale (libjpeg's DCT-domain scaling: the
   * entropy decoder still reads every coefficient, so damage is found exactly as by a full decode) unless its
   * pixels are needed: a thumbnail that is constant is confirmed at full size, and images are decoded fully
   * while per-pixel constant tracking still has candidates. Pixel statistics of thumbnails are of block means
   * (`stats.scaledImages` counts them). Implied by `elementStats`. Default false.
   */
  fullDecode?: boolean;
  /** Use the scalar kernel instead of wasm SIMD (also NANSCAN_FORCE_JS_KERNEL=1). */
  forceJsKernel?: boolean;
  /** Folder that image-list paths are relative to (Caffe's root_folder). Default: each list's own folder. */
  rootFolder?: string;
  /** Folder display paths are relative to. Default process.cwd(). */
  cwd?: string;
  /**
   * Stops the scan: workers are terminated and `scan()` resolves with what was found so far, marked
   * `complete: false`.
   */
  signal?: AbortSignal;
  /** Scan only shard `index` (1-based) of `count`; merge the shard reports with mergeReports(). */
  shard?: { index: number; count: number } | null;
  /** Called as records are read: for progress displays. */
  onProgress?: (p: ScanProgress) => void;
  /**
   * Resolve with an empty report when the paths hold no dataset. Default false: `scan()` rejects with
   * ScanError `SCAN_NO_DATASET` (the CLI exits 2), as ESLint does for patterns that match no file, so that a
   * mistyped path or an over-eager exclude never passes a gate.
   */
  allowEmpty?: boolean;
}

/** Every key ScanOptions knows: anything else is refused (SCAN_INVALID_OPTION), as the config file does. */
export const SCAN_OPTION_KEYS = [
  'batchSize', 'numClasses', 'failOn', 'maxWarnings', 'severity', 'missingThreshold', 'imageStrictness', 'timeoutMs',
  'include', 'exclude', 'maxExamples', 'workers', 'limitInputPixels', 'forceJsKernel', 'rootFolder', 'cwd', 'signal',
  'shard', 'onProgress', 'allowEmpty', 'elementStats', 'writeMean', 'fullDecode',
] as const satisfies readonly (keyof ScanOptions)[];

/**
 * Largest --num-classes. The label analysis and the report keep an entry per class below numClasses, seen or
 * not (a risk, a label_missing_in_batches finding, a `missingInBatches` entry: about 1.7 KiB of memory and
 * 220 bytes of JSON each, measured): 2^16 classes cost about 110 MiB and 15 MB of JSON; 2^20 cost 1.8 GB. A
 * typo (2000000000) must be refused, not exhaust memory. Datasets with more classes scan without the option:
 * the class count is then inferred, and only the classes seen get entries.
 */
export const MAX_NUM_CLASSES = 1 << 16;

export interface ScanProgress {
  dataset: string;
  datasetsDone: number;
  datasets: number;
  records: number;
  bytes: number;
  /**
   * Records expected in total, for percent and ETA: known once every dataset has started and each one's reader
   * knows its count (LMDB entries, HDF5 rows, list entries, folder images); else null.
   */
  expectedRecords: number | null;
}

export type ResolvedOptions = Required<Omit<ScanOptions, 'onProgress' | 'numClasses' | 'rootFolder' | 'signal' | 'maxWarnings' | 'shard' | 'writeMean'>> & {
  writeMean: string | undefined;
  shard: { index: number; count: number } | null;
  signal: AbortSignal | undefined;
  maxWarnings: number | null;
  numClasses: number | null;
  rootFolder: string | undefined;
  onProgress: ScanOptions['onProgress'];
};

const FAIL_ON: readonly FailOn[] = ['error', 'warning', 'none'];

export function parseOptions(o: ScanOptions = {}): ResolvedOptions {
  if (typeof o !== 'object' || o === null) throw invalidOption('options', 'an object', o);
  for (const key of Object.keys(o)) {
    if (!(SCAN_OPTION_KEYS as readonly string[]).includes(key)) {
      const near = SCAN_OPTION_KEYS.find((k) => k.toLowerCase() === key.toLowerCase().replace(/[-_]/g, ''));
      throw new ScanError('SCAN_INVALID_OPTION',
        `Unknown option '${key}'.${near ? ` Did you mean '${near}'?` : ''} Known options: ${SCAN_OPTION_KEYS.join(', ')}.`);
    }
  }
  if (o.writeMean !== undefined && (typeof o.writeMean !== 'string' || !/\.(binaryproto|npy)$/.test(o.writeMean))) {
    throw invalidOption('writeMean', "a file name ending in '.binaryproto' or '.npy'", o.writeMean);
  }
  if ((o.elementStats === true || o.writeMean !== undefined) && o.shard !== undefined && o.shard !== null) {
    // Per-element sums are merged within one process; a shard report does not carry them.
    throw new ScanError('SCAN_INVALID_OPTION', 'elementStats (--write-mean) cannot be combined with shard (--shard).');
  }
  return {
    batchSize: int(o.batchSize, 'batchSize', 64, 1, 1 << 24),
    numClasses: o.numClasses === undefined || o.numClasses === null ? null : int(o.numClasses, 'numClasses', 0, 1, MAX_NUM_CLASSES),
    failOn: oneOf(o.failOn, 'failOn', 'error', FAIL_ON),
    maxWarnings: o.maxWarnings === undefined || o.maxWarnings === null ? null : int(o.maxWarnings, 'maxWarnings', 0, 0, Number.MAX_SAFE_INTEGER),
    severity: parseSeverity(o.severity),
    missingThreshold: fraction(o.missingThreshold, 'missingThreshold', 0.05),
    imageStrictness: oneOf(o.imageStrictness, 'imageStrictness', 'warning', ['warning', 'error'] as const),
    timeoutMs: int(o.timeoutMs, 'timeoutMs', 30_000, 1, 24 * 3600 * 1000),
    include: globs(o.include, 'include'),
    exclude: globs(o.exclude, 'exclude'),
    maxExamples: int(o.maxExamples, 'maxExamples', 20, 0, 1_000_000),
    workers: int(o.workers, 'workers', Math.max(1, availableParallelism()), 0, 256),
    limitInputPixels: int(o.limitInputPixels, 'limitInputPixels', DEFAULT_LIMIT_INPUT_PIXELS, 1, Number.MAX_SAFE_INTEGER),
    elementStats: bool(o.elementStats, 'elementStats', false) || o.writeMean !== undefined,
    writeMean: o.writeMean,
    fullDecode: bool(o.fullDecode, 'fullDecode', false) || bool(o.elementStats, 'elementStats', false) || o.writeMean !== undefined,
    forceJsKernel: bool(o.forceJsKernel, 'forceJsKernel', process.env.NANSCAN_FORCE_JS_KERNEL === '1'),
    cwd: folder(o.cwd, 'cwd') ?? process.cwd(),
    rootFolder: folder(o.rootFolder, 'rootFolder'),
    // By shape, not instanceof: a signal from another realm or a polyfill works as well.
    signal: check(o.signal, 'signal', 'an AbortSignal', (v) => typeof (v as AbortSignal | null)?.addEventListener === 'function' &&
      typeof (v as AbortSignal).aborted === 'boolean'),
    shard: parseShardOption(o.shard),
    onProgress: check(o.onProgress, 'onProgress', 'a function', (v) => typeof v === 'function'),
    allowEmpty: bool(o.allowEmpty, 'allowEmpty', false),
  };
}

function folder(v: string | undefined, name: string): string | undefined {
  return check(v, name, 'a folder path (a non-empty string)', (x) => typeof x === 'string' && x.length > 0);
}

/** Options used as given: undefined, or a value `ok` accepts (a callback, a signal, a path). */
function check<T>(v: T, name: string, expected: string, ok: (v: unknown) => boolean): T {
  if (v !== undefined && !ok(v)) throw invalidOption(name, expected, v);
  return v;
}

function bool(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw invalidOption(name, 'true or false', v);
  return v;
}

function parseShardOption(v: unknown): { index: number; count: number } | null {
  if (v === undefined || v === null) return null;
  const s = v as { index?: unknown; count?: unknown };
  if (typeof v !== 'object' || !Number.isInteger(s.count) || !Number.isInteger(s.index) ||
      (s.count as number) < 1 || (s.index as number) < 1 || (s.index as number) > (s.count as number)) {
    throw invalidOption('shard', 'an object { index, count } with 1 ≤ index ≤ count', JSON.stringify(v));
  }
  return { index: s.index as number, count: s.count as number };
}

function parseSeverity(v: unknown): SeverityOverrides {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidOption('severity', 'an object of kind → severity', v);
  const out: SeverityOverrides = {};
  for (const [kind, sev] of Object.entries(v)) {
    if (!(FINDING_KINDS as readonly string[]).includes(kind)) {
      throw new ScanError('SCAN_INVALID_OPTION', `Unknown finding kind '${kind}' in severity. Known kinds: ${FINDING_KINDS.join(', ')}.`);
    }
    out[kind as FindingKind] = oneOf(sev, `severity.${kind}`, 'error', ['error', 'warning', 'off'] as const);
  }
  return out;
}

function fraction(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) throw invalidOption(name, 'a number in (0, 1]', v);
  return v;
}

function globs(v: unknown, name: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((g) => typeof g === 'string' && g.length > 0)) {
    throw invalidOption(name, 'an array of glob strings', v);
  }
  for (const g of v as string[]) globToRegExp(g, name);
  return v as string[];
}

function int(v: unknown, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidOption(name, `integer between ${min} and ${max}`, v);
  }
  return v;
}

function oneOf<T extends string>(v: unknown, name: string, dflt: T, allowed: readonly T[]): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw invalidOption(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, v);
  }
  return v as T;
}

/** 1 when findings reach `failOn`, or warnings exceed `maxWarnings`; else 0. */
export function exitCodeFor(s: { errors: number; warnings: number }, failOn: FailOn, maxWarnings: number | null): 0 | 1 {
  const failing = failOn === 'none' ? 0 : failOn === 'warning' ? s.errors + s.warnings : s.errors;
  return failing > 0 || (maxWarnings !== null && s.warnings > maxWarnings) ? 1 : 0;
}
