/* A Redis Cluster of harness servers (cluster.h). */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xrt_cluster {
  xrt_server **nodes;
  size_t n;
  char seeds[2048];
};

#define fail xrt_fail

size_t xrt_cluster_size(const xrt_cluster *c) { return c ? c->n : 0; }

xrt_server *xrt_cluster_node(const xrt_cluster *c, size_t i) { return c && i < c->n ? c->nodes[i] : NULL; }

const char *xrt_cluster_seeds(const xrt_cluster *c) { return c->seeds; }

void xrt_cluster_free(xrt_cluster *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) xrt_server_free(c->nodes[i]);
  free(c->nodes);
  free(c);
}

/* CLUSTER INFO of one node through redis-cli (no cluster client in the harness). */
static int cluster_info(const xrt_server *s, char *out, size_t size, char *err) {
  char port[16];
  snprintf(port, sizeof port, "%d", xrt_server_port(s));
  const char *argv[] = {"redis-cli", "-h", "127.0.0.1", "-p", port, "CLUSTER", "INFO", NULL};
  int st = xrt_run(argv, out, size, NULL, err);
  return st == 0 ? 0 : fail(err, "redis-cli CLUSTER INFO on port %s: exit status %d", port, st);
}

int xrt_cluster_wait_ok(const xrt_cluster *c, int timeout_ms, char *err) {
  char info[4096];
  for (int waited = 0;; waited += 100) {
    int ok = 1;
    for (size_t i = 0; ok && i < c->n; i++) {
      if (!xrt_server_running(c->nodes[i])) continue;
      ok = cluster_info(c->nodes[i], info, sizeof info, err) == 0 && strstr(info, "cluster_state:ok") &&
           strstr(info, "cluster_slots_assigned:16384");
    }
    if (ok) return 0;
    if (waited >= timeout_ms) return fail(err, "the cluster is not ok after %d ms: %.200s", timeout_ms, info);
    xrt_sleep_ms(100);
  }
}

int xrt_cluster_start(xrt_cluster **out, int masters, int replicas, char *err) {
  *out = NULL;
  if (masters < 3 || replicas < 0 || masters * (replicas + 1) > 32)
    return fail(err, "xrt_cluster_start: %d masters with %d replicas each is not a cluster the harness makes", masters,
                replicas);
  xrt_cluster *c = calloc(1, sizeof *c);
  size_t n = (size_t)(masters * (replicas + 1));
  if (!c || !(c->nodes = calloc(n, sizeof *c->nodes))) {
    free(c);
    return fail(err, "out of memory");
  }
  static const char *const node_args[] = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                          "--cluster-node-timeout", "2000", NULL};
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.extra_args = node_args;
  const char *argv[48];
  char addrs[32][32];
  size_t a = 0;
  argv[a++] = "redis-cli";
  argv[a++] = "--cluster";
  argv[a++] = "create";
  size_t w = 0;
  for (size_t i = 0; i < n; i++, c->n++) {
    /* The cluster bus listens on port + 10000, so a node refuses a port above 55535 (and one whose
     * bus port is taken): the harness's free port is random, so try again, a bounded number of times. */
    int started = -1;
    for (int attempt = 0; attempt < 20 && started != 0; attempt++) started = xrt_server_start(&c->nodes[i], &o, err);
    if (started != 0) {
      xrt_cluster_free(c);
      return -1;
    }
    snprintf(addrs[i], sizeof addrs[i], "127.0.0.1:%d", xrt_server_port(c->nodes[i]));
    argv[a++] = addrs[i];
    w += (size_t)snprintf(c->seeds + w, sizeof c->seeds - w, "%s%s", i ? "," : "", addrs[i]);
  }
  char count[16];
  snprintf(count, sizeof count, "%d", replicas);
  argv[a++] = "--cluster-replicas";
  argv[a++] = count;
  argv[a++] = "--cluster-yes";
  argv[a] = NULL;
  char log[XRT_ERR_SIZE + 64];
  snprintf(log, sizeof log, "%s/cluster-create.log", xrt_server_dir(c->nodes[0]));
  int st = xrt_run(argv, NULL, 0, log, err);
  if (st != 0) {
    fail(err, "redis-cli --cluster create: exit status %d (see %s)", st, log);
    xrt_cluster_free(c);
    return -1;
  }
  if (xrt_cluster_wait_ok(c, 30000, err) != 0) {
    xrt_cluster_free(c);
    return -1;
  }
  *out = c;
  return 0;
}
