/* What the read-only scans of the tools share (lock_scan.c, session_scan.c): SCAN every master for
 * the keys that start with a literal prefix (its glob characters escaped), each page followed by
 * one pipeline of GET and PTTL per key, every key handed to the caller with its value and TTL. */
#ifndef CROSSREDIS_VALUE_SCAN_H
#define CROSSREDIS_VALUE_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "crossredis/client.h"

typedef struct xr_value_scan {
  xr_client *client;
  int count;                               /* SCAN COUNT hint (> 0) */
  int (*exec)(void *ctx, xr_batch *b);     /* NULL: xr_client_exec on client */
  void *exec_ctx;
  const char *who;                         /* "lock scan": names the exec callback in messages */
  /* called every 10,000 keys scanned: keys so far, `found(ctx)` so far */
  void (*progress)(void *ctx, size_t scanned, size_t found);
  void *progress_ctx;
  /* one key: value NULL when it is not a string (WRONGTYPE), ttl_ms -1 without a TTL. A key that
   * vanished while it was read is not handed over. A nonzero return stops the scan with it. */
  int (*key)(void *ctx, const char *key, size_t key_len, const char *value, size_t value_len, int64_t ttl_ms);
  void *key_ctx;
  size_t (*found)(void *ctx);              /* for progress; NULL: 0 */
} xr_value_scan;

/* Scans the keys that start with prefix[0..prefix_len); *scanned counts the keys SCAN returned
 * (repeats and vanished keys included). XR_OK or the first failure. */
int xr_value_scan_run(const xr_value_scan *vs, const char *prefix, size_t prefix_len, size_t *scanned);

#endif
