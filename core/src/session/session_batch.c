/* Batches of session operations: the generic batch of net/ops.h over the session system, with the
 * typed adders (one per row of session.def). */
#include <string.h>

#include "crossredis/session.h"
#include "net/ops.h"

extern const xr_system session_system;

struct xr_session_batch {
  xr_ops_batch *ops;
};

int xr_session_batch_new(xr_session_batch **out, xr_session_storage *s) {
  if (!out || !s) return xr_fail(XR_EINVAL, "xr_session_batch_new: out and the session storage are required");
  *out = NULL;
  xr_session_batch *sb = xr_calloc(1, sizeof *sb);
  if (!sb) return xr_fail_nomem();
  int rc = xr_ops_batch_new(&sb->ops, &session_system, s, xr_session_storage_client(s));
  if (rc) {
    xr_free(sb);
    return rc;
  }
  *out = sb;
  return XR_OK;
}

void xr_session_batch_clear(xr_session_batch *sb) {
  if (sb) xr_ops_batch_clear(sb->ops);
}

void xr_session_batch_free(xr_session_batch *sb) {
  if (!sb) return;
  xr_ops_batch_free(sb->ops);
  xr_free(sb);
}

size_t xr_session_batch_count(const xr_session_batch *sb) { return sb ? xr_ops_batch_count(sb->ops) : 0; }

int xr_session_batch_add(xr_session_batch *sb, int op, const xr_arg *args, size_t nargs) {
  if (!sb) return xr_fail(XR_EINVAL, "session batch: the batch is NULL");
  return xr_ops_batch_add(sb->ops, op, args, nargs);
}

#define XR_SESSION_OP(ID, name, wire, result, args)                           \
  int xr_session_batch_##name(xr_session_batch *sb, XR_OP_PARAMS(args)) {    \
    if (!sb) return xr_fail(XR_EINVAL, "session batch: the batch is NULL");  \
    const xr_arg a[] = {XR_OP_MAP(XR_OP_VALUE, args)};                       \
    return xr_ops_batch_add_row(sb->ops, XR_SESSION_OP_##ID, a);             \
  }
#include "crossredis/session.def"
#undef XR_SESSION_OP

int xr_session_batch_exec(xr_session_batch *sb) {
  if (!sb) return xr_fail(XR_EINVAL, "xr_session_batch_exec: the batch is NULL");
  return xr_ops_batch_exec(sb->ops);
}

int xr_session_batch_start(xr_session_batch *sb, xr_loop_conn *lc, int *wait) {
  if (!sb) return xr_fail(XR_EINVAL, "xr_session_batch_start: the batch is NULL");
  return xr_ops_batch_start(sb->ops, lc, wait);
}

size_t xr_session_batch_reply_size(const xr_session_batch *sb, size_t i) {
  return sb ? xr_ops_batch_reply_size(sb->ops, i) : 0;
}

int xr_session_batch_result(const xr_session_batch *sb, size_t i, xr_result *out) {
  if (!out) return xr_fail(XR_EINVAL, "xr_session_batch_result: out is required");
  if (!sb) {
    memset(out, 0, sizeof *out);
    return xr_fail(XR_EINVAL, "session batch: the batch is NULL");
  }
  return xr_ops_batch_result(sb->ops, i, out);
}
