/* The client on a real Redis Cluster (3 masters, a replica each, the harness's): keys routed by
 * slot, CROSSSLOT refused before sending, scripts per node (NOSCRIPT on each), batches split per
 * node with replies in the caller's order, transactions kept whole, MOVED and ASK followed during
 * a slot migration, SCAN-free node listing, and bad seeds refused with clear errors. The tests
 * that migrate a slot move it back before they end, so the cluster stays as the group found it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cluster.h"
#include "topology.h"
#include "crossredis/config.h"
#include "crossredis/tls.h"
#include "crossredis/chat.h"
#include "crossredis/keys.h"
#include "crossredis/lock_scan.h"
#include "crossredis/scan.h"
#include "itest.h"

typedef struct fixture {
  xrt_cluster *cluster;
  xr_client *c;
} fixture;

static xr_client_options cluster_options(const xrt_cluster *k) {
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.topology = XR_TOPOLOGY_CLUSTER;
  o.nodes = xrt_cluster_seeds(k);
  return o;
}

static int group_setup(void **state) {
  static fixture f;
  char err[XRT_ERR_SIZE];
  if (xrt_cluster_start(&f.cluster, 3, 1, err) != 0) {
    fprintf(stderr, "cannot start the cluster: %s\n", err);
    return -1;
  }
  xr_client_options o = cluster_options(f.cluster);
  if (xr_client_open(&f.c, &o) != 0) {
    fprintf(stderr, "cannot open the cluster client: %s\n", xr_error_last()->message);
    return -1;
  }
  *state = &f;
  return 0;
}

static int group_teardown(void **state) {
  fixture *f = *state;
  xr_client_close(f->c);
  xrt_cluster_free(f->cluster);
  return 0;
}

/* The port of the master that node `n` names for `slot` in its own view (CLUSTER SLOTS); 0: none. */
static long long named_port(xr_client *n, int slot) {
  xr_reply *slots;
  XR_OK(itest_cmd(n, &slots, "CLUSTER", "SLOTS", NULL));
  long long port = 0;
  for (size_t k = 0; k < xr_reply_count(slots); k++) {
    const xr_reply *range = xr_reply_at(slots, k);
    if (slot >= xr_reply_integer(xr_reply_at(range, 0)) && slot <= xr_reply_integer(xr_reply_at(range, 1)))
      port = xr_reply_integer(xr_reply_at(xr_reply_at(range, 2), 1));
  }
  xr_reply_free(slots);
  return port;
}

/* A standalone client of the master that serves `slot` (the master that names itself for it). */
static xr_client *master_of(fixture *f, int slot, char *id, size_t idlen) {
  for (size_t i = 0; i < xrt_cluster_size(f->cluster); i++) {
    xr_client_options o = itest_options(xrt_cluster_node(f->cluster, i));
    xr_client *n;
    XR_OK(xr_client_open(&n, &o));
    xr_reply *role;
    XR_OK(itest_cmd(n, &role, "ROLE", NULL));
    int is_master = !strcmp(xr_reply_str(xr_reply_at(role, 0), NULL), "master");
    xr_reply_free(role);
    int serves = named_port(n, slot) == xrt_server_port(xrt_cluster_node(f->cluster, i));
    if (is_master && serves) {
      if (id) {
        xr_reply *myid;
        XR_OK(itest_cmd(n, &myid, "CLUSTER", "MYID", NULL));
        snprintf(id, idlen, "%s", xr_reply_str(myid, NULL));
        xr_reply_free(myid);
      }
      return n;
    }
    xr_client_close(n);
  }
  fail_msg("no master serves slot %d", slot);
  return NULL;
}

/* Keys everywhere: every one readable through the cluster client, and spread over all 3 masters
 * (each master holds some, none holds all). */
static void test_keys_route_by_slot(void **state) {
  fixture *f = *state;
  char key[32], val[32];
  for (int i = 0; i < 60; i++) {
    snprintf(key, sizeof key, "route:%d", i);
    snprintf(val, sizeof val, "v%d", i);
    XR_OK(itest_cmd(f->c, NULL, "SET", key, val, NULL));
  }
  for (int i = 0; i < 60; i++) {
    snprintf(key, sizeof key, "route:%d", i);
    snprintf(val, sizeof val, "v%d", i);
    xr_reply *r;
    XR_OK(itest_cmd(f->c, &r, "GET", key, NULL));
    assert_string_equal(xr_reply_str(r, NULL), val);
    xr_reply_free(r);
  }
  {
    long long total = 0;
    int holders = 0;
    for (size_t i = 0; i < 3; i++) {
      xr_client_options o = itest_options(xrt_cluster_node(f->cluster, i));
      xr_client *n;
      XR_OK(xr_client_open(&n, &o));
      xr_reply *r;
      XR_OK(itest_cmd(n, &r, "DBSIZE", NULL));
      total += xr_reply_integer(r);
      holders += xr_reply_integer(r) > 0;
      xr_reply_free(r);
      xr_client_close(n);
    }
    assert_true(total >= 60);
    assert_int_equal(holders, 3);
  }
  assert_int_equal(xr_client_topology(f->c), XR_TOPOLOGY_CLUSTER);
  assert_non_null(strstr(xr_client_address(f->c), "cluster 127.0.0.1:"));
  /* keyless commands go to any master */
  XR_OK(xr_client_ping(f->c));
}

static void test_crossslot_refused_before_sending(void **state) {
  fixture *f = *state;
  XR_FAILS(itest_cmd(f->c, NULL, "MGET", "a", "b", NULL), XR_ECROSSSLOT, "'a' (slot 15495) and 'b' (slot 3300)");
  XR_FAILS(itest_cmd(f->c, NULL, "DEL", "x:1", "x:2", "x:3", NULL), XR_ECROSSSLOT, "DEL: keys in different Cluster slots");
  /* one hash tag: one slot, and the command runs */
  XR_OK(itest_cmd(f->c, NULL, "MSET", "{t}a", "1", "{t}b", "2", NULL));
  xr_reply *r;
  XR_OK(itest_cmd(f->c, &r, "MGET", "{t}a", "{t}b", NULL));
  assert_int_equal(xr_reply_count(r), 2);
  assert_string_equal(xr_reply_str(xr_reply_at(r, 1), NULL), "2");
  xr_reply_free(r);
  xr_script *s;
  const char body[] = "return redis.call('GET', KEYS[1])";
  XR_OK(xr_script_new(&s, body, sizeof body - 1));
  const char *argv[] = {"a", "b"};
  XR_FAILS(xr_client_eval(f->c, NULL, s, 2, 2, argv, NULL), XR_ECROSSSLOT, "a script: keys in different Cluster slots");
  xr_script_free(s);
}

/* A script runs on each master; after SCRIPT FLUSH on all of them, EVALSHA gets NOSCRIPT on
 * whichever node answers and falls back to EVAL there. */
static void test_scripts_per_node(void **state) {
  fixture *f = *state;
  xr_script *s;
  const char body[] = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])";
  XR_OK(xr_script_new(&s, body, sizeof body - 1));
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 12; i++) {
      char key[32];
      snprintf(key, sizeof key, "script:%d", i);
      const char *argv[] = {key, "x"};
      xr_reply *r;
      XR_OK(xr_client_eval(f->c, &r, s, 1, 2, argv, NULL));
      assert_string_equal(xr_reply_str(r, NULL), "x");
      xr_reply_free(r);
    }
    for (size_t i = 0; i < xrt_cluster_size(f->cluster); i++) {
      xr_client_options o = itest_options(xrt_cluster_node(f->cluster, i));
      xr_client *n;
      XR_OK(xr_client_open(&n, &o));
      XR_OK(itest_cmd(n, NULL, "SCRIPT", "FLUSH", NULL));
      xr_client_close(n);
    }
  }
  xr_script_free(s);
}

/* A batch over every master: results in the order added, a script in it on each node, a
 * transaction on one tag kept whole, one across slots refused whole. */
static void test_batch_split_per_node(void **state) {
  fixture *f = *state;
  xr_batch *b;
  XR_OK(xr_batch_new(&b));
  xr_script *s;
  const char body[] = "return redis.call('INCR', KEYS[1])";
  XR_OK(xr_script_new(&s, body, sizeof body - 1));
  char keys[40][24];
  for (int i = 0; i < 40; i++) {
    snprintf(keys[i], sizeof keys[i], "batch:%d", i);
    const char *del[] = {"DEL", keys[i]};
    assert_true(xr_batch_add(b, 2, del, NULL) >= 0);
  }
  XR_OK(xr_client_exec(f->c, b));
  xr_batch_clear(b);
  for (int i = 0; i < 40; i++) {
    const char *argv[] = {keys[i]};
    assert_int_equal(xr_batch_add_eval(b, s, 1, 1, argv, NULL), 2 * i);
    const char *get[] = {"GET", keys[i]};
    assert_int_equal(xr_batch_add(b, 2, get, NULL), 2 * i + 1);
  }
  XR_OK(xr_client_exec(f->c, b));
  for (int i = 0; i < 40; i++) {
    const xr_reply *r;
    XR_OK(xr_batch_result(b, (size_t)(2 * i), &r, NULL));
    assert_int_equal(xr_reply_integer(r), 1);
    XR_OK(xr_batch_result(b, (size_t)(2 * i + 1), &r, NULL));
    assert_string_equal(xr_reply_str(r, NULL), "1");
  }
  /* a transaction on one tag, beside plain operations on other nodes */
  xr_batch_clear(b);
  const char *set_a[] = {"SET", "{tx}a", "1"}, *multi[] = {"MULTI"}, *incr[] = {"INCR", "{tx}a"},
             *incr2[] = {"INCR", "{tx}b"}, *exec[] = {"EXEC"}, *other[] = {"SET", "elsewhere", "y"};
  xr_batch_add(b, 3, set_a, NULL);
  xr_batch_add(b, 1, multi, NULL);
  xr_batch_add(b, 2, incr, NULL);
  xr_batch_add(b, 2, incr2, NULL);
  xr_batch_add(b, 1, exec, NULL);
  xr_batch_add(b, 3, other, NULL);
  XR_OK(xr_client_exec(f->c, b));
  const xr_reply *r;
  XR_OK(xr_batch_result(b, 4, &r, NULL));
  assert_int_equal(xr_reply_count(r), 2);
  assert_int_equal(xr_reply_integer(xr_reply_at(r, 0)), 2);
  XR_OK(xr_batch_result(b, 5, &r, NULL));
  /* a transaction across slots never splits: every operation of it fails, nothing ran */
  xr_batch_clear(b);
  const char *incr_a[] = {"INCR", "a"}, *incr_b[] = {"INCR", "b"};
  xr_batch_add(b, 1, multi, NULL);
  xr_batch_add(b, 2, incr_a, NULL);
  xr_batch_add(b, 2, incr_b, NULL);
  xr_batch_add(b, 1, exec, NULL);
  xr_client_exec(f->c, b);
  for (size_t i = 0; i < 4; i++) {
    const char *msg;
    assert_int_equal(xr_batch_result(b, i, NULL, &msg), XR_ECROSSSLOT);
    assert_non_null(strstr(msg, "transaction"));
  }
  xr_reply *none;
  XR_OK(itest_cmd(f->c, &none, "GET", "a", NULL));
  assert_int_equal(xr_reply_kind(none), XR_REPLY_NIL);
  xr_reply_free(none);
  xr_batch_free(b);
  xr_script_free(s);
}

/* Moves `slot` (with its keys) from the master that serves it to another one, as redis-cli
 * --cluster reshard does: IMPORTING on the target, MIGRATING on the source, MIGRATE each key,
 * SETSLOT NODE on every master. With `stop_halfway` the keys after the first stay behind and the
 * slot stays MIGRATING (the ASK window); finish_move completes it. */
typedef struct move {
  xr_client *src, *dst;
  char src_id[64], dst_id[64];
  int dst_port;
  const xrt_server *dst_server;
  char slot[8];
} move;

static void start_move(fixture *f, move *m, int slot) {
  snprintf(m->slot, sizeof m->slot, "%d", slot);
  m->src = master_of(f, slot, m->src_id, sizeof m->src_id);
  /* the target: another master */
  for (size_t i = 0; i < 3 && !m->dst; i++) {
    xr_client_options o = itest_options(xrt_cluster_node(f->cluster, i));
    xr_client *n;
    XR_OK(xr_client_open(&n, &o));
    xr_reply *id;
    XR_OK(itest_cmd(n, &id, "CLUSTER", "MYID", NULL));
    xr_reply *role;
    XR_OK(itest_cmd(n, &role, "ROLE", NULL));
    if (strcmp(xr_reply_str(id, NULL), m->src_id) && !strcmp(xr_reply_str(xr_reply_at(role, 0), NULL), "master")) {
      snprintf(m->dst_id, sizeof m->dst_id, "%s", xr_reply_str(id, NULL));
      m->dst = n;
      m->dst_port = xrt_server_port(xrt_cluster_node(f->cluster, i));
      m->dst_server = xrt_cluster_node(f->cluster, i);
    } else {
      xr_client_close(n);
    }
    xr_reply_free(id);
    xr_reply_free(role);
  }
  assert_non_null(m->dst);
  XR_OK(itest_cmd(m->dst, NULL, "CLUSTER", "SETSLOT", m->slot, "IMPORTING", m->src_id, NULL));
  XR_OK(itest_cmd(m->src, NULL, "CLUSTER", "SETSLOT", m->slot, "MIGRATING", m->dst_id, NULL));
}

static void migrate_key(move *m, const char *key) {
  char port[8];
  snprintf(port, sizeof port, "%d", m->dst_port);
  XR_OK(itest_cmd(m->src, NULL, "MIGRATE", "127.0.0.1", port, key, "0", "5000", NULL));
}

/* One node's CLUSTER NODES: each node's id, config epoch, and whether it is a master (or itself). */
typedef struct nodes_view {
  size_t n;
  struct {
    char id[48];
    long long epoch;
    int master, myself;
  } at[16];
} nodes_view;

static void read_nodes_view(xr_client *n, nodes_view *v) {
  xr_reply *r;
  XR_OK(itest_cmd(n, &r, "CLUSTER", "NODES", NULL));
  memset(v, 0, sizeof *v);
  for (const char *line = xr_reply_str(r, NULL); line && *line && v->n < 16;
       line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
    char flags[128];
    if (sscanf(line, "%47s %*s %127s %*s %*s %*s %lld", v->at[v->n].id, flags, &v->at[v->n].epoch) != 3) continue;
    v->at[v->n].master = strstr(flags, "master") != NULL;
    v->at[v->n].myself = strstr(flags, "myself") != NULL;
    v->n++;
  }
  xr_reply_free(r);
}

/* Whether the move to the master on `port` has reached every node: each names it for `slot`, each
 * lists every master with the config epoch that master gives itself, and no two masters share
 * one (else `why` says what is not there yet). */
static int move_settled(fixture *f, int slot, int port, char *why, size_t size) {
  size_t count = xrt_cluster_size(f->cluster);
  nodes_view views[8];
  assert_true(count <= 8);
  for (size_t i = 0; i < count; i++) {
    xr_client_options o = itest_options(xrt_cluster_node(f->cluster, i));
    xr_client *n;
    XR_OK(xr_client_open(&n, &o));
    long long named = named_port(n, slot);
    read_nodes_view(n, &views[i]);
    xr_client_close(n);
    if (named != port) {
      snprintf(why, size, "node %d names %lld for slot %d, not %d", xrt_server_port(xrt_cluster_node(f->cluster, i)),
               named, slot, port);
      return 0;
    }
  }
  for (size_t i = 0; i < count; i++)
    for (size_t k = 0; k < views[i].n; k++) {
      if (!views[i].at[k].myself || !views[i].at[k].master) continue;
      const char *id = views[i].at[k].id;
      long long epoch = views[i].at[k].epoch;
      for (size_t j = 0; j < count; j++)
        for (size_t l = 0; l < views[j].n; l++) {
          int same = !strcmp(views[j].at[l].id, id);
          if ((same && views[j].at[l].epoch != epoch) ||
              (!same && views[j].at[l].myself && views[j].at[l].master && views[j].at[l].epoch == epoch)) {
            snprintf(why, size, "master %.8s has config epoch %lld; node %d %s %lld", id, epoch,
                     xrt_server_port(xrt_cluster_node(f->cluster, j)), same ? "knows it as" : "has it too:",
                     views[j].at[l].epoch);
            return 0;
          }
        }
    }
  return 1;
}

/* SETSLOT NODE on the target first (it takes the slot and a new config epoch before any node
 * names it; test_reshard_load.c's order), then on every other node; then waits until the move has
 * reached every node. SETSLOT NODE changes one node's view at a time, the rest comes by cluster-bus
 * messages, and a node's view can still change after its SETSLOT: a claim of the slot with a higher
 * config epoch (the source's, sent before its own SETSLOT, when the target's epoch is not above it,
 * or once an epoch collision is resolved) hands the slot back. A client asking then can be sent
 * between two masters that name each other, past max_redirects (an ASan run of
 * test_loop_connection: EREDIRECTS for the slot just moved back). Waiting until every node names
 * the target and all agree on distinct config epochs also starts the next move on a settled
 * cluster, where the next target's new epoch is above every other. */
static void finish_move(fixture *f, move *m) {
  XR_OK(itest_cmd(m->dst, NULL, "CLUSTER", "SETSLOT", m->slot, "NODE", m->dst_id, NULL));
  for (size_t i = 0; i < xrt_cluster_size(f->cluster); i++) {
    if (xrt_server_port(xrt_cluster_node(f->cluster, i)) == m->dst_port) continue;
    xr_client_options o = itest_options(xrt_cluster_node(f->cluster, i));
    xr_client *n;
    XR_OK(xr_client_open(&n, &o));
    itest_cmd(n, NULL, "CLUSTER", "SETSLOT", m->slot, "NODE", m->dst_id, NULL); /* replicas refuse: fine */
    xr_client_close(n);
  }
  char why[200] = "";
  for (long long end = itest_now_ms() + 15000; !move_settled(f, atoi(m->slot), m->dst_port, why, sizeof why);
       xrt_sleep_ms(20))
    if (itest_now_ms() > end) fail_msg("slot %s moved to %d, but after 15 s %s", m->slot, m->dst_port, why);
  xr_client_close(m->src);
  xr_client_close(m->dst);
  memset(m, 0, sizeof *m);
}

/* MOVED: a slot moved whole behind the client's back; the client follows it, learns it, and
 * moves it back the same way. ASK: halfway through a migration, a key already moved is reached by
 * ASKING on the target and a key not yet moved on the source, while the map keeps the source. */
static void test_moved_and_ask_during_migration(void **state) {
  fixture *f = *state;
  const char *k1 = "{mig}one", *k2 = "{mig}two";
  int slot = (int)xr_key_slot("mig", 3);
  XR_OK(itest_cmd(f->c, NULL, "SET", k1, "1", NULL));
  XR_OK(itest_cmd(f->c, NULL, "SET", k2, "2", NULL));
  for (int round = 0; round < 2; round++) {
    move m = {0};
    start_move(f, &m, slot);
    migrate_key(&m, k1);
    /* ASK window: k1 lives on the target, k2 on the source; the target sees ASKING right before
     * the GET of k1 and never a GET of k2 (an ASK taken as a MOVED would send k2 there first) */
    itest_monitor mon;
    itest_monitor_open(&mon, m.dst_server);
    xr_reply *r;
    XR_OK(itest_cmd(f->c, &r, "GET", k1, NULL));
    assert_string_equal(xr_reply_str(r, NULL), round == 0 ? "1" : "4");
    xr_reply_free(r);
    XR_OK(itest_cmd(f->c, &r, "GET", k2, NULL));
    assert_string_equal(xr_reply_str(r, NULL), "2");
    xr_reply_free(r);
    itest_lines raw = {0};
    itest_monitor_take(&mon, m.dst, &raw);
    itest_monitor_close(&mon);
    int asking_then_get = 0;
    for (size_t i = 0; i < raw.n; i++) {
      assert_null(strstr(raw.v[i], "\"GET\" \"{mig}two\""));
      if (i + 1 < raw.n && strstr(raw.v[i], "\"ASKING\"") && strstr(raw.v[i + 1], "\"GET\" \"{mig}one\""))
        asking_then_get = 1;
    }
    assert_true(asking_then_get);
    itest_lines_free(&raw);
    /* a write to a key of the slot that exists nowhere yet goes to the target, after ASK */
    XR_OK(itest_cmd(f->c, NULL, "SET", "{mig}new", "n", NULL));
    migrate_key(&m, k2);
    finish_move(f, &m);
    /* MOVED: the map still names the source for the slot */
    for (int i = 0; i < 3; i++) {
      XR_OK(itest_cmd(f->c, &r, "INCR", k1, NULL));
      xr_reply_free(r);
    }
    XR_OK(itest_cmd(f->c, &r, "GET", k2, NULL));
    assert_string_equal(xr_reply_str(r, NULL), "2");
    xr_reply_free(r);
    XR_OK(itest_cmd(f->c, &r, "GET", "{mig}new", NULL));
    assert_string_equal(xr_reply_str(r, NULL), "n");
    xr_reply_free(r);
    XR_OK(itest_cmd(f->c, NULL, "DEL", "{mig}new", NULL));
  }
  xr_reply *r;
  XR_OK(itest_cmd(f->c, &r, "GET", k1, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "7");
  xr_reply_free(r);
}

/* redis+cluster:// with one seed: the client finds the other masters from it. */
static void test_open_by_url(void **state) {
  fixture *f = *state;
  char url[128];
  snprintf(url, sizeof url, "redis+cluster://127.0.0.1:%d?max_redirects=4", xrt_server_port(xrt_cluster_node(f->cluster, 1)));
  xr_client *c;
  XR_OK(xr_client_open_url(&c, url, NULL));
  for (int i = 0; i < 30; i++) {
    char key[16];
    snprintf(key, sizeof key, "url:%d", i);
    XR_OK(itest_cmd(c, NULL, "SET", key, "1", NULL));
  }
  xr_client_close(c);
  XR_FAILS(xr_client_open_url(&c, "rediss+cluster://127.0.0.1:1", NULL), XR_EINVAL, "needs TLS");
}

/* A loop connection on the cluster: one descriptor for every node (epoll), a batch over all
 * masters driven as a pollable, replies in order; then the same during a migration (ASK for the
 * moved key, the source for the other) and after it (MOVED), all without blocking on a reply. */
static void test_loop_connection(void **state) {
  fixture *f = *state;
  xr_loop_conn *lc;
  XR_OK(xr_loop_conn_open(&lc, f->c));
  xr_pollable *p = xr_loop_conn_pollable(lc);
  assert_true(xr_pollable_fd(p) >= 0);
  assert_int_equal(xr_pollable_events(p), XR_WAIT_READ);
  xr_batch *b;
  XR_OK(xr_batch_new(&b));
  char keys[30][16];
  for (int i = 0; i < 30; i++) {
    snprintf(keys[i], sizeof keys[i], "loop:%d", i);
    const char *set[] = {"SET", keys[i], keys[i]}, *get[] = {"GET", keys[i]};
    xr_batch_add(b, 3, set, NULL);
    xr_batch_add(b, 2, get, NULL);
  }
  int wait;
  XR_OK(xr_loop_conn_start(lc, b, &wait));
  assert_int_equal(wait, XR_WAIT_READ);
  assert_int_equal(itest_drive_pollable(p, NULL), XR_POLL_DONE);
  for (int i = 0; i < 30; i++) {
    const xr_reply *r;
    XR_OK(xr_batch_result(b, (size_t)(2 * i + 1), &r, NULL));
    assert_string_equal(xr_reply_str(r, NULL), keys[i]);
  }
  /* a migration: ASK and MOVED inside a loop batch */
  const char *k1 = "{lmig}one", *k2 = "{lmig}two";
  XR_OK(itest_cmd(f->c, NULL, "SET", k1, "1", NULL));
  XR_OK(itest_cmd(f->c, NULL, "SET", k2, "2", NULL));
  move m = {0};
  start_move(f, &m, (int)xr_key_slot("lmig", 4));
  migrate_key(&m, k1);
  xr_batch_clear(b);
  const char *g1[] = {"GET", k1}, *g2[] = {"GET", k2}, *other[] = {"GET", keys[3]};
  xr_batch_add(b, 2, g1, NULL);
  xr_batch_add(b, 2, other, NULL);
  xr_batch_add(b, 2, g2, NULL);
  XR_OK(xr_loop_conn_start(lc, b, &wait));
  assert_int_equal(itest_drive_pollable(p, NULL), XR_POLL_DONE);
  const xr_reply *r;
  XR_OK(xr_batch_result(b, 0, &r, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "1");
  XR_OK(xr_batch_result(b, 1, &r, NULL));
  assert_string_equal(xr_reply_str(r, NULL), keys[3]);
  XR_OK(xr_batch_result(b, 2, &r, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "2");
  migrate_key(&m, k2);
  finish_move(f, &m);
  XR_OK(xr_loop_conn_start(lc, b, &wait));
  assert_int_equal(itest_drive_pollable(p, NULL), XR_POLL_DONE);
  XR_OK(xr_batch_result(b, 2, &r, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "2");
  /* and back, so the cluster stays as it was */
  start_move(f, &m, (int)xr_key_slot("lmig", 4));
  migrate_key(&m, k1);
  migrate_key(&m, k2);
  finish_move(f, &m);
  XR_OK(xr_loop_conn_start(lc, b, &wait));
  assert_int_equal(itest_drive_pollable(p, NULL), XR_POLL_DONE);
  XR_OK(xr_batch_result(b, 0, &r, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "1");
  assert_false(xr_loop_conn_broken(lc));
  xr_batch_free(b);
  xr_loop_conn_close(lc);
}

/* SCAN of the whole cluster: every master visited to cursor 0, so every key of a pattern is found
 * (and, masters only, none twice); the lock scan of the command finds the Chat locks of every
 * master; the Chat SDK state's single-key operations run on the cluster. */
static void test_scan_every_master(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 50; i++) {
    char key[32];
    snprintf(key, sizeof key, "scan*me:%d", i);
    XR_OK(itest_cmd(f->c, NULL, "SET", key, "1", NULL));
  }
  XR_OK(itest_cmd(f->c, NULL, "SET", "scanXme:not-matched", "1", NULL));
  xr_scan_options so = XR_SCAN_OPTIONS_INIT;
  so.match = "scan\\*me:*";
  so.count = 7; /* several steps per node */
  xr_scan *sc;
  XR_OK(xr_scan_new(&sc, f->c, &so));
  assert_int_equal(xr_scan_nodes(sc), 3);
  xr_batch *b;
  XR_OK(xr_batch_new(&b));
  int seen[50] = {0}, steps = 0;
  for (int done = 0; !done; steps++) {
    xr_batch_clear(b);
    int i = xr_scan_add(sc, b);
    assert_true(i >= 0);
    XR_OK(xr_client_exec(f->c, b));
    const xr_reply *keys;
    XR_OK(xr_scan_take(sc, b, (size_t)i, &keys, &done));
    for (size_t k = 0; k < xr_reply_count(keys); k++) {
      const char *name = xr_reply_str(xr_reply_at(keys, k), NULL);
      assert_true(!strncmp(name, "scan*me:", 8));
      int n = atoi(name + 8);
      assert_true(n >= 0 && n < 50);
      seen[n]++;
    }
  }
  for (int i = 0; i < 50; i++) assert_int_equal(seen[i], 1);
  assert_true(steps > 3);
  XR_FAILS(xr_scan_add(sc, b), XR_EINVAL, "the scan is done");
  xr_scan_free(sc);
  xr_batch_free(b);

  xr_chat *chat;
  xr_chat_options defaults = XR_CHAT_OPTIONS_INIT;
  XR_OK(xr_chat_new(&chat, f->c, &defaults));
  xr_chat_lock locks[20];
  for (int i = 0; i < 20; i++) {
    char tid[32];
    snprintf(tid, sizeof tid, "slack:C%d:%d", i, i * 7);
    bool acquired;
    XR_OK(xr_chat_acquire_lock(chat, &acquired, &locks[i], tid, strlen(tid), 60000));
    assert_true(acquired);
  }
  xr_lock_list *l;
  XR_OK(xr_lock_scan(&l, f->c, NULL));
  assert_int_equal(xr_lock_list_count(l), 20);
  xr_lock_list_free(l);
  /* release_lock_if_queue_empty needs the lock and the queue in one slot: refused before sending,
   * with the keys named (a hash-tagged prefix puts them together) */
  bool released;
  long long depth;
  XR_FAILS(xr_chat_release_lock_if_queue_empty(chat, &released, &depth, "slack:C0:0", 10, locks[0].token, locks[0].token_len),
           XR_ECROSSSLOT, "keys in different Cluster slots");
  xr_chat_free(chat);
  xr_chat_options co = XR_CHAT_OPTIONS_INIT;
  co.key_prefix = "{chat}";
  XR_OK(xr_chat_new(&chat, f->c, &co));
  xr_chat_lock lk;
  bool acquired;
  XR_OK(xr_chat_acquire_lock(chat, &acquired, &lk, "t", 1, 60000));
  XR_OK(xr_chat_release_lock_if_queue_empty(chat, &released, &depth, "t", 1, lk.token, lk.token_len));
  assert_true(released);
  xr_chat_free(chat);
}

/* The TLS cluster (the shared one, or its own when run by hand): every node verified against the
 * test CA by its own connection (127.0.0.1 is in the certificate: the IP is checked, never sent as
 * SNI), the slot map's TLS ports, redirections, batches and a loop connection over TLS. */
static void test_tls_cluster(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE];
  xrt_topology *t;
  if (xrt_topology_get(&t, XRT_TOPOLOGY_TLS_CLUSTER, err) != 0) fail_msg("TLS cluster: %s", err);
  char ca[600];
  snprintf(ca, sizeof ca, "%s/ca.crt", xrt_topology_certs_dir(t));
  xr_client_config *cfg;
  XR_OK(xr_client_config_new(&cfg));
  XR_OK(xr_client_config_set_text(cfg, "cluster_nodes", xrt_topology_seeds(t), strlen(xrt_topology_seeds(t))));
  XR_OK(xr_client_config_set_text(cfg, "ca_file", ca, strlen(ca)));
  xr_client *c;
  XR_OK(xr_tls_client_open_config(&c, cfg));
  xr_batch *b;
  XR_OK(xr_batch_new(&b));
  for (int i = 0; i < 24; i++) {
    char key[32];
    snprintf(key, sizeof key, "tls-cluster:%d", i);
    XR_OK(itest_cmd(c, NULL, "SET", key, key, NULL));
    const char *get[] = {"GET", key};
    xr_batch_add(b, 2, get, NULL);
  }
  XR_OK(xr_client_exec(c, b));
  xr_loop_conn *lc;
  XR_OK(xr_loop_conn_open(&lc, c));
  int wait;
  XR_OK(xr_loop_conn_start(lc, b, &wait));
  assert_int_equal(itest_drive_pollable(xr_loop_conn_pollable(lc), NULL), XR_POLL_DONE);
  for (int i = 0; i < 24; i++) {
    const xr_reply *r;
    char key[32];
    snprintf(key, sizeof key, "tls-cluster:%d", i);
    XR_OK(xr_batch_result(b, (size_t)i, &r, NULL));
    assert_string_equal(xr_reply_str(r, NULL), key);
  }
  xr_loop_conn_close(lc);
  xr_batch_free(b);
  xr_client_close(c);
  /* without the CA the first node already fails verification */
  xr_client_config_free(cfg);
  XR_OK(xr_client_config_new(&cfg));
  XR_OK(xr_client_config_set_text(cfg, "cluster_nodes", xrt_topology_seeds(t), strlen(xrt_topology_seeds(t))));
  XR_OK(xr_client_config_set_boolean(cfg, "insecure", false));
  XR_FAILS(xr_tls_client_open_config(&c, cfg), XR_ETLS, NULL);
  xr_client_config_free(cfg);
  xrt_topology_free(t);
}

/* replica_reads: GETs (single and in a batch) are answered by the replicas (they count them in
 * INFO commandstats), writes still go to the masters. */
static long long replica_gets(fixture *f) {
  long long total = 0;
  for (size_t i = 0; i < xrt_cluster_size(f->cluster); i++) {
    xr_client_options o = itest_options(xrt_cluster_node(f->cluster, i));
    xr_client *n;
    XR_OK(xr_client_open(&n, &o));
    xr_reply *role, *stats;
    XR_OK(itest_cmd(n, &role, "ROLE", NULL));
    XR_OK(itest_cmd(n, &stats, "INFO", "commandstats", NULL));
    const char *get = strstr(xr_reply_str(stats, NULL), "cmdstat_get:calls=");
    if (strcmp(xr_reply_str(xr_reply_at(role, 0), NULL), "master") != 0 && get) total += atoll(get + 18);
    xr_reply_free(role);
    xr_reply_free(stats);
    xr_client_close(n);
  }
  return total;
}

/* Waits until every node's CLUSTER SHARDS calls each replica "online": a node says "loading" of a
 * replica whose replication offset it has not heard of yet (gossip), and the client leaves such
 * replicas out of its map (TOPOLOGY-FAILURES 11); under load that lasted past the previous tests,
 * and the client, opened then, read from the masters alone. */
static void wait_replicas_online(fixture *f) {
  for (long long end = itest_now_ms() + 15000;; xrt_sleep_ms(50)) {
    int online = 0, nodes = 0;
    for (size_t i = 0; i < xrt_cluster_size(f->cluster); i++, nodes++) {
      xr_client_options o = itest_options(xrt_cluster_node(f->cluster, i));
      xr_client *n;
      XR_OK(xr_client_open(&n, &o));
      xr_reply *sh;
      XR_OK(itest_cmd(n, &sh, "CLUSTER", "SHARDS", NULL));
      int here = 0;
      for (size_t s = 0; s < xr_reply_count(sh); s++) {
        const xr_reply *list = xr_reply_at(xr_reply_at(sh, s), 3);
        for (size_t j = 0; j < xr_reply_count(list); j++) {
          const xr_reply *nd = xr_reply_at(list, j);
          int replica = 0, ok = 0;
          for (size_t k = 0; k + 1 < xr_reply_count(nd); k += 2) {
            const char *key = xr_reply_str(xr_reply_at(nd, k), NULL), *v = xr_reply_str(xr_reply_at(nd, k + 1), NULL);
            if (key && v && !strcmp(key, "role")) replica = !strcmp(v, "replica");
            if (key && v && !strcmp(key, "health")) ok = !strcmp(v, "online");
          }
          here += replica && ok;
        }
      }
      online += here == 3;
      xr_reply_free(sh);
      xr_client_close(n);
    }
    if (online == nodes) return;
    if (itest_now_ms() > end) fail_msg("after 15 s, %d of %d nodes call all 3 replicas online", online, nodes);
  }
}

static void test_replica_reads(void **state) {
  fixture *f = *state;
  wait_replicas_online(f);
  xr_client_options o = cluster_options(f->cluster);
  o.replica_reads = 1;
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  long long before = replica_gets(f);
  xr_batch *b;
  XR_OK(xr_batch_new(&b));
  for (int i = 0; i < 30; i++) {
    char key[32];
    snprintf(key, sizeof key, "replica-read:%d", i);
    XR_OK(itest_cmd(c, NULL, "SET", key, "v", NULL)); /* a write: the master */
    const char *get[] = {"GET", key};
    xr_batch_add(b, 2, get, NULL);
  }
  XR_OK(itest_cmd(c, NULL, "WAIT", "1", "1000", NULL)); /* let the replicas have them */
  XR_OK(xr_client_exec(c, b));
  for (int i = 0; i < 30; i++) {
    const xr_reply *r;
    const char *msg = NULL;
    int rc = xr_batch_result(b, (size_t)i, &r, &msg);
    if (rc) fail_msg("GET %d: %s", i, msg);
  }
  for (int i = 0; i < 30; i++) {
    char key[32];
    snprintf(key, sizeof key, "replica-read:%d", i);
    xr_reply *r;
    XR_OK(itest_cmd(c, &r, "GET", key, NULL));
    xr_reply_free(r);
  }
  assert_true(replica_gets(f) - before >= 60);
  xr_batch_free(b);
  xr_client_close(c);
}

/* xr_client_node_of_slot numbers the masters 0..2 with the replicas in the map too (they came
 * between the masters in CLUSTER SHARDS order, and a lane number ran past the masters). */
static void test_node_numbers_are_the_masters(void **state) {
  fixture *f = *state;
  wait_replicas_online(f);
  xr_client_options o = cluster_options(f->cluster);
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  XR_OK(itest_cmd(c, NULL, "GET", "node-numbers", NULL)); /* the map is read */
  int seen[3] = {0, 0, 0};
  for (int s = 0; s < 16384; s++) {
    int node = xr_client_node_of_slot(c, s);
    if (node < 0 || node > 2) fail_msg("slot %d: node %d, not one of the 3 masters", s, node);
    seen[node] = 1;
  }
  assert_true(seen[0] && seen[1] && seen[2]);
  xr_client_close(c);
}

static void test_bad_options(void **state) {
  fixture *f = *state;
  xr_client *c = NULL;
  xr_client_options o = cluster_options(f->cluster);
  o.nodes = "";
  XR_FAILS(xr_client_open(&c, &o), XR_EINVAL, "cluster: nodes: no address given");
  o.nodes = "127.0.0.1:99999";
  XR_FAILS(xr_client_open(&c, &o), XR_EINVAL, "bad port in '127.0.0.1:99999'");
  o.nodes = "[::1:7000";
  XR_FAILS(xr_client_open(&c, &o), XR_EINVAL, "without ']'");
  o = cluster_options(f->cluster);
  o.db = 2;
  XR_FAILS(xr_client_open(&c, &o), XR_EINVAL, "cluster: db must be 0");
  /* no seed answers: the error says what was asked */
  int port, fd;
  char err[XRT_ERR_SIZE];
  assert_int_equal(xrt_silent_listener_start(&port, &fd, err), 0);
  xrt_silent_listener_stop(fd); /* the port is now closed: connection refused */
  char seeds[64];
  snprintf(seeds, sizeof seeds, "127.0.0.1:%d", port);
  o.db = 0;
  o.nodes = seeds;
  XR_FAILS(xr_client_open(&c, &o), XR_ECONNECT, "cluster: no node gave the slot map (asked 1)");
  assert_null(c);
  /* a standalone server is no cluster */
  xrt_server *plain;
  assert_int_equal(itest_start(&plain, NULL), 0);
  snprintf(seeds, sizeof seeds, "127.0.0.1:%d", xrt_server_port(plain));
  XR_FAILS(xr_client_open(&c, &o), XR_ESERVER, "cluster support disabled");
  xrt_server_free(plain);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys_route_by_slot),
      cmocka_unit_test(test_crossslot_refused_before_sending),
      cmocka_unit_test(test_scripts_per_node),
      cmocka_unit_test(test_batch_split_per_node),
      cmocka_unit_test(test_moved_and_ask_during_migration),
      cmocka_unit_test(test_open_by_url),
      cmocka_unit_test(test_loop_connection),
      cmocka_unit_test(test_scan_every_master),
      cmocka_unit_test(test_tls_cluster),
      cmocka_unit_test(test_replica_reads),
      cmocka_unit_test(test_node_numbers_are_the_masters),
      cmocka_unit_test(test_bad_options),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
