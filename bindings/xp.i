/* xp (xp.h) in the bindings: stores from plain arguments (xr_binding_xp_store_new), the operations
 * through the table's generic functions (xr_xp_call: every topology, the Cluster's several-step
 * registry rows included; xr_xp_batch_*: one pipeline, which refuses those rows on a Cluster), the
 * listings, clears, info and ping, and the neutral JSON slot (xr_binding_xp_slot_write,
 * xr_xp_slot_read). The typed C functions stay out. Included by crossredis.i for the languages that
 * define XR_BINDING_XP: their file gives the typemaps of `xr_xp_list **out` (the listing as the
 * language's list), `xr_xp_info *out` and `xr_xp_slot *out` (the fields). */
%{
#include "crossredis/xp.h"
%}

#ifndef XR_BINDING_LOOP /* started on a loop connection (loop.i) */
%ignore xr_xp_batch_start;
#endif
%ignore xr_xp_options;
%ignore xr_xp_store_new;
%ignore xr_xp_store_client;
%ignore xr_xp_buffer_append;
%ignore xr_xp_buffer_get_thread;
%ignore xr_xp_buffer_get_slot;
%ignore xr_xp_buffer_thread_len;
%ignore xr_xp_buffer_thread_exists;
%ignore xr_xp_buffer_delete_thread;
%ignore xr_xp_registry_set;
%ignore xr_xp_registry_get_uuid;
%ignore xr_xp_registry_get_chain;
%ignore xr_xp_registry_get_or_create;
%ignore xr_xp_registry_delete;
%ignore xr_xp_list;
%ignore xr_xp_list_count;
%ignore xr_xp_list_id;
%ignore xr_xp_list_value;
%ignore xr_xp_list_free;
%ignore xr_xp_info;
%ignore xr_xp_slot;
%ignore xr_xp_slot_write;
%ignore xr_xp_slot_clear;
%ignore xr_xp_op_slot;
%ignore XR_XP_OPTIONS_INIT;
/* the typed adders: the bindings add by code (xr_xp_batch_add) */
#define XR_XP_OP(ID, name, wire, result, args) %ignore xr_xp_batch_##name;
%include "crossredis/xp.def"
#undef XR_XP_OP

%apply (const char *BYTES, size_t LEN) {
  (const char *data, size_t len), (const char *thread_id, size_t thread_id_len), (const char *from_id, size_t from_id_len),
  (const char *to_id, size_t to_id_len), (const char *timestamp, size_t timestamp_len),
  (const char *payload_type, size_t payload_type_len), (const char *usage_instructions, size_t usage_instructions_len),
  (const char *payload_json, size_t payload_json_len)
};
#ifdef XR_BINDING_OPT_BYTES
%apply (const char *OPT_BYTES, size_t LEN) { (const char *own_name, size_t own_name_len) };
#else
%apply (const char *BYTES, size_t LEN) { (const char *own_name, size_t own_name_len) };
#endif

/* the default TTL (its INT64_C is no constant SWIG reads) */
%constant long long XR_XP_TTL_S = XR_XP_TTL_S;

%include "crossredis/xp.h"
