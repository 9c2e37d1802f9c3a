/* The async bridge of the Node addon: SWIG -napi has no async, so these functions (wrapped by
 * SWIG in javascript.i, implemented with node-addon-api in bridge.cc) copy their arguments on the
 * JS thread, run the blocking core calls on libuv's thread pool and settle a Promise on the JS
 * thread. The JS layer (node/src) gathers the operations of one event-loop turn into one call
 * of xr_js_chat_run / xr_js_client_run: one pipeline.
 *
 * Lifetimes. A client and an adapter are native objects (a "box" around xr_client / xr_chat)
 * behind a JS External. Every call holds a use of the boxes it runs over until it settled, so a
 * box is freed only when it was closed (close/disconnect, its External collected, or the
 * environment ending) AND no call uses it any more: disconnecting under a running call, or losing
 * the last JS reference to a client while a call runs, cannot free what the call uses. An
 * adapter holds a use of its client. Closing cancels what waits (acquireLockWait rejects with
 * ClientClosedError at once) and leaves the calls in flight to finish.
 *
 * Environments. Each Node environment (the main thread, each worker thread) has its own state:
 * the error classes and the boxes it opened. When an environment ends (the process exits, a worker
 * ends or is terminated) an async cleanup hook closes its boxes in order (adapters, loop
 * connections, clients), stops the timers of waits and lets Node finish once libuv closed their
 * handles; completions that arrive while the environment is ending settle nothing (no JS runs
 * then) and only release what they used. */
#ifndef CROSSREDIS_JS_BRIDGE_H
#define CROSSREDIS_JS_BRIDGE_H

#include <napi.h>

extern "C" {
#include "crossredis/chat.h"
#include "crossredis/client.h"
#include "crossredis/loop.h"
#include "crossredis/config.h"
#include "crossredis/tls.h"
}

/* Implemented in javascript.i. */
Napi::Value xr_js_reply_value(Napi::Env env, const xr_reply *r, bool buffers);

/* The Error for a core failure: `message` (else the code's description), `.code` the XR_E*
 * value, `.codeName` its name; an instance of this environment's class for the code when the JS
 * layer registered them (xr_js_set_error_classes). JS thread only. */
Napi::Error xr_js_error_of(Napi::Env env, int code, const char *message);

/* Registers this environment's error classes (an object keyed by code) and its cleanup hook. */
void xr_js_set_error_classes(Napi::Value classes);

/* A client configuration (xr_client_config) as a JS External, every option at its default. */
Napi::Value xr_js_client_config_new(Napi::Value unused);

/* Sets the option Node spells `name` (client_options.def: "poolSize", "tls.caFile") to `value`, a
 * string, number or boolean by the option's kind: a TypeError for another type (naming the option
 * as the core does: "pool_size must be an integer, not string"), else the core's verdict thrown
 * (InvalidArgumentError; a RangeError with the core's message and .code for an integer outside
 * the option's range). JS thread. */
void xr_js_client_config_set(Napi::Value config, Napi::Value name, Napi::Value value);

/* Opens a client as the configuration says (connects, authenticates, PINGs; TLS when it asks for
 * it) and its loop connection, off the JS thread: a Promise of the client's handle. */
Napi::Value xr_js_client_open(Napi::Value config);

/* Runs commands (an Array of argument Arrays: strings, Buffers, Uint8Arrays, numbers, bigints) as
 * one pipeline: a Promise of an Array of replies or Error objects. Bulk strings come back as
 * strings, or as Buffers when `buffers`. The batch runs on the client's loop connection when it
 * is free (driven by libuv on the JS thread), else on the thread pool. */
Napi::Value xr_js_client_run(Napi::Value client, Napi::Value commands, Napi::Value buffers);

/* "host:port" or the socket path. */
Napi::Value xr_js_client_address(Napi::Value client);

/* Cancels what waits over the client (acquireLockWait of its adapters: ClientClosedError). */
void xr_js_client_cancel(Napi::Value client);

/* Closes the client (and its adapters) once the calls using it finished; later calls reject with
 * ClientClosedError. */
void xr_js_client_close(Napi::Value client);

/* Makes a Chat SDK adapter over a client: options {keyPrefix, emptyPrefix, tokenPrefix,
 * tokenSuffix, json, queue}, the numbers the values of xr_chat_empty_prefix, xr_token_suffix,
 * xr_json_dialect and xr_chat_queue_dialect as this addon exports them (absent: 0, the default).
 * Throws the core's error. */
Napi::Value xr_js_chat_new(Napi::Value client, Napi::Value options);

/* The adapter's key prefix. */
Napi::Value xr_js_chat_key_prefix(Napi::Value chat);

/* The Chat SDK operations, the rows of chat.def: an Array of {code, name, wire, result, args:
 * [{name, kind}]} (result: an xr_result_kind, kind: an xr_arg_kind). */
Napi::Value xr_js_chat_ops(Napi::Value unused);

/* Runs the operations as one batch: each is an Array [code, ...arguments] (a row of
 * xr_js_chat_ops: a string for TEXT, a Buffer for BYTES, a number for INT). A Promise of an Array
 * with one entry per operation, its result by result kind (STATUS undefined, BOOL boolean, INTEGER
 * number, VALUE string or null, LIST string[], LOCK and ENTRY an Array of their fields or null) or
 * an Error object (an operation that failed alone; the others still ran). */
/* `lane`: the loop connection it runs on (xr_js_chat_lanes), -1 for the lane of the first
 * operation's key (one operation while nothing else runs: no xr_js_chat_lanes call needed). */
Napi::Value xr_js_chat_run(Napi::Value chat, Napi::Value ops, Napi::Value lane);

/* Lanes (Cluster clients): the node each operation's key is on now (xr_chat_op_slot,
 * xr_client_node_of_slot), as lane numbers 0 .. XR_JS_LANES-1 written into `lanes` (a Uint8Array
 * with room for every operation). Returns the lane they all share, XR_JS_LANES when they differ
 * (read `lanes`), or -1 when the client has one node (standalone, Sentinel: one lane). The JS
 * layer keeps one pipeline per lane and runs a lane's batches on that lane's own loop connection
 * (xr_js_chat_run's `lane`), so a node that answers first gets its next batch at once instead of
 * waiting for the slowest node (as node-redis and ioredis keep a connection per node). Only the id
 * argument of each operation is read; an operation whose key cannot be made goes to lane 0
 * (running it reports why). */
Napi::Value xr_js_chat_lanes(Napi::Value chat, Napi::Value ops, Napi::Value lanes);
#define XR_JS_LANES 64

/* Tries to acquire until it succeeds or wait_ms passed (backoff with jitter, as
 * xr_chat_acquire_lock_wait): each try runs on the thread pool, the pauses are libuv timers, so a
 * close or disconnect ends the wait at once. A Promise of [token, expiresAt] or null. */
Napi::Value xr_js_chat_acquire_wait(Napi::Value chat, Napi::Value thread_id, Napi::Value ttl_ms,
                                    Napi::Value wait_ms);

/* xr_chat_release_lock_if_queue_empty: a Promise of [released, depth]. */
Napi::Value xr_js_chat_release_if_queue_empty(Napi::Value chat, Napi::Value thread_id, Napi::Value token);

/* Cancels the adapter's waits (ClientClosedError). */
void xr_js_chat_cancel(Napi::Value chat);

/* Frees the adapter once the calls using it finished; later calls reject with ClientClosedError. */
void xr_js_chat_close(Napi::Value chat);

/* toolhive's session stores (session.h; session_bridge.cc). Makes one over a client: options
 * {keyPrefix, ttlMs, go} (absent: the core's default; go 126 or 127, the values of xr_go_version).
 * Throws the core's error (toolhive's texts). */
Napi::Value xr_js_session_new(Napi::Value client, Napi::Value options);

/* The rows of session.def, as xr_js_chat_ops gives chat.def's. */
Napi::Value xr_js_session_ops(Napi::Value unused);

/* Runs the operations as one batch, as xr_js_chat_run does (no lanes: the client's own loop
 * connection or the pool): results by kind, SESSION an object {id, type, createdAt, updatedAt
 * (Go's RFC 3339 text), data (the JSON text, or null), metadata (Go's JSON object text), raw (a
 * Buffer: the record as stored)}, MAP {json, raw}. */
Napi::Value xr_js_session_run(Napi::Value storage, Napi::Value ops);

/* Frees the store once the calls using it finished; later calls reject with ClientClosedError. */
void xr_js_session_close(Napi::Value storage);

/* ayepi's stores (ayepi.h; ayepi_bridge.cc). Makes one over a client: options {keyPrefix (absent:
 * the kind's default), cache (the response cache's defaults), attempts, base, factor, max, jitter
 * (the retry policy's numbers, each explicit: xr_binding_ayepi_store_new)}. Throws the core's error. */
Napi::Value xr_js_ayepi_new(Napi::Value client, Napi::Value options);

/* The rows of ayepi.def, as xr_js_chat_ops gives chat.def's. */
Napi::Value xr_js_ayepi_ops(Napi::Value unused);

/* Runs the operations as one batch, once (no retry), as xr_js_session_run does. */
Napi::Value xr_js_ayepi_run(Napi::Value store, Napi::Value ops);

/* xr_ayepi_retry_next: after row `op` failed with `rc` (an Error's .code) on attempt `attempt`
 * (1: the first), [next (XR_AYEPI_GIVE_UP, _TRY_AGAIN, _READ_BACK), delay_ms]. */
Napi::Value xr_js_ayepi_retry_next(Napi::Value store, Napi::Value op, Napi::Value rc, Napi::Value attempt);

/* A sweep of the cache's keys (xr_ayepi_sweep_new; entries: a GET of each key per page). */
Napi::Value xr_js_ayepi_sweep_new(Napi::Value store, Napi::Value entries);

/* One step of the sweep on the thread pool: DEL of the last page's keys whose indexes are in
 * `chosen` (every key of it when the sweep reads no entries), then the next page unless the scan
 * ended. A Promise of {removed, keys: string[], entries: (string|null)[], done} (done: nothing is
 * left to read or delete). One step at a time. */
Napi::Value xr_js_ayepi_sweep_step(Napi::Value sweep, Napi::Value chosen);

/* Frees the sweep (after its running step, if any). */
void xr_js_ayepi_sweep_close(Napi::Value sweep);

/* Frees the store once the calls using it finished; later calls reject with ClientClosedError. */
void xr_js_ayepi_close(Napi::Value store);

/* xml-pipeline's buffer and registry (xp.h; xp_bridge.cc). Makes one over a client: options
 * {keyPrefix (absent: "xp:"), ttl (seconds, 0: none; xr_binding_xp_store_new)}. Throws the core's
 * error. */
Napi::Value xr_js_xp_new(Napi::Value client, Napi::Value options);

/* The rows of xp.def, as xr_js_chat_ops gives chat.def's. */
Napi::Value xr_js_xp_ops(Napi::Value unused);

/* Runs the operations as one batch, as xr_js_session_run does, but VALUE and LIST results are
 * Buffers (slots are opaque bytes; the JS layer decodes the ids). On a Cluster the several-step
 * registry rows fail in a batch (XR_EUNSUPPORTED): run them with xr_js_xp_call. */
Napi::Value xr_js_xp_run(Napi::Value store, Napi::Value ops);

/* One operation [code, ...arguments] through xr_xp_call on the thread pool (every topology, the
 * Cluster's several-step rows included): a Promise of its result by kind (VALUE a Buffer or null). */
Napi::Value xr_js_xp_call(Napi::Value store, Napi::Value op);

/* A scan of the store on the thread pool, by `what`: 0 the thread ids (Buffers), 1 buffer_clear
 * (how many removed), 2 registry_list_all ([uuid, chain] Buffers), 3 registry_clear (how many
 * removed), 4 info ([threads, entries, ttl]), 5 ping (undefined). A Promise. */
Napi::Value xr_js_xp_job(Napi::Value store, Napi::Value what);

/* The JSON slot (xp.h) of [thread_id, from_id, to_id, slot_index, timestamp, payload_type,
 * own_name (null: none), is_self_call, usage_instructions, payload JSON text]: a Buffer. Throws
 * the core's error. */
Napi::Value xr_js_xp_slot_write(Napi::Value fields);

/* A JSON slot read and checked by the core: the same fields as xr_js_xp_slot_write takes (the
 * payload as canonical JSON text). Throws the core's error. */
Napi::Value xr_js_xp_slot_read(Napi::Value data);

/* Frees the store once the calls using it finished; later calls reject with ClientClosedError. */
/* True when the store's client is on a Cluster: its several-step registry rows then run alone
 * (xr_js_xp_call), never in a batch. */
Napi::Value xr_js_xp_cluster(Napi::Value store);
void xr_js_xp_close(Napi::Value store);

/* Key families (family.h; window_bridge.cc): a family as an External (freed when collected), from
 * its name and two shapes (strings or Buffers), or a family file's text (one family: by `name`, or
 * the only one when name is null; every family: an Array). Throws the core's error. */
Napi::Value xr_js_family_new(Napi::Value name, Napi::Value old_pattern, Napi::Value new_pattern);
Napi::Value xr_js_family_load(Napi::Value text, Napi::Value name);
Napi::Value xr_js_family_load_all(Napi::Value text);

/* {name, notes, old, new, fields: string[]} of a family. */
Napi::Value xr_js_family_info(Napi::Value family);

/* [old key, new key] (strings, UTF-8 decoded) of the member with these field values (an Array of
 * strings, Buffers, numbers or bigints, in field order). Throws the core's error. */
Napi::Value xr_js_family_keys(Napi::Value family, Napi::Value values);

/* The new key of an old-shape key (a string or Buffer), null when it does not have the old shape. */
Napi::Value xr_js_family_new_key_of(Napi::Value family, Napi::Value old_key);

/* Migration windows (window.h; window_bridge.cc). Opens one over a client for a family (the window
 * keeps its own copy): options {copyForward (boolean), closeAfterMs, oldWrites (the values of
 * xr_window_old_writes), deleteGuardMs} (absent: 0, the default). Throws the core's error. */
Napi::Value xr_js_window_new(Napi::Value client, Napi::Value family, Napi::Value options);

/* One call of the window on the thread pool, by `what`: 0 write and 1 read (`args` the command
 * without its key: an Array as client commands take; a Promise of the reply, bulk strings as
 * Buffers when `buffers`, else strings), 2 delete (how many of the two keys existed), 3 close
 * (0; AlreadyExistsError with the core's message while old-shape keys remain). `values`: the
 * field values (an Array, in field order). */
Napi::Value xr_js_window_call(Napi::Value window, Napi::Value what, Napi::Value values, Napi::Value args,
                              Napi::Value buffers);

/* Whether the window acts closed (xr_window_is_closed). */
Napi::Value xr_js_window_is_closed(Napi::Value window);

/* Frees the window once the calls using it finished; later calls reject with ClientClosedError. */
void xr_js_window_release(Napi::Value window);

/* A client's pub/sub (subscriber.h; subscriber_bridge.cc): a subscriber over the client whose
 * messages arrive from the event loop as on_message(channel, message) (strings, UTF-8 decoded as
 * Buffer's toString decodes); on_error(err) when it stopped for good. Kept alive by libuv while it
 * has channels. */
Napi::Value xr_js_subscriber_new(Napi::Value client, Napi::Value on_message, Napi::Value on_error);

/* Inside on_message: the message's bytes as [channel, message] Buffers; null elsewhere. */
Napi::Value xr_js_subscriber_message_bytes(Napi::Value sub);

/* SUBSCRIBE / UNSUBSCRIBE of an Array of channels (strings or Buffers), on the thread pool (the
 * first connects): a Promise of how many channels it has after. One call at a time. */
Napi::Value xr_js_subscriber_subscribe(Napi::Value sub, Napi::Value channels);
Napi::Value xr_js_subscriber_unsubscribe(Napi::Value sub, Napi::Value channels);

/* Frees the subscriber (after a running call); its client closing does too. */
void xr_js_subscriber_close(Napi::Value sub);

/* What this environment holds, for tests: {clients, chats, sessions, ayepi, xp, windows, subscribers, loops, waits, jobs} (counts),
 * and the bytes of big batches built and of big results decoded on each side (bigBuiltOnJsThread,
 * bigBuiltOnPool, bigDecodedOnJsThread, bigDecodedOnPool). */
Napi::Value xr_js_stats(Napi::Value unused);

#endif
