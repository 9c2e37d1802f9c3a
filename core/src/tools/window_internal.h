/* What `crossredis migrate` (tools/migrate.c) shares with the migration windows (tools/window.c):
 * the scan of a family's old shape and the one guarded copy of an old key to its new key. */
#ifndef CROSSREDIS_TOOLS_WINDOW_INTERNAL_H
#define CROSSREDIS_TOOLS_WINDOW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crossredis/client.h"
#include "crossredis/family.h"
#include "crossredis/window.h"

/* The old-shape keys on every master, page by page: fn gets each page's keys that match the old
 * pattern (a page may be empty; SCAN may repeat a key). A nonzero return of fn stops the scan and
 * is returned. count: SCAN COUNT (0: 1000). */
typedef int (*xr_family_page_fn)(void *ctx, const char *const *keys, const size_t *lens, size_t n);
int xr_family_scan_old(xr_client *c, const xr_family *f, int count, xr_family_page_fn fn, void *ctx);

/* Restores dump (a DUMP reply's bytes) as new_key with the absolute expiry pexpiretime (a
 * PEXPIRETIME reply: -1 none; -2, the key gone, restores nothing), through the script that skips it
 * while new_key exists or a delete marker for it does (window.h). *restored: 1 when this call
 * created new_key. */
int xr_window_restore(xr_window *w, int *restored, const char *new_key, size_t new_len, const char *dump,
                      size_t dump_len, long long pexpiretime);

/* The same restore added to a batch (its index, or a negative code): the script answers 1 when it
 * created new_key, 0 when it did not. */
int xr_window_add_restore(xr_window *w, xr_batch *b, const char *new_key, size_t new_len, const char *dump,
                          size_t dump_len, long long pexpiretime);

/* Adds the deletion of old_key only when its DUMP is still `dump` (a script on its slot, answering
 * 1 when it deleted): its index, or a negative code. */
int xr_window_add_delete_if_same(xr_window *w, xr_batch *b, const char *old_key, size_t old_len, const char *dump,
                                 size_t dump_len);

#endif
