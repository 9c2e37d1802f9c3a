/* The lock scan (lock_scan.h) against a real redis-server, through the C API the command, Python
 * and Node use: every lock of a prefix with its token, TTL and origins, sorted by thread id; keys
 * that are not strings reported and left out; the caller's exec; progress; the counts by origin;
 * wrong arguments. What `crossredis locks` and `drain` print is in test_cli_locks.c and
 * test_cli_drain.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"
#include "crossredis/lock_scan.h"

static xrt_server *server;
static xr_client *chk;

static const char TS_TOKEN[] = "redis_1700000000000_abc123xyz4";
static const char PY_TOKEN[] = "redis_1700000000456_0123456789abcdef0123456789abcdee";
/* The Python port's shape with the check characters crossredis writes: its shape cannot tell. */
static const char PY_PASSING[] = "redis_1795298445478_1e5da04afffc52455cb070715847408b";

static int group_setup(void **state) { return (void)state, itest_open_with_checker(&server, &chk); }

static int group_teardown(void **state) { return (void)state, itest_close_with_checker(server, chk), 0; }

typedef struct seen {
  int execs, progress, skipped;
  size_t last_scanned;
  char skipped_key[64];
} seen;

static int counting_exec(void *ctx, xr_batch *b) {
  ((seen *)ctx)->execs++;
  return xr_client_exec(chk, b);
}

static void on_progress(void *ctx, size_t scanned, size_t locks) {
  seen *s = ctx;
  s->progress++;
  s->last_scanned = scanned;
  assert_true(locks <= scanned);
}

static void on_skipped(void *ctx, const char *key, size_t key_len) {
  seen *s = ctx;
  s->skipped++;
  snprintf(s->skipped_key, sizeof s->skipped_key, "%.*s", (int)key_len, key);
}

static void test_scan_lists_every_lock_sorted(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "SET", "scan-a:lock:t2", TS_TOKEN, "PX", "30000", NULL));
  XR_OK(itest_cmd(chk, NULL, "SET", "scan-a:lock:t1", PY_TOKEN, NULL));
  XR_OK(itest_cmd(chk, NULL, "SET", "scan-a:lock:t3", PY_PASSING, "PX", "10000", NULL));
  XR_OK(itest_cmd(chk, NULL, "RPUSH", "scan-a:lock:a-list", "x", NULL));     /* not a lock */
  XR_OK(itest_cmd(chk, NULL, "SET", "scan-ab:lock:t9", TS_TOKEN, NULL));     /* another prefix */
  XR_OK(itest_cmd(chk, NULL, "SET", "scan-a:cache:lock:t4", TS_TOKEN, NULL)); /* not under :lock: */
  seen s = {0};
  xr_lock_scan_options o = XR_LOCK_SCAN_OPTIONS_INIT;
  o.prefix = "scan-a";
  o.count = 2;
  o.exec = counting_exec;
  o.exec_ctx = &s;
  o.skipped = on_skipped;
  o.skipped_ctx = &s;
  xr_lock_list *l = NULL;
  XR_OK(xr_lock_scan(&l, NULL, &o));
  assert_true(s.execs >= 2); /* a SCAN and a page of GET + PTTL at least */
  assert_int_equal(s.skipped, 1);
  assert_string_equal(s.skipped_key, "scan-a:lock:a-list");
  assert_int_equal(xr_lock_list_count(l), 3);
  assert_true(xr_lock_list_scanned(l) >= 4);
  const char *threads[] = {"t1", "t2", "t3"}, *tokens[] = {PY_TOKEN, TS_TOKEN, PY_PASSING};
  for (size_t i = 0; i < 3; i++) {
    const xr_lock_entry *e = xr_lock_list_at(l, i);
    assert_non_null(e);
    char key[32];
    snprintf(key, sizeof key, "scan-a:lock:%s", threads[i]);
    assert_int_equal(e->key_len, strlen(key));
    assert_string_equal(e->key, key);
    assert_int_equal(e->thread_len, 2);
    assert_memory_equal(e->thread, threads[i], 2);
    assert_string_equal(e->token, tokens[i]);
    assert_int_equal(e->token_len, strlen(tokens[i]));
  }
  const xr_lock_entry *t1 = xr_lock_list_at(l, 0), *t2 = xr_lock_list_at(l, 1), *t3 = xr_lock_list_at(l, 2);
  assert_int_equal(t1->ttl_ms, -1);
  assert_true(t2->ttl_ms > 0 && t2->ttl_ms <= 30000);
  assert_int_equal(t1->origin, XR_CHAT_ORIGIN_PYTHON_REDIS);
  assert_int_equal(t1->origins, XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_PYTHON_REDIS));
  assert_false(xr_lock_origins_uncertain(t1->origins));
  assert_int_equal(t2->origin, XR_CHAT_ORIGIN_TS_NODE_REDIS);
  assert_int_equal(t3->origin, XR_CHAT_ORIGIN_CROSSREDIS);
  assert_int_equal(t3->shape, XR_CHAT_ORIGIN_PYTHON_REDIS);
  assert_true(xr_lock_origins_uncertain(t3->origins));
  assert_null(xr_lock_list_at(l, 3));
  /* by origin: ts-node-redis, python-redis, then "crossredis or python-redis" */
  xr_lock_origin_count sets[XR_LOCK_ORIGIN_SETS_MAX];
  assert_int_equal(xr_lock_list_count_origins(l, sets, XR_LOCK_ORIGIN_SETS_MAX), 3);
  assert_int_equal(sets[0].origins, XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_TS_NODE_REDIS));
  assert_int_equal(sets[1].origins, XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_PYTHON_REDIS));
  assert_int_equal(sets[2].origins, t3->origins);
  for (size_t k = 0; k < 3; k++) assert_int_equal(sets[k].n, 1);
  xr_lock_origin_count first;
  assert_int_equal(xr_lock_list_count_origins(l, &first, 1), 3); /* only the first written */
  assert_int_equal(first.origins, sets[0].origins);
  xr_lock_list_free(l);
}

static void test_scan_over_the_pool_with_progress(void **state) {
  (void)state;
  enum { N = 10500 };
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  char key[48];
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "scan-many:lock:%05d", i);
    const char *argv[] = {"SET", key, TS_TOKEN};
    assert_true(xr_batch_add(b, 3, argv, NULL) >= 0);
  }
  XR_OK(xr_client_exec(chk, b));
  xr_batch_free(b);
  seen s = {0};
  xr_lock_scan_options o = XR_LOCK_SCAN_OPTIONS_INIT;
  o.prefix = "scan-many";
  o.progress = on_progress;
  o.progress_ctx = &s;
  xr_lock_list *l = NULL;
  XR_OK(xr_lock_scan(&l, chk, &o)); /* exec NULL: the client's pool */
  assert_int_equal(xr_lock_list_count(l), N);
  assert_int_equal(s.progress, 1); /* past 10,000 keys once */
  assert_true(s.last_scanned >= 10000);
  assert_string_equal(xr_lock_list_at(l, N - 1)->thread, "10499");
  xr_lock_origin_count one;
  assert_int_equal(xr_lock_list_count_origins(l, &one, 1), 1);
  assert_int_equal(one.n, N);
  xr_lock_list_free(l);
  /* no lock at all: an empty list, not an error */
  o.prefix = "scan-none";
  o.progress = NULL;
  XR_OK(xr_lock_scan(&l, chk, &o));
  assert_int_equal(xr_lock_list_count(l), 0);
  assert_int_equal(xr_lock_list_count_origins(l, NULL, 0), 0);
  xr_lock_list_free(l);
}

static int failing_exec(void *ctx, xr_batch *b) {
  (void)b;
  return *(int *)ctx;
}

static void test_bad_arguments_and_failures(void **state) {
  (void)state;
  xr_lock_list *l = (xr_lock_list *)1;
  XR_FAILS(xr_lock_scan(NULL, chk, NULL), XR_EINVAL, "out is required");
  XR_FAILS(xr_lock_scan(&l, NULL, NULL), XR_EINVAL, "a client or an exec callback");
  assert_null(l);
  xr_lock_scan_options o = XR_LOCK_SCAN_OPTIONS_INIT;
  o.version = 99;
  XR_FAILS(xr_lock_scan(&l, chk, &o), XR_EINVAL, "options version 99");
  o = (xr_lock_scan_options)XR_LOCK_SCAN_OPTIONS_INIT;
  o.count = -1;
  XR_FAILS(xr_lock_scan(&l, chk, &o), XR_EINVAL, "count");
  /* the caller's exec fails: the scan stops with its code, and no list */
  o = (xr_lock_scan_options)XR_LOCK_SCAN_OPTIONS_INIT;
  int code = xr_error_set(XR_ETIMEOUT, "no reply before the deadline");
  o.exec = failing_exec;
  o.exec_ctx = &code;
  XR_FAILS(xr_lock_scan(&l, NULL, &o), XR_ETIMEOUT, "deadline");
  assert_null(l);
  code = 7; /* not an XR_E* code */
  XR_FAILS(xr_lock_scan(&l, NULL, &o), XR_EUSER, "returned 7");
  /* NULL list */
  assert_int_equal(xr_lock_list_count(NULL), 0);
  assert_int_equal(xr_lock_list_scanned(NULL), 0);
  assert_null(xr_lock_list_at(NULL, 0));
  xr_lock_list_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scan_lists_every_lock_sorted),
      cmocka_unit_test(test_scan_over_the_pool_with_progress),
      cmocka_unit_test(test_bad_arguments_and_failures),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
