/* Failures a client must survive or report clearly: a refused connection, a server killed and
 * restarted under a pooled client, a server that never answers, a reply slower than the command
 * timeout. */
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

#include "crossredis/tls.h"
#include "itest.h"

#define POOL 4

static xrt_server *server;     /* killed and restarted by the tests */
static xrt_server *tls_server; /* the same over TLS */

static int group_setup(void **state) {
  (void)state;
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.tls = 1;
  if (itest_start(&server, NULL) != 0) return -1;
  return itest_start(&tls_server, &o);
}

static int group_teardown(void **state) {
  (void)state;
  xrt_server_free(server);
  xrt_server_free(tls_server);
  return 0;
}

/* Each test starts with the server up. */
static int ensure_running(void **state) {
  (void)state;
  if (xrt_server_running(server)) return 0;
  char err[XRT_ERR_SIZE];
  if (xrt_server_restart(server, err) == 0) return 0;
  fprintf(stderr, "restart: %s\n", err);
  return -1;
}

static void restart(void) {
  char err[XRT_ERR_SIZE];
  if (xrt_server_restart(server, err) != 0) fail_msg("restart: %s", err);
}

static xr_client *open_pooled(void) {
  xr_client_options o = itest_options(server);
  o.pool_size = POOL;
  o.connect_timeout_ms = 2000;
  o.command_timeout_ms = 2000;
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  return c;
}

static const char *address(void) {
  static char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", xrt_server_port(server));
  return addr;
}

typedef struct holder {
  xr_client *c;
  int rc;
  char message[512];
} holder;

/* Holds a pooled connection until the list res:release gets an element. */
static void *hold_connection(void *arg) {
  holder *h = arg;
  h->rc = itest_cmd(h->c, NULL, "BLPOP", "res:release", "10", NULL);
  snprintf(h->message, sizeof h->message, "%s", h->rc ? xr_error_last()->message : "");
  return NULL;
}

static int connected_clients(xr_client *c) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, "INFO", "clients", NULL));
  const char *p = strstr(xr_reply_str(r, NULL), "connected_clients:");
  assert_non_null(p);
  int n = atoi(p + strlen("connected_clients:"));
  xr_reply_free(r);
  return n;
}

/* Makes the client open all POOL connections by blocking POOL calls at once; a second client
 * watches until the server sees them all, then releases them. */
static void use_whole_pool(xr_client *c) {
  xr_client_options o = itest_options(server);
  xr_client *watch = NULL;
  XR_OK(xr_client_open(&watch, &o));
  pthread_t t[POOL];
  holder h[POOL];
  for (int i = 0; i < POOL; i++) {
    h[i].c = c;
    assert_int_equal(pthread_create(&t[i], NULL, hold_connection, &h[i]), 0);
  }
  int seen = 0;
  for (long long end = itest_now_ms() + 10000; itest_now_ms() < end; xrt_sleep_ms(5))
    if ((seen = connected_clients(watch)) >= POOL + 1) break;
  for (int i = 0; i < POOL; i++) XR_OK(itest_cmd(watch, NULL, "RPUSH", "res:release", "go", NULL));
  for (int i = 0; i < POOL; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < POOL; i++)
    if (h[i].rc != 0) fail_msg("pooled call %d: %s: %s", i, xr_error_name(h[i].rc), h[i].message);
  assert_int_equal(seen, POOL + 1);
  assert_int_equal(connected_clients(watch), POOL + 1); /* all kept open, none more */
  xr_client_close(watch);
}

static int is_connection_error(int rc) { return rc == XR_EIO || rc == XR_ECONNECT; }

/* ---- refused ---------------------------------------------------------------------------------- */

static void test_connect_refused(void **state) {
  (void)state;
  int port, fd;
  char err[XRT_ERR_SIZE];
  if (xrt_silent_listener_start(&port, &fd, err) != 0) fail_msg("%s", err);
  xrt_silent_listener_stop(fd); /* a port nobody listens on any more */
  char addr[64], url[96];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);

  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = port;
  o.connect_timeout_ms = 2000;
  xr_client *c = (xr_client *)&c;
  XR_FAILS(xr_client_open(&c, &o), XR_ECONNECT, addr);
  assert_null(c);
  assert_non_null(strstr(xr_error_last()->message, "refused"));

  snprintf(url, sizeof url, "redis://%s", addr);
  XR_FAILS(xr_client_open_url(&c, url, NULL), XR_ECONNECT, addr);
  assert_null(c);
}

/* ---- killed and restarted --------------------------------------------------------------------- */

static void test_killed_server_fails_then_recovers(void **state) {
  (void)state;
  xr_client *c = open_pooled();
  use_whole_pool(c);
  XR_OK(itest_cmd(c, NULL, "SET", "res:before", "1", NULL));

  xrt_server_kill(server);
  /* the first call finds a dead connection... */
  int rc = itest_cmd(c, NULL, "SET", "res:k", "v", NULL);
  if (!is_connection_error(rc)) fail_msg("call after kill -> %s: %s", xr_error_name(rc), xr_error_last()->message);
  assert_non_null(strstr(xr_error_last()->message, address()));
  /* ...and, with the server still down, the next one cannot connect: the stale idle connections
   * were dropped instead of failing one call each */
  XR_FAILS(itest_cmd(c, NULL, "SET", "res:k", "v", NULL), XR_ECONNECT, address());
  XR_FAILS(xr_client_ping(c), XR_ECONNECT, address());

  restart();
  /* the failures were paid while it was down: every call works now, without reopening */
  for (int i = 0; i < 20; i++) XR_OK(itest_cmd(c, NULL, "INCR", "res:n", NULL));
  itest_assert_get(c, "res:n", "20");
  itest_assert_get(c, "res:before", NULL); /* a fresh server */
  use_whole_pool(c);
  xr_client_close(c);
}

static void test_restart_costs_at_most_one_call(void **state) {
  (void)state;
  xr_client *c = open_pooled();
  use_whole_pool(c); /* four idle connections to the old process */

  xrt_server_kill(server);
  restart();
  int failures = 0, first_failure = -1, rc_failed = 0;
  char message[512] = "";
  for (int i = 0; i < 20; i++) {
    int rc = itest_cmd(c, NULL, "INCR", "res:after", NULL);
    if (rc == 0) continue;
    if (failures++ == 0) {
      first_failure = i;
      rc_failed = rc;
      snprintf(message, sizeof message, "%s", xr_error_last()->message);
    }
  }
  if (failures > 1)
    fail_msg("%d calls failed after the restart (first at %d: %s: %s)", failures, first_failure,
             xr_error_name(rc_failed), message);
  if (failures == 1) {
    assert_int_equal(first_failure, 0);
    if (!is_connection_error(rc_failed)) fail_msg("%s: %s", xr_error_name(rc_failed), message);
    assert_non_null(strstr(message, address()));
  }
  char expect[16];
  snprintf(expect, sizeof expect, "%d", 20 - failures);
  itest_assert_get(c, "res:after", expect);
  use_whole_pool(c); /* the pool fills up again */
  xr_client_close(c);
}

static void test_batch_on_killed_server(void **state) {
  (void)state;
  xr_client *c = open_pooled();
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  const char *set[3] = {"SET", "res:b", "1"};
  const char *get[2] = {"GET", "res:b"};
  xr_batch_add(b, 3, set, NULL);
  xr_batch_add(b, 2, get, NULL);
  XR_OK(xr_client_exec(c, b));

  xrt_server_kill(server);
  int rc = xr_client_exec(c, b);
  if (!is_connection_error(rc)) fail_msg("exec after kill -> %s: %s", xr_error_name(rc), xr_error_last()->message);
  for (size_t i = 0; i < 2; i++) {
    const xr_reply *r = (const xr_reply *)&r;
    const char *msg = NULL;
    assert_int_equal(xr_batch_result(b, i, &r, &msg), rc);
    assert_null(r);
    assert_non_null(msg);
    assert_non_null(strstr(msg, address()));
  }
  restart();
  XR_OK(xr_client_exec(c, b));
  const xr_reply *r = NULL;
  XR_OK(xr_batch_result(b, 1, &r, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "1");
  xr_batch_free(b);
  xr_client_close(c);
}

/* A write to a server that went away must be an error, not SIGPIPE (which would end the test
 * process): a value large enough to need several writes meets the reset connection. */
static void write_after_kill(xrt_server *s, xr_tls *tls) {
  xr_client_options o = itest_options(s);
  o.tls = tls;
  o.pool_size = 1;
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  size_t len = 8 * 1024 * 1024;
  char *big = calloc(1, len);
  assert_non_null(big);
  const char *argv[3] = {"SET", "res:big", big};
  size_t lens[3] = {3, 7, len};
  XR_OK(xr_client_command(c, NULL, 3, argv, lens));
  xrt_server_kill(s);
  for (int i = 0; i < 3; i++) {
    int rc = xr_client_command(c, NULL, 3, argv, lens);
    if (!is_connection_error(rc)) fail_msg("write %d after kill -> %s: %s", i, xr_error_name(rc), xr_error_last()->message);
  }
  free(big);
  char err[XRT_ERR_SIZE];
  if (xrt_server_restart(s, err) != 0) fail_msg("restart: %s", err);
  int failures = 0;
  for (int i = 0; i < 5; i++) failures += xr_client_ping(c) != 0;
  assert_true(failures <= 1);
  xr_client_close(c);
}

static void test_write_to_killed_server_is_an_error(void **state) {
  (void)state;
  write_after_kill(server, NULL);
}

static void test_tls_write_to_killed_server_is_an_error(void **state) {
  (void)state;
  char ca[600];
  snprintf(ca, sizeof ca, "%s/ca.crt", xrt_server_certs_dir(tls_server));
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.ca_file = ca;
  xr_tls *t = NULL;
  XR_OK(xr_tls_new(&t, &to));
  write_after_kill(tls_server, t);
  xr_tls_free(t);
}

/* ---- timeouts --------------------------------------------------------------------------------- */

static void test_silent_server_times_out(void **state) {
  (void)state;
  int port, fd;
  char err[XRT_ERR_SIZE];
  if (xrt_silent_listener_start(&port, &fd, err) != 0) fail_msg("%s", err);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = port;
  o.connect_timeout_ms = 300;
  o.command_timeout_ms = 300;
  xr_client *c = (xr_client *)&c;
  long long t0 = itest_now_ms();
  int rc = xr_client_open(&c, &o);
  long long elapsed = itest_now_ms() - t0;
  xrt_silent_listener_stop(fd);
  XR_FAILS(rc, XR_ETIMEOUT, "timeout after 300 ms");
  assert_null(c);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  assert_non_null(strstr(xr_error_last()->message, addr));
  if (elapsed > 5000) fail_msg("open took %lld ms with 300 ms timeouts", elapsed);
}

/* A listener whose accept queue is full drops new handshakes: connecting itself times out. */
static void test_connect_timeout(void **state) {
  (void)state;
  int port, fd;
  char err[XRT_ERR_SIZE];
  if (xrt_silent_listener_start(&port, &fd, err) != 0) fail_msg("%s", err);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((unsigned short)port);
  int fill[64];
  for (int i = 0; i < 64; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fill[i] >= 0);
    connect(fill[i], (struct sockaddr *)&a, sizeof a); /* EINPROGRESS once the queue is full */
  }
  xrt_sleep_ms(50);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = port;
  o.connect_timeout_ms = 300;
  o.command_timeout_ms = 300;
  xr_client *c = (xr_client *)&c;
  long long t0 = itest_now_ms();
  int rc = xr_client_open(&c, &o);
  long long elapsed = itest_now_ms() - t0;
  for (int i = 0; i < 64; i++) close(fill[i]);
  xrt_silent_listener_stop(fd);
  XR_FAILS(rc, XR_ETIMEOUT, "timeout after 300 ms");
  assert_null(c);
  print_message("full accept queue: %s\n", xr_error_last()->message);
  if (elapsed > 5000) fail_msg("open took %lld ms with 300 ms timeouts", elapsed);
}

/* A server that accepts and never answers: the whole open (TLS handshake, AUTH, PING) is bounded by
 * the connect timeout, not by a command timeout per step (20 s here, so a 5 s bound tells them
 * apart without timing anything close). */
static void open_silent(const char *password, int tls, const char *step) {
  int port, fd;
  char err[XRT_ERR_SIZE];
  if (xrt_silent_listener_start(&port, &fd, err) != 0) fail_msg("%s", err);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = port;
  o.password = password;
  o.connect_timeout_ms = 300;
  o.command_timeout_ms = 20000;
  xr_tls *t = NULL;
  if (tls) {
    xr_tls_options to = XR_TLS_OPTIONS_INIT;
    to.insecure = 1;
    XR_OK(xr_tls_new(&t, &to));
    o.tls = t;
  }
  xr_client *c = (xr_client *)&c;
  long long t0 = itest_now_ms();
  int rc = xr_client_open(&c, &o);
  long long elapsed = itest_now_ms() - t0;
  xrt_silent_listener_stop(fd);
  xr_tls_free(t);
  XR_FAILS(rc, XR_ETIMEOUT, "timeout after 300 ms opening a connection to 127.0.0.1:");
  XR_FAILS(rc, XR_ETIMEOUT, step);
  assert_null(c);
  if (password) assert_null(strstr(xr_error_last()->message, password));
  if (elapsed > 5000) fail_msg("open took %lld ms with a 300 ms connect timeout (%s)", elapsed, step);
}

static void test_open_is_bounded_by_the_connect_timeout(void **state) {
  (void)state;
  open_silent(NULL, 0, "no answer to PING");
  open_silent("s3cret-pw", 0, "no answer to AUTH");
  open_silent(NULL, 1, "TLS handshake");
}

static void test_slow_reply_times_out_and_connection_is_replaced(void **state) {
  (void)state;
  xr_client_options o = itest_options(server);
  o.pool_size = 1; /* the next call would get the same connection if it were kept */
  o.command_timeout_ms = 300;
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  long long t0 = itest_now_ms();
  /* the server holds the reply for 2 s */
  XR_FAILS(itest_cmd(c, NULL, "BLPOP", "res:empty", "2", NULL), XR_ETIMEOUT, "timeout after 300 ms");
  long long elapsed = itest_now_ms() - t0;
  if (elapsed > 1900) fail_msg("the call returned after %lld ms, with a 300 ms timeout", elapsed);
  /* the late reply must not be read as the answer to the next command */
  XR_OK(itest_cmd(c, NULL, "SET", "res:after-timeout", "fresh", NULL));
  itest_assert_get(c, "res:after-timeout", "fresh");
  /* and once the server has sent it, still not */
  int left = 2100 - (int)(itest_now_ms() - t0);
  if (left > 0) xrt_sleep_ms(left);
  itest_assert_get(c, "res:after-timeout", "fresh");
  xr_client_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_refused),
      cmocka_unit_test_setup(test_killed_server_fails_then_recovers, ensure_running),
      cmocka_unit_test_setup(test_restart_costs_at_most_one_call, ensure_running),
      cmocka_unit_test_setup(test_batch_on_killed_server, ensure_running),
      cmocka_unit_test_setup(test_write_to_killed_server_is_an_error, ensure_running),
      cmocka_unit_test(test_tls_write_to_killed_server_is_an_error),
      cmocka_unit_test(test_silent_server_times_out),
      cmocka_unit_test(test_connect_timeout),
      cmocka_unit_test(test_open_is_bounded_by_the_connect_timeout),
      cmocka_unit_test_setup(test_slow_reply_times_out_and_connection_is_replaced, ensure_running),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
