/* The read-only scan of the tools (tools/value_scan.h). */
#include <string.h>

#include "crossredis/keys.h"
#include "crossredis/scan.h"
#include "base/internal.h"
#include "tools/value_scan.h"

enum { PROGRESS_EVERY = 10000 };

static int run(const xr_value_scan *vs, xr_batch *b) {
  if (!vs->exec) return xr_client_exec(vs->client, b);
  int rc = vs->exec(vs->exec_ctx, b);
  if (rc > 0) rc = xr_fail(XR_EUSER, "%s: the exec callback returned %d", vs->who, rc);
  return rc;
}

/* GET and PTTL of one page's keys, handed over one by one. */
static int read_page(const xr_value_scan *vs, xr_batch *b, const xr_reply *keys) {
  size_t n = xr_reply_count(keys);
  xr_batch_clear(b);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    const char *key = xr_reply_str(xr_reply_at(keys, i), &len);
    if (!key) return xr_fail(XR_EPROTOCOL, "SCAN answered a key that is not a string");
    const char *get[] = {"GET", key}, *pttl[] = {"PTTL", key};
    size_t lens[] = {3, len}, plens[] = {4, len};
    int rc = xr_batch_add(b, 2, get, lens);
    if (rc >= 0) rc = xr_batch_add(b, 2, pttl, plens);
    if (rc < 0) return rc;
  }
  int rc = run(vs, b);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    size_t key_len, value_len = 0;
    const char *key = xr_reply_str(xr_reply_at(keys, i), &key_len);
    const xr_reply *value = NULL, *ttl = NULL;
    const char *why = NULL;
    rc = xr_batch_result(b, 2 * i, &value, &why);
    if (rc == XR_EWRONGTYPE) {
      if ((rc = vs->key(vs->key_ctx, key, key_len, NULL, 0, -1))) return rc;
      continue;
    }
    if (rc) return xr_fail(rc, "GET %.200s: %s", key, why ? why : xr_strerror(rc));
    if ((rc = xr_batch_result(b, 2 * i + 1, &ttl, &why)) != 0)
      return xr_fail(rc, "PTTL %.200s: %s", key, why ? why : xr_strerror(rc));
    if (xr_reply_kind(value) != XR_REPLY_STRING || xr_reply_integer(ttl) == -2) continue; /* vanished */
    const char *v = xr_reply_str(value, &value_len);
    if ((rc = vs->key(vs->key_ctx, key, key_len, v, value_len, xr_reply_integer(ttl)))) return rc;
  }
  return XR_OK;
}

int xr_value_scan_run(const xr_value_scan *vs, const char *prefix, size_t prefix_len, size_t *scanned) {
  xr_scan_options so = XR_SCAN_OPTIONS_INIT;
  char *pattern = NULL;
  size_t plen = 0;
  int rc = xr_key_prefix_pattern(&pattern, &plen, prefix, prefix_len); /* "a*" must not list "ab..." */
  if (rc) return rc;
  so.match = pattern;
  so.match_len = plen;
  so.count = vs->count;
  xr_scan *sc = NULL;
  xr_batch *b = NULL, *page_batch = NULL;
  if ((rc = xr_scan_new(&sc, vs->client, &so)) != 0 || (rc = xr_batch_new(&b)) != 0 ||
      (rc = xr_batch_new(&page_batch)) != 0) {
    xr_batch_free(b);
    xr_scan_free(sc);
    xr_free(pattern);
    return rc;
  }
  size_t next_report = PROGRESS_EVERY;
  for (int done = 0; !done;) {
    const xr_reply *keys = NULL;
    xr_batch_clear(page_batch);
    int i = xr_scan_add(sc, page_batch);
    if ((rc = i) < 0 || (rc = run(vs, page_batch)) != 0 || (rc = xr_scan_take(sc, page_batch, (size_t)i, &keys, &done)) != 0)
      break;
    *scanned += xr_reply_count(keys);
    if ((rc = read_page(vs, b, keys))) break;
    if (vs->progress && *scanned >= next_report) {
      vs->progress(vs->progress_ctx, *scanned, vs->found ? vs->found(vs->key_ctx) : 0);
      while (next_report <= *scanned) next_report += PROGRESS_EVERY;
    }
  }
  xr_batch_free(b);
  xr_batch_free(page_batch);
  xr_scan_free(sc);
  xr_free(pattern);
  return rc;
}
