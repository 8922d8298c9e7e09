/** The one error class of nanscan: a stable `code` for callers, a message for people. */

export type ErrorCode =
  | 'SCAN_INVALID_OPTION'
  | 'SCAN_SOURCE_NOT_FOUND'
  | 'SCAN_SOURCE_UNRECOGNISED'
  | 'SCAN_CORRUPT_SOURCE'
  | 'SCAN_WORKER_FAILED'
  /** A reader was handed a partition spec its own plan() did not make (a bug, or a mismatched version). */
  | 'SCAN_INVALID_PARTITION'
  /** --write-mean asked for a mean the scan cannot give (several datasets, records of several shapes). */
  | 'SCAN_MEAN_UNAVAILABLE'
  | 'SCAN_ABORTED'
  /** No dataset in the paths given (ESLint's "no files matching"); `allowEmpty` makes it an empty report. */
  | 'SCAN_NO_DATASET'
  /** A report or baseline file cannot be written where the user asked. */
  | 'SCAN_OUTPUT_NOT_WRITABLE'
  /** A bug in nanscan or a worker that cannot start: never damage in the data, never a finding. */
  | 'SCAN_INTERNAL';

/**
 * Failure of the scanner, or a source it cannot open at all. Damage inside a readable source is a finding,
 * never a ScanError. `SCAN_CORRUPT_SOURCE` from a reader's `open()` becomes a `corrupt_file` finding.
 */
export class ScanError extends Error {
  override readonly name = 'ScanError';
  readonly code: ErrorCode;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; data?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.data = options?.data;
  }
}

/** "Expected <expected> for <name> but received <value> of type <type>." */
export function invalidOption(name: string, expected: string, actual: unknown): ScanError {
  const shown = typeof actual === 'string' ? `'${actual}'` : typeof actual === 'object' && actual !== null ? json(actual) : String(actual);
  return new ScanError(
    'SCAN_INVALID_OPTION',
    `Expected ${expected} for ${name} but received ${shown} of type ${actual === null ? 'null' : typeof actual}.`,
  );
}

/** An array or object as JSON (String() shows `['']` as nothing and `{}` as `[object Object]`). */
function json(v: object): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** The error every reader throws for a partition spec it did not make. */
export function invalidPartition(format: string, why: string): ScanError {
  return new ScanError('SCAN_INVALID_PARTITION', `Invalid ${format} partition spec: ${why}.`);
}

/**
 * Whether an exception is a failure of nanscan itself rather than damage in the data: JavaScript's own error
 * classes (a TypeError or ReferenceError is a bug whatever the input), and ScanError SCAN_INTERNAL. A reader
 * meeting damage throws ScanError SCAN_CORRUPT_SOURCE or an errno-style I/O error (EIO, EACCES, …), which are
 * findings. A RangeError that Node raises with an ERR_* code (Buffer reads past the end of a short record) is
 * damage met by parsing code, not a bug, so it stays a finding.
 */
export function isInternalError(e: unknown): boolean {
  if (e instanceof ScanError) return e.code === 'SCAN_INTERNAL';
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('ERR_')) return false;
  return e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError ||
    e instanceof EvalError;
}

/** The ScanError for an internal failure, keeping the original as `cause` (its stack is shown with --debug). */
export function internalError(what: string, e: unknown): ScanError {
  if (e instanceof ScanError && e.code === 'SCAN_INTERNAL') return e;
  const err = e instanceof Error ? e : new Error(String(e));
  return new ScanError('SCAN_INTERNAL', `${what}: ${err.name}: ${err.message}`, { cause: err });
}
