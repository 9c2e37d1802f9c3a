/* xp's listings, clears and info (xp.h): SCAN every master under one of the store's key prefixes
 * (net/prefix_scan.h: the prefix escaped, never KEYS), page by page, one command per key. */
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "crossredis/alloc.h"
#include "net/prefix_scan.h"
#include "xp/xp_internal.h"

enum { SCAN_COUNT = 256 };

static bool xp_is_string(const xr_reply *r) { return r && xr_reply_kind(r) == XR_REPLY_STRING; }

/* ---- lists -------------------------------------------------------------------------------------- */

typedef struct item {
  size_t id_off, id_len, val_off, val_len;
  bool has_val;
  const char *id, *val; /* set once the list is complete (the buffer moves while it grows) */
} item;

struct xr_xp_list {
  xr_buf buf;
  item *items;
  size_t n, cap;
};

size_t xr_xp_list_count(const xr_xp_list *l) { return l ? l->n : 0; }

void xr_xp_list_free(xr_xp_list *l) {
  if (!l) return;
  xr_buf_free(&l->buf);
  xr_free(l->items);
  xr_free(l);
}

static int list_add(xr_xp_list *l, const char *id, size_t id_len, const char *val, size_t val_len, bool has_val) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    item *items = xr_realloc(l->items, cap * sizeof *items);
    if (!items) return xr_fail_nomem();
    l->items = items;
    l->cap = cap;
  }
  item *it = &l->items[l->n++];
  memset(it, 0, sizeof *it);
  it->id_off = l->buf.len;
  it->id_len = id_len;
  xr_buf_append(&l->buf, id, id_len);
  it->val_off = l->buf.len;
  it->val_len = val_len;
  it->has_val = has_val;
  xr_buf_append(&l->buf, val, val_len);
  return l->buf.oom ? xr_fail_nomem() : XR_OK;
}

static int item_cmp(const void *x, const void *y) {
  const item *a = x, *b = y;
  size_t n = a->id_len < b->id_len ? a->id_len : b->id_len;
  int c = n ? memcmp(a->id, b->id, n) : 0;
  return c ? c : (a->id_len > b->id_len) - (a->id_len < b->id_len);
}

/* Sorted by id, each id once (SCAN may return a key more than once). */
static void list_finish(xr_xp_list *l) {
  for (size_t i = 0; i < l->n; i++) {
    l->items[i].id = l->buf.data + l->items[i].id_off;
    l->items[i].val = l->buf.data + l->items[i].val_off;
  }
  if (l->n > 1) qsort(l->items, l->n, sizeof *l->items, item_cmp);
  size_t w = 0;
  for (size_t i = 0; i < l->n; i++)
    if (!w || item_cmp(&l->items[w - 1], &l->items[i])) l->items[w++] = l->items[i];
  l->n = w;
}

static int list_field(const xr_xp_list *l, size_t i, xr_result *out, const char *fn, bool val) {
  if (!out) return xr_fail(XR_EINVAL, "%s: out is required", fn);
  memset(out, 0, sizeof *out);
  out->kind = XR_RESULT_VALUE;
  if (!l) return xr_fail(XR_EINVAL, "%s: the list is NULL", fn);
  if (i >= l->n) return xr_fail(XR_EINVAL, "%s: index %zu is past the list's %zu items", fn, i, l->n);
  const item *it = &l->items[i];
  if (val && !it->has_val) return XR_OK; /* a thread has no value: absent */
  out->present = true;
  out->nfields = 1;
  out->fields[0] = val ? XR_ARG_OF_TEXT(it->val, it->val_len) : XR_ARG_OF_TEXT(it->id, it->id_len);
  return XR_OK;
}

int xr_xp_list_id(const xr_xp_list *l, size_t i, xr_result *out) { return list_field(l, i, out, "xr_xp_list_id", false); }

int xr_xp_list_value(const xr_xp_list *l, size_t i, xr_result *out) {
  return list_field(l, i, out, "xr_xp_list_value", true);
}

/* ---- scans -------------------------------------------------------------------------------------- */

typedef int (*page_fn)(void *ctx, xr_xp_store *s, const xr_reply *keys);

/* Every page of the keys under prefix p, handed to fn (empty pages skipped). */
static int each_page(xr_xp_store *s, const xp_prefix *p, page_fn fn, void *ctx) {
  xr_prefix_scan *ps = NULL;
  int rc = xr_prefix_scan_new(&ps, s->client, p->data, p->len, SCAN_COUNT, NULL, NULL);
  for (bool done = false; !rc && !done;) {
    const xr_reply *keys = NULL;
    rc = xr_prefix_scan_next(ps, &keys, &done);
    if (!rc && xr_reply_count(keys)) rc = fn(ctx, s, keys);
  }
  xr_prefix_scan_free(ps);
  return rc;
}

static const char *key_at(const xr_reply *keys, size_t i, size_t *len) {
  const char *k = xr_reply_str(xr_reply_at(keys, i), len);
  if (!k) xr_fail(XR_EPROTOCOL, "SCAN answered a key that is not a string");
  return k;
}

static int thread_page(void *ctx, xr_xp_store *s, const xr_reply *keys) {
  xr_xp_list *l = ctx;
  for (size_t i = 0; i < xr_reply_count(keys); i++) {
    size_t len;
    const char *k = key_at(keys, i, &len);
    if (!k) return XR_EPROTOCOL;
    int rc = list_add(l, k + s->buffer.len, len - s->buffer.len, NULL, 0, false);
    if (rc) return rc;
  }
  return XR_OK;
}

static int new_list(xr_xp_list **out, const char *fn) {
  if (!out) return xr_fail(XR_EINVAL, "%s: out is required", fn);
  *out = xr_calloc(1, sizeof **out);
  return *out ? XR_OK : xr_fail_nomem();
}

/* The list when rc is 0, else nothing. */
static int list_done(xr_xp_list **out, int rc) {
  if (rc) {
    xr_xp_list_free(*out);
    *out = NULL;
  } else {
    list_finish(*out);
  }
  return rc;
}

int xr_xp_buffer_list_threads(xr_xp_store *s, xr_xp_list **out) {
  int rc = new_list(out, "xp.buffer_list_threads");
  if (rc) return rc;
  if (!s) rc = xr_fail(XR_EINVAL, "xp.buffer_list_threads: the store is NULL");
  if (!rc) rc = each_page(s, &s->buffer, thread_page, *out);
  return list_done(out, rc);
}

/* One DEL per key of the page (the client splits the pipeline per node); counts those deleted. */
typedef struct clear_ctx {
  xr_batch *b;
  size_t removed;
} clear_ctx;

static int clear_page(void *ctx, xr_xp_store *s, const xr_reply *keys) {
  clear_ctx *cc = ctx;
  xr_batch_clear(cc->b);
  int rc = xr_batch_add_per_key(cc->b, "DEL", keys, NULL);
  if (!rc) rc = xr_client_exec(s->client, cc->b);
  for (size_t i = 0; !rc && i < xr_batch_count(cc->b); i++) {
    const xr_reply *r;
    const char *why = NULL;
    if ((rc = xr_batch_result(cc->b, i, &r, &why)) != 0) return xr_fail(rc, "DEL: %s", why ? why : xr_strerror(rc));
    cc->removed += xr_reply_integer(r) > 0;
  }
  return rc;
}

static int clear_under(xr_xp_store *s, size_t *removed, const xp_prefix *const *prefixes, size_t n, const char *fn) {
  if (removed) *removed = 0;
  if (!s) return xr_fail(XR_EINVAL, "%s: the store is NULL", fn);
  clear_ctx cc = {NULL, 0};
  int rc = xr_batch_new(&cc.b);
  for (size_t i = 0; !rc && i < n; i++) rc = each_page(s, prefixes[i], clear_page, &cc);
  xr_batch_free(cc.b);
  if (removed) *removed = cc.removed;
  return rc;
}

int xr_xp_buffer_clear(xr_xp_store *s, size_t *removed) {
  const xp_prefix *p[] = {s ? &s->buffer : NULL};
  return clear_under(s, removed, p, 1, "xp.buffer_clear");
}

int xr_xp_registry_clear(xr_xp_store *s, size_t *removed) {
  const xp_prefix *p[] = {s ? &s->chain : NULL, s ? &s->uuid : NULL};
  return clear_under(s, removed, p, 2, "xp.registry_clear");
}

/* registry_list_all's page: the uuid keys' chains (one pipeline), then the forward keys those
 * chains name (another): a pair is listed when its forward key holds the uuid. */
typedef struct pairs_ctx {
  xr_xp_list *l;
  xr_batch *gets, *fwds;
  long *at; /* per key of the page: its forward GET's index in fwds, -1 when none */
  size_t cap;
} pairs_ctx;

static int pairs_page(void *ctx, xr_xp_store *s, const xr_reply *keys) {
  pairs_ctx *pc = ctx;
  size_t n = xr_reply_count(keys);
  if (n > pc->cap) {
    long *at = xr_realloc(pc->at, n * sizeof *at);
    if (!at) return xr_fail_nomem();
    pc->at = at;
    pc->cap = n;
  }
  xr_batch_clear(pc->gets);
  xr_batch_clear(pc->fwds);
  int rc = xr_batch_add_per_key(pc->gets, "GET", keys, NULL);
  if (!rc) rc = xr_client_exec(s->client, pc->gets);
  for (size_t i = 0; !rc && i < n; i++) {
    const xr_reply *r;
    const char *why = NULL;
    pc->at[i] = -1;
    int got = xr_batch_result(pc->gets, i, &r, &why);
    if (got == XR_EWRONGTYPE) continue; /* not a registry value: not listed */
    if (got) return xr_fail(got, "GET: %s", why ? why : xr_strerror(got));
    size_t len;
    const char *chain = xp_is_string(r) ? xr_reply_str(r, &len) : NULL;
    if (!chain) continue; /* vanished */
    xr_cmd_key k = {0};
    if ((rc = xr_cmd_key_concat(&k, s->chain.data, s->chain.len, chain, len))) break;
    const char *argv[] = {"GET", k.data};
    size_t lens[] = {3, k.len};
    int idx = xr_batch_add(pc->fwds, 2, argv, lens);
    xr_free(k.heap);
    if (idx < 0) rc = idx;
    else pc->at[i] = idx;
  }
  if (!rc && xr_batch_count(pc->fwds)) rc = xr_client_exec(s->client, pc->fwds);
  for (size_t i = 0; !rc && i < n; i++) {
    if (pc->at[i] < 0) continue;
    const xr_reply *r, *c;
    const char *why = NULL;
    int got = xr_batch_result(pc->fwds, (size_t)pc->at[i], &r, &why);
    if (got == XR_EWRONGTYPE) continue;
    if (got) return xr_fail(got, "GET: %s", why ? why : xr_strerror(got));
    size_t key_len, chain_len, fwd_len;
    const char *key = key_at(keys, i, &key_len), *fwd = xp_is_string(r) ? xr_reply_str(r, &fwd_len) : NULL;
    if (!key) return XR_EPROTOCOL;
    xr_batch_result(pc->gets, i, &c, NULL);
    const char *chain = xr_reply_str(c, &chain_len);
    const char *uuid = key + s->uuid.len;
    size_t uuid_len = key_len - s->uuid.len;
    if (fwd && fwd_len == uuid_len && !memcmp(fwd, uuid, uuid_len))
      rc = list_add(pc->l, uuid, uuid_len, chain, chain_len, true);
  }
  return rc;
}

int xr_xp_registry_list_all(xr_xp_store *s, xr_xp_list **out) {
  int rc = new_list(out, "xp.registry_list_all");
  if (rc) return rc;
  if (!s) rc = xr_fail(XR_EINVAL, "xp.registry_list_all: the store is NULL");
  pairs_ctx pc = {*out, NULL, NULL, NULL, 0};
  if (!rc) rc = xr_batch_new(&pc.gets);
  if (!rc) rc = xr_batch_new(&pc.fwds);
  if (!rc) rc = each_page(s, &s->uuid, pairs_page, &pc);
  xr_batch_free(pc.gets);
  xr_batch_free(pc.fwds);
  xr_free(pc.at);
  return list_done(out, rc);
}

int xr_xp_info_read(xr_xp_store *s, xr_xp_info *out) {
  if (!out) return xr_fail(XR_EINVAL, "xp.info: out is required");
  memset(out, 0, sizeof *out);
  xr_xp_list *threads = NULL, *pairs = NULL;
  int rc = xr_xp_buffer_list_threads(s, &threads);
  if (!rc) rc = xr_xp_registry_list_all(s, &pairs);
  if (!rc) {
    out->buffer_threads = threads->n;
    out->registry_entries = pairs->n;
    out->ttl_seconds = s->ttl_s;
  }
  xr_xp_list_free(threads);
  xr_xp_list_free(pairs);
  return rc;
}
