/** A bug met while scanning fails the scan (SCAN_INTERNAL); it is never reported as damage in the user's data. */
import { describe, expect, it, vi } from 'vitest';
import { ROOT } from '../helpers/cli.js';

// The partition code throws what a bug throws (a TypeError), or what a damaged disk gives (EIO).
let failWith: () => Error = () => new TypeError("Cannot read properties of undefined (reading 'length')");
vi.mock('../../src/pool/run-partition.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/pool/run-partition.js')>();
  return { ...real, runPartition: () => Promise.reject(failWith()) };
});
const { scan } = await import('../../src/index.js');

describe('an exception while scanning a partition', () => {
  it('is SCAN_INTERNAL when it is a bug, not an io_error finding', async () => {
    failWith = () => new TypeError("Cannot read properties of undefined (reading 'length')");
    await expect(scan('fixtures/lmdb/clean', { cwd: ROOT, workers: 0 })).rejects.toMatchObject({
      name: 'ScanError', code: 'SCAN_INTERNAL', message: expect.stringContaining('TypeError: Cannot read properties'),
    });
  });

  it('is an io_error finding on the part it hit when it is an I/O error on the data', async () => {
    failWith = () => Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', errno: -5, syscall: 'read' });
    const report = await scan('fixtures/lmdb/clean', { cwd: ROOT, workers: 0 });
    const d = report.datasets[0]!;
    expect(d.findings.filter((f) => f.kind === 'io_error').length).toBeGreaterThan(0);
    // In partition order, whatever order they failed in.
    const parts = d.findings.filter((f) => f.kind === 'io_error').map((f) => Number(/part (\d+)/.exec(f.message)![1]));
    expect(parts).toEqual([...parts].sort((a, b) => a - b));
  });
});
