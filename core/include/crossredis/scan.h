/* SCAN over the whole keyspace of a client's topology: every master of a Cluster (replicas would
 * repeat their masters' keys), each node's cursor followed back to 0; the one node of a standalone
 * or Sentinel client. A step is a batch operation, so a scan runs through xr_client_exec or a
 * loop connection (loop.h) alike:
 *
 *   xr_scan *s;  xr_scan_new(&s, client, &opts);
 *   for (int done = 0; !done;) {
 *     xr_batch_clear(b);
 *     int i = xr_scan_add(s, b);             // this step's SCAN, on the node the scan is at
 *     xr_client_exec(client, b);             // or a loop connection
 *     const xr_reply *keys;
 *     xr_scan_take(s, b, (size_t)i, &keys, &done);   // this page's keys (borrowed from b)
 *   }
 *   xr_scan_free(s);
 *
 * SCAN's own promise holds per node: every key present from start to end is returned at least
 * once (callers drop repeats); keys added or removed meanwhile may or may not be. A node that
 * fails during the scan (a failover) fails the step: start again. The set of masters is taken
 * when the scan starts.
 *
 * Thread rules: a scan belongs to one thread at a time; the client may be shared. */
#ifndef CROSSREDIS_SCAN_H
#define CROSSREDIS_SCAN_H

#include <stddef.h>

#include "client.h"
#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_scan xr_scan;

#define XR_SCAN_OPTIONS_VERSION 1

typedef struct xr_scan_options {
  unsigned version;   /* XR_SCAN_OPTIONS_VERSION */
  const char *match;  /* a SCAN MATCH pattern as it is (escape a literal prefix with
                         xr_key_escape_glob, keys.h); NULL: every key */
  size_t match_len;   /* 0 with match: strlen(match) */
  int count;          /* COUNT per step; 0: 1000 */
  const char *type;   /* TYPE filter (string, list, ...); NULL: any */
} xr_scan_options;

#define XR_SCAN_OPTIONS_INIT {XR_SCAN_OPTIONS_VERSION, NULL, 0, 0, NULL}

/* Starts a scan of c's keyspace (the masters now known; a Cluster's map is fetched when it has
 * none). `opts` may be NULL. c NULL: one server, the one whatever runs the batches talks to. */
XR_API int xr_scan_new(xr_scan **out, xr_client *c, const xr_scan_options *opts);
XR_API void xr_scan_free(xr_scan *s);

/* Appends this step's SCAN to b: its index, or a negative code (XR_EINVAL once the scan is done). */
XR_API int xr_scan_add(xr_scan *s, xr_batch *b);

/* Reads the reply of operation i of b (the one xr_scan_add returned) and moves on: *keys the page's
 * keys (an array reply borrowed from b), *done 1 once every node's cursor is back at 0. The
 * operation's failure is returned as it is (the scan stays at this step: add it again to retry). */
XR_API int xr_scan_take(xr_scan *s, const xr_batch *b, size_t i, const xr_reply **keys, int *done);

/* How many nodes the scan visits, and which it is at (0-based), for progress reports. */
XR_API size_t xr_scan_nodes(const xr_scan *s);
XR_API size_t xr_scan_node_at(const xr_scan *s);

#ifdef __cplusplus
}
#endif
#endif
