/* The client on real Sentinel sets. On the run's shared plain set (read-only use, keys of this
 * process): discovery by redis+sentinel:// and by options, landing on the node the sentinels name;
 * the ROLE check (a scripted sentinel naming a real replica is refused, the next sentinel is
 * asked); the db of the URL; an unknown master name (XR_ENOMASTER naming what each sentinel
 * said); a dead sentinel in the list skipped; replica_reads (the GETs reach the replicas, seen by
 * MONITOR on every data node). On the shared TLS set: TLS toward the sentinels set apart from TLS
 * toward the data nodes. On private sets: the sentinels' own password apart from the data nodes'
 * (requirepass + sentinel_password); the +switch-master watch (a failover with no connection
 * error: the next call reaches the new master within about a second, long before the 5 s
 * re-check); a loop connection, driven as a pollable, across SENTINEL FAILOVER and a kill -9 of
 * the master. The private sets are this process's, failed over and killed at will. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "crossredis/tls.h"
#include "fake_server.h"
#include "itest.h"
#include "sentinel.h"
#include "topology.h"

static xrt_topology *shared;   /* the plain set */
static xrt_sentinel *failover; /* a private set for failovers, started by the first test needing it */

static int group_setup(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE];
  if (xrt_topology_get(&shared, XRT_TOPOLOGY_SENTINEL, err) != 0) {
    fprintf(stderr, "no Sentinel set: %s\n", err);
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  xrt_sentinel_free(failover);
  xrt_topology_free(shared);
  return 0;
}

static xr_client_options sentinel_options(const char *seeds, const char *name) {
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.topology = XR_TOPOLOGY_SENTINEL;
  o.nodes = seeds;
  o.master_name = name;
  return o;
}

static xr_client_options shared_options(void) {
  return sentinel_options(xrt_topology_seeds(shared), xrt_topology_master_name(shared));
}

/* A key of this process. */
static const char *key(const char *what) {
  static char buf[4][128];
  static unsigned turn;
  char *b = buf[turn++ % 4];
  snprintf(b, sizeof buf[0], "xrt-sentinel-%ld:%s", (long)getpid(), what);
  return b;
}

/* The port of the data node the client's calls reach (CONFIG GET port goes to its master). */
static int client_port(xr_client *c) {
  xr_reply *r;
  XR_OK(itest_cmd(c, &r, "CONFIG", "GET", "port", NULL));
  assert_int_equal(xr_reply_count(r), 2);
  int port = atoi(xr_reply_str(xr_reply_at(r, 1), NULL));
  xr_reply_free(r);
  return port;
}

/* The master port sentinel `e` names (0 when it cannot be asked). */
static int named_port(const xrt_endpoint *e, const char *name) {
  char out[256], err[XRT_ERR_SIZE];
  if (xrt_cli(e, out, sizeof out, err, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name, NULL) != 0) return 0;
  const char *nl = strchr(out, '\n');
  return nl ? atoi(nl + 1) : 0;
}

static int shared_master_port(void) {
  xrt_endpoint e = xrt_topology_endpoint(shared, 0);
  int p = named_port(&e, xrt_topology_master_name(shared));
  assert_true(p > 0);
  return p;
}

/* The replicas the first sentinel lists (ports), from the flat SENTINEL REPLICAS output. */
static size_t shared_replica_ports(int *ports, size_t cap) {
  char out[16384];
  xrt_endpoint e = xrt_topology_endpoint(shared, 0);
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "SENTINEL", "REPLICAS", xrt_topology_master_name(shared), NULL));
  size_t n = 0;
  for (char *line = strtok(out, "\n"); line && n < cap; line = strtok(NULL, "\n")) {
    if (strcmp(line, "port") == 0) {
      char *v = strtok(NULL, "\n");
      if (v) ports[n++] = atoi(v);
    }
  }
  return n;
}

static xr_client *node_client(int port, int db) {
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = port;
  o.db = db;
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  return c;
}

/* ---- discovery ------------------------------------------------------------------------------------ */

static void check_lands_on_master(xr_client *c) {
  assert_int_equal(xr_client_topology(c), XR_TOPOLOGY_SENTINEL);
  xr_reply *r;
  XR_OK(itest_cmd(c, &r, "ROLE", NULL));
  assert_string_equal(xr_reply_str(xr_reply_at(r, 0), NULL), "master");
  xr_reply_free(r);
  assert_int_equal(client_port(c), shared_master_port());
  XR_OK(itest_cmd(c, NULL, "SET", key("found"), "yes", "PX", "60000", NULL));
  XR_OK(itest_cmd(c, &r, "GET", key("found"), NULL));
  assert_string_equal(xr_reply_str(r, NULL), "yes");
  xr_reply_free(r);
}

static void test_discovery_by_url_and_options(void **state) {
  (void)state;
  char url[512];
  snprintf(url, sizeof url, "redis+sentinel://%s/%s", xrt_topology_seeds(shared), xrt_topology_master_name(shared));
  xr_client *c;
  XR_OK(xr_client_open_url(&c, url, NULL));
  check_lands_on_master(c);
  char want[128];
  snprintf(want, sizeof want, "master '%s' of sentinels 127.0.0.1:%d", xrt_topology_master_name(shared),
           xrt_topology_seed_port(shared, 0));
  if (!strstr(xr_client_address(c), want)) fail_msg("address %s lacks %s", xr_client_address(c), want);
  xr_client_close(c);

  xr_client_options o = shared_options();
  XR_OK(xr_client_open(&c, &o));
  check_lands_on_master(c);
  xr_client_close(c);
  /* one sentinel is enough: it tells the others */
  char one[64];
  snprintf(one, sizeof one, "127.0.0.1:%d", xrt_topology_seed_port(shared, 2));
  o.nodes = one;
  XR_OK(xr_client_open(&c, &o));
  check_lands_on_master(c);
  xr_client_close(c);
}

/* A sentinel that names a replica: the client asks that node ROLE and refuses it (XR_ENOMASTER
 * saying why); with a real sentinel after it in the list, the search moves on and lands on the
 * real master. */
static void test_role_checked(void **state) {
  (void)state;
  int replicas[4];
  size_t nr = shared_replica_ports(replicas, 4);
  assert_true(nr >= 1);
  xrt_fake *fake;
  ERR_CHECK(xrt_fake_start(&fake, err_));
  char reply[256];
  assert_int_equal(xrt_fake_on(fake, "SENTINEL get-master-addr-by-name *",
                               xrt_fake_sentinel_master(reply, sizeof reply, "127.0.0.1", replicas[0])), 0);
  char seeds[512], want[128];
  snprintf(seeds, sizeof seeds, "127.0.0.1:%d", xrt_fake_port(fake));
  xr_client_options o = sentinel_options(seeds, xrt_topology_master_name(shared));
  xr_client *c = NULL;
  snprintf(want, sizeof want, "names 127.0.0.1:%d as master '%s', but: 127.0.0.1:%d says it is not a master (ROLE)",
           replicas[0], xrt_topology_master_name(shared), replicas[0]);
  XR_FAILS(xr_client_open(&c, &o), XR_ENOMASTER, want);
  assert_null(c);
  assert_int_equal(xrt_fake_count(fake, "SENTINEL get-master-addr-by-name"), 1);
  snprintf(seeds, sizeof seeds, "127.0.0.1:%d,%s", xrt_fake_port(fake), xrt_topology_seeds(shared));
  o.nodes = seeds;
  XR_OK(xr_client_open(&c, &o));
  check_lands_on_master(c);
  assert_int_equal(xrt_fake_count(fake, "SENTINEL get-master-addr-by-name"), 2);
  xr_client_close(c);
  xrt_fake_free(fake);
}

static void test_db_in_url(void **state) {
  (void)state;
  char url[512];
  snprintf(url, sizeof url, "redis+sentinel://%s/%s/5", xrt_topology_seeds(shared), xrt_topology_master_name(shared));
  xr_client *c;
  XR_OK(xr_client_open_url(&c, url, NULL));
  XR_OK(itest_cmd(c, NULL, "SET", key("db5"), "five", "PX", "60000", NULL));
  xr_client_close(c);
  xr_client *n5 = node_client(shared_master_port(), 5), *n0 = node_client(shared_master_port(), 0);
  itest_assert_get(n5, key("db5"), "five");
  itest_assert_get(n0, key("db5"), NULL);
  xr_client_close(n5);
  xr_client_close(n0);
}

static void test_unknown_master_names_each_sentinel(void **state) {
  (void)state;
  xr_client_options o = sentinel_options(xrt_topology_seeds(shared), "no-such-master");
  xr_client *c = NULL;
  XR_FAILS(xr_client_open(&c, &o), XR_ENOMASTER, "sentinel: no master 'no-such-master' found (asked 3 sentinels)");
  const char *msg = xr_error_last()->message;
  for (size_t i = 0; i < xrt_topology_seed_count(shared); i++) {
    char part[128];
    snprintf(part, sizeof part, "sentinel 127.0.0.1:%d does not know master 'no-such-master'", xrt_topology_seed_port(shared, i));
    if (!strstr(msg, part)) fail_msg("\"%s\" lacks \"%s\"", msg, part);
  }
  assert_null(c);
}

/* A closed port first in the list: refused, skipped, the next sentinel answers. All dead: the
 * error says what each refused. */
static void test_dead_sentinel_skipped(void **state) {
  (void)state;
  int dead, fd;
  ERR_CHECK(xrt_silent_listener_start(&dead, &fd, err_));
  xrt_silent_listener_stop(fd); /* the port is closed now: connection refused */
  char seeds[512];
  snprintf(seeds, sizeof seeds, "127.0.0.1:%d,%s", dead, xrt_topology_seeds(shared));
  xr_client_options o = sentinel_options(seeds, xrt_topology_master_name(shared));
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  check_lands_on_master(c);
  xr_client_close(c);
  snprintf(seeds, sizeof seeds, "127.0.0.1:%d", dead);
  c = NULL;
  char want[64];
  snprintf(want, sizeof want, "127.0.0.1:%d", dead);
  XR_FAILS(xr_client_open(&c, &o), XR_ENOMASTER, "(asked 1 sentinels)");
  if (!strstr(xr_error_last()->message, want)) fail_msg("\"%s\" does not name %s", xr_error_last()->message, want);
  assert_null(c);
}

/* ---- replica reads ------------------------------------------------------------------------------- */

/* GETs of our key seen by MONITOR on `port` since the monitor opened (up to a marker). */
static int gets_seen(itest_monitor *m, int port, const char *k) {
  xr_client *mark = node_client(port, 0);
  itest_lines raw = {0};
  itest_monitor_take(m, mark, &raw);
  xr_client_close(mark);
  char want[160];
  snprintf(want, sizeof want, "\"GET\" \"%s\"", k);
  int n = 0;
  for (size_t i = 0; i < raw.n; i++) n += strstr(raw.v[i], want) != NULL;
  itest_lines_free(&raw);
  return n;
}

static void test_replica_reads(void **state) {
  (void)state;
  int replicas[4], master = shared_master_port();
  size_t nr = shared_replica_ports(replicas, 4);
  assert_int_equal(nr, 2);
  const char *k = key("replica-read");
  xr_client *writer;
  xr_client_options o = shared_options();
  XR_OK(xr_client_open(&writer, &o));
  XR_OK(itest_cmd(writer, NULL, "SET", k, "r", "PX", "60000", NULL));
  xr_reply *w;
  XR_OK(itest_cmd(writer, &w, "WAIT", "2", "2000", NULL)); /* both replicas have it */
  xr_reply_free(w);
  itest_monitor mm, mr[2];
  itest_monitor_open_port(&mm, master);
  for (size_t i = 0; i < nr; i++) itest_monitor_open_port(&mr[i], replicas[i]);

  char url[512];
  snprintf(url, sizeof url, "redis+sentinel://%s/%s?replica_reads=true", xrt_topology_seeds(shared),
           xrt_topology_master_name(shared));
  xr_client *c;
  XR_OK(xr_client_open_url(&c, url, NULL));
  for (int i = 0; i < 20; i++) itest_assert_get(c, k, "r");
  XR_OK(itest_cmd(c, NULL, "SET", k, "w", "PX", "60000", NULL)); /* writes still go to the master */
  int on_master = gets_seen(&mm, master, k), on_replicas = 0;
  for (size_t i = 0; i < nr; i++) on_replicas += gets_seen(&mr[i], replicas[i], k);
  print_message("      replica_reads: %d GETs on the replicas, %d on the master\n", on_replicas, on_master);
  assert_int_equal(on_master, 0);
  assert_int_equal(on_replicas, 20);
  itest_assert_get(writer, k, "w");
  xr_client_close(c);

  /* off (the default): every GET on the master */
  for (int i = 0; i < 5; i++) itest_assert_get(writer, k, "w");
  assert_int_equal(gets_seen(&mm, master, k), 6);
  for (size_t i = 0; i < nr; i++) {
    assert_int_equal(gets_seen(&mr[i], replicas[i], k), 0);
    itest_monitor_close(&mr[i]);
  }
  itest_monitor_close(&mm);
  xr_client_close(writer);
}

/* ---- credentials and TLS: the sentinels' apart from the data nodes' ------------------------------ */

static void test_sentinel_password_apart(void **state) {
  (void)state;
  xrt_sentinel_options so = XRT_SENTINEL_OPTIONS_INIT;
  so.master_name = "xrmaster-pw";
  so.requirepass = "data-secret";
  so.sentinel_password = "sentinel-secret";
  xrt_sentinel *set;
  ERR_CHECK(xrt_sentinel_start(&set, &so, err_));
  xr_client_options o = sentinel_options(xrt_sentinel_seeds(set), "xrmaster-pw");
  o.password = "data-secret";
  o.sentinel_password = "sentinel-secret";
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  XR_OK(itest_cmd(c, NULL, "SET", "k", "v", NULL));
  xr_client_close(c);
  c = NULL;
  /* the sentinels' password missing: each sentinel refuses, and says so */
  o.sentinel_password = NULL;
  XR_FAILS(xr_client_open(&c, &o), XR_ENOMASTER, "NOAUTH");
  assert_null(xr_error_last()->message[0] ? strstr(xr_error_last()->message, "secret") : NULL);
  /* the data nodes' password given to the sentinels: refused there */
  o.sentinel_password = "data-secret";
  XR_FAILS(xr_client_open(&c, &o), XR_ENOMASTER, "sentinel: no master 'xrmaster-pw' found");
  /* the sentinels' password alone: the master refuses */
  o.sentinel_password = "sentinel-secret";
  o.password = NULL;
  int rc = xr_client_open(&c, &o);
  if (rc != XR_ENOMASTER && rc != XR_EAUTH) fail_msg("no data password -> %s: %s", xr_error_name(rc), xr_error_last()->message);
  if (!strstr(xr_error_last()->message, "NOAUTH") && !strstr(xr_error_last()->message, "Authentication required"))
    fail_msg("no data password: %s", xr_error_last()->message);
  assert_null(c);
  /* by URL: the userinfo is the data nodes', the query's sentinel_password the sentinels' */
  char url[512];
  snprintf(url, sizeof url, "redis+sentinel://:data-secret@%s/xrmaster-pw?sentinel_password=sentinel-secret",
           xrt_sentinel_seeds(set));
  XR_OK(xr_client_open_url(&c, url, NULL));
  itest_assert_get(c, "k", "v");
  xr_client_close(c);
  xrt_sentinel_free(set);
}

static void test_sentinel_tls_apart(void **state) {
  (void)state;
  xrt_topology *t;
  ERR_CHECK(xrt_topology_get(&t, XRT_TOPOLOGY_TLS_SENTINEL, err_));
  char ca[600];
  snprintf(ca, sizeof ca, "%s/ca.crt", xrt_topology_certs_dir(t));
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.ca_file = ca;
  xr_tls *tls;
  XR_OK(xr_tls_new(&tls, &to));
  xr_client_options o = sentinel_options(xrt_topology_seeds(t), xrt_topology_master_name(t));
  o.connect_timeout_ms = 2000;
  o.tls = tls;
  o.sentinel_tls = tls;
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  XR_OK(itest_cmd(c, NULL, "SET", key("tls"), "t", "PX", "60000", NULL));
  itest_assert_get(c, key("tls"), "t");
  xr_client_close(c);
  c = NULL;
  /* TLS to the data nodes only: the sentinels (TLS only) cannot be asked */
  o.sentinel_tls = NULL;
  XR_FAILS(xr_client_open(&c, &o), XR_ENOMASTER, "(asked 3 sentinels)");
  /* TLS to the sentinels only: they answer, the master (TLS only) cannot be reached */
  o.sentinel_tls = tls;
  o.tls = NULL;
  int rc = xr_client_open(&c, &o);
  if (rc == XR_OK) fail_msg("a plain connection to a TLS-only master worked");
  assert_true(strstr(xr_error_last()->message, "names 127.0.0.1:") != NULL);
  assert_null(c);
  /* by URL: rediss+sentinel:// is TLS both ways; sentinel_tls=false takes it off the sentinels */
  char url[1024];
  snprintf(url, sizeof url, "rediss+sentinel://%s/%s?ca_file=%s", xrt_topology_seeds(t), xrt_topology_master_name(t), ca);
  XR_OK(xr_tls_client_open_url(&c, url, NULL));
  itest_assert_get(c, key("tls"), "t");
  xr_client_close(c);
  c = NULL;
  snprintf(url, sizeof url, "rediss+sentinel://%s/%s?ca_file=%s&sentinel_tls=false&connect_timeout_ms=2000",
           xrt_topology_seeds(t), xrt_topology_master_name(t), ca);
  XR_FAILS(xr_tls_client_open_url(&c, url, NULL), XR_ENOMASTER, "(asked 3 sentinels)");
  xr_tls_free(tls);
  xrt_topology_free(t);
}

/* ---- failovers (a private set) -------------------------------------------------------------------- */

static xrt_sentinel *failover_set(void) {
  if (!failover) ERR_CHECK(xrt_sentinel_start(&failover, NULL, err_));
  return failover;
}

static int master_port_of(xrt_sentinel *s) {
  char err[XRT_ERR_SIZE];
  int i = xrt_sentinel_master_index(s, err);
  if (i < 0) fail_msg("no master: %s", err);
  return xrt_server_port(xrt_sentinel_node(s, (size_t)i));
}

/* 1 once a +switch-master message for `name` came in on the subscribed socket (no waiting). */
static int switch_seen(itest_monitor *sub, const char *name) {
  int seen = 0;
  for (;;) {
    struct pollfd pfd = {sub->fd, POLLIN, 0};
    int buffered = sub->len > 0 && memchr(sub->buf, '\n', sub->len) != NULL;
    if (!buffered && poll(&pfd, 1, 0) != 1) return seen;
    char *line = itest_monitor_read_line(sub);
    seen |= strncmp(line, name, strlen(name)) == 0 && line[strlen(name)] == ' ';
    free(line);
  }
}

/* SENTINEL FAILOVER with the old master left as it is (no client is disconnected): only the
 * +switch-master watch can move the client within a second of the event; the 5 s re-check would
 * take until 5 s after the client's discovery, and a READONLY never comes (the calls read). */
static void test_switch_master_watch(void **state) {
  (void)state;
  xrt_sentinel *s = failover_set();
  const char *name = xrt_sentinel_master_name(s);
  itest_monitor sub; /* our own subscription: when the sentinels announced it */
  itest_raw_open(&sub, xrt_server_port(xrt_sentinel_sentinel(s, 0)), "SUBSCRIBE +switch-master\r\n");
  xr_client_options o = sentinel_options(xrt_sentinel_seeds(s), name);
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  long long opened = itest_now_ms();
  int old = client_port(c);
  assert_int_equal(old, master_port_of(s));
  xrt_endpoint e = xrt_sentinel_sentinel_endpoint(s, 0);
  char out[256];
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "SENTINEL", "FAILOVER", name, NULL));
  long long switched_at = 0, moved_at = 0;
  int now = old;
  for (long long t = itest_now_ms(); t - opened < 15000 && (!switched_at || !moved_at); t = itest_now_ms()) {
    if (!switched_at && switch_seen(&sub, name)) switched_at = itest_now_ms();
    if (!moved_at && (now = client_port(c)) != old) moved_at = itest_now_ms();
    xrt_sleep_ms(10);
  }
  itest_monitor_close(&sub);
  int named = named_port(&e, name);
  if (!switched_at) fail_msg("no +switch-master in 15 s");
  if (!moved_at) fail_msg("the client stayed on %d, %lld ms after +switch-master to %d", old, itest_now_ms() - switched_at, named);
  assert_int_equal(now, named);
  long long lag = moved_at - switched_at;
  print_message("      +switch-master %lld ms after the client's discovery; the client's next call reached the new "
                "master %lld ms after it\n", switched_at - opened, lag);
  /* the watch is read at most every 100 ms, then a discovery; the re-check alone would wait until
   * 5 s after the client's discovery */
  if (lag > 1000) fail_msg("the client moved %lld ms after +switch-master", lag);
  xr_client_close(c);
  /* the old master, still a master, joins the new one (what the sentinels do some seconds later) */
  char port[16];
  snprintf(port, sizeof port, "%d", named);
  for (size_t i = 0; i < XRT_SENTINEL_NODES; i++) {
    if (xrt_server_port(xrt_sentinel_node(s, i)) != old) continue;
    xrt_endpoint ne = xrt_sentinel_node_endpoint(s, i);
    ERR_CHECK(xrt_cli(&ne, out, sizeof out, err_, "REPLICAOF", "127.0.0.1", port, NULL));
    ERR_CHECK(xrt_cli(&ne, out, sizeof out, err_, "CONFIG", "REWRITE", NULL));
  }
  ERR_CHECK(xrt_sentinel_wait_ready(s, 30000, err_));
}

/* Drives a batch of SET key value on the loop connection; returns the batch's outcome (process's
 * last return, or the operation's code). */
static int loop_set(xr_loop_conn *lc, xr_batch *b, const char *k, const char *v) {
  xr_batch_clear(b);
  const char *argv[] = {"SET", k, v};
  assert_int_equal(xr_batch_add(b, 3, argv, NULL), 0);
  int wait = 0, rc = xr_loop_conn_start(lc, b, &wait);
  if (rc) return rc;
  if (wait) rc = itest_drive_pollable(xr_loop_conn_pollable(lc), NULL);
  if (rc < 0) return rc;
  return xr_batch_result(b, 0, NULL, NULL);
}

/* Lets the idle loop connection notice what happened to its node connections (as a host loop
 * watching the fd would): what is ready within `ms` is processed. */
static void loop_idle(xr_loop_conn *lc, int ms) {
  xr_pollable *p = xr_loop_conn_pollable(lc);
  for (long long end = itest_now_ms() + ms; itest_now_ms() < end;) {
    struct pollfd pfd = {xr_pollable_fd(p), POLLIN, 0};
    if (pfd.fd < 0) break;
    if (poll(&pfd, 1, 20) == 1) {
      int rc = xr_pollable_process(p, XR_WAIT_READ, xr_monotonic_ms());
      if (rc < 0) fail_msg("the idle loop connection failed: %s: %s", xr_error_name(rc), xr_error_last()->message);
    }
  }
}

/* Writes until one lands (at most 10 s); returns how many batches failed first. */
static int loop_set_until_ok(xr_loop_conn *lc, xr_batch *b, const char *k, const char *v) {
  int failed = 0;
  for (long long end = itest_now_ms() + 10000;; failed++) {
    int rc = loop_set(lc, b, k, v);
    if (rc == 0) return failed;
    print_message("      loop batch after the failover: %s: %s\n", xr_error_name(rc), xr_error_last()->message);
    if (rc != XR_EREADONLY && rc != XR_EIO && rc != XR_ECONNECT && rc != XR_ENOMASTER && rc != XR_ETIMEOUT)
      fail_msg("a loop batch failed with %s: %s", xr_error_name(rc), xr_error_last()->message);
    if (itest_now_ms() > end) fail_msg("no loop batch worked for 10 s after the failover");
    if (xr_loop_conn_broken(lc)) fail_msg("the loop connection broke: %s", xr_error_last()->message);
    xrt_sleep_ms(100);
  }
}

static void test_loop_connection_across_failover(void **state) {
  (void)state;
  xrt_sentinel *s = failover_set();
  ERR_CHECK(xrt_sentinel_wait_ready(s, 30000, err_));
  xr_client_options o = sentinel_options(xrt_sentinel_seeds(s), xrt_sentinel_master_name(s));
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  xr_loop_conn *lc;
  XR_OK(xr_loop_conn_open(&lc, c));
  xr_batch *b;
  XR_OK(xr_batch_new(&b));
  assert_int_equal(loop_set(lc, b, "loop", "before"), 0);

  /* SENTINEL FAILOVER: the old master is demoted and keeps its connections (READONLY) */
  int next;
  ERR_CHECK(xrt_sentinel_failover(s, &next, err_));
  loop_idle(lc, 200);
  int failed = loop_set_until_ok(lc, b, "loop", "after-failover");
  assert_false(xr_loop_conn_broken(lc));
  xr_client *n = node_client(xrt_server_port(xrt_sentinel_node(s, (size_t)next)), 0);
  itest_assert_get(n, "loop", "after-failover");
  xr_client_close(n);
  print_message("      SENTINEL FAILOVER: %d loop batches failed before one landed on the new master\n", failed);

  /* kill -9 of the master while the loop connection is idle: that node's connection ends alone */
  xrt_sentinel_kill_node(s, (size_t)next);
  loop_idle(lc, 300);
  assert_false(xr_loop_conn_broken(lc));
  int third;
  ERR_CHECK(xrt_sentinel_wait_master_change(s, next, 30000, &third, err_));
  failed = loop_set_until_ok(lc, b, "loop", "after-kill");
  assert_false(xr_loop_conn_broken(lc));
  n = node_client(xrt_server_port(xrt_sentinel_node(s, (size_t)third)), 0);
  itest_assert_get(n, "loop", "after-kill");
  xr_client_close(n);
  print_message("      kill -9 of the master: %d loop batches failed before one landed on the new master\n", failed);
  xr_batch_free(b);
  xr_loop_conn_close(lc);
  xr_client_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_discovery_by_url_and_options),
      cmocka_unit_test(test_role_checked),
      cmocka_unit_test(test_db_in_url),
      cmocka_unit_test(test_unknown_master_names_each_sentinel),
      cmocka_unit_test(test_dead_sentinel_skipped),
      cmocka_unit_test(test_replica_reads),
      cmocka_unit_test(test_sentinel_password_apart),
      cmocka_unit_test(test_sentinel_tls_apart),
      cmocka_unit_test(test_switch_master_watch),
      cmocka_unit_test(test_loop_connection_across_failover),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
