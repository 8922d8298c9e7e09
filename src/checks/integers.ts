/** Range statistics for integer arrays (HDF5 int datasets), in the kernel's ScanStats shape. */
import type { ScanStats } from '../kernels/scan.js';
import { FLOAT16_OVERFLOW, settleMoments } from '../kernels/scan-js.js';
import type { NumericArray } from '../records.js';

/**
 * Min, max, sums, moments and float16 overflow of an integer array. Scalar JS: integer data cannot hold NaN or
 * Inf, so only the range matters, and integer datasets (labels, indexes) are small next to float data.
 * 64-bit values are converted to the nearest double (exact for the float16 threshold). An integer overflows
 * float16 like a float does (|x| >= 65520, numpy's `np.float16` of it is Inf: int8/uint8/int16/uint16 never
 * do); no integer of 64 bits or less reaches float32's limit (2^64 < 3.4e38), so fp32Overflow is always 0.
 */
export function scanIntegers(data: NumericArray, out: ScanStats): ScanStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sumSq = 0;
  let fp16 = 0;
  let firstFp16 = -1;
  const n = data.length;
  const values: ArrayLike<number> =
    data instanceof BigInt64Array || data instanceof BigUint64Array ? Float64Array.from(data, Number) : data;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sumSq += v * v;
    if (v >= FLOAT16_OVERFLOW || v <= -FLOAT16_OVERFLOW) {
      if (fp16 === 0) firstFp16 = i;
      fp16++;
    }
  }
  out.count = n;
  out.nan = out.posinf = out.neginf = out.fp32Overflow = 0;
  out.firstNan = out.firstPosinf = out.firstNeginf = out.firstFp32Overflow = -1;
  out.fp16Overflow = fp16;
  out.firstFp16Overflow = firstFp16;
  out.min = n > 0 ? min : NaN;
  out.max = n > 0 ? max : NaN;
  out.sum = sum;
  out.sumSq = sumSq;
  return settleMoments(out, values);
}
