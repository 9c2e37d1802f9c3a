/* The session scan (session_scan.h): the tools' value scan (tools/value_scan.h) of a toolhive
 * prefix, each value read as a session record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "crossredis/session.h"
#include "crossredis/session_scan.h"
#include "tools/value_scan.h"

struct xr_session_list {
  xr_session_entry *v;
  size_t n, cap;
  size_t scanned;
};

static void free_entry(xr_session_entry *e) {
  xr_free((char *)e->key);
  xr_free((char *)e->error);
  xr_session_record_clear(&e->record);
}

void xr_session_list_free(xr_session_list *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) free_entry(&l->v[i]);
  xr_free(l->v);
  xr_free(l);
}

size_t xr_session_list_count(const xr_session_list *l) { return l ? l->n : 0; }
const xr_session_entry *xr_session_list_at(const xr_session_list *l, size_t i) { return l && i < l->n ? &l->v[i] : NULL; }
size_t xr_session_list_scanned(const xr_session_list *l) { return l ? l->scanned : 0; }

typedef struct scan_ctx {
  xr_session_list *out;
  size_t skip;
  xr_go_version go;
} scan_ctx;

static int on_key(void *ctx, const char *key, size_t key_len, const char *value, size_t value_len, int64_t ttl_ms) {
  scan_ctx *sc = ctx;
  xr_session_list *l = sc->out;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    xr_session_entry *v = xr_realloc(l->v, cap * sizeof *v);
    if (!v) return xr_fail_nomem();
    l->v = v;
    l->cap = cap;
  }
  xr_session_entry *e = &l->v[l->n];
  memset(e, 0, sizeof *e);
  char *k = xr_strndup(key, key_len);
  if (!k) return xr_fail_nomem();
  e->key = k;
  e->key_len = key_len;
  e->id = k + sc->skip;
  e->id_len = key_len - sc->skip;
  e->ttl_ms = ttl_ms;
  if (!value) {
    e->error = xr_strndup("not a string (WRONGTYPE): not a session record", 47);
  } else if (xr_session_read(&e->record, value, value_len, sc->go) == XR_OK) {
    e->ok = true;
    for (size_t i = 0; i < e->record.s.metadata_count; i++) {
      const xr_session_pair *p = &e->record.s.metadata[i];
      if (p->key_len == strlen(XR_SESSION_BINDING_KEY) && !memcmp(p->key, XR_SESSION_BINDING_KEY, p->key_len)) {
        e->owner = p->value;
        e->owner_len = p->value_len;
      }
    }
  } else {
    const char *why = xr_error_last()->message;
    e->error = xr_strndup(why, strlen(why));
  }
  if (!e->ok && !e->error) {
    xr_free(k);
    return xr_fail_nomem();
  }
  l->n++;
  return XR_OK;
}

static size_t found(void *ctx) { return ((scan_ctx *)ctx)->out->n; }

static int by_key(const void *a, const void *b) {
  const xr_session_entry *x = a, *y = b;
  size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
  int d = memcmp(x->key, y->key, n);
  return d ? d : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

int xr_session_scan(xr_session_list **out, xr_client *c, const xr_session_scan_options *options) {
  if (!out) return xr_fail(XR_EINVAL, "xr_session_scan: out is required");
  *out = NULL;
  xr_session_scan_options o = XR_SESSION_SCAN_OPTIONS_INIT;
  if (options) {
    if (options->version != XR_SESSION_SCAN_OPTIONS_VERSION)
      return xr_fail(XR_EINVAL, "xr_session_scan: options version %u, expected %u (use XR_SESSION_SCAN_OPTIONS_INIT)",
                     options->version, XR_SESSION_SCAN_OPTIONS_VERSION);
    o = *options;
  }
  if (!c && !o.exec) return xr_fail(XR_EINVAL, "xr_session_scan: a client or an exec callback is required");
  if (o.count < 0) return xr_fail(XR_EINVAL, "xr_session_scan: count must be 0 (the default, 1000) or more, got %d", o.count);
  const char *prefix = o.prefix ? o.prefix : XR_SESSION_PROXY_PREFIX;
  xr_session_options so = XR_SESSION_OPTIONS_INIT; /* toolhive's rules for a prefix */
  so.key_prefix = prefix;
  so.go = o.go;
  int rc = xr_session_options_check(&so);
  if (rc) return rc;
  xr_session_list *l = xr_calloc(1, sizeof *l);
  if (!l) return xr_fail_nomem();
  scan_ctx ctx = {l, strlen(prefix), o.go};
  xr_value_scan vs = {c, o.count ? o.count : 1000, o.exec, o.exec_ctx, "session scan", o.progress, o.progress_ctx,
                      on_key, &ctx, found};
  rc = xr_value_scan_run(&vs, prefix, strlen(prefix), &l->scanned);
  if (rc) {
    xr_session_list_free(l);
    return rc;
  }
  if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, by_key);
  size_t w = 0; /* SCAN may return a key twice */
  for (size_t r = 0; r < l->n; r++) {
    if (w && !by_key(&l->v[w - 1], &l->v[r])) free_entry(&l->v[r]);
    else l->v[w++] = l->v[r];
  }
  l->n = w;
  *out = l;
  return XR_OK;
}
