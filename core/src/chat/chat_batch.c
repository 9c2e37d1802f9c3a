/* Batches of Chat SDK operations: each is built as the sequential call builds it, added to one
 * pipeline, and its reply decoded by the same decoder. */
#include <string.h>

#include "chat/chat_internal.h"
#include "base/internal.h"

typedef struct chat_op {
  int op;                  /* XR_CHAT_OP_* */
  const char *name;        /* the command, for messages */
  const xr_script *script;
  size_t key_off, key_len; /* the key, in b->keys */
  xr_chat_lock lock;       /* acquire_lock: the token sent */
} chat_op;

struct xr_chat_batch {
  xr_chat *s;
  xr_batch *b;
  chat_op *ops;
  size_t n, cap;
  xr_buf keys;
  int ran;
};

int xr_chat_batch_new(xr_chat_batch **out, xr_chat *s) {
  if (!out || !s) return xr_fail(XR_EINVAL, "xr_chat_batch_new: out and the state adapter are required");
  *out = NULL;
  xr_chat_batch *cb = xr_calloc(1, sizeof *cb);
  if (!cb) return xr_fail_nomem();
  int rc = xr_batch_new(&cb->b);
  if (rc) {
    xr_free(cb);
    return rc;
  }
  cb->s = s;
  *out = cb;
  return XR_OK;
}

void xr_chat_batch_clear(xr_chat_batch *cb) {
  if (!cb) return;
  xr_batch_clear(cb->b);
  cb->n = 0;
  cb->keys.len = 0;
  cb->ran = 0;
}

void xr_chat_batch_free(xr_chat_batch *cb) {
  if (!cb) return;
  xr_batch_free(cb->b);
  xr_free(cb->ops);
  xr_buf_free(&cb->keys);
  xr_free(cb);
}

size_t xr_chat_batch_count(const xr_chat_batch *cb) { return cb ? cb->n : 0; }

/* The rows of chat.def as the bindings and drivers read them. */
static const xr_op_info chat_ops[XR_CHAT_OP_COUNT] = {
#define XR_CHAT_OP(ID, name, wire, result, args)                                                   \
  [XR_CHAT_OP_##ID] = {XR_CHAT_OP_##ID, #name, wire, XR_RESULT_##result, XR_OP_NARGS(args), \
                       {XR_OP_MAP(XR_OP_KIND, args)}, {XR_OP_MAP(XR_OP_NAME, args)}},
#include "crossredis/chat.def"
#undef XR_CHAT_OP
};

const xr_op_info *xr_chat_op_at(int op) {
  return op >= 0 && op < XR_CHAT_OP_COUNT ? &chat_ops[op] : NULL;
}

/* Builds row op's command from a and adds it to the pipeline, recording how to decode its reply. */
static int add(xr_chat_batch *cb, int op, const xr_arg *a) {
  chat_cmd c_;
  memset(&c_, 0, sizeof c_);
  chat_cmd *c = &c_;
  int rc = chat_builders[op](c, cb->s, a);
  if (rc == XR_OK && cb->n == cb->cap) {
    size_t cap = cb->cap ? cb->cap * 2 : 16;
    chat_op *ops = xr_realloc(cb->ops, cap * sizeof *ops);
    if (!ops) rc = xr_fail_nomem();
    else cb->ops = ops, cb->cap = cap;
  }
  if (rc == XR_OK) {
    size_t off = cb->keys.len;
    xr_buf_append(&cb->keys, c->key.data, c->key.len);
    if (cb->keys.oom) {
      cb->keys.oom = 0;
      cb->keys.len = off;
      rc = xr_fail_nomem();
    } else {
      int idx = c->script ? xr_batch_add_eval(cb->b, c->script, c->numkeys, c->argc, c->argv, c->lens)
                          : xr_batch_add(cb->b, c->argc, c->argv, c->lens);
      if (idx < 0) {
        cb->keys.len = off;
        rc = idx;
      } else {
        chat_op *o = &cb->ops[cb->n];
        memset(o, 0, sizeof *o);
        o->op = op;
        o->name = c->script ? "a script" : c->argv[0];
        o->script = c->script;
        o->key_off = off;
        o->key_len = c->key.len;
        o->lock = c->lock;
        rc = (int)cb->n++;
        cb->ran = 0;
      }
    }
  }
  chat_cmd_free(c);
  return rc;
}

int xr_chat_batch_add(xr_chat_batch *cb, int op, const xr_arg *args, size_t nargs) {
  if (!cb) return xr_fail(XR_EINVAL, "chat batch: the batch is NULL");
  int rc = chat_check_args(op, nargs);
  if (rc) return rc;
  if (nargs && !args) return xr_fail(XR_EINVAL, "chat.%s: the arguments are NULL", chat_ops[op].name);
  for (size_t i = 0; i < nargs; i++)
    if (chat_ops[op].arg_kinds[i] != XR_ARG_INT && !args[i].data && args[i].len)
      return xr_fail(XR_EINVAL, "chat.%s: %s is NULL with a length", chat_ops[op].name, chat_ops[op].arg_names[i]);
  return add(cb, op, args);
}

/* The typed adders: one per row, packing its arguments in the row's order. */
#define XR_CHAT_OP(ID, name, wire, result, args)                                  \
  int xr_chat_batch_##name(xr_chat_batch *cb, XR_OP_PARAMS(args)) {              \
    if (!cb) return xr_fail(XR_EINVAL, "chat batch: the batch is NULL");        \
    const xr_arg a[] = {XR_OP_MAP(XR_OP_VALUE, args)};                          \
    return add(cb, XR_CHAT_OP_##ID, a);                                         \
  }
#include "crossredis/chat.def"
#undef XR_CHAT_OP

int xr_chat_batch_exec(xr_chat_batch *cb) {
  if (!cb) return xr_fail(XR_EINVAL, "xr_chat_batch_exec: the batch is NULL");
  cb->ran = 1;
  return xr_client_exec(cb->s->client, cb->b);
}

int xr_chat_batch_start(xr_chat_batch *cb, xr_loop_conn *lc, int *wait) {
  if (!cb) return xr_fail(XR_EINVAL, "xr_chat_batch_start: the batch is NULL");
  int refused = !lc || xr_loop_conn_busy(lc) || xr_loop_conn_broken(lc);
  int rc = xr_loop_conn_start(lc, cb->b, wait);
  if (!refused) cb->ran = 1;
  return rc;
}

/* The reply of operation i decoded by its row's result kind, or its failure with the key named. */
int xr_chat_batch_result(const xr_chat_batch *cb, size_t i, xr_result *out) {
  if (!out) return xr_fail(XR_EINVAL, "xr_chat_batch_result: out is required");
  memset(out, 0, sizeof *out);
  if (!cb || i >= cb->n) return xr_fail(XR_EINVAL, "chat batch: no operation %zu", i);
  if (!cb->ran) return xr_fail(XR_EINVAL, "chat batch: the batch has not run");
  const chat_op *o = &cb->ops[i];
  chat_cmd ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.key.data = cb->keys.data + o->key_off;
  ctx.key.len = o->key_len;
  ctx.argv[0] = o->name;
  ctx.script = o->script;
  ctx.lock = o->lock;
  out->kind = chat_ops[o->op].result;
  const xr_reply *r;
  const char *msg = NULL;
  int rc = xr_batch_result(cb->b, i, &r, &msg);
  if (rc) {
    xr_fail(rc, "%s", msg ? msg : xr_strerror(rc));
    return chat_name_key(&ctx, rc);
  }
  rc = chat_decode(&ctx, cb->s, out->kind, r, out);
  /* a lock's token lives in the batch's op, not in the stack copy */
  if (out->kind == XR_RESULT_LOCK && out->nfields) out->fields[0].data = o->lock.token;
  return rc;
}

/* The typed accessors: the generic result, checked for the kind the caller expects. */
static int typed(const xr_chat_batch *cb, size_t i, xr_result_kind want, xr_result *res) {
  if (cb && i < cb->n && chat_ops[cb->ops[i].op].result != want) {
    memset(res, 0, sizeof *res);
    return xr_fail(XR_EINVAL, "chat batch: operation %zu is of another kind", i);
  }
  return xr_chat_batch_result(cb, i, res);
}

int xr_chat_batch_status(const xr_chat_batch *cb, size_t i) {
  xr_result res;
  int rc = xr_chat_batch_result(cb, i, &res);
  xr_result_clear(&res);
  return rc;
}

int xr_chat_batch_bool(const xr_chat_batch *cb, size_t i, bool *out) {
  xr_result res;
  int rc = typed(cb, i, XR_RESULT_BOOL, &res);
  if (rc == XR_OK && out) *out = res.present;
  return rc;
}

int xr_chat_batch_lock(const xr_chat_batch *cb, size_t i, bool *acquired, xr_chat_lock *lock) {
  xr_result res;
  int rc = typed(cb, i, XR_RESULT_LOCK, &res);
  if (rc == XR_OK && acquired) *acquired = res.present;
  if (rc == XR_OK && res.present && lock) *lock = cb->ops[i].lock;
  return rc;
}

int xr_chat_batch_integer(const xr_chat_batch *cb, size_t i, long long *out) {
  xr_result res;
  int rc = typed(cb, i, XR_RESULT_INTEGER, &res);
  if (rc == XR_OK && out) *out = res.integer;
  return rc;
}

int xr_chat_batch_value(const xr_chat_batch *cb, size_t i, char **value, size_t *value_len) {
  if (!value) return xr_fail(XR_EINVAL, "xr_chat_batch_value: value is required");
  *value = NULL;
  xr_result res;
  int rc = typed(cb, i, XR_RESULT_VALUE, &res);
  return rc ? rc : chat_copy_value(&res, value, value_len);
}

int xr_chat_batch_list(const xr_chat_batch *cb, size_t i, const xr_reply **items) {
  if (!items) return xr_fail(XR_EINVAL, "xr_chat_batch_list: items is required");
  *items = NULL;
  xr_result res;
  int rc = typed(cb, i, XR_RESULT_LIST, &res);
  if (rc == XR_OK) *items = res.list;
  return rc;
}

int xr_chat_batch_entry(const xr_chat_batch *cb, size_t i, bool *found, xr_chat_queue_entry *e) {
  if (!e) return xr_fail(XR_EINVAL, "xr_chat_batch_entry: the entry is required");
  memset(e, 0, sizeof *e);
  if (found) *found = false;
  xr_result res;
  int rc = typed(cb, i, XR_RESULT_ENTRY, &res);
  if (rc == XR_OK || rc == XR_EPARSE) chat_take_entry(&res, found, e);
  xr_result_clear(&res);
  return rc;
}
