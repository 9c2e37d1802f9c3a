/* The lock scan: every Chat SDK lock under a key prefix, with its token, its TTL and the runtimes
 * whose token shape it has, read from a live server. `crossredis locks` shows one scan and
 * `crossredis drain` repeats it until no lock of a runtime is left; Python and Node can run it too.
 *
 * Read-only: SCAN MATCH "<escaped prefix>:lock:*", and per SCAN page one pipeline of GET and PTTL
 * for each key it returned. A key that vanishes between SCAN and GET (or PTTL) is left out; so is a
 * key that is not a string (WRONGTYPE: not a lock), reported through the `skipped` callback.
 *
 * Ownership: the list belongs to the caller (xr_lock_list_free); every pointer in an xr_lock_entry
 * points into the list and lives as long as it.
 * Thread rules: xr_lock_scan blocks the calling thread until the scan is complete (each batch
 * waits at most what the client's command timeout, or the caller's `exec`, allows) and calls the
 * callbacks on that thread. A finished list is read-only: any thread may read it. */
#ifndef CROSSREDIS_LOCK_SCAN_H
#define CROSSREDIS_LOCK_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "export.h"
#include "token.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- options --------------------------------------------------------------------------------- */

#define XR_LOCK_SCAN_OPTIONS_VERSION 1

typedef struct xr_lock_scan_options {
  unsigned version;   /* XR_LOCK_SCAN_OPTIONS_VERSION */
  const char *prefix; /* the Chat SDK key prefix; NULL: "chat-sdk" */
  int count;          /* SCAN COUNT hint; 0: 1000 */
  /* Runs one batch (a SCAN, or a page's GET and PTTL) and returns as xr_client_exec does: 0 with
   * the results readable, or a negative XR_E* code with the last error recorded (which stops the
   * scan: xr_lock_scan returns it; a positive value becomes XR_EUSER). NULL: xr_client_exec on
   * the client given to xr_lock_scan. A caller sets it to bound the scan by its own deadline (the
   * command drives a loop connection with poll(2)). */
  int (*exec)(void *ctx, xr_batch *b);
  void *exec_ctx;
  /* Called each time another 10,000 keys were scanned: keys SCAN returned so far (repeats and
   * vanished keys included) and locks found so far. May be NULL. */
  void (*progress)(void *ctx, size_t scanned, size_t locks);
  void *progress_ctx;
  /* Called for each key under the prefix's locks that is not a string, so not a lock (its bytes,
   * valid during the call). May be NULL. */
  void (*skipped)(void *ctx, const char *key, size_t key_len);
  void *skipped_ctx;
} xr_lock_scan_options;

#define XR_LOCK_SCAN_OPTIONS_INIT {XR_LOCK_SCAN_OPTIONS_VERSION, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL}

/* ---- the scan -------------------------------------------------------------------------------- */

/* One lock. Binary-safe: key, thread and token are byte spans (each also NUL-terminated). */
typedef struct xr_lock_entry {
  const char *key;        /* "<prefix>:lock:<thread id>", as stored */
  size_t key_len;
  const char *thread;     /* the thread id: key past "<prefix>:lock:" */
  size_t thread_len;
  const char *token;      /* the value */
  size_t token_len;
  int64_t ttl_ms;         /* PTTL: milliseconds left; -1 when the key has no TTL */
  xr_chat_origin origin; /* xr_chat_origin_of(token) */
  xr_chat_origin shape;  /* the upstream writer whose shape the token has (xr_chat_token_info.shape_of) */
  unsigned origins;       /* every writer the token may come from (xr_chat_origins): more than
                             one bit when its shape cannot tell (xr_lock_origins_uncertain) */
} xr_lock_entry;

typedef struct xr_lock_list xr_lock_list;

/* Scans c (every master of a Cluster, see scan.h; with options->exec the batches run there, and c,
 * which may then be NULL, only names the masters: NULL means the one server exec talks to) for
 * every lock of options->prefix (options NULL: the defaults). On success *out is the list, sorted by thread id
 * (bytes), each key once (SCAN may return one twice). Returns 0 or an XR_E* code with the message
 * in xr_error_last(); *out is NULL then. */
XR_API int xr_lock_scan(xr_lock_list **out, xr_client *c, const xr_lock_scan_options *options);

XR_API void xr_lock_list_free(xr_lock_list *l);

/* The number of locks (0 for NULL). */
XR_API size_t xr_lock_list_count(const xr_lock_list *l);

/* Lock i (borrowed: lives as long as l); NULL when i is out of range. */
XR_API const xr_lock_entry *xr_lock_list_at(const xr_lock_list *l, size_t i);

/* The keys SCAN returned, vanished ones and repeats included (0 for NULL). */
XR_API size_t xr_lock_list_scanned(const xr_lock_list *l);

/* ---- who holds them -------------------------------------------------------------------------- */

/* 1 when more than one writer may have made a token with these origins (its shape cannot tell). */
static inline int xr_lock_origins_uncertain(unsigned origins) { return (origins & (origins - 1)) != 0; }

/* How many locks have one set of possible writers. */
typedef struct xr_lock_origin_count {
  unsigned origins; /* xr_chat_origins */
  size_t n;
} xr_lock_origin_count;

/* Room for every set xr_chat_origins can give (8 single writers, 5 "crossredis or X"). */
#define XR_LOCK_ORIGIN_SETS_MAX 32

/* The locks of l counted by their set of possible writers, in the order summaries show them: by
 * the first writer (ts-node-redis, ..., python-ioredis, crossredis; unknown last), a certain set
 * before the uncertain ones. Writes up to `cap` counts to out and returns how many sets there are
 * (at most XR_LOCK_ORIGIN_SETS_MAX). */
XR_API size_t xr_lock_list_count_origins(const xr_lock_list *l, xr_lock_origin_count *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
