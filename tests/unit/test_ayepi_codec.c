/* ayepi's texts (ayepi.h) against JavaScript itself: random cache keys, envelopes, work-engine
 * notifications and cache entries written by crossredis and by the JS oracle
 * (tests/node/ayepi_oracle.mjs, which writes them as ayepi's code does, with JSON.stringify) must
 * be the same bytes. Strings mix ASCII, the HTML characters, U+2028, characters on both sides of
 * the surrogate range (U+FF61, an emoji: JS sorts them by UTF-16 code units) and integer-like
 * keys ("9", "10", "01"). XR_TEST_SEED picks the cases (printed on failure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "crossredis/alloc.h"
#include "crossredis/ayepi.h"
#include "crossredis/error.h"

#ifndef XR_AYEPI_ORACLE
#error "XR_AYEPI_ORACLE: the path of tests/node/ayepi_oracle.mjs"
#endif

enum { CASES = 400 };

static uint64_t rng;
static unsigned rnd(unsigned n) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (unsigned)(rng % n);
}

static const char *const pieces[] = {"a", "b", "Z", "9", "10", "01", " ", "<", ">", "&", "\"", "\\", "/", "\xe2\x80\xa8",
                                     "\xef\xbd\xa1" /* U+FF61 */, "\xf0\x9f\x98\x80" /* U+1F600 */, "\xc3\xa4", "\x01", "id"};

static json_t *rand_string(void) {
  char buf[64] = "";
  for (unsigned n = rnd(4); n > 0; n--) strcat(buf, pieces[rnd(sizeof pieces / sizeof pieces[0])]);
  return json_string(buf);
}

static json_t *rand_value(int depth) {
  switch (depth > 2 ? rnd(4) : rnd(7)) {
    case 0: return rand_string();
    case 1: return json_integer((json_int_t)rnd(100000) - 50000);
    case 2: return rnd(2) ? json_true() : json_null();
    case 3: return json_real((double)rnd(1000) / 8.0);
    case 4: {
      json_t *a = json_array();
      for (unsigned n = rnd(4); n > 0; n--) json_array_append_new(a, rand_value(depth + 1));
      return a;
    }
    default: {
      json_t *o = json_object();
      for (unsigned n = rnd(5); n > 0; n--) {
        json_t *k = rand_string();
        json_object_set_new(o, json_string_value(k), rand_value(depth + 1));
        json_decref(k);
      }
      return o;
    }
  }
}

static char *dump(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); }

/* One case: the oracle's request (added to reqs) and crossredis's text of it (mine[i]). */
static void make_case(size_t i, json_t *reqs, char **mine) {
  json_t *r = json_object();
  json_object_set_new(r, "id", json_integer((json_int_t)i));
  char *out = NULL;
  size_t len = 0;
  int rc = 0;
  switch (i % 5) {
    case 0: { /* the default cache key */
      static const char *const methods[] = {"get", "POST", "Put"};
      const char *m = methods[rnd(3)];
      json_t *path = rand_string(), *query = json_array(), *body = rnd(3) ? rand_value(0) : NULL,
             *vary = rnd(2) ? rand_value(1) : NULL;
      for (unsigned n = rnd(4); n > 0; n--) json_array_append_new(query, json_pack("[oo]", rand_string(), rand_string()));
      char *q = dump(query), *b = body ? dump(body) : NULL, *v = vary ? dump(vary) : NULL;
      rc = xr_ayepi_cache_key(&out, &len, m, strlen(m), json_string_value(path), json_string_length(path), q, strlen(q), b,
                              b ? strlen(b) : 0, v, v ? strlen(v) : 0);
      json_object_set_new(r, "kind", json_string("cache_key"));
      json_object_set_new(r, "method", json_string(m));
      json_object_set_new(r, "path", path);
      json_object_set_new(r, "query", query);
      if (body) json_object_set_new(r, "body", body);
      if (vary) json_object_set_new(r, "vary", vary);
      free(q), free(b), free(v);
      break;
    }
    case 1: { /* the envelope */
      json_t *ch = rand_string(), *params = rnd(3) ? rand_value(3) : NULL, *data = rand_value(0);
      if (params && !json_is_object(params)) json_decref(params), params = json_object();
      char *p = params ? dump(params) : NULL, *d = dump(data);
      rc = xr_ayepi_envelope_write(&out, &len, json_string_value(ch), json_string_length(ch), p, p ? strlen(p) : 0, d,
                                   strlen(d));
      json_object_set_new(r, "kind", json_string("envelope"));
      json_object_set_new(r, "ch", ch);
      if (params) json_object_set_new(r, "params", params);
      json_object_set_new(r, "data", data);
      free(p), free(d);
      break;
    }
    case 2: { /* done */
      json_t *id = rand_string(), *g = rand_string(), *e = rnd(2) ? rand_string() : NULL;
      rc = xr_ayepi_done_write(&out, &len, json_string_value(id), json_string_length(id), json_string_value(g),
                               json_string_length(g), e ? json_string_value(e) : NULL, e ? json_string_length(e) : 0);
      json_object_set_new(r, "kind", json_string("done"));
      json_object_set_new(r, "itemId", id);
      json_object_set_new(r, "groupId", g);
      if (e) json_object_set_new(r, "error", e);
      break;
    }
    case 3: { /* group-done */
      json_t *g = rand_string();
      rc = xr_ayepi_group_done_write(&out, &len, json_string_value(g), json_string_length(g));
      json_object_set_new(r, "kind", json_string("group_done"));
      json_object_set_new(r, "groupId", g);
      break;
    }
    default: { /* a cache entry, its fields handed over in another order */
      json_t *e = json_pack("{s:o,s:i,s:[[s,o]],s:I,s:I,s:I,s:i,s:s,s:o,s:o}", "body", rand_string(), "status",
                            200 + (int)rnd(300), "headers", "content-type", rand_string(), "storedAt",
                            (json_int_t)1795298432317, "expires", (json_int_t)1795298462317, "staleUntil",
                            (json_int_t)1795298467317 + rnd(1000), "bytes", (int)rnd(50), "method", "GET", "path",
                            rand_string(), "key", rand_string());
      json_t *shuffled = json_object();
      const char *order[] = {"key", "bytes", "headers", "body", "staleUntil", "method", "status", "path", "expires", "storedAt"};
      for (size_t k = 0; k < 10; k++) json_object_set(shuffled, order[k], json_object_get(e, order[k]));
      char *text = dump(shuffled);
      int64_t stale;
      rc = xr_ayepi_cache_entry_write(&out, &len, &stale, text, strlen(text));
      json_object_update(r, e);
      json_object_set_new(r, "kind", json_string("cache_entry"));
      json_decref(e), json_decref(shuffled), free(text);
      break;
    }
  }
  if (rc) fail_msg("case %zu: %s", i, xr_error_last()->message);
  mine[i] = strndup(out, len);
  xr_free(out);
  json_array_append_new(reqs, r);
}

static void texts_are_javascripts(void **state) {
  (void)state;
  const char *seed = getenv("XR_TEST_SEED");
  rng = seed ? strtoull(seed, NULL, 10) : 0x5eed5eedULL;
  if (!rng) rng = 1;
  uint64_t first = rng;
  json_t *reqs = json_array();
  char *mine[CASES];
  for (size_t i = 0; i < CASES; i++) make_case(i, reqs, mine);
  char in[] = "/tmp/xr-ayepi-oracle-XXXXXX";
  int fd = mkstemp(in);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  for (size_t i = 0; i < CASES; i++) {
    char *line = json_dumps(json_array_get(reqs, i), JSON_COMPACT);
    fprintf(f, "%s\n", line);
    free(line);
  }
  fclose(f);
  char cmd[8300];
  snprintf(cmd, sizeof cmd, "node '%s' < '%s'", XR_AYEPI_ORACLE, in);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  char *line = NULL;
  size_t cap = 0, n = 0;
  ssize_t got;
  while ((got = getline(&line, &cap, p)) > 0 && n < CASES) {
    json_error_t e;
    json_t *a = json_loadb(line, (size_t)got, JSON_ALLOW_NUL, &e);
    if (!a) fail_msg("oracle line %zu is not JSON: %s", n, e.text);
    const char *text = json_string_value(json_object_get(a, "text"));
    if (!text) fail_msg("seed %llu, case %zu: the oracle failed: %s", (unsigned long long)first, n, line);
    size_t tlen = json_string_length(json_object_get(a, "text"));
    if (tlen != strlen(mine[n]) || memcmp(text, mine[n], tlen) != 0) {
      char *req = json_dumps(json_array_get(reqs, n), JSON_COMPACT);
      fail_msg("seed %llu, case %zu (%s):\n  js:         %.*s\n  crossredis: %s", (unsigned long long)first, n, req,
               (int)tlen, text, mine[n]);
    }
    if (n % 5 == 4) { /* JSON.stringify's own entry comes back as it is */
      char *out = NULL;
      size_t len = 0;
      int64_t stale;
      if (xr_ayepi_cache_entry_write(&out, &len, &stale, text, tlen) != 0 || len != tlen || memcmp(out, text, tlen) != 0)
        fail_msg("seed %llu, case %zu: JSON.stringify's entry %.*s came back as %s", (unsigned long long)first, n, (int)tlen,
                 text, out ? out : xr_error_last()->message);
      xr_free(out);
    }
    json_decref(a);
    free(mine[n]);
    n++;
  }
  free(line);
  int status = pclose(p);
  unlink(in);
  if (status != 0 || n != CASES) fail_msg("the oracle answered %zu of %d (status %d): is node installed?", n, CASES, status);
  json_decref(reqs);
}

/* Entry texts near ayepi's own (the fields in its order, compact), with strings, numbers and
 * headers in every spelling: an entry already written as ayepi writes it is kept as it is
 * (xr_ayepi_cache_entry_write's one pass), anything else rewritten or refused. Whichever way the
 * text goes, the outcome must be the rewrite's: the same text with a space in front (which only
 * the rewrite takes) must give the same bytes and staleUntil, or fail the same way. */
/* Each list: what JSON.stringify writes (the first KEPT_*), then valid JSON it does not write (to
 * VALID_*), then what is no JSON. */
static const char *const string_pieces[] = {
    "a", "Z", " ", "<", "/", "\\\"", "\\\\", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u0001", "\\u001f", "\\u0000",
    "\xc3\xa4", "\xe2\x80\xa8", "\xef\xbd\xa1", "\xf0\x9f\x98\x80", "\x7f",
    "\\/", "\\u0008", "\\u000a", "\\u001F", "\\u0041", "\\u000A", "\\u0020", "\\u00e9", "\\ud83d\\ude00", "\\ud800",
    "\\udc00", "\\x", "\\", "\"", "\x01", "\x1f", "\xed\xa0\x80", "\xed\xb0\x80", "\xc0\xaf", "\xc3", "\xe2\x80",
    "\xff", "\xf4\x90\x80\x80"};
enum { KEPT_STRING = 20, VALID_STRING = 29 };
static const char *const number_texts[] = {
    "0", "7", "-17", "200", "2000000000035000", "9007199254740991", "-9007199254740991",
    "-0", "9007199254740992", "12345678901234567", "99999999999999999999", "1.5", "2.0", "1e3", "1E2", "-0.0",
    "01", "00", "-", "0x10", "\"5\"", "null", "true"};
enum { KEPT_NUMBER = 7, VALID_NUMBER = 16 };
static const char *const header_texts[] = {
    "[]", "[[\"a\",\"b\"]]", "[[\"content-type\",\"application/json\"],[\"x\",\"\"]]",
    "[ ]", "[[\"a\\u0001\",\"\\/\"]]",
    "[[\"a\"]]", "[[\"a\",1]]", "[[\"a\",\"b\"],]", "[[\"a\",\"b\"]", "{}", "[[\"a\",\"b\",\"c\"]]"};
enum { KEPT_HEADERS = 3, VALID_HEADERS = 5 };
#define COUNT(a) (sizeof(a) / sizeof(a)[0])

/* Mostly the first `kept`, now and then one of the first `valid`, now and then any. */
static const char *pick(const char *const *list, size_t n, size_t kept, size_t valid) {
  unsigned r = rnd(64);
  return list[r < 60 ? rnd((unsigned)kept) : r < 62 ? rnd((unsigned)valid) : rnd((unsigned)n)];
}

static void put_rand_string(char *buf) {
  strcat(buf, "\"");
  for (unsigned n = rnd(6); n > 0; n--) strcat(buf, pick(string_pieces, COUNT(string_pieces), KEPT_STRING, VALID_STRING));
  strcat(buf, "\"");
}

static void entries_kept_or_rewritten(void **state) {
  (void)state;
  static const char *const names[] = {"body", "status", "headers", "storedAt", "expires", "staleUntil", "bytes", "method", "path", "key"};
  const char *seed = getenv("XR_TEST_SEED");
  rng = seed ? strtoull(seed, NULL, 10) : 0x5eed5eedULL;
  if (!rng) rng = 1;
  uint64_t first = rng;
  size_t kept = 0, rewritten = 0, refused = 0;
  for (size_t c = 0; c < 20000; c++) {
    char text[4096] = " {";
    for (size_t f = 0; f < 10; f++) {
      size_t name = rnd(200) ? f : rnd(10); /* now and then a field twice, or out of place */
      if (f) strcat(text, rnd(300) ? "," : ", ");
      strcat(text, "\"");
      strcat(text, names[name]);
      strcat(text, rnd(300) ? "\":" : "\" :");
      if (name == 2) strcat(text, pick(header_texts, COUNT(header_texts), KEPT_HEADERS, VALID_HEADERS));
      else if (name == 0 || name >= 7) put_rand_string(text);
      else strcat(text, pick(number_texts, COUNT(number_texts), KEPT_NUMBER, VALID_NUMBER));
    }
    strcat(text, rnd(300) ? "}" : "} ");
    const char *t = text + 1; /* the text itself; text: it after a space */
    char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    int64_t astale = -1, bstale = -1;
    int arc = xr_ayepi_cache_entry_write(&a, &alen, &astale, t, strlen(t));
    int brc = xr_ayepi_cache_entry_write(&b, &blen, &bstale, text, strlen(text));
    if (arc != brc || (arc == 0 && (alen != blen || memcmp(a, b, alen) != 0 || astale != bstale || a[alen] != '\0')))
      fail_msg("seed %llu, case %zu: %s\n  as it is:          %d %s (staleUntil %lld)\n  after a space: %d %s (staleUntil %lld)",
               (unsigned long long)first, c, t, arc, a ? a : "", (long long)astale, brc, b ? b : "", (long long)bstale);
    if (arc) refused++;
    else if (alen == strlen(t) && !memcmp(a, t, alen)) kept++;
    else rewritten++;
    xr_free(a);
    xr_free(b);
  }
  /* every way was taken often */
  if (kept < 2000 || rewritten < 200 || refused < 2000)
    fail_msg("seed %llu: %zu kept, %zu rewritten, %zu refused", (unsigned long long)first, kept, rewritten, refused);
}

/* What is refused, naming it. */
static void bad_input(void **state) {
  (void)state;
  char *out = NULL;
  size_t len;
  assert_int_equal(xr_ayepi_cache_key(&out, &len, "G\xc3\xa9T", 4, "/", 1, NULL, 0, NULL, 0, NULL, 0), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "the method must be ASCII"));
  assert_int_equal(xr_ayepi_cache_key(&out, &len, "GET", 3, "/", 1, "[[1,2]]", 7, NULL, 0, NULL, 0), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "query pair 0"));
  assert_int_equal(xr_ayepi_cache_key(&out, &len, "GET", 3, "/", 1, NULL, 0, "{", 1, NULL, 0), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "the body is not JSON"));
  assert_int_equal(xr_ayepi_envelope_write(&out, &len, "c", 1, "[1]", 3, "1", 1), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "params must be a JSON object"));
  assert_null(out);
  /* the SPEC's example key */
  assert_int_equal(xr_ayepi_cache_key(&out, &len, "get", 3, "/report", 7, "[[\"b\",\"2\"],[\"a\",\"1\"]]", 21, NULL, 0, "\"u1\"", 4), 0);
  assert_string_equal(out, "[\"GET\",\"/report\",[[\"a\",\"1\"],[\"b\",\"2\"]],null,\"u1\"]");
  xr_free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(texts_are_javascripts), cmocka_unit_test(entries_kept_or_rewritten),
                                     cmocka_unit_test(bad_input)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
