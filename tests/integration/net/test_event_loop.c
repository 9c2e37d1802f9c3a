/* Loop connections (loop.h): batches driven by an event loop, as the Node addon drives them
 * from libuv; here poll(2) plays the loop. Against a real redis-server: results equal to
 * xr_client_exec's, partial writes of a large pipeline, one batch at a time, a reply timeout, a
 * server killed mid-batch and while idle, bad arguments, the Chat SDK batch; then the same
 * connection driven only as a pollable (fd, events, deadline, process): a batch to the end, a
 * server that does not answer by the deadline, a server that closes the idle connection, the
 * writes of a large pipeline (TLS: test_tls.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>

#include <cmocka.h>

#include "crossredis/chat.h"
#include "itest.h"

static xrt_server *server;
static xr_client *checker;

static int group_setup(void **state) {
  (void)state;
  return itest_open_with_checker(&server, &checker);
}

static int group_teardown(void **state) {
  (void)state;
  xr_client_close(checker);
  xrt_server_free(server);
  return 0;
}

static int ensure_running(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE];
  if (!xrt_server_running(server) && xrt_server_restart(server, err) != 0) {
    fprintf(stderr, "restart: %s\n", err);
    return -1;
  }
  return 0;
}

static xr_client *open_client(int timeout_ms) {
  xr_client_options o = itest_options(server);
  o.command_timeout_ms = timeout_ms;
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  return c;
}

typedef struct waits {
  int reads, writes;
} waits;

static int drive(xr_loop_conn *lc, int wait, waits *w) { return itest_drive_loop(lc, wait, &w->reads, &w->writes); }

static const char *str_of(const xr_batch *b, size_t i) {
  const xr_reply *r = NULL;
  XR_OK(xr_batch_result(b, i, &r, NULL));
  return xr_reply_str(r, NULL);
}

static void test_results_equal_the_blocking_exec(void **state) {
  (void)state;
  xr_client *c = open_client(3000);
  xr_loop_conn *lc = NULL;
  XR_OK(xr_loop_conn_open(&lc, c));
  assert_true(fcntl(xr_loop_conn_fd(lc), F_GETFL) & O_NONBLOCK);
  xr_script *s = NULL;
  static const char body[] = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  XR_OK(xr_script_new(&s, body, sizeof body - 1));
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  const char *set[] = {"SET", "loop:k", "v"}, *get[] = {"GET", "loop:k"}, *bad[] = {"INCR", "loop:k"},
             *eargs[] = {"loop:n", "5"}, *missing[] = {"GET", "loop:missing"};
  assert_int_equal(xr_batch_add(b, 3, set, NULL), 0);
  assert_int_equal(xr_batch_add(b, 2, get, NULL), 1);
  assert_int_equal(xr_batch_add(b, 2, bad, NULL), 2);
  assert_int_equal(xr_batch_add_eval(b, s, 1, 2, eargs, NULL), 3);
  assert_int_equal(xr_batch_add_eval(b, s, 1, 2, eargs, NULL), 4);
  assert_int_equal(xr_batch_add(b, 2, missing, NULL), 5);
  for (int round = 0; round < 3; round++) { /* one connection, batch after batch */
    int wait = 0;
    waits w = {0, 0};
    XR_OK(xr_loop_conn_start(lc, b, &wait));
    assert_int_equal(wait, XR_WAIT_READ); /* a small batch is written at once */
    assert_true(xr_loop_conn_busy(lc));
    XR_OK(drive(lc, wait, &w));
    assert_false(xr_loop_conn_busy(lc));
    assert_string_equal(str_of(b, 0), "OK");
    assert_string_equal(str_of(b, 1), "v");
    const xr_reply *r = NULL;
    const char *msg = NULL;
    assert_int_equal(xr_batch_result(b, 2, &r, &msg), XR_ESERVER);
    assert_non_null(strstr(msg, "not an integer"));
    XR_OK(xr_batch_result(b, 3, &r, NULL));
    assert_int_equal(xr_reply_integer(r), 20 * round + 5);
    XR_OK(xr_batch_result(b, 4, &r, NULL));
    assert_int_equal(xr_reply_integer(r), 20 * round + 10);
    XR_OK(xr_batch_result(b, 5, &r, NULL));
    assert_int_equal(xr_reply_kind(r), XR_REPLY_NIL);
    XR_OK(xr_client_exec(c, b)); /* the pool's blocking path, same batch */
    XR_OK(xr_batch_result(b, 4, &r, NULL));
    assert_int_equal(xr_reply_integer(r), 20 * round + 20);
  }
  /* an idle connection woken by nothing: nothing happens */
  int wait = 1;
  XR_OK(xr_loop_conn_continue(lc, &wait));
  assert_int_equal(wait, 0);
  assert_false(xr_loop_conn_broken(lc));
  xr_batch_free(b);
  xr_script_free(s);
  xr_loop_conn_close(lc);
  xr_client_close(c);
}

static void test_large_pipeline_is_written_in_parts(void **state) {
  (void)state;
  enum { N = 512, SIZE = 64 * 1024 }; /* 32 MiB: more than the socket buffers take at once */
  xr_client *c = open_client(10000);
  xr_loop_conn *lc = NULL;
  XR_OK(xr_loop_conn_open(&lc, c));
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  itest_add_big_sets(b, "loop:big:", N, SIZE);
  itest_small_send_buffer(lc);
  int wait = 0;
  waits w = {0, 0};
  XR_OK(xr_loop_conn_start(lc, b, &wait));
  assert_int_equal(wait, XR_WAIT_WRITE);
  XR_OK(drive(lc, wait, &w));
  assert_true(w.writes >= 1);
  assert_true(w.reads >= 1);
  for (int i = 0; i < N; i++) assert_string_equal(str_of(b, (size_t)i), "OK");
  xr_reply *r = NULL;
  XR_OK(itest_cmd(checker, &r, "STRLEN", "loop:big:511", NULL));
  assert_int_equal(xr_reply_integer(r), SIZE);
  xr_reply_free(r);
  xr_batch_free(b);
  xr_loop_conn_close(lc);
  xr_client_close(c);
}

static void test_one_batch_at_a_time(void **state) {
  (void)state;
  xr_client *c = open_client(3000);
  xr_loop_conn *lc = NULL;
  XR_OK(xr_loop_conn_open(&lc, c));
  xr_batch *a = NULL, *b = NULL, *empty = NULL;
  XR_OK(xr_batch_new(&a));
  XR_OK(xr_batch_new(&b));
  XR_OK(xr_batch_new(&empty));
  const char *ping[] = {"PING"};
  xr_batch_add(a, 1, ping, NULL);
  xr_batch_add(b, 1, ping, NULL);
  int wait = 0, wait2 = 0;
  XR_OK(xr_loop_conn_start(lc, a, &wait));
  XR_FAILS(xr_loop_conn_start(lc, b, &wait2), XR_EINVAL, "another batch is running");
  const xr_reply *r = NULL;
  XR_FAILS(xr_batch_result(b, 0, &r, NULL), XR_EINVAL, "has not run");
  waits w = {0, 0};
  XR_OK(drive(lc, wait, &w));
  assert_string_equal(str_of(a, 0), "PONG");
  XR_OK(xr_loop_conn_start(lc, b, &wait2));
  XR_OK(drive(lc, wait2, &w));
  assert_string_equal(str_of(b, 0), "PONG");
  XR_OK(xr_loop_conn_start(lc, empty, &wait)); /* nothing to send: finished at once */
  assert_int_equal(wait, 0);
  assert_false(xr_loop_conn_busy(lc));
  xr_batch_free(a);
  xr_batch_free(b);
  xr_batch_free(empty);
  xr_loop_conn_close(lc);
  xr_client_close(c);
}

static void test_cancel_after_a_timeout_breaks_the_connection(void **state) {
  (void)state;
  xr_client *c = open_client(500);
  xr_loop_conn *lc = NULL;
  XR_OK(xr_loop_conn_open(&lc, c));
  XR_OK(itest_cmd(checker, NULL, "CLIENT", "PAUSE", "1500", "ALL", NULL));
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  const char *set[] = {"SET", "loop:paused", "1"};
  xr_batch_add(b, 3, set, NULL);
  xr_batch_add(b, 3, set, NULL);
  int wait = 0;
  XR_OK(xr_loop_conn_start(lc, b, &wait));
  struct pollfd p = {xr_loop_conn_fd(lc), POLLIN, 0};
  assert_int_equal(poll(&p, 1, xr_client_command_timeout_ms(c)), 0); /* the caller's deadline passes */
  xr_loop_conn_cancel(lc, XR_ETIMEOUT);
  const xr_reply *r = NULL;
  const char *msg = NULL;
  char want[96];
  snprintf(want, sizeof want, "timeout after 500 ms waiting for a reply from 127.0.0.1:%d", xrt_server_port(server));
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(xr_batch_result(b, i, &r, &msg), XR_ETIMEOUT);
    assert_string_equal(msg, want);
  }
  assert_true(xr_loop_conn_broken(lc));
  assert_false(xr_loop_conn_busy(lc));
  XR_FAILS(xr_loop_conn_start(lc, b, &wait), XR_ECLOSED, "failed earlier");
  xr_loop_conn_cancel(lc, XR_ETIMEOUT); /* nothing running: nothing happens */
  XR_OK(itest_cmd(checker, NULL, "CLIENT", "UNPAUSE", NULL));
  xr_loop_conn_close(lc);
  XR_OK(xr_client_exec(c, b)); /* the client itself is fine */
  XR_OK(xr_batch_result(b, 1, &r, NULL));
  xr_batch_free(b);
  xr_client_close(c);
}

static void test_server_killed_mid_batch_and_while_idle(void **state) {
  (void)state;
  xr_client *c = open_client(3000);
  xr_loop_conn *lc = NULL, *idle = NULL;
  XR_OK(xr_loop_conn_open(&lc, c));
  XR_OK(xr_loop_conn_open(&idle, c));
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  const char *blpop[] = {"BLPOP", "loop:nothing", "5"}, *ping[] = {"PING"};
  xr_batch_add(b, 3, blpop, NULL);
  xr_batch_add(b, 1, ping, NULL);
  int wait = 0;
  XR_OK(xr_loop_conn_start(lc, b, &wait));
  xrt_server_kill(server);
  waits w = {0, 0};
  int rc = drive(lc, wait, &w);
  assert_true(rc == XR_EIO || rc == XR_ECONNECT);
  assert_true(xr_loop_conn_broken(lc));
  const char *msg = NULL;
  const xr_reply *r = NULL;
  assert_int_equal(xr_batch_result(b, 1, &r, &msg), rc);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", xrt_server_port(server));
  assert_non_null(strstr(msg, addr));
  /* the idle one: readable (closed), continue says so */
  struct pollfd p = {xr_loop_conn_fd(idle), POLLIN, 0};
  assert_int_equal(poll(&p, 1, 5000), 1);
  XR_FAILS(xr_loop_conn_continue(idle, &wait), XR_EIO, "connection lost");
  assert_true(xr_loop_conn_broken(idle));
  xr_batch_free(b);
  xr_loop_conn_close(lc);
  xr_loop_conn_close(idle);
  xr_client_close(c);
}

static void test_chat_batch(void **state) {
  (void)state;
  xr_client *c = open_client(3000);
  xr_loop_conn *lc = NULL;
  XR_OK(xr_loop_conn_open(&lc, c));
  xr_chat *s = NULL;
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.token_prefix = "ioredis";
  XR_OK(xr_chat_new(&s, c, &o));
  xr_chat_batch *b = NULL;
  XR_OK(xr_chat_batch_new(&b, s));
  assert_int_equal(xr_chat_batch_acquire_lock(b, "loop-t", 6, 30000), 0);
  assert_int_equal(xr_chat_batch_acquire_lock(b, "loop-t", 6, 30000), 1);
  assert_int_equal(xr_chat_batch_set(b, "k", 1, "{\"a\": 1}", 8, 0), 2);
  int wait = 0;
  XR_OK(xr_chat_batch_start(b, lc, &wait));
  waits w = {0, 0};
  XR_OK(drive(lc, wait, &w));
  bool acquired = false;
  xr_chat_lock lock;
  XR_OK(xr_chat_batch_lock(b, 0, &acquired, &lock));
  assert_true(acquired);
  assert_memory_equal(lock.token, "ioredis_", 8);
  XR_OK(xr_chat_batch_lock(b, 1, &acquired, &lock));
  assert_false(acquired);
  XR_OK(xr_chat_batch_status(b, 2));
  itest_assert_get(checker, "chat-sdk:cache:k", "{\"a\":1}");
  xr_chat_batch_free(b);
  xr_chat_free(s);
  xr_loop_conn_close(lc);
  xr_client_close(c);
}

/* ---- driven as a pollable ------------------------------------------------------------------- */

static void test_pollable_runs_a_batch_to_done(void **state) {
  (void)state;
  xr_client *c = open_client(3000);
  xr_loop_conn *lc = NULL;
  XR_OK(xr_loop_conn_open(&lc, c));
  xr_pollable *p = xr_loop_conn_pollable(lc);
  assert_non_null(p);
  /* idle: watch reads (a server closing the connection), no deadline, a step does nothing */
  assert_int_equal(xr_pollable_fd(p), xr_loop_conn_fd(lc));
  assert_int_equal(xr_pollable_events(p), XR_WAIT_READ);
  assert_int_equal(xr_pollable_deadline(p), -1);
  assert_int_equal(xr_pollable_process(p, 0, xr_monotonic_ms()), XR_POLL_IDLE);
  assert_int_equal(xr_pollable_process(p, XR_WAIT_READ, xr_monotonic_ms()), XR_POLL_IDLE); /* nothing there */
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  const char *set[] = {"SET", "poll:k", "v"}, *get[] = {"GET", "poll:k"}, *bad[] = {"INCR", "poll:k"};
  xr_batch_add(b, 3, set, NULL);
  xr_batch_add(b, 2, get, NULL);
  xr_batch_add(b, 2, bad, NULL);
  for (int round = 0; round < 3; round++) {
    int wait = 0;
    int64_t before = xr_monotonic_ms();
    XR_OK(xr_loop_conn_start(lc, b, &wait));
    int64_t deadline = xr_pollable_deadline(p);
    assert_true(deadline >= before + 3000 && deadline <= xr_monotonic_ms() + 3000);
    assert_int_equal(xr_pollable_events(p), XR_WAIT_READ); /* a small batch is written at once */
    assert_int_equal(xr_pollable_process(p, 0, deadline - 1), XR_POLL_RUNNING); /* an early timer */
    assert_int_equal(itest_drive_pollable(p, NULL), XR_POLL_DONE);
    assert_false(xr_loop_conn_busy(lc));
    assert_string_equal(str_of(b, 0), "OK");
    assert_string_equal(str_of(b, 1), "v");
    const char *msg = NULL;
    assert_int_equal(xr_batch_result(b, 2, NULL, &msg), XR_ESERVER); /* an error reply is a result */
    assert_non_null(strstr(msg, "not an integer"));
    assert_int_equal(xr_pollable_events(p), XR_WAIT_READ);
    assert_int_equal(xr_pollable_deadline(p), -1);
  }
  xr_batch_free(b);
  xr_loop_conn_close(lc);
  xr_client_close(c);
}

static void test_pollable_times_out_at_the_deadline(void **state) {
  (void)state;
  xr_client *c = open_client(400);
  xr_loop_conn *lc = NULL;
  XR_OK(xr_loop_conn_open(&lc, c));
  xr_pollable *p = xr_loop_conn_pollable(lc);
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  const char *sleep[] = {"DEBUG", "SLEEP", "2"}, *ping[] = {"PING"};
  xr_batch_add(b, 3, sleep, NULL); /* the server answers nothing for 2 s */
  xr_batch_add(b, 1, ping, NULL);
  int wait = 0;
  XR_OK(xr_loop_conn_start(lc, b, &wait));
  int64_t deadline = xr_pollable_deadline(p);
  assert_true(deadline > 0);
  int rc = itest_drive_pollable(p, NULL);
  assert_true(xr_monotonic_ms() >= deadline);
  assert_int_equal(rc, XR_ETIMEOUT);
  char want[96];
  snprintf(want, sizeof want, "timeout after 400 ms waiting for a reply from 127.0.0.1:%d", xrt_server_port(server));
  assert_string_equal(xr_error_last()->message, want);
  for (size_t i = 0; i < 2; i++) {
    const char *msg = NULL;
    assert_int_equal(xr_batch_result(b, i, NULL, &msg), XR_ETIMEOUT);
    assert_string_equal(msg, want);
  }
  /* broken for good: nothing to watch, and a step says so */
  assert_true(xr_loop_conn_broken(lc));
  assert_false(xr_loop_conn_busy(lc));
  assert_int_equal(xr_pollable_fd(p), -1);
  assert_int_equal(xr_pollable_events(p), 0);
  assert_int_equal(xr_pollable_deadline(p), -1);
  XR_FAILS(xr_pollable_process(p, XR_WAIT_READ, xr_monotonic_ms()), XR_ECLOSED, "failed earlier");
  xr_batch_free(b);
  xr_loop_conn_close(lc);
  xr_client_close(c);
}

static void test_pollable_notices_a_closed_idle_connection(void **state) {
  (void)state;
  xr_client *c = open_client(3000);
  xr_loop_conn *lc = NULL;
  XR_OK(xr_loop_conn_open(&lc, c));
  xr_pollable *p = xr_loop_conn_pollable(lc);
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  const char *id[] = {"CLIENT", "ID"};
  xr_batch_add(b, 2, id, NULL);
  int wait = 0;
  XR_OK(xr_loop_conn_start(lc, b, &wait));
  assert_int_equal(itest_drive_pollable(p, NULL), XR_POLL_DONE);
  const xr_reply *r = NULL;
  XR_OK(xr_batch_result(b, 0, &r, NULL));
  char idtext[32];
  snprintf(idtext, sizeof idtext, "%lld", xr_reply_integer(r));
  XR_OK(itest_cmd(checker, NULL, "CLIENT", "KILL", "ID", idtext, NULL));
  assert_int_equal(xr_pollable_deadline(p), -1); /* idle: only the descriptor can wake the loop */
  XR_FAILS(itest_drive_pollable(p, NULL), XR_EIO, "connection lost");
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", xrt_server_port(server));
  assert_non_null(strstr(xr_error_last()->message, addr));
  assert_true(xr_loop_conn_broken(lc));
  assert_int_equal(xr_pollable_fd(p), -1);
  assert_int_equal(xr_pollable_events(p), 0);
  XR_FAILS(xr_loop_conn_start(lc, b, &wait), XR_ECLOSED, "failed earlier");
  xr_batch_free(b);
  xr_loop_conn_close(lc);
  xr_client_close(c);
}

static void test_pollable_watches_writes_of_a_large_pipeline(void **state) {
  (void)state;
  enum { N = 128, SIZE = 64 * 1024 }; /* 8 MiB through a 4 KiB send buffer */
  xr_client *c = open_client(10000);
  xr_loop_conn *lc = NULL;
  XR_OK(xr_loop_conn_open(&lc, c));
  xr_pollable *p = xr_loop_conn_pollable(lc);
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  itest_add_big_sets(b, "poll:big:", N, SIZE);
  itest_small_send_buffer(lc);
  int wait = 0;
  XR_OK(xr_loop_conn_start(lc, b, &wait));
  assert_int_equal(wait, XR_WAIT_WRITE);
  assert_int_equal(xr_pollable_events(p), XR_WAIT_READ | XR_WAIT_WRITE); /* replies may come back meanwhile */
  int write_steps = 0;
  assert_int_equal(itest_drive_pollable(p, &write_steps), XR_POLL_DONE);
  assert_true(write_steps >= 1);
  assert_int_equal(xr_pollable_events(p), XR_WAIT_READ);
  for (int i = 0; i < N; i++) assert_string_equal(str_of(b, (size_t)i), "OK");
  xr_reply *r = NULL;
  XR_OK(itest_cmd(checker, &r, "STRLEN", "poll:big:127", NULL));
  assert_int_equal(xr_reply_integer(r), SIZE);
  xr_reply_free(r);
  xr_batch_free(b);
  xr_loop_conn_close(lc);
  xr_client_close(c);
}

static void test_bad_arguments(void **state) {
  (void)state;
  xr_loop_conn *lc = (xr_loop_conn *)1;
  XR_FAILS(xr_loop_conn_open(&lc, NULL), XR_EINVAL, "client are required");
  assert_null(lc);
  int wait = 1;
  XR_FAILS(xr_loop_conn_start(NULL, NULL, &wait), XR_EINVAL, NULL);
  XR_FAILS(xr_loop_conn_continue(NULL, &wait), XR_EINVAL, NULL);
  assert_true(xr_loop_conn_broken(NULL));
  assert_int_equal(xr_loop_conn_fd(NULL), -1);
  xr_loop_conn_cancel(NULL, XR_ETIMEOUT);
  xr_loop_conn_close(NULL);
  assert_null(xr_loop_conn_pollable(NULL));
  assert_int_equal(xr_pollable_fd(NULL), -1);
  assert_int_equal(xr_pollable_events(NULL), 0);
  assert_int_equal(xr_pollable_deadline(NULL), -1);
  XR_FAILS(xr_pollable_process(NULL, XR_WAIT_READ, 0), XR_EINVAL, "NULL");
  /* TLS loop connections are in test_tls.c (they need the TLS server) */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_results_equal_the_blocking_exec, ensure_running),
      cmocka_unit_test_setup(test_large_pipeline_is_written_in_parts, ensure_running),
      cmocka_unit_test_setup(test_one_batch_at_a_time, ensure_running),
      cmocka_unit_test_setup(test_cancel_after_a_timeout_breaks_the_connection, ensure_running),
      cmocka_unit_test_setup(test_chat_batch, ensure_running),
      cmocka_unit_test_setup(test_pollable_runs_a_batch_to_done, ensure_running),
      cmocka_unit_test_setup(test_pollable_times_out_at_the_deadline, ensure_running),
      cmocka_unit_test_setup(test_pollable_notices_a_closed_idle_connection, ensure_running),
      cmocka_unit_test_setup(test_pollable_watches_writes_of_a_large_pipeline, ensure_running),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test_setup(test_server_killed_mid_batch_and_while_idle, ensure_running),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
