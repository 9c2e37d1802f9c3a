/* A Redis Cluster for the tests: `masters` masters with `replicas` replicas each, every node a
 * harness redis-server (its own directory, a free loopback port, dies with the thread that started
 * it), joined by `redis-cli --cluster create` and waited for until every node says
 * cluster_state:ok with all 16384 slots assigned. A short node timeout (2 s) keeps failovers quick.
 * Errors as in redis_server.h (0 or -1 with a message in err). One thread drives it. */
#ifndef XR_TEST_CLUSTER_H
#define XR_TEST_CLUSTER_H

#include <stddef.h>

#include "redis_server.h"

typedef struct xrt_cluster xrt_cluster;

/* Starts it (masters >= 3, replicas >= 0) and waits up to 30 s for the state to be ok. */
int xrt_cluster_start(xrt_cluster **out, int masters, int replicas, char *err);

/* Stops every node and removes their directories. NULL is ok. */
void xrt_cluster_free(xrt_cluster *c);

size_t xrt_cluster_size(const xrt_cluster *c);              /* nodes in all */
xrt_server *xrt_cluster_node(const xrt_cluster *c, size_t i); /* NULL past the last */

/* Waits up to timeout_ms until every running node says cluster_state:ok; 0 when they do. */
int xrt_cluster_wait_ok(const xrt_cluster *c, int timeout_ms, char *err);

/* "127.0.0.1:p1,127.0.0.1:p2,...": every node, for seed lists. */
const char *xrt_cluster_seeds(const xrt_cluster *c);

#endif
