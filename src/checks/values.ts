/** Value checks on one scanned array: non-finite values, float16 and float32 overflow, constant samples. */
import type { ScanStats } from '../kernels/scan.js';
import { FLOAT16_MAX, FLOAT16_OVERFLOW, FLOAT32_MAX, FLOAT32_OVERFLOW } from '../kernels/scan-js.js';
import type { Finding, FindingKind } from '../types.js';
import { DEFAULT_SEVERITY } from './severity.js';

export { FLOAT16_MAX, FLOAT16_OVERFLOW, FLOAT32_MAX, FLOAT32_OVERFLOW };

/** Where a record's findings point; `what` names the array in messages ("float_data", "pixels"). */
export interface RecordLocator {
  database?: string;
  key?: string;
  index?: number;
  file?: string;
  line?: number;
  field?: string;
  offset?: number;
}

/** Whether the stats hold any value that valueFindings reports as special: NaN, ±Inf, float16 or float32 overflow. */
export function hasSpecial(s: ScanStats): boolean {
  return s.nan + s.posinf + s.neginf + s.fp16Overflow + s.fp32Overflow > 0;
}

/** Whether one value is special in the sense of hasSpecial (non-finite, or it overflows float16 or float32). */
export function isSpecialValue(v: number): boolean {
  return !(Math.abs(v) < FLOAT16_OVERFLOW);
}

/**
 * Findings for one array's stats. `isFloat` turns on the non-finite checks (integer and pixel arrays have no
 * NaN or Inf). Overflow is reported for any array that has some: float16 overflow for values that become Inf
 * when cast to float16 (|x| >= 65520, round-to-nearest-even), float32 overflow (error) for float64 values that
 * become Inf when cast to float32 (|x| >= 3.4028235677973366e38). A value that overflows float32 is reported
 * once, as fp32_overflow, not also as fp16_overflow. Constant samples are checked for every array with at
 * least two values.
 */
export function valueFindings(s: ScanStats, loc: RecordLocator, what: string, isFloat: boolean): Finding[] {
  const out: Finding[] = [];
  if (isFloat) {
    special(out, 'nan', s.nan, s.firstNan, 'NaN', loc, what);
    special(out, 'posinf', s.posinf, s.firstPosinf, '+Inf', loc, what);
    special(out, 'neginf', s.neginf, s.firstNeginf, '-Inf', loc, what);
  }
  if (s.fp16Overflow > 0) {
    out.push({
      kind: 'fp16_overflow',
      severity: DEFAULT_SEVERITY.fp16_overflow,
      message: `${s.fp16Overflow} value(s) in ${what} become Inf when cast to float16 (|x| ≥ ${FLOAT16_OVERFLOW}; ` +
        `the largest finite float16 is ${FLOAT16_MAX}), first at element ${s.firstFp16Overflow}.`,
      count: s.fp16Overflow,
      ...loc,
    });
  }
  if (s.fp32Overflow > 0) {
    // The overflowing values are the largest finite ones, so the largest magnitude is max(|min|, |max|).
    const largest = Math.max(Math.abs(s.min), Math.abs(s.max));
    out.push({
      kind: 'fp32_overflow',
      severity: DEFAULT_SEVERITY.fp32_overflow,
      message: `${s.fp32Overflow} float64 value(s) in ${what} become Inf when cast to float32 (|x| ≥ ` +
        `${FLOAT32_OVERFLOW}; the largest finite float32 is ${FLOAT32_MAX}), first at element ` +
        `${s.firstFp32Overflow}; largest magnitude ${largest}.`,
      count: s.fp32Overflow,
      ...loc,
    });
  }
  if (isConstant(s)) {
    out.push({
      kind: 'constant_sample',
      severity: DEFAULT_SEVERITY.constant_sample,
      message: `All ${s.count} values of ${what} equal ${s.min}: zero variance.`,
      ...loc,
    });
  }
  return out;
}

/** Every value equal (and finite): per-sample normalisation divides by a zero standard deviation. */
export function isConstant(s: ScanStats): boolean {
  return s.count >= 2 && s.nan === 0 && s.posinf === 0 && s.neginf === 0 && s.min === s.max;
}

function special(
  out: Finding[], kind: FindingKind, count: number, first: number, label: string, loc: RecordLocator, what: string,
): void {
  if (count === 0) return;
  out.push({
    kind,
    severity: DEFAULT_SEVERITY[kind],
    message: `${count} ${label} in ${what}, first at element ${first}.`,
    count,
    ...loc,
  });
}
