/** Assembles the report object from finished datasets: shared by scan() and the shard merge. */
import { exitCodeFor } from '../options.js';
import { PACKAGE_VERSION } from '../package-root.js';
import { EXIT_INTERRUPTED, type DatasetReport, type FindingKind, type Report, type ReportOptions, type ReportSummary } from '../types.js';

export const VERSION: string = PACKAGE_VERSION;

/** Assembles the report from finished datasets. Shared by scan() and mergeReports(). */
export function buildReport(
  datasets: DatasetReport[], skipped: Report['skipped'], options: ReportOptions, started: Date, durationMs: number,
  kernel: Report['kernel'], complete: boolean,
): Report {
  const findingCounts: Partial<Record<FindingKind, number>> = {};
  let errors = 0;
  let warnings = 0;
  for (const d of datasets) {
    for (const [k, n] of Object.entries(d.findingCounts) as [FindingKind, number][]) findingCounts[k] = (findingCounts[k] ?? 0) + n;
    errors += d.severityCounts.error;
    warnings += d.severityCounts.warning;
  }
  const summary: ReportSummary = {
    datasets: datasets.length,
    records: datasets.reduce((n, d) => n + d.records, 0),
    bytes: datasets.reduce((n, d) => n + d.bytes, 0),
    errors, warnings, findingCounts: sortKeys(findingCounts), skipped: skipped.length,
  };
  return {
    tool: { name: 'nanscan', version: VERSION },
    schemaVersion: 1,
    startedAt: started.toISOString(),
    durationMs: Math.round(durationMs),
    options,
    summary,
    complete,
    datasets,
    skipped,
    kernel,
    // An interrupted scan never passes, whatever it found before the stop.
    exitCode: complete ? exitCodeFor(summary, options.failOn, options.maxWarnings) : EXIT_INTERRUPTED,
  };
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}
