/* One client shared by many threads (plain and TLS): 8 threads on a pool of 4, each INCRementing one shared
 * counter and writing and reading back keys of its own. Every call must succeed, every thread
 * must read its own values, the counter must be exact and the pool must stay within its size. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/tls.h"
#include "itest.h"

#define THREADS 8
#define POOL 4
#define ROUNDS 2000
#define TLS_ROUNDS 500

static xrt_server *server;
static xrt_server *tls_server;

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

typedef struct worker {
  xr_client *c;
  int id;
  int rounds;
  int errors;       /* failed calls */
  int wrong;        /* replies that were not what this thread wrote */
  char first_problem[700];
} worker;

static void note(worker *w, const char *what) {
  if (w->first_problem[0] == '\0') snprintf(w->first_problem, sizeof w->first_problem, "%s", what);
}

static void *work(void *arg) {
  worker *w = arg;
  char key[64], value[64], msg[700];
  for (int i = 0; i < w->rounds; i++) {
    int rc = itest_cmd(w->c, NULL, "INCR", "threads:counter", NULL);
    if (rc) {
      w->errors++;
      snprintf(msg, sizeof msg, "INCR: %s: %s", xr_error_name(rc), xr_error_last()->message);
      note(w, msg);
      continue;
    }
    snprintf(key, sizeof key, "threads:%d:%d", w->id, i % 50);
    snprintf(value, sizeof value, "thread %d round %d", w->id, i);
    if ((rc = itest_cmd(w->c, NULL, "SET", key, value, NULL)) != 0) {
      w->errors++;
      snprintf(msg, sizeof msg, "SET: %s: %s", xr_error_name(rc), xr_error_last()->message);
      note(w, msg);
      continue;
    }
    xr_reply *r = NULL;
    if ((rc = itest_cmd(w->c, &r, "GET", key, NULL)) != 0) {
      w->errors++;
      snprintf(msg, sizeof msg, "GET: %s: %s", xr_error_name(rc), xr_error_last()->message);
      note(w, msg);
      continue;
    }
    const char *got = xr_reply_str(r, NULL);
    if (!got || strcmp(got, value) != 0) {
      w->wrong++;
      snprintf(msg, sizeof msg, "GET %s: expected \"%s\", got \"%s\"", key, value, got ? got : "(not a string)");
      note(w, msg);
    }
    xr_reply_free(r);
  }
  return NULL;
}

/* Runs THREADS workers of `rounds` each on `c` and checks the outcome. */
static void run_workers(xr_client *c, int rounds) {
  XR_OK(itest_cmd(c, NULL, "DEL", "threads:counter", NULL));
  XR_OK(itest_cmd(c, NULL, "CONFIG", "RESETSTAT", NULL)); /* count the connections from here */

  pthread_t t[THREADS];
  worker w[THREADS];
  memset(w, 0, sizeof w);
  for (int i = 0; i < THREADS; i++) {
    w[i].c = c;
    w[i].id = i;
    w[i].rounds = rounds;
    assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < THREADS; i++)
    if (w[i].errors || w[i].wrong)
      fail_msg("thread %d: %d errors, %d wrong values; first: %s", i, w[i].errors, w[i].wrong, w[i].first_problem);

  char expect[16];
  snprintf(expect, sizeof expect, "%d", THREADS * rounds);
  itest_assert_get(c, "threads:counter", expect);

  /* the pool never held more than its size, and did not churn connections */
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, "INFO", "stats", NULL));
  const char *p = strstr(xr_reply_str(r, NULL), "total_connections_received:");
  assert_non_null(p);
  int opened = atoi(p + strlen("total_connections_received:"));
  xr_reply_free(r);
  XR_OK(itest_cmd(c, &r, "INFO", "clients", NULL));
  p = strstr(xr_reply_str(r, NULL), "connected_clients:");
  assert_non_null(p);
  int connected = atoi(p + strlen("connected_clients:"));
  xr_reply_free(r);
  if (connected > POOL || opened > POOL)
    fail_msg("pool of %d: %d connections open, %d opened in all", POOL, connected, opened);
}

static void test_threads_share_one_client(void **state) {
  (void)state;
  xr_client_options o = itest_options(server);
  o.pool_size = POOL;
  o.command_timeout_ms = 10000; /* a generous wait for a free connection under valgrind */
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  run_workers(c, ROUNDS);
  xr_client_close(c);
}

static void test_threads_share_one_tls_client(void **state) {
  (void)state;
  char ca[600];
  snprintf(ca, sizeof ca, "%s/ca.crt", xrt_server_certs_dir(tls_server));
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.ca_file = ca;
  xr_tls *t = NULL;
  XR_OK(xr_tls_new(&t, &to));
  xr_client_options o = itest_options(tls_server);
  o.pool_size = POOL;
  o.command_timeout_ms = 10000;
  o.tls = t;
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  xr_tls_free(t);
  run_workers(c, TLS_ROUNDS);
  xr_client_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_threads_share_one_client),
      cmocka_unit_test(test_threads_share_one_tls_client),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
