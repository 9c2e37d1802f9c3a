/* toolhive sessions (session.h, session_record.h) in the bindings: the store's options from plain
 * arguments and the operations through the table's generic functions (xr_session_call,
 * xr_session_batch_add, xr_session_batch_result, by kind). The typed C functions and the record
 * codec's structs stay out: the bindings hand the core a session as JSON (session.def's
 * session_json) and read results by the SESSION and MAP kinds. Included by crossredis.i. */
%{
#include "crossredis/session.h"
%}

#ifndef XR_BINDING_LOOP /* started on a loop connection (loop.i) */
%ignore xr_session_batch_start;
#endif
%ignore xr_session_options;
%ignore xr_session_storage_new;
%ignore xr_session_options_check;
%ignore xr_session_pair;
%ignore xr_session;
%ignore xr_session_record;
%ignore xr_session_map;
%ignore xr_session_write;
%ignore xr_session_read;
%ignore xr_session_record_clear;
%ignore xr_session_map_write;
%ignore xr_session_map_read;
%ignore xr_session_map_clear;
%ignore xr_session_store;
%ignore xr_session_load;
%ignore xr_session_delete;
%ignore xr_session_delete_expired;
%ignore xr_session_create;
%ignore xr_session_load_metadata;
%ignore xr_session_load_if_owner;
%ignore xr_session_store_if_owner;
%ignore xr_session_delete_if_owner;
%ignore xr_session_data_create;
%ignore xr_session_data_update;
%ignore xr_session_data_load;
%ignore xr_session_data_load_metadata;
%ignore xr_session_data_delete;
%ignore xr_session_op_slot;
%ignore XR_SESSION_OPTIONS_INIT;
%ignore XR_SESSION_DATA_OPTIONS_INIT;
/* the typed adders: the bindings add by code (xr_session_batch_add) */
#define XR_SESSION_OP(ID, name, wire, result, args) %ignore xr_session_batch_##name;
%include "crossredis/session.def"
#undef XR_SESSION_OP

%include "crossredis/session_record.h"
%include "crossredis/session.h"
