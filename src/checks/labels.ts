/** Label checks: per-record range (in workers, where keys are known) and the dataset histogram. */
import type { LabelReport } from '../types.js';
import type { LabelArray } from './result.js';
import { isTally, tallyLabels, type LabelTally } from './label-batches.js';

/** Why a class label is out of range, or null when it is fine. */
export function labelRangeProblem(label: number, numClasses: number | null): string | null {
  if (label < 0) return `negative label ${label}`;
  if (numClasses !== null && label >= numClasses) return `label ${label}, not below --num-classes ${numClasses}`;
  return null;
}

/**
 * Histogram of labels in storage order (one array, parts, or their LabelTally); `numClasses` is the option, or
 * inferred as max label + 1.
 */
export function labelHistogram(labels: LabelArray | readonly LabelArray[] | LabelTally, numClasses: number | null, batchSize: number): LabelReport {
  const t = isTally(labels) ? labels : tallyLabels(labels, batchSize);
  const histogram: Record<string, number> = {};
  for (const e of t.labels) histogram[String(e.label)] = e.count;
  const max = t.labels.length > 0 ? t.labels[t.labels.length - 1]!.label : -1;
  return {
    histogram,
    records: t.records,
    numClasses: numClasses ?? Math.max(max, -1) + 1,
    numClassesSource: numClasses === null ? 'inferred' : 'option',
    batchSize,
  };
}
