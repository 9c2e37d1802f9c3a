/* The async bridge of the Node addon: SWIG -napi has no async, so these functions (wrapped by
 * SWIG in javascript.i, implemented with node-addon-api in bridge.cc) copy their arguments on the
 * JS thread, run the blocking core calls on libuv's thread pool and settle a Promise on the JS
 * thread. The JS layer (node/src) gathers the operations of one event-loop turn into one call
 * of xr_js_chat_run / xr_js_client_run: one pipeline.
 *
 * `keep` is the object the JS layer frees its handles through (a FinalizationRegistry target);
 * a call holds a reference to it until its Promise settles, so the handle cannot be freed under a
 * running call. */
#ifndef CROSSREDIS_JS_BRIDGE_H
#define CROSSREDIS_JS_BRIDGE_H

#include <napi.h>

extern "C" {
#include "crossredis/chat.h"
#include "crossredis/client.h"
}

/* Chat SDK operation codes of xr_js_chat_run: each operation is an Array [code, ...arguments]. */
enum xr_js_chat_op {
  XR_JS_SUBSCRIBE = 0,          /* [0, threadId] -> undefined */
  XR_JS_UNSUBSCRIBE = 1,        /* [1, threadId] -> undefined */
  XR_JS_IS_SUBSCRIBED = 2,      /* [2, threadId] -> boolean */
  XR_JS_ACQUIRE = 3,            /* [3, threadId, ttlMs] -> [token, expiresAt] | null */
  XR_JS_RELEASE = 4,            /* [4, threadId, token] -> boolean */
  XR_JS_EXTEND = 5,             /* [5, threadId, token, ttlMs] -> boolean */
  XR_JS_FORCE_RELEASE = 6,      /* [6, threadId] -> undefined */
  XR_JS_GET = 7,                /* [7, key] -> string | null */
  XR_JS_SET = 8,                /* [8, key, json, ttlMs] -> undefined */
  XR_JS_SET_IF_NOT_EXISTS = 9,  /* [9, key, json, ttlMs] -> boolean */
  XR_JS_DELETE = 10,            /* [10, key] -> undefined */
  XR_JS_APPEND = 11,            /* [11, key, json, maxLength, ttlMs] -> undefined */
  XR_JS_GET_LIST = 12,          /* [12, key] -> string[] */
  XR_JS_ENQUEUE = 13,           /* [13, threadId, messageJson, enqueuedAt, expiresAt, maxSize] -> depth */
  XR_JS_DEQUEUE = 14,           /* [14, threadId] -> [messageJson, enqueuedAt, expiresAt] | null */
  XR_JS_QUEUE_DEPTH = 15,       /* [15, threadId] -> number */
  XR_JS_OP_COUNT = 16
};

/* Implemented in javascript.i (they need the wrapper's error classes and SWIG's pointer types). */
Napi::Error xr_js_error_of(Napi::Env env, int code, const char *message);
Napi::Value xr_js_reply_value(Napi::Env env, const xr_reply *r, bool buffers);
Napi::Value xr_js_client_handle(Napi::Env env, xr_client *c);

/* Runs the operations as one batch: a Promise of an Array with one entry per operation, its
 * result or an Error object (an operation that failed alone; the others still ran). `loop` is the
 * client's loop connection (from xr_js_client_open) or null: when it is free the batch runs on it,
 * driven by libuv on the JS thread; otherwise on the thread pool. */
Napi::Value xr_js_chat_run(xr_chat *chat, Napi::Value keep, Napi::Value ops, Napi::Value loop);

/* xr_chat_acquire_lock_wait: a Promise of [token, expiresAt] or null. */
Napi::Value xr_js_chat_acquire_wait(xr_chat *chat, Napi::Value keep, Napi::Value thread_id, double ttl_ms,
                                    double wait_ms);

/* xr_chat_release_lock_if_queue_empty: a Promise of [released, depth]. */
Napi::Value xr_js_chat_release_if_queue_empty(xr_chat *chat, Napi::Value keep, Napi::Value thread_id,
                                              Napi::Value token);

/* Opens a client (connects, authenticates, PINGs) and its loop connection off the JS thread: a
 * Promise of [client handle, loop connection handle or null (it could not be opened)]. `options` holds url, connectTimeoutMs, commandTimeoutMs, poolSize, username, password,
 * db, clientName, caFile, caPem, certFile, keyFile, certPem, keyPem, serverName, insecure. */
Napi::Value xr_js_client_open(Napi::Value options);

/* Runs commands (an Array of argument Arrays: strings, Buffers, Uint8Arrays, numbers, bigints) as
 * one pipeline: a Promise of an Array of replies or Error objects. Bulk strings come back as
 * strings, or as Buffers when `buffers`. */
Napi::Value xr_js_client_run(xr_client *client, Napi::Value keep, Napi::Value commands, bool buffers,
                             Napi::Value loop);

/* Closes a loop connection (before its client; nothing may run on it). */
void xr_js_loop_close(Napi::Value loop);

#endif
