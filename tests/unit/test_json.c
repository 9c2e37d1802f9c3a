/* Unit tests for json.h (codec/json.c, json_go.c, number.c): the JS, Python and Go writers,
 * parsing, transcoding, Go compaction.
 *
 * Every expected text below was produced once by the real runtime on the development machine
 * (node v20.20.2, Python 3.11.7, go1.26.8) and pasted here as a C literal; nothing is derived from
 * the code under test. The commands, with v the value the test builds:
 *   JS      node -e 'process.stdout.write(JSON.stringify(v))'
 *   Python  python3 -c 'import json,sys; sys.stdout.write(json.dumps(v))'   (sort_keys=True where
 *           the test says so)
 *   Go      json.Marshal(v) in a `go run` program; "Go Encoder" means json.NewEncoder with
 *           SetEscapeHTML(false), its trailing newline removed; Go objects are structs with the
 *           fields in the order shown, or map[string]T where the keys are sorted.
 * Each literal is marked with the runtime that wrote it. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/error.h"
#include "crossredis/json.h"

#define S(lit) lit, sizeof(lit) - 1 /* a string literal as (bytes, length), NULs included */

/* Writes v and compares the whole text, bytes and length. */
static void expect_text(const char *got, size_t got_len, const char *want, size_t want_len) {
  if (got_len != want_len || memcmp(got, want, want_len) != 0) {
    print_error("want (%zu bytes): %.*s\n got (%zu bytes): %.*s\n", want_len, (int)want_len, want,
                got_len, (int)got_len, got);
    fail();
  }
}

static void expect_write_n(const json_t *v, xr_json_dialect d, unsigned flags, const char *want,
                           size_t want_len) {
  char *out = NULL;
  size_t len = 0;
  int rc = xr_json_write(&out, &len, v, d, flags);
  if (rc != XR_OK) print_error("xr_json_write: %s\n", xr_error_last()->message);
  assert_int_equal(rc, XR_OK);
  assert_non_null(out);
  assert_int_equal(out[len], '\0');
  expect_text(out, len, want, want_len);
  xr_free(out);
}
#define EXPECT_WRITE(v, d, flags, lit) expect_write_n(v, d, flags, S(lit))

static void expect_write_fails(const json_t *v, xr_json_dialect d, int code, const char *in_message) {
  char *out = (char *)"untouched";
  xr_error_clear();
  assert_int_equal(xr_json_write(&out, NULL, v, d, 0), code);
  assert_null(out);
  assert_int_equal(xr_error_last()->code, code);
  if (!strstr(xr_error_last()->message, in_message)) {
    print_error("message \"%s\" lacks \"%s\"\n", xr_error_last()->message, in_message);
    fail();
  }
}

/* A string value from raw bytes: jansson's checking constructors refuse WTF-8 and invalid UTF-8. */
static json_t *raw_string(const char *s, size_t len) { return json_stringn_nocheck(s, len); }

static json_t *array_of_reals(const double *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
  return a;
}

static json_t *object_with_keys(const char *const *keys, size_t n) {
  json_t *o = json_object();
  for (size_t i = 0; i < n; i++) json_object_set_new(o, keys[i], json_integer(1));
  return o;
}

/* ---- the value of SPEC.md 1.4 ----------------------------------------------------------------- */

static void test_spec_example(void **state) {
  (void)state;
  json_t *v = json_pack("{s:s, s:i}", "foo", "b\xc3\xa4r", "n", 1);
  EXPECT_WRITE(v, XR_JSON_JS, 0, "{\"foo\":\"b\xc3\xa4r\",\"n\":1}");               /* node */
  EXPECT_WRITE(v, XR_JSON_PYTHON, 0, "{\"foo\": \"b\\u00e4r\", \"n\": 1}");           /* python3 */
  EXPECT_WRITE(v, XR_JSON_GO, 0, "{\"foo\":\"b\xc3\xa4r\",\"n\":1}");               /* go, struct{Foo string; N int} */
  json_decref(v);
}

/* ---- SPEC.md 2.1: toolhive sessions, built in Go's field order -------------------------------- */

static json_t *session(const char *id, const char *type, const char *created, const char *updated) {
  return json_pack("{s:s, s:s, s:s, s:s}", "id", id, "type", type, "created_at", created,
                   "updated_at", updated);
}

static void test_go_sessions(void **state) {
  (void)state;
  /* go: json.Marshal of struct{ID, Type string; CreatedAt, UpdatedAt time.Time;
   * Data json.RawMessage `omitempty`; Metadata map[string]string `omitempty`} */
  json_t *s1 = session("0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f", "sse", "2026-05-20T14:03:07.412337051Z",
                       "2026-05-20T14:03:07.412337051Z");
  EXPECT_WRITE(s1, XR_JSON_GO, 0, "{\"id\":\"0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f\",\"type\":\"sse\",\"created_at\":\"2026-05-20T14:03:07.412337051Z\",\"updated_at\":\"2026-05-20T14:03:07.412337051Z\"}");
  json_t *s2 = session("a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "streamable", "2026-05-20T14:03:07Z",
                       "2026-05-20T14:03:07.5Z");
  EXPECT_WRITE(s2, XR_JSON_GO, 0, "{\"id\":\"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d\",\"type\":\"streamable\",\"created_at\":\"2026-05-20T14:03:07Z\",\"updated_at\":\"2026-05-20T14:03:07.5Z\"}");
  json_t *s3 = session("test-proxy-1", "mcp", "2026-05-20T14:03:07.412337051Z",
                       "2026-05-20T14:03:07.412337051Z");
  json_object_set_new(s3, "data", json_pack("{s:s}", "custom", "data"));
  json_object_set_new(s3, "metadata", json_pack("{s:s, s:s}", "key1", "value1", "key2", "value2"));
  EXPECT_WRITE(s3, XR_JSON_GO, 0, "{\"id\":\"test-proxy-1\",\"type\":\"mcp\",\"created_at\":\"2026-05-20T14:03:07.412337051Z\",\"updated_at\":\"2026-05-20T14:03:07.412337051Z\",\"data\":{\"custom\":\"data\"},\"metadata\":{\"key1\":\"value1\",\"key2\":\"value2\"}}");
  json_decref(s1);
  json_decref(s2);
  json_decref(s3);
}

/* ---- strings ---------------------------------------------------------------------------------- */

static void test_control_characters(void **state) {
  (void)state;
  /* Bytes 0x00..0x1f, DEL, space, '"', '\\', '/'. */
  char s[37];
  for (int i = 0; i < 32; i++) s[i] = (char)i;
  memcpy(s + 32, "\x7f \"\\/", 5);
  json_t *v = json_stringn(s, sizeof s);
  EXPECT_WRITE(v, XR_JSON_JS, 0, "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\x7f \\\"\\\\/\"");
  EXPECT_WRITE(v, XR_JSON_PYTHON, 0, "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\u007f \\\"\\\\/\"");
  EXPECT_WRITE(v, XR_JSON_GO, 0, "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\x7f \\\"\\\\/\"");
  json_decref(v);
}

static void test_nul_inside_string(void **state) {
  (void)state;
  json_t *v = json_stringn("a\0b", 3);
  EXPECT_WRITE(v, XR_JSON_JS, 0, "\"a\\u0000b\"");
  EXPECT_WRITE(v, XR_JSON_PYTHON, 0, "\"a\\u0000b\"");
  EXPECT_WRITE(v, XR_JSON_GO, 0, "\"a\\u0000b\"");
  json_decref(v);
}

static void test_line_separators(void **state) {
  (void)state;
  json_t *v = json_string("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c"); /* "a\u2028b\u2029c" */
  EXPECT_WRITE(v, XR_JSON_JS, 0, "\"a\xe2\x80\xa8" "b\xe2\x80\xa9" "c\"");
  EXPECT_WRITE(v, XR_JSON_PYTHON, 0, "\"a\\u2028b\\u2029c\"");
  EXPECT_WRITE(v, XR_JSON_GO, 0, "\"a\\u2028b\\u2029c\"");
  /* Go Encoder: escaped even without HTML escaping. */
  EXPECT_WRITE(v, XR_JSON_GO, XR_JSON_GO_NO_HTML_ESCAPE, "\"a\\u2028b\\u2029c\"");
  json_decref(v);
}

static void test_html_characters(void **state) {
  (void)state;
  json_t *v = json_string("<a href=\"x\">&amp;</a>");
  EXPECT_WRITE(v, XR_JSON_JS, 0, "\"<a href=\\\"x\\\">&amp;</a>\"");
  EXPECT_WRITE(v, XR_JSON_PYTHON, 0, "\"<a href=\\\"x\\\">&amp;</a>\"");
  EXPECT_WRITE(v, XR_JSON_GO, 0, "\"\\u003ca href=\\\"x\\\"\\u003e\\u0026amp;\\u003c/a\\u003e\"");
  EXPECT_WRITE(v, XR_JSON_GO, XR_JSON_GO_NO_HTML_ESCAPE, "\"<a href=\\\"x\\\">&amp;</a>\""); /* Go Encoder */
  /* The flag is Go's only. */
  EXPECT_WRITE(v, XR_JSON_JS, XR_JSON_GO_NO_HTML_ESCAPE, "\"<a href=\\\"x\\\">&amp;</a>\"");
  json_decref(v);
}

static void test_astral_and_non_ascii(void **state) {
  (void)state;
  json_t *v = json_string("\xf0\x9f\x98\x80\xc3\xa9\xe4\xb8\xad"); /* U+1F600 U+00E9 U+4E2D */
  EXPECT_WRITE(v, XR_JSON_JS, 0, "\"\xf0\x9f\x98\x80\xc3\xa9\xe4\xb8\xad\"");
  EXPECT_WRITE(v, XR_JSON_PYTHON, 0, "\"\\ud83d\\ude00\\u00e9\\u4e2d\"");
  EXPECT_WRITE(v, XR_JSON_GO, 0, "\"\xf0\x9f\x98\x80\xc3\xa9\xe4\xb8\xad\"");
  json_decref(v);
}

static void test_lone_surrogates(void **state) {
  (void)state;
  /* WTF-8 of 'a\ud800b\udfffc\ude00\ud83d': lone surrogates, the last two a pair in the wrong
   * order. */
  json_t *lone = raw_string(S("a\xed\xa0\x80" "b\xed\xbf\xbf" "c\xed\xb8\x80\xed\xa0\xbd"));
  EXPECT_WRITE(lone, XR_JSON_JS, 0, "\"a\\ud800b\\udfffc\\ude00\\ud83d\"");
  EXPECT_WRITE(lone, XR_JSON_PYTHON, 0, "\"a\\ud800b\\udfffc\\ude00\\ud83d\"");
  /* '\ud83d\ude00' as two WTF-8 sequences: one character to JS, two code points to Python. */
  json_t *pair = raw_string(S("\xed\xa0\xbd\xed\xb8\x80"));
  EXPECT_WRITE(pair, XR_JSON_JS, 0, "\"\xf0\x9f\x98\x80\"");
  EXPECT_WRITE(pair, XR_JSON_PYTHON, 0, "\"\\ud83d\\ude00\"");
  /* go: string([]byte("a\xed\xa0\x80b")): a surrogate is invalid UTF-8 to Go, byte by byte. */
  json_t *go = raw_string(S("a\xed\xa0\x80" "b"));
  EXPECT_WRITE(go, XR_JSON_GO, 0, "\"a\\ufffd\\ufffd\\ufffdb\"");
  json_decref(lone);
  json_decref(pair);
  json_decref(go);
}

static void test_invalid_utf8(void **state) {
  (void)state;
  json_t *v1 = raw_string(S("a\xff" "b\xc0\x80" "c\xe2\x82"));
  /* go: every byte that does not start a valid sequence becomes U+FFFD on its own */
  EXPECT_WRITE(v1, XR_JSON_GO, 0, "\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\"");
  expect_write_fails(v1, XR_JSON_JS, XR_EINVAL, "string at byte 1 (0xff)");
  expect_write_fails(v1, XR_JSON_PYTHON, XR_EINVAL, "string at byte 1 (0xff)");
  /* Overlong, above U+10FFFF, truncated, a real U+FFFD, a 5-byte form. */
  json_t *v2 = raw_string(S("\xe0\x80\x80|\xf4\x90\x80\x80|\xf0\x9f\x98x|\xef\xbf\xbd|\xf8\x88\x80\x80\x80"));
  EXPECT_WRITE(v2, XR_JSON_GO, 0, "\"\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffdx|\xef\xbf\xbd|\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
  expect_write_fails(v2, XR_JSON_JS, XR_EINVAL, "at byte 0 (0xe0)");
  /* A truncated sequence at the very end, and in a key. */
  json_t *v3 = raw_string(S("ok\xe2\x82"));
  expect_write_fails(v3, XR_JSON_PYTHON, XR_EINVAL, "at byte 2 (0xe2)");
  json_t *obj = json_object();
  json_object_setn_new_nocheck(obj, "k\xff", 2, json_null());
  expect_write_fails(obj, XR_JSON_JS, XR_EINVAL, "object key at byte 1");
  json_decref(v1);
  json_decref(v2);
  json_decref(v3);
  json_decref(obj);
}

static void test_write_string(void **state) {
  (void)state;
  char *out;
  size_t len;
  assert_int_equal(xr_json_write_string(&out, &len, S("b\xc3\xa4r<"), XR_JSON_PYTHON), XR_OK);
  expect_text(out, len, S("\"b\\u00e4r<\"")); /* python3: json.dumps("bär<") */
  xr_free(out);
  assert_int_equal(xr_json_write_string(&out, &len, S("b\xc3\xa4r<"), XR_JSON_GO), XR_OK);
  expect_text(out, len, S("\"b\xc3\xa4r\\u003c\"")); /* go: json.Marshal("bär<") */
  xr_free(out);
  assert_int_equal(xr_json_write_string(&out, &len, NULL, 0, XR_JSON_JS), XR_OK);
  expect_text(out, len, S("\"\""));
  xr_free(out);
  assert_int_equal(xr_json_write_string(&out, &len, NULL, 1, XR_JSON_JS), XR_EINVAL);
  assert_int_equal(xr_json_write_string(&out, &len, S("\xff"), XR_JSON_JS), XR_EINVAL);
  assert_null(out);
  assert_int_equal(xr_json_write_string(&out, &len, S("x"), (xr_json_dialect)9), XR_EINVAL);
}

/* ---- numbers ---------------------------------------------------------------------------------- */

/* 2^-1017 and 2^-957: powers of two whose shortest decimal is not the nearest one of its length. */
static const double reals[] = {0.0, -0.0, 1, -1, 0.1, 1e21, 1e-7, 1e-6, 123456789012345678.0,
                               5e-324, 1.7976931348623157e308, 100.0, 1e16, 1e15, 0.0001, 0.00001,
                               1.5e300, 1.5e-10, 1e20, 123e-20, 9007199254740992.0, 0.000001234,
                               0.30000000000000004, 2.2250738585072014e-308, 1e23,
                               9.999999999999999e22, -1.5e-7, 9.99999e-7, 7.120236347223045e-307,
                               8.209073602596753e-289};

static void test_reals(void **state) {
  (void)state;
  json_t *v = array_of_reals(reals, sizeof reals / sizeof reals[0]);
  EXPECT_WRITE(v, XR_JSON_JS, 0, "[0,0,1,-1,0.1,1e+21,1e-7,0.000001,123456789012345680,5e-324,1.7976931348623157e+308,100,10000000000000000,1000000000000000,0.0001,0.00001,1.5e+300,1.5e-10,100000000000000000000,1.23e-18,9007199254740992,0.000001234,0.30000000000000004,2.2250738585072014e-308,1e+23,1e+23,-1.5e-7,9.99999e-7,7.120236347223045e-307,8.209073602596753e-289]");     /* node, the list as JS numbers */
  EXPECT_WRITE(v, XR_JSON_PYTHON, 0, "[0.0, -0.0, 1.0, -1.0, 0.1, 1e+21, 1e-07, 1e-06, 1.2345678901234568e+17, 5e-324, 1.7976931348623157e+308, 100.0, 1e+16, 1000000000000000.0, 0.0001, 1e-05, 1.5e+300, 1.5e-10, 1e+20, 1.23e-18, 9007199254740992.0, 1.234e-06, 0.30000000000000004, 2.2250738585072014e-308, 1e+23, 1e+23, -1.5e-07, 9.99999e-07, 7.120236347223045e-307, 8.209073602596753e-289]"); /* python3, the list as floats */
  EXPECT_WRITE(v, XR_JSON_GO, 0, "[0,-0,1,-1,0.1,1e+21,1e-7,0.000001,123456789012345680,5e-324,1.7976931348623157e+308,100,10000000000000000,1000000000000000,0.0001,0.00001,1.5e+300,1.5e-10,100000000000000000000,1.23e-18,9007199254740992,0.000001234,0.30000000000000004,2.2250738585072014e-308,1e+23,1e+23,-1.5e-7,9.99999e-7,7.120236347223045e-307,8.209073602596753e-289]");     /* go, []float64 */
  json_decref(v);
}

static void test_integers(void **state) {
  (void)state;
  json_t *v = json_pack("[I, I, I, I, I, I]", (json_int_t)0, (json_int_t)1, (json_int_t)-1,
                        (json_int_t)9007199254740993LL, (json_int_t)INT64_MIN, (json_int_t)INT64_MAX);
  /* node: the same integer literals, which JS reads as doubles */
  EXPECT_WRITE(v, XR_JSON_JS, 0, "[0,1,-1,9007199254740992,-9223372036854776000,9223372036854776000]");
  EXPECT_WRITE(v, XR_JSON_PYTHON, 0, "[0, 1, -1, 9007199254740993, -9223372036854775808, 9223372036854775807]"); /* python3, ints */
  EXPECT_WRITE(v, XR_JSON_GO, 0, "[0,1,-1,9007199254740993,-9223372036854775808,9223372036854775807]");     /* go, []int64 */
  json_decref(v);
}

static void expect_double(double v, xr_json_dialect d, const char *want) {
  char buf[32];
  int n = xr_json_format_double(buf, sizeof buf, v, d);
  assert_int_equal(n, (int)strlen(want));
  assert_string_equal(buf, want);
}

static void test_format_double(void **state) {
  (void)state;
  /* node: String(x); python3: repr(x); go: json.Marshal(x) */
  expect_double(-0.0, XR_JSON_JS, "0");
  expect_double(-0.0, XR_JSON_PYTHON, "-0.0");
  expect_double(-0.0, XR_JSON_GO, "-0");
  expect_double(1e21, XR_JSON_JS, "1e+21");
  expect_double(1e-7, XR_JSON_PYTHON, "1e-07");
  expect_double(-1.5e-10, XR_JSON_GO, "-1.5e-10");
  expect_double(-0.0000012345678901234567, XR_JSON_GO, "-0.0000012345678901234567");
  char buf[32];
  assert_int_equal(xr_json_format_double(buf, sizeof buf, NAN, XR_JSON_JS), XR_EINVAL);
  assert_int_equal(xr_json_format_double(buf, sizeof buf, INFINITY, XR_JSON_PYTHON), XR_EINVAL);
  assert_int_equal(xr_json_format_double(buf, sizeof buf, -INFINITY, XR_JSON_GO), XR_EINVAL);
  assert_int_equal(xr_json_format_double(buf, 31, 1.0, XR_JSON_GO), XR_EINVAL);
  assert_int_equal(xr_json_format_double(buf, sizeof buf, 1.0, (xr_json_dialect)0), XR_EINVAL);
}

/* ---- objects ---------------------------------------------------------------------------------- */

static void test_insertion_order(void **state) {
  (void)state;
  /* jansson keeps insertion order; all three runtimes write it (Go: a struct Z, A, M). */
  json_t *v = json_pack("{s:i, s:i, s:i}", "z", 1, "a", 2, "m", 3);
  EXPECT_WRITE(v, XR_JSON_JS, 0, "{\"z\":1,\"a\":2,\"m\":3}");
  EXPECT_WRITE(v, XR_JSON_PYTHON, 0, "{\"z\": 1, \"a\": 2, \"m\": 3}");
  EXPECT_WRITE(v, XR_JSON_GO, 0, "{\"z\":1,\"a\":2,\"m\":3}");
  json_decref(v);
}

static void test_js_integer_keys_first(void **state) {
  (void)state;
  static const char *const keys[] = {"b",  "2",          "1",          "a",  "01", "4294967294",
                                     "4294967295", "-1", "10", "1.5", "0"};
  json_t *v = object_with_keys(keys, sizeof keys / sizeof keys[0]);
  /* node: JSON.stringify(JSON.parse('{"b":1,"2":1,...}')) with the keys in this order */
  EXPECT_WRITE(v, XR_JSON_JS, 0, "{\"0\":1,\"1\":1,\"2\":1,\"10\":1,\"4294967294\":1,\"b\":1,\"a\":1,\"01\":1,\"4294967295\":1,\"-1\":1,\"1.5\":1}");
  /* python3: the same through json.loads (dicts keep insertion order) */
  EXPECT_WRITE(v, XR_JSON_PYTHON, 0, "{\"b\": 1, \"2\": 1, \"1\": 1, \"a\": 1, \"01\": 1, \"4294967294\": 1, \"4294967295\": 1, \"-1\": 1, \"10\": 1, \"1.5\": 1, \"0\": 1}");
  json_decref(v);
}

static void test_sort_keys(void **state) {
  (void)state;
  static const char *const keys[] = {"b", "\xc3\xa9", "", "aa", "Z", "a", "9", "10"};
  json_t *v = object_with_keys(keys, sizeof keys / sizeof keys[0]);
  json_object_setn_new(v, "\0k", 2, json_integer(1));
  /* python3: json.dumps(v, sort_keys=True) */
  EXPECT_WRITE(v, XR_JSON_PYTHON, XR_JSON_SORT_KEYS, "{\"\": 1, \"\\u0000k\": 1, \"10\": 1, \"9\": 1, \"Z\": 1, \"a\": 1, \"aa\": 1, \"b\": 1, \"\\u00e9\": 1}");
  /* go: map[string]int */
  EXPECT_WRITE(v, XR_JSON_GO, XR_JSON_SORT_KEYS, "{\"\":1,\"\\u0000k\":1,\"10\":1,\"9\":1,\"Z\":1,\"a\":1,\"aa\":1,\"b\":1,\"\xc3\xa9\":1}");
  /* node: an object built with the keys in byte order still lists "9" and "10" first */
  EXPECT_WRITE(v, XR_JSON_JS, XR_JSON_SORT_KEYS, "{\"9\":1,\"10\":1,\"\":1,\"\\u0000k\":1,\"Z\":1,\"a\":1,\"aa\":1,\"b\":1,\"\xc3\xa9\":1}");
  json_decref(v);
}

static void test_nested_and_empty(void **state) {
  (void)state;
  json_t *v = json_pack("{s:[], s:{}, s:[i, [i, {s:n, s:b, s:b}]], s:s}", "a", "b", "c", 1, 2,
                        "d", "e", 1, "f", 0, "g", "x");
  EXPECT_WRITE(v, XR_JSON_JS, 0, "{\"a\":[],\"b\":{},\"c\":[1,[2,{\"d\":null,\"e\":true,\"f\":false}]],\"g\":\"x\"}");
  EXPECT_WRITE(v, XR_JSON_PYTHON, 0, "{\"a\": [], \"b\": {}, \"c\": [1, [2, {\"d\": null, \"e\": true, \"f\": false}]], \"g\": \"x\"}");
  EXPECT_WRITE(v, XR_JSON_GO, 0, "{\"a\":[],\"b\":{},\"c\":[1,[2,{\"d\":null,\"e\":true,\"f\":false}]],\"g\":\"x\"}"); /* go: a struct A, B, C, G */
  json_decref(v);
  json_t *o = json_object(), *a = json_array(), *s = json_string("str"), *n = json_null(),
         *t = json_true();
  for (xr_json_dialect d = XR_JSON_JS; d <= XR_JSON_GO; d++) {
    EXPECT_WRITE(o, d, 0, "{}");  /* all three runtimes */
    EXPECT_WRITE(a, d, 0, "[]");
    EXPECT_WRITE(s, d, 0, "\"str\"");
    EXPECT_WRITE(n, d, 0, "null");
    EXPECT_WRITE(t, d, 0, "true");
  }
  json_decref(o);
  json_decref(a);
  json_decref(s);
}

static void test_write_arguments(void **state) {
  (void)state;
  char *out;
  json_t *v = json_null();
  assert_int_equal(xr_json_write(&out, NULL, NULL, XR_JSON_JS, 0), XR_EINVAL);
  assert_int_equal(xr_json_write(NULL, NULL, v, XR_JSON_JS, 0), XR_EINVAL);
  assert_int_equal(xr_json_write(&out, NULL, v, (xr_json_dialect)4, 0), XR_EINVAL);
  assert_int_equal(xr_json_write(&out, NULL, v, XR_JSON_GO, 1u << 7), XR_EINVAL);
  assert_int_equal(xr_json_write(&out, NULL, v, XR_JSON_GO, 0), XR_OK);
  assert_string_equal(out, "null");
  xr_free(out);
}

static json_t *nested_arrays(int depth) {
  json_t *v = json_array();
  for (int i = 1; i < depth; i++) {
    json_t *outer = json_array();
    json_array_append_new(outer, v);
    v = outer;
  }
  return v;
}

static void test_depth_limit(void **state) {
  (void)state;
  json_t *ok = nested_arrays(2000), *deep = nested_arrays(3000);
  char *out;
  size_t len;
  assert_int_equal(xr_json_write(&out, &len, ok, XR_JSON_JS, 0), XR_OK);
  assert_int_equal(len, 4000);
  xr_free(out);
  expect_write_fails(deep, XR_JSON_PYTHON, XR_EINVAL, "deeper than");
  json_decref(ok);
  json_decref(deep);
}

/* ---- parsing and transcoding ------------------------------------------------------------------ */

static void test_parse_keeps_order_and_last_duplicate(void **state) {
  (void)state;
  json_t *v = NULL;
  assert_int_equal(xr_json_parse(&v, S("{\"a\":1,\"b\":2,\"a\":3}")), XR_OK);
  assert_int_equal(json_object_size(v), 2);
  /* node: JSON.stringify(JSON.parse(text)); python3: json.dumps(json.loads(text)) */
  EXPECT_WRITE(v, XR_JSON_JS, 0, "{\"a\":3,\"b\":2}");
  EXPECT_WRITE(v, XR_JSON_PYTHON, 0, "{\"a\": 3, \"b\": 2}");
  json_decref(v);
}

static void test_parse_nul_and_scalars(void **state) {
  (void)state;
  json_t *v = NULL;
  assert_int_equal(xr_json_parse(&v, S("\"a\\u0000b\"")), XR_OK);
  assert_int_equal(json_string_length(v), 3);
  assert_memory_equal(json_string_value(v), "a\0b", 3);
  json_decref(v);
  assert_int_equal(xr_json_parse(&v, S(" 12 ")), XR_OK);
  assert_true(json_is_integer(v));
  json_decref(v);
  /* A raw NUL byte after the value: jansson alone would accept it as the end of the text. */
  assert_int_equal(xr_json_parse(&v, S("1\0")), XR_EPARSE);
  assert_null(v);
  assert_string_equal(xr_error_last()->message, "JSON text: NUL byte at byte 1");
}

static void expect_parse_error(const char *text, size_t len, const char *in_message) {
  json_t *v = (json_t *)&v;
  assert_int_equal(xr_json_parse(&v, text, len), XR_EPARSE);
  assert_null(v);
  if (!strstr(xr_error_last()->message, in_message)) {
    print_error("message \"%s\" lacks \"%s\"\n", xr_error_last()->message, in_message);
    fail();
  }
}

static void test_parse_errors(void **state) {
  (void)state;
  expect_parse_error(S("{\n  \"a\": 1,\n  \"b\": x\n}"), "line 3 column 8 (byte 20): invalid token");
  expect_parse_error(S("[1] x"), "line 1 column 5");
  expect_parse_error(S(""), "line 1 column 0");
  expect_parse_error(S("\"\xff\""), "unable to decode byte 0xff");
  /* jansson limits, documented in json.h */
  expect_parse_error(S("\"\\ud800\""), "invalid Unicode");
  expect_parse_error(S("{\"a\\u0000\":1}"), "NUL byte in object key");
  expect_parse_error(S("123456789012345678901"), "too big integer");
  json_t *v;
  assert_int_equal(xr_json_parse(&v, NULL, 0), XR_EINVAL);
  assert_int_equal(xr_json_parse(NULL, S("1")), XR_EINVAL);
}

static void test_transcode(void **state) {
  (void)state;
  static const char text[] =
      "{\"n\":9007199254740993,\"x\":1.0,\"y\":1e21,\"z\":-0,\"w\":100000000000000000000,"
      "\"v\":[1E2,0.5e-6]}";
  char *out;
  size_t len;
  /* node: JSON.stringify(JSON.parse(text)) */
  assert_int_equal(xr_json_transcode(&out, &len, S(text), XR_JSON_JS, 0), XR_OK);
  expect_text(out, len, S("{\"n\":9007199254740992,\"x\":1,\"y\":1e+21,\"z\":0,\"w\":100000000000000000000,\"v\":[100,5e-7]}"));
  xr_free(out);
  /* Python keeps integers of any size; jansson stops at 64 bits (documented in json.h). */
  assert_int_equal(xr_json_transcode(&out, &len, S(text), XR_JSON_PYTHON, 0), XR_EPARSE);
  assert_non_null(strstr(xr_error_last()->message, "too big integer"));
  static const char small[] =
      "{\"n\":9007199254740993,\"x\":1.0,\"y\":1e21,\"z\":-0,\"v\":[1E2,0.5e-6]}";
  /* python3: json.dumps(json.loads(small)) */
  assert_int_equal(xr_json_transcode(&out, &len, S(small), XR_JSON_PYTHON, 0), XR_OK);
  expect_text(out, len, S("{\"n\": 9007199254740993, \"x\": 1.0, \"y\": 1e+21, \"z\": 0, \"v\": [100.0, 5e-07]}"));
  xr_free(out);
  assert_int_equal(xr_json_transcode(&out, &len, S("[1,"), XR_JSON_GO, 0), XR_EPARSE);
  assert_null(out);
}

/* ---- Go's compaction of a json.RawMessage ----------------------------------------------------- */

static void expect_compact_n(const char *text, size_t len, unsigned flags, const char *want,
                             size_t want_len) {
  char *out = NULL;
  size_t out_len = 0;
  int rc = xr_json_go_compact(&out, &out_len, text, len, flags);
  if (rc != XR_OK) print_error("xr_json_go_compact: %s\n", xr_error_last()->message);
  assert_int_equal(rc, XR_OK);
  expect_text(out, out_len, want, want_len);
  xr_free(out);
}

static void test_go_compact(void **state) {
  (void)state;
  static const char raw1[] = "{ \"a\" : [1, 2.50, \"<x>\"] , \"b\":\"\\u00e4\" }";
  /* go: json.Marshal(json.RawMessage(raw1)) and the Go Encoder */
  expect_compact_n(S(raw1), 0, S("{\"a\":[1,2.50,\"\\u003cx\\u003e\"],\"b\":\"\\u00e4\"}"));
  expect_compact_n(S(raw1), XR_JSON_GO_NO_HTML_ESCAPE, S("{\"a\":[1,2.50,\"<x>\"],\"b\":\"\\u00e4\"}"));
  /* White space of every kind, U+2028/U+2029, escapes kept, a byte that is not UTF-8, a number
   * Go would never write. Without HTML escaping Go leaves U+2028/U+2029 raw here. */
  static const char raw2[] = "\t[ {\"k&\" :\r\n \"a\xe2\x80\xa8" "b\xe2\x80\xa9 > \\\" \\\\ \\/ \xff\" }, "
                             "-0.0e+5 , true,false , null, \"\" ]\n ";
  expect_compact_n(S(raw2), 0, S("[{\"k\\u0026\":\"a\\u2028b\\u2029 \\u003e \\\" \\\\ \\/ \xff\"},-0.0e+5,true,false,null,\"\"]"));
  expect_compact_n(S(raw2), XR_JSON_GO_NO_HTML_ESCAPE, S("[{\"k&\":\"a\xe2\x80\xa8" "b\xe2\x80\xa9 > \\\" \\\\ \\/ \xff\"},-0.0e+5,true,false,null,\"\"]"));
}

static void expect_compact_error(const char *text, size_t len, const char *in_message) {
  char *out = (char *)"untouched";
  assert_int_equal(xr_json_go_compact(&out, NULL, text, len, 0), XR_EPARSE);
  assert_null(out);
  if (!strstr(xr_error_last()->message, in_message)) {
    print_error("message \"%s\" lacks \"%s\"\n", xr_error_last()->message, in_message);
    fail();
  }
}

static char *brackets(int depth) {
  char *s = malloc((size_t)depth * 2);
  memset(s, '[', (size_t)depth);
  memset(s + depth, ']', (size_t)depth);
  return s;
}

static void test_go_compact_rejects(void **state) {
  (void)state;
  /* go: json.Valid is false for each of these */
  expect_compact_error(S("{\"a\":01}"), "at byte 6");
  expect_compact_error(S(""), "unexpected end at byte 0");
  expect_compact_error(S("[1,]"), "value expected at byte 3");
  expect_compact_error(S("{\"a\" 1}"), "':' expected after object key at byte 5");
  expect_compact_error(S("\"abc"), "unterminated string");
  expect_compact_error(S("[1] x"), "text after the JSON value at byte 4");
  expect_compact_error(S("tru"), "invalid literal at byte 0");
  expect_compact_error(S("nul"), "invalid literal");
  expect_compact_error(S("\"\\x\""), "invalid escape in string at byte 2");
  expect_compact_error(S("\"\\u12g4\""), "invalid \\u escape");
  expect_compact_error(S("\"a\nb\""), "control character in string at byte 2");
  expect_compact_error(S("-"), "digit expected");
  expect_compact_error(S("1."), "digit expected");
  expect_compact_error(S("1e"), "digit expected");
  expect_compact_error(S("01"), "text after the JSON value at byte 1");
  expect_compact_error(S("+1"), "value expected");
  expect_compact_error(S(".5"), "value expected");
  expect_compact_error(S("{,}"), "object key expected");
  expect_compact_error(S("[1 2]"), "',' or ']' expected");
  expect_compact_error(S("{\"a\":1,}"), "object key expected");
  expect_compact_error(S("{\"a\":1]"), "',' or '}' expected");
  /* go: json.Valid accepts 10000 nested arrays and refuses 10001 */
  char *ok = brackets(10000), *deep = brackets(10001);
  char *out;
  size_t len;
  assert_int_equal(xr_json_go_compact(&out, &len, ok, 20000, 0), XR_OK);
  assert_int_equal(len, 20000);
  xr_free(out);
  expect_compact_error(deep, 20002, "maximum depth");
  free(ok);
  free(deep);
  assert_int_equal(xr_json_go_compact(&out, &len, NULL, 0, 0), XR_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spec_example),
      cmocka_unit_test(test_go_sessions),
      cmocka_unit_test(test_control_characters),
      cmocka_unit_test(test_nul_inside_string),
      cmocka_unit_test(test_line_separators),
      cmocka_unit_test(test_html_characters),
      cmocka_unit_test(test_astral_and_non_ascii),
      cmocka_unit_test(test_lone_surrogates),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_write_string),
      cmocka_unit_test(test_reals),
      cmocka_unit_test(test_integers),
      cmocka_unit_test(test_format_double),
      cmocka_unit_test(test_insertion_order),
      cmocka_unit_test(test_js_integer_keys_first),
      cmocka_unit_test(test_sort_keys),
      cmocka_unit_test(test_nested_and_empty),
      cmocka_unit_test(test_write_arguments),
      cmocka_unit_test(test_depth_limit),
      cmocka_unit_test(test_parse_keeps_order_and_last_duplicate),
      cmocka_unit_test(test_parse_nul_and_scalars),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_transcode),
      cmocka_unit_test(test_go_compact),
      cmocka_unit_test(test_go_compact_rejects),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
