/* Running the rows of a system's operation table: build, run, decode by result kind; alone or in
 * batches. The systems (chat/, ...) give builders; this file is the rest (net/ops.h). */
#include <stdio.h>
#include <string.h>

#include "net/ops.h"
#include "net/batch_internal.h"
#include "net/client_internal.h"
#include "base/decimal.h"
#include "crossredis/alloc.h"
#include "crossredis/keys.h"

/* ---- commands --------------------------------------------------------------------------------- */

void xr_cmd_free(xr_cmd *c) {
  if (c->key.heap) xr_free(c->key.heap);
  if (c->key2.heap) xr_free(c->key2.heap);
  if (c->key3.heap) xr_free(c->key3.heap);
  if (c->key4.heap) xr_free(c->key4.heap);
  xr_free(c->owned);
  memset(c, 0, sizeof *c);
}

/* <prefix>:<kind>[:<id>], the id between braces when tag. */
static int key_make(xr_cmd_key *k, const char *prefix, size_t prefix_len, const char *kind, const char *id,
                    size_t id_len, int tag) {
  size_t kind_len = strlen(kind);
  size_t n = prefix_len + 1 + kind_len + (id ? 1 + id_len : 0) + (tag ? 2 : 0);
  char *p = k->small;
  if (n >= sizeof k->small) {
    if (!(k->heap = xr_malloc(n + 1))) return xr_fail_nomem();
    p = k->heap;
  }
  char *w = p;
  memcpy(w, prefix, prefix_len), w += prefix_len;
  *w++ = ':';
  memcpy(w, kind, kind_len), w += kind_len;
  if (id) {
    *w++ = ':';
    if (tag) *w++ = '{';
    memcpy(w, id, id_len), w += id_len;
    if (tag) *w++ = '}';
  }
  *w = '\0';
  k->data = p;
  k->len = n;
  return XR_OK;
}

int xr_cmd_key_make(xr_cmd_key *k, const char *prefix, size_t prefix_len, const char *kind, const char *id,
                    size_t id_len) {
  return key_make(k, prefix, prefix_len, kind, id, id_len, 0);
}

int xr_cmd_key_make_tag(xr_cmd_key *k, const char *prefix, size_t prefix_len, const char *kind, const char *id,
                        size_t id_len) {
  return key_make(k, prefix, prefix_len, kind, id, id_len, 1);
}

int xr_cmd_key_concat(xr_cmd_key *k, const char *prefix, size_t prefix_len, const char *id, size_t id_len) {
  size_t n = prefix_len + id_len;
  char *p = k->small;
  if (n >= sizeof k->small) {
    if (!(k->heap = xr_malloc(n + 1))) return xr_fail_nomem();
    p = k->heap;
  }
  if (prefix_len) memcpy(p, prefix, prefix_len); /* prefix may be NULL when empty */
  if (id_len) memcpy(p + prefix_len, id, id_len);
  p[n] = '\0';
  k->data = p;
  k->len = n;
  return XR_OK;
}

void xr_cmd_arg(xr_cmd *c, const char *p, size_t n) {
  c->argv[c->argc] = p;
  c->lens[c->argc] = n;
  c->argc++;
}

void xr_cmd_arg_str(xr_cmd *c, const char *p) { xr_cmd_arg(c, p, strlen(p)); }

void xr_cmd_arg_num(xr_cmd *c, int slot, long long v) {
  size_t n = xr_dec_i64(c->num[slot], v);
  c->num[slot][n] = '\0';
  xr_cmd_arg(c, c->num[slot], n);
}

/* ---- the table -------------------------------------------------------------------------------- */

const xr_op_info *xr_ops_row(const xr_system *sys, int op) {
  return op >= 0 && op < sys->nops ? &sys->ops[op] : NULL;
}

int xr_ops_slot(const xr_system *sys, const void *self, int op, const xr_arg *args, size_t nargs) {
  const xr_op_info *info = xr_ops_row(sys, op);
  if (!sys->row_key || !info || nargs != info->nargs || (nargs && !args)) return -1;
  xr_cmd_key k = {0};
  int slot = sys->row_key(&k, self, op, args) == XR_OK ? (int)xr_key_slot(k.data, k.len) : -1;
  xr_free(k.heap);
  return slot;
}

int xr_ops_check_args(const xr_system *sys, int op, const xr_arg *args, size_t nargs) {
  const xr_op_info *info = xr_ops_row(sys, op);
  if (!info) return xr_fail(XR_EINVAL, "%s: no operation %d", sys->name, op);
  if (nargs != info->nargs) {
    char names[128] = "";
    size_t w = 0;
    for (size_t i = 0; i < info->nargs && w < sizeof names; i++)
      w += (size_t)snprintf(names + w, sizeof names - w, "%s%s", i ? ", " : "", info->arg_names[i]);
    return xr_fail(XR_EINVAL, "%s.%s: %zu argument%s (%s), got %zu", sys->name, info->name, info->nargs,
                   info->nargs == 1 ? "" : "s", names, nargs);
  }
  if (nargs && !args) return xr_fail(XR_EINVAL, "%s.%s: the arguments are NULL", sys->name, info->name);
  for (size_t i = 0; i < nargs; i++)
    if (info->arg_kinds[i] != XR_ARG_INT && !args[i].data && args[i].len)
      return xr_fail(XR_EINVAL, "%s.%s: %s is NULL with a length", sys->name, info->name, info->arg_names[i]);
  return XR_OK;
}

/* ---- replies ---------------------------------------------------------------------------------- */

static int unexpected(const xr_cmd *c, const xr_reply *r) {
  return xr_fail(XR_EPROTOCOL, "%.*s: unexpected reply (type %d) to %s", (int)c->key.len, c->key.data,
                 (int)xr_reply_kind(r), c->script ? "a script" : c->argv[0]);
}

/* BOOL reads an integer 1 (SISMEMBER, a script's DEL or PEXPIRE, LREM) or SET NX's OK / nil;
 * LOCK is SET NX's answer with the token the command made. */
int xr_ops_decode(const xr_system *sys, const void *self, const xr_cmd *c, xr_result_kind kind, const xr_reply *r,
                  xr_result *out) {
  memset(out, 0, sizeof *out);
  out->kind = kind;
  out->present = true;
  xr_reply_type t = xr_reply_kind(r);
  if (c->nil_code && t == XR_REPLY_NIL) {
    out->present = false;
    return xr_fail(c->nil_code, "%.*s: %s", (int)(c->key.len > 200 ? 200 : c->key.len), c->key.data, c->nil_msg);
  }
  switch (kind) {
    case XR_RESULT_STATUS:
      return XR_OK;
    case XR_RESULT_BOOL:
      if (t == XR_REPLY_INTEGER) out->present = xr_reply_integer(r) == 1;
      else if (t == XR_REPLY_STATUS || t == XR_REPLY_NIL) out->present = t == XR_REPLY_STATUS;
      else return unexpected(c, r);
      return XR_OK;
    case XR_RESULT_INTEGER:
      if (t != XR_REPLY_INTEGER) return unexpected(c, r);
      out->integer = xr_reply_integer(r);
      return XR_OK;
    case XR_RESULT_VALUE:
      if (t == XR_REPLY_NIL) return out->present = false, XR_OK;
      if (t != XR_REPLY_STRING) return unexpected(c, r);
      out->nfields = 1;
      out->fields[0].data = xr_reply_str(r, &out->fields[0].len);
      return XR_OK;
    case XR_RESULT_LIST:
      if (t != XR_REPLY_ARRAY) return unexpected(c, r);
      out->list = r;
      return XR_OK;
    case XR_RESULT_LOCK:
      if (t != XR_REPLY_STATUS && t != XR_REPLY_NIL) return unexpected(c, r);
      if (t == XR_REPLY_NIL) return out->present = false, XR_OK;
      out->nfields = 2;
      out->fields[0] = XR_ARG_OF_TEXT(c->made, c->made_len);
      out->fields[1] = XR_ARG_OF_INT(c->made_num);
      return XR_OK;
    default:
      if (sys->decode) return sys->decode(c, self, kind, r, out);
      return xr_fail(XR_EINVAL, "%s: unknown result kind %d", sys->name, (int)kind);
  }
}

/* ---- running ---------------------------------------------------------------------------------- */

int xr_ops_name_key(const xr_system *sys, const xr_cmd *c, int rc) {
  char msg[768];
  snprintf(msg, sizeof msg, "%s", xr_error_last()->message);
  const char *hint = (rc == XR_EIO || rc == XR_ETIMEOUT) && sys->lost_reply_hint ? sys->lost_reply_hint(c) : NULL;
  return xr_fail(rc, "%.*s: %s%s%s", (int)(c->key.len > 200 ? 200 : c->key.len), c->key.data, msg, hint ? "; " : "",
                 hint ? hint : "");
}

int xr_ops_run(const xr_system *sys, xr_client *client, xr_cmd *c, xr_reply **r) {
  xr_wait w = {c->wait_replicas, c->wait_ms, 0};
  int rc = c->script ? xr_client_eval_wait(client, r, c->script, c->numkeys, c->argc, c->argv, c->lens, &w)
                     : xr_client_command_wait(client, r, c->argc, c->argv, c->lens, &w);
  c->acked = w.acked;
  return rc ? xr_ops_name_key(sys, c, rc) : XR_OK;
}

/* A success that fewer replicas than asked acknowledged (xr_system.unacked). */
static int unacked(const xr_system *sys, const void *self, xr_client *client, const xr_cmd *c, int op, int sequential) {
  if (sys->unacked) return sys->unacked(c, self, client, op, sequential);
  return xr_fail(XR_ENOREPLICAS, "%s: %lld of %d replicas acknowledged within %d ms", sys->ops[op].name, c->acked,
                 c->wait_replicas, c->wait_ms);
}

int xr_ops_call_keep(const xr_system *sys, const void *self, xr_client *client, int op, const xr_arg *a,
                     xr_cmd *c, xr_reply **r, xr_result *out) {
  memset(c, 0, sizeof *c);
  return xr_ops_call_prepared(sys, self, client, op, a, c, r, out);
}

int xr_ops_call_prepared(const xr_system *sys, const void *self, xr_client *client, int op, const xr_arg *a,
                         xr_cmd *c, xr_reply **r, xr_result *out) {
  memset(out, 0, sizeof *out);
  *r = NULL;
  int rc = sys->build[op](c, self, a);
  if (rc == XR_OK) rc = xr_ops_run(sys, client, c, r);
  if (rc == XR_OK) rc = xr_ops_decode(sys, self, c, sys->ops[op].result, *r, out);
  if (rc == XR_OK && c->wait_replicas > 0 && out->present && c->acked < c->wait_replicas) {
    rc = unacked(sys, self, client, c, op, 1);
    out->present = false;
  }
  return rc;
}

void xr_ops_call_end(xr_cmd *c, xr_reply *r, xr_result *out) {
  xr_result_clear(out);
  xr_reply_free(r);
  xr_cmd_free(c);
}

int xr_ops_call(const xr_system *sys, const void *self, xr_client *client, int op, const xr_arg *args,
                size_t nargs, xr_result *out) {
  if (!out) return xr_fail(XR_EINVAL, "%s: the result is required", sys->name);
  memset(out, 0, sizeof *out);
  int rc = xr_ops_check_args(sys, op, args, nargs);
  if (rc) return rc;
  xr_cmd c;
  xr_reply *r;
  rc = xr_ops_call_keep(sys, self, client, op, args, &c, &r, out);
  if (out->kind == XR_RESULT_LOCK && out->nfields) { /* the token lives in the command: copy it */
    if (!(out->owned_[0] = xr_strndup(c.made, c.made_len))) rc = xr_fail_nomem();
    out->fields[0].data = out->owned_[0];
  }
  out->reply_ = r; /* VALUE and LIST borrow from it */
  xr_cmd_free(&c);
  if (rc && rc != XR_EPARSE) xr_result_clear(out);
  return rc;
}

/* ---- batches ---------------------------------------------------------------------------------- */

typedef struct ops_entry {
  int op;
  size_t at;               /* its index in the xr_batch */
  int wait_replicas, wait_ms; /* a write the batch's WAIT must cover (0: none) */
  const char *name;        /* the command, for messages */
  const xr_script *script;
  size_t key_off, key_len; /* the key, in b->keys */
  char made[XR_TOKEN_MAX]; /* what the command made (a lock's token) */
  size_t made_len;
  int64_t made_num;
  int nil_code;            /* xr_cmd's */
  const char *nil_msg;
} ops_entry;

struct xr_ops_batch {
  const xr_system *sys;
  const void *self;
  xr_client *client;
  xr_batch *b;
  ops_entry *ops;
  size_t n, cap;
  xr_buf keys;
  int ran;
};

int xr_ops_batch_new(xr_ops_batch **out, const xr_system *sys, const void *self, xr_client *client) {
  *out = NULL;
  xr_ops_batch *ob = xr_calloc(1, sizeof *ob);
  if (!ob) return xr_fail_nomem();
  int rc = xr_batch_new(&ob->b);
  if (rc) {
    xr_free(ob);
    return rc;
  }
  ob->sys = sys;
  ob->self = self;
  ob->client = client;
  *out = ob;
  return XR_OK;
}

void xr_ops_batch_clear(xr_ops_batch *ob) {
  if (!ob) return;
  xr_batch_clear(ob->b);
  ob->n = 0;
  ob->keys.len = 0;
  ob->ran = 0;
}

void xr_ops_batch_free(xr_ops_batch *ob) {
  if (!ob) return;
  xr_batch_free(ob->b);
  xr_free(ob->ops);
  xr_buf_free(&ob->keys);
  xr_free(ob);
}

size_t xr_ops_batch_count(const xr_ops_batch *ob) { return ob ? ob->n : 0; }

int xr_ops_batch_add_row(xr_ops_batch *ob, int op, const xr_arg *a) {
  xr_cmd c;
  memset(&c, 0, sizeof c);
  int rc = ob->sys->build[op](&c, ob->self, a);
  if (rc == XR_OK && ob->n == ob->cap) {
    size_t cap = ob->cap ? ob->cap * 2 : 16;
    ops_entry *ops = xr_realloc(ob->ops, cap * sizeof *ops);
    if (!ops) rc = xr_fail_nomem();
    else ob->ops = ops, ob->cap = cap;
  }
  if (rc == XR_OK) {
    size_t off = ob->keys.len;
    xr_buf_append(&ob->keys, c.key.data, c.key.len);
    if (ob->keys.oom) {
      ob->keys.oom = 0;
      ob->keys.len = off;
      rc = xr_fail_nomem();
    } else {
      int idx = c.script ? xr_batch_add_eval(ob->b, c.script, c.numkeys, c.argc, c.argv, c.lens)
                         : xr_batch_add(ob->b, c.argc, c.argv, c.lens);
      /* one WAIT at the end of each connection's pipeline covers every write before it */
      if (idx >= 0 && c.wait_replicas > 0) xr_batch_wait_for(ob->b, c.wait_replicas, c.wait_ms);
      if (idx < 0) {
        ob->keys.len = off;
        rc = idx;
      } else {
        ops_entry *o = &ob->ops[ob->n];
        memset(o, 0, sizeof *o);
        o->op = op;
        o->at = (size_t)idx;
        o->wait_replicas = c.wait_replicas;
        o->wait_ms = c.wait_ms;
        o->name = c.script ? "a script" : c.argv[0];
        o->script = c.script;
        o->key_off = off;
        o->key_len = c.key.len;
        memcpy(o->made, c.made, c.made_len);
        o->made_len = c.made_len;
        o->made_num = c.made_num;
        o->nil_code = c.nil_code;
        o->nil_msg = c.nil_msg;
        rc = (int)ob->n++;
        ob->ran = 0;
      }
    }
  }
  xr_cmd_free(&c);
  return rc;
}

int xr_ops_batch_add(xr_ops_batch *ob, int op, const xr_arg *args, size_t nargs) {
  int rc = xr_ops_check_args(ob->sys, op, args, nargs);
  return rc ? rc : xr_ops_batch_add_row(ob, op, args);
}

int xr_ops_batch_exec(xr_ops_batch *ob) {
  ob->ran = 1;
  return xr_client_exec(ob->client, ob->b);
}

int xr_ops_batch_start(xr_ops_batch *ob, xr_loop_conn *lc, int *wait) {
  int refused = !lc || xr_loop_conn_busy(lc) || xr_loop_conn_broken(lc);
  int rc = xr_loop_conn_start(lc, ob->b, wait);
  if (!refused) ob->ran = 1;
  return rc;
}

int xr_ops_batch_op(const xr_ops_batch *ob, size_t i) { return ob && i < ob->n ? ob->ops[i].op : -1; }

static size_t reply_size(const xr_reply *r) {
  xr_reply_type t = r ? xr_reply_kind(r) : XR_REPLY_NIL;
  size_t n = 0;
  if (t == XR_REPLY_STRING) {
    xr_reply_str(r, &n);
  } else if (t == XR_REPLY_ARRAY || t == XR_REPLY_SET || t == XR_REPLY_MAP) {
    for (size_t k = 0; k < xr_reply_count(r); k++) n += reply_size(xr_reply_at(r, k));
  }
  return n;
}

size_t xr_ops_batch_reply_size(const xr_ops_batch *ob, size_t i) {
  const xr_reply *r;
  const char *msg = NULL;
  if (!ob || i >= ob->n || !ob->ran || xr_batch_result(ob->b, ob->ops[i].at, &r, &msg)) return 0;
  return reply_size(r);
}

int xr_ops_batch_result(const xr_ops_batch *ob, size_t i, xr_result *out) {
  memset(out, 0, sizeof *out);
  const char *sys = ob ? ob->sys->name : "batch";
  if (!ob || i >= ob->n) return xr_fail(XR_EINVAL, "%s batch: no operation %zu", sys, i);
  if (!ob->ran) return xr_fail(XR_EINVAL, "%s batch: the batch has not run", sys);
  const ops_entry *o = &ob->ops[i];
  xr_cmd ctx; /* what the decoders and messages read of the command */
  memset(&ctx, 0, sizeof ctx);
  ctx.key.data = ob->keys.data + o->key_off;
  ctx.key.len = o->key_len;
  ctx.argv[0] = o->name;
  ctx.script = o->script;
  out->kind = ob->sys->ops[o->op].result;
  const xr_reply *r;
  const char *msg = NULL;
  int rc = xr_batch_result(ob->b, o->at, &r, &msg);
  if (rc) {
    xr_fail(rc, "%s", msg ? msg : xr_strerror(rc));
    return xr_ops_name_key(ob->sys, &ctx, rc);
  }
  memcpy(ctx.made, o->made, o->made_len);
  ctx.made_len = o->made_len;
  ctx.made_num = o->made_num;
  ctx.nil_code = o->nil_code;
  ctx.nil_msg = o->nil_msg;
  rc = xr_ops_decode(ob->sys, ob->self, &ctx, out->kind, r, out);
  if (rc == XR_OK && o->wait_replicas > 0 && out->present) { /* the replicas' count, from the batch's WAITs */
    ctx.wait_replicas = o->wait_replicas;
    ctx.wait_ms = o->wait_ms;
    ctx.acked = xr_batch_wait_acked(ob->b);
    if (ctx.acked < 0) ctx.acked = 0;
    if (ctx.acked < o->wait_replicas) rc = unacked(ob->sys, ob->self, ob->client, &ctx, o->op, 0);
    if (rc) {
      out->present = false;
      return xr_ops_name_key(ob->sys, &ctx, rc);
    }
  }
  /* a made token lives in the batch, not in the stack copy */
  if (out->kind == XR_RESULT_LOCK && out->nfields) out->fields[0].data = o->made;
  return rc;
}

int xr_ops_batch_result_of(const xr_ops_batch *ob, size_t i, xr_result_kind want, xr_result *out) {
  if (ob && i < ob->n && ob->sys->ops[ob->ops[i].op].result != want) {
    memset(out, 0, sizeof *out);
    return xr_fail(XR_EINVAL, "%s batch: operation %zu is of another kind", ob->sys->name, i);
  }
  return xr_ops_batch_result(ob, i, out);
}
