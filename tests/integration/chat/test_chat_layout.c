/* The Chat SDK state's opt-in tagged layout (chat.h, XR_CHAT_LAYOUT_TAGGED) on a standalone
 * server, the Sentinel set and the Cluster (topotest.h): a thread's lock, queue and processing list
 * are <prefix>:<kind>:{<thread id>}, the commands otherwise upstream's (MONITOR: the upstream
 * captures with the thread id in braces, which is also what an upstream runtime given
 * "{<thread id>}" as its id sends); the two-key scripts (release_lock_if_queue_empty,
 * dequeue_reliable, requeue_processing) run on a Cluster where upstream's layout still answers
 * CROSSSLOT; ids with braces keep one slot per thread; the options and ids the layout refuses; and
 * that the locks of the two layouts do not exclude each other (why a deployment moves as README's
 * "Chat SDK tagged layout" says); and that families/chat-tagged.json, the migration's family file,
 * describes exactly the keys each layout writes. */
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
#include "crossredis/family.h"
#include "crossredis/key_pattern.h"
#include "crossredis/keys.h"
#include "itest.h"
#include "topotest.h"

#define S(lit) lit, sizeof(lit) - 1 /* a string literal as (bytes, length) */
#define Z(str) str, strlen(str)      /* a C string as (bytes, length) */

#define THREAD "slack:C123:1700000000.000100"
#define NODE "chat-ts-node-redis.monitor.txt"

typedef struct fixture {
  xr_client *c;
  xr_chat *s;
} fixture;

static xr_chat_options layout_options(xr_chat_layout layout) {
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = tt.prefix;
  o.layout = layout;
  return o;
}

static void fix_open(fixture *f, xr_chat_layout layout) {
  xr_chat_options o = layout_options(layout);
  xr_client_options co = tt_options();
  XR_OK(xr_client_open(&f->c, &co));
  XR_OK(xr_chat_new(&f->s, f->c, &o));
}

static void fix_close(fixture *f) {
  xr_chat_free(f->s);
  xr_client_close(f->c);
}

/* The capture's lines with `from` (a quoted key's tail: ":lock:<id>\"") written as `to`. */
static void rewrite_lines(itest_lines *l, const char *from, const char *to) {
  for (size_t i = 0; i < l->n; i++) {
    char *p = strstr(l->v[i], from);
    if (!p) continue;
    size_t at = (size_t)(p - l->v[i]), fl = strlen(from), tl = strlen(to), rest = strlen(p + fl);
    char *n = malloc(at + tl + rest + 1);
    assert_non_null(n);
    memcpy(n, l->v[i], at);
    memcpy(n + at, to, tl);
    memcpy(n + at + tl, p + fl, rest + 1);
    free(l->v[i]);
    l->v[i] = n;
  }
}

/* MONITOR since the last block must be capture lines first..last of NODE with THREAD's lock and
 * queue keys tagged. */
static void expect_tagged_capture(tt_monitor *m, size_t first, size_t last, unsigned flags) {
  itest_lines got = {0}, want = {0};
  tt_monitor_collect(m, flags, &got);
  itest_capture(NODE, first, last, flags, &want);
  rewrite_lines(&want, ":lock:" THREAD "\"", ":lock:{" THREAD "}\"");
  rewrite_lines(&want, ":queue:" THREAD "\"", ":queue:{" THREAD "}\"");
  char what[160];
  snprintf(what, sizeof what, "%s lines %zu-%zu, thread keys tagged", NODE, first, last);
  itest_assert_lines(&got, &want, what);
  itest_lines_free(&got);
  itest_lines_free(&want);
}

/* The capture's lock operations (lines 5-18: acquire, a refused acquire, extend, a wrong-token
 * extend and release, release, acquire, force release), by `s` on thread `id`. */
static void lock_sequence(xr_chat *s, const char *id) {
  xr_chat_lock lock, other;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(s, &ok, &lock, Z(id), 30000));
  assert_true(ok);
  XR_OK(xr_chat_acquire_lock(s, &ok, &other, Z(id), 30000));
  assert_false(ok);
  XR_OK(xr_chat_extend_lock(s, &ok, Z(id), lock.token, lock.token_len, 30000));
  assert_true(ok);
  XR_OK(xr_chat_extend_lock(s, &ok, Z(id), S("nope"), 30000));
  assert_false(ok);
  XR_OK(xr_chat_release_lock(s, &ok, Z(id), S("nope")));
  assert_false(ok);
  XR_OK(xr_chat_release_lock(s, &ok, Z(id), lock.token, lock.token_len));
  assert_true(ok);
  XR_OK(xr_chat_acquire_lock(s, &ok, &lock, Z(id), 30000));
  assert_true(ok);
  XR_OK(xr_chat_force_release_lock(s, Z(id)));
}

/* The queue's upstream operations (capture lines 33-38 and 41-42): enqueue, depth, two dequeues. */
static void queue_sequence(xr_chat *s, const char *id, tt_monitor *m, int compare) {
  long long depth = 0, now = itest_wall_ms();
  XR_OK(xr_chat_enqueue(s, &depth, Z(id), S("{\"m\":1}"), now, now + 90000, 10));
  assert_int_equal(depth, 1);
  XR_OK(xr_chat_queue_depth(s, &depth, Z(id)));
  assert_int_equal(depth, 1);
  itest_lines got = {0};
  tt_monitor_collect(m, ITEST_MASK_MS, &got);
  assert_int_equal(got.n, 6); /* EVAL, rpush, ltrim, pexpire, llen; LLEN */
  if (compare) {
    itest_lines want = {0};
    itest_capture(NODE, 33, 38, ITEST_MASK_MS, &want);
    rewrite_lines(&want, ":queue:" THREAD "\"", ":queue:{" THREAD "}\"");
    /* the entry's text and the TTL differ from the capture's (another message, another clock):
     * the commands and keys must not */
    for (size_t i = 0; i < got.n; i++) {
      char gk[512], wk[512];
      tt_line_key(got.v[i], gk, sizeof gk);
      tt_line_key(want.v[i], wk, sizeof wk);
      assert_string_equal(gk, wk);
      /* the command and its key */
      size_t upto = (size_t)(strstr(want.v[i], wk) - want.v[i]) + strlen(wk);
      if (strncmp(got.v[i], want.v[i], upto) != 0) fail_msg("got %s\nwant %s", got.v[i], want.v[i]);
    }
    itest_lines_free(&want);
  }
  itest_lines_free(&got);
  bool found = false;
  xr_chat_queue_entry e;
  XR_OK(xr_chat_dequeue(s, &found, &e, Z(id)));
  assert_true(found);
  xr_chat_queue_entry_clear(&e);
  XR_OK(xr_chat_dequeue(s, &found, &e, Z(id)));
  assert_false(found);
  if (compare) expect_tagged_capture(m, 41, 42, 0);
}

/* Upstream's commands, each thread key with the id in braces; the same bytes as the upstream
 * layout sends for the thread id "{<id>}" (what an upstream runtime given that id writes). */
static void test_tagged_keys_on_the_wire(void **state) {
  (void)state;
  fixture f, up;
  fix_open(&f, XR_CHAT_LAYOUT_TAGGED);
  tt_monitor m;
  tt_monitor_open(&m);
  lock_sequence(f.s, THREAD);
  expect_tagged_capture(&m, 5, 18, ITEST_MASK_TOKENS);
  queue_sequence(f.s, THREAD, &m, 1);

  /* the upstream layout with "{<id>}" as the id: the same lines */
  itest_lines tagged = {0}, braced = {0}, skip = {0};
  fix_open(&up, XR_CHAT_LAYOUT_UPSTREAM);
  tt_monitor_take(&m, &skip); /* its connection's handshake */
  itest_lines_free(&skip);
  lock_sequence(f.s, THREAD);
  tt_monitor_collect(&m, ITEST_MASK_TOKENS, &tagged);
  lock_sequence(up.s, "{" THREAD "}");
  tt_monitor_collect(&m, ITEST_MASK_TOKENS, &braced);
  itest_assert_lines(&braced, &tagged, "upstream layout with {id} vs tagged layout with id");
  itest_lines_free(&tagged);
  itest_lines_free(&braced);

  /* subscriptions, cache and list keys are upstream's */
  XR_OK(xr_chat_subscribe(f.s, S(THREAD)));
  XR_OK(xr_chat_set(f.s, S("thread-state:" THREAD), S("{\"a\":1}"), 0));
  XR_OK(xr_chat_append_to_list(f.s, S("msg-history:" THREAD), S("1"), 100, 0));
  assert_int_equal(itest_key_int(tt.chk, "SCARD", tt_key(":subscriptions")), 1);
  assert_int_equal(itest_key_int(tt.chk, "EXISTS", tt_key(":cache:thread-state:" THREAD)), 1);
  assert_int_equal(itest_key_int(tt.chk, "LLEN", tt_key(":list:msg-history:" THREAD)), 1);
  tt_monitor_close(&m);
  fix_close(&up);
  fix_close(&f);
}

/* A thread id whose upstream lock and queue keys, and queue and processing-list keys, are in
 * different slots under the test's prefix (THREAD, or THREAD with zeros appended). */
static void crossslot_id(char *id, size_t size) {
  for (int zeros = 0; zeros < 16; zeros++) {
    snprintf(id, size, "%s%.*s", THREAD, zeros, "0000000000000000");
    char k[3][256];
    snprintf(k[0], sizeof k[0], "%s:lock:%s", tt.prefix, id);
    snprintf(k[1], sizeof k[1], "%s:queue:%s", tt.prefix, id);
    snprintf(k[2], sizeof k[2], "%s:queue-processing:%s", tt.prefix, id);
    unsigned q = xr_key_slot(Z(k[1]));
    if (xr_key_slot(Z(k[0])) != q && xr_key_slot(Z(k[2])) != q) return;
  }
  fail_msg("no thread id with its upstream keys in different slots under %s", tt.prefix);
}

/* The two-key operations in the tagged layout, on every topology; on a Cluster the same id in
 * upstream's layout is refused (XR_ECROSSSLOT) and nothing reaches a node. */
static void test_two_key_scripts(void **state) {
  (void)state;
  char id[64], key[256];
  crossslot_id(id, sizeof id);
  fixture f;
  tt_monitor m;
  bool b = false;
  long long n = -2, now = itest_wall_ms();
  xr_chat_queue_entry e;
  xr_chat_lock lock;
  if (tt_cluster()) {
    fix_open(&f, XR_CHAT_LAYOUT_UPSTREAM);
    tt_monitor_open(&m);
    XR_FAILS(xr_chat_release_lock_if_queue_empty(f.s, &b, &n, Z(id), S("tok")), XR_ECROSSSLOT,
             "keys in different Cluster slots");
    XR_FAILS(xr_chat_dequeue_reliable(f.s, &b, &e, Z(id)), XR_ECROSSSLOT, "keys in different Cluster slots");
    XR_FAILS(xr_chat_requeue_processing(f.s, &n, Z(id)), XR_ECROSSSLOT, "keys in different Cluster slots");
    itest_lines got = {0};
    tt_monitor_collect(&m, 0, &got);
    assert_int_equal(got.n, 0);
    itest_lines_free(&got);
    tt_monitor_close(&m);
    fix_close(&f);
  }

  fix_open(&f, XR_CHAT_LAYOUT_TAGGED);
  tt_monitor_open(&m);
  /* held, queue empty: released */
  XR_OK(xr_chat_acquire_lock(f.s, &b, &lock, Z(id), 30000));
  assert_true(b);
  XR_OK(xr_chat_release_lock_if_queue_empty(f.s, &b, &n, Z(id), lock.token, lock.token_len));
  assert_true(b);
  assert_int_equal(n, 0);
  /* held, one queued: kept */
  XR_OK(xr_chat_acquire_lock(f.s, &b, &lock, Z(id), 30000));
  XR_OK(xr_chat_enqueue(f.s, &n, Z(id), S("{\"m\":1}"), now, now + 90000, 10));
  XR_OK(xr_chat_release_lock_if_queue_empty(f.s, &b, &n, Z(id), lock.token, lock.token_len));
  assert_false(b);
  assert_int_equal(n, 1);
  snprintf(key, sizeof key, ":lock:{%s}", id);
  assert_int_equal(itest_key_int(tt.chk, "EXISTS", tt_key(key)), 1);
  /* the reliable dequeue: into the processing list, requeued, acknowledged */
  XR_OK(xr_chat_dequeue_reliable(f.s, &b, &e, Z(id)));
  assert_true(b);
  snprintf(key, sizeof key, ":queue-processing:{%s}", id);
  assert_int_equal(itest_key_int(tt.chk, "LLEN", tt_key(key)), 1);
  XR_OK(xr_chat_requeue_processing(f.s, &n, Z(id)));
  assert_int_equal(n, 1);
  xr_chat_queue_entry_clear(&e);
  XR_OK(xr_chat_dequeue_reliable(f.s, &b, &e, Z(id)));
  assert_true(b);
  XR_OK(xr_chat_ack(f.s, &b, Z(id), e.raw, e.raw_len));
  assert_true(b);
  xr_chat_queue_entry_clear(&e);
  assert_int_equal(itest_key_int(tt.chk, "EXISTS", tt_key(key)), 0);
  XR_OK(xr_chat_release_lock_if_queue_empty(f.s, &b, &n, Z(id), lock.token, lock.token_len));
  assert_true(b);

  /* MONITOR: each script names the thread's two tagged keys */
  itest_lines got = {0};
  tt_monitor_collect(&m, ITEST_MASK_TOKENS | ITEST_MASK_MS, &got);
  char want[512];
  size_t scripts = 0;
  for (size_t i = 0; i < got.n; i++) {
    if (strncmp(got.v[i], "client \"EVAL\" \"2\" ", 18) != 0) continue;
    scripts++;
    int w1 = snprintf(want, sizeof want, "client \"EVAL\" \"2\" \"chat-sdk:lock:{%s}\" \"chat-sdk:queue:{%s}\"", id, id);
    int w2 = snprintf(want + w1 + 1, sizeof want - (size_t)w1 - 1,
                      "client \"EVAL\" \"2\" \"chat-sdk:queue:{%s}\" \"chat-sdk:queue-processing:{%s}\"", id, id);
    if (strncmp(got.v[i], want, (size_t)w1) != 0 && strncmp(got.v[i], want + w1 + 1, (size_t)w2) != 0)
      fail_msg("a two-key script without the thread's tagged keys: %s", got.v[i]);
  }
  assert_int_equal(scripts, 6); /* 3 release_if_empty, 2 dequeue_reliable, 1 requeue */
  itest_lines_free(&got);

  /* in a batch too */
  xr_chat_batch *bt = NULL;
  XR_OK(xr_chat_enqueue(f.s, &n, Z(id), S("{\"m\":2}"), now, now + 90000, 10));
  XR_OK(xr_chat_batch_new(&bt, f.s));
  assert_int_equal(xr_chat_batch_dequeue_reliable(bt, Z(id)), 0);
  assert_int_equal(xr_chat_batch_queue_depth(bt, Z(id)), 1);
  XR_OK(xr_chat_batch_exec(bt));
  XR_OK(xr_chat_batch_entry(bt, 0, &b, &e));
  assert_true(b);
  assert_memory_equal(e.message, "{\"m\":2}", 7);
  xr_chat_queue_entry_clear(&e);
  XR_OK(xr_chat_batch_integer(bt, 1, &n));
  assert_int_equal(n, 0);
  xr_chat_batch_free(bt);
  tt_monitor_close(&m);
  fix_close(&f);
}

/* Braces inside an id: the tag is the id up to its first '}', the same for every kind, so a
 * thread's keys still share a slot (and its scripts run on a Cluster); an id starting with '}'
 * would make an empty tag: refused, as is an empty id. */
static void test_ids_with_braces(void **state) {
  (void)state;
  fixture f;
  fix_open(&f, XR_CHAT_LAYOUT_TAGGED);
  static const char *const ids[] = {"a}b", "x{y}z", "{room}", "t{}", "{", "a}}{{b"};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    const xr_arg a[] = {XR_ARG_OF_TEXT(ids[i], strlen(ids[i])), XR_ARG_OF_INT(30000)};
    const xr_arg q[] = {XR_ARG_OF_TEXT(ids[i], strlen(ids[i])), XR_ARG_OF_TEXT("{}", 2)};
    int slot = xr_chat_op_slot(f.s, XR_CHAT_OP_ACQUIRE_LOCK, a, 2);
    assert_true(slot >= 0);
    assert_int_equal(xr_chat_op_slot(f.s, XR_CHAT_OP_QUEUE_DEPTH, a, 1), slot);
    assert_int_equal(xr_chat_op_slot(f.s, XR_CHAT_OP_ACK, q, 2), slot);
    xr_chat_lock lock;
    bool b = false;
    long long n = -1;
    XR_OK(xr_chat_acquire_lock(f.s, &b, &lock, Z(ids[i]), 30000));
    assert_true(b);
    XR_OK(xr_chat_release_lock_if_queue_empty(f.s, &b, &n, Z(ids[i]), lock.token, lock.token_len));
    assert_true(b);
  }
  bool b = false;
  xr_chat_lock lock;
  long long n = 0;
  XR_FAILS(xr_chat_acquire_lock(f.s, &b, &lock, S("}x"), 30000), XR_EINVAL,
           "in the tagged layout a thread id may not start with '}'");
  XR_FAILS(xr_chat_enqueue(f.s, &n, S("}x"), S("1"), 0, 1, 0), XR_EINVAL, "may not start with '}'");
  XR_FAILS(xr_chat_acquire_lock(f.s, &b, &lock, S(""), 30000), XR_EINVAL, "the thread id is empty");
  const xr_arg a[] = {XR_ARG_OF_TEXT("}x", 2)};
  assert_int_equal(xr_chat_op_slot(f.s, XR_CHAT_OP_DEQUEUE, a, 1), -1);
  assert_int_equal(tt_count_keys(), 0);
  fix_close(&f);
  /* the upstream layout takes "}x" as upstream does */
  fix_open(&f, XR_CHAT_LAYOUT_UPSTREAM);
  XR_OK(xr_chat_acquire_lock(f.s, &b, &lock, S("}x"), 30000));
  assert_true(b);
  fix_close(&f);
}

/* The locks of the two layouts are different keys: an upstream-layout holder and a tagged-layout
 * holder of one thread both "hold" it. This is why a deployment never runs both at once (README,
 * "Chat SDK tagged layout"). */
static void test_layouts_do_not_exclude_each_other(void **state) {
  (void)state;
  fixture up, tg;
  fix_open(&up, XR_CHAT_LAYOUT_UPSTREAM);
  fix_open(&tg, XR_CHAT_LAYOUT_TAGGED);
  xr_chat_lock a, b;
  bool ok1 = false, ok2 = false;
  XR_OK(xr_chat_acquire_lock(up.s, &ok1, &a, S(THREAD), 30000));
  XR_OK(xr_chat_acquire_lock(tg.s, &ok2, &b, S(THREAD), 30000));
  assert_true(ok1);
  assert_true(ok2);
  assert_int_equal(itest_key_int(tt.chk, "EXISTS", tt_key(":lock:" THREAD)), 1);
  assert_int_equal(itest_key_int(tt.chk, "EXISTS", tt_key(":lock:{" THREAD "}")), 1);
  fix_close(&tg);
  fix_close(&up);
}

/* The options: layout values, a prefix with braces, an older options struct. */
static void test_layout_options(void **state) {
  (void)state;
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  assert_int_equal(o.version, 3);
  assert_int_equal(o.layout, XR_CHAT_LAYOUT_UPSTREAM);
  o.layout = (xr_chat_layout)3;
  XR_FAILS(xr_chat_options_check(&o), XR_EINVAL, "xr_chat_new: layout 3 is not UPSTREAM (0), TAGGED (1) or BRIDGE (2)");
  o.layout = XR_CHAT_LAYOUT_TAGGED;
  XR_OK(xr_chat_options_check(&o));
  o.key_prefix = "{app}";
  XR_FAILS(xr_chat_options_check(&o), XR_EINVAL, "key_prefix '{app}' holds '{'");
  o.key_prefix = "app}";
  XR_FAILS(xr_chat_options_check(&o), XR_EINVAL, "key_prefix 'app}' holds '}'");
  o.layout = XR_CHAT_LAYOUT_UPSTREAM;
  XR_OK(xr_chat_options_check(&o)); /* upstream's layout takes any prefix */

  /* a version 2 caller's struct (no layout member): the upstream layout */
  struct {
    xr_chat_options o;
    int poison;
  } v2;
  memset(&v2, 0x7f, sizeof v2);
  v2.o = (xr_chat_options)XR_CHAT_OPTIONS_INIT;
  v2.o.version = 2;
  memset((char *)&v2.o + offsetof(xr_chat_options, layout), 0x7f,
         sizeof v2 - offsetof(xr_chat_options, layout));
  XR_OK(xr_chat_options_check(&v2.o));
  xr_client_options co = tt_options();
  xr_client *c = NULL;
  xr_chat *s = NULL;
  XR_OK(xr_client_open(&c, &co));
  XR_OK(xr_chat_new(&s, c, &v2.o));
  xr_chat_lock lock;
  bool ok = false;
  XR_OK(xr_chat_acquire_lock(s, &ok, &lock, S(THREAD), 30000));
  assert_int_equal(itest_key_int(tt.chk, "EXISTS", "chat-sdk:lock:" THREAD), 1);
  xr_chat_free(s);
  xr_client_close(c);
  o.version = 4;
  XR_FAILS(xr_chat_options_check(&o), XR_EINVAL, "options version 4, expected 1..3");
}

/* families/chat-tagged.json, the migration's family file, as `crossredis migrate` loads it
 * (family.h: the shapes parse, have the same fields, never collide): each family's keys for a
 * thread id are the keys the two layouts write; every per-thread key either layout wrote is of
 * exactly one family, in the old shape for upstream's layout and the new one for the tagged
 * layout, with the thread id as its value. */
static void test_family_file(void **state) {
  (void)state;
  FILE *fp = fopen(XR_TEST_VECTORS "/../../families/chat-tagged.json", "rb");
  assert_non_null(fp);
  char text[8192];
  size_t n = fread(text, 1, sizeof text, fp);
  fclose(fp);
  xr_family **fam = NULL;
  size_t nf = 0;
  XR_OK(xr_family_load_json(&fam, &nf, text, n));
  assert_int_equal(nf, 3);
  for (size_t k = 0; k < nf; k++) {
    assert_int_equal(xr_family_field_count(fam[k]), 1);
    assert_string_equal(xr_family_field_name(fam[k], 0), "thread");
  }

  /* the keys of both layouts for a few ids (one node: upstream's two-key scripts run here) */
  static const char *const ids[] = {THREAD, "teams:19:abc@thread.tacv2", "x"};
  for (int layout = 0; layout < 2; layout++) {
    fixture f;
    fix_open(&f, layout ? XR_CHAT_LAYOUT_TAGGED : XR_CHAT_LAYOUT_UPSTREAM);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
      xr_chat_lock lock;
      bool b = false;
      xr_chat_queue_entry e;
      XR_OK(xr_chat_acquire_lock(f.s, &b, &lock, Z(ids[i]), 30000));
      XR_OK(xr_chat_enqueue(f.s, NULL, Z(ids[i]), S("1"), 1, 10000000000000, 0));
      XR_OK(xr_chat_enqueue(f.s, NULL, Z(ids[i]), S("2"), 1, 10000000000000, 0));
      XR_OK(xr_chat_dequeue_reliable(f.s, &b, &e, Z(ids[i])));
      xr_chat_queue_entry_clear(&e);
      XR_OK(xr_chat_subscribe(f.s, Z(ids[i])));
      for (size_t k = 0; k < nf; k++) { /* the family's key of this layout exists */
        xr_key_span v = {ids[i], strlen(ids[i])};
        char *keys[2] = {NULL, NULL};
        size_t lens[2];
        XR_OK(xr_family_keys(fam[k], &keys[0], &lens[0], &keys[1], &lens[1], &v, 1));
        assert_int_equal(itest_key_int(tt.chk, "EXISTS", keys[layout]), 1);
        xr_free(keys[0]);
        xr_free(keys[1]);
      }
    }
    fix_close(&f);
  }
  itest_lines keys = {0};
  tt_keys_under("chat-sdk", &keys);
  size_t per_thread = 0;
  for (size_t i = 0; i < keys.n; i++) {
    int seen = 0;
    for (size_t k = 0; k < nf; k++)
      for (int side = 0; side < 2; side++) {
        xr_key_span v;
        const xr_key_pattern *p = side ? xr_family_new_pattern(fam[k]) : xr_family_old_pattern(fam[k]);
        if (!xr_key_pattern_match(p, Z(keys.v[i]), &v)) continue;
        seen++;
        /* the value is one of the ids (a tagged key taken as old-shape would hold "{id}") */
        int known = 0;
        for (size_t j = 0; j < sizeof ids / sizeof ids[0]; j++)
          known |= v.len == strlen(ids[j]) && memcmp(v.ptr, ids[j], v.len) == 0;
        if (!known) fail_msg("%s matches %s as thread '%.*s'", keys.v[i], side ? "new" : "old", (int)v.len, v.ptr);
      }
    if (strcmp(keys.v[i], "chat-sdk:subscriptions") == 0) {
      assert_int_equal(seen, 0);
      continue;
    }
    if (seen != 1) fail_msg("%s is of %d family shapes, not one", keys.v[i], seen);
    per_thread++;
  }
  assert_int_equal(per_thread, 2 * 3 * nf);
  itest_lines_free(&keys);
  xr_family_list_free(fam, nf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TT_TEST(test_tagged_keys_on_the_wire),
      TT_TEST(test_two_key_scripts),
      TT_TEST(test_ids_with_braces),
      TT_TEST(test_layouts_do_not_exclude_each_other),
  };
  const struct CMUnitTest standalone[] = {TT_TEST(test_layout_options), TT_TEST(test_family_file)};
  return tt_run("chat layout", tests, sizeof tests / sizeof tests[0], standalone, 2);
}
