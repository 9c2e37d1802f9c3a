/* The keys under a literal prefix, page by page over every master (net/prefix_scan.h). */
#include <string.h>

#include "base/internal.h"
#include "crossredis/alloc.h"
#include "crossredis/keys.h"
#include "crossredis/scan.h"
#include "net/prefix_scan.h"

struct xr_prefix_scan {
  xr_client *client;
  xr_prefix_scan_exec exec;
  void *exec_ctx;
  char *pattern;
  xr_scan *scan;
  xr_batch *page; /* the SCAN step; the page's keys are borrowed from it */
};

void xr_prefix_scan_free(xr_prefix_scan *ps) {
  if (!ps) return;
  xr_batch_free(ps->page);
  xr_scan_free(ps->scan);
  xr_free(ps->pattern);
  xr_free(ps);
}

int xr_prefix_scan_new(xr_prefix_scan **out, xr_client *c, const char *prefix, size_t prefix_len, int count,
                       xr_prefix_scan_exec exec, void *exec_ctx) {
  *out = NULL;
  xr_prefix_scan *ps = xr_calloc(1, sizeof *ps);
  if (!ps) return xr_fail_nomem();
  ps->client = c;
  ps->exec = exec;
  ps->exec_ctx = exec_ctx;
  size_t plen = 0;
  int rc = xr_key_prefix_pattern(&ps->pattern, &plen, prefix, prefix_len); /* "a*" never reaches "ab" */
  xr_scan_options so = XR_SCAN_OPTIONS_INIT;
  so.match = ps->pattern;
  so.match_len = plen;
  so.count = count;
  if (!rc) rc = xr_scan_new(&ps->scan, c, &so);
  if (!rc) rc = xr_batch_new(&ps->page);
  if (rc) {
    xr_prefix_scan_free(ps);
    return rc;
  }
  *out = ps;
  return XR_OK;
}

int xr_prefix_scan_exec_batch(xr_prefix_scan *ps, xr_batch *b) {
  if (!ps->exec) return xr_client_exec(ps->client, b);
  int rc = ps->exec(ps->exec_ctx, b);
  return rc > 0 ? xr_fail(XR_EUSER, "the exec callback returned %d", rc) : rc;
}

int xr_prefix_scan_next(xr_prefix_scan *ps, const xr_reply **keys, bool *done) {
  *keys = NULL;
  xr_batch_clear(ps->page);
  int i = xr_scan_add(ps->scan, ps->page), finished = 0, rc;
  if (i < 0) return i;
  if ((rc = xr_prefix_scan_exec_batch(ps, ps->page)) != 0) return rc;
  if ((rc = xr_scan_take(ps->scan, ps->page, (size_t)i, keys, &finished)) != 0) return rc; /* the scan stays put */
  *done = finished != 0;
  return XR_OK;
}

int xr_batch_add_per_key(xr_batch *b, const char *cmd, const xr_reply *keys, const bool *chosen) {
  size_t cmd_len = strlen(cmd);
  for (size_t i = 0; i < xr_reply_count(keys); i++) {
    if (chosen && !chosen[i]) continue;
    size_t len;
    const char *key = xr_reply_str(xr_reply_at(keys, i), &len);
    if (!key) return xr_fail(XR_EPROTOCOL, "SCAN answered a key that is not a string");
    const char *argv[] = {cmd, key};
    size_t lens[] = {cmd_len, len};
    int rc = xr_batch_add(b, 2, argv, lens);
    if (rc < 0) return rc;
  }
  return XR_OK;
}
