/* The loop connection of a Sentinel or Cluster client (loop.h): the rounds of split.h driven
 * without waiting. It keeps one non-blocking connection per node it has talked to, all registered
 * in one epoll instance whose descriptor is the pollable's: the host loop watches one fd that
 * stands for every node, so the Node and Python adapters need nothing new. A round writes each
 * node's pipeline as its socket takes it and reads replies as they come; between rounds it waits
 * for the backoff deadline (a wait, not a sleep: the deadline of the pollable).
 *
 * Connecting to a node the loop connection has not used yet blocks (as opening a loop connection
 * does), and so does a topology refresh after a redirection: both are rare, and bounded by the
 * connect timeout. A connection that fails makes the whole loop connection broken once the batch
 * has its outcome, as for a standalone loop connection. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "base/internal.h"
#include "crossredis/loop.h"
#include "net/batch_internal.h"
#include "net/client_internal.h"
#include "topology/loop_split.h"
#include "topology/split.h"

typedef struct lnode {
  xr_node *node;
  xr_conn *conn;
  int watching_write;
} lnode;

struct xr_loop_split {
  xr_client *c;
  int epfd;
  lnode *conns;
  size_t nconns, cap;
  xr_batch *running;
  xr_split sp;
  int64_t moved_ms;  /* the running batch's last bytes moved */
  int64_t resume_ms; /* > 0: waiting until then before the next round */
  int broken;
};

int xr_loop_split_open(xr_loop_split **out, xr_client *c, int slot) {
  *out = NULL;
  xr_loop_split *ls = xr_calloc(1, sizeof *ls);
  if (!ls) return xr_fail_nomem();
  ls->c = c;
  ls->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (ls->epfd < 0) {
    int code = xr_fail(XR_EIO, "epoll_create1: %s", strerror(errno));
    xr_free(ls);
    return code;
  }
  /* a first connection now, as a standalone loop connection has: a client whose nodes are all
   * unreachable fails here, not on the first batch. A master that refuses (a failover the map has
   * not seen) only costs a refresh and another try, within the retry budget, as for a command. */
  int64_t start = xr_monotonic_ms();
  int code;
  for (int waits = 0;;) {
    xr_node *n;
    code = xr_topology_route(c, slot, 0, &n);
    if (!code) {
      size_t idx;
      code = xr_loop_split_conn(ls, n, &idx);
      xr_node_release(n);
    }
    if (code != XR_ECONNECT || xr_monotonic_ms() - start >= xr_retry_budget_ms(c)) break;
    xr_topology_refresh(c, 0);
    if ((code = xr_client_sleep(c, xr_backoff_ms(waits++)))) break;
  }
  if (code) {
    xr_loop_split_close(ls);
    return code;
  }
  *out = ls;
  return XR_OK;
}

void xr_loop_split_close(xr_loop_split *ls) {
  if (!ls) return;
  xr_loop_split_cancel(ls, XR_ECLOSED);
  for (size_t i = 0; i < ls->nconns; i++) {
    xr_conn_close(ls->conns[i].conn); /* NULL for an ended one */
    xr_node_release(ls->conns[i].node);
  }
  xr_free(ls->conns);
  xr_split_free(&ls->sp);
  close(ls->epfd);
  xr_free(ls);
}

int xr_loop_split_fd(const xr_loop_split *ls) { return ls->broken ? -1 : ls->epfd; }
int xr_loop_split_broken(const xr_loop_split *ls) { return ls->broken; }
int xr_loop_split_busy(const xr_loop_split *ls) { return ls->running != NULL; }

/* ---- connections per node ----------------------------------------------------------------------- */

static int watch(xr_loop_split *ls, size_t i, int op) {
  lnode *ln = &ls->conns[i];
  int want_write = sdslen(ln->conn->rc->obuf) > 0;
  struct epoll_event ev = {EPOLLIN | (want_write ? EPOLLOUT : 0), {.u64 = i}};
  if (op == EPOLL_CTL_MOD && want_write == ln->watching_write) return XR_OK;
  if (epoll_ctl(ls->epfd, op, ln->conn->rc->fd, &ev) != 0)
    return xr_fail(XR_EIO, "epoll_ctl on the connection to %s: %s", ln->node->address, strerror(errno));
  ln->watching_write = want_write;
  return XR_OK;
}

int xr_loop_split_conn(xr_loop_split *ls, xr_node *n, size_t *idx) {
  size_t slot = ls->nconns;
  for (size_t i = 0; i < ls->nconns; i++) {
    if (ls->conns[i].node == n) {
      *idx = i;
      return XR_OK;
    }
    if (!ls->conns[i].conn && slot == ls->nconns) slot = i; /* a place an ended connection left */
  }
  if (slot == ls->nconns && ls->nconns == ls->cap) {
    size_t cap = ls->cap ? ls->cap * 2 : 4;
    lnode *conns = xr_realloc(ls->conns, cap * sizeof *conns);
    if (!conns) return xr_fail_nomem();
    ls->conns = conns;
    ls->cap = cap;
  }
  xr_conn *conn;
  int code = xr_conn_open(ls->c, n, NULL, &conn, 0);
  if (!code && (code = xr_conn_set_nonblocking(conn))) xr_conn_close(conn);
  if (code) return code;
  xr_node_retain(n);
  ls->conns[slot] = (lnode){n, conn, 0};
  if ((code = watch(ls, slot, EPOLL_CTL_ADD))) {
    xr_conn_close(conn);
    xr_node_release(n);
    ls->conns[slot] = (lnode){NULL, NULL, 0};
    return code;
  }
  if (slot == ls->nconns) ls->nconns++;
  *idx = slot;
  return XR_OK;
}

/* The index of the one open connection; SIZE_MAX when there are none or several. */
static size_t only_conn(const xr_loop_split *ls) {
  size_t only = SIZE_MAX;
  for (size_t i = 0; i < ls->nconns; i++) {
    if (!ls->conns[i].conn) continue;
    if (only != SIZE_MAX) return SIZE_MAX;
    only = i;
  }
  return only;
}

/* ---- a batch ------------------------------------------------------------------------------------- */

#define IO_INDEX(pn) ((size_t)(uintptr_t)(pn)->io - 1) /* the lnode of a split node (io: index + 1) */

static void finish(xr_loop_split *ls) {
  xr_split_end(&ls->sp); /* its memory serves the next batch */
  ls->running = NULL;
  ls->resume_ms = 0;
}

/* Writes what the socket takes; a failure fails node j's waiting entries. */
static void write_node(xr_loop_split *ls, size_t j) {
  xr_split_node *pn = &ls->sp.nodes[j];
  lnode *ln = &ls->conns[IO_INDEX(pn)];
  redisContext *rc = ln->conn->rc;
  if (sdslen(rc->obuf) == 0) return;
  size_t before = sdslen(rc->obuf);
  int done = 0;
  errno = 0;
  if (redisBufferWrite(rc, &done) != REDIS_OK) {
    int lost;
    xr_split_fail_node(&ls->sp, j, xr_conn_error(ls->c, ln->conn, errno, &lost));
    ls->broken = 1;
    return;
  }
  if (sdslen(rc->obuf) != before) ls->moved_ms = xr_monotonic_ms();
  watch(ls, IO_INDEX(pn), EPOLL_CTL_MOD);
}

/* Reads and takes the replies that have arrived for node j (all of them: TLS may hold more than
 * the socket shows). */
static void read_node(xr_loop_split *ls, size_t j) {
  xr_split_node *pn = &ls->sp.nodes[j];
  lnode *ln = &ls->conns[IO_INDEX(pn)];
  redisContext *rc = ln->conn->rc;
  for (;;) {
    while (!xr_split_node_done(&ls->sp, j)) {
      void *r = NULL;
      if (redisGetReplyFromReader(rc, &r) != REDIS_OK) {
        int lost;
        xr_split_fail_node(&ls->sp, j, xr_conn_error(ls->c, ln->conn, 0, &lost));
        ls->broken = 1;
        return;
      }
      if (!r) break;
      xr_split_take_reply(&ls->sp, j, r);
    }
    if (xr_split_node_done(&ls->sp, j)) return;
    size_t before = rc->reader->len - rc->reader->pos;
    errno = 0;
    if (redisBufferRead(rc) != REDIS_OK) {
      int lost;
      xr_split_fail_node(&ls->sp, j, xr_conn_error(ls->c, ln->conn, errno, &lost));
      ls->broken = 1;
      return;
    }
    if (rc->reader->len - rc->reader->pos == before) return;
    ls->moved_ms = xr_monotonic_ms();
  }
}

static int round_done(const xr_loop_split *ls) {
  for (size_t j = 0; j < ls->sp.nnodes; j++)
    if (ls->sp.nodes[j].io && !xr_split_node_done(&ls->sp, j)) return 0;
  return 1;
}

/* Queues this round's pipelines (connecting to new nodes), writes what goes out at once. */
static void begin_round(xr_loop_split *ls) {
  ls->resume_ms = 0;
  ls->moved_ms = xr_monotonic_ms();
  for (size_t j = 0; j < ls->sp.nnodes; j++) {
    xr_split_node *pn = &ls->sp.nodes[j];
    pn->io = NULL;
    if (pn->nops == 0) continue;
    size_t idx = 0;
    int rc = xr_loop_split_conn(ls, pn->node, &idx);
    if (rc == XR_ECONNECT) {
      xr_split_unsent(&ls->sp, j);
      continue;
    }
    if (!rc) rc = xr_split_encode(&ls->sp, j);
    if (!rc && redisAppendFormattedCommand(ls->conns[idx].conn->rc, pn->wire.data, pn->wire.len) != REDIS_OK)
      rc = xr_fail_nomem(), ls->broken = 1;
    if (rc) {
      xr_split_fail_node(&ls->sp, j, rc);
      continue;
    }
    pn->io = (void *)(uintptr_t)(idx + 1);
    write_node(ls, j);
  }
}

/* After a step: the next round, a wait before it, or the end. XR_POLL_RUNNING or XR_POLL_DONE. */
static int advance(xr_loop_split *ls) {
  while (round_done(ls)) {
    int64_t wait_ms;
    if (ls->broken || !xr_split_next_round(&ls->sp, &wait_ms)) {
      finish(ls);
      return XR_POLL_DONE;
    }
    if (wait_ms > 0) {
      ls->resume_ms = xr_monotonic_ms() + wait_ms;
      return XR_POLL_RUNNING;
    }
    begin_round(ls);
  }
  return XR_POLL_RUNNING;
}

int xr_loop_split_start(xr_loop_split *ls, xr_batch *b) {
  ls->running = b;
  int code = xr_split_prepare(&ls->sp, ls->c, b);
  if (code) {
    finish(ls);
    return code;
  }
  begin_round(ls);
  int state = advance(ls);
  return state == XR_POLL_DONE ? XR_POLL_DONE : XR_POLL_RUNNING;
}

/* An idle connection that is readable (xr_conn_idle_read): anything but a TLS record ends it, and
 * only it (a node that went away, a failover's old master): the next batch that needs the node
 * connects again. */
static void idle_read(xr_loop_split *ls, size_t i) {
  lnode *ln = &ls->conns[i];
  if (!ln->conn || xr_conn_idle_read(ln->conn) == XR_OK) return;
  epoll_ctl(ls->epfd, EPOLL_CTL_DEL, ln->conn->rc->fd, NULL);
  xr_conn_close(ln->conn);
  xr_node_release(ln->node);
  ln->conn = NULL;
  ln->node = NULL;
}

int xr_loop_split_step(xr_loop_split *ls, int ready, int64_t now_ms) {
  if (ls->broken && !ls->running) return xr_fail(XR_ECLOSED, "the connections of %s failed earlier", ls->c->address);
  if (ls->running && ls->resume_ms) {
    if (now_ms < ls->resume_ms) return XR_POLL_RUNNING;
    begin_round(ls);
    return advance(ls);
  }
  struct epoll_event evs[16];
  int n;
  size_t only = SIZE_MAX;
  if (ready && (only = only_conn(ls)) != SIZE_MAX) {
    /* One connection (a lane's, or a small cluster's first): the epoll descriptor was ready, so it
     * is (the host loop's poll drops items of ours that are not), and asking epoll which would only
     * cost a system call per reply. A spurious step reads nothing and changes nothing. */
    evs[0] = (struct epoll_event){EPOLLIN | (ls->conns[only].watching_write ? EPOLLOUT : 0), {.u64 = only}};
    n = 1;
  } else {
    n = epoll_wait(ls->epfd, evs, 16, 0);
    if (n < 0 && errno != EINTR) return xr_fail(XR_EIO, "epoll_wait: %s", strerror(errno));
  }
  for (int k = 0; k < n; k++) {
    size_t i = (size_t)evs[k].data.u64;
    size_t j = SIZE_MAX;
    for (size_t q = 0; ls->running && q < ls->sp.nnodes && j == SIZE_MAX; q++)
      if (ls->sp.nodes[q].io && IO_INDEX(&ls->sp.nodes[q]) == i) j = q;
    if (j == SIZE_MAX || (xr_split_node_done(&ls->sp, j) && !(evs[k].events & EPOLLOUT))) {
      /* not waited for in the running round: an idle connection woke up */
      idle_read(ls, i);
      continue;
    }
    if (evs[k].events & EPOLLOUT) write_node(ls, j);
    if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) read_node(ls, j);
  }
  if (!ls->running) return XR_POLL_IDLE;
  int64_t timeout = ls->c->command_timeout_ms;
  if (!round_done(ls) && timeout > 0 && now_ms >= ls->moved_ms + timeout) {
    xr_loop_split_cancel(ls, XR_ETIMEOUT);
    return XR_ETIMEOUT;
  }
  return advance(ls);
}

int64_t xr_loop_split_deadline(const xr_loop_split *ls) {
  if (!ls->running) return -1;
  if (ls->resume_ms) return ls->resume_ms;
  int timeout = ls->c->command_timeout_ms;
  return timeout > 0 ? ls->moved_ms + timeout : -1;
}

void xr_loop_split_cancel(xr_loop_split *ls, int code) {
  if (!ls->running) return;
  if (code == XR_ETIMEOUT)
    xr_fail(code, "timeout after %d ms waiting for a reply from %s", ls->c->command_timeout_ms, ls->c->address);
  else
    xr_fail(code, "%s (%s)", xr_strerror(code), ls->c->address);
  for (size_t j = 0; j < ls->sp.nnodes; j++)
    if (ls->sp.nodes[j].io || ls->resume_ms) xr_split_fail_node(&ls->sp, j, code);
  for (size_t i = 0; i < ls->sp.n; i++) /* waiting for a round: what it would have sent */
    if (!ls->sp.ops[i].done) xr_batch_fail_op(ls->running, i, code), ls->sp.ops[i].done = 1;
  ls->broken = 1; /* a late reply must not reach the next batch */
  finish(ls);
}
