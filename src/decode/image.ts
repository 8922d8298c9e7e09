/**
 * Encoded image decoding: the only module that imports sharp (libvips). Runs in worker processes. JPEGs go to
 * the native libjpeg-turbo decoder (jpeg-native.ts) when it is built: about 1.7 ms of libvips pipeline set-up
 * per image is most of the time sharp takes on small images.
 *
 * Strictness (measured in ../shared/MEASURED.md §3): sharp's `metadata()` passes truncated and corrupt files,
 * so every image is fully decoded. A decode at `failOn: 'warning'` (the strictest level) that succeeds is
 * clean. When it fails, an unparseable header means corrupt, a missing end marker (JPEG EOI, PNG IEND) means
 * the file was cut short; otherwise a decode at `failOn: 'error'` tells corrupt data the decoder could not get
 * past (error) from data it decoded with warnings, such as damaged JPEG entropy data (warning).
 */
import type { Sharp, SharpOptions } from 'sharp';
import { loadNativeJpeg, type NativeJpegResult } from './jpeg-native.js';

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'bmp';

export type ImageResult =
  | { ok: true; format: ImageFormat; width: number; height: number; channels: number; pixels: Uint8Array;
      /** Set when the image decoded only by tolerating decoder warnings. */
      warning?: string }
  | { ok: false; kind: 'truncated_image' | 'corrupt_image' | 'oversized_image'; reason: string };

export interface DecodeImageOptions {
  /** Images declaring more pixels are reported, not decoded (decompression bombs). */
  limitInputPixels: number;
}

/**
 * Default pixel limit: 50 megapixels. sharp's own default (268 MP) lets a 249 KB PNG decode to 768 MB, and
 * up to four decodes run at once per process; 50 MP still admits 7000×7000 photos.
 */
export const DEFAULT_LIMIT_INPUT_PIXELS = 50_000_000;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Recognises an encoded image by its magic bytes. */
export function sniffImage(b: Uint8Array): ImageFormat | null {
  // Called on every record: compare bytes, never build strings.
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && PNG_SIGNATURE.every((x, i) => b[i] === x)) return 'png';
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif';
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 &&
      b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'webp'; // RIFF....WEBP
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) ||
      (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a))) return 'tiff';
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return 'bmp';
  return null;
}

type SharpFactory = typeof import('sharp').default;
let sharpModule: SharpFactory | undefined;
async function loadSharp(): Promise<SharpFactory> {
  if (!sharpModule) {
    const mod = (await import('sharp')).default;
    // One libvips thread per image: parallelism comes from several decodes in flight across the libuv pool;
    // measured here, concurrency(2) inside one image brings nothing (MEASURED.md §3).
    mod.concurrency(1);
    mod.cache(false);
    sharpModule = mod;
  }
  return sharpModule;
}

/**
 * Decodes `buf` now, in this call, when it can be done synchronously (a JPEG, with the native decoder built);
 * else null, and decodeImage() is the way. Pixels that fit in `out` are decoded into it: the caller reuses
 * it, so they are valid only until its next use.
 */
export function decodeImageNow(buf: Uint8Array, options: DecodeImageOptions, out?: Uint8Array): ImageResult | null {
  if (sniffImage(buf) !== 'jpeg') return null;
  const native = loadNativeJpeg();
  if (native === null) return null;
  return classifyNativeJpeg(native.decode(buf, options.limitInputPixels, out), buf, options);
}

/** Decodes `buf` to 8-bit pixels, keeping the channel count the file really has. */
export async function decodeImage(buf: Uint8Array, options: DecodeImageOptions): Promise<ImageResult> {
  const format = sniffImage(buf);
  if (format === null) return { ok: false, kind: 'corrupt_image', reason: 'not a recognised image format' };
  const now = decodeImageNow(buf, options);
  if (now !== null) return now;
  const sharp = await loadSharp();
  const channelsHint = declaredChannels(buf, format);
  const dims = declaredSize(buf, format);
  if (dims !== null && dims.width * dims.height > options.limitInputPixels) {
    return {
      ok: false, kind: 'oversized_image',
      reason: `declares ${dims.width}×${dims.height} = ${dims.width * dims.height} pixels, above the limit of ` +
        `${options.limitInputPixels} pixels; not decoded`,
    };
  }
  const run = (failOn: SharpOptions['failOn']): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }> => {
    let img: Sharp = sharp(buf, { failOn, limitInputPixels: options.limitInputPixels, sequentialRead: true });
    // libvips converts to sRGB on output; a grayscale file must stay one channel (MEASURED.md §3).
    if (channelsHint === 1) img = img.toColourspace('b-w');
    return img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  };
  try {
    const { data, info } = await run('warning');
    return { ok: true, format, width: info.width, height: info.height, channels: info.channels, pixels: data };
  } catch (e) {
    // Formats without a header we parse (GIF, WebP, TIFF, BMP) still get sharp's own pixel-limit check.
    if (dims === null && /pixel limit/i.test(errorText(e))) {
      return { ok: false, kind: 'oversized_image', reason: `exceeds the limit of ${options.limitInputPixels} pixels; not decoded` };
    }
  }
  // Classification uses only whether decodes succeed and the file's own structure. libvips keeps one error
  // buffer and warning stream per process, so with decodes in flight on several threads the message text of a
  // failure varies from run to run (measured: "premature end of JPEG image", "Warning treated as error due to
  // failOn setting", "Unknown error" for the same file); quoting it would make reports differ between runs.
  const name = format.toUpperCase();
  if (dims === null && (format === 'jpeg' || format === 'png')) {
    return { ok: false, kind: 'corrupt_image', reason: `${name} header cannot be parsed (no ${format === 'png' ? 'IHDR chunk' : 'frame header'})` };
  }
  if (!hasEndMarker(buf, format)) {
    return {
      ok: false, kind: 'truncated_image',
      reason: `${name} is truncated: no ${format === 'png' ? 'IEND chunk' : 'EOI marker'} at the end of its ${buf.length} bytes, and it does not decode cleanly`,
    };
  }
  try {
    const { data, info } = await run('error');
    return {
      ok: true, format, width: info.width, height: info.height, channels: info.channels, pixels: data,
      warning: `${name} decodes only by tolerating decoder warnings (damaged compressed data)`,
    };
  } catch {
    return { ok: false, kind: 'corrupt_image', reason: `${name} does not decode: its compressed data or chunk checksums are damaged` };
  }
}

/**
 * The native decoder's outcome as an ImageResult, by the same rules as the sharp path: a clean decode is clean;
 * a stream without its EOI marker that does not decode cleanly was cut short; one that decodes only with
 * warnings is damaged (warning); one that does not decode is corrupt. libjpeg's messages come from this call's
 * own error manager, so unlike libvips' they are the same on every run and are quoted.
 */
function classifyNativeJpeg(r: NativeJpegResult, buf: Uint8Array, options: DecodeImageOptions): ImageResult {
  if (r.status === 'ok') {
    return { ok: true, format: 'jpeg', width: r.width, height: r.height, channels: r.channels, pixels: r.pixels };
  }
  if (r.status === 'oversized') {
    return {
      ok: false, kind: 'oversized_image',
      reason: `declares ${r.width}×${r.height} = ${r.width * r.height} pixels, above the limit of ` +
        `${options.limitInputPixels} pixels; not decoded`,
    };
  }
  if (r.status === 'error' && declaredSize(buf, 'jpeg') === null) {
    return { ok: false, kind: 'corrupt_image', reason: `JPEG header cannot be parsed (${r.message})` };
  }
  if (!hasEndMarker(buf, 'jpeg')) {
    return {
      ok: false, kind: 'truncated_image',
      reason: `JPEG is truncated: no EOI marker at the end of its ${buf.length} bytes, and it does not decode cleanly (${r.message})`,
    };
  }
  if (r.status === 'error') {
    return { ok: false, kind: 'corrupt_image', reason: `JPEG does not decode: ${r.message}` };
  }
  return {
    ok: true, format: 'jpeg', width: r.width, height: r.height, channels: r.channels, pixels: r.pixels,
    warning: `JPEG decodes only by tolerating decoder warnings (${r.message}${r.warnings > 1 ? `, and ${r.warnings - 1} more` : ''})`,
  };
}

/** Whether every pixel of an interleaved 8-bit image equals the first (a blank frame, a failed crop). */
export function isConstantImage(pixels: Uint8Array, channels: number): boolean {
  if (pixels.length <= channels) return false;
  // Usually exits within the first few bytes; a full pass only for images that really are constant.
  for (let i = channels; i < pixels.length; i++) if (pixels[i] !== pixels[i % channels]) return false;
  return true;
}

function errorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  // libvips repeats each decoder message once per pass; say each once.
  return [...new Set(msg.split(/\n|; /).map((s) => s.trim()).filter(Boolean))].join('; ');
}

function ascii(b: Uint8Array, at: number, n: number): string {
  return String.fromCharCode(...b.subarray(at, at + n));
}

/** Whether the stream ends as its format requires: JPEG EOI (FFD9), PNG IEND. Other formats: assumed. */
function hasEndMarker(b: Uint8Array, format: ImageFormat): boolean {
  if (format === 'jpeg') {
    // Writers may pad after EOI; look in the last bytes rather than at the very end.
    for (let i = b.length - 2; i >= Math.max(0, b.length - 1024); i--) if (b[i] === 0xff && b[i + 1] === 0xd9) return true;
    return false;
  }
  if (format === 'png') {
    for (let i = b.length - 8; i >= Math.max(0, b.length - 1024); i--) {
      if (b[i] === 0x49 && b[i + 1] === 0x45 && b[i + 2] === 0x4e && b[i + 3] === 0x44) return true;
    }
    return false;
  }
  return true;
}

/** Channels the file declares (PNG IHDR colour type, JPEG SOF component count); null when unknown. */
function declaredChannels(b: Uint8Array, format: ImageFormat): number | null {
  if (format === 'png' && b.length > 25) {
    // IHDR data starts at byte 16: width(4) height(4) bit depth(1) colour type(1).
    const colourType = b[25];
    return colourType === 0 ? 1 : colourType === 4 ? 2 : colourType === 6 ? 4 : 3;
  }
  if (format === 'jpeg') return jpegSof(b)?.components ?? null;
  return null;
}

function declaredSize(b: Uint8Array, format: ImageFormat): { width: number; height: number } | null {
  if (format === 'png') {
    // The first chunk must be IHDR (PNG spec 5.6), at byte 8: length(4) type(4) width(4) height(4).
    if (b.length < 24 || ascii(b, 12, 4) !== 'IHDR') return null;
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return { width: v.getUint32(16), height: v.getUint32(20) };
  }
  if (format === 'jpeg') {
    const sof = jpegSof(b);
    return sof ? { width: sof.width, height: sof.height } : null;
  }
  return null;
}

/** Walks JPEG marker segments to the first SOFn (ITU T.81 B.2.2). */
function jpegSof(b: Uint8Array): { width: number; height: number; components: number } | null {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1]!;
    if (marker === 0xff) { i++; continue; }
    const len = (b[i + 2]! << 8) | b[i + 3]!;
    // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: (b[i + 5]! << 8) | b[i + 6]!, width: (b[i + 7]! << 8) | b[i + 8]!, components: b[i + 9]! };
    }
    if (marker === 0xda || len < 2) return null;
    i += 2 + len;
  }
  return null;
}
