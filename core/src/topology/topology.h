/* The topology seam: which node serves a call. Standalone (one node, fixed), Sentinel (the master
 * the sentinels name, replaced on a failover) and Cluster (a node per slot, from CLUSTER SHARDS)
 * answer the same few questions, the way tls_hook.h hides TLS from the rest of the core:
 *   route     the node for a slot (-1: any node) - a reference the caller releases;
 *   classify  what an error reply means for routing (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, READONLY,
 *             LOADING), in one place (redirect.c);
 *   refresh   ask the topology again (rate-limited: one refresh at a time, a minimum interval);
 *   nodes     the masters, for what must visit each (SCAN, the tools).
 * route.c runs one command or script through it, following redirections; batch.c splits a batch
 * per node. Nothing here runs a thread: refreshes run in the calling thread, and the Sentinel
 * watch (+switch-master) is read when a call passes by.
 *
 * Nodes are reference-counted: the map holds one reference, each call in flight another, so a
 * refresh that drops a node never frees it under a running call; the node's idle connections are
 * closed with its last reference, and connections given back to a node that left the map are
 * closed rather than kept. */
#ifndef CROSSREDIS_TOPOLOGY_H
#define CROSSREDIS_TOPOLOGY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "crossredis/client.h"

#define XR_SLOTS 16384
#define XR_NO_NODE 0xFFFFu

typedef struct xr_conn xr_conn;
typedef struct xr_client xr_client;

/* A node's connections: idle ones, and how many are open in all. */
typedef struct xr_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* signalled when a connection is given back or a place frees up */
  xr_conn *idle;
  int size;          /* connections at most */
  int total;         /* connections open: idle and in use */
  uint64_t gen;      /* bumped when a connection is lost */
} xr_pool;

typedef struct xr_node {
  atomic_int refs;
  atomic_int retired;  /* left the map: connections given back are closed */
  char *host;          /* NULL with unix_path */
  char *unix_path;
  int port;
  int replica;         /* a replica: each connection sends READONLY (reads only) */
  char address[300];   /* host:port, [v6]:port or the socket path, for messages */
  xr_pool pool;
  /* Cluster: the replicas of this master (references held by the map), for replica reads. */
  struct xr_node **replicas;
  size_t nreplicas;
} xr_node;

/* Makes a node (one reference, the caller's) with an empty pool of `pool_size`. */
int xr_node_new(xr_node **out, const char *host, size_t host_len, int port, const char *unix_path, int replica,
                int pool_size);
void xr_node_retain(xr_node *n);
/* Drops a reference; the last closes the node's idle connections and frees it. NULL is ok. */
void xr_node_release(xr_node *n);
/* 1 when n is host:port (host compared as text). */
int xr_node_is(const xr_node *n, const char *host, size_t host_len, int port);

/* ---- what an error reply means for routing (redirect.c) ---------------------------------------- */

typedef enum xr_redirect_kind {
  XR_REDIRECT_NONE = 0, /* an answer: give it to the caller */
  XR_REDIRECT_MOVED,    /* the slot lives elsewhere for good: update the map, send it there */
  XR_REDIRECT_ASK,      /* the slot is moving: send it there once, after ASKING; the map stays */
  XR_REDIRECT_TRYAGAIN, /* a multi-key command during a migration: wait, send it again */
  XR_REDIRECT_CLUSTERDOWN, /* the cluster cannot serve the slot now: wait, refresh, again */
  XR_REDIRECT_READONLY, /* a replica answered a write (a demoted master): refresh, again */
  XR_REDIRECT_LOADING   /* the node is loading its data: wait, again */
} xr_redirect_kind;

typedef struct xr_redirect {
  xr_redirect_kind kind;
  int slot;             /* MOVED, ASK */
  const char *host;     /* MOVED, ASK: borrowed from the reply; host_len 0: the host asked */
  size_t host_len;
  int port;
} xr_redirect;

/* Classifies an error reply's text. Each kind above means the server did not run the command, so
 * sending it again is safe; every other error is the caller's. A MOVED or ASK whose address
 * cannot be read is NONE (the caller gets the server's text). */
xr_redirect_kind xr_redirect_classify(const char *text, size_t len, xr_redirect *out);

/* "MOVED", "TRYAGAIN", ... for messages. */
const char *xr_redirect_name(xr_redirect_kind k);
/* How long a call keeps retrying what needs a wait (TRYAGAIN, CLUSTERDOWN, LOADING, READONLY, a
 * refused connection): the command timeout, at least a second. */
int64_t xr_retry_budget_ms(const xr_client *c);
/* The wait before try number waits+1: 10 ms doubling to 200 ms, with jitter. */
int64_t xr_backoff_ms(int waits);

/* ---- the topology ------------------------------------------------------------------------------ */

typedef struct xr_addr {
  char *host;
  int port;
} xr_addr;

typedef struct xr_sentinel_state xr_sentinel_state;

typedef struct xr_topo {
  xr_topology_kind kind;
  pthread_mutex_t mu;
  pthread_cond_t refreshed; /* broadcast when a refresh ends */
  /* Standalone and Sentinel: the node every call goes to (replaced on a failover). */
  xr_node *master;
  /* Cluster: every node of the map, masters first, and the master of each slot. */
  xr_node **nodes;
  size_t nnodes, cap;
  uint16_t *slots;
  /* Where to start when the map is lost: the seed nodes (Cluster) or the sentinels. */
  xr_addr *seeds;
  size_t nseeds;
  int refreshing;
  int64_t last_refresh_ms;
  uint64_t epoch;           /* bumped by each change of the map */
  int64_t replicas_checked_ms; /* a read found a master without replicas then (under mu) */
  xr_sentinel_state *sentinel;
} xr_topo;

/* Readies the topology's lock (right after the client is allocated: close may follow at once). */
void xr_topology_init(xr_client *c);
/* Sets the topology up as the options say and finds the nodes: the one node (standalone), the
 * master (asking the sentinels), the slot map (asking the seeds). */
int xr_topology_open(xr_client *c, const xr_client_options *o);
void xr_topology_close(xr_client *c);

/* The node serving `slot` (-1: any master), a reference to release. `replica_ok` lets a read go
 * to a replica (with replica_reads on). XR_ECLUSTERDOWN when no node serves the slot. */
int xr_topology_route(xr_client *c, int slot, int replica_ok, xr_node **out);

/* The node at host:port, joining the map's node list when new (an ASK to a node the map has not
 * seen yet); a reference to release. host_len 0: the host of `asked`. */
int xr_topology_node_at(xr_client *c, const xr_node *asked, const char *host, size_t host_len, int port,
                        xr_node **out);

/* A MOVED: the slot's master is now that node (the map changes at once for this slot), and a full
 * refresh is due (rate-limited). */
void xr_topology_moved(xr_client *c, const xr_node *asked, const xr_redirect *r);

/* Asks the topology again: the seeds and nodes for the slot map, the sentinels for the master.
 * `force` 0: only when the last refresh is old enough (a minimum interval, with jitter), and never
 * while another thread refreshes; `force` 1: waits for a refresh in progress, else refreshes
 * unless one ended within the minimum interval. XR_OK or the failure of the refresh. */
int xr_topology_refresh(xr_client *c, int force);
/* The Sentinel's periodic re-check (xr_sentinel_recheck) under the rules of a refresh with force
 * 0: never while another refresh runs, nor within the minimum interval of the last one. Other
 * topologies: xr_topology_refresh(c, 0). */
int xr_topology_recheck(xr_client *c);

/* The masters (a snapshot: references the caller releases with xr_topology_nodes_free). */
int xr_topology_masters(xr_client *c, xr_node ***out, size_t *n);
void xr_topology_nodes_free(xr_node **nodes, size_t n);

/* Wakes every call waiting in a pool of this client (xr_client_shutdown). */
void xr_topology_wake_all(xr_client *c);

/* Called before each routed call: Sentinel reads its +switch-master subscription and re-checks
 * the master when due. Cheap when nothing is due (a clock read). */
void xr_topology_tick(xr_client *c);

/* ---- the cluster map (cluster_map.c) and the sentinels (sentinel.c) ---------------------------- */

/* One refresh of the slot map from CLUSTER SHARDS (CLUSTER SLOTS on servers before 7) asked of
 * the known masters, then the seeds; builds the new node list and slot table under the lock. */
int xr_cluster_refresh(xr_client *c);

/* Reads a CLUSTER SHARDS (shards 1) or CLUSTER SLOTS reply into a layout and drops it: how many
 * nodes and assigned slots it names, or the reason it is refused (XR_EPROTOCOL). For the fuzzer and
 * the unit tests; asked_host stands for the node asked (an empty endpoint). */
struct redisReply;
int xr_cluster_parse_map(const struct redisReply *r, int shards, const char *asked_host, int tls, size_t *nodes,
                         size_t *assigned);

/* Asks the sentinels in turn for the master, checks its ROLE, and makes it the node calls go to. */
int xr_sentinel_discover(xr_client *c);
/* The periodic re-check (run by xr_topology_recheck): when it is still due, asks the sentinel
 * that answered last, on the connection kept to it, for the master; the full discovery only when
 * that sentinel names another master or none, its connection fails, or a +switch-master was
 * seen. */
int xr_sentinel_recheck(xr_client *c);
int xr_sentinel_state_new(xr_client *c, const xr_client_options *o);
void xr_sentinel_state_free(xr_sentinel_state *s);
void xr_sentinel_tick(xr_client *c);

#endif
