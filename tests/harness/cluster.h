/* A Redis Cluster for the tests: `masters` masters with `replicas` replicas each, every node a
 * harness redis-server (its own directory, a free loopback port, dies with the thread that started
 * it), joined by `redis-cli --cluster create` and waited for until every node says
 * cluster_state:ok with all 16384 slots assigned. A short node timeout (2 s) keeps failovers quick;
 * replicas sync at once (repl-diskless-sync-delay 0).
 * With tls, every node speaks TLS only, to clients, on the cluster bus (tls-cluster) and between
 * master and replica (tls-replication), with the harness certificates: server.crt (127.0.0.1,
 * localhost) signed by ca.crt; clients need no certificate; on the bus, which always asks for
 * one, the nodes present client.crt.
 * Errors as in redis_server.h (0 or -1 with a message in err). One thread drives it. */
#ifndef XR_TEST_CLUSTER_H
#define XR_TEST_CLUSTER_H

#include <stddef.h>

#include "redis_cli.h"
#include "redis_server.h"

typedef struct xrt_cluster xrt_cluster;

typedef struct xrt_cluster_options {
  int masters;           /* >= 3 */
  int replicas;          /* per master, >= 0 */
  int tls;               /* TLS only (see above) */
  const char *certs_dir; /* with tls: a set from xrt_certs_generate, borrowed for the cluster's
                            life; NULL: a fresh set in the cluster's own directory */
} xrt_cluster_options;

#define XRT_CLUSTER_OPTIONS_INIT {3, 1, 0, NULL}

/* Starts it (masters >= 3, replicas >= 0) and waits up to 30 s for the state to be ok, then up to
 * 30 s more until every node lists every replica as one. */
int xrt_cluster_start(xrt_cluster **out, int masters, int replicas, char *err);

/* The same with options (`o` NULL: XRT_CLUSTER_OPTIONS_INIT). */
int xrt_cluster_start_with(xrt_cluster **out, const xrt_cluster_options *o, char *err);

/* Stops every node and removes their directories (and the cluster's own). NULL is ok. */
void xrt_cluster_free(xrt_cluster *c);

size_t xrt_cluster_size(const xrt_cluster *c);              /* nodes in all */
xrt_server *xrt_cluster_node(const xrt_cluster *c, size_t i); /* NULL past the last */

/* How redis-cli reaches node i (TLS with the cluster's certificates when it has them). */
xrt_endpoint xrt_cluster_endpoint(const xrt_cluster *c, size_t i);

/* Waits up to timeout_ms until every running node says cluster_state:ok; 0 when they do. */
int xrt_cluster_wait_ok(const xrt_cluster *c, int timeout_ms, char *err);

/* "127.0.0.1:p1,127.0.0.1:p2,...": every node, for seed lists. */
const char *xrt_cluster_seeds(const xrt_cluster *c);

int xrt_cluster_tls(const xrt_cluster *c);               /* 1 when its nodes speak TLS only */
const char *xrt_cluster_certs_dir(const xrt_cluster *c); /* ca.crt, client.crt...; NULL without TLS */

#endif
