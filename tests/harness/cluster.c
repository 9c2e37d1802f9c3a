/* A Redis Cluster of harness servers (cluster.h). */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_NODES 32
#define PATH_SIZE 512

struct xrt_cluster {
  xrt_server **nodes;
  size_t n;
  int tls;
  char dir[PATH_SIZE];       /* our own, for generated certificates; "" when none */
  char certs_dir[PATH_SIZE]; /* "" without TLS */
  char seeds[2048];
};

#define fail xrt_fail

size_t xrt_cluster_size(const xrt_cluster *c) { return c ? c->n : 0; }

xrt_server *xrt_cluster_node(const xrt_cluster *c, size_t i) { return c && i < c->n ? c->nodes[i] : NULL; }

const char *xrt_cluster_seeds(const xrt_cluster *c) { return c->seeds; }

int xrt_cluster_tls(const xrt_cluster *c) { return c->tls; }

const char *xrt_cluster_certs_dir(const xrt_cluster *c) { return c->tls ? c->certs_dir : NULL; }

xrt_endpoint xrt_cluster_endpoint(const xrt_cluster *c, size_t i) {
  xrt_endpoint e = XRT_ENDPOINT_INIT;
  e.port = i < c->n ? xrt_server_port(c->nodes[i]) : 0;
  e.certs_dir = xrt_cluster_certs_dir(c);
  return e;
}

void xrt_cluster_free(xrt_cluster *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) xrt_server_free(c->nodes[i]);
  if (c->dir[0]) xrt_remove_tree(c->dir);
  free(c->nodes);
  free(c);
}

int xrt_cluster_wait_ok(const xrt_cluster *c, int timeout_ms, char *err) {
  char info[4096] = "";
  for (int waited = 0;; waited += 100) {
    int ok = 1;
    for (size_t i = 0; ok && i < c->n; i++) {
      if (!xrt_server_running(c->nodes[i])) continue;
      xrt_endpoint e = xrt_cluster_endpoint(c, i);
      ok = xrt_cli(&e, info, sizeof info, err, "CLUSTER", "INFO", NULL) == 0 && strstr(info, "cluster_state:ok") &&
           strstr(info, "cluster_slots_assigned:16384");
    }
    if (ok) return 0;
    if (waited >= timeout_ms) return fail(err, "the cluster is not ok after %d ms: %.200s", timeout_ms, info);
    xrt_sleep_ms(100);
  }
}

/* How many nodes `nodes` (a CLUSTER NODES reply) flags as replicas of a known master. */
static int replicas_listed(const char *nodes) {
  int n = 0;
  for (const char *line = nodes; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
    char flags[128] = "", master[64] = "";
    if (sscanf(line, "%*s %*s %127s %63s", flags, master) == 2 && strstr(flags, "slave") && strcmp(master, "-") != 0) n++;
  }
  return n;
}

/* Waits until every node lists `want` replicas: cluster_state:ok comes before the roles that
 * --cluster create gave reach every node by gossip, and a client that reads the map meanwhile
 * takes a replica for a master without slots (seen under load: masters listing no replica). */
static int wait_roles(const xrt_cluster *c, int want, int timeout_ms, char *err) {
  char nodes[16384] = "";
  for (int waited = 0;; waited += 50) {
    int ok = 1, seen = 0;
    for (size_t i = 0; ok && i < c->n; i++) {
      xrt_endpoint e = xrt_cluster_endpoint(c, i);
      ok = xrt_cli(&e, nodes, sizeof nodes, err, "CLUSTER", "NODES", NULL) == 0 && (seen = replicas_listed(nodes)) == want;
    }
    if (ok) return 0;
    if (waited >= timeout_ms)
      return fail(err, "after %d ms a node lists %d replicas, not %d: %.300s", timeout_ms, seen, want, nodes);
    xrt_sleep_ms(50);
  }
}

/* The cluster's certificates: borrowed, or a fresh set in a directory of its own. */
static int set_up_certs(xrt_cluster *c, const char *certs_dir, char *err) {
  if (certs_dir) {
    if (strlen(certs_dir) >= sizeof c->certs_dir) return fail(err, "xrt_cluster_start: certs_dir is too long");
    memcpy(c->certs_dir, certs_dir, strlen(certs_dir) + 1);
    return 0;
  }
  if (xrt_make_temp_dir(c->dir, sizeof c->dir, "xrt-cluster", err) != 0) return -1;
  if (snprintf(c->certs_dir, sizeof c->certs_dir, "%s/certs", c->dir) >= (int)sizeof c->certs_dir ||
      mkdir(c->certs_dir, 0700) != 0)
    return fail(err, "xrt_cluster_start: cannot make %s", c->certs_dir);
  return xrt_certs_generate(c->certs_dir, err);
}

/* redis-cli --cluster create over every node; its output goes to the first node's directory. */
static int create(xrt_cluster *c, int replicas, char *err) {
  const char *argv[MAX_NODES + 16];
  char addrs[MAX_NODES][32], ca[PATH_SIZE + 16], count[16], log[PATH_SIZE + 32];
  size_t a = 0, w = 0;
  argv[a++] = "redis-cli";
  if (c->tls) {
    snprintf(ca, sizeof ca, "%s/ca.crt", c->certs_dir);
    argv[a++] = "--tls";
    argv[a++] = "--cacert";
    argv[a++] = ca;
  }
  argv[a++] = "--cluster";
  argv[a++] = "create";
  for (size_t i = 0; i < c->n; i++) {
    snprintf(addrs[i], sizeof addrs[i], "127.0.0.1:%d", xrt_server_port(c->nodes[i]));
    argv[a++] = addrs[i];
    w += (size_t)snprintf(c->seeds + w, sizeof c->seeds - w, "%s%s", i ? "," : "", addrs[i]);
  }
  snprintf(count, sizeof count, "%d", replicas);
  argv[a++] = "--cluster-replicas";
  argv[a++] = count;
  argv[a++] = "--cluster-yes";
  argv[a] = NULL;
  snprintf(log, sizeof log, "%s/cluster-create.log", xrt_server_dir(c->nodes[0]));
  int st = xrt_run(argv, NULL, 0, log, err);
  if (st != 0) return st < 0 ? -1 : fail(err, "redis-cli --cluster create: exit status %d (see %s)", st, log);
  return 0;
}

int xrt_cluster_start_with(xrt_cluster **out, const xrt_cluster_options *o, char *err) {
  static const xrt_cluster_options defaults = XRT_CLUSTER_OPTIONS_INIT;
  *out = NULL;
  if (!o) o = &defaults;
  int masters = o->masters, replicas = o->replicas;
  if (masters < 3 || replicas < 0 || masters * (replicas + 1) > MAX_NODES)
    return fail(err, "xrt_cluster_start: %d masters with %d replicas each is not a cluster the harness makes", masters,
                replicas);
  xrt_cluster *c = calloc(1, sizeof *c);
  size_t n = (size_t)(masters * (replicas + 1));
  if (!c || !(c->nodes = calloc(n, sizeof *c->nodes))) {
    free(c);
    return fail(err, "out of memory");
  }
  c->tls = o->tls;
  if (c->tls && set_up_certs(c, o->certs_dir, err) != 0) {
    xrt_cluster_free(c);
    return -1;
  }
  static const char *const node_args[] = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                          "--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0", NULL};
  /* The bus always asks for a client certificate (whatever tls-auth-clients says): each node
   * presents client.crt (server.crt is for serverAuth only). */
  char client_crt[PATH_SIZE + 16], client_key[PATH_SIZE + 16];
  snprintf(client_crt, sizeof client_crt, "%s/client.crt", c->certs_dir);
  snprintf(client_key, sizeof client_key, "%s/client.key", c->certs_dir);
  const char *const tls_node_args[] = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                       "--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0",
                                       "--tls-cluster", "yes", "--tls-replication", "yes",
                                       "--tls-client-cert-file", client_crt, "--tls-client-key-file", client_key,
                                       NULL};
  xrt_server_options so = XRT_SERVER_OPTIONS_INIT;
  so.extra_args = c->tls ? tls_node_args : node_args;
  so.tls = c->tls;
  so.certs_dir = c->tls ? c->certs_dir : NULL;
  for (size_t i = 0; i < n; i++, c->n++) {
    /* The cluster bus listens on port + 10000, so a node refuses a port above 55535 (and one whose
     * bus port is taken): the harness's free port is random, so try again, a bounded number of times. */
    int started = -1;
    for (int attempt = 0; attempt < 20 && started != 0; attempt++) started = xrt_server_start(&c->nodes[i], &so, err);
    if (started != 0) {
      xrt_cluster_free(c);
      return -1;
    }
  }
  if (create(c, replicas, err) != 0 || xrt_cluster_wait_ok(c, 30000, err) != 0 ||
      wait_roles(c, masters * replicas, 30000, err) != 0) {
    xrt_cluster_free(c);
    return -1;
  }
  *out = c;
  return 0;
}

int xrt_cluster_start(xrt_cluster **out, int masters, int replicas, char *err) {
  xrt_cluster_options o = XRT_CLUSTER_OPTIONS_INIT;
  o.masters = masters;
  o.replicas = replicas;
  return xrt_cluster_start_with(out, &o, err);
}
