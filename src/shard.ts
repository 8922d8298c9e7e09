/**
 * Sharded scans: `--shard i/n` reads a contiguous run of every dataset's partitions, and `mergeReports()`
 * joins the shard reports into the report a single scan would give. Exactness comes from merging *before*
 * the dataset-level analysis: each shard report carries its raw partition results (exact counts, capped
 * examples, value sums, shape tallies and labels in storage order), and the merge runs the very same
 * finalizeDataset() a single scan runs, on the partitions of all shards in order.
 */
import { createRequire } from 'node:module';
import type { SeverityOverrides } from './checks/findings.js';
import { ScanError } from './errors.js';
import type { FailOn } from './options.js';
import { finalizeDataset } from './finalize.js';
import type { PartitionResult } from './checks/result.js';
import type { Source, SourceFormat, SourceInfo } from './readers/types.js';
import { buildReport, VERSION } from './report/build.js';
import { SHARD_FORMAT, type DatasetReport, type Finding, type Report, type ReportOptions } from './types.js';

/** node:zlib, loaded on first use: only shard reports need it, and loading it is part of every start-up. */
let zlib: typeof import('node:zlib') | undefined;
const loadZlib = (): typeof import('node:zlib') => (zlib ??= createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib'));

export interface ShardSpec {
  /** 1-based, as in `--shard 2/8`. */
  index: number;
  count: number;
}

/** What a shard report holds for one dataset, beyond its own (partial) DatasetReport. */
export interface ShardDataset {
  path: string;
  format: SourceFormat;
  /** Partitions of the whole dataset, and the run [from, to) this shard read. */
  partitions: number;
  covered: [number, number];
  info: SourceInfo | null;
  findings: Finding[];
  /** Encoded PartitionResults of the covered partitions, in order; null for a partition that failed. */
  results: (EncodedPartition | null)[];
  durationMs: number;
}

type JsonStats = Omit<PartitionResult['stats'], 'min' | 'max'> & { min: number | null; max: number | null };

/** A PartitionResult with its labels as base64 of raw-deflated little-endian int32s, and JSON-safe stats. */
export type EncodedPartition = Omit<PartitionResult, 'labels' | 'stats' | 'labelStats'> & {
  labels: string;
  stats: JsonStats;
  labelStats?: JsonStats;
};

/** ±Infinity (the bounds of no values) does not survive JSON: null stands for it. */
const jsonStats = (s: PartitionResult['stats']): JsonStats =>
  ({ ...s, min: s.values === 0 ? null : s.min, max: s.values === 0 ? null : s.max });
const fromJsonStats = (s: JsonStats): PartitionResult['stats'] => ({ ...s, min: s.min ?? Infinity, max: s.max ?? -Infinity });

/**
 * The gate of the merged report. Shards are usually scanned with `--fail-on none` (every shard uploads its
 * report); the merge gates on the whole. Unset, the first shard's options are kept.
 */
export interface MergeGate {
  failOn?: FailOn;
  maxWarnings?: number | null;
}

/** The payload of a shard report, which only this module reads (its layout is this version's). */
function shardDatasets(r: Report): ShardDataset[] {
  return (r.shard?.datasets ?? []) as ShardDataset[];
}

export function parseShard(text: string): ShardSpec {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !(index >= 1 && index <= count)) {
    throw new ScanError('SCAN_INVALID_OPTION', `Expected i/n with 1 ≤ i ≤ n for --shard but received '${text}'.`);
  }
  return { index, count };
}

/** Partitions [from, to) of shard `s`: contiguous, in order, covering 0..total once across all shards. */
export function shardRange(total: number, s: ShardSpec): [number, number] {
  return [Math.floor((total * (s.index - 1)) / s.count), Math.floor((total * s.index) / s.count)];
}

/** The finalizeDataset options a report's echoed options stand for. */
export function finalizeOptions(o: ReportOptions): {
  maxExamples: number; numClasses: number | null; batchSize: number; severity: SeverityOverrides; missingThreshold: number;
} {
  return { maxExamples: o.maxExamples, numClasses: o.numClasses, batchSize: o.batchSize, severity: o.severity, missingThreshold: o.missingThreshold };
}

export function encodeShardDataset(
  source: Source, partitions: number, covered: [number, number], info: SourceInfo | null, findings: Finding[],
  results: (PartitionResult | null)[], durationMs: number,
): ShardDataset {
  return {
    path: source.path, format: source.format, partitions, covered, info, findings,
    results: results.map((r) => (r === null ? null : encodePartition(r))), durationMs,
  };
}

function encodePartition(r: PartitionResult): EncodedPartition {
  // Shards hold labels as int32 whatever array the partition used.
  const wide = r.labels instanceof Int32Array ? r.labels : Int32Array.from(r.labels.subarray(0, r.labelled));
  const labels = Buffer.from(wide.buffer, wide.byteOffset, r.labelled * 4);
  const { labelStats, ...rest } = r;
  return {
    ...rest,
    labels: loadZlib().deflateRawSync(labels).toString('base64'),
    stats: jsonStats(r.stats),
    ...(labelStats === undefined ? {} : { labelStats: jsonStats(labelStats) }),
  };
}

function decodePartition(e: EncodedPartition): PartitionResult {
  const raw = loadZlib().inflateRawSync(Buffer.from(e.labels, 'base64'));
  const labels = new Int32Array(raw.length / 4);
  Buffer.from(labels.buffer).set(raw);
  const { labelStats, ...rest } = e;
  return {
    ...rest, labels, stats: fromJsonStats(e.stats),
    ...(labelStats === undefined ? {} : { labelStats: fromJsonStats(labelStats) }),
  };
}

/**
 * Joins shard reports into one report, equal to a single scan of the same input except for timings.
 * @throws ScanError `SCAN_INVALID_OPTION` when the reports are not shards of one scan: different versions,
 * options or inputs, a missing shard or one given twice.
 */
export function mergeReports(
  reports: readonly Report[], names: readonly string[] = reports.map((_, i) => `#${i + 1}`), gate: MergeGate = {},
): Report {
  const fail = (msg: string): never => { throw new ScanError('SCAN_INVALID_OPTION', `Cannot merge: ${msg}`); };
  if (reports.length === 0) fail('no report given.');
  reports.forEach((r, i) => {
    if (r.shard === undefined) fail(`${names[i]} is not a shard report (scan with --shard i/n).`);
    if (r.shard!.format !== SHARD_FORMAT) fail(`${names[i]} holds shard data of format ${String(r.shard!.format)}; this nanscan reads ${SHARD_FORMAT}.`);
    if (r.tool.version !== VERSION) fail(`${names[i]} was written by nanscan ${r.tool.version}; this is ${VERSION}.`);
  });
  const first = reports[0]!;
  const count = first.shard!.count;
  const seen = new Map<number, string>();
  reports.forEach((r, i) => {
    const s = r.shard!;
    if (s.count !== count) fail(`${names[i]} is shard ${s.index}/${s.count}, but ${names[0]} is one of ${count}.`);
    if (seen.has(s.index)) fail(`shard ${s.index}/${count} is given twice (${seen.get(s.index)} and ${names[i]}).`);
    seen.set(s.index, names[i]!);
    // The gate (failOn, maxWarnings) does not shape results: the merge sets its own.
    const { workers: _w, failOn: _f, maxWarnings: _m, ...a } = r.options;
    const { workers: _w0, failOn: _f0, maxWarnings: _m0, ...b } = first.options;
    if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${names[i]} was scanned with other options than ${names[0]}.`);
    const inputs = (x: Report): string => JSON.stringify(shardDatasets(x).map((d) => [d.path, d.format]));
    if (inputs(r) !== inputs(first)) fail(`${names[i]} scanned other datasets than ${names[0]}.`);
  });
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !seen.has(i));
  if (missing.length > 0) fail(`shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${count}`).join(', ')} missing.`);

  const ordered = [...reports].sort((a, b) => a.shard!.index - b.shard!.index);
  const datasets: DatasetReport[] = shardDatasets(first).map((d0, di) => {
    const parts = ordered.map((r) => shardDatasets(r)[di]!);
    const total = Math.max(...parts.map((p) => p.partitions));
    const results: (PartitionResult | null)[] = new Array<PartitionResult | null>(total).fill(null);
    const filled = new Array<boolean>(total).fill(false);
    const findings: Finding[] = [];
    for (const p of parts) {
      if (p.partitions !== total && p.partitions !== 0) fail(`the shards planned ${d0.path} differently (${p.partitions} vs ${total} parts): was it changed between the shard scans?`);
      p.results.forEach((r, k) => {
        const at = p.covered[0] + k;
        if (filled[at]) fail(`part ${at + 1} of ${d0.path} is covered by two shards.`);
        filled[at] = true;
        results[at] = r === null ? null : decodePartition(r);
      });
    }
    // Findings about the whole dataset (it could not be opened) are met by every shard: keep one copy.
    const seenFinding = new Set<string>();
    for (const p of parts) {
      for (const f of p.findings) {
        const k = JSON.stringify(f);
        if (!seenFinding.has(k)) { seenFinding.add(k); findings.push(f); }
      }
    }
    const uncovered = filled.findIndex((x) => !x);
    if (uncovered >= 0) fail(`part ${uncovered + 1} of ${d0.path} is covered by no shard.`);
    const info = parts.find((p) => p.info !== null)?.info ?? null;
    return finalizeDataset({
      source: { format: d0.format, path: d0.path, absPath: d0.path }, info, findings, results,
      durationMs: parts.reduce((n, p) => n + p.durationMs, 0), aborted: ordered.some((r) => !r.complete),
      ...finalizeOptions(first.options),
    });
  });
  const started = ordered.map((r) => r.startedAt).sort()[0]!;
  const options: ReportOptions = {
    ...first.options,
    ...(gate.failOn !== undefined ? { failOn: gate.failOn } : {}),
    ...(gate.maxWarnings !== undefined ? { maxWarnings: gate.maxWarnings } : {}),
  };
  return buildReport(datasets, first.skipped, options, new Date(started),
    Math.max(...ordered.map((r) => r.durationMs)), first.kernel, ordered.every((r) => r.complete));
}
