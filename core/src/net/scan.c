/* SCAN over every master (scan.h): the masters taken when the scan starts, one cursor at a time,
 * each step a batch operation aimed at its node. */
#include <string.h>

#include "base/decimal.h"
#include "base/internal.h"
#include "crossredis/scan.h"
#include "net/batch_internal.h"
#include "net/client_internal.h"

struct xr_scan {
  xr_node **nodes;
  size_t n, at;
  char cursor[32];
  char *match;
  size_t match_len;
  char count[XR_DEC_MAX];
  size_t count_len;
  char *type;
};

int xr_scan_new(xr_scan **out, xr_client *c, const xr_scan_options *opts) {
  if (!out) return xr_fail(XR_EINVAL, "xr_scan_new: out is required");
  *out = NULL;
  xr_scan_options o = XR_SCAN_OPTIONS_INIT;
  if (opts) {
    if (opts->version != XR_SCAN_OPTIONS_VERSION)
      return xr_fail(XR_EINVAL, "xr_scan_new: options version %u, expected %u (use XR_SCAN_OPTIONS_INIT)", opts->version,
                     XR_SCAN_OPTIONS_VERSION);
    o = *opts;
  }
  if (o.count < 0) return xr_fail(XR_EINVAL, "xr_scan_new: count must be 0 (the default, 1000) or more, got %d", o.count);
  xr_scan *s = xr_calloc(1, sizeof *s);
  if (!s) return xr_fail_nomem();
  int rc = XR_OK;
  if (c) {
    rc = xr_topology_masters(c, &s->nodes, &s->n);
  } else if (!(s->nodes = xr_calloc(1, sizeof *s->nodes))) { /* one server, whichever runs the batches */
    rc = xr_fail_nomem();
  } else {
    s->n = 1;
  }
  if (!rc && o.match) {
    s->match_len = o.match_len ? o.match_len : strlen(o.match);
    if (!(s->match = xr_strndup(o.match, s->match_len))) rc = xr_fail_nomem();
  }
  if (!rc && o.type && !(s->type = xr_strndup(o.type, strlen(o.type)))) rc = xr_fail_nomem();
  if (!rc && s->n == 0) rc = xr_fail(XR_ECLUSTERDOWN, "xr_scan_new: %s has no master to scan", c->address);
  if (rc) {
    xr_scan_free(s);
    return rc;
  }
  strcpy(s->cursor, "0");
  s->count_len = xr_dec_u64(s->count, (uint64_t)(o.count ? o.count : 1000));
  *out = s;
  return XR_OK;
}

void xr_scan_free(xr_scan *s) {
  if (!s) return;
  xr_topology_nodes_free(s->nodes, s->n);
  xr_free(s->match);
  xr_free(s->type);
  xr_free(s);
}

size_t xr_scan_nodes(const xr_scan *s) { return s ? s->n : 0; }
size_t xr_scan_node_at(const xr_scan *s) { return s ? s->at : 0; }

int xr_scan_add(xr_scan *s, xr_batch *b) {
  if (!s || !b) return xr_fail(XR_EINVAL, "xr_scan_add: scan and batch are required");
  if (s->at >= s->n) return xr_fail(XR_EINVAL, "xr_scan_add: the scan is done");
  const char *argv[8] = {"SCAN", s->cursor};
  size_t lens[8] = {4, strlen(s->cursor)};
  int argc = 2;
  if (s->match) argv[argc] = "MATCH", lens[argc++] = 5, argv[argc] = s->match, lens[argc++] = s->match_len;
  argv[argc] = "COUNT", lens[argc++] = 5, argv[argc] = s->count, lens[argc++] = s->count_len;
  if (s->type) argv[argc] = "TYPE", lens[argc++] = 4, argv[argc] = s->type, lens[argc++] = strlen(s->type);
  return xr_batch_add_on(b, s->nodes[s->at], argc, argv, lens);
}

int xr_scan_take(xr_scan *s, const xr_batch *b, size_t i, const xr_reply **keys, int *done) {
  if (!s || !b || !keys || !done) return xr_fail(XR_EINVAL, "xr_scan_take: an argument is NULL");
  *keys = NULL;
  *done = s->at >= s->n;
  const xr_reply *page;
  const char *why = NULL;
  int rc = xr_batch_result(b, i, &page, &why);
  const char *where = s->nodes[s->at] ? s->nodes[s->at]->address : "the server";
  if (rc) return xr_fail(rc, "SCAN of %s: %s", where, why ? why : xr_strerror(rc));
  const xr_reply *next = xr_reply_at(page, 0), *k = xr_reply_at(page, 1);
  size_t len = 0;
  const char *text = next ? xr_reply_str(next, &len) : NULL;
  if (xr_reply_kind(page) != XR_REPLY_ARRAY || !text || len >= sizeof s->cursor || !k || xr_reply_kind(k) != XR_REPLY_ARRAY)
    return xr_fail(XR_EPROTOCOL, "SCAN of %s answered something that is not [cursor, keys]", where);
  memcpy(s->cursor, text, len);
  s->cursor[len] = '\0';
  if (!strcmp(s->cursor, "0")) s->at++; /* this node is done: the next one from its start */
  *keys = k;
  *done = s->at >= s->n;
  return XR_OK;
}
