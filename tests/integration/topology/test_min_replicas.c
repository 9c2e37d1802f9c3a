/* min_replicas (chat.h, beyond upstream): a lock counts as held only once that many replicas
 * acknowledged it (WAIT on the same connection). A master with a replica: acquire and extend go
 * through, WAIT seen right behind the write. The same master asking for two replicas: the acquire
 * fails XR_ENOREPLICAS and gives the lock back (the key is gone), an extend says the lock may be
 * lost, a batch acquire says to release it (the key stays until then). Bad settings refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "crossredis/chat.h"
#include "itest.h"

typedef struct fixture {
  xrt_server *master, *replica;
  xr_client *c;
} fixture;

static int group_setup(void **state) {
  static fixture f;
  const char *master_args[] = {"--repl-diskless-sync-delay", "0", NULL}; /* the replica syncs at once */
  xrt_server_options mo = XRT_SERVER_OPTIONS_INIT;
  mo.extra_args = master_args;
  if (itest_start(&f.master, &mo) != 0) return -1;
  char port[16];
  snprintf(port, sizeof port, "%d", xrt_server_port(f.master));
  const char *args[] = {"--replicaof", "127.0.0.1", port, NULL};
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.extra_args = args;
  if (itest_start(&f.replica, &o) != 0) return -1;
  xr_client_options co = itest_options(f.master);
  if (xr_client_open(&f.c, &co) != 0) return -1;
  /* wait until the replica acknowledges writes (WAIT answers 1): it does only once in sync */
  int acked = 0;
  for (int i = 0; i < 100 && !acked; i++) {
    xr_reply *r;
    const char *set[] = {"SET", "sync-probe", "1"}, *wait[] = {"WAIT", "1", "100"};
    if (xr_client_command(f.c, NULL, 3, set, NULL) == 0 && xr_client_command(f.c, &r, 3, wait, NULL) == 0) {
      acked = xr_reply_integer(r) == 1;
      xr_reply_free(r);
    }
    if (!acked) usleep(50000);
  }
  if (!acked) {
    fprintf(stderr, "the replica never acknowledged a write\n");
    return -1;
  }
  *state = &f;
  return 0;
}

static int group_teardown(void **state) {
  fixture *f = *state;
  xr_client_close(f->c);
  xrt_server_free(f->replica);
  xrt_server_free(f->master);
  return 0;
}

static xr_chat *chat_with(fixture *f, int replicas, int timeout_ms) {
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.min_replicas = replicas;
  o.min_replicas_timeout_ms = timeout_ms;
  xr_chat *s;
  XR_OK(xr_chat_new(&s, f->c, &o));
  return s;
}

static void test_acknowledged_lock_is_held(void **state) {
  fixture *f = *state;
  xr_chat *s = chat_with(f, 1, 2000); /* generous: a loaded machine may starve the replica a while */
  itest_monitor mon;
  itest_monitor_open(&mon, f->master);
  bool ok;
  xr_chat_lock lock;
  XR_OK(xr_chat_acquire_lock(s, &ok, &lock, "t1", 2, 30000));
  assert_true(ok);
  XR_OK(xr_chat_extend_lock(s, &ok, "t1", 2, lock.token, lock.token_len, 30000));
  assert_true(ok);
  itest_lines raw = {0};
  itest_monitor_take(&mon, f->c, &raw);
  itest_monitor_close(&mon);
  /* SET ... NX, then WAIT 1 2000 on the same connection (same client address in MONITOR) */
  int set_then_wait = 0;
  for (size_t i = 0; i + 1 < raw.n; i++) {
    const char *a = strstr(raw.v[i], "\"SET\" \"chat-sdk:lock:t1\""), *w = strstr(raw.v[i + 1], "\"WAIT\" \"1\" \"2000\"");
    if (a && w) {
      const char *ca = strchr(raw.v[i], '['), *cw = strchr(raw.v[i + 1], '[');
      set_then_wait = ca && cw && strncmp(ca, cw, (size_t)(strchr(ca, ']') - ca)) == 0;
    }
  }
  itest_lines_free(&raw);
  assert_true(set_then_wait);
  /* a batch: the WAIT goes right behind the acquire, and the lock counts */
  xr_chat_batch *b;
  XR_OK(xr_chat_batch_new(&b, s));
  assert_int_equal(xr_chat_batch_acquire_lock(b, "t2", 2, 30000), 0);
  XR_OK(xr_chat_batch_exec(b));
  XR_OK(xr_chat_batch_lock(b, 0, &ok, &lock));
  assert_true(ok);
  xr_chat_batch_free(b);
  xr_chat_free(s);
}

static void test_unacknowledged_lock_is_not_held(void **state) {
  fixture *f = *state;
  xr_chat *s = chat_with(f, 2, 300); /* one replica exists: two never acknowledge */
  bool ok = true;
  xr_chat_lock lock;
  XR_FAILS(xr_chat_acquire_lock(s, &ok, &lock, "t3", 2, 30000), XR_ENOREPLICAS,
           "of 2 replicas acknowledged it within 300 ms: released, not held");
  assert_false(ok);
  xr_reply *r;
  XR_OK(itest_cmd(f->c, &r, "EXISTS", "chat-sdk:lock:t3", NULL));
  assert_int_equal(xr_reply_integer(r), 0); /* given back */
  xr_reply_free(r);
  /* a lock taken without the option, extended with it */
  xr_chat *plain = chat_with(f, 0, 0);
  XR_OK(xr_chat_acquire_lock(plain, &ok, &lock, "t4", 2, 30000));
  XR_FAILS(xr_chat_extend_lock(s, &ok, "t4", 2, lock.token, lock.token_len, 30000), XR_ENOREPLICAS,
           "extended on the master, but only");
  /* a batch cannot give it back: it says so, with the token */
  xr_chat_batch *b;
  XR_OK(xr_chat_batch_new(&b, s));
  assert_int_equal(xr_chat_batch_acquire_lock(b, "t5", 2, 30000), 0);
  XR_OK(xr_chat_batch_exec(b));
  XR_FAILS(xr_chat_batch_lock(b, 0, &ok, &lock), XR_ENOREPLICAS, "not held; release it (token redis_");
  assert_false(ok);
  xr_chat_batch_free(b);
  XR_OK(itest_cmd(f->c, &r, "EXISTS", "chat-sdk:lock:t5", NULL));
  assert_int_equal(xr_reply_integer(r), 1);
  xr_reply_free(r);
  xr_chat_free(plain);
  xr_chat_free(s);
}

static void test_bad_settings(void **state) {
  fixture *f = *state;
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  xr_chat *s = NULL;
  o.min_replicas = -1;
  XR_FAILS(xr_chat_new(&s, f->c, &o), XR_EINVAL, "min_replicas must be 0 (off) to 100, got -1");
  o.min_replicas = 1;
  o.min_replicas_timeout_ms = 3000; /* the client's command timeout is 3000 */
  XR_FAILS(xr_chat_new(&s, f->c, &o), XR_EINVAL, "must be below the client's command timeout (3000 ms)");
  assert_null(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_acknowledged_lock_is_held),
      cmocka_unit_test(test_unacknowledged_lock_is_not_held),
      cmocka_unit_test(test_bad_settings),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
