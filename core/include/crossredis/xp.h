/* xp: xml-pipeline's shared context buffer and thread registry (the Python RedisBackend over
 * redis-py, SPEC.md 4), with its keys and values, so C, Python and Node programs share them with
 * xml-pipeline's handlers:
 *
 *   <prefix>buffer:<thread_id>  LIST    the thread's slots, oldest first (opaque bytes)
 *   <prefix>chain:<chain>       STRING  the chain's uuid (the forward key)
 *   <prefix>uuid:<uuid>         STRING  the uuid's chain (the reverse key)
 *
 * prefix "xp:" and a TTL of 86400 s on every key written by default. Readers and writers of
 * upstream's shapes are interchangeable; crossredis fixes upstream's defects (SPEC 4):
 *   - listings and clears SCAN every master with the prefix's glob characters escaped (a prefix
 *     "a*" never reaches the keys of "ab"), never KEYS; listings give ids, not keys; deletes are one
 *     DEL per key (no CROSSSLOT on a Cluster);
 *   - an append is one script (`RPUSH`, then `EXPIRE` when there is a TTL), so no crash leaves a
 *     list without its TTL, and its index is RPUSH's reply - 1 (upstream's caller reads LLEN first:
 *     wrong under concurrent writers);
 *   - the registry never shows a uuid -> chain mapping whose chain maps elsewhere: a reader of the
 *     reverse key checks the forward key maps back (else: none), and set and delete keep the pair
 *     consistent (upstream's re-map left the old reverse key behind, and a later delete by that
 *     old uuid removed the new forward key);
 *   - registry_get_or_create never mints two uuids for one chain: `SET <chain key> <uuid> NX` is the
 *     arbiter.
 *
 * The registry on one server (standalone, Sentinel): set, get_chain, get_or_create and delete are
 * one script each (atomic; the scripts also read and write keys they compute from values, which one
 * server allows):
 *   set(chain, uuid)     forward and reverse keys written; the old reverse key uuid:<old uuid> removed
 *                        only while it still names this chain, the old forward key chain:<old chain>
 *                        only while it still names this uuid
 *   get_chain(uuid)      the reverse key's chain when chain:<chain> names uuid, else none
 *   get_or_create(chain) the forward key's uuid, or a new uuid4 written both ways
 *   delete(uuid)         uuid:<uuid> and chain:<its chain> removed where they still map to each other
 *
 * The registry on a Cluster, where a chain key and a uuid key live in different slots (no script
 * may hold both): the forward key is the truth and is written first; every other step only ever
 * removes a key while it still holds what the step expects (compare-and-delete: a one-key script);
 * readers of the reverse key verify it against the forward key:
 *   set(chain, uuid)     1 GET uuid:<uuid> (its type: a wrong-type key fails here, nothing touched)
 *                        2 SET chain:<chain> <uuid> [EX ttl] GET   -> old uuid
 *                        3 SET uuid:<uuid> <chain> [EX ttl] GET    -> old chain
 *                        4 compare-and-delete uuid:<old uuid> if it holds <chain>
 *                        5 compare-and-delete chain:<old chain> if it holds <uuid>
 *   get_chain(uuid)      GET uuid:<uuid> -> chain; GET chain:<chain>: the chain only if it holds uuid
 *   get_or_create(chain) 1 SET chain:<chain> <new uuid> NX [EX ttl] GET: an existing uuid is the answer
 *                        2 (when it was set) SET uuid:<new uuid> <chain> [EX ttl]
 *   delete(uuid)         1 GET uuid:<uuid> -> chain (none: false)
 *                        2 compare-and-delete chain:<chain> if it holds uuid (its result is the answer)
 *                        3 compare-and-delete uuid:<uuid> if it holds chain
 *   list_all             per SCAN page of uuid:* keys, one pipeline of GETs, then one of the forward
 *                        keys they name: only pairs that map both ways are listed
 * A crash or a concurrent writer between steps can leave a stale reverse key (it names a chain that
 * maps elsewhere, or nothing) or a forward key without its reverse key; readers never report the
 * first (get_chain and list_all: none) and report the second from the chain's side only; the next
 * set of the pair repairs both, and the TTL ends them. Two concurrent sets of one chain leave the
 * last forward write in place. The Cluster rows (*) in xp.def run through xr_xp_call and the typed
 * functions; a batch refuses them on a Cluster (XR_EUNSUPPORTED).
 *
 * Commands are upper case, as redis-py sends them; the wire differences from upstream are the fixes
 * above (no KEYS, no MULTI; the scripts and the Cluster's steps).
 *
 * Errors: an empty thread_id, chain or uuid is XR_EINVAL naming the argument; a slot longer than
 * XR_XP_SLOT_MAX is XR_EINVAL; a key of the wrong type is XR_EWRONGTYPE naming the key, and the call
 * changes nothing (the scripts read before they write). Server errors name the key.
 *
 * Thread safety: a store may be used from many threads at once (its client is thread-safe);
 * batches and lists belong to one thread at a time. */
#ifndef CROSSREDIS_XP_H
#define CROSSREDIS_XP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "export.h"
#include "loop.h"
#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_xp_store xr_xp_store;

#define XR_XP_PREFIX "xp:"
#define XR_XP_TTL_S INT64_C(86400)
/* ttl_s: no expiry (upstream's ttl=0; a zero member means the default). */
#define XR_XP_TTL_NONE INT64_C(-1)
/* The largest slot (bytes): Redis's own limit on one value (proto-max-bulk-len, 512 MiB). */
#define XR_XP_SLOT_MAX ((size_t)512 * 1024 * 1024)

#define XR_XP_OPTIONS_VERSION 1

typedef struct xr_xp_options {
  unsigned version;       /* XR_XP_OPTIONS_VERSION */
  const char *key_prefix; /* NULL: "xp:"; any text ("" too; "*?[" are escaped where a pattern is made) */
  int64_t ttl_s;          /* seconds on every key written: 0: 86400; XR_XP_TTL_NONE: none;
                             else 1 .. XR_TTL_MAX_MS / 1000 */
} xr_xp_options;

#define XR_XP_OPTIONS_INIT {XR_XP_OPTIONS_VERSION, NULL, 0}

/* Makes a store over `client`, which it borrows (the client must outlive it). XR_EINVAL naming
 * the option that is wrong. */
XR_API int xr_xp_store_new(xr_xp_store **out, xr_client *client, const xr_xp_options *opts);
XR_API void xr_xp_store_free(xr_xp_store *s);
XR_API xr_client *xr_xp_store_client(const xr_xp_store *s);
XR_API const char *xr_xp_store_prefix(const xr_xp_store *s);
/* The TTL in seconds, 0 when there is none (upstream's ttl). */
XR_API int64_t xr_xp_store_ttl_s(const xr_xp_store *s);

/* ---- the buffer -------------------------------------------------------------------------------- */

/* buffer_append: one script: `RPUSH <buffer key> <slot>`, then `EXPIRE <buffer key> <ttl>` when
 * there is a TTL; *index (may be NULL): the slot's index, RPUSH's reply - 1, exact under any number
 * of writers. Not repeated after a lost reply (a repeat would append twice). */
XR_API int xr_xp_buffer_append(xr_xp_store *s, int64_t *index, const char *thread_id, size_t thread_id_len,
                               const char *slot, size_t slot_len);
/* buffer_get_thread: `LRANGE <buffer key> 0 -1`: out (XR_RESULT_LIST) its slots, oldest first, as
 * an array reply (xr_reply_count, xr_reply_at, xr_reply_str), empty when there is no thread;
 * borrowed until xr_result_clear(out), which the caller calls. */
XR_API int xr_xp_buffer_get_thread(xr_xp_store *s, xr_result *out, const char *thread_id, size_t thread_id_len);
/* buffer_get_slot: `LINDEX <buffer key> <index>` (negative counts from the end); *found false when
 * there is none. *slot is the caller's (xr_free). */
XR_API int xr_xp_buffer_get_slot(xr_xp_store *s, bool *found, char **slot, size_t *slot_len, const char *thread_id,
                                 size_t thread_id_len, int64_t index);
/* buffer_thread_len: `LLEN <buffer key>` (0 when there is none). */
XR_API int xr_xp_buffer_thread_len(xr_xp_store *s, int64_t *len, const char *thread_id, size_t thread_id_len);
/* buffer_thread_exists: `EXISTS <buffer key>`. */
XR_API int xr_xp_buffer_thread_exists(xr_xp_store *s, bool *exists, const char *thread_id, size_t thread_id_len);
/* buffer_delete_thread: `DEL <buffer key>`; *deleted true when there was one. */
XR_API int xr_xp_buffer_delete_thread(xr_xp_store *s, bool *deleted, const char *thread_id, size_t thread_id_len);

/* ---- the registry ------------------------------------------------------------------------------ */

/* registry_set: chain <-> uuid, both keys with the TTL, the pair's old mappings removed (see the
 * protocol above). Standalone and Sentinel: one script; a Cluster: five steps. */
XR_API int xr_xp_registry_set(xr_xp_store *s, const char *chain, size_t chain_len, const char *uuid, size_t uuid_len);
/* registry_get_uuid: `GET <chain key>`; *found false when none. *uuid is the caller's (xr_free). */
XR_API int xr_xp_registry_get_uuid(xr_xp_store *s, bool *found, char **uuid, size_t *uuid_len, const char *chain,
                                   size_t chain_len);
/* registry_get_chain: the reverse key's chain when the forward key maps it back to uuid; *found
 * false otherwise. *chain is the caller's (xr_free). */
XR_API int xr_xp_registry_get_chain(xr_xp_store *s, bool *found, char **chain, size_t *chain_len, const char *uuid,
                                    size_t uuid_len);
/* registry_get_or_create: the chain's uuid, or a new uuid4 (xr_uuid4, token.h) mapped both ways
 * when it has none; concurrent callers for one chain all get the same uuid. *created (may be NULL)
 * true when this call made it. *uuid is the caller's (xr_free). */
XR_API int xr_xp_registry_get_or_create(xr_xp_store *s, char **uuid, size_t *uuid_len, bool *created,
                                        const char *chain, size_t chain_len);
/* registry_delete: removes uuid's mapping where both keys still map to each other (a stale reverse
 * key is removed too); *deleted true when the forward key named this uuid and is gone. */
XR_API int xr_xp_registry_delete(xr_xp_store *s, bool *deleted, const char *uuid, size_t uuid_len);

/* ---- listings, clears, info -------------------------------------------------------------------- */

/* What a listing found: items with an id (a thread id, or a uuid) and, for the registry, a value
 * (its chain); each once, sorted by the id's bytes. One thread at a time. */
typedef struct xr_xp_list xr_xp_list;

XR_API size_t xr_xp_list_count(const xr_xp_list *l);
/* Item i's id, and its value (registry listings; absent for threads), as VALUE results borrowed
 * from the list until xr_xp_list_free. XR_EINVAL past the end. */
XR_API int xr_xp_list_id(const xr_xp_list *l, size_t i, xr_result *out);
XR_API int xr_xp_list_value(const xr_xp_list *l, size_t i, xr_result *out);
XR_API void xr_xp_list_free(xr_xp_list *l);

/* buffer_list_threads: the thread ids (not keys: upstream returned keys) of the buffer keys:
 * `SCAN <cursor> MATCH <escaped prefix>buffer:* COUNT 256` on every master. *out is the caller's
 * (xr_xp_list_free). */
XR_API int xr_xp_buffer_list_threads(xr_xp_store *s, xr_xp_list **out);
/* buffer_clear: the same scan, each page's keys deleted, one `DEL` per key. *removed (may be NULL):
 * how many were deleted. */
XR_API int xr_xp_buffer_clear(xr_xp_store *s, size_t *removed);
/* registry_list_all: uuid -> chain pairs (id: the uuid, value: the chain) that map both ways: the
 * scan of <prefix>uuid:*, a pipeline of `GET` per page, then one of the forward keys they name.
 * A key of another type is skipped. *out is the caller's (xr_xp_list_free). */
XR_API int xr_xp_registry_list_all(xr_xp_store *s, xr_xp_list **out);
/* registry_clear: every key under <prefix>chain: and <prefix>uuid: (two scans), one `DEL` each. */
XR_API int xr_xp_registry_clear(xr_xp_store *s, size_t *removed);

/* ping: `PING`. */
XR_API int xr_xp_ping(xr_xp_store *s);

/* info: what upstream's info() reports: the buffer threads (as buffer_list_threads counts them),
 * the registry entries (as registry_list_all counts them: verified pairs), the TTL (0: none). */
typedef struct xr_xp_info {
  size_t buffer_threads;
  size_t registry_entries;
  int64_t ttl_seconds;
} xr_xp_info;

XR_API int xr_xp_info_read(xr_xp_store *s, xr_xp_info *out);

/* ---- the neutral JSON slot ---------------------------------------------------------------------
 * Upstream's slots are Python pickles of BufferSlot(payload, SlotMetadata(...)): opaque to any other
 * runtime, and unpickling them runs code. A JSON slot carries the same fields as one JSON object
 * that C, Python and Node read and write alike (version 1), its members in this order:
 *
 *   "xp_slot"             1        the marker and version: a reader refuses any other version
 *   "thread_id"           string   SlotMetadata.thread_id
 *   "from_id"             string   SlotMetadata.from_id
 *   "to_id"               string   SlotMetadata.to_id
 *   "slot_index"          integer  SlotMetadata.slot_index, 0 .. 2^53-1
 *   "timestamp"           string   SlotMetadata.timestamp (ISO 8601 as upstream writes it; not parsed)
 *   "payload_type"        string   SlotMetadata.payload_type
 *   "own_name"            string or null   SlotMetadata.own_name (None: null)
 *   "is_self_call"        boolean  SlotMetadata.is_self_call
 *   "usage_instructions"  string   SlotMetadata.usage_instructions
 *   "payload"             any JSON value   BufferSlot.payload
 *
 * The bytes are canonical: JSON.stringify's (compact, raw UTF-8, only '"', '\\' and controls
 * escaped, numbers as JavaScript writes them: 1.0 is 1) of the object in this order, the payload's
 * object members in their given order (integer-like keys first, as JavaScript orders them). A JSON
 * slot starts with `{"xp_slot":` (a pickle with b'\x80'). Integers anywhere in it stay within
 * +-(2^53-1), so every runtime reads them exactly. A reader takes any spacing and member order,
 * own_name, is_self_call and usage_instructions absent as null, false and "" (upstream's
 * defaults), and refuses unknown members, a missing one, a wrong type or another version with
 * XR_EINVAL naming it. Strings are UTF-8 (any character, NUL too). */

#define XR_XP_SLOT_VERSION 1
/* What every JSON slot starts with. */
#define XR_XP_SLOT_MARK "{\"xp_slot\":"

/* A slot's fields as spans: written from (xr_xp_slot_write: the caller's spans, borrowed for the
 * call) or read into (xr_xp_slot_read: spans borrowed from the slot until xr_xp_slot_clear). */
typedef struct xr_xp_slot {
  const char *thread_id;
  size_t thread_id_len;
  const char *from_id;
  size_t from_id_len;
  const char *to_id;
  size_t to_id_len;
  int64_t slot_index;
  const char *timestamp;
  size_t timestamp_len;
  const char *payload_type;
  size_t payload_type_len;
  const char *own_name; /* NULL: none (null) */
  size_t own_name_len;
  bool is_self_call;
  const char *usage_instructions;
  size_t usage_instructions_len;
  const char *payload_json; /* the payload as JSON text (any spacing; read: canonical) */
  size_t payload_json_len;
  void *doc_; /* private: what xr_xp_slot_clear frees */
} xr_xp_slot;

/* The JSON slot of `slot`'s fields (the payload parsed and written again canonically). XR_EINVAL
 * naming the field that is wrong (a NULL string span with a length, slot_index out of range, a
 * payload that is not one JSON value or holds an integer past 2^53-1, invalid UTF-8). *out is the
 * caller's (xr_free), NUL-terminated. */
XR_API int xr_xp_slot_write(char **out, size_t *out_len, const xr_xp_slot *slot);

/* Reads and checks a JSON slot (the rules above) into *out (zeroed first; xr_xp_slot_clear it,
 * also after a failure). */
XR_API int xr_xp_slot_read(xr_xp_slot *out, const char *data, size_t len);

XR_API void xr_xp_slot_clear(xr_xp_slot *slot);

/* ---- the table, the generic call and batches ---------------------------------------------------- */

typedef enum xr_xp_op {
#define XR_XP_OP(ID, name, wire, result, args) XR_XP_OP_##ID,
#include "xp.def"
#undef XR_XP_OP
  XR_XP_OP_COUNT
} xr_xp_op;

/* Runs row `op` with `args` (xp.def's order and kinds), blocking, on every topology (the Cluster's
 * several-step rows included), and decodes its result into *out (xr_result_clear). */
XR_API int xr_xp_call(xr_xp_store *s, int op, const xr_arg *args, size_t nargs, xr_result *out);

/* Row `op` of xp.def; NULL past the last. */
XR_API const xr_op_info *xr_xp_op_at(int op);

/* The Redis Cluster slot of the (first) key row `op` would touch (as xr_chat_op_slot). */
XR_API int xr_xp_op_slot(const xr_xp_store *s, int op, const xr_arg *args, size_t nargs);

typedef struct xr_xp_batch xr_xp_batch;

XR_API int xr_xp_batch_new(xr_xp_batch **out, xr_xp_store *s);
XR_API void xr_xp_batch_free(xr_xp_batch *b);
XR_API void xr_xp_batch_clear(xr_xp_batch *b);
XR_API size_t xr_xp_batch_count(const xr_xp_batch *b);

/* The typed adders, one per row of xp.def: int xr_xp_batch_<name>(xr_xp_batch *b, <args>); the
 * operation's index (>= 0) or a negative code (the checks of the sequential call; on a Cluster,
 * XR_EUNSUPPORTED for the rows of several steps). */
#define XR_XP_OP(ID, name, wire, result, args) \
  XR_API int xr_xp_batch_##name(xr_xp_batch *b, XR_OP_PARAMS(args));
#include "xp.def"
#undef XR_XP_OP

/* The generic adder (the bindings): XR_EINVAL when op is unknown or the count differs. */
XR_API int xr_xp_batch_add(xr_xp_batch *b, int op, const xr_arg *args, size_t nargs);
/* Sends the batch as one pipeline (split per node on a Cluster). 0 when every reply was read. */
XR_API int xr_xp_batch_exec(xr_xp_batch *b);
/* Starts the batch on a loop connection of the store's client (as xr_chat_batch_start). */
XR_API int xr_xp_batch_start(xr_xp_batch *b, xr_loop_conn *lc, int *wait);
/* Operation i's result as xr_xp_call gives it, or its failure. */
XR_API int xr_xp_batch_result(const xr_xp_batch *b, size_t i, xr_result *out);
/* The bytes of operation i's reply before decoding (as xr_chat_batch_reply_size). */
XR_API size_t xr_xp_batch_reply_size(const xr_xp_batch *b, size_t i);

#ifdef __cplusplus
}
#endif
#endif
