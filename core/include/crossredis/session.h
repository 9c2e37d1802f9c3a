/* toolhive transport sessions: the stores of github.com/stacklok/toolhive pkg/transport/session
 * (v0.48.0 .. v0.66.0), with their keys, commands and bytes (SPEC.md 2):
 *
 *   RedisStorage             <prefix><id>  STRING a session record (session_record.h), TTL
 *                            prefix "thv:proxy:session:", TTL 2 h by default
 *   RedisSessionDataStorage  <prefix><id>  STRING a JSON map of strings, TTL (the data_* rows)
 *                            prefix "thv:vmcp:session:", TTL 30 min
 *
 * One handle (xr_session_storage) serves both: its options give the prefix and the TTL, so a
 * program makes one per store, as toolhive does. Commands are go-redis's, lower case as it sends
 * them: `set <key> <json> ex <s>` (`px <ms>` when the TTL is not a whole number of seconds), `nx`
 * / `xx` for the create and update forms, `getex <key> ex <s>` for a load (a sliding TTL, Redis >=
 * 6.2), `get` for the metadata loads (no TTL change), `del`, and the ownership scripts by `evalsha`
 * (`eval` after NOSCRIPT) with toolhive's own script text, so their SHA-1s are toolhive's.
 *
 * Ownership (toolhive v0.55.1 and later): the owner of a session is its metadata value
 * "vmcp.identity.binding" (XR_SESSION_BINDING_KEY); the *_if_owner operations act only when the
 * stored record's binding is byte-equal to `owner`, atomically (a script), and Redis's cjson reads
 * the record there: a stored value that is not JSON fails the script ("ERR user_script:4: Expected
 * object key string ..."), `"metadata":null` too; a record whose binding is absent or not a string
 * never matches.
 *
 * Errors are toolhive's texts after "session.<op>: " (xr_error_last): an empty id is XR_EINVAL
 * ("session.load: cannot load session with empty ID"); a missing session is XR_ENOTFOUND
 * ("<key>: session not found"), an existing one on create XR_EEXISTS ("<key>: session already
 * exists"); a stored value that does not decode is XR_EPARSE with Go's text ("<key>: failed to
 * deserialize session: failed to unmarshal session data: invalid character 'b' looking for
 * beginning of object key string"), and nothing is changed by a failed call. Server errors name
 * the key.
 *
 * Thread safety: an xr_session_storage may be used from many threads at once (its client is
 * thread-safe); batches belong to one thread at a time. */
#ifndef CROSSREDIS_SESSION_H
#define CROSSREDIS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "export.h"
#include "loop.h"
#include "op.h"
#include "session_record.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_session_storage xr_session_storage;

#define XR_SESSION_PROXY_PREFIX "thv:proxy:session:"
#define XR_SESSION_PROXY_TTL_MS INT64_C(7200000) /* 2 h */
#define XR_SESSION_VMCP_PREFIX "thv:vmcp:session:"
#define XR_SESSION_VMCP_TTL_MS INT64_C(1800000)  /* 30 min */
/* The metadata key whose value names a session's owner (toolhive's MetadataKeyIdentityBinding). */
#define XR_SESSION_BINDING_KEY "vmcp.identity.binding"

#define XR_SESSION_OPTIONS_VERSION 1

/* A zero member means its default. */
typedef struct xr_session_options {
  unsigned version;       /* XR_SESSION_OPTIONS_VERSION */
  const char *key_prefix; /* NULL: XR_SESSION_PROXY_PREFIX; otherwise not empty and ending in ':',
                           * as toolhive requires */
  int64_t ttl_ms;         /* 0: XR_SESSION_PROXY_TTL_MS; > 0 and at most XR_TTL_MAX_MS */
  xr_go_version go;       /* whose encoding/json bytes are written: XR_GO_DEFAULT (Go 1.27) */
} xr_session_options;

/* RedisStorage's defaults (the proxy runner's). */
#define XR_SESSION_OPTIONS_INIT {XR_SESSION_OPTIONS_VERSION, NULL, 0, XR_GO_DEFAULT}
/* RedisSessionDataStorage's defaults (vMCP). */
#define XR_SESSION_DATA_OPTIONS_INIT \
  {XR_SESSION_OPTIONS_VERSION, XR_SESSION_VMCP_PREFIX, XR_SESSION_VMCP_TTL_MS, XR_GO_DEFAULT}

/* Makes a store over `client`, which it borrows (the client must outlive it). Checks the options:
 * XR_EINVAL with toolhive's text ("invalid redis configuration: key prefix must end with ':' to
 * avoid key collisions (e.g. \"thv:vmcp:session:\")", "ttl must be a positive duration"). */
XR_API int xr_session_storage_new(xr_session_storage **out, xr_client *client, const xr_session_options *opts);
XR_API void xr_session_storage_free(xr_session_storage *s);
/* The checks xr_session_storage_new makes, without a client. */
XR_API int xr_session_options_check(const xr_session_options *o);
XR_API xr_client *xr_session_storage_client(const xr_session_storage *s);
XR_API const char *xr_session_storage_prefix(const xr_session_storage *s);
XR_API int64_t xr_session_storage_ttl_ms(const xr_session_storage *s);

/* ---- RedisStorage ------------------------------------------------------------------------------ */

/* Store: `set <key> <record> ex <ttl>`, overwriting and re-applying the TTL. The record is
 * xr_session_write's (the store's Go version) of the session as toolhive holds it (a streamable
 * session without data), written once. XR_EINVAL for an empty id ("cannot store session with
 * empty ID"). */
XR_API int xr_session_store(xr_session_storage *s, const xr_session *session);
/* Load: `getex <key> ex <ttl>` (the TTL slides; updated_at is not changed) and the record read as
 * toolhive reads it (session_record.h). XR_ENOTFOUND when there is none. *out is the caller's
 * (xr_session_record_clear). */
XR_API int xr_session_load(xr_session_storage *s, xr_session_record *out, const char *id, size_t id_len);
/* Delete: `del <key>`; a missing session is no error. */
XR_API int xr_session_delete(xr_session_storage *s, const char *id, size_t id_len);
/* DeleteExpired: nothing to do (Redis expires records by their TTL); sends nothing. */
XR_API int xr_session_delete_expired(xr_session_storage *s, const xr_time *before);
/* Create: `set <key> <record> ex <ttl> nx`; XR_EEXISTS when the key exists (nothing changed). */
XR_API int xr_session_create(xr_session_storage *s, const xr_session *session);
/* LoadMetadata: `get <key>` (no TTL change), the record read, its metadata only: *out->is_nil
 * when the record has none (or `"metadata":null`). XR_ENOTFOUND when there is no record. */
XR_API int xr_session_load_metadata(xr_session_storage *s, xr_session_map *out, const char *id, size_t id_len);
/* LoadIfOwner: the record, when its binding is `owner`, with its TTL renewed (PEXPIRE in the
 * script); XR_ENOTFOUND when there is none or another owner's (toolhive cannot tell them apart
 * either). */
XR_API int xr_session_load_if_owner(xr_session_storage *s, xr_session_record *out, const char *id, size_t id_len,
                                    const char *owner, size_t owner_len);
/* StoreIfOwner: replaces the record when the stored one's binding and the new one's are both
 * `owner` (`SET key record PX ttl` in the script): *stored. */
XR_API int xr_session_store_if_owner(xr_session_storage *s, bool *stored, const xr_session *session, const char *owner,
                                     size_t owner_len);
/* DeleteIfOwner: deletes the record when its binding is `owner`: *deleted. */
XR_API int xr_session_delete_if_owner(xr_session_storage *s, bool *deleted, const char *id, size_t id_len,
                                      const char *owner, size_t owner_len);

/* ---- RedisSessionDataStorage ------------------------------------------------------------------- */

/* Create: `set <key> <map> ex <ttl> nx`: *created (false when the key exists). No pairs: "{}". */
XR_API int xr_session_data_create(xr_session_storage *s, bool *created, const char *id, size_t id_len,
                                  const xr_session_pair *pairs, size_t count);
/* Update: `set <key> <map> ex <ttl> xx`: *updated (false when there is none). */
XR_API int xr_session_data_update(xr_session_storage *s, bool *updated, const char *id, size_t id_len,
                                  const xr_session_pair *pairs, size_t count);
/* Load: `getex <key> ex <ttl>`, the map read as Go reads it (`null`: is_nil). XR_ENOTFOUND when
 * there is none. */
XR_API int xr_session_data_load(xr_session_storage *s, xr_session_map *out, const char *id, size_t id_len);
/* LoadMetadata: the same by `get` (no TTL change). */
XR_API int xr_session_data_load_metadata(xr_session_storage *s, xr_session_map *out, const char *id, size_t id_len);
/* Delete: `del <key>`. */
XR_API int xr_session_data_delete(xr_session_storage *s, const char *id, size_t id_len);

/* ---- the table, the generic call and batches ---------------------------------------------------- */

/* The operations, from session.def: XR_SESSION_OP_STORE, XR_SESSION_OP_LOAD, ... */
typedef enum xr_session_op {
#define XR_SESSION_OP(ID, name, wire, result, args) XR_SESSION_OP_##ID,
#include "session.def"
#undef XR_SESSION_OP
  XR_SESSION_OP_COUNT
} xr_session_op;

/* Row `op` of session.def; NULL past the last. */
XR_API const xr_op_info *xr_session_op_at(int op);

/* Runs row `op` with `args` (session.def's order and kinds) and decodes its result into *out
 * (xr_result_clear): SESSION fields id, type, created_at and updated_at (Go's RFC 3339 text),
 * data (absent: NULL), metadata (Go's JSON object text) and raw (the stored bytes); MAP fields json
 * (Go's text of the map, "null" for a nil map) and raw. A missing session is the call's failure
 * (XR_ENOTFOUND), as are XR_EEXISTS and a record that does not decode (XR_EPARSE). */
XR_API int xr_session_call(xr_session_storage *s, int op, const xr_arg *args, size_t nargs, xr_result *out);

/* The Redis Cluster slot of the key row `op` would touch (as xr_chat_op_slot). */
XR_API int xr_session_op_slot(const xr_session_storage *s, int op, const xr_arg *args, size_t nargs);

typedef struct xr_session_batch xr_session_batch;

XR_API int xr_session_batch_new(xr_session_batch **out, xr_session_storage *s);
XR_API void xr_session_batch_free(xr_session_batch *b);
XR_API void xr_session_batch_clear(xr_session_batch *b);
XR_API size_t xr_session_batch_count(const xr_session_batch *b);

/* The typed adders, one per row of session.def: int xr_session_batch_<name>(xr_session_batch *b,
 * <args>); the operation's index (>= 0) or a negative code (the checks of the sequential call). */
#define XR_SESSION_OP(ID, name, wire, result, args) \
  XR_API int xr_session_batch_##name(xr_session_batch *b, XR_OP_PARAMS(args));
#include "session.def"
#undef XR_SESSION_OP

/* The generic adder (the bindings): XR_EINVAL when op is unknown or the count differs. */
XR_API int xr_session_batch_add(xr_session_batch *b, int op, const xr_arg *args, size_t nargs);
/* Sends the batch as one pipeline (split per node on a Cluster). 0 when every reply was read. */
XR_API int xr_session_batch_exec(xr_session_batch *b);
/* Starts the batch on a loop connection of the store's client (as xr_chat_batch_start). */
XR_API int xr_session_batch_start(xr_session_batch *b, xr_loop_conn *lc, int *wait);
/* Operation i's result as xr_session_call gives it, or its failure. */
XR_API int xr_session_batch_result(const xr_session_batch *b, size_t i, xr_result *out);
/* The bytes of operation i's reply before decoding (as xr_chat_batch_reply_size). */
XR_API size_t xr_session_batch_reply_size(const xr_session_batch *b, size_t i);

#ifdef __cplusplus
}
#endif
#endif
