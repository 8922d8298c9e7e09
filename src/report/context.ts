/**
 * What the CI reporters (JUnit, SARIF, GitHub annotations, HTML) share: the injected context that keeps them pure
 * and deterministic, the check family of each finding kind, and how a finding is located and described.
 */
import { DEFAULT_SEVERITY, FINDING_KINDS, KINDS, type CheckFamily } from '../kinds.js';
import type { DatasetReport, Finding, FindingKind, Severity } from '../types.js';

/**
 * The outside world a reporter may mention, injected so that output depends on its arguments alone
 * (tests pass fixed values; the CLI passes the real clock, `os.hostname()` and the scan's cwd).
 */
export interface ReportContext {
  now: () => Date;
  hostname: string;
  /** Absolute folder that dataset paths in the report are relative to (ScanOptions.cwd). */
  cwd: string;
}

export { CHECK_FAMILIES, type CheckFamily } from '../kinds.js';

/** The family of every finding kind, from the table of kinds. */
export const FAMILY_OF_KIND: Readonly<Record<FindingKind, CheckFamily>> = Object.fromEntries(
  FINDING_KINDS.map((k) => [k, KINDS[k].family]),
) as Record<FindingKind, CheckFamily>;

/** The locator of a finding as short phrases: "db train", "key 0001", "file a.h5", "line 3", "field data", "index 7", … */
export function locatorParts(f: Finding): string[] {
  const parts: string[] = [];
  if (f.database !== undefined) parts.push(`db ${f.database}`);
  if (f.key !== undefined) parts.push(`key ${f.key}`);
  if (f.file !== undefined) parts.push(`file ${f.file}`);
  if (f.line !== undefined) parts.push(`line ${f.line}`);
  if (f.field !== undefined) parts.push(`field ${f.field}`);
  if (f.index !== undefined) parts.push(`index ${f.index}`);
  if (f.page !== undefined) parts.push(`page ${f.page}`);
  if (f.offset !== undefined) parts.push(`offset ${f.offset}`);
  if (f.label !== undefined) parts.push(`label ${f.label}`);
  return parts;
}

/** "key 0001, index 3: 2 NaN in float_data …", or the bare message when the finding has no locator. */
export function describeFinding(f: Finding): string {
  const loc = locatorParts(f).join(', ');
  return loc === '' ? f.message : `${loc}: ${f.message}`;
}

/**
 * The file a finding points into, relative like the report's paths. List entries (`line` set) point at the list
 * file, which is the dataset itself: `file` then names the entry, and `line` is a line of the list.
 */
export function findingArtifact(d: DatasetReport, f: Finding): { path: string; line?: number } {
  if (f.line !== undefined) return { path: d.path, line: f.line };
  return { path: f.file ?? d.path };
}

/** Severity of a kind in a dataset: what its kept examples mostly say, else the default. */
export function kindSeverity(d: DatasetReport, kind: FindingKind): Severity {
  let errors = 0;
  let warnings = 0;
  for (const f of d.findings) {
    if (f.kind !== kind) continue;
    if (f.severity === 'error') errors++;
    else warnings++;
  }
  if (errors + warnings === 0) return DEFAULT_SEVERITY[kind];
  return errors >= warnings ? 'error' : 'warning';
}

export interface Remainder {
  kind: FindingKind;
  /** Exact count of the kind in the dataset. */
  total: number;
  /** Findings of the kind that the report holds as examples. */
  listed: number;
  /** total - listed: the findings capped away by --max-examples. */
  more: number;
  severity: Severity;
}

/** Kinds whose exact count exceeds the examples kept (findings are capped per kind; counts never are). */
export function remainders(d: DatasetReport): Remainder[] {
  const listed = new Map<FindingKind, number>();
  for (const f of d.findings) listed.set(f.kind, (listed.get(f.kind) ?? 0) + 1);
  const out: Remainder[] = [];
  for (const [kind, total] of Object.entries(d.findingCounts) as [FindingKind, number][]) {
    const n = listed.get(kind) ?? 0;
    if (total > n) out.push({ kind, total, listed: n, more: total - n, severity: kindSeverity(d, kind) });
  }
  return out;
}

/** A byte count for people: B, KiB, MiB, GiB, TiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}
