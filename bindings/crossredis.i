/* What the bindings wrap, for every language. A language's own file (python/python.i,
 * javascript/javascript.i) defines its typemaps for the argument shapes named here, then
 * includes this file. The idiomatic layer of each language is hand-written over the result. */

%{
#include "crossredis/ayepi.h"
#include "crossredis/chat.h"
#include "crossredis/client.h"
#include "crossredis/config.h"
#include "crossredis/error.h"
#include "crossredis/json.h"
#include "crossredis/keys.h"
#include "crossredis/tls.h"
#include "crossredis/token.h"
#include "binding.h"
%}

%include "stdint.i"
%include "typemaps.i"

#define XR_API

/* Structs and functions the bindings reach through binding.h or do not need. */
%ignore xr_url;
%ignore xr_url_parse;
%ignore xr_url_free;
%ignore xr_url_apply;
%ignore xr_client_options;
%ignore xr_client_open;
%ignore xr_client_open_url;
%ignore xr_reply_free;
%ignore xr_reply_kind;
%ignore xr_reply_str;
%ignore xr_reply_integer;
%ignore xr_reply_count;
%ignore xr_reply_at;
%ignore xr_batch_new;
%ignore xr_batch_free;
%ignore xr_batch_clear;
%ignore xr_batch_count;
%ignore xr_batch_add;
%ignore xr_batch_add_eval;
%ignore xr_client_exec;
%ignore xr_batch_result;
%ignore xr_error;
%ignore xr_error_last;
%ignore xr_error_clear;
%ignore xr_error_set;
%ignore xr_token_make;
%ignore xr_random_bytes;
%ignore xr_key_hash_span;
%ignore xr_key_extract_tag;
%ignore xr_key_share_tag;

%ignore xr_url_redact;
/* The op tables (op.h): rows are read-only; results are converted by the language's typemaps. */
%immutable xr_op_info::name;
%immutable xr_op_info::wire_name;
%ignore xr_arg;
%ignore xr_op_info::arg_kinds;
%ignore xr_op_info::arg_names;
%ignore xr_result;
%ignore xr_result_clear;
%ignore xr_result_shape;
%ignore xr_result_shape_of;
/* Client options: a configuration set option by option (the bindings convert each value by the
 * kind xr_client_option_info_at gives, the core judges it), opened with TLS when it asks for it. */
%ignore xr_client_open_config;
%ignore xr_client_config_resolve;
%ignore xr_tls_options;
%ignore xr_tls_new;
%ignore xr_tls_free;
%ignore xr_tls_client_open_url;
%ignore xr_binding_chat_options;
/* json.h: only its dialects (the Chat SDK adapter's json option), not the writers and parsers. */
%ignore xr_json_write;
%ignore xr_json_write_string;
%ignore xr_json_format_double;
%ignore xr_json_parse;
%ignore xr_json_transcode;
%ignore xr_json_go_compact;
%ignore XR_JSON_SORT_KEYS;
%ignore XR_JSON_GO_NO_HTML_ESCAPE;
%newobject xr_binding_url_redact;
%typemap(newfree) char *xr_binding_url_redact "xr_free($1);";

/* Argument shapes (each language's file gives the typemaps): byte spans are (const char *x, size_t
 * x_len) pairs; SWIG matches a pair by its names, so each name the wrapped API uses is listed here
 * once for the core and in each system's .i for its functions. The generic operation functions
 * (op.h) take their arguments as one (const xr_arg *args, size_t nargs) instead. */
%apply (const char *BYTES, size_t LEN) {
  (const char *token, size_t token_len), (const char *token, size_t len), (const char *body, size_t len),
  (const char *value, size_t len), (const char *scope, size_t scope_len), (const char *value, size_t value_len),
  (const char *prefix, size_t len), (const char *key, size_t key_len), (const char *key, size_t len)
};
%apply bool *OUTPUT { bool *out };
%apply long long *OUTPUT { long long *out };
%apply int *OUTPUT { int *state };
%apply (char **OUT_BYTES, size_t *OUT_LEN) {
  (char **value, size_t *value_len), (char **out, size_t *out_len), (char **out, size_t *outlen)
};

%immutable;
%include "crossredis/error.h"
%include "crossredis/config.h"
%mutable;
%include "crossredis/client.h"
%include "crossredis/tls.h"
%include "crossredis/json.h"
%include "crossredis/keys.h"
%include "crossredis/token.h"
%include "crossredis/op.h"

/* loop.h, for the languages whose adapter of their host loop is written over the module
 * (python/python.i defines XR_BINDING_LOOP); the Node addon drives loop connections in bridge.cc. */
#ifdef XR_BINDING_LOOP
%include "loop.i"
#endif

/* The systems, one file each. */
%include "chat.i"
%include "session.i"
%include "ayepi.i"
/* xp: for the languages that give its typemaps (XR_BINDING_XP; Node's comes with its bridge) */
#ifdef XR_BINDING_XP
%include "xp.i"
#else
%ignore xr_binding_xp_store_new;
%ignore xr_binding_xp_slot_write;
#endif
/* key families and migration windows: for the languages that give their typemaps
 * (XR_BINDING_WINDOW; Node's come with its bridge) */
#ifdef XR_BINDING_WINDOW
%include "window.i"
#else
%ignore xr_binding_window_new;
%ignore xr_binding_family_shape;
#endif
%include "binding.h"
