/* Chat SDK lock safety on a standalone server, the Sentinel set and the Cluster (topotest.h; the
 * test that kills the server on the standalone one only): wrong and expired tokens change nothing,
 * extend never re-creates a lock, 8 threads sharing one client never hold one lock at the same
 * time, and the watchdog keeps a short lock alive, notices when it is lost, and stops at its
 * maximum lifetime. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/chat.h"
#include "itest.h"
#include "topotest.h"

#define S(lit) lit, sizeof(lit) - 1 /* a string literal as (bytes, length) */

#define THREADS 8
#define CYCLES 2000

#define chk tt.chk

typedef struct fixture {
  xr_client *c;
  xr_chat *s;
} fixture;

static void fix_open(fixture *f, int pool) {
  xr_client_options co = tt_options();
  co.pool_size = pool;
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = tt.prefix;
  XR_OK(xr_client_open(&f->c, &co));
  XR_OK(xr_chat_new(&f->s, f->c, &o));
}

static void fix_close(fixture *f) {
  xr_chat_free(f->s);
  xr_client_close(f->c);
}

/* GET key must be `token` (NULL: missing). */
static void expect_holder(const char *key, const char *token) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(chk, &r, "GET", key, NULL));
  if (token == NULL) {
    if (xr_reply_kind(r) != XR_REPLY_NIL) fail_msg("%s: want no lock, held by %s", key, xr_reply_str(r, NULL));
  } else {
    if (xr_reply_kind(r) != XR_REPLY_STRING) fail_msg("%s: want %s, not held", key, token);
    assert_string_equal(xr_reply_str(r, NULL), token);
  }
  xr_reply_free(r);
}

/* ---- tokens ----------------------------------------------------------------------------------- */

static void test_wrong_token_changes_nothing(void **state) {
  (void)state;
  fixture f;
  fix_open(&f, 1);
  const char *key = tt_key(":lock:t");
  xr_chat_lock a, b;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &a, S("t"), 20000));
  assert_true(ok);
  /* a real token of the same shape, held on another id */
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &b, S("other"), 20000));
  assert_true(ok);
  XR_OK(xr_chat_extend_lock(f.s, &ok, S("t"), b.token, b.token_len, 900000));
  assert_false(ok);
  long long left = itest_pttl(chk, key);
  if (left > 20000 || left < 15000) fail_msg("PTTL %lld after an extension with a wrong token", left);
  XR_OK(xr_chat_release_lock(f.s, &ok, S("t"), b.token, b.token_len));
  assert_false(ok);
  expect_holder(key, a.token);
  /* the right token of another lock id is still the wrong token here, and the other lock stays */
  expect_holder(tt_key(":lock:other"), b.token);
  fix_close(&f);
}

static void test_expired_token_changes_nothing(void **state) {
  (void)state;
  fixture f;
  fix_open(&f, 1);
  const char *key = tt_key(":lock:e");
  xr_chat_lock old, next;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &old, S("e"), 50));
  assert_true(ok);
  while (itest_pttl(chk, key) != -2) xrt_sleep_ms(10);
  /* gone: extend does not bring it back */
  XR_OK(xr_chat_extend_lock(f.s, &ok, S("e"), old.token, old.token_len, 30000));
  assert_false(ok);
  expect_holder(key, NULL);
  /* taken by someone else: the old token neither extends nor releases it */
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &next, S("e"), 30000));
  assert_true(ok);
  XR_OK(xr_chat_extend_lock(f.s, &ok, S("e"), old.token, old.token_len, 900000));
  assert_false(ok);
  XR_OK(xr_chat_release_lock(f.s, &ok, S("e"), old.token, old.token_len));
  assert_false(ok);
  expect_holder(key, next.token);
  long long left = itest_pttl(chk, key);
  if (left > 30000 || left < 25000) fail_msg("PTTL %lld", left);
  fix_close(&f);
}

static void test_extend_never_recreates(void **state) {
  (void)state;
  fixture f;
  fix_open(&f, 1);
  const char *key = tt_key(":lock:r");
  xr_chat_lock l;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &l, S("r"), 30000));
  XR_OK(itest_cmd(chk, NULL, "DEL", key, NULL));
  ok = true;
  XR_OK(xr_chat_extend_lock(f.s, &ok, S("r"), l.token, l.token_len, 30000));
  assert_false(ok);
  expect_holder(key, NULL);
  XR_OK(xr_chat_force_release_lock(f.s, S("r")));
  XR_OK(xr_chat_extend_lock(f.s, &ok, S("r"), l.token, l.token_len, 30000));
  assert_false(ok);
  expect_holder(key, NULL);
  fix_close(&f);
}

/* ---- mutual exclusion ------------------------------------------------------------------------- */

typedef struct shared {
  xr_chat *s;
  atomic_int inside;       /* holders right now */
  atomic_int most_inside;  /* the most ever seen at once */
  atomic_long count;       /* incremented with a separate load and store: lost updates show overlaps */
  atomic_long acquisitions;
  atomic_long failed_tries;
} shared;

typedef struct worker {
  shared *sh;
  int errors;
  char first_problem[400];
} worker;

static void note(worker *w, const char *what, int rc) {
  w->errors++;
  if (w->first_problem[0] == '\0')
    snprintf(w->first_problem, sizeof w->first_problem, "%s: %s: %s", what, xr_error_name(rc),
             rc ? xr_error_last()->message : "");
}

static void *contend(void *arg) {
  worker *w = arg;
  shared *sh = w->sh;
  for (int i = 0; i < CYCLES && w->errors == 0; i++) {
    xr_chat_lock lock;
    bool ok = false;
    for (;;) {
      int rc = xr_chat_acquire_lock(sh->s, &ok, &lock, S("hot"), 10000);
      if (rc) {
        note(w, "acquire", rc);
        return NULL;
      }
      if (ok) break;
      atomic_fetch_add(&sh->failed_tries, 1);
      sched_yield();
    }
    int now = atomic_fetch_add(&sh->inside, 1) + 1;
    int most = atomic_load(&sh->most_inside);
    while (now > most && !atomic_compare_exchange_weak(&sh->most_inside, &most, now)) {
    }
    long v = atomic_load_explicit(&sh->count, memory_order_relaxed);
    if (i % 64 == 0) sched_yield(); /* widen the window now and then */
    atomic_store_explicit(&sh->count, v + 1, memory_order_relaxed);
    atomic_fetch_sub(&sh->inside, 1);
    atomic_fetch_add(&sh->acquisitions, 1);
    bool released = false;
    int rc = xr_chat_release_lock(sh->s, &released, S("hot"), lock.token, lock.token_len);
    if (rc) {
      note(w, "release", rc);
      return NULL;
    }
    if (!released) note(w, "release of a held lock did not release it", 0);
  }
  return NULL;
}

static void test_one_holder_at_a_time(void **state) {
  (void)state;
  fixture f;
  fix_open(&f, THREADS);
  shared sh;
  sh.s = f.s;
  atomic_init(&sh.inside, 0);
  atomic_init(&sh.most_inside, 0);
  atomic_init(&sh.count, 0);
  atomic_init(&sh.acquisitions, 0);
  atomic_init(&sh.failed_tries, 0);
  worker w[THREADS];
  pthread_t th[THREADS];
  memset(w, 0, sizeof w);
  for (int i = 0; i < THREADS; i++) {
    w[i].sh = &sh;
    assert_int_equal(pthread_create(&th[i], NULL, contend, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < THREADS; i++)
    if (w[i].errors) fail_msg("thread %d: %d problems, first: %s", i, w[i].errors, w[i].first_problem);
  assert_int_equal(atomic_load(&sh.most_inside), 1);
  assert_int_equal(atomic_load(&sh.acquisitions), THREADS * CYCLES);
  assert_int_equal(atomic_load(&sh.count), THREADS * CYCLES);
  expect_holder(tt_key(":lock:hot"), NULL);
  print_message("      %d acquisitions, %ld refused tries\n", THREADS * CYCLES, atomic_load(&sh.failed_tries));
  fix_close(&f);
}

/* ---- the watchdog ----------------------------------------------------------------------------- */

/* The watchdog's TTL: 1200 ms, extended every 400 ms, so a test thread stalled for most of a second
 * still keeps the lock; under valgrind (scripts/test sets XR_TEST_VALGRIND) 4000 ms, as a loaded
 * two-core machine there stalls a thread for more than a second. */
static int wd_ttl(void) { return getenv("XR_TEST_VALGRIND") ? 4000 : 1200; }
#define WD_TTL wd_ttl()

/* Ticks whenever due until `until` (wall clock); every tick must say HELD. Returns the ticks. */
static int drive(xr_chat_watchdog *w, long long until) {
  int ticks = 0;
  for (long long now = itest_wall_ms(); now < until; now = itest_wall_ms()) {
    int64_t due = xr_chat_watchdog_due_in(w, now);
    if (due < 0) fail_msg("the watchdog stopped while the lock was held");
    if (due > 0) {
      xrt_sleep_ms(due < 10 ? (int)due : 10);
      continue;
    }
    xr_chat_watchdog_state st = XR_CHAT_WATCHDOG_LOST;
    XR_OK(xr_chat_watchdog_tick(w, &st, now));
    if (st != XR_CHAT_WATCHDOG_HELD) fail_msg("tick %d: state %d, want HELD", ticks, (int)st);
    ticks++;
  }
  return ticks;
}

/* Waits until the next tick is due and ticks once; returns the state. */
static xr_chat_watchdog_state tick_when_due(xr_chat_watchdog *w) {
  long long now = itest_wall_ms();
  int64_t due;
  while ((due = xr_chat_watchdog_due_in(w, now)) > 0) {
    xrt_sleep_ms((int)due);
    now = itest_wall_ms();
  }
  if (due < 0) fail_msg("the watchdog stopped before its tick");
  xr_chat_watchdog_state st = XR_CHAT_WATCHDOG_HELD;
  XR_OK(xr_chat_watchdog_tick(w, &st, now));
  return st;
}

static void test_watchdog_keeps_the_lock(void **state) {
  (void)state;
  fixture f;
  fix_open(&f, 1);
  const char *key = tt_key(":lock:wd");
  xr_chat_lock lock;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &lock, S("wd"), WD_TTL));
  assert_true(ok);
  long long t0 = itest_wall_ms();
  xr_chat_watchdog *w = NULL;
  XR_OK(xr_chat_watchdog_new(&w, f.s, S("wd"), &lock, WD_TTL, 0, t0));
  assert_int_equal(xr_chat_watchdog_expires_at(w), lock.expires_at_ms);
  int64_t due = xr_chat_watchdog_due_in(w, t0);
  if (due <= 0 || due > WD_TTL / 3) fail_msg("first extension due in %lld ms, want (0, %d]", (long long)due, WD_TTL / 3);

  /* a tick that is not due sends nothing; a due one sends the extension script */
  tt_monitor m;
  tt_monitor_open(&m);
  xr_chat_watchdog_state st = XR_CHAT_WATCHDOG_LOST;
  XR_OK(xr_chat_watchdog_tick(w, &st, t0));
  assert_int_equal(st, XR_CHAT_WATCHDOG_HELD);
  itest_lines got = {0};
  tt_monitor_collect(&m, 0, &got);
  if (got.n) fail_msg("a tick that was not due sent %s", got.v[0]);
  assert_int_equal(tick_when_due(w), XR_CHAT_WATCHDOG_HELD);
  tt_monitor_collect(&m, ITEST_MASK_TOKENS, &got);
  assert_int_equal(got.n, 3);
  char want[160];
  snprintf(want, sizeof want, "client \"EVAL\" \"1\" \"chat-sdk:lock:wd\" \"redis_<MS>_<SFX>\" \"%d\"", WD_TTL);
  assert_string_equal(got.v[0], want);
  assert_string_equal(got.v[1], "lua \"GET\" \"chat-sdk:lock:wd\"");
  snprintf(want, sizeof want, "lua \"PEXPIRE\" \"chat-sdk:lock:wd\" \"%d\"", WD_TTL);
  assert_string_equal(got.v[2], want);
  itest_lines_free(&got);
  tt_monitor_close(&m);

  /* three TTLs later the lock is still there, still ours */
  int ticks = drive(w, t0 + 3 * WD_TTL + 50);
  if (ticks < 3) fail_msg("%d extensions in %d ms", ticks, 3 * WD_TTL);
  expect_holder(key, lock.token);
  long long left = itest_pttl(chk, key);
  assert_true(left > 0 && left <= WD_TTL);
  assert_true(xr_chat_watchdog_expires_at(w) > t0 + 3 * WD_TTL);

  /* deleted under it: the next due tick says LOST, and the watchdog stops */
  XR_OK(itest_cmd(chk, NULL, "DEL", key, NULL));
  assert_int_equal(tick_when_due(w), XR_CHAT_WATCHDOG_LOST);
  assert_int_equal(xr_chat_watchdog_due_in(w, itest_wall_ms()), -1);
  expect_holder(key, NULL);
  xr_chat_watchdog_free(w);

  /* taken by another token: LOST, and the other holder's lock is left alone */
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &lock, S("wd"), WD_TTL));
  assert_true(ok);
  XR_OK(xr_chat_watchdog_new(&w, f.s, S("wd"), &lock, WD_TTL, 0, itest_wall_ms()));
  XR_OK(itest_cmd(chk, NULL, "SET", key, "someone-else", "PX", "30000", NULL));
  assert_int_equal(tick_when_due(w), XR_CHAT_WATCHDOG_LOST);
  expect_holder(key, "someone-else");
  left = itest_pttl(chk, key);
  assert_true(left > 25000);
  xr_chat_watchdog_free(w);
  fix_close(&f);
}

/* The watchdog's clock is the caller's: simulated times make the lifetime exact. */
static void test_watchdog_max_lifetime(void **state) {
  (void)state;
  fixture f;
  fix_open(&f, 1);
  xr_chat_lock lock;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &lock, S("fin"), 30000));
  assert_true(ok);
  long long t0 = itest_wall_ms();
  xr_chat_watchdog *w = NULL;
  /* the watchdog copies the thread id and the token: both are gone before it ticks */
  char *id = strdup("fin");
  xr_chat_lock *copy = malloc(sizeof *copy);
  assert_non_null(id);
  assert_non_null(copy);
  *copy = lock;
  XR_OK(xr_chat_watchdog_new(&w, f.s, id, 3, copy, 30000, 50000, t0));
  memset(id, 'x', 3);
  memset(copy, 0, sizeof *copy);
  free(id);
  free(copy);
  xr_chat_watchdog_state st = XR_CHAT_WATCHDOG_LOST;
  assert_int_equal(xr_chat_watchdog_due_in(w, t0 + 10000), 0);
  XR_OK(xr_chat_watchdog_tick(w, &st, t0 + 10000));
  assert_int_equal(st, XR_CHAT_WATCHDOG_HELD);
  assert_int_equal(xr_chat_watchdog_expires_at(w), t0 + 10000 + 30000);
  assert_int_equal(xr_chat_watchdog_due_in(w, t0 + 15000), 5000);
  XR_OK(xr_chat_watchdog_tick(w, &st, t0 + 20000));
  assert_int_equal(st, XR_CHAT_WATCHDOG_HELD);
  assert_int_equal(xr_chat_watchdog_expires_at(w), t0 + 20000 + 30000);
  XR_OK(xr_chat_watchdog_tick(w, &st, t0 + 30000));
  assert_int_equal(st, XR_CHAT_WATCHDOG_HELD);
  assert_int_equal(xr_chat_watchdog_expires_at(w), t0 + 30000 + 30000);

  /* past the lifetime (and before the expiry it knows): FINISHED, nothing more sent, the lock
   * left to expire on its own */
  tt_monitor m;
  tt_monitor_open(&m);
  XR_OK(xr_chat_watchdog_tick(w, &st, t0 + 55000));
  assert_int_equal(st, XR_CHAT_WATCHDOG_FINISHED);
  assert_int_equal(xr_chat_watchdog_due_in(w, t0 + 55000), -1);
  st = XR_CHAT_WATCHDOG_HELD;
  XR_OK(xr_chat_watchdog_tick(w, &st, t0 + 58000));
  assert_int_equal(st, XR_CHAT_WATCHDOG_FINISHED);
  itest_lines got = {0};
  tt_monitor_collect(&m, 0, &got);
  if (got.n) fail_msg("a finished watchdog sent %s", got.v[0]);
  itest_lines_free(&got);
  tt_monitor_close(&m);
  expect_holder(tt_key(":lock:fin"), lock.token);
  xr_chat_watchdog_free(w);
  fix_close(&f);
}

/* A failed extension is retried; once the lock's own expiry passed without one, it is LOST. */
static void test_watchdog_server_gone(void **state) {
  (void)state;
  fixture f;
  xr_client_options co = tt_options();
  co.connect_timeout_ms = 1000;
  co.command_timeout_ms = 1000;
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = tt.prefix;
  XR_OK(xr_client_open(&f.c, &co));
  XR_OK(xr_chat_new(&f.s, f.c, &o));
  xr_chat_lock lock;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(f.s, &ok, &lock, S("gone"), 30000));
  assert_true(ok);
  long long t0 = itest_wall_ms();
  xr_chat_watchdog *w = NULL;
  XR_OK(xr_chat_watchdog_new(&w, f.s, S("gone"), &lock, 30000, 0, t0));
  xrt_server_kill(tt.server);
  xr_chat_watchdog_state st = XR_CHAT_WATCHDOG_LOST;
  int rc = xr_chat_watchdog_tick(w, &st, t0 + 10000);
  if (rc != XR_EIO && rc != XR_ECONNECT && rc != XR_ETIMEOUT)
    fail_msg("tick with the server gone -> %s, want a connection error", xr_error_name(rc));
  assert_int_equal(xr_chat_watchdog_expires_at(w), lock.expires_at_ms);
  /* retried sooner than a regular extension, and still running */
  int64_t retry = xr_chat_watchdog_due_in(w, t0 + 10000);
  if (retry < 0 || retry >= 10000) fail_msg("after a failed extension the next try is due in %lld ms", (long long)retry);
  st = XR_CHAT_WATCHDOG_HELD;
  xr_chat_watchdog_tick(w, &st, lock.expires_at_ms + 1);
  assert_int_equal(st, XR_CHAT_WATCHDOG_LOST);
  xr_chat_watchdog_free(w);
  char err[XRT_ERR_SIZE];
  if (xrt_server_restart(tt.server, err) != 0) fail_msg("restart: %s", err);
  fix_close(&f);
  xr_client_close(chk);
  xr_client_options ck = tt_options();
  XR_OK(xr_client_open(&chk, &ck));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TT_TEST(test_wrong_token_changes_nothing),
      TT_TEST(test_expired_token_changes_nothing),
      TT_TEST(test_extend_never_recreates),
      TT_TEST(test_one_holder_at_a_time),
      TT_TEST(test_watchdog_keeps_the_lock),
      TT_TEST(test_watchdog_max_lifetime),
  };
  /* kills the server: on a shared topology that would break every other test of the run */
  const struct CMUnitTest standalone_only[] = {
      TT_TEST(test_watchdog_server_gone),
  };
  return tt_run("chat locks", tests, sizeof tests / sizeof tests[0], standalone_only, 1);
}
