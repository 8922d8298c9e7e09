/** Label checks: per-record range (in workers, where keys are known) and the dataset histogram. */
import type { LabelReport } from '../types.js';
import { isLabelArray, type LabelArray } from './result.js';

/** Why a class label is out of range, or null when it is fine. */
export function labelRangeProblem(label: number, numClasses: number | null): string | null {
  if (label < 0) return `negative label ${label}`;
  if (numClasses !== null && label >= numClasses) return `label ${label}, not below --num-classes ${numClasses}`;
  return null;
}

/** Histogram of labels in storage order; `numClasses` is the option, or inferred as max label + 1. */
export function labelHistogram(labels: LabelArray | readonly LabelArray[], numClasses: number | null, batchSize: number): LabelReport {
  const counts = new Map<number, number>();
  let max = -1;
  let records = 0;
  for (const part of isLabelArray(labels) ? [labels] : labels) {
    records += part.length;
    for (let i = 0; i < part.length; i++) {
      const l = part[i]!;
      counts.set(l, (counts.get(l) ?? 0) + 1);
      if (l > max) max = l;
    }
  }
  const histogram: Record<string, number> = {};
  for (const k of [...counts.keys()].sort((a, b) => a - b)) histogram[String(k)] = counts.get(k)!;
  return {
    histogram,
    records,
    numClasses: numClasses ?? max + 1,
    numClassesSource: numClasses === null ? 'inferred' : 'option',
    batchSize,
  };
}
