/** Default severity of each finding kind: `error` breaks or silently corrupts training, `warning` likely will. */
import type { FindingKind, Severity } from '../types.js';

export const DEFAULT_SEVERITY: Readonly<Record<FindingKind, Severity>> = {
  nan: 'error',
  posinf: 'error',
  neginf: 'error',
  // Only fatal once the data (or a product of it) is cast to float16: likely, not certain, to break.
  fp16_overflow: 'warning',
  constant_sample: 'warning',
  shape_mismatch: 'error',
  bad_record: 'error',
  label_out_of_range: 'error',
  corrupt_image: 'error',
  truncated_image: 'error',
  channel_mismatch: 'warning',
  size_mismatch: 'warning',
  missing_file: 'error',
  corrupt_file: 'error',
  inconsistent_lengths: 'error',
  label_missing_in_batches: 'warning',
  sorted_labels: 'warning',
  io_error: 'error',
  record_count_mismatch: 'error',
  // A decoder asked for billions of pixels runs the data loader out of memory.
  oversized_image: 'error',
};
