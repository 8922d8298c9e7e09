/**
 * The rules of the label analysis that its renderers need too (the chart, the HTML report): when a label is at
 * risk, the probability target and the batch-size cap of the recommendation, and how shares are printed. Shared
 * by checks/label-batches.ts, which computes the analysis, and report/, which renders it from the report alone.
 */

/** The recommended batch size makes every label appear in a shuffled batch at least this often. */
export const TARGET_ALL_LABELS_PROBABILITY = 0.99;
/**
 * Largest batch size worth recommending: 32k is the top of published large-batch training (LARS, ImageNet);
 * a dataset that needs more for every label to appear needs rebalancing, not a bigger batch.
 */
export const MAX_PRACTICAL_BATCH_SIZE = 32_768;

/**
 * The one rule for a label "at risk" (a label_missing_in_batches finding, a ⚠ in the chart): missing from at
 * least `threshold` of shuffled batches, or of the storage-order batches when a data layer reads that order.
 */
export function labelAtRisk(r: { shuffled: number; sequential: number }, threshold: number, inStorageOrder: boolean): boolean {
  return r.shuffled >= threshold || (inStorageOrder && r.sequential >= threshold);
}

/**
 * A fraction as a percentage people read correctly: whole percents in the middle, two significant digits for
 * small shares, and never "100%" or "0%" for a value that is not exactly that.
 */
export function formatPercent(x: number): string {
  if (!(x > 0)) return '0%';
  if (x >= 1) return '100%';
  const v = x * 100;
  if (v < 1e-4) return '<0.0001%';
  if (v < 1) return `${Number(v.toPrecision(2))}%`;
  if (v <= 99) return `${Math.round(v)}%`;
  for (let d = 1; d <= 4; d++) {
    const s = Number(v.toFixed(d));
    if (s < 100) return `${s}%`;
  }
  return '>99.99%';
}
