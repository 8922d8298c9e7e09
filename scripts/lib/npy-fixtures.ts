/** The datasets scripts/make-npy-fixtures.ts writes under fixtures/npy/, as discovery finds them (sorted). */
export const NPY_FIXTURE_DATASETS: readonly string[] = [
  'npy/clean/X_train.npy', // with its label file y_train.npy
  'npy/crc/bad.npz',
  'npy/not-npy/fake.npy',
  'npy/npz/faults.npz',
  'npy/npz/stored.npz',
  'npy/truncated/cut.npy',
];
