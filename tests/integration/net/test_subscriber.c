/* The subscriber (subscriber.h) on every topology: messages of the channels subscribed (and not of
 * others) through the pollable; a server restart ends the connection, which comes back and
 * subscribes again; on the Cluster a plain subscription hears a PUBLISH sent to any master and a
 * sharded one hears SPUBLISH on each slot's master; on a Sentinel set the subscriber follows a
 * failover to the new master (a private set: the test kills the old master). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "crossredis/subscriber.h"
#include "itest.h"
#include "topology.h"

/* Drives the subscriber's pollable until `want` messages arrived (counted in got[], by the
 * channel's last character '0'..'9') or 10 s passed. */
static void receive(xr_subscriber *s, int want, int *got, const char *payload) {
  xr_pollable *p = xr_subscriber_pollable(s);
  long long end = itest_now_ms() + 10000;
  int n = 0;
  while (n < want) {
    if (itest_now_ms() > end) fail_msg("only %d of %d messages arrived", n, want);
    int64_t deadline = xr_pollable_deadline(p);
    int timeout = 50;
    if (deadline >= 0 && deadline - xr_monotonic_ms() < timeout) timeout = (int)(deadline - xr_monotonic_ms());
    struct pollfd pfd = {xr_pollable_fd(p), POLLIN, 0};
    int ready = poll(&pfd, 1, timeout < 0 ? 0 : timeout);
    int rc = xr_pollable_process(p, ready > 0 ? XR_WAIT_READ : 0, xr_monotonic_ms());
    if (rc < 0) fail_msg("process: %s", xr_error_last()->message);
    const char *ch, *msg;
    size_t clen, mlen;
    while (xr_subscriber_next(s, &ch, &clen, &msg, &mlen) == 1) {
      if (payload) assert_true(mlen == strlen(payload) && !memcmp(msg, payload, mlen));
      got[ch[clen - 1] - '0']++;
      n++;
    }
  }
}

/* Publishes until `s` confirmed `subs` subscriptions (a subscription sent is not one made yet). */
static void settle(xr_subscriber *s, size_t subs) {
  xr_pollable *p = xr_subscriber_pollable(s);
  long long end = itest_now_ms() + 10000;
  while (xr_subscriber_confirmed(s) < subs) {
    if (itest_now_ms() > end) fail_msg("%zu of %zu subscriptions confirmed", xr_subscriber_confirmed(s), subs);
    struct pollfd pfd = {xr_pollable_fd(p), POLLIN, 0};
    int ready = poll(&pfd, 1, 20);
    assert_true(xr_pollable_process(p, ready > 0 ? XR_WAIT_READ : 0, xr_monotonic_ms()) >= 0);
  }
}

static void publish(xr_client *c, const char *verb, const char *channel, const char *msg) {
  const char *argv[] = {verb, channel, msg};
  XR_OK(xr_client_command(c, NULL, 3, argv, NULL));
}

static void test_standalone_and_restart(void **state) {
  (void)state;
  xrt_server *srv;
  assert_int_equal(itest_start(&srv, NULL), 0);
  xr_client_options o = itest_options(srv);
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  xr_subscriber *s;
  XR_OK(xr_subscriber_new(&s, c, NULL));
  XR_OK(xr_subscriber_subscribe(s, "sub:0", 5));
  XR_OK(xr_subscriber_subscribe(s, "sub:1", 5));
  XR_OK(xr_subscriber_subscribe(s, "sub:1", 5)); /* twice: one subscription */
  XR_FAILS(xr_subscriber_subscribe(s, "", 0), XR_EINVAL, "1 to 65536 bytes");
  settle(s, 2);
  publish(c, "PUBLISH", "sub:0", "hello");
  publish(c, "PUBLISH", "sub:2", "not ours");
  publish(c, "PUBLISH", "sub:1", "hello");
  int got[10] = {0};
  receive(s, 2, got, "hello");
  assert_int_equal(got[0], 1);
  assert_int_equal(got[1], 1);
  XR_OK(xr_subscriber_unsubscribe(s, "sub:0", 5));
  /* the server goes away and comes back: the subscriber connects and subscribes again */
  char err[XRT_ERR_SIZE];
  assert_int_equal(xrt_server_restart(srv, err), 0);
  long long end = itest_now_ms() + 10000;
  while (xr_subscriber_reconnects(s) == 0 || xr_subscriber_confirmed(s) < 1) {
    if (itest_now_ms() > end) fail_msg("no reconnect");
    struct pollfd pfd = {xr_pollable_fd(xr_subscriber_pollable(s)), POLLIN, 0};
    int ready = poll(&pfd, 1, 20);
    xr_pollable_process(xr_subscriber_pollable(s), ready > 0 ? XR_WAIT_READ : 0, xr_monotonic_ms());
  }
  for (int tries = 0; tries < 50; tries++) {
    if (xr_client_ping(c) == 0) break;
    usleep(20000);
  }
  publish(c, "PUBLISH", "sub:0", "after");
  publish(c, "PUBLISH", "sub:1", "after");
  memset(got, 0, sizeof got);
  receive(s, 1, got, "after");
  assert_int_equal(got[1], 1);
  assert_int_equal(got[0], 0); /* unsubscribed before the restart: not subscribed again */
  xr_subscriber_free(s);
  xr_client_close(c);
  xrt_server_free(srv);
}

static void test_cluster_plain_and_sharded(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE];
  xrt_topology *t;
  if (xrt_topology_get(&t, XRT_TOPOLOGY_CLUSTER, err) != 0) fail_msg("cluster: %s", err);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.topology = XR_TOPOLOGY_CLUSTER;
  o.nodes = xrt_topology_seeds(t);
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  char name[10][32];
  for (int i = 0; i < 10; i++) snprintf(name[i], sizeof name[i], "t-subscriber-%d:%d", getpid(), i);
  /* plain: one connection hears a PUBLISH whichever master took it */
  xr_subscriber *s;
  XR_OK(xr_subscriber_new(&s, c, NULL));
  for (int i = 0; i < 10; i++) XR_OK(xr_subscriber_subscribe(s, name[i], strlen(name[i])));
  settle(s, 10);
  for (int i = 0; i < 10; i++) publish(c, "PUBLISH", name[i], "plain");
  int got[10] = {0};
  receive(s, 10, got, "plain");
  for (int i = 0; i < 10; i++) assert_int_equal(got[i], 1);
  xr_subscriber_free(s);
  /* sharded: each channel on its slot's master, SPUBLISH routed by the channel's slot */
  xr_subscriber_options so = XR_SUBSCRIBER_OPTIONS_INIT;
  so.sharded = 1;
  XR_OK(xr_subscriber_new(&s, c, &so));
  for (int i = 0; i < 10; i++) XR_OK(xr_subscriber_subscribe(s, name[i], strlen(name[i])));
  settle(s, 10);
  for (int i = 0; i < 10; i++) publish(c, "SPUBLISH", name[i], "sharded");
  memset(got, 0, sizeof got);
  receive(s, 10, got, "sharded");
  for (int i = 0; i < 10; i++) assert_int_equal(got[i], 1);
  xr_subscriber_free(s);
  xr_client_close(c);
  xrt_topology_free(t);
}

/* A private Sentinel set: the test fails it over and kills the old master. */
static void test_sentinel_follows_failover(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE];
  xrt_sentinel *set;
  if (xrt_sentinel_start(&set, NULL, err) != 0) fail_msg("sentinel: %s", err);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.topology = XR_TOPOLOGY_SENTINEL;
  o.nodes = xrt_sentinel_seeds(set);
  o.master_name = xrt_sentinel_master_name(set);
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  xr_subscriber *s;
  XR_OK(xr_subscriber_new(&s, c, NULL));
  XR_OK(xr_subscriber_subscribe(s, "fo:0", 4));
  settle(s, 1);
  publish(c, "PUBLISH", "fo:0", "before");
  int got[10] = {0};
  receive(s, 1, got, "before");
  int old = xrt_sentinel_master_index(set, err);
  assert_true(old >= 0);
  int now;
  if (xrt_sentinel_failover(set, &now, err) != 0) fail_msg("failover: %s", err);
  xrt_sentinel_kill_node(set, (size_t)old);
  /* the client learns the new master (a re-discovery after a failed call, or the watch) */
  long long end = itest_now_ms() + 15000;
  for (;;) {
    const char *argv[] = {"PUBLISH", "fo:0", "after"};
    xr_reply *r = NULL;
    if (xr_client_command(c, &r, 3, argv, NULL) == 0) {
      long long listeners = xr_reply_integer(r);
      xr_reply_free(r);
      if (listeners >= 1) break; /* the subscriber moved over and subscribed there */
    }
    if (itest_now_ms() > end) fail_msg("the subscriber never reached the new master");
    struct pollfd pfd = {xr_pollable_fd(xr_subscriber_pollable(s)), POLLIN, 0};
    int ready = poll(&pfd, 1, 50);
    xr_pollable_process(xr_subscriber_pollable(s), ready > 0 ? XR_WAIT_READ : 0, xr_monotonic_ms());
  }
  memset(got, 0, sizeof got);
  receive(s, 1, got, "after");
  assert_true(xr_subscriber_reconnects(s) >= 1);
  xr_subscriber_free(s);
  xr_client_close(c);
  xrt_sentinel_free(set);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_standalone_and_restart),
      cmocka_unit_test(test_cluster_plain_and_sharded),
      cmocka_unit_test(test_sentinel_follows_failover),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
