/** The progress line: percent and ETA when the total is known, a plain count when it is not. */
import { describe, expect, it } from 'vitest';
import { duration, formatProgress } from '../../src/cli/progress.js';
import { scan, type ScanProgress } from '../../src/index.js';
import { ROOT } from '../helpers/cli.js';

const p = (records: number, expectedRecords: number | null): ScanProgress => ({
  dataset: 'data/train_lmdb', datasetsDone: 0, datasets: 1, records, bytes: 0, expectedRecords,
});

describe('formatProgress', () => {
  it('shows percent and ETA with a known total', () => {
    expect(formatProgress(p(2500, 10_000), 1000)).toBe('[0/1] data/train_lmdb: 2,500 records 25% (2,500/s, ETA 3 s)');
    expect(formatProgress(p(1000, 1_000_000), 1000)).toBe('[0/1] data/train_lmdb: 1,000 records 0% (1,000/s, ETA 16 min 39 s)');
  });

  it('shows a count and a rate without one', () => {
    expect(formatProgress(p(2500, null), 1000)).toBe('[0/1] data/train_lmdb: 2,500 records (2,500/s)');
  });

  it('writes durations people read', () => {
    expect(duration(0.2)).toBe('1 s');
    expect(duration(125)).toBe('2 min 5 s');
    expect(duration(4800)).toBe('1 h 20 min');
  });
});

describe('expected totals for progress', () => {
  it.each(['fixtures/hdf5/plain', 'fixtures/hdf5/list', 'fixtures/images/list', 'fixtures/images/classes', 'fixtures/lmdb/clean'])('are known for %s', async (target) => {
    const seen: ScanProgress[] = [];
    const report = await scan(target, { cwd: ROOT, workers: 0, onProgress: (x) => seen.push({ ...x }) });
    const last = seen.at(-1)!;
    expect(last.expectedRecords).not.toBeNull();
    expect(last.expectedRecords).toBeGreaterThanOrEqual(report.summary.records);
  });
});
