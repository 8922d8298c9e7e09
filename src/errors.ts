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
  | 'SCAN_ABORTED';

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
  const shown = typeof actual === 'string' ? `'${actual}'` : String(actual);
  return new ScanError(
    'SCAN_INVALID_OPTION',
    `Expected ${expected} for ${name} but received ${shown} of type ${actual === null ? 'null' : typeof actual}.`,
  );
}

/** The error every reader throws for a partition spec it did not make. */
export function invalidPartition(format: string, why: string): ScanError {
  return new ScanError('SCAN_INVALID_PARTITION', `Invalid ${format} partition spec: ${why}.`);
}
