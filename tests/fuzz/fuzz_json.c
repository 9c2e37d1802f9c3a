/* JSON text from any runtime: xr_json_parse, each dialect's writer over what was parsed,
 * xr_json_transcode, xr_json_go_compact, xr_json_write_string and xr_json_format_double.
 *
 * Input: byte 0 picks the writers' flags (bit 0 XR_JSON_SORT_KEYS, bit 1
 * XR_JSON_GO_NO_HTML_ESCAPE); the rest is the JSON text (and, for the string writer, a string;
 * its first 8 bytes, a double for the number formatter).
 *
 * Properties, for every dialect:
 *   - what parses can be written (jansson's depth limit is the writers');
 *   - writing, then parsing again, gives the same value: exactly for Python; for JS and Go
 *     numbers compare as doubles (JS has no integers; Go writes an integral real as "1"), the
 *     text read back as JSON.parse and Go's interface{} do (every number a double);
 *   - writing is a fixed point: transcoding the written text gives the same bytes (Go: except
 *     reals written as integers jansson reads otherwise: -0, and integral values from 2^63 to
 *     1e21, which Go writes in digits and xr_json_parse refuses as too big an integer);
 *   - xr_json_transcode is parse + write;
 *   - whatever jansson accepts, Go's grammar accepts; Go compaction is idempotent and keeps
 *     the value;
 *   - a string of valid UTF-8 always writes and reads back as its bytes; Python's output is
 *     printable ASCII;
 *   - every finite double formats into the buffer and reads back as itself, in no more digits
 *     than the shortest round-tripping %.*e. */
#include <math.h>

#include <jansson.h>

#include "crossredis/alloc.h"
#include "crossredis/json.h"
#include "fuzz.h"

static const xr_json_dialect dialects[] = {XR_JSON_JS, XR_JSON_PYTHON, XR_JSON_GO};
static const char *const dialect_names[] = {"?", "js", "python", "go"};

/* The same value; numbers as doubles when as_double (an integer equals a real of its value). */
static int same(const json_t *a, const json_t *b, int as_double) {
  if (as_double && json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
  if (json_typeof(a) != json_typeof(b)) return 0;
  switch (json_typeof(a)) {
  case JSON_OBJECT: {
    if (json_object_size(a) != json_object_size(b)) return 0;
    const char *key;
    size_t key_len;
    json_t *va;
    json_object_keylen_foreach((json_t *)a, key, key_len, va) {
      json_t *vb = json_object_getn(b, key, key_len);
      if (!vb || !same(va, vb, as_double)) return 0;
    }
    return 1;
  }
  case JSON_ARRAY:
    if (json_array_size(a) != json_array_size(b)) return 0;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!same(json_array_get(a, i), json_array_get(b, i), as_double)) return 0;
    return 1;
  case JSON_STRING:
    return json_string_length(a) == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
  case JSON_INTEGER: return json_integer_value(a) == json_integer_value(b);
  case JSON_REAL: return json_real_value(a) == json_real_value(b);
  default: return 1;
  }
}

/* A real Go writes as an integer that jansson reads back as another value: -0 ("-0", the integer
 * 0) and integral values from 2^63 to 1e21 ("100000000000000000000": too big for an integer, so
 * xr_json_parse refuses the text). Go reads both back as the float64 they were. */
static int go_rereads_differently(const json_t *v) {
  if (json_is_real(v)) {
    double x = json_real_value(v);
    return (x == 0 && signbit(x)) || (x == floor(x) && fabs(x) >= 9223372036854775808.0 && fabs(x) < 1e21);
  }
  if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++)
      if (go_rereads_differently(json_array_get(v, i))) return 1;
  } else if (json_is_object(v)) {
    const char *key;
    json_t *m;
    json_object_foreach((json_t *)v, key, m) {
      if (go_rereads_differently(m)) return 1;
    }
  }
  return 0;
}

/* How the dialect's own runtime reads the text back: JSON.parse reads every number as a double,
 * and so does Go into an interface{}. */
static json_t *reread(const char *text, size_t len, xr_json_dialect d) {
  json_error_t err;
  size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL | (d != XR_JSON_PYTHON ? JSON_DECODE_INT_AS_REAL : 0);
  json_t *v = json_loadb(text, len, flags, &err);
  FUZZ_CHECK(v != NULL, "%s output does not parse: %s: %.*s", dialect_names[d], err.text, (int)(len > 300 ? 300 : len),
             text);
  return v;
}

static void check_parsed(const json_t *v, const char *text, size_t len, unsigned flags) {
  for (size_t k = 0; k < sizeof dialects / sizeof dialects[0]; k++) {
    xr_json_dialect d = dialects[k];
    char *out = NULL;
    size_t out_len = 0;
    int rc = xr_json_write(&out, &out_len, v, d, flags);
    FUZZ_CHECK(rc == XR_OK, "%s cannot write what was parsed (%d)", dialect_names[d], rc);
    FUZZ_CHECK(out[out_len] == '\0' && strlen(out) == out_len, "%s output has a NUL byte", dialect_names[d]);

    json_t *back = reread(out, out_len, d);
    FUZZ_CHECK(same(v, back, d != XR_JSON_PYTHON), "%s: parse(write(parse(x))) differs: %s", dialect_names[d], out);
    json_decref(back);

    char *again = NULL;
    size_t again_len = 0;
    if (d != XR_JSON_GO || !go_rereads_differently(v)) {
      rc = xr_json_transcode(&again, &again_len, out, out_len, d, flags);
      FUZZ_CHECK(rc == XR_OK, "%s cannot transcode its own output (%d): %s", dialect_names[d], rc, out);
      FUZZ_CHECK(again_len == out_len && memcmp(again, out, out_len) == 0, "%s: not a fixed point:\n  %s\n  %s",
                 dialect_names[d], out, again);
      xr_free(again);
    }

    rc = xr_json_transcode(&again, &again_len, text, len, d, flags);
    FUZZ_CHECK(rc == XR_OK && again_len == out_len && memcmp(again, out, out_len) == 0,
               "%s: transcode differs from parse + write (%d)", dialect_names[d], rc);
    xr_free(again);
    xr_free(out);
  }
}

static void check_go_compact(const char *text, size_t len, unsigned flags, const json_t *parsed) {
  unsigned go_flags = flags & XR_JSON_GO_NO_HTML_ESCAPE;
  char *out = NULL;
  size_t out_len = 0;
  int rc = xr_json_go_compact(&out, &out_len, text, len, go_flags);
  if (rc) {
    FUZZ_CHECK_FAILED_WITH_MESSAGE(rc);
    FUZZ_CHECK(rc == XR_EPARSE, "go_compact: %d", rc);
    FUZZ_CHECK(parsed == NULL, "jansson parsed a text Go's grammar refuses");
    return;
  }
  char *again = NULL;
  size_t again_len = 0;
  rc = xr_json_go_compact(&again, &again_len, out, out_len, go_flags);
  FUZZ_CHECK(rc == XR_OK && again_len == out_len && memcmp(again, out, out_len) == 0, "go_compact not idempotent");
  xr_free(again);
  if (parsed) {
    json_t *v = NULL;
    rc = xr_json_parse(&v, out, out_len);
    FUZZ_CHECK(rc == XR_OK && same(parsed, v, 0), "go_compact changed the value: %s", out);
    json_decref(v);
  }
  xr_free(out);
}

static void check_write_string(const char *s, size_t len) {
  json_t *as_utf8 = json_stringn(s, len); /* NULL unless valid UTF-8 */
  for (size_t k = 0; k < sizeof dialects / sizeof dialects[0]; k++) {
    xr_json_dialect d = dialects[k];
    char *out = NULL;
    size_t out_len = 0;
    int rc = xr_json_write_string(&out, &out_len, s, len, d);
    if (rc) {
      FUZZ_CHECK_FAILED_WITH_MESSAGE(rc);
      FUZZ_CHECK(rc == XR_EINVAL && d != XR_JSON_GO && !as_utf8, "%s refused a string (%d)", dialect_names[d], rc);
      continue;
    }
    if (d == XR_JSON_PYTHON)
      for (size_t i = 0; i < out_len; i++)
        FUZZ_CHECK(out[i] >= 0x20 && out[i] < 0x7f, "python output byte 0x%02x", (unsigned char)out[i]);
    if (as_utf8) {
      json_t *back = reread(out, out_len, d);
      FUZZ_CHECK(same(as_utf8, back, 0), "%s string does not read back as its bytes", dialect_names[d]);
      json_decref(back);
    }
    xr_free(out);
  }
  json_decref(as_utf8);
}

/* Digits of the shortest %.*e that reads back as v. */
static int shortest_e_digits(double v) {
  char buf[64];
  for (int p = 1; p < 17; p++) {
    snprintf(buf, sizeof buf, "%.*e", p - 1, v);
    if (strtod(buf, NULL) == v) return p;
  }
  return 17;
}

static int significant_digits(const char *s) {
  int n = 0, leading = 1, zeros = 0;
  for (; *s && *s != 'e'; s++) {
    if (*s < '0' || *s > '9') continue;
    if (leading && *s == '0') continue;
    leading = 0;
    if (*s == '0') {
      zeros++;
    } else {
      n += zeros + 1;
      zeros = 0;
    }
  }
  return n;
}

static void check_format_double(const uint8_t *data, size_t size) {
  if (size < sizeof(double)) return;
  double v;
  memcpy(&v, data, sizeof v);
  for (size_t k = 0; k < sizeof dialects / sizeof dialects[0]; k++) {
    xr_json_dialect d = dialects[k];
    char buf[32];
    memset(buf, 'x', sizeof buf);
    int n = xr_json_format_double(buf, sizeof buf, v, d);
    if (!isfinite(v)) {
      FUZZ_CHECK(n == XR_EINVAL, "%s formatted a non-finite number", dialect_names[d]);
      continue;
    }
    FUZZ_CHECK(n > 0 && n < (int)sizeof buf && (size_t)n == strlen(buf), "%s: length %d", dialect_names[d], n);
    FUZZ_CHECK(strtod(buf, NULL) == v, "%s: %s does not read back as %.17g", dialect_names[d], buf, v);
    if (v != 0)
      FUZZ_CHECK(significant_digits(buf) <= shortest_e_digits(v), "%s: %s is not the shortest for %.17g",
                 dialect_names[d], buf, v);
  }
}

FUZZ_FIXED_JSON_SEED()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned flags = data[0] & (XR_JSON_SORT_KEYS | XR_JSON_GO_NO_HTML_ESCAPE);
  const char *text = (const char *)data + 1;
  size_t len = size - 1;

  check_format_double(data + 1, len);
  check_write_string(text, len);

  json_t *v = NULL;
  int rc = xr_json_parse(&v, text, len);
  if (rc) {
    FUZZ_CHECK_FAILED_WITH_MESSAGE(rc);
    FUZZ_CHECK(rc == XR_EPARSE && v == NULL, "parse: %d", rc);
  } else {
    check_parsed(v, text, len, flags);
  }
  check_go_compact(text, len, flags, v);
  json_decref(v);
  return 0;
}
