/* Helpers the SWIG bindings wrap where the C API takes structs: making a Chat SDK adapter or a
 * watchdog from plain arguments. Shared by the Python and Node modules; not part of the C
 * library's API. */
#ifndef CROSSREDIS_BINDING_H
#define CROSSREDIS_BINDING_H

#include <stddef.h>
#include <stdint.h>

#include "crossredis/ayepi.h"
#include "crossredis/chat.h"
#include "crossredis/client.h"
#include "crossredis/session.h"
#include "crossredis/window.h"
#include "crossredis/xp.h"

/* Client options are not here: the bindings set them one by one on an xr_client_config (config.h),
 * which checks each, and open it with xr_tls_client_open_config. */

/* The Chat SDK adapter's options from plain arguments (the values of xr_chat_empty_prefix,
 * xr_token_suffix, xr_json_dialect and xr_chat_queue_dialect, 0 for each one's default; the
 * strings are borrowed; min_replicas and min_replicas_timeout_ms as in xr_chat_options, 0: off
 * and the default; layout an xr_chat_layout, xr_chat_layout_parse of the option's name). The
 * core checks them (xr_chat_options_check), here as when made. */
xr_chat_options xr_binding_chat_options(const char *key_prefix, int empty_prefix, const char *token_prefix,
                                        int token_suffix, int json, int queue, int min_replicas,
                                        int min_replicas_timeout_ms, int layout);

/* Makes a Chat SDK adapter from those arguments. */
int xr_binding_chat_new(xr_chat **out, xr_client *client, const char *key_prefix, int empty_prefix,
                        const char *token_prefix, int token_suffix, int json, int queue, int min_replicas,
                        int min_replicas_timeout_ms, int layout);

/* xr_chat_options_check of the same arguments: the option errors when an adapter is made, before
 * it connects. */
int xr_binding_chat_check(const char *key_prefix, int empty_prefix, const char *token_prefix, int token_suffix,
                          int json, int queue, int min_replicas, int min_replicas_timeout_ms, int layout);

/* A watchdog for the lock (token, expires_at_ms) on thread_id. */
int xr_binding_watchdog_new(xr_chat_watchdog **out, xr_chat *s, const char *thread_id, size_t len,
                            const char *token, size_t token_len, int64_t expires_at_ms, int64_t ttl_ms,
                            int64_t max_lifetime_ms, int64_t now_ms);

/* xr_chat_watchdog_tick with the state as an int. */
int xr_binding_watchdog_tick(xr_chat_watchdog *w, int64_t now_ms, int *state);

/* The name of the writer of a lock token ("ts-ioredis", "crossredis", ...; token.h). */
const char *xr_binding_token_origin(const char *token, size_t len);

/* The name of the upstream writer whose shape a token has ("unknown" when none). */
const char *xr_binding_token_shape(const char *token, size_t len);

/* `url` with its password hidden (xr_url_redact), allocated (xr_free); NULL when out of memory. */
char *xr_binding_url_redact(const char *url);

/* Makes a toolhive session store (session.h) from plain arguments: key_prefix NULL for the
 * default, ttl_ms 0 for the default, go 0 (XR_GO_DEFAULT), 126 or 127. The core checks them. */
int xr_binding_session_storage_new(xr_session_storage **out, xr_client *client, const char *key_prefix, int64_t ttl_ms,
                                   int go);
/* xr_session_options_check of the same arguments. */
int xr_binding_session_check(const char *key_prefix, int64_t ttl_ms, int go);

/* Argument i of an operation's row (op.h): its name ("ttl_ms"), NULL past the last. */
const char *xr_binding_op_arg_name(const xr_op_info *info, size_t i);

/* An ayepi store (ayepi.h) from plain arguments: key_prefix NULL for its kind's default (cache 1:
 * "ayepi:cache:", else ""); the retry policy's numbers as the user gave them, each explicit (the
 * languages' defaults are ayepi's: 3, 1000, 2, 30000, 0.5): attempts >= 1, base_ms 0 no wait,
 * jitter 0 none. No on_error: each language calls its own, once, when a call finally fails. */
int xr_binding_ayepi_store_new(xr_ayepi_store **out, xr_client *client, const char *key_prefix, int cache, int attempts,
                               int64_t base_ms, double factor, int64_t max_ms, double jitter);
/* An ayepi broker (ayepi.h) on `channel` (NULL: "ayepi"). */
int xr_binding_ayepi_broker_new(xr_ayepi_broker **out, xr_client *client, const char *channel);

/* An xp store (xp.h) from upstream's arguments: key_prefix NULL for "xp:"; ttl_s as RedisBackend's
 * ttl: seconds on every key written, 0 for none (the options' 0 is the default 86400: the
 * languages pass theirs, 86400, themselves), negative refused. */
int xr_binding_xp_store_new(xr_xp_store **out, xr_client *client, const char *key_prefix, int64_t ttl_s);

/* xr_xp_slot_write from plain arguments (own_name NULL: none; is_self_call 0 or 1). */
int xr_binding_xp_slot_write(char **out, size_t *out_len, const char *thread_id, size_t thread_id_len,
                             const char *from_id, size_t from_id_len, const char *to_id, size_t to_id_len,
                             int64_t slot_index, const char *timestamp, size_t timestamp_len, const char *payload_type,
                             size_t payload_type_len, const char *own_name, size_t own_name_len, int is_self_call,
                             const char *usage_instructions, size_t usage_instructions_len, const char *payload_json,
                             size_t payload_json_len);

/* A migration window (window.h) from plain arguments: copy_forward 0 or 1, old_writes the value of
 * xr_window_old_writes, 0 for close_after_ms and delete_guard_ms the defaults (never, 10 s). The
 * core checks them. The window keeps its own copy of the family and borrows the client. */
int xr_binding_window_new(xr_window **out, xr_client *client, const xr_family *family, int copy_forward,
                          int64_t close_after_ms, int old_writes, int64_t delete_guard_ms);

/* The text of a family's old (which 0) or new (which 1) shape, borrowed from f (NUL-terminated). */
int xr_binding_family_shape(const xr_family *f, int which, const char **text, size_t *len);

#endif
