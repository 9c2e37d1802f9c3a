/* An operator's read-only view of toolhive's sessions (session.h): every key under a prefix on
 * every master, each record read as toolhive reads it (session_record.h), with its TTL; records
 * that do not read are listed with Go's reason, never skipped silently. `crossredis sessions` is
 * its command. Thread safety: a scan uses its client (thread-safe); a list belongs to one thread. */
#ifndef CROSSREDIS_SESSION_SCAN_H
#define CROSSREDIS_SESSION_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "export.h"
#include "session_record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XR_SESSION_SCAN_OPTIONS_VERSION 1

typedef struct xr_session_scan_options {
  unsigned version;   /* XR_SESSION_SCAN_OPTIONS_VERSION */
  const char *prefix; /* NULL: XR_SESSION_PROXY_PREFIX ("thv:proxy:session:") */
  int count;          /* SCAN COUNT hint; 0: 1000 */
  xr_go_version go;   /* whose reader (error texts); XR_GO_DEFAULT */
  /* as xr_lock_scan_options: one batch through the caller, progress every 10,000 keys */
  int (*exec)(void *ctx, xr_batch *b);
  void *exec_ctx;
  void (*progress)(void *ctx, size_t scanned, size_t sessions);
  void *progress_ctx;
} xr_session_scan_options;

#define XR_SESSION_SCAN_OPTIONS_INIT {XR_SESSION_SCAN_OPTIONS_VERSION, NULL, 0, XR_GO_DEFAULT, NULL, NULL, NULL, NULL}

typedef struct xr_session_entry {
  const char *key;      /* as stored */
  size_t key_len;
  const char *id;       /* the key past the prefix */
  size_t id_len;
  int64_t ttl_ms;       /* PTTL; -1: no TTL */
  bool ok;              /* the record reads */
  xr_session_record record; /* when ok */
  const char *owner;    /* when ok and the metadata has vmcp.identity.binding (toolhive v0.55.1+) */
  size_t owner_len;
  const char *error;    /* when not ok: why (Go's text; "not a string: <type>" for another kind) */
} xr_session_entry;

typedef struct xr_session_list xr_session_list;

/* Scans (SCAN MATCH of the escaped prefix, then GET and PTTL per key, pipelined per page), sorted
 * by key, each key once. XR_EINVAL for bad options; a failure of the server or connection. */
XR_API int xr_session_scan(xr_session_list **out, xr_client *c, const xr_session_scan_options *options);
XR_API void xr_session_list_free(xr_session_list *l);
XR_API size_t xr_session_list_count(const xr_session_list *l);
XR_API const xr_session_entry *xr_session_list_at(const xr_session_list *l, size_t i);
/* Keys SCAN returned (repeats and vanished keys included). */
XR_API size_t xr_session_list_scanned(const xr_session_list *l);

#ifdef __cplusplus
}
#endif
#endif
