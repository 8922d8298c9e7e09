/** Range statistics for integer arrays (HDF5 int datasets), in the kernel's ScanStats shape. */
import type { ScanStats } from '../kernels/scan.js';
import type { NumericArray } from '../readers/types.js';

/**
 * Min, max, sum and sum of squares of an integer array. Scalar JS: integer data cannot hold NaN or Inf, so
 * only the range matters, and integer datasets (labels, indexes) are small next to float data.
 * 64-bit values are converted to the nearest double.
 */
export function scanIntegers(data: NumericArray, out: ScanStats): ScanStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sumSq = 0;
  const n = data.length;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) {
      const v = Number(data[i]!);
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
      sumSq += v * v;
    }
  } else {
    const d = data as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
    for (let i = 0; i < n; i++) {
      const v = d[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
      sumSq += v * v;
    }
  }
  out.count = n;
  out.nan = out.posinf = out.neginf = out.fp16Overflow = 0;
  out.firstNan = out.firstPosinf = out.firstNeginf = out.firstFp16Overflow = -1;
  out.min = n > 0 ? min : NaN;
  out.max = n > 0 ? max : NaN;
  out.sum = sum;
  out.sumSq = sumSq;
  return out;
}
