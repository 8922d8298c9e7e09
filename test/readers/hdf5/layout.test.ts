/** Slab sizing, partition planning and the Caffe consistency rules, without HDF5. */
import { describe, expect, it } from 'vitest';
import type { DatasetInfo } from '../../../src/readers/hdf5/h5.js';
import { crossFileFindings, lengthFindings, MAX_SLAB_BYTES, planSegments, slabRanges, slabRows, type PlanFile } from '../../../src/readers/hdf5/layout.js';

const MiB = 1024 * 1024;

describe('slabs', () => {
  it('reads whole chunks within the budget, at least one row, nothing over the cap', () => {
    expect(slabRows({ rows: 1e6, rowBytes: 12288, chunkRows: 64 }, 16 * MiB)).toBe(1344); // 21 chunks of 64
    expect(slabRows({ rows: 1e6, rowBytes: 12288, chunkRows: 0 }, 16 * MiB)).toBe(1365);
    expect(slabRows({ rows: 1e6, rowBytes: 12288, chunkRows: 4096 }, 16 * MiB)).toBe(4096); // one 48 MiB chunk
    expect(slabRows({ rows: 10, rowBytes: 100 * MiB, chunkRows: 0 }, 16 * MiB)).toBe(1);
    expect(slabRows({ rows: 10, rowBytes: MAX_SLAB_BYTES + 1, chunkRows: 0 }, 16 * MiB)).toBe(0);
    expect(slabRows({ rows: 10, rowBytes: 0, chunkRows: 0 }, 16 * MiB)).toBe(10);
  });

  it('ranges cover [from, to) once and end on chunk boundaries', () => {
    expect([...slabRanges(10, 200, 64, 32)]).toEqual([[10, 64], [64, 128], [128, 192], [192, 200]]);
    expect([...slabRanges(0, 10, 4, 0)]).toEqual([[0, 4], [4, 8], [8, 10]]);
    expect([...slabRanges(5, 5, 4, 0)]).toEqual([]);
  });
});

describe('planSegments', () => {
  const file = (name: string, rows: number, rowBytes: number, align = 1): PlanFile => ({ path: `/d/${name}`, file: name, rows, rowBytes, align });

  /** Every row of every file exactly once, in file order then row order, in at most n partitions. */
  function checkCover(files: PlanFile[], n: number, min = 0): void {
    const parts = planSegments(files, n, min);
    expect(parts.length).toBeLessThanOrEqual(n);
    const flat = parts.flat();
    let i = 0;
    for (const f of files.filter((x) => x.rows > 0)) {
      let at = 0;
      while (at < f.rows) {
        const s = flat[i++];
        expect(s?.path).toBe(f.path);
        expect(s?.start).toBe(at);
        expect(s!.end).toBeGreaterThan(at);
        if (s!.end < f.rows) expect(s!.end % f.align).toBe(0);
        at = s!.end;
      }
    }
    expect(i).toBe(flat.length);
    for (const p of parts) expect(p.length).toBeGreaterThan(0);
  }

  it('covers random layouts exactly once', () => {
    let seed = 7;
    const rnd = (k: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % k;
    };
    for (let t = 0; t < 300; t++) {
      const files = Array.from({ length: 1 + rnd(6) }, (_, i) => file(`f${i}`, rnd(5) === 0 ? 0 : rnd(5000), rnd(4) === 0 ? 0 : 1 + rnd(20000), 1 + rnd(100)));
      checkCover(files, 1 + rnd(9), rnd(3) === 0 ? 1 + rnd(50 * MiB) : 0);
    }
  });

  it('shares one big file between workers and groups small files', () => {
    const big = planSegments([file('big', 200_000, 12288, 64)], 2, 0);
    expect(big).toHaveLength(2);
    expect(big[0]?.[0]?.end).toBe(100_032); // nearest chunk boundary to the middle
    const many = planSegments(Array.from({ length: 10 }, (_, i) => file(`s${i}`, 100, 1000)), 2, 0);
    expect(many.map((p) => p.length)).toEqual([5, 5]);
    expect(planSegments([file('small', 100, 1000)], 8, 8 * MiB)).toHaveLength(1);
    expect(planSegments([], 4, 0)).toEqual([]);
  });
});

const ds = (name: string, rows: number, rowShape: number[], dtype: DatasetInfo['dtype'] = 'f32'): DatasetInfo => ({
  name, dtype, elemBytes: 4, rows, rowShape, rowElems: rowShape.reduce((a, b) => a * b, 1), rowBytes: 4, chunkRows: 0, isLabel: name === 'label', fixedExtent: true,
});

describe('Caffe rules', () => {
  it('sibling datasets (one group) must agree on rows; other groups are other records', () => {
    expect(lengthFindings('a.h5', [ds('data', 10, [3]), ds('label', 10, [])])).toEqual([]);
    expect(lengthFindings('a.h5', [ds('data', 10, [3]), ds('label', 9, [])])).toEqual([expect.objectContaining({
      kind: 'inconsistent_lengths', file: 'a.h5', message: expect.stringContaining("'data' 10, 'label' 9"),
    })]);
    // train/ and val/ differ in length: no finding; val/ disagrees within itself: one, naming the group.
    const f = lengthFindings('g.h5', [
      ds('train/data', 100, [4]), ds('train/label', 100, []), ds('val/data', 30, [4]), ds('val/label', 29, []), ds('mean', 1, [4]),
    ]);
    expect(f).toHaveLength(1);
    expect(f[0]?.message).toBe("Datasets of group 'val' disagree on their row count: 'val/data' 30, 'val/label' 29.");
  });

  it('files of one list must agree on values per row and datasets, not on trailing shape or numeric type', () => {
    const f = crossFileFindings([
      { file: 'a.h5', datasets: [ds('data', 10, [3, 8, 8]), ds('label', 10, [], 'i32')] },
      { file: 'b.h5', datasets: [ds('data', 5, [3, 8, 8], 'f64'), ds('label', 5, [1], 'f32')] },
      { file: 'c.h5', datasets: [ds('data', 5, [3, 16, 16]), ds('label', 5, [1], 'f32')] },
      { file: 'd.h5', datasets: [ds('data', 5, [192])] },
      { file: 'e.h5', datasets: [ds('data', 5, [3, 8, 8]), ds('label', 5, [2])] },
    ]);
    expect(f.map((x) => [x.kind, x.file, x.field])).toEqual([
      ['shape_mismatch', 'c.h5', 'data'], ['shape_mismatch', 'd.h5', 'label'], ['shape_mismatch', 'e.h5', 'label'],
    ]);
    expect(f[0]?.message).toBe("Dataset 'data' has 768 values per row (N, 3, 16, 16) in c.h5 but 192 values per row (N, 3, 8, 8) " +
      "in a.h5: Caffe's HDF5Data layer copies 192 a row from every file, so these rows are misread.");
  });
});
