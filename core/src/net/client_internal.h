/* What the client's sources share (net/): the handle, its pool and its connections. One section
 * per source file, in the order a call goes through them. */
#ifndef CROSSREDIS_CLIENT_INTERNAL_H
#define CROSSREDIS_CLIENT_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "crossredis/client.h"
#include "base/internal.h"
#include "topology/topology.h"

/* How deep a reply may nest: hiredis reads any depth, but frees a reply (and the bindings convert
 * one) by recursion, so a few megabytes of "*1\r\n" from a server would overflow the stack. Real
 * replies nest a handful of levels. */
#define XR_REPLY_MAX_DEPTH 1000

/* hiredis's reply functions for one reader, wrapped so that an aggregate deeper than
 * XR_REPLY_MAX_DEPTH is refused: the reader then fails ("Out of memory", as hiredis reports any
 * refused object) and xr_conn_error says what happened. Lives as long as the reader. */
typedef struct xr_reply_guard {
  redisReplyObjectFunctions fns;
  const redisReplyObjectFunctions *base;
  int too_deep;
} xr_reply_guard;

struct xr_conn {
  redisContext *rc;
  xr_node *node; /* the node it talks to (the caller holds a reference while it is in use) */
  xr_reply_guard guard;
  uint64_t gen;
  struct xr_conn *next;
  /* hiredis's I/O functions for this connection with the write replaced by one that never raises
   * SIGPIPE (a write to a server that went away must be an error, not the end of the process). */
  redisContextFuncs funcs;
  ssize_t (*hiredis_write)(redisContext *rc);
  ssize_t (*hiredis_read)(redisContext *rc, char *buf, size_t cap);
  int nonblock; /* a loop connection (xr_loop_conn): its I/O never waits */
  xr_buf wbuf; /* the command being encoded, reused from call to call */
};

/* How a connection introduces itself: the data nodes' credentials, TLS, db and name, or the
 * sentinels' own (a Sentinel has its own password and TLS, and no db). */
typedef struct xr_conn_auth {
  const char *username, *password, *client_name;
  int db;
  xr_tls *tls;
} xr_conn_auth;

struct xr_client {
  char *username, *password, *client_name;
  int db, connect_timeout_ms, command_timeout_ms, pool_size, max_redirects, replica_reads;
  xr_tls *tls;
  xr_conn_auth auth;   /* the data nodes' (points into the fields above) */
  char address[300];   /* what messages call the client: a node, or the cluster's or master's name */
  atomic_int shut;
  pthread_mutex_t sleep_mu;
  pthread_cond_t sleep_cv; /* broadcast by xr_client_shutdown to wake sleepers */
  xr_topo topo;
};

/* ---- net/client.c, net/script.c: a command or script followed by WAIT --------------------------- */

/* WAIT `replicas` `ms` after the command's reply when it is not an error, on its connection: how
 * many replicas acknowledged it lands in `acked`. */
typedef struct xr_wait {
  int replicas, ms;
  long long acked;
} xr_wait;

int xr_client_command_wait(xr_client *c, xr_reply **out, int argc, const char *const *argv, const size_t *argvlen,
                           const xr_wait *w);
int xr_client_eval_wait(xr_client *c, xr_reply **out, const xr_script *s, int numkeys, int argc,
                        const char *const *argv, const size_t *argvlen, const xr_wait *w);

/* ---- net/reply.c ---------------------------------------------------------------------------- */

/* Installs g on r (r's privdata becomes g: the core uses it for nothing else). */
void xr_reply_guard_install(xr_reply_guard *g, redisReader *r);
/* 1 when r failed because a reply nested too deep. */
int xr_reply_guard_tripped(const redisReader *r);

/* The code for an error reply's text, and recording it as the last error. */
int xr_reply_error_code(const char *text, size_t len);
int xr_reply_error(const redisReply *r);
/* 1 for the server's NOSCRIPT error reply (EVALSHA of a script it does not know). */
int xr_is_noscript(const redisReply *r);
/* Hands r to the caller (*out, or freed when out is NULL), or turns an error reply into its code
 * (recorded) and frees it. */
int xr_reply_deliver(redisReply *r, xr_reply **out);

/* ---- net/handshake.c: opening one connection ------------------------------------------------- */

/* A connection to `node` outside its pool: connected, TLS handshake done, authenticated, db
 * selected, named, READONLY sent to a replica, and with `probe` a PING answered (xr_client_open's
 * check), all within the connect timeout. `auth` NULL: the data nodes' (c->auth). */
int xr_conn_open(xr_client *c, xr_node *node, const xr_conn_auth *auth, xr_conn **out, int probe);
void xr_conn_close(xr_conn *conn);

/* ---- net/socket.c: a connection's I/O -------------------------------------------------------- */

/* What happened to a connection during a call. */
enum { XR_CONN_OK = 0, XR_CONN_BROKEN = 1 /* close it */, XR_CONN_LOST = 2 /* close it and the older idle ones */ };

/* Replaces hiredis's write (and the plain read) of conn's context with ones that never raise
 * SIGPIPE and, on a loop connection, never wait; conn becomes the context's privdata. */
void xr_conn_install_io(xr_conn *conn, int tls);

/* SIGPIPE blocked on this thread around an OpenSSL call (which cannot pass MSG_NOSIGNAL); one the
 * call raised is taken back when it `failed`. */
typedef struct xr_sigpipe_guard {
  sigset_t old;
  int was_pending;
} xr_sigpipe_guard;
void xr_sigpipe_block(xr_sigpipe_guard *g);
void xr_sigpipe_restore(const xr_sigpipe_guard *g, int failed);

/* An idle non-blocking connection that poll says is readable: a RESP2 server sends nothing
 * unasked, so that is a close, garbage, or (TLS) a record for the TLS layer itself, such as a
 * session ticket, which the read takes and answers with nothing: XR_OK then. Any byte of RESP is
 * XR_EPROTOCOL, a close XR_EIO; either way the connection is done for. */
int xr_conn_idle_read(xr_conn *conn);
/* Makes conn's socket non-blocking for good (loop connections, the Sentinel watch). */
int xr_conn_set_nonblocking(xr_conn *conn);
/* 1 when rc's failure (with the errno saved right after it) was a timeout. */
int xr_conn_timed_out(const redisContext *rc, int saved_errno);
/* Records the failure of rc (timeout, lost, protocol) and returns its code; *lost is set when the
 * connection itself is gone. */
int xr_conn_error(const xr_client *c, const xr_conn *conn, int saved_errno, int *lost);

/* Runs one command on conn (blocking). On failure the error is recorded in *code and *outcome says
 * what to do with the connection. An error reply is a reply, not a failure here. */
redisReply *xr_conn_run(xr_client *c, xr_conn *conn, int argc, const char *const *argv, const size_t *lens,
                        int *code, int *outcome);

/* The same for one command already encoded as RESP (a batch's operation sent alone). */
redisReply *xr_conn_run_wire(xr_client *c, xr_conn *conn, const char *wire, size_t len, int *code, int *outcome);

/* ---- net/pool.c ------------------------------------------------------------------------------ */

/* Each node has a pool (topology.h). */
void xr_pool_init(xr_pool *p, int size);
/* A connection opened outside xr_pool_get joins its node's pool as idle. */
void xr_pool_adopt(xr_conn *conn);
/* Closes the idle connections (those in use must have been given back) and frees the pool. */
void xr_pool_destroy(xr_pool *p);
/* Takes a connection to `node`: an idle one, a new one while the pool has room, else waits up to
 * the command timeout. Give it back with xr_pool_put and what happened to it (XR_CONN_*); one
 * given back to a node that left the map is closed. */
int xr_pool_get(xr_client *c, xr_node *node, xr_conn **out);
void xr_pool_put(xr_client *c, xr_conn *conn, int outcome);
/* The idle connections are replaced when next taken (as after a lost connection). */
void xr_pool_stale(xr_pool *p);
/* Wakes the calls waiting for a connection of this pool (shutdown). */
void xr_pool_wake(xr_pool *p);

/* Sleeps up to ms, waking early when the client is shut down (xr_client_shutdown): XR_ECLOSED
 * then, else XR_OK. */
int xr_client_sleep(xr_client *c, int64_t ms);
void xr_client_sleep_init(xr_client *c);
void xr_client_sleep_destroy(xr_client *c);
/* XR_ECLOSED once xr_client_shutdown was called, naming `fn`; else XR_OK. */
int xr_client_check_open(const xr_client *c, const char *fn);

/* ---- net/command_guard.c --------------------------------------------------------------------- */

/* Commands a pooled connection must not run because they change what the connection means for
 * the next call (SELECT, SUBSCRIBE, MONITOR, CLIENT REPLY, AUTH, ...). XR_EINVAL saying where to do
 * it instead, or XR_OK. `txn` (batches only) tracks MULTI/EXEC/DISCARD and WATCH/UNWATCH, which a
 * batch may hold as long as it closes them (see xr_txn_check_closed); NULL refuses them. */
typedef struct xr_txn {
  int in_multi, watching;
} xr_txn;
int xr_check_pooled_command(const char *fn, const char *name, size_t len, const char *sub, size_t sublen,
                            xr_txn *txn);
int xr_txn_check_closed(const xr_txn *txn, const char *fn);

#endif
