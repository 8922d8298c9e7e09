/** Orchestration: discover → open and plan each dataset → run partitions on the pool → finalize → report. */
import pLimit from 'p-limit';
import { DEFAULT_SEVERITY } from './checks/severity.js';
import { discover } from './discover.js';
import { internalError, isInternalError, ScanError } from './errors.js';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { meanImage, type ElementAccumulator } from './checks/elements.js';
import { OrderedElements } from './checks/layouts.js';
import { OrderedLabels } from './checks/label-batches.js';
import { encodeBlobProto, encodeNpy } from './mean-file.js';
import { finalizeDataset } from './finalize.js';
import { loadKernel } from './kernels/scan.js';
import { parseOptions, type ResolvedOptions, type ScanOptions } from './options.js';
import { buildReport } from './report/build.js';
import { InProcessPool, NativeDecodeRefused, WorkerPool, type Pool } from './pool/pool.js';
import type { AnalyzeOptions, PartitionResult } from './checks/result.js';
import { loadReader } from './readers/registry.js';
import type { Reader, Source, SourceInfo } from './readers/types.js';
import { SHARD_FORMAT, type DatasetReport, type Finding, type FindingKind, type Report, type ReportOptions } from './types.js';
import { encodeShardDataset, finalizeOptions, shardRange, type ShardDataset } from './shard.js';


/**
 * Partitions per dataset, whatever the worker count: the report must not depend on how the work was split
 * (damage met at a partition boundary is reported per partition), and 64 parts balance load on any machine
 * this runs on while costing one small result message each.
 */
const PARTITIONS = 64;

/**
 * Sources up to this size (the bytes the reader declares) are read in the main thread even when the scan has
 * workers: starting worker threads, each loading the checks and the kernel (and h5wasm for HDF5) and warming
 * up its own JIT, costs more than reading them. Their partitions are the same, so the report is the same.
 * Records that need a native image decoder still go to worker processes.
 */
const LOCAL_SOURCE_BYTES = 16 * 1024 * 1024;
/**
 * Bigger sources are read in the main thread too while this much of them in all has not been (so that a folder
 * of many such datasets still gets its workers); one source bigger than it never is. Measured on 2 cores, whole
 * command, main thread against two workers: HDF5 float32 62 MB 189 vs 356 ms, 123 MB 230 vs 354 ms; LMDB raw
 * Datums 64 MB 428 vs 664 ms, 99 MB 531 vs 693 ms, 295 MB 891 vs 992 ms. Workers win only once their start-up
 * and JIT warm-up (~0.4 s of CPU each) are paid back: past ~300 MB of Datums on 2 cores, past ~150 MB on 64.
 */
const LOCAL_BUDGET_BYTES = 64 * 1024 * 1024;

/** What is left of LOCAL_BUDGET_BYTES in one scan. */
class LocalBudget {
  private left = LOCAL_BUDGET_BYTES;

  /** Whether a source of `bytes` may be read in the main thread (without taking it from the budget). */
  allows(bytes: number): boolean {
    return bytes <= LOCAL_SOURCE_BYTES || bytes <= this.left;
  }

  /** allows(), and takes the bytes of a big source from the budget. */
  take(bytes: number): boolean {
    if (!this.allows(bytes)) return false;
    if (bytes > LOCAL_SOURCE_BYTES) this.left -= bytes;
    return true;
  }
}

const NO_LABELS = new Uint8Array(0);

/** Datasets scanned at once: one being planned or finalized while another keeps the workers busy. */
const DATASETS_IN_FLIGHT = 2;

/**
 * Scans datasets (folders or files) and returns the report. Damage in the data becomes findings; the promise
 * rejects only when the scan itself cannot run.
 *
 * @example
 * ```ts
 * import { scan } from 'nanscan';
 * const report = await scan('data/train_lmdb', { batchSize: 32 });
 * if (report.exitCode !== 0) console.log(report.summary.findingCounts);
 * ```
 * @throws ScanError `SCAN_INVALID_OPTION` for bad options, `SCAN_SOURCE_NOT_FOUND` for a missing path,
 * `SCAN_NO_DATASET` when the paths hold no dataset (unless `allowEmpty`), `SCAN_INTERNAL` when nanscan itself
 * fails (a bug, workers that cannot start): such a failure is never reported as damage in the data.
 * An aborted scan resolves, with `complete: false` and `exitCode` 130.
 */
export async function scan(paths: string | readonly string[], options?: ScanOptions): Promise<Report> {
  return scanWith(paths, options, {});
}

/** What the library does not offer its callers: a worker entry of the tests' own (fault injection). */
export interface ScanInternals {
  /** A worker entry of the tests' own (fault injection): it then runs every partition, small sources' too. */
  workerEntry?: URL;
}

/** scan() with internals: for tests (test/pool/fixtures), not exported from the package's index. */
export async function scanWith(paths: string | readonly string[], options: ScanOptions | undefined, internals: ScanInternals): Promise<Report> {
  const opts = parseOptions(options);
  const list = typeof paths === 'string' ? [paths] : [...paths];
  if (list.length === 0) throw new ScanError('SCAN_INVALID_OPTION', 'No path to scan.');
  const started = new Date();
  const t0 = performance.now();
  const found = await discover(list, opts.cwd, {
    include: opts.include, exclude: opts.exclude, ...(opts.rootFolder === undefined ? {} : { rootFolder: opts.rootFolder }),
  });
  if (!opts.allowEmpty) {
    if (found.sources.length === 0) throw noDataset(list, found.skipped.length);
    // Every path must hold a dataset: a folder that holds none beside others that do is a mistake too.
    if (found.emptyPaths.length > 0) throw noDataset(found.emptyPaths, 0);
  }
  const progress = createProgress(opts, found.sources.length);
  // Starts no worker yet: each source starts the kind it needs (Pool.prepare) while it is opened and planned.
  const pool: Pool = opts.workers === 0
    ? new InProcessPool(progress.onRecords)
    : new WorkerPool({
      size: Math.min(opts.workers, 256), onProgress: progress.onRecords,
      ...(internals.workerEntry === undefined ? {} : { entry: internals.workerEntry }),
    });
  const kernel = loadKernel({ forceJs: opts.forceJsKernel });
  const local = opts.workers === 0 || internals.workerEntry !== undefined ? pool : new InProcessPool(progress.onRecords, true);

  const stop = (): void => { void pool.destroy(); void local.destroy(); };
  opts.signal?.addEventListener('abort', stop, { once: true });
  let datasets: ScannedDataset[];
  const limit = pLimit(DATASETS_IN_FLIGHT);
  const budget = new LocalBudget();
  try {
    datasets = await Promise.all(found.sources.map((s) => limit(async (): Promise<ScannedDataset> => {
      const r = await scanDataset(s, pool, local, budget, opts, progress.setDataset);
      progress.datasetDone(s);
      return r;
    })));
  } catch (e) {
    // An internal failure ends the scan: datasets not started yet are not started.
    limit.clearQueue();
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    await pool.destroy();
    await local.destroy();
  }
  const report = buildReport(datasets.map((d) => d.report), found.skipped, reportOptions(opts), started,
    performance.now() - t0, kernel.backend, opts.signal?.aborted !== true);
  if (opts.writeMean !== undefined && report.complete) {
    writeFileSync(path.resolve(opts.cwd, opts.writeMean), meanFileBytes(datasets, opts.writeMean));
  }
  if (opts.shard !== null) {
    report.shard = { index: opts.shard.index, count: opts.shard.count, format: SHARD_FORMAT, datasets: datasets.map((d) => d.shard!) };
  }
  return report;
}

interface ScannedDataset {
  report: DatasetReport;
  /** Full per-element sums by layout (elementStats): what the mean file is made of. */
  elements?: Record<string, ElementAccumulator>;
  /** With --shard: what the merge needs to finish this dataset exactly. */
  shard?: ShardDataset;
}

async function scanDataset(
  source: Source, pool: Pool, local: Pool, budget: LocalBudget, opts: ResolvedOptions,
  onStart: (s: Source, expected: number | undefined) => void,
): Promise<ScannedDataset> {
  const t0 = performance.now();
  const findings: Finding[] = [];
  let info: SourceInfo | null = null;
  const elements = new OrderedElements();
  // Labels tallied as partitions finish, then dropped from their results (a shard keeps them: the merge needs them).
  const labels = new OrderedLabels(opts.batchSize);
  const finish = (results: (PartitionResult | null)[], total: number, covered: [number, number], aborted: boolean): ScannedDataset => {
    const durationMs = performance.now() - t0;
    const report = finalizeDataset({
      source, info, findings, results, durationMs, aborted, partial: opts.shard !== null, elements: elements.merged,
      labels: labels.tally(results.length),
      ...finalizeOptions(reportOptions(opts)),
    });
    if (opts.shard === null) return { report, elements: elements.merged };
    return { report, shard: encodeShardDataset(source, total, covered, info, findings, results, durationMs) };
  };
  if (opts.signal?.aborted) {
    // Not started before the stop: listed, with nothing read, and incomplete.
    return finish([], 0, [0, 0], true);
  }
  let results: (PartitionResult | null)[] = [];
  let total = 0;
  let covered: [number, number] = [0, 0];
  let reader: Reader | undefined;
  try {
    const module = await loadReader(source.format);
    // Workers start while the source is opened and planned, unless it may be small enough to read here.
    const maybeLocal = local !== pool && module.isolated !== true && budget.allows(storedBytes(source));
    if (!maybeLocal) pool.prepare(source, module.isolated === true);
    reader = await module.open(source);
    info = reader.info();
    const inThisThread = maybeLocal && info.bytes !== undefined && budget.take(info.bytes);
    if (maybeLocal && !inThisThread) pool.prepare(source, false);
    const run = (task: Parameters<Pool['run']>[0]): Promise<PartitionResult> => !inThisThread ? pool.run(task) :
      local.run(task).catch((e: unknown) => {
        if (!(e instanceof NativeDecodeRefused)) throw e;
        pool.prepare(source, true);
        return pool.run(task);
      });
    onStart(source, info.expectedRecords ?? info.declaredRecords);
    // More shards than partitions would leave shards idle: split finer then. Up to 64 shards the partitions
    // are those of a plain scan, so the merge is identical to it bit for bit; beyond, value sums are added in
    // another grouping and mean/std may differ in the last digits.
    const all = reader.plan(Math.max(PARTITIONS, opts.shard?.count ?? 0));
    total = all.length;
    // A shard reads a contiguous run of the partitions: every record belongs to exactly one shard.
    covered = opts.shard === null ? [0, total] : shardRange(total, opts.shard);
    const partitions = all.slice(covered[0], covered[1]);
    const analyze: AnalyzeOptions = {
      maxExamples: opts.maxExamples, limitInputPixels: opts.limitInputPixels, imageConcurrency: 4,
      forceJsKernel: opts.forceJsKernel, numClasses: opts.numClasses, severity: opts.severity,
      imageStrictness: opts.imageStrictness, timeoutMs: opts.timeoutMs, elementStats: opts.elementStats, fullDecode: opts.fullDecode,
    };
    // Failed parts are reported in partition order, whatever order the workers finish in.
    const failed: (Finding | undefined)[] = new Array(partitions.length);
    results = await Promise.all(partitions.map((partition, k) =>
      run({ source, partition, options: analyze }).then((r) => {
        elements.add(k, r.layouts);
        labels.add(k, r.labels.subarray(0, r.labelled));
        if (opts.shard === null) {
          r.labels = NO_LABELS;
          r.labelled = 0;
        }
        return r;
      }, (e: unknown) => {
        elements.add(k, null);
        labels.add(k, null);
        // A bug or workers that cannot start fail the scan (exit 2): never a finding on the user's data.
        if (isInternalError(e)) throw internalError(`Scanning ${source.path}`, e);
        // A stopped scan is incomplete, not damaged: no finding for the parts it did not read.
        if (!(e instanceof ScanError && e.code === 'SCAN_ABORTED')) {
          failed[k] = problem('io_error', source,
            `Could not read part ${partition.index + 1} of ${total} of the dataset: ${(e as Error).message}`);
        }
        return null;
      })));
    for (const f of failed) if (f !== undefined) findings.push(f);
  } catch (e) {
    if (isInternalError(e)) throw internalError(`Opening ${source.path}`, e);
    if (e instanceof ScanError && e.code === 'SCAN_CORRUPT_SOURCE') findings.push(problem('corrupt_file', source, e.message));
    else findings.push(problem('io_error', source, `Could not open the dataset: ${(e as Error).message}`));
  } finally {
    reader?.close();
    pool.closeSource(source.absPath);
    if (local !== pool) local.closeSource(source.absPath);
  }
  return finish(results, total, covered, opts.signal?.aborted === true);
}

/** ESLint's "No files matching the pattern": a gate over nothing must not pass. */
function noDataset(paths: readonly string[], skipped: number): ScanError {
  const named = paths.map((p) => `'${p}'`).join(', ');
  return new ScanError('SCAN_NO_DATASET',
    `No dataset found in ${named}${skipped > 0 ? ` (${skipped} path${skipped === 1 ? '' : 's'} skipped as not datasets or excluded)` : ''}. ` +
    'Pass --allow-empty (allowEmpty) to accept an empty scan.');
}

function problem(kind: FindingKind, source: Source, message: string): Finding {
  return { kind, severity: DEFAULT_SEVERITY[kind], message, file: source.path };
}

/** The options that shape results, as the report echoes them (and merge checks). */
function reportOptions(opts: ResolvedOptions): ReportOptions {
  return {
    batchSize: opts.batchSize, numClasses: opts.numClasses, failOn: opts.failOn, maxExamples: opts.maxExamples,
    workers: opts.workers, maxWarnings: opts.maxWarnings, missingThreshold: opts.missingThreshold,
    imageStrictness: opts.imageStrictness, severity: opts.severity,
  };
}


function createProgress(opts: ResolvedOptions, datasets: number): {
  onRecords: (records: number, bytes: number) => void;
  setDataset: (s: Source, expected: number | undefined) => void;
  datasetDone: (s: Source) => void;
} {
  let records = 0;
  let bytes = 0;
  let done = 0;
  const started = new Set<string>();
  let current = '';
  // Summed over the datasets started so far; null once one of them has no known count.
  let expected: number | null = 0;
  const emit = (): void => opts.onProgress?.({
    dataset: current, datasetsDone: done, datasets, records, bytes,
    // Only once every dataset has started: a total that grows as datasets start would make the percent go back.
    expectedRecords: started.size === datasets ? expected : null,
  });
  return {
    onRecords: (r, b) => { records += r; bytes += b; emit(); },
    setDataset: (s, n) => {
      current = s.path;
      started.add(s.absPath);
      expected = expected === null || n === undefined ? null : expected + n;
      emit();
    },
    // A dataset that could not be opened never started: it adds no record to expect.
    datasetDone: (s) => { done++; started.add(s.absPath); emit(); },
  };
}

/**
 * The mean file's bytes: the per-pixel mean of the one dataset scanned, C×H×W. Refused (ScanError) when there is
 * not exactly one dataset, or its records do not all share one shape.
 */
function meanFileBytes(datasets: readonly ScannedDataset[], file: string): Uint8Array {
  const fail = (why: string): never => {
    throw new ScanError('SCAN_MEAN_UNAVAILABLE', `Cannot write the mean file ${file}: ${why}.`);
  };
  if (datasets.length !== 1) fail(`it is the mean of one dataset, and ${datasets.length} were scanned`);
  const d = datasets[0]!;
  const layouts = (d.report.elements ?? []).filter((e) => e.records > 0);
  const sums = Object.values(d.elements ?? {}).filter((a) => a.count > 0);
  if (layouts.length > 1) {
    fail(`records disagree on shape (${layouts.map((e) => `'${e.field}' ${e.shape.join('×')}: ${e.records}`).join(', ')})`);
  }
  if (sums.length !== 1 || layouts.length !== 1 || sums[0]!.count !== layouts[0]!.records) {
    fail('no record of the dataset holds only finite values of one shape, up to 3×256×256');
  }
  const mean = meanImage(sums[0]!, file.endsWith('.binaryproto') ? 'bgr' : 'rgb');
  return file.endsWith('.npy') ? encodeNpy(mean.data, mean.shape) : encodeBlobProto(mean.data, mean.shape[0]!, mean.shape[1]!, mean.shape[2]!);
}

/**
 * Bytes a source stores, from a stat or two (the file, or the files directly in a database folder): a cheap
 * first guess at its size, before it is opened. A list file counts as its own size (what it names is not known
 * yet), so a small list is decided again once its reader tells the real size.
 */
function storedBytes(source: Source): number {
  try {
    const st = statSync(source.absPath);
    if (!st.isDirectory()) return st.size;
    let n = 0;
    for (const e of readdirSync(source.absPath, { withFileTypes: true })) if (e.isFile()) n += statSync(path.join(source.absPath, e.name)).size;
    return n;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}
