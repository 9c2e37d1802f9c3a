/* Batches: operations encoded as RESP into one buffer when added, sent as one pipeline, answered
 * by one result each.
 *
 * Scripts: the first run of each script in a batch goes by EVAL (which also loads it), later runs
 * by EVALSHA. The server runs a pipeline in order, so the EVALSHAs always find the script, even
 * right after a restart, a failover or SCRIPT FLUSH; a NOSCRIPT fallback sent after the pipeline
 * would run those operations after the ones behind them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "net/batch_internal.h"
#include "net/client_internal.h"
#include "crossredis/client.h"
#include "base/decimal.h"
#include "base/internal.h"
#include "codec/resp.h"
#include "net/script_internal.h"

typedef struct op {
  size_t off, len;          /* the encoded command in b->wire */
  const xr_script *script;  /* a script run: re-encoded per node on a Cluster */
  xr_node *target;          /* the node it must run on (a SCAN of one master), or NULL: by slot */
  int status;
  redisReply *reply;
  const char *message;
  char *own_message;        /* a message of this operation alone (routed batches) */
} op;

struct xr_batch {
  xr_buf wire;
  op *ops;
  size_t n, cap;
  int ran;
  char *failure; /* the connection failure's message, shared by the ops it left without reply */
  const xr_script **scripts; /* the scripts this batch has sent by EVAL */
  size_t nscripts, scripts_cap;
  xr_txn txn;       /* MULTI/WATCH opened by the operations so far: closed before the batch runs */
  /* WAIT wait_replicas wait_ms at the end of each connection's pipeline (0: none); the fewest
   * acknowledgements any of those WAITs gave (-1: none answered yet) */
  int wait_replicas, wait_ms;
  long long wait_acked;
};

int xr_batch_new(xr_batch **out) {
  if (!out) return xr_fail(XR_EINVAL, "xr_batch_new: out is required");
  *out = xr_calloc(1, sizeof **out);
  return *out ? XR_OK : xr_fail_nomem();
}

static void reset_results(xr_batch *b) {
  for (size_t i = 0; i < b->n; i++) {
    if (b->ops[i].reply) freeReplyObject(b->ops[i].reply);
    b->ops[i].reply = NULL;
    b->ops[i].status = XR_OK;
    b->ops[i].message = NULL;
    xr_free(b->ops[i].own_message);
    b->ops[i].own_message = NULL;
  }
  xr_free(b->failure);
  b->failure = NULL;
  b->ran = 0;
  b->wait_acked = -1;
}

void xr_batch_clear(xr_batch *b) {
  if (!b) return;
  reset_results(b);
  for (size_t i = 0; i < b->n; i++) xr_node_release(b->ops[i].target);
  b->n = 0;
  b->wire.len = 0;
  b->wire.oom = 0;
  b->nscripts = 0;
  b->txn = (xr_txn){0, 0};
  b->wait_replicas = b->wait_ms = 0;
}

void xr_batch_free(xr_batch *b) {
  if (!b) return;
  xr_batch_clear(b);
  xr_buf_free(&b->wire);
  xr_free(b->ops);
  xr_free(b->scripts);
  xr_free(b);
}

size_t xr_batch_count(const xr_batch *b) { return b ? b->n : 0; }

static op *new_op(xr_batch *b) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 16;
    op *ops = xr_realloc(b->ops, cap * sizeof *ops);
    if (!ops) return NULL;
    b->ops = ops;
    b->cap = cap;
  }
  op *o = &b->ops[b->n];
  memset(o, 0, sizeof *o);
  o->off = b->wire.len;
  return o;
}

/* Seals the op just encoded, or rolls the buffer back when it ran out of memory. */
static int finish_op(xr_batch *b, op *o) {
  if (b->wire.oom) {
    b->wire.oom = 0;
    b->wire.len = o->off;
    return xr_fail_nomem();
  }
  o->len = b->wire.len - o->off;
  if (b->ran) reset_results(b);
  return (int)b->n++;
}

static int check(const xr_batch *b, int argc, const char *const *argv, int min, const char *fn) {
  if (!b) return xr_fail(XR_EINVAL, "%s: the batch is NULL", fn);
  if (argc < min || (argc && !argv)) return xr_fail(XR_EINVAL, "%s: %d arguments", fn, argc);
  for (int i = 0; i < argc; i++)
    if (!argv[i]) return xr_fail(XR_EINVAL, "%s: argument %d is NULL", fn, i);
  if (b->n >= (size_t)INT32_MAX) return xr_fail(XR_ERANGE, "%s: the batch is full", fn);
  return XR_OK;
}

int xr_batch_add_on(xr_batch *b, xr_node *node, int argc, const char *const *argv, const size_t *argvlen) {
  int idx = xr_batch_add(b, argc, argv, argvlen);
  if (idx >= 0 && node) {
    xr_node_retain(node);
    b->ops[idx].target = node;
  }
  return idx;
}

xr_node *xr_batch_op_target(const xr_batch *b, size_t i) { return b->ops[i].target; }

void xr_batch_wait_for(xr_batch *b, int replicas, int ms) {
  if (replicas > b->wait_replicas) b->wait_replicas = replicas;
  if (ms > b->wait_ms) b->wait_ms = ms;
}

int xr_batch_wait_wanted(const xr_batch *b) { return b->wait_replicas > 0; }

void xr_batch_wait_encode(const xr_batch *b, xr_buf *w) {
  char n[24], ms[24];
  const char *argv[3] = {"WAIT", n, ms};
  size_t lens[3] = {4, (size_t)snprintf(n, sizeof n, "%d", b->wait_replicas),
                    (size_t)snprintf(ms, sizeof ms, "%d", b->wait_ms)};
  xr_resp_command(w, 3, argv, lens);
}

void xr_batch_wait_reply(xr_batch *b, const redisReply *r) {
  /* an error (UNBLOCKED: a master demoted meanwhile) or a lost reply: nobody is known to have it */
  long long acked = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
  if (b->wait_acked < 0 || acked < b->wait_acked) b->wait_acked = acked;
}

long long xr_batch_wait_acked(const xr_batch *b) { return b->wait_acked; }

int xr_batch_add(xr_batch *b, int argc, const char *const *argv, const size_t *argvlen) {
  int code = check(b, argc, argv, 1, "xr_batch_add");
  if (code) return code;
  xr_txn txn = b->txn;
  if ((code = xr_check_pooled_command("xr_batch_add", argv[0], argvlen ? argvlen[0] : strlen(argv[0]),
                                      argc > 1 ? argv[1] : NULL, argc > 1 ? (argvlen ? argvlen[1] : strlen(argv[1])) : 0,
                                      &txn)))
    return code;
  op *o = new_op(b);
  if (!o) return xr_fail_nomem();
  xr_resp_command(&b->wire, argc, argv, argvlen);
  code = finish_op(b, o);
  if (code >= 0) b->txn = txn;
  return code;
}

static void put_script_head(xr_buf *w, const xr_script *s, int argc, int by_sha) {
  xr_resp_count(w, '*', (size_t)argc + 3);
  if (by_sha) {
    xr_resp_bulk(w, "EVALSHA", 7);
    xr_resp_bulk(w, s->sha1, 40);
  } else {
    xr_resp_bulk(w, "EVAL", 4);
    xr_resp_bulk(w, s->body, s->len);
  }
}

int xr_batch_add_eval(xr_batch *b, const xr_script *s, int numkeys, int argc, const char *const *argv,
                      const size_t *argvlen) {
  int code = check(b, argc, argv, 0, "xr_batch_add_eval");
  if (code) return code;
  if (!s) return xr_fail(XR_EINVAL, "xr_batch_add_eval: the script is NULL");
  if (numkeys < 0 || numkeys > argc) return xr_fail(XR_EINVAL, "xr_batch_add_eval: %d keys among %d arguments", numkeys, argc);
  /* EVAL the first time this batch runs s (see the top of this file). */
  int by_sha = 0;
  for (size_t i = 0; i < b->nscripts && !by_sha; i++) by_sha = b->scripts[i] == s;
  if (!by_sha && b->nscripts == b->scripts_cap) {
    size_t cap = b->scripts_cap ? b->scripts_cap * 2 : 4;
    const xr_script **scripts = xr_realloc(b->scripts, cap * sizeof *scripts);
    if (!scripts) return xr_fail_nomem();
    b->scripts = scripts;
    b->scripts_cap = cap;
  }
  op *o = new_op(b);
  if (!o) return xr_fail_nomem();
  put_script_head(&b->wire, s, argc, by_sha);
  char nk[XR_DEC_MAX];
  xr_resp_bulk(&b->wire, nk, xr_dec_u64(nk, (uint64_t)numkeys));
  for (int i = 0; i < argc; i++) xr_resp_bulk(&b->wire, argv[i], argvlen ? argvlen[i] : strlen(argv[i]));
  o->script = s;
  int idx = finish_op(b, o);
  if (idx >= 0 && !by_sha) b->scripts[b->nscripts++] = s;
  return idx;
}

void xr_batch_set_result(xr_batch *b, size_t i, redisReply *r) {
  op *o = &b->ops[i];
  o->reply = r;
  if (r->type == REDIS_REPLY_ERROR) {
    o->status = xr_reply_error_code(r->str, r->len);
    o->message = r->str;
  }
}

void xr_batch_fail_from(xr_batch *b, size_t k, int code) {
  if (!b->failure) {
    const char *msg = xr_error_last()->message;
    b->failure = xr_strndup(msg, strlen(msg));
  }
  for (; k < b->n; k++) {
    op *o = &b->ops[k];
    o->status = code;
    o->message = b->failure ? b->failure : xr_strerror(code);
  }
}

/* Reads one reply for each op, in order. */
static int read_replies(xr_client *c, xr_conn *conn, xr_batch *b, int *outcome) {
  for (size_t k = 0; k < b->n; k++) {
    void *r = NULL;
    errno = 0;
    if (redisGetReply(conn->rc, &r) != REDIS_OK || !r) {
      int lost;
      int code = xr_conn_error(c, conn, errno, &lost);
      *outcome = lost ? XR_CONN_LOST : XR_CONN_BROKEN;
      xr_batch_fail_from(b, k, code);
      return code;
    }
    xr_batch_set_result(b, k, r);
  }
  return XR_OK;
}

int xr_batch_check_closed(const xr_batch *b, const char *fn) { return xr_txn_check_closed(&b->txn, fn); }

void xr_batch_begin(xr_batch *b) {
  reset_results(b);
  b->ran = 1;
}

const char *xr_batch_wire(const xr_batch *b, size_t *len) {
  *len = b->wire.len;
  return b->wire.data;
}

void xr_batch_fail_op(xr_batch *b, size_t i, int code) {
  op *o = &b->ops[i];
  if (o->reply) freeReplyObject(o->reply);
  o->reply = NULL;
  o->status = code;
  xr_free(o->own_message);
  const char *msg = xr_error_last()->message;
  o->own_message = xr_strndup(msg, strlen(msg));
  o->message = o->own_message ? o->own_message : xr_strerror(code);
}

const char *xr_batch_op_wire(const xr_batch *b, size_t i, size_t *len, const xr_script **script) {
  *len = b->ops[i].len;
  if (script) *script = b->ops[i].script;
  return b->wire.data + b->ops[i].off;
}

const redisReply *xr_batch_op_reply(const xr_batch *b, size_t i) { return b->ops[i].reply; }

void xr_batch_clear_op(xr_batch *b, size_t i) {
  op *o = &b->ops[i];
  if (o->reply) freeReplyObject(o->reply);
  o->reply = NULL;
  o->status = XR_OK;
  o->message = NULL;
}

int xr_batch_take_reply(xr_batch *b, size_t i, xr_reply **out) {
  if (i >= b->n || !b->ran) return xr_fail(XR_EINVAL, "xr_batch_take_reply: no result %zu", i);
  op *o = &b->ops[i];
  if (o->status) return xr_fail(o->status, "%s", o->message ? o->message : xr_strerror(o->status));
  if (!o->reply) return xr_fail(XR_EPROTOCOL, "xr_batch_take_reply: no reply %zu", i);
  redisReply *r = o->reply;
  o->reply = NULL;
  return xr_reply_deliver(r, out);
}

int xr_client_exec(xr_client *c, xr_batch *b) {
  if (!c || !b) return xr_fail(XR_EINVAL, "xr_client_exec: client and batch are required");
  int code = xr_batch_check_closed(b, "xr_client_exec");
  if (code) return code;
  xr_batch_begin(b);
  if (b->n == 0) return XR_OK;
  if (c->topo.kind != XR_TOPOLOGY_STANDALONE) return xr_batch_exec_routed(c, b);
  xr_conn *conn;
  code = xr_pool_get(c, c->topo.master, &conn);
  if (code != XR_OK) {
    xr_batch_fail_from(b, 0, code);
    return code;
  }
  int outcome = XR_CONN_OK;
  xr_buf wait = XR_BUF_INIT;
  if (b->wait_replicas) xr_batch_wait_encode(b, &wait);
  if (wait.oom || redisAppendFormattedCommand(conn->rc, b->wire.data, b->wire.len) != REDIS_OK ||
      (wait.len && redisAppendFormattedCommand(conn->rc, wait.data, wait.len) != REDIS_OK)) {
    code = xr_fail_nomem();
    outcome = XR_CONN_BROKEN;
    xr_batch_fail_from(b, 0, code);
  } else {
    code = read_replies(c, conn, b, &outcome);
    if (!code && wait.len) { /* the WAIT behind the pipeline: its count, or none when it is lost */
      void *r = NULL;
      errno = 0;
      if (redisGetReply(conn->rc, &r) != REDIS_OK || !r) {
        int lost;
        xr_conn_error(c, conn, errno, &lost);
        outcome = lost ? XR_CONN_LOST : XR_CONN_BROKEN;
      }
      xr_batch_wait_reply(b, r);
      if (r) freeReplyObject(r);
    }
  }
  xr_buf_free(&wait);
  xr_pool_put(c, conn, outcome);
  return code;
}

int xr_batch_result(const xr_batch *b, size_t i, const xr_reply **reply, const char **message) {
  if (reply) *reply = NULL;
  if (message) *message = NULL;
  if (!b || i >= b->n) return xr_fail(XR_EINVAL, "xr_batch_result: no operation %zu", i);
  if (!b->ran) return xr_fail(XR_EINVAL, "xr_batch_result: the batch has not run");
  const op *o = &b->ops[i];
  if (o->status == XR_OK) {
    if (reply) *reply = (const xr_reply *)o->reply;
    return XR_OK;
  }
  if (message) *message = o->message;
  return o->status;
}
