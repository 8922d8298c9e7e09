/**
 * The sharp-only decode as the oracle for the native PNG fast path (test/decode/png-*.test.ts), and a comparable
 * summary of a decode.
 */
import { decodeImage, type DecodeImageOptions, type ImageResult } from '../../src/decode/image.js';

/** decodeImage() with the sharp path only, as before the addon existed. */
export async function decodeWithSharp(buf: Uint8Array, options: DecodeImageOptions = { limitInputPixels: 50e6 }): Promise<ImageResult> {
  const before = process.env.NANSCAN_NO_NATIVE_PNG;
  process.env.NANSCAN_NO_NATIVE_PNG = '1';
  try {
    return await decodeImage(buf, options);
  } finally {
    if (before === undefined) delete process.env.NANSCAN_NO_NATIVE_PNG;
    else process.env.NANSCAN_NO_NATIVE_PNG = before;
  }
}

/** Everything a scan sees of a decode: the classification, the reason, and the pixels (as a digest). */
export function outcome(r: ImageResult): string {
  if (!r.ok) return `${r.kind}: ${r.reason}`;
  const sum = Buffer.from(r.pixels.buffer, r.pixels.byteOffset, r.pixels.byteLength);
  return `ok ${r.width}×${r.height}×${r.channels} ${r.pixels.length} bytes ${digest(sum)} ${r.warning ?? ''}`;
}

function digest(b: Buffer): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return (h >>> 0).toString(16);
}
