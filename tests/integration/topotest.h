/* One test body on every topology: a suite's group runs on a standalone server of its own, on the
 * Sentinel set and on the Cluster of the run (xrt_topology_get: the shared ones from the XR_TEST_*
 * environment, else private ones when a binary is run by hand). What differs between them lives
 * here, not in the tests:
 *   - the client under test's options (tt_options) and a checker client of the same topology
 *     (tt.chk) that looks at what the code under test left behind;
 *   - a key prefix per test (tt.prefix, tt_key): "chat-sdk" on the private standalone server,
 *     which each test empties first (FLUSHALL, SCRIPT FLUSH); "xrt-<pid>-<n>" on the shared
 *     topologies, which are never flushed, so tests running at the same time (ctest -j, other
 *     binaries) never see each other's keys;
 *   - counting a test's keys (tt_count_keys: DBSIZE on the standalone server, SCAN MATCH <prefix>*
 *     over every master on the shared topologies);
 *   - MONITOR (tt_monitor_*): on every master (the one node of a standalone server or a Sentinel
 *     set, each master of a Cluster), lines merged in time order, the lines of other clients'
 *     keys dropped on a shared topology and the test's prefix written back as "chat-sdk", so the
 *     upstream captures compare on every topology.
 * Tests that break a server (DEBUG SLEEP, a kill) run on the standalone server only: on a shared
 * Sentinel set a master that sleeps past down-after-milliseconds (1 s) is failed over, under every
 * other test of the run. Include after itest.h. */
#ifndef XR_TOPOTEST_H
#define XR_TOPOTEST_H

#include <stdint.h>
#include <unistd.h>

#include "crossredis/alloc.h"
#include "crossredis/keys.h"
#include "crossredis/scan.h"
#include "itest.h"
#include "redis_cli.h"
#include "topology.h"

typedef enum tt_kind { TT_STANDALONE, TT_SENTINEL, TT_CLUSTER } tt_kind;

typedef struct tt_env {
  tt_kind kind;
  const char *name;      /* "standalone", "sentinel", "cluster" */
  xrt_server *server;    /* standalone: a server of this process */
  xrt_topology *topo;    /* sentinel, cluster: the run's (or a private one) */
  xr_client *chk;        /* a client of the same topology, for the checks */
  char prefix[96];       /* this test's key prefix */
  char saved_prefix[64]; /* tt_one_slot keeps the plain one here */
  unsigned tests;        /* tests begun in this process, for unique prefixes */
} tt_env;

static tt_env tt;

static inline int tt_standalone(void) { return tt.kind == TT_STANDALONE; }
static inline int tt_cluster(void) { return tt.kind == TT_CLUSTER; }

/* Options for a client of the current topology (strings borrowed from the topology). */
static inline xr_client_options tt_options(void) {
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  switch (tt.kind) {
    case TT_STANDALONE:
      o = itest_options(tt.server);
      break;
    case TT_SENTINEL:
      o.topology = XR_TOPOLOGY_SENTINEL;
      o.nodes = xrt_topology_seeds(tt.topo);
      o.master_name = xrt_topology_master_name(tt.topo);
      break;
    case TT_CLUSTER:
      o.topology = XR_TOPOLOGY_CLUSTER;
      o.nodes = xrt_topology_seeds(tt.topo);
      break;
  }
  return o;
}

static inline int tt_group_setup_kind(tt_kind kind) {
  static const char *const names[] = {"standalone", "sentinel", "cluster"};
  char err[XRT_ERR_SIZE];
  memset(&tt.kind, 0, offsetof(tt_env, tests)); /* keep the count across groups */
  tt.kind = kind;
  tt.name = names[kind];
  if (kind == TT_STANDALONE) {
    if (itest_start(&tt.server, NULL) != 0) return -1;
  } else if (xrt_topology_get(&tt.topo, kind == TT_SENTINEL ? XRT_TOPOLOGY_SENTINEL : XRT_TOPOLOGY_CLUSTER, err) != 0) {
    fprintf(stderr, "no %s topology: %s\n", tt.name, err);
    return -1;
  }
  xr_client_options o = tt_options();
  if (xr_client_open(&tt.chk, &o) != 0) {
    fprintf(stderr, "cannot open the %s checker: %s\n", tt.name, xr_error_last()->message);
    return -1;
  }
  print_message("[ %-10s ] %s%s\n", tt.name, kind == TT_STANDALONE ? "a server of this test's own"
                : xrt_topology_shared(tt.topo) ? "the run's shared topology: " : "a private topology: ",
                kind == TT_STANDALONE ? "" : xrt_topology_seeds(tt.topo));
  return 0;
}

static inline int tt_group_setup_standalone(void **state) { (void)state; return tt_group_setup_kind(TT_STANDALONE); }
static inline int tt_group_setup_sentinel(void **state) { (void)state; return tt_group_setup_kind(TT_SENTINEL); }
static inline int tt_group_setup_cluster(void **state) { (void)state; return tt_group_setup_kind(TT_CLUSTER); }

static inline int tt_group_teardown(void **state) {
  (void)state;
  xr_client_close(tt.chk);
  xrt_server_free(tt.server);
  xrt_topology_free(tt.topo);
  tt.chk = NULL;
  tt.server = NULL;
  tt.topo = NULL;
  return 0;
}

/* Every master's port now: the standalone server, the master the sentinels name, each node of the
 * cluster that says ROLE master. */
static inline size_t tt_master_ports(int *ports, size_t cap) {
  char out[4096], err[XRT_ERR_SIZE];
  size_t n = 0;
  if (tt.kind == TT_STANDALONE) {
    ports[n++] = xrt_server_port(tt.server);
    return n;
  }
  for (size_t i = 0; i < xrt_topology_seed_count(tt.topo) && n < cap; i++) {
    xrt_endpoint e = xrt_topology_endpoint(tt.topo, i);
    if (tt.kind == TT_SENTINEL) {
      if (xrt_cli(&e, out, sizeof out, err, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", xrt_topology_master_name(tt.topo),
                  NULL) != 0)
        continue; /* a sentinel that is down: ask the next */
      const char *nl = strchr(out, '\n');
      if (!nl) fail_msg("sentinel %d names no master: %s", e.port, out);
      ports[n++] = atoi(nl + 1);
      return n;
    }
    if (xrt_cli(&e, out, sizeof out, err, "ROLE", NULL) == 0 && strncmp(out, "master\n", 7) == 0) ports[n++] = e.port;
  }
  if (n == 0) fail_msg("no master found in the %s topology", tt.name);
  return n;
}

/* A standalone client of the server at port. */
static inline xr_client *tt_node_client(int port) {
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = port;
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  return c;
}

/* Runs a command on every master (SCRIPT FLUSH, CONFIG GET...); each must succeed. */
static inline void tt_on_masters(const char *const *argv, int argc) {
  int ports[16];
  size_t n = tt_master_ports(ports, 16);
  for (size_t i = 0; i < n; i++) {
    xr_client *c = tt_node_client(ports[i]);
    XR_OK(xr_client_command(c, NULL, argc, argv, NULL));
    xr_client_close(c);
  }
}

/* The per-test setup: a prefix of its own (and an empty server on standalone). */
static inline int tt_test_setup(void **state) {
  (void)state;
  tt.tests++;
  if (tt.kind == TT_STANDALONE) {
    snprintf(tt.prefix, sizeof tt.prefix, "chat-sdk");
    XR_OK(itest_cmd(tt.chk, NULL, "FLUSHALL", NULL));
    XR_OK(itest_cmd(tt.chk, NULL, "SCRIPT", "FLUSH", NULL));
  } else {
    snprintf(tt.prefix, sizeof tt.prefix, "xrt-%ld-%u", (long)getpid(), tt.tests);
  }
  tt.saved_prefix[0] = '\0';
  return 0;
}

/* The test's prefix followed by `suffix` (":lock:x"); eight buffers in turn, so a call may use a
 * few at once. */
static inline const char *tt_key(const char *suffix) {
  static char buf[8][512];
  static unsigned turn;
  char *b = buf[turn++ % 8];
  snprintf(b, sizeof buf[0], "%s%s", tt.prefix, suffix);
  return b;
}

/* On a Cluster, operations whose keys upstream's layout puts in different slots need one slot:
 * from here on the test's prefix is "{chat-sdk}:<its own>" (the hash tag puts every key of the
 * adapter on the slot of "chat-sdk"; the rest keeps tests apart). Elsewhere nothing changes. */
static inline void tt_one_slot(void) {
  if (!tt_cluster() || tt.saved_prefix[0]) return;
  snprintf(tt.saved_prefix, sizeof tt.saved_prefix, "%.63s", tt.prefix);
  snprintf(tt.prefix, sizeof tt.prefix, "{chat-sdk}:%.63s", tt.saved_prefix);
}

/* Appends the keys under `prefix` now, over the whole keyspace (every master), each once. */
static inline void tt_keys_under(const char *prefix, itest_lines *out) {
  char *esc = NULL, match[300];
  size_t n = 0;
  XR_OK(xr_key_escape_glob(&esc, &n, prefix, strlen(prefix)));
  assert_true(n + 2 < sizeof match);
  memcpy(match, esc, n);
  xr_free(esc);
  match[n] = '*';
  match[n + 1] = '\0';
  xr_scan_options so = XR_SCAN_OPTIONS_INIT;
  so.match = match;
  xr_scan *sc;
  XR_OK(xr_scan_new(&sc, tt.chk, &so));
  xr_batch *b;
  XR_OK(xr_batch_new(&b));
  for (int done = 0; !done;) {
    xr_batch_clear(b);
    int i = xr_scan_add(sc, b);
    assert_true(i >= 0);
    XR_OK(xr_client_exec(tt.chk, b));
    const xr_reply *keys;
    XR_OK(xr_scan_take(sc, b, (size_t)i, &keys, &done));
    for (size_t k = 0; k < xr_reply_count(keys); k++) {
      size_t len;
      const char *name = xr_reply_str(xr_reply_at(keys, k), &len);
      int again = 0;
      for (size_t j = 0; j < out->n && !again; j++) again = strlen(out->v[j]) == len && !memcmp(out->v[j], name, len);
      if (!again) itest_lines_add(out, itest_strndup(name, len));
    }
  }
  xr_batch_free(b);
  xr_scan_free(sc);
}

static inline long long tt_count_keys_under(const char *prefix) {
  itest_lines keys = {0};
  tt_keys_under(prefix, &keys);
  long long n = (long long)keys.n;
  itest_lines_free(&keys);
  return n;
}

/* Deletes the keys under `prefix` (one DEL each: they may live on different nodes). */
static inline void tt_delete_under(const char *prefix) {
  itest_lines keys = {0};
  tt_keys_under(prefix, &keys);
  for (size_t i = 0; i < keys.n; i++) XR_OK(itest_cmd(tt.chk, NULL, "DEL", keys.v[i], NULL));
  itest_lines_free(&keys);
}

/* What FLUSHALL is to a test on a server of its own: the standalone server emptied, the test's
 * keys deleted on a shared topology. */
static inline void tt_flush(void) {
  if (tt_standalone())
    XR_OK(itest_cmd(tt.chk, NULL, "FLUSHALL", NULL));
  else
    tt_delete_under(tt.prefix);
}

/* The test's keys: on the standalone server, emptied before each test, every key (DBSIZE); on a
 * shared topology those under the test's prefix. */
static inline long long tt_count_keys(void) {
  if (!tt_standalone()) return tt_count_keys_under(tt.prefix);
  xr_reply *r = NULL;
  XR_OK(itest_cmd(tt.chk, &r, "DBSIZE", NULL));
  long long n = xr_reply_integer(r);
  xr_reply_free(r);
  return n;
}

/* ---- MONITOR on every master -------------------------------------------------------------------- */

#define TT_MONITOR_NODES 16

typedef struct tt_monitor {
  size_t n;
  itest_monitor m[TT_MONITOR_NODES];
  xr_client *mark[TT_MONITOR_NODES]; /* sends each node its end-of-block marker */
  unsigned marks;
} tt_monitor;

static inline void tt_monitor_open(tt_monitor *tm) {
  memset(tm, 0, sizeof *tm);
  int ports[TT_MONITOR_NODES];
  tm->n = tt_master_ports(ports, TT_MONITOR_NODES);
  for (size_t i = 0; i < tm->n; i++) tm->mark[i] = tt_node_client(ports[i]); /* its PING before MONITOR */
  for (size_t i = 0; i < tm->n; i++) itest_monitor_open_port(&tm->m[i], ports[i]);
}

static inline void tt_monitor_close(tt_monitor *tm) {
  for (size_t i = 0; i < tm->n; i++) {
    itest_monitor_close(&tm->m[i]);
    xr_client_close(tm->mark[i]);
  }
  tm->n = 0;
}

/* Replaces every "<from> with "<to> in a malloc'd line; returns the new line. */
static inline char *tt_replace_quoted(char *line, const char *from, const char *to) {
  size_t fl = strlen(from), tl = strlen(to);
  for (char *p = line; (p = strstr(p, from)) != NULL;) {
    if (p == line || p[-1] != '"') {
      p += fl;
      continue;
    }
    size_t at = (size_t)(p - line), rest = strlen(p + fl);
    char *n = malloc(at + tl + rest + 1);
    assert_non_null(n);
    memcpy(n, line, at);
    memcpy(n + at, to, tl);
    memcpy(n + at + tl, p + fl, rest + 1);
    free(line);
    line = n;
    p = line + at + tl;
  }
  return line;
}

/* Ends a block: every master gets a marker (ECHO from a connection of its own: commands run one
 * at a time, so every line of the block comes before it), and the lines since the last block are
 * appended to `raw` in time order (MONITOR's timestamps; a sequential caller's commands are
 * ordered in time across nodes). On a shared topology, only the lines that name one of this
 * test's keys, with the prefix written as "chat-sdk". */
static inline void tt_monitor_take(tt_monitor *tm, itest_lines *raw) {
  char mark[80], quoted[96];
  snprintf(mark, sizeof mark, "tt-monitor-mark-%ld-%u", (long)getpid(), ++tm->marks);
  snprintf(quoted, sizeof quoted, "\"ECHO\" \"%s\"", mark);
  itest_lines per[TT_MONITOR_NODES];
  memset(per, 0, sizeof per);
  char from[128];
  snprintf(from, sizeof from, "%s:", tt.prefix);
  for (size_t i = 0; i < tm->n; i++) {
    XR_OK(itest_cmd(tm->mark[i], NULL, "ECHO", mark, NULL));
    for (;;) {
      char *line = itest_monitor_read_line(&tm->m[i]);
      if (strstr(line, quoted)) {
        free(line);
        break;
      }
      if (line[0] != '+') fail_msg("MONITOR sent a line that is not a status: %s", line);
      char *l = itest_strndup(line + 1, strlen(line + 1));
      free(line);
      if (!tt_standalone()) {
        char quoted_prefix[140];
        snprintf(quoted_prefix, sizeof quoted_prefix, "\"%s", from);
        if (!strstr(l, quoted_prefix)) {
          free(l);
          continue;
        }
        l = tt_replace_quoted(l, from, "chat-sdk:");
      }
      itest_lines_add(&per[i], l);
    }
  }
  size_t at[TT_MONITOR_NODES] = {0};
  for (;;) {
    int best = -1;
    double best_t = 0;
    for (size_t i = 0; i < tm->n; i++) {
      if (at[i] >= per[i].n) continue;
      double t = strtod(per[i].v[at[i]], NULL);
      if (best < 0 || t < best_t) best = (int)i, best_t = t;
    }
    if (best < 0) break;
    itest_lines_add(raw, per[best].v[at[best]]);
    per[best].v[at[best]++] = NULL;
  }
  for (size_t i = 0; i < tm->n; i++) itest_lines_free(&per[i]);
}

/* tt_monitor_take, normalized into `out`. */
static inline void tt_monitor_collect(tt_monitor *tm, unsigned flags, itest_lines *out) {
  itest_lines raw = {0};
  tt_monitor_take(tm, &raw);
  itest_normalize_lines(&raw, flags, out);
  itest_lines_free(&raw);
}

/* The key a normalized line names ("client \"GET\" \"k\"", "client \"EVAL\" \"1\" \"k\" ...",
 * "lua \"GET\" \"k\""): its first key, or "" for a keyless command. */
static inline void tt_line_key(const char *line, char *key, size_t size) {
  const char *q[8];
  size_t n = 0;
  for (const char *p = line; *p && n < 8; p++) {
    if (*p != '"') continue;
    q[n++] = p + 1; /* an argument starts */
    for (p++; *p && *p != '"'; p++)
      if (*p == '\\' && p[1]) p++;
    if (!*p) break;
  }
  size_t at = n >= 1 && (!strncmp(q[0], "EVAL\"", 5) || !strncmp(q[0], "EVALSHA\"", 8)) ? 2 : 1;
  key[0] = '\0';
  if (at >= n) return;
  const char *end = q[at];
  while (*end && *end != '"') end += *end == '\\' && end[1] ? 2 : 1;
  snprintf(key, size, "%.*s", (int)(end - q[at]), q[at]);
}

/* Orders lines by the key they name, keeping the order of each key's lines: what a batch split
 * per node promises on a Cluster (each node's share in the caller's order; the nodes at once). */
static inline void tt_sort_by_key(itest_lines *l) {
  char a[512], b[512];
  for (size_t i = 1; i < l->n; i++) { /* insertion sort: stable, and batches are short */
    char *line = l->v[i];
    tt_line_key(line, a, sizeof a);
    size_t j = i;
    for (; j > 0; j--) {
      tt_line_key(l->v[j - 1], b, sizeof b);
      if (strcmp(b, a) <= 0) break;
      l->v[j] = l->v[j - 1];
    }
    l->v[j] = line;
  }
}

/* ---- groups -------------------------------------------------------------------------------------- */

/* Runs `common` on the three topologies and `standalone_only` (may be NULL, n 0) on the standalone
 * server too; each test's setup is tt_test_setup. Returns the failures. */
static inline int tt_run(const char *suite, const struct CMUnitTest *common, size_t ncommon,
                         const struct CMUnitTest *standalone_only, size_t nonly) {
  struct CMUnitTest *all = calloc(ncommon + nonly + 1, sizeof *all);
  if (!all) return 1;
  memcpy(all, common, ncommon * sizeof *all);
  if (nonly) memcpy(all + ncommon, standalone_only, nonly * sizeof *all);
  static const struct {
    const char *name;
    CMFixtureFunction setup;
  } groups[] = {{"standalone", tt_group_setup_standalone},
                {"sentinel", tt_group_setup_sentinel},
                {"cluster", tt_group_setup_cluster}};
  int failed = 0;
  char name[128];
  for (size_t g = 0; g < 3; g++) {
    snprintf(name, sizeof name, "%s on %s", suite, groups[g].name);
    failed += _cmocka_run_group_tests(name, all, g == 0 ? ncommon + nonly : ncommon, groups[g].setup, tt_group_teardown);
  }
  free(all);
  return failed;
}

#define TT_TEST(f) cmocka_unit_test_setup(f, tt_test_setup)

#endif
