/** Label batch math against independent computations: BigInt binomials, brute-force batches, simulation, enumeration. */
import { describe, expect, it } from 'vitest';
import { rng } from '../../scripts/lib/caffe.js';
import {
  analyzeLabelBatches, DEFAULT_MISSING_THRESHOLD, epochMissProbability, formatPercent, MAX_PRACTICAL_BATCH_SIZE,
  OrderedLabels, shuffledAbsentProbability, tallyLabels, TARGET_ALL_LABELS_PROBABILITY, withBatchAnalysis,
} from '../../src/checks/label-batches.js';
import type { LabelAnalysis, LabelRisk } from '../../src/checks/label-batches.js';
import { labelHistogram } from '../../src/checks/labels.js';
import { LabelBuffer, type LabelArray } from '../../src/checks/result.js';

// ---- independent references -------------------------------------------------------------------------------

/** Pascal's triangle in BigInt, rows 0..size: exact binomials with no shared code with the module. */
function pascal(size: number): bigint[][] {
  const rows: bigint[][] = [[1n]];
  for (let a = 1; a <= size; a++) {
    const prev = rows[a - 1]!;
    const row = [1n];
    for (let b = 1; b < a; b++) row.push(prev[b - 1]! + prev[b]!);
    row.push(1n);
    rows.push(row);
  }
  return rows;
}
const C = pascal(260);
const binom = (a: number, b: number): bigint => (b < 0 || b > a ? 0n : C[a]![b]!);

/** C(N−n, B)/C(N, B) exactly, with the module's convention that a batch larger than the dataset is the dataset. */
function exactAbsent(N: number, n: number, B: number): number {
  const b = Math.min(B, N);
  const num = binom(N - n, b);
  const den = binom(N, b);
  return Number(num) / Number(den);
}

/** The ratio of two positive BigInts as a double (correct to an ulp or two), by shifting to 64 significant bits. */
function ratio(num: bigint, den: bigint): number {
  const shift = den.toString(2).length - num.toString(2).length + 64;
  const q = shift >= 0 ? (num << BigInt(shift)) / den : num / (den << BigInt(-shift));
  return Number(q) * 2 ** -shift;
}

/** Product of the integers in [lo, hi), as a product tree (fast BigInt multiplication of balanced sizes). */
function rangeProduct(lo: number, hi: number): bigint {
  if (hi - lo <= 0) return 1n;
  if (hi - lo <= 16) {
    let p = 1n;
    for (let x = lo; x < hi; x++) p *= BigInt(x);
    return p;
  }
  const mid = Math.floor((lo + hi) / 2);
  return rangeProduct(lo, mid) * rangeProduct(mid, hi);
}

/** Log-space reference: Σ_{i<B} log1p(−n/(N−i)), Kahan-summed — a different route from the module's product. */
function logSpaceAbsent(N: number, n: number, B: number): number {
  if (n === 0) return 1;
  if (n + B > N) return 0;
  let sum = 0;
  let carry = 0;
  for (let i = 0; i < B; i++) {
    const y = Math.log1p(-n / (N - i)) - carry;
    const t = sum + y;
    carry = t - sum - y;
    sum = t;
  }
  return Math.exp(sum);
}

function relErr(got: number, want: number): number {
  if (want === 0) return got === 0 ? 0 : Infinity;
  return Math.abs(got - want) / Math.abs(want);
}

function shuffle(a: Int32Array, next: () => number): Int32Array {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

/** Labels with the given counts, label k repeated counts[k] times, in label order (sorted). */
function byCounts(counts: readonly number[]): Int32Array {
  const out = new Int32Array(counts.reduce((s, n) => s + n, 0));
  let at = 0;
  counts.forEach((n, k) => { out.fill(k, at, at + n); at += n; });
  return out;
}

const riskOf = (a: LabelAnalysis, label: number): LabelRisk => {
  const r = a.risks.find((x) => x.label === label);
  if (!r) throw new Error(`no risk for label ${label}`);
  return r;
};

// ---- shuffled ---------------------------------------------------------------------------------------------

describe('shuffledAbsentProbability', () => {
  it('equals C(N−n, B)/C(N, B) computed with BigInt for every N ≤ 60, every n and several B', () => {
    let worst = 0;
    for (let N = 1; N <= 60; N++) {
      const sizes = [...new Set([1, 2, 3, 5, 8, 13, 21, 34, N - 1, N, N + 1, N + 7].filter((b) => b >= 1))];
      for (let n = 0; n <= N; n++) {
        for (const B of sizes) {
          const want = exactAbsent(N, n, B);
          const got = shuffledAbsentProbability(N, n, B);
          const e = relErr(got, want);
          if (e > 1e-12) throw new Error(`N=${N} n=${n} B=${B}: got ${got}, want ${want}`);
          worst = Math.max(worst, e);
        }
      }
    }
    expect(worst).toBeLessThan(1e-12);
  });

  it('handles the ends: n = 0, n = N, B = 1, B > N', () => {
    expect(shuffledAbsentProbability(100, 0, 64)).toBe(1);
    expect(shuffledAbsentProbability(100, 100, 1)).toBe(0);
    expect(shuffledAbsentProbability(100, 3, 1)).toBeCloseTo(97 / 100, 15);
    expect(shuffledAbsentProbability(10, 1, 64)).toBe(0); // the batch is the whole dataset
    expect(shuffledAbsentProbability(10, 0, 64)).toBe(1);
  });

  it('is accurate to 1e-10 for N = 1e9 and B = 1e5 (exact BigInt product as reference)', () => {
    const N = 1_000_000_000;
    const B = 100_000;
    for (const n of [1, 7, 1000, 20_000]) {
      // Π_{j<n} (N−B−j)/(N−j) = [(N−B)!/(N−B−n)!] / [N!/(N−n)!]
      const want = ratio(rangeProduct(N - B - n + 1, N - B + 1), rangeProduct(N - n + 1, N + 1));
      expect(relErr(shuffledAbsentProbability(N, n, B), want)).toBeLessThan(1e-10);
    }
    // And in the opposite roles (few draws, many records), against the log-space sum.
    expect(relErr(shuffledAbsentProbability(N, 5_000_000, 300), logSpaceAbsent(N, 5_000_000, 300))).toBeLessThan(1e-10);
  });

  it('keeps tiny probabilities (far below 1e-300 stays finite, then 0 below the double range)', () => {
    const p = shuffledAbsentProbability(1_000_000, 500_000, 1000); // ≈ 2^-1000
    expect(p).toBeGreaterThan(0);
    expect(relErr(p, logSpaceAbsent(1_000_000, 500_000, 1000))).toBeLessThan(1e-9);
    expect(shuffledAbsentProbability(1_000_000, 900_000, 10_000)).toBe(0);
  });

  it('matches a seeded Monte-Carlo simulation of shuffled batches within 5 binomial standard errors', () => {
    const next = rng(2024);
    for (const [N, n, B] of [[1000, 10, 64], [5000, 50, 100]] as const) {
      const trials = 20_000;
      const pool = Int32Array.from({ length: N }, (_, i) => i); // records 0..n−1 carry the label
      let without = 0;
      for (let t = 0; t < trials; t++) {
        // Partial Fisher–Yates: the first B slots become a uniform B-subset.
        let hit = false;
        for (let i = 0; i < B; i++) {
          const j = i + Math.floor(next() * (N - i));
          const x = pool[j]!;
          pool[j] = pool[i]!;
          pool[i] = x;
          if (x < n) hit = true;
        }
        if (!hit) without++;
      }
      const p = shuffledAbsentProbability(N, n, B);
      const se = Math.sqrt((p * (1 - p)) / trials);
      expect(Math.abs(without / trials - p)).toBeLessThan(5 * se);
    }
  });

  it('is what analyzeLabelBatches reports per label, with floor(N/B)·P batches per epoch', () => {
    const labels = shuffle(byCounts([1, 2, 5, 12, 30]), rng(5)); // N = 50
    for (const B of [1, 4, 7, 50, 64]) {
      const a = analyzeLabelBatches(labels, { batchSize: B, numClasses: 7 }); // labels 5 and 6 never seen
      expect(a.risks.map((r) => r.label)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      for (const r of a.risks) {
        expect(relErr(r.shuffled, exactAbsent(50, r.count, B))).toBeLessThan(1e-12);
        expect(r.expectedBatchesWithout).toBeCloseTo(Math.floor(50 / B) * r.shuffled, 12);
      }
      expect(riskOf(a, 6).shuffled).toBe(1);
    }
  });
});

// ---- epoch probability ------------------------------------------------------------------------------------

/**
 * Exact P(some full batch of a shuffled epoch lacks the label) by dynamic programming over the records of the label
 * still unplaced, batch after batch, with hypergeometric transitions from BigInt binomials.
 */
function exactEpochMiss(N: number, n: number, B: number): number {
  const m = Math.floor(N / B);
  let dist = new Map<number, number>([[n, 1]]); // remaining labelled records → probability all batches so far held one
  let slots = N;
  for (let j = 0; j < m; j++) {
    const nextDist = new Map<number, number>();
    for (const [r, pr] of dist) {
      for (let c = 1; c <= Math.min(r, B); c++) {
        const h = ratio(binom(r, c) * binom(slots - r, B - c), binom(slots, B));
        if (h > 0) nextDist.set(r - c, (nextDist.get(r - c) ?? 0) + pr * h);
      }
    }
    dist = nextDist;
    slots -= B;
  }
  let allHold = 0;
  for (const pr of dist.values()) allHold += pr;
  return 1 - allHold;
}

describe('pEpochHasOne', () => {
  it('is a lower bound of the exact value, below the union bound, and exact when n < batches', () => {
    const N = 210;
    const B = 20; // 10 full batches and 10 records left over
    for (const n of [3, 9, 10, 12, 20, 40, 60, 90]) {
      const p = shuffledAbsentProbability(N, n, B);
      const got = epochMissProbability(p, 10, n);
      const exact = exactEpochMiss(N, n, B);
      expect(got).toBeLessThanOrEqual(exact + 1e-12);
      expect(exact).toBeLessThanOrEqual(Math.min(1, 10 * p) + 1e-12);
      if (n < 10) expect(got).toBe(1);
      // When a miss is rare the bound is close: within (m·p)² of the truth.
      if (10 * p < 0.1) expect(exact - got).toBeLessThan((10 * p) ** 2);
    }
  });

  it('the exact reference itself agrees with a simulation of whole epochs', () => {
    const next = rng(77);
    const N = 210;
    const B = 20;
    const n = 40;
    const epochs = 4000;
    const labels = new Int32Array(N);
    labels.fill(1, 0, n);
    let some = 0;
    for (let e = 0; e < epochs; e++) {
      shuffle(labels, next);
      for (let b = 0; b < 10; b++) {
        let hit = false;
        for (let i = b * B; i < (b + 1) * B; i++) if (labels[i] === 1) { hit = true; break; }
        if (!hit) { some++; break; }
      }
    }
    const exact = exactEpochMiss(N, n, B);
    const se = Math.sqrt((exact * (1 - exact)) / epochs);
    expect(Math.abs(some / epochs - exact)).toBeLessThan(5 * se);
  });

  it('is reported per label: 0 for a label in every batch, 1 for a never-seen one', () => {
    const a = analyzeLabelBatches(byCounts([500, 500]), { batchSize: 10, numClasses: 3 });
    expect(riskOf(a, 2).pEpochHasOne).toBe(1);
    const single = analyzeLabelBatches(new Int32Array(100), { batchSize: 10, numClasses: null });
    expect(riskOf(single, 0).pEpochHasOne).toBe(0);
  });
});

// ---- sequential -------------------------------------------------------------------------------------------

function bruteSequential(labels: Int32Array, B: number) {
  const full = Math.floor(labels.length / B);
  const all = [...new Set(labels)];
  const without = new Map<number, number>(all.map((l) => [l, 0]));
  let single = 0;
  for (let b = 0; b < full; b++) {
    const inBatch = new Set(labels.subarray(b * B, (b + 1) * B));
    if (inBatch.size === 1) single++;
    for (const l of all) if (!inBatch.has(l)) without.set(l, without.get(l)! + 1);
  }
  let changes = 0;
  for (let i = 1; i < labels.length; i++) if (labels[i] !== labels[i - 1]) changes++;
  return { full, without, single, changes };
}

describe('sequential batches', () => {
  it('count missing labels exactly as a brute-force loop over storage-order batches', () => {
    const next = rng(99);
    for (let t = 0; t < 60; t++) {
      // Runs of random labels with random lengths: a mix of sorted and mixed stretches.
      const N = Math.floor(next() * 600);
      const labels = new Int32Array(N);
      for (let i = 0; i < N;) {
        const run = 1 + Math.floor(next() ** 3 * 80);
        labels.fill(Math.floor(next() * 9) - 1, i, Math.min(N, i + run)); // includes −1 (an ignore label)
        i += run;
      }
      for (const B of [1, 3, 7, 64, Math.max(1, N), N + 1]) {
        const a = analyzeLabelBatches(labels, { batchSize: B, numClasses: null });
        const ref = bruteSequential(labels, B);
        expect(a.fullBatches).toBe(ref.full);
        expect(a.partialBatch).toBe(N - ref.full * B);
        expect(a.labelChanges).toBe(ref.changes);
        expect(a.singleLabelBatchShare).toBe(ref.full > 0 ? ref.single / ref.full : 0);
        expect(a.risks.map((r) => r.label)).toEqual([...ref.without.keys()].sort((x, y) => x - y));
        for (const r of a.risks) {
          expect(r.count).toBe(labels.filter((l) => l === r.label).length);
          expect(r.sequentialBatchesWithout).toBe(ref.without.get(r.label));
          expect(r.sequential).toBe(ref.full > 0 ? ref.without.get(r.label)! / ref.full : 0);
        }
        // Cut into parts at random places (batches then straddle parts): the same analysis.
        const cuts = [0, ...Array.from({ length: 3 }, () => Math.floor(next() * (N + 1))).sort((x, y) => x - y), N];
        expect(analyzeLabelBatches(cuts.slice(1).map((c, i) => labels.subarray(cuts[i], c)), { batchSize: B, numClasses: null })).toEqual(a);
      }
      // The histogram against a plain count; inferred classes = max label + 1, 0 when every label is negative.
      const h = labelHistogram(labels, null, 8);
      const byLabel = new Map<number, number>();
      for (const l of labels) byLabel.set(l, (byLabel.get(l) ?? 0) + 1);
      expect(Object.entries(h.histogram).map(([k, v]) => [Number(k), v]).sort((x, y) => x[0]! - y[0]!))
        .toEqual([...byLabel].sort((x, y) => x[0] - y[0]));
      expect(h.records).toBe(N);
      expect(h.numClasses).toBe(Math.max(-1, ...labels) + 1);
    }
  });

  it('tallies partitions fed as they finish, in any order, through dense ranges that widen and turn sparse', () => {
    const next = rng(123);
    for (let t = 0; t < 40; t++) {
      const N = Math.floor(next() * 900);
      const labels = new Int32Array(N);
      for (let i = 0; i < N;) {
        const run = 1 + Math.floor(next() ** 3 * 60);
        // Small labels first, then wider ones: parts widen the range, and past 65,536 values it becomes a Map.
        const wide = i > N / 2 && t % 2 === 0;
        labels.fill(wide ? Math.floor(next() * 5) * 40_000 - 70_000 : Math.floor(next() * 6), i, Math.min(N, i + run));
        i += run;
      }
      const cuts = [0, ...Array.from({ length: 7 }, () => Math.floor(next() * (N + 1))).sort((x, y) => x - y), N];
      const parts: LabelArray[] = cuts.slice(1).map((c, i) => labels.subarray(cuts[i], c));
      for (const B of [1, 4, 13, 64]) {
        const ordered = new OrderedLabels(B);
        // Finish order: a random permutation of the partitions; a failed one (null) is skipped by both.
        const failed = Math.floor(next() * parts.length);
        const order = parts.map((_, i) => i).sort(() => next() - 0.5);
        for (const i of order) ordered.add(i, i === failed ? null : parts[i]!);
        const kept = parts.filter((_, i) => i !== failed);
        const opts = { batchSize: B, numClasses: null };
        expect(analyzeLabelBatches(ordered.tally(parts.length), opts)).toEqual(analyzeLabelBatches(kept, opts));
        // And against the brute force over the labels joined.
        const joined = Int32Array.from(kept.flatMap((p) => Array.from(p)));
        const ref = bruteSequential(joined, B);
        const a = analyzeLabelBatches(tallyLabels(kept, B), opts);
        expect([a.fullBatches, a.labelChanges]).toEqual([ref.full, ref.changes]);
        for (const r of a.risks) expect(r.sequentialBatchesWithout).toBe(ref.without.get(r.label));
        expect(labelHistogram(tallyLabels(kept, B), null, B)).toEqual(labelHistogram(joined, null, B));
      }
    }
    // Asked before every partition is in: a bug in the caller, never a wrong tally.
    const o = new OrderedLabels(4);
    o.add(1, Int32Array.from([1, 2]));
    expect(() => o.tally(2)).toThrow(/0 fed and 1 waiting/);
  });

  it('leaves the partial last batch out of the fractions', () => {
    // Label 1 lives only in the partial batch: every full batch lacks it.
    const a = analyzeLabelBatches(Int32Array.from([0, 0, 0, 0, 0, 0, 1]), { batchSize: 3, numClasses: null });
    expect([a.fullBatches, a.partialBatch]).toEqual([2, 1]);
    expect(riskOf(a, 1).sequentialBatchesWithout).toBe(2);
    expect(riskOf(a, 1).sequential).toBe(1);
  });

  it('with fewer records than one batch: no full batch, and only never-seen labels are flagged', () => {
    const a = analyzeLabelBatches(Int32Array.from([0, 1, 2, 1, 0]), { batchSize: 64, numClasses: 4 });
    expect([a.fullBatches, a.partialBatch]).toEqual([0, 5]);
    for (const r of a.risks) expect([r.sequential, r.sequentialBatchesWithout]).toEqual([0, 0]);
    expect(a.risks.filter((r) => r.count > 0).every((r) => r.shuffled === 0)).toBe(true);
    expect(a.findings.map((f) => [f.kind, f.label])).toEqual([['label_missing_in_batches', 3]]);
  });

  it('maps labels outside a small range (sparse ids) the same way as dense ones', () => {
    const dense = shuffle(byCounts([40, 30, 20, 10]), rng(3));
    const sparse = dense.map((l) => [5, -2_000_000_000, 7, 2_000_000_000][l]!);
    const a = analyzeLabelBatches(dense, { batchSize: 8, numClasses: null });
    const b = analyzeLabelBatches(sparse, { batchSize: 8, numClasses: null });
    const key = (x: LabelAnalysis) => x.risks.map((r) => [r.count, r.sequentialBatchesWithout, r.shuffled]).sort();
    expect(key(b)).toEqual(key(a));
    expect(b.risks.map((r) => r.label)).toEqual([-2_000_000_000, 5, 7, 2_000_000_000]);
  });
});

// ---- label changes and sortedness ---------------------------------------------------------------------------

/** All distinct orderings of a multiset. */
function* permutations(counts: number[], prefix: number[] = []): Generator<number[]> {
  if (counts.every((c) => c === 0)) { yield prefix; return; }
  for (let k = 0; k < counts.length; k++) {
    if (counts[k] === 0) continue;
    counts[k]!--;
    prefix.push(k);
    yield* permutations(counts, prefix);
    prefix.pop();
    counts[k]!++;
  }
}

describe('label changes and sorted detection', () => {
  it('expectedChanges is the exact mean over all orderings, N·(1 − Σp²)', () => {
    for (const counts of [[3, 2, 1], [1, 4], [2, 2, 2, 1], [5, 1, 1], [3, 3]]) {
      let total = 0;
      let orderings = 0;
      for (const p of permutations([...counts])) {
        let c = 0;
        for (let i = 1; i < p.length; i++) if (p[i] !== p[i - 1]) c++;
        total += c;
        orderings++;
      }
      const a = analyzeLabelBatches(byCounts(counts), { batchSize: 2, numClasses: null });
      expect(a.expectedChanges).toBeCloseTo(total / orderings, 12);
    }
  });

  it('flags labels stored sorted, with a sorted_labels finding that says what to do', () => {
    for (const counts of [[1000, 1000, 1000, 1000, 1000], [5000, 300, 40, 3], [64, 64, 64, 64, 64, 64, 64, 64, 64, 64]]) {
      const a = analyzeLabelBatches(byCounts(counts), { batchSize: 64, numClasses: null });
      expect(a.sorted).toBe(true);
      const f = a.findings.filter((x) => x.kind === 'sorted_labels');
      expect(f).toHaveLength(1);
      expect(f[0]!.severity).toBe('warning');
      expect(f[0]!.message).toContain('looks sorted by label');
      expect(f[0]!.message).toContain('shuffle it when building (e.g. convert_imageset --shuffle) or shuffle in the data layer');
    }
  });

  it('flags short runs aligned with batches (every batch one label) through the single-label share', () => {
    const labels = new Int32Array(4000).map((_, i) => Math.floor(i / 4) % 2); // runs of 4, B = 4
    const a = analyzeLabelBatches(labels, { batchSize: 4, numClasses: null });
    expect(a.singleLabelBatchShare).toBe(1);
    expect(a.sorted).toBe(true);
  });

  it('does not flag shuffled labels, even very imbalanced ones', () => {
    for (const [seed, counts] of [[1, [1000, 1000, 1000, 1000]], [2, [9900, 100]], [3, [99_000, 10, 10, 10, 970]],
      [4, Array.from({ length: 100 }, (_, k) => 20 + k)], [5, [3, 4]]] as const) {
      for (const B of [1, 16, 64]) {
        const a = analyzeLabelBatches(shuffle(byCounts(counts), rng(seed)), { batchSize: B, numClasses: null });
        expect(a.sorted).toBe(false);
        expect(a.findings.some((f) => f.kind === 'sorted_labels')).toBe(false);
      }
    }
  });

  it('does not flag short runs: records duplicated in pairs, then shuffled pair by pair', () => {
    const pairs = shuffle(byCounts([500, 500, 500, 500, 500]), rng(21));
    const labels = new Int32Array(pairs.length * 2).map((_, i) => pairs[i >> 1]!);
    const a = analyzeLabelBatches(labels, { batchSize: 64, numClasses: null });
    expect(a.labelChanges / a.expectedChanges).toBeGreaterThan(0.3); // about half the changes of a shuffle
    expect(a.labelChanges / a.expectedChanges).toBeLessThan(0.7);
    expect(a.sorted).toBe(false);
  });

  it('does not flag two alternating labels or a single label', () => {
    const alternating = new Int32Array(10_000).map((_, i) => i % 2);
    const a = analyzeLabelBatches(alternating, { batchSize: 64, numClasses: null });
    expect(a.sorted).toBe(false);
    expect(a.labelChanges).toBe(9999);
    expect(a.findings).toEqual([]);
    const one = analyzeLabelBatches(new Int32Array(10_000).fill(3), { batchSize: 64, numClasses: null });
    expect(one.sorted).toBe(false);
    expect(one.singleLabelBatchShare).toBe(1);
    expect(one.findings).toEqual([]);
    expect(one.imbalanceRatio).toBe(1);
    expect(one.recommendedBatchSize).toBe(1);
  });
});

// ---- recommended batch size ---------------------------------------------------------------------------------

/** Union-bound criterion of the recommendation, from the log-space reference. */
const meets = (N: number, counts: readonly number[], B: number): boolean =>
  counts.reduce((s, n) => s + logSpaceAbsent(N, n, B), 0) <= 1 - TARGET_ALL_LABELS_PROBABILITY;

/** The same with BigInt-exact terms (small N). */
const meetsExact = (N: number, counts: readonly number[], B: number): boolean =>
  counts.reduce((s, n) => s + exactAbsent(N, n, B), 0) <= 1 - TARGET_ALL_LABELS_PROBABILITY;

describe('recommendedBatchSize', () => {
  it('is the smallest B meeting the criterion (checked independently at B and B − 1)', () => {
    for (const counts of [[3, 997, 1000, 2000, 3000, 3000], [1000, 1000, 1000, 1000, 1000], [40, 60, 900, 9000],
      Array.from({ length: 50 }, (_, k) => 100 + 13 * k)]) {
      const N = counts.reduce((s, n) => s + n, 0);
      const a = analyzeLabelBatches(shuffle(byCounts(counts), rng(counts.length)), { batchSize: 64, numClasses: null });
      const R = a.recommendedBatchSize;
      expect(R).not.toBeNull();
      expect(meets(N, counts, R!)).toBe(true);
      if (R! > 1) expect(meets(N, counts, R! - 1)).toBe(false);
      expect(a.blockingLabels).toEqual([]);
    }
    for (const counts of [[1, 5, 44], [2, 3, 55], [7, 7, 7, 7], [1, 59]]) {
      const N = counts.reduce((s, n) => s + n, 0);
      const R = analyzeLabelBatches(byCounts(counts), { batchSize: 4, numClasses: null }).recommendedBatchSize!;
      expect(meetsExact(N, counts, R)).toBe(true);
      if (R > 1) expect(meetsExact(N, counts, R - 1)).toBe(false);
    }
  });

  it('guarantees the target probability: the exact all-labels probability at R is at least 99%', () => {
    // Inclusion–exclusion over the label subsets (3 labels), exact with BigInt.
    const counts = [2, 3, 55];
    const N = 60;
    const R = analyzeLabelBatches(byCounts(counts), { batchSize: 4, numClasses: null }).recommendedBatchSize!;
    let allPresent = 0n;
    for (let mask = 0; mask < 8; mask++) {
      const removed = counts.reduce((s, n, k) => s + (mask & (1 << k) ? n : 0), 0);
      const sign = [0, 1, 2].filter((k) => mask & (1 << k)).length % 2 === 0 ? 1n : -1n;
      allPresent += sign * binom(N - removed, R);
    }
    expect(ratio(allPresent, binom(N, R))).toBeGreaterThanOrEqual(TARGET_ALL_LABELS_PROBABILITY);
  });

  it('is null, naming the blocking label, for a label with 1 record in 10^6', () => {
    const labels = new Int32Array(1_000_000).map((_, i) => i % 4);
    labels[123_456] = 4;
    const a = analyzeLabelBatches(labels, { batchSize: 64, numClasses: null });
    expect(a.recommendedBatchSize).toBeNull();
    expect(a.blockingLabels).toEqual([4]);
    // Indeed no B up to the cap works, and without label 4 the cap would.
    expect(meets(1_000_000, [1], MAX_PRACTICAL_BATCH_SIZE)).toBe(false);
  });

  it('is null when a class of --num-classes never occurs, and names it', () => {
    const a = analyzeLabelBatches(shuffle(byCounts([500, 500, 0, 500]), rng(8)), { batchSize: 64, numClasses: 4 });
    expect(a.recommendedBatchSize).toBeNull();
    expect(a.blockingLabels).toEqual([2]);
  });
});

// ---- findings ---------------------------------------------------------------------------------------------

describe('findings', () => {
  it('a balanced shuffled control gives none', () => {
    const a = analyzeLabelBatches(shuffle(byCounts(new Array(10).fill(1000)), rng(10)), { batchSize: 64, numClasses: 10 });
    expect(a.findings).toEqual([]);
  });

  it('a class with 3 of 10,000 records is flagged for B = 64, with both fractions in the message', () => {
    const labels = byCounts([1112, 1111, 1111, 1111, 1111, 1111, 1111, 1111, 1108, 3]);
    const a = analyzeLabelBatches(shuffle(labels, rng(12)), { batchSize: 64, numClasses: null });
    const missing = a.findings.filter((f) => f.kind === 'label_missing_in_batches');
    expect(missing.map((f) => f.label)).toEqual([9]);
    const r = riskOf(a, 9);
    expect(r.shuffled).toBeGreaterThan(0.9);
    expect(missing[0]!.severity).toBe('warning');
    expect(missing[0]!.message).toBe(`Label 9 (${formatPercent(3 / 10_000)} of records) is absent from ` +
      `${formatPercent(r.shuffled)} of shuffled batches of 64 and from ${formatPercent(r.sequential)} of the batches ` +
      'in storage order; a loss normalised by per-batch label counts divides by zero there.');
    expect(a.findings.some((f) => f.kind === 'sorted_labels')).toBe(false);
  });

  it('the same records sorted: sorted_labels plus every class missing from most storage-order batches', () => {
    const labels = byCounts([1112, 1111, 1111, 1111, 1111, 1111, 1111, 1111, 1108, 3]);
    const a = analyzeLabelBatches(labels, { batchSize: 64, numClasses: null });
    expect(a.findings.filter((f) => f.kind === 'sorted_labels')).toHaveLength(1);
    expect(a.findings.filter((f) => f.kind === 'label_missing_in_batches').map((f) => f.label))
      .toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a.singleLabelBatchShare).toBeGreaterThan(0.8);
  });

  it('flags exactly the labels reaching the threshold, in either fraction', () => {
    const labels = shuffle(byCounts([2000, 300, 60, 10]), rng(13));
    for (const threshold of [0.001, DEFAULT_MISSING_THRESHOLD, 0.5, 0.99]) {
      const a = analyzeLabelBatches(labels, { batchSize: 32, numClasses: null, missingThreshold: threshold });
      const want = a.risks.filter((r) => r.shuffled >= threshold || r.sequential >= threshold).map((r) => r.label);
      expect(a.findings.filter((f) => f.kind === 'label_missing_in_batches').map((f) => f.label)).toEqual(want);
    }
  });

  it('a never-seen class of --num-classes is absent from every batch and flagged', () => {
    const a = analyzeLabelBatches(shuffle(byCounts([500, 500]), rng(14)), { batchSize: 64, numClasses: 3 });
    const r = riskOf(a, 2);
    expect([r.count, r.shuffled, r.sequential, r.sequentialBatchesWithout]).toEqual([0, 1, 1, a.fullBatches]);
    const f = a.findings.find((x) => x.label === 2)!;
    expect(f.message).toContain('has no records, so it is absent from every batch');
  });

  it('an empty dataset: no batches, no findings', () => {
    const a = analyzeLabelBatches(new Int32Array(0), { batchSize: 64, numClasses: 3 });
    expect([a.fullBatches, a.partialBatch, a.labelChanges, a.expectedChanges]).toEqual([0, 0, 0, 0]);
    expect(a.findings).toEqual([]);
    expect(a.recommendedBatchSize).toBeNull();
  });

  it('rejects a batch size that is not a positive integer', () => {
    expect(() => analyzeLabelBatches(new Int32Array(3), { batchSize: 0, numClasses: null })).toThrow(RangeError);
    expect(() => analyzeLabelBatches(new Int32Array(3), { batchSize: 2.5, numClasses: null })).toThrow(RangeError);
  });

  it('computes the imbalance ratio over present labels', () => {
    const a = analyzeLabelBatches(byCounts([10, 0, 250, 40]), { batchSize: 8, numClasses: 4 });
    expect(a.imbalanceRatio).toBe(25);
  });
});

describe('withBatchAnalysis', () => {
  it('carries the histogram, both fractions of every label and the recommendation for the JSON', () => {
    const labels = shuffle(byCounts([3000, 3000, 3000, 997, 3]), rng(15));
    const a = analyzeLabelBatches(labels, { batchSize: 64, numClasses: null });
    const rep = withBatchAnalysis(labelHistogram(labels, null, 64), a);
    expect(rep.histogram).toEqual({ 0: 3000, 1: 3000, 2: 3000, 3: 997, 4: 3 });
    expect(Object.keys(rep.missingInBatches ?? {})).toEqual(['0', '1', '2', '3', '4']);
    expect(rep.missingInBatches!['4']!.shuffled).toBe(riskOf(a, 4).shuffled);
    expect(rep.missingInBatches!['4']!.sequential).toBe(riskOf(a, 4).sequential);
    expect(rep.recommendedBatchSize).toBe(a.recommendedBatchSize);
    expect(rep.missingThreshold).toBe(0.05);
    expect(JSON.parse(JSON.stringify(rep))).toEqual(rep); // plain, finite JSON
  });
});

describe('formatPercent', () => {
  it('never rounds a non-zero share to 0% or a share below 1 to 100%', () => {
    for (const x of [1e-12, 3e-4, 0.004, 0.0449, 0.5, 0.78, 0.985, 0.99, 0.9951, 0.99999, 1 - 1e-12]) {
      const s = formatPercent(x);
      expect(s).not.toBe('0%');
      expect(s).not.toBe('100%');
    }
    expect([formatPercent(0), formatPercent(1), formatPercent(0.004), formatPercent(0.78)]).toEqual(['0%', '100%', '0.4%', '78%']);
  });
});

describe('large input', () => {
  it('analyses 10^7 labels', () => {
    const N = 10_000_000;
    const labels = new Int32Array(N);
    for (let i = 0; i < N; i++) labels[i] = (i * 7919) % 1000;
    labels[N - 1] = 1000; // one rare label
    const a = analyzeLabelBatches(labels, { batchSize: 256, numClasses: null });
    expect(a.fullBatches).toBe(Math.floor(N / 256));
    expect(a.risks).toHaveLength(1001);
    expect(a.risks.reduce((s, r) => s + r.count, 0)).toBe(N);
    // One record: absent from a batch unless drawn, P = (N − B)/N exactly.
    expect(riskOf(a, 1000).shuffled).toBeCloseTo((N - 256) / N, 14);
    expect(riskOf(a, 1000).sequentialBatchesWithout).toBe(a.fullBatches); // it sits in the partial batch
  });
});

describe('labels in partitions', () => {
  it('LabelBuffer keeps every label in the narrowest array that holds it', () => {
    const push = (labels: readonly number[]): LabelArray => {
      const b = new LabelBuffer();
      for (const l of labels) b.push(l);
      expect(b.length).toBe(labels.length);
      return b.labels();
    };
    expect(push([0, 3, 255])).toEqual(Uint8Array.from([0, 3, 255]));
    expect(push([0, 256, 65535, 7])).toEqual(Uint16Array.from([0, 256, 65535, 7]));
    expect(push([1, 2, 3, 65536, 4])).toEqual(Int32Array.from([1, 2, 3, 65536, 4]));
    expect(push([5, -1, 2])).toEqual(Int32Array.from([5, -1, 2]));
    expect(push([])).toEqual(new Uint8Array(0));
    // Growing past the first 1,024 and widening after it, in either order.
    const many = Array.from({ length: 5000 }, (_, i) => (i < 3000 ? i % 200 : i % 300));
    const got = push(many);
    expect(got).toBeInstanceOf(Uint16Array);
    expect([...got]).toEqual(many);
    const late = [...Array.from({ length: 2000 }, (_, i) => i % 7), -3];
    expect([...push(late)]).toEqual(late);
  });

  it('the analysis and histogram of the partitions\' arrays equal those of the labels joined, for any split', () => {
    const next = rng(11);
    for (const [counts, B] of [[[500, 300, 7, 0, 41], 64], [[1, 1], 3], [[2000], 32], [[3, 900, 900], 1]] as const) {
      for (const sorted of [true, false]) {
        const labels = sorted ? byCounts(counts) : shuffle(byCounts(counts), next);
        // Sparse labels too (a Map instead of offsets).
        for (const all of [labels, labels.map((l) => (l === 2 ? 1_000_000_000 : l))]) {
          const whole = analyzeLabelBatches(all, { batchSize: B, numClasses: null });
          const cuts = [0, ...Array.from({ length: 4 }, () => Math.floor(next() * (all.length + 1))).sort((a, b) => a - b), all.length];
          const parts = cuts.slice(1).map((c, i) => all.subarray(cuts[i], c)); // some empty
          expect(analyzeLabelBatches(parts, { batchSize: B, numClasses: null })).toEqual(whole);
          expect(labelHistogram(parts, null, B)).toEqual(labelHistogram(all, null, B));
          // As workers return them: each part in the narrowest array that holds it.
          const narrow = parts.map((p) => (p.every((l) => l >= 0 && l < 256) ? Uint8Array.from(p) : p));
          expect(analyzeLabelBatches(narrow, { batchSize: B, numClasses: null })).toEqual(whole);
          expect(labelHistogram(narrow, null, B)).toEqual(labelHistogram(all, null, B));
        }
      }
    }
    expect(analyzeLabelBatches([], { batchSize: 4, numClasses: 2 })).toEqual(analyzeLabelBatches(new Int32Array(0), { batchSize: 4, numClasses: 2 }));
  });
});
