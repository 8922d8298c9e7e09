/*
 * nanscan_png: a strict, synchronous decoder for the common PNGs (8-bit, non-interlaced gray, RGB, gray+alpha,
 * RGBA and palette) on libdeflate. A fast path only: it returns pixels for a file it has verified completely,
 * and for anything else says why it did not, and the caller decodes the file with sharp (libvips on libpng) as
 * before, which also classifies the damage.
 *
 *   decode(buf: Uint8Array, maxPixels: number, out?: Uint8Array) ->
 *     { status: 'ok',          width, height, channels, pixels }
 *     { status: 'unsupported', message }  well-formed as far as read, but a variant left to sharp
 *     { status: 'invalid',     message }  not verified clean: damaged, or something sharp may treat differently
 *     { status: 'oversized',   width, height }
 *
 * 'ok' promises what sharp would give at failOn 'warning' (as src/decode/image.ts calls it): libpng reads the
 * chunks before the first IDAT and the image data; libvips expands palettes (with tRNS: to RGBA) and sharp
 * writes gray+alpha as RGBA. So, beyond the PNG spec (ISO/IEC 15948, "PNG 3rd ed." section numbers below),
 * 'ok' also requires: every chunk CRC right (libpng only checks the ones it reads), the zlib stream to end
 * exactly at the end of the IDAT data with the right Adler-32, IEND last with nothing after it, every palette
 * index inside the palette (libpng maps others to black with a warning), no iCCP (sharp would colour-convert
 * the pixels with it), and nothing libpng would reject (width or height over libvips' 10,000,000).
 *
 * Called from worker processes one image at a time, so it runs on the JS thread: no thread-pool hop.
 * Any byte string gives one of the four results; all reads are bounds-checked against the input length.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>
#include <node_api.h>

/* libvips: png_set_user_limits(VIPS_MAX_COORD, VIPS_MAX_COORD); libpng rejects larger IHDR sizes. */
#define VIPS_MAX_COORD 10000000u
/* Scratch buffers bigger than this are freed after the call rather than kept for the next image. */
#define KEEP_SCRATCH_BYTES (64u << 20)

/* Chunk types as big-endian 32-bit values (section 5.4). */
#define CHUNK(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define T_IHDR CHUNK('I', 'H', 'D', 'R')
#define T_PLTE CHUNK('P', 'L', 'T', 'E')
#define T_IDAT CHUNK('I', 'D', 'A', 'T')
#define T_IEND CHUNK('I', 'E', 'N', 'D')
#define T_tRNS CHUNK('t', 'R', 'N', 'S')
#define T_iCCP CHUNK('i', 'C', 'C', 'P')
#define T_cICP CHUNK('c', 'I', 'C', 'P')
#define T_eXIf CHUNK('e', 'X', 'I', 'f')
#define T_acTL CHUNK('a', 'c', 'T', 'L')
#define T_fcTL CHUNK('f', 'c', 'T', 'L')
#define T_fdAT CHUNK('f', 'd', 'A', 'T')

static const uint8_t SIGNATURE[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};

/* Per-environment state (one per thread that loads the addon): libdeflate's decompressor and two scratch
 * buffers, reused across calls. */
typedef struct {
  struct libdeflate_decompressor *inflater;
  uint8_t *filtered; /* the decompressed, still filtered scanlines */
  size_t filtered_cap;
  uint8_t *idat; /* IDAT data of a file that splits it over several chunks, joined */
  size_t idat_cap;
} state;

static void free_state(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  state *s = data;
  if (s->inflater) libdeflate_free_decompressor(s->inflater);
  free(s->filtered);
  free(s->idat);
  free(s);
}

/* A buffer of at least n bytes from buf and cap, grown when needed; NULL when out of memory. */
static uint8_t *scratch(uint8_t **buf, size_t *cap, size_t n) {
  if (n <= *cap && *buf != NULL) return *buf;
  free(*buf);
  *buf = malloc(n ? n : 1);
  *cap = *buf ? n : 0;
  return *buf;
}

static void trim_scratch(uint8_t **buf, size_t *cap) {
  if (*cap > KEEP_SCRATCH_BYTES) {
    free(*buf);
    *buf = NULL;
    *cap = 0;
  }
}

static uint32_t be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static bool is_letter(uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* Section 9.4: the predictor closest to a + b - c, ties in the order a, b, c. */
static inline uint8_t paeth(int a, int b, int c) {
  int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
  return (uint8_t)((pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c));
}

/*
 * Reverses the filters (section 9) of `height` scanlines of `stride` bytes, each after its filter-type byte in
 * `src`, into `dst` (rows of `stride` bytes). `dst` may be `src` itself: row y is written at y*stride and read
 * from y*(stride+1)+1, so each write lands on a byte already read. Returns false for a filter type over 4.
 * `bpp` is a constant at each call site, so the compiler specialises the loops per pixel size.
 */
static inline bool unfilter(const uint8_t *src, uint8_t *dst, size_t height, size_t stride, size_t bpp) {
  for (size_t y = 0; y < height; y++) {
    const uint8_t *s = src + y * (stride + 1);
    uint8_t filter = *s++;
    uint8_t *d = dst + y * stride;
    const uint8_t *p = y > 0 ? d - stride : d; /* the row above: only read when y > 0 */
    size_t x;
    switch (filter) {
      case 0:
        memmove(d, s, stride);
        break;
      case 1:
        for (x = 0; x < bpp && x < stride; x++) d[x] = s[x];
        for (; x < stride; x++) d[x] = (uint8_t)(s[x] + d[x - bpp]);
        break;
      case 2:
        if (y == 0) memmove(d, s, stride);
        else for (x = 0; x < stride; x++) d[x] = (uint8_t)(s[x] + p[x]);
        break;
      case 3:
        if (y == 0) {
          for (x = 0; x < bpp && x < stride; x++) d[x] = s[x];
          for (; x < stride; x++) d[x] = (uint8_t)(s[x] + (d[x - bpp] >> 1));
        } else {
          for (x = 0; x < bpp && x < stride; x++) d[x] = (uint8_t)(s[x] + (p[x] >> 1));
          for (; x < stride; x++) d[x] = (uint8_t)(s[x] + ((d[x - bpp] + p[x]) >> 1));
        }
        break;
      case 4:
        if (y == 0) { /* b = c = 0: the predictor is a, as for Sub */
          for (x = 0; x < bpp && x < stride; x++) d[x] = s[x];
          for (; x < stride; x++) d[x] = (uint8_t)(s[x] + d[x - bpp]);
        } else {
          for (x = 0; x < bpp && x < stride; x++) d[x] = (uint8_t)(s[x] + p[x]);
          for (; x < stride; x++) d[x] = (uint8_t)(s[x] + paeth(d[x - bpp], p[x], p[x - bpp]));
        }
        break;
      default:
        return false;
    }
  }
  return true;
}

static bool unfilter_bpp(const uint8_t *src, uint8_t *dst, size_t height, size_t stride, size_t bpp) {
  switch (bpp) {
    case 1: return unfilter(src, dst, height, stride, 1);
    case 2: return unfilter(src, dst, height, stride, 2);
    case 3: return unfilter(src, dst, height, stride, 3);
    default: return unfilter(src, dst, height, stride, 4);
  }
}

/* Property setters: any failure leaves a pending exception that N-API raises when we return. */
static void set_str(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  if (napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) == napi_ok) napi_set_named_property(env, obj, key, v);
}

static void set_num(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  if (napi_create_double(env, value, &v) == napi_ok) napi_set_named_property(env, obj, key, v);
}

static napi_value make_result(napi_env env, const char *status) {
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  set_str(env, obj, "status", status);
  return obj;
}

static napi_value message_result(napi_env env, const char *status, const char *message) {
  napi_value obj = make_result(env, status);
  if (obj) set_str(env, obj, "message", message);
  return obj;
}

#define INVALID(msg) return message_result(env, "invalid", msg)
#define UNSUPPORTED(msg) return message_result(env, "unsupported", msg)

static napi_value type_error(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) return type_error(env, "decode(buf: Uint8Array, maxPixels: number)");

  bool is_typed = false;
  napi_typedarray_type ta_type;
  size_t len = 0;
  void *data = NULL;
  napi_is_typedarray(env, argv[0], &is_typed);
  if (!is_typed || napi_get_typedarray_info(env, argv[0], &ta_type, &len, &data, NULL, NULL) != napi_ok ||
      (ta_type != napi_uint8_array && ta_type != napi_uint8_clamped_array))
    return type_error(env, "decode: buf must be a Buffer or Uint8Array");

  double max_pixels = 0;
  if (napi_get_value_double(env, argv[1], &max_pixels) != napi_ok || !(max_pixels >= 0))
    return type_error(env, "decode: maxPixels must be a non-negative number");

  /* Optional: a Uint8Array to decode into when the pixels fit; `pixels` is then a view of its start. */
  napi_value dest_ab = NULL;
  size_t dest_offset = 0, dest_length = 0;
  void *dest = NULL;
  if (argc >= 3) {
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t != napi_undefined) {
      bool dest_typed = false;
      napi_is_typedarray(env, argv[2], &dest_typed);
      if (!dest_typed ||
          napi_get_typedarray_info(env, argv[2], &ta_type, &dest_length, &dest, &dest_ab, &dest_offset) != napi_ok ||
          ta_type != napi_uint8_array)
        return type_error(env, "decode: out must be a Uint8Array");
    }
  }

  state *st = NULL;
  if (napi_get_instance_data(env, (void **)&st) != napi_ok || st == NULL) return NULL;

  const uint8_t *b = data;
  if (len < 8 || memcmp(b, SIGNATURE, 8) != 0) INVALID("no PNG signature");

  /* IHDR (section 11.2.1) must be the first chunk: length 13, then the type, 13 bytes and the CRC. */
  if (len < 8 + 12 + 13 || be32(b + 8) != 13 || be32(b + 12) != T_IHDR) INVALID("no IHDR chunk first");
  const uint8_t *ihdr = b + 16;
  if (libdeflate_crc32(0, b + 12, 4 + 13) != be32(b + 29)) INVALID("IHDR CRC mismatch");
  uint32_t width = be32(ihdr), height = be32(ihdr + 4);
  uint8_t depth = ihdr[8], colour = ihdr[9], compression = ihdr[10], filter_method = ihdr[11], interlace = ihdr[12];
  if (width == 0 || height == 0 || width > 0x7fffffffu || height > 0x7fffffffu) INVALID("IHDR size out of range");
  bool depth_ok;
  switch (colour) {
    case 0: depth_ok = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16; break;
    case 3: depth_ok = depth == 1 || depth == 2 || depth == 4 || depth == 8; break;
    case 2: case 4: case 6: depth_ok = depth == 8 || depth == 16; break;
    default: INVALID("IHDR colour type invalid");
  }
  if (!depth_ok) INVALID("IHDR bit depth invalid for its colour type");
  if (compression != 0 || filter_method != 0 || interlace > 1) INVALID("IHDR method invalid");
  if ((double)width * (double)height > max_pixels) {
    napi_value obj = make_result(env, "oversized");
    if (obj) {
      set_num(env, obj, "width", width);
      set_num(env, obj, "height", height);
    }
    return obj;
  }
  if (width > VIPS_MAX_COORD || height > VIPS_MAX_COORD) INVALID("width or height over libvips' limit");
  if (depth != 8) UNSUPPORTED("bit depth other than 8");
  if (interlace != 0) UNSUPPORTED("interlaced");

  /* Walk every chunk after IHDR (section 5.3: length, type, data, CRC over type and data). */
  size_t pos = 8 + 12 + 13;
  const uint8_t *palette = NULL, *trns = NULL;
  uint32_t palette_len = 0, trns_len = 0;
  const uint8_t *first_idat = NULL;
  size_t idat_total = 0, idat_chunks = 0;
  bool idat_done = false; /* a chunk other than IDAT followed the IDATs */
  bool iend = false;
  while (pos < len) {
    if (len - pos < 12) INVALID("chunk cut short");
    uint32_t n = be32(b + pos);
    uint32_t type = be32(b + pos + 4);
    if (n > 0x7fffffffu) INVALID("chunk length over 2^31-1");
    if (len - pos - 12 < n) INVALID("chunk cut short");
    const uint8_t *tb = b + pos + 4;
    for (int i = 0; i < 4; i++) if (!is_letter(tb[i])) INVALID("chunk type not 4 letters");
    if (libdeflate_crc32(0, tb, 4 + (size_t)n) != be32(b + pos + 8 + n)) INVALID("chunk CRC mismatch");
    const uint8_t *cd = b + pos + 8;
    pos += 12 + (size_t)n;

    if (type == T_IDAT) {
      if (idat_done) INVALID("IDAT chunks not consecutive");
      if (colour == 3 && palette == NULL) INVALID("palette image without PLTE before IDAT");
      if (first_idat == NULL) first_idat = cd;
      idat_total += n;
      idat_chunks++;
      continue;
    }
    if (first_idat != NULL) idat_done = true;
    if (type == T_IEND) {
      if (n != 0 || first_idat == NULL) INVALID("IEND malformed or before IDAT");
      iend = true;
      break;
    }
    if (type == T_IHDR) INVALID("second IHDR");
    if (type == T_PLTE) {
      /* Section 11.2.2: 1..256 entries of 3 bytes, before IDAT, once; optional for RGB, forbidden for gray. */
      if (palette != NULL || first_idat != NULL || n == 0 || n % 3 != 0 || n / 3 > 256) INVALID("PLTE malformed or out of place");
      if (colour != 3) UNSUPPORTED("PLTE in a non-palette image");
      palette = cd;
      palette_len = n / 3;
      continue;
    }
    if (type == T_tRNS) {
      /* libpng keeps tRNS only when it is this and ignores it (a warning) otherwise: then sharp has no alpha. */
      if (colour != 3) UNSUPPORTED("tRNS in a gray or RGB image");
      if (trns != NULL || palette == NULL || first_idat != NULL || n == 0 || n > palette_len) INVALID("tRNS malformed or out of place");
      trns = cd;
      trns_len = n;
      continue;
    }
    if (type == T_iCCP) UNSUPPORTED("iCCP profile (sharp converts the pixels with it)");
    if (type == T_cICP || type == T_eXIf) UNSUPPORTED("cICP or eXIf chunk");
    if (type == T_acTL || type == T_fcTL || type == T_fdAT) UNSUPPORTED("animated PNG");
    /* Bit 5 of the first byte clear: critical (section 5.4). Any other critical chunk is unknown. */
    if ((tb[0] & 0x20) == 0) INVALID("unknown critical chunk");
    /* Other ancillary chunks (gAMA, sRGB, pHYs, text, ...) do not change what libvips decodes; libpng only
     * warns about malformed ones, which sharp ignores. */
  }
  if (!iend) INVALID("no IEND chunk");
  if (pos != len) INVALID("data after IEND");
  if (first_idat == NULL) INVALID("no IDAT chunk");
  if (colour == 3 && palette == NULL) INVALID("palette image without PLTE");

  size_t in_channels = colour == 0 ? 1 : colour == 2 ? 3 : colour == 4 ? 2 : colour == 6 ? 4 : 1;
  size_t out_channels = colour == 0 ? 1 : colour == 2 ? 3 : colour == 3 ? (trns ? 4 : 3) : 4;
  size_t stride = (size_t)width * in_channels;
  size_t filtered_size = (size_t)height * (stride + 1);
  size_t total = (size_t)width * height * out_channels;

  /* The IDAT data, joined when split over several chunks (each chunk's 12 bytes of framing skipped). */
  const uint8_t *z = first_idat;
  if (idat_chunks > 1) {
    uint8_t *joined = scratch(&st->idat, &st->idat_cap, idat_total);
    if (joined == NULL) INVALID("out of memory");
    size_t at = 0;
    for (const uint8_t *p = first_idat - 8; at < idat_total; ) {
      uint32_t n = be32(p);
      memcpy(joined + at, p + 8, n);
      at += n;
      p += 12 + (size_t)n;
    }
    z = joined;
  }

  /* zlib (RFC 1950) header: libpng inflates row by row with the window the header declares, so a match
   * reaching further back than a smaller window fails there and not in libdeflate. Only a window that holds the
   * whole output is certain to agree. */
  if (idat_total < 2) INVALID("zlib stream cut short");
  unsigned cinfo = z[0] >> 4;
  if (cinfo < 7 && ((size_t)1 << (cinfo + 8)) < filtered_size) UNSUPPORTED("zlib window smaller than the image data");

  /* Where to inflate: 8-bit gray, RGB and RGBA need no expansion, so when the filtered scanlines fit in the
   * pixels' own memory they are inflated there and unfiltered in place (no scratch, no copy); else into the
   * scratch buffer, and unfiltered (or expanded) from there into the pixels. */
  bool direct = colour == 0 || colour == 2 || colour == 6;
  napi_value pixels;
  uint8_t *out = NULL, *filtered = NULL;
  if (dest != NULL && total <= dest_length) {
    out = dest;
    if (napi_create_typedarray(env, napi_uint8_array, total, dest_ab, dest_offset, &pixels) != napi_ok) return NULL;
    if (direct && filtered_size <= dest_length) filtered = dest;
  } else {
    /* A new Buffer, of the filtered size when inflating into it; `pixels` is then a view of its start. */
    size_t size = direct ? filtered_size : total;
    napi_value buffer, ab;
    size_t offset = 0;
    if (napi_create_buffer(env, size, (void **)&out, &buffer) != napi_ok || out == NULL ||
        napi_get_typedarray_info(env, buffer, NULL, NULL, NULL, &ab, &offset) != napi_ok ||
        napi_create_typedarray(env, napi_uint8_array, total, ab, offset, &pixels) != napi_ok) {
      bool pending = false;
      napi_value ignored;
      napi_is_exception_pending(env, &pending);
      if (pending) napi_get_and_clear_last_exception(env, &ignored);
      trim_scratch(&st->idat, &st->idat_cap);
      INVALID("out of memory");
    }
    if (direct) filtered = out;
  }
  if (filtered == NULL) {
    filtered = scratch(&st->filtered, &st->filtered_cap, filtered_size);
    if (filtered == NULL) {
      trim_scratch(&st->idat, &st->idat_cap);
      INVALID("out of memory");
    }
  }

  size_t in_used = 0, out_made = 0;
  enum libdeflate_result zr = libdeflate_zlib_decompress_ex(st->inflater, z, idat_total, filtered, filtered_size,
                                                            &in_used, &out_made);
  trim_scratch(&st->idat, &st->idat_cap);
  if (zr != LIBDEFLATE_SUCCESS) {
    trim_scratch(&st->filtered, &st->filtered_cap);
    INVALID(zr == LIBDEFLATE_INSUFFICIENT_SPACE ? "more image data than the image size" : "zlib stream damaged");
  }
  if (out_made != filtered_size || in_used != idat_total) {
    trim_scratch(&st->filtered, &st->filtered_cap);
    INVALID(out_made != filtered_size ? "less image data than the image size" : "data after the zlib stream");
  }

  bool ok;
  const char *why = "bad filter type";
  if (colour == 0 || colour == 2 || colour == 6) {
    ok = unfilter_bpp(filtered, out, height, stride, in_channels);
  } else {
    /* Unfiltered in place, then expanded: palette entries (with tRNS alpha, 255 past its end), or gray+alpha
     * as RGBA, which is what sharp outputs for it. */
    ok = unfilter_bpp(filtered, filtered, height, stride, in_channels);
    size_t count = (size_t)width * height;
    if (ok && colour == 4) {
      for (size_t i = 0; i < count; i++) {
        uint8_t g = filtered[2 * i], a = filtered[2 * i + 1];
        out[4 * i] = g, out[4 * i + 1] = g, out[4 * i + 2] = g, out[4 * i + 3] = a;
      }
    } else if (ok) {
      uint8_t rgba[256][4];
      for (uint32_t i = 0; i < palette_len; i++) {
        rgba[i][0] = palette[3 * i], rgba[i][1] = palette[3 * i + 1], rgba[i][2] = palette[3 * i + 2];
        rgba[i][3] = i < trns_len ? trns[i] : 255;
      }
      uint8_t max_index = 0;
      for (size_t i = 0; i < count; i++) if (filtered[i] > max_index) max_index = filtered[i];
      if (max_index >= palette_len) {
        ok = false;
        why = "palette index past the end of PLTE";
      } else if (out_channels == 4) {
        for (size_t i = 0; i < count; i++) memcpy(out + 4 * i, rgba[filtered[i]], 4);
      } else {
        for (size_t i = 0; i < count; i++) {
          const uint8_t *e = rgba[filtered[i]];
          out[3 * i] = e[0], out[3 * i + 1] = e[1], out[3 * i + 2] = e[2];
        }
      }
    }
  }
  trim_scratch(&st->filtered, &st->filtered_cap);
  if (!ok) INVALID(why);

  napi_value obj = make_result(env, "ok");
  if (!obj) return NULL;
  set_num(env, obj, "width", width);
  set_num(env, obj, "height", height);
  set_num(env, obj, "channels", (double)out_channels);
  napi_set_named_property(env, obj, "pixels", pixels);
  return obj;
}

static napi_value init(napi_env env, napi_value exports) {
  state *st = calloc(1, sizeof *st);
  if (st == NULL) return NULL;
  st->inflater = libdeflate_alloc_decompressor();
  if (st->inflater == NULL || napi_set_instance_data(env, st, free_state, NULL) != napi_ok) {
    free_state(env, st, NULL);
    return NULL;
  }
  napi_value fn, version;
  if (napi_create_function(env, "decode", NAPI_AUTO_LENGTH, decode, NULL, &fn) != napi_ok) return NULL;
  napi_set_named_property(env, exports, "decode", fn);
  if (napi_create_string_utf8(env, "libdeflate " LIBDEFLATE_VERSION_STRING, NAPI_AUTO_LENGTH, &version) == napi_ok)
    napi_set_named_property(env, exports, "version", version);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
