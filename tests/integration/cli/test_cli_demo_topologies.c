/* crossredis demo's Sentinel and Cluster parts. The interop step is a stand-in runner (as in
 * test_cli_interop.c), so these tests check what the demo itself shows and leaves:
 *   - the local Sentinel set and Cluster it starts: the failover (old and new master, the client
 *     following), the slots per master and their keys (32 in all), the CROSSSLOT refusal, the
 *     hash-tagged prefix, the slot moved (ASK, MOVED); nothing left after a normal exit, after
 *     SIGTERM in the middle of the failover, and after SIGTERM while the topologies start: no
 *     folder under $TMPDIR, no process (this test is the subreaper of whatever the demo started);
 *   - --standalone-only and the usage errors of the new flags;
 *   - --sentinel-url and --cluster-url on the shared topologies of the run (plain and TLS): the
 *     parts that change a deployment skipped, the demo's keys gone afterwards (the shared ones
 *     stay as they were);
 *   - --allow-changes on private ones (this test's own: a failover and a slot move break a shared
 *     topology), with passwords on the data nodes and the sentinels: the failover and the slot move
 *     done, the slot back on its master, no password printed or on the command line. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <cmocka.h>

#include "crossredis/keys.h"
#include "crossredis/scan.h"
#include "crossredis/tls.h"
#include "itest.h"
#include "clitest.h"
#include "topology.h"

static char runner_dir[PATH_MAX], killer_dir[PATH_MAX], demo_tmp[PATH_MAX + 32], old_tmp[PATH_MAX];
static bool had_tmp;
static pid_t before[256]; /* this process's children before the test (its own servers) */
static size_t nbefore;
static xrt_server *plain;
static xrt_topology *shared[XRT_TOPOLOGY_KINDS];

#define DATA_PW "Demo-Data-Pw1"
#define SENTINEL_PW "Demo-Sent-Pw2"

static int write_runner(char *dir, const char *script) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, PATH_MAX, "%s/xr-demo-runner-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) return -1;
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/run.py", dir);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(script, f);
  return fclose(f);
}

static int group_setup(void **state) {
  (void)state;
  /* orphans of the demo's processes come to this process, where the tests look for them */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return -1;
  if (write_runner(runner_dir, "echo \"fake runner ran\"\n") != 0) return -1;
  if (write_runner(killer_dir, "kill -TERM $PPID\nsleep 0.2\n") != 0) return -1;
  if (itest_start(&plain, NULL) != 0) return -1;
  for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) {
    char err[XRT_ERR_SIZE];
    if (xrt_topology_get(&shared[k], (xrt_topology_kind)k, err) != 0) {
      fprintf(stderr, "%s: %s\n", xrt_topology_kind_name((xrt_topology_kind)k), err);
      return -1;
    }
  }
  const char *tmp = getenv("TMPDIR");
  had_tmp = tmp != NULL;
  snprintf(old_tmp, sizeof old_tmp, "%s", tmp ? tmp : "");
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) xrt_topology_free(shared[k]);
  xrt_server_free(plain);
  xrt_remove_tree(runner_dir);
  xrt_remove_tree(killer_dir);
  return 0;
}

/* ---- what is left ----------------------------------------------------------------------------- */

/* This process's children: its own servers and, as the subreaper, any orphan of the demo's. */
static size_t children(pid_t *out, size_t max) {
  size_t n = 0;
  DIR *d = opendir("/proc");
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < max) {
    char path[300], stat[512];
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t got = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[got] = '\0';
    const char *close = strrchr(stat, ')'); /* the command name may hold anything */
    char st;
    int ppid;
    if (close && sscanf(close + 1, " %c %d", &st, &ppid) == 2 && ppid == getpid()) out[n++] = (pid_t)atoi(e->d_name);
  }
  closedir(d);
  return n;
}

static bool listed(const pid_t *pids, size_t n, pid_t pid) {
  for (size_t i = 0; i < n; i++)
    if (pids[i] == pid) return true;
  return false;
}

/* Nothing the demo started outlives it: within 5 s no child but those there before the test is
 * left (the dead ones reaped), and its $TMPDIR is empty. */
static void assert_nothing_left(void) {
  pid_t now[256];
  size_t n = 0, extra = 0;
  for (int waited = 0; waited <= 5000; waited += 50) {
    n = children(now, 256);
    extra = 0;
    for (size_t i = 0; i < n; i++) {
      if (listed(before, nbefore, now[i])) continue;
      if (waitpid(now[i], NULL, WNOHANG) != now[i]) now[extra++] = now[i];
    }
    if (extra == 0) break;
    xrt_sleep_ms(50);
  }
  if (extra) {
    char cmd[256];
    clitest_cmdline(now[0], cmd, sizeof cmd);
    fail_msg("%zu processes outlived the demo, the first %d: %s", extra, (int)now[0], cmd);
  }
  if (!clitest_dir_is_empty(demo_tmp)) fail_msg("the demo left files in %s", demo_tmp);
}

/* Each test: the stand-in runner, and a $TMPDIR of its own for the demo, to find leftovers in. */
static int setup(void **state) {
  (void)state;
  clitest_use_runner(runner_dir);
  unsetenv("REDIS_URL");
  snprintf(demo_tmp, sizeof demo_tmp, "%s/xr-demo-tmp-XXXXXX", old_tmp[0] ? old_tmp : "/tmp");
  if (!mkdtemp(demo_tmp)) return -1;
  setenv("TMPDIR", demo_tmp, 1);
  nbefore = children(before, 256);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (had_tmp)
    setenv("TMPDIR", old_tmp, 1);
  else
    unsetenv("TMPDIR");
  xrt_remove_tree(demo_tmp);
  clitest_drop_runner();
  return 0;
}

/* ---- what the demo says ----------------------------------------------------------------------- */

/* The text after `row` on its line, into out. */
static void row_value(const char *text, const char *row, char *out, size_t size) {
  const char *at = strstr(text, row);
  if (!at) fail_msg("no row \"%s\" in:\n%s", row, text);
  at += strlen(row);
  while (*at == ' ') at++;
  snprintf(out, size, "%.*s", (int)strcspn(at, "\n"), at);
}

/* The Sentinel part with a failover: the old and the new master differ, the client followed. */
static void assert_failover(const char *out) {
  char v[512], new_master[64], old_master[64];
  if (!strstr(out, "SENTINEL FAILOVER while the lock is held")) fail_msg("no failover in:\n%s", out);
  row_value(out, "the sentinels name a new master", v, sizeof v);
  if (sscanf(v, "%63s after", new_master) != 1 || !strstr(v, "(was ")) fail_msg("new master row: %s", v);
  snprintf(old_master, sizeof old_master, "%.*s", (int)strcspn(strstr(v, "(was ") + 5, ")"), strstr(v, "(was ") + 5);
  if (!strcmp(new_master, old_master)) fail_msg("the new master is the old one: %s", v);
  row_value(out, "the client follows", v, sizeof v);
  if (!strstr(v, new_master)) fail_msg("the client follows row does not name %s: %s", new_master, v);
  row_value(out, "without service", v, sizeof v);
  if (!strstr(v, "s at most between two answered calls")) fail_msg("without service row: %s", v);
  row_value(out, "the lock on the new master", v, sizeof v);
  if (strncmp(v, "still held by redis_", 20) != 0) fail_msg("lock row: %s", v);
  row_value(out, "the queued message on the new master", v, sizeof v);
  if (!strstr(v, "\"text\":\"h\xc3\xa9llo\"")) fail_msg("queue row: %s", v);
}

/* The Cluster part: three masters, 32 keys over them, CROSSSLOT refused, the tagged prefix, and
 * (with a move) ASK then MOVED. */
static void assert_cluster(const char *out, bool moved) {
  int total = 0, rows = 0;
  for (const char *at = strstr(out, "\n  slots "); at; at = strstr(at + 1, "\n  slots ")) {
    const char *of = strstr(at, " of the 32 keys");
    const char *colon = of;
    while (colon > at && *colon != ':') colon--;
    if (!of || strchr(at + 1, '\n') < of) fail_msg("slots row without its keys: %.200s", at);
    total += atoi(colon + 1);
    rows++;
  }
  if (rows != 3 || total != 32) fail_msg("%d slot rows holding %d keys:\n%s", rows, total, out);
  char v[1024];
  row_value(out, "release_lock_if_queue_empty (lock + queue)", v, sizeof v);
  if (!strstr(v, "refused before sending:") || !strstr(v, "keys in different Cluster slots"))
    fail_msg("CROSSSLOT row: %s", v);
  row_value(out, "with a hash-tagged key prefix", v, sizeof v);
  if (strncmp(v, "crossredis:demo:", 16) != 0 || !strstr(v, ":{chat-sdk}: lock and queue in one slot") ||
      !strstr(v, "released once it was dequeued"))
    fail_msg("hash-tagged prefix row: %s", v);
  if (!moved) {
    row_value(out, "moving a slot", v, sizeof v);
    if (strncmp(v, "skipped: it changes the deployment", 34) != 0) fail_msg("slot move row: %s", v);
    return;
  }
  if (!strstr(out, "the old master answers \"ASK ") || !strstr(out, "the old master answers \"MOVED "))
    fail_msg("no ASK and MOVED rows:\n%s", out);
  if (!strstr(out, "the client follows: {\"text\":\"moved with its slot\"}, the lock still held"))
    fail_msg("the client did not follow the move:\n%s", out);
}

/* ---- the local topologies --------------------------------------------------------------------- */

static void test_local_topologies(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "demo", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "fake runner ran\n");
  CLITEST_HAS(&r, out, "\nSentinel: a master, two replicas and three sentinels (quorum 2) on 127.0.0.1 (up in ");
  CLITEST_HAS(&r, out, "  URL                                          redis+sentinel://127.0.0.1:");
  CLITEST_HAS(&r, out, "/crossredis-demo\n");
  CLITEST_HAS(&r, out, "(replicas 127.0.0.1:");
  CLITEST_HAS(&r, out, "quorum 2 of 3 sentinels)");
  CLITEST_HAS(&r, out, "(min_replicas 2: WAIT said both replicas have it)");
  assert_failover(r.out);
  CLITEST_HAS(&r, out, "\nCluster: three masters with a replica each, joined by redis-cli --cluster create on 127.0.0.1");
  CLITEST_HAS(&r, out, "  URL                                          redis+cluster://127.0.0.1:");
  CLITEST_HAS(&r, out, " (replica 127.0.0.1:");
  assert_cluster(r.out, true);
  /* the migration window, on the Cluster: old and new keys on different slots */
  CLITEST_HAS(&r, out, "\nMigration window: keys moved to a hash-tagged shape on the Cluster (crossredis migrate)\n");
  CLITEST_HAS(&r, out, "  hard cut-over: HGET of the new key           (nil): the live value is missed\n");
  CLITEST_HAS(&r, out, "  window close                                 refused: 20 old-shape keys remain\n");
  CLITEST_HAS(&r, out, "  migrate copy --apply --all                   12 copied with their expiry, 12 old deleted\n");
  CLITEST_HAS(&r, out, "  migrate verify                               0 old-shape keys left\n");
  CLITEST_HAS(&r, out, "  window close                                 closed: the old shape is never touched again\n");
  CLITEST_HAS(&r, out, "demo finished: every step worked\n");
  /* the parts come in this order, after the runner */
  assert_true(strstr(r.out, "fake runner ran") < strstr(r.out, "\nSentinel: "));
  assert_true(strstr(r.out, "\nSentinel: ") < strstr(r.out, "\nCluster: "));
  assert_string_equal(r.err, "");
  clitest_result_free(&r);
  assert_nothing_left();
}

/* SIGTERM in the middle of the failover: every server gone, every folder removed. */
static void test_sigterm_during_the_failover(void **state) {
  (void)state;
  const char *args[] = {"demo", NULL};
  clitest_proc p;
  clitest_start(&p, NULL, args);
  clitest_wait_out(&p, "\nSentinel: a master, two replicas", 120);
  xrt_sleep_ms(300); /* the failover takes about 2 s from here */
  kill(p.pid, SIGTERM);
  clitest_result r;
  clitest_finish(&p, &r, 60);
  CLITEST_STATUS(&r, 128 + SIGTERM);
  assert_null(strstr(r.out, "\nCluster: "));
  clitest_result_free(&r);
  assert_nothing_left();
}

/* SIGTERM while the topologies are still coming up (the runner kills the demo at once). */
static void test_sigterm_while_they_start(void **state) {
  (void)state;
  setenv("XR_INTEROP_DIR", killer_dir, 1);
  clitest_result r;
  clitest_run(&r, NULL, "demo", NULL);
  CLITEST_STATUS(&r, 128 + SIGTERM);
  assert_null(strstr(r.out, "\nSentinel: "));
  clitest_result_free(&r);
  assert_nothing_left();
}

static void test_standalone_only_and_usage(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "demo", "--standalone-only", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "\nMigration window: keys moved to a hash-tagged shape on the server (crossredis migrate)\n");
  CLITEST_HAS(&r, out, "  migrate verify                               0 old-shape keys left\n");
  CLITEST_HAS(&r, out, "demo finished: every step worked\n");
  assert_null(strstr(r.out, "Sentinel:"));
  assert_null(strstr(r.out, "Cluster:"));
  clitest_result_free(&r);
  assert_nothing_left();

  clitest_run(&r, NULL, "demo", "--help", NULL);
  CLITEST_STATUS(&r, 0);
  for (const char *const *f = (const char *const[]){"--sentinel-url URL", "--cluster-url URL", "--allow-changes",
                                                     "--standalone-only", "SENTINEL FAILOVER", "CROSSSLOT", NULL};
       *f; f++)
    CLITEST_HAS(&r, out, *f);
  clitest_result_free(&r);

  static const struct {
    const char *args[4], *says;
  } bad[] = {
      {{"--standalone-only", "--cluster-url", "redis+cluster://127.0.0.1:1", NULL},
       "crossredis demo: --standalone-only skips what --cluster-url is for"},
      {{"--standalone-only", "--allow-changes", NULL}, "--standalone-only skips what --allow-changes is for"},
      {{"--sentinel-url", "redis://127.0.0.1:1", NULL},
       "crossredis demo: --sentinel-url redis://127.0.0.1:1: not a redis+sentinel:// or rediss+sentinel:// URL"},
      {{"--cluster-url", "redis+sentinel://:" DATA_PW "@127.0.0.1:1/m", NULL},
       "crossredis demo: --cluster-url redis+sentinel://:***@127.0.0.1:1/m: not a redis+cluster://"},
      {{"--sentinel-url", "redis+sentinel://127.0.0.1:x/m", NULL}, "crossredis demo: --sentinel-url "},
      {{"--cluster-url", NULL}, "crossredis demo: --cluster-url needs a value"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *args[6] = {"demo"};
    for (int k = 0; bad[i].args[k]; k++) args[k + 1] = bad[i].args[k];
    clitest_proc p;
    clitest_start(&p, NULL, args);
    clitest_finish(&p, &r, 60);
    CLITEST_STATUS(&r, 2);
    CLITEST_HAS(&r, err, bad[i].says);
    assert_null(strstr(r.err, DATA_PW));
    assert_string_equal(r.out, "");
    clitest_result_free(&r);
  }
}

/* ---- deployments given by URL ----------------------------------------------------------------- */

/* How many keys start with prefix on the deployment of url (every master of a cluster). */
static size_t keys_under(const char *url, const char *prefix) {
  xr_client *c = NULL;
  XR_OK(xr_tls_client_open_url(&c, url, NULL));
  char pattern[128];
  snprintf(pattern, sizeof pattern, "%s*", prefix);
  xr_scan_options so = XR_SCAN_OPTIONS_INIT;
  so.match = pattern;
  xr_scan *s = NULL;
  xr_batch *b = NULL;
  XR_OK(xr_scan_new(&s, c, &so));
  XR_OK(xr_batch_new(&b));
  size_t n = 0;
  for (int done = 0; !done;) {
    xr_batch_clear(b);
    int i = xr_scan_add(s, b);
    assert_true(i >= 0);
    XR_OK(xr_client_exec(c, b));
    const xr_reply *keys = NULL;
    XR_OK(xr_scan_take(s, b, (size_t)i, &keys, &done));
    n += xr_reply_count(keys);
  }
  xr_batch_free(b);
  xr_scan_free(s);
  xr_client_close(c);
  return n;
}

/* The demo's key prefix, from its tagged-prefix row: "crossredis:demo:<pid>:". */
static void demo_prefix(const char *out, char *prefix, size_t size) {
  char v[1024];
  row_value(out, "with a hash-tagged key prefix", v, sizeof v);
  snprintf(prefix, size, "%.*s", (int)strcspn(v, "{"), v);
}

static void url_of(char *out, size_t size, const xrt_topology *t) {
  const char *certs = xrt_topology_certs_dir(t);
  char query[PATH_MAX + 32] = "";
  if (certs) snprintf(query, sizeof query, "?ca_file=%s/ca.crt", certs);
  if (xrt_topology_master_name(t))
    snprintf(out, size, "%s://%s/%s%s", certs ? "rediss+sentinel" : "redis+sentinel", xrt_topology_seeds(t),
             xrt_topology_master_name(t), query);
  else
    snprintf(out, size, "%s://%s%s", certs ? "rediss+cluster" : "redis+cluster", xrt_topology_seeds(t), query);
}

/* The shared topologies, plain and TLS: read-mostly, so without --allow-changes. */
static void test_given_deployments(void **state) {
  (void)state;
  static const xrt_topology_kind pairs[][2] = {{XRT_TOPOLOGY_SENTINEL, XRT_TOPOLOGY_CLUSTER},
                                               {XRT_TOPOLOGY_TLS_SENTINEL, XRT_TOPOLOGY_TLS_CLUSTER}};
  for (size_t i = 0; i < 2; i++) {
    char sentinel[PATH_MAX + 512], cluster[PATH_MAX + 512], prefix[64];
    url_of(sentinel, sizeof sentinel, shared[pairs[i][0]]);
    url_of(cluster, sizeof cluster, shared[pairs[i][1]]);
    clitest_result r;
    clitest_run(&r, NULL, "demo", "--url", xrt_server_url(plain), "--sentinel-url", sentinel, "--cluster-url", cluster,
                NULL);
    CLITEST_STATUS(&r, 0);
    char want[PATH_MAX + 600];
    snprintf(want, sizeof want, "\nSentinel: %s\n", sentinel);
    CLITEST_HAS(&r, out, want);
    snprintf(want, sizeof want, "\nCluster: %s\n", cluster);
    CLITEST_HAS(&r, out, want);
    assert_null(strstr(r.out, "(up in "));
    CLITEST_HAS(&r, out, "  SENTINEL FAILOVER                            skipped: it changes the deployment "
                         "(--allow-changes runs it)\n");
    CLITEST_HAS(&r, out, "  the lock                                     still held by redis_");
    assert_cluster(r.out, false);
    CLITEST_HAS(&r, out, "demo finished: every step worked\n");
    demo_prefix(r.out, prefix, sizeof prefix);
    clitest_result_free(&r);
    assert_int_equal(keys_under(sentinel, prefix), 0);
    assert_int_equal(keys_under(cluster, prefix), 0);
  }
}

/* The port of slot `slot`'s master, as node 0 of c says (CLUSTER SLOTS). */
static int owner_of(xrt_cluster *c, unsigned slot) {
  xr_client *node = NULL;
  xr_client_options o = itest_options(xrt_cluster_node(c, 0));
  XR_OK(xr_client_open(&node, &o));
  xr_reply *r = NULL;
  XR_OK(itest_cmd(node, &r, "CLUSTER", "SLOTS", NULL));
  int port = 0;
  for (size_t i = 0; i < xr_reply_count(r) && !port; i++) {
    const xr_reply *range = xr_reply_at(r, i);
    if ((long long)slot >= xr_reply_integer(xr_reply_at(range, 0)) &&
        (long long)slot <= xr_reply_integer(xr_reply_at(range, 1)))
      port = (int)xr_reply_integer(xr_reply_at(xr_reply_at(range, 2), 1));
  }
  xr_reply_free(r);
  xr_client_close(node);
  if (!port) fail_msg("no master serves slot %u", slot);
  return port;
}

/* --allow-changes on deployments of this test's own, with passwords: the failover and the slot
 * move happen, the slot goes back, no password shows (output, command line). */
static void test_given_deployments_with_changes(void **state) {
  (void)state;
  xrt_sentinel *set = NULL;
  xrt_cluster *cluster = NULL;
  xrt_sentinel_options so = XRT_SENTINEL_OPTIONS_INIT;
  so.requirepass = DATA_PW;
  so.sentinel_password = SENTINEL_PW;
  ERR_CHECK(xrt_sentinel_start(&set, &so, err_));
  ERR_CHECK(xrt_cluster_start(&cluster, 3, 1, err_));
  ERR_CHECK(xrt_cluster_wait_ok(cluster, 30000, err_));
  char s_url[512], c_url[1024], prefix[64];
  snprintf(s_url, sizeof s_url, "redis+sentinel://:" DATA_PW "@%s/%s?sentinel_password=" SENTINEL_PW,
           xrt_sentinel_seeds(set), xrt_sentinel_master_name(set));
  snprintf(c_url, sizeof c_url, "redis+cluster://%s", xrt_cluster_seeds(cluster));
  const char *tag_key = "crossredis:demo:1:{chat-sdk}:lock:x"; /* the demo's tagged keys' slot */
  unsigned slot = xr_key_slot(tag_key, strlen(tag_key));
  int owner = owner_of(cluster, slot);

  const char *args[] = {"demo", "--url", xrt_server_url(plain), "--sentinel-url", s_url, "--cluster-url", c_url,
                        "--allow-changes", NULL};
  clitest_proc p;
  clitest_start(&p, NULL, args);
  clitest_wait_out(&p, "\nSentinel: redis+sentinel://:***@", 120);
  char cmdline[4096];
  clitest_cmdline(p.pid, cmdline, sizeof cmdline);
  const char *vg = getenv("XR_CLI_VALGRIND"); /* valgrind keeps its own copy of the arguments */
  if (!(vg && !strcmp(vg, "1")) && (strstr(cmdline, DATA_PW) || strstr(cmdline, SENTINEL_PW)))
    fail_msg("/proc/<pid>/cmdline shows a password: %s", cmdline);
  clitest_result r;
  clitest_finish(&p, &r, 120);
  CLITEST_STATUS(&r, 0);
  if (strstr(r.out, DATA_PW) || strstr(r.err, DATA_PW) || strstr(r.out, SENTINEL_PW) || strstr(r.err, SENTINEL_PW))
    fail_msg("a password is printed:\n%s\n%s", r.out, r.err);
  CLITEST_HAS(&r, out, "?sentinel_password=***\n");
  assert_failover(r.out);
  assert_cluster(r.out, true);
  CLITEST_HAS(&r, out, "demo finished: every step worked\n");
  demo_prefix(r.out, prefix, sizeof prefix);
  clitest_result_free(&r);
  /* the slot is back where it was, and the demo's keys are gone */
  assert_int_equal(owner_of(cluster, slot), owner);
  assert_int_equal(keys_under(c_url, prefix), 0);
  assert_int_equal(keys_under(s_url, prefix), 0);
  xrt_cluster_free(cluster);
  xrt_sentinel_free(set);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_local_topologies, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sigterm_during_the_failover, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sigterm_while_they_start, setup, teardown),
      cmocka_unit_test_setup_teardown(test_standalone_only_and_usage, setup, teardown),
      cmocka_unit_test_setup_teardown(test_given_deployments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_given_deployments_with_changes, setup, teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
