/* Chat SDK state: the state adapter of the TypeScript `chat` SDK (4.41, node-redis and ioredis
 * adapters) and its Python port, with their keys, commands and bytes (SPEC.md 1):
 *
 *   subscriptions  <prefix>:subscriptions          SET of thread ids
 *   locks          <prefix>:lock:<thread id>       STRING token, PX ttl
 *   key/value      <prefix>:cache:<key>            STRING JSON text
 *   lists          <prefix>:list:<key>             LIST of JSON texts
 *   queues         <prefix>:queue:<thread id>      LIST of JSON entries
 *
 * That is upstream's layout (XR_CHAT_LAYOUT_UPSTREAM, the default). Opt-in, beyond upstream:
 * XR_CHAT_LAYOUT_TAGGED puts the thread id of the per-thread keys in a Redis Cluster hash tag,
 *
 *   locks          <prefix>:lock:{<thread id>}
 *   queues         <prefix>:queue:{<thread id>}
 *   processing     <prefix>:queue-processing:{<thread id>}
 *
 * so that the lock, the queue and the processing list of one thread share a Cluster slot (the
 * two-key scripts, xr_chat_release_lock_if_queue_empty and xr_chat_dequeue_reliable, then run on
 * a Cluster); subscriptions, cache and list keys stay as upstream writes them. An upstream
 * runtime passing "{<thread id>}" as its thread id reads and writes the same keys.
 *
 * What it writes follows the options (token prefix and suffix shape, JSON dialect, queue-entry
 * spelling); what it reads may come from any of the runtimes.
 *
 * Values: every value passed in is JSON text in any dialect and is written as the chosen dialect's
 * runtime writes it (XR_EPARSE when it is not JSON); every value read comes back as the bytes
 * stored (parse them with xr_json_parse; a value that is not JSON is still returned, as upstream
 * get returns the raw string).
 *
 * Ids and keys are binary-safe byte spans; an empty thread id or key is XR_EINVAL.
 *
 * Numbers are checked before anything is sent: a TTL is 1..XR_TTL_MAX_MS (0 too where it means
 * "no expiry": set, set_if_not_exists, append_to_list), max_length and max_size are >= 0 (0: no
 * limit), timestamps are 0..XR_TTL_MAX_MS; anything else is XR_EINVAL naming the operation and
 * the argument: "chat.set: ttl_ms must be >= 0 (0: no expiry), got -5".
 *
 * Errors name the key: "chat-sdk:cache:x: WRONGTYPE Operation against a key holding the wrong kind
 * of value".
 *
 * Thread safety: an xr_chat may be used from many threads at once (its client is thread-safe);
 * watchdogs and batches belong to one thread at a time. */
#ifndef CROSSREDIS_CHAT_H
#define CROSSREDIS_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "export.h"
#include "json.h"
#include "loop.h"
#include "op.h"
#include "chat_origin.h"
#include "token.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_chat xr_chat;

/* How queue entries are spelled when written. Readers accept both. */
typedef enum xr_chat_queue_dialect {
  XR_CHAT_QUEUE_TS = 1,     /* {"message":…,"enqueuedAt":ms,"expiresAt":ms} */
  XR_CHAT_QUEUE_PYTHON = 2, /* {"enqueued_at": ms, "expires_at": ms, "message": …} */
  XR_CHAT_QUEUE_BOTH = 3    /* the TS members then enqueued_at/expires_at: both runtimes read it */
} xr_chat_queue_dialect;

/* What an empty key prefix means. */
typedef enum xr_chat_empty_prefix {
  XR_CHAT_EMPTY_PREFIX_DEFAULT = 0, /* the TS adapters: "" becomes "chat-sdk" */
  XR_CHAT_EMPTY_PREFIX_KEEP = 1     /* the Python port: "" stays, keys are ":lock:<id>" */
} xr_chat_empty_prefix;

/* Where the per-thread keys (lock, queue, processing list) live. */
typedef enum xr_chat_layout {
  XR_CHAT_LAYOUT_UPSTREAM = 0, /* <prefix>:lock:<thread id>, as every upstream runtime (SPEC.md 1.1) */
  XR_CHAT_LAYOUT_TAGGED = 1,   /* <prefix>:lock:{<thread id>}: one Cluster slot per thread. The key
                                  prefix may not hold '{' or '}', and a thread id may not start with
                                  '}' (its tag would be empty): XR_EINVAL. The locks of the two
                                  layouts are different keys and do not exclude each other */
  /* Beyond upstream, for moving a running deployment from UPSTREAM to TAGGED without two holders
   * of one thread (README, "Chat SDK tagged layout"): every per-thread operation is one script over
   * the thread's keys in both layouts. A lock is taken only when neither layout's lock is held and
   * then holds both (one token), so it excludes upstream-layout holders (upstream runtimes
   * included) and tagged-layout holders alike. An entry is queued where the thread's holder reads:
   * the upstream queue when an upstream-layout holder has the lock, else the tagged one; dequeue,
   * queue_depth, dequeue_reliable (into the tagged processing list), ack and requeue take both,
   * the upstream queue first; release_lock_if_queue_empty counts both. The keys of both layouts
   * are in one script, so it needs one node (standalone, Sentinel): a Cluster refuses its
   * per-thread operations (XR_ECROSSSLOT). The same prefix and id rules as TAGGED. */
  XR_CHAT_LAYOUT_BRIDGE = 2
} xr_chat_layout;

#define XR_CHAT_OPTIONS_VERSION 3

/* A zero member (NULL, 0) means its default: "chat-sdk", "redis", XR_TOKEN_BASE36, XR_JSON_JS,
 * XR_CHAT_QUEUE_TS. */
typedef struct xr_chat_options {
  unsigned version;                  /* XR_CHAT_OPTIONS_VERSION */
  const char *key_prefix;            /* NULL: "chat-sdk"; no glob characters (* ? [ ] \) */
  xr_chat_empty_prefix empty_prefix; /* what key_prefix "" means */
  const char *token_prefix;          /* "redis" (node-redis, Python), "ioredis", or any [A-Za-z0-9-]+ */
  xr_token_suffix token_suffix;      /* XR_TOKEN_BASE36 (TS shape) or XR_TOKEN_HEX32 (Python shape) */
  xr_json_dialect json;              /* how values are written: XR_JSON_JS or XR_JSON_PYTHON */
  xr_chat_queue_dialect queue;       /* how queue entries are spelled */
  /* version 2 */
  /* Beyond upstream: a lock counts as held (acquired, extended) only once this many replicas have
   * it: WAIT min_replicas min_replicas_timeout_ms on the same connection after the write. Fewer
   * acknowledgements: XR_ENOREPLICAS, and a sequential acquire releases the lock it took. What this
   * does and does not guarantee across a failover: README, "Locks across a failover". 0: off. */
  int min_replicas;
  int min_replicas_timeout_ms;       /* 0: 1000; must stay below the client's command timeout */
  /* version 3 */
  xr_chat_layout layout;             /* 0: XR_CHAT_LAYOUT_UPSTREAM */
} xr_chat_options;

/* The TS node-redis adapter's wire: chat-sdk prefix, redis_<ms>_<base36> tokens, JS JSON text,
 * TS queue entries. */
#define XR_CHAT_OPTIONS_INIT                                                                      \
  {XR_CHAT_OPTIONS_VERSION, NULL, XR_CHAT_EMPTY_PREFIX_DEFAULT, "redis", XR_TOKEN_BASE36, XR_JSON_JS, \
   XR_CHAT_QUEUE_TS, 0, 0, XR_CHAT_LAYOUT_UPSTREAM}

/* Makes a state adapter over `client`, which it borrows: the client must outlive it. Checks the
 * options (XR_EINVAL naming the bad one). */
XR_API int xr_chat_new(xr_chat **out, xr_client *client, const xr_chat_options *opts);
XR_API void xr_chat_free(xr_chat *s);
/* The checks xr_chat_new makes of the options, without a client: 0, or XR_EINVAL naming the bad
 * one (for bindings that take options before they connect). */
XR_API int xr_chat_options_check(const xr_chat_options *o);
/* The layout named "upstream", "tagged" or "bridge" (what the bindings' option takes): its value (>= 0),
 * or XR_EINVAL naming the choices and what was given. NULL: XR_CHAT_LAYOUT_UPSTREAM. */
XR_API int xr_chat_layout_parse(const char *name);
XR_API xr_client *xr_chat_client(const xr_chat *s);
/* The key prefix in use (after the empty-prefix rule). */
XR_API const char *xr_chat_key_prefix(const xr_chat *s);

/* ---- subscriptions: SADD / SREM / SISMEMBER <prefix>:subscriptions <thread id> ---------------- */

XR_API int xr_chat_subscribe(xr_chat *s, const char *thread_id, size_t len);
XR_API int xr_chat_unsubscribe(xr_chat *s, const char *thread_id, size_t len);
XR_API int xr_chat_is_subscribed(xr_chat *s, bool *subscribed, const char *thread_id, size_t len);

/* ---- locks ------------------------------------------------------------------------------------ */

/* A held lock: the token stored under <prefix>:lock:<thread id> and when it expires (computed on
 * the client as now + ttl, never stored, as upstream does). The thread id is the caller's. */
typedef struct xr_chat_lock {
  char token[XR_TOKEN_MAX];
  size_t token_len;
  int64_t expires_at_ms;
} xr_chat_lock;

/* SET <lock key> <new token> PX ttl NX. *acquired is false (and *lock untouched) when another
 * owner holds it; no retry, no wait. ttl_ms must be > 0. */
XR_API int xr_chat_acquire_lock(xr_chat *s, bool *acquired, xr_chat_lock *lock, const char *thread_id,
                                size_t len, int64_t ttl_ms);

/* Deletes the lock when it still holds `token` (a script: GET == token then DEL). *released (may
 * be NULL) says whether it did; a wrong or expired token changes nothing. */
XR_API int xr_chat_release_lock(xr_chat *s, bool *released, const char *thread_id, size_t len,
                                const char *token, size_t token_len);

/* Sets the lock's TTL to ttl_ms when it still holds `token` (GET == token then PEXPIRE); never
 * re-creates a missing lock. *extended says whether it did. */
XR_API int xr_chat_extend_lock(xr_chat *s, bool *extended, const char *thread_id, size_t len,
                               const char *token, size_t token_len, int64_t ttl_ms);

/* DEL <lock key>, whoever holds it. */
XR_API int xr_chat_force_release_lock(xr_chat *s, const char *thread_id, size_t len);

/* Beyond upstream: tries to acquire until it succeeds or wait_ms passed, sleeping between tries
 * with exponential backoff (10 ms doubling to 250 ms) and jitter (each sleep drawn from
 * [d/2, d]). The same SET NX PX on the wire, repeated. */
XR_API int xr_chat_acquire_lock_wait(xr_chat *s, bool *acquired, xr_chat_lock *lock, const char *thread_id,
                                     size_t len, int64_t ttl_ms, int64_t wait_ms);

/* Beyond upstream (closes vercel/chat #928): in one script, deletes the lock if it holds `token`
 * and the thread's queue is empty; otherwise leaves it. *released says whether it was deleted;
 * *depth (may be NULL) is the queue's length (-1 when the lock was not held by `token`).
 * Atomic on a standalone server and under Sentinel; in upstream's layout the lock and queue keys
 * are in different Cluster slots, so a Cluster refuses it (XR_ECROSSSLOT); in the tagged layout
 * they share one and it runs there too. */
XR_API int xr_chat_release_lock_if_queue_empty(xr_chat *s, bool *released, long long *depth,
                                               const char *thread_id, size_t len, const char *token,
                                               size_t token_len);

/* ---- any operation by its code (for layers that treat them alike: the bindings) ---------------- */

/* Runs row `op` of chat.def with `args` in the row's order and kinds, as its sequential function
 * does, and puts the outcome in *out in the shape of the row's result kind (op.h); xr_result_clear
 * frees it. XR_EINVAL when op is unknown or nargs is not the row's count (naming the arguments).
 * An entry that does not decode (XR_EPARSE) still comes back in *out, its raw bytes included. */
XR_API int xr_chat_call(xr_chat *s, int op, const xr_arg *args, size_t nargs, xr_result *out);

/* ---- the watchdog: the TS core's heartbeat for every runtime ---------------------------------- */

typedef struct xr_chat_watchdog xr_chat_watchdog;

typedef enum xr_chat_watchdog_state {
  XR_CHAT_WATCHDOG_HELD = 0,     /* extended in time (or not due yet) */
  XR_CHAT_WATCHDOG_LOST = 1,     /* the lock is gone or held by another token: stop working */
  XR_CHAT_WATCHDOG_FINISHED = 2  /* the maximum lifetime was reached: no more extensions */
} xr_chat_watchdog_state;

/* The names before 0.1.0's restructure (the watchdog is the Chat SDK state's): kept for callers. */
#ifndef SWIG
#define XR_WATCHDOG_HELD XR_CHAT_WATCHDOG_HELD
#define XR_WATCHDOG_LOST XR_CHAT_WATCHDOG_LOST
#define XR_WATCHDOG_FINISHED XR_CHAT_WATCHDOG_FINISHED
#endif

/* Watches a held lock: extends it by ttl_ms every ttl_ms/3, until max_lifetime_ms after now_ms
 * (0: no limit). Driven by the caller (no hidden thread): call xr_chat_watchdog_tick when
 * xr_chat_watchdog_due_in says so. Copies the thread id and token. */
XR_API int xr_chat_watchdog_new(xr_chat_watchdog **out, xr_chat *s, const char *thread_id, size_t len,
                                const xr_chat_lock *lock, int64_t ttl_ms, int64_t max_lifetime_ms,
                                int64_t now_ms);
XR_API void xr_chat_watchdog_free(xr_chat_watchdog *w);

/* Milliseconds until the next extension is due (0: now); -1 once the watchdog stopped. */
XR_API int64_t xr_chat_watchdog_due_in(const xr_chat_watchdog *w, int64_t now_ms);

/* Extends the lock when due and reports the state. A failed extension (connection, timeout)
 * returns its code and is due again a quarter of the interval later (ttl_ms/12); the state turns
 * LOST when the lock's own expiry passed without a successful extension. */
XR_API int xr_chat_watchdog_tick(xr_chat_watchdog *w, xr_chat_watchdog_state *state, int64_t now_ms);

/* When the lock expires as far as the watchdog knows (the last successful extension + ttl). */
XR_API int64_t xr_chat_watchdog_expires_at(const xr_chat_watchdog *w);

/* ---- key/value: <prefix>:cache:<key> ---------------------------------------------------------- */

/* GET. *value is NULL when the key is missing; else the stored bytes (xr_free), NUL-terminated. */
XR_API int xr_chat_get(xr_chat *s, char **value, size_t *value_len, const char *key, size_t key_len);

/* SET <key> <json> PX ttl when ttl_ms > 0, else plain SET (which clears a TTL). */
XR_API int xr_chat_set(xr_chat *s, const char *key, size_t key_len, const char *json, size_t json_len,
                       int64_t ttl_ms);

/* SET <key> <json> [PX ttl] NX; *stored says whether it was written. */
XR_API int xr_chat_set_if_not_exists(xr_chat *s, bool *stored, const char *key, size_t key_len,
                                     const char *json, size_t json_len, int64_t ttl_ms);

/* DEL. */
XR_API int xr_chat_delete(xr_chat *s, const char *key, size_t key_len);

/* ---- lists: <prefix>:list:<key> -------------------------------------------------------------- */

/* One script: RPUSH; LTRIM key -max_length -1 when max_length > 0 (keeps the newest); PEXPIRE
 * when ttl_ms > 0 (else the TTL is left as it was). */
XR_API int xr_chat_append_to_list(xr_chat *s, const char *key, size_t key_len, const char *json,
                                  size_t json_len, long max_length, int64_t ttl_ms);

/* LRANGE 0 -1: an array reply of the stored texts (xr_reply_free), empty when missing. */
XR_API int xr_chat_get_list(xr_chat *s, xr_reply **items, const char *key, size_t key_len);

/* ---- queues: <prefix>:queue:<thread id> ------------------------------------------------------- */

typedef struct xr_chat_queue_entry {
  char *message;           /* the message's JSON text, in the adapter's dialect (see
                              xr_chat_decode_queue_entry; xr_free) */
  size_t message_len;
  int64_t enqueued_at_ms;  /* -1 when the entry has none */
  int64_t expires_at_ms;
  char *raw;               /* the entry exactly as stored (xr_free) */
  size_t raw_len;
} xr_chat_queue_entry;

/* Frees what an entry holds and zeroes it. */
XR_API void xr_chat_queue_entry_clear(xr_chat_queue_entry *e);

/* One script: RPUSH the entry; LTRIM -max_size -1 when max_size > 0 (drops the oldest); PEXPIRE
 * max(expires_at_ms - now, 60000) always; returns the length in *depth (may be NULL). */
XR_API int xr_chat_enqueue(xr_chat *s, long long *depth, const char *thread_id, size_t len,
                           const char *message_json, size_t message_len, int64_t enqueued_at_ms,
                           int64_t expires_at_ms, long max_size);

/* LPOP (FIFO). *found is false when the queue is empty. Expiry is not checked here (as upstream):
 * the reader compares expires_at_ms with its clock. A connection failure or timeout (XR_EIO,
 * XR_ETIMEOUT) may come after the server popped the entry, which is then lost; the message says so
 * (see xr_chat_dequeue_reliable). An entry that is not a queue entry of any
 * dialect is XR_EPARSE naming the key; it was popped, and its bytes are in e->raw so nothing is
 * lost silently; the entries behind it stay queued. */
XR_API int xr_chat_dequeue(xr_chat *s, bool *found, xr_chat_queue_entry *e, const char *thread_id,
                           size_t len);

/* Beyond upstream, opt-in: a dequeue that loses nothing. A plain dequeue is LPOP, and when its
 * reply is lost (connection dropped, timeout) the entry may be gone from the queue and in nobody's
 * hands: its error says so. This one moves the entry (one script) from the queue's head to the
 * tail of <prefix>:queue-processing:<thread id>, which lives at least as long as the queue would
 * have; the caller acknowledges it with xr_chat_ack once handled (e->raw is what to pass), and
 * xr_chat_requeue_processing puts every unacknowledged entry back at the queue's head, in order
 * (after a consumer died, or to retry a dequeue whose reply was lost). Upstream readers see only
 * the queue. A bad entry stays in the processing list (its bytes in e->raw, XR_EPARSE).
 * Two keys: atomic on a standalone server and under Sentinel; on a Cluster XR_ECROSSSLOT in
 * upstream's layout, atomic in the tagged layout (XR_CHAT_LAYOUT_TAGGED). */
XR_API int xr_chat_dequeue_reliable(xr_chat *s, bool *found, xr_chat_queue_entry *e, const char *thread_id,
                                    size_t len);
/* LREM <processing key> 1 <raw>: *acked (may be NULL) says whether the entry was there. */
XR_API int xr_chat_ack(xr_chat *s, bool *acked, const char *thread_id, size_t len, const char *raw, size_t raw_len);
/* Moves the processing list back to the queue's head, oldest first; *moved (may be NULL) counts. */
XR_API int xr_chat_requeue_processing(xr_chat *s, long long *moved, const char *thread_id, size_t len);

/* LLEN. */
XR_API int xr_chat_queue_depth(xr_chat *s, long long *depth, const char *thread_id, size_t len);

/* The pure halves of enqueue and dequeue, for tools and tests.
 * Encodes an entry as `queue` spells it, in `json`'s text: TS {"message":…,"enqueuedAt":…,
 * "expiresAt":…}; Python {"enqueued_at": …, "expires_at": …, "message": …}; both: the TS members
 * then enqueued_at and expires_at. *out is allocated (xr_free). XR_EPARSE when message_json is not
 * JSON. */
XR_API int xr_chat_encode_queue_entry(char **out, size_t *out_len, const char *message_json, size_t message_len,
                                      int64_t enqueued_at_ms, int64_t expires_at_ms, xr_chat_queue_dialect queue,
                                      xr_json_dialect json);
/* Decodes an entry of any spelling: message, then expiresAt or expires_at (required), enqueuedAt or
 * enqueued_at (optional: -1). The message comes back as `json` text (a message that dialect cannot
 * hold, such as an integer past 64 bits for Python, comes back exactly as stored rather than
 * altered); unknown members are ignored; of duplicate members the last counts, as JSON.parse and
 * json.loads read them. XR_EPARSE saying what is wrong; e->raw holds a copy of `raw` either way. */
XR_API int xr_chat_decode_queue_entry(xr_chat_queue_entry *e, const char *raw, size_t raw_len, xr_json_dialect json);

/* ---- batches: any of the operations above in one pipeline ------------------------------------ */

typedef struct xr_chat_batch xr_chat_batch;

XR_API int xr_chat_batch_new(xr_chat_batch **out, xr_chat *s);
XR_API void xr_chat_batch_free(xr_chat_batch *b);
XR_API void xr_chat_batch_clear(xr_chat_batch *b);
XR_API size_t xr_chat_batch_count(const xr_chat_batch *b);

/* The operations, from chat.def: XR_CHAT_OP_SUBSCRIBE, XR_CHAT_OP_ACQUIRE_LOCK, ... */
typedef enum xr_chat_op {
#define XR_CHAT_OP(ID, name, wire, result, args) XR_CHAT_OP_##ID,
#include "chat.def"
#undef XR_CHAT_OP
  XR_CHAT_OP_COUNT
} xr_chat_op;

/* Row `op` of chat.def (names, argument kinds, result kind); NULL past the last. */
XR_API const xr_op_info *xr_chat_op_at(int op);

/* The typed adders, one per row of chat.def:
 *   int xr_chat_batch_<name>(xr_chat_batch *b, <args>);
 * with XR_TEXT(x) / XR_BYTES(x) as `const char *x, size_t x_len` and XR_INT(x) as `int64_t x`,
 * the arguments of the matching sequential function above. Each returns the operation's index
 * (>= 0) or a negative code (XR_EINVAL naming the bad argument: the checks of the sequential
 * function). */
#define XR_CHAT_OP(ID, name, wire, result, args) \
  XR_API int xr_chat_batch_##name(xr_chat_batch *b, XR_OP_PARAMS(args));
#include "chat.def"
#undef XR_CHAT_OP

/* The generic adder, for layers that treat every operation alike (the bindings): `args` holds the
 * operation's arguments in chat.def's order and kinds. XR_EINVAL when op is unknown or the count
 * differs ("chat.acquire_lock: 2 arguments (thread_id, ttl_ms), got 1"). */
XR_API int xr_chat_batch_add(xr_chat_batch *b, int op, const xr_arg *args, size_t nargs);

/* The Redis Cluster slot (0..16383) of the key operation `op` would touch with these arguments
 * (the first key of a two-key row), without building it: for a host that keeps one pipeline per
 * node (the Node addon's lanes, with xr_client_node_of_slot). -1 when op is unknown, the count
 * differs or the arguments make no key (an empty id: recorded as the last error, as the adder
 * would). Only the arguments the key is made of are read. Thread-safe. */
XR_API int xr_chat_op_slot(const xr_chat *s, int op, const xr_arg *args, size_t nargs);

/* Sends the batch as one pipeline. 0 when every reply was read (operations may still have failed
 * one by one: see the result functions); a negative code when the connection failed. */
XR_API int xr_chat_batch_exec(xr_chat_batch *b);

/* Starts the batch on a loop connection of the adapter's client (client.h): continue and cancel
 * it there (xr_loop_conn_continue, xr_loop_conn_cancel); the results are read as after
 * xr_chat_batch_exec once it finished. */
XR_API int xr_chat_batch_start(xr_chat_batch *b, xr_loop_conn *lc, int *wait);

/* Results, by operation index, in the shape of the matching function above. Each returns the
 * operation's own code (0, or its error with the message in the thread's last error), or XR_EINVAL
 * when the index is out of range or names an operation of another kind. */
XR_API int xr_chat_batch_status(const xr_chat_batch *b, size_t i);
XR_API int xr_chat_batch_bool(const xr_chat_batch *b, size_t i, bool *out); /* is_subscribed, release,
                                                          extend, set_if_not_exists */
XR_API int xr_chat_batch_lock(const xr_chat_batch *b, size_t i, bool *acquired, xr_chat_lock *lock);
XR_API int xr_chat_batch_integer(const xr_chat_batch *b, size_t i, long long *out); /* enqueue,
                                                                                queue_depth */
XR_API int xr_chat_batch_value(const xr_chat_batch *b, size_t i, char **value, size_t *value_len); /* get */
XR_API int xr_chat_batch_list(const xr_chat_batch *b, size_t i, const xr_reply **items); /* borrowed */
XR_API int xr_chat_batch_entry(const xr_chat_batch *b, size_t i, bool *found, xr_chat_queue_entry *e);

/* The generic accessor: the result of operation i in the shape of its result kind (op.h), or its
 * failure. Fields borrow from the batch (and from *out for an entry's decoded text): call
 * xr_result_clear, and use them before the batch is cleared or freed. */
XR_API int xr_chat_batch_result(const xr_chat_batch *b, size_t i, xr_result *out);
/* The bytes of operation i's reply (its strings) before decoding, 0 when it has none: a binding
 * decodes a big one off its event-loop thread. */
XR_API size_t xr_chat_batch_reply_size(const xr_chat_batch *b, size_t i);

#ifdef __cplusplus
}
#endif
#endif
