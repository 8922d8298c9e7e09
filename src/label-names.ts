/**
 * Which arrays, columns and features hold class labels, by name: the same rule for every format (HDF5 datasets,
 * NumPy arrays and `.npz` members, Parquet/Arrow columns, TFRecord features, WebDataset members).
 */

/** Names (last path component, case-insensitive) that hold labels, unless configured otherwise. */
export const DEFAULT_LABEL_NAMES: readonly string[] = ['label', 'labels', 'y', 'target', 'targets'];

/** Whether `name` (a path such as `train/label`, or a plain name) names a label array under `names`. */
export function isLabelName(name: string, names: readonly string[] = DEFAULT_LABEL_NAMES): boolean {
  const last = name.slice(name.lastIndexOf('/') + 1).toLowerCase();
  return names.some((n) => n.toLowerCase() === last);
}
