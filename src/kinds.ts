/**
 * The one table of finding kinds: default severity, check family, and the title and help text every reporter
 * shows (text, HTML, JUnit, SARIF rules). A new kind is one entry here; a kind is never renamed (its id is the
 * report's contract), and kinds are only appended (SARIF rule indexes follow this order).
 */

export type Severity = 'error' | 'warning';

/** Check families: one JUnit testcase each, in this order. */
export const CHECK_FAMILIES = ['values', 'integrity', 'images', 'labels', 'coverage'] as const;
export type CheckFamily = (typeof CHECK_FAMILIES)[number];

export interface KindInfo {
  /** `error`: will break or silently corrupt training; `warning`: likely to. Configurable per kind. */
  severity: Severity;
  family: CheckFamily;
  /** One line: the SARIF rule's short description, the HTML table's kind title. */
  title: string;
  /** What it means and why it matters for training. */
  help: string;
}

export const KINDS = {
  nan: {
    severity: 'error',
    family: 'values',
    title: 'NaN in data or labels',
    help:
      'A record holds NaN (not a number). One NaN input makes the loss NaN and poisons every weight on the ' +
      'first update.',
  },
  posinf: {
    severity: 'error',
    family: 'values',
    title: '+Infinity in data or labels',
    help:
      'A record holds +Infinity. The loss and gradients become Inf or NaN on the first batch that contains ' +
      'it.',
  },
  neginf: {
    severity: 'error',
    family: 'values',
    title: '-Infinity in data or labels',
    help:
      'A record holds -Infinity. The loss and gradients become Inf or NaN on the first batch that contains ' +
      'it.',
  },
  fp16_overflow: {
    // Only fatal once the data (or a product of it) is cast to float16: likely, not certain, to break.
    severity: 'warning',
    family: 'values',
    title: 'Value overflows float16',
    help:
      'A value has magnitude 65520 or more: it becomes Inf as soon as the data, or a product of it, is cast ' +
      'to float16 (mixed-precision training). 65504 is the largest finite float16, and casts round to nearest ' +
      'even, so values up to 65520 (exclusive) round down to it. Values that overflow float32 as well are ' +
      'reported as fp32_overflow instead.',
  },
  constant_sample: {
    severity: 'warning',
    family: 'values',
    title: 'Constant (zero-variance) sample',
    help:
      'Every value of the sample is the same. Per-sample normalisation divides by a zero standard ' +
      'deviation.',
  },
  shape_mismatch: {
    severity: 'error',
    family: 'integrity',
    title: 'Declared shape does not match the data size',
    help:
      'channels x height x width differs from the number of values the record holds. Reshaping fails, or ' +
      'data is silently misaligned.',
  },
  bad_record: {
    severity: 'error',
    family: 'integrity',
    title: 'Record cannot be decoded',
    help:
      'The record is not a valid sample (for example not a Caffe Datum). The data layer throws mid-epoch or ' +
      'feeds garbage.',
  },
  label_out_of_range: {
    severity: 'error',
    family: 'labels',
    title: 'Label out of range',
    help:
      'A class label is negative, not below the number of classes, not an integer, or NaN. On a GPU this is ' +
      'an index error, often an opaque device-side assert; elsewhere silent garbage.',
  },
  corrupt_image: {
    severity: 'error',
    family: 'images',
    title: 'Image cannot be decoded',
    help:
      'The image decoder rejects the file or record. Data loaders throw mid-epoch, or skip it silently.',
  },
  truncated_image: {
    severity: 'error',
    family: 'images',
    title: 'Truncated image',
    help:
      'The image data ends early. Decoders throw, or silently return a partly grey image.',
  },
  channel_mismatch: {
    severity: 'warning',
    family: 'images',
    title: 'Mixed channel counts',
    help:
      'Records have different channel counts (for example grayscale among RGB). Batching crashes, or the ' +
      'model silently broadcasts.',
  },
  size_mismatch: {
    severity: 'warning',
    family: 'images',
    title: 'Mixed image sizes',
    help:
      'Records have different heights or widths. Batching without a resize crashes.',
  },
  missing_file: {
    severity: 'error',
    family: 'integrity',
    title: 'Missing file',
    help:
      'A file that the dataset names does not exist. The data loader fails when it reaches that entry.',
  },
  corrupt_file: {
    severity: 'error',
    family: 'integrity',
    title: 'Corrupt dataset file',
    help:
      'A dataset file is damaged (bad page, checksum or header). The records stored there cannot be read.',
  },
  inconsistent_lengths: {
    severity: 'error',
    family: 'integrity',
    title: 'Sibling arrays of different lengths',
    help:
      'Arrays that must align (for example HDF5 data and label) have different first dimensions, so data ' +
      'and labels are misaligned or the loader fails.',
  },
  label_missing_in_batches: {
    severity: 'warning',
    family: 'labels',
    title: 'Label absent from many batches',
    help:
      'At the configured batch size, a class is missing from many batches. A loss normalised by per-batch ' +
      'label frequency then computes 0/0.',
  },
  sorted_labels: {
    severity: 'warning',
    family: 'labels',
    title: 'Dataset stored sorted by label',
    help:
      'Records are stored in long runs of a single label. Read in storage order (as Caffe data layers do), ' +
      'batches hold one class, which breaks BatchNorm statistics and training.',
  },
  io_error: {
    severity: 'error',
    family: 'integrity',
    title: 'Part of the dataset could not be read',
    help:
      'nanscan could not read part of the dataset (I/O error, or a failed worker). The records there were ' +
      'not checked.',
  },
  record_count_mismatch: {
    severity: 'error',
    family: 'integrity',
    title: 'Record count differs from the declared count',
    help:
      'The database declares more (or fewer) records than could be read. The difference is unreachable ' +
      'data.',
  },
  oversized_image: {
    // A decoder asked for billions of pixels runs the data loader out of memory.
    severity: 'error',
    family: 'images',
    title: 'Image too large to decode safely',
    help:
      'An image declares more pixels than the decoder limit (--limit-input-pixels). Decoding it would run ' +
      'the data loader out of memory.',
  },
  unchecked: {
    severity: 'warning',
    family: 'coverage',
    title: 'Part of the dataset was not checked',
    help:
      'Records, fields, files or databases that nanscan read but could not check: values of unknown layout, ' +
      'image formats it cannot decode, array types with no numeric content. No finding about them means ' +
      'nothing: they may hold NaN or damage.',
  },
  fp32_overflow: {
    severity: 'error',
    family: 'values',
    title: 'Value overflows float32',
    help:
      'A float64 value has magnitude 3.4028235677973366e38 (2^128 - 2^103) or more: it becomes Inf the moment ' +
      'a data loader casts it to float32, as nearly all do. 3.4028234663852886e38 is the largest finite ' +
      'float32, and casts round to nearest even, so values up to that threshold (exclusive) round down to it.',
  },
  class_folder: {
    severity: 'warning',
    family: 'integrity',
    title: 'Class folder that a folder loader treats unexpectedly',
    help:
      'A class folder torchvision\'s ImageFolder reads differently than intended: a hidden folder (such as ' +
      '.ipynb_checkpoints) becomes a class and shifts every label after it, an empty class folder makes it ' +
      'raise, an image beside the class folders is ignored.',
  },
  constant_feature: {
    severity: 'warning',
    family: 'values',
    title: 'Feature constant over the whole dataset',
    help:
      'An element position of the records (a feature column, or a pixel) holds the same value in every record. ' +
      'Per-feature standardisation (x − mean) / std divides by a zero std there and produces NaN. Images whose ' +
      'border pixels are always black are a legitimate case: turn the kind off in the config for them.',
  },
  channel_std_zero: {
    severity: 'warning',
    family: 'values',
    title: 'Channel with zero standard deviation',
    help:
      'A channel holds one value in every record and position. Per-channel normalisation (x − mean[c]) / std[c] ' +
      'divides by zero and produces NaN.',
  },
  null_value: {
    severity: 'error',
    family: 'values',
    title: 'Null in a numeric feature',
    help:
      'A numeric feature (a Parquet or Arrow column) is null in some rows. Most loaders turn a null into NaN ' +
      '(pandas, Hugging Face datasets with numpy or torch formatting), which makes the loss NaN.',
  },
} as const satisfies Record<string, KindInfo>;

/** Finding kinds. Kinds may be added; a kind is never renamed (it is the report's contract). */
export type FindingKind = keyof typeof KINDS;

export const FINDING_KINDS: readonly FindingKind[] = Object.keys(KINDS) as FindingKind[];

/** Default severity of each kind. */
export const DEFAULT_SEVERITY: Readonly<Record<FindingKind, Severity>> = Object.fromEntries(
  FINDING_KINDS.map((k) => [k, KINDS[k].severity]),
) as Record<FindingKind, Severity>;
