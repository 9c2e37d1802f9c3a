/* A Sentinel set for the tests: three data nodes (a master and two replicas of it) and three
 * redis-sentinel processes monitoring the master under one name (default "xrmaster") with quorum 2,
 * a short down-after-milliseconds (1000) and failover-timeout (5000), so a failover takes seconds.
 * Every process is a harness server (redis_server.h): its own temporary directory, a free loopback
 * port, dies with the thread that started it. Every process runs from a config file in its own
 * directory: the sentinels rewrite theirs (they must), and the data nodes' are rewritten by the
 * sentinels when they reconfigure them, so a restarted node comes back with its latest role.
 *
 * Options: TLS on every port (the data nodes replicate over TLS, the sentinels reach the data nodes
 * and each other over TLS: tls-replication yes); a password or an ACL user on the data nodes (the
 * sentinels get it as auth-pass / auth-user, the replicas as masterauth / masteruser); a separate
 * password on the sentinels (requirepass, and sentinel-pass between them). Passwords go into the
 * config files (mode 600, in 700 directories) and into redis-cli's environment, never on a command
 * line, and never into an error message.
 *
 * Errors as in redis_server.h (0 or -1 with a message in err); waits are bounded. One thread
 * drives a set. */
#ifndef XR_TEST_SENTINEL_H
#define XR_TEST_SENTINEL_H

#include <stddef.h>

#include "redis_cli.h"
#include "redis_server.h"

#define XRT_SENTINEL_NODES 3     /* data nodes: a master and two replicas */
#define XRT_SENTINEL_SENTINELS 3 /* redis-sentinel processes */

typedef struct xrt_sentinel xrt_sentinel;

typedef struct xrt_sentinel_options {
  const char *master_name;       /* NULL: "xrmaster"; letters, digits, '.', '_', '-' */
  int tls;                       /* TLS only, everywhere (see above) */
  const char *certs_dir;         /* with tls: a set from xrt_certs_generate, borrowed for the set's
                                    life; NULL: a fresh set in the set's own directory */
  const char *requirepass;       /* the data nodes' default user's password... */
  const char *acl_user;          /* ...or an ACL user with every permission on the data nodes, the */
  const char *acl_password;      /* default user off (passwords: no spaces, quotes or backslashes) */
  const char *sentinel_password; /* the sentinels' own password (their default user) */
  int down_after_ms;             /* 0: 1000 */
  int failover_timeout_ms;       /* 0: 5000 */
} xrt_sentinel_options;

#define XRT_SENTINEL_OPTIONS_INIT {NULL, 0, NULL, NULL, NULL, NULL, NULL, 0, 0}

/* Starts the master, the replicas (waited for until in sync), the sentinels, and waits up to 30 s
 * for xrt_sentinel_wait_ready. `o` may be NULL (plain, no passwords). */
int xrt_sentinel_start(xrt_sentinel **out, const xrt_sentinel_options *o, char *err);

/* Stops every process and removes every directory. NULL is ok. */
void xrt_sentinel_free(xrt_sentinel *s);

/* Waits up to timeout_ms until the set is whole: every running sentinel names the same master, a
 * running data node that says role:master; every other running data node says it is a replica of
 * that master with its link up, and every running sentinel lists it with the flags "slave" alone
 * (not s_down, not disconnected); every running sentinel knows the others (num-other-sentinels)
 * and flags the master "master" alone. What a sentinel says of a replica's role and link can be up
 * to 10 s old (its INFO period for replicas), so those are asked of the replicas. */
int xrt_sentinel_wait_ready(const xrt_sentinel *s, int timeout_ms, char *err);

/* The index (0..XRT_SENTINEL_NODES-1) of the data node every running sentinel names as the master
 * (SENTINEL GET-MASTER-ADDR-BY-NAME), or -1 when they disagree or cannot be asked. */
int xrt_sentinel_master_index(const xrt_sentinel *s, char *err);

/* SENTINEL FAILOVER, then waits (up to 30 s) until the sentinels name another data node as master
 * and the set is whole again (xrt_sentinel_wait_ready). The old master, still running, is made a
 * replica of the new one by the harness as soon as the sentinels name the new one (the sentinels
 * would do the same about 8 s later: they give a replica that says it is a master 4 hello periods
 * to change its mind). Returns the new master's index in *new_master (may be NULL). */
int xrt_sentinel_failover(xrt_sentinel *s, int *new_master, char *err);

/* Waits up to timeout_ms until every running sentinel names a master other than data node
 * `old_master` and that node says role:master (after a kill of the master: the sentinels' own
 * failover, about 2 s with the defaults). The new master's index in *new_master. The set may not
 * be whole yet: now and then two sentinels promote two replicas, and the one whose failover lost
 * stays a master until the sentinels convert it (about 8 s later); xrt_sentinel_wait_ready waits
 * for that. */
int xrt_sentinel_wait_master_change(const xrt_sentinel *s, int old_master, int timeout_ms, int *new_master,
                                    char *err);

/* SIGKILL to data node i / sentinel i (see xrt_server_kill). */
void xrt_sentinel_kill_node(xrt_sentinel *s, size_t i);
void xrt_sentinel_kill_sentinel(xrt_sentinel *s, size_t i);

/* Starts data node i again on its port from its (possibly rewritten) config file; when the
 * sentinels name another node as master and node i says it is one, makes it a replica of that
 * master (what the sentinels do about 8 s later). Then waits up to 30 s for the set to be whole. */
int xrt_sentinel_restart_node(xrt_sentinel *s, size_t i, char *err);

/* Starts sentinel i again on its port from its rewritten config file (same id, same knowledge),
 * then waits up to 30 s for the set to be whole. */
int xrt_sentinel_restart_sentinel(xrt_sentinel *s, size_t i, char *err);

xrt_server *xrt_sentinel_node(const xrt_sentinel *s, size_t i);     /* data node; NULL past the last */
xrt_server *xrt_sentinel_sentinel(const xrt_sentinel *s, size_t i); /* sentinel; NULL past the last */
/* How redis-cli reaches data node i / sentinel i (TLS and passwords included, borrowed). */
xrt_endpoint xrt_sentinel_node_endpoint(const xrt_sentinel *s, size_t i);
xrt_endpoint xrt_sentinel_sentinel_endpoint(const xrt_sentinel *s, size_t i);

const char *xrt_sentinel_master_name(const xrt_sentinel *s);
/* "127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3": the sentinels, for seed lists. */
const char *xrt_sentinel_seeds(const xrt_sentinel *s);
/* "127.0.0.1:p1,...": the data nodes, in index order. */
const char *xrt_sentinel_node_seeds(const xrt_sentinel *s);
int xrt_sentinel_tls(const xrt_sentinel *s);
const char *xrt_sentinel_certs_dir(const xrt_sentinel *s); /* NULL without TLS */
const char *xrt_sentinel_dir(const xrt_sentinel *s);       /* the set's own directory (certs, cli.log) */

#endif
