/*
 * nanscan_jpeg: a small, strict, synchronous JPEG decoder on the libjpeg API (libjpeg-turbo).
 *
 *   decode(buf: Uint8Array, maxPixels: number, out?: Uint8Array, scaleDenom?: 1 | 2 | 4 | 8) ->
 *     { status: 'ok',        width, height, channels, pixels, fullWidth, fullHeight }
 *     { status: 'warning',   width, height, channels, pixels, message, warnings }
 *     { status: 'error',     message }
 *     { status: 'oversized', width, height }
 *
 * Called from worker processes one image at a time, so it runs on the JS thread: no thread-pool hop.
 * Any byte string must give one of the four results: libjpeg's fatal errors longjmp back here, never exit().
 */
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t */
#include <string.h>

#include <jpeglib.h>
#include <jerror.h> /* JERR_* codes for ERREXIT */
#include <node_api.h>

#define STR_(x) #x
#define STR(x) STR_(x)

/* TurboJPEG's limit (TJFLAG_LIMITSCANS): a crafted progressive file with thousands of scans makes libjpeg
 * re-walk the coefficient buffer per scan, i.e. decode time without bound. No real encoder writes > ~20.
 * Each scan costs time in proportion to the pixels, so large images get fewer: at most SCAN_PIXEL_BUDGET
 * pixel-scans (measured ~0.4 ms per scan at 256x256, so ~10 s at the bound), never fewer than MIN_SCANS. */
#define MAX_SCANS 500
#define MIN_SCANS 32
#define SCAN_PIXEL_BUDGET 2e9

/* Bounds libjpeg's own allocations (progressive coefficient buffers) independently of maxPixels. */
#define MAX_LIBJPEG_MEMORY (1L << 30)

typedef struct {
  struct jpeg_error_mgr pub; /* first member: libjpeg hands us cinfo->err, we cast it back */
  jmp_buf jump;
  int warnings;
  int max_scans; /* set once the header gives the size */
  char warning[JMSG_LENGTH_MAX]; /* text of the first warning: usually the one that explains the rest */
  char error[JMSG_LENGTH_MAX];
} error_mgr;

static void on_error_exit(j_common_ptr cinfo) {
  error_mgr *err = (error_mgr *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->error);
  longjmp(err->jump, 1);
}

/* level -1 is a warning (corrupt data that libjpeg recovered from); levels >= 0 are trace output. */
static void on_emit_message(j_common_ptr cinfo, int level) {
  error_mgr *err = (error_mgr *)cinfo->err;
  if (level >= 0) return;
  if (err->warnings == 0) (*cinfo->err->format_message)(cinfo, err->warning);
  err->warnings++;
  cinfo->err->num_warnings++;
}

/* The default writes to stderr; everything we report goes back to JS instead. */
static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void on_progress(j_common_ptr cinfo) {
  j_decompress_ptr d = (j_decompress_ptr)cinfo;
  error_mgr *err = (error_mgr *)cinfo->err;
  if (d->input_scan_number > err->max_scans) {
    snprintf(err->error, sizeof err->error, "Too many scans in progressive JPEG (more than %d for its size)", err->max_scans);
    longjmp(err->jump, 1);
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

static napi_value error_result(napi_env env, const char *message) {
  napi_value obj = make_result(env, "error");
  if (obj) set_str(env, obj, "message", message);
  return obj;
}

static napi_value type_error(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) return type_error(env, "decode(buf: Uint8Array, maxPixels: number)");

  /* A view of the caller's bytes (Buffer is a Uint8Array): libjpeg reads them in place, no copy. */
  bool is_typed = false;
  napi_typedarray_type ta_type;
  size_t length = 0;
  void *data = NULL;
  napi_is_typedarray(env, argv[0], &is_typed);
  if (!is_typed || napi_get_typedarray_info(env, argv[0], &ta_type, &length, &data, NULL, NULL) != napi_ok ||
      (ta_type != napi_uint8_array && ta_type != napi_uint8_clamped_array))
    return type_error(env, "decode: buf must be a Buffer or Uint8Array");

  double max_pixels = 0;
  if (napi_get_value_double(env, argv[1], &max_pixels) != napi_ok || !(max_pixels >= 0))
    return type_error(env, "decode: maxPixels must be a non-negative number");

  /* Optional third argument: a Uint8Array to decode into when the pixels fit (the caller reuses it, and it can
   * be memory our scan kernel reads in place); `pixels` is then a view of its start. Checked before decoding. */
  napi_value dest_ab = NULL;
  size_t dest_offset = 0, dest_length = 0;
  void *dest = NULL;
  if (argc >= 3) {
    bool dest_typed = false;
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t != napi_undefined) {
      napi_is_typedarray(env, argv[2], &dest_typed);
      if (!dest_typed ||
          napi_get_typedarray_info(env, argv[2], &ta_type, &dest_length, &dest, &dest_ab, &dest_offset) != napi_ok ||
          ta_type != napi_uint8_array)
        return type_error(env, "decode: out must be a Uint8Array");
    }
  }

  /* Optional fourth argument: decode at 1/scaleDenom size (libjpeg's DCT-domain scaling). The entropy decoder
   * still reads every coefficient, so every error and warning of a full decode is met; only the IDCT and colour
   * conversion work on fewer pixels. */
  unsigned int scale_denom = 1;
  if (argc >= 4) {
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t != napi_undefined) {
      uint32_t d = 0;
      if (napi_get_value_uint32(env, argv[3], &d) != napi_ok || (d != 1 && d != 2 && d != 4 && d != 8))
        return type_error(env, "decode: scaleDenom must be 1, 2, 4 or 8");
      scale_denom = d;
    }
  }

  /* libjpeg would say "Empty input file"; say what the caller gave us instead. */
  if (length == 0 || data == NULL) return error_result(env, "Empty input: 0 bytes");

  struct jpeg_decompress_struct cinfo;
  struct jpeg_progress_mgr progress;
  error_mgr err;
  memset(&cinfo, 0, sizeof cinfo);
  memset(&err, 0, sizeof err);
  err.max_scans = MAX_SCANS;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error_exit;
  err.pub.emit_message = on_emit_message;
  err.pub.output_message = on_output_message;
  progress.progress_monitor = on_progress;

  /* Everything below that libjpeg can longjmp out of touches only cinfo/err (both in memory, addresses
   * taken) and JS values owned by the GC, so nothing leaks and no local needs to be volatile. */
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return error_result(env, err.error);
  }

  jpeg_create_decompress(&cinfo);
  cinfo.mem->max_memory_to_use = MAX_LIBJPEG_MEMORY;
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)length);
  jpeg_read_header(&cinfo, TRUE); /* TRUE: a tables-only stream is an error, not a result */

  double width = cinfo.image_width, height = cinfo.image_height;
  double budget = width * height > 0 ? SCAN_PIXEL_BUDGET / (width * height) : MAX_SCANS;
  err.max_scans = budget >= MAX_SCANS ? MAX_SCANS : budget <= MIN_SCANS ? MIN_SCANS : (int)budget;
  if (width * height > max_pixels) {
    jpeg_destroy_decompress(&cinfo);
    napi_value obj = make_result(env, "oversized");
    if (obj) {
      set_num(env, obj, "width", width);
      set_num(env, obj, "height", height);
    }
    return obj;
  }

  /* Output what the file has: gray -> 1, YCbCr/RGB -> 3 (RGB), CMYK/YCCK -> 4 (CMYK, as stored). */
  cinfo.scale_num = 1;
  cinfo.scale_denom = scale_denom;
  jpeg_calc_output_dimensions(&cinfo);
  size_t channels = (size_t)cinfo.output_components;
  size_t row_bytes = (size_t)cinfo.output_width * channels;
  size_t total = row_bytes * cinfo.output_height;

  /* Created before any scan is decoded so that a longjmp leaves it to the GC rather than leaking it. */
  napi_value pixels;
  void *out = NULL;
  if (dest != NULL && total <= dest_length) {
    out = dest;
    if (napi_create_typedarray(env, napi_uint8_array, total, dest_ab, dest_offset, &pixels) != napi_ok) {
      jpeg_destroy_decompress(&cinfo);
      return NULL; /* the pending exception is raised on return */
    }
  } else if (napi_create_buffer(env, total, &out, &pixels) != napi_ok || (out == NULL && total > 0)) {
    bool pending = false;
    napi_value ignored;
    napi_is_exception_pending(env, &pending);
    if (pending) napi_get_and_clear_last_exception(env, &ignored);
    jpeg_destroy_decompress(&cinfo);
    snprintf(err.error, sizeof err.error, "Cannot allocate %zu bytes for the pixels", total);
    return error_result(env, err.error);
  }

  jpeg_start_decompress(&cinfo); /* a progressive file is read whole here */
  unsigned char *base = out;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW rows[16];
    JDIMENSION n = cinfo.output_height - cinfo.output_scanline;
    if (n > 16) n = 16;
    for (JDIMENSION i = 0; i < n; i++) rows[i] = base + (size_t)(cinfo.output_scanline + i) * row_bytes;
    /* Returns 0 only for a suspending source; jpeg_mem_src never suspends, but never spin either. */
    if (jpeg_read_scanlines(&cinfo, rows, n) == 0) ERREXIT(&cinfo, JERR_INPUT_EOF);
  }
  jpeg_finish_decompress(&cinfo); /* reads up to EOI: markers and garbage after the last scan warn here */
  double full_width = cinfo.image_width, full_height = cinfo.image_height;
  width = cinfo.output_width;
  height = cinfo.output_height;
  jpeg_destroy_decompress(&cinfo);

  napi_value obj = make_result(env, err.warnings ? "warning" : "ok");
  if (!obj) return NULL;
  set_num(env, obj, "width", width);
  set_num(env, obj, "height", height);
  set_num(env, obj, "channels", (double)channels);
  set_num(env, obj, "fullWidth", full_width);
  set_num(env, obj, "fullHeight", full_height);
  napi_set_named_property(env, obj, "pixels", pixels);
  if (err.warnings) {
    set_str(env, obj, "message", err.warning);
    set_num(env, obj, "warnings", err.warnings);
  }
  return obj;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn, version;
  if (napi_create_function(env, "decode", NAPI_AUTO_LENGTH, decode, NULL, &fn) != napi_ok) return NULL;
  napi_set_named_property(env, exports, "decode", fn);
#ifdef LIBJPEG_TURBO_VERSION
  const char *v = "libjpeg-turbo " STR(LIBJPEG_TURBO_VERSION);
#else
  const char *v = "libjpeg " STR(JPEG_LIB_VERSION);
#endif
  if (napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &version) == napi_ok)
    napi_set_named_property(env, exports, "version", version);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
