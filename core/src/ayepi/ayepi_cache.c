/* ayepi's cache entry (SPEC.md 3): a JSON object of any runtime written as @ayepi/redis writes its
 * entry, JSON.stringify's bytes with the keys in its order. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/internal.h"
#include "crossredis/alloc.h"
#include "crossredis/ayepi.h"
#include "crossredis/json.h"
#include "codec/json_internal.h"
#include "net/prefix_scan.h"
#include "ayepi/ayepi_internal.h"

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
#define STALE_UNTIL 5 /* fields[STALE_UNTIL] */

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

/* ---- an entry already written as ayepi writes it --------------------------------------------------
 * JSON.stringify of an entry object in ayepi's key order is the text the rewrite below would make
 * of it, so such a text is checked in one pass and kept as it is, without building a value (most
 * of a set's cost otherwise). Only what the rewrite writes back byte for byte is taken: no
 * whitespace, the fields in their order once each, strings with JSON.stringify's escapes alone
 * (\" \\ \b \f \n \r \t, \u00xx for the other controls) and well-formed UTF-8 without
 * surrogates, numbers as integers of at most 2^53 - 1 without "-0". Anything else, well formed or
 * not, goes to the rewrite, which says what is wrong. */

typedef struct span {
  const unsigned char *s;
  size_t i, n;
} span;

static int take(span *p, char c) {
  if (p->i >= p->n || p->s[p->i] != (unsigned char)c) return 0;
  p->i++;
  return 1;
}

static int take_text(span *p, const char *t, size_t len) {
  if (p->n - p->i < len || memcmp(p->s + p->i, t, len) != 0) return 0;
  p->i += len;
  return 1;
}

static int is_lower_hex(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

static int kept_string(span *p) {
  if (!take(p, '"')) return 0;
  while (p->i < p->n) {
    unsigned char c = p->s[p->i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      p->i++;
    } else if (c == '"') {
      p->i++;
      return 1;
    } else if (c == '\\') {
      if (p->n - p->i < 2) return 0;
      unsigned char e = p->s[p->i + 1];
      if (e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
        p->i += 2;
        continue;
      }
      /* \u00xx: a control without a short escape, spelt as the writer spells it */
      if (e != 'u' || p->n - p->i < 6 || p->s[p->i + 2] != '0' || p->s[p->i + 3] != '0' || !is_lower_hex(p->s[p->i + 4]) ||
          !is_lower_hex(p->s[p->i + 5]))
        return 0;
      unsigned v = (unsigned)(p->s[p->i + 4] - '0') * 16 +
                   (unsigned)(p->s[p->i + 5] <= '9' ? p->s[p->i + 5] - '0' : p->s[p->i + 5] - 'a' + 10);
      if (v >= 0x20 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t') return 0;
      p->i += 6;
    } else if (c < 0x20) {
      return 0;
    } else {
      uint32_t cp;
      size_t len = xr_json_utf8_decode(p->s + p->i, p->n - p->i, 0, &cp);
      if (len == 0) return 0;
      p->i += len;
    }
  }
  return 0;
}

/* An integer JSON.stringify writes as it is: 0, or up to 2^53 - 1 in magnitude without leading
 * zeros; "-0" is not (the rewrite writes 0). */
static int kept_integer(span *p, int64_t *v) {
  int neg = take(p, '-');
  size_t start = p->i;
  uint64_t x = 0;
  while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9' && p->i - start < 17) x = x * 10 + (uint64_t)(p->s[p->i++] - '0');
  size_t digits = p->i - start;
  if (digits == 0 || digits > 16 || (p->s[start] == '0' && (digits > 1 || neg)) || x > 9007199254740991ULL) return 0;
  *v = neg ? -(int64_t)x : (int64_t)x;
  return 1;
}

static int kept_headers(span *p) {
  if (!take(p, '[')) return 0;
  if (take(p, ']')) return 1;
  do {
    if (!take(p, '[') || !kept_string(p) || !take(p, ',') || !kept_string(p) || !take(p, ']')) return 0;
  } while (take(p, ','));
  return take(p, ']');
}

/* 1 when the text is an entry exactly as the rewrite would write it, with its staleUntil. */
static int kept_as_written(const char *text, size_t len, int64_t *stale) {
  span p = {(const unsigned char *)text, 0, len};
  if (!take(&p, '{')) return 0;
  for (size_t f = 0; f < NFIELDS; f++) {
    size_t name_len = strlen(fields[f].name);
    int64_t num = 0;
    if ((f > 0 && !take(&p, ',')) || !take(&p, '"') || !take_text(&p, fields[f].name, name_len) || !take_text(&p, "\":", 2))
      return 0;
    int ok = fields[f].kind == STRING ? kept_string(&p) : fields[f].kind == HEADERS ? kept_headers(&p) : kept_integer(&p, &num);
    if (!ok) return 0;
    if (f == STALE_UNTIL) *stale = num;
  }
  return take(&p, '}') && p.i == p.n;
}

int xr_ayepi_cache_entry_write(char **out, size_t *out_len, int64_t *stale_until_ms, const char *entry_json,
                               size_t entry_len) {
  if (!out || !entry_json) return xr_fail(XR_EINVAL, "xr_ayepi_cache_entry_write: out and the entry are required");
  *out = NULL;
  if (out_len) *out_len = 0;
  int64_t kept_stale = 0;
  if (kept_as_written(entry_json, entry_len, &kept_stale)) {
    char *copy = xr_malloc(entry_len + 1);
    if (!copy) return xr_fail_nomem();
    memcpy(copy, entry_json, entry_len);
    copy[entry_len] = '\0';
    *out = copy;
    if (out_len) *out_len = entry_len;
    if (stale_until_ms) *stale_until_ms = kept_stale;
    return XR_OK;
  }
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

/* ---- clear and invalidate: the sweep ------------------------------------------------------------ */

struct xr_ayepi_sweep {
  xr_ayepi_store *s;
  bool entries;         /* invalidate's: each page's entries read */
  xr_prefix_scan *scan; /* the page's keys are borrowed from it */
  xr_batch *gets;       /* the page's GETs (entries) */
  xr_batch *dels;
  const xr_reply *keys; /* this page's keys */
  size_t n;
  bool *chosen;         /* n of them */
  bool done;
};

void xr_ayepi_sweep_free(xr_ayepi_sweep *w) {
  if (!w) return;
  xr_free(w->chosen);
  xr_batch_free(w->dels);
  xr_batch_free(w->gets);
  xr_prefix_scan_free(w->scan);
  xr_free(w);
}

int xr_ayepi_sweep_new(xr_ayepi_sweep **out, xr_ayepi_store *s, bool entries) {
  if (!out || !s) return xr_fail(XR_EINVAL, "xr_ayepi_sweep_new: out and the store are required");
  *out = NULL;
  xr_ayepi_sweep *w = xr_calloc(1, sizeof *w);
  if (!w) return xr_fail_nomem();
  w->s = s;
  w->entries = entries;
  const char *prefix = xr_ayepi_store_prefix(s);
  int rc = xr_prefix_scan_new(&w->scan, xr_ayepi_store_client(s), prefix, strlen(prefix), SCAN_COUNT, NULL, NULL);
  if (!rc) rc = xr_batch_new(&w->gets);
  if (!rc) rc = xr_batch_new(&w->dels);
  if (rc) {
    xr_ayepi_sweep_free(w);
    return rc;
  }
  *out = w;
  return XR_OK;
}

/* One step of a sweep, run again as the policy allows for row op (whose repeat does the same). */
static int retried(xr_ayepi_sweep *w, int op, int (*step)(xr_ayepi_sweep *w)) {
  for (int attempt = 1;; attempt++) {
    int rc = step(w);
    int64_t delay;
    if (!rc || xr_ayepi_retry_next(w->s, op, rc, attempt, &delay) != XR_AYEPI_TRY_AGAIN) return rc;
    if ((rc = ayepi_wait(w->s, delay)) != 0) return rc;
  }
}

/* `<cmd> <key>` for each key of the page (chosen ones only when only_chosen), one pipeline (split
 * per node on a Cluster: keys of one page may live in different slots), run. */
static int per_key(xr_ayepi_sweep *w, xr_batch *b, const char *cmd, bool only_chosen) {
  xr_batch_clear(b);
  int rc = w->n ? xr_batch_add_per_key(b, cmd, w->keys, only_chosen ? w->chosen : NULL) : XR_OK;
  if (rc) return rc;
  return xr_batch_count(b) ? xr_client_exec(xr_ayepi_store_client(w->s), b) : XR_OK;
}

static int scan_step(xr_ayepi_sweep *w) {
  bool done = false;
  int rc = xr_prefix_scan_next(w->scan, &w->keys, &done);
  if (!rc) w->done = done;
  return rc;
}

static int gets_step(xr_ayepi_sweep *w) { return per_key(w, w->gets, "get", false); }

int xr_ayepi_sweep_next(xr_ayepi_sweep *w, size_t *count, bool *done) {
  if (!w || !count || !done) return xr_fail(XR_EINVAL, "xr_ayepi_sweep_next: the sweep, count and done are required");
  *count = 0;
  *done = w->done;
  w->keys = NULL;
  w->n = 0;
  xr_batch_clear(w->gets);
  if (w->done) return XR_OK;
  int rc = retried(w, XR_AYEPI_OP_CACHE_GET, scan_step);
  size_t n = rc ? 0 : xr_reply_count(w->keys);
  if (!rc && n) {
    bool *chosen = xr_realloc(w->chosen, n * sizeof *chosen);
    if (!chosen) rc = xr_fail_nomem();
    else w->chosen = chosen;
  }
  if (!rc) {
    w->n = n;
    for (size_t i = 0; i < n; i++) w->chosen[i] = !w->entries; /* clear: every key; invalidate: those chosen */
    if (w->entries && n) rc = retried(w, XR_AYEPI_OP_CACHE_GET, gets_step);
  }
  if (rc) {
    w->keys = NULL;
    w->n = 0;
    return ayepi_reported(w->s, rc);
  }
  *count = n;
  *done = w->done;
  return XR_OK;
}

/* The page's i-th key as a string reply, or an error. */
static int page_key(const xr_ayepi_sweep *w, const char *fn, size_t i, const char **key, size_t *len) {
  if (!w) return xr_fail(XR_EINVAL, "%s: the sweep is required", fn);
  if (i >= w->n) return xr_fail(XR_EINVAL, "%s: index %zu is past the page's %zu keys", fn, i, w->n);
  if (!(*key = xr_reply_str(xr_reply_at(w->keys, i), len))) return xr_fail(XR_EPROTOCOL, "SCAN answered a key that is not a string");
  return XR_OK;
}

int xr_ayepi_sweep_key(const xr_ayepi_sweep *w, size_t i, xr_result *out) {
  if (!out) return xr_fail(XR_EINVAL, "xr_ayepi_sweep_key: out is required");
  memset(out, 0, sizeof *out);
  out->kind = XR_RESULT_VALUE;
  int rc = page_key(w, "xr_ayepi_sweep_key", i, &out->fields[0].data, &out->fields[0].len);
  if (!rc) {
    out->present = true;
    out->nfields = 1;
  }
  return rc;
}

int xr_ayepi_sweep_entry(const xr_ayepi_sweep *w, size_t i, xr_result *out) {
  if (!out) return xr_fail(XR_EINVAL, "xr_ayepi_sweep_entry: out is required");
  memset(out, 0, sizeof *out);
  out->kind = XR_RESULT_VALUE;
  const char *key;
  size_t key_len;
  int rc = page_key(w, "xr_ayepi_sweep_entry", i, &key, &key_len);
  if (rc) return rc;
  if (!w->entries) return xr_fail(XR_EINVAL, "xr_ayepi_sweep_entry: the sweep reads no entries (made for clear)");
  const xr_reply *r;
  const char *why = NULL;
  rc = xr_batch_result(w->gets, i, &r, &why);
  if (rc == XR_EWRONGTYPE) return XR_OK; /* not an entry: absent, not ours to judge or delete */
  if (rc) return xr_fail(rc, "get %.*s: %s", (int)(key_len > 200 ? 200 : key_len), key, why ? why : xr_strerror(rc));
  if (xr_reply_kind(r) != XR_REPLY_STRING) return XR_OK; /* vanished */
  out->fields[0].data = xr_reply_str(r, &out->fields[0].len);
  out->present = true;
  out->nfields = 1;
  return XR_OK;
}

int xr_ayepi_sweep_choose(xr_ayepi_sweep *w, size_t i) {
  const char *key;
  size_t len;
  int rc = page_key(w, "xr_ayepi_sweep_choose", i, &key, &len);
  if (!rc) w->chosen[i] = true;
  return rc;
}

static int dels_step(xr_ayepi_sweep *w) { return per_key(w, w->dels, "del", true); }

int xr_ayepi_sweep_delete(xr_ayepi_sweep *w, size_t *removed) {
  if (!w) return xr_fail(XR_EINVAL, "xr_ayepi_sweep_delete: the sweep is required");
  int rc = retried(w, XR_AYEPI_OP_CACHE_DELETE, dels_step);
  size_t n = rc ? 0 : xr_batch_count(w->dels);
  for (size_t i = 0; !rc && i < n; i++) {
    const xr_reply *r;
    const char *why = NULL;
    if ((rc = xr_batch_result(w->dels, i, &r, &why)) != 0) {
      rc = xr_fail(rc, "del: %s", why ? why : xr_strerror(rc));
      break;
    }
    if (removed) *removed += xr_reply_integer(r) > 0;
  }
  for (size_t i = 0; i < w->n; i++) w->chosen[i] = false; /* deleted once */
  xr_batch_clear(w->dels);
  return ayepi_reported(w->s, rc);
}

/* clear (pred NULL) and invalidate over a sweep. */
static int cache_sweep(xr_ayepi_store *s, size_t *removed, xr_ayepi_cache_predicate pred, void *ctx) {
  size_t n_removed = 0;
  if (removed) *removed = 0;
  if (!s) return xr_fail(XR_EINVAL, "ayepi cache: the store is NULL");
  xr_ayepi_sweep *w = NULL;
  int rc = xr_ayepi_sweep_new(&w, s, pred != NULL);
  for (bool done = false; !rc && !done;) {
    size_t n;
    if ((rc = xr_ayepi_sweep_next(w, &n, &done)) != 0) break;
    for (size_t i = 0; pred && !rc && i < n; i++) {
      xr_result key, entry;
      if (!(rc = xr_ayepi_sweep_key(w, i, &key)) && !(rc = xr_ayepi_sweep_entry(w, i, &entry)) && entry.present) {
        int verdict = pred(ctx, key.fields[0].data, key.fields[0].len, entry.fields[0].data, entry.fields[0].len);
        rc = verdict < 0 ? verdict : verdict ? xr_ayepi_sweep_choose(w, i) : XR_OK;
      }
    }
    if (!rc) rc = xr_ayepi_sweep_delete(w, &n_removed);
  }
  xr_ayepi_sweep_free(w);
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
