/* Socket I/O of one connection: hiredis's reads and writes with SIGPIPE kept out (a write to a
 * server that went away must be an error, not the end of the process) and a non-blocking mode for
 * loop connections, one command's round trip, and what a failed read or write means. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "net/client_internal.h"
#include "codec/resp.h"

int xr_conn_timed_out(const redisContext *rc, int saved_errno) {
  if (rc->err == REDIS_ERR_TIMEOUT) return 1;
  if (rc->err != REDIS_ERR_IO) return 0;
  return saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT ||
         strstr(rc->errstr, "timed out") != NULL || strstr(rc->errstr, "temporarily unavailable") != NULL;
}

int xr_conn_error(const xr_client *c, const xr_conn *conn, int saved_errno, int *lost) {
  const redisContext *rc = conn->rc;
  const char *address = conn->node->address;
  *lost = 0;
  if (xr_conn_timed_out(rc, saved_errno))
    return xr_fail(XR_ETIMEOUT, "timeout after %d ms waiting for the reply from %s", c->command_timeout_ms, address);
  switch (rc->err) {
    case REDIS_ERR_OOM:
      if (xr_reply_guard_tripped(rc->reader))
        return xr_fail(XR_EPROTOCOL, "protocol error from %s: a reply nested deeper than %d levels", address,
                       XR_REPLY_MAX_DEPTH);
      return xr_fail_nomem();
    case REDIS_ERR_PROTOCOL:
      return xr_fail(XR_EPROTOCOL, "protocol error from %s: %s", address, rc->errstr);
    case REDIS_ERR_EOF:
      *lost = 1;
      return xr_fail(XR_EIO, "connection to %s lost: the server closed it", address);
    default:
      *lost = 1;
      return xr_fail(XR_EIO, "connection to %s lost: %s", address, rc->errstr[0] ? rc->errstr : "I/O error");
  }
}

/* TCP and unix sockets: hiredis's write, with MSG_NOSIGNAL (and MSG_DONTWAIT when an event loop
 * drives the connection: the socket itself stays blocking for the threads' calls). */
static ssize_t write_nosignal(redisContext *rc) {
  const xr_conn *conn = rc->privdata;
  int nonblock = conn->nonblock || !(rc->flags & REDIS_BLOCK);
  ssize_t n = send(rc->fd, rc->obuf, sdslen(rc->obuf), MSG_NOSIGNAL | (conn->nonblock ? MSG_DONTWAIT : 0));
  if (n >= 0) return n;
  if (errno == EINTR || ((errno == EAGAIN || errno == EWOULDBLOCK) && nonblock)) return 0;
  rc->err = REDIS_ERR_IO;
  snprintf(rc->errstr, sizeof rc->errstr, "%s", strerror(errno));
  return -1;
}

/* TLS goes through OpenSSL, which cannot pass MSG_NOSIGNAL: SIGPIPE is blocked on this thread
 * around the call, and one the call itself raised is taken back before unblocking. */
void xr_sigpipe_block(xr_sigpipe_guard *g) {
  sigset_t pipe_only, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &g->old);
  sigpending(&pending);
  g->was_pending = sigismember(&pending, SIGPIPE);
}

void xr_sigpipe_restore(const xr_sigpipe_guard *g, int failed) {
  if (failed && !g->was_pending) {
    int saved = errno;
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    struct timespec zero = {0, 0};
    sigtimedwait(&pipe_only, NULL, &zero);
    errno = saved;
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static ssize_t write_tls_nosigpipe(redisContext *rc) {
  xr_conn *conn = rc->privdata;
  xr_sigpipe_guard g;
  xr_sigpipe_block(&g);
  ssize_t n = conn->hiredis_write(rc);
  xr_sigpipe_restore(&g, n < 0);
  return n;
}

/* hiredis's read, or with MSG_DONTWAIT when an event loop drives the connection (0: nothing yet). */
static ssize_t read_plain(redisContext *rc, char *buf, size_t cap) {
  const xr_conn *conn = rc->privdata;
  if (!conn->nonblock) return conn->hiredis_read(rc, buf, cap);
  ssize_t n = recv(rc->fd, buf, cap, MSG_DONTWAIT);
  if (n > 0) return n;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
  rc->err = n == 0 ? REDIS_ERR_EOF : REDIS_ERR_IO;
  snprintf(rc->errstr, sizeof rc->errstr, "%s", n == 0 ? "Server closed the connection" : strerror(errno));
  return -1;
}

void xr_conn_install_io(xr_conn *conn, int tls) {
  redisContext *rc = conn->rc;
  conn->funcs = *rc->funcs;
  conn->hiredis_write = rc->funcs->write;
  conn->hiredis_read = rc->funcs->read;
  conn->funcs.write = tls ? write_tls_nosigpipe : write_nosignal;
  if (!tls) conn->funcs.read = read_plain;
  rc->funcs = &conn->funcs;
  rc->privdata = conn;
}

int xr_conn_set_nonblocking(xr_conn *conn) {
  int fd = conn->rc->fd;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return xr_fail(XR_EIO, "%s: cannot make the socket non-blocking: %s", conn->node->address, strerror(errno));
  conn->nonblock = 1;
  /* hiredis's TLS read and write answer "try again" (0) to OpenSSL's WANT_READ/WANT_WRITE only
   * when the context is not blocking; the plain ones look at conn->nonblock. */
  conn->rc->flags &= ~REDIS_BLOCK;
  return XR_OK;
}

redisReply *xr_conn_run(xr_client *c, xr_conn *conn, int argc, const char *const *argv, const size_t *lens,
                        int *code, int *outcome) {
  /* Encoded here (hiredis's own formatting runs sprintf per argument and allocates per command)
   * into the connection's buffer, which a large command does not keep growing. */
  xr_buf *w = &conn->wbuf;
  if (w->cap > 65536) xr_buf_free(w);
  w->len = 0;
  xr_resp_command(w, argc, argv, lens);
  if (w->oom || redisAppendFormattedCommand(conn->rc, w->data, w->len) != REDIS_OK) {
    w->oom = 0;
    *code = xr_fail_nomem();
    *outcome = XR_CONN_BROKEN;
    return NULL;
  }
  void *r = NULL;
  errno = 0;
  if (redisGetReply(conn->rc, &r) == REDIS_OK && r) return r;
  int lost;
  *code = xr_conn_error(c, conn, errno, &lost);
  *outcome = lost ? XR_CONN_LOST : XR_CONN_BROKEN;
  return NULL;
}

redisReply *xr_conn_run_wire(xr_client *c, xr_conn *conn, const char *wire, size_t len, int *code, int *outcome) {
  if (redisAppendFormattedCommand(conn->rc, wire, len) != REDIS_OK) {
    *code = xr_fail_nomem();
    *outcome = XR_CONN_BROKEN;
    return NULL;
  }
  void *r = NULL;
  errno = 0;
  if (redisGetReply(conn->rc, &r) == REDIS_OK && r) return r;
  int lost;
  *code = xr_conn_error(c, conn, errno, &lost);
  *outcome = lost ? XR_CONN_LOST : XR_CONN_BROKEN;
  return NULL;
}

int xr_conn_idle_read(xr_conn *conn) {
  redisContext *rc = conn->rc;
  char byte;
  errno = 0;
  ssize_t n = rc->funcs->read(rc, &byte, 1);
  if (n == 0) return XR_OK;
  const char *address = conn->node->address;
  if (n > 0) return xr_fail(XR_EPROTOCOL, "%s sent data nobody asked for", address);
  if (rc->err == REDIS_ERR_EOF) return xr_fail(XR_EIO, "connection lost: %s closed the connection", address);
  return xr_fail(XR_EIO, "connection lost to %s: %s", address, rc->errstr[0] ? rc->errstr : strerror(errno));
}
