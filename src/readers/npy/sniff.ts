/**
 * Recognising NumPy files cheaply (discovery calls these on every candidate file: a few bytes read, never a
 * throw), and the rule that pairs a loose `.npy` label array with its features.
 *
 * Label rule for loose files (conservative: features are never taken for labels):
 * - a file whose stem passes isLabelName (`labels.npy`, `y.npy`, `target.npy`) holds labels;
 * - `y_<s>.npy` holds labels when `x_<s>.npy` (any case: `X_train.npy` / `y_train.npy`) is beside it, and
 *   `<p>_labels.npy` / `<p>_label.npy` / `<p>_y.npy` / `<p>_targets.npy` when `<p>.npy`, `<p>_data.npy`,
 *   `<p>_x.npy` or `<p>_features.npy` is beside it; without its partner such a file is features;
 * - a label file is read with its features (one dataset, like HDF5's `data` + `label`) when it has exactly one
 *   partner: the named partner above, or for a stem-label file (`labels.npy`) the folder's only other `.npy`.
 *   Otherwise it is a dataset of its own whose values are checked as labels.
 */
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import path from 'node:path';
import { OPEN_FLAGS } from '../files.js';
import { DEFAULT_LABEL_NAMES, isLabelName } from '../labels.js';

export const NPY_EXTENSION = /\.npy$/i;
export const NPZ_EXTENSION = /\.npz$/i;

function head(file: string, n: number): Buffer | null {
  let fd: number;
  try {
    fd = openSync(file, OPEN_FLAGS);
  } catch {
    return null;
  }
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Whether `file` starts with the `.npy` magic `\x93NUMPY`. */
export function isNpyFile(file: string): boolean {
  const b = head(file, 6);
  return b !== null && b.length === 6 && b.equals(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]));
}

/** Whether `file` is named `.npz` and starts like a zip (a local header, or an empty archive's end record). */
export function isNpzFile(file: string): boolean {
  if (!NPZ_EXTENSION.test(file)) return false;
  const b = head(file, 4);
  return b !== null && b.length === 4 && (b.readUInt32LE(0) === 0x04034b50 || b.readUInt32LE(0) === 0x06054b50);
}

const stemOf = (name: string): string => name.replace(NPY_EXTENSION, '');

/** Suffixes that make `<p>_<suffix>` a label array when a features array `<p>…` is beside it. */
const LABEL_SUFFIXES = ['labels', 'label', 'y', 'targets'];
const FEATURE_SUFFIXES = ['', '_data', '_x', '_features'];

/** The stems (lower case) a label stem's features may have, for the named pairings. */
function featureStems(labelStem: string): string[] {
  const s = labelStem.toLowerCase();
  const out: string[] = [];
  if (s.startsWith('y_') && s.length > 2) out.push(`x_${s.slice(2)}`);
  for (const suf of LABEL_SUFFIXES) {
    if (s.endsWith(`_${suf}`) && s.length > suf.length + 1) {
      const p = s.slice(0, -suf.length - 1);
      for (const f of FEATURE_SUFFIXES) out.push(`${p}${f}`);
    }
  }
  return out;
}

export interface NpyPairing {
  /** Absolute path of a label file → absolute path of the features it is read with. */
  labelOf: Map<string, string>;
  /** Absolute paths of label files (paired or not). */
  labels: Set<string>;
}

/** Pairs the loose `.npy` files of one folder (names, not paths) by the label rule above. */
export function pairNpyFiles(dir: string, names: readonly string[], labelNames: readonly string[] = DEFAULT_LABEL_NAMES): NpyPairing {
  const npy = names.filter((n) => NPY_EXTENSION.test(n));
  const byStem = new Map<string, string[]>();
  for (const n of npy) {
    const k = stemOf(n).toLowerCase();
    byStem.set(k, [...(byStem.get(k) ?? []), n]);
  }
  const out: NpyPairing = { labelOf: new Map(), labels: new Set() };
  const partnered = new Set<string>();
  for (const n of npy) {
    const stem = stemOf(n);
    const candidates = featureStems(stem).flatMap((f) => byStem.get(f) ?? []).filter((f) => f !== n);
    const stemLabel = isLabelName(stem, labelNames);
    if (!stemLabel && candidates.length === 0) continue;
    out.labels.add(path.join(dir, n));
    const others = npy.filter((o) => o !== n && !isLabelName(stemOf(o), labelNames));
    const partner = candidates.length === 1 ? candidates[0] : candidates.length === 0 && stemLabel && others.length === 1 ? others[0] : undefined;
    if (partner !== undefined && !partnered.has(partner)) {
      partnered.add(partner);
      out.labelOf.set(path.join(dir, n), path.join(dir, partner));
    }
  }
  // A features file claimed as another's label is features after all (`y.npy` + `y_labels.npy`).
  for (const [label, features] of [...out.labelOf]) {
    if (out.labels.has(features)) {
      out.labelOf.delete(label);
    }
  }
  return out;
}

/** The pairing of the folder holding `file` (an unreadable folder pairs nothing). */
export function pairingOf(file: string, labelNames?: readonly string[]): NpyPairing {
  const dir = path.dirname(file);
  try {
    return pairNpyFiles(dir, readdirSync(dir), labelNames);
  } catch {
    return { labelOf: new Map(), labels: new Set() };
  }
}

/** The label file read with features file `file`, if any. */
export function labelFileFor(file: string, labelNames?: readonly string[]): string | undefined {
  for (const [label, features] of pairingOf(file, labelNames).labelOf) if (features === file) return label;
  return undefined;
}
