/* Unit tests for key_pattern.c: parsing (and its refusals), anchored matching with field values,
 * rendering (values checked against their class), the SCAN glob, and the overlap of two shapes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/error.h"
#include "crossredis/key_pattern.h"

static xr_key_pattern *parse(const char *text) {
  xr_key_pattern *p = NULL;
  int rc = xr_key_pattern_parse(&p, text, strlen(text));
  if (rc) fail_msg("parse '%s': %s", text, xr_error_last()->message);
  return p;
}

static bool matches(const char *pattern, const char *key) {
  xr_key_pattern *p = parse(pattern);
  bool m = xr_key_pattern_match(p, key, strlen(key), NULL);
  xr_key_pattern_free(p);
  return m;
}

static void assert_refused(const char *text, const char *words) {
  xr_key_pattern *p = (xr_key_pattern *)1;
  assert_int_equal(xr_key_pattern_parse(&p, text, strlen(text)), XR_EINVAL);
  assert_null(p);
  const char *msg = xr_error_last()->message;
  if (!strstr(msg, words)) fail_msg("refusing '%s': message '%s' lacks '%s'", text, msg, words);
  assert_non_null(strstr(msg, text)); /* the message names the pattern */
}

static void test_parse_fields(void **state) {
  (void)state;
  xr_key_pattern *p = parse("auth:code:{email:<sha256>}:<scene>:<n:number>:<id>");
  assert_int_equal(xr_key_pattern_field_count(p), 4);
  assert_string_equal(xr_key_pattern_field_name(p, 0), "sha256");
  assert_int_equal(xr_key_pattern_field_class(p, 0), XR_KEY_CLASS_SHA256);
  assert_string_equal(xr_key_pattern_field_name(p, 1), "scene");
  assert_int_equal(xr_key_pattern_field_class(p, 1), XR_KEY_CLASS_ANY);
  assert_int_equal(xr_key_pattern_field_class(p, 2), XR_KEY_CLASS_NUMBER);
  assert_int_equal(xr_key_pattern_field_index(p, "id", 2), 3);
  assert_int_equal(xr_key_pattern_field_index(p, "nope", 4), -1);
  size_t len;
  assert_string_equal(xr_key_pattern_text(p, &len), "auth:code:{email:<sha256>}:<scene>:<n:number>:<id>");
  assert_int_equal(len, strlen("auth:code:{email:<sha256>}:<scene>:<n:number>:<id>"));
  assert_null(xr_key_pattern_field_name(p, 4));
  xr_key_pattern_free(p);
  /* A repeated name is one field. */
  p = parse("a:<id>:{x:<id>}");
  assert_int_equal(xr_key_pattern_field_count(p), 1);
  xr_key_pattern_free(p);
}

static void test_parse_refusals(void **state) {
  (void)state;
  xr_key_pattern *p = (xr_key_pattern *)1;
  assert_int_equal(xr_key_pattern_parse(&p, "", 0), XR_EINVAL);
  assert_null(p);
  assert_refused("a:<id", "no closing '>'");
  assert_refused("a:<1d>", "'<' must start a field");
  assert_refused("a:<id:colour>", "unknown field class");
  assert_refused("a:<a><b>", "followed directly by another field");
  assert_refused("a:<a:number><b:uuid>", "followed directly by another field");
  assert_refused("a:<n:number>7", "literal digit");
  assert_refused("a:<id>:<id:number>", "another class");
  assert_refused("a\\b", "'\\' must be followed");
  assert_refused("a:<k:rest>:b", "must end the pattern");
  /* Fixed-length fields may stand side by side; escapes write literal bytes. */
  p = parse("<uuid><h:hex32>");
  xr_key_pattern_free(p);
  assert_true(matches("a\\<b\\\\<id>", "a<b\\x"));
}

static void test_match_classes(void **state) {
  (void)state;
  assert_true(matches("mpp:browser:session:<id:uuid>", "mpp:browser:session:0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"));
  assert_true(matches("s:<uuid>", "s:0C9E8D7F-6A5B-4C3D-8E2F-1A0B9C8D7E6F"));
  assert_false(matches("s:<uuid>", "s:0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6"));    /* short */
  assert_false(matches("s:<uuid>", "s:0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6fa")); /* long: anchored */
  assert_false(matches("s:<uuid>", "s:0c9e8d7f_6a5b-4c3d-8e2f-1a0b9c8d7e6f"));
  assert_true(matches("h:<sha256>", "h:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"));
  assert_false(matches("h:<sha256>", "h:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0g"));
  assert_true(matches("h:<hex32>", "h:0123456789abcdef0123456789ABCDEF"));
  assert_true(matches("n:<number>:x", "n:1700000000:x"));
  assert_false(matches("n:<number>:x", "n:17a:x"));
  assert_false(matches("n:<number>", "n:"));
  /* any: the rest of the key at the end (':' included), never braces */
  assert_true(matches("chat-sdk:lock:<thread>", "chat-sdk:lock:slack:C123:1700000000.000100"));
  assert_false(matches("chat-sdk:lock:<thread>", "chat-sdk:lock:{slack:C123}"));
  assert_false(matches("chat-sdk:lock:<thread>", "chat-sdk:lock:"));
  assert_true(matches("chat-sdk:lock:{<thread>}", "chat-sdk:lock:{slack:C123:1700000000.000100}"));
  assert_false(matches("chat-sdk:lock:{<thread>}", "chat-sdk:lock:{a}b}"));
  /* any before a literal stops at the literal's first byte */
  assert_true(matches("auth:code:<email>:<scene>", "auth:code:x@y.z:login"));
  assert_false(matches("auth:code:<email>:login", "auth:code:a:b:login"));
  /* segment: no ':' */
  assert_true(matches("a:<s:segment>", "a:bc"));
  assert_false(matches("a:<s:segment>", "a:b:c"));
  /* rest: anything to the end, braces included */
  assert_true(matches("xr:window:deleted:{<slot:number>}:<key:rest>", "xr:window:deleted:{12}:a:{b:c}"));
  assert_false(matches("xr:window:deleted:{<slot:number>}:<key:rest>", "xr:window:deleted:{12}:"));
  /* a repeated field holds one value */
  assert_true(matches("a:<id>:{x:<id>}", "a:7:{x:7}"));
  assert_false(matches("a:<id>:{x:<id>}", "a:7:{x:8}"));
  /* literal bytes, NUL included */
  xr_key_pattern *p = parse("k:<id>");
  assert_true(xr_key_pattern_match(p, "k:a\0b", 5, NULL));
  assert_false(xr_key_pattern_match(p, "k", 1, NULL));
  xr_key_pattern_free(p);
}

static void test_match_values(void **state) {
  (void)state;
  xr_key_pattern *p = parse("auth:code:{email:<sha256>}:<scene>");
  const char *key = "auth:code:{email:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}:login:web";
  xr_key_span v[2];
  assert_true(xr_key_pattern_match(p, key, strlen(key), v));
  assert_int_equal(v[0].len, 64);
  assert_memory_equal(v[0].ptr, "9f86d081", 8);
  assert_int_equal(v[1].len, 9);
  assert_memory_equal(v[1].ptr, "login:web", 9);
  xr_key_pattern_free(p);
}

static void test_render(void **state) {
  (void)state;
  xr_key_pattern *p = parse("mpp:browser:session:{session:<id>}");
  xr_key_span v = {"0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f", 36};
  char *out;
  size_t len;
  assert_int_equal(xr_key_pattern_render(p, &out, &len, &v, 1), XR_OK);
  assert_string_equal(out, "mpp:browser:session:{session:0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f}");
  assert_int_equal(len, strlen(out));
  assert_true(xr_key_pattern_match(p, out, len, NULL));
  xr_free(out);
  /* A value the shape could not read back is refused, naming the field. */
  xr_key_span bad = {"a}b", 3};
  assert_int_equal(xr_key_pattern_render(p, &out, &len, &bad, 1), XR_EINVAL);
  assert_null(out);
  assert_non_null(strstr(xr_error_last()->message, "field id"));
  xr_key_span empty = {"", 0};
  assert_int_equal(xr_key_pattern_render(p, &out, &len, &empty, 1), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "cannot be empty"));
  assert_int_equal(xr_key_pattern_render(p, &out, &len, &v, 2), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "has 1 field, got 2 values"));
  xr_key_pattern_free(p);
  p = parse("a:<id>:b:<n:number>");
  xr_key_span two[2] = {{"x:y", 3}, {"12", 2}};
  assert_int_equal(xr_key_pattern_render(p, &out, &len, two, 2), XR_EINVAL); /* ':' would end id early */
  two[0].len = 1;
  assert_int_equal(xr_key_pattern_render(p, &out, &len, two, 2), XR_OK);
  assert_string_equal(out, "a:x:b:12");
  xr_free(out);
  two[1] = (xr_key_span){"1x", 2};
  assert_int_equal(xr_key_pattern_render(p, &out, &len, two, 2), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "field n (number)"));
  xr_key_pattern_free(p);
}

static void test_glob(void **state) {
  (void)state;
  const struct {
    const char *pattern, *glob;
  } cases[] = {
      {"chat-sdk:lock:<thread>", "chat-sdk:lock:*"},
      {"a*b:[x]:<id>:?", "a\\*b:\\[x\\]:*:\\?"},
      {"<uuid><h:hex32>:z", "*:z"},
      {"k\\\\<id>", "k\\\\*"},
      {"mpp:browser:session:{session:<id>}", "mpp:browser:session:{session:*}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    xr_key_pattern *p = parse(cases[i].pattern);
    char *g;
    size_t len;
    assert_int_equal(xr_key_pattern_glob(p, &g, &len), XR_OK);
    assert_string_equal(g, cases[i].glob);
    assert_int_equal(len, strlen(g));
    xr_free(g);
    xr_key_pattern_free(p);
  }
}

static bool overlap(const char *a, const char *b, char *witness, size_t cap) {
  xr_key_pattern *pa = parse(a), *pb = parse(b);
  char *w = NULL;
  size_t wl = 0;
  bool o = xr_key_pattern_overlap(pa, pb, &w, &wl);
  if (o) {
    assert_non_null(w);
    /* the witness has both shapes */
    assert_true(xr_key_pattern_match(pa, w, wl, NULL));
    assert_true(xr_key_pattern_match(pb, w, wl, NULL));
    snprintf(witness, cap, "%s", w);
  } else {
    assert_null(w);
  }
  xr_free(w);
  xr_key_pattern_free(pa);
  xr_key_pattern_free(pb);
  return o;
}

static void test_overlap(void **state) {
  (void)state;
  char w[256];
  /* The family: the new shape's braces keep the shapes apart. */
  assert_false(overlap("mpp:browser:session:<id>", "mpp:browser:session:{session:<id>}", w, sizeof w));
  assert_false(overlap("chat-sdk:lock:<thread>", "chat-sdk:lock:{<thread>}", w, sizeof w));
  assert_false(overlap("a:<n:number>", "a:<u:uuid>", w, sizeof w));
  /* Collisions, with the key that shows them. */
  assert_true(overlap("s:<id>", "s:<id>", w, sizeof w));
  assert_true(overlap("s:<id>", "s:x:<id>", w, sizeof w));
  assert_string_equal(w, "s:x:a");
  assert_true(overlap("s:<id>", "s:<u:uuid>", w, sizeof w));
  assert_int_equal(strlen(w), 38);
  assert_true(overlap("a:<n:number>", "a:<h:hex32>", w, sizeof w));
  assert_int_equal(strlen(w), 34);
  assert_false(overlap("a:<s:segment>", "a:b:c", w, sizeof w));
  assert_true(overlap("a:<s:segment>", "a:bc", w, sizeof w));
  assert_string_equal(w, "a:bc");
  assert_false(overlap("x:<h:sha256>", "x:<h:hex32>", w, sizeof w));
  assert_true(overlap("chat-sdk:lock:<k:rest>", "chat-sdk:lock:{<thread>}", w, sizeof w));
  assert_string_equal(w, "chat-sdk:lock:{a}");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_fields), cmocka_unit_test(test_parse_refusals), cmocka_unit_test(test_match_classes),
      cmocka_unit_test(test_match_values), cmocka_unit_test(test_render),         cmocka_unit_test(test_glob),
      cmocka_unit_test(test_overlap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
