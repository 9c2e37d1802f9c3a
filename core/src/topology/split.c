/* A batch on a Sentinel's master or over a Cluster's nodes, in rounds (split.h), and the blocking
 * driver of the rounds (xr_client_exec): every node gets its operations as one pipeline, all
 * pipelines are written before any reply is read (the nodes work at once), and the replies land at
 * their operations' places, so the caller reads them in its own order.
 *
 * Operations between MULTI (or WATCH) and EXEC (or DISCARD) stay together on one node, in order;
 * keys of such a group in different slots fail the whole group with XR_ECROSSSLOT (a transaction
 * never splits), and an operation of a group is never sent again on its own (the caller sees the
 * server's answer). A script's first run on each node of a round goes by EVAL, later ones by
 * EVALSHA, as in one pipeline on one server. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/hiredis.h>

#include "base/internal.h"
#include "codec/command_keys.h"
#include "codec/resp.h"
#include "crossredis/loop.h"
#include "net/batch_internal.h"
#include "net/client_internal.h"
#include "net/script_internal.h"
#include "topology/split.h"
#include "topology/topology.h"

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

/* Points po's argv and lens at n places of the split's argument arrays (sized beforehand). */
static int parse_op(xr_split_op *po, const char *w, size_t n, const char **argv, size_t *lens) {
  const char *p = w, *end = w + n;
  size_t argc;
  if (!read_count(&p, end, '*', &argc) || argc == 0 || argc > (size_t)INT32_MAX)
    return xr_fail(XR_EPROTOCOL, "batch: an operation is not an encoded command");
  po->argv = argv;
  po->lens = lens;
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

/* The argument count an operation's wire starts with (0: not an encoded command). */
static size_t wire_argc(const char *w, size_t n) {
  size_t argc = 0;
  return read_count(&w, w + n, '*', &argc) ? argc : 0;
}

/* Room for n elements of `size` in *p (capacity *cap), keeping nothing of what was there. */
static int room(void **p, size_t *cap, size_t n, size_t size) {
  if (n <= *cap) return XR_OK;
  size_t want = *cap ? *cap : 16;
  while (want < n) want *= 2;
  void *q = xr_malloc(want * size);
  if (!q) return xr_fail_nomem();
  xr_free(*p);
  *p = q;
  *cap = want;
  return XR_OK;
}

static int is_word(const xr_split_op *po, int i, const char *word) {
  size_t n = strlen(word);
  return i < po->argc && po->lens[i] == n && !strncasecmp(po->argv[i], word, n);
}

/* ---- planning ----------------------------------------------------------------------------------- */

/* The slot of operation po (scripts: their numkeys keys). */
static int op_slot(xr_split_op *po) {
  if (po->script) {
    size_t nk = 0;
    for (size_t k = 0; k < po->lens[2]; k++) nk = nk * 10 + (size_t)(po->argv[2][k] - '0');
    if (nk > (size_t)po->argc - 3) nk = (size_t)po->argc - 3;
    return xr_keys_slot("a script", (int)nk, po->argv + 3, po->lens + 3, &po->slot);
  }
  return xr_command_slot(po->argc, po->argv, po->lens, &po->slot, &po->readonly);
}

static void fail_op(xr_split *sp, size_t i, int code) {
  xr_batch_fail_op(sp->b, i, code);
  sp->ops[i].done = 1;
}

/* Groups MULTI/WATCH ... EXEC/DISCARD (or WATCH ... UNWATCH) and gives each group one slot; a
 * group whose keys span slots fails whole. */
static void group_ops(xr_split *sp) {
  int group = 0, in_multi = 0;
  for (size_t i = 0; i < sp->n; i++) {
    xr_split_op *po = &sp->ops[i];
    if (!group && (is_word(po, 0, "MULTI") || is_word(po, 0, "WATCH"))) group = (int)i + 1;
    if (is_word(po, 0, "MULTI")) in_multi = 1;
    po->group = group;
    if (group && (is_word(po, 0, "EXEC") || is_word(po, 0, "DISCARD") || (!in_multi && is_word(po, 0, "UNWATCH"))))
      group = 0, in_multi = 0;
  }
  for (size_t i = 0; i < sp->n; i++) {
    int g = sp->ops[i].group;
    if (!g || (size_t)g != i + 1) continue;
    int slot = -1, bad = 0;
    for (size_t k = i; k < sp->n && sp->ops[k].group == g; k++) {
      int s = sp->ops[k].slot;
      if (sp->ops[k].done || (s >= 0 && slot >= 0 && s != slot)) bad = 1;
      else if (s >= 0) slot = s;
    }
    if (bad)
      xr_fail(XR_ECROSSSLOT, "a transaction's keys are in different Cluster slots (operations %zu..): a MULTI/EXEC "
              "runs on one node, so give its keys one hash tag", i);
    for (size_t k = i; k < sp->n && sp->ops[k].group == g; k++) {
      sp->ops[k].slot = slot;
      if (bad) fail_op(sp, k, XR_ECROSSSLOT);
    }
  }
}

/* The plan's index of node n (taking the caller's reference), added when new. */
static int node_index(xr_split *sp, xr_node *n, size_t *idx) {
  for (size_t i = 0; i < sp->nnodes; i++) {
    if (sp->nodes[i].node == n) {
      xr_node_release(n);
      *idx = i;
      return XR_OK;
    }
  }
  if (sp->nnodes == sp->cap) {
    size_t cap = sp->cap ? sp->cap * 2 : 4;
    xr_split_node *nodes = xr_realloc(sp->nodes, cap * sizeof *nodes);
    if (!nodes) {
      xr_node_release(n);
      return xr_fail_nomem();
    }
    memset(nodes + sp->cap, 0, (cap - sp->cap) * sizeof *nodes);
    sp->nodes = nodes;
    sp->cap = cap;
  }
  xr_split_node *pn = &sp->nodes[sp->nnodes];
  /* an entry an earlier batch used keeps its arrays */
  *pn = (xr_split_node){.node = n, .ops = pn->ops, .cap = pn->cap, .wire = pn->wire};
  pn->wire.len = 0;
  *idx = sp->nnodes++;
  return XR_OK;
}

static int assign(xr_split *sp, size_t i, size_t j, int asking) {
  xr_split_node *pn = &sp->nodes[j];
  if (pn->nops == pn->cap) {
    size_t cap = pn->cap ? pn->cap * 2 : 16;
    xr_split_entry *ops = xr_realloc(pn->ops, cap * sizeof *ops);
    if (!ops) return xr_fail_nomem();
    pn->ops = ops;
    pn->cap = cap;
  }
  pn->ops[pn->nops++] = (xr_split_entry){i, asking};
  sp->ops[i].node = j;
  return XR_OK;
}

/* Puts the round's operations (those not done) on their nodes: an ASK's node after ASKING, else
 * the slot's (a keyless operation goes with the one before it). No node for a slot: the operation
 * fails for now and may go in a later round. */
static int append_wait(xr_split *sp, size_t j) {
  xr_split_node *pn = &sp->nodes[j];
  if (pn->nops == pn->cap) {
    size_t cap = pn->cap * 2;
    xr_split_entry *ops = xr_realloc(pn->ops, cap * sizeof *ops);
    if (!ops) return xr_fail_nomem();
    pn->ops = ops;
    pn->cap = cap;
  }
  pn->ops[pn->nops++] = (xr_split_entry){SIZE_MAX, 0};
  return XR_OK;
}

static int plan_round(xr_split *sp) {
  int rc0 = XR_OK;
  for (size_t j = 0; j < sp->nnodes; j++) {
    sp->nodes[j].nops = sp->nodes[j].next = 0;
    sp->nodes[j].asking_read = 0;
    sp->nodes[j].wire.len = 0;
  }
  size_t prev = SIZE_MAX;
  int cluster = sp->c->topo.kind == XR_TOPOLOGY_CLUSTER;
  for (size_t i = 0; i < sp->n; i++) {
    xr_split_op *po = &sp->ops[i];
    if (po->done) continue;
    po->unsent = 0;
    size_t j = 0;
    int asking = 0, rc;
    xr_node *target = xr_batch_op_target(sp->b, i);
    if (po->ask) {
      xr_node *n = po->ask;
      po->ask = NULL;
      if ((rc = node_index(sp, n, &j))) return rc;
      asking = 1;
    } else if (target) { /* this node and no other (a SCAN of one master) */
      xr_node_retain(target);
      if ((rc = node_index(sp, target, &j))) return rc;
    } else if (po->slot < 0 && prev != SIZE_MAX && !po->group) {
      j = prev;
    } else {
      xr_node *n;
      rc = xr_topology_route(sp->c, cluster ? po->slot : -1, po->readonly && !po->group, &n);
      if (rc == XR_ENOMEM || rc == XR_ECLOSED) return rc;
      if (rc) {
        xr_batch_fail_op(sp->b, i, rc);
        po->unsent = 1;
        continue;
      }
      if ((rc = node_index(sp, n, &j))) return rc;
    }
    if ((rc = assign(sp, i, j, asking))) return rc;
    prev = j;
  }
  if (xr_batch_wait_wanted(sp->b)) /* one WAIT behind each node's writes covers them all */
    for (size_t j = 0; j < sp->nnodes; j++)
      if (sp->nodes[j].nops && (rc0 = append_wait(sp, j))) return rc0;
  return rc0;
}

int xr_split_prepare(xr_split *sp, xr_client *c, xr_batch *b) {
  xr_split kept = *sp; /* zeroed, or ended: only memory */
  *sp = (xr_split){.c = c, .b = b, .n = xr_batch_count(b), .start_ms = xr_monotonic_ms(), .ops = kept.ops,
                   .ops_cap = kept.ops_cap, .nodes = kept.nodes, .cap = kept.cap, .args = kept.args,
                   .arg_lens = kept.arg_lens, .args_cap = kept.args_cap};
  size_t nargs = 0;
  for (size_t i = 0; i < sp->n; i++) {
    size_t len;
    const char *w = xr_batch_op_wire(b, i, &len, NULL);
    nargs += wire_argc(w, len);
  }
  int rc = room((void **)&sp->ops, &sp->ops_cap, sp->n, sizeof *sp->ops);
  size_t lens_cap = sp->args_cap;
  if (!rc) rc = room((void **)&sp->args, &sp->args_cap, nargs, sizeof *sp->args);
  if (!rc) rc = room((void **)&sp->arg_lens, &lens_cap, nargs, sizeof *sp->arg_lens);
  if (!rc && lens_cap != sp->args_cap) rc = xr_fail_nomem(); /* cannot happen: both grow alike */
  if (!rc) memset(sp->ops, 0, sp->n * sizeof *sp->ops);
  size_t used = 0;
  for (size_t i = 0; i < sp->n && !rc; i++) {
    xr_split_op *po = &sp->ops[i];
    size_t len;
    const char *w = xr_batch_op_wire(b, i, &len, &po->script);
    if ((rc = parse_op(po, w, len, sp->args + used, sp->arg_lens + used))) break;
    used += (size_t)po->argc;
    po->slot = -1;
    if (c->topo.kind != XR_TOPOLOGY_CLUSTER) {
      int ignored;
      if (c->replica_reads && !po->script) xr_command_slot(po->argc, po->argv, po->lens, &ignored, &po->readonly);
      continue;
    }
    int s = op_slot(po);
    if (s == XR_ENOMEM) rc = s;
    else if (s) fail_op(sp, i, s);
  }
  if (!rc) {
    group_ops(sp);
    rc = plan_round(sp);
  }
  if (rc) xr_batch_fail_from(b, 0, rc); /* nothing was sent */
  return rc;
}

/* ---- a round's I/O ------------------------------------------------------------------------------ */

int xr_split_encode(xr_split *sp, size_t j) {
  xr_split_node *pn = &sp->nodes[j];
  const xr_script *seen[32];
  size_t nseen = 0;
  for (size_t k = 0; k < pn->nops; k++) {
    size_t i = pn->ops[k].op, len;
    if (i == SIZE_MAX) {
      xr_batch_wait_encode(sp->b, &pn->wire);
      continue;
    }
    if (pn->ops[k].asking) {
      xr_resp_count(&pn->wire, '*', 1);
      xr_resp_bulk(&pn->wire, "ASKING", 6);
    }
    const xr_script *s;
    const char *w = xr_batch_op_wire(sp->b, i, &len, &s);
    if (!s) {
      xr_buf_append(&pn->wire, w, len);
      continue;
    }
    int by_sha = 0;
    for (size_t q = 0; q < nseen && !by_sha; q++) by_sha = seen[q] == s;
    if (!by_sha && nseen < sizeof seen / sizeof seen[0]) seen[nseen++] = s;
    const xr_split_op *po = &sp->ops[i];
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

void xr_split_take_reply(xr_split *sp, size_t j, void *r) {
  xr_split_node *pn = &sp->nodes[j];
  xr_split_entry *e = &pn->ops[pn->next];
  if (e->asking && !pn->asking_read) { /* +OK; a refusal shows in the operation's own reply */
    freeReplyObject(r);
    pn->asking_read = 1;
    return;
  }
  if (e->op == SIZE_MAX) { /* the WAIT behind this node's writes */
    xr_batch_wait_reply(sp->b, r);
    freeReplyObject(r);
  } else {
    xr_batch_set_result(sp->b, e->op, r);
  }
  pn->next++;
  pn->asking_read = 0;
}

int xr_split_node_done(const xr_split *sp, size_t j) { return sp->nodes[j].next >= sp->nodes[j].nops; }

void xr_split_fail_node(xr_split *sp, size_t j, int code) {
  xr_split_node *pn = &sp->nodes[j];
  if (!sp->first_failure) sp->first_failure = code;
  for (; pn->next < pn->nops; pn->next++) {
    if (pn->ops[pn->next].op == SIZE_MAX) xr_batch_wait_reply(sp->b, NULL); /* a WAIT lost: none known */
    else fail_op(sp, pn->ops[pn->next].op, code);
  }
}

void xr_split_unsent(xr_split *sp, size_t j) {
  xr_split_node *pn = &sp->nodes[j];
  for (; pn->next < pn->nops; pn->next++) {
    size_t i = pn->ops[pn->next].op;
    if (i == SIZE_MAX) continue; /* the WAIT goes with the writes in the next round */
    xr_batch_fail_op(sp->b, i, xr_error_last()->code);
    sp->ops[i].unsent = 1;
  }
}

/* ---- the next round ----------------------------------------------------------------------------- */

size_t xr_split_next_round(xr_split *sp, int64_t *wait_ms) {
  xr_client *c = sp->c;
  int cluster = c->topo.kind == XR_TOPOLOGY_CLUSTER;
  int64_t elapsed = xr_monotonic_ms() - sp->start_ms;
  int64_t budget = xr_retry_budget_ms(c);
  int refresh = -1; /* -1 none, 0 rate-limited, 1 forced */
  int wait = 0;
  size_t count = 0;
  *wait_ms = 0;
  for (size_t i = 0; i < sp->n; i++) sp->ops[i].again = 0;
  for (size_t i = 0; i < sp->n; i++) {
    xr_split_op *po = &sp->ops[i];
    if (po->done) continue;
    if (po->unsent) { /* it never left: again, within the budget */
      if (elapsed >= budget || po->group) {
        po->done = 1; /* keeps the failure it has */
        continue;
      }
      if (refresh < 0) refresh = 0;
      wait = 1;
      po->again = 1;
      xr_batch_clear_op(sp->b, i); /* its failure was for this round only: the next one sets its outcome */
      count++;
      continue;
    }
    const redisReply *r = xr_batch_op_reply(sp->b, i);
    xr_redirect rd;
    xr_redirect_kind k = r && r->type == REDIS_REPLY_ERROR ? xr_redirect_classify(r->str, r->len, &rd) : XR_REDIRECT_NONE;
    if (!cluster && k != XR_REDIRECT_READONLY && k != XR_REDIRECT_LOADING) k = XR_REDIRECT_NONE;
    if (k == XR_REDIRECT_NONE || po->group) {
      po->done = 1;
      continue;
    }
    xr_node *asked = sp->nodes[po->node].node;
    if (k == XR_REDIRECT_MOVED || k == XR_REDIRECT_ASK) {
      if (++po->hops > c->max_redirects) {
        xr_fail(XR_EREDIRECTS, "cluster: more than %d redirections for slot %d, the last from %s: %.200s", c->max_redirects,
                po->slot, asked->address, r->str);
        fail_op(sp, i, XR_EREDIRECTS);
        continue;
      }
      if (k == XR_REDIRECT_MOVED) {
        xr_topology_moved(c, asked, &rd);
      } else if (xr_topology_node_at(c, asked, rd.host, rd.host_len, rd.port, &po->ask)) {
        fail_op(sp, i, xr_error_last()->code);
        continue;
      }
    } else if (elapsed >= budget) {
      xr_fail(xr_reply_error_code(r->str, r->len), "%s: still %s after %d tries in %lld ms: %.200s", asked->address,
              xr_redirect_name(k), sp->waits + 1, (long long)elapsed, r->str);
      fail_op(sp, i, xr_error_last()->code);
      continue;
    } else {
      wait = 1;
      if (k == XR_REDIRECT_LOADING) po->readonly = 0; /* a replica still loading: the master answers */
      if (k == XR_REDIRECT_READONLY) refresh = 1;
      else if (k != XR_REDIRECT_TRYAGAIN && refresh < 0) refresh = 0;
    }
    xr_batch_clear_op(sp->b, i);
    po->again = 1;
    count++;
  }
  if (count == 0) return 0;
  if (refresh >= 0) xr_topology_refresh(c, refresh);
  if (wait) *wait_ms = xr_backoff_ms(sp->waits++);
  if (plan_round(sp)) { /* out of memory or closed: what is left fails with it */
    int code = xr_error_last()->code;
    for (size_t i = 0; i < sp->n; i++)
      if (!sp->ops[i].done) fail_op(sp, i, code);
    return 0;
  }
  return count;
}

void xr_split_end(xr_split *sp) {
  for (size_t i = 0; i < sp->n && sp->ops; i++) {
    xr_node_release(sp->ops[i].ask);
    sp->ops[i].ask = NULL;
  }
  for (size_t j = 0; j < sp->nnodes; j++) {
    xr_node_release(sp->nodes[j].node);
    sp->nodes[j].node = NULL;
  }
  sp->n = sp->nnodes = 0;
  sp->b = NULL;
}

void xr_split_free(xr_split *sp) {
  xr_split_end(sp);
  xr_free(sp->ops);
  for (size_t j = 0; j < sp->cap; j++) {
    xr_free(sp->nodes[j].ops);
    xr_buf_free(&sp->nodes[j].wire);
  }
  xr_free(sp->nodes);
  xr_free(sp->args);
  xr_free(sp->arg_lens);
  memset(sp, 0, sizeof *sp);
}

/* ---- the blocking driver ------------------------------------------------------------------------ */

/* One round: a pooled connection and the pipeline per node, everything written, then read. */
static void run_round(xr_split *sp) {
  xr_client *c = sp->c;
  for (size_t j = 0; j < sp->nnodes; j++) {
    xr_split_node *pn = &sp->nodes[j];
    pn->io = NULL;
    if (pn->nops == 0) continue;
    xr_conn *conn = NULL;
    int rc = xr_pool_get(c, pn->node, &conn);
    if (rc == XR_ECONNECT) { /* nothing left: these may go again */
      xr_split_unsent(sp, j);
      continue;
    }
    if (rc) {
      xr_split_fail_node(sp, j, rc);
      continue;
    }
    rc = xr_split_encode(sp, j);
    if (!rc && redisAppendFormattedCommand(conn->rc, pn->wire.data, pn->wire.len) != REDIS_OK) rc = xr_fail_nomem();
    if (rc) {
      xr_split_fail_node(sp, j, rc);
      xr_pool_put(c, conn, XR_CONN_BROKEN);
      continue;
    }
    pn->io = conn;
  }
  for (size_t j = 0; j < sp->nnodes; j++) { /* every pipeline out before any reply is read */
    xr_conn *conn = sp->nodes[j].io;
    for (int done = 0; conn && !done;) {
      errno = 0;
      if (redisBufferWrite(conn->rc, &done) != REDIS_OK) {
        int lost;
        xr_split_fail_node(sp, j, xr_conn_error(c, conn, errno, &lost));
        xr_pool_put(c, conn, lost ? XR_CONN_LOST : XR_CONN_BROKEN);
        sp->nodes[j].io = conn = NULL;
      }
    }
  }
  for (size_t j = 0; j < sp->nnodes; j++) {
    xr_conn *conn = sp->nodes[j].io;
    if (!conn) continue;
    int outcome = XR_CONN_OK;
    while (!xr_split_node_done(sp, j)) {
      void *r = NULL;
      errno = 0;
      if (redisGetReply(conn->rc, &r) != REDIS_OK || !r) {
        int lost;
        xr_split_fail_node(sp, j, xr_conn_error(c, conn, errno, &lost));
        outcome = lost ? XR_CONN_LOST : XR_CONN_BROKEN;
        break;
      }
      xr_split_take_reply(sp, j, r);
    }
    xr_pool_put(c, conn, outcome);
    sp->nodes[j].io = NULL;
  }
}

int xr_batch_exec_routed(xr_client *c, xr_batch *b) {
  xr_split sp = {0};
  int rc = xr_split_prepare(&sp, c, b);
  while (!rc) {
    run_round(&sp);
    if (sp.first_failure) xr_topology_refresh(c, 0); /* a lost node: the map may have changed */
    int64_t wait_ms;
    if (!xr_split_next_round(&sp, &wait_ms)) break;
    if (wait_ms && (rc = xr_client_sleep(c, wait_ms))) {
      for (size_t i = 0; i < sp.n; i++)
        if (!sp.ops[i].done) fail_op(&sp, i, rc);
    }
  }
  if (!rc) rc = sp.first_failure;
  xr_split_free(&sp);
  return rc;
}
