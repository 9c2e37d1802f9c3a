/* The Cluster and Sentinel failures of ../shared/TOPOLOGY-FAILURES.md that a real server cannot
 * produce on demand, played by scripted fake servers (tests/harness/fake_server.h): several fakes
 * are a Cluster's nodes (CLUSTER SHARDS / SLOTS replies naming their ports) or the sentinels and
 * the nodes they name. Each test names its item (#N) and says what it proves; each fails when the
 * behaviour is missing. What the client sent is read from the fakes' logs. Nothing waits for a
 * timeout but the silent sentinel (500 ms); the longest waits are the Sentinel re-check's period
 * (5 s, once per re-check test, twice in one) and the retry budget, max(command timeout, 1 s), of
 * the TRYAGAIN and CLUSTERDOWN tests. Every test starts and frees its own fakes. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <strings.h>
#include <cmocka.h>

#include "crossredis/keys.h"
#include "fake_server.h"
#include "itest.h"

#define LOW_LAST 8191 /* the two-shard map: the low shard serves 0-8191, the high one 8192-16383 */
#define LAST_SLOT 16383
#define MASTER_NAME "mymaster"
/* Connect and command timeouts: no test waits for them (but the silent sentinel's), so they are
 * generous for a loaded machine (valgrind, suites in parallel), and at 1 s leave the retry budget,
 * max(command timeout, 1 s), at 1 s. */
#define IO_TIMEOUT_MS 1000
/* The client skips refreshes closer together than this (topology.c, plus jitter). */
#define REFRESH_MIN_INTERVAL_MS 100
/* What a test waits for the client's rate limit to let the next refresh through. */
#define PAST_REFRESH_INTERVAL_MS 200

/* ---- fakes --------------------------------------------------------------------------------------- */

static xrt_fake *fake(void) {
  xrt_fake *f = NULL;
  ERR_CHECK(xrt_fake_start(&f, err_));
  return f;
}

static void on(xrt_fake *f, const char *pattern, const char *reply) {
  if (xrt_fake_on(f, pattern, reply) != 0) fail_msg("rule '%s' refused (see stderr)", pattern);
}

/* A rule that answers `times` commands, then lets them fall through to later rules. */
static void on_times(xrt_fake *f, const char *pattern, const char *reply, int times) {
  xrt_fake_rule_options o = XRT_FAKE_RULE_OPTIONS_INIT;
  o.times = times;
  ERR_CHECK(xrt_fake_on_with(f, pattern, reply, &o, err_));
}

static void on_action(xrt_fake *f, const char *pattern, xrt_fake_action action) {
  xrt_fake_rule_options o = XRT_FAKE_RULE_OPTIONS_INIT;
  o.action = action;
  ERR_CHECK(xrt_fake_on_with(f, pattern, NULL, &o, err_));
}

/* A loopback port nothing listens on: connections to it are refused. */
static int closed_port(void) {
  int port, fd;
  ERR_CHECK(xrt_silent_listener_start(&port, &fd, err_));
  xrt_silent_listener_stop(fd);
  return port;
}

/* "$<n>\r\n<s>\r\n" appended to buf at *used. */
static void put_bulk(char *buf, size_t size, size_t *used, const char *s) {
  int n = snprintf(buf + *used, size - *used, "$%zu\r\n%s\r\n", strlen(s), s);
  assert_true(n > 0 && (size_t)n < size - *used);
  *used += (size_t)n;
}

/* A RESP array of bulk strings. */
static const char *bulks(char *buf, size_t size, size_t n, const char *const *v) {
  size_t used = (size_t)snprintf(buf, size, "*%zu\r\n", n);
  for (size_t i = 0; i < n; i++) put_bulk(buf, size, &used, v[i]);
  return buf;
}

/* A bulk string reply. */
static const char *bulk(char *buf, size_t size, const char *s) {
  size_t used = 0;
  put_bulk(buf, size, &used, s);
  return buf;
}

/* How many commands matching `pattern` the fakes received in all. */
static size_t count_all(xrt_fake *const *f, size_t n, const char *pattern) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += xrt_fake_count(f[i], pattern);
  return total;
}

/* Each command f received whose second argument is `key` came right after an ASKING on its own
 * connection; returns how many there were. */
static size_t asking_before_each(xrt_fake *f, const char *key) {
  xrt_fake_log log;
  ERR_CHECK(xrt_fake_commands(f, &log, err_));
  size_t seen = 0, bad = SIZE_MAX;
  for (size_t i = 0; i < log.count && bad == SIZE_MAX; i++) {
    const xrt_fake_command *cmd = &log.commands[i];
    if (cmd->argc < 2 || strcmp(cmd->argv[1], key) != 0) continue;
    seen++;
    size_t k = i;
    while (k > 0 && log.commands[k - 1].conn != cmd->conn) k--;
    if (k == 0 || strcasecmp(log.commands[k - 1].argv[0], "ASKING") != 0) bad = i;
  }
  xrt_fake_log_free(&log);
  if (bad != SIZE_MAX) fail_msg("command %zu on port %d (key %s) had no ASKING right before it", bad, xrt_fake_port(f), key);
  return seen;
}

/* The connection ids of the commands f received whose second argument is `key`, in order (at most
 * `cap`); returns how many. */
static size_t conns_of(xrt_fake *f, const char *key, int *ids, size_t cap) {
  xrt_fake_log log;
  ERR_CHECK(xrt_fake_commands(f, &log, err_));
  size_t n = 0;
  for (size_t i = 0; i < log.count; i++)
    if (log.commands[i].argc >= 2 && !strcmp(log.commands[i].argv[1], key) && n < cap) ids[n++] = log.commands[i].conn;
  xrt_fake_log_free(&log);
  return n;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- Cluster maps and keys ---------------------------------------------------------------------- */

static xrt_fake_shard shard(int first, int last, int port) {
  xrt_fake_shard s;
  memset(&s, 0, sizeof s);
  s.ranges[0][0] = first;
  s.ranges[0][1] = last;
  s.range_count = 1;
  s.nodes[0].port = port;
  s.node_count = 1;
  return s;
}

/* CLUSTER SHARDS of the two-shard map: `lo` serves 0-8191, `hi` 8192-16383 (ports). */
static const char *two_shards(char *buf, size_t size, int lo, int hi) {
  xrt_fake_shard s[2] = {shard(0, LOW_LAST, lo), shard(LOW_LAST + 1, LAST_SLOT, hi)};
  const char *r = xrt_fake_cluster_shards(buf, size, s, 2);
  assert_non_null(r);
  return r;
}

/* Every fake of f[0..n) answers CLUSTER SHARDS with the two-shard map of lo and hi. */
static void serve_two(xrt_fake *const *f, size_t n, int lo, int hi) {
  char buf[4096];
  two_shards(buf, sizeof buf, lo, hi);
  for (size_t i = 0; i < n; i++) on(f[i], "CLUSTER SHARDS", buf);
}

/* A key "<prefix><n>" whose slot is in first..last. */
static const char *key_in(char *buf, size_t size, const char *prefix, int first, int last) {
  for (int n = 0;; n++) {
    snprintf(buf, size, "%s%d", prefix, n);
    int slot = (int)xr_key_slot(buf, strlen(buf));
    if (slot >= first && slot <= last) return buf;
  }
}

static int slot_of(const char *key) { return (int)xr_key_slot(key, strlen(key)); }

/* `f` answers "<verb> <key>" with `reply`, `times` times (0: every time). */
static void on_key(xrt_fake *f, const char *verb, const char *key, const char *reply, int times) {
  char pattern[96];
  snprintf(pattern, sizeof pattern, "%s %s", verb, key);
  if (times) on_times(f, pattern, reply, times);
  else on(f, pattern, reply);
}

/* How many "<verb> <key>" the fakes f[0..n) received in all. */
static size_t count_key(xrt_fake *const *f, size_t n, const char *verb, const char *key) {
  char pattern[96];
  snprintf(pattern, sizeof pattern, "%s %s", verb, key);
  return count_all(f, n, pattern);
}

/* `f` answers "GET key" with a MOVED (or ASK) of key's slot to `to`. */
static void redirect_get(xrt_fake *f, const char *key, const char *kind, const xrt_fake *to, int times) {
  char reply[96];
  if (!strcmp(kind, "ASK")) xrt_fake_ask(reply, sizeof reply, slot_of(key), "127.0.0.1", xrt_fake_port(to));
  else xrt_fake_moved(reply, sizeof reply, slot_of(key), "127.0.0.1", xrt_fake_port(to));
  on_key(f, "GET", key, reply, times);
}

/* `f` answers "GET key" with the string `value`. */
static void value_of(xrt_fake *f, const char *key, const char *value) {
  char reply[96];
  on_key(f, "GET", key, bulk(reply, sizeof reply, value), 0);
}

/* Runs a batch of the one command argv (bt cleared first): the operation's outcome, its reply
 * (borrowed from bt) and message. */
static int batch_one(xr_client *cl, xr_batch *bt, int argc, const char *const *argv, const xr_reply **r,
                     const char **msg) {
  xr_batch_clear(bt);
  assert_int_equal(xr_batch_add(bt, argc, argv, NULL), 0);
  xr_client_exec(cl, bt);
  return xr_batch_result(bt, 0, r, msg);
}

static xr_client_options cluster_options(char *nodes, size_t size, const xrt_fake *seed) {
  snprintf(nodes, size, "127.0.0.1:%d", xrt_fake_port(seed));
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.topology = XR_TOPOLOGY_CLUSTER;
  o.nodes = nodes;
  o.connect_timeout_ms = IO_TIMEOUT_MS;
  o.command_timeout_ms = IO_TIMEOUT_MS;
  return o;
}

static xr_client *open_client(const xr_client_options *o) {
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, o));
  return c;
}

/* A cluster client seeded with `seed` (small timeouts). */
static xr_client *open_cluster(const xrt_fake *seed, int max_redirects) {
  char nodes[32];
  xr_client_options o = cluster_options(nodes, sizeof nodes, seed);
  o.max_redirects = max_redirects;
  return open_client(&o);
}

static void free_fakes(xrt_fake **f, size_t n) {
  for (size_t i = 0; i < n; i++) xrt_fake_free(f[i]);
}

typedef enum how { BY_COMMAND, BY_BATCH, BY_LOOP } how;

/* Runs batch bt by xr_client_exec (BY_BATCH) or on a new loop connection of the client, driven to
 * its end (BY_LOOP), which stays usable. */
static void run_batch(xr_client *cl, xr_batch *bt, how h) {
  if (h == BY_BATCH) {
    XR_OK(xr_client_exec(cl, bt));
    return;
  }
  xr_loop_conn *lc = NULL;
  XR_OK(xr_loop_conn_open(&lc, cl));
  int wait;
  XR_OK(xr_loop_conn_start(lc, bt, &wait));
  assert_int_equal(itest_drive_pollable(xr_loop_conn_pollable(lc), NULL), XR_POLL_DONE);
  assert_false(xr_loop_conn_broken(lc));
  xr_loop_conn_close(lc);
}

/* Runs GET of each key (n of them) the way `how` says; each must answer want[i]. */
static void get_each(xr_client *cl, how h, const char *const *keys, const char *const *want, size_t n) {
  if (h == BY_COMMAND) {
    for (size_t i = 0; i < n; i++) itest_assert_get(cl, keys[i], want[i]);
    return;
  }
  xr_batch *bt;
  XR_OK(xr_batch_new(&bt));
  for (size_t i = 0; i < n; i++) {
    const char *get[] = {"GET", keys[i]};
    xr_batch_add(bt, 2, get, NULL);
  }
  run_batch(cl, bt, h);
  for (size_t i = 0; i < n; i++) {
    const xr_reply *r;
    const char *msg;
    int rc = xr_batch_result(bt, i, &r, &msg);
    if (rc) fail_msg("operation %zu (GET %s) -> %s: %s", i, keys[i], xr_error_name(rc), msg);
    assert_string_equal(xr_reply_str(r, NULL), want[i]);
  }
  xr_batch_free(bt);
}

/* ---- #1 ASK chains and MOVED loops ----------------------------------------------------------------- */

/* #1: an ASK to a node the map never saw (C), whose ASK sends the command one hop further (D).
 * Proves: every hop sends ASKING right before the command (on C and on D: an ASK taken as a
 * MOVED, or ASKING only on the first hop, fails this), the chain is followed to its end, and ASK
 * changes nothing for later calls: the next GET of the key goes to A again (the map's node), and
 * no map refresh was asked for. The same chain inside a batch, on the split's rounds. */
static void test_ask_chain(void **state) {
  (void)state;
  xrt_fake *f[4] = {fake(), fake(), fake(), fake()}, *a = f[0], *b = f[1], *c = f[2], *d = f[3];
  char k[32];
  key_in(k, sizeof k, "ask:", 0, LOW_LAST);
  redirect_get(a, k, "ASK", c, 1);
  value_of(a, k, "from-a");
  redirect_get(c, k, "ASK", d, 0);
  value_of(d, k, "from-d");
  serve_two(f, 2, xrt_fake_port(a), xrt_fake_port(b));
  xr_client *cl = open_cluster(a, 0);
  itest_assert_get(cl, k, "from-d");
  assert_int_equal(asking_before_each(c, k), 1);
  assert_int_equal(asking_before_each(d, k), 1);
  /* the map still names A for the slot */
  itest_assert_get(cl, k, "from-a");
  assert_int_equal(xrt_fake_count(a, "GET *"), 2);
  assert_int_equal(xrt_fake_count(c, "GET *"), 1);
  assert_int_equal(xrt_fake_count(d, "GET *"), 1);
  assert_int_equal(count_all(f, 4, "CLUSTER SHARDS"), 1); /* the open's */

  /* in a batch: the chain again (A's next ASK), beside an operation on B */
  xrt_fake_clear_rules(a);
  serve_two(f, 1, xrt_fake_port(a), xrt_fake_port(b));
  redirect_get(a, k, "ASK", c, 1);
  value_of(a, k, "from-a");
  char kb[32];
  key_in(kb, sizeof kb, "askb:", LOW_LAST + 1, LAST_SLOT);
  value_of(b, kb, "from-b");
  const char *keys[] = {k, kb}, *want[] = {"from-d", "from-b"};
  get_each(cl, BY_BATCH, keys, want, 2);
  assert_int_equal(asking_before_each(c, k), 2);
  assert_int_equal(asking_before_each(d, k), 2);
  itest_assert_get(cl, k, "from-a");
  xr_client_close(cl);
  free_fakes(f, 4);
}

/* #1: A says MOVED to B, B says MOVED to A, forever. Proves: the client stops after max_redirects
 * hops with XR_EREDIRECTS and a message naming the limit and the slot (a client without a bound
 * loops forever), sending exactly max_redirects + 1 times; the default (0: 16) is honoured; and a
 * batch bounds each operation the same way. */
static void test_moved_loop(void **state) {
  (void)state;
  xrt_fake *f[2] = {fake(), fake()}, *a = f[0], *b = f[1];
  char k[32], want[96];
  key_in(k, sizeof k, "loop:", 0, LOW_LAST);
  redirect_get(a, k, "MOVED", b, 0);
  redirect_get(b, k, "MOVED", a, 0);
  serve_two(f, 2, xrt_fake_port(a), xrt_fake_port(b));
  snprintf(want, sizeof want, "more than 3 redirections for slot %d", slot_of(k));

  xr_client *cl = open_cluster(a, 3);
  XR_FAILS(itest_cmd(cl, NULL, "GET", k, NULL), XR_EREDIRECTS, want);
  assert_non_null(strstr(xr_error_last()->message, "MOVED"));
  assert_int_equal(count_key(f, 2, "GET", k), 4);

  /* a batch: the operation fails alone, with the same words */
  xrt_fake_clear_log(a);
  xrt_fake_clear_log(b);
  xr_batch *bt;
  XR_OK(xr_batch_new(&bt));
  const char *get_k[] = {"GET", k}, *ping[] = {"PING"};
  xr_batch_add(bt, 2, get_k, NULL);
  xr_batch_add(bt, 1, ping, NULL);
  xr_client_exec(cl, bt);
  const char *msg;
  assert_int_equal(xr_batch_result(bt, 0, NULL, &msg), XR_EREDIRECTS);
  assert_non_null(strstr(msg, want));
  const xr_reply *r;
  XR_OK(xr_batch_result(bt, 1, &r, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "PONG");
  assert_int_equal(count_key(f, 2, "GET", k), 4);
  xr_batch_free(bt);
  xr_client_close(cl);

  /* max_redirects 0: the default, 16 */
  xrt_fake_clear_log(a);
  xrt_fake_clear_log(b);
  cl = open_cluster(a, 0);
  snprintf(want, sizeof want, "more than 16 redirections for slot %d", slot_of(k));
  XR_FAILS(itest_cmd(cl, NULL, "GET", k, NULL), XR_EREDIRECTS, want);
  assert_int_equal(count_key(f, 2, "GET", k), 17);
  xr_client_close(cl);
  free_fakes(f, 2);
}

/* ---- #2 MOVED storms ---------------------------------------------------------------------------- */

typedef struct storm {
  xr_client *c;
  char (*keys)[24];
  size_t first, n;
  int rc;
  char msg[300];
} storm;

/* GET each key twice; each must answer "b". */
static void *storm_run(void *arg) {
  storm *s = arg;
  for (size_t i = s->first; i < s->first + s->n && !s->rc; i++) {
    for (int twice = 0; twice < 2 && !s->rc; twice++) {
      xr_reply *r = NULL;
      s->rc = itest_cmd(s->c, &r, "GET", s->keys[i], NULL);
      if (s->rc) snprintf(s->msg, sizeof s->msg, "GET %s: %s", s->keys[i], xr_error_last()->message);
      else if (!xr_reply_str(r, NULL) || strcmp(xr_reply_str(r, NULL), "b") != 0)
        s->rc = -1000, snprintf(s->msg, sizeof s->msg, "GET %s did not answer b", s->keys[i]);
      xr_reply_free(r);
    }
  }
  return NULL;
}

#define STORM_KEYS 120
#define STORM_THREADS 4

/* #2: a failover moved A's slots to B, but CLUSTER SHARDS still answers the old map (the nodes
 * have not converged): every key of A's range gets a MOVED, each for its own slot. Each key is read
 * twice in a row. Proves: (1) a MOVED fixes its slot at once: the retry and the second read go
 * straight to B (A sees exactly one GET per key, even when the refresh the MOVED asked for brought
 * the stale map back: the MOVED's slot wins over it); (2) a MOVED asks for the map again, but
 * rate-limited: CLUSTER SHARDS is asked at least once and at most once per minimum interval during
 * the storm (B answers after 2 ms, so it lasts several), not once per MOVED (STORM_KEYS of them);
 * (3) the same bound with STORM_THREADS threads storming at once (one refresh in flight, the
 * others go on with the map they have). */
static void test_moved_storm(void **state) {
  (void)state;
  xrt_fake *f[2] = {fake(), fake()}, *a = f[0], *b = f[1];
  static char keys[2 * STORM_KEYS][24];
  static unsigned char used[LAST_SLOT + 1];
  memset(used, 0, sizeof used);
  for (int n = 0, got = 0; got < 2 * STORM_KEYS; n++) {
    snprintf(keys[got], sizeof keys[got], "storm:%d", n);
    int slot = slot_of(keys[got]);
    if (slot > LOW_LAST || used[slot]) continue;
    used[slot] = 1;
    redirect_get(a, keys[got], "MOVED", b, 0);
    got++;
  }
  /* B answers after 2 ms: the storm lasts several refresh intervals */
  xrt_fake_rule_options slow = XRT_FAKE_RULE_OPTIONS_INIT;
  slow.delay_ms = 2;
  ERR_CHECK(xrt_fake_on_with(b, "GET *", "$1\r\nb\r\n", &slow, err_));
  serve_two(f, 2, xrt_fake_port(a), xrt_fake_port(b));
  xr_client *cl = open_cluster(a, 0);
  sleep_ms(PAST_REFRESH_INTERVAL_MS); /* the open's refresh is old enough: a MOVED may refresh */

  /* one thread */
  xrt_fake_clear_log(a);
  xrt_fake_clear_log(b);
  long long t0 = itest_now_ms();
  storm one = {cl, keys, 0, STORM_KEYS, 0, ""};
  storm_run(&one);
  long long elapsed = itest_now_ms() - t0;
  if (one.rc) fail_msg("%s", one.msg);
  size_t shards = count_all(f, 2, "CLUSTER SHARDS"), gets_a = xrt_fake_count(a, "GET *");
  print_message("one thread: %d keys x2 in %lld ms: %zu CLUSTER SHARDS, %zu GETs on A\n", STORM_KEYS, elapsed, shards,
                gets_a);
  assert_true(shards >= 1); /* a MOVED does ask for the map */
  assert_true(shards <= (size_t)(elapsed / REFRESH_MIN_INTERVAL_MS) + 2);
  assert_int_equal(gets_a, STORM_KEYS);
  assert_int_equal(xrt_fake_count(b, "GET *"), 2 * STORM_KEYS);

  /* threads, on keys whose slots the map has not seen moving */
  sleep_ms(PAST_REFRESH_INTERVAL_MS);
  xrt_fake_clear_log(a);
  xrt_fake_clear_log(b);
  pthread_t th[STORM_THREADS];
  storm s[STORM_THREADS];
  t0 = itest_now_ms();
  for (size_t i = 0; i < STORM_THREADS; i++) {
    s[i] = (storm){cl, keys, STORM_KEYS + i * (STORM_KEYS / STORM_THREADS), STORM_KEYS / STORM_THREADS, 0, ""};
    assert_int_equal(pthread_create(&th[i], NULL, storm_run, &s[i]), 0);
  }
  for (size_t i = 0; i < STORM_THREADS; i++) pthread_join(th[i], NULL);
  elapsed = itest_now_ms() - t0;
  for (size_t i = 0; i < STORM_THREADS; i++)
    if (s[i].rc) fail_msg("thread %zu: %s", i, s[i].msg);
  shards = count_all(f, 2, "CLUSTER SHARDS");
  assert_true(shards >= 1);
  print_message("%d threads: %d keys x2 in %lld ms: %zu CLUSTER SHARDS, %zu GETs on A\n", STORM_THREADS, STORM_KEYS,
                elapsed, shards, xrt_fake_count(a, "GET *"));
  assert_true(shards <= (size_t)(elapsed / REFRESH_MIN_INTERVAL_MS) + 2);
  assert_int_equal(xrt_fake_count(b, "GET *"), 2 * STORM_KEYS);
  xr_client_close(cl);
  free_fakes(f, 2);
}

/* #2: as above, and A answers slowly (150 ms, more than the refresh interval), so the refresh each
 * MOVED asks for is due every time and brings back the stale map. Proves: the MOVED's slot still
 * wins, for a command and for a batch's operation: the next hop goes to B and A sees each key once,
 * rather than the command bouncing between the stale map and the MOVED until XR_EREDIRECTS. */
static void test_moved_beats_stale_refresh(void **state) {
  (void)state;
  xrt_fake *f[2] = {fake(), fake()}, *a = f[0], *b = f[1];
  char k[32], kb[32], reply[96];
  key_in(k, sizeof k, "slowmoved:", 0, LOW_LAST);
  key_in(kb, sizeof kb, "slowmovedb:", 0, LOW_LAST);
  xrt_fake_rule_options slow = XRT_FAKE_RULE_OPTIONS_INIT;
  slow.delay_ms = 150;
  ERR_CHECK(xrt_fake_on_with(a, "GET *", xrt_fake_moved(reply, sizeof reply, slot_of(k), "127.0.0.1", xrt_fake_port(b)), &slow,
                             err_));
  value_of(b, k, "b");
  serve_two(f, 2, xrt_fake_port(a), xrt_fake_port(b));
  xr_client *cl = open_cluster(a, 3);
  itest_assert_get(cl, k, "b");
  assert_int_equal(count_key(&a, 1, "GET", k), 1);

  xrt_fake_clear_rules(a);
  serve_two(f, 1, xrt_fake_port(a), xrt_fake_port(b));
  ERR_CHECK(xrt_fake_on_with(a, "GET *", xrt_fake_moved(reply, sizeof reply, slot_of(kb), "127.0.0.1", xrt_fake_port(b)),
                             &slow, err_));
  value_of(b, kb, "b");
  const char *keys[] = {kb}, *want[] = {"b"};
  get_each(cl, BY_BATCH, keys, want, 1);
  assert_int_equal(count_key(&a, 1, "GET", kb), 1);
  xr_client_close(cl);
  free_fakes(f, 2);
}

/* ---- #3 a stale map without a MOVED ------------------------------------------------------------- */

/* #3: a MOVED that names the node that sent it (a proxy in front of the node, "" as host: the
 * host asked). Proves: the command goes again on a NEW connection (the pool's idle ones are
 * stale: a proxy pins a connection to its backend), and a node that keeps saying so ends with
 * XR_EREDIRECTS after max_redirects + 1 sends, each on a new connection, rather than a loop. */
static void test_self_moved(void **state) {
  (void)state;
  xrt_fake *f[2] = {fake(), fake()}, *a = f[0], *b = f[1];
  char k[32], j[32], reply[96];
  key_in(k, sizeof k, "self:", 0, LOW_LAST);
  key_in(j, sizeof j, "selfloop:", 0, LOW_LAST);
  on_key(a, "GET", k, xrt_fake_moved(reply, sizeof reply, slot_of(k), "", xrt_fake_port(a)), 1);
  value_of(a, k, "self");
  redirect_get(a, j, "MOVED", a, 0);
  serve_two(f, 2, xrt_fake_port(a), xrt_fake_port(b));
  xr_client *cl = open_cluster(a, 4);
  itest_assert_get(cl, k, "self");
  int ids[8];
  assert_int_equal(conns_of(a, k, ids, 8), 2);
  assert_int_not_equal(ids[0], ids[1]);

  int before = xrt_fake_accepted(a);
  XR_FAILS(itest_cmd(cl, NULL, "GET", j, NULL), XR_EREDIRECTS, "more than 4 redirections");
  assert_int_equal(conns_of(a, j, ids, 8), 5);
  for (int i = 1; i < 5; i++) assert_int_not_equal(ids[i], ids[i - 1]);
  assert_true(xrt_fake_accepted(a) - before >= 4);
  xr_client_close(cl);
  free_fakes(f, 2);
}

/* #3: the map names a node whose port refuses connections (it died); the map the nodes give now
 * names B instead. Proves, for a command, a batch and a loop connection's batch: nothing could be
 * sent, so the client refreshes the map and sends to B within the retry budget (without it the call
 * fails XR_ECONNECT), and the batch's operation that went again carries B's reply, not the refused
 * connection's error. */
static void test_refused_node(void **state) {
  (void)state;
  for (how h = BY_COMMAND; h <= BY_LOOP; h++) {
    xrt_fake *f[2] = {fake(), fake()}, *a = f[0], *b = f[1];
    int dead = closed_port();
    char k[32], ka[32], buf[4096];
    key_in(k, sizeof k, "refused:", LOW_LAST + 1, LAST_SLOT);
    key_in(ka, sizeof ka, "alive:", 0, LOW_LAST);
    on(a, "CLUSTER SHARDS", two_shards(buf, sizeof buf, xrt_fake_port(a), dead));
    xr_client *cl = open_cluster(a, 0);
    xrt_fake_clear_rules(a);
    serve_two(f, 2, xrt_fake_port(a), xrt_fake_port(b));
    value_of(a, ka, "a");
    value_of(b, k, "b");
    const char *keys[] = {ka, k}, *want[] = {"a", "b"};
    get_each(cl, h, keys, want, 2);
    assert_int_equal(xrt_fake_count(b, "GET *"), 1);
    assert_true(count_all(f, 2, "CLUSTER SHARDS") >= 1);
    xr_client_close(cl);
    free_fakes(f, 2);
  }
}

/* #3: a loop connection connects to a master of the map when it opens; here the map's only master
 * refuses (it died) and the nodes now name B for every slot. Proves: xr_loop_conn_open on the
 * cluster client refreshes the map and connects to B, as a command would, instead of failing
 * XR_ECONNECT while the cluster serves; its batch then runs on B. */
static void test_loop_conn_open_refused(void **state) {
  (void)state;
  xrt_fake *f[2] = {fake(), fake()}, *a = f[0], *b = f[1];
  char buf[4096], k[32];
  xrt_fake_shard all = shard(0, LAST_SLOT, closed_port());
  on(a, "CLUSTER SHARDS", xrt_fake_cluster_shards(buf, sizeof buf, &all, 1));
  xr_client *cl = open_cluster(a, 0);
  xrt_fake_clear_rules(a);
  all.nodes[0].port = xrt_fake_port(b);
  on(a, "CLUSTER SHARDS", xrt_fake_cluster_shards(buf, sizeof buf, &all, 1));
  on(b, "CLUSTER SHARDS", buf);
  key_in(k, sizeof k, "loopopen:", 0, LAST_SLOT);
  value_of(b, k, "b");
  const char *keys[] = {k}, *want[] = {"b"};
  get_each(cl, BY_LOOP, keys, want, 1);
  assert_int_equal(xrt_fake_count(b, "GET *"), 1);
  xr_client_close(cl);
  free_fakes(f, 2);
}

/* ---- #4 READONLY from a demoted master ----------------------------------------------------------- */

/* #4: A was the master of the low shard with B its replica; a failover made B the master and A a
 * replica, and A answers writes with READONLY. Proves: the client refreshes the map and the write
 * runs on B (once), rather than the READONLY reaching the caller; the same in a batch. */
static void test_readonly_demoted_master(void **state) {
  (void)state;
  xrt_fake *f[3] = {fake(), fake(), fake()}, *a = f[0], *b = f[1], *c = f[2];
  char buf[4096], k[32];
  key_in(k, sizeof k, "demoted:", 0, LOW_LAST);
  xrt_fake_shard before[2] = {shard(0, LOW_LAST, xrt_fake_port(a)), shard(LOW_LAST + 1, LAST_SLOT, xrt_fake_port(c))};
  before[0].nodes[1].port = xrt_fake_port(b);
  before[0].node_count = 2;
  on(a, "CLUSTER SHARDS", xrt_fake_cluster_shards(buf, sizeof buf, before, 2));
  xr_client *cl = open_cluster(a, 0);

  xrt_fake_shard after[2] = {before[0], before[1]};
  after[0].nodes[0].port = xrt_fake_port(b);
  after[0].nodes[1].port = xrt_fake_port(a);
  xrt_fake_clear_rules(a);
  for (int i = 0; i < 3; i++) on(f[i], "CLUSTER SHARDS", xrt_fake_cluster_shards(buf, sizeof buf, after, 2));
  on(a, "SET *", XRT_FAKE_READONLY);
  on(b, "SET *", XRT_FAKE_OK);
  XR_OK(itest_cmd(cl, NULL, "SET", k, "v", NULL));
  assert_int_equal(xrt_fake_count(b, "SET *"), 1);
  assert_true(xrt_fake_count(a, "SET *") >= 1);

  /* a batch, after the map went back to A (a second failover) */
  xr_client_close(cl);
  xrt_fake_clear_rules(a);
  on(a, "CLUSTER SHARDS", xrt_fake_cluster_shards(buf, sizeof buf, before, 2));
  cl = open_cluster(a, 0);
  xrt_fake_clear_rules(a);
  for (int i = 0; i < 3; i++) on(f[i], "CLUSTER SHARDS", xrt_fake_cluster_shards(buf, sizeof buf, after, 2));
  on(a, "SET *", XRT_FAKE_READONLY);
  on(c, "GET *", "$1\r\nc\r\n");
  xr_batch *bt;
  XR_OK(xr_batch_new(&bt));
  char kc[32];
  key_in(kc, sizeof kc, "other:", LOW_LAST + 1, LAST_SLOT);
  const char *set[] = {"SET", k, "w"}, *get[] = {"GET", kc};
  xr_batch_add(bt, 3, set, NULL);
  xr_batch_add(bt, 2, get, NULL);
  XR_OK(xr_client_exec(cl, bt));
  const xr_reply *r;
  XR_OK(xr_batch_result(bt, 0, &r, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "OK");
  XR_OK(xr_batch_result(bt, 1, &r, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "c");
  assert_int_equal(xrt_fake_count(b, "SET *"), 2);
  xr_batch_free(bt);
  xr_client_close(cl);
  free_fakes(f, 3);
}

/* ---- #5 TRYAGAIN, CLUSTERDOWN, a connection lost after sending ---------------------------------- */

/* The number N in "... after N tries ..." of the last error message. */
static int tries_in_message(void) {
  const char *m = strstr(xr_error_last()->message, " after ");
  int n = -1;
  if (!m || sscanf(m, " after %d tries", &n) != 1) fail_msg("no try count in: %s", xr_error_last()->message);
  return n;
}

/* #5: a node answers TRYAGAIN forever, another CLUSTERDOWN forever. Proves: the client retries
 * after growing waits, for the retry budget (max(command timeout, 1 s): 1 s with a 500 ms command
 * timeout, 1.3 s with 1300 ms), then fails XR_ECLUSTERDOWN saying "still TRYAGAIN after N tries"
 * where N is what the node received (a handful, not a busy loop; without retries N is 1 and the
 * time 0); CLUSTERDOWN also asks for the map again, rate-limited; and a CLUSTERDOWN that clears
 * after two answers is ridden out. */
static void test_tryagain_and_clusterdown(void **state) {
  (void)state;
  xrt_fake *f[2] = {fake(), fake()}, *a = f[0], *b = f[1];
  char k[32], j[32], h[32];
  key_in(k, sizeof k, "tryagain:", 0, LOW_LAST);
  key_in(j, sizeof j, "down:", 0, LOW_LAST);
  key_in(h, sizeof h, "heal:", 0, LOW_LAST);
  on_key(a, "GET", k, XRT_FAKE_TRYAGAIN, 0);
  on_key(a, "GET", j, XRT_FAKE_CLUSTERDOWN, 0);
  on_key(a, "GET", h, XRT_FAKE_CLUSTERDOWN_SLOT, 2);
  value_of(a, h, "healed");
  serve_two(f, 2, xrt_fake_port(a), xrt_fake_port(b));
  char nodes[32];
  xr_client_options o = cluster_options(nodes, sizeof nodes, a);
  o.command_timeout_ms = 500;
  xr_client *cl = open_client(&o);

  long long t0 = itest_now_ms();
  XR_FAILS(itest_cmd(cl, NULL, "GET", k, NULL), XR_ECLUSTERDOWN, "still TRYAGAIN after ");
  long long elapsed = itest_now_ms() - t0;
  int tries = tries_in_message();
  print_message("TRYAGAIN: %d tries in %lld ms\n", tries, elapsed);
  assert_int_equal((size_t)tries, count_key(&a, 1, "GET", k));
  assert_true(tries >= 3 && tries <= 20);
  assert_true(elapsed >= 1000 && elapsed < 3000);

  itest_assert_get(cl, h, "healed");
  xr_client_close(cl);

  xrt_fake_clear_log(a);
  xrt_fake_clear_log(b);
  o.command_timeout_ms = 1300;
  cl = open_client(&o);
  size_t shards_before = count_all(f, 2, "CLUSTER SHARDS");
  t0 = itest_now_ms();
  XR_FAILS(itest_cmd(cl, NULL, "GET", j, NULL), XR_ECLUSTERDOWN, "still CLUSTERDOWN after ");
  elapsed = itest_now_ms() - t0;
  tries = tries_in_message();
  size_t refreshes = count_all(f, 2, "CLUSTER SHARDS") - shards_before;
  print_message("CLUSTERDOWN: %d tries in %lld ms, %zu refreshes\n", tries, elapsed, refreshes);
  assert_int_equal((size_t)tries, count_key(&a, 1, "GET", j));
  assert_true(tries >= 3 && tries <= 20);
  assert_true(elapsed >= 1300 && elapsed < 3300);
  assert_true(refreshes >= 1 && refreshes <= (size_t)(elapsed / REFRESH_MIN_INTERVAL_MS) + 2);
  xr_client_close(cl);
  free_fakes(f, 2);
}

/* #5: the node closes the connection after reading a command. Proves: the command is not sent
 * again (it may have run: writes are not idempotent): every fake's log holds it once, and the
 * caller gets XR_EIO; in a batch the operation fails with XR_EIO, once sent, and the other node's
 * operation keeps its reply. */
static void test_lost_after_send_not_resent(void **state) {
  (void)state;
  xrt_fake *f[2] = {fake(), fake()}, *a = f[0], *b = f[1];
  char k[32], kb[32];
  key_in(k, sizeof k, "lost:", 0, LOW_LAST);
  key_in(kb, sizeof kb, "kept:", LOW_LAST + 1, LAST_SLOT);
  on_action(a, "INCR *", XRT_FAKE_CLOSE);
  value_of(b, kb, "kept");
  serve_two(f, 2, xrt_fake_port(a), xrt_fake_port(b));
  xr_client *cl = open_cluster(a, 0);
  XR_FAILS(itest_cmd(cl, NULL, "INCR", k, NULL), XR_EIO, NULL);
  sleep_ms(PAST_REFRESH_INTERVAL_MS); /* what a late re-send would need to show up */
  assert_int_equal(count_all(f, 2, "INCR *"), 1);

  xr_batch *bt;
  XR_OK(xr_batch_new(&bt));
  const char *incr[] = {"INCR", k}, *get[] = {"GET", kb};
  xr_batch_add(bt, 2, incr, NULL);
  xr_batch_add(bt, 2, get, NULL);
  assert_int_equal(xr_client_exec(cl, bt), XR_EIO);
  assert_int_equal(xr_batch_result(bt, 0, NULL, NULL), XR_EIO);
  const xr_reply *r;
  XR_OK(xr_batch_result(bt, 1, &r, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "kept");
  sleep_ms(PAST_REFRESH_INTERVAL_MS);
  assert_int_equal(count_all(f, 2, "INCR *"), 2);
  xr_batch_free(bt);
  xr_client_close(cl);
  free_fakes(f, 2);
}

/* ---- #6 a batch with a redirected operation ------------------------------------------------------ */

/* #6: one batch over A and B in which one operation gets a MOVED (A -> B), one an ASK chain (A ->
 * C -> D, nodes the map never saw), one a WRONGTYPE error, and the others plain replies of several
 * kinds. Proves, for xr_client_exec and for a loop connection (xr_loop_conn on the cluster
 * client): the replies come back in the caller's order, the redirected ones carry the final node's
 * reply, the others are still converted (string, integer, array, nil) and a non-redirect error
 * stays the caller's (XR_EWRONGTYPE); ASKING goes before each ASK hop. */
static void test_batch_with_redirects(void **state) {
  (void)state;
  xrt_fake *f[4] = {fake(), fake(), fake(), fake()}, *a = f[0], *b = f[1], *c = f[2], *d = f[3];
  char ka[32], km[32], kb[32], kh[32], kw[32], ks[32], kn[32];
  key_in(ka, sizeof ka, "plain:", 0, LOW_LAST);
  key_in(km, sizeof km, "moved:", 0, LOW_LAST);
  key_in(kb, sizeof kb, "count:", LOW_LAST + 1, LAST_SLOT);
  key_in(kh, sizeof kh, "hash:", LOW_LAST + 1, LAST_SLOT);
  key_in(kw, sizeof kw, "wrong:", 0, LOW_LAST);
  key_in(ks, sizeof ks, "asked:", 0, LOW_LAST);
  key_in(kn, sizeof kn, "none:", 0, LOW_LAST);
  value_of(a, ka, "a1");
  redirect_get(a, km, "MOVED", b, 0);
  value_of(b, km, "mv");
  on_key(b, "INCR", kb, ":7\r\n", 0);
  on_key(b, "HGETALL", kh, "*2\r\n$1\r\nf\r\n$1\r\nv\r\n", 0);
  on_key(a, "GET", kw, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", 0);
  redirect_get(a, ks, "ASK", c, 0);
  redirect_get(c, ks, "ASK", d, 0);
  value_of(d, ks, "sk");
  on_key(a, "GET", kn, XRT_FAKE_NULL, 0);
  serve_two(f, 2, xrt_fake_port(a), xrt_fake_port(b));
  xr_client *cl = open_cluster(a, 0);

  xr_batch *bt;
  XR_OK(xr_batch_new(&bt));
  const char *ops[][2] = {{"GET", ka}, {"GET", km}, {"INCR", kb}, {"HGETALL", kh}, {"GET", kw}, {"GET", ks}, {"GET", kn}};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) assert_int_equal(xr_batch_add(bt, 2, ops[i], NULL), (int)i);
  for (int by_loop = 0; by_loop < 2; by_loop++) {
    run_batch(cl, bt, by_loop ? BY_LOOP : BY_BATCH);
    const xr_reply *r;
    XR_OK(xr_batch_result(bt, 0, &r, NULL));
    assert_string_equal(xr_reply_str(r, NULL), "a1");
    XR_OK(xr_batch_result(bt, 1, &r, NULL));
    assert_string_equal(xr_reply_str(r, NULL), "mv");
    XR_OK(xr_batch_result(bt, 2, &r, NULL));
    assert_int_equal(xr_reply_kind(r), XR_REPLY_INTEGER);
    assert_int_equal(xr_reply_integer(r), 7);
    XR_OK(xr_batch_result(bt, 3, &r, NULL));
    assert_int_equal(xr_reply_kind(r), XR_REPLY_ARRAY);
    assert_int_equal(xr_reply_count(r), 2);
    assert_string_equal(xr_reply_str(xr_reply_at(r, 1), NULL), "v");
    const char *msg;
    assert_int_equal(xr_batch_result(bt, 4, NULL, &msg), XR_EWRONGTYPE);
    assert_non_null(strstr(msg, "WRONGTYPE"));
    XR_OK(xr_batch_result(bt, 5, &r, NULL));
    assert_string_equal(xr_reply_str(r, NULL), "sk");
    XR_OK(xr_batch_result(bt, 6, &r, NULL));
    assert_int_equal(xr_reply_kind(r), XR_REPLY_NIL);
    assert_int_equal(asking_before_each(c, ks), (size_t)by_loop + 1);
    assert_int_equal(asking_before_each(d, ks), (size_t)by_loop + 1);
    assert_int_equal(count_key(&b, 1, "GET", km), (size_t)by_loop + 1);
  }
  xr_batch_free(bt);
  xr_client_close(cl);
  free_fakes(f, 4);
}

/* #6: WAIT is not a keyed command: in a batch it confirms the write before it, so it must reach that
 * write's node on the same connection, right after it. Three SET + WAIT pairs, on B, B and A (A
 * answers WAIT 1, B 2). Proves: each WAIT goes with its SET, not to a node picked for its
 * numreplicas argument taken as a key, nor to any master (masters taken in turn would give B, A, B
 * or A, B, A); the replies keep the caller's order. */
static void test_batch_wait_follows_write(void **state) {
  (void)state;
  xrt_fake *f[2] = {fake(), fake()}, *a = f[0], *b = f[1];
  char ka[32], kb[32], kb2[32], want[160], got[1024];
  key_in(ka, sizeof ka, "waited:", 0, LOW_LAST);
  key_in(kb, sizeof kb, "waited:", LOW_LAST + 1, LAST_SLOT);
  key_in(kb2, sizeof kb2, "waited2:", LOW_LAST + 1, LAST_SLOT);
  for (int i = 0; i < 2; i++) {
    on(f[i], "SET *", XRT_FAKE_OK);
    on(f[i], "WAIT *", i == 0 ? ":1\r\n" : ":2\r\n");
  }
  serve_two(f, 2, xrt_fake_port(a), xrt_fake_port(b));
  xr_client *cl = open_cluster(a, 0);
  xr_batch *bt;
  XR_OK(xr_batch_new(&bt));
  const char *keys[] = {kb, kb2, ka}, *wait[] = {"WAIT", "1", "100"};
  for (int i = 0; i < 3; i++) {
    const char *set[] = {"SET", keys[i], "x"};
    xr_batch_add(bt, 3, set, NULL);
    xr_batch_add(bt, 3, wait, NULL);
  }
  XR_OK(xr_client_exec(cl, bt));
  const xr_reply *r;
  for (size_t i = 0; i < 6; i++) {
    XR_OK(xr_batch_result(bt, i, &r, NULL));
    if (i % 2 == 0) assert_string_equal(xr_reply_str(r, NULL), "OK");
    else assert_int_equal(xr_reply_integer(r), i == 5 ? 1 : 2);
  }
  snprintf(want, sizeof want, "SET %s x\nWAIT 1 100\nSET %s x\nWAIT 1 100\n", kb, kb2);
  ERR_CHECK(xrt_fake_transcript(b, 1, got, sizeof got, err_));
  assert_string_equal(got, want);
  snprintf(want, sizeof want, "2 SET %s x\n2 WAIT 1 100\n", ka);
  ERR_CHECK(xrt_fake_transcript(a, 0, got, sizeof got, err_));
  assert_non_null(strstr(got, want));
  assert_int_equal(xrt_fake_count(a, "WAIT *"), 1);
  xr_batch_free(bt);
  xr_client_close(cl);
  free_fakes(f, 2);
}

/* ---- #7 scripts per node ------------------------------------------------------------------------- */

/* #7: B knows the script, A does not (restarted, failed over). Proves: after the script ran by EVAL
 * once (on B), a run on A goes by EVALSHA, gets NOSCRIPT, and falls back to EVAL on A itself (the
 * node that answered, on the same connection), not on another node; B keeps getting EVALSHA. */
static void test_noscript_per_node(void **state) {
  (void)state;
  xrt_fake *f[2] = {fake(), fake()}, *a = f[0], *b = f[1];
  char ka[32], kb[32];
  key_in(ka, sizeof ka, "script:", 0, LOW_LAST);
  key_in(kb, sizeof kb, "script:", LOW_LAST + 1, LAST_SLOT);
  on(a, "EVALSHA", "-NOSCRIPT No matching script. Please use EVAL.\r\n");
  on(a, "EVAL", "$1\r\na\r\n");
  on(b, "EVALSHA", "$1\r\nb\r\n");
  on(b, "EVAL", "$1\r\nb\r\n");
  serve_two(f, 2, xrt_fake_port(a), xrt_fake_port(b));
  xr_client *cl = open_cluster(a, 0);
  xr_script *s;
  const char body[] = "return 1";
  XR_OK(xr_script_new(&s, body, sizeof body - 1));
  const char *on_b[] = {kb}, *on_a[] = {ka};
  xr_reply *r;
  XR_OK(xr_client_eval(cl, &r, s, 1, 1, on_b, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "b");
  xr_reply_free(r);
  XR_OK(xr_client_eval(cl, &r, s, 1, 1, on_a, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "a");
  xr_reply_free(r);
  XR_OK(xr_client_eval(cl, &r, s, 1, 1, on_b, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "b");
  xr_reply_free(r);
  char want[256], got[1024];
  snprintf(want, sizeof want, "2 EVALSHA %s 1 %s\n2 EVAL %s 1 %s\n", xr_script_sha1(s), ka, body, ka);
  ERR_CHECK(xrt_fake_transcript(a, 0, got, sizeof got, err_));
  assert_non_null(strstr(got, want));
  snprintf(want, sizeof want, "EVAL %s 1 %s\nEVALSHA %s 1 %s\n", body, kb, xr_script_sha1(s), kb);
  ERR_CHECK(xrt_fake_transcript(b, 1, got, sizeof got, err_));
  assert_string_equal(got, want);
  xr_script_free(s);
  xr_client_close(cl);
  free_fakes(f, 2);
}

/* ---- #12 announced endpoints ---------------------------------------------------------------------- */

/* One shard of CLUSTER SHARDS written by hand (the fake's builder always writes an endpoint):
 * slots first..last, one master node with the fields given (NULL: left out). */
static void put_shard(char *buf, size_t size, size_t *used, int first, int last, int port, const char *ip,
                      const char *endpoint, const char *hostname) {
  char p[8], id[48];
  snprintf(p, sizeof p, "%d", port);
  snprintf(id, sizeof id, "%040d", port);
  int fields = 5 + (ip != NULL) + (endpoint != NULL) + (hostname != NULL);
  int n = snprintf(buf + *used, size - *used, "*4\r\n$5\r\nslots\r\n*2\r\n:%d\r\n:%d\r\n$5\r\nnodes\r\n*1\r\n*%d\r\n", first,
                   last, 2 * fields);
  assert_true(n > 0 && (size_t)n < size - *used);
  *used += (size_t)n;
  const char *kv[][2] = {{"id", id}, {"port", NULL}, {"ip", ip}, {"endpoint", endpoint}, {"hostname", hostname},
                         {"role", "master"}, {"replication-offset", NULL}, {"health", "online"}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
    int integer = !strcmp(kv[i][0], "port") || !strcmp(kv[i][0], "replication-offset");
    if (!integer && !kv[i][1]) continue;
    put_bulk(buf, size, used, kv[i][0]);
    if (integer) {
      n = snprintf(buf + *used, size - *used, ":%d\r\n", !strcmp(kv[i][0], "port") ? port : 0);
      assert_true(n > 0 && (size_t)n < size - *used);
      *used += (size_t)n;
    } else {
      put_bulk(buf, size, used, kv[i][1]);
    }
  }
}

/* Opens a client on seed `a` after a's CLUSTER SHARDS / SLOTS rules were set, reads a key of each
 * shard (A answers "a", B "b"), closes it. */
static void read_both(xrt_fake *a, xrt_fake *b) {
  char ka[32], kb[32];
  key_in(ka, sizeof ka, "ep:", 0, LOW_LAST);
  key_in(kb, sizeof kb, "ep:", LOW_LAST + 1, LAST_SLOT);
  value_of(a, ka, "a");
  value_of(b, kb, "b");
  xr_client *cl = open_cluster(a, 0);
  itest_assert_get(cl, ka, "a");
  itest_assert_get(cl, kb, "b");
  xr_client_close(cl);
}

/* #12: what the nodes announce. B listens on 127.0.0.1; the other addresses given for it are
 * 127.0.0.2 and 127.0.0.3, where nothing listens (a client that picks them gets refused and fails
 * XR_ECONNECT). Proves: an empty endpoint means the host the client asked (not the ip field), in
 * CLUSTER SHARDS and in CLUSTER SLOTS; the endpoint wins over hostname and ip, a hostname over the
 * ip, an empty hostname says nothing; a "?" endpoint (unknown) is never taken as a host name: that
 * node is left out and its slots are unserved (XR_ECLUSTERDOWN, no connection to anything); a
 * server before Redis 7 that answers CLUSTER SHARDS with "unknown subcommand" is asked CLUSTER
 * SLOTS instead. */
static void test_endpoints(void **state) {
  (void)state;
  xrt_fake *f[2] = {fake(), fake()}, *a = f[0], *b = f[1];
  int pa = xrt_fake_port(a), pb = xrt_fake_port(b);
  char buf[4096];
  xrt_fake_shard s[2] = {shard(0, LOW_LAST, pa), shard(LOW_LAST + 1, LAST_SLOT, pb)};

  /* "" endpoints: the host asked (127.0.0.1), not the ip */
  s[0].nodes[0].endpoint = s[1].nodes[0].endpoint = "";
  s[0].nodes[0].ip = s[1].nodes[0].ip = "127.0.0.2";
  on(a, "CLUSTER SHARDS", xrt_fake_cluster_shards(buf, sizeof buf, s, 2));
  read_both(a, b);

  /* endpoint over hostname over ip */
  xrt_fake_clear_rules(a);
  xrt_fake_clear_rules(b);
  s[0].nodes[0].endpoint = s[0].nodes[0].ip = NULL;
  s[1].nodes[0].endpoint = "127.0.0.1";
  s[1].nodes[0].hostname = "127.0.0.3";
  s[1].nodes[0].ip = "127.0.0.2";
  on(a, "CLUSTER SHARDS", xrt_fake_cluster_shards(buf, sizeof buf, s, 2));
  read_both(a, b);
  /* no endpoint field: the hostname over the ip; then an empty hostname: the ip */
  const char *hostnames[] = {"127.0.0.1", ""};
  const char *ips[] = {"127.0.0.2", "127.0.0.1"};
  for (int i = 0; i < 2; i++) {
    xrt_fake_clear_rules(a);
    xrt_fake_clear_rules(b);
    size_t used = (size_t)snprintf(buf, sizeof buf, "*2\r\n");
    put_shard(buf, sizeof buf, &used, 0, LOW_LAST, pa, "127.0.0.1", NULL, NULL);
    put_shard(buf, sizeof buf, &used, LOW_LAST + 1, LAST_SLOT, pb, ips[i], NULL, hostnames[i]);
    on(a, "CLUSTER SHARDS", buf);
    read_both(a, b);
  }

  /* "?": B is left out, its slots unserved, and nothing connects anywhere for them */
  xrt_fake_clear_rules(a);
  xrt_fake_clear_rules(b);
  s[1].nodes[0].endpoint = "?";
  s[1].nodes[0].hostname = NULL;
  s[1].nodes[0].ip = NULL;
  on(a, "CLUSTER SHARDS", xrt_fake_cluster_shards(buf, sizeof buf, s, 2));
  char ka[32], kb[32];
  key_in(ka, sizeof ka, "ep:", 0, LOW_LAST);
  key_in(kb, sizeof kb, "ep:", LOW_LAST + 1, LAST_SLOT);
  value_of(a, ka, "a");
  int accepted_b = xrt_fake_accepted(b);
  xr_client *cl = open_cluster(a, 0);
  itest_assert_get(cl, ka, "a");
  char want[64];
  snprintf(want, sizeof want, "no node serves slot %d", slot_of(kb));
  XR_FAILS(itest_cmd(cl, NULL, "GET", kb, NULL), XR_ECLUSTERDOWN, want);
  assert_int_equal(xrt_fake_accepted(b), accepted_b);
  xr_client_close(cl);

  /* before Redis 7: CLUSTER SLOTS, its "" endpoint the host asked too */
  xrt_fake_clear_rules(a);
  xrt_fake_clear_rules(b);
  xrt_fake_clear_log(a);
  on(a, "CLUSTER SHARDS", "-ERR Unknown subcommand or wrong number of arguments for 'SHARDS'. Try CLUSTER HELP.\r\n");
  s[0].nodes[0].endpoint = s[1].nodes[0].endpoint = "";
  s[0].nodes[0].ip = s[1].nodes[0].ip = "127.0.0.2";
  on(a, "CLUSTER SLOTS", xrt_fake_cluster_slots(buf, sizeof buf, s, 2));
  read_both(a, b);
  assert_int_equal(xrt_fake_count(a, "CLUSTER SLOTS"), 1);
  free_fakes(f, 2);
}

/* ---- Sentinel ------------------------------------------------------------------------------------ */

#define SUBSCRIBED "*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"

/* Sentinel `s` (its rules cleared) names `master` for MASTER_NAME (NULL: does not know it), knows
 * no other sentinel, and takes SUBSCRIBE +switch-master. The first `closes` GET-MASTER-ADDR-BY-NAME
 * close their connection instead, and the answers to it wait `delay_ms`. */
static void sentinel_names_with(xrt_fake *s, const xrt_fake *master, int closes, int delay_ms) {
  char buf[128];
  xrt_fake_clear_rules(s);
  xrt_fake_rule_options o = XRT_FAKE_RULE_OPTIONS_INIT;
  if (closes) {
    o.times = closes;
    o.action = XRT_FAKE_CLOSE;
    ERR_CHECK(xrt_fake_on_with(s, "SENTINEL get-master-addr-by-name " MASTER_NAME, NULL, &o, err_));
  }
  o = (xrt_fake_rule_options)XRT_FAKE_RULE_OPTIONS_INIT;
  o.delay_ms = delay_ms;
  ERR_CHECK(xrt_fake_on_with(s, "SENTINEL get-master-addr-by-name " MASTER_NAME,
                             xrt_fake_sentinel_master(buf, sizeof buf, master ? "127.0.0.1" : NULL,
                                                      master ? xrt_fake_port(master) : 0),
                             &o, err_));
  on(s, "SENTINEL sentinels " MASTER_NAME, "*0\r\n");
  on(s, "SUBSCRIBE +switch-master", SUBSCRIBED);
}

static void sentinel_names(xrt_fake *s, const xrt_fake *master) { sentinel_names_with(s, master, 0, 0); }

/* Data node `n` (its rules cleared) says it is a master (master NULL) or a replica of `master`,
 * and answers SET with `set_reply`. */
static void node_role(xrt_fake *n, const xrt_fake *master, const char *set_reply) {
  char buf[128];
  xrt_fake_clear_rules(n);
  if (master) on(n, "ROLE", xrt_fake_role_replica(buf, sizeof buf, "127.0.0.1", xrt_fake_port(master), "connected", 10));
  else on(n, "ROLE", xrt_fake_role_master(buf, sizeof buf, 10));
  on(n, "SET *", set_reply);
}

/* Options of a Sentinel client of sentinels at ports[0..n), small timeouts. */
static xr_client_options sentinel_options(char *nodes, size_t size, const int *ports, size_t n) {
  size_t used = 0;
  nodes[0] = '\0';
  for (size_t i = 0; i < n; i++) used += (size_t)snprintf(nodes + used, size - used, "%s127.0.0.1:%d", i ? "," : "", ports[i]);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.topology = XR_TOPOLOGY_SENTINEL;
  o.nodes = nodes;
  o.master_name = MASTER_NAME;
  o.connect_timeout_ms = IO_TIMEOUT_MS;
  o.command_timeout_ms = IO_TIMEOUT_MS;
  return o;
}

/* A Sentinel client of sentinels[0..n), with this command timeout (0: IO_TIMEOUT_MS). */
static xr_client *open_sentinel(xrt_fake *const *sentinels, size_t n, int command_timeout_ms) {
  int ports[4];
  for (size_t i = 0; i < n; i++) ports[i] = xrt_fake_port(sentinels[i]);
  char nodes[128];
  xr_client_options o = sentinel_options(nodes, sizeof nodes, ports, n);
  if (command_timeout_ms) o.command_timeout_ms = command_timeout_ms;
  return open_client(&o);
}

/* A failover's cast: a sentinel naming m1, m1 and m2 both masters that take SET, and a client that
 * found m1. */
typedef struct failover {
  xrt_fake *s, *m1, *m2;
  xr_client *cl;
} failover;

static void failover_start(failover *fo) {
  fo->s = fake();
  fo->m1 = fake();
  fo->m2 = fake();
  sentinel_names(fo->s, fo->m1);
  node_role(fo->m1, NULL, XRT_FAKE_OK);
  node_role(fo->m2, NULL, XRT_FAKE_OK);
  fo->cl = open_sentinel(&fo->s, 1, 0);
}

/* The sentinel now names `now`, and `old` became its replica, answering SET with `set_reply`. */
static void fail_over(failover *fo, xrt_fake *old, xrt_fake *now, const char *set_reply) {
  sentinel_names(fo->s, now);
  node_role(now, NULL, XRT_FAKE_OK);
  node_role(old, now, set_reply);
}

static void failover_free(failover *fo) {
  xr_client_close(fo->cl);
  xrt_fake_free(fo->s);
  xrt_fake_free(fo->m1);
  xrt_fake_free(fo->m2);
}

/* Sentinel: the first sentinel names a node that says it is a replica (ROLE), the second the real
 * master. Proves: the client checks ROLE and moves on to the next sentinel rather than writing to
 * a replica; the calls go to the master. */
static void test_sentinel_names_a_replica(void **state) {
  (void)state;
  xrt_fake *s[2] = {fake(), fake()}, *n[2] = {fake(), fake()}, *m = n[0], *r = n[1];
  sentinel_names(s[0], r);
  sentinel_names(s[1], m);
  node_role(m, NULL, XRT_FAKE_OK);
  node_role(r, m, XRT_FAKE_OK);
  xr_client *cl = open_sentinel(s, 2, 0);
  XR_OK(itest_cmd(cl, NULL, "SET", "k", "v", NULL));
  assert_int_equal(xrt_fake_count(m, "SET k v"), 1);
  assert_int_equal(xrt_fake_count(r, "ROLE"), 1);
  assert_int_equal(xrt_fake_count(r, "SET *"), 0);
  assert_int_equal(xrt_fake_count(s[0], "SENTINEL get-master-addr-by-name *"), 1);
  assert_int_equal(xrt_fake_count(s[1], "SENTINEL get-master-addr-by-name *"), 1);
  xr_client_close(cl);
  free_fakes(s, 2);
  free_fakes(n, 2);
}

/* Sentinel: one sentinel is down (refused), one does not know the name, one names a replica.
 * Proves: the open fails XR_ENOMASTER, and the message says what each sentinel said. */
static void test_sentinel_no_master(void **state) {
  (void)state;
  xrt_fake *f[4] = {fake(), fake(), fake(), fake()}, *s1 = f[0], *s2 = f[1], *r = f[2], *m = f[3];
  sentinel_names(s1, NULL);
  sentinel_names(s2, r);
  node_role(r, m, XRT_FAKE_OK);
  int ports[3] = {closed_port(), xrt_fake_port(s1), xrt_fake_port(s2)};
  char nodes[128], part[128];
  xr_client_options o = sentinel_options(nodes, sizeof nodes, ports, 3);
  xr_client *cl = NULL;
  XR_FAILS(xr_client_open(&cl, &o), XR_ENOMASTER, "no master '" MASTER_NAME "' found (asked 3 sentinels)");
  assert_null(cl);
  const char *msg = xr_error_last()->message;
  snprintf(part, sizeof part, "cannot connect to 127.0.0.1:%d", ports[0]);
  assert_non_null(strstr(msg, part));
  snprintf(part, sizeof part, "sentinel 127.0.0.1:%d does not know master '" MASTER_NAME "'", ports[1]);
  assert_non_null(strstr(msg, part));
  snprintf(part, sizeof part, "127.0.0.1:%d says it is not a master", xrt_fake_port(r));
  assert_non_null(strstr(msg, part));
  free_fakes(f, 4);
}

/* Sentinel #17: the first sentinel accepts connections and never answers. Proves: its timeout (the
 * command timeout, 500 ms here) does not end the search: the client asks the next sentinel and
 * opens, after about that timeout. */
static void test_sentinel_silent(void **state) {
  (void)state;
  xrt_fake *f[3] = {fake(), fake(), fake()}, *m = f[2];
  on_action(f[0], "*", XRT_FAKE_SILENT);
  sentinel_names(f[1], m);
  node_role(m, NULL, XRT_FAKE_OK);
  long long t0 = itest_now_ms();
  xr_client *cl = open_sentinel(f, 2, 500);
  long long elapsed = itest_now_ms() - t0;
  print_message("a silent sentinel cost %lld ms\n", elapsed);
  assert_true(elapsed >= 500 && elapsed < 4000);
  XR_OK(itest_cmd(cl, NULL, "SET", "k", "v", NULL));
  assert_int_equal(xrt_fake_count(m, "SET k v"), 1);
  assert_int_equal(xrt_fake_count(f[0], "SENTINEL get-master-addr-by-name *"), 1);
  xr_client_close(cl);
  free_fakes(f, 3);
}

/* Sentinel #17: the master dies (its port closes) and the sentinel names a new one. Proves: the
 * call that was on the wire fails XR_EIO and is not sent again (it may have run), and the next call
 * asks the sentinel again and runs on the new master, rather than reconnecting to the cached
 * address (which refuses). */
static void test_sentinel_retry_asks_again(void **state) {
  (void)state;
  failover fo;
  failover_start(&fo);
  size_t asked = xrt_fake_count(fo.s, "SENTINEL get-master-addr-by-name *");
  sentinel_names(fo.s, fo.m2);
  on_action(fo.m1, "INCR *", XRT_FAKE_CLOSE);
  sleep_ms(PAST_REFRESH_INTERVAL_MS);
  XR_FAILS(itest_cmd(fo.cl, NULL, "INCR", "n", NULL), XR_EIO, NULL);
  assert_int_equal(xrt_fake_count(fo.m1, "INCR *"), 1);
  xrt_fake_free(fo.m1); /* gone: its port refuses */
  fo.m1 = NULL;
  on(fo.m2, "INCR *", ":1\r\n");
  xr_reply *r;
  XR_OK(itest_cmd(fo.cl, &r, "INCR", "n", NULL));
  assert_int_equal(xr_reply_integer(r), 1);
  xr_reply_free(r);
  assert_int_equal(xrt_fake_count(fo.m2, "INCR *"), 1);
  assert_true(xrt_fake_count(fo.s, "SENTINEL get-master-addr-by-name *") > asked);
  failover_free(&fo);
}

/* One entry of SENTINEL REPLICAS (a flat map of bulk strings) appended to buf. */
static void put_replica(char *buf, size_t size, size_t *used, int port, const char *flags, const char *link) {
  char p[8], name[32];
  snprintf(p, sizeof p, "%d", port);
  snprintf(name, sizeof name, "127.0.0.1:%d", port);
  const char *kv[] = {"name", name, "ip", "127.0.0.1", "port", p, "flags", flags, "master-link-status", link};
  int n = snprintf(buf + *used, size - *used, "*%zu\r\n", sizeof kv / sizeof kv[0]);
  *used += (size_t)n;
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) put_bulk(buf, size, used, kv[i]);
}

typedef struct listed {
  const xrt_fake *node;
  const char *flags, *link; /* SENTINEL REPLICAS's "flags" and "master-link-status" */
} listed;

/* Sentinel s lists these replicas of MASTER_NAME (SENTINEL REPLICAS), in this order. */
static void sentinel_lists(xrt_fake *s, const listed *l, size_t n) {
  char buf[4096];
  size_t used = (size_t)snprintf(buf, sizeof buf, "*%zu\r\n", n);
  for (size_t i = 0; i < n; i++) put_replica(buf, sizeof buf, &used, xrt_fake_port(l[i].node), l[i].flags, l[i].link);
  on(s, "SENTINEL replicas " MASTER_NAME, buf);
}

/* A client of sentinel s alone, with replica_reads on. */
static xr_client *open_replica_reader(const xrt_fake *s) {
  int port = xrt_fake_port(s);
  char nodes[64];
  xr_client_options o = sentinel_options(nodes, sizeof nodes, &port, 1);
  o.replica_reads = 1;
  return open_client(&o);
}

/* Sentinel #19 (replica_reads on): SENTINEL REPLICAS lists four replicas, of which one is healthy,
 * one s_down, one disconnected and one whose link to the master is down. Proves: reads go to the
 * healthy replica only (the others are never even connected to), and writes to the master. */
static void test_sentinel_replicas_filtered(void **state) {
  (void)state;
  xrt_fake *s = fake(), *m = fake(), *r[4] = {fake(), fake(), fake(), fake()};
  sentinel_names(s, m);
  node_role(m, NULL, XRT_FAKE_OK);
  const listed l[] = {
      {r[1], "slave,s_down", "ok"}, {r[0], "slave", "ok"}, {r[2], "slave,disconnected", "ok"}, {r[3], "slave", "err"}};
  sentinel_lists(s, l, 4);
  for (int i = 0; i < 4; i++) on(r[i], "GET *", "$7\r\nreplica\r\n");
  xr_client *cl = open_replica_reader(s);
  for (int i = 0; i < 8; i++) itest_assert_get(cl, "k", "replica");
  XR_OK(itest_cmd(cl, NULL, "SET", "k", "v", NULL));
  assert_int_equal(xrt_fake_count(r[0], "GET *"), 8);
  for (int i = 1; i < 4; i++) assert_int_equal(xrt_fake_accepted(r[i]), 0);
  assert_int_equal(xrt_fake_count(m, "SET k v"), 1);
  assert_int_equal(xrt_fake_count(m, "GET *"), 0);
  xr_client_close(cl);
  xrt_fake_free(s);
  xrt_fake_free(m);
  free_fakes(r, 4);
}

/* Sentinel #20: the master refuses a write with NOREPLICAS (min-replicas-to-write). Proves: the
 * caller gets XR_ENOREPLICAS with the server's text, from a command and from a batch, and the
 * write was sent once each time (never retried silently). */
static void test_sentinel_noreplicas(void **state) {
  (void)state;
  failover fo;
  failover_start(&fo);
  node_role(fo.m1, NULL, XRT_FAKE_NOREPLICAS);
  XR_FAILS(itest_cmd(fo.cl, NULL, "SET", "k", "v", NULL), XR_ENOREPLICAS, "NOREPLICAS");
  assert_int_equal(xrt_fake_count(fo.m1, "SET *"), 1);
  xr_batch *bt;
  XR_OK(xr_batch_new(&bt));
  const char *set[] = {"SET", "k", "w"}, *msg;
  assert_int_equal(batch_one(fo.cl, bt, 3, set, NULL, &msg), XR_ENOREPLICAS);
  assert_non_null(strstr(msg, "NOREPLICAS"));
  assert_int_equal(xrt_fake_count(fo.m1, "SET *"), 2);
  xr_batch_free(bt);
  failover_free(&fo);
}

/* Sentinel #14: a failover without a disconnect: the old master, now a replica, answers writes
 * with READONLY while the sentinel names the new one. Proves: the client asks the sentinel again
 * and the write runs on the new master (once), for a command and for a batch (a second failover,
 * back); the READONLY never reaches the caller. */
static void test_sentinel_readonly(void **state) {
  (void)state;
  failover fo;
  failover_start(&fo);
  fail_over(&fo, fo.m1, fo.m2, XRT_FAKE_READONLY);
  XR_OK(itest_cmd(fo.cl, NULL, "SET", "k", "v", NULL));
  assert_int_equal(xrt_fake_count(fo.m2, "SET k v"), 1);
  assert_true(xrt_fake_count(fo.m1, "SET k v") >= 1);

  fail_over(&fo, fo.m2, fo.m1, XRT_FAKE_READONLY);
  xr_batch *bt;
  XR_OK(xr_batch_new(&bt));
  const char *set[] = {"SET", "k", "w"};
  const xr_reply *r;
  XR_OK(batch_one(fo.cl, bt, 3, set, &r, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "OK");
  assert_int_equal(xrt_fake_count(fo.m1, "SET k w"), 1);
  xr_batch_free(bt);
  failover_free(&fo);
}

/* Sentinel #15: the old master stays up and keeps answering (a partition the client does not
 * see), and the sentinel pushes +switch-master on the client's subscription. Proves: the next call
 * reads the message, asks the sentinel again and goes to the new master; without the watch it
 * would go to the old one (which accepts the write). */
static void test_sentinel_switch_master(void **state) {
  (void)state;
  failover fo;
  failover_start(&fo);
  XR_OK(itest_cmd(fo.cl, NULL, "SET", "k", "before", NULL));
  assert_int_equal(xrt_fake_count(fo.m1, "SET k before"), 1);
  /* the watch: the sentinel connection that subscribed */
  int sub = 0;
  xrt_fake_log log;
  ERR_CHECK(xrt_fake_commands(fo.s, &log, err_));
  for (size_t i = 0; i < log.count; i++)
    if (!strcasecmp(log.commands[i].argv[0], "SUBSCRIBE")) sub = log.commands[i].conn;
  xrt_fake_log_free(&log);
  assert_true(sub > 0);

  sentinel_names(fo.s, fo.m2);
  char text[128], msg[256];
  snprintf(text, sizeof text, MASTER_NAME " 127.0.0.1 %d 127.0.0.1 %d", xrt_fake_port(fo.m1), xrt_fake_port(fo.m2));
  const char *v[] = {"message", "+switch-master", text};
  ERR_CHECK(xrt_fake_send(fo.s, sub, bulks(msg, sizeof msg, 3, v), err_));
  sleep_ms(PAST_REFRESH_INTERVAL_MS); /* the message arrives; the watch's read is due */
  XR_OK(itest_cmd(fo.cl, NULL, "SET", "k", "after", NULL));
  assert_int_equal(xrt_fake_count(fo.m2, "SET k after"), 1);
  assert_int_equal(xrt_fake_count(fo.m1, "SET k after"), 0);
  failover_free(&fo);
}

/* ---- the periodic re-check ------------------------------------------------------------------------ */

/* The client asks the sentinels again this often when nothing else made it (sentinel.c). */
#define RECHECK_MS 5000
#define RECHECK_THREADS 4
#define RECHECK_SETS 10

/* The connection of the last command f received whose first two words match a, b (0: none). */
static int last_conn(xrt_fake *f, const char *a, const char *b) {
  xrt_fake_log log;
  ERR_CHECK(xrt_fake_commands(f, &log, err_));
  int id = 0;
  for (size_t i = 0; i < log.count; i++)
    if (log.commands[i].argc >= 2 && !strcasecmp(log.commands[i].argv[0], a) && !strcasecmp(log.commands[i].argv[1], b))
      id = log.commands[i].conn;
  xrt_fake_log_free(&log);
  return id;
}

/* Prints what f received since its log was cleared, one command a line with its connection. */
static void print_transcript(xrt_fake *f, const char *who) {
  char text[4096];
  ERR_CHECK(xrt_fake_transcript(f, 0, text, sizeof text, err_));
  print_message("%s (%d connections accepted in all):\n%s", who, xrt_fake_accepted(f), text);
}

typedef struct setter {
  xr_client *c;
  int rc;
  char msg[300];
} setter;

static void *setter_run(void *arg) {
  setter *st = arg;
  for (int i = 0; i < RECHECK_SETS && !st->rc; i++)
    if ((st->rc = itest_cmd(st->c, NULL, "SET", "k", "v", NULL)))
      snprintf(st->msg, sizeof st->msg, "SET: %s", xr_error_last()->message);
  return NULL;
}

/* Sentinel: the periodic re-check (every RECHECK_MS, made by a call passing by) when nothing
 * changed. Proves: it is one SENTINEL GET-MASTER-ADDR-BY-NAME on the connection kept from the
 * discovery: no new connection to the sentinel, no SENTINEL SENTINELS, no ROLE on the master (the
 * full discovery, which every re-check used to be, does all three); and with RECHECK_THREADS
 * threads calling when it is due, while the sentinel takes longer to answer (150 ms) than the
 * minimum interval between refreshes, it runs once. */
static void test_sentinel_recheck_is_one_command(void **state) {
  (void)state;
  xrt_fake *s = fake(), *m = fake();
  sentinel_names_with(s, m, 0, 150);
  node_role(m, NULL, XRT_FAKE_OK);
  xr_client *cl = open_sentinel(&s, 1, 0);
  XR_OK(itest_cmd(cl, NULL, "SET", "k", "v", NULL));
  int asked = last_conn(s, "SENTINEL", "get-master-addr-by-name"), accepted = xrt_fake_accepted(s);
  assert_true(asked > 0);
  xrt_fake_clear_log(s);
  xrt_fake_clear_log(m);
  sleep_ms(RECHECK_MS + 300);

  pthread_t th[RECHECK_THREADS];
  setter st[RECHECK_THREADS];
  for (size_t i = 0; i < RECHECK_THREADS; i++) {
    st[i] = (setter){cl, 0, ""};
    assert_int_equal(pthread_create(&th[i], NULL, setter_run, &st[i]), 0);
  }
  for (size_t i = 0; i < RECHECK_THREADS; i++) pthread_join(th[i], NULL);
  for (size_t i = 0; i < RECHECK_THREADS; i++)
    if (st[i].rc) fail_msg("thread %zu: %s", i, st[i].msg);
  print_transcript(s, "the sentinel during a re-check");
  assert_int_equal(xrt_fake_accepted(s), accepted);
  assert_int_equal(xrt_fake_count(s, "SENTINEL get-master-addr-by-name " MASTER_NAME), 1);
  assert_int_equal(xrt_fake_count(s, NULL), 1);
  assert_int_equal(last_conn(s, "SENTINEL", "get-master-addr-by-name"), asked);
  assert_int_equal(xrt_fake_count(m, "ROLE"), 0);
  assert_int_equal(xrt_fake_count(m, "SET k v"), RECHECK_THREADS * RECHECK_SETS);
  xr_client_close(cl);
  xrt_fake_free(s);
  xrt_fake_free(m);
}

/* Sentinel: the sentinel names another master while the old one stays up and takes writes, and
 * no +switch-master arrives (a missed event). Proves: the re-check that finds the new address runs
 * the full discovery: ROLE on the new master and SENTINEL SENTINELS, and the next write goes to
 * the new master, none to the old one. */
static void test_sentinel_recheck_new_address(void **state) {
  (void)state;
  failover fo;
  failover_start(&fo);
  XR_OK(itest_cmd(fo.cl, NULL, "SET", "k", "before", NULL));
  sentinel_names(fo.s, fo.m2);
  xrt_fake_clear_log(fo.s);
  xrt_fake_clear_log(fo.m1);
  xrt_fake_clear_log(fo.m2);
  sleep_ms(RECHECK_MS + 300);
  XR_OK(itest_cmd(fo.cl, NULL, "SET", "k", "after", NULL));
  print_transcript(fo.s, "the sentinel during a re-check that finds a new master");
  assert_int_equal(xrt_fake_count(fo.m2, "ROLE"), 1);
  assert_true(xrt_fake_count(fo.s, "SENTINEL sentinels " MASTER_NAME) >= 1);
  assert_int_equal(xrt_fake_count(fo.m2, "SET k after"), 1);
  assert_int_equal(xrt_fake_count(fo.m1, "SET *"), 0);
  failover_free(&fo);
}

/* Sentinel: the connection the re-check asks on closes when asked (a sentinel restarted). Proves:
 * the re-check then runs the full discovery on a new connection (ROLE on the master, which stays
 * the same), the write goes to the master, and the next re-check asks on that new connection with
 * one command again. */
static void test_sentinel_recheck_lost_connection(void **state) {
  (void)state;
  xrt_fake *s = fake(), *m = fake();
  sentinel_names(s, m);
  node_role(m, NULL, XRT_FAKE_OK);
  xr_client *cl = open_sentinel(&s, 1, 0);
  int asked = last_conn(s, "SENTINEL", "get-master-addr-by-name"), accepted = xrt_fake_accepted(s);
  sentinel_names_with(s, m, 1, 0);
  xrt_fake_clear_log(s);
  xrt_fake_clear_log(m);
  sleep_ms(RECHECK_MS + 300);
  XR_OK(itest_cmd(cl, NULL, "SET", "k", "v", NULL));
  print_transcript(s, "the sentinel during a re-check whose connection closes");
  assert_int_equal(xrt_fake_count(s, "SENTINEL get-master-addr-by-name *"), 2);
  int again = last_conn(s, "SENTINEL", "get-master-addr-by-name");
  assert_true(again != asked);
  assert_int_equal(xrt_fake_accepted(s), accepted + 1);
  assert_int_equal(xrt_fake_count(m, "ROLE"), 1);
  assert_int_equal(xrt_fake_count(m, "SET k v"), 1);

  xrt_fake_clear_log(s);
  xrt_fake_clear_log(m);
  sleep_ms(RECHECK_MS + 300);
  XR_OK(itest_cmd(cl, NULL, "SET", "k", "w", NULL));
  assert_int_equal(xrt_fake_count(s, NULL), 1);
  assert_int_equal(last_conn(s, "SENTINEL", "get-master-addr-by-name"), again);
  assert_int_equal(xrt_fake_accepted(s), accepted + 1);
  assert_int_equal(xrt_fake_count(m, "ROLE"), 0);
  assert_int_equal(xrt_fake_count(m, "SET k w"), 1);
  xr_client_close(cl);
  xrt_fake_free(s);
  xrt_fake_free(m);
}

/* Sentinel (replica_reads on): between two re-checks, one of the two replicas SENTINEL REPLICAS
 * lists loses its link to the master (it stays up and answers reads: stale data). Proves: the
 * cheap re-check still asks for the replicas, on the kept connection (GET-MASTER-ADDR-BY-NAME and
 * SENTINEL REPLICAS, no new connection, no ROLE), and the reads after it go to the healthy
 * replica only. */
static void test_sentinel_recheck_replicas(void **state) {
  (void)state;
  xrt_fake *s = fake(), *m = fake(), *r[2] = {fake(), fake()};
  sentinel_names(s, m);
  node_role(m, NULL, XRT_FAKE_OK);
  const listed both[] = {{r[0], "slave", "ok"}, {r[1], "slave", "ok"}};
  sentinel_lists(s, both, 2);
  for (int i = 0; i < 2; i++) on(r[i], "GET *", "$7\r\nreplica\r\n");
  xr_client *cl = open_replica_reader(s);
  for (int i = 0; i < 16; i++) itest_assert_get(cl, "k", "replica");
  assert_true(xrt_fake_count(r[0], "GET *") > 0 && xrt_fake_count(r[1], "GET *") > 0);

  sentinel_names(s, m);
  const listed one_linked[] = {{r[0], "slave", "ok"}, {r[1], "slave", "err"}};
  sentinel_lists(s, one_linked, 2);
  int accepted = xrt_fake_accepted(s);
  xrt_fake_clear_log(s);
  xrt_fake_clear_log(m);
  sleep_ms(RECHECK_MS + 300);
  itest_assert_get(cl, "k", "replica"); /* the re-check runs before it is routed */
  xrt_fake_clear_log(r[0]);
  xrt_fake_clear_log(r[1]);
  for (int i = 0; i < 16; i++) itest_assert_get(cl, "k", "replica");
  print_transcript(s, "the sentinel during a re-check with replica reads");
  assert_int_equal(xrt_fake_count(s, NULL), 2);
  assert_int_equal(xrt_fake_count(s, "SENTINEL replicas " MASTER_NAME), 1);
  assert_int_equal(xrt_fake_accepted(s), accepted);
  assert_int_equal(xrt_fake_count(m, "ROLE"), 0);
  assert_int_equal(xrt_fake_count(r[0], "GET *"), 16);
  assert_int_equal(xrt_fake_count(r[1], "GET *"), 0);
  xr_client_close(cl);
  xrt_fake_free(s);
  xrt_fake_free(m);
  free_fakes(r, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ask_chain),
      cmocka_unit_test(test_moved_loop),
      cmocka_unit_test(test_moved_storm),
      cmocka_unit_test(test_moved_beats_stale_refresh),
      cmocka_unit_test(test_self_moved),
      cmocka_unit_test(test_refused_node),
      cmocka_unit_test(test_loop_conn_open_refused),
      cmocka_unit_test(test_readonly_demoted_master),
      cmocka_unit_test(test_tryagain_and_clusterdown),
      cmocka_unit_test(test_lost_after_send_not_resent),
      cmocka_unit_test(test_batch_with_redirects),
      cmocka_unit_test(test_batch_wait_follows_write),
      cmocka_unit_test(test_noscript_per_node),
      cmocka_unit_test(test_endpoints),
      cmocka_unit_test(test_sentinel_names_a_replica),
      cmocka_unit_test(test_sentinel_no_master),
      cmocka_unit_test(test_sentinel_silent),
      cmocka_unit_test(test_sentinel_retry_asks_again),
      cmocka_unit_test(test_sentinel_replicas_filtered),
      cmocka_unit_test(test_sentinel_noreplicas),
      cmocka_unit_test(test_sentinel_readonly),
      cmocka_unit_test(test_sentinel_switch_master),
      cmocka_unit_test(test_sentinel_recheck_is_one_command),
      cmocka_unit_test(test_sentinel_recheck_new_address),
      cmocka_unit_test(test_sentinel_recheck_lost_connection),
      cmocka_unit_test(test_sentinel_recheck_replicas),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
