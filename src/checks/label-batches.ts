/**
 * Label distribution analysis for losses normalised per batch (docs/DESIGN.md, "Label math"): how often a
 * label is missing from shuffled batches and from the real batches of storage order, the batch size that makes
 * every label appear, and whether the dataset is stored sorted by label. One pass over the labels in storage
 * order (LabelPass, fed a partition at a time), then pure functions of its tally; O(N) time, memory
 * proportional to the number of distinct labels, never to N.
 */
import type { Finding, LabelReport, MissingInBatches } from '../types.js';
import { DEFAULT_SEVERITY } from './severity.js';
import { formatPercent, labelAtRisk, MAX_PRACTICAL_BATCH_SIZE, TARGET_ALL_LABELS_PROBABILITY } from '../label-rules.js';
import { formatCount } from '../numbers.js';
import { isLabelArray, type LabelArray } from './result.js';

export { formatPercent, labelAtRisk, MAX_PRACTICAL_BATCH_SIZE, TARGET_ALL_LABELS_PROBABILITY } from '../label-rules.js';

/** A label missing from at least 5% of batches makes a per-batch normalised loss NaN several times an epoch. */
export const DEFAULT_MISSING_THRESHOLD = 0.05;

/**
 * Sorted-label rule, part 1: a shuffled order has N·(1 − Σp²) label changes on average with a spread of about
 * its square root, so fewer than a fifth of that is a run structure, not chance, once the expectation is at least
 * MIN_EXPECTED_CHANGES (below that, a handful of rare records can sit together by luck).
 */
const SORTED_CHANGE_RATIO = 0.2;
const MIN_EXPECTED_CHANGES = 10;
/**
 * Sorted-label rule, part 2: most storage-order batches hold a single label although a shuffle would give at
 * most half as many such batches (a dominant label makes single-label batches common even when shuffled, which
 * is imbalance, not sortedness). Needs a few batches before a share means anything.
 */
const SINGLE_LABEL_SHARE_LIMIT = 0.5;
const SINGLE_LABEL_SHARE_FACTOR = 2;
const MIN_BATCHES_FOR_SHARE_RULE = 8;
/** Labels spanning at most this many values are indexed directly (3 Float64Arrays of this size: 1.5 MiB). */
const DENSE_RANGE_LIMIT = 1 << 16;

/** Products are renormalised by 2^512 so a probability far below the double range keeps its exponent. */
const RESCALE = 2 ** 512;
const RESCALE_BELOW = 2 ** -512;
/** Below 2^-1100 the result is 0 in double precision (the smallest subnormal is 2^-1074): stop early. */
const UNDERFLOW_EXPONENT = -1100;

export interface LabelBatchOptions {
  batchSize: number;
  numClasses: number | null;
  /** fraction that triggers label_missing_in_batches; default 0.05 */
  missingThreshold?: number;
  /**
   * Whether a data layer reads the records in storage order (Caffe's LMDB/LevelDB/HDF5 layers, list files).
   * Default true. False for image folders: their loaders shuffle and the sorted listing is ours, so only the
   * shuffled risk counts and the dataset is never called sorted.
   */
  inStorageOrder?: boolean;
}


export interface LabelRisk {
  label: number;
  count: number;
  share: number;
  /** P(a shuffled batch of B has no record of the label) = C(N−n, B) / C(N, B). */
  shuffled: number;
  /** floor(N/B) · shuffled: full batches of a shuffled epoch expected to lack the label. */
  expectedBatchesWithout: number;
  /**
   * P(at least one full batch of a shuffled epoch lacks the label). A lower bound, exact at the ends: see
   * epochMissProbability.
   */
  pEpochHasOne: number;
  /** Fraction of the full storage-order batches without the label (0 when there is no full batch). */
  sequential: number;
  sequentialBatchesWithout: number;
}

export interface LabelAnalysis {
  /** One per label in [0, numClasses) when numClasses is given (count 0 included) and one per label seen; by label. */
  risks: LabelRisk[];
  fullBatches: number;
  /** Records in the partial last batch of storage order, not counted in the sequential fractions. */
  partialBatch: number;
  /**
   * Smallest B for which the union bound guarantees P(every label in a shuffled batch) ≥ 0.99; null when no B up
   * to min(N, MAX_PRACTICAL_BATCH_SIZE) does (or N = 0).
   */
  recommendedBatchSize: number | null;
  /**
   * When recommendedBatchSize is null: the fewest labels whose removal would let the largest practical B succeed,
   * worst first; otherwise empty.
   */
  blockingLabels: number[];
  /** max count / min count over the labels present (1 when fewer than two are present). */
  imbalanceRatio: number;
  /** Adjacent storage-order pairs with different labels. */
  labelChanges: number;
  /** The same count averaged over all orderings of the records: exactly N·(1 − Σ p_k²). */
  expectedChanges: number;
  singleLabelBatchShare: number;
  sorted: boolean;
  /** Whether storage order was analysed as the order a data layer reads (LabelBatchOptions.inStorageOrder). */
  inStorageOrder: boolean;
  findings: Finding[];
  // Beyond the brief's interface, for the renderer and the JSON:
  batchSize: number;
  records: number;
  /** Expected share of single-label full batches in a shuffled order: Σ_k C(n_k, B) / C(N, B). */
  shuffledSingleLabelShare: number;
}

/**
 * P(a batch of B records drawn without replacement from N lacks all n records of a label) = C(N−n, B) / C(N, B).
 *
 * Expanding the binomials, C(N−n, B)/C(N, B) = Π_{i<B} (N−n−i)/(N−i) = Π_{j<n} (N−B−j)/(N−j): the expression is
 * symmetric in n and B, so the loop runs min(n, B) times. Every factor is a ratio of integers below 2^53, hence
 * one correctly rounded division, and the running product is renormalised by 2^512 with the exponent kept apart
 * (a base-2 log-space product with an exact integer exponent): no lgamma cancellation, no underflow, relative
 * error at most 2·min(n, B)·2^-53 (2e-11 for 10^5 factors).
 *
 * B > N: a batch cannot hold more than the dataset, so the batch is the whole dataset (B = N): a label with any
 * record is never missing. n = 0: always missing. N = 0: there is nothing to draw; 1 (nothing is present).
 */
export function shuffledAbsentProbability(N: number, n: number, B: number): number {
  if (n <= 0 || N <= 0) return 1;
  const b = Math.min(B, N);
  if (b <= 0) return 1;
  if (n + b > N) return 0;
  const steps = Math.min(n, b);
  const other = Math.max(n, b);
  let mantissa = 1;
  let exponent = 0;
  for (let j = 0; j < steps; j++) {
    mantissa *= (N - other - j) / (N - j);
    if (mantissa < RESCALE_BELOW) {
      mantissa *= RESCALE;
      exponent -= 512;
      if (exponent < UNDERFLOW_EXPONENT) return 0;
    }
  }
  // Two steps so that 2^exponent itself never underflows before the mantissa is applied.
  return exponent === 0 ? mantissa : mantissa * 2 ** Math.max(exponent, -1000) * 2 ** Math.min(exponent + 1000, 0);
}

/**
 * P(at least one of the m full batches of a shuffled epoch lacks a label with n records), given the
 * single-batch probability p.
 *
 * The counts of the label in the m batches (and the leftover) are multivariate hypergeometric, which is
 * negatively associated (Joag-Dev & Proschan 1983), so P(every batch holds the label) ≤ Π P(batch holds it)
 * = (1−p)^m. Hence 1 − (1−p)^m is a lower bound on the true probability; m·p is an upper bound (union bound).
 * The two agree to O((mp)²) when it is small, which is when the number matters. We report the lower bound
 * (computed as −expm1(m·log1p(−p)) for accuracy at small p), replaced by exact values at the ends: 1 when the label
 * has fewer records than there are batches (pigeonhole), 1 when p = 1, 0 when p = 0 or there is no full batch.
 * An exact value (inclusion–exclusion over batches) is an alternating sum that cancels catastrophically in double.
 */
export function epochMissProbability(p: number, batches: number, n: number): number {
  if (batches <= 0 || p <= 0) return 0;
  if (p >= 1 || n < batches) return 1;
  return -Math.expm1(batches * Math.log1p(-p));
}

/** Where the storage-order pass stands, carried from one partition's labels to the next. */
interface OrderPass {
  prev: number;
  changes: number;
  /** Index of the current full batch, and how many labels of it have been seen. */
  batch: number;
  inBatch: number;
  /** Distinct labels in the current batch so far. */
  distinct: number;
  singleLabelBatches: number;
}

/** Widens `range` to the labels of `part`. (A function per part: V8 keeps one loop per array type.) */
function extentOf(part: LabelArray, range: { min: number; max: number }): void {
  let { min, max } = range;
  for (let k = 0; k < part.length; k++) {
    const l = part[k]!;
    if (l < min) min = l;
    else if (l > max) max = l;
  }
  range.min = min;
  range.max = max;
}

/**
 * The storage-order pass over one part when labels map to slots by offset (`l - min`). Labels inside full
 * batches are walked a batch (or the part of one this array holds) at a time, so the per-label loop has no
 * batch bookkeeping: 3,000,000 labels in ~10 ms instead of ~35 with one loop for both.
 */
function densePass(part: LabelArray, min: number, counts: Float64Array, batchesWith: Int32Array, lastBatch: Int32Array,
  p: OrderPass, B: number, fullBatches: number): void {
  const n = part.length;
  let prev = p.prev;
  let changes = p.changes;
  let k = 0;
  while (k < n && p.batch < fullBatches) {
    const stop = Math.min(n, k + (B - p.inBatch));
    const b = p.batch;
    let distinct = p.distinct;
    p.inBatch += stop - k;
    for (; k < stop; k++) {
      const l = part[k]!;
      if (l !== prev) {
        changes++;
        prev = l;
      }
      const s = l - min;
      counts[s]!++;
      if (lastBatch[s] !== b) {
        lastBatch[s] = b;
        batchesWith[s]!++;
        distinct++;
      }
    }
    p.distinct = distinct;
    if (p.inBatch === B) {
      if (distinct === 1) p.singleLabelBatches++;
      p.batch++;
      p.inBatch = 0;
      p.distinct = 0;
    }
  }
  // Past the last full batch: counts and changes only.
  for (; k < n; k++) {
    const l = part[k]!;
    if (l !== prev) {
      changes++;
      prev = l;
    }
    counts[l - min]!++;
  }
  p.prev = prev;
  p.changes = changes;
}

/**
 * What the label analysis needs of a dataset's labels, from one pass in storage order: each label's count and
 * how many full storage-order batches of `batchSize` hold it, label changes, single-label batches.
 */
export interface LabelTally {
  batchSize: number;
  records: number;
  /** Every label seen, ascending; `with`: the full storage-order batches that hold it. */
  labels: { label: number; count: number; with: number }[];
  changes: number;
  singleLabelBatches: number;
  fullBatches: number;
  /** Records after the last full batch. */
  partialBatch: number;
}

/**
 * The storage-order pass, fed a partition's labels at a time in storage order (scan.ts feeds partitions as they
 * finish, in order, and drops their labels: memory holds the partitions that finished early, not every label).
 * Every batch that fills is counted as full; the labels of the last, partial batch are taken back out at the end,
 * so the tally is that of one pass over all the labels with N known in advance. Slots are offsets from the
 * smallest label while the labels span at most DENSE_RANGE_LIMIT values (growing with each part that widens
 * the span), else a Map (out-of-range ids).
 */
export class LabelPass {
  private records = 0;
  private min = 0;
  private max = -1;
  private sparse: Map<number, number> | null = null;
  private counts = new Float64Array(0);
  // Batch indexes and counts of batches stay below N / B < 2^31.
  private batchesWith = new Int32Array(0);
  private lastBatch = new Int32Array(0);
  private readonly p: OrderPass = { prev: 0, changes: 0, batch: 0, inBatch: 0, distinct: 0, singleLabelBatches: 0 };

  constructor(readonly batchSize: number) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  }

  add(part: LabelArray): void {
    if (part.length === 0) return;
    if (this.records === 0) this.p.prev = part[0]!;
    this.records += part.length;
    if (this.sparse === null) {
      const range = { min: part[0]!, max: part[0]! };
      extentOf(part, range);
      if (this.max < this.min) this.resize(range.min, range.max);
      else if (range.min < this.min || range.max > this.max) this.resize(Math.min(range.min, this.min), Math.max(range.max, this.max));
    }
    if (this.sparse === null) densePass(part, this.min, this.counts, this.batchesWith, this.lastBatch, this.p, this.batchSize, Infinity);
    else this.sparsePass(part);
  }

  tally(): LabelTally {
    const p = this.p;
    const labels: LabelTally['labels'] = [];
    // The partial batch's labels were counted as in a batch: not a full one.
    const partial = p.inBatch > 0 ? p.batch : -1;
    const entry = (label: number, s: number): void => {
      if (this.counts[s]! > 0) labels.push({ label, count: this.counts[s]!, with: this.batchesWith[s]! - (this.lastBatch[s] === partial ? 1 : 0) });
    };
    if (this.sparse === null) {
      for (let s = 0; s < this.counts.length; s++) entry(s + this.min, s);
    } else {
      for (const [l, s] of this.sparse) entry(l, s);
      labels.sort((a, b) => a.label - b.label);
    }
    return {
      batchSize: this.batchSize, records: this.records, labels, changes: p.changes,
      singleLabelBatches: p.singleLabelBatches, fullBatches: p.batch, partialBatch: p.inBatch,
    };
  }

  /** Slots for the labels of [min, max]: by offset while the span allows, else the labels seen so far into a Map. */
  private resize(min: number, max: number): void {
    if (max - min + 1 <= DENSE_RANGE_LIMIT) {
      this.realloc(max - min + 1, this.max < this.min ? 0 : this.min - min);
      this.min = min;
      this.max = max;
      return;
    }
    const { counts, batchesWith, lastBatch } = this;
    const sparse = new Map<number, number>();
    for (let s = 0; s < counts.length; s++) {
      if (counts[s]! === 0) continue;
      const t = sparse.size;
      sparse.set(s + this.min, t);
      counts[t] = counts[s]!;
      batchesWith[t] = batchesWith[s]!;
      lastBatch[t] = lastBatch[s]!;
    }
    this.sparse = sparse;
  }

  /** The pass when slots come from the Map; a new label takes the next slot (arrays doubled when full). */
  private sparsePass(part: LabelArray): void {
    const sparse = this.sparse!;
    const p = this.p;
    const B = this.batchSize;
    for (let k = 0; k < part.length; k++) {
      const l = part[k]!;
      if (l !== p.prev) {
        p.changes++;
        p.prev = l;
      }
      let s = sparse.get(l);
      if (s === undefined) {
        s = sparse.size;
        sparse.set(l, s);
        if (s === this.counts.length) this.realloc(Math.max(16, 2 * s), 0);
        this.counts[s] = 0;
        this.batchesWith[s] = 0;
        this.lastBatch[s] = -1;
      }
      this.counts[s]!++;
      if (this.lastBatch[s] !== p.batch) {
        this.lastBatch[s] = p.batch;
        this.batchesWith[s]!++;
        p.distinct++;
      }
      if (++p.inBatch === B) {
        if (p.distinct === 1) p.singleLabelBatches++;
        p.batch++;
        p.inBatch = 0;
        p.distinct = 0;
      }
    }
  }

  /** Slot arrays of `size` slots, the current ones copied in from slot `at` (new slots: nothing seen). */
  private realloc(size: number, at: number): void {
    const counts = new Float64Array(size);
    const batchesWith = new Int32Array(size);
    const lastBatch = new Int32Array(size).fill(-1);
    counts.set(this.counts, at);
    batchesWith.set(this.batchesWith, at);
    lastBatch.set(this.lastBatch, at);
    this.counts = counts;
    this.batchesWith = batchesWith;
    this.lastBatch = lastBatch;
  }
}

/**
 * A LabelPass fed partitions in partition order as they finish, in any order: a partition's labels wait only
 * until every earlier partition's have been fed.
 */
export class OrderedLabels {
  private readonly pass: LabelPass;
  private next = 0;
  private readonly waiting = new Map<number, LabelArray | null>();

  constructor(batchSize: number) {
    this.pass = new LabelPass(batchSize);
  }

  /** Partition `index` finished with these labels (null: it failed). The pass holds what it needs of them after. */
  add(index: number, labels: LabelArray | null): void {
    this.waiting.set(index, labels);
    while (this.waiting.has(this.next)) {
      const part = this.waiting.get(this.next);
      if (part) this.pass.add(part);
      this.waiting.delete(this.next++);
    }
  }

  /**
   * The tally over partitions 0 … n−1; every one of them must have been added (a RangeError otherwise: a bug in
   * the caller, which the scan reports as an internal failure, never as a finding).
   */
  tally(n: number): LabelTally {
    if (this.next !== n || this.waiting.size > 0) {
      throw new RangeError(`label tally of ${n} partitions asked with ${this.next} fed and ${this.waiting.size} waiting`);
    }
    return this.pass.tally();
  }
}

export function isTally(v: LabelArray | readonly LabelArray[] | LabelTally): v is LabelTally {
  return !ArrayBuffer.isView(v) && !Array.isArray(v);
}

/** One LabelPass over the parts, in order. */
export function tallyLabels(labels: LabelArray | readonly LabelArray[], batchSize: number): LabelTally {
  const pass = new LabelPass(batchSize);
  for (const part of isLabelArray(labels) ? [labels] : labels) pass.add(part);
  return pass.tally();
}

/**
 * The analysis of a dataset's labels, given in storage order as one array, as parts (a partition's each), or as
 * the tally of a LabelPass over them.
 */
export function analyzeLabelBatches(labels: LabelArray | readonly LabelArray[] | LabelTally, options: LabelBatchOptions): LabelAnalysis {
  const B = options.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`batch size must be a positive integer, got ${B}`);
  const numClasses = options.numClasses;
  if (numClasses !== null && (!Number.isInteger(numClasses) || numClasses < 0)) {
    throw new RangeError(`number of classes must be a non-negative integer, got ${numClasses}`);
  }
  const threshold = options.missingThreshold ?? DEFAULT_MISSING_THRESHOLD;
  const inStorageOrder = options.inStorageOrder ?? true;
  const t = isTally(labels) ? labels : tallyLabels(labels, B);
  if (t.batchSize !== B) throw new RangeError(`labels tallied for batches of ${t.batchSize}, analysed for ${B}`);
  const N = t.records;
  const { fullBatches, partialBatch, changes, singleLabelBatches } = t;

  // The labels to report: every one seen, plus the never-seen classes of [0, numClasses).
  const entries = [...t.labels];
  if (numClasses !== null) {
    const present = new Set(t.labels.map((e) => e.label));
    for (let c = 0; c < numClasses; c++) if (!present.has(c)) entries.push({ label: c, count: 0, with: 0 });
  }
  entries.sort((a, b) => a.label - b.label);

  // Labels with equal counts share every shuffled number: compute each distinct count once.
  const absentByCount = new Map<number, number>();
  const absent = (n: number): number => {
    let p = absentByCount.get(n);
    if (p === undefined) { p = shuffledAbsentProbability(N, n, B); absentByCount.set(n, p); }
    return p;
  };
  const risks: LabelRisk[] = entries.map((e) => {
    const shuffled = absent(e.count);
    const without = fullBatches - e.with;
    return {
      label: e.label,
      count: e.count,
      share: N > 0 ? e.count / N : 0,
      shuffled,
      expectedBatchesWithout: fullBatches * shuffled,
      pEpochHasOne: epochMissProbability(shuffled, fullBatches, e.count),
      sequential: fullBatches > 0 ? without / fullBatches : 0,
      sequentialBatchesWithout: without,
    };
  });

  const present = risks.filter((r) => r.count > 0);
  let maxCount = 0;
  let minCount = Infinity;
  // 1 − Σp² written as Σ p_k(1 − p_k): no cancellation when one label dominates.
  let mixed = 0;
  let shuffledSingle = 0;
  for (const r of present) {
    maxCount = Math.max(maxCount, r.count);
    minCount = Math.min(minCount, r.count);
    mixed += r.count * (N - r.count);
    // C(n, B)/C(N, B) is the absent probability of the N − n other records.
    if (r.count >= B && fullBatches > 0) shuffledSingle += shuffledAbsentProbability(N, N - r.count, B);
  }
  // Exact mean over uniformly random orderings: each of the N−1 adjacent pairs differs with probability
  // 1 − Σ n_k(n_k−1)/(N(N−1)), and (N−1)·that = N − 1 − (Σn_k² − N)/N = N·(1 − Σp_k²). (The i.i.d. figure
  // (N−1)·(1 − Σp²) is smaller by 1 − Σp²; with-replacement sampling ignores that a record cannot follow itself.)
  const expectedChanges = N > 0 ? mixed / N : 0;
  const singleLabelBatchShare = fullBatches > 0 ? singleLabelBatches / fullBatches : 0;
  const imbalanceRatio = present.length >= 2 ? maxCount / minCount : 1;

  const sorted = inStorageOrder && present.length >= 2 && (
    (expectedChanges >= MIN_EXPECTED_CHANGES && changes < SORTED_CHANGE_RATIO * expectedChanges) ||
    (fullBatches >= MIN_BATCHES_FOR_SHARE_RULE && singleLabelBatchShare > SINGLE_LABEL_SHARE_LIMIT &&
      singleLabelBatchShare > SINGLE_LABEL_SHARE_FACTOR * shuffledSingle));

  const { recommendedBatchSize, blockingLabels } = recommendBatchSize(N, risks);

  const findings: Finding[] = [];
  // With no records there are no batches to be missing from (an empty dataset is reported elsewhere).
  if (N > 0) {
    for (const r of risks) {
      if (!labelAtRisk(r, threshold, inStorageOrder)) continue;
      findings.push({
        kind: 'label_missing_in_batches',
        severity: DEFAULT_SEVERITY.label_missing_in_batches,
        message: missingMessage(r, B, fullBatches),
        label: r.label,
      });
    }
    if (sorted) {
      findings.push({
        kind: 'sorted_labels',
        severity: DEFAULT_SEVERITY.sorted_labels,
        message: `The dataset looks sorted by label: ${num(changes)} label changes in storage order where a ` +
          `shuffled order would give about ${num(Math.round(expectedChanges))}` +
          (fullBatches > 0
            ? `, and ${formatPercent(singleLabelBatchShare)} of the batches of ${B} hold a single label`
            : '') +
          '; shuffle it when building (e.g. convert_imageset --shuffle) or shuffle in the data layer.',
      });
    }
  }

  return {
    risks, fullBatches, partialBatch, recommendedBatchSize, blockingLabels, imbalanceRatio,
    labelChanges: changes, expectedChanges, singleLabelBatchShare, sorted, inStorageOrder, findings,
    batchSize: B, records: N, shuffledSingleLabelShare: shuffledSingle,
  };
}

/**
 * Smallest B with P(every label in a shuffled batch) ≥ 0.99, via the union bound: P(some label missing) ≤
 * Σ_k P_k(B), so Σ_k P_k(B) ≤ 0.01 guarantees it. The bound is nearly tight here: absence events of different
 * labels are negatively correlated (P_kl ≤ P_k·P_l, a batch without k is drawn from the other labels), so by
 * Bonferroni the true miss probability is at least Σ P_k − (Σ P_k)²/2, i.e. the bound overstates it by at most
 * 5·10^-5 at the threshold. Every P_k(B) falls as B grows, so the sum is monotone and a bisection finds the
 * smallest B in O(log B) evaluations. Exact inclusion–exclusion over label subsets would be exponential.
 */
function recommendBatchSize(
  N: number,
  risks: readonly LabelRisk[],
): { recommendedBatchSize: number | null; blockingLabels: number[] } {
  if (N === 0 || risks.length === 0) return { recommendedBatchSize: null, blockingLabels: [] };
  const budget = 1 - TARGET_ALL_LABELS_PROBABILITY;
  // Rarest first: they dominate the sum, so a failing B is usually known after a few terms.
  const counts = [...new Set(risks.map((r) => r.count))].sort((a, b) => a - b);
  const multiplicity = new Map<number, number>();
  for (const r of risks) multiplicity.set(r.count, (multiplicity.get(r.count) ?? 0) + 1);
  const fails = (b: number): boolean => {
    let sum = 0;
    let rest = risks.length;
    for (const n of counts) {
      const p = shuffledAbsentProbability(N, n, b);
      // Every later label is absent at most as often as this one: stop once the rest cannot tip the sum.
      if (sum + p * rest <= budget) return false;
      const k = multiplicity.get(n)!;
      sum += p * k;
      rest -= k;
      if (sum > budget) return true;
    }
    return false;
  };
  const cap = Math.min(N, MAX_PRACTICAL_BATCH_SIZE);
  if (fails(cap)) {
    const atCap = risks.map((r) => ({ label: r.label, p: shuffledAbsentProbability(N, r.count, cap) }))
      .sort((a, b) => b.p - a.p || a.label - b.label);
    let rest = atCap.reduce((s, x) => s + x.p, 0);
    const blockingLabels: number[] = [];
    for (const x of atCap) {
      if (rest <= budget) break;
      blockingLabels.push(x.label);
      rest -= x.p;
    }
    return { recommendedBatchSize: null, blockingLabels };
  }
  let lo = 1;
  let hi = cap; // invariant: fails(hi) is false; every b < lo fails
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (fails(mid)) lo = mid + 1;
    else hi = mid;
  }
  return { recommendedBatchSize: hi, blockingLabels: [] };
}

function missingMessage(r: LabelRisk, B: number, fullBatches: number): string {
  const consequence = 'a loss normalised by per-batch label counts divides by zero there.';
  if (r.count === 0) return `Label ${r.label} has no records, so it is absent from every batch; ${consequence}`;
  const order = fullBatches > 0
    ? `and from ${formatPercent(r.sequential)} of the batches in storage order`
    : `(storage order holds no full batch of ${B})`;
  return `Label ${r.label} (${formatPercent(r.share)} of records) is absent from ${formatPercent(r.shuffled)} of ` +
    `shuffled batches of ${B} ${order}; ${consequence}`;
}


const num = formatCount;

/**
 * Merges an analysis into the histogram report for the JSON: `missingInBatches` holds every label's numbers,
 * so reports (and the terminal chart) can be rendered from the JSON alone.
 */
export function withBatchAnalysis(report: LabelReport, a: LabelAnalysis, missingThreshold = DEFAULT_MISSING_THRESHOLD): LabelReport {
  const missing: Record<string, MissingInBatches> = {};
  for (const r of a.risks) {
    missing[String(r.label)] = {
      shuffled: r.shuffled, sequential: r.sequential, expectedBatchesWithout: r.expectedBatchesWithout,
      pEpochHasOne: r.pEpochHasOne, sequentialBatchesWithout: r.sequentialBatchesWithout,
    };
  }
  return {
    ...report,
    missingInBatches: missing,
    missingThreshold,
    recommendedBatchSize: a.recommendedBatchSize,
    blockingLabels: a.blockingLabels,
    imbalanceRatio: a.imbalanceRatio,
    fullBatches: a.fullBatches,
    partialBatch: a.partialBatch,
    labelChanges: a.labelChanges,
    expectedLabelChanges: a.expectedChanges,
    singleLabelBatchShare: a.singleLabelBatchShare,
    sortedLabels: a.sorted,
    ...(a.inStorageOrder ? {} : { inStorageOrder: false }),
  };
}
