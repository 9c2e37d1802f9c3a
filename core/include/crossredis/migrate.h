/* Moving a key family's old-shape keys to the new shape (family.h): what `crossredis migrate
 * plan|copy|verify` runs, and what a program may run itself.
 *
 *   plan    read-only: the old-shape keys left, with and without a TTL, when the last one with a
 *           TTL expires, and how many of them have their new key already (SCAN with the old
 *           shape's glob on every master, each key checked against the pattern, then PEXPIRETIME
 *           of the old key and EXISTS of the new one, pipelined per page).
 *   copy    the keys without a TTL (with `all`, every one) are moved: DUMP + PEXPIRETIME of the old
 *           key, RESTORE of the new key with ABSTTL (the expiry kept) through the migration
 *           window's guarded script (window.h: never over a present new key, which is newer, and
 *           never while a window's delete marker for it lives), then the old key is deleted only
 *           when unchanged (its DUMP compared in a script on its slot). A key written meanwhile
 *           (through a window, which writes both shapes) is left for the next run. Dry run unless
 *           `apply`. Resumable: a rerun finds only what is left; a moved key is gone from the old
 *           shape.
 *   verify  read-only: no old-shape key left (stats.scanned == 0), else some of them as examples.
 *
 * Keys without a TTL never expire: they are what a hard cut-over orphans, and what copy exists
 * for; keys with one may also just be left to expire (plan says when the last does).
 * SCAN's promise holds: a key present from start to end is seen at least once (a key may be
 * counted twice while the keyspace is resized; zero is exact).
 *
 * Thread rules: each call blocks the calling thread until done; the client may be shared. */
#ifndef CROSSREDIS_MIGRATE_H
#define CROSSREDIS_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "export.h"
#include "family.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XR_MIGRATE_EXAMPLES 10

/* What a run found and did. Counts are of old-shape keys. */
typedef struct xr_migrate_stats {
  size_t scanned;         /* old-shape keys seen */
  size_t with_ttl;        /* ... with a TTL */
  size_t without_ttl;     /* ... without one */
  size_t vanished;        /* gone between SCAN and the look (expired, moved, deleted) */
  int64_t last_expiry_ms; /* the latest expiry of those with a TTL, unix ms; 0 when none */
  size_t new_present;     /* old keys whose new key exists already */
  /* copy */
  size_t chosen;          /* to move: without a TTL (with `all`, every one still there) */
  size_t copied;          /* restored as their new key (apply) */
  size_t kept_newer;      /* their new key was there (or just deleted): not copied (apply) */
  size_t deleted;         /* old keys deleted after that (apply) */
  size_t changed;         /* old keys written between DUMP and delete: left for the next run */
  /* some old-shape keys seen (plan: without a TTL; verify: any; copy: those left behind), owned: clear them
   * with xr_migrate_stats_clear */
  size_t n_examples;
  char *examples[XR_MIGRATE_EXAMPLES];
  size_t example_lens[XR_MIGRATE_EXAMPLES];
} xr_migrate_stats;

/* Frees the examples and zeroes the stats. */
XR_API void xr_migrate_stats_clear(xr_migrate_stats *s);

#define XR_MIGRATE_OPTIONS_VERSION 1

typedef struct xr_migrate_options {
  unsigned version; /* XR_MIGRATE_OPTIONS_VERSION */
  int count;        /* SCAN COUNT hint; 0: 1000 */
  int64_t rate;     /* Redis commands per second at most (the run sleeps between pipelines); 0: no
                       bound (the command's default is 10000) */
  int all;          /* copy: keys with a TTL too */
  int apply;        /* copy: 1 writes; 0 (the default) is a dry run that counts what it would do */
  /* Called after each SCAN page with the stats so far. May be NULL. */
  void (*progress)(void *ctx, const xr_migrate_stats *s);
  void *progress_ctx;
} xr_migrate_options;

#define XR_MIGRATE_OPTIONS_INIT {XR_MIGRATE_OPTIONS_VERSION, 0, 0, 0, 0, NULL, NULL}

/* The three runs (see the top). `opts` may be NULL. *stats is filled (zeroed first); clear it with
 * xr_migrate_stats_clear, also after a failure. Errors: XR_EINVAL for bad options, the client's
 * errors as they come (a run stopped by one may simply be run again). */
XR_API int xr_migrate_plan(xr_client *c, const xr_family *f, const xr_migrate_options *opts, xr_migrate_stats *stats);
XR_API int xr_migrate_copy(xr_client *c, const xr_family *f, const xr_migrate_options *opts, xr_migrate_stats *stats);
XR_API int xr_migrate_verify(xr_client *c, const xr_family *f, const xr_migrate_options *opts,
                             xr_migrate_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
