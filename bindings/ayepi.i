/* ayepi (ayepi.h) in the bindings: stores and brokers from plain arguments (binding.h), the
 * operations through the table's generic functions (xr_ayepi_call: the retry policy, blocking;
 * xr_ayepi_batch_*: once, with xr_ayepi_retry_next for an event loop that waits itself), the sweep
 * for clear and invalidate (the predicate stays in the language), the broker driven by each
 * language's loop adapter, and the envelope / notification / cache key writers. The typed C
 * functions and the C predicate's invalidate stay out. Included by crossredis.i. */
%{
#include "crossredis/ayepi.h"
%}

#ifndef XR_BINDING_LOOP /* started on a loop connection (loop.i) */
%ignore xr_ayepi_batch_start;
#endif
%ignore xr_ayepi_retry;
%ignore xr_ayepi_options;
%ignore xr_ayepi_store_new;
%ignore xr_ayepi_broker_options;
%ignore xr_ayepi_broker_new;
%ignore xr_ayepi_get;
%ignore xr_ayepi_set;
%ignore xr_ayepi_delete;
%ignore xr_ayepi_set_if_not_exists;
%ignore xr_ayepi_increment;
%ignore xr_ayepi_cache_get;
%ignore xr_ayepi_cache_set;
%ignore xr_ayepi_cache_delete;
%ignore xr_ayepi_cache_clear;
%ignore xr_ayepi_cache_invalidate;
%ignore xr_ayepi_cache_predicate;
%ignore xr_ayepi_op_slot;
%ignore xr_ayepi_store_client;
%ignore XR_AYEPI_OPTIONS_INIT;
%ignore XR_AYEPI_CACHE_OPTIONS_INIT;
%ignore XR_AYEPI_BROKER_OPTIONS_INIT;
/* the typed adders: the bindings add by code (xr_ayepi_batch_add) */
#define XR_AYEPI_OP(ID, name, wire, result, args) %ignore xr_ayepi_batch_##name;
%include "crossredis/ayepi.def"
#undef XR_AYEPI_OP

%apply (const char *BYTES, size_t LEN) {
  (const char *message, size_t len), (const char *entry_json, size_t entry_len),
  (const char *method, size_t method_len), (const char *path, size_t path_len),
  (const char *ch, size_t ch_len), (const char *id, size_t id_len), (const char *group_id, size_t group_id_len)
};
/* The writers' optional spans (NULL: none). A language whose file defines XR_BINDING_OPT_BYTES
 * takes its "none" (Python's None) for them; the others a span as any other. */
#ifdef XR_BINDING_OPT_BYTES
%apply (const char *OPT_BYTES, size_t LEN) {
#else
%apply (const char *BYTES, size_t LEN) {
#endif
  (const char *query_json, size_t query_len), (const char *body_json, size_t body_len),
  (const char *vary_json, size_t vary_len), (const char *params_json, size_t params_len),
  (const char *data_json, size_t data_len), (const char *error, size_t error_len)
};
%apply long long *OUTPUT { int64_t *delay_ms, int64_t *receivers, int64_t *stale_until_ms };

%include "crossredis/ayepi.h"
