/* One topology per suite run. scripts/test starts the shared topologies once (xr-topology: a plain
 * and a TLS Cluster, a plain and a TLS Sentinel set) and exports where they are:
 *
 *   XR_TEST_CLUSTER_NODES         "127.0.0.1:p1,..."  every node of the plain cluster (3+3)
 *   XR_TEST_TLS_CLUSTER_NODES     the same for the TLS cluster
 *   XR_TEST_SENTINELS             "127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3"  the plain set's sentinels
 *   XR_TEST_SENTINEL_MASTER       its master name ("xrmaster")
 *   XR_TEST_TLS_SENTINELS         the TLS set's sentinels (TLS on every port)
 *   XR_TEST_TLS_SENTINEL_MASTER   its master name ("xrmaster-tls")
 *   XR_TEST_TLS_CERTS_DIR         the certificates of both TLS topologies (ca.crt, client.crt/.key)
 *   XR_TEST_TOPOLOGY_FILE         a JSON file describing all of it (ports, pids, dirs, roles at start)
 *
 * No passwords anywhere: the shared data nodes and sentinels have none (a test of credentials
 * starts a set of its own with xrt_sentinel_start's options).
 *
 * A test takes a topology with xrt_topology_get: the shared one when the environment names it,
 * else one this process starts for itself (a test binary run by hand), freed with
 * xrt_topology_free (which leaves a shared one alone). The shared topologies are for tests that
 * leave them as they found them: commands, keys of their own (a prefix per test), reads from
 * replicas, SUBSCRIBE. A test that breaks a topology (kills a node, fails over, reshards, changes a
 * config, demotes a master) takes one of its own with xrt_topology_start_private, or
 * xrt_cluster_start_with / xrt_sentinel_start directly, and says so in its comment: other tests
 * run at the same time on the shared ones (ctest -j, node --test).
 *
 * Errors as in redis_server.h. */
#ifndef XR_TEST_TOPOLOGY_H
#define XR_TEST_TOPOLOGY_H

#include <stddef.h>
#include <stdio.h>

#include "cluster.h"
#include "redis_server.h"
#include "sentinel.h"

#define XRT_ENV_CLUSTER_NODES "XR_TEST_CLUSTER_NODES"
#define XRT_ENV_TLS_CLUSTER_NODES "XR_TEST_TLS_CLUSTER_NODES"
#define XRT_ENV_SENTINELS "XR_TEST_SENTINELS"
#define XRT_ENV_SENTINEL_MASTER "XR_TEST_SENTINEL_MASTER"
#define XRT_ENV_TLS_SENTINELS "XR_TEST_TLS_SENTINELS"
#define XRT_ENV_TLS_SENTINEL_MASTER "XR_TEST_TLS_SENTINEL_MASTER"
#define XRT_ENV_TLS_CERTS_DIR "XR_TEST_TLS_CERTS_DIR"
#define XRT_ENV_TOPOLOGY_FILE "XR_TEST_TOPOLOGY_FILE"

#define XRT_TOPOLOGY_MASTER "xrmaster"         /* the plain Sentinel set's master name */
#define XRT_TOPOLOGY_TLS_MASTER "xrmaster-tls" /* the TLS one's */

typedef enum xrt_topology_kind {
  XRT_TOPOLOGY_CLUSTER,      /* 3 masters with a replica each */
  XRT_TOPOLOGY_TLS_CLUSTER,  /* the same, TLS only (clients, bus, replication) */
  XRT_TOPOLOGY_SENTINEL,     /* a master, two replicas, three sentinels: "xrmaster" */
  XRT_TOPOLOGY_TLS_SENTINEL, /* the same, TLS only: "xrmaster-tls" */
  XRT_TOPOLOGY_KINDS
} xrt_topology_kind;

typedef struct xrt_topology xrt_topology;

/* The shared topology of this kind when the environment names it (*out set, 0); *out NULL and 0
 * when it does not; -1 when its variables are there but wrong (a missing master name or certs
 * dir, a malformed address list). */
int xrt_topology_from_env(xrt_topology **out, xrt_topology_kind kind, char *err);

/* Starts a topology of this kind for this process alone (in the calling thread, whose end it does
 * not survive). With a TLS kind, `certs_dir` (from xrt_certs_generate, borrowed) or NULL for a
 * fresh set. */
int xrt_topology_start_private(xrt_topology **out, xrt_topology_kind kind, const char *certs_dir, char *err);

/* xrt_topology_from_env, else xrt_topology_start_private (with fresh certificates). */
int xrt_topology_get(xrt_topology **out, xrt_topology_kind kind, char *err);

/* Stops what this process started; a shared topology is left running. NULL is ok. */
void xrt_topology_free(xrt_topology *t);

xrt_topology_kind xrt_topology_kind_of(const xrt_topology *t);
int xrt_topology_shared(const xrt_topology *t);       /* 1: from the environment */
int xrt_topology_tls(const xrt_topology *t);
/* "127.0.0.1:p1,...": a cluster's nodes, or a Sentinel set's sentinels. */
const char *xrt_topology_seeds(const xrt_topology *t);
size_t xrt_topology_seed_count(const xrt_topology *t);
int xrt_topology_seed_port(const xrt_topology *t, size_t i); /* 0 past the last */
const char *xrt_topology_master_name(const xrt_topology *t); /* NULL for a cluster */
const char *xrt_topology_certs_dir(const xrt_topology *t);   /* NULL without TLS */
/* How redis-cli reaches seed i (a cluster node or a sentinel), TLS included. */
xrt_endpoint xrt_topology_endpoint(const xrt_topology *t, size_t i);
/* What a private topology is made of (NULL when shared, or of the other family). */
xrt_cluster *xrt_topology_cluster(const xrt_topology *t);
xrt_sentinel *xrt_topology_sentinel(const xrt_topology *t);

/* "cluster", "tls_cluster", "sentinel", "tls_sentinel": the JSON key and xr-topology's flag
 * (with "--" and '_' as '-'). */
const char *xrt_topology_kind_name(xrt_topology_kind kind);

/* Writes what xr-topology publishes about private topologies (NULL entries skipped), each file
 * under a temporary name first, then renamed (a reader never sees half of one):
 *   env_path   environment lines "NAME=value\n" (values without spaces or quotes: a shell sources
 *              them, other languages split at the first '='): XR_TEST_TOPOLOGY_FILE (json_path,
 *              absolute), XR_TEST_TLS_CERTS_DIR (certs_dir, when not NULL), and each topology's
 *   json_path  {"version": 1, "pid": <this process>, "certs_dir", "started_ms", and per topology,
 *              under its kind's name: "kind", "tls", "seeds", "certs_dir", "nodes" (each "port",
 *              "pid", "dir", "role" as INFO says while writing), and for a Sentinel set
 *              "master_name" and "sentinels" (each "port", "pid", "dir")} */
int xrt_topology_write_files(xrt_topology *const *t, size_t n, const char *certs_dir, long long started_ms,
                             const char *env_path, const char *json_path, char *err);

#endif
