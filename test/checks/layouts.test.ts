/** Record layouts: what the per-element trackers may hold, and that an untracked partition never yields a claim. */
import { describe, expect, it } from 'vitest';
import { MAX_ELEMENTS } from '../../src/checks/elements.js';
import { emptyLayouts, LayoutStats, mergeLayouts, PARTITION_POSITIONS } from '../../src/checks/layouts.js';

describe('LayoutStats', () => {
  it('gives trackers to big layouts only up to the partition budget (images of many sizes)', () => {
    const l = new LayoutStats(false);
    const side = 256;
    for (let w = side - 7; w <= side; w++) l.record('pixels', [side, w, 3], 'last', new Uint8Array(side * w * 3), true);
    const tracked = Object.values(l.result().layouts).filter((t) => t.constants !== null);
    expect(tracked.length).toBeGreaterThan(0);
    expect(tracked.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0)).toBeLessThanOrEqual(PARTITION_POSITIONS);
    expect(Object.values(l.result().layouts).length).toBe(8);
    expect(PARTITION_POSITIONS).toBeGreaterThanOrEqual(MAX_ELEMENTS);
  });

  it('claims no constant position when a partition could not track the layout', () => {
    const a = new LayoutStats(false);
    a.record('data', [4], 'none', Float32Array.from([1, 2, 3, 4]), false);
    a.record('data', [4], 'none', Float32Array.from([1, 5, 3, 6]), false);
    const b = new LayoutStats(false);
    // Spend b's budget on big layouts first, so 'data 4' arrives untracked there.
    b.record('a', [MAX_ELEMENTS], 'none', new Uint8Array(MAX_ELEMENTS), true);
    b.record('b', [MAX_ELEMENTS], 'none', new Uint8Array(MAX_ELEMENTS), true);
    b.record('data', [4], 'none', Float32Array.from([9, 9, 9, 9]), false);
    expect(b.result().layouts['data 4']!.constants).toBeNull();
    const merged = emptyLayouts();
    mergeLayouts(merged, a.result());
    expect(merged.layouts['data 4']!.constants!.positions).toEqual([0, 2]);
    mergeLayouts(merged, b.result());
    expect(merged.layouts['data 4']!.records).toBe(3);
    expect(merged.layouts['data 4']!.constants).toBeNull();
  });
});
