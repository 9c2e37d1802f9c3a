/* What the client shares with the batch code: the pool and error mapping. */
#ifndef CROSSREDIS_CLIENT_INTERNAL_H
#define CROSSREDIS_CLIENT_INTERNAL_H

#include <stdint.h>

#include <hiredis/hiredis.h>

#include "crossredis/client.h"
#include "base/internal.h"

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

/* Installs g on r (r's privdata becomes g: the core uses it for nothing else). */
void xr_reply_guard_install(xr_reply_guard *g, redisReader *r);
/* 1 when r failed because a reply nested too deep. */
int xr_reply_guard_tripped(const redisReader *r);

typedef struct xr_conn {
  redisContext *rc;
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
} xr_conn;

/* What happened to a connection during a call. */
enum { XR_CONN_OK = 0, XR_CONN_BROKEN = 1 /* close it */, XR_CONN_LOST = 2 /* close it and the older idle ones */ };

int xr_pool_get(xr_client *c, xr_conn **out);
/* A connection outside the pool (connected, authenticated, db selected), and closing one. */
int xr_conn_open(xr_client *c, xr_conn **out);
void xr_conn_close(xr_conn *conn);
int xr_client_uses_tls(const xr_client *c);
void xr_pool_put(xr_client *c, xr_conn *conn, int outcome);

/* Records the failure of rc (timeout, lost, protocol) and returns its code; *lost is set when the
 * connection itself is gone. */
int xr_conn_error(const xr_client *c, const redisContext *rc, int saved_errno, int *lost);

/* The code for an error reply's text, and recording it as the last error. */
int xr_reply_error_code(const char *text, size_t len);
int xr_reply_error(const redisReply *r);
int xr_is_noscript(const redisReply *r);

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

/* Sleeps up to ms, waking early when the client is shut down (xr_client_shutdown): XR_ECLOSED
 * then, else XR_OK. */
int xr_client_sleep(xr_client *c, int64_t ms);
/* XR_ECLOSED once xr_client_shutdown was called, naming `fn`; else XR_OK. */
int xr_client_check_open(const xr_client *c, const char *fn);

#endif
