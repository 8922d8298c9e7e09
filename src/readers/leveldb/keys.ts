/**
 * User keys: bytewise order (LEVELDB.md §3, §10 — `BytewiseComparatorImpl` is memcmp, then length), and the text
 * forms used in partition specs (hex) and messages (UTF-8 when printable, else `hex:…`, as DESIGN.md's locators).
 */

/** Unsigned lexicographic order; on a common prefix the shorter key sorts first. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Bytewise compare of a[0, al) with b[0, bl): keys that live in reused buffers. */
export function compareKeys(a: Uint8Array, al: number, b: Uint8Array, bl: number): number {
  const n = al < bl ? al : bl;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return al - bl;
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

export function toHex(u: Uint8Array): string {
  return asBuffer(u).toString('hex');
}

export function fromHex(s: string): Uint8Array {
  return Buffer.from(s, 'hex');
}

/** Longest key text put in a message. */
const SHOW_MAX_BYTES = 48;
const utf8 = new TextDecoder('utf-8', { fatal: true });
// C0/C1 controls would garble terminals and XML reports.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** A key for a message: quoted UTF-8 when printable, else `hex:…`; long keys are cut with `…`. */
export function showKey(key: Uint8Array): string {
  const cut = key.length > SHOW_MAX_BYTES;
  const part = cut ? key.subarray(0, SHOW_MAX_BYTES) : key;
  try {
    const s = utf8.decode(part);
    if (!CONTROL.test(s)) return `'${s}${cut ? '…' : ''}'`;
  } catch {
    // not UTF-8 (or cut inside a character): hex
  }
  return `hex:${toHex(part)}${cut ? '…' : ''}`;
}

/** "[a, b]" with either end open when unknown. */
export function showRange(lo: Uint8Array | null | undefined, hi: Uint8Array | null | undefined): string {
  return `[${lo ? showKey(lo) : '-∞'}, ${hi ? showKey(hi) : '+∞'}]`;
}
