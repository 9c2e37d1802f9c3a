/* What the client shares with the batch code: the pool and error mapping. */
#ifndef CROSSREDIS_CLIENT_INTERNAL_H
#define CROSSREDIS_CLIENT_INTERNAL_H

#include <stdint.h>

#include <hiredis/hiredis.h>

#include "crossredis/client.h"
#include "internal.h"

typedef struct xr_conn {
  redisContext *rc;
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

#endif
