/* Failovers under Chat SDK load (load.h: 4 threads of lock cycles, a contended lock and a shared
 * queue on one client), on private topologies (this process fails them over and kills their
 * nodes):
 *   - a Sentinel set: SENTINEL FAILOVER, then kill -9 of the new master; once as upstream
 *     writes, once with min_replicas = 1 (how many acquires XR_ENOREPLICAS refused is printed);
 *   - a Cluster (3 masters, a replica each): CLUSTER FAILOVER on the replica of the master that
 *     holds the contended lock, then kill -9 of the master that holds the queue.
 * Asserted: every call succeeds or fails with an XR_E* code of the topology (connection lost,
 * timeout, READONLY, no master, cluster down, no replicas) and a message, none hangs, never two
 * holders of one lock among acknowledged acquires and no queue entry dequeued twice, except in
 * the windows where an uncoordinated failover loses acknowledged writes (SENTINEL FAILOVER, whose
 * old master takes writes until demoted, and kill -9: asynchronous replication; load.h), where
 * they are counted and printed; and service back at the end (calls succeed in the last second).
 * The coordinated CLUSTER FAILOVER gets no such window. Printed: the calls by outcome (each code's
 * first message), the longest time without a successful call, and for min_replicas = 1 how many
 * acquires and extends XR_ENOREPLICAS refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cluster.h"
#include "crossredis/keys.h"
#include "itest.h"
#include "load.h"
#include "sentinel.h"

static xr_chat *load_chat(xr_client *c, int min_replicas) {
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = "load";
  o.min_replicas = min_replicas;
  o.min_replicas_timeout_ms = min_replicas ? 500 : 0;
  xr_chat *s;
  XR_OK(xr_chat_new(&s, c, &o));
  return s;
}

/* Service is back: a call succeeded in the last second of the run. */
static void expect_service_back(load *l, const char *what) {
  long long since = itest_now_ms() - l->last_ok_ms;
  if (since > 1000) fail_msg("%s: no call succeeded in the last %lld ms", what, since);
}

static void sentinel_failovers(int min_replicas) {
  xrt_sentinel *s;
  ERR_CHECK(xrt_sentinel_start(&s, NULL, err_));
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.topology = XR_TOPOLOGY_SENTINEL;
  o.nodes = xrt_sentinel_seeds(s);
  o.master_name = xrt_sentinel_master_name(s);
  o.connect_timeout_ms = 1000;
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  xr_chat *chat = load_chat(c, min_replicas);
  load l;
  load_start(&l, chat);
  xrt_sleep_ms(1000);
  long long t0 = itest_now_ms();
  int next, third;
  ERR_CHECK(xrt_sentinel_failover(s, &next, err_));
  long long t1 = itest_now_ms();
  xrt_sleep_ms(1000);
  xrt_sentinel_kill_node(s, (size_t)next);
  long long t2 = itest_now_ms();
  ERR_CHECK(xrt_sentinel_wait_master_change(s, next, 30000, &third, err_));
  long long t3 = itest_now_ms();
  xrt_sleep_ms(2000);
  load_stop(&l);
  load_loss_window(&l, t0, t1); /* SENTINEL FAILOVER: the old master takes writes until the client moves */
  load_loss_window(&l, t2, t3); /* kill -9: what the replica had not received */
  const char *what = min_replicas ? "sentinel, min_replicas 1" : "sentinel";
  print_message("      %s: SENTINEL FAILOVER %lld..%lld ms after the load started (set whole again); kill -9 of the new "
                "master at %lld ms, a master named again at %lld ms\n", what, t0 - l.started_ms, t1 - l.started_ms,
                t2 - l.started_ms, t3 - l.started_ms);
  if (min_replicas)
    print_message("      %s: acquires and extends refused with XR_ENOREPLICAS: %lld\n", what, l.errors[-XR_ENOREPLICAS]);
  expect_service_back(&l, what);
  load_report(&l, what, 0);
  load_free(&l);
  xr_chat_free(chat);
  xr_client_close(c);
  xrt_sentinel_free(s);
}

static void test_sentinel_failover_and_kill(void **state) {
  (void)state;
  sentinel_failovers(0);
}

static void test_sentinel_failover_and_kill_min_replicas(void **state) {
  (void)state;
  sentinel_failovers(1);
}

/* ---- Cluster -------------------------------------------------------------------------------------- */

/* The index of the running master node that serves `key` (its GET is not MOVED), or -1. */
static int node_serving(xrt_cluster *k, const char *key) {
  char out[512], err[XRT_ERR_SIZE];
  for (size_t i = 0; i < xrt_cluster_size(k); i++) {
    if (!xrt_server_running(xrt_cluster_node(k, i))) continue;
    xrt_endpoint e = xrt_cluster_endpoint(k, i);
    if (xrt_cli(&e, out, sizeof out, err, "ROLE", NULL) != 0 || strncmp(out, "master\n", 7) != 0) continue;
    if (xrt_cli(&e, out, sizeof out, err, "GET", key, NULL) == 0 && strncmp(out, "MOVED", 5) != 0) return (int)i;
  }
  return -1;
}

/* The index of a running replica of node m, or -1. */
static int replica_of(xrt_cluster *k, int m) {
  char out[512], err[XRT_ERR_SIZE], port[16];
  snprintf(port, sizeof port, "\n%d\n", xrt_server_port(xrt_cluster_node(k, (size_t)m)));
  for (size_t i = 0; i < xrt_cluster_size(k); i++) {
    xrt_endpoint e = xrt_cluster_endpoint(k, i);
    if (xrt_server_running(xrt_cluster_node(k, i)) && xrt_cli(&e, out, sizeof out, err, "ROLE", NULL) == 0 &&
        strncmp(out, "slave\n", 6) == 0 && strstr(out, port))
      return (int)i;
  }
  return -1;
}

static void wait_role(xrt_cluster *k, int i, const char *role) {
  char out[512], err[XRT_ERR_SIZE];
  xrt_endpoint e = xrt_cluster_endpoint(k, (size_t)i);
  for (long long end = itest_now_ms() + 20000; itest_now_ms() < end; xrt_sleep_ms(50))
    if (xrt_cli(&e, out, sizeof out, err, "ROLE", NULL) == 0 && strncmp(out, role, strlen(role)) == 0) return;
  fail_msg("node %d never said ROLE %s", i, role);
}

static void test_cluster_failover_and_kill(void **state) {
  (void)state;
  xrt_cluster *k;
  ERR_CHECK(xrt_cluster_start(&k, 3, 1, err_));
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.topology = XR_TOPOLOGY_CLUSTER;
  o.nodes = xrt_cluster_seeds(k);
  o.connect_timeout_ms = 1000;
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  xr_chat *chat = load_chat(c, 0);
  load l;
  load_start(&l, chat);
  xrt_sleep_ms(1000);

  /* a coordinated failover: the replica of the contended lock's master takes over */
  int m = node_serving(k, "load:lock:shared");
  assert_true(m >= 0);
  int r = replica_of(k, m);
  assert_true(r >= 0);
  char out[256];
  xrt_endpoint e = xrt_cluster_endpoint(k, (size_t)r);
  long long t0 = itest_now_ms();
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "CLUSTER", "FAILOVER", NULL));
  assert_string_equal(out, "OK");
  wait_role(k, r, "master\n");
  long long t1 = itest_now_ms();
  xrt_sleep_ms(1000);

  /* kill -9 of the master that holds the queue; its replica is promoted after the node timeout */
  int q = node_serving(k, "load:queue:q");
  assert_true(q >= 0);
  int qr = replica_of(k, q);
  assert_true(qr >= 0);
  long long t2 = itest_now_ms();
  xrt_server_kill(xrt_cluster_node(k, (size_t)q));
  wait_role(k, qr, "master\n");
  ERR_CHECK(xrt_cluster_wait_ok(k, 30000, err_));
  long long t3 = itest_now_ms();
  xrt_sleep_ms(2000);
  load_stop(&l);
  load_loss_window(&l, t2, t3); /* kill -9 only: CLUSTER FAILOVER is coordinated and loses nothing */
  print_message("      cluster: CLUSTER FAILOVER %lld..%lld ms after the load started; kill -9 of a master at %lld ms, "
                "its replica promoted and the cluster ok at %lld ms\n", t0 - l.started_ms, t1 - l.started_ms,
                t2 - l.started_ms, t3 - l.started_ms);
  expect_service_back(&l, "cluster");
  load_report(&l, "cluster", 0);
  load_free(&l);
  xr_chat_free(chat);
  xr_client_close(c);
  xrt_cluster_free(k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sentinel_failover_and_kill),
      cmocka_unit_test(test_sentinel_failover_and_kill_min_replicas),
      cmocka_unit_test(test_cluster_failover_and_kill),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
