/* The keys that start with a literal prefix, over the whole keyspace: SCAN on every master
 * (scan.h) with the prefix's glob characters escaped (a prefix "a*" never lists "ab..."), page by
 * page, and the one-command-per-key pipelines the callers run over a page (GET to read, DEL to
 * clear: one key each, so no CROSSSLOT on a Cluster; the client splits a pipeline per node). What
 * the systems' sweeps (ayepi's cache, xp's listings and clears) and the tools' scans share.
 * A prefix scan belongs to one thread at a time; the client may be shared. */
#ifndef CROSSREDIS_NET_PREFIX_SCAN_H
#define CROSSREDIS_NET_PREFIX_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "crossredis/client.h"

typedef struct xr_prefix_scan xr_prefix_scan;

/* How a page's batch runs: xr_client_exec on the scan's client by default, or the caller's (a
 * tool that runs batches its own way). A positive return is the caller's failure (XR_EUSER). */
typedef int (*xr_prefix_scan_exec)(void *ctx, xr_batch *b);

/* Starts a scan of the keys under prefix[0..prefix_len) on c's masters; count is SCAN's COUNT
 * hint (0: scan.h's default). exec NULL: xr_client_exec(c, ...). */
int xr_prefix_scan_new(xr_prefix_scan **out, xr_client *c, const char *prefix, size_t prefix_len, int count,
                       xr_prefix_scan_exec exec, void *exec_ctx);
void xr_prefix_scan_free(xr_prefix_scan *ps);

/* Reads the next page: *keys its keys (an array reply, maybe empty, borrowed until the next call),
 * *done true once every master's cursor is back at 0 (the page read with it is still to be
 * handled). A failure leaves the scan where it was: calling again repeats the step. */
int xr_prefix_scan_next(xr_prefix_scan *ps, const xr_reply **keys, bool *done);

/* Runs a batch as the scan runs its pages (its exec). */
int xr_prefix_scan_exec_batch(xr_prefix_scan *ps, xr_batch *b);

/* Appends `<cmd> <key>` to b for each key of `keys` (an array of strings, as a page), only those
 * with chosen[i] when chosen is not NULL. XR_EPROTOCOL for an element that is not a string. */
int xr_batch_add_per_key(xr_batch *b, const char *cmd, const xr_reply *keys, const bool *chosen);

#endif
