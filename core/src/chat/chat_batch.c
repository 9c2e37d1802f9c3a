/* Batches of Chat SDK operations: the generic batch of net/ops.h over the chat system, with the
 * typed adders (one per row of chat.def) and the typed accessors of chat.h. */
#include <string.h>

#include "chat/chat_internal.h"

struct xr_chat_batch {
  xr_chat *s;
  xr_ops_batch *ops;
};

int xr_chat_batch_new(xr_chat_batch **out, xr_chat *s) {
  if (!out || !s) return xr_fail(XR_EINVAL, "xr_chat_batch_new: out and the state adapter are required");
  *out = NULL;
  xr_chat_batch *cb = xr_calloc(1, sizeof *cb);
  if (!cb) return xr_fail_nomem();
  int rc = xr_ops_batch_new(&cb->ops, &chat_system, s, s->client);
  if (rc) {
    xr_free(cb);
    return rc;
  }
  cb->s = s;
  *out = cb;
  return XR_OK;
}

void xr_chat_batch_clear(xr_chat_batch *cb) {
  if (cb) xr_ops_batch_clear(cb->ops);
}

void xr_chat_batch_free(xr_chat_batch *cb) {
  if (!cb) return;
  xr_ops_batch_free(cb->ops);
  xr_free(cb);
}

size_t xr_chat_batch_count(const xr_chat_batch *cb) { return cb ? xr_ops_batch_count(cb->ops) : 0; }

int xr_chat_batch_add(xr_chat_batch *cb, int op, const xr_arg *args, size_t nargs) {
  if (!cb) return xr_fail(XR_EINVAL, "chat batch: the batch is NULL");
  return xr_ops_batch_add(cb->ops, op, args, nargs);
}

/* The typed adders: one per row, packing its arguments in the row's order. */
#define XR_CHAT_OP(ID, name, wire, result, args)                           \
  int xr_chat_batch_##name(xr_chat_batch *cb, XR_OP_PARAMS(args)) {       \
    if (!cb) return xr_fail(XR_EINVAL, "chat batch: the batch is NULL"); \
    const xr_arg a[] = {XR_OP_MAP(XR_OP_VALUE, args)};                   \
    return xr_ops_batch_add_row(cb->ops, XR_CHAT_OP_##ID, a);            \
  }
#include "crossredis/chat.def"
#undef XR_CHAT_OP

int xr_chat_batch_exec(xr_chat_batch *cb) {
  if (!cb) return xr_fail(XR_EINVAL, "xr_chat_batch_exec: the batch is NULL");
  return xr_ops_batch_exec(cb->ops);
}

int xr_chat_batch_start(xr_chat_batch *cb, xr_loop_conn *lc, int *wait) {
  if (!cb) return xr_fail(XR_EINVAL, "xr_chat_batch_start: the batch is NULL");
  return xr_ops_batch_start(cb->ops, lc, wait);
}

size_t xr_chat_batch_reply_size(const xr_chat_batch *cb, size_t i) {
  return cb ? xr_ops_batch_reply_size(cb->ops, i) : 0;
}

int xr_chat_batch_result(const xr_chat_batch *cb, size_t i, xr_result *out) {
  if (!out) return xr_fail(XR_EINVAL, "xr_chat_batch_result: out is required");
  if (!cb) return memset(out, 0, sizeof *out), xr_fail(XR_EINVAL, "chat batch: no operation %zu", i);
  return xr_ops_batch_result(cb->ops, i, out);
}

/* The typed accessors: the generic result, checked for the kind the caller expects. */
static int typed(const xr_chat_batch *cb, size_t i, xr_result_kind want, xr_result *res) {
  if (!cb) return memset(res, 0, sizeof *res), xr_fail(XR_EINVAL, "chat batch: no operation %zu", i);
  return xr_ops_batch_result_of(cb->ops, i, want, res);
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
  if (acquired) *acquired = false;
  xr_result res;
  int rc = typed(cb, i, XR_RESULT_LOCK, &res);
  if (rc == XR_OK && acquired) *acquired = res.present;
  if (rc == XR_OK && res.present && lock) chat_lock_of(lock, &res);
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
