/* Every Chat SDK lock under a key prefix, with its token, TTL and origin: the read-only scan that
 * `crossredis locks` shows and `crossredis drain` repeats. */
#ifndef CROSSREDIS_CLI_LOCK_SCAN_H
#define CROSSREDIS_CLI_LOCK_SCAN_H

#include <stdbool.h>
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
  unsigned origins;      /* every writer the token may come from (xr_token_origins); more than
                            one bit when its shape cannot tell */
} cli_lock;

typedef struct cli_lock_list {
  cli_lock *v;
  size_t n, cap;
  size_t scanned; /* keys SCAN returned, vanished ones and repeats included */
} cli_lock_list;

/* Runs one batch (a SCAN, a page of GET and PTTL) on the server: 0 or an error code, as
 * xr_client_exec returns. */
typedef int (*cli_exec_fn)(void *ctx, xr_batch *b);

/* cli_exec_fn over the client's pool (ctx: the xr_client), bounded by its command timeout. */
int cli_exec_pooled(void *client, xr_batch *b);

/* Fills `out` (zeroed by the caller, or cleared with cli_lock_list_free) with every lock whose key
 * starts with "<prefix>:lock:": SCAN MATCH <escaped prefix>:lock:* COUNT count, and per SCAN page
 * one pipeline of GET and PTTL for each key, each run by exec(ctx, batch). Only reads. A key that vanished between SCAN and GET
 * (or PTTL) is skipped; so is a key that is not a string (WRONGTYPE), with a warning on stderr
 * naming it. The list comes back sorted by thread id (bytes), each key once (SCAN may repeat one).
 * With `progress` not NULL, prints "<progress>: N keys scanned, M locks" on stderr each time
 * another 10,000 keys were scanned. Returns 0 or the library's code (message in xr_error_last). */
int cli_lock_scan(cli_lock_list *out, cli_exec_fn exec, void *ctx, const char *prefix, long count,
                  const char *progress);

void cli_lock_list_free(cli_lock_list *l);

/* How many locks have one set of possible writers. */
typedef struct cli_origin_count {
  unsigned origins; /* xr_token_origins */
  size_t n;
} cli_origin_count;

/* Room for every set xr_token_origins can give (8 single writers, 5 "crossredis or X"). */
enum { CLI_ORIGIN_SETS_MAX = 32 };

/* The locks of `l` counted by their set of possible writers, in the order summaries show them:
 * by the first writer (ts-node-redis, ..., python-ioredis, crossredis; unknown last), a certain
 * set before the uncertain ones. Returns how many sets were written to out. */
size_t cli_lock_count_origins(const cli_lock_list *l, cli_origin_count out[CLI_ORIGIN_SETS_MAX]);

/* Whether more than one writer may have made the token (its shape cannot tell). */
static inline bool cli_origins_uncertain(unsigned origins) { return (origins & (origins - 1)) != 0; }

#endif
