/* crossredis drain against a real redis-server: it ends as soon as the last lock of the origin
 * is gone (the test deletes them while it waits), fails at the deadline naming the threads still
 * held, leaves other runtimes' locks alone, and refuses an unknown origin. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "itest.h"
#include "clitest.h"
#include "crossredis/token.h"

static xrt_server *server;
static xr_client *chk;
static char url[128];

static int group_setup(void **state) { return (void)state, clitest_open_checker(&server, &chk, url, sizeof url); }

static int group_teardown(void **state) { return (void)state, itest_close_with_checker(server, chk), 0; }

/* Two ts-ioredis locks (t-a, t-b) and one ts-node-redis lock (t-c) under `prefix`. */
static void write_locks(const char *prefix) {
  char key[128];
  snprintf(key, sizeof key, "%s:lock:t-b", prefix);
  XR_OK(itest_cmd(chk, NULL, "SET", key, "ioredis_1700000000000_k3j4h5g6f7a", "PX", "60000", NULL));
  snprintf(key, sizeof key, "%s:lock:t-a", prefix);
  XR_OK(itest_cmd(chk, NULL, "SET", key, "ioredis_1700000000001_zz9yy8xx7w", "PX", "60000", NULL));
  snprintf(key, sizeof key, "%s:lock:t-c", prefix);
  XR_OK(itest_cmd(chk, NULL, "SET", key, "redis_1700000000000_abc123xyz4", "PX", "60000", NULL));
}

static void test_drained_while_waiting(void **state) {
  (void)state;
  write_locks("cli-drain-1");
  const char *args[] = {"drain", "--origin", "ts-ioredis", "--url", url, "--prefix", "cli-drain-1",
                        "--interval", "100", "--timeout", "60", NULL};
  clitest_proc p;
  clitest_start(&p, NULL, args);
  /* Each deletion once drain has reported the count before it. */
  clitest_wait_err(&p, "drain: 2 ts-ioredis locks left (of 3 locks) after ", 120);
  XR_OK(itest_cmd(chk, NULL, "DEL", "cli-drain-1:lock:t-a", NULL));
  clitest_wait_err(&p, "drain: 1 ts-ioredis lock left (of 2 locks) after ", 120);
  XR_OK(itest_cmd(chk, NULL, "DEL", "cli-drain-1:lock:t-b", NULL));
  clitest_result r;
  clitest_finish(&p, &r, 120);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "drain: no ts-ioredis lock left after ");
  clitest_result_free(&r);
  /* The other runtime's lock is untouched: drain only reads. */
  itest_assert_get(chk, "cli-drain-1:lock:t-c", "redis_1700000000000_abc123xyz4");
}

/* Locks deleted by another process while drain waits, as in a real migration. */
static void test_drained_by_a_forked_child(void **state) {
  (void)state;
  write_locks("cli-drain-2");
  const char *args[] = {"drain", "--origin", "ts-ioredis", "--url", url, "--prefix", "cli-drain-2", "--json", NULL};
  clitest_proc p;
  clitest_start(&p, NULL, args);
  clitest_wait_err(&p, "drain: 2 ts-ioredis locks left (of 3 locks) after ", 120);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    xrt_sleep_ms(500);
    xr_client_options o = itest_options(server);
    xr_client *c = NULL;
    int rc = xr_client_open(&c, &o);
    if (rc == 0) rc = itest_cmd(c, NULL, "DEL", "cli-drain-2:lock:t-a", "cli-drain-2:lock:t-b", NULL);
    xr_client_close(c);
    _exit(rc == 0 ? 0 : 1);
  }
  clitest_result r;
  clitest_finish(&p, &r, 120);
  int ws = 0;
  assert_int_equal(waitpid(child, &ws, 0), child);
  assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  CLITEST_STATUS(&r, 0);
  json_error_t e;
  json_t *j = json_loads(r.out, 0, &e);
  if (!j) fail_msg("drain --json printed no JSON: %s", r.out);
  assert_string_equal(json_string_value(json_object_get(j, "origin")), "ts-ioredis");
  assert_true(json_is_true(json_object_get(j, "drained")));
  assert_int_equal(json_array_size(json_object_get(j, "left")), 0);
  assert_true(json_real_value(json_object_get(j, "seconds")) >= 0.4);
  json_decref(j);
  clitest_result_free(&r);
}

static void test_deadline_passes(void **state) {
  (void)state;
  write_locks("cli-drain-3");
  clitest_result r;
  clitest_run(&r, NULL, "drain", "--origin", "ts-ioredis", "--url", url, "--prefix", "cli-drain-3", "--timeout", "1",
              NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "drain: 2 ts-ioredis locks left (of 3 locks) after ");
  CLITEST_HAS(&r, err, "drain: 2 ts-ioredis locks still held after ");
  CLITEST_HAS(&r, err, " s: t-a, t-b\n");
  double s = 0;
  assert_int_equal(sscanf(strstr(r.err, "still held after ") + 17, "%lf", &s), 1);
  assert_true(s >= 1.0); /* it waited for the deadline */
  assert_string_equal(r.out, "");
  clitest_result_free(&r);

  clitest_run(&r, NULL, "drain", "--origin", "ts-ioredis", "--url", url, "--prefix", "cli-drain-3", "--timeout", "0.3",
              "--interval", "50", "--json", NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, out, "{\"origin\":\"ts-ioredis\",\"drained\":false,\"left\":[\"t-a\",\"t-b\"],\"uncertain\":[],\"seconds\":");
  CLITEST_HAS(&r, err, " s: t-a, t-b\n");
  clitest_result_free(&r);
}

static void test_nothing_to_drain(void **state) {
  (void)state;
  write_locks("cli-drain-4");
  clitest_result r;
  clitest_run(&r, NULL, "drain", "--origin", "python-redis", "--url", url, "--prefix", "cli-drain-4", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "drain: no python-redis lock left after ");
  assert_string_equal(r.err, "");
  clitest_result_free(&r);

  /* the longest --timeout (10^7 s) and a URL without timeouts: waits are still whole ints of ms */
  char no_timeouts[200];
  snprintf(no_timeouts, sizeof no_timeouts, "%s?connect_timeout_ms=0&timeout_ms=0", url);
  clitest_run(&r, NULL, "drain", "--origin", "python-redis", "--url", no_timeouts, "--prefix", "cli-drain-4",
              "--timeout", "10000000", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "drain: no python-redis lock left after ");
  clitest_result_free(&r);

  clitest_run(&r, NULL, "drain", "--origin=ts-node-redis", "--url", url, "--prefix", "cli-drain-empty", "--json", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "{\"origin\":\"ts-node-redis\",\"drained\":true,\"left\":[],\"uncertain\":[],\"seconds\":");
  clitest_result_free(&r);
}

static void test_many_threads_listed_briefly(void **state) {
  (void)state;
  for (int i = 0; i < 25; i++) {
    char key[64];
    snprintf(key, sizeof key, "cli-drain-5:lock:t%02d", i);
    XR_OK(itest_cmd(chk, NULL, "SET", key, "redis_1700000000000_0123456789abcdef0123456789abcdee", NULL));
  }
  clitest_result r;
  clitest_run(&r, NULL, "drain", "--origin", "python-redis", "--url", url, "--prefix", "cli-drain-5", "--timeout", "0",
              NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "drain: 25 python-redis locks still held after ");
  CLITEST_HAS(&r, err, " s: t00, t01, ");
  CLITEST_HAS(&r, err, ", t19 and 5 more\n");
  clitest_result_free(&r);
}

/* A token whose shape cannot tell: an upstream-shaped token that passes crossredis's check (what the
 * Python port writes once in 256 tokens, and crossredis always). Draining either writer waits for
 * it and says the lock is only possibly that writer's; the token is a fixed vector, so nothing here
 * depends on chance. */
static const char PY_PASSING[] = "redis_1795298445478_1e5da04afffc52455cb070715847408b";
static const char PY_FAILING[] = "redis_1795298445478_1e5da04afffc52455cb070715847468d";

static void test_uncertain_origins_are_waited_for(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "SET", "cli-drain-6:lock:t-maybe", PY_PASSING, "PX", "60000", NULL));
  XR_OK(itest_cmd(chk, NULL, "SET", "cli-drain-6:lock:t-sure", PY_FAILING, "PX", "60000", NULL));
  clitest_result r;
  clitest_run(&r, NULL, "drain", "--origin", "python-redis", "--url", url, "--prefix", "cli-drain-6", "--timeout", "0",
              "--json", NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "drain: 2 python-redis locks left (of 2 locks) after ");
  CLITEST_HAS(&r, err, " s, 1 of them possibly crossredis instead\n");
  CLITEST_HAS(&r, err, " s: t-maybe, t-sure, 1 of them possibly crossredis instead: t-maybe\n");
  CLITEST_HAS(&r, out, "{\"origin\":\"python-redis\",\"drained\":false,\"left\":[\"t-maybe\",\"t-sure\"],"
                       "\"uncertain\":[\"t-maybe\"],\"seconds\":");
  clitest_result_free(&r);

  /* draining crossredis waits for the same lock, possibly the Python port's */
  clitest_run(&r, NULL, "drain", "--origin", "crossredis", "--url", url, "--prefix", "cli-drain-6", "--timeout", "0",
              NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "drain: 1 crossredis lock left (of 2 locks) after ");
  CLITEST_HAS(&r, err, " s, 1 of them possibly python-redis instead\n");
  CLITEST_HAS(&r, err, "drain: 1 crossredis lock still held after ");
  clitest_result_free(&r);

  /* a checked token of a prefix no upstream writer uses is crossredis's for certain */
  XR_OK(itest_cmd(chk, NULL, "DEL", "cli-drain-6:lock:t-maybe", NULL));
  char tok[XR_TOKEN_MAX];
  assert_true(xr_token_make(tok, sizeof tok, "myapp", 5, 1700000000000, XR_TOKEN_BASE36) > 0);
  XR_OK(itest_cmd(chk, NULL, "SET", "cli-drain-6:lock:t-mine", tok, "PX", "60000", NULL));
  clitest_run(&r, NULL, "drain", "--origin", "crossredis", "--url", url, "--prefix", "cli-drain-6", "--timeout", "0",
              NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "drain: 1 crossredis lock still held after ");
  CLITEST_HAS(&r, err, " s: t-mine\n");
  assert_null(strstr(r.err, "possibly"));
  clitest_result_free(&r);
}

/* --timeout bounds every wait: a server that accepts connections and never answers, and one that
 * stops answering mid-drain (SIGSTOP), even when the URL asks for 30 s timeouts. drain returns by
 * the deadline (plus half a second for a scan started just before it) with exit status 1; the
 * only time bound asserted is a generous 10 s, which a wait of 30 s would pass. */
static void test_timeout_bounds_a_silent_server(void **state) {
  (void)state;
  int port = 0, fd = -1;
  char err[XRT_ERR_SIZE], silent[160];
  assert_int_equal(xrt_silent_listener_start(&port, &fd, err), 0);
  snprintf(silent, sizeof silent, "redis://127.0.0.1:%d?connect_timeout_ms=30000&timeout_ms=30000", port);
  clitest_proc p;
  clitest_result r;
  const char *args[] = {"drain", "--origin", "ts-ioredis", "--url", silent, "--timeout", "2", "--json", NULL};
  clitest_start(&p, NULL, args);
  clitest_finish(&p, &r, 10);
  xrt_silent_listener_stop(fd);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "crossredis: drain: ");
  CLITEST_HAS(&r, err, "timeout");
  clitest_result_free(&r);
}

static void test_timeout_bounds_a_server_that_stops_answering(void **state) {
  (void)state;
  xrt_server *paused = NULL;
  assert_int_equal(itest_start(&paused, NULL), 0);
  xr_client *c = NULL;
  xr_client_options o = itest_options(paused);
  XR_OK(xr_client_open(&c, &o));
  XR_OK(itest_cmd(c, NULL, "SET", "cli-drain-7:lock:t-a", "ioredis_1700000000001_zz9yy8xx7w", "PX", "60000", NULL));
  xr_client_close(c);
  char u[160];
  snprintf(u, sizeof u, "%s?connect_timeout_ms=30000&timeout_ms=30000", xrt_server_url(paused));
  const char *args[] = {"drain", "--origin", "ts-ioredis", "--url", u, "--prefix", "cli-drain-7", "--timeout", "3",
                        "--interval", "50", "--json", NULL};
  clitest_proc p;
  clitest_start(&p, NULL, args);
  clitest_wait_err(&p, "drain: 1 ts-ioredis lock left (of 1 lock) after ", 60);
  assert_int_equal(kill(xrt_server_pid(paused), SIGSTOP), 0);
  clitest_result r;
  clitest_finish(&p, &r, 10);
  kill(xrt_server_pid(paused), SIGCONT);
  xrt_server_free(paused);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "drain: 1 ts-ioredis lock still held after ");
  CLITEST_HAS(&r, out, "{\"origin\":\"ts-ioredis\",\"drained\":false,\"left\":[\"t-a\"],");
  clitest_result_free(&r);
}

static void test_origin_must_be_known(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "drain", "--origin", "ts-redis", "--url", url, NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "unknown token origin \"ts-redis\"; valid names: ts-node-redis, ts-ioredis, ts-memory, ts-pg, "
                       "python-redis, python-ioredis, crossredis, unknown");
  CLITEST_HAS(&r, err, "usage: crossredis drain");
  clitest_result_free(&r);

  clitest_run(&r, NULL, "drain", "--url", url, NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--origin is required");
  clitest_result_free(&r);

  clitest_run(&r, NULL, "drain", "--origin", "crossredis", "--timeout", "-1", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--timeout wants seconds");
  clitest_result_free(&r);

  clitest_run(&r, NULL, "drain", "--origin", "crossredis", "--interval", "0", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--interval wants milliseconds");
  clitest_result_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_drained_while_waiting),
      cmocka_unit_test(test_drained_by_a_forked_child),
      cmocka_unit_test(test_deadline_passes),
      cmocka_unit_test(test_nothing_to_drain),
      cmocka_unit_test(test_many_threads_listed_briefly),
      cmocka_unit_test(test_uncertain_origins_are_waited_for),
      cmocka_unit_test(test_timeout_bounds_a_silent_server),
      cmocka_unit_test(test_timeout_bounds_a_server_that_stops_answering),
      cmocka_unit_test(test_origin_must_be_known),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
