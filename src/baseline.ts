/**
 * Baselines: how a team adopts the gate on a dataset that is already imperfect. `--write-baseline` records
 * today's findings by a stable fingerprint; `--baseline` then removes those from the report (and from the
 * exit code) and says how many it suppressed, so only new findings fail the build.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { ScanError } from './errors.js';
import { exitCodeFor, type FailOn } from './options.js';
import type { DatasetReport, Finding, FindingKind, Report } from './types.js';

/** node:crypto, loaded on first use: most scans have no baseline, and loading it is ~3 ms of every start-up. */
let crypto: typeof import('node:crypto') | undefined;
const loadCrypto = (): typeof import('node:crypto') => (crypto ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto'));

/**
 * A finding's identity across runs: kind, dataset and locator (database and key, file, field, row, label, page, offset).
 * Messages and counts are left out, so rewording or a different NaN count does not make a finding "new".
 */
export function findingFingerprint(datasetPath: string, f: Finding): string {
  const positional = f.key === undefined && (f.file === undefined || f.field !== undefined);
  // A record of an LMDB named database is told from a main-DB record with the same key by its database (only then:
  // fingerprints of findings without one are unchanged).
  const key = f.database === undefined ? f.key ?? null : [f.database, f.key ?? null];
  const id = [f.kind, datasetPath, key, f.file ?? null, f.field ?? null, positional ? f.index ?? null : null,
    f.label ?? null, f.page ?? null, f.offset ?? null];
  return loadCrypto().createHash('sha256').update(JSON.stringify(id)).digest('hex').slice(0, 32);
}

export interface Baseline {
  tool: 'nanscan';
  baselineVersion: 1;
  createdAt: string;
  /** fingerprint → how many findings carry it (a multiset: two identical findings need two entries). */
  findings: Record<string, { kind: FindingKind; dataset: string; count: number }>;
}

/**
 * While a baseline is written or applied, findings are not capped (up to this many per kind and dataset),
 * so that every finding can be recorded or matched.
 */
export const BASELINE_MAX_EXAMPLES = 1_000_000;

export function createBaseline(report: Report, now: Date): Baseline {
  const findings: Baseline['findings'] = {};
  for (const d of report.datasets) {
    for (const f of d.findings) {
      const fp = findingFingerprint(d.path, f);
      const e = (findings[fp] ??= { kind: f.kind, dataset: d.path, count: 0 });
      e.count++;
    }
  }
  return { tool: 'nanscan', baselineVersion: 1, createdAt: now.toISOString(), findings };
}

export function loadBaseline(file: string): Baseline {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ScanError('SCAN_INVALID_OPTION', `Cannot read the baseline '${file}': ${(e as Error).message}`);
  }
  const b = data as Partial<Baseline>;
  if (b.tool !== 'nanscan' || b.baselineVersion !== 1 || typeof b.findings !== 'object' || b.findings === null) {
    throw new ScanError('SCAN_INVALID_OPTION', `'${file}' is not a nanscan baseline (expected tool 'nanscan', baselineVersion 1, findings).`);
  }
  return b as Baseline;
}

/**
 * Removes the baseline's findings from `report` (in place), fixes counts, severities, the exit code, and
 * records what was suppressed in `report.baseline`.
 */
export function applyBaseline(report: Report, baseline: Baseline, file: string, failOn: FailOn, maxWarnings: number | null): void {
  const left = new Map(Object.entries(baseline.findings).map(([fp, e]) => [fp, e.count]));
  const byKind: Partial<Record<FindingKind, number>> = {};
  let suppressed = 0;
  for (const d of report.datasets) {
    d.findings = d.findings.filter((f) => {
      const fp = findingFingerprint(d.path, f);
      const n = left.get(fp) ?? 0;
      if (n === 0) return true;
      left.set(fp, n - 1);
      suppressed++;
      byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
      uncount(d, f);
      return false;
    });
  }
  recountSummary(report);
  // An interrupted scan keeps its interrupted exit code: suppressing known findings does not make it a pass.
  if (report.complete) report.exitCode = exitCodeFor(report.summary, failOn, maxWarnings);
  report.baseline = { file, suppressed, suppressedByKind: byKind };
}

function uncount(d: DatasetReport, f: Finding): void {
  const n = (d.findingCounts[f.kind] ?? 0) - 1;
  if (n > 0) d.findingCounts[f.kind] = n;
  else delete d.findingCounts[f.kind];
  d.severityCounts[f.severity]--;
}

/** Keeps the first `maxExamples` findings of each kind in every dataset (counts stay exact). */
export function capFindings(report: Report, maxExamples: number): void {
  for (const d of report.datasets) {
    const kept: Partial<Record<FindingKind, number>> = {};
    d.findings = d.findings.filter((f) => (kept[f.kind] = (kept[f.kind] ?? 0) + 1) <= maxExamples);
  }
  report.options.maxExamples = maxExamples;
}

function recountSummary(report: Report): void {
  const counts: Partial<Record<FindingKind, number>> = {};
  let errors = 0;
  let warnings = 0;
  for (const d of report.datasets) {
    for (const [k, n] of Object.entries(d.findingCounts) as [FindingKind, number][]) counts[k] = (counts[k] ?? 0) + n;
    errors += d.severityCounts.error;
    warnings += d.severityCounts.warning;
  }
  report.summary.findingCounts = Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)));
  report.summary.errors = errors;
  report.summary.warnings = warnings;
}

