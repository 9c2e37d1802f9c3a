/* The read-only scan of the tools (tools/value_scan.h). */
#include <string.h>

#include "base/internal.h"
#include "net/prefix_scan.h"
#include "tools/value_scan.h"

enum { PROGRESS_EVERY = 10000 };

/* The exec callback's failure, named as the tool calls it. */
static int named(const xr_value_scan *vs, int rc) {
  return rc == XR_EUSER ? xr_fail(rc, "%s: %s", vs->who, xr_error_last()->message) : rc;
}

/* GET and PTTL of one page's keys, handed over one by one. */
static int read_page(const xr_value_scan *vs, xr_prefix_scan *ps, xr_batch *b, const xr_reply *keys) {
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
  int rc = xr_prefix_scan_exec_batch(ps, b);
  if (rc) return named(vs, rc);
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
  xr_prefix_scan *ps = NULL;
  xr_batch *b = NULL;
  int rc = xr_prefix_scan_new(&ps, vs->client, prefix, prefix_len, vs->count, vs->exec, vs->exec_ctx);
  if (!rc) rc = xr_batch_new(&b);
  if (rc) {
    xr_prefix_scan_free(ps);
    return rc;
  }
  size_t next_report = PROGRESS_EVERY;
  for (bool done = false; !done;) {
    const xr_reply *keys = NULL;
    if ((rc = xr_prefix_scan_next(ps, &keys, &done)) != 0) {
      rc = named(vs, rc);
      break;
    }
    *scanned += xr_reply_count(keys);
    if ((rc = read_page(vs, ps, b, keys))) break;
    if (vs->progress && *scanned >= next_report) {
      vs->progress(vs->progress_ctx, *scanned, vs->found ? vs->found(vs->key_ctx) : 0);
      while (next_report <= *scanned) next_report += PROGRESS_EVERY;
    }
  }
  xr_batch_free(b);
  xr_prefix_scan_free(ps);
  return rc;
}
