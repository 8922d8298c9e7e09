/** Label checks: per-record range (in workers, where keys are known) and the dataset histogram. */
import type { LabelReport } from '../types.js';
import { isLabelArray, type LabelArray } from './result.js';

/** Why a class label is out of range, or null when it is fine. */
export function labelRangeProblem(label: number, numClasses: number | null): string | null {
  if (label < 0) return `negative label ${label}`;
  if (numClasses !== null && label >= numClasses) return `label ${label}, not below --num-classes ${numClasses}`;
  return null;
}

/** Labels spanning at most this many values are counted in an array indexed by label − min, else in a Map. */
const DENSE_RANGE_LIMIT = 1 << 16;

/** Histogram of labels in storage order; `numClasses` is the option, or inferred as max label + 1. */
export function labelHistogram(labels: LabelArray | readonly LabelArray[], numClasses: number | null, batchSize: number): LabelReport {
  const parts = isLabelArray(labels) ? [labels] : labels;
  let records = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const part of parts) {
    records += part.length;
    const r = extent(part);
    if (r[0] < min) min = r[0];
    if (r[1] > max) max = r[1];
  }
  const histogram: Record<string, number> = {};
  if (records > 0 && max - min < DENSE_RANGE_LIMIT) {
    // 3,000,000 labels: ~5 ms, against ~70 with a Map.
    const counts = new Float64Array(max - min + 1);
    for (const part of parts) countInto(part, counts, min);
    for (let i = 0; i < counts.length; i++) if (counts[i]! > 0) histogram[String(i + min)] = counts[i]!;
  } else {
    const counts = new Map<number, number>();
    for (const part of parts) {
      for (let i = 0; i < part.length; i++) counts.set(part[i]!, (counts.get(part[i]!) ?? 0) + 1);
    }
    for (const k of [...counts.keys()].sort((a, b) => a - b)) histogram[String(k)] = counts.get(k)!;
  }
  return {
    histogram,
    records,
    numClasses: numClasses ?? Math.max(max, -1) + 1,
    numClassesSource: numClasses === null ? 'inferred' : 'option',
    batchSize,
  };
}

/** [min, max] of a non-empty part ([Infinity, -Infinity] when empty). A function per part: one loop per array type. */
function extent(part: LabelArray): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < part.length; i++) {
    const l = part[i]!;
    if (l < min) min = l;
    if (l > max) max = l;
  }
  return [min, max];
}

function countInto(part: LabelArray, counts: Float64Array, min: number): void {
  for (let i = 0; i < part.length; i++) counts[part[i]! - min]!++;
}
