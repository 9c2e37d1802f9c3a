/* A batch on a Sentinel's master or a Cluster (batch_internal.h): each operation goes to the node
 * of its keys' slot; every node gets its operations as one pipeline, all pipelines are written
 * before any reply is read (the nodes work at once), and the replies land at their operations'
 * places, so the caller reads them in its own order. Then each operation the server did not run
 * (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, READONLY, LOADING), or that never left because its node
 * refused the connection, is sent again alone through route.c.
 *
 * Operations between MULTI (or WATCH) and EXEC (or DISCARD) stay together on one node, in order;
 * keys of such a group in different slots fail the whole group with XR_ECROSSSLOT (a transaction
 * never splits), and a redirected operation of a group is not sent again alone (the caller sees
 * the server's answer). A script's first run on each node goes by EVAL, later ones by EVALSHA, as
 * in one pipeline on one server. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/hiredis.h>

#include "base/internal.h"
#include "codec/command_keys.h"
#include "codec/resp.h"
#include "net/batch_internal.h"
#include "crossredis/loop.h"
#include "net/client_internal.h"
#include "net/script_internal.h"
#include "topology/route.h"
#include "topology/topology.h"

typedef struct plan_op {
  int argc;
  const char **argv; /* spans into the batch's wire */
  size_t *lens;
  const xr_script *script;
  int slot;
  int group;         /* > 0: inside a MULTI/WATCH group */
  int resend;        /* not sent (its node refused the connection): send it alone */
  int failed;        /* failed before sending (CROSSSLOT) */
  size_t node;       /* index into the plan's nodes */
} plan_op;

typedef struct plan_node {
  xr_node *node;
  xr_conn *conn;
  size_t *ops;
  size_t nops, cap;
  int outcome;
  int dead;          /* its connection failed: its operations are failed */
  xr_buf wire;
} plan_node;

typedef struct plan {
  plan_op *ops;
  size_t n;
  plan_node *nodes;
  size_t nnodes, cap;
} plan;

/* ---- reading our own RESP back into arguments --------------------------------------------------- */

static int read_count(const char **p, const char *end, char type, size_t *out) {
  if (*p >= end || **p != type) return 0;
  size_t v = 0;
  const char *q = *p + 1;
  while (q < end && *q >= '0' && *q <= '9') v = v * 10 + (size_t)(*q++ - '0');
  if (q + 1 >= end || q[0] != '\r' || q[1] != '\n') return 0;
  *p = q + 2;
  *out = v;
  return 1;
}

static int parse_op(plan_op *po, const char *w, size_t n) {
  const char *p = w, *end = w + n;
  size_t argc;
  if (!read_count(&p, end, '*', &argc) || argc == 0 || argc > (size_t)INT32_MAX)
    return xr_fail(XR_EPROTOCOL, "batch: an operation is not an encoded command");
  po->argv = xr_malloc(argc * sizeof *po->argv);
  po->lens = xr_malloc(argc * sizeof *po->lens);
  if (!po->argv || !po->lens) return xr_fail_nomem();
  for (size_t i = 0; i < argc; i++) {
    size_t len;
    if (!read_count(&p, end, '$', &len) || (size_t)(end - p) < len + 2)
      return xr_fail(XR_EPROTOCOL, "batch: an operation is not an encoded command");
    po->argv[i] = p;
    po->lens[i] = len;
    p += len + 2;
  }
  po->argc = (int)argc;
  return XR_OK;
}

static int is_word(const plan_op *po, int i, const char *word) {
  size_t n = strlen(word);
  return i < po->argc && po->lens[i] == n && !strncasecmp(po->argv[i], word, n);
}

/* ---- the plan ---------------------------------------------------------------------------------- */

/* The slot of operation po (scripts: their numkeys keys). */
static int op_slot(plan_op *po) {
  if (po->script) {
    size_t nk = 0;
    for (size_t k = 0; k < po->lens[2]; k++) nk = nk * 10 + (size_t)(po->argv[2][k] - '0');
    if (nk > (size_t)po->argc - 3) nk = (size_t)po->argc - 3;
    return xr_keys_slot("a script", (int)nk, po->argv + 3, po->lens + 3, &po->slot);
  }
  return xr_command_slot(po->argc, po->argv, po->lens, &po->slot, NULL);
}

/* Groups MULTI/WATCH ... EXEC/DISCARD (or WATCH ... UNWATCH) and gives each group one slot; a
 * group whose keys span slots fails whole. */
static void group_ops(xr_batch *b, plan *pl) {
  int group = 0, in_multi = 0;
  for (size_t i = 0; i < pl->n; i++) {
    plan_op *po = &pl->ops[i];
    int opens = is_word(po, 0, "MULTI") || is_word(po, 0, "WATCH");
    if (!group && opens) group = (int)i + 1;
    if (is_word(po, 0, "MULTI")) in_multi = 1;
    po->group = group;
    int closes = is_word(po, 0, "EXEC") || is_word(po, 0, "DISCARD") || (!in_multi && is_word(po, 0, "UNWATCH"));
    if (group && closes) group = 0, in_multi = 0;
  }
  for (size_t i = 0; i < pl->n; i++) {
    int g = pl->ops[i].group;
    if (!g || (size_t)g != i + 1) continue;
    int slot = -1;
    size_t bad = SIZE_MAX;
    for (size_t k = i; k < pl->n && pl->ops[k].group == g; k++) {
      int s = pl->ops[k].slot;
      if (pl->ops[k].failed) bad = k;
      else if (s >= 0 && slot >= 0 && s != slot) bad = k;
      else if (s >= 0) slot = s;
    }
    if (bad != SIZE_MAX)
      xr_fail(XR_ECROSSSLOT, "a transaction's keys are in different Cluster slots (operations %zu..): a MULTI/EXEC "
              "runs on one node, so give its keys one hash tag", i);
    for (size_t k = i; k < pl->n && pl->ops[k].group == g; k++) {
      pl->ops[k].slot = slot;
      if (bad != SIZE_MAX) {
        pl->ops[k].failed = 1;
        xr_batch_fail_op(b, k, XR_ECROSSSLOT);
      }
    }
  }
}

static int node_index(plan *pl, xr_node *n, size_t *idx) {
  for (size_t i = 0; i < pl->nnodes; i++) {
    if (pl->nodes[i].node == n) {
      xr_node_release(n); /* the plan holds one reference per node */
      *idx = i;
      return XR_OK;
    }
  }
  if (pl->nnodes == pl->cap) {
    size_t cap = pl->cap ? pl->cap * 2 : 4;
    plan_node *nodes = xr_realloc(pl->nodes, cap * sizeof *nodes);
    if (!nodes) {
      xr_node_release(n);
      return xr_fail_nomem();
    }
    pl->nodes = nodes;
    pl->cap = cap;
  }
  memset(&pl->nodes[pl->nnodes], 0, sizeof pl->nodes[0]);
  pl->nodes[pl->nnodes].node = n;
  *idx = pl->nnodes++;
  return XR_OK;
}

static int assign(plan *pl, size_t i, size_t node) {
  plan_node *pn = &pl->nodes[node];
  if (pn->nops == pn->cap) {
    size_t cap = pn->cap ? pn->cap * 2 : 16;
    size_t *ops = xr_realloc(pn->ops, cap * sizeof *ops);
    if (!ops) return xr_fail_nomem();
    pn->ops = ops;
    pn->cap = cap;
  }
  pn->ops[pn->nops++] = i;
  pl->ops[i].node = node;
  return XR_OK;
}

/* Each operation's node: its slot's; a keyless one goes with the operation before it. */
static int route_ops(xr_client *c, xr_batch *b, plan *pl) {
  size_t prev = SIZE_MAX;
  for (size_t i = 0; i < pl->n; i++) {
    plan_op *po = &pl->ops[i];
    if (po->failed) continue;
    size_t idx = 0;
    if (po->slot < 0 && prev != SIZE_MAX) {
      idx = prev;
    } else {
      xr_node *n;
      int rc = xr_topology_route(c, c->topo.kind == XR_TOPOLOGY_CLUSTER ? po->slot : -1, 0, &n);
      if (rc == XR_ENOMEM) return rc;
      if (rc) { /* nobody serves the slot now: route.c tries again alone, within its budget */
        po->resend = 1;
        continue;
      }
      if ((rc = node_index(pl, n, &idx))) return rc;
    }
    int rc = assign(pl, i, idx);
    if (rc) return rc;
    prev = idx;
  }
  XR_UNUSED(b);
  return XR_OK;
}

/* ---- sending ------------------------------------------------------------------------------------ */

/* A node's pipeline: the operations' bytes, each script's first run on this node by EVAL. */
static int encode(xr_batch *b, plan *pl, plan_node *pn) {
  const xr_script *seen[32];
  size_t nseen = 0;
  for (size_t k = 0; k < pn->nops; k++) {
    size_t i = pn->ops[k], len;
    const xr_script *s;
    const char *w = xr_batch_op_wire(b, i, &len, &s);
    if (!s) {
      xr_buf_append(&pn->wire, w, len);
      continue;
    }
    int by_sha = 0;
    for (size_t j = 0; j < nseen && !by_sha; j++) by_sha = seen[j] == s;
    if (!by_sha && nseen < sizeof seen / sizeof seen[0]) seen[nseen++] = s;
    const plan_op *po = &pl->ops[i];
    xr_resp_count(&pn->wire, '*', (size_t)po->argc);
    if (by_sha) {
      xr_resp_bulk(&pn->wire, "EVALSHA", 7);
      xr_resp_bulk(&pn->wire, s->sha1, 40);
    } else {
      xr_resp_bulk(&pn->wire, "EVAL", 4);
      xr_resp_bulk(&pn->wire, s->body, s->len);
    }
    for (int a = 2; a < po->argc; a++) xr_resp_bulk(&pn->wire, po->argv[a], po->lens[a]);
  }
  return pn->wire.oom ? xr_fail_nomem() : XR_OK;
}

static void fail_node_ops(xr_batch *b, plan_node *pn, size_t from, int code) {
  for (size_t k = from; k < pn->nops; k++) xr_batch_fail_op(b, pn->ops[k], code);
  pn->dead = 1;
}

/* Takes a connection per node and queues its pipeline; a refused connect leaves the node's
 * operations to be sent alone (nothing left). */
static int start_nodes(xr_client *c, xr_batch *b, plan *pl) {
  for (size_t j = 0; j < pl->nnodes; j++) {
    plan_node *pn = &pl->nodes[j];
    int rc = xr_pool_get(c, pn->node, &pn->conn);
    if (rc == XR_ECONNECT) {
      for (size_t k = 0; k < pn->nops; k++) pl->ops[pn->ops[k]].resend = 1;
      pn->conn = NULL;
      continue;
    }
    if (!rc) rc = encode(b, pl, pn);
    if (!rc && redisAppendFormattedCommand(pn->conn->rc, pn->wire.data, pn->wire.len) != REDIS_OK) rc = xr_fail_nomem();
    if (rc) {
      if (rc == XR_ENOMEM && pn->conn) pn->outcome = XR_CONN_BROKEN;
      fail_node_ops(b, pn, 0, rc);
    }
  }
  return XR_OK;
}

/* Writes every pipeline out before reading any reply. */
static void flush_nodes(xr_client *c, xr_batch *b, plan *pl) {
  for (size_t j = 0; j < pl->nnodes; j++) {
    plan_node *pn = &pl->nodes[j];
    if (!pn->conn || pn->dead) continue;
    int done = 0;
    while (!done) {
      errno = 0;
      if (redisBufferWrite(pn->conn->rc, &done) != REDIS_OK) {
        int lost;
        int code = xr_conn_error(c, pn->conn, errno, &lost);
        pn->outcome = lost ? XR_CONN_LOST : XR_CONN_BROKEN;
        fail_node_ops(b, pn, 0, code);
        break;
      }
    }
  }
}

static int read_nodes(xr_client *c, xr_batch *b, plan *pl) {
  int first = XR_OK;
  for (size_t j = 0; j < pl->nnodes; j++) {
    plan_node *pn = &pl->nodes[j];
    if (!pn->conn || pn->dead) continue;
    for (size_t k = 0; k < pn->nops; k++) {
      void *r = NULL;
      errno = 0;
      if (redisGetReply(pn->conn->rc, &r) != REDIS_OK || !r) {
        int lost;
        int code = xr_conn_error(c, pn->conn, errno, &lost);
        pn->outcome = lost ? XR_CONN_LOST : XR_CONN_BROKEN;
        fail_node_ops(b, pn, k, code);
        if (!first) first = code;
        break;
      }
      xr_batch_set_result(b, pn->ops[k], r);
    }
  }
  return first;
}

/* 1 when operation i's reply says the server did not run it and it may go again alone. */
static int redirected(xr_client *c, const xr_batch *b, const plan_op *po, size_t i) {
  if (po->group) return 0;
  const redisReply *r = xr_batch_op_reply(b, i);
  if (!r || r->type != REDIS_REPLY_ERROR) return 0;
  xr_redirect rd;
  xr_redirect_kind k = xr_redirect_classify(r->str, r->len, &rd);
  if (c->topo.kind == XR_TOPOLOGY_CLUSTER) return k != XR_REDIRECT_NONE;
  return k == XR_REDIRECT_READONLY || k == XR_REDIRECT_LOADING;
}

static int resend_alone(xr_client *c, xr_batch *b, plan_op *po, size_t i) {
  xr_route_req q = {c->topo.kind == XR_TOPOLOGY_CLUSTER ? po->slot : -1, 0, 0, NULL, NULL, NULL, NULL, 0};
  if (po->script) {
    q.argc = po->argc;
    q.argv = po->argv;
    q.lens = po->lens;
    q.script = po->script;
  } else {
    q.wire = xr_batch_op_wire(b, i, &q.wire_len, NULL);
  }
  xr_batch_clear_op(b, i);
  int code;
  redisReply *r = xr_route_run(c, &q, &code);
  if (!r) {
    xr_batch_fail_op(b, i, code);
    return code;
  }
  xr_batch_set_result(b, i, r);
  return XR_OK;
}

static void plan_free(plan *pl) {
  for (size_t i = 0; i < pl->n; i++) {
    xr_free(pl->ops[i].argv);
    xr_free(pl->ops[i].lens);
  }
  xr_free(pl->ops);
  for (size_t j = 0; j < pl->nnodes; j++) {
    xr_free(pl->nodes[j].ops);
    xr_buf_free(&pl->nodes[j].wire);
    xr_node_release(pl->nodes[j].node);
  }
  xr_free(pl->nodes);
}

int xr_batch_exec_routed(xr_client *c, xr_batch *b) {
  plan pl = {0};
  pl.n = xr_batch_count(b);
  pl.ops = xr_calloc(pl.n, sizeof *pl.ops);
  if (!pl.ops) {
    int rc = xr_fail_nomem();
    xr_batch_fail_from(b, 0, rc);
    return rc;
  }
  int rc = XR_OK;
  for (size_t i = 0; i < pl.n && !rc; i++) {
    plan_op *po = &pl.ops[i];
    size_t len;
    const char *w = xr_batch_op_wire(b, i, &len, &po->script);
    if ((rc = parse_op(po, w, len))) break;
    po->slot = -1;
    if (c->topo.kind != XR_TOPOLOGY_CLUSTER) continue;
    int s = op_slot(po);
    if (s == XR_ENOMEM) rc = s;
    else if (s) po->failed = 1, xr_batch_fail_op(b, i, s);
  }
  if (!rc) {
    group_ops(b, &pl);
    rc = route_ops(c, b, &pl);
  }
  if (rc) { /* out of memory (or our own wire unreadable): nothing was sent */
    xr_batch_fail_from(b, 0, rc);
    plan_free(&pl);
    return rc;
  }
  start_nodes(c, b, &pl);
  flush_nodes(c, b, &pl);
  int first = read_nodes(c, b, &pl);
  for (size_t j = 0; j < pl.nnodes; j++)
    if (pl.nodes[j].conn) xr_pool_put(c, pl.nodes[j].conn, pl.nodes[j].outcome);
  if (first) xr_topology_refresh(c, 0); /* a lost node: the map may have changed */
  for (size_t i = 0; i < pl.n; i++) {
    plan_op *po = &pl.ops[i];
    if (po->failed) continue;
    if (po->resend || redirected(c, b, po, i)) {
      int code = resend_alone(c, b, po, i);
      if (code && !first && po->resend) first = code;
    }
  }
  plan_free(&pl);
  return first;
}
