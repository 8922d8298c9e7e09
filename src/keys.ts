/** Record keys as the report shows them: UTF-8 when printable, else `hex:…` (DESIGN.md, locators). */

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Control characters (C0, DEL, C1) would garble terminals and XML reports.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function formatKey(key: Uint8Array): string {
  try {
    const s = utf8.decode(key);
    if (!CONTROL.test(s)) return s;
  } catch {
    // not UTF-8: fall through to hex
  }
  return `hex:${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')}`;
}
