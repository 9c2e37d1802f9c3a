/* ayepi's work Store and response cache (ayepi.h) on a standalone server, the Sentinel set and the
 * Cluster (topotest.h). The wire test runs the operations of the real @ayepi/redis 0.4.0 capture
 * (tests/vectors/ayepi-0.4.0.monitor.txt) and requires its command lines, byte for byte after the
 * one MONITOR normaliser, except where crossredis fixes an upstream defect on purpose: an
 * increment with a TTL is one script (its `incrby` and `pexpire` are the script's effects, the
 * same commands). The other tests check results, errors and what is left in Redis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <poll.h>
#include <stdatomic.h>
#include <unistd.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/ayepi.h"
#include "fake_server.h"
#include "itest.h"
#include "topology.h"
#include "topotest.h"

#define S(lit) lit, sizeof(lit) - 1
#define CAPTURE "ayepi-0.4.0.monitor.txt"
/* The capture's cache entry (line 13), as a runtime would hand it over: other key order, spaces. */
#define ENTRY_IN                                                                                        \
  "{ \"key\": \"K\", \"path\": \"/x\", \"method\": \"GET\", \"bytes\": 2, \"staleUntil\": 700, \"expires\": 500," \
  " \"storedAt\": 0, \"headers\": [[\"content-type\", \"application/json\"]], \"status\": 200, \"body\": \"{}\" }"
#define ENTRY_OUT                                                                                            \
  "{\"body\":\"{}\",\"status\":200,\"headers\":[[\"content-type\",\"application/json\"]],\"storedAt\":0,"    \
  "\"expires\":500,\"staleUntil\":700,\"bytes\":2,\"method\":\"GET\",\"path\":\"/x\",\"key\":\"K\"}"

#define chk tt.chk

typedef struct fixture {
  xr_client *c;
  xr_ayepi_store *store, *cache;
  char store_prefix[160], cache_prefix[160];
} fixture;

/* The Store under "<test prefix>:p:" and the cache under "<test prefix>:ayepi:cache:": MONITOR
 * shows them as "chat-sdk:p:" and "chat-sdk:ayepi:cache:" (topotest.h), and the capture's "p:" and
 * "ayepi:cache:" are read so. */
static void fix_open(fixture *f) {
  memset(f, 0, sizeof *f);
  snprintf(f->store_prefix, sizeof f->store_prefix, "%s:p:", tt.prefix);
  snprintf(f->cache_prefix, sizeof f->cache_prefix, "%s:ayepi:cache:", tt.prefix);
  xr_client_options o = tt_options();
  XR_OK(xr_client_open(&f->c, &o));
  xr_ayepi_options so = XR_AYEPI_OPTIONS_INIT;
  so.key_prefix = f->store_prefix;
  XR_OK(xr_ayepi_store_new(&f->store, f->c, &so));
  xr_ayepi_options co = XR_AYEPI_CACHE_OPTIONS_INIT;
  co.key_prefix = f->cache_prefix;
  XR_OK(xr_ayepi_store_new(&f->cache, f->c, &co));
}

static void fix_close(fixture *f) {
  xr_ayepi_store_free(f->store);
  xr_ayepi_store_free(f->cache);
  xr_client_close(f->c);
}

/* Capture lines first..last, the prefixes as MONITOR shows this test's. */
static void capture(size_t first, size_t last, itest_lines *out) {
  itest_lines raw = {0};
  itest_capture(CAPTURE, first, last, 0, &raw);
  for (size_t i = 0; i < raw.n; i++) {
    char *l = tt_replace_quoted(raw.v[i], "p:", "chat-sdk:p:");
    l = tt_replace_quoted(l, "ayepi:cache:", "chat-sdk:ayepi:cache:");
    itest_lines_add(out, l);
    raw.v[i] = NULL;
  }
  itest_lines_free(&raw);
}

static void wire_matches_ayepi(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  tt_monitor tm;
  tt_monitor_open(&tm);
  bool found = false, stored = false;
  char *v = NULL;
  size_t n = 0;
  int64_t count = 0;
  XR_OK(xr_ayepi_get(f.store, &found, &v, &n, S("k")));
  XR_OK(xr_ayepi_set(f.store, S("k"), S("v"), 0));
  XR_OK(xr_ayepi_set(f.store, S("k2"), S("v"), 1000));
  XR_OK(xr_ayepi_delete(f.store, S("k")));
  XR_OK(xr_ayepi_set_if_not_exists(f.store, &stored, S("c"), S("1"), 0));
  XR_OK(xr_ayepi_set_if_not_exists(f.store, &stored, S("c2"), S("1"), 500));
  XR_OK(xr_ayepi_increment(f.store, &count, S("n"), 2, 0));
  XR_OK(xr_ayepi_increment(f.store, &count, S("n"), -1, 1000));
  XR_OK(xr_ayepi_cache_set(f.cache, S("K"), S(ENTRY_IN), 0)); /* staleUntil 700 is long past: PX 1 */
  XR_OK(xr_ayepi_cache_get(f.cache, &found, &v, &n, S("K")));
  xr_free(v);
  itest_lines got = {0}, want = {0};
  tt_monitor_collect(&tm, 0, &got);
  for (size_t i = 0; i < got.n; i++) /* EVAL on a connection's first use, EVALSHA after: either */
    if (!strncmp(got.v[i], "client \"EVALSHA\" ", 18)) memmove(got.v[i] + 12, got.v[i] + 15, strlen(got.v[i] + 15) + 1);
  capture(4, 10, &want);
  /* the fix: lines 11-12 (incrby, then pexpire apart) are one script with the same two effects */
  itest_lines_add(&want, strdup("client \"EVAL\" \"1\" \"chat-sdk:p:n\" \"-1\" \"1000\""));
  itest_lines_add(&want, strdup("lua \"INCRBY\" \"chat-sdk:p:n\" \"-1\""));
  itest_lines_add(&want, strdup("lua \"PEXPIRE\" \"chat-sdk:p:n\" \"1000\""));
  capture(13, 14, &want);
  itest_assert_lines(&got, &want, "ayepi 0.4.0's Store and cache");
  itest_lines_free(&got);
  itest_lines_free(&want);
  tt_monitor_close(&tm);
  fix_close(&f);
}

/* Results and what Redis holds: values, TTLs, claims, counters, the cache entry's bytes. */
static void store_and_cache(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  char key[256];
  bool found = true, stored = false, deleted = false;
  char *v = NULL;
  size_t n = 0;
  XR_OK(xr_ayepi_get(f.store, &found, &v, &n, S("k")));
  assert_false(found);
  assert_null(v);
  XR_OK(xr_ayepi_set(f.store, S("k"), S("v\xc3\xa4\0x"), 0));
  XR_OK(xr_ayepi_get(f.store, &found, &v, &n, S("k")));
  assert_true(found);
  assert_int_equal(n, 5);
  assert_memory_equal(v, "v\xc3\xa4\0x", 5);
  xr_free(v);
  snprintf(key, sizeof key, "%sk", f.store_prefix);
  assert_int_equal(itest_pttl(chk, key), -1); /* no TTL */
  XR_OK(xr_ayepi_set(f.store, S("k"), S("w"), 60000));
  long long pttl = itest_pttl(chk, key);
  assert_true(pttl > 59000 && pttl <= 60000);
  XR_OK(xr_ayepi_delete(f.store, S("k")));
  XR_OK(xr_ayepi_delete(f.store, S("k"))); /* missing: no error */
  itest_assert_get(chk, key, NULL);

  XR_OK(xr_ayepi_set_if_not_exists(f.store, &stored, S("claim"), S("1"), 0));
  assert_true(stored);
  XR_OK(xr_ayepi_set_if_not_exists(f.store, &stored, S("claim"), S("2"), 5000));
  assert_false(stored);
  snprintf(key, sizeof key, "%sclaim", f.store_prefix);
  itest_assert_get(chk, key, "1");

  int64_t count = 0;
  XR_OK(xr_ayepi_increment(f.store, &count, S("n"), 2, 0));
  assert_int_equal(count, 2);
  XR_OK(xr_ayepi_increment(f.store, &count, S("n"), -5, 0));
  assert_int_equal(count, -3);
  snprintf(key, sizeof key, "%sn", f.store_prefix);
  assert_int_equal(itest_pttl(chk, key), -1);
  XR_OK(xr_ayepi_increment(f.store, &count, S("n"), 1, 1000));
  assert_int_equal(count, -2);
  pttl = itest_pttl(chk, key);
  assert_true(pttl > 0 && pttl <= 1000);

  /* the cache: JSON.stringify's bytes in ayepi's key order, PX from staleUntil and the clock (the
   * capture's entry, stale until 700, would live 1 ms: this one until 2100) */
  char in[600], out[600];
  snprintf(in, sizeof in, "%s", ENTRY_IN);
  char *at = strstr(in, "\"staleUntil\": 700,");
  memmove(at + 27, at + 18, strlen(at + 18) + 1);
  memcpy(at, "\"staleUntil\":4102444800000,", 27);
  snprintf(out, sizeof out, "%s", ENTRY_OUT);
  at = strstr(out, "\"staleUntil\":700,");
  memmove(at + 27, at + 17, strlen(at + 17) + 1);
  memcpy(at, "\"staleUntil\":4102444800000,", 27);
  XR_OK(xr_ayepi_cache_set(f.cache, S("K"), in, strlen(in), 0));
  snprintf(key, sizeof key, "%sK", f.cache_prefix);
  itest_assert_get(chk, key, out);
  pttl = itest_pttl(chk, key);
  assert_true(pttl > 4102444800000LL - itest_wall_ms() - 60000);
  char entry[600];
  snprintf(entry, sizeof entry,
           "{\"body\":\"b\\u00e4r \\u2028 \\ud83d\\ude00\",\"status\":404,\"headers\":[],\"storedAt\":1,"
           "\"expires\":2,\"staleUntil\":1700000060000,\"bytes\":12,\"method\":\"GET\",\"path\":\"/u/:id\","
           "\"key\":\"[\\\"GET\\\",\\\"/u/:id\\\",[],null,null]\"}");
  XR_OK(xr_ayepi_cache_set(f.cache, S("K2"), entry, strlen(entry), 1700000000000));
  snprintf(key, sizeof key, "%sK2", f.cache_prefix);
  pttl = itest_pttl(chk, key);
  assert_true(pttl > 59000 && pttl <= 60000); /* staleUntil - now */
  itest_assert_get(chk, key,
                   "{\"body\":\"b\xc3\xa4r \xe2\x80\xa8 \xf0\x9f\x98\x80\",\"status\":404,\"headers\":[],\"storedAt\":1,"
                   "\"expires\":2,\"staleUntil\":1700000060000,\"bytes\":12,\"method\":\"GET\",\"path\":\"/u/:id\","
                   "\"key\":\"[\\\"GET\\\",\\\"/u/:id\\\",[],null,null]\"}");
  XR_OK(xr_ayepi_cache_get(f.cache, &found, &v, &n, S("K")));
  assert_true(found);
  assert_int_equal(n, strlen(out));
  assert_memory_equal(v, out, n);
  xr_free(v);
  XR_OK(xr_ayepi_cache_delete(f.cache, &deleted, S("K")));
  assert_true(deleted);
  XR_OK(xr_ayepi_cache_delete(f.cache, &deleted, S("K")));
  assert_false(deleted);
  XR_OK(xr_ayepi_cache_get(f.cache, &found, &v, &n, S("K")));
  assert_false(found);
  XR_OK(xr_ayepi_cache_delete(f.cache, &deleted, S("K2")));
  fix_close(&f);
}

/* Bad input: a clear error naming what was wrong, nothing sent, nothing else touched. */
static void bad_input(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  char key[256];
  bool found, stored;
  char *v = NULL;
  size_t n;
  int64_t count;
  XR_FAILS(xr_ayepi_get(f.store, &found, &v, &n, "", 0), XR_EINVAL, "ayepi.get: the key is empty");
  XR_FAILS(xr_ayepi_set(f.store, S("k"), S("v"), -1), XR_EINVAL, "ttl_ms must be 0 (none)");
  XR_FAILS(xr_ayepi_set_if_not_exists(f.store, &stored, S("k"), S("v"), -5), XR_EINVAL, "ayepi.set_if_not_exists");
  XR_FAILS(xr_ayepi_increment(f.store, &count, S("k"), 1, -1), XR_EINVAL, "ayepi.increment");
  snprintf(key, sizeof key, "%sk", f.store_prefix);
  itest_assert_get(chk, key, NULL);
  /* a wrong-type key: the server's error, the key unchanged */
  snprintf(key, sizeof key, "%slist", f.store_prefix);
  XR_OK(itest_cmd(chk, NULL, "RPUSH", key, "x", NULL));
  XR_FAILS(xr_ayepi_get(f.store, &found, &v, &n, S("list")), XR_EWRONGTYPE, "WRONGTYPE");
  XR_FAILS(xr_ayepi_increment(f.store, &count, S("list"), 1, 1000), XR_EWRONGTYPE, "WRONGTYPE");
  assert_int_equal(itest_pttl(chk, key), -1); /* the script stopped at incrby: no expiry set either */
  XR_OK(itest_cmd(chk, NULL, "SET", key, "abc", NULL));
  XR_FAILS(xr_ayepi_increment(f.store, &count, S("list"), 1, 1000), XR_ESERVER, "not an integer");
  assert_int_equal(itest_pttl(chk, key), -1);
  itest_assert_get(chk, key, "abc");
  /* entries that are not ayepi's */
  static const struct {
    const char *entry, *why;
  } bad[] = {
      {"[1]", "cache entry: not a JSON object"},
      {"{\"body\":", "cache entry: not JSON"},
      {"{\"body\":\"{}\"}", "\"status\" is missing"},
      {ENTRY_OUT, NULL},
  };
  for (size_t i = 0; bad[i].why; i++)
    XR_FAILS(xr_ayepi_cache_set(f.cache, S("bad"), bad[i].entry, strlen(bad[i].entry), 0), XR_EINVAL, bad[i].why);
  char e[700];
  snprintf(e, sizeof e, "%.*s,\"extra\":1}", (int)strlen(ENTRY_OUT) - 1, ENTRY_OUT);
  XR_FAILS(xr_ayepi_cache_set(f.cache, S("bad"), e, strlen(e), 0), XR_EINVAL, "unknown field \"extra\"");
  snprintf(e, sizeof e, "%s", ENTRY_OUT);
  memcpy(strstr(e, "200"), "\"2\"", 3);
  XR_FAILS(xr_ayepi_cache_set(f.cache, S("bad"), e, strlen(e), 0), XR_EINVAL, "\"status\" must be an integer");
  snprintf(e, sizeof e,
           "{\"body\":\"{}\",\"status\":200,\"headers\":[[1,\"x\"]],\"storedAt\":0,\"expires\":500,"
           "\"staleUntil\":700,\"bytes\":2,\"method\":\"GET\",\"path\":\"/x\",\"key\":\"K\"}");
  XR_FAILS(xr_ayepi_cache_set(f.cache, S("bad"), e, strlen(e), 0), XR_EINVAL, "\"headers\" must be an array");
  XR_FAILS(xr_ayepi_cache_set(f.cache, S("bad"), S(ENTRY_OUT), -1), XR_EINVAL, "now_ms");
  snprintf(key, sizeof key, "%sbad", f.cache_prefix);
  itest_assert_get(chk, key, NULL);
  fix_close(&f);
}

/* A batch (what the bindings run): each result as the sequential call gives it. */
static void batch(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  xr_ayepi_batch *b;
  XR_OK(xr_ayepi_batch_new(&b, f.store));
  int i_set = xr_ayepi_batch_set(b, S("bk"), S("v"), 0);
  int i_get = xr_ayepi_batch_get(b, S("bk"));
  int i_nx = xr_ayepi_batch_set_if_not_exists(b, S("bk"), S("w"), 0);
  int i_inc = xr_ayepi_batch_increment(b, S("bn"), 7, 1000);
  int i_bad = xr_ayepi_batch_get(b, "", 0);
  assert_true(i_bad < 0);
  XR_OK(xr_ayepi_batch_exec(b));
  xr_result r;
  XR_OK(xr_ayepi_batch_result(b, (size_t)i_set, &r));
  XR_OK(xr_ayepi_batch_result(b, (size_t)i_get, &r));
  assert_true(r.present);
  assert_memory_equal(r.fields[0].data, "v", 1);
  assert_int_equal(xr_ayepi_batch_reply_size(b, (size_t)i_get), 1);
  XR_OK(xr_ayepi_batch_result(b, (size_t)i_nx, &r));
  assert_false(r.present);
  XR_OK(xr_ayepi_batch_result(b, (size_t)i_inc, &r));
  assert_int_equal(r.integer, 7);
  xr_ayepi_batch_free(b);
  fix_close(&f);
}

static int match_all(void *ctx, const char *key, size_t key_len, const char *entry, size_t entry_len) {
  (void)key, (void)key_len;
  (*(int *)ctx)++;
  return entry_len > 0 && strstr(entry, "\"path\":\"/x\"") != NULL;
}

/* The SCAN lines out of `got` (one per master: every master is scanned), each the capture's. */
static void take_scans(itest_lines *got, const char *want_scan, size_t masters) {
  size_t w = 0, scans = 0;
  for (size_t i = 0; i < got->n; i++) {
    if (!strncmp(got->v[i], "client \"SCAN\" ", 14)) {
      assert_string_equal(got->v[i], want_scan);
      scans++;
      free(got->v[i]);
    } else {
      got->v[w++] = got->v[i];
    }
  }
  got->n = w;
  assert_int_equal(scans, masters);
}

/* invalidate, clear and delete as the capture has them (lines 15-19): invalidate's scan (on every
 * master), get and del of the chosen key; clear's scan, which finds nothing left to delete; the
 * delete of the key invalidate took (false). */
static void wire_sweeps(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  char in[600];
  snprintf(in, sizeof in, "%s", ENTRY_IN);
  char *at = strstr(in, "\"staleUntil\": 700,");
  memmove(at + 27, at + 18, strlen(at + 18) + 1);
  memcpy(at, "\"staleUntil\":4102444800000,", 27);
  XR_OK(xr_ayepi_cache_set(f.cache, S("K"), in, strlen(in), 0));
  tt_monitor tm;
  tt_monitor_open(&tm);
  itest_lines got = {0}, want = {0}, scan = {0};
  capture(15, 15, &scan);
  size_t removed = 0;
  int judged = 0;
  bool deleted = true;
  XR_OK(xr_ayepi_cache_invalidate(f.cache, &removed, match_all, &judged));
  assert_int_equal(removed, 1);
  assert_int_equal(judged, 1);
  XR_OK(xr_ayepi_cache_clear(f.cache, &removed));
  assert_int_equal(removed, 0);
  XR_OK(xr_ayepi_cache_delete(f.cache, &deleted, S("K")));
  assert_false(deleted);
  tt_monitor_collect(&tm, 0, &got);
  take_scans(&got, scan.v[0], 2 * tm.n);
  capture(16, 17, &want);
  capture(19, 19, &want);
  itest_assert_lines(&got, &want, "ayepi 0.4.0's invalidate, clear and delete");
  itest_lines_free(&got);
  itest_lines_free(&want);
  itest_lines_free(&scan);
  tt_monitor_close(&tm);
  fix_close(&f);
}

/* The prefix is a literal: glob characters in it never reach other tenants' keys (upstream's SCAN
 * MATCH takes the prefix as a pattern), and what is not an entry is left alone. */
static void sweeps_stay_in_their_prefix(void **state) {
  (void)state;
  char pa[200], pb[200], key[300];
  snprintf(pa, sizeof pa, "%s:t[1]*?:", tt.prefix); /* a tenant whose prefix has every glob character */
  snprintf(pb, sizeof pb, "%s:t1x:", tt.prefix);    /* what "t[1]*?:" would match as a pattern */
  xr_client_options o = tt_options();
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  xr_ayepi_options oa = XR_AYEPI_CACHE_OPTIONS_INIT, ob = XR_AYEPI_CACHE_OPTIONS_INIT;
  oa.key_prefix = pa;
  ob.key_prefix = pb;
  xr_ayepi_store *a, *b;
  XR_OK(xr_ayepi_store_new(&a, c, &oa));
  XR_OK(xr_ayepi_store_new(&b, c, &ob));
  static const char entry[] =
      "{\"body\":\"{}\",\"status\":200,\"headers\":[],\"storedAt\":0,\"expires\":1,"
      "\"staleUntil\":4102444800000,\"bytes\":2,\"method\":\"GET\",\"path\":\"/x\",\"key\":\"K\"}";
  for (int i = 0; i < 40; i++) { /* keys over many slots, so every master holds some */
    char k[16];
    snprintf(k, sizeof k, "k%d", i);
    XR_OK(xr_ayepi_cache_set(a, k, strlen(k), S(entry), 0));
    XR_OK(xr_ayepi_cache_set(b, k, strlen(k), S(entry), 0));
  }
  snprintf(key, sizeof key, "%slist", pa);
  XR_OK(itest_cmd(chk, NULL, "RPUSH", key, "x", NULL));
  size_t removed = 0;
  int judged = 0;
  XR_OK(xr_ayepi_cache_invalidate(a, &removed, match_all, &judged));
  assert_int_equal(removed, 40);
  assert_int_equal(judged, 40); /* the list was not handed over */
  assert_int_equal(itest_pttl(chk, key), -1); /* and not deleted */
  snprintf(key, sizeof key, "%sk7", pb);
  assert_true(itest_pttl(chk, key) > 0); /* the other tenant untouched */
  XR_OK(xr_ayepi_cache_clear(a, &removed));
  assert_int_equal(removed, 1); /* the list: clear takes everything under the prefix */
  XR_OK(xr_ayepi_cache_clear(b, &removed));
  assert_int_equal(removed, 40);
  xr_ayepi_store_free(a);
  xr_ayepi_store_free(b);
  xr_client_close(c);
}

/* The sweep as a binding drives it: page by page, its keys and entries read, the caller choosing;
 * only the chosen keys go, what is not an entry is handed over absent, and the misuses are errors. */
static void sweep_by_pages(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  static const char entry[] =
      "{\"body\":\"{}\",\"status\":200,\"headers\":[],\"storedAt\":0,\"expires\":1,"
      "\"staleUntil\":4102444800000,\"bytes\":2,\"method\":\"GET\",\"path\":\"/x\",\"key\":\"K\"}";
  for (int i = 0; i < 600; i++) { /* more than one page (COUNT 256), over every master */
    char k[16];
    snprintf(k, sizeof k, "k%d", i);
    XR_OK(xr_ayepi_cache_set(f.cache, k, strlen(k), S(entry), 0));
  }
  char list[300];
  snprintf(list, sizeof list, "%slist", f.cache_prefix);
  XR_OK(itest_cmd(chk, NULL, "RPUSH", list, "x", NULL));
  xr_ayepi_sweep *w;
  XR_OK(xr_ayepi_sweep_new(&w, f.cache, true));
  size_t seen = 0, absent = 0, removed = 0, pages = 0;
  for (bool done = false; !done; pages++) {
    size_t n;
    XR_OK(xr_ayepi_sweep_next(w, &n, &done));
    for (size_t i = 0; i < n; i++) {
      xr_result key, e;
      XR_OK(xr_ayepi_sweep_key(w, i, &key));
      XR_OK(xr_ayepi_sweep_entry(w, i, &e));
      assert_true(key.present && key.fields[0].len > strlen(f.cache_prefix));
      assert_memory_equal(key.fields[0].data, f.cache_prefix, strlen(f.cache_prefix));
      seen++;
      if (!e.present) { /* the list */
        absent++;
        continue;
      }
      assert_int_equal(e.fields[0].len, sizeof entry - 1);
      assert_memory_equal(e.fields[0].data, entry, sizeof entry - 1);
      const char *k = key.fields[0].data + strlen(f.cache_prefix);
      if ((k[1] - '0') % 2 == 0) XR_OK(xr_ayepi_sweep_choose(w, i)); /* k0.., k2.., k4..: the even first digits */
    }
    XR_FAILS(xr_ayepi_sweep_key(w, n, &(xr_result){0}), XR_EINVAL, "past the page");
    XR_OK(xr_ayepi_sweep_delete(w, &removed));
  }
  xr_ayepi_sweep_free(w);
  assert_true(pages >= 2);
  assert_true(seen >= 601); /* SCAN may repeat a key; it never misses one present throughout */
  assert_true(absent >= 1);
  size_t even = 0;
  for (int i = 0; i < 600; i++) {
    char k[16];
    snprintf(k, sizeof k, "%d", i);
    even += (k[0] - '0') % 2 == 0;
  }
  assert_int_equal(removed, even);
  assert_int_equal(itest_pttl(chk, list), -1); /* not an entry: never chosen, still there */
  char kept[300];
  snprintf(kept, sizeof kept, "%sk1", f.cache_prefix);
  assert_true(itest_pttl(chk, kept) > 0);
  /* a clear's sweep reads no entries: asking for one is a misuse; every key is chosen */
  XR_OK(xr_ayepi_sweep_new(&w, f.cache, false));
  size_t n;
  bool done;
  XR_OK(xr_ayepi_sweep_next(w, &n, &done));
  if (n) XR_FAILS(xr_ayepi_sweep_entry(w, 0, &(xr_result){0}), XR_EINVAL, "reads no entries");
  xr_ayepi_sweep_free(w);
  XR_FAILS(xr_ayepi_sweep_new(&w, NULL, true), XR_EINVAL, "store");
  XR_OK(xr_ayepi_cache_clear(f.cache, &removed));
  assert_int_equal(removed, 600 - even + 1);
  fix_close(&f);
}

/* ---- the broker ---------------------------------------------------------------------------------- */

/* Drives the broker until `want` messages arrived (copied into got, NUL-terminated) or 10 s passed;
 * how long it took in ms. */
static long long receive(xr_ayepi_broker *b, int want, char got[][200]) {
  xr_pollable *p = xr_ayepi_broker_pollable(b);
  long long start = itest_now_ms(), end = start + 10000;
  int n = 0;
  while (n < want) {
    if (itest_now_ms() > end) fail_msg("only %d of %d messages arrived", n, want);
    struct pollfd pfd = {xr_pollable_fd(p), POLLIN, 0};
    int ready = poll(&pfd, 1, 20);
    if (xr_pollable_process(p, ready > 0 ? XR_WAIT_READ : 0, xr_monotonic_ms()) < 0)
      fail_msg("process: %s", xr_error_last()->message);
    const char *m;
    size_t len;
    while (n < want && xr_ayepi_broker_next(b, &m, &len) == 1) { /* bytes as they are, NULs included */
      if (len > 199) len = 199;
      memcpy(got[n], m, len);
      got[n++][len] = 0;
    }
  }
  return itest_now_ms() - start;
}

/* Until the subscription is confirmed (one sent is not one made yet). */
static void settle(xr_ayepi_broker *b) {
  long long end = itest_now_ms() + 10000;
  while (xr_ayepi_broker_listening(b) < 1) {
    if (itest_now_ms() > end) fail_msg("the subscription was not confirmed");
    struct pollfd pfd = {xr_pollable_fd(xr_ayepi_broker_pollable(b)), POLLIN, 0};
    int ready = poll(&pfd, 1, 20);
    assert_true(xr_pollable_process(xr_ayepi_broker_pollable(b), ready > 0 ? XR_WAIT_READ : 0, xr_monotonic_ms()) >= 0);
  }
}

/* The capture's subscribe and publish (lines 21-22): the envelope of the core, on the channel; the
 * subscriber hears it, bytes as published. (ioredis's INFO on a new connection, line 20, is its
 * own handshake: crossredis's subscriber has none.) */
static void broker_wire_and_delivery(void **state) {
  (void)state;
  char channel[200];
  snprintf(channel, sizeof channel, "%s:ayepi", tt.prefix);
  xr_client_options o = tt_options();
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  xr_ayepi_broker_options bo = XR_AYEPI_BROKER_OPTIONS_INIT;
  bo.channel = channel;
  xr_ayepi_broker *pub, *sub;
  XR_OK(xr_ayepi_broker_new(&pub, c, &bo));
  XR_OK(xr_ayepi_broker_new(&sub, c, &bo));
  char *env = NULL;
  size_t len = 0;
  XR_OK(xr_ayepi_envelope_write(&env, &len, S("progress"), S("{\"job\":\"j1\"}"), S("{\"pct\":77}")));
  tt_monitor tm;
  tt_monitor_open(&tm);
  XR_OK(xr_ayepi_broker_listen(sub));
  XR_OK(xr_ayepi_broker_listen(sub)); /* once */
  settle(sub);
  int64_t receivers = 0;
  XR_OK(xr_ayepi_broker_publish(pub, env, len, &receivers));
  if (tt.kind != TT_CLUSTER) assert_int_equal(receivers, 1); /* a Cluster counts the node's own subscribers */
  char got[4][200];
  receive(sub, 1, got);
  assert_string_equal(got[0], env);
  itest_lines lines = {0}, want = {0}, raw = {0};
  tt_monitor_collect(&tm, 0, &lines);
  itest_capture(CAPTURE, 21, 22, 0, &raw);
  for (size_t i = 0; i < raw.n; i++) {
    itest_lines_add(&want, tt_replace_quoted(raw.v[i], "ayepi\"", "chat-sdk:ayepi\""));
    raw.v[i] = NULL;
  }
  itest_assert_lines(&lines, &want, "ayepi 0.4.0's broker");
  itest_lines_free(&lines);
  itest_lines_free(&want);
  itest_lines_free(&raw);
  tt_monitor_close(&tm);
  /* bytes as they are, another channel not handed over */
  XR_OK(xr_ayepi_broker_publish(pub, "\x00" "bin\xff", 5, NULL));
  const char *other[] = {"publish", "x", "not ours"};
  char other_ch[220];
  snprintf(other_ch, sizeof other_ch, "%sx", channel);
  other[1] = other_ch;
  XR_OK(xr_client_command(c, NULL, 3, other, NULL));
  XR_OK(xr_ayepi_broker_publish(pub, "last", 4, NULL));
  receive(sub, 2, got);
  assert_memory_equal(got[0], "\x00" "bin\xff", 5);
  assert_string_equal(got[1], "last");
  /* in the order published, also on a Cluster (one channel's messages take one node) */
  for (int i = 0; i < 4; i++) {
    char m[8];
    snprintf(m, sizeof m, "m%d", i);
    XR_OK(xr_ayepi_broker_publish(pub, m, strlen(m), NULL));
  }
  receive(sub, 4, got);
  for (int i = 0; i < 4; i++) {
    char m[8];
    snprintf(m, sizeof m, "m%d", i);
    assert_string_equal(got[i], m);
  }
  XR_FAILS(xr_ayepi_broker_publish(NULL, "x", 1, NULL), XR_EINVAL, "the broker and the message are required");
  xr_ayepi_broker_options empty = XR_AYEPI_BROKER_OPTIONS_INIT;
  empty.channel = "";
  xr_ayepi_broker *none = NULL;
  XR_FAILS(xr_ayepi_broker_new(&none, c, &empty), XR_EINVAL, "the channel is empty");
  xr_free(env);
  xr_ayepi_broker_free(pub);
  xr_ayepi_broker_free(sub);
  xr_client_close(c);
}

/* publish_to, the broker's publish as a row: sequential and in a batch, the channel as given (no
 * store prefix), bytes as they are, the batch's messages in their order; an empty channel refused. */
static void publish_to_as_a_row(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  char channel[200];
  snprintf(channel, sizeof channel, "%s:ayepi-row", tt.prefix);
  xr_ayepi_broker_options bo = XR_AYEPI_BROKER_OPTIONS_INIT;
  bo.channel = channel;
  xr_ayepi_broker *sub;
  XR_OK(xr_ayepi_broker_new(&sub, f.c, &bo));
  XR_OK(xr_ayepi_broker_listen(sub));
  settle(sub);
  tt_monitor tm;
  tt_monitor_open(&tm);
  int64_t receivers = -1;
  XR_OK(xr_ayepi_publish_to(f.store, &receivers, channel, strlen(channel), "\x00" "row\xff", 5));
  if (tt.kind != TT_CLUSTER) assert_int_equal(receivers, 1); /* a Cluster counts the node's own subscribers */
  itest_lines got = {0}, want = {0};
  tt_monitor_collect(&tm, 0, &got);
  itest_lines_add(&want, strdup("client \"PUBLISH\" \"chat-sdk:ayepi-row\" \"\\x00row\\xff\""));
  itest_assert_lines(&got, &want, "publish_to: the channel as given, no store prefix");
  itest_lines_free(&got);
  itest_lines_free(&want);
  tt_monitor_close(&tm);
  char msgs[5][200];
  receive(sub, 1, msgs);
  assert_memory_equal(msgs[0], "\x00" "row\xff", 5);
  xr_ayepi_batch *b;
  XR_OK(xr_ayepi_batch_new(&b, f.store));
  int idx[4];
  for (int i = 0; i < 4; i++) {
    char m[8];
    snprintf(m, sizeof m, "b%d", i);
    idx[i] = xr_ayepi_batch_publish_to(b, channel, strlen(channel), m, strlen(m));
    assert_true(idx[i] >= 0);
  }
  assert_true(xr_ayepi_batch_publish_to(b, "", 0, "x", 1) < 0);
  XR_FAILS(xr_ayepi_publish_to(f.store, NULL, "", 0, "x", 1), XR_EINVAL, "ayepi.publish_to: the channel is empty");
  XR_OK(xr_ayepi_batch_exec(b));
  for (int i = 0; i < 4; i++) {
    xr_result r;
    XR_OK(xr_ayepi_batch_result(b, (size_t)idx[i], &r));
    assert_int_equal(r.kind, XR_RESULT_INTEGER);
    if (tt.kind != TT_CLUSTER) assert_int_equal(r.integer, 1);
  }
  xr_ayepi_batch_free(b);
  receive(sub, 4, msgs);
  for (int i = 0; i < 4; i++) {
    char m[8];
    snprintf(m, sizeof m, "b%d", i);
    assert_string_equal(msgs[i], m);
  }
  xr_ayepi_broker_free(sub);
  fix_close(&f);
}

/* Publishes until a message arrives again after `since` (what is published while the subscriber
 * is away is lost: pub/sub keeps nothing), within 20 s; prints how long it took. */
static void resumed(xr_ayepi_broker *b, long long since, const char *what) {
  xr_pollable *p = xr_ayepi_broker_pollable(b);
  long long end = since + 20000;
  int arrived = 0;
  while (!arrived) {
    if (itest_now_ms() > end) fail_msg("nothing arrived within 20 s of %s", what);
    (void)xr_ayepi_broker_publish(b, "after", 5, NULL); /* fails while there is no master */
    struct pollfd pfd = {xr_pollable_fd(p), POLLIN, 0};
    int ready = pfd.fd >= 0 ? poll(&pfd, 1, 20) : poll(NULL, 0, 20);
    xr_pollable_process(p, ready > 0 ? XR_WAIT_READ : 0, xr_monotonic_ms());
    const char *m;
    size_t len;
    while (xr_ayepi_broker_next(b, &m, &len) == 1) arrived |= len == 5 && !memcmp(m, "after", 5);
  }
  print_message("broker: delivery resumed %lld ms after %s began (%llu resubscriptions)\n", itest_now_ms() - since,
                what, (unsigned long long)xr_ayepi_broker_reconnects(b));
}

/* A server restart: the broker subscribes again by itself and receives what is published after
 * it; how long until delivery resumes is printed (a server of its own: the restart would break
 * the suite's). */
static void broker_survives_a_restart(void **state) {
  (void)state;
  xrt_server *srv;
  assert_int_equal(itest_start(&srv, NULL), 0);
  xr_client_options o = itest_options(srv);
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  xr_ayepi_broker *b;
  XR_OK(xr_ayepi_broker_new(&b, c, NULL));
  XR_OK(xr_ayepi_broker_listen(b));
  settle(b);
  char got[2][200];
  XR_OK(xr_ayepi_broker_publish(b, "before", 6, NULL));
  receive(b, 1, got);
  assert_string_equal(got[0], "before");
  char err[XRT_ERR_SIZE];
  long long down = itest_now_ms();
  assert_int_equal(xrt_server_restart(srv, err), 0);
  resumed(b, down, "the restart");
  assert_true(xr_ayepi_broker_reconnects(b) >= 1);
  xr_ayepi_broker_free(b);
  xr_client_close(c);
  xrt_server_free(srv);
}

/* A Sentinel failover (a private set: the old master is killed): the broker's subscriber follows
 * the new master and receives what is published after it; how long until delivery resumes is
 * printed. */
static void broker_survives_a_failover(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE];
  xrt_sentinel *set;
  if (xrt_sentinel_start(&set, NULL, err) != 0) fail_msg("sentinel: %s", err);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.topology = XR_TOPOLOGY_SENTINEL;
  o.nodes = xrt_sentinel_seeds(set);
  o.master_name = xrt_sentinel_master_name(set);
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  xr_ayepi_broker *b;
  XR_OK(xr_ayepi_broker_new(&b, c, NULL));
  XR_OK(xr_ayepi_broker_listen(b));
  settle(b);
  char got[2][200];
  XR_OK(xr_ayepi_broker_publish(b, "before", 6, NULL));
  receive(b, 1, got);
  assert_string_equal(got[0], "before");
  int old = xrt_sentinel_master_index(set, err);
  assert_true(old >= 0);
  long long start = itest_now_ms();
  int now;
  if (xrt_sentinel_failover(set, &now, err) != 0) fail_msg("failover: %s", err);
  xrt_sentinel_kill_node(set, (size_t)old);
  resumed(b, start, "the failover");
  assert_true(xr_ayepi_broker_reconnects(b) >= 1);
  xr_ayepi_broker_free(b);
  xr_client_close(c);
  xrt_sentinel_free(set);
}

/* ---- faults (a fake server: lost replies and refusals on demand) ---------------------------------- */

typedef struct faulty {
  xrt_fake *f;
  xr_client *c;
  xr_ayepi_store *s;
  int errors, last_code; /* what on_error saw */
} faulty;

static void count_error(void *ctx, int code, const char *message) {
  faulty *t = ctx;
  (void)message;
  t->errors++;
  t->last_code = code;
}

static void faulty_open(faulty *t) {
  memset(t, 0, sizeof *t);
  char err[XRT_ERR_SIZE];
  if (xrt_fake_start(&t->f, err) != 0) fail_msg("fake server: %s", err);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = xrt_fake_port(t->f);
  XR_OK(xr_client_open(&t->c, &o));
  xr_ayepi_options so = XR_AYEPI_OPTIONS_INIT;
  so.retry.base_ms = 1; /* the policy, quickly */
  so.retry.on_error = count_error;
  so.retry.on_error_ctx = t;
  XR_OK(xr_ayepi_store_new(&t->s, t->c, &so));
}

static void faulty_close(faulty *t) {
  xr_ayepi_store_free(t->s);
  xr_client_close(t->c);
  xrt_fake_free(t->f);
}

static void rule(xrt_fake *f, const char *pattern, const char *reply, xrt_fake_action action, int times) {
  xrt_fake_rule_options o = XRT_FAKE_RULE_OPTIONS_INIT;
  o.action = action;
  o.times = times;
  char err[XRT_ERR_SIZE];
  if (xrt_fake_on_with(f, pattern, reply, &o, err) != 0) fail_msg("rule %s: %s", pattern, err);
}

/* A lost reply to a get is tried again (the repeat changes nothing); an error reply is not; a
 * call that fails for good calls on_error once. */
static void retries_only_what_is_safe(void **state) {
  (void)state;
  faulty t;
  faulty_open(&t);
  rule(t.f, "GET", NULL, XRT_FAKE_CLOSE, 1);
  rule(t.f, "GET", "$1\r\nv\r\n", XRT_FAKE_REPLY, 0);
  bool found = false;
  char *v = NULL;
  size_t n = 0;
  XR_OK(xr_ayepi_get(t.s, &found, &v, &n, S("k")));
  assert_true(found && n == 1 && v[0] == 'v');
  xr_free(v);
  assert_int_equal(xrt_fake_count(t.f, "GET"), 2);
  assert_int_equal(t.errors, 0);
  xrt_fake_clear_rules(t.f);
  xrt_fake_clear_log(t.f);
  rule(t.f, "GET", NULL, XRT_FAKE_CLOSE, 0); /* every time: 3 attempts, then on_error once */
  XR_FAILS(xr_ayepi_get(t.s, &found, &v, &n, S("k")), XR_EIO, "");
  assert_int_equal(xrt_fake_count(t.f, "GET"), 3);
  assert_int_equal(t.errors, 1);
  assert_int_equal(t.last_code, XR_EIO);
  xrt_fake_clear_rules(t.f);
  xrt_fake_clear_log(t.f);
  rule(t.f, "SET", "-ERR boom\r\n", XRT_FAKE_REPLY, 0);
  XR_FAILS(xr_ayepi_set(t.s, S("k"), S("v"), 0), XR_ESERVER, "boom");
  assert_int_equal(xrt_fake_count(t.f, "SET"), 1);
  assert_int_equal(t.errors, 2);
  faulty_close(&t);
}

/* An increment whose reply is lost is never sent again (upstream's retry counts it twice): the
 * caller learns it may have counted; a publish_to neither. */
static void increment_is_never_repeated(void **state) {
  (void)state;
  faulty t;
  faulty_open(&t);
  rule(t.f, "INCRBY", NULL, XRT_FAKE_CLOSE, 1);
  rule(t.f, "EVAL*", NULL, XRT_FAKE_CLOSE, 1);
  int64_t count = 0;
  XR_FAILS(xr_ayepi_increment(t.s, &count, S("n"), 1, 0), XR_EIO, "");
  XR_FAILS(xr_ayepi_increment(t.s, &count, S("n"), 1, 1000), XR_EIO, "");
  assert_int_equal(xrt_fake_count(t.f, "INCRBY"), 1);
  assert_int_equal(xrt_fake_count(t.f, "EVAL*"), 1);
  assert_int_equal(t.errors, 2);
  rule(t.f, "PUBLISH", NULL, XRT_FAKE_CLOSE, 1); /* nor a publish: a repeat could deliver twice */
  XR_FAILS(xr_ayepi_publish_to(t.s, NULL, S("ch"), S("m")), XR_EIO, "");
  assert_int_equal(xrt_fake_count(t.f, "PUBLISH"), 1);
  assert_int_equal(t.errors, 3);
  faulty_close(&t);
}

/* A SET NX whose reply is lost is resolved by reading the key back: the caller's value there is
 * its claim, another value is another's, no key means claim again. */
static void lost_claim_is_read_back(void **state) {
  (void)state;
  static const struct {
    const char *get;   /* what the key holds when read back */
    bool stored;       /* the answer */
    size_t sets;       /* SET NX sent */
  } cases[] = {
      {"$5\r\nmine1\r\n", true, 1},
      {"$5\r\nother\r\n", false, 1},
      {"$-1\r\n", true, 2}, /* absent: claimed again, this time answered */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    faulty t;
    faulty_open(&t);
    rule(t.f, "SET", NULL, XRT_FAKE_CLOSE, 1);
    rule(t.f, "SET", "+OK\r\n", XRT_FAKE_REPLY, 0);
    rule(t.f, "GET", cases[i].get, XRT_FAKE_REPLY, 0);
    bool stored = !cases[i].stored;
    XR_OK(xr_ayepi_set_if_not_exists(t.s, &stored, S("claim"), S("mine1"), 5000));
    assert_int_equal(stored, cases[i].stored);
    assert_int_equal(xrt_fake_count(t.f, "SET"), cases[i].sets);
    assert_int_equal(xrt_fake_count(t.f, "GET"), 1);
    assert_int_equal(t.errors, 0);
    faulty_close(&t);
  }
}

/* The generic call (the bindings' sequential path) keeps the policy: a lost get reply is tried
 * again, a lost claim is read back, a lost increment is not repeated; and the policy's answers for
 * callers that wait themselves (xr_ayepi_retry_next). */
static void generic_call_keeps_the_policy(void **state) {
  (void)state;
  faulty t;
  faulty_open(&t);
  rule(t.f, "GET", NULL, XRT_FAKE_CLOSE, 1);
  rule(t.f, "GET", "$5\r\nmine1\r\n", XRT_FAKE_REPLY, 0);
  rule(t.f, "SET", NULL, XRT_FAKE_CLOSE, 1);
  xr_arg key[] = {XR_ARG_OF_TEXT("k", 1)};
  xr_result r;
  XR_OK(xr_ayepi_call(t.s, XR_AYEPI_OP_GET, key, 1, &r));
  assert_true(r.present);
  xr_result_clear(&r);
  assert_int_equal(xrt_fake_count(t.f, "GET"), 2);
  xr_arg claim[] = {XR_ARG_OF_TEXT("k", 1), XR_ARG_OF_TEXT("mine1", 5), XR_ARG_OF_INT(0)};
  XR_OK(xr_ayepi_call(t.s, XR_AYEPI_OP_SET_IF_NOT_EXISTS, claim, 3, &r));
  assert_true(r.kind == XR_RESULT_BOOL && r.present); /* read back: the caller's value */
  xr_result_clear(&r);
  assert_int_equal(xrt_fake_count(t.f, "SET"), 1);
  assert_int_equal(xrt_fake_count(t.f, "GET"), 3);
  assert_int_equal(t.errors, 0);
  int64_t delay;
  /* attempts 3: after 1 and 2 the next, after 3 none */
  assert_int_equal(xr_ayepi_retry_next(t.s, XR_AYEPI_OP_GET, XR_EIO, 1, &delay), XR_AYEPI_TRY_AGAIN);
  assert_true(delay >= 0 && delay <= 1);
  assert_int_equal(xr_ayepi_retry_next(t.s, XR_AYEPI_OP_GET, XR_ECONNECT, 2, &delay), XR_AYEPI_TRY_AGAIN);
  assert_int_equal(xr_ayepi_retry_next(t.s, XR_AYEPI_OP_GET, XR_EIO, 3, &delay), XR_AYEPI_GIVE_UP);
  assert_int_equal(delay, -1);
  assert_int_equal(xr_ayepi_retry_next(t.s, XR_AYEPI_OP_GET, XR_ESERVER, 1, &delay), XR_AYEPI_GIVE_UP);
  assert_int_equal(xr_ayepi_retry_next(t.s, XR_AYEPI_OP_INCREMENT, XR_ETIMEOUT, 1, &delay), XR_AYEPI_GIVE_UP);
  assert_int_equal(xr_ayepi_retry_next(t.s, XR_AYEPI_OP_INCREMENT, XR_ECONNECT, 1, &delay), XR_AYEPI_TRY_AGAIN);
  assert_int_equal(xr_ayepi_retry_next(t.s, XR_AYEPI_OP_PUBLISH_TO, XR_EIO, 1, &delay), XR_AYEPI_GIVE_UP);
  assert_int_equal(xr_ayepi_retry_next(t.s, XR_AYEPI_OP_PUBLISH_TO, XR_ECONNECT, 1, &delay), XR_AYEPI_TRY_AGAIN);
  assert_int_equal(xr_ayepi_retry_next(t.s, XR_AYEPI_OP_SET_IF_NOT_EXISTS, XR_EIO, 1, &delay), XR_AYEPI_READ_BACK);
  assert_true(delay >= 0);
  assert_int_equal(xr_ayepi_retry_next(t.s, XR_AYEPI_OP_SET_IF_NOT_EXISTS, XR_EIO, 3, &delay), XR_AYEPI_READ_BACK);
  assert_int_equal(delay, -1); /* read back, but no claim again */
  assert_int_equal(xr_ayepi_retry_next(t.s, 99, XR_EIO, 1, &delay), XR_AYEPI_GIVE_UP);
  faulty_close(&t);
}

/* A sweep's page that failed on the way is read again: the SCAN step is retried, on_error silent. */
static void sweep_retries_its_steps(void **state) {
  (void)state;
  faulty t;
  faulty_open(&t);
  rule(t.f, "SCAN", NULL, XRT_FAKE_CLOSE, 1);
  rule(t.f, "SCAN", "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n", XRT_FAKE_REPLY, 0);
  rule(t.f, "DEL", ":1\r\n", XRT_FAKE_REPLY, 0);
  size_t removed = 0;
  XR_OK(xr_ayepi_cache_clear(t.s, &removed));
  assert_int_equal(removed, 1);
  assert_int_equal(xrt_fake_count(t.f, "SCAN"), 2);
  assert_int_equal(xrt_fake_count(t.f, "DEL"), 1);
  assert_int_equal(t.errors, 0);
  xrt_fake_clear_rules(t.f);
  rule(t.f, "SCAN", NULL, XRT_FAKE_CLOSE, 0);
  XR_FAILS(xr_ayepi_cache_clear(t.s, &removed), XR_EIO, "");
  assert_int_equal(t.errors, 1);
  faulty_close(&t);
}

/* Upstream's defect, on a real server: its PEXPIRE fails after its INCRBY succeeded (here an ACL
 * user that may not pexpire) and its retry runs both again, counting +2 (+3) for one increment. The
 * core's increment is one script, never repeated after an error reply: the counter is +1 and the
 * caller gets the error. */
static void failed_expiry_counts_once(void **state) {
  (void)state;
  xrt_server *srv;
  assert_int_equal(itest_start(&srv, NULL), 0);
  xr_client_options o = itest_options(srv);
  xr_client *admin, *c;
  XR_OK(xr_client_open(&admin, &o));
  XR_OK(itest_cmd(admin, NULL, "ACL", "SETUSER", "noexpire", "on", ">pw-noexpire", "~*", "+@all", "-pexpire", NULL));
  o.username = "noexpire";
  o.password = "pw-noexpire";
  XR_OK(xr_client_open(&c, &o));
  xr_ayepi_options so = XR_AYEPI_OPTIONS_INIT;
  so.retry.base_ms = 1;
  xr_ayepi_store *s;
  XR_OK(xr_ayepi_store_new(&s, c, &so));
  int64_t n = 0;
  XR_FAILS(xr_ayepi_increment(s, &n, S("work:group:g1:open"), 1, 60000), XR_ESERVER, "can't run this command");
  itest_assert_get(admin, "work:group:g1:open", "1"); /* upstream: 3 (three attempts, each INCRBY) */
  XR_OK(xr_ayepi_increment(s, &n, S("work:group:g1:open"), 1, 0)); /* without a TTL: no pexpire */
  assert_int_equal(n, 2);
  xr_ayepi_store_free(s);
  xr_client_close(c);
  xr_client_close(admin);
  xrt_server_free(srv);
}

/* ---- memory: every byte the library holds, counted through its allocator hooks ------------------- */

static _Atomic long long live_bytes; /* what the library holds now */

static void *count_malloc(size_t n) {
  void *p = malloc(n);
  if (p) live_bytes += (long long)malloc_usable_size(p);
  return p;
}
static void *count_calloc(size_t n, size_t size) {
  void *p = calloc(n, size);
  if (p) live_bytes += (long long)malloc_usable_size(p);
  return p;
}
static void *count_realloc(void *old, size_t n) {
  long long before = old ? (long long)malloc_usable_size(old) : 0;
  void *p = realloc(old, n);
  if (p) live_bytes += (long long)malloc_usable_size(p) - before;
  return p;
}
static void count_free(void *p) {
  if (p) live_bytes -= (long long)malloc_usable_size(p);
  free(p);
}

/* 1,000,000 messages through one subscriber (20,000 under valgrind), published in pipelines of 1000
 * and taken as they come: what the library holds stays flat (after the first 10% it never grows by
 * more than 256 KiB: no per-message leftovers, no queue that only grows). */
static void broker_flat_memory(void **state) {
  (void)state;
  const long total = getenv("XR_TEST_VALGRIND") ? 20000 : 1000000, per = 1000;
  xrt_server *srv;
  assert_int_equal(itest_start(&srv, NULL), 0);
  xr_client_options o = itest_options(srv);
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  xr_ayepi_broker *b;
  XR_OK(xr_ayepi_broker_new(&b, c, NULL));
  XR_OK(xr_ayepi_broker_listen(b));
  settle(b);
  xr_batch *batch;
  XR_OK(xr_batch_new(&batch));
  xr_pollable *p = xr_ayepi_broker_pollable(b);
  long got = 0, sent = 0;
  long long warm = -1, peak = 0;
  char body[64];
  while (sent < total) {
    xr_batch_clear(batch);
    for (long i = 0; i < per; i++, sent++) {
      int n = snprintf(body, sizeof body, "{\"ch\":\"progress\",\"params\":{},\"data\":%ld}", sent);
      const char *argv[] = {"publish", "ayepi", body};
      size_t lens[] = {7, 5, (size_t)n};
      assert_true(xr_batch_add(batch, 3, argv, lens) >= 0);
    }
    XR_OK(xr_client_exec(c, batch));
    long long end = itest_now_ms() + 10000;
    while (got < sent) {
      if (itest_now_ms() > end) fail_msg("only %ld of %ld messages arrived", got, sent);
      struct pollfd pfd = {xr_pollable_fd(p), POLLIN, 0};
      int ready = poll(&pfd, 1, 20);
      assert_true(xr_pollable_process(p, ready > 0 ? XR_WAIT_READ : 0, xr_monotonic_ms()) >= 0);
      const char *m;
      size_t len;
      while (xr_ayepi_broker_next(b, &m, &len) == 1) {
        int n = snprintf(body, sizeof body, "{\"ch\":\"progress\",\"params\":{},\"data\":%ld}", got);
        if ((size_t)n != len || memcmp(m, body, len) != 0) fail_msg("message %ld: %.*s", got, (int)len, m);
        got++;
      }
    }
    if (sent == total / 10) warm = live_bytes;
    if (warm >= 0 && live_bytes > peak) peak = live_bytes;
  }
  print_message("broker: %ld messages; the library held %lld bytes after the first 10%%, at most %lld after\n", got,
                warm, peak);
  assert_true(peak <= warm + 256 * 1024);
  xr_batch_free(batch);
  xr_ayepi_broker_free(b);
  xr_client_close(c);
  xrt_server_free(srv);
}

int main(void) {
  /* before any other crossredis call (alloc.h): every allocation counted, for broker_flat_memory */
  xr_allocator counting = {count_malloc, count_calloc, count_realloc, count_free};
  if (xr_set_allocator(&counting) != 0) return 1;
  const struct CMUnitTest tests[] = {
      TT_TEST(wire_matches_ayepi),
      TT_TEST(store_and_cache),
      TT_TEST(bad_input),
      TT_TEST(batch),
      TT_TEST(wire_sweeps),
      TT_TEST(sweeps_stay_in_their_prefix),
      TT_TEST(sweep_by_pages),
      TT_TEST(broker_wire_and_delivery),
      TT_TEST(publish_to_as_a_row),
  };
  const struct CMUnitTest standalone_only[] = {TT_TEST(broker_survives_a_restart), TT_TEST(broker_survives_a_failover), TT_TEST(retries_only_what_is_safe),
                                               TT_TEST(increment_is_never_repeated), TT_TEST(lost_claim_is_read_back),
                                               TT_TEST(generic_call_keeps_the_policy), TT_TEST(sweep_retries_its_steps),
                                               TT_TEST(broker_flat_memory), TT_TEST(failed_expiry_counts_once)};
  return tt_run("ayepi", tests, sizeof tests / sizeof tests[0], standalone_only,
                sizeof standalone_only / sizeof standalone_only[0]);
}
