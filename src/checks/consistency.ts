/** Dataset-level shape consistency: records whose shape differs from the majority's. */
import type { ShapeTally } from './result.js';
import type { Finding } from '../types.js';
import type { FindingSink } from './findings.js';
import { DEFAULT_SEVERITY } from './severity.js';

/**
 * Reports every shape other than the most common one: `channel_mismatch` when the channel count differs,
 * else `size_mismatch`. Counts are exact; examples are the tallies' first locators.
 */
export function checkShapes(shapes: Record<string, ShapeTally>, sink: FindingSink): void {
  // Members of a sample (a WebDataset `jpg` beside a grayscale `seg.png`) are compared with their own kind only.
  const byField = new Map<string | undefined, ShapeTally[]>();
  for (const t of Object.values(shapes)) byField.set(t.field, [...(byField.get(t.field) ?? []), t]);
  for (const group of byField.values()) checkGroup(group, sink);
}

function checkGroup(all: ShapeTally[], sink: FindingSink): void {
  if (all.length < 2) return;
  // Majority by count; ties broken by the shape id so the result does not depend on partition order.
  const major = all.reduce((a, b) => (b.count > a.count || (b.count === a.count && id(b) < id(a)) ? b : a));
  const total = all.reduce((n, t) => n + t.count, 0);
  for (const t of all.sort((a, b) => (id(a) < id(b) ? -1 : 1))) {
    if (t === major) continue;
    const kind = t.channels !== major.channels ? 'channel_mismatch' : 'size_mismatch';
    const what = kind === 'channel_mismatch'
      ? `${t.channels} channel${t.channels === 1 ? '' : 's'} where ${major.count} of ${total} records have ${major.channels}`
      : `size ${t.height}×${t.width} (height×width) where ${major.count} of ${total} records are ${major.height}×${major.width}`;
    sink.count(kind, DEFAULT_SEVERITY[kind], t.count);
    for (const ex of t.examples) {
      const f: Finding = { kind, severity: DEFAULT_SEVERITY[kind], message: `Record has ${what}.`, ...ex };
      sink.keep(f);
    }
  }
}

function id(t: ShapeTally): string {
  return `${t.channels}×${t.height}×${t.width}`;
}
