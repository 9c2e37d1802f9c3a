/* Migration windows: reading and writing one key family (family.h) while its keys move from the
 * old shape to the new one, so that no value that exists is missed and no key is left behind.
 *
 * While the window is open:
 *   write   if the new key is missing and the old one exists, the old one is first copied forward
 *           (DUMP + PEXPIRETIME of old, RESTORE of new with ABSTTL: the value and its expiry kept,
 *           never REPLACE, so a new key someone wrote meanwhile wins); then the command runs on the
 *           new key and, atomically only where the old key still exists (a script on the old key's
 *           slot), on the old key too, so processes still reading the old shape keep seeing current
 *           values. The window never creates an old-shape key unless the options ask for it
 *           (old_writes = XR_WINDOW_OLD_WRITES_ALWAYS). The reply is the new key's.
 *   read    EXISTS new + the command on new in one pipeline (one slot); when new is missing, the
 *           command on old + EXISTS old (+ DUMP and PEXPIRETIME with copy_forward, then RESTORE of
 *           new with ABSTTL, never REPLACE); when old is gone too, the command on new once more (the
 *           value may have moved meanwhile: a copy forward, `crossredis migrate copy`). The reply is
 *           from whichever key holds the value (new's, the empty reply included, when neither does).
 *   delete  DEL old first, then new (with a guard, below): a reader cannot bring the value back
 *           from old afterwards.
 * Once closed (xr_window_close found no old-shape key left, or the clock passed close_after_ms),
 * every call touches the new key alone and the old shape is never read nor written again.
 *
 * Commands: calls take the family's field values (values[i] for field i in xr_family_field_count
 * order) and a command WITHOUT its key: argv[0] is the command's name and argv[1..argc) its
 * arguments after the key, which the window puts in as the first argument (GET; SET v EX 60;
 * RPUSH a b; LRANGE 0 -1; SADD m; SMEMBERS; HSET f v; HGETALL; ZADD 1 m; ZRANGE 0 -1 WITHSCORES;
 * EXPIRE 60; ...). One path for every value type: strings, lists, sets, hashes, sorted sets (and
 * any other type DUMP/RESTORE carry). Only commands whose one key is the first argument: a
 * command naming a second key (RPOPLPUSH, SMOVE, ...) cannot be mirrored. `lens` may be NULL when
 * every argument is NUL-terminated. What a read sends is up to the caller: a write command given to
 * xr_window_read runs on whichever key it reaches.
 *
 * The delete race and its bound: a reader copying forward reads old (DUMP) before a concurrent
 * delete's DEL old and could RESTORE new after the delete's DEL new, bringing the value back. The
 * delete therefore removes the new key with a script that also sets a short-lived marker key on the
 * new key's slot ("xr:window:deleted:{<tag>}:<new key>", PX delete_guard_ms), and every copy forward
 * (a window's and `crossredis migrate copy`'s) restores through a script on that slot that skips
 * the RESTORE while the marker exists. What remains: a copy forward whose DUMP and RESTORE are more
 * than delete_guard_ms apart (a process stalled that long between the two round trips) can still
 * resurrect a deleted value; the default (10 s) is well above the client's command timeout.
 * Concurrent writes of one key through two windows are not serialised across the two shapes: the
 * new key holds the order the server saw on its slot, the old key the order on its own (the old
 * shape is the one being retired: its readers see each write, maybe in another order).
 *
 * Errors: as xr_client_command (error replies become XR_ESERVER / XR_EWRONGTYPE ... with the
 * server's text); XR_EINVAL for values that do not fit the family or an empty command; a failure
 * of the old key's mirror write fails the call (the new key was written; the message says "old
 * shape"). Nothing is retried.
 *
 * Ownership: the window keeps its own copy of the family (the caller may free theirs right after
 * xr_window_new) and borrows the client, which must outlive the window. Replies are owned by the
 * caller (xr_reply_free).
 * Thread rules: a window may be used from any number of threads at once, like its client;
 * xr_window_close and xr_window_is_closed too (the closed state is one atomic flag). */
#ifndef CROSSREDIS_WINDOW_H
#define CROSSREDIS_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "export.h"
#include "family.h"
#include "key_pattern.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_window xr_window;

/* When a write also goes to the old shape. */
typedef enum xr_window_old_writes {
  /* Only where the old key exists (checked atomically on its slot): old-shape readers keep seeing
   * current values of the keys they know, and the old shape only shrinks, so the window can close.
   * The default. */
  XR_WINDOW_OLD_WRITES_EXISTING = 0,
  /* Always, creating old-shape keys too: while processes that read only the old shape still run
   * (a rolling deployment). The old shape then keeps growing: switch to EXISTING (a new window)
   * once those processes are gone, before closing. */
  XR_WINDOW_OLD_WRITES_ALWAYS = 1
} xr_window_old_writes;

/* The old_writes named "existing" or "always" (what the bindings' option takes): its value (>= 0),
 * or XR_EINVAL naming the choices and what was given. NULL: XR_WINDOW_OLD_WRITES_EXISTING. */
XR_API int xr_window_old_writes_parse(const char *name);

#define XR_WINDOW_OPTIONS_VERSION 1

typedef struct xr_window_options {
  unsigned version;        /* XR_WINDOW_OPTIONS_VERSION */
  int copy_forward;        /* 1: a read that finds the old key only copies it to the new shape
                              (value and expiry); 0: it just reads old */
  int64_t close_after_ms;  /* unix time in ms from which the window acts closed without a scan
                              (the time every process agreed on); 0: never */
  xr_window_old_writes old_writes; /* XR_WINDOW_OLD_WRITES_EXISTING (0) or _ALWAYS */
  int64_t delete_guard_ms; /* how long a delete's marker keeps copies forward away; 0: 10000 */
} xr_window_options;

#define XR_WINDOW_OPTIONS_INIT {XR_WINDOW_OPTIONS_VERSION, 0, 0, XR_WINDOW_OLD_WRITES_EXISTING, 0}

/* Opens a window over `family` for `client`. `opts` may be NULL (the defaults). XR_EINVAL for an
 * unknown version, a negative close_after_ms or delete_guard_ms, an unknown old_writes. */
XR_API int xr_window_new(xr_window **out, xr_client *client, const xr_family *family,
                         const xr_window_options *opts);
XR_API void xr_window_free(xr_window *w);

/* The window's family (its own copy, owned by w). */
XR_API const xr_family *xr_window_family(const xr_window *w);

/* A write through the window (see the top). *reply (when reply is not NULL): the new key's reply. */
XR_API int xr_window_write(xr_window *w, xr_reply **reply, const xr_key_span *values, size_t n, int argc,
                           const char *const *argv, const size_t *lens);

/* A read through the window (see the top). *reply (when reply is not NULL): the reply of the key
 * that holds the value, else the new key's. */
XR_API int xr_window_read(xr_window *w, xr_reply **reply, const xr_key_span *values, size_t n, int argc,
                          const char *const *argv, const size_t *lens);

/* Deletes both keys of a member (old first, then new with the guard marker; new alone once
 * closed). *deleted (may be NULL): how many of the two existed (0, 1 or 2). */
XR_API int xr_window_delete(xr_window *w, int *deleted, const xr_key_span *values, size_t n);

/* Closes the window when no old-shape key is left: SCAN of every master with the old shape's glob,
 * each key checked against the pattern. *remaining (may be NULL): the old-shape keys found (0 on
 * success). XR_EEXISTS while some remain, the message with their count and one of them ("window X:
 * 12 old-shape keys remain (e.g. 'k'): copy them with `crossredis migrate copy` or wait for their
 * TTL"); the window stays open. Once closed it stays closed; closing again returns 0 at once. */
XR_API int xr_window_close(xr_window *w, size_t *remaining);

/* Whether the window acts closed: closed by xr_window_close, or close_after_ms has passed. */
XR_API bool xr_window_is_closed(const xr_window *w);

#ifdef __cplusplus
}
#endif
#endif
