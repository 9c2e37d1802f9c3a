/* One command (or script run) on the node that serves it, following what the servers say
 * (topology.h). Sent again only when the server said it did not run it:
 *   MOVED        the map learns the slot's node, and the command goes there (max_redirects hops);
 *   ASK          the command goes to that node once, after ASKING (every hop of a chain);
 *   TRYAGAIN, CLUSTERDOWN, LOADING   wait (backoff) and send again, within the retry budget;
 *   READONLY     a demoted master: ask the topology again (forced), send again;
 *   a refused connect (nothing was sent): refresh, wait, again.
 * A connection lost after sending is never re-sent: the command may have run. The caller gets the
 * failure, and the topology is refreshed for the calls after it. */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "crossredis/loop.h"
#include "net/client_internal.h"
#include "net/script_internal.h"
#include "topology/route.h"
#include "topology/topology.h"

static redisReply *run_script(xr_client *c, xr_conn *conn, const xr_route_req *q, int asking, int *code, int *outcome);

static int send_asking(xr_client *c, xr_conn *conn, int *code, int *outcome) {
  const char *argv[] = {"ASKING"};
  redisReply *r = xr_conn_run(c, conn, 1, argv, NULL, code, outcome);
  if (!r) return 0;
  freeReplyObject(r); /* +OK; an error shows up as the command's own redirection */
  return 1;
}

/* WAIT after a write that went through: how many replicas acknowledged this connection's writes.
 * A failure of the WAIT itself replaces the reply (the write ran; the caller learns it cannot
 * count on it). */
static redisReply *wait_replicas(xr_client *c, xr_conn *conn, const xr_route_req *q, redisReply *r, int *code,
                                 int *outcome) {
  char n[24], ms[24];
  snprintf(n, sizeof n, "%d", q->wait_replicas);
  snprintf(ms, sizeof ms, "%d", q->wait_ms);
  const char *argv[] = {"WAIT", n, ms};
  redisReply *w = xr_conn_run(c, conn, 3, argv, NULL, code, outcome);
  if (w && w->type == REDIS_REPLY_INTEGER) {
    *q->acked = w->integer;
    freeReplyObject(w);
    return r;
  }
  if (w && w->type == REDIS_REPLY_ERROR) {
    /* WAIT refused (UNBLOCKED: the master was demoted meanwhile): no replica is known to have it */
    *q->acked = 0;
    freeReplyObject(w);
    return r;
  }
  if (w) {
    *code = xr_fail(XR_EPROTOCOL, "WAIT on %s answered no integer", conn->node->address);
    freeReplyObject(w);
  }
  freeReplyObject(r);
  return NULL;
}

static redisReply *send_on(xr_client *c, xr_conn *conn, const xr_route_req *q, int asking, int *code, int *outcome) {
  redisReply *r;
  if (q->script) {
    r = run_script(c, conn, q, asking, code, outcome);
  } else if (asking && !send_asking(c, conn, code, outcome)) {
    return NULL;
  } else {
    r = q->wire ? xr_conn_run_wire(c, conn, q->wire, q->wire_len, code, outcome)
                : xr_conn_run(c, conn, q->argc, q->argv, q->lens, code, outcome);
  }
  if (r && q->wait_replicas > 0 && r->type != REDIS_REPLY_ERROR) return wait_replicas(c, conn, q, r, code, outcome);
  return r;
}

/* EVALSHA, then EVAL on NOSCRIPT: on whichever node answered, since each node has its own script
 * cache. q->argv has three free places in front (verb, body or SHA1, numkeys). */
static redisReply *run_script(xr_client *c, xr_conn *conn, const xr_route_req *q, int asking, int *code, int *outcome) {
  const xr_script *s = q->script;
  int by_sha = atomic_load_explicit(&s->loaded, memory_order_relaxed);
  redisReply *r = NULL;
  for (int attempt = 0; attempt < 2; attempt++) {
    q->argv[0] = by_sha ? "EVALSHA" : "EVAL";
    q->lens[0] = by_sha ? 7 : 4;
    q->argv[1] = by_sha ? s->sha1 : s->body;
    q->lens[1] = by_sha ? 40 : s->len;
    if (asking && !send_asking(c, conn, code, outcome)) return NULL;
    r = xr_conn_run(c, conn, q->argc, q->argv, q->lens, code, outcome);
    if (!r || !by_sha || !xr_is_noscript(r)) break;
    freeReplyObject(r); /* this node does not know it (restart, failover, SCRIPT FLUSH): send the body */
    r = NULL;
    by_sha = 0;
  }
  if (r && !by_sha && r->type != REDIS_REPLY_ERROR) atomic_store_explicit((atomic_int *)&s->loaded, 1, memory_order_relaxed);
  return r;
}

/* Waits before the next try; XR_ECLOSED when the client shuts down meanwhile. */
static int backoff(xr_client *c, int tries) { return xr_client_sleep(c, xr_backoff_ms(tries - 1)); }

redisReply *xr_route_run(xr_client *c, const xr_route_req *q, int *code) {
  xr_topo *t = &c->topo;
  *code = XR_OK;
  if (t->kind == XR_TOPOLOGY_STANDALONE) { /* no redirections to follow: the plain path */
    xr_conn *conn;
    if ((*code = xr_pool_get(c, t->master, &conn))) return NULL;
    int outcome = XR_CONN_OK;
    redisReply *r = send_on(c, conn, q, 0, code, &outcome);
    xr_pool_put(c, conn, outcome);
    return r;
  }
  int64_t start = xr_monotonic_ms();
  int64_t budget = xr_retry_budget_ms(c);
  int hops = 0, waits = 0, readonly = q->readonly;
  xr_node *ask_node = NULL;
  for (;;) {
    xr_node *node = ask_node;
    int asking = node != NULL;
    ask_node = NULL;
    if (!node && (*code = xr_topology_route(c, q->slot, readonly, &node))) return NULL;
    xr_conn *conn;
    *code = xr_pool_get(c, node, &conn);
    if (*code) {
      /* nothing was sent: a node that refuses connections is likely gone (a failover) */
      int again = *code == XR_ECONNECT && xr_monotonic_ms() - start < budget;
      xr_node_release(node);
      if (!again) return NULL;
      xr_topology_refresh(c, 0);
      if ((*code = backoff(c, ++waits))) return NULL;
      continue;
    }
    int outcome = XR_CONN_OK;
    redisReply *r = send_on(c, conn, q, asking, code, &outcome);
    xr_pool_put(c, conn, outcome);
    if (!r) {
      xr_node_release(node);
      int keep = *code;
      xr_topology_refresh(c, 0); /* for the calls after this one; this one may have run */
      *code = keep;
      return NULL;
    }
    xr_redirect rd;
    xr_redirect_kind kind = r->type == REDIS_REPLY_ERROR ? xr_redirect_classify(r->str, r->len, &rd) : XR_REDIRECT_NONE;
    if (t->kind != XR_TOPOLOGY_CLUSTER && (kind == XR_REDIRECT_MOVED || kind == XR_REDIRECT_ASK || kind == XR_REDIRECT_TRYAGAIN ||
                                           kind == XR_REDIRECT_CLUSTERDOWN))
      kind = XR_REDIRECT_NONE; /* a Sentinel's node is no Cluster node: the reply is the caller's */
    if (kind == XR_REDIRECT_NONE) {
      xr_node_release(node);
      return r;
    }
    if (kind == XR_REDIRECT_MOVED || kind == XR_REDIRECT_ASK) {
      if (++hops > (c->max_redirects > 0 ? c->max_redirects : 16)) {
        *code = xr_fail(XR_EREDIRECTS, "cluster: more than %d redirections for slot %d, the last from %s: %.200s",
                        c->max_redirects, q->slot, node->address, r->str);
        freeReplyObject(r);
        xr_node_release(node);
        return NULL;
      }
      if (kind == XR_REDIRECT_MOVED) {
        const char *h = rd.host;
        size_t hl = rd.host_len;
        if (!hl && node->host) h = node->host, hl = strlen(node->host);
        if (h && xr_node_is(node, h, hl, rd.port))
          xr_pool_stale(&node->pool); /* a MOVED to itself (a proxy): its connections are stale */
        xr_topology_moved(c, node, &rd);
      } else {
        *code = xr_topology_node_at(c, node, rd.host, rd.host_len, rd.port, &ask_node);
      }
      freeReplyObject(r);
      xr_node_release(node);
      if (*code) return NULL;
      continue;
    }
    /* TRYAGAIN, CLUSTERDOWN, READONLY, LOADING: not run; wait, maybe refresh, again */
    if (kind == XR_REDIRECT_LOADING) readonly = 0; /* a replica still loading: the master answers */
    if (xr_monotonic_ms() - start >= budget) {
      *code = xr_fail(xr_reply_error_code(r->str, r->len), "%s: still %s after %d tries in %lld ms: %.200s", node->address,
                      xr_redirect_name(kind), waits + 1, (long long)(xr_monotonic_ms() - start), r->str);
      freeReplyObject(r);
      xr_node_release(node);
      return NULL;
    }
    freeReplyObject(r);
    xr_node_release(node);
    /* a refresh that fails (no sentinel names a master yet) leaves the next try to find out */
    if (kind != XR_REDIRECT_TRYAGAIN) xr_topology_refresh(c, kind == XR_REDIRECT_READONLY);
    if ((*code = backoff(c, ++waits))) return NULL;
  }
}
