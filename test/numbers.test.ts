import { describe, expect, it } from 'vitest';
import { formatCount } from '../src/numbers.js';

describe('formatCount', () => {
  it("equals ICU's en-US grouping (toLocaleString) for integers of every length and sign, and other numbers", () => {
    const values = [0, 1, -1, 12, 999, 1000, -1000, 65535, 123456, 1234567, 10_000_000, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER,
      2 ** 60, 1.5, 1234.5678, Number.NaN, Number.POSITIVE_INFINITY];
    let x = 1;
    for (let i = 0; i < 200; i++) { x = (x * 48271) % 2147483647; values.push(x % 10 ** (i % 16), -(x % 10 ** (i % 10))); }
    for (const v of values) expect(formatCount(v), String(v)).toBe(v.toLocaleString('en-US'));
  });
});
