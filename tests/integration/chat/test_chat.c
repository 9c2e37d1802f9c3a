/* The Chat SDK state adapter on a standalone server, the Sentinel set and the Cluster (topotest.h:
 * one body, three groups; MONITOR on every master, the lines of the test's keys, its prefix written
 * back as chat-sdk): for each operation, the commands sent must be those of the upstream captures
 * in tests/vectors (SPEC.md 1.2; on a Cluster a batch's lines in the caller's order per key), and
 * the state left in Redis must be what chat.h says: keys, values, TTLs, list trimming, queue
 * order, token shapes, key prefixes, the beyond-upstream lock operations and batches. Bad input is
 * tests/integration/chat/test_chat_input.c; lock safety under threads and the watchdog are
 * tests/integration/chat/test_chat_locks.c. */
#include <pthread.h>
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
#include "crossredis/token.h"
#include "itest.h"
#include "topotest.h"

#define S(lit) lit, sizeof(lit) - 1 /* a string literal as (bytes, length) */
#define Z(str) str, strlen(str)      /* a C string as (bytes, length) */

#define THREAD "slack:C123:1700000000.000100"

#define NODE "chat-ts-node-redis.monitor.txt"
#define IOREDIS "chat-ts-ioredis.monitor.txt"
#define PYTHON "chat-python-port.monitor.txt"

/* The message of the captured TS queue entry (chat-ts-node-redis.monitor.txt line 34). */
#define TS_MESSAGE                                                                                         \
  "{\"_type\":\"chat:Message\",\"id\":\"1700000000.000200\",\"threadId\":\"slack:C123:1700000000.000100\"," \
  "\"text\":\"h\xc3\xa9llo <@U999>\",\"formatted\":{\"type\":\"root\",\"children\":[{\"type\":\"paragraph\","  \
  "\"children\":[{\"type\":\"text\",\"value\":\"h\xc3\xa9llo\"}]}]},\"raw\":{\"ts\":\"1700000000.000200\"},"  \
  "\"author\":{\"userId\":\"U123\",\"userName\":\"alice\",\"fullName\":\"Alice A\",\"isBot\":false,"         \
  "\"isMe\":false},\"metadata\":{\"dateSent\":\"2023-11-14T22:13:20.200Z\",\"edited\":false},"              \
  "\"attachments\":[{\"type\":\"image\",\"url\":\"https://x/y.png\",\"mimeType\":\"image/png\"}]}"

/* The message of the captured Python queue entry (chat-python-port.monitor.txt line 20). */
#define PY_MESSAGE                                                                                              \
  "{\"_type\": \"chat:Message\", \"id\": \"1700000000.000200\", \"threadId\": \"slack:C123:1700000000.000100\"," \
  " \"text\": \"h\\u00e9llo <@U999>\", \"formatted\": {\"type\": \"root\", \"children\": [{\"type\": "          \
  "\"paragraph\", \"children\": [{\"type\": \"text\", \"value\": \"h\\u00e9llo\"}]}]}, \"raw\": {\"ts\": "      \
  "\"1700000000.000200\"}, \"author\": {\"userId\": \"U123\", \"userName\": \"alice\", \"fullName\": "          \
  "\"Alice A\", \"isBot\": false, \"isMe\": false}, \"metadata\": {\"dateSent\": "                              \
  "\"2023-11-14T22:13:20.200000+00:00\", \"edited\": false}, \"attachments\": [{\"type\": \"image\", "          \
  "\"url\": \"https://x/y.png\", \"mimeType\": \"image/png\"}]}"

#define chk tt.chk

/* ---- fixtures --------------------------------------------------------------------------------- */

typedef struct fixture {
  xr_client *c;
  xr_chat *s;
} fixture;

/* Options with the test's key prefix (topotest.h: "chat-sdk" on the standalone server). */
static xr_chat_options ts_options(void) {
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = tt.prefix;
  return o;
}

/* The Python port's wire: hex tokens, json.dumps text, Python queue entries, "" kept. */
static xr_chat_options py_options(void) {
  xr_chat_options o = ts_options();
  o.empty_prefix = XR_CHAT_EMPTY_PREFIX_KEEP;
  o.token_suffix = XR_TOKEN_HEX32;
  o.json = XR_JSON_PYTHON;
  o.queue = XR_CHAT_QUEUE_PYTHON;
  return o;
}

static void fix_open(fixture *f, const xr_chat_options *o) {
  xr_client_options co = tt_options();
  XR_OK(xr_client_open(&f->c, &co));
  XR_OK(xr_chat_new(&f->s, f->c, o));
  assert_ptr_equal(xr_chat_client(f->s), f->c);
}

static void fix_close(fixture *f) {
  xr_chat_free(f->s);
  xr_client_close(f->c);
}

/* ---- what Redis holds ------------------------------------------------------------------------- */

static void expect_bytes(const char *what, const char *got, size_t got_len, const char *want, size_t want_len) {
  if (got == NULL) fail_msg("%s: NULL, want (%zu bytes) %.*s", what, want_len, (int)want_len, want);
  if (got_len != want_len || memcmp(got, want, want_len) != 0)
    fail_msg("%s\n want (%zu bytes): %.*s\n  got (%zu bytes): %.*s", what, want_len, (int)want_len, want,
             got_len, (int)got_len, got);
}

/* GET key (through the checker) must be exactly `want`; want NULL: the key is missing. */
static void expect_stored(const char *key, const char *want, size_t want_len) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(chk, &r, "GET", key, NULL));
  if (want == NULL) {
    if (xr_reply_kind(r) != XR_REPLY_NIL) fail_msg("%s: want no value, got %s", key, xr_reply_str(r, NULL));
  } else {
    assert_int_equal(xr_reply_kind(r), XR_REPLY_STRING);
    size_t len = 0;
    const char *v = xr_reply_str(r, &len);
    expect_bytes(key, v, len, want, want_len);
  }
  xr_reply_free(r);
}

static long long raw_int(const char *cmd, const char *key) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(chk, &r, cmd, key, NULL));
  assert_int_equal(xr_reply_kind(r), XR_REPLY_INTEGER);
  long long v = xr_reply_integer(r);
  xr_reply_free(r);
  return v;
}

/* LRANGE key 0 -1 through the checker must be `want` (n texts). */
static void expect_list(const char *key, const char *const *want, size_t n) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(chk, &r, "LRANGE", key, "0", "-1", NULL));
  if (xr_reply_count(r) != n) fail_msg("%s holds %zu items, want %zu", key, xr_reply_count(r), n);
  for (size_t i = 0; i < n; i++) {
    size_t len = 0;
    const char *v = xr_reply_str(xr_reply_at(r, i), &len);
    expect_bytes(key, v, len, want[i], strlen(want[i]));
  }
  xr_reply_free(r);
}

/* A TTL set to `ttl` a moment ago: in (ttl - 5000, ttl]. */
static void expect_pttl_near(const char *key, long long ttl) {
  long long left = itest_pttl(chk, key);
  if (left > ttl || left <= ttl - 5000) fail_msg("%s: PTTL %lld, want about %lld", key, left, ttl);
}

/* ---- MONITOR against the captures ------------------------------------------------------------- */

/* A queue's TTL is max(expiresAt - now, 60000): the captures show 90000 and 89999 for
 * expiresAt = now + 90000, as the enqueue script's last argument and in its PEXPIRE. Checks the
 * range, then masks it on both sides. */
static void mask_queue_ttl(itest_lines *l) {
  static const char pexpire[] = "lua \"PEXPIRE\" \"", eval[] = "client \"EVAL\" \"1\" \"";
  for (size_t i = 0; i < l->n; i++) {
    char *line = l->v[i], *key;
    if (strncmp(line, pexpire, sizeof pexpire - 1) == 0)
      key = line + sizeof pexpire - 1;
    else if (strncmp(line, eval, sizeof eval - 1) == 0)
      key = line + sizeof eval - 1;
    else
      continue;
    char *q = strstr(key, ":queue:");
    if (!q || q > strchr(key, '"')) continue; /* not a queue key */
    char *last = strrchr(line, ' ');
    long long ttl = strtoll(last + 2, NULL, 10);
    if (ttl < 80000 || ttl > 90000) fail_msg("queue TTL %lld for expiresAt = now + 90000: %s", ttl, line);
    strcpy(last + 1, "<TTL>");
  }
}

/* The lines since the last block must be lines first..last of `capture`. */
static void expect_capture(tt_monitor *m, const char *capture, size_t first, size_t last,
                           unsigned flags) {
  itest_lines got = {0}, want = {0};
  tt_monitor_collect(m, flags, &got);
  itest_capture(capture, first, last, flags, &want);
  mask_queue_ttl(&got);
  mask_queue_ttl(&want);
  char what[160];
  snprintf(what, sizeof what, "%s lines %zu-%zu", capture, first, last);
  itest_assert_lines(&got, &want, what);
  itest_lines_free(&got);
  itest_lines_free(&want);
}

/* The normalization itself: the node-redis and ioredis captures of the same operations agree. */
static void test_captures_agree_after_normalization(void **state) {
  (void)state;
  itest_lines a = {0}, b = {0};
  itest_capture(NODE, 2, 4, 0, &a);
  itest_capture(IOREDIS, 3, 5, 0, &b);
  itest_assert_lines(&b, &a, "subscriptions, node-redis vs ioredis");
  assert_string_equal(a.v[0], "client \"SADD\" \"chat-sdk:subscriptions\" \"slack:C123:1700000000.000100\"");
  itest_lines_free(&a);
  itest_lines_free(&b);
  itest_capture(NODE, 19, 32, 0, &a);
  itest_capture(IOREDIS, 20, 33, 0, &b);
  itest_assert_lines(&b, &a, "cache and lists, node-redis vs ioredis");
  itest_lines_free(&a);
  itest_lines_free(&b);
  /* the script text goes, keys and arguments stay; tokens are masked on request */
  itest_capture(NODE, 7, 9, ITEST_MASK_TOKENS, &a);
  assert_int_equal(a.n, 3);
  assert_string_equal(a.v[0], "client \"EVAL\" \"1\" \"chat-sdk:lock:" THREAD "\" \"redis_<MS>_<SFX>\" \"30000\"");
  assert_string_equal(a.v[1], "lua \"GET\" \"chat-sdk:lock:" THREAD "\"");
  assert_string_equal(a.v[2], "lua \"PEXPIRE\" \"chat-sdk:lock:" THREAD "\" \"30000\"");
  itest_lines_free(&a);
}

/* ---- subscriptions ---------------------------------------------------------------------------- */

static void test_subscriptions(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  tt_monitor m;
  tt_monitor_open(&m);
  bool sub = false;
  XR_OK(xr_chat_subscribe(f.s, S(THREAD)));
  XR_OK(xr_chat_is_subscribed(f.s, &sub, S(THREAD)));
  assert_true(sub);
  XR_OK(xr_chat_unsubscribe(f.s, S(THREAD)));
  expect_capture(&m, NODE, 2, 4, 0);

  sub = true;
  XR_OK(xr_chat_is_subscribed(f.s, &sub, S(THREAD)));
  assert_false(sub);
  assert_int_equal(raw_int("EXISTS", tt_key(":subscriptions")), 0);

  /* the set holds the raw ids, with no TTL; ids are binary-safe */
  XR_OK(xr_chat_subscribe(f.s, S(THREAD)));
  XR_OK(xr_chat_subscribe(f.s, S("bin\0id")));
  XR_OK(xr_chat_subscribe(f.s, S(THREAD)));
  assert_int_equal(raw_int("SCARD", tt_key(":subscriptions")), 2);
  assert_int_equal(itest_pttl(chk, tt_key(":subscriptions")), -1);
  xr_reply *r = NULL;
  const char *argv[3] = {"SISMEMBER", tt_key(":subscriptions"), "bin\0id"};
  size_t argvlen[3] = {9, strlen(argv[1]), 6};
  XR_OK(xr_client_command(chk, &r, 3, argv, argvlen));
  assert_int_equal(xr_reply_integer(r), 1);
  xr_reply_free(r);
  XR_OK(xr_chat_is_subscribed(f.s, &sub, S("bin")));
  assert_false(sub);
  XR_OK(xr_chat_is_subscribed(f.s, &sub, S("bin\0id")));
  assert_true(sub);
  tt_monitor_close(&m);
  fix_close(&f);

  /* the Python port sends the same */
  o = py_options();
  fix_open(&f, &o);
  tt_monitor_open(&m);
  XR_OK(xr_chat_subscribe(f.s, S(THREAD)));
  XR_OK(xr_chat_is_subscribed(f.s, &sub, S(THREAD)));
  XR_OK(xr_chat_unsubscribe(f.s, S(THREAD)));
  expect_capture(&m, PYTHON, 3, 5, 0);
  tt_monitor_close(&m);
  fix_close(&f);
}

/* ---- locks ------------------------------------------------------------------------------------ */

/* The sequence of chat-ts-node-redis.monitor.txt lines 5-18 (ioredis 6-19): acquire, acquire
 * while held, extend, extend with a wrong token, release with a wrong token, release, acquire,
 * force release. */
static void run_lock_sequence(xr_chat *s) {
  xr_chat_lock lock, other;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(s, &ok, &lock, S(THREAD), 30000));
  assert_true(ok);
  memset(&other, 0xab, sizeof other);
  xr_chat_lock untouched = other;
  XR_OK(xr_chat_acquire_lock(s, &ok, &other, S(THREAD), 30000));
  assert_false(ok);
  assert_memory_equal(&other, &untouched, sizeof other);
  XR_OK(xr_chat_extend_lock(s, &ok, S(THREAD), lock.token, lock.token_len, 30000));
  assert_true(ok);
  XR_OK(xr_chat_extend_lock(s, &ok, S(THREAD), S("nope"), 30000));
  assert_false(ok);
  XR_OK(xr_chat_release_lock(s, &ok, S(THREAD), S("nope")));
  assert_false(ok);
  XR_OK(xr_chat_release_lock(s, &ok, S(THREAD), lock.token, lock.token_len));
  assert_true(ok);
  XR_OK(xr_chat_acquire_lock(s, &ok, &lock, S(THREAD), 30000));
  assert_true(ok);
  XR_OK(xr_chat_force_release_lock(s, S(THREAD)));
}

static void test_locks_match_captures(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  fixture f;
  tt_monitor m;
  fix_open(&f, &o);
  tt_monitor_open(&m);
  run_lock_sequence(f.s);
  expect_capture(&m, NODE, 5, 18, ITEST_MASK_TOKENS);
  assert_int_equal(raw_int("EXISTS", tt_key(":lock:" THREAD)), 0);
  tt_monitor_close(&m);
  fix_close(&f);

  o.token_prefix = "ioredis";
  fix_open(&f, &o);
  tt_monitor_open(&m);
  run_lock_sequence(f.s);
  expect_capture(&m, IOREDIS, 6, 19, ITEST_MASK_TOKENS);
  tt_monitor_close(&m);
  fix_close(&f);

  /* Python: acquire, extend, release (redis_ and ioredis_ prefixes) */
  for (int io = 0; io < 2; io++) {
    o = py_options();
    if (io) o.token_prefix = "ioredis";
    fix_open(&f, &o);
    tt_monitor_open(&m);
    xr_chat_lock lock;
    bool ok = false;
    XR_OK(xr_chat_acquire_lock(f.s, &ok, &lock, S(THREAD), 30000));
    assert_true(ok);
    XR_OK(xr_chat_extend_lock(f.s, &ok, S(THREAD), lock.token, lock.token_len, 30000));
    assert_true(ok);
    XR_OK(xr_chat_release_lock(f.s, &ok, S(THREAD), lock.token, lock.token_len));
    assert_true(ok);
    if (io)
      expect_capture(&m, IOREDIS, 74, 80, ITEST_MASK_TOKENS);
    else
      expect_capture(&m, PYTHON, 6, 12, ITEST_MASK_TOKENS);
    tt_monitor_close(&m);
    fix_close(&f);
  }
}

static int is_base36(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z'))) return 0;
  return 1;
}

static int is_hex(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return 0;
  return 1;
}

/* Acquires `id` with `o` and checks the token <prefix>_<ms>_<suffix>, the stored value, the
 * TTL, expires_at and the one SET ... PX ttl NX sent. */
static void check_token(const xr_chat_options *o, const char *id, const char *prefix, xr_token_suffix shape,
                        xr_chat_origin shape_of) {
  fixture f;
  fix_open(&f, o);
  tt_monitor m;
  tt_monitor_open(&m);
  xr_chat_lock lock;
  bool ok = false;
  long long before = itest_wall_ms();
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &lock, Z(id), 45000));
  long long after = itest_wall_ms();
  assert_true(ok);
  itest_lines raw = {0};
  tt_monitor_take(&m, &raw);

  const char *t = lock.token;
  assert_int_equal(lock.token_len, strlen(t));
  size_t pl = strlen(prefix), suffix_len = shape == XR_TOKEN_HEX32 ? 32 : 13;
  if (lock.token_len != pl + 1 + 13 + 1 + suffix_len || memcmp(t, prefix, pl) != 0 || t[pl] != '_' ||
      t[pl + 14] != '_')
    fail_msg("token %s: want %s_<13 digits>_<%zu chars>", t, prefix, suffix_len);
  long long ms = strtoll(t + pl + 1, NULL, 10);
  if (ms < before || ms > after) fail_msg("token %s: time %lld not in [%lld, %lld]", t, ms, before, after);
  const char *sfx = t + pl + 15;
  if (shape == XR_TOKEN_HEX32 ? !is_hex(sfx, 32) : !is_base36(sfx, 13)) fail_msg("token %s: suffix shape", t);
  if (lock.expires_at_ms < before + 45000 || lock.expires_at_ms > after + 45000)
    fail_msg("expires_at %lld not now + 45000", (long long)lock.expires_at_ms);
  xr_chat_token_info info;
  assert_int_equal(xr_chat_origin_of(&info, t, lock.token_len), XR_CHAT_ORIGIN_CROSSREDIS);
  assert_int_equal(info.shape_of, shape_of);
  assert_int_equal(info.created_ms, ms);

  char key[200], line[400];
  snprintf(key, sizeof key, "%s:lock:%s", xr_chat_key_prefix(f.s), id);
  expect_stored(key, t, lock.token_len);
  expect_pttl_near(key, 45000);
  /* MONITOR's lines name the prefix "chat-sdk" on every topology (topotest.h) */
  snprintf(line, sizeof line, "\"SET\" \"chat-sdk:lock:%s\" \"%s\" \"PX\" \"45000\" \"NX\"", id, t);
  assert_int_equal(raw.n, 1);
  if (!strstr(raw.v[0], line)) fail_msg("sent %s, want %s", raw.v[0], line);
  itest_lines_free(&raw);

  /* another acquisition of another id: another token */
  xr_chat_lock second;
  char id2[100];
  snprintf(id2, sizeof id2, "%s-2", id);
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &second, Z(id2), 45000));
  assert_true(ok);
  assert_string_not_equal(second.token, lock.token);
  tt_monitor_close(&m);
  fix_close(&f);
}

static void test_token_shapes(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  check_token(&o, "tok:node", "redis", XR_TOKEN_BASE36, XR_CHAT_ORIGIN_TS_NODE_REDIS);
  o.token_prefix = "ioredis";
  check_token(&o, "tok:ioredis", "ioredis", XR_TOKEN_BASE36, XR_CHAT_ORIGIN_TS_IOREDIS);
  o = ts_options();
  o.token_suffix = XR_TOKEN_HEX32;
  check_token(&o, "tok:hex", "redis", XR_TOKEN_HEX32, XR_CHAT_ORIGIN_PYTHON_REDIS);
  o.token_prefix = "ioredis";
  check_token(&o, "tok:iohex", "ioredis", XR_TOKEN_HEX32, XR_CHAT_ORIGIN_PYTHON_IOREDIS);
}

/* What release and extend leave behind, right and wrong tokens. */
static void test_release_and_extend_effects(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  const char *key = tt_key(":lock:" THREAD);
  xr_chat_lock lock;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &lock, S(THREAD), 30000));
  assert_true(ok);

  /* a wrong token: no longer TTL, no deletion */
  ok = true;
  XR_OK(xr_chat_extend_lock(f.s, &ok, S(THREAD), S("nope"), 600000));
  assert_false(ok);
  expect_pttl_near(key, 30000);
  XR_OK(xr_chat_release_lock(f.s, &ok, S(THREAD), S("nope")));
  assert_false(ok);
  /* a token that is a prefix of the right one is wrong too (whole-string comparison) */
  XR_OK(xr_chat_release_lock(f.s, &ok, S(THREAD), lock.token, lock.token_len - 1));
  assert_false(ok);
  expect_stored(key, lock.token, lock.token_len);
  XR_OK(xr_chat_release_lock(f.s, NULL, S(THREAD), S("nope"))); /* released may be NULL */
  expect_stored(key, lock.token, lock.token_len);

  /* the right token */
  XR_OK(xr_chat_extend_lock(f.s, &ok, S(THREAD), lock.token, lock.token_len, 600000));
  assert_true(ok);
  expect_pttl_near(key, 600000);
  expect_stored(key, lock.token, lock.token_len);
  XR_OK(xr_chat_release_lock(f.s, &ok, S(THREAD), lock.token, lock.token_len));
  assert_true(ok);
  expect_stored(key, NULL, 0);
  /* twice: nothing left to release */
  XR_OK(xr_chat_release_lock(f.s, &ok, S(THREAD), lock.token, lock.token_len));
  assert_false(ok);

  /* force release deletes whoever holds it */
  XR_OK(itest_cmd(chk, NULL, "SET", key, "someone-else", "PX", "30000", NULL));
  tt_monitor m;
  tt_monitor_open(&m);
  XR_OK(xr_chat_force_release_lock(f.s, S(THREAD)));
  expect_capture(&m, NODE, 18, 18, 0);
  expect_stored(key, NULL, 0);
  /* and on a missing lock it is still fine */
  XR_OK(xr_chat_force_release_lock(f.s, S(THREAD)));
  tt_monitor_close(&m);
  fix_close(&f);
}

/* ---- key/value -------------------------------------------------------------------------------- */

static void test_cache_matches_captures(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  tt_monitor m;
  tt_monitor_open(&m);
  bool stored = false;
  XR_OK(xr_chat_set(f.s, S("thread-state:" THREAD), S("{\"foo\":\"b\xc3\xa4r\",\"n\":1}"), 2592000000));
  XR_OK(xr_chat_set(f.s, S("nottl"), S("\"plain\""), 0));
  char *v = NULL;
  size_t len = 0;
  XR_OK(xr_chat_get(f.s, &v, &len, S("thread-state:" THREAD)));
  expect_bytes("get", v, len, S("{\"foo\":\"b\xc3\xa4r\",\"n\":1}"));
  assert_int_equal(v[len], '\0');
  xr_free(v);
  XR_OK(xr_chat_set_if_not_exists(f.s, &stored, S("dedupe:slack:123.456"), S("true"), 600000));
  assert_true(stored);
  XR_OK(xr_chat_set_if_not_exists(f.s, &stored, S("dedupe:slack:123.456"), S("true"), 600000));
  assert_false(stored);
  XR_OK(xr_chat_set_if_not_exists(f.s, &stored, S("x"), S("{\"a\":1}"), 0));
  assert_true(stored);
  XR_OK(xr_chat_delete(f.s, S("x")));
  expect_capture(&m, NODE, 19, 25, 0);
  tt_monitor_close(&m);
  fix_close(&f);

  /* the Python port: json.dumps text, its own dedupe TTL */
  tt_flush();
  o = py_options();
  fix_open(&f, &o);
  tt_monitor_open(&m);
  XR_OK(xr_chat_set(f.s, S("thread-state:" THREAD), S("{\"foo\":\"b\xc3\xa4r\",\"n\":1}"), 2592000000));
  XR_OK(xr_chat_set_if_not_exists(f.s, &stored, S("dedupe:slack:123.456"), S("true"), 300000));
  assert_true(stored);
  expect_capture(&m, PYTHON, 13, 14, 0);
  tt_monitor_close(&m);
  fix_close(&f);
}

static void test_cache_values_and_ttls(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  char *v = (char *)"untouched";
  size_t len = 99;

  /* missing: NULL */
  XR_OK(xr_chat_get(f.s, &v, &len, S("missing")));
  assert_null(v);

  /* a TTL, then a plain SET clears it */
  XR_OK(xr_chat_set(f.s, S("k"), S("{\"v\":1}"), 50000));
  expect_pttl_near(tt_key(":cache:k"), 50000);
  XR_OK(xr_chat_set(f.s, S("k"), S("{\"v\":2}"), 0));
  assert_int_equal(itest_pttl(chk, tt_key(":cache:k")), -1);
  expect_stored(tt_key(":cache:k"), S("{\"v\":2}"));
  /* a negative TTL is refused before anything is sent (upstream sends PX -5 and Redis refuses) */
  XR_FAILS(xr_chat_set(f.s, S("k"), S("{\"v\":3}"), -5), XR_EINVAL, "chat.set: ttl_ms must be >= 0 (0: no expiry), got -5");
  expect_stored(tt_key(":cache:k"), S("{\"v\":2}"));

  /* set if not exists: the first value stays, with its TTL */
  bool stored = false;
  XR_OK(xr_chat_set_if_not_exists(f.s, &stored, S("once"), S("\"first\""), 40000));
  assert_true(stored);
  XR_OK(xr_chat_set_if_not_exists(f.s, &stored, S("once"), S("\"second\""), 90000));
  assert_false(stored);
  expect_stored(tt_key(":cache:once"), S("\"first\""));
  expect_pttl_near(tt_key(":cache:once"), 40000);
  XR_OK(xr_chat_set_if_not_exists(f.s, &stored, S("forever"), S("1"), 0));
  assert_true(stored);
  assert_int_equal(itest_pttl(chk, tt_key(":cache:forever")), -1);

  /* JSON dialects (SPEC.md 1.4), whatever dialect the value came in */
  XR_OK(xr_chat_set(f.s, S("js"), S("{\"foo\": \"b\\u00e4r\",   \"n\" : 1}"), 0));
  expect_stored(tt_key(":cache:js"), S("{\"foo\":\"b\xc3\xa4r\",\"n\":1}"));
  xr_chat_free(f.s);
  o = py_options();
  XR_OK(xr_chat_new(&f.s, f.c, &o));
  XR_OK(xr_chat_set(f.s, S("py"), S("{\"foo\":\"b\xc3\xa4r\",\"n\":1}"), 0));
  expect_stored(tt_key(":cache:py"), S("{\"foo\": \"b\\u00e4r\", \"n\": 1}"));

  /* numbers as JSON.parse reads them: 1e20 in plain digits, 2^53 + 1 rounded (node:
   * JSON.stringify(JSON.parse('{"n":100000000000000000000,"m":9007199254740993}'))) */
  xr_chat_free(f.s);
  o = ts_options();
  XR_OK(xr_chat_new(&f.s, f.c, &o));
  XR_OK(xr_chat_set(f.s, S("nums"), S("{\"n\":100000000000000000000,\"m\":9007199254740993}"), 0));
  expect_stored(tt_key(":cache:nums"), S("{\"n\":100000000000000000000,\"m\":9007199254740992}"));
  xr_chat_free(f.s);
  o = py_options();
  XR_OK(xr_chat_new(&f.s, f.c, &o));

  /* get returns the bytes stored, as any runtime wrote them, JSON or not */
  XR_OK(xr_chat_get(f.s, &v, &len, S("js")));
  expect_bytes("get of JS text by a Python adapter", v, len, S("{\"foo\":\"b\xc3\xa4r\",\"n\":1}"));
  xr_free(v);
  XR_OK(itest_cmd(chk, NULL, "SET", tt_key(":cache:raw"), "not json {", NULL));
  XR_OK(xr_chat_get(f.s, &v, &len, S("raw")));
  expect_bytes("get of a non-JSON value", v, len, S("not json {"));
  xr_free(v);

  /* delete */
  XR_OK(xr_chat_delete(f.s, S("py")));
  expect_stored(tt_key(":cache:py"), NULL, 0);
  XR_OK(xr_chat_delete(f.s, S("py")));
  fix_close(&f);
}

/* ---- lists ------------------------------------------------------------------------------------ */

static void test_lists_match_captures(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  tt_monitor m;
  tt_monitor_open(&m);
  XR_OK(xr_chat_append_to_list(f.s, S("msg-history:" THREAD), S("{\"a\":1}"), 100, 604800000));
  XR_OK(xr_chat_append_to_list(f.s, S("nolimit"), S("{\"a\":2}"), 0, 0));
  xr_reply *items = NULL;
  XR_OK(xr_chat_get_list(f.s, &items, S("msg-history:" THREAD)));
  expect_capture(&m, NODE, 26, 32, 0);
  assert_int_equal(xr_reply_count(items), 1);
  assert_string_equal(xr_reply_str(xr_reply_at(items, 0), NULL), "{\"a\":1}");
  xr_reply_free(items);
  expect_pttl_near(tt_key(":list:msg-history:" THREAD), 604800000);
  assert_int_equal(itest_pttl(chk, tt_key(":list:nolimit")), -1);
  tt_monitor_close(&m);
  fix_close(&f);

  o = py_options();
  fix_open(&f, &o);
  tt_monitor_open(&m);
  XR_OK(itest_cmd(chk, NULL, "DEL", tt_key(":list:msg-history:" THREAD), NULL));
  itest_lines skip = {0};
  tt_monitor_take(&m, &skip);
  itest_lines_free(&skip);
  XR_OK(xr_chat_append_to_list(f.s, S("msg-history:" THREAD), S("{\"a\":1}"), 100, 604800000));
  expect_capture(&m, PYTHON, 15, 18, 0);
  const char *want[] = {"{\"a\": 1}"};
  expect_list(tt_key(":list:msg-history:" THREAD), want, 1);
  tt_monitor_close(&m);
  fix_close(&f);
}

static void test_list_trim_and_ttl(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  const char *key = tt_key(":list:l");

  /* LTRIM keeps the newest */
  char item[32];
  for (int i = 1; i <= 5; i++) {
    snprintf(item, sizeof item, "{\"i\":%d}", i);
    XR_OK(xr_chat_append_to_list(f.s, S("l"), Z(item), 3, 0));
  }
  const char *newest[] = {"{\"i\":3}", "{\"i\":4}", "{\"i\":5}"};
  expect_list(key, newest, 3);
  xr_reply *items = NULL;
  XR_OK(xr_chat_get_list(f.s, &items, S("l")));
  assert_int_equal(xr_reply_count(items), 3);
  for (size_t i = 0; i < 3; i++) assert_string_equal(xr_reply_str(xr_reply_at(items, i), NULL), newest[i]);
  xr_reply_free(items);

  /* the TTL moves only when ttl > 0 */
  assert_int_equal(itest_pttl(chk, key), -1);
  XR_OK(itest_cmd(chk, NULL, "PEXPIRE", key, "50000", NULL));
  XR_OK(xr_chat_append_to_list(f.s, S("l"), S("6"), 0, 0));
  expect_pttl_near(key, 50000);
  XR_OK(xr_chat_append_to_list(f.s, S("l"), S("7"), 0, 5000)); /* shorter: really set */
  expect_pttl_near(key, 5000);
  XR_OK(xr_chat_append_to_list(f.s, S("l"), S("8"), 0, 0));
  expect_pttl_near(key, 5000);
  XR_FAILS(xr_chat_append_to_list(f.s, S("l"), S("9"), 0, -1), XR_EINVAL,
           "chat.append_to_list: ttl_ms must be >= 0 (0: no expiry), got -1");
  XR_OK(xr_chat_append_to_list(f.s, S("l"), S("9"), 0, 0));
  expect_pttl_near(key, 5000);
  XR_OK(xr_chat_append_to_list(f.s, S("l"), S("10"), 0, 604800000));
  expect_pttl_near(key, 604800000);
  /* max_length 0: nothing trimmed */
  assert_int_equal(raw_int("LLEN", key), 8);

  /* a missing list is empty */
  XR_OK(xr_chat_get_list(f.s, &items, S("none")));
  assert_int_equal(xr_reply_kind(items), XR_REPLY_ARRAY);
  assert_int_equal(xr_reply_count(items), 0);
  xr_reply_free(items);

  /* values are written in the adapter's dialect */
  XR_OK(xr_chat_append_to_list(f.s, S("d"), S("{\"t\": \"h\\u00e9\"}"), 0, 0));
  const char *js[] = {"{\"t\":\"h\xc3\xa9\"}"};
  expect_list(tt_key(":list:d"), js, 1);
  fix_close(&f);
}

/* ---- queues ----------------------------------------------------------------------------------- */

static void expect_entry(const xr_chat_queue_entry *e, const char *message, size_t message_len, int64_t enq,
                         int64_t exp) {
  expect_bytes("dequeued message", e->message, e->message_len, message, message_len);
  assert_int_equal(e->enqueued_at_ms, enq);
  assert_int_equal(e->expires_at_ms, exp);
}

static void test_queue_matches_captures(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  tt_monitor m;
  tt_monitor_open(&m);
  long long depth = 0, now = itest_wall_ms();
  XR_OK(xr_chat_enqueue(f.s, &depth, S(THREAD), S(TS_MESSAGE), now, now + 90000, 10));
  assert_int_equal(depth, 1);
  XR_OK(xr_chat_queue_depth(f.s, &depth, S(THREAD)));
  assert_int_equal(depth, 1);
  expect_capture(&m, NODE, 33, 38, ITEST_MASK_MS);

  char entry[2048];
  int n = snprintf(entry, sizeof entry, "{\"message\":%s,\"enqueuedAt\":%lld,\"expiresAt\":%lld}", TS_MESSAGE, now,
                   now + 90000);
  xr_reply *r = NULL;
  XR_OK(itest_cmd(chk, &r, "LINDEX", tt_key(":queue:" THREAD), "0", NULL));
  size_t len = 0;
  const char *stored = xr_reply_str(r, &len);
  expect_bytes("stored entry", stored, len, entry, (size_t)n);
  xr_reply_free(r);
  itest_lines skip = {0};
  tt_monitor_take(&m, &skip);
  itest_lines_free(&skip);

  bool found = false;
  xr_chat_queue_entry e;
  memset(&e, 0, sizeof e);
  XR_OK(xr_chat_dequeue(f.s, &found, &e, S(THREAD)));
  assert_true(found);
  expect_entry(&e, S(TS_MESSAGE), now, now + 90000);
  expect_bytes("dequeued raw", e.raw, e.raw_len, entry, (size_t)n);
  xr_chat_queue_entry_clear(&e);
  XR_OK(xr_chat_dequeue(f.s, &found, &e, S(THREAD)));
  assert_false(found);
  expect_capture(&m, NODE, 41, 42, 0);
  tt_monitor_close(&m);
  fix_close(&f);

  /* the Python port */
  o = py_options();
  fix_open(&f, &o);
  tt_monitor_open(&m);
  now = itest_wall_ms();
  XR_OK(xr_chat_enqueue(f.s, &depth, S(THREAD), S(PY_MESSAGE), now, now + 90000, 10));
  assert_int_equal(depth, 1);
  expect_capture(&m, PYTHON, 19, 23, ITEST_MASK_MS);
  n = snprintf(entry, sizeof entry, "{\"enqueued_at\": %lld, \"expires_at\": %lld, \"message\": %s}", now, now + 90000,
               PY_MESSAGE);
  XR_OK(itest_cmd(chk, &r, "LINDEX", tt_key(":queue:" THREAD), "0", NULL));
  stored = xr_reply_str(r, &len);
  expect_bytes("stored Python entry", stored, len, entry, (size_t)n);
  xr_reply_free(r);
  tt_monitor_take(&m, &skip);
  itest_lines_free(&skip);
  XR_OK(xr_chat_dequeue(f.s, &found, &e, S(THREAD)));
  assert_true(found);
  expect_entry(&e, S(PY_MESSAGE), now, now + 90000);
  xr_chat_queue_entry_clear(&e);
  expect_capture(&m, PYTHON, 25, 25, 0);
  tt_monitor_close(&m);
  fix_close(&f);
}

static void test_queue_ttl_trim_and_order(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  const char *key = tt_key(":queue:q");
  long long depth = 0, now = itest_wall_ms();

  /* FIFO, with LLEN returned */
  char msg[64];
  for (int i = 1; i <= 3; i++) {
    snprintf(msg, sizeof msg, "{\"m\":%d}", i);
    XR_OK(xr_chat_enqueue(f.s, &depth, S("q"), Z(msg), now + i, now + 90000 + i, 10));
    assert_int_equal(depth, i);
  }
  XR_OK(xr_chat_queue_depth(f.s, &depth, S("q")));
  assert_int_equal(depth, 3);
  bool found = false;
  xr_chat_queue_entry e;
  memset(&e, 0, sizeof e);
  for (int i = 1; i <= 3; i++) {
    XR_OK(xr_chat_dequeue(f.s, &found, &e, S("q")));
    assert_true(found);
    snprintf(msg, sizeof msg, "{\"m\":%d}", i);
    expect_entry(&e, Z(msg), now + i, now + 90000 + i);
    xr_chat_queue_entry_clear(&e);
  }
  XR_OK(xr_chat_dequeue(f.s, &found, &e, S("q")));
  assert_false(found);
  XR_OK(xr_chat_queue_depth(f.s, &depth, S("q")));
  assert_int_equal(depth, 0);

  /* max_size drops the oldest */
  for (int i = 1; i <= 5; i++) {
    snprintf(msg, sizeof msg, "{\"m\":%d}", i);
    XR_OK(xr_chat_enqueue(f.s, &depth, S("q"), Z(msg), now, now + 90000, 3));
    assert_int_equal(depth, i < 3 ? i : 3);
  }
  XR_OK(xr_chat_dequeue(f.s, &found, &e, S("q")));
  expect_entry(&e, S("{\"m\":3}"), now, now + 90000);
  xr_chat_queue_entry_clear(&e);
  XR_OK(xr_chat_enqueue(f.s, NULL, S("q"), S("{\"m\":6}"), now, now + 90000, 0)); /* depth may be NULL */
  XR_OK(xr_chat_queue_depth(f.s, &depth, S("q")));
  assert_int_equal(depth, 3);

  /* the TTL is refreshed on every enqueue */
  XR_OK(itest_cmd(chk, NULL, "PEXPIRE", key, "1000", NULL));
  now = itest_wall_ms();
  XR_OK(xr_chat_enqueue(f.s, &depth, S("q"), S("{}"), now, now + 90000, 10));
  expect_pttl_near(key, 90000);
  /* ... to max(expires_at - now, 60000): a later expiry gives more */
  XR_OK(xr_chat_enqueue(f.s, &depth, S("q"), S("{}"), now, now + 200000, 10));
  expect_pttl_near(key, 200000);
  /* ... and never less than 60000, for an entry that has not expired yet too */
  XR_OK(xr_chat_enqueue(f.s, &depth, S("soon"), S("{}"), now, now + 5000, 10));
  expect_pttl_near(tt_key(":queue:soon"), 60000);

  /* an entry already expired still gets PEXPIRE 60000, and no LTRIM without max_size */
  tt_monitor m;
  tt_monitor_open(&m);
  XR_OK(xr_chat_enqueue(f.s, &depth, S("late"), S("{\"x\":1}"), now - 200000, now - 100000, 0));
  assert_int_equal(depth, 1);
  itest_lines got = {0};
  tt_monitor_collect(&m, 0, &got);
  char line[300];
  assert_int_equal(got.n, 4);
  snprintf(line, sizeof line, "client \"EVAL\" \"1\" \"chat-sdk:queue:late\" \"{\\\"message\\\":{\\\"x\\\":1},"
           "\\\"enqueuedAt\\\":%lld,\\\"expiresAt\\\":%lld}\" \"0\" \"60000\"", now - 200000, now - 100000);
  assert_string_equal(got.v[0], line);
  assert_memory_equal(got.v[1], "lua \"RPUSH\" \"chat-sdk:queue:late\"", 33);
  assert_string_equal(got.v[2], "lua \"PEXPIRE\" \"chat-sdk:queue:late\" \"60000\"");
  assert_string_equal(got.v[3], "lua \"LLEN\" \"chat-sdk:queue:late\"");
  itest_lines_free(&got);
  expect_pttl_near(tt_key(":queue:late"), 60000);
  tt_monitor_close(&m);
  fix_close(&f);
}

/* Entries of the other runtime, both spellings, and an entry that is not one. */
static void test_queue_reads_every_spelling(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  const char *key = tt_key(":queue:x");
  XR_OK(itest_cmd(chk, NULL, "RPUSH", key, "{\"enqueued_at\": 1, \"expires_at\": 2, \"message\": {\"t\": \"h\\u00e9\"}}",
                  "not an entry", "{\"message\":{\"t\":\"h\xc3\xa9\"},\"expiresAt\":4}", NULL));
  bool found = false;
  xr_chat_queue_entry e;
  memset(&e, 0, sizeof e);
  XR_OK(xr_chat_dequeue(f.s, &found, &e, S("x")));
  assert_true(found);
  expect_entry(&e, S("{\"t\":\"h\xc3\xa9\"}"), 1, 2);
  xr_chat_queue_entry_clear(&e);
  /* popped, reported with its bytes, and the entries behind it stay */
  XR_FAILS(xr_chat_dequeue(f.s, &found, &e, S("x")), XR_EPARSE, key);
  expect_bytes("raw of a bad entry", e.raw, e.raw_len, S("not an entry"));
  xr_chat_queue_entry_clear(&e);
  assert_int_equal(raw_int("LLEN", key), 1);
  XR_OK(xr_chat_dequeue(f.s, &found, &e, S("x")));
  assert_true(found);
  expect_entry(&e, S("{\"t\":\"h\xc3\xa9\"}"), -1, 4);
  xr_chat_queue_entry_clear(&e);
  fix_close(&f);

  /* a Python adapter reads a TS entry; a both-spellings adapter writes what both read */
  o = py_options();
  o.queue = XR_CHAT_QUEUE_BOTH;
  fix_open(&f, &o);
  XR_OK(itest_cmd(chk, NULL, "RPUSH", key, "{\"message\":{\"t\":\"h\xc3\xa9\"},\"enqueuedAt\":5,\"expiresAt\":6}",
                  NULL));
  XR_OK(xr_chat_dequeue(f.s, &found, &e, S("x")));
  assert_true(found);
  expect_entry(&e, S("{\"t\": \"h\\u00e9\"}"), 5, 6);
  xr_chat_queue_entry_clear(&e);
  XR_OK(xr_chat_enqueue(f.s, NULL, S("x"), S("{\"t\":\"h\xc3\xa9\"}"), 7, 8, 10));
  const char *both[] = {"{\"message\": {\"t\": \"h\\u00e9\"}, \"enqueuedAt\": 7, \"expiresAt\": 8, \"enqueued_at\": 7, "
                        "\"expires_at\": 8}"};
  expect_list(key, both, 1);
  fix_close(&f);
}

/* ---- key prefixes ----------------------------------------------------------------------------- */

/* Every kind of key lands under `prefix`. */
static void check_prefix(const xr_chat_options *o, const char *prefix) {
  fixture f;
  fix_open(&f, o);
  assert_string_equal(xr_chat_key_prefix(f.s), prefix);
  xr_chat_lock lock;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &lock, S("x"), 30000));
  assert_true(ok);
  XR_OK(xr_chat_subscribe(f.s, S("x")));
  XR_OK(xr_chat_set(f.s, S("k"), S("1"), 0));
  XR_OK(xr_chat_append_to_list(f.s, S("k"), S("1"), 0, 0));
  XR_OK(xr_chat_enqueue(f.s, NULL, S("x"), S("1"), 1, 2, 0));
  const char *suffixes[] = {":lock:x", ":subscriptions", ":cache:k", ":list:k", ":queue:x"};
  assert_int_equal(tt_standalone() ? tt_count_keys() : tt_count_keys_under(prefix), 5);
  for (size_t i = 0; i < 5; i++) {
    char key[200];
    snprintf(key, sizeof key, "%s%s", prefix, suffixes[i]);
    if (raw_int("EXISTS", key) != 1) fail_msg("prefix \"%s\": %s missing", prefix, key);
    XR_OK(itest_cmd(chk, NULL, "DEL", key, NULL));
  }
  fix_close(&f);
}

/* The default prefix and "" name keys that any client of a shared topology may use: those run on
 * the standalone server only; explicit prefixes run everywhere. */
static void test_key_prefixes(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  check_prefix(&o, tt.prefix);
  if (tt_standalone()) {
    o.key_prefix = "";
    check_prefix(&o, "chat-sdk"); /* the TS adapters replace "" */
    o.empty_prefix = XR_CHAT_EMPTY_PREFIX_KEEP;
    check_prefix(&o, ""); /* the Python port keeps it: ":lock:x" */
  }
  char app[128];
  snprintf(app, sizeof app, "%s", tt_standalone() ? "app-1" : tt_key("-app-1"));
  o.key_prefix = app;
  o.empty_prefix = XR_CHAT_EMPTY_PREFIX_KEEP;
  check_prefix(&o, app);
  o.empty_prefix = XR_CHAT_EMPTY_PREFIX_DEFAULT;
  check_prefix(&o, app);
  if (tt_standalone()) {
    o = py_options();
    o.key_prefix = NULL;
    check_prefix(&o, "chat-sdk");
  }
}

/* ---- beyond upstream: release if the queue is empty, acquire with a wait ---------------------- */

/* A thread id, THREAD or THREAD with zeros appended, whose lock and queue keys, and queue and
 * processing-list keys, are in different slots under the test's prefix: with THREAD alone one of
 * the pairs shares a slot for about one prefix in 8000 (the prefix changes each run), and the
 * scripts run instead of failing XR_ECROSSSLOT. Only the id's length can help: two keys that
 * differ before the id keep their slots' difference for every id of one length (a slot is a
 * CRC16 of the key, and a CRC starting from 0 is linear); for THREAD, one zero more always does. */
static void crossslot_thread(char *id, size_t size) {
  for (int zeros = 0; zeros < 16; zeros++) {
    snprintf(id, size, "%s%.*s", THREAD, zeros, "0000000000000000");
    char lock[256], queue[256], processing[256];
    snprintf(lock, sizeof lock, "%s:lock:%s", tt.prefix, id);
    snprintf(queue, sizeof queue, "%s:queue:%s", tt.prefix, id);
    snprintf(processing, sizeof processing, "%s:queue-processing:%s", tt.prefix, id);
    unsigned q = xr_key_slot(Z(queue));
    if (xr_key_slot(Z(lock)) != q && xr_key_slot(Z(processing)) != q) return;
  }
  fail_msg("no thread id with its lock, queue and processing list in different slots under %s", tt.prefix);
}

/* On a Cluster, the operations with two keys in one script (the lock and the queue, the queue and
 * its processing list) fail XR_ECROSSSLOT before anything is sent with upstream's layout, in a
 * batch too (alone: the operations beside them run); ack is one key (LREM on the processing list)
 * and runs. The test then goes on under a hash-tagged prefix ("{chat-sdk}:...", tt_one_slot), where
 * everything works. Elsewhere nothing happens. */
static void crossslot_on_cluster(void) {
  if (!tt_cluster()) return;
  char id[64], line[256];
  crossslot_thread(id, sizeof id);
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  tt_monitor m;
  tt_monitor_open(&m);
  bool b = true;
  long long n = 0;
  xr_chat_queue_entry e;
  memset(&e, 0, sizeof e);
  XR_OK(xr_chat_enqueue(f.s, NULL, Z(id), S("{\"m\":1}"), 1, itest_wall_ms() + 90000, 10));
  itest_lines got = {0};
  tt_monitor_collect(&m, 0, &got);
  assert_int_equal(got.n, 5); /* the enqueue script: EVAL, RPUSH, LTRIM, PEXPIRE, LLEN */
  itest_lines_free(&got);
  XR_FAILS(xr_chat_release_lock_if_queue_empty(f.s, &b, &n, Z(id), S("tok")), XR_ECROSSSLOT,
           "keys in different Cluster slots");
  snprintf(line, sizeof line, "%s:queue:%s", tt.prefix, id);
  XR_FAILS(xr_chat_dequeue_reliable(f.s, &b, &e, Z(id)), XR_ECROSSSLOT, line);
  XR_FAILS(xr_chat_requeue_processing(f.s, &n, Z(id)), XR_ECROSSSLOT, "keys in different Cluster slots");
  xr_chat_batch *bt = NULL;
  XR_OK(xr_chat_batch_new(&bt, f.s));
  assert_int_equal(xr_chat_batch_dequeue_reliable(bt, Z(id)), 0);
  assert_int_equal(xr_chat_batch_queue_depth(bt, Z(id)), 1);
  XR_OK(xr_chat_batch_exec(bt));
  XR_FAILS(xr_chat_batch_entry(bt, 0, &b, &e), XR_ECROSSSLOT, "keys in different Cluster slots");
  XR_OK(xr_chat_batch_integer(bt, 1, &n));
  assert_int_equal(n, 1); /* the entry is still queued */
  xr_chat_batch_free(bt);
  XR_OK(xr_chat_ack(f.s, &b, Z(id), S("{}")));
  assert_false(b);
  tt_monitor_collect(&m, 0, &got);
  /* the queue depth and the ack only: nothing of the refused scripts reached a node */
  assert_int_equal(got.n, 2);
  snprintf(line, sizeof line, "client \"LLEN\" \"chat-sdk:queue:%s\"", id);
  assert_string_equal(got.v[0], line);
  snprintf(line, sizeof line, "client \"LREM\" \"chat-sdk:queue-processing:%s\" \"1\" \"{}\"", id);
  assert_string_equal(got.v[1], line);
  itest_lines_free(&got);
  tt_monitor_close(&m);
  fix_close(&f);
  tt_one_slot();
}

static void test_release_lock_if_queue_empty(void **state) {
  (void)state;
  crossslot_on_cluster();
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  const char *lock_key = tt_key(":lock:" THREAD);
  xr_chat_lock lock;
  bool ok = false, released = true;
  long long depth = 99;

  /* held, queue empty: released */
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &lock, S(THREAD), 30000));
  XR_OK(xr_chat_release_lock_if_queue_empty(f.s, &released, &depth, S(THREAD), lock.token, lock.token_len));
  assert_true(released);
  assert_int_equal(depth, 0);
  expect_stored(lock_key, NULL, 0);

  /* held, two entries queued: kept (TTL too), depth reported */
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &lock, S(THREAD), 30000));
  assert_true(ok);
  XR_OK(xr_chat_enqueue(f.s, NULL, S(THREAD), S("{\"m\":1}"), 1, itest_wall_ms() + 90000, 10));
  XR_OK(xr_chat_enqueue(f.s, NULL, S(THREAD), S("{\"m\":2}"), 1, itest_wall_ms() + 90000, 10));
  released = true;
  XR_OK(xr_chat_release_lock_if_queue_empty(f.s, &released, &depth, S(THREAD), lock.token, lock.token_len));
  assert_false(released);
  assert_int_equal(depth, 2);
  expect_stored(lock_key, lock.token, lock.token_len);
  expect_pttl_near(lock_key, 30000);
  assert_int_equal(raw_int("LLEN", tt_key(":queue:" THREAD)), 2);

  /* a wrong token: -1, nothing released, with or without a queue */
  released = true;
  XR_OK(xr_chat_release_lock_if_queue_empty(f.s, &released, &depth, S(THREAD), S("nope")));
  assert_false(released);
  assert_int_equal(depth, -1);
  expect_stored(lock_key, lock.token, lock.token_len);
  XR_OK(itest_cmd(chk, NULL, "DEL", tt_key(":queue:" THREAD), NULL));
  XR_OK(xr_chat_release_lock_if_queue_empty(f.s, &released, &depth, S(THREAD), S("nope")));
  assert_false(released);
  assert_int_equal(depth, -1);
  expect_stored(lock_key, lock.token, lock.token_len);
  /* depth may be NULL */
  XR_OK(xr_chat_release_lock_if_queue_empty(f.s, &released, NULL, S(THREAD), lock.token, lock.token_len));
  assert_true(released);
  expect_stored(lock_key, NULL, 0);
  /* the lock is gone: the holder's token no longer releases anything */
  XR_OK(xr_chat_release_lock_if_queue_empty(f.s, &released, &depth, S(THREAD), lock.token, lock.token_len));
  assert_false(released);
  assert_int_equal(depth, -1);
  fix_close(&f);
}

static void test_acquire_lock_wait(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  const char *key = tt_key(":lock:w");

  /* the holder's TTL lapses within the deadline */
  xr_chat_lock holder, waiter;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &holder, S("w"), 250));
  assert_true(ok);
  long long t0 = itest_now_ms();
  XR_OK(xr_chat_acquire_lock_wait(f.s, &ok, &waiter, S("w"), 30000, 5000));
  long long took = itest_now_ms() - t0;
  assert_true(ok);
  if (took < 150) fail_msg("acquired after %lld ms while the holder's 250 ms lock was live", took);
  assert_string_not_equal(waiter.token, holder.token);
  expect_stored(key, waiter.token, waiter.token_len);
  expect_pttl_near(key, 30000);

  /* held past the deadline: not acquired after waiting wait_ms, lock untouched, and on the wire
   * only the same SET NX PX, a few times (backoff, not a busy loop) */
  tt_monitor m;
  tt_monitor_open(&m);
  xr_chat_lock untouched;
  memset(&untouched, 0x5a, sizeof untouched);
  xr_chat_lock l2 = untouched;
  t0 = itest_now_ms();
  XR_OK(xr_chat_acquire_lock_wait(f.s, &ok, &l2, S("w"), 30000, 1000));
  took = itest_now_ms() - t0;
  assert_false(ok);
  assert_memory_equal(&l2, &untouched, sizeof l2);
  /* a lower bound only the code sets; the upper one leaves a loaded machine seconds to spare */
  if (took < 990 || took > 1000 + 250 + 5000) fail_msg("gave up after %lld ms, want about 1000", took);
  itest_lines got = {0};
  tt_monitor_collect(&m, ITEST_MASK_TOKENS, &got);
  /* backoff 10 ms doubling to 250 ms: about 8 tries in a second; a busy loop would make thousands,
   * and even a machine that stalls the first try for 900 ms leaves time for a second */
  if (got.n < 2 || got.n > 40) fail_msg("%zu tries in 1000 ms", got.n);
  for (size_t i = 0; i < got.n; i++)
    assert_string_equal(got.v[i], "client \"SET\" \"chat-sdk:lock:w\" \"redis_<MS>_<SFX>\" \"PX\" \"30000\" \"NX\"");
  itest_lines_free(&got);
  expect_stored(key, waiter.token, waiter.token_len);

  /* free: at once */
  XR_OK(xr_chat_force_release_lock(f.s, S("w")));
  XR_OK(xr_chat_acquire_lock_wait(f.s, &ok, &l2, S("w"), 30000, 0));
  assert_true(ok);
  expect_stored(key, l2.token, l2.token_len);
  tt_monitor_close(&m);
  fix_close(&f);
}

/* ---- batches ---------------------------------------------------------------------------------- */

/* Results of one run of every operation, sequential or batched. */
typedef struct results {
  int rc[32];
  bool flag[32];
  long long n[32];
  char *text[32];
  size_t text_len[32];
  xr_chat_lock lock[32];
  xr_chat_queue_entry entry[32];
  size_t count;
  long long now;
} results;

enum op_kind { K_STATUS, K_BOOL, K_LOCK, K_INT, K_VALUE, K_LIST, K_ENTRY };

/* The operations, in order: kind of result of each. */
static const enum op_kind ops[] = {
    K_STATUS, /* 0 subscribe */
    K_BOOL,   /* 1 is_subscribed */
    K_STATUS, /* 2 unsubscribe */
    K_BOOL,   /* 3 is_subscribed */
    K_LOCK,   /* 4 acquire */
    K_LOCK,   /* 5 acquire while held */
    K_BOOL,   /* 6 extend, wrong token */
    K_BOOL,   /* 7 release, wrong token */
    K_STATUS, /* 8 set with TTL */
    K_VALUE,  /* 9 get */
    K_BOOL,   /* 10 set_if_not_exists */
    K_BOOL,   /* 11 set_if_not_exists again */
    K_STATUS, /* 12 delete */
    K_VALUE,  /* 13 get of the deleted key */
    K_STATUS, /* 14 append_to_list */
    K_STATUS, /* 15 append_to_list */
    K_LIST,   /* 16 get_list */
    K_INT,    /* 17 enqueue */
    K_INT,    /* 18 enqueue */
    K_INT,    /* 19 queue_depth */
    K_ENTRY,  /* 20 dequeue */
    K_STATUS, /* 21 force_release */
    K_ENTRY,  /* 22 dequeue */
    K_ENTRY,  /* 23 dequeue of an empty queue */
    K_LOCK,   /* 24 acquire after the force release */
    K_VALUE,  /* 25 get of a wrong-type key: fails alone */
};
#define N_OPS (sizeof ops / sizeof ops[0])

static void results_free(results *r) {
  for (size_t i = 0; i < r->count; i++) {
    if (ops[i] == K_VALUE) xr_free(r->text[i]);
    if (ops[i] == K_LIST) free(r->text[i]);
    if (ops[i] == K_ENTRY) xr_chat_queue_entry_clear(&r->entry[i]);
  }
  memset(r, 0, sizeof *r);
}

/* A list reply as one text, each item followed by " | ", for comparison. */
static char *join_list(const xr_reply *items) {
  size_t total = 1;
  for (size_t i = 0; i < xr_reply_count(items); i++) {
    size_t len = 0;
    xr_reply_str(xr_reply_at(items, i), &len);
    total += len + 3;
  }
  char *out = calloc(1, total);
  assert_non_null(out);
  for (size_t i = 0; i < xr_reply_count(items); i++) {
    strcat(out, xr_reply_str(xr_reply_at(items, i), NULL));
    strcat(out, " | ");
  }
  return out;
}

static void run_sequential(xr_chat *s, results *r) {
  long long now = r->now;
  size_t i = 0;
  r->rc[i++] = xr_chat_subscribe(s, S(THREAD));
  r->rc[i] = xr_chat_is_subscribed(s, &r->flag[i], S(THREAD)), i++;
  r->rc[i++] = xr_chat_unsubscribe(s, S(THREAD));
  r->rc[i] = xr_chat_is_subscribed(s, &r->flag[i], S(THREAD)), i++;
  r->rc[i] = xr_chat_acquire_lock(s, &r->flag[i], &r->lock[i], S(THREAD), 30000), i++;
  r->rc[i] = xr_chat_acquire_lock(s, &r->flag[i], &r->lock[i], S(THREAD), 30000), i++;
  r->rc[i] = xr_chat_extend_lock(s, &r->flag[i], S(THREAD), S("nope"), 30000), i++;
  r->rc[i] = xr_chat_release_lock(s, &r->flag[i], S(THREAD), S("nope")), i++;
  r->rc[i++] = xr_chat_set(s, S("k1"), S("{\"foo\":\"b\xc3\xa4r\",\"n\":1}"), 60000);
  r->rc[i] = xr_chat_get(s, &r->text[i], &r->text_len[i], S("k1")), i++;
  r->rc[i] = xr_chat_set_if_not_exists(s, &r->flag[i], S("k2"), S("true"), 600000), i++;
  r->rc[i] = xr_chat_set_if_not_exists(s, &r->flag[i], S("k2"), S("true"), 600000), i++;
  r->rc[i++] = xr_chat_delete(s, S("k2"));
  r->rc[i] = xr_chat_get(s, &r->text[i], &r->text_len[i], S("k2")), i++;
  r->rc[i++] = xr_chat_append_to_list(s, S("l"), S("{\"a\":1}"), 100, 604800000);
  r->rc[i++] = xr_chat_append_to_list(s, S("l"), S("{\"a\":2}"), 100, 604800000);
  xr_reply *items = NULL;
  r->rc[i] = xr_chat_get_list(s, &items, S("l"));
  r->text[i] = items ? join_list(items) : NULL, i++;
  xr_reply_free(items);
  r->rc[i] = xr_chat_enqueue(s, &r->n[i], S(THREAD), S("{\"m\":1}"), now, now + 90000, 10), i++;
  r->rc[i] = xr_chat_enqueue(s, &r->n[i], S(THREAD), S("{\"m\":2}"), now, now + 90000, 10), i++;
  r->rc[i] = xr_chat_queue_depth(s, &r->n[i], S(THREAD)), i++;
  r->rc[i] = xr_chat_dequeue(s, &r->flag[i], &r->entry[i], S(THREAD)), i++;
  r->rc[i++] = xr_chat_force_release_lock(s, S(THREAD));
  r->rc[i] = xr_chat_dequeue(s, &r->flag[i], &r->entry[i], S(THREAD)), i++;
  r->rc[i] = xr_chat_dequeue(s, &r->flag[i], &r->entry[i], S(THREAD)), i++;
  r->rc[i] = xr_chat_acquire_lock(s, &r->flag[i], &r->lock[i], S(THREAD), 30000), i++;
  r->rc[i] = xr_chat_get(s, &r->text[i], &r->text_len[i], S("wrongtype")), i++;
  r->count = i;
  assert_int_equal(i, N_OPS);
}

static void run_batch(xr_chat *s, results *r) {
  long long now = r->now;
  xr_chat_batch *b = NULL;
  XR_OK(xr_chat_batch_new(&b, s));
  int idx[N_OPS];
  size_t i = 0;
  idx[i++] = xr_chat_batch_subscribe(b, S(THREAD));
  idx[i++] = xr_chat_batch_is_subscribed(b, S(THREAD));
  idx[i++] = xr_chat_batch_unsubscribe(b, S(THREAD));
  idx[i++] = xr_chat_batch_is_subscribed(b, S(THREAD));
  idx[i++] = xr_chat_batch_acquire_lock(b, S(THREAD), 30000);
  idx[i++] = xr_chat_batch_acquire_lock(b, S(THREAD), 30000);
  idx[i++] = xr_chat_batch_extend_lock(b, S(THREAD), S("nope"), 30000);
  idx[i++] = xr_chat_batch_release_lock(b, S(THREAD), S("nope"));
  idx[i++] = xr_chat_batch_set(b, S("k1"), S("{\"foo\":\"b\xc3\xa4r\",\"n\":1}"), 60000);
  idx[i++] = xr_chat_batch_get(b, S("k1"));
  idx[i++] = xr_chat_batch_set_if_not_exists(b, S("k2"), S("true"), 600000);
  idx[i++] = xr_chat_batch_set_if_not_exists(b, S("k2"), S("true"), 600000);
  idx[i++] = xr_chat_batch_delete(b, S("k2"));
  idx[i++] = xr_chat_batch_get(b, S("k2"));
  idx[i++] = xr_chat_batch_append_to_list(b, S("l"), S("{\"a\":1}"), 100, 604800000);
  idx[i++] = xr_chat_batch_append_to_list(b, S("l"), S("{\"a\":2}"), 100, 604800000);
  idx[i++] = xr_chat_batch_get_list(b, S("l"));
  idx[i++] = xr_chat_batch_enqueue(b, S(THREAD), S("{\"m\":1}"), now, now + 90000, 10);
  idx[i++] = xr_chat_batch_enqueue(b, S(THREAD), S("{\"m\":2}"), now, now + 90000, 10);
  idx[i++] = xr_chat_batch_queue_depth(b, S(THREAD));
  idx[i++] = xr_chat_batch_dequeue(b, S(THREAD));
  idx[i++] = xr_chat_batch_force_release_lock(b, S(THREAD));
  idx[i++] = xr_chat_batch_dequeue(b, S(THREAD));
  idx[i++] = xr_chat_batch_dequeue(b, S(THREAD));
  idx[i++] = xr_chat_batch_acquire_lock(b, S(THREAD), 30000);
  idx[i++] = xr_chat_batch_get(b, S("wrongtype"));
  assert_int_equal(i, N_OPS);
  for (size_t k = 0; k < N_OPS; k++) {
    if (idx[k] != (int)k) fail_msg("batch op %zu got index %d (%s)", k, idx[k], xr_error_last()->message);
  }
  assert_int_equal(xr_chat_batch_count(b), N_OPS);
  XR_OK(xr_chat_batch_exec(b));
  for (size_t k = 0; k < N_OPS; k++) {
    switch (ops[k]) {
      case K_STATUS: r->rc[k] = xr_chat_batch_status(b, k); break;
      case K_BOOL: r->rc[k] = xr_chat_batch_bool(b, k, &r->flag[k]); break;
      case K_LOCK: r->rc[k] = xr_chat_batch_lock(b, k, &r->flag[k], &r->lock[k]); break;
      case K_INT: r->rc[k] = xr_chat_batch_integer(b, k, &r->n[k]); break;
      case K_VALUE: r->rc[k] = xr_chat_batch_value(b, k, &r->text[k], &r->text_len[k]); break;
      case K_LIST: {
        const xr_reply *items = NULL;
        r->rc[k] = xr_chat_batch_list(b, k, &items);
        r->text[k] = items ? join_list(items) : NULL;
        break;
      }
      case K_ENTRY: r->rc[k] = xr_chat_batch_entry(b, k, &r->flag[k], &r->entry[k]); break;
    }
  }
  r->count = N_OPS;
  /* a result of another kind, or out of range */
  bool flag;
  long long n;
  XR_FAILS(xr_chat_batch_bool(b, 0, &flag), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_batch_integer(b, 9, &n), XR_EINVAL, NULL);
  XR_FAILS(xr_chat_batch_status(b, N_OPS), XR_EINVAL, NULL);
  xr_chat_batch_clear(b);
  assert_int_equal(xr_chat_batch_count(b), 0);
  xr_chat_batch_free(b);
}

/* Whether the batch got the sequential calls' results; when not, says where in `why`. */
static int same_results(const results *seq, const results *bat, char *why, size_t size) {
  for (size_t i = 0; i < N_OPS; i++) {
    if (seq->rc[i] != bat->rc[i]) {
      snprintf(why, size, "op %zu: sequential %s, batch %s", i, xr_error_name(seq->rc[i]), xr_error_name(bat->rc[i]));
      return 0;
    }
    int same = 1;
    switch (ops[i]) {
      case K_STATUS: break;
      case K_BOOL: same = seq->flag[i] == bat->flag[i]; break;
      case K_LOCK:
        same = seq->flag[i] == bat->flag[i] && (!seq->flag[i] || seq->lock[i].token_len == bat->lock[i].token_len);
        break;
      case K_INT: same = seq->n[i] == bat->n[i]; break;
      case K_VALUE:
        same = (!seq->text[i] && !bat->text[i]) ||
               (seq->text[i] && bat->text[i] && seq->text_len[i] == bat->text_len[i] &&
                memcmp(seq->text[i], bat->text[i], seq->text_len[i]) == 0);
        break;
      case K_LIST: same = seq->text[i] && bat->text[i] && strcmp(seq->text[i], bat->text[i]) == 0; break;
      case K_ENTRY:
        same = seq->flag[i] == bat->flag[i] &&
               (!seq->flag[i] || (seq->entry[i].raw_len == bat->entry[i].raw_len &&
                                  memcmp(seq->entry[i].raw, bat->entry[i].raw, seq->entry[i].raw_len) == 0 &&
                                  seq->entry[i].message_len == bat->entry[i].message_len &&
                                  memcmp(seq->entry[i].message, bat->entry[i].message, seq->entry[i].message_len) == 0));
        break;
    }
    if (!same) {
      snprintf(why, size, "op %zu: sequential %d/%lld/%s, batch %d/%lld/%s", i, seq->flag[i], seq->n[i],
               seq->text[i] ? seq->text[i] : "(null)", bat->flag[i], bat->n[i], bat->text[i] ? bat->text[i] : "(null)");
      return 0;
    }
  }
  return 1;
}

/* The sequential results are what chat.h says; checked once here so that equality means
 * something. */
static void expect_sequential_results(const results *r) {
  static const int bools[][2] = {{1, 1}, {3, 0}, {4, 1}, {5, 0}, {6, 0}, {7, 0}, {10, 1}, {11, 0}, {20, 1}, {22, 1},
                                 {23, 0}, {24, 1}};
  for (size_t i = 0; i < N_OPS - 1; i++)
    if (r->rc[i] != 0) fail_msg("sequential op %zu: %s", i, xr_error_name(r->rc[i]));
  for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++)
    if ((int)r->flag[bools[i][0]] != bools[i][1]) fail_msg("sequential op %d: %d", bools[i][0], r->flag[bools[i][0]]);
  expect_bytes("get k1", r->text[9], r->text_len[9], S("{\"foo\":\"b\xc3\xa4r\",\"n\":1}"));
  assert_null(r->text[13]);
  assert_string_equal(r->text[16], "{\"a\":1} | {\"a\":2} | ");
  assert_int_equal(r->n[17], 1);
  assert_int_equal(r->n[18], 2);
  assert_int_equal(r->n[19], 2);
  expect_bytes("dequeue 1", r->entry[20].message, r->entry[20].message_len, S("{\"m\":1}"));
  expect_bytes("dequeue 2", r->entry[22].message, r->entry[22].message_len, S("{\"m\":2}"));
  assert_int_equal(r->rc[25], XR_EWRONGTYPE);
}

/* Runs every operation sequentially, then (after FLUSHALL, and SCRIPT FLUSH when `flush_scripts`)
 * as one batch, each under MONITOR, and compares results and commands. */
static void compare_batch_with_sequential(int flush_scripts) {
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  results seq, bat;
  memset(&seq, 0, sizeof seq);
  memset(&bat, 0, sizeof bat);
  seq.now = bat.now = itest_wall_ms();
  itest_lines seq_lines = {0}, bat_lines = {0};
  tt_monitor m;
  for (int batch = 0; batch < 2; batch++) {
    tt_flush();
    if (batch && flush_scripts) tt_on_masters((const char *[]){"SCRIPT", "FLUSH"}, 2);
    XR_OK(itest_cmd(chk, NULL, "HSET", tt_key(":cache:wrongtype"), "f", "v", NULL));
    tt_monitor_open(&m);
    if (batch)
      run_batch(f.s, &bat);
    else
      run_sequential(f.s, &seq);
    tt_monitor_collect(&m, ITEST_MASK_TOKENS | ITEST_MASK_MS, batch ? &bat_lines : &seq_lines);
    tt_monitor_close(&m);
  }
  expect_sequential_results(&seq);
  char why[1024] = "";
  int same = same_results(&seq, &bat, why, sizeof why);
  mask_queue_ttl(&seq_lines);
  mask_queue_ttl(&bat_lines);
  if (tt_cluster()) { /* a batch runs per node there: the caller's order holds per key */
    tt_sort_by_key(&seq_lines);
    tt_sort_by_key(&bat_lines);
  }
  int same_lines = itest_lines_same(&bat_lines, &seq_lines, "batch vs sequential calls");
  results_free(&seq);
  results_free(&bat);
  itest_lines_free(&seq_lines);
  itest_lines_free(&bat_lines);
  if (!same || !same_lines) {
    fix_close(&f);
    if (!same) fail_msg("the batch's results differ from the sequential calls': %s", why);
    fail_msg("the batch sent other commands, or in another order, than the sequential calls");
  }

  /* a second batch with the token the first took: extend and release with the right token */
  xr_chat_lock lock;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &lock, S("second"), 30000));
  assert_true(ok);
  xr_chat_batch *b = NULL;
  XR_OK(xr_chat_batch_new(&b, f.s));
  assert_int_equal(xr_chat_batch_extend_lock(b, S("second"), lock.token, lock.token_len, 90000), 0);
  assert_int_equal(xr_chat_batch_release_lock(b, S("second"), lock.token, lock.token_len), 1);
  assert_int_equal(xr_chat_batch_extend_lock(b, S("second"), lock.token, lock.token_len, 90000), 2);
  XR_OK(xr_chat_batch_exec(b));
  XR_OK(xr_chat_batch_bool(b, 0, &ok));
  assert_true(ok);
  XR_OK(xr_chat_batch_bool(b, 1, &ok));
  assert_true(ok);
  XR_OK(xr_chat_batch_bool(b, 2, &ok));
  assert_false(ok);
  expect_stored(tt_key(":lock:second"), NULL, 0);
  xr_chat_batch_free(b);
  fix_close(&f);
}

/* With the scripts known to the server (the sequential run loaded them). */
static void test_batch_matches_sequential_calls(void **state) {
  (void)state;
  compare_batch_with_sequential(0);
}

/* On a server that forgot the scripts the adapter already ran (SCRIPT FLUSH, a restart, a
 * failover to a replica that never saw them): still one result per operation, in order. */
static void test_batch_after_the_server_forgot_the_scripts(void **state) {
  (void)state;
  compare_batch_with_sequential(1);
}

/* ---- the reliable dequeue (beyond upstream) --------------------------------------------------- */

static void enqueue_n(fixture *f, const char *tid, size_t len, int n, long long now) {
  char msg[32];
  for (int i = 1; i <= n; i++) {
    snprintf(msg, sizeof msg, "{\"m\":%d}", i);
    XR_OK(xr_chat_enqueue(f->s, NULL, tid, len, msg, strlen(msg), now, now + 90000, 0));
  }
}

static void test_dequeue_reliable_ack_and_requeue(void **state) {
  (void)state;
  crossslot_on_cluster();
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  long long now = itest_wall_ms(), depth = -1, moved = -1;
  const char *proc = tt_key(":queue-processing:r");
  enqueue_n(&f, S("r"), 3, now);
  bool found = false, acked = false;
  xr_chat_queue_entry e1, e2, e3;
  XR_OK(xr_chat_dequeue_reliable(f.s, &found, &e1, S("r")));
  assert_true(found);
  expect_entry(&e1, S("{\"m\":1}"), now, now + 90000);
  XR_OK(xr_chat_queue_depth(f.s, &depth, S("r")));
  assert_int_equal(depth, 2);
  assert_int_equal(raw_int("LLEN", proc), 1);
  expect_pttl_near(proc, 90000); /* as long as the queue would have lived */
  XR_OK(xr_chat_ack(f.s, &acked, S("r"), e1.raw, e1.raw_len));
  assert_true(acked);
  XR_OK(xr_chat_ack(f.s, &acked, S("r"), e1.raw, e1.raw_len));
  assert_false(acked); /* once */
  assert_int_equal(raw_int("EXISTS", proc), 0);
  xr_chat_queue_entry_clear(&e1);

  /* two taken and never acknowledged: back at the head of the queue, in their order */
  XR_OK(xr_chat_dequeue_reliable(f.s, &found, &e2, S("r")));
  XR_OK(xr_chat_dequeue_reliable(f.s, &found, &e3, S("r")));
  XR_OK(xr_chat_dequeue_reliable(f.s, &found, &e1, S("r")));
  assert_false(found);
  enqueue_n(&f, S("r"), 1, now + 7); /* a newer one arrived meanwhile */
  XR_OK(xr_chat_requeue_processing(f.s, &moved, S("r")));
  assert_int_equal(moved, 2);
  assert_int_equal(raw_int("EXISTS", proc), 0);
  const char *want[] = {"{\"m\":2}", "{\"m\":3}", "{\"m\":1}"};
  for (int i = 0; i < 3; i++) {
    xr_chat_queue_entry e;
    XR_OK(xr_chat_dequeue(f.s, &found, &e, S("r")));
    assert_true(found);
    assert_memory_equal(e.message, want[i], strlen(want[i]));
    xr_chat_queue_entry_clear(&e);
  }
  xr_chat_queue_entry_clear(&e1);
  xr_chat_queue_entry_clear(&e2);
  xr_chat_queue_entry_clear(&e3);
  XR_FAILS(xr_chat_ack(f.s, &acked, S("r"), "", 0), XR_EINVAL, "chat.ack: the entry's raw bytes are empty");

  /* the same through a batch */
  enqueue_n(&f, S("b"), 2, now);
  xr_chat_batch *b = NULL;
  XR_OK(xr_chat_batch_new(&b, f.s));
  assert_int_equal(xr_chat_batch_dequeue_reliable(b, S("b")), 0);
  assert_int_equal(xr_chat_batch_dequeue_reliable(b, S("b")), 1);
  assert_int_equal(xr_chat_batch_requeue_processing(b, S("b")), 2);
  XR_OK(xr_chat_batch_exec(b));
  xr_chat_queue_entry e;
  XR_OK(xr_chat_batch_entry(b, 0, &found, &e));
  assert_true(found);
  expect_entry(&e, S("{\"m\":1}"), now, now + 90000);
  XR_OK(xr_chat_batch_integer(b, 2, &moved));
  assert_int_equal(moved, 2);
  xr_chat_batch_clear(b);
  assert_int_equal(xr_chat_batch_ack(b, S("b"), e.raw, e.raw_len), 0);
  XR_OK(xr_chat_batch_exec(b));
  XR_OK(xr_chat_batch_bool(b, 0, &acked));
  assert_false(acked); /* it went back to the queue */
  xr_chat_queue_entry_clear(&e);
  xr_chat_batch_free(b);
  XR_OK(xr_chat_queue_depth(f.s, &depth, S("b")));
  assert_int_equal(depth, 2);
  fix_close(&f);
}

/* A dequeue whose reply is lost: the server runs the LPOP after the client gave up (DEBUG SLEEP
 * keeps the server from reading past the reply timeout; then it reads and runs the command whose
 * connection the client already closed), so the plain dequeue loses the entry and says that it
 * may have; the reliable one leaves it in the processing list, and requeue brings it back. */
static void *server_sleeps(void *arg) {
  (void)arg;
  xr_client_options co = tt_options();
  xr_client *c = NULL;
  if (xr_client_open(&c, &co) == XR_OK) {
    itest_cmd(c, NULL, "DEBUG", "SLEEP", "1.5", NULL);
    xr_client_close(c);
  }
  return NULL;
}

static void while_server_sleeps(pthread_t *th) {
  /* returns once the server is asleep: a PING with a 50 ms timeout goes unanswered */
  xr_client_options co = tt_options();
  co.command_timeout_ms = 50;
  xr_client *probe = NULL;
  XR_OK(xr_client_open(&probe, &co));
  assert_int_equal(pthread_create(th, NULL, server_sleeps, NULL), 0);
  int rc = XR_OK;
  for (int i = 0; i < 200 && rc == XR_OK; i++) {
    rc = xr_client_ping(probe);
    if (rc == XR_OK) xrt_sleep_ms(10);
  }
  assert_int_equal(rc, XR_ETIMEOUT);
  xr_client_close(probe);
}
static void test_dequeue_with_lost_reply(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  xr_client_options co = tt_options();
  co.command_timeout_ms = 200;
  fixture f;
  XR_OK(xr_client_open(&f.c, &co));
  XR_OK(xr_chat_new(&f.s, f.c, &o));
  long long now = itest_wall_ms(), depth = -1, moved = -1;
  enqueue_n(&f, S("lost"), 2, now);
  bool found = true;
  xr_chat_queue_entry e;

  pthread_t th;
  while_server_sleeps(&th);
  XR_FAILS(xr_chat_dequeue(f.s, &found, &e, S("lost")), XR_ETIMEOUT,
           "the dequeue may have popped an entry, which is then lost (dequeue_reliable keeps");
  pthread_join(th, NULL); /* the server woke and ran the LPOP nobody reads */
  XR_OK(xr_chat_queue_depth(f.s, &depth, S("lost")));
  assert_int_equal(depth, 1);

  while_server_sleeps(&th);
  assert_int_equal(xr_chat_dequeue_reliable(f.s, &found, &e, S("lost")), XR_ETIMEOUT);
  pthread_join(th, NULL);
  XR_OK(xr_chat_queue_depth(f.s, &depth, S("lost")));
  assert_int_equal(depth, 0);
  XR_OK(xr_chat_requeue_processing(f.s, &moved, S("lost")));
  assert_int_equal(moved, 1);
  XR_OK(xr_chat_dequeue(f.s, &found, &e, S("lost")));
  assert_true(found);
  expect_entry(&e, S("{\"m\":2}"), now, now + 90000);
  xr_chat_queue_entry_clear(&e);
  fix_close(&f);
}

/* xr_client_shutdown ends a blocking acquire at once (XR_ECLOSED), whatever is left of its wait:
 * what a binding's close relies on to stop a waiting call before it frees the adapter. */
typedef struct lock_waiter {
  xr_chat *s;
  int rc;
  bool acquired;
} lock_waiter;

static void *wait_for_lock(void *arg) {
  lock_waiter *w = arg;
  xr_chat_lock l;
  w->rc = xr_chat_acquire_lock_wait(w->s, &w->acquired, &l, S("held"), 30000, 600000);
  return NULL;
}

static void test_shutdown_ends_acquire_lock_wait(void **state) {
  (void)state;
  xr_chat_options o = ts_options();
  fixture f;
  fix_open(&f, &o);
  xr_chat_lock holder;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &holder, S("held"), 600000));
  assert_true(ok);
  lock_waiter w = {f.s, 1, true};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, wait_for_lock, &w), 0);
  xrt_sleep_ms(300);
  assert_int_equal(w.rc, 1); /* still waiting: its wait is ten minutes */
  xr_client_shutdown(f.c);
  pthread_join(th, NULL); /* a wait that ignored the shutdown would hang the test here */
  assert_int_equal(w.rc, XR_ECLOSED);
  assert_false(w.acquired);
  expect_stored(tt_key(":lock:held"), holder.token, holder.token_len);
  fix_close(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TT_TEST(test_captures_agree_after_normalization),
      TT_TEST(test_subscriptions),
      TT_TEST(test_locks_match_captures),
      TT_TEST(test_token_shapes),
      TT_TEST(test_release_and_extend_effects),
      TT_TEST(test_cache_matches_captures),
      TT_TEST(test_cache_values_and_ttls),
      TT_TEST(test_lists_match_captures),
      TT_TEST(test_list_trim_and_ttl),
      TT_TEST(test_queue_matches_captures),
      TT_TEST(test_queue_ttl_trim_and_order),
      TT_TEST(test_queue_reads_every_spelling),
      TT_TEST(test_key_prefixes),
      TT_TEST(test_release_lock_if_queue_empty),
      TT_TEST(test_acquire_lock_wait),
      TT_TEST(test_shutdown_ends_acquire_lock_wait),
      TT_TEST(test_dequeue_reliable_ack_and_requeue),
      TT_TEST(test_batch_matches_sequential_calls),
      TT_TEST(test_batch_after_the_server_forgot_the_scripts),
  };
  /* DEBUG SLEEP for 1.5 s: a shared Sentinel set would fail its master over (down-after 1 s), and
   * a shared Cluster's other tests would stall behind it */
  const struct CMUnitTest standalone_only[] = {
      TT_TEST(test_dequeue_with_lost_reply),
  };
  return tt_run("chat", tests, sizeof tests / sizeof tests[0], standalone_only, 1);
}
