/**
 * Splitting the user-key space into partitions (reader contract: each partition is read by a fresh reader in
 * another thread, from its JSON spec alone). Every partition merges all streams but only inside its range
 * [lo, hi), so merging stays exact. Cut points come from weights along the key space: each data block of each
 * table weighs its stored size at its index separator (the block's last possible key).
 */
import { compareBytes } from './keys.js';

/** Below this much data a further partition costs more (open, index reads, log replay) than it saves. */
export const MIN_PARTITION_BYTES = 256 * 1024;

export interface WeightPoint {
  /** Data up to and including this user key. */
  key: Uint8Array;
  weight: number;
}

/**
 * Up to `n − 1` strictly increasing cut keys so that the weight between cuts is about even. A cut is the point's
 * key followed by a zero byte: the smallest key after it, so that data at the point stays left of the cut.
 */
export function chooseCuts(points: WeightPoint[], n: number, minBytes = MIN_PARTITION_BYTES): Uint8Array[] {
  const total = points.reduce((s, p) => s + p.weight, 0);
  const parts = Math.max(1, Math.min(n, Math.floor(total / Math.max(1, minBytes))));
  if (parts <= 1 || points.length < 2) return [];
  points.sort((a, b) => compareBytes(a.key, b.key));
  const target = total / parts;
  const cuts: Uint8Array[] = [];
  let acc = 0;
  for (let i = 0; i < points.length - 1 && cuts.length < parts - 1; i++) {
    acc += points[i]!.weight;
    if (acc < target * (cuts.length + 1)) continue;
    const cut = new Uint8Array(points[i]!.key.length + 1);
    cut.set(points[i]!.key);
    const prev = cuts[cuts.length - 1];
    if (prev === undefined || compareBytes(prev, cut) < 0) cuts.push(cut);
  }
  return cuts;
}
