/* Faults a real redis-server does not produce on demand: a malformed reply, a reply cut off
 * mid-way, a reply nested too deep. A scripted fake server (one thread, one connection) answers
 * each request with the next scripted bytes; everything else in the suite talks to real servers. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

/* One scripted connection: reply[i] answers the i-th read; a NULL entry closes the connection. */
typedef struct fake {
  int listen_fd, port;
  const char *const *replies;
  size_t count;
  pthread_t thread;
} fake;

static void *serve(void *arg) {
  fake *f = arg;
  int fd = accept(f->listen_fd, NULL, NULL);
  if (fd < 0) return NULL;
  char buf[4096];
  size_t i = 0;
  for (; i < f->count && f->replies[i]; i++) {
    if (read(fd, buf, sizeof buf) <= 0) break;
    /* MSG_NOSIGNAL: a client that refuses a long reply closes the connection while it is sent */
    size_t n = strlen(f->replies[i]);
    if (send(fd, f->replies[i], n, MSG_NOSIGNAL) != (ssize_t)n) break;
  }
  if (i < f->count && f->replies[i] == NULL) {
    close(fd); /* scripted: hang up with the reply unfinished */
    return NULL;
  }
  /* stay until the client closes, so only the script decides what the client sees */
  while (read(fd, buf, sizeof buf) > 0) {
  }
  close(fd);
  return NULL;
}

static void fake_start(fake *f, const char *const *replies, size_t count) {
  f->replies = replies;
  f->count = count;
  f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(f->listen_fd >= 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(f->listen_fd, 4), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&a, &len), 0);
  f->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
}

static void fake_stop(fake *f) {
  pthread_join(f->thread, NULL);
  close(f->listen_fd);
}

static xr_client *open_fake(const fake *f) {
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.port = f->port;
  o.pool_size = 1;
  o.command_timeout_ms = 3000;
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o)); /* the first scripted reply answers the PING of open */
  return c;
}

static void test_malformed_reply_is_a_protocol_error(void **state) {
  (void)state;
  static const char *const script[] = {"+PONG\r\n", "@oops\r\n", "+PONG\r\n"};
  fake f;
  fake_start(&f, script, 2);
  xr_client *c = open_fake(&f);
  char addr[64];
  snprintf(addr, sizeof addr, "protocol error from 127.0.0.1:%d", f.port);
  XR_FAILS(itest_cmd(c, NULL, "GET", "k", NULL), XR_EPROTOCOL, addr);
  xr_client_close(c);
  fake_stop(&f);
}

static void test_truncated_reply_is_a_lost_connection(void **state) {
  (void)state;
  static const char *const script[] = {"+PONG\r\n", "$10\r\nabc", NULL};
  fake f;
  fake_start(&f, script, 3);
  xr_client *c = open_fake(&f);
  char addr[64];
  snprintf(addr, sizeof addr, "connection to 127.0.0.1:%d lost", f.port);
  XR_FAILS(itest_cmd(c, NULL, "GET", "k", NULL), XR_EIO, addr);
  xr_client_close(c);
  fake_stop(&f);
}

static void test_malformed_reply_in_a_batch(void **state) {
  (void)state;
  /* the whole pipeline arrives in one read; the second reply is malformed */
  static const char *const script[] = {"+PONG\r\n", ":1\r\n@oops\r\n:3\r\n"};
  fake f;
  fake_start(&f, script, 2);
  xr_client *c = open_fake(&f);
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  const char *incr[] = {"INCR", "n"};
  for (int i = 0; i < 3; i++) assert_int_equal(xr_batch_add(b, 2, incr, NULL), i);
  XR_FAILS(xr_client_exec(c, b), XR_EPROTOCOL, "protocol error");
  const xr_reply *r = NULL;
  const char *msg = NULL;
  assert_int_equal(xr_batch_result(b, 0, &r, &msg), XR_OK);
  assert_int_equal(xr_reply_integer(r), 1);
  assert_int_equal(xr_batch_result(b, 1, &r, &msg), XR_EPROTOCOL);
  assert_null(r);
  assert_non_null(strstr(msg, "protocol error"));
  assert_int_equal(xr_batch_result(b, 2, &r, &msg), XR_EPROTOCOL);
  xr_batch_free(b);
  xr_client_close(c);
  fake_stop(&f);
}

/* A fake whose reply to the first command is `levels` one-element arrays around the integer 1
 * ("*1\r\n" x levels, ":1\r\n"), and a client on it. */
typedef struct deep_fake {
  fake f;
  char *reply;
  const char *script[2];
  xr_client *c;
} deep_fake;

static void deep_start(deep_fake *d, size_t levels) {
  d->reply = malloc(levels * 4 + 5);
  assert_non_null(d->reply);
  for (size_t i = 0; i < levels; i++) memcpy(d->reply + 4 * i, "*1\r\n", 4);
  memcpy(d->reply + 4 * levels, ":1\r\n", 5);
  d->script[0] = "+PONG\r\n";
  d->script[1] = d->reply;
  fake_start(&d->f, d->script, 2);
  d->c = open_fake(&d->f);
}

static void deep_stop(deep_fake *d) {
  xr_client_close(d->c);
  fake_stop(&d->f);
  free(d->reply);
}

/* A reply nested a million levels deep (4 MB) was read whole, then crashed the process in
 * hiredis's recursive free (found by tests/fuzz/fuzz_resp). Deeper than 1000 levels is refused. */
static void deep_reply_refused(size_t levels) {
  deep_fake d;
  deep_start(&d, levels);
  char want[96];
  snprintf(want, sizeof want, "protocol error from 127.0.0.1:%d: a reply nested deeper than 1000 levels", d.f.port);
  xr_reply *r = (xr_reply *)1;
  const char *get[] = {"GET", "k"};
  XR_FAILS(xr_client_command(d.c, &r, 2, get, NULL), XR_EPROTOCOL, want);
  assert_null(r);
  deep_stop(&d);
}

static void test_million_levels_deep_reply_refused(void **state) {
  (void)state;
  deep_reply_refused(1000000);
}

static void test_one_level_too_deep_refused(void **state) {
  (void)state;
  deep_reply_refused(1001);
}

static void test_deepest_reply_read(void **state) {
  (void)state;
  deep_fake d;
  deep_start(&d, 1000);
  xr_reply *r = NULL;
  XR_OK(itest_cmd(d.c, &r, "GET", "k", NULL));
  const xr_reply *e = r;
  for (int level = 0; level < 1000; level++) {
    assert_int_equal(xr_reply_kind(e), XR_REPLY_ARRAY);
    assert_int_equal(xr_reply_count(e), 1);
    e = xr_reply_at(e, 0);
  }
  assert_int_equal(xr_reply_integer(e), 1);
  xr_reply_free(r);
  deep_stop(&d);
}

static void test_deep_reply_in_a_batch(void **state) {
  (void)state;
  deep_fake d;
  deep_start(&d, 100000);
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  const char *get[] = {"GET", "k"};
  assert_int_equal(xr_batch_add(b, 2, get, NULL), 0);
  XR_FAILS(xr_client_exec(d.c, b), XR_EPROTOCOL, "nested deeper than 1000 levels");
  const xr_reply *r = (const xr_reply *)1;
  const char *msg = NULL;
  assert_int_equal(xr_batch_result(b, 0, &r, &msg), XR_EPROTOCOL);
  assert_null(r);
  assert_non_null(strstr(msg, "nested deeper than 1000 levels"));
  xr_batch_free(b);
  deep_stop(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_malformed_reply_is_a_protocol_error),
      cmocka_unit_test(test_truncated_reply_is_a_lost_connection),
      cmocka_unit_test(test_malformed_reply_in_a_batch),
      cmocka_unit_test(test_million_levels_deep_reply_refused),
      cmocka_unit_test(test_one_level_too_deep_refused),
      cmocka_unit_test(test_deepest_reply_read),
      cmocka_unit_test(test_deep_reply_in_a_batch),
  };
  return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
