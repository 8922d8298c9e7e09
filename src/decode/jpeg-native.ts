/**
 * The optional native JPEG decoder (native/jpeg: C on the libjpeg API of libjpeg-turbo, built by
 * scripts/build-native.mjs). The only module that loads the addon. Synchronous on purpose: worker processes
 * decode one image at a time, and a libuv thread-pool hop would cost more than it saves.
 *
 * Strict: 'ok' means libjpeg decoded the stream without a single warning; anything it had to tolerate
 * (damaged entropy data, a missing EOI, which libjpeg pads for and warns about) is 'warning'.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { packageFile } from '../package-root.js';

export type NativeJpegResult =
  | { status: 'ok'; width: number; height: number; channels: number; pixels: Uint8Array; fullWidth: number; fullHeight: number }
  | { status: 'warning'; width: number; height: number; channels: number; pixels: Uint8Array; fullWidth: number; fullHeight: number;
      /** libjpeg's text of the first warning, e.g. "Premature end of JPEG file". */
      message: string;
      /** How many warnings libjpeg emitted in all. */
      warnings: number }
  | { status: 'error'; message: string }
  /** width × height exceeds maxPixels: the header was read, nothing was decompressed. */
  | { status: 'oversized'; width: number; height: number };

export interface NativeJpeg {
  /**
   * Decodes a whole JPEG. Pixels are interleaved 8-bit: 1 channel for grayscale, 3 (RGB) for YCbCr/RGB,
   * 4 for CMYK/YCCK (CMYK as stored, so Adobe files come back inverted; sharp and PIL invert them back);
   * any other component count (2, 5..10: legal, but no colour space) as the components themselves.
   * Never throws for any bytes; throws a TypeError only for arguments of the wrong type. With `out`, pixels
   * that fit are decoded into it and `pixels` is a view of its start (else a new Buffer, as without).
   * With `scaleDenom` > 1 the pixels are a DCT-domain 1/scaleDenom decode (`width`, `height` are theirs;
   * `fullWidth`, `fullHeight` the image's): every coefficient is still entropy-decoded, so errors and warnings
   * are those of a full decode.
   */
  decode(buf: Uint8Array, maxPixels: number, out?: Uint8Array, scaleDenom?: 1 | 2 | 4 | 8): NativeJpegResult;
  /** e.g. "libjpeg-turbo 2.1.5". */
  version: string;
}

const ADDON_PATH = fileURLToPath(packageFile('native/jpeg/build/Release/nanscan_jpeg.node'));

let cached: NativeJpeg | null | undefined;

/**
 * The addon, or null when it was not built, fails to load, or NANSCAN_NO_NATIVE_JPEG=1 (to force and test
 * the sharp path; read on every call, so it can be toggled at run time). Never throws.
 */
export function loadNativeJpeg(): NativeJpeg | null {
  if (process.env.NANSCAN_NO_NATIVE_JPEG === '1') return null;
  if (cached === undefined) {
    try {
      const mod = createRequire(import.meta.url)(ADDON_PATH) as Partial<NativeJpeg>;
      cached = typeof mod.decode === 'function' && typeof mod.version === 'string' ? (mod as NativeJpeg) : null;
    } catch {
      cached = null;
    }
  }
  return cached;
}
