/** Value checks on one scanned array: non-finite values, float16 overflow, constant samples. */
import type { ScanStats } from '../kernels/scan.js';
import type { Finding, FindingKind } from '../types.js';
import { DEFAULT_SEVERITY } from './severity.js';

/** Largest finite float16 value; anything above it becomes Inf when cast to half precision. */
export const FLOAT16_MAX = 65504;

/** Where a record's findings point; `what` names the array in messages ("float_data", "pixels"). */
export interface RecordLocator {
  database?: string;
  key?: string;
  index?: number;
  file?: string;
  line?: number;
  field?: string;
}

/**
 * Findings for one array's stats. `isFloat` turns on the non-finite and float16 checks; constant samples are
 * checked for every array with at least two values.
 */
export function valueFindings(s: ScanStats, loc: RecordLocator, what: string, isFloat: boolean): Finding[] {
  const out: Finding[] = [];
  if (isFloat) {
    special(out, 'nan', s.nan, s.firstNan, 'NaN', loc, what);
    special(out, 'posinf', s.posinf, s.firstPosinf, '+Inf', loc, what);
    special(out, 'neginf', s.neginf, s.firstNeginf, '-Inf', loc, what);
    special(out, 'fp16_overflow', s.fp16Overflow, s.firstFp16Overflow, `finite value(s) beyond ±${FLOAT16_MAX} (float16 overflow)`, loc, what);
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
