/** A finding collector that keeps exact counts per kind and severity, and the first `maxExamples` findings of each kind. */
import type { Finding, FindingKind, Severity } from '../types.js';

export type SeverityCounts = Record<Severity, number>;

/** Per-kind severity from configuration: `off` drops the kind entirely (not counted, not kept). */
export type SeverityOverrides = Partial<Record<FindingKind, Severity | 'off'>>;

export class FindingSink {
  readonly counts: Partial<Record<FindingKind, number>> = {};
  readonly severities: SeverityCounts = { error: 0, warning: 0 };
  readonly findings: Finding[] = [];
  private readonly kept: Partial<Record<FindingKind, number>> = {};

  constructor(private readonly maxExamples: number, private readonly overrides: SeverityOverrides = {}) {}

  /** Records one finding: counted always, kept while its kind is under the cap; configured severity wins. */
  add(finding: Finding): void {
    const o = this.overrides[finding.kind];
    if (o === 'off') return;
    const f = o === undefined || o === finding.severity ? finding : { ...finding, severity: o };
    this.count(f.kind, f.severity, 1);
    this.keep(f);
  }

  /** Adds `n` occurrences of a kind without an example (the examples are kept separately, or capped). */
  count(kind: FindingKind, severity: Severity, n: number): void {
    const o = this.overrides[kind];
    if (o === 'off') return;
    this.counts[kind] = (this.counts[kind] ?? 0) + n;
    this.severities[o ?? severity] += n;
  }

  /** Merges another sink's exact counts (its examples are kept one by one by the caller). */
  mergeCounts(counts: Partial<Record<FindingKind, number>>, severities: SeverityCounts): void {
    for (const [kind, n] of Object.entries(counts) as [FindingKind, number][]) {
      this.counts[kind] = (this.counts[kind] ?? 0) + n;
    }
    this.severities.error += severities.error;
    this.severities.warning += severities.warning;
  }

  /** Keeps `finding` as an example if its kind is under the cap; does not count it. */
  keep(finding: Finding): void {
    const o = this.overrides[finding.kind];
    if (o === 'off') return;
    if (o !== undefined && o !== finding.severity) finding = { ...finding, severity: o };
    const kept = this.kept[finding.kind] ?? 0;
    if (kept < this.maxExamples) {
      this.kept[finding.kind] = kept + 1;
      this.findings.push(finding);
    }
  }
}
