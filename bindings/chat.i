/* The Chat SDK state (chat.h) in the bindings: what they do not wrap and the names of its byte-span
 * arguments. Included by crossredis.i after the core. The bindings run the operations through the
 * generic functions of the table (xr_chat_call, xr_chat_batch_add, xr_chat_batch_result, by kind);
 * the typed functions stay wrapped for the few places that call them (acquire_lock_wait,
 * release_lock_if_queue_empty, the watchdog) and for the tests of the raw wrappers. */

#ifndef XR_BINDING_LOOP /* started on a loop connection (loop.i) */
%ignore xr_chat_batch_start;
#endif
%ignore xr_chat_options;
%ignore xr_chat_new;
%ignore xr_chat_lock;
%ignore xr_chat_queue_entry;
%ignore xr_chat_queue_entry_clear;
%ignore xr_chat_watchdog_new;
%ignore xr_chat_watchdog_tick;

%apply (const char *BYTES, size_t LEN) {
  (const char *thread_id, size_t len), (const char *thread_id, size_t thread_id_len),
  (const char *json, size_t json_len), (const char *message_json, size_t message_len),
  (const char *message_json, size_t message_json_len), (const char *raw, size_t raw_len)
};
%apply bool *OUTPUT { bool *acquired, bool *released, bool *extended, bool *subscribed, bool *stored, bool *found, bool *acked };
%apply long long *OUTPUT { long long *depth, long long *moved };

%ignore xr_chat_token_info;
%ignore xr_chat_origin_of;
%ignore xr_chat_origin_parse;
%ignore xr_chat_origins_text;

%include "crossredis/chat_origin.h"
%include "crossredis/chat.h"
