/* ayepi's cache entry (SPEC.md 3): a JSON object of any runtime written as @ayepi/redis writes its
 * entry, JSON.stringify's bytes with the keys in its order. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/internal.h"
#include "crossredis/alloc.h"
#include "crossredis/ayepi.h"
#include "crossredis/json.h"
#include "crossredis/keys.h"
#include "crossredis/scan.h"
#include "codec/json_internal.h"

/* The entry's fields in the order ayepi writes them, and what each must be. */
enum kind { STRING, INTEGER, NUMBER, HEADERS };
static const struct {
  const char *name;
  enum kind kind;
} fields[] = {
    {"body", STRING},   {"status", INTEGER},     {"headers", HEADERS}, {"storedAt", NUMBER}, {"expires", NUMBER},
    {"staleUntil", NUMBER}, {"bytes", INTEGER}, {"method", STRING},   {"path", STRING},     {"key", STRING},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static const char *kind_text(enum kind k) {
  return k == STRING ? "a string" : k == INTEGER ? "an integer" : k == NUMBER ? "a number" : "an array of [name, value] strings";
}

static int check_field(const json_t *v, enum kind k) {
  switch (k) {
    case STRING: return json_is_string(v);
    case INTEGER: return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    case NUMBER: return json_is_number(v);
    case HEADERS: {
      if (!json_is_array(v)) return 0;
      size_t i;
      json_t *h;
      json_array_foreach(v, i, h) {
        if (!json_is_array(h) || json_array_size(h) != 2 || !json_is_string(json_array_get(h, 0)) ||
            !json_is_string(json_array_get(h, 1)))
          return 0;
      }
      return 1;
    }
  }
  return 0;
}

int xr_ayepi_cache_entry_write(char **out, size_t *out_len, int64_t *stale_until_ms, const char *entry_json,
                               size_t entry_len) {
  if (!out || !entry_json) return xr_fail(XR_EINVAL, "xr_ayepi_cache_entry_write: out and the entry are required");
  *out = NULL;
  if (out_len) *out_len = 0;
  json_t *e = NULL;
  int rc = xr_json_parse(&e, entry_json, entry_len);
  if (rc) return xr_fail(XR_EINVAL, "cache entry: not JSON: %s", xr_error_last()->message);
  if (!json_is_object(e)) {
    json_decref(e);
    return xr_fail(XR_EINVAL, "cache entry: not a JSON object");
  }
  const char *k;
  json_t *v;
  json_object_foreach(e, k, v) { /* nothing the entry has not: ayepi would store it, and no reader has it */
    size_t i = 0;
    while (i < NFIELDS && strcmp(fields[i].name, k) != 0) i++;
    if (i == NFIELDS) {
      rc = xr_fail(XR_EINVAL, "cache entry: unknown field \"%.100s\"", k);
      json_decref(e);
      return rc;
    }
  }
  json_t *ordered = json_object();
  for (size_t i = 0; !rc && i < NFIELDS; i++) {
    json_t *f = json_object_get(e, fields[i].name);
    if (!f) rc = xr_fail(XR_EINVAL, "cache entry: \"%s\" is missing", fields[i].name);
    else if (!check_field(f, fields[i].kind))
      rc = xr_fail(XR_EINVAL, "cache entry: \"%s\" must be %s", fields[i].name, kind_text(fields[i].kind));
    else if (json_object_set(ordered, fields[i].name, f))
      rc = xr_fail_nomem();
  }
  double stale = rc ? 0 : json_number_value(json_object_get(e, "staleUntil"));
  if (!rc && (stale != floor(stale) || fabs(stale) > 9007199254740991.0))
    rc = xr_fail(XR_EINVAL, "cache entry: \"staleUntil\" must be whole milliseconds, got %.17g", stale);
  if (!rc) rc = xr_json_write(out, out_len, ordered, XR_JSON_JS, 0);
  if (!rc && stale_until_ms) *stale_until_ms = (int64_t)stale;
  json_decref(ordered);
  json_decref(e);
  return rc;
}

/* ---- clear and invalidate ------------------------------------------------------------------------ */

enum { SCAN_COUNT = 256 }; /* ayepi's COUNT */

/* `<cmd> <key>` for each of keys[0..n), one pipeline (split per node on a Cluster), run. */
static int per_key(xr_client *c, xr_batch *b, const char *cmd, const xr_reply *const *keys, size_t n) {
  xr_batch_clear(b);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    const char *key = xr_reply_str(keys[i], &len);
    if (!key) return xr_fail(XR_EPROTOCOL, "SCAN answered a key that is not a string");
    const char *argv[] = {cmd, key};
    size_t lens[] = {strlen(cmd), len};
    int rc = xr_batch_add(b, 2, argv, lens);
    if (rc < 0) return rc;
  }
  return xr_client_exec(c, b);
}

/* DEL of each key of `del` (one command per key: keys of one page may live in different slots),
 * the removed ones counted into *removed. */
static int delete_keys(xr_client *c, xr_batch *b, const xr_reply *const *keys, size_t n, size_t *removed) {
  if (n == 0) return XR_OK;
  int rc = per_key(c, b, "del", keys, n);
  for (size_t i = 0; !rc && i < n; i++) {
    const xr_reply *r;
    const char *why = NULL;
    if ((rc = xr_batch_result(b, i, &r, &why)) != 0) {
      size_t len;
      const char *key = xr_reply_str(keys[i], &len);
      return xr_fail(rc, "del %.*s: %s", (int)(len > 200 ? 200 : len), key, why ? why : xr_strerror(rc));
    }
    *removed += xr_reply_integer(r) > 0;
  }
  return rc;
}

/* The keys of a page whose entry pred accepts (all of them without pred): GET of each, in one
 * pipeline; a key that vanished or is not a string is left alone. */
static int select_page(xr_client *c, xr_batch *b, const xr_reply *keys, xr_ayepi_cache_predicate pred, void *ctx,
                       const xr_reply **chosen, size_t *nchosen) {
  size_t n = xr_reply_count(keys);
  for (size_t i = 0; i < n; i++) chosen[i] = xr_reply_at(keys, i);
  *nchosen = pred ? 0 : n; /* without pred: every key; with it, the accepted ones are moved down */
  if (!pred) return XR_OK;
  int rc = per_key(c, b, "get", chosen, n);
  for (size_t i = 0; !rc && i < n; i++) {
    const xr_reply *r;
    const char *why = NULL;
    size_t key_len, entry_len;
    const char *key = xr_reply_str(xr_reply_at(keys, i), &key_len);
    rc = xr_batch_result(b, i, &r, &why);
    if (rc == XR_EWRONGTYPE) { /* not an entry: not ours to judge or delete */
      rc = XR_OK;
      continue;
    }
    if (rc) return xr_fail(rc, "get %.200s: %s", key, why ? why : xr_strerror(rc));
    if (xr_reply_kind(r) != XR_REPLY_STRING) continue; /* vanished */
    const char *entry = xr_reply_str(r, &entry_len);
    int verdict = pred(ctx, key, key_len, entry, entry_len);
    if (verdict < 0) return verdict;
    if (verdict > 0) chosen[(*nchosen)++] = xr_reply_at(keys, i);
  }
  return rc;
}

static int cache_sweep(xr_ayepi_store *s, size_t *removed, xr_ayepi_cache_predicate pred, void *ctx) {
  size_t n_removed = 0;
  if (removed) *removed = 0;
  if (!s) return xr_fail(XR_EINVAL, "ayepi cache: the store is NULL");
  const char *prefix = xr_ayepi_store_prefix(s);
  char *pattern = NULL;
  size_t plen = 0;
  int rc = xr_key_prefix_pattern(&pattern, &plen, prefix, strlen(prefix)); /* "a*" must not reach "ab..." */
  if (rc) return rc;
  xr_scan_options so = XR_SCAN_OPTIONS_INIT;
  so.match = pattern;
  so.match_len = plen;
  so.count = SCAN_COUNT;
  xr_client *c = xr_ayepi_store_client(s);
  xr_scan *sc = NULL;
  xr_batch *page = NULL, *b = NULL;
  const xr_reply **chosen = NULL;
  if (!(rc = xr_scan_new(&sc, c, &so)) && !(rc = xr_batch_new(&page))) rc = xr_batch_new(&b);
  for (int done = 0; !rc && !done;) {
    const xr_reply *keys = NULL;
    xr_batch_clear(page);
    int i = xr_scan_add(sc, page);
    if ((rc = i) < 0 || (rc = xr_client_exec(c, page)) != 0 || (rc = xr_scan_take(sc, page, (size_t)i, &keys, &done)))
      break;
    size_t n = xr_reply_count(keys), nchosen = 0;
    const xr_reply **more = n ? xr_realloc(chosen, n * sizeof *chosen) : chosen;
    if (n && !more) {
      rc = xr_fail_nomem();
      break;
    }
    chosen = more;
    if (!(rc = select_page(c, b, keys, pred, ctx, chosen, &nchosen))) rc = delete_keys(c, b, chosen, nchosen, &n_removed);
  }
  xr_free(chosen);
  xr_batch_free(b);
  xr_batch_free(page);
  xr_scan_free(sc);
  xr_free(pattern);
  if (removed) *removed = n_removed;
  return rc;
}

int xr_ayepi_cache_clear(xr_ayepi_store *s, size_t *removed) { return cache_sweep(s, removed, NULL, NULL); }

int xr_ayepi_cache_invalidate(xr_ayepi_store *s, size_t *removed, xr_ayepi_cache_predicate pred, void *ctx) {
  if (!pred) return xr_fail(XR_EINVAL, "ayepi.cache_invalidate: the predicate is required");
  return cache_sweep(s, removed, pred, ctx);
}

/* ---- the default cache key ----------------------------------------------------------------------- */

/* JSON text of a kind, or the default when text is NULL: a new reference in *out. */
static int json_arg(json_t **out, const char *what, const char *text, size_t len, json_t *fallback) {
  if (!text) {
    *out = fallback;
    return XR_OK;
  }
  json_decref(fallback);
  if (xr_json_parse(out, text, len)) return xr_fail(XR_EINVAL, "ayepi cache key: %s is not JSON: %s", what, xr_error_last()->message);
  return XR_OK;
}

static int pair_cmp(const void *x, const void *y) {
  const json_t *p = *(json_t *const *)x, *q = *(json_t *const *)y;
  for (int k = 0; k < 2; k++) {
    const json_t *a = json_array_get(p, (size_t)k), *b = json_array_get(q, (size_t)k);
    size_t an = json_string_length(a), bn = json_string_length(b);
    if (an == bn && !memcmp(json_string_value(a), json_string_value(b), an)) continue;
    return xr_json_utf16_cmp(json_string_value(a), an, json_string_value(b), bn);
  }
  return 0;
}

int xr_ayepi_cache_key(char **out, size_t *out_len, const char *method, size_t method_len, const char *path,
                       size_t path_len, const char *query_json, size_t query_len, const char *body_json,
                       size_t body_len, const char *vary_json, size_t vary_len) {
  if (!out || !method || (!path && path_len)) return xr_fail(XR_EINVAL, "ayepi cache key: out and method are required");
  *out = NULL;
  if (out_len) *out_len = 0;
  char *upper = xr_malloc(method_len + 1);
  if (!upper) return xr_fail_nomem();
  for (size_t i = 0; i < method_len; i++) {
    unsigned char c = (unsigned char)method[i];
    if (c >= 0x80 || c == 0) {
      xr_free(upper);
      return xr_fail(XR_EINVAL, "ayepi cache key: the method must be ASCII (an HTTP method)");
    }
    upper[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
  }
  json_t *query = NULL, *body = NULL, *vary = NULL, *key = NULL;
  int rc = json_arg(&query, "the query", query_json, query_len, json_array());
  if (!rc) rc = json_arg(&body, "the body", body_json, body_len, json_null());
  if (!rc) rc = json_arg(&vary, "vary", vary_json, vary_len, json_null());
  size_t n = rc ? 0 : json_array_size(query);
  if (!rc && !json_is_array(query)) rc = xr_fail(XR_EINVAL, "ayepi cache key: the query must be an array of [name, value]");
  json_t **pairs = n ? xr_malloc(n * sizeof *pairs) : NULL;
  if (!rc && n && !pairs) rc = xr_fail_nomem();
  for (size_t i = 0; !rc && i < n; i++) {
    json_t *p = json_array_get(query, i);
    if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_string(json_array_get(p, 0)) ||
        !json_is_string(json_array_get(p, 1)))
      rc = xr_fail(XR_EINVAL, "ayepi cache key: query pair %zu is not [name, value] strings", i);
    pairs[i] = p;
  }
  if (!rc) {
    if (n) qsort(pairs, n, sizeof *pairs, pair_cmp);
    json_t *sorted = json_array();
    for (size_t i = 0; i < n; i++) json_array_append(sorted, pairs[i]);
    key = json_pack("[s#s#oOO]", upper, method_len, path ? path : "", path_len, sorted, json_is_null(body) ? json_null() : body,
                    json_is_null(vary) ? json_null() : vary);
    rc = key ? xr_json_write(out, out_len, key, XR_JSON_JS, XR_JSON_SORT_KEYS_UTF16) : xr_fail_nomem();
  }
  xr_free(pairs);
  json_decref(key);
  json_decref(query);
  json_decref(body);
  json_decref(vary);
  xr_free(upper);
  return rc;
}
