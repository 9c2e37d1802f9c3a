/* The Chat SDK state adapter given bad input, on a standalone server, the Sentinel set and the
 * Cluster (topotest.h; "nothing sent" is what MONITOR on every master saw): empty ids and keys,
 * bad options, values that are not JSON or not UTF-8 (refused before anything is sent), a 10 MiB
 * value, keys of the wrong type (the server's WRONGTYPE, naming the key, nothing changed), and
 * numbers out of range: TTLs that are not positive or too large for now + ttl to be computed
 * (UBSan caught the overflow near 2^63), negative counts, timestamps, waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/chat.h"
#include "itest.h"
#include "topotest.h"

#define S(lit) lit, sizeof(lit) - 1 /* a string literal as (bytes, length) */

#define chk tt.chk

typedef struct fixture {
  xr_client *c;
  xr_chat *s;
  tt_monitor m;
} fixture;

static void fix_open(fixture *f) {
  xr_client_options co = tt_options();
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = tt.prefix;
  XR_OK(xr_client_open(&f->c, &co));
  XR_OK(xr_chat_new(&f->s, f->c, &o));
  tt_monitor_open(&f->m);
}

static void fix_close(fixture *f) {
  tt_monitor_close(&f->m);
  xr_chat_free(f->s);
  xr_client_close(f->c);
}

/* Nothing reached the server since the last check. */
static void expect_nothing_sent(fixture *f, const char *what) {
  itest_lines got = {0};
  tt_monitor_collect(&f->m, 0, &got);
  if (got.n) fail_msg("%s: sent %s", what, got.v[0]);
  itest_lines_free(&got);
}

static long long dbsize(void) { return tt_count_keys(); }

/* ---- empty ids and keys ----------------------------------------------------------------------- */

static void test_empty_ids_and_keys(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  bool b = false;
  long long n = 0;
  char *v = NULL;
  size_t vl = 0;
  xr_reply *items = NULL;
  xr_chat_lock lock;
  xr_chat_queue_entry e;
  memset(&e, 0, sizeof e);
  lock.token_len = 0;
  XR_FAILS(xr_chat_subscribe(f.s, "", 0), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_unsubscribe(f.s, "", 0), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_is_subscribed(f.s, &b, "", 0), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_acquire_lock(f.s, &b, &lock, "", 0, 30000), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_acquire_lock_wait(f.s, &b, &lock, "", 0, 30000, 100), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_release_lock(f.s, &b, "", 0, S("tok")), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_extend_lock(f.s, &b, "", 0, S("tok"), 30000), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_force_release_lock(f.s, "", 0), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_release_lock_if_queue_empty(f.s, &b, &n, "", 0, S("tok")), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_get(f.s, &v, &vl, "", 0), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_set(f.s, "", 0, S("1"), 0), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_set_if_not_exists(f.s, &b, "", 0, S("1"), 0), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_delete(f.s, "", 0), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_append_to_list(f.s, "", 0, S("1"), 0, 0), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_get_list(f.s, &items, "", 0), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_enqueue(f.s, &n, "", 0, S("{}"), 1, 2, 10), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_dequeue(f.s, &b, &e, "", 0), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_queue_depth(f.s, &n, "", 0), XR_EINVAL, NULL);

  xr_chat_batch *bt = NULL;
  XR_OK(xr_chat_batch_new(&bt, f.s));
  assert_int_equal(xr_chat_batch_subscribe(bt, "", 0), XR_EINVAL);
  assert_int_equal(xr_chat_batch_acquire_lock(bt, "", 0, 30000), XR_EINVAL);
  assert_int_equal(xr_chat_batch_set(bt, "", 0, S("1"), 0), XR_EINVAL);
  assert_int_equal(xr_chat_batch_get(bt, "", 0), XR_EINVAL);
  assert_int_equal(xr_chat_batch_enqueue(bt, "", 0, S("{}"), 1, 2, 10), XR_EINVAL);
  assert_int_equal(xr_chat_batch_dequeue(bt, "", 0), XR_EINVAL);
  assert_int_equal(xr_chat_batch_count(bt), 0);
  /* a refused operation takes no index: the next one is still 0 */
  assert_int_equal(xr_chat_batch_queue_depth(bt, S("q")), 0);
  xr_chat_batch_free(bt);

  expect_nothing_sent(&f, "empty ids and keys");
  assert_int_equal(dbsize(), 0);
  fix_close(&f);
}

/* ---- options ---------------------------------------------------------------------------------- */

static void expect_bad_options(xr_client *c, const xr_chat_options *o, const char *part) {
  xr_chat *s = (xr_chat *)&s;
  xr_error_clear();
  int rc = xr_chat_new(&s, c, o);
  if (rc != XR_EINVAL)
    fail_msg("xr_chat_new -> %s, want EINVAL naming %s", xr_error_name(rc), part);
  if (!strstr(xr_error_last()->message, part))
    fail_msg("xr_chat_new: message \"%s\" lacks \"%s\"", xr_error_last()->message, part);
  if (s != NULL && s != (xr_chat *)&s) fail_msg("xr_chat_new failed but returned an adapter");
}

static void test_options_are_checked(void **state) {
  (void)state;
  xr_client_options co = tt_options();
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &co));
  static const char *const globs[] = {"chat*", "chat?", "chat[1]", "chat]", "chat\\x", "*"};
  for (size_t i = 0; i < sizeof globs / sizeof globs[0]; i++) {
    xr_chat_options o = XR_CHAT_OPTIONS_INIT;
    o.key_prefix = globs[i];
    expect_bad_options(c, &o, "key_prefix");
    expect_bad_options(c, &o, globs[i]); /* named, with its value */
  }
  char longest[XR_TOKEN_PREFIX_MAX + 2];
  memset(longest, 'p', sizeof longest - 1);
  longest[sizeof longest - 1] = '\0'; /* one too long */
  const char *const tokens[] = {"", "re dis", "redis:", "a_b", "b\xc3\xa4r", longest};
  for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
    xr_chat_options o = XR_CHAT_OPTIONS_INIT;
    o.token_prefix = tokens[i];
    expect_bad_options(c, &o, "token_prefix");
  }
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.version = 0;
  expect_bad_options(c, &o, "version");
  o = (xr_chat_options)XR_CHAT_OPTIONS_INIT;
  o.version = XR_CHAT_OPTIONS_VERSION + 1;
  expect_bad_options(c, &o, "version");
  o = (xr_chat_options)XR_CHAT_OPTIONS_INIT;
  o.token_suffix = (xr_token_suffix)3;
  expect_bad_options(c, &o, "token_suffix");
  o = (xr_chat_options)XR_CHAT_OPTIONS_INIT;
  o.json = (xr_json_dialect)99;
  expect_bad_options(c, &o, "json");
  o.json = XR_JSON_GO; /* a JSON dialect, but no Chat SDK runtime writes it */
  expect_bad_options(c, &o, "json");
  o = (xr_chat_options)XR_CHAT_OPTIONS_INIT;
  o.queue = (xr_chat_queue_dialect)4;
  expect_bad_options(c, &o, "queue");
  o = (xr_chat_options)XR_CHAT_OPTIONS_INIT;
  o.empty_prefix = (xr_chat_empty_prefix)7;
  expect_bad_options(c, &o, "empty_prefix");
  o = (xr_chat_options)XR_CHAT_OPTIONS_INIT;
  xr_chat *s = NULL;
  XR_FAILS(xr_chat_new(&s, NULL, &o), XR_EINVAL, NULL);
  /* and good ones pass: every valid glob-free prefix, the longest token prefix */
  o.key_prefix = "my-app:v2.{chat}";
  longest[XR_TOKEN_PREFIX_MAX] = '\0';
  o.token_prefix = longest;
  XR_OK(xr_chat_new(&s, c, &o));
  assert_string_equal(xr_chat_key_prefix(s), "my-app:v2.{chat}");
  xr_chat_free(s);
  xr_client_close(c);
}

/* ---- values ----------------------------------------------------------------------------------- */

#define BIG (10u * 1024 * 1024)

static void test_ten_mib_value(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  tt_monitor_close(&f.m); /* not 10 MiB through MONITOR */
  /* a JSON string already as JS writes it: printable ASCII, raw UTF-8 and the escapes JS keeps */
  char *json = malloc(BIG + 2);
  assert_non_null(json);
  json[0] = '"';
  uint32_t x = 2463534242u;
  size_t i = 1;
  while (i < BIG) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    switch (x % 7) {
      case 0: memcpy(json + i, "\\n", 2), i += 2; break;
      case 1: memcpy(json + i, "\\\"", 2), i += 2; break;
      case 2: memcpy(json + i, "\xc3\xa4", 2), i += 2; break;
      default: json[i++] = (char)('a' + x % 26); break;
    }
  }
  json[i++] = '"';
  size_t len = i;
  XR_OK(xr_chat_set(f.s, S("big"), json, len, 0));
  xr_reply *r = NULL;
  XR_OK(itest_cmd(chk, &r, "STRLEN", tt_key(":cache:big"), NULL));
  assert_int_equal(xr_reply_integer(r), (long long)len);
  xr_reply_free(r);
  char *v = NULL;
  size_t vl = 0;
  XR_OK(xr_chat_get(f.s, &v, &vl, S("big")));
  assert_int_equal(vl, len);
  assert_memory_equal(v, json, len);
  xr_free(v);

  /* through a queue entry too */
  long long depth = 0;
  XR_OK(xr_chat_enqueue(f.s, &depth, S("big"), json, len, 1, 2, 10));
  bool found = false;
  xr_chat_queue_entry e;
  memset(&e, 0, sizeof e);
  XR_OK(xr_chat_dequeue(f.s, &found, &e, S("big")));
  assert_true(found);
  assert_int_equal(e.message_len, len);
  assert_memory_equal(e.message, json, len);
  xr_chat_queue_entry_clear(&e);
  free(json);
  fix_close(&f);
}

/* Values that are not JSON, or not UTF-8, are refused before anything is sent. */
static void test_values_must_be_json(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  static const struct {
    const char *text;
    size_t len;
  } bad[] = {
      {S("{\"a\":")},       {S("")},         {S("   ")},   {S("{} x")},          {S("1 2")},
      {S("undefined")},     {S("{'a':1}")}, {S("\"a\\q\"")}, {S("{\"a\":\"\xff\"}")}, /* invalid UTF-8 */
      {S("\"\xc0\xaf\"")},  /* overlong */   {S("\"\xed\xa0\x80\"")}, /* a surrogate as UTF-8 bytes */
  };
  bool b = false;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *t = bad[i].text;
    size_t n = bad[i].len;
    XR_FAILS(xr_chat_set(f.s, S("k"), t, n, 0), XR_EPARSE, NULL);
    XR_FAILS(xr_chat_set(f.s, S("k"), t, n, 1000), XR_EPARSE, NULL);
    XR_FAILS(xr_chat_set_if_not_exists(f.s, &b, S("k"), t, n, 0), XR_EPARSE, NULL);
    XR_FAILS(xr_chat_append_to_list(f.s, S("l"), t, n, 10, 1000), XR_EPARSE, NULL);
    XR_FAILS(xr_chat_enqueue(f.s, NULL, S("q"), t, n, 1, 2, 10), XR_EPARSE, NULL);
    xr_chat_batch *bt = NULL;
    XR_OK(xr_chat_batch_new(&bt, f.s));
    assert_int_equal(xr_chat_batch_set(bt, S("k"), t, n, 0), XR_EPARSE);
    assert_int_equal(xr_chat_batch_enqueue(bt, S("q"), t, n, 1, 2, 10), XR_EPARSE);
    xr_chat_batch_free(bt);
  }
  expect_nothing_sent(&f, "values that are not JSON");
  assert_int_equal(dbsize(), 0);
  /* the message names what is wrong */
  XR_FAILS(xr_chat_set(f.s, S("k"), S("{\"a\":"), 0), XR_EPARSE, "JSON");
  fix_close(&f);
}

/* ---- wrong types ------------------------------------------------------------------------------ */

static void expect_hash_unchanged(const char *key) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(chk, &r, "HGETALL", key, NULL));
  assert_int_equal(xr_reply_count(r), 2);
  assert_string_equal(xr_reply_str(xr_reply_at(r, 0), NULL), "field");
  assert_string_equal(xr_reply_str(xr_reply_at(r, 1), NULL), "value");
  xr_reply_free(r);
  assert_int_equal(itest_pttl(chk, key), -1);
}

static void test_wrong_types(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  tt_monitor_close(&f.m);
  const char *list = tt_key(":list:h"), *queue = tt_key(":queue:h"), *cache = tt_key(":cache:l"),
             *subs = tt_key(":subscriptions"), *lock = tt_key(":lock:h");
  XR_OK(itest_cmd(chk, NULL, "HSET", list, "field", "value", NULL));
  XR_OK(itest_cmd(chk, NULL, "HSET", queue, "field", "value", NULL));
  XR_OK(itest_cmd(chk, NULL, "HSET", subs, "field", "value", NULL));
  XR_OK(itest_cmd(chk, NULL, "HSET", lock, "field", "value", NULL));
  XR_OK(itest_cmd(chk, NULL, "RPUSH", cache, "a", "b", NULL));

  xr_reply *items = (xr_reply *)&items;
  XR_FAILS(xr_chat_append_to_list(f.s, S("h"), S("{\"a\":1}"), 100, 604800000), XR_EWRONGTYPE, list);
  XR_FAILS(xr_chat_append_to_list(f.s, S("h"), S("{\"a\":1}"), 0, 0), XR_EWRONGTYPE, "WRONGTYPE");
  XR_FAILS(xr_chat_get_list(f.s, &items, S("h")), XR_EWRONGTYPE, list);
  assert_null(items);
  expect_hash_unchanged(list);

  bool found = true;
  long long depth = 0;
  xr_chat_queue_entry e;
  memset(&e, 0, sizeof e);
  XR_FAILS(xr_chat_dequeue(f.s, &found, &e, S("h")), XR_EWRONGTYPE, queue);
  XR_FAILS(xr_chat_enqueue(f.s, &depth, S("h"), S("{}"), 1, itest_wall_ms() + 90000, 10), XR_EWRONGTYPE, queue);
  XR_FAILS(xr_chat_queue_depth(f.s, &depth, S("h")), XR_EWRONGTYPE, queue);
  xr_chat_queue_entry_clear(&e);
  expect_hash_unchanged(queue);

  bool sub = false;
  XR_FAILS(xr_chat_subscribe(f.s, S("t")), XR_EWRONGTYPE, subs);
  XR_FAILS(xr_chat_is_subscribed(f.s, &sub, S("t")), XR_EWRONGTYPE, subs);
  expect_hash_unchanged(subs);

  /* a lock key of another type: not acquired (it exists), release and extend name it */
  xr_chat_lock l;
  bool ok = true;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &l, S("h"), 30000));
  assert_false(ok);
  XR_FAILS(xr_chat_release_lock(f.s, &ok, S("h"), S("tok")), XR_EWRONGTYPE, lock);
  XR_FAILS(xr_chat_extend_lock(f.s, &ok, S("h"), S("tok"), 30000), XR_EWRONGTYPE, lock);
  expect_hash_unchanged(lock);

  char *v = (char *)&v;
  size_t vl = 0;
  XR_FAILS(xr_chat_get(f.s, &v, &vl, S("l")), XR_EWRONGTYPE, cache);
  assert_null(v);
  xr_reply *r = NULL;
  XR_OK(itest_cmd(chk, &r, "LRANGE", cache, "0", "-1", NULL));
  assert_int_equal(xr_reply_count(r), 2);
  xr_reply_free(r);

  /* the message carries the server's words after the key */
  XR_FAILS(xr_chat_get_list(f.s, &items, S("h")), XR_EWRONGTYPE, tt_key(":list:h: WRONGTYPE"));

  /* in a batch, the failing operation fails alone, naming its key */
  xr_chat_batch *b = NULL;
  XR_OK(xr_chat_batch_new(&b, f.s));
  assert_int_equal(xr_chat_batch_set(b, S("ok"), S("1"), 0), 0);
  assert_int_equal(xr_chat_batch_get_list(b, S("h")), 1);
  assert_int_equal(xr_chat_batch_get(b, S("ok")), 2);
  XR_OK(xr_chat_batch_exec(b));
  XR_OK(xr_chat_batch_status(b, 0));
  const xr_reply *li = NULL;
  XR_FAILS(xr_chat_batch_list(b, 1, &li), XR_EWRONGTYPE, list);
  XR_FAILS(xr_chat_batch_status(b, 1), XR_EWRONGTYPE, list);
  XR_OK(xr_chat_batch_value(b, 2, &v, &vl));
  assert_string_equal(v, "1");
  xr_free(v);
  xr_chat_batch_free(b);
  expect_hash_unchanged(list);
  fix_close(&f);
}

/* ---- lock TTLs -------------------------------------------------------------------------------- */

static void test_lock_ttl_must_be_positive(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  xr_chat_lock l;
  bool ok = true;
  XR_FAILS(xr_chat_acquire_lock(f.s, &ok, &l, S("t"), 0), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_acquire_lock(f.s, &ok, &l, S("t"), -1), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_acquire_lock(f.s, &ok, &l, S("t"), INT64_MIN), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_acquire_lock_wait(f.s, &ok, &l, S("t"), 0, 100), XR_EINVAL, NULL);
  xr_chat_batch *b = NULL;
  XR_OK(xr_chat_batch_new(&b, f.s));
  assert_int_equal(xr_chat_batch_acquire_lock(b, S("t"), 0), XR_EINVAL);
  xr_chat_batch_free(b);
  expect_nothing_sent(&f, "lock TTL <= 0");
  assert_int_equal(dbsize(), 0);
  fix_close(&f);
}

/* ---- numbers out of range: refused, named, nothing sent, nothing overflows ------------------ */

static void test_numbers_out_of_range(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  xr_chat_lock l;
  bool ok = true;
  const int64_t big = INT64_MAX - 5, over = XR_TTL_MAX_MS + 1;
  XR_FAILS(xr_chat_acquire_lock(f.s, &ok, &l, S("t"), big), XR_EINVAL,
           "chat.acquire_lock: ttl_ms must be at most 9007199254740991 (2^53-1), got 9223372036854775802");
  XR_FAILS(xr_chat_acquire_lock(f.s, &ok, &l, S("t"), over), XR_EINVAL, "at most 9007199254740991");
  XR_FAILS(xr_chat_acquire_lock_wait(f.s, &ok, &l, S("t"), big, 10), XR_EINVAL, "chat.acquire_lock_wait: ttl_ms");
  XR_FAILS(xr_chat_acquire_lock_wait(f.s, &ok, &l, S("t"), 1000, big), XR_EINVAL, "chat.acquire_lock_wait: wait_ms");
  XR_FAILS(xr_chat_acquire_lock_wait(f.s, &ok, &l, S("t"), 1000, -1), XR_EINVAL,
           "chat.acquire_lock_wait: wait_ms must be between 0 and 9007199254740991 (milliseconds), got -1");
  XR_FAILS(xr_chat_extend_lock(f.s, &ok, S("t"), S("redis_1_x"), big), XR_EINVAL, "chat.extend_lock: ttl_ms must be at most");
  XR_FAILS(xr_chat_extend_lock(f.s, &ok, S("t"), S("redis_1_x"), -3), XR_EINVAL, "chat.extend_lock: ttl_ms must be > 0, got -3");
  XR_FAILS(xr_chat_set(f.s, S("k"), S("1"), big), XR_EINVAL, "chat.set: ttl_ms must be at most");
  XR_FAILS(xr_chat_set(f.s, S("k"), S("1"), INT64_MIN), XR_EINVAL, "chat.set: ttl_ms must be >= 0 (0: no expiry), got -9223372036854775808");
  XR_FAILS(xr_chat_set_if_not_exists(f.s, &ok, S("k"), S("1"), -1), XR_EINVAL, "chat.set_if_not_exists: ttl_ms must be >= 0");
  XR_FAILS(xr_chat_append_to_list(f.s, S("l"), S("1"), -1, 0), XR_EINVAL,
           "chat.append_to_list: max_length must be >= 0 (0: no limit), got -1");
  XR_FAILS(xr_chat_append_to_list(f.s, S("l"), S("1"), 0, big), XR_EINVAL, "chat.append_to_list: ttl_ms must be at most");
  XR_FAILS(xr_chat_enqueue(f.s, NULL, S("q"), S("{}"), 0, 1000, -2), XR_EINVAL, "chat.enqueue: max_size must be >= 0 (0: no limit), got -2");
  XR_FAILS(xr_chat_enqueue(f.s, NULL, S("q"), S("{}"), 0, big, 0), XR_EINVAL, "chat.enqueue: expires_at_ms must be between 0 and 9007199254740991 (Unix milliseconds)");
  XR_FAILS(xr_chat_enqueue(f.s, NULL, S("q"), S("{}"), -1, 1000, 0), XR_EINVAL, "chat.enqueue: enqueued_at_ms must be between 0");

  /* a length no key can have (the sums that build the key must not wrap) */
  XR_FAILS(xr_chat_subscribe(f.s, "t", SIZE_MAX), XR_EINVAL, "thread id has 18446744073709551615 bytes");
  XR_FAILS(xr_chat_get(f.s, &(char *){NULL}, NULL, "k", SIZE_MAX - 3), XR_EINVAL, "more than a Redis key may");

  /* the batch adders share the checks */
  xr_chat_batch *b = NULL;
  XR_OK(xr_chat_batch_new(&b, f.s));
  assert_int_equal(xr_chat_batch_acquire_lock(b, S("t"), big), XR_EINVAL);
  assert_int_equal(xr_chat_batch_set(b, S("k"), S("1"), -1), XR_EINVAL);
  assert_int_equal(xr_chat_batch_append_to_list(b, S("l"), S("1"), -1, 0), XR_EINVAL);
  assert_int_equal(xr_chat_batch_enqueue(b, S("q"), S("{}"), 0, 1000, -1), XR_EINVAL);
  assert_int_equal(xr_chat_batch_count(b), 0);
  xr_chat_batch_free(b);

  /* the watchdog's clock and lifetime: no sum of them can overflow */
  xr_chat_watchdog *w = NULL;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &l, S("w"), 30000));
  assert_true(ok);
  XR_FAILS(xr_chat_watchdog_new(&w, f.s, S("w"), &l, 30000, big, 1000), XR_EINVAL, "chat.watchdog: max_lifetime_ms");
  XR_FAILS(xr_chat_watchdog_new(&w, f.s, S("w"), &l, 30000, 0, big), XR_EINVAL, "chat.watchdog: now_ms");
  XR_FAILS(xr_chat_watchdog_new(&w, f.s, S("w"), &l, big, 0, 1000), XR_EINVAL, "chat.watchdog: ttl_ms");
  XR_OK(xr_chat_watchdog_new(&w, f.s, S("w"), &l, 30000, XR_TTL_MAX_MS, XR_TTL_MAX_MS));
  xr_chat_watchdog_state st;
  XR_FAILS(xr_chat_watchdog_tick(w, &st, big), XR_EINVAL, "chat.watchdog: now_ms");
  XR_OK(xr_chat_watchdog_tick(w, &st, XR_TTL_MAX_MS));
  xr_chat_watchdog_free(w);

  /* the largest TTL is accepted and reaches the server exactly */
  XR_OK(xr_chat_set(f.s, S("big"), S("1"), XR_TTL_MAX_MS));
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &l, S("big"), XR_TTL_MAX_MS));
  assert_true(ok);
  assert_true(l.expires_at_ms > XR_TTL_MAX_MS);
  assert_int_equal(dbsize(), 3);
  fix_close(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TT_TEST(test_empty_ids_and_keys),
      TT_TEST(test_options_are_checked),
      TT_TEST(test_ten_mib_value),
      TT_TEST(test_values_must_be_json),
      TT_TEST(test_wrong_types),
      TT_TEST(test_lock_ttl_must_be_positive),
      TT_TEST(test_numbers_out_of_range),
  };
  return tt_run("chat input", tests, sizeof tests / sizeof tests[0], NULL, 0);
}
