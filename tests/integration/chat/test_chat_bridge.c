/* The Chat SDK state's bridge layout (chat.h, XR_CHAT_LAYOUT_BRIDGE): what a deployment runs while
 * it moves from upstream's layout to the tagged one, so that no thread ever has two holders.
 *   - its wire: one script per operation over the thread's keys in both layouts (MONITOR);
 *   - its locks exclude upstream-layout holders and tagged-layout holders alike, and a lock it holds
 *     is both keys with one token;
 *   - its queue: an entry goes where the thread's holder reads, reads take both queues;
 *   - on a Cluster its per-thread operations are refused (XR_ECROSSSLOT) before anything is sent;
 *   - the rolling move under load (standalone): workers of the upstream and bridge layouts, then of
 *     the bridge and tagged layouts, handle messages as the Chat SDK core does (lock, or queue the
 *     message for the holder; the holder drains the queue): no thread ever has two holders, every
 *     message is handled once; the same workers of the upstream and tagged layouts side by side
 *     (the move without the bridge) do get two holders. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/chat.h"
#include "itest.h"
#include "topotest.h"

#define S(lit) lit, sizeof(lit) - 1
#define Z(str) str, strlen(str)

#define THREAD "slack:C123:1700000000.000100"

typedef struct fixture {
  xr_client *c;
  xr_chat *up, *tagged, *bridge;
} fixture;

static xr_chat *adapter(xr_client *c, xr_chat_layout layout) {
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = tt.prefix;
  o.layout = layout;
  xr_chat *s = NULL;
  XR_OK(xr_chat_new(&s, c, &o));
  return s;
}

static void fix_open(fixture *f) {
  xr_client_options co = tt_options();
  XR_OK(xr_client_open(&f->c, &co));
  f->up = adapter(f->c, XR_CHAT_LAYOUT_UPSTREAM);
  f->tagged = adapter(f->c, XR_CHAT_LAYOUT_TAGGED);
  f->bridge = adapter(f->c, XR_CHAT_LAYOUT_BRIDGE);
}

static void fix_close(fixture *f) {
  xr_chat_free(f->up);
  xr_chat_free(f->tagged);
  xr_chat_free(f->bridge);
  xr_client_close(f->c);
}

/* GET key through the checker: its value (static buffer), or NULL. */
static const char *get(const char *key) {
  static char buf[256];
  xr_reply *r = NULL;
  XR_OK(itest_cmd(tt.chk, &r, "GET", key, NULL));
  const char *v = NULL;
  if (xr_reply_kind(r) == XR_REPLY_STRING) {
    snprintf(buf, sizeof buf, "%s", xr_reply_str(r, NULL));
    v = buf;
  }
  xr_reply_free(r);
  return v;
}

#define OLD_LOCK tt_key(":lock:" THREAD)
#define NEW_LOCK tt_key(":lock:{" THREAD "}")
#define OLD_QUEUE tt_key(":queue:" THREAD)
#define NEW_QUEUE tt_key(":queue:{" THREAD "}")

/* Opens the fixture, except on a Cluster, where the bridge layout's per-thread operations are
 * refused before anything is sent (checked here): 0 there, the fixture closed. */
static int fix_open_one_node(fixture *f) {
  fix_open(f);
  if (!tt_cluster()) return 1;
  tt_monitor m;
  tt_monitor_open(&m);
  bool ok = false;
  xr_chat_lock lock;
  long long n = 0;
  XR_FAILS(xr_chat_acquire_lock(f->bridge, &ok, &lock, S(THREAD), 30000), XR_ECROSSSLOT,
           "keys in different Cluster slots");
  XR_FAILS(xr_chat_enqueue(f->bridge, &n, S(THREAD), S("1"), 1, 2, 0), XR_ECROSSSLOT, "");
  XR_FAILS(xr_chat_queue_depth(f->bridge, &n, S(THREAD)), XR_ECROSSSLOT, "");
  itest_lines got = {0};
  tt_monitor_collect(&m, 0, &got);
  assert_int_equal(got.n, 0);
  itest_lines_free(&got);
  tt_monitor_close(&m);
  fix_close(f);
  return 0;
}

/* The wire: one EVAL over both lock keys; both hold the token with one TTL. */
static void test_bridge_lock_wire(void **state) {
  (void)state;
  fixture f;
  if (!fix_open_one_node(&f)) return;
  tt_monitor m;
  tt_monitor_open(&m);
  xr_chat_lock lock;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(f.bridge, &ok, &lock, S(THREAD), 30000));
  assert_true(ok);
  itest_lines got = {0};
  tt_monitor_collect(&m, ITEST_MASK_TOKENS, &got);
  const char *want[] = {
      "client \"EVAL\" \"2\" \"chat-sdk:lock:" THREAD "\" \"chat-sdk:lock:{" THREAD "}\" \"redis_<MS>_<SFX>\" \"30000\"",
      "lua \"EXISTS\" \"chat-sdk:lock:" THREAD "\"",
      "lua \"EXISTS\" \"chat-sdk:lock:{" THREAD "}\"",
      "lua \"SET\" \"chat-sdk:lock:" THREAD "\" \"redis_<MS>_<SFX>\" \"PX\" \"30000\"",
      "lua \"SET\" \"chat-sdk:lock:{" THREAD "}\" \"redis_<MS>_<SFX>\" \"PX\" \"30000\"",
  };
  itest_lines w = {0};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) itest_lines_add(&w, itest_strndup(Z(want[i])));
  itest_assert_lines(&got, &w, "the bridge layout's acquire");
  itest_lines_free(&got);
  itest_lines_free(&w);
  assert_string_equal(get(OLD_LOCK), lock.token);
  assert_string_equal(get(NEW_LOCK), lock.token);
  long long t1 = itest_key_int(tt.chk, "PTTL", OLD_LOCK), t2 = itest_key_int(tt.chk, "PTTL", NEW_LOCK);
  assert_true(t1 > 29000 && t2 > 29000);
  /* extend both, release both */
  XR_OK(xr_chat_extend_lock(f.bridge, &ok, S(THREAD), lock.token, lock.token_len, 60000));
  assert_true(ok);
  assert_true(itest_key_int(tt.chk, "PTTL", OLD_LOCK) > 59000 && itest_key_int(tt.chk, "PTTL", NEW_LOCK) > 59000);
  XR_OK(xr_chat_release_lock(f.bridge, &ok, S(THREAD), S("nope")));
  assert_false(ok);
  XR_OK(xr_chat_release_lock(f.bridge, &ok, S(THREAD), lock.token, lock.token_len));
  assert_true(ok);
  assert_int_equal(itest_key_int(tt.chk, "EXISTS", OLD_LOCK) + itest_key_int(tt.chk, "EXISTS", NEW_LOCK), 0);
  /* an upstream holder's force release of its key: the bridge lock is lost, not extended */
  XR_OK(xr_chat_acquire_lock(f.bridge, &ok, &lock, S(THREAD), 30000));
  XR_OK(xr_chat_force_release_lock(f.up, S(THREAD)));
  XR_OK(xr_chat_extend_lock(f.bridge, &ok, S(THREAD), lock.token, lock.token_len, 30000));
  assert_false(ok);
  XR_OK(xr_chat_force_release_lock(f.bridge, S(THREAD)));
  assert_int_equal(itest_key_int(tt.chk, "EXISTS", NEW_LOCK), 0);
  tt_monitor_close(&m);
  fix_close(&f);
}

/* Holders of every layout against one another: the bridge excludes both, and is excluded by both. */
static void test_bridge_excludes_both_layouts(void **state) {
  (void)state;
  fixture f;
  if (!fix_open_one_node(&f)) return;
  xr_chat *holders[] = {f.up, f.tagged};
  for (size_t i = 0; i < 2; i++) {
    xr_chat_lock held, other;
    bool ok = false;
    XR_OK(xr_chat_acquire_lock(holders[i], &ok, &held, S(THREAD), 30000));
    assert_true(ok);
    XR_OK(xr_chat_acquire_lock(f.bridge, &ok, &other, S(THREAD), 30000));
    assert_false(ok); /* nothing written either */
    assert_int_equal(itest_key_int(tt.chk, "EXISTS", OLD_LOCK) + itest_key_int(tt.chk, "EXISTS", NEW_LOCK), 1);
    XR_OK(xr_chat_release_lock(holders[i], &ok, S(THREAD), held.token, held.token_len));
    XR_OK(xr_chat_acquire_lock(f.bridge, &ok, &held, S(THREAD), 30000));
    assert_true(ok);
    XR_OK(xr_chat_acquire_lock(holders[i], &ok, &other, S(THREAD), 30000));
    assert_false(ok);
    XR_OK(xr_chat_release_lock(f.bridge, &ok, S(THREAD), held.token, held.token_len));
    assert_true(ok);
  }
  fix_close(&f);
}

static void enqueue(xr_chat *s, int id) {
  char msg[32];
  snprintf(msg, sizeof msg, "{\"id\":%d}", id);
  long long now = itest_wall_ms();
  XR_OK(xr_chat_enqueue(s, NULL, S(THREAD), Z(msg), now, now + 600000, 0));
}

static int dequeued(xr_chat *s) {
  bool found = false;
  xr_chat_queue_entry e;
  XR_OK(xr_chat_dequeue(s, &found, &e, S(THREAD)));
  if (!found) return -1;
  int id = atoi(strchr(e.message, ':') + 1);
  xr_chat_queue_entry_clear(&e);
  return id;
}

/* Where entries go and where they are read from. */
static void test_bridge_queue(void **state) {
  (void)state;
  fixture f;
  if (!fix_open_one_node(&f)) return;
  xr_chat_lock lock;
  bool ok = false;
  long long n = 0;
  /* an upstream-layout holder reads the upstream queue: the entry goes there */
  XR_OK(xr_chat_acquire_lock(f.up, &ok, &lock, S(THREAD), 30000));
  enqueue(f.bridge, 1);
  assert_int_equal(itest_key_int(tt.chk, "LLEN", OLD_QUEUE), 1);
  assert_int_equal(dequeued(f.up), 1);
  XR_OK(xr_chat_release_lock(f.up, &ok, S(THREAD), lock.token, lock.token_len));
  /* a tagged-layout holder, a bridge holder, or none: the tagged queue */
  XR_OK(xr_chat_acquire_lock(f.tagged, &ok, &lock, S(THREAD), 30000));
  enqueue(f.bridge, 2);
  XR_OK(xr_chat_release_lock(f.tagged, &ok, S(THREAD), lock.token, lock.token_len));
  enqueue(f.bridge, 3);
  XR_OK(xr_chat_acquire_lock(f.bridge, &ok, &lock, S(THREAD), 30000));
  enqueue(f.bridge, 4);
  assert_int_equal(itest_key_int(tt.chk, "LLEN", NEW_QUEUE), 3);
  assert_int_equal(itest_key_int(tt.chk, "EXISTS", OLD_QUEUE), 0);
  /* entries upstream-layout writers queued while the bridge held the lock */
  enqueue(f.up, 5);
  XR_OK(xr_chat_queue_depth(f.bridge, &n, S(THREAD)));
  assert_int_equal(n, 4);
  bool released = true;
  XR_OK(xr_chat_release_lock_if_queue_empty(f.bridge, &released, &n, S(THREAD), lock.token, lock.token_len));
  assert_false(released);
  assert_int_equal(n, 4);
  /* reads: the upstream queue first, then the tagged one */
  int order[] = {5, 2, 3};
  for (size_t i = 0; i < 3; i++) assert_int_equal(dequeued(f.bridge), order[i]);
  xr_chat_queue_entry e;
  XR_OK(xr_chat_dequeue_reliable(f.bridge, &ok, &e, S(THREAD)));
  assert_true(ok);
  assert_int_equal(itest_key_int(tt.chk, "LLEN", tt_key(":queue-processing:{" THREAD "}")), 1);
  XR_OK(xr_chat_requeue_processing(f.bridge, &n, S(THREAD)));
  assert_int_equal(n, 1);
  xr_chat_queue_entry_clear(&e);
  XR_OK(xr_chat_dequeue_reliable(f.bridge, &ok, &e, S(THREAD)));
  XR_OK(xr_chat_ack(f.bridge, &ok, S(THREAD), e.raw, e.raw_len));
  assert_true(ok);
  xr_chat_queue_entry_clear(&e);
  assert_int_equal(dequeued(f.bridge), -1);
  XR_OK(xr_chat_release_lock_if_queue_empty(f.bridge, &released, &n, S(THREAD), lock.token, lock.token_len));
  assert_true(released);
  assert_int_equal(itest_key_int(tt.chk, "EXISTS", OLD_LOCK) + itest_key_int(tt.chk, "EXISTS", NEW_LOCK), 0);
  fix_close(&f);
}

/* ---- the rolling move under load ---------------------------------------------------------------- */

enum { THREADS = 3, WORKERS = 4, PER_WORKER = 150 };

typedef struct worker {
  xr_chat *s;
  int first_id;  /* messages first_id .. first_id + PER_WORKER - 1 */
  long overlaps; /* times it held a thread another holder held too */
  long handled;
  long queued;   /* messages it queued for another holder */
} worker;

static xr_client *load_client;

static void handle(worker *w, const char *tid, int id) {
  char key[160], v[16];
  snprintf(key, sizeof key, "%s:handled", tt.prefix);
  snprintf(v, sizeof v, "%d", id);
  xr_reply *r = NULL;
  XR_OK(itest_cmd(load_client, &r, "SADD", key, v, NULL));
  assert_int_equal(xr_reply_integer(r), 1); /* never handled twice */
  xr_reply_free(r);
  w->handled++;
  (void)tid;
}

/* The Chat SDK core's flow for one message: hold the thread's lock (a guard key taken with SET NX
 * while held counts two holders), handle it and whatever was queued, release; or, when another
 * holder has it, queue the message for that holder. */
static void *work(void *arg) {
  worker *w = arg;
  for (int k = 0; k < PER_WORKER; k++) {
    int id = w->first_id + k;
    char tid[32], guard[160], msg[32];
    snprintf(tid, sizeof tid, "t%d", id % THREADS);
    snprintf(guard, sizeof guard, "%s:guard:%s", tt.prefix, tid);
    xr_chat_lock lock;
    bool ok = false;
    XR_OK(xr_chat_acquire_lock(w->s, &ok, &lock, Z(tid), 30000));
    if (!ok) {
      snprintf(msg, sizeof msg, "{\"id\":%d}", id);
      long long now = itest_wall_ms();
      XR_OK(xr_chat_enqueue(w->s, NULL, Z(tid), Z(msg), now, now + 600000, 0));
      w->queued++;
      continue;
    }
    xr_reply *r = NULL;
    XR_OK(itest_cmd(load_client, &r, "SET", guard, "1", "NX", NULL));
    bool alone = xr_reply_kind(r) != XR_REPLY_NIL;
    xr_reply_free(r);
    if (!alone) w->overlaps++;
    handle(w, tid, id);
    for (;;) {
      bool found = false;
      xr_chat_queue_entry e;
      XR_OK(xr_chat_dequeue(w->s, &found, &e, Z(tid)));
      if (!found) break;
      handle(w, tid, atoi(strchr(e.message, ':') + 1));
      xr_chat_queue_entry_clear(&e);
    }
    if (alone) XR_OK(itest_cmd(load_client, NULL, "DEL", guard, NULL));
    XR_OK(xr_chat_release_lock(w->s, &ok, Z(tid), lock.token, lock.token_len));
  }
  return NULL;
}

/* WORKERS workers, half of layout a, half of layout b, at once; their overlaps. */
static long run_phase(xr_chat_layout a, xr_chat_layout b, int *next_id) {
  xr_client_options co = tt_options();
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &co));
  worker w[WORKERS];
  pthread_t th[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    w[i] = (worker){adapter(c, i % 2 ? b : a), *next_id, 0, 0, 0};
    *next_id += PER_WORKER;
  }
  for (int i = 0; i < WORKERS; i++) assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
  long overlaps = 0, queued = 0;
  for (int i = 0; i < WORKERS; i++) {
    pthread_join(th[i], NULL);
    overlaps += w[i].overlaps;
    queued += w[i].queued;
    xr_chat_free(w[i].s);
  }
  /* the queue path must have been taken, or the phase proved little */
  assert_true(queued > 0);
  print_message("layouts %d and %d: %d messages, %ld queued for another holder, %ld times two holders\n", (int)a,
                (int)b, WORKERS * PER_WORKER, queued, overlaps);
  xr_client_close(c);
  return overlaps;
}

/* Drains every thread with an adapter of `layout` (as the next message's holder would). */
static void sweep(xr_chat_layout layout) {
  xr_client_options co = tt_options();
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &co));
  worker w = {adapter(c, layout), 0, 0, 0, 0};
  for (int t = 0; t < THREADS; t++) {
    char tid[32];
    snprintf(tid, sizeof tid, "t%d", t);
    for (;;) {
      bool found = false;
      xr_chat_queue_entry e;
      XR_OK(xr_chat_dequeue(w.s, &found, &e, Z(tid)));
      if (!found) break;
      handle(&w, tid, atoi(strchr(e.message, ':') + 1));
      xr_chat_queue_entry_clear(&e);
    }
  }
  xr_chat_free(w.s);
  xr_client_close(c);
}

static long long count_keys(const char *pattern) {
  itest_lines keys = {0};
  char under[160];
  snprintf(under, sizeof under, "%s%s", tt.prefix, pattern);
  tt_keys_under(under, &keys);
  long long n = (long long)keys.n;
  itest_lines_free(&keys);
  return n;
}

static void test_rolling_move_under_load(void **state) {
  (void)state;
  xr_client_options co = tt_options();
  XR_OK(xr_client_open(&load_client, &co));
  int next_id = 0;
  /* step 1: upstream-layout instances are replaced by bridge ones: both run at once */
  assert_int_equal(run_phase(XR_CHAT_LAYOUT_UPSTREAM, XR_CHAT_LAYOUT_BRIDGE, &next_id), 0);
  /* no upstream-layout instance is left: what the bridge holders read drains the upstream queues
   * (here the next holders are bridge instances) */
  sweep(XR_CHAT_LAYOUT_BRIDGE);
  assert_int_equal(count_keys(":queue:t"), 0);
  /* step 2: bridge instances are replaced by tagged ones: both run at once */
  assert_int_equal(run_phase(XR_CHAT_LAYOUT_BRIDGE, XR_CHAT_LAYOUT_TAGGED, &next_id), 0);
  sweep(XR_CHAT_LAYOUT_TAGGED);
  /* every message handled exactly once (handle asserts the once), nothing left in any queue */
  char key[160];
  snprintf(key, sizeof key, "%s:handled", tt.prefix);
  assert_int_equal(itest_key_int(tt.chk, "SCARD", key), next_id);
  assert_int_equal(count_keys(":queue:"), 0);

  /* the move without the bridge: upstream- and tagged-layout instances side by side do hold one
   * thread twice (their locks are different keys) */
  XR_OK(itest_cmd(tt.chk, NULL, "DEL", key, NULL));
  long overlaps = 0;
  for (int round = 0; round < 20 && overlaps == 0; round++)
    overlaps = run_phase(XR_CHAT_LAYOUT_UPSTREAM, XR_CHAT_LAYOUT_TAGGED, &next_id);
  assert_true(overlaps > 0);
  xr_client_close(load_client);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TT_TEST(test_bridge_lock_wire),
      TT_TEST(test_bridge_excludes_both_layouts),
      TT_TEST(test_bridge_queue),
  };
  const struct CMUnitTest standalone[] = {TT_TEST(test_rolling_move_under_load)};
  return tt_run("chat bridge layout", tests, sizeof tests / sizeof tests[0], standalone, 1);
}
