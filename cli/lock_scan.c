/* The lock scan: SCAN pages, each followed by one pipeline of GET + PTTL per key. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crossredis/alloc.h"
#include "crossredis/error.h"
#include "crossredis/keys.h"
#include "lock_scan.h"

enum { PROGRESS_EVERY = 10000 };

void cli_lock_list_free(cli_lock_list *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].key);
    free(l->v[i].token);
  }
  free(l->v);
  memset(l, 0, sizeof *l);
}

static int by_thread_then_key(const void *a, const void *b) {
  const cli_lock *x = a, *y = b;
  size_t n = x->thread_len < y->thread_len ? x->thread_len : y->thread_len;
  int d = memcmp(x->thread, y->thread, n);
  if (d) return d;
  return x->thread_len < y->thread_len ? -1 : x->thread_len > y->thread_len;
}

/* Sorts and drops the repeats SCAN may return (a key seen twice is the same lock). */
static void sort_unique(cli_lock_list *l) {
  if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, by_thread_then_key);
  size_t w = 0;
  for (size_t r = 0; r < l->n; r++) {
    if (w > 0 && l->v[w - 1].key_len == l->v[r].key_len && !memcmp(l->v[w - 1].key, l->v[r].key, l->v[r].key_len)) {
      free(l->v[r].key);
      free(l->v[r].token);
      continue;
    }
    l->v[w++] = l->v[r];
  }
  l->n = w;
}

static char *copy_bytes(const char *s, size_t n) {
  char *p = cli_xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

int cli_exec_pooled(void *client, xr_batch *b) { return xr_client_exec(client, b); }

/* GET and PTTL of one page's keys, read back into `out`. */
static int read_page(cli_lock_list *out, cli_exec_fn exec, void *ctx, xr_batch *b, const xr_reply *keys, size_t skip) {
  size_t n = xr_reply_count(keys);
  xr_batch_clear(b);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    const char *key = xr_reply_str(xr_reply_at(keys, i), &len);
    if (!key) return xr_error_set(XR_EPROTOCOL, "SCAN answered a key that is not a string");
    const char *get[] = {"GET", key}, *pttl[] = {"PTTL", key};
    size_t lens[] = {3, len}, plens[] = {4, len};
    int rc = xr_batch_add(b, 2, get, lens);
    if (rc >= 0) rc = xr_batch_add(b, 2, pttl, plens);
    if (rc < 0) return rc;
  }
  int rc = exec(ctx, b);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    size_t key_len, token_len;
    const char *key = xr_reply_str(xr_reply_at(keys, i), &key_len);
    const xr_reply *token = NULL, *ttl = NULL;
    const char *why = NULL;
    rc = xr_batch_result(b, 2 * i, &token, &why);
    if (rc == XR_EWRONGTYPE) {
      char *shown = cli_text_escape(key, key_len);
      fprintf(stderr, "crossredis: skipping %s: not a string, so not a Chat SDK lock\n", shown);
      free(shown);
      continue;
    }
    if (rc) return xr_error_set(rc, "GET %.200s: %s", key, why ? why : xr_strerror(rc));
    if ((rc = xr_batch_result(b, 2 * i + 1, &ttl, &why)) != 0)
      return xr_error_set(rc, "PTTL %.200s: %s", key, why ? why : xr_strerror(rc));
    if (xr_reply_kind(token) != XR_REPLY_STRING || xr_reply_integer(ttl) == -2) continue; /* vanished */
    const char *tok = xr_reply_str(token, &token_len);
    if (out->n == out->cap) {
      out->cap = out->cap ? out->cap * 2 : 64;
      out->v = cli_xrealloc(out->v, out->cap * sizeof *out->v);
    }
    cli_lock *l = &out->v[out->n++];
    l->key = copy_bytes(key, key_len);
    l->key_len = key_len;
    l->thread = l->key + skip;
    l->thread_len = key_len - skip;
    l->token = copy_bytes(tok, token_len);
    l->token_len = token_len;
    l->ttl_ms = xr_reply_integer(ttl);
    xr_token_info info;
    l->origin = xr_token_origin_of(&info, tok, token_len);
    l->shape = info.shape_of;
    l->origins = xr_token_origins(tok, token_len);
  }
  return 0;
}

int cli_lock_scan(cli_lock_list *out, cli_exec_fn exec, void *ctx, const char *prefix, long count,
                  const char *progress) {
  /* The keys start with "<prefix>:lock:"; in the pattern the prefix's glob characters are
   * escaped so that "a*" does not also list the locks of "ab". */
  size_t plen = strlen(prefix);
  char *literal = cli_xmalloc(plen + 7);
  memcpy(literal, prefix, plen);
  memcpy(literal + plen, ":lock:", 7);
  char *escaped = NULL;
  size_t elen = 0;
  int rc = xr_key_escape_glob(&escaped, &elen, literal, plen + 6);
  free(literal);
  if (rc) return rc;
  char *pattern = cli_xmalloc(elen + 2);
  memcpy(pattern, escaped, elen);
  memcpy(pattern + elen, "*", 2);
  xr_free(escaped);

  char count_text[32], cursor[32] = "0";
  snprintf(count_text, sizeof count_text, "%ld", count);
  xr_batch *b = NULL, *scan = NULL;
  if ((rc = xr_batch_new(&b)) != 0 || (rc = xr_batch_new(&scan)) != 0) {
    xr_batch_free(b);
    free(pattern);
    return rc;
  }
  size_t next_report = PROGRESS_EVERY;
  do {
    const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", count_text};
    size_t lens[] = {4, strlen(cursor), 5, elen + 1, 5, strlen(count_text)};
    const xr_reply *page = NULL;
    const char *why = NULL;
    xr_batch_clear(scan);
    if ((rc = xr_batch_add(scan, 6, argv, lens)) < 0 || (rc = exec(ctx, scan)) != 0) break;
    if ((rc = xr_batch_result(scan, 0, &page, &why)) != 0) {
      rc = xr_error_set(rc, "SCAN: %s", why ? why : xr_strerror(rc));
      break;
    }
    const xr_reply *next = xr_reply_at(page, 0), *keys = xr_reply_at(page, 1);
    size_t next_len = 0;
    const char *next_text = next ? xr_reply_str(next, &next_len) : NULL;
    if (xr_reply_kind(page) != XR_REPLY_ARRAY || !next_text || next_len >= sizeof cursor || !keys ||
        xr_reply_kind(keys) != XR_REPLY_ARRAY) {
      rc = xr_error_set(XR_EPROTOCOL, "SCAN answered something that is not [cursor, keys]");
      break;
    }
    memcpy(cursor, next_text, next_len);
    cursor[next_len] = '\0';
    out->scanned += xr_reply_count(keys);
    rc = read_page(out, exec, ctx, b, keys, plen + 6);
    if (rc) break;
    if (progress && out->scanned >= next_report) {
      fprintf(stderr, "%s: %zu keys scanned, %zu %s\n", progress, out->scanned, out->n, cli_plural(out->n, "lock", "locks"));
      while (next_report <= out->scanned) next_report += PROGRESS_EVERY;
    }
  } while (strcmp(cursor, "0") != 0);
  xr_batch_free(b);
  xr_batch_free(scan);
  free(pattern);
  if (rc == 0) sort_unique(out);
  return rc;
}

/* The order of a set in summaries: its first writer as xr_token_origin_of names it (crossredis
 * for a two-writer set), unknown after every known one; then certain before uncertain. */
static unsigned set_rank(unsigned origins) {
  xr_token_origin first = (origins & XR_ORIGIN_BIT(XR_ORIGIN_CROSSREDIS)) ? XR_ORIGIN_CROSSREDIS : XR_ORIGIN_UNKNOWN;
  for (unsigned o = 0; first == XR_ORIGIN_UNKNOWN && o < 32; o++)
    if (origins & XR_ORIGIN_BIT(o)) first = (xr_token_origin)o;
  unsigned primary = first == XR_ORIGIN_UNKNOWN ? 64u : (unsigned)first;
  return primary * 2 + (cli_origins_uncertain(origins) ? 1u : 0u);
}

static int by_rank(const void *a, const void *b) {
  const cli_origin_count *x = a, *y = b;
  unsigned rx = set_rank(x->origins), ry = set_rank(y->origins);
  if (rx != ry) return rx < ry ? -1 : 1;
  return x->origins < y->origins ? -1 : x->origins > y->origins;
}

size_t cli_lock_count_origins(const cli_lock_list *l, cli_origin_count out[CLI_ORIGIN_SETS_MAX]) {
  size_t n = 0;
  for (size_t i = 0; i < l->n; i++) {
    size_t k = 0;
    while (k < n && out[k].origins != l->v[i].origins) k++;
    if (k == n) {
      if (n == CLI_ORIGIN_SETS_MAX) continue; /* cannot happen: xr_token_origins gives 13 sets */
      out[n++] = (cli_origin_count){l->v[i].origins, 0};
    }
    out[k].n++;
  }
  qsort(out, n, sizeof *out, by_rank);
  return n;
}
