/**
 * Encoded image decoding: the only module that imports sharp (libvips). Runs in worker processes. JPEGs go to
 * the native libjpeg-turbo decoder (jpeg-native.ts) when it is built: about 1.7 ms of libvips pipeline set-up
 * per image is most of the time sharp takes on small images. Clean 8-bit PNGs go to the native libdeflate
 * decoder (png-native.ts); any PNG it does not verify clean is decoded and classified by sharp as before.
 *
 * Strictness (measured on these machines with mutated fixtures): sharp's `metadata()` passes truncated and corrupt files,
 * so every image is fully decoded. A decode at `failOn: 'warning'` (the strictest level) that succeeds is
 * clean. When it fails, an unparseable header means corrupt, a missing end marker (JPEG EOI, PNG IEND) means
 * the file was cut short; otherwise a decode at `failOn: 'error'` tells corrupt data the decoder could not get
 * past (error) from data it decoded with warnings, such as damaged JPEG entropy data (warning).
 */
import type { Sharp, SharpOptions } from 'sharp';
import { importEsm } from '../bundle-host.js';
import { bmpSize, decodeBmp } from './bmp.js';
import { loadNativeJpeg, type NativeJpegResult } from './jpeg-native.js';
import { loadNativePng } from './png-native.js';

/** Formats decoded here: JPEG (native or sharp), PNG, GIF, WebP, TIFF and AVIF (sharp), BMP (bmp.ts). */
export type DecodedFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'bmp' | 'avif';
/**
 * Formats recognised by their signature that no decoder here reads (the prebuilt sharp has no ImageMagick,
 * OpenJPEG, JPEG XL or HEVC decoder): such an image is counted as not checked, never reported corrupt.
 */
export type UnsupportedFormat = 'heic' | 'jp2' | 'jxl' | 'ico' | 'psd' | 'pnm';
export type ImageFormat = DecodedFormat | UnsupportedFormat;

const UNSUPPORTED: ReadonlySet<ImageFormat> = new Set<UnsupportedFormat>(['heic', 'jp2', 'jxl', 'ico', 'psd', 'pnm']);

/** Display names of formats, for messages. */
export const FORMAT_NAMES: Readonly<Record<ImageFormat, string>> = {
  jpeg: 'JPEG', png: 'PNG', gif: 'GIF', webp: 'WebP', tiff: 'TIFF', bmp: 'BMP', avif: 'AVIF',
  heic: 'HEIC/HEIF', jp2: 'JPEG 2000', jxl: 'JPEG XL', ico: 'ICO', psd: 'PSD', pnm: 'PNM (PPM/PGM/PBM)',
};

export type ImageResult =
  | { ok: true; format: ImageFormat; width: number; height: number; channels: number; pixels: Uint8Array;
      /** Set when the image decoded only by tolerating decoder warnings. */
      warning?: string;
      /**
       * Set when `pixels` is a reduced-size decode (a JPEG at 1/scale, DCT-domain: each pixel the mean of a
       * scale×scale block): `width` and `height` stay the image's own; the pixels are pixelWidth × pixelHeight.
       */
      scaled?: { scale: number; pixelWidth: number; pixelHeight: number } }
  | { ok: false; kind: 'truncated_image' | 'corrupt_image' | 'oversized_image'; reason: string }
  /** A valid-looking image in a format (or a variant of one) no decoder here reads: not checked. */
  | { ok: false; kind: 'unsupported'; format: ImageFormat; reason: string };

export interface DecodeImageOptions {
  /** Images declaring more pixels are reported, not decoded (decompression bombs). */
  limitInputPixels: number;
  /**
   * Decode JPEGs at 1/scale (1, 2, 4 or 8; native decoder only, other formats ignore it). libjpeg-turbo's scaled
   * decode reads every entropy-coded coefficient as a full decode does: measured (test/decode/jpeg-scale.test.ts)
   * to classify damaged files exactly as a full decode.
   */
  scale?: 1 | 2 | 4 | 8;
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
  // ISO BMFF (HEIF, AVIF, JPEG 2000 part 1 box form): a box of type 'ftyp' or 'jP  ' first.
  if (b.length >= 12 && b[4] === 0x66 && b[5] === 0x74 && b[6] === 0x79 && b[7] === 0x70) return isoBrand(b);
  if (b.length >= 12 && b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0x0c && b[4] === 0x6a && b[5] === 0x50 &&
      b[6] === 0x20 && b[7] === 0x20) return 'jp2';
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0x4f && b[2] === 0xff && b[3] === 0x51) return 'jp2'; // J2K codestream
  if (b.length >= 12 && b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0x0c && b[4] === 0x4a && b[5] === 0x58 &&
      b[6] === 0x4c && b[7] === 0x20) return 'jxl';
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0x0a) return 'jxl'; // JPEG XL codestream
  // ICO: reserved 0, type 1, an image count, and the first image's data right after the directory.
  if (b.length >= 22 && b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0 && b[4]! + b[5]! > 0 && b[9] === 0 &&
      b[18]! + (b[19]! << 8) + (b[20]! << 16) === 6 + 16 * (b[4]! + (b[5]! << 8)) && b[21] === 0) return 'ico';
  if (b.length >= 6 && b[0] === 0x38 && b[1] === 0x42 && b[2] === 0x50 && b[3] === 0x53 && b[4] === 0 && (b[5] === 1 || b[5] === 2)) return 'psd';
  // Binary PNM (P4 bitmap, P5 greymap, P6 pixmap) followed by whitespace: torchvision's .pgm/.ppm.
  if (b.length >= 4 && b[0] === 0x50 && b[1]! >= 0x34 && b[1]! <= 0x36 && (b[2] === 0x0a || b[2] === 0x20 || b[2] === 0x0d || b[2] === 0x09) &&
      ((b[3]! >= 0x30 && b[3]! <= 0x39) || b[3] === 0x23 || b[3] === 0x0a || b[3] === 0x20)) return 'pnm';
  return null;
}

/** An ISO BMFF file's format by its major and compatible brands: AVIF (sharp reads it) or HEIF/HEIC. */
function isoBrand(b: Uint8Array): ImageFormat | null {
  const size = Math.min(b.length, ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0, 256);
  const brands: string[] = [];
  for (let i = 8; i + 4 <= size; i += 4) if (i !== 12) brands.push(ascii(b, i, 4));
  if (brands.some((x) => x === 'avif' || x === 'avis')) return 'avif';
  if (brands.some((x) => ['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs', 'mif1', 'msf1'].includes(x))) return 'heic';
  if (brands.some((x) => x === 'jp2 ' || x === 'jpx ')) return 'jp2';
  return null;
}

type SharpFactory = typeof import('sharp').default;
let sharpModule: SharpFactory | undefined;
async function loadSharp(): Promise<SharpFactory> {
  if (!sharpModule) {
    const mod = (await importEsm<typeof import('sharp')>('sharp')).default;
    // One libvips thread per image: parallelism comes from several decodes in flight across the libuv pool;
    // measured here, concurrency(2) inside one image brings nothing (measured on these machines).
    mod.concurrency(1);
    mod.cache(false);
    sharpModule = mod;
  }
  return sharpModule;
}

/**
 * Decodes `buf` now, in this call, when it can be done synchronously (a BMP; a JPEG, with the native decoder
 * built; a PNG the native PNG decoder verified clean); else null, and decodeImage() is the way. Pixels that fit in `out` are decoded into it: the caller reuses
 * it, so they are valid only until its next use.
 */
export function decodeImageNow(buf: Uint8Array, options: DecodeImageOptions, out?: Uint8Array): ImageResult | null {
  const format = sniffImage(buf);
  if (format === 'bmp') {
    // Pure JavaScript: as fast as anything a thread pool would give it, and libvips here has no BMP loader.
    const r = decodeBmp(buf, options.limitInputPixels);
    if (r.ok) return { ...r, format: 'bmp' };
    return r.kind === 'unsupported' ? { ok: false, kind: 'unsupported', format: 'bmp', reason: r.reason } : { ok: false, kind: r.kind, reason: r.reason };
  }
  if (format === 'png') {
    // A fast path that only ever says clean: any other outcome (damage, doubt, a variant it leaves alone) goes
    // to sharp, which classifies the file exactly as without the addon.
    const r = loadNativePng()?.decode(buf, options.limitInputPixels, out);
    return r?.status === 'ok' ? { ok: true, format: 'png', width: r.width, height: r.height, channels: r.channels, pixels: r.pixels } : null;
  }
  if (format !== 'jpeg') return null;
  const native = loadNativeJpeg();
  if (native === null) return null;
  return classifyNativeJpeg(native.decode(buf, options.limitInputPixels, out, options.scale ?? 1), buf, options);
}

/** Decodes `buf` to 8-bit pixels, keeping the channel count the file really has. */
export async function decodeImage(buf: Uint8Array, options: DecodeImageOptions): Promise<ImageResult> {
  return decodeImageNow(buf, options) ?? decodeImageWithSharp(buf, options);
}

/**
 * What `decodeImage` does when `decodeImageNow` gave null: sharp's decode and classification, for a caller that
 * has already tried the synchronous decoders (so that they do not run twice on the same bytes).
 */
export async function decodeImageWithSharp(buf: Uint8Array, options: DecodeImageOptions): Promise<ImageResult> {
  const format = sniffImage(buf);
  if (format === null) return { ok: false, kind: 'corrupt_image', reason: 'not a recognised image format' };
  if (UNSUPPORTED.has(format)) {
    return { ok: false, kind: 'unsupported', format, reason: `${FORMAT_NAMES[format]} image: no decoder here reads this format` };
  }
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
    // libvips converts to sRGB on output; a grayscale file must stay one channel (measured on these machines).
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
  const name = FORMAT_NAMES[format];
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
    return { ok: true, format: 'jpeg', ...dims(r, options.scale ?? 1), channels: r.channels, pixels: r.pixels };
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
    ok: true, format: 'jpeg', ...dims(r, options.scale ?? 1), channels: r.channels, pixels: r.pixels,
    warning: `JPEG decodes only by tolerating decoder warnings (${r.message}${r.warnings > 1 ? `, and ${r.warnings - 1} more` : ''})`,
  };
}

/** The image's own size, and the size of its pixels when they are a scaled decode. */
function dims(
  r: { width: number; height: number; fullWidth: number; fullHeight: number }, scale: number,
): Pick<Extract<ImageResult, { ok: true }>, 'width' | 'height' | 'scaled'> {
  if (scale === 1) return { width: r.width, height: r.height };
  return { width: r.fullWidth, height: r.fullHeight, scaled: { scale, pixelWidth: r.width, pixelHeight: r.height } };
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
  if (format === 'bmp') return bmpSize(b);
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
