/* Loop connections (loop.h): a connection of its own, outside the pool, with a non-blocking
 * socket, on which the caller's event loop drives one batch at a time, as a pollable or through
 * xr_loop_conn_start / continue / cancel. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "base/internal.h"
#include "base/pollable.h"
#include "crossredis/loop.h"
#include "net/batch_internal.h"
#include "net/client_internal.h"
#include "topology/loop_split.h"

struct xr_loop_conn {
  xr_pollable pollable;
  xr_client *c;
  xr_loop_split *split; /* a Sentinel or Cluster client's: every call goes to it */
  xr_conn *conn;
  xr_batch *running;
  size_t next;        /* the running batch's first operation still waiting for its reply */
  int wait_pending;   /* the WAIT behind the pipeline has not answered yet */
  int64_t moved_ms;   /* when the running batch started or last moved bytes (xr_monotonic_ms) */
  int broken;
};

static const xr_pollable_vtable loop_conn_pollable;

int xr_loop_conn_open(xr_loop_conn **out, xr_client *c) { return xr_loop_conn_open_at(out, c, -1); }

int xr_loop_conn_open_at(xr_loop_conn **out, xr_client *c, int slot) {
  if (out) *out = NULL;
  if (!out || !c) return xr_fail(XR_EINVAL, "xr_loop_conn_open: out and client are required");
  if (slot < -1 || slot >= XR_SLOTS) return xr_fail(XR_EINVAL, "xr_loop_conn_open_at: slot %d is not -1 or 0..16383", slot);
  xr_loop_conn *lc = xr_calloc(1, sizeof *lc);
  if (!lc) return xr_fail_nomem();
  int code = xr_client_check_open(c, "xr_loop_conn_open");
  if (!code && c->topo.kind != XR_TOPOLOGY_STANDALONE) {
    if ((code = xr_loop_split_open(&lc->split, c, slot))) {
      xr_free(lc);
      return code;
    }
    lc->pollable.vt = &loop_conn_pollable;
    lc->c = c;
    *out = lc;
    return XR_OK;
  }
  xr_node *node = NULL;
  if (!code) code = xr_topology_route(c, -1, 0, &node);
  if (!code) code = xr_conn_open(c, node, NULL, &lc->conn, 0);
  if (!code && (code = xr_conn_set_nonblocking(lc->conn))) xr_conn_close(lc->conn);
  if (code) {
    xr_node_release(node);
    xr_free(lc);
    return code;
  }
  lc->pollable.vt = &loop_conn_pollable;
  lc->c = c;
  *out = lc;
  return XR_OK;
}

int xr_loop_conn_fd(const xr_loop_conn *lc) {
  if (lc && lc->split) return xr_loop_split_fd(lc->split);
  return lc && lc->conn ? lc->conn->rc->fd : -1;
}

int xr_loop_conn_broken(const xr_loop_conn *lc) {
  if (lc && lc->split) return xr_loop_split_broken(lc->split);
  return !lc || lc->broken;
}

int xr_loop_conn_busy(const xr_loop_conn *lc) {
  if (lc && lc->split) return xr_loop_split_busy(lc->split);
  return lc && lc->running;
}

xr_pollable *xr_loop_conn_pollable(xr_loop_conn *lc) { return lc ? &lc->pollable : NULL; }

static int output_pending(const xr_loop_conn *lc) { return sdslen(lc->conn->rc->obuf) > 0; }

/* What the running batch waits for, one kind at a time (xr_loop_conn_start/continue's *wait). */
static int next_wait(const xr_loop_conn *lc) {
  if (!lc->running) return 0;
  return output_pending(lc) ? XR_WAIT_WRITE : XR_WAIT_READ;
}

/* Ends the running batch; a connection that failed is broken for good. */
static void run_end(xr_loop_conn *lc, int ok) {
  lc->running = NULL;
  if (!ok) lc->broken = 1;
}

static int run_failed(xr_loop_conn *lc, int saved_errno) {
  int lost;
  int code = xr_conn_error(lc->c, lc->conn, saved_errno, &lost);
  xr_batch_fail_from(lc->running, lc->next, code);
  run_end(lc, 0);
  return code;
}

/* The I/O `ready` allows: with XR_WAIT_WRITE, writes what the socket takes of the pipeline; with
 * XR_WAIT_READ, reads and takes the replies that have arrived, until the socket has nothing more
 * (TLS: OpenSSL may hold decrypted bytes that poll cannot see, so one read is not enough). */
static int run_step(xr_loop_conn *lc, int ready) {
  xr_batch *b = lc->running;
  redisContext *rc = lc->conn->rc;
  if ((ready & XR_WAIT_WRITE) && output_pending(lc)) {
    size_t before = sdslen(rc->obuf);
    int done = 0;
    errno = 0;
    if (redisBufferWrite(rc, &done) != REDIS_OK) return run_failed(lc, errno);
    if (sdslen(rc->obuf) != before) lc->moved_ms = xr_monotonic_ms();
  }
  if (!(ready & XR_WAIT_READ)) return XR_OK;
  size_t n = xr_batch_count(b);
  for (;;) {
    while (lc->next < n || (lc->next == n && lc->wait_pending)) {
      void *r = NULL;
      if (redisGetReplyFromReader(rc, &r) != REDIS_OK) return run_failed(lc, 0);
      if (!r) break;
      if (lc->next < n) {
        xr_batch_set_result(b, lc->next++, r);
      } else { /* the WAIT behind the pipeline */
        xr_batch_wait_reply(b, r);
        freeReplyObject(r);
        lc->wait_pending = 0;
      }
    }
    if (lc->next == n && !lc->wait_pending) {
      run_end(lc, 1);
      return XR_OK;
    }
    size_t before = rc->reader->len - rc->reader->pos;
    errno = 0;
    if (redisBufferRead(rc) != REDIS_OK) return run_failed(lc, errno);
    if (rc->reader->len - rc->reader->pos == before) return XR_OK; /* nothing more has arrived */
    lc->moved_ms = xr_monotonic_ms();
  }
}

/* Idle and readable (xr_conn_idle_read says what that means): anything but a TLS record breaks it. */
static int idle_read(xr_loop_conn *lc) {
  int code = xr_conn_idle_read(lc->conn);
  if (code) lc->broken = 1;
  return code;
}

static int failed_earlier(const xr_loop_conn *lc) {
  return xr_fail(XR_ECLOSED, "the connection to %s failed earlier", lc->conn->node->address);
}

int xr_loop_conn_start(xr_loop_conn *lc, xr_batch *b, int *wait) {
  if (!lc || !b || !wait) return xr_fail(XR_EINVAL, "xr_loop_conn_start: an argument is NULL");
  *wait = 0;
  if (xr_loop_conn_busy(lc)) return xr_fail(XR_EINVAL, "xr_loop_conn_start: another batch is running on the connection");
  int code = xr_batch_check_closed(b, "xr_loop_conn_start");
  if (code) return code;
  if (lc->split) {
    if (xr_loop_split_broken(lc->split))
      return xr_fail(XR_ECLOSED, "xr_loop_conn_start: a connection to %s failed earlier: open another", lc->c->address);
    xr_batch_begin(b);
    if (xr_batch_count(b) == 0) return XR_OK;
    code = xr_loop_split_start(lc->split, b);
    if (code == XR_POLL_RUNNING) *wait = XR_WAIT_READ;
    return code < 0 ? code : XR_OK;
  }
  if (lc->broken)
    return xr_fail(XR_ECLOSED, "xr_loop_conn_start: the connection to %s failed earlier: open another",
                   lc->conn->node->address);
  xr_batch_begin(b);
  lc->next = 0;
  if (xr_batch_count(b) == 0) return XR_OK;
  lc->running = b;
  lc->moved_ms = xr_monotonic_ms();
  size_t len;
  const char *wire = xr_batch_wire(b, &len);
  xr_buf replicas = XR_BUF_INIT; /* the WAIT behind the pipeline, when the batch asks for one */
  if (xr_batch_wait_wanted(b)) xr_batch_wait_encode(b, &replicas);
  lc->wait_pending = replicas.len > 0;
  int appended = !replicas.oom && redisAppendFormattedCommand(lc->conn->rc, wire, len) == REDIS_OK &&
                 (!replicas.len || redisAppendFormattedCommand(lc->conn->rc, replicas.data, replicas.len) == REDIS_OK);
  xr_buf_free(&replicas);
  if (!appended) {
    code = xr_fail_nomem();
    xr_batch_fail_from(b, 0, code);
    run_end(lc, 0);
    return code;
  }
  code = run_step(lc, XR_WAIT_WRITE); /* the replies cannot be there before the commands went out */
  *wait = next_wait(lc);
  return code;
}

int xr_loop_conn_continue(xr_loop_conn *lc, int *wait) {
  if (!lc || !wait) return xr_fail(XR_EINVAL, "xr_loop_conn_continue: an argument is NULL");
  *wait = 0;
  if (lc->split) {
    int code = xr_loop_split_step(lc->split, XR_WAIT_READ, xr_monotonic_ms());
    if (code == XR_POLL_RUNNING) *wait = XR_WAIT_READ;
    return code < 0 ? code : XR_OK;
  }
  if (lc->running) {
    int code = run_step(lc, next_wait(lc)); /* the caller waited for what *wait asked */
    *wait = next_wait(lc);
    return code;
  }
  if (lc->broken) return failed_earlier(lc);
  return idle_read(lc);
}

void xr_loop_conn_cancel(xr_loop_conn *lc, int code) {
  if (lc && lc->split) {
    xr_loop_split_cancel(lc->split, code);
    return;
  }
  if (!lc || !lc->running) return;
  if (code == XR_ETIMEOUT) {
    xr_fail(code, "timeout after %d ms waiting for a reply from %s", xr_client_command_timeout_ms(lc->c),
            lc->conn->node->address);
  } else {
    xr_fail(code, "%s (%s)", xr_strerror(code), lc->conn->node->address);
  }
  xr_batch_fail_from(lc->running, lc->next, code);
  run_end(lc, 0); /* a late reply must not reach the next batch */
}

void xr_loop_conn_close(xr_loop_conn *lc) {
  if (!lc) return;
  if (lc->split) {
    xr_loop_split_close(lc->split);
    xr_free(lc);
    return;
  }
  xr_loop_conn_cancel(lc, XR_ECLOSED);
  xr_node *node = lc->conn->node;
  xr_conn_close(lc->conn);
  xr_node_release(node);
  xr_free(lc);
}

/* ---- the pollable ------------------------------------------------------------------------------ */

#define OWNER(p) XR_POLLABLE_OWNER(p, xr_loop_conn, pollable)

static int pollable_fd(const xr_pollable *p) {
  const xr_loop_conn *lc = OWNER(p);
  if (lc->split) return xr_loop_split_fd(lc->split);
  return lc->broken ? -1 : xr_loop_conn_fd(lc);
}

/* Reads are watched while idle too, so a server that closes the connection is noticed; writes
 * while the pipeline has bytes left, and reads then as well, so replies that come back while a
 * long pipeline is still going out are taken instead of waking the loop again and again. */
static int pollable_events(const xr_pollable *p) {
  const xr_loop_conn *lc = OWNER(p);
  if (lc->split) return xr_loop_split_broken(lc->split) ? 0 : XR_WAIT_READ; /* epoll: readable stands for all */
  if (lc->broken) return 0;
  return XR_WAIT_READ | (lc->running && output_pending(lc) ? XR_WAIT_WRITE : 0);
}

/* The command timeout counts from the batch's start or its last bytes moved, as each read of a
 * blocking call waits at most the command timeout: a large pipeline that keeps moving is not cut
 * off, a server that stops answering is. */
static int64_t pollable_deadline(const xr_pollable *p) {
  const xr_loop_conn *lc = OWNER(p);
  if (lc->split) return xr_loop_split_deadline(lc->split);
  int timeout_ms = xr_client_command_timeout_ms(lc->c);
  return lc->running && timeout_ms > 0 ? lc->moved_ms + timeout_ms : -1;
}

static int pollable_process(xr_pollable *p, int ready, int64_t now_ms) {
  xr_loop_conn *lc = OWNER(p);
  if (lc->split) return xr_loop_split_step(lc->split, ready, now_ms);
  if (lc->broken) return failed_earlier(lc);
  if (!lc->running) {
    int code = ready & XR_WAIT_READ ? idle_read(lc) : XR_OK;
    return code ? code : XR_POLL_IDLE;
  }
  if (!ready) {
    int64_t deadline = pollable_deadline(p);
    if (deadline < 0 || now_ms < deadline) return XR_POLL_RUNNING; /* an early timer */
    xr_loop_conn_cancel(lc, XR_ETIMEOUT);
    return XR_ETIMEOUT;
  }
  int code = run_step(lc, ready);
  if (code) return code;
  return lc->running ? XR_POLL_RUNNING : XR_POLL_DONE;
}

static const xr_pollable_vtable loop_conn_pollable = {pollable_fd, pollable_events, pollable_deadline,
                                                      pollable_process};
