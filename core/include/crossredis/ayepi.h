/* ayepi: the work engine's Store and the response cache of @ayepi/redis 0.4 (SPEC.md 3), with their
 * keys, commands and bytes, so C and Python programs share them with ayepi's TypeScript services:
 *
 *   Store   <prefix><key>  STRING  get / set [PX] / del / set NX [PX] / incrby (+ pexpire)
 *           prefix "" by default
 *   cache   <prefix><key>  STRING  an entry, JSON.stringify's bytes in SPEC 3's key order
 *           (body, status, headers, storedAt, expires, staleUntil, bytes, method, path, key),
 *           PX max(1, staleUntil - now); prefix "ayepi:cache:" by default
 *
 * One handle type (xr_ayepi_store) serves both: its options give the prefix, so a program makes
 * one per store (XR_AYEPI_OPTIONS_INIT, XR_AYEPI_CACHE_OPTIONS_INIT). Commands are ioredis's as
 * ayepi sends them (lower case), with one fix of an upstream defect: an increment with a TTL is
 * one script (`incrby` then `pexpire`, atomic), where upstream sends two commands and retries
 * both when the second fails (a counter +2 for one increment).
 *
 * Errors: an empty key is XR_EINVAL; a cache entry that is not one (not an object, a field
 * missing, of the wrong type, or unknown) is XR_EINVAL naming the field, and nothing is sent.
 * Server errors name the key.
 *
 * Thread safety: a store may be used from many threads at once (its client is thread-safe);
 * batches belong to one thread at a time. */
#ifndef CROSSREDIS_AYEPI_H
#define CROSSREDIS_AYEPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "export.h"
#include "loop.h"
#include "op.h"
#include "subscriber.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_ayepi_store xr_ayepi_store;

#define XR_AYEPI_STORE_PREFIX ""
#define XR_AYEPI_CACHE_PREFIX "ayepi:cache:"

#define XR_AYEPI_OPTIONS_VERSION 1

/* ayepi's retry policy (SPEC 3), with one difference: a call is tried again only when the repeat
 * cannot change its outcome. A failure before anything was sent (cannot connect, no master, the
 * server loading or a Cluster slot down, a replica) is retried for every operation; a lost reply
 * (XR_EIO, XR_ETIMEOUT: the command may have run) only for the operations whose repeat does the
 * same (get, set, delete, the cache's get, set and delete); set_if_not_exists reads the key back
 * instead (see there), increment and publish_to are never repeated once sent (a repeat could count
 * or deliver twice); an error reply is never retried.
 * Delay before attempt n+1: round(min(base * factor^(n-1), max) * (1 - jitter * random)).
 * on_error is called once, when a call finally fails, with its code and message. */
typedef struct xr_ayepi_retry {
  int attempts;     /* tries in all, the first included; 0: 3; 1: none */
  int64_t base_ms;  /* 0: 1000 */
  double factor;    /* 0: 2 */
  int64_t max_ms;   /* 0: 30000 */
  double jitter;    /* 0: 0.5; negative: none; at most 1 */
  void (*on_error)(void *ctx, int code, const char *message);
  void *on_error_ctx;
} xr_ayepi_retry;

typedef struct xr_ayepi_options {
  unsigned version;       /* XR_AYEPI_OPTIONS_VERSION */
  const char *key_prefix; /* NULL: "" (the Store's); any text, "*?[" included (they are escaped
                             where a pattern is made of it) */
  xr_ayepi_retry retry;   /* zero: ayepi's policy (3 attempts, 1 s doubling to 30 s, jitter 0.5) */
} xr_ayepi_options;

/* The work Store's defaults (prefix ""). */
#define XR_AYEPI_OPTIONS_INIT {XR_AYEPI_OPTIONS_VERSION, NULL, {0, 0, 0, 0, 0, NULL, NULL}}
/* The response cache's defaults (prefix "ayepi:cache:"). */
#define XR_AYEPI_CACHE_OPTIONS_INIT {XR_AYEPI_OPTIONS_VERSION, XR_AYEPI_CACHE_PREFIX, {0, 0, 0, 0, 0, NULL, NULL}}

/* Makes a store over `client`, which it borrows (the client must outlive it). */
XR_API int xr_ayepi_store_new(xr_ayepi_store **out, xr_client *client, const xr_ayepi_options *opts);
XR_API void xr_ayepi_store_free(xr_ayepi_store *s);
XR_API xr_client *xr_ayepi_store_client(const xr_ayepi_store *s);
XR_API const char *xr_ayepi_store_prefix(const xr_ayepi_store *s);

/* ---- the work Store ---------------------------------------------------------------------------- */

/* get: `get <key>`; *found false when there is none. *value is the caller's (xr_free). */
XR_API int xr_ayepi_get(xr_ayepi_store *s, bool *found, char **value, size_t *value_len, const char *key,
                        size_t key_len);
/* set: `set <key> <value>`, `set <key> <value> PX <ttl_ms>` when ttl_ms > 0. */
XR_API int xr_ayepi_set(xr_ayepi_store *s, const char *key, size_t key_len, const char *value, size_t value_len,
                        int64_t ttl_ms);
/* delete: `del <key>`; a missing key is no error. */
XR_API int xr_ayepi_delete(xr_ayepi_store *s, const char *key, size_t key_len);
/* setIfNotExists: `set <key> <value> [PX <ttl_ms>] NX`; *stored true when it was set. When the
 * reply is lost (the command may have run), the key is read back: absent, the claim is tried
 * again; holding `value`, it counts as the caller's (*stored true: the caller's own claim is never
 * reported lost); holding anything else, as another's (false). So a value unique to the caller
 * (a token) makes both answers certain; with a value every claimant writes (ayepi's "1"), a
 * foreign claim read back this way cannot be told from the caller's and counts as won. */
XR_API int xr_ayepi_set_if_not_exists(xr_ayepi_store *s, bool *stored, const char *key, size_t key_len,
                                      const char *value, size_t value_len, int64_t ttl_ms);
/* increment: `incrby <key> <by>`; with ttl_ms > 0 the same and `pexpire <key> <ttl_ms>` in one
 * script (atomic: never the increment without its expiry, never twice). *value: the new value.
 * Never repeated once sent: a lost reply is XR_EIO / XR_ETIMEOUT saying it may have counted. */
XR_API int xr_ayepi_increment(xr_ayepi_store *s, int64_t *value, const char *key, size_t key_len, int64_t by,
                              int64_t ttl_ms);
/* publish_to: `publish <channel> <message>` (the channel as given: the store's prefix is for keys);
 * *receivers (may be NULL): the subscribers it reached. The broker's publish as a row of the table,
 * for batches (an event loop's). Tried again only when nothing was sent: a repeat after a lost
 * reply could deliver the message twice. */
XR_API int xr_ayepi_publish_to(xr_ayepi_store *s, int64_t *receivers, const char *channel, size_t channel_len,
                               const char *message, size_t message_len);

/* ---- the response cache ------------------------------------------------------------------------ */

/* get: `get <key>`; *entry_json the stored entry (the caller's, xr_free), *found false when none. */
XR_API int xr_ayepi_cache_get(xr_ayepi_store *s, bool *found, char **entry_json, size_t *entry_len,
                              const char *key, size_t key_len);
/* set: `set <key> <entry> PX max(1, staleUntil - now)`; the entry (a JSON object of any runtime)
 * written as JSON.stringify writes ayepi's entry. now_ms 0: this machine's clock. */
XR_API int xr_ayepi_cache_set(xr_ayepi_store *s, const char *key, size_t key_len, const char *entry_json,
                              size_t entry_len, int64_t now_ms);
/* delete: `del <key>`; *deleted true when there was one. */
XR_API int xr_ayepi_cache_delete(xr_ayepi_store *s, bool *deleted, const char *key, size_t key_len);

/* Whether an entry is to go, for invalidate: 1 yes, 0 no, a negative code stops the sweep with it.
 * key is the Redis key (the prefix included), entry the stored text (a runtime parses it and
 * hands its predicate {key, method, path, storedAt, expires, staleUntil, bytes}, as ayepi does). */
typedef int (*xr_ayepi_cache_predicate)(void *ctx, const char *key, size_t key_len, const char *entry,
                                        size_t entry_len);

/* clear: `scan <cursor> MATCH <prefix>* COUNT 256` on every master (the prefix's glob characters
 * escaped: a prefix "a*" never reaches the keys of "ab"), each page's keys deleted, one `del` per
 * key (no CROSSSLOT on a Cluster). *removed (may be NULL): how many were deleted. */
XR_API int xr_ayepi_cache_clear(xr_ayepi_store *s, size_t *removed);
/* invalidate: the same scan, `get` of each page's keys in one pipeline, `del` of those pred accepts;
 * a key that is not a string (WRONGTYPE) or vanished is left alone. *removed: how many. */
XR_API int xr_ayepi_cache_invalidate(xr_ayepi_store *s, size_t *removed, xr_ayepi_cache_predicate pred, void *ctx);

/* A sweep: clear's and invalidate's pass over the cache's keys, page by page, for callers whose
 * predicate lives elsewhere (a binding's language) or who want to stop between pages. The same
 * SCAN on every master (the prefix escaped), with each page's entries read when `entries` (a GET
 * per key, one pipeline); the caller chooses keys and deletes them, one DEL per key. Each step is
 * retried as the store's policy allows (the repeat of a SCAN page, a GET or a DEL does the same)
 * and its final failure goes to on_error. Blocking; one thread at a time.
 *
 *   xr_ayepi_sweep_new(&w, store, true);
 *   for (bool done = false; !done;) {
 *     size_t n;
 *     xr_ayepi_sweep_next(w, &n, &done);              // the next page (n may be 0)
 *     for (size_t i = 0; i < n; i++) {                // key i, entry i: VALUE results
 *       xr_ayepi_sweep_key(w, i, &key); xr_ayepi_sweep_entry(w, i, &entry);
 *       if (entry.present && wanted(...)) xr_ayepi_sweep_choose(w, i);
 *     }
 *     xr_ayepi_sweep_delete(w, &removed);             // DEL of the chosen ones, counted
 *   }
 *   xr_ayepi_sweep_free(w);
 *
 * Without entries (a clear), every key of a page is chosen when it is read. */
typedef struct xr_ayepi_sweep xr_ayepi_sweep;

XR_API int xr_ayepi_sweep_new(xr_ayepi_sweep **out, xr_ayepi_store *s, bool entries);
XR_API void xr_ayepi_sweep_free(xr_ayepi_sweep *w);
/* Reads the next page: *count its keys (0 is possible), *done true once every master's scan ended
 * (the page read with it is still to be handled). After done, 0 keys. */
XR_API int xr_ayepi_sweep_next(xr_ayepi_sweep *w, size_t *count, bool *done);
/* Key i of the page (the prefix included) as a VALUE result, borrowed until the next page. */
XR_API int xr_ayepi_sweep_key(const xr_ayepi_sweep *w, size_t i, xr_result *out);
/* Entry i of the page (a sweep with entries) as a VALUE result: absent when the key vanished or is
 * not a string (not an entry: never to be chosen by a predicate). Borrowed until the next page. */
XR_API int xr_ayepi_sweep_entry(const xr_ayepi_sweep *w, size_t i, xr_result *out);
/* Chooses key i of the page for xr_ayepi_sweep_delete. */
XR_API int xr_ayepi_sweep_choose(xr_ayepi_sweep *w, size_t i);
/* DEL of the page's chosen keys, one per key; *removed (may be NULL) += how many were there. */
XR_API int xr_ayepi_sweep_delete(xr_ayepi_sweep *w, size_t *removed);

/* A cache entry (a JSON object) as ayepi stores it: JSON.stringify's bytes in SPEC 3's key order,
 * and its staleUntil. XR_EINVAL naming the field when it is not an entry. *out is the caller's. */
XR_API int xr_ayepi_cache_entry_write(char **out, size_t *out_len, int64_t *stale_until_ms, const char *entry_json,
                                      size_t entry_len);

/* The default cache key text ayepi's cache middleware makes: JSON.stringify([METHOD, path, the
 * query pairs sorted by name then value, body ?? null, vary ?? null]) with every object's keys
 * sorted at every depth (UTF-16 code units, JS's sort; integer-like keys first, as JS orders them).
 * method: ASCII (upper-cased here, as toUpperCase does); query_json: a JSON array of [name, value]
 * strings (NULL: none); body_json, vary_json: any JSON value (NULL: null). XR_EINVAL naming what
 * is not so. *out is the caller's (xr_free). */
XR_API int xr_ayepi_cache_key(char **out, size_t *out_len, const char *method, size_t method_len, const char *path,
                              size_t path_len, const char *query_json, size_t query_len, const char *body_json,
                              size_t body_len, const char *vary_json, size_t vary_len);

/* ---- the broker ------------------------------------------------------------------------------------
 * ayepi's pub/sub broker (redisBroker / redisPubSub): `publish <channel> <message>` on the command
 * client; a subscriber of its own (subscriber.h: its connection, re-subscribed by itself after a
 * reconnect or a failover) that SUBSCRIBEs to the channel once, when listening starts, and hands
 * over the messages of that channel only, as opaque bytes. The caller drives it: the pollable in
 * its event loop, then xr_ayepi_broker_next; no thread of its own. One thread at a time. */

typedef struct xr_ayepi_broker xr_ayepi_broker;

#define XR_AYEPI_CHANNEL "ayepi"
#define XR_AYEPI_BROKER_OPTIONS_VERSION 1

typedef struct xr_ayepi_broker_options {
  unsigned version;    /* XR_AYEPI_BROKER_OPTIONS_VERSION */
  const char *channel; /* NULL: "ayepi" */
} xr_ayepi_broker_options;

#define XR_AYEPI_BROKER_OPTIONS_INIT {XR_AYEPI_BROKER_OPTIONS_VERSION, NULL}

/* Makes a broker over `client` (borrowed: it must outlive the broker). Nothing connects yet. */
XR_API int xr_ayepi_broker_new(xr_ayepi_broker **out, xr_client *client, const xr_ayepi_broker_options *opts);
XR_API void xr_ayepi_broker_free(xr_ayepi_broker *b);
/* publish: `publish <channel> <message>`; *receivers (may be NULL): the subscribers it reached. */
XR_API int xr_ayepi_broker_publish(xr_ayepi_broker *b, const char *message, size_t len, int64_t *receivers);
/* Starts listening: SUBSCRIBE <channel> on the subscriber's connection (connecting it, blocking);
 * again later is nothing. */
XR_API int xr_ayepi_broker_listen(xr_ayepi_broker *b);
/* The subscriber's pollable (subscriber.h), for the caller's event loop. */
XR_API xr_pollable *xr_ayepi_broker_pollable(xr_ayepi_broker *b);
/* The oldest message of the channel not yet taken: 1 with *message (borrowed until the next call
 * of a broker function), 0 when none waits. */
XR_API int xr_ayepi_broker_next(xr_ayepi_broker *b, const char **message, size_t *len);
/* Subscriptions the server confirmed (0 or 1), and how many times it subscribed again. */
XR_API size_t xr_ayepi_broker_listening(const xr_ayepi_broker *b);
XR_API uint64_t xr_ayepi_broker_reconnects(const xr_ayepi_broker *b);

/* ---- the broker's messages ----------------------------------------------------------------------- */

/* The event envelope ayepi's core publishes, JSON.stringify({ch, params, data}): ch a string,
 * params a JSON object (NULL: {}), data any JSON value (NULL: the message has no "data", as
 * JSON.stringify leaves out undefined). *out is the caller's (xr_free). */
XR_API int xr_ayepi_envelope_write(char **out, size_t *out_len, const char *ch, size_t ch_len, const char *params_json,
                                   size_t params_len, const char *data_json, size_t data_len);
/* The work engine's notifications: {"kind":"done","id","groupId"[,"error"]} (error NULL: none)
 * and {"kind":"group-done","groupId"}; the ids and the error are strings. */
XR_API int xr_ayepi_done_write(char **out, size_t *out_len, const char *id, size_t id_len, const char *group_id,
                               size_t group_id_len, const char *error, size_t error_len);
XR_API int xr_ayepi_group_done_write(char **out, size_t *out_len, const char *group_id, size_t group_id_len);

/* ---- the table, the generic call and batches ---------------------------------------------------- */

typedef enum xr_ayepi_op {
#define XR_AYEPI_OP(ID, name, wire, result, args) XR_AYEPI_OP_##ID,
#include "ayepi.def"
#undef XR_AYEPI_OP
  XR_AYEPI_OP_COUNT
} xr_ayepi_op;

/* Runs row `op` with `args` (ayepi.def's order and kinds) under the store's retry policy, as the
 * typed functions do (set_if_not_exists reads a lost claim back; on_error on the final failure),
 * blocking through its waits, and decodes its result into *out (xr_result_clear). */
XR_API int xr_ayepi_call(xr_ayepi_store *s, int op, const xr_arg *args, size_t nargs, xr_result *out);

/* The retry policy for callers that run operations themselves, in batches on an event loop that
 * cannot wait in the core (the Node and asyncio bindings): after row `op` failed with `rc` on
 * attempt `attempt` (1: the first), what to do next:
 *   XR_AYEPI_TRY_AGAIN  run it again after *delay_ms
 *   XR_AYEPI_READ_BACK  (set_if_not_exists, reply lost) read the key with the get row: holding the
 *                       caller's value, the claim is the caller's (true); another value, another's
 *                       (false); absent, claim again after *delay_ms, or, when *delay_ms is -1
 *                       (no attempt left), fail with rc
 *   XR_AYEPI_GIVE_UP    the failure is final: report it (on_error) and return it
 * A batch itself is never retried by the core. */
typedef enum xr_ayepi_next { XR_AYEPI_GIVE_UP = 0, XR_AYEPI_TRY_AGAIN = 1, XR_AYEPI_READ_BACK = 2 } xr_ayepi_next;
XR_API int xr_ayepi_retry_next(const xr_ayepi_store *s, int op, int rc, int attempt, int64_t *delay_ms);

/* Row `op` of ayepi.def; NULL past the last. */
XR_API const xr_op_info *xr_ayepi_op_at(int op);

/* The Redis Cluster slot of the key row `op` would touch (as xr_chat_op_slot). */
XR_API int xr_ayepi_op_slot(const xr_ayepi_store *s, int op, const xr_arg *args, size_t nargs);

typedef struct xr_ayepi_batch xr_ayepi_batch;

XR_API int xr_ayepi_batch_new(xr_ayepi_batch **out, xr_ayepi_store *s);
XR_API void xr_ayepi_batch_free(xr_ayepi_batch *b);
XR_API void xr_ayepi_batch_clear(xr_ayepi_batch *b);
XR_API size_t xr_ayepi_batch_count(const xr_ayepi_batch *b);

/* The typed adders, one per row of ayepi.def: int xr_ayepi_batch_<name>(xr_ayepi_batch *b, <args>);
 * the operation's index (>= 0) or a negative code (the checks of the sequential call). */
#define XR_AYEPI_OP(ID, name, wire, result, args) \
  XR_API int xr_ayepi_batch_##name(xr_ayepi_batch *b, XR_OP_PARAMS(args));
#include "ayepi.def"
#undef XR_AYEPI_OP

/* The generic adder (the bindings): XR_EINVAL when op is unknown or the count differs. */
XR_API int xr_ayepi_batch_add(xr_ayepi_batch *b, int op, const xr_arg *args, size_t nargs);
/* Sends the batch as one pipeline (split per node on a Cluster). 0 when every reply was read. */
XR_API int xr_ayepi_batch_exec(xr_ayepi_batch *b);
/* Starts the batch on a loop connection of the store's client (as xr_chat_batch_start). */
XR_API int xr_ayepi_batch_start(xr_ayepi_batch *b, xr_loop_conn *lc, int *wait);
/* Operation i's result as xr_ayepi_call gives it, or its failure. */
XR_API int xr_ayepi_batch_result(const xr_ayepi_batch *b, size_t i, xr_result *out);
/* The bytes of operation i's reply before decoding (as xr_chat_batch_reply_size). */
XR_API size_t xr_ayepi_batch_reply_size(const xr_ayepi_batch *b, size_t i);

#ifdef __cplusplus
}
#endif
#endif
