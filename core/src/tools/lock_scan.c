/* The lock scan (lock_scan.h): the tools' value scan (tools/value_scan.h) of "<prefix>:lock:". */
#include <stdlib.h>
#include <string.h>

#include "crossredis/keys.h"
#include "crossredis/lock_scan.h"
#include "crossredis/scan.h"
#include "base/decimal.h"
#include "base/internal.h"
#include "tools/value_scan.h"

enum { DEFAULT_COUNT = 1000 };

struct xr_lock_list {
  xr_lock_entry *v;
  size_t n, cap;
  size_t scanned;
};

static void free_entry(xr_lock_entry *e) {
  xr_free((char *)e->key);
  xr_free((char *)e->token);
}

void xr_lock_list_free(xr_lock_list *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) free_entry(&l->v[i]);
  xr_free(l->v);
  xr_free(l);
}

size_t xr_lock_list_count(const xr_lock_list *l) { return l ? l->n : 0; }

const xr_lock_entry *xr_lock_list_at(const xr_lock_list *l, size_t i) { return l && i < l->n ? &l->v[i] : NULL; }

size_t xr_lock_list_scanned(const xr_lock_list *l) { return l ? l->scanned : 0; }

static int by_thread_then_key(const void *a, const void *b) {
  const xr_lock_entry *x = a, *y = b;
  size_t n = x->thread_len < y->thread_len ? x->thread_len : y->thread_len;
  int d = memcmp(x->thread, y->thread, n);
  if (d) return d;
  return x->thread_len < y->thread_len ? -1 : x->thread_len > y->thread_len;
}

/* Sorts and drops the repeats SCAN may return (a key seen twice is the same lock). */
static void sort_unique(xr_lock_list *l) {
  if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, by_thread_then_key);
  size_t w = 0;
  for (size_t r = 0; r < l->n; r++) {
    if (w > 0 && l->v[w - 1].key_len == l->v[r].key_len && !memcmp(l->v[w - 1].key, l->v[r].key, l->v[r].key_len)) {
      free_entry(&l->v[r]);
      continue;
    }
    l->v[w++] = l->v[r];
  }
  l->n = w;
}

/* Appends one lock; the key's first `skip` bytes are "<prefix>:lock:". */
static int add_lock(xr_lock_list *out, const char *key, size_t key_len, size_t skip, const char *token,
                    size_t token_len, int64_t ttl_ms) {
  if (out->n == out->cap) {
    size_t cap = out->cap ? out->cap * 2 : 64;
    xr_lock_entry *v = xr_realloc(out->v, cap * sizeof *v);
    if (!v) return xr_fail_nomem();
    out->v = v;
    out->cap = cap;
  }
  xr_lock_entry *e = &out->v[out->n];
  char *k = xr_strndup(key, key_len), *t = xr_strndup(token, token_len);
  if (!k || !t) {
    xr_free(k);
    xr_free(t);
    return xr_fail_nomem();
  }
  xr_chat_token_info info;
  xr_chat_origin origin = xr_chat_origin_of(&info, t, token_len);
  *e = (xr_lock_entry){.key = k, .key_len = key_len, .thread = k + skip, .thread_len = key_len - skip,
                       .token = t, .token_len = token_len, .ttl_ms = ttl_ms, .origin = origin,
                       .shape = info.shape_of, .origins = xr_chat_origins(t, token_len)};
  out->n++;
  return XR_OK;
}

typedef struct scan_ctx {
  xr_lock_list *out;
  const xr_lock_scan_options *o;
  size_t skip;
} scan_ctx;

static int on_key(void *ctx, const char *key, size_t key_len, const char *value, size_t value_len, int64_t ttl_ms) {
  scan_ctx *sc = ctx;
  if (!value) { /* not a string, so not a lock */
    if (sc->o->skipped) sc->o->skipped(sc->o->skipped_ctx, key, key_len);
    return XR_OK;
  }
  return add_lock(sc->out, key, key_len, sc->skip, value, value_len, ttl_ms);
}

static size_t found(void *ctx) { return ((scan_ctx *)ctx)->out->n; }

/* The keys that start with "<prefix>:lock:" (tools/value_scan.h). */
static int scan(xr_lock_list *out, xr_client *c, const xr_lock_scan_options *o, const char *prefix, int count) {
  size_t plen = strlen(prefix);
  char *literal = xr_malloc(plen + 7);
  if (!literal) return xr_fail_nomem();
  memcpy(literal, prefix, plen);
  memcpy(literal + plen, ":lock:", 7);
  scan_ctx ctx = {out, o, plen + 6};
  xr_value_scan vs = {c, count, o->exec, o->exec_ctx, "lock scan", o->progress, o->progress_ctx, on_key, &ctx, found};
  int rc = xr_value_scan_run(&vs, literal, plen + 6, &out->scanned);
  xr_free(literal);
  return rc;
}

int xr_lock_scan(xr_lock_list **out, xr_client *c, const xr_lock_scan_options *options) {
  if (!out) return xr_fail(XR_EINVAL, "xr_lock_scan: out is required");
  *out = NULL;
  xr_lock_scan_options o = XR_LOCK_SCAN_OPTIONS_INIT;
  if (options) {
    if (options->version != XR_LOCK_SCAN_OPTIONS_VERSION)
      return xr_fail(XR_EINVAL, "xr_lock_scan: options version %u, expected %u (use XR_LOCK_SCAN_OPTIONS_INIT)",
                     options->version, XR_LOCK_SCAN_OPTIONS_VERSION);
    o = *options;
  }
  if (!c && !o.exec) return xr_fail(XR_EINVAL, "xr_lock_scan: a client or an exec callback is required");
  if (o.count < 0) return xr_fail(XR_EINVAL, "xr_lock_scan: count must be 0 (the default, 1000) or more, got %d", o.count);
  const char *prefix = o.prefix ? o.prefix : "chat-sdk";
  xr_lock_list *l = xr_calloc(1, sizeof *l);
  if (!l) return xr_fail_nomem();
  int rc = scan(l, c, &o, prefix, o.count ? o.count : DEFAULT_COUNT);
  if (rc) {
    xr_lock_list_free(l);
    return rc;
  }
  sort_unique(l);
  *out = l;
  return XR_OK;
}

/* ---- who holds them ---------------------------------------------------------------------------- */

/* The order of a set in summaries: its first writer as xr_chat_origin_of names it (crossredis
 * for a two-writer set), unknown after every known one; then certain before uncertain. */
static unsigned set_rank(unsigned origins) {
  xr_chat_origin first = (origins & XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_CROSSREDIS)) ? XR_CHAT_ORIGIN_CROSSREDIS : XR_CHAT_ORIGIN_UNKNOWN;
  for (unsigned o = 0; first == XR_CHAT_ORIGIN_UNKNOWN && o < 32; o++)
    if (origins & XR_CHAT_ORIGIN_BIT(o)) first = (xr_chat_origin)o;
  unsigned primary = first == XR_CHAT_ORIGIN_UNKNOWN ? 64u : (unsigned)first;
  return primary * 2 + (xr_lock_origins_uncertain(origins) ? 1u : 0u);
}

static int by_rank(const void *a, const void *b) {
  const xr_lock_origin_count *x = a, *y = b;
  unsigned rx = set_rank(x->origins), ry = set_rank(y->origins);
  if (rx != ry) return rx < ry ? -1 : 1;
  return x->origins < y->origins ? -1 : x->origins > y->origins;
}

size_t xr_lock_list_count_origins(const xr_lock_list *l, xr_lock_origin_count *out, size_t cap) {
  xr_lock_origin_count sets[XR_LOCK_ORIGIN_SETS_MAX];
  size_t n = 0;
  for (size_t i = 0; i < xr_lock_list_count(l); i++) {
    size_t k = 0;
    while (k < n && sets[k].origins != l->v[i].origins) k++;
    if (k == n) {
      if (n == XR_LOCK_ORIGIN_SETS_MAX) continue; /* cannot happen: xr_chat_origins gives 13 sets */
      sets[n++] = (xr_lock_origin_count){l->v[i].origins, 0};
    }
    sets[k].n++;
  }
  qsort(sets, n, sizeof *sets, by_rank);
  if (out) memcpy(out, sets, (n < cap ? n : cap) * sizeof *out);
  return n;
}
