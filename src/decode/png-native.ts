/**
 * The optional native PNG decoder (native/png: C on libdeflate, built by scripts/build-native.mjs). The only
 * module that loads the addon. Synchronous, like the JPEG addon: worker processes decode one image at a time.
 *
 * A fast path that only ever says "clean": 'ok' means the addon verified the whole file (every chunk CRC, the
 * zlib stream and its Adler-32 ending exactly with the image data, IEND last) and its pixels are what sharp
 * would return. Every other status means "decode this with sharp", which also classifies any damage.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { packageFile } from '../package-root.js';

export type NativePngResult =
  | { status: 'ok'; width: number; height: number; channels: number; pixels: Uint8Array }
  /** Well-formed as far as read, but a variant left to sharp (16-bit, interlaced, an ICC profile, ...). */
  | { status: 'unsupported'; message: string }
  /** Not verified clean: damaged, or something sharp may decode differently. */
  | { status: 'invalid'; message: string }
  /** width × height exceeds maxPixels: only the header was read. */
  | { status: 'oversized'; width: number; height: number };

export interface NativePng {
  /**
   * Decodes an 8-bit non-interlaced PNG to interleaved 8-bit pixels with sharp's channels: gray 1, RGB 3,
   * gray+alpha 4 (as RGBA), RGBA 4, palette 3 (4 with tRNS). Never throws for any bytes; throws a TypeError
   * only for arguments of the wrong type. With `out`, pixels that fit are decoded into it and `pixels` is a
   * view of its start (else a new Buffer).
   */
  decode(buf: Uint8Array, maxPixels: number, out?: Uint8Array): NativePngResult;
  /** e.g. "libdeflate 1.14". */
  version: string;
}

const ADDON_PATH = fileURLToPath(packageFile('native/png/build/Release/nanscan_png.node'));

let cached: NativePng | null | undefined;

/**
 * The addon, or null when it was not built, fails to load, or NANSCAN_NO_NATIVE_PNG=1 (to force and test the
 * sharp path; read on every call, so it can be toggled at run time). Never throws.
 */
export function loadNativePng(): NativePng | null {
  if (process.env.NANSCAN_NO_NATIVE_PNG === '1') return null;
  if (cached === undefined) {
    try {
      const mod = createRequire(import.meta.url)(ADDON_PATH) as Partial<NativePng>;
      cached = typeof mod.decode === 'function' && typeof mod.version === 'string' ? (mod as NativePng) : null;
    } catch {
      cached = null;
    }
  }
  return cached;
}
