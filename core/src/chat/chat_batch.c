/* Batches of Chat SDK operations: each is built as the sequential call builds it, added to one
 * pipeline, and its reply decoded by the same decoder. */
#include <string.h>

#include "chat/chat_internal.h"
#include "base/internal.h"

typedef enum op_kind { OP_STATUS, OP_BOOL, OP_SET_NX, OP_LOCK, OP_INTEGER, OP_VALUE, OP_LIST, OP_ENTRY } op_kind;

typedef struct chat_op {
  op_kind kind;
  const char *name;        /* the command, for messages */
  const xr_script *script;
  size_t key_off, key_len; /* the key, in b->keys */
  xr_chat_lock lock;       /* acquire: the token sent */
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

/* Adds a built command (or passes on the build's failure) and records how to decode its reply. */
static int add(xr_chat_batch *cb, chat_cmd *c, int rc, op_kind kind, const xr_chat_lock *lock) {
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
        o->kind = kind;
        o->name = c->script ? "a script" : c->argv[0];
        o->script = c->script;
        o->key_off = off;
        o->key_len = c->key.len;
        if (lock) o->lock = *lock;
        rc = (int)cb->n++;
        cb->ran = 0;
      }
    }
  }
  chat_cmd_free(c);
  return rc;
}

#define ADD(build_call, kind, lock)                                                         \
  if (!cb) return xr_fail(XR_EINVAL, "chat batch: the batch is NULL");                    \
  chat_cmd c_;                                                                              \
  memset(&c_, 0, sizeof c_);                                                                \
  chat_cmd *c = &c_;                                                                        \
  const xr_chat *s = cb->s;                                                                 \
  return add(cb, c, (build_call), kind, lock)

int xr_chat_batch_subscribe(xr_chat_batch *cb, const char *thread_id, size_t len) {
  ADD(chat_build_subscription(c, s, "SADD", thread_id, len), OP_STATUS, NULL);
}
int xr_chat_batch_unsubscribe(xr_chat_batch *cb, const char *thread_id, size_t len) {
  ADD(chat_build_subscription(c, s, "SREM", thread_id, len), OP_STATUS, NULL);
}
int xr_chat_batch_is_subscribed(xr_chat_batch *cb, const char *thread_id, size_t len) {
  ADD(chat_build_subscription(c, s, "SISMEMBER", thread_id, len), OP_BOOL, NULL);
}
int xr_chat_batch_acquire_lock(xr_chat_batch *cb, const char *thread_id, size_t len, int64_t ttl_ms) {
  xr_chat_lock lock;
  ADD(chat_build_acquire(c, s, &lock, thread_id, len, ttl_ms), OP_LOCK, &lock);
}
int xr_chat_batch_release_lock(xr_chat_batch *cb, const char *thread_id, size_t len, const char *token,
                               size_t token_len) {
  ADD(chat_build_release(c, s, thread_id, len, token, token_len), OP_BOOL, NULL);
}
int xr_chat_batch_extend_lock(xr_chat_batch *cb, const char *thread_id, size_t len, const char *token,
                              size_t token_len, int64_t ttl_ms) {
  ADD(chat_build_extend(c, s, thread_id, len, token, token_len, ttl_ms), OP_BOOL, NULL);
}
int xr_chat_batch_force_release_lock(xr_chat_batch *cb, const char *thread_id, size_t len) {
  ADD(chat_build_force_release(c, s, thread_id, len), OP_STATUS, NULL);
}
int xr_chat_batch_get(xr_chat_batch *cb, const char *key, size_t key_len) {
  ADD(chat_build_get(c, s, key, key_len), OP_VALUE, NULL);
}
int xr_chat_batch_set(xr_chat_batch *cb, const char *key, size_t key_len, const char *json, size_t json_len,
                      int64_t ttl_ms) {
  ADD(chat_build_set(c, s, key, key_len, json, json_len, ttl_ms, 0), OP_STATUS, NULL);
}
int xr_chat_batch_set_if_not_exists(xr_chat_batch *cb, const char *key, size_t key_len, const char *json,
                                    size_t json_len, int64_t ttl_ms) {
  ADD(chat_build_set(c, s, key, key_len, json, json_len, ttl_ms, 1), OP_SET_NX, NULL);
}
int xr_chat_batch_delete(xr_chat_batch *cb, const char *key, size_t key_len) {
  ADD(chat_build_delete(c, s, key, key_len), OP_STATUS, NULL);
}
int xr_chat_batch_append_to_list(xr_chat_batch *cb, const char *key, size_t key_len, const char *json,
                                 size_t json_len, long max_length, int64_t ttl_ms) {
  ADD(chat_build_append(c, s, key, key_len, json, json_len, max_length, ttl_ms), OP_STATUS, NULL);
}
int xr_chat_batch_get_list(xr_chat_batch *cb, const char *key, size_t key_len) {
  ADD(chat_build_get_list(c, s, key, key_len), OP_LIST, NULL);
}
int xr_chat_batch_enqueue(xr_chat_batch *cb, const char *thread_id, size_t len, const char *message_json,
                          size_t message_len, int64_t enqueued_at_ms, int64_t expires_at_ms, long max_size) {
  ADD(chat_build_enqueue(c, s, thread_id, len, message_json, message_len, enqueued_at_ms, expires_at_ms, max_size),
      OP_INTEGER, NULL);
}
int xr_chat_batch_dequeue(xr_chat_batch *cb, const char *thread_id, size_t len) {
  ADD(chat_build_dequeue(c, s, thread_id, len), OP_ENTRY, NULL);
}
int xr_chat_batch_dequeue_reliable(xr_chat_batch *cb, const char *thread_id, size_t len) {
  ADD(chat_build_dequeue_reliable(c, s, thread_id, len), OP_ENTRY, NULL);
}
int xr_chat_batch_ack(xr_chat_batch *cb, const char *thread_id, size_t len, const char *raw, size_t raw_len) {
  ADD(chat_build_ack(c, s, thread_id, len, raw, raw_len), OP_BOOL, NULL);
}
int xr_chat_batch_requeue_processing(xr_chat_batch *cb, const char *thread_id, size_t len) {
  ADD(chat_build_requeue(c, s, thread_id, len), OP_INTEGER, NULL);
}
int xr_chat_batch_queue_depth(xr_chat_batch *cb, const char *thread_id, size_t len) {
  ADD(chat_build_queue_depth(c, s, thread_id, len), OP_INTEGER, NULL);
}

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

/* The reply of operation i when it is of `kind` (ctx describes it for the decoders), or its
 * failure, with the key named. */
static int result(const xr_chat_batch *cb, size_t i, op_kind kind, chat_cmd *ctx, const xr_reply **r) {
  if (!cb || i >= cb->n) return xr_fail(XR_EINVAL, "chat batch: no operation %zu", i);
  const chat_op *o = &cb->ops[i];
  if (o->kind != kind) return xr_fail(XR_EINVAL, "chat batch: operation %zu is of another kind", i);
  if (!cb->ran) return xr_fail(XR_EINVAL, "chat batch: the batch has not run");
  memset(ctx, 0, sizeof *ctx);
  ctx->key.data = cb->keys.data + o->key_off;
  ctx->key.len = o->key_len;
  ctx->argv[0] = o->name;
  ctx->script = o->script;
  const char *msg = NULL;
  int rc = xr_batch_result(cb->b, i, r, &msg);
  if (rc) {
    xr_fail(rc, "%s", msg ? msg : xr_strerror(rc));
    return chat_name_key(ctx, rc);
  }
  return XR_OK;
}

int xr_chat_batch_status(const xr_chat_batch *cb, size_t i) {
  if (!cb || i >= cb->n) return xr_fail(XR_EINVAL, "chat batch: no operation %zu", i);
  chat_cmd ctx;
  const xr_reply *r;
  return result(cb, i, cb->ops[i].kind, &ctx, &r);
}

int xr_chat_batch_bool(const xr_chat_batch *cb, size_t i, bool *out) {
  chat_cmd ctx;
  const xr_reply *r;
  if (cb && i < cb->n && cb->ops[i].kind == OP_SET_NX) {
    int rc = result(cb, i, OP_SET_NX, &ctx, &r);
    return rc ? rc : chat_decode_set_nx(&ctx, r, out);
  }
  int rc = result(cb, i, OP_BOOL, &ctx, &r);
  return rc ? rc : chat_decode_int1(&ctx, r, out);
}

int xr_chat_batch_lock(const xr_chat_batch *cb, size_t i, bool *acquired, xr_chat_lock *lock) {
  chat_cmd ctx;
  const xr_reply *r;
  int rc = result(cb, i, OP_LOCK, &ctx, &r);
  if (rc == XR_OK) rc = chat_decode_set_nx(&ctx, r, acquired);
  if (rc == XR_OK && *acquired && lock) *lock = cb->ops[i].lock;
  return rc;
}

int xr_chat_batch_integer(const xr_chat_batch *cb, size_t i, long long *out) {
  chat_cmd ctx;
  const xr_reply *r;
  int rc = result(cb, i, OP_INTEGER, &ctx, &r);
  return rc ? rc : chat_decode_integer(&ctx, r, out);
}

int xr_chat_batch_value(const xr_chat_batch *cb, size_t i, char **value, size_t *value_len) {
  if (!value) return xr_fail(XR_EINVAL, "xr_chat_batch_value: value is required");
  *value = NULL;
  chat_cmd ctx;
  const xr_reply *r;
  int rc = result(cb, i, OP_VALUE, &ctx, &r);
  return rc ? rc : chat_decode_value(&ctx, r, value, value_len);
}

int xr_chat_batch_list(const xr_chat_batch *cb, size_t i, const xr_reply **items) {
  if (!items) return xr_fail(XR_EINVAL, "xr_chat_batch_list: items is required");
  chat_cmd ctx;
  int rc = result(cb, i, OP_LIST, &ctx, items);
  if (rc == XR_OK && xr_reply_kind(*items) != XR_REPLY_ARRAY) {
    *items = NULL;
    return xr_fail(XR_EPROTOCOL, "%.*s: LRANGE did not answer an array", (int)ctx.key.len, ctx.key.data);
  }
  return rc;
}

int xr_chat_batch_entry(const xr_chat_batch *cb, size_t i, bool *found, xr_chat_queue_entry *e) {
  if (!e) return xr_fail(XR_EINVAL, "xr_chat_batch_entry: the entry is required");
  memset(e, 0, sizeof *e);
  chat_cmd ctx;
  const xr_reply *r;
  int rc = result(cb, i, OP_ENTRY, &ctx, &r);
  return rc ? rc : chat_decode_entry(&ctx, cb->s, r, found, e);
}
