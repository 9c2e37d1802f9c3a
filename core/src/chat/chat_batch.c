/* Batches of Chat SDK operations: the generic batch of net/ops.h over the chat system, with the
 * typed adders (one per row of chat.def) and the typed accessors of chat.h. */
#include <string.h>

#include "chat/chat_internal.h"

static xr_client *chat_client(const xr_chat *s) { return s->client; }

XR_OPS_BATCH_DEFINE(chat, xr_chat, chat_client)

/* The typed adders: one per row, packing its arguments in the row's order. */
#define XR_CHAT_OP(ID, name, wire, result, args) XR_OPS_BATCH_ADDER(chat, CHAT, ID, name, args)
#include "crossredis/chat.def"
#undef XR_CHAT_OP

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
