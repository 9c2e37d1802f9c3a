/* Every Chat SDK lock under a key prefix, with its token, TTL and origin: the read-only scan that
 * `crossredis locks` shows and `crossredis drain` repeats. */
#ifndef CROSSREDIS_CLI_LOCK_SCAN_H
#define CROSSREDIS_CLI_LOCK_SCAN_H

#include <stddef.h>

#include "crossredis/client.h"
#include "crossredis/token.h"

typedef struct cli_lock {
  char *key;          /* <prefix>:lock:<thread id>, as stored (binary-safe, NUL-terminated) */
  size_t key_len;
  const char *thread; /* points into key, past "<prefix>:lock:" */
  size_t thread_len;
  char *token;        /* the value (NUL-terminated) */
  size_t token_len;
  long long ttl_ms;   /* PTTL: milliseconds left, -1 when the key has no TTL */
  xr_token_origin origin;
  xr_token_origin shape; /* the upstream writer whose shape the token has (token.h shape_of) */
} cli_lock;

typedef struct cli_lock_list {
  cli_lock *v;
  size_t n, cap;
  size_t scanned; /* keys SCAN returned, vanished ones and repeats included */
} cli_lock_list;

/* Fills `out` (zeroed by the caller, or cleared with cli_lock_list_free) with every lock whose key
 * starts with "<prefix>:lock:": SCAN MATCH <escaped prefix>:lock:* COUNT count, and per SCAN page
 * one pipeline of GET and PTTL for each key. Only reads. A key that vanished between SCAN and GET
 * (or PTTL) is skipped; so is a key that is not a string (WRONGTYPE), with a warning on stderr
 * naming it. The list comes back sorted by thread id (bytes), each key once (SCAN may repeat one).
 * With `progress` not NULL, prints "<progress>: N keys scanned, M locks" on stderr each time
 * another 10,000 keys were scanned. Returns 0 or the library's code (message in xr_error_last). */
int cli_lock_scan(cli_lock_list *out, xr_client *c, const char *prefix, long count, const char *progress);

void cli_lock_list_free(cli_lock_list *l);

#endif
