/**
 * Coverage: what a scan checked, and what it read but could not check, by reason. One table of reasons, the
 * tally workers and finalize share, and the `unchecked` findings a dataset gets (one per reason).
 */
import { DEFAULT_SEVERITY } from './kinds.js';
import type { CoverageUnit, Finding, UncheckedGroup, UncheckedReason } from './types.js';
import { formatCount } from './numbers.js';

export const UNCHECKED_REASONS: Readonly<Record<UncheckedReason, { unit: CoverageUnit; description: string }>> = {
  opaque_value: {
    unit: 'record',
    description: 'values that are neither Caffe Datums nor encoded images nor pickles nanscan reads: raw bytes of unknown layout, JSON, pickled torch tensors or custom classes',
  },
  unsupported_image: { unit: 'record', description: 'images in a format no decoder here reads' },
  unsupported_type: {
    unit: 'field',
    description: 'arrays with no numeric content: strings, references, opaque types, scalars, zero-length arrays',
  },
  not_an_image: { unit: 'file', description: 'files in the image folder that are not images (a folder loader skips them)' },
  named_database: { unit: 'database', description: 'named databases that could not be read' },
};

/** Unchecked counts with a few examples each, by reason: built in workers, merged in finalize. */
export type UncheckedTally = Partial<Record<UncheckedReason, { count: number; examples: string[] }>>;

export function addUnchecked(
  into: UncheckedTally, reason: UncheckedReason, count: number, examples: readonly string[], maxExamples: number,
): void {
  const t = (into[reason] ??= { count: 0, examples: [] });
  t.count += count;
  for (const e of examples) {
    if (t.examples.length >= maxExamples) break;
    t.examples.push(e);
  }
}

/** The groups of a tally, in the table's order. */
export function uncheckedGroups(t: UncheckedTally): UncheckedGroup[] {
  const groups: UncheckedGroup[] = [];
  for (const reason of Object.keys(UNCHECKED_REASONS) as UncheckedReason[]) {
    const g = t[reason];
    if (g === undefined || g.count === 0) continue;
    const { unit, description } = UNCHECKED_REASONS[reason];
    groups.push({ reason, unit, count: g.count, description, examples: g.examples });
  }
  return groups;
}

const UNIT_WORDS: Readonly<Record<CoverageUnit, [string, string]>> = {
  record: ['record', 'records'],
  field: ['array', 'arrays'],
  file: ['file', 'files'],
  database: ['named database', 'named databases'],
};

/** "200 records", "1 array". */
export function countOf(unit: CoverageUnit, n: number): string {
  return `${formatCount(n)} ${UNIT_WORDS[unit][n === 1 ? 0 : 1]}`;
}

/** The `unchecked` finding of one group: a warning by default, so `--fail-on warning` fails a partial check. */
export function uncheckedFinding(g: UncheckedGroup, file: string): Finding {
  const eg = g.examples.length > 0 ? ` E.g. ${g.examples.slice(0, 3).join(', ')}.` : '';
  return {
    kind: 'unchecked', severity: DEFAULT_SEVERITY.unchecked, file, count: g.count,
    message: `${countOf(g.unit, g.count)} not checked: ${g.description}.${eg}`,
  };
}

/**
 * What "no problems" may claim: "No problems found." only when everything was checked; otherwise
 * "No problems found in 9,800 of 10,000 records; 200 not checked (why)", naming what else was not checked.
 */
export function cleanVerdict(records: number, checkedRecords: number, groups: readonly UncheckedGroup[]): string {
  if (groups.length === 0) return 'No problems found.';
  const byUnit = new Map<CoverageUnit, number>();
  for (const g of groups) byUnit.set(g.unit, (byUnit.get(g.unit) ?? 0) + g.count);
  const why = [...new Set(groups.map((g) => g.description))].join('; ');
  const others = [...byUnit].filter(([u]) => u !== 'record').map(([u, n]) => countOf(u, n)).join(', ');
  const unchecked = records - checkedRecords;
  const head = unchecked > 0
    ? `No problems found in ${formatCount(checkedRecords)} of ${countOf('record', records)}; ` +
      `${formatCount(unchecked)} not checked`
    : `No problems found in the ${countOf('record', records)} checked`;
  return `${head}${others === '' ? '' : `${unchecked > 0 ? ', and' : ';'} ${others} not checked`} (${why}).`;
}
