/** float16 → float32 widening (Node 20 has no Float16Array) through a 65536-entry table: exact, NaN kept NaN. */

let table: Float32Array | undefined;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The table costs 256 KiB, built on first use. */
function getTable(): Float32Array {
  if (table === undefined) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  }
  return table;
}

/** Widens `src` into `dst` (which holds at least `src.length` elements). */
export function widenHalf(src: Uint16Array, dst: Float32Array): void {
  const t = getTable();
  const n = src.length;
  for (let i = 0; i < n; i++) dst[i] = t[src[i] as number] as number;
}
