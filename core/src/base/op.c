/* What every system's operation table shares: the shapes of the result kinds (op.h). */
#include <string.h>

#include "base/internal.h"
#include "crossredis/op.h"

static const xr_result_shape shapes[XR_RESULT_KIND_COUNT] = {
    {XR_RESULT_STATUS, "status", 0, {0}, {0}},
    {XR_RESULT_BOOL, "bool", 0, {0}, {0}},
    {XR_RESULT_INTEGER, "integer", 0, {0}, {0}},
    {XR_RESULT_VALUE, "value", 1, {XR_ARG_TEXT}, {"value"}},
    {XR_RESULT_LIST, "list", 0, {0}, {0}},
    {XR_RESULT_LOCK, "lock", 2, {XR_ARG_TEXT, XR_ARG_INT}, {"token", "expires_at_ms"}},
    {XR_RESULT_ENTRY, "entry", 4, {XR_ARG_TEXT, XR_ARG_INT, XR_ARG_INT, XR_ARG_BYTES},
     {"message", "enqueued_at_ms", "expires_at_ms", "raw"}},
    {XR_RESULT_SESSION, "session", 7,
     {XR_ARG_TEXT, XR_ARG_TEXT, XR_ARG_TEXT, XR_ARG_TEXT, XR_ARG_TEXT, XR_ARG_TEXT, XR_ARG_BYTES},
     {"id", "type", "created_at", "updated_at", "data", "metadata", "raw"}},
    {XR_RESULT_MAP, "map", 2, {XR_ARG_TEXT, XR_ARG_BYTES}, {"json", "raw"}},
};

const xr_result_shape *xr_result_shape_of(xr_result_kind kind) {
  return (unsigned)kind < XR_RESULT_KIND_COUNT ? &shapes[kind] : NULL;
}

void xr_result_clear(xr_result *r) {
  if (!r) return;
  xr_free(r->owned_[0]);
  xr_free(r->owned_[1]);
  xr_reply_free(r->reply_);
  memset(r, 0, sizeof *r);
}

char *xr_result_take_field(xr_result *r, size_t i) {
  if (!r || i >= r->nfields || !r->fields[i].data) return NULL;
  for (size_t k = 0; k < 2; k++) {
    if (r->owned_[k] && r->owned_[k] == r->fields[i].data) {
      char *p = r->owned_[k];
      r->owned_[k] = NULL;
      return p;
    }
  }
  char *p = xr_strndup(r->fields[i].data, r->fields[i].len);
  if (!p) xr_fail_nomem();
  return p;
}
