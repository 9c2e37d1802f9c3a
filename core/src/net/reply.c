/* Replies are hiredis reply objects handed to the caller as they are: no copy on the hot path.
 * Also: what an error reply means (its code), and the depth guard on the reader. */
#include <string.h>

#include <hiredis/hiredis.h>

#include "net/client_internal.h"
#include "crossredis/client.h"

#define R(r) ((const redisReply *)(r))

void xr_reply_free(xr_reply *r) {
  if (r) freeReplyObject(r);
}

xr_reply_type xr_reply_kind(const xr_reply *r) { return (xr_reply_type)R(r)->type; }

const char *xr_reply_str(const xr_reply *r, size_t *len) {
  switch (R(r)->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
    case REDIS_REPLY_DOUBLE:
    case REDIS_REPLY_VERB:
    case REDIS_REPLY_BIGNUM:
      if (len) *len = R(r)->len;
      return R(r)->str;
    default:
      if (len) *len = 0;
      return NULL;
  }
}

long long xr_reply_integer(const xr_reply *r) {
  int t = R(r)->type;
  return t == REDIS_REPLY_INTEGER || t == REDIS_REPLY_BOOL ? R(r)->integer : 0;
}

size_t xr_reply_count(const xr_reply *r) {
  int t = R(r)->type;
  return t == REDIS_REPLY_ARRAY || t == REDIS_REPLY_MAP || t == REDIS_REPLY_SET || t == REDIS_REPLY_PUSH
             ? R(r)->elements
             : 0;
}

const xr_reply *xr_reply_at(const xr_reply *r, size_t i) {
  return i < xr_reply_count(r) ? (const xr_reply *)R(r)->element[i] : NULL;
}

/* ---- error replies ------------------------------------------------------------------------------ */

int xr_reply_error_code(const char *text, size_t len) {
#define STARTS(p) (len >= sizeof(p) - 1 && memcmp(text, p, sizeof(p) - 1) == 0)
  if (STARTS("WRONGPASS") || STARTS("NOAUTH")) return XR_EAUTH;
  if (STARTS("WRONGTYPE")) return XR_EWRONGTYPE;
  if (STARTS("CROSSSLOT")) return XR_ECROSSSLOT;
  if (STARTS("CLUSTERDOWN") || STARTS("TRYAGAIN")) return XR_ECLUSTERDOWN;
  if (STARTS("READONLY")) return XR_EREADONLY;
  if (STARTS("NOREPLICAS")) return XR_ENOREPLICAS;
  if (STARTS("LOADING")) return XR_ELOADING;
  return XR_ESERVER;
#undef STARTS
}

int xr_reply_error(const redisReply *r) {
  return xr_fail(xr_reply_error_code(r->str, r->len), "%.*s", (int)(r->len > 900 ? 900 : r->len), r->str);
}

int xr_is_noscript(const redisReply *r) {
  return r->type == REDIS_REPLY_ERROR && r->len >= 8 && !memcmp(r->str, "NOSCRIPT", 8);
}

/* Hands a reply to the caller, or turns an error reply into its code. */
int xr_reply_deliver(redisReply *r, xr_reply **out) {
  if (r->type == REDIS_REPLY_ERROR) {
    int code = xr_reply_error(r);
    freeReplyObject(r);
    return code;
  }
  if (out) *out = (xr_reply *)r;
  else freeReplyObject(r);
  return XR_OK;
}

/* ---- the depth guard ---------------------------------------------------------------------------- */

/* An aggregate's task knows its parents: depth is their count plus one. */
static void *guarded_array(const redisReadTask *task, size_t elements) {
  xr_reply_guard *g = task->privdata;
  int depth = 1;
  for (const redisReadTask *p = task->parent; p; p = p->parent) {
    if (++depth > XR_REPLY_MAX_DEPTH) {
      g->too_deep = 1;
      return NULL;
    }
  }
  return g->base->createArray(task, elements);
}

void xr_reply_guard_install(xr_reply_guard *g, redisReader *r) {
  g->base = r->fn;
  g->fns = *r->fn;
  g->fns.createArray = guarded_array;
  g->too_deep = 0;
  r->fn = &g->fns;
  r->privdata = g;
}

int xr_reply_guard_tripped(const redisReader *r) {
  const xr_reply_guard *g = r ? r->privdata : NULL;
  return g && r->fn == &g->fns && g->too_deep;
}
