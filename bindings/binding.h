/* Helpers the SWIG bindings wrap where the C API takes structs: opening a client from a URL plus
 * keyword-style options, making a Chat SDK adapter or a watchdog from plain arguments. Shared by
 * the Python and Node modules; not part of the C library's API. */
#ifndef CROSSREDIS_BINDING_H
#define CROSSREDIS_BINDING_H

#include <stddef.h>
#include <stdint.h>

#include "crossredis/chat.h"
#include "crossredis/client.h"

/* Opens a client from `url` (redis://, rediss://, unix://; NULL: redis://127.0.0.1:6379). Each
 * other argument overrides the URL when given: ints when >= 0, strings when not NULL. TLS is used
 * when the URL is rediss:// or any TLS argument is given, insecure = 0 included (a binding passes 0
 * for "TLS, verified" when its caller asked for TLS without naming a CA: the system's CAs). */
int xr_binding_client_open(xr_client **out, const char *url, int connect_timeout_ms, int command_timeout_ms,
                           int pool_size, const char *username, const char *password, int db,
                           const char *client_name, const char *ca_file, const char *ca_pem, const char *cert_file,
                           const char *key_file, const char *cert_pem, const char *key_pem,
                           const char *server_name, int insecure);

/* Makes a Chat SDK adapter; keep_empty_prefix 1 keeps "" as the Python port does. token_suffix,
 * json and queue are the values of xr_token_suffix, xr_json_dialect and xr_chat_queue_dialect. */
int xr_binding_chat_new(xr_chat **out, xr_client *client, const char *key_prefix, int keep_empty_prefix,
                        const char *token_prefix, int token_suffix, int json, int queue);

/* xr_chat_options_check of the same arguments: the option errors at construction. */
int xr_binding_chat_check(const char *key_prefix, int keep_empty_prefix, const char *token_prefix, int token_suffix,
                          int json, int queue);

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

/* 0 when `url` parses (NULL: the default URL), else XR_EINVAL naming the wrong part; for checking
 * a URL when an adapter is made, before anything connects. */
int xr_binding_url_check(const char *url);

/* `url` with its password hidden (xr_url_redact), allocated (xr_free); NULL when out of memory. */
char *xr_binding_url_redact(const char *url);

/* Argument i of an operation's row (op.h): its name ("ttl_ms"), NULL past the last. */
const char *xr_binding_op_arg_name(const xr_op_info *info, size_t i);

#endif
