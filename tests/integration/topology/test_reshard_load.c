/* Resharding under Chat SDK load (load.h: 4 threads of lock cycles, a contended lock, a shared
 * queue), on a private Cluster (3 masters; this process moves its slots): the slots of every hot
 * key (each thread's lock, the contended lock, the queue) move from master to master, round after
 * round, as redis-cli --cluster reshard moves them: IMPORTING on the target, MIGRATING on the
 * source, MIGRATE of the slot's keys while the load goes on (the queue holds a backlog, so its key
 * is always there to move; keys missing on the source are ASKed to the target), then SETSLOT NODE on the target, the source and the third master. The client
 * follows MOVED and ASK: not one call may fail. How many redirections the servers sent is read
 * from INFO errorstats (MOVED, ASK) and commandstats (ASKING) of every master, reset at the start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cluster.h"
#include "crossredis/keys.h"
#include "itest.h"
#include "load.h"

#define MASTERS 3
#define RESHARD_MS 8000 /* moving slots for this long */

static const char *const hot[] = {"load:lock:own-0", "load:lock:own-1", "load:lock:own-2", "load:lock:own-3",
                                  "load:lock:shared", "load:queue:q"};
#define HOT (sizeof hot / sizeof hot[0])

typedef struct node {
  xrt_endpoint e;
  char id[64];
} node;

static void cli(const node *n, char *out, size_t size, const char *const *args) {
  char err[XRT_ERR_SIZE];
  if (xrt_cli_argv(&n->e, args, out, size, err) != 0) fail_msg("redis-cli %s on %d: %s", args[0], n->e.port, err);
}

static long long probe_moved; /* MOVED replies owner() got: not the client's */

/* The master (index) that serves `slot` now, by asking each (a GET of a key of the slot: MOVED
 * from the others). */
static int owner(node *nodes, const char *key) {
  char out[512];
  for (int i = 0; i < MASTERS; i++) {
    const char *args[] = {"GET", key, NULL};
    cli(&nodes[i], out, sizeof out, args);
    if (strncmp(out, "MOVED", 5) != 0) return i;
    probe_moved++;
  }
  fail_msg("no master serves %s", key);
  return -1;
}

/* Moves the slot of `key` from master `src` to master `dst` with its keys, while clients write. */
static int move_slot(node *nodes, const char *key, int src, int dst) {
  char slot[16], out[8192], port[16];
  snprintf(slot, sizeof slot, "%u", (unsigned)xr_key_slot(key, strlen(key)));
  snprintf(port, sizeof port, "%d", nodes[dst].e.port);
  const char *importing[] = {"CLUSTER", "SETSLOT", slot, "IMPORTING", nodes[src].id, NULL};
  const char *migrating[] = {"CLUSTER", "SETSLOT", slot, "MIGRATING", nodes[dst].id, NULL};
  cli(&nodes[dst], out, sizeof out, importing);
  if (strcmp(out, "OK")) fail_msg("IMPORTING: %s", out);
  cli(&nodes[src], out, sizeof out, migrating);
  if (strcmp(out, "OK")) fail_msg("MIGRATING: %s", out);
  int moved = 0;
  for (int pass = 0; pass < 1000; pass++) {
    const char *keys[] = {"CLUSTER", "GETKEYSINSLOT", slot, "100", NULL};
    cli(&nodes[src], out, sizeof out, keys);
    if (!out[0]) break; /* none left on the source */
    for (char *k = strtok(out, "\n"); k; k = strtok(NULL, "\n")) {
      char reply[512];
      const char *migrate[] = {"MIGRATE", "127.0.0.1", port, k, "0", "5000", NULL};
      cli(&nodes[src], reply, sizeof reply, migrate);
      if (!strcmp(reply, "OK"))
        moved++;
      else if (strcmp(reply, "NOKEY")) /* gone meanwhile (released, expired): fine */
        fail_msg("MIGRATE %s: %s", k, reply);
    }
  }
  const char *node_dst[] = {"CLUSTER", "SETSLOT", slot, "NODE", nodes[dst].id, NULL};
  cli(&nodes[dst], out, sizeof out, node_dst);
  cli(&nodes[src], out, sizeof out, node_dst);
  for (int i = 0; i < MASTERS; i++)
    if (i != src && i != dst) cli(&nodes[i], out, sizeof out, node_dst);
  return moved;
}

/* Sums an INFO field ("errorstat_MOVED:count=N", "cmdstat_asking:calls=N") over the masters. */
static long long info_sum(node *nodes, const char *section, const char *field, const char *sub) {
  long long sum = 0;
  char out[16384], value[256];
  for (int i = 0; i < MASTERS; i++) {
    const char *args[] = {"INFO", section, NULL};
    cli(&nodes[i], out, sizeof out, args);
    if (xrt_reply_field(out, field, value, sizeof value) != 0) continue;
    const char *at = strstr(value, sub);
    if (at) sum += atoll(at + strlen(sub));
  }
  return sum;
}

static void test_reshard_under_load(void **state) {
  (void)state;
  xrt_cluster *k;
  ERR_CHECK(xrt_cluster_start(&k, MASTERS, 0, err_));
  node nodes[MASTERS];
  char out[256];
  for (int i = 0; i < MASTERS; i++) {
    nodes[i].e = xrt_cluster_endpoint(k, (size_t)i);
    const char *myid[] = {"CLUSTER", "MYID", NULL}, *reset[] = {"CONFIG", "RESETSTAT", NULL};
    cli(&nodes[i], out, sizeof out, myid);
    snprintf(nodes[i].id, sizeof nodes[i].id, "%.60s", out);
    cli(&nodes[i], out, sizeof out, reset);
  }
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.topology = XR_TOPOLOGY_CLUSTER;
  o.nodes = xrt_cluster_seeds(k);
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  xr_chat_options co = XR_CHAT_OPTIONS_INIT;
  co.key_prefix = "load";
  xr_chat *chat;
  XR_OK(xr_chat_new(&chat, c, &co));
  /* a backlog: the queue key lives through every migration, so MIGRATE moves it under load */
  for (int i = 0; i < 300; i++) {
    char msg[48];
    snprintf(msg, sizeof msg, "{\"backlog\":%d}", i);
    XR_OK(xr_chat_enqueue(chat, NULL, "q", 1, msg, strlen(msg), itest_wall_ms(), itest_wall_ms() + 600000, 0));
  }
  load l;
  load_start(&l, chat);
  int moves = 0, keys_moved = 0;
  long long end = itest_now_ms() + RESHARD_MS;
  int rounds = 0; /* every hot slot moves at least twice (there and on), however slow the machine */
  for (; rounds < 2 || itest_now_ms() < end; rounds++) {
    int round = rounds;
    for (size_t h = 0; h < HOT; h++) {
      int src = owner(nodes, hot[h]), dst = (src + 1 + round % (MASTERS - 1)) % MASTERS;
      keys_moved += move_slot(nodes, hot[h], src, dst);
      moves++;
    }
  }
  load_stop(&l);
  long long moved_replies = info_sum(nodes, "errorstats", "errorstat_MOVED:", "count=") - probe_moved;
  long long ask_replies = info_sum(nodes, "errorstats", "errorstat_ASK:", "count=");
  long long askings = info_sum(nodes, "commandstats", "cmdstat_asking:", "calls=");
  long long tryagain = info_sum(nodes, "errorstats", "errorstat_TRYAGAIN:", "count=");
  print_message("      reshard: %d slot moves of the %zu hot keys' slots in %d rounds, %d ms or more (%d keys MIGRATEd under "
                "load)\n", moves, HOT, rounds, RESHARD_MS, keys_moved);
  print_message("      reshard: the servers sent the client %lld MOVED, %lld ASK, %lld TRYAGAIN; it sent %lld ASKING\n",
                moved_replies, ask_replies, tryagain, askings);
  load_report(&l, "reshard", 1); /* not one failed call */
  /* the load met the migrations: redirections happened and were followed */
  assert_true(moves >= 2 * (int)HOT);
  assert_true(moved_replies > 0);
  load_free(&l);
  xr_chat_free(chat);
  xr_client_close(c);
  xrt_cluster_free(k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reshard_under_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
