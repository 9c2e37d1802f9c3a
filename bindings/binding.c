#include <string.h>

#include "binding.h"
#include "crossredis/alloc.h"
#include "crossredis/error.h"

xr_chat_options xr_binding_chat_options(const char *key_prefix, int empty_prefix, const char *token_prefix,
                                        int token_suffix, int json, int queue, int min_replicas,
                                        int min_replicas_timeout_ms, int layout) {
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = key_prefix;
  o.empty_prefix = (xr_chat_empty_prefix)empty_prefix;
  o.token_prefix = token_prefix;
  o.token_suffix = (xr_token_suffix)token_suffix;
  o.json = (xr_json_dialect)json;
  o.queue = (xr_chat_queue_dialect)queue;
  o.min_replicas = min_replicas;
  o.min_replicas_timeout_ms = min_replicas_timeout_ms;
  o.layout = (xr_chat_layout)layout;
  return o;
}

int xr_binding_chat_new(xr_chat **out, xr_client *client, const char *key_prefix, int empty_prefix,
                        const char *token_prefix, int token_suffix, int json, int queue, int min_replicas,
                        int min_replicas_timeout_ms, int layout) {
  xr_chat_options o = xr_binding_chat_options(key_prefix, empty_prefix, token_prefix, token_suffix, json, queue,
                                              min_replicas, min_replicas_timeout_ms, layout);
  return xr_chat_new(out, client, &o);
}

int xr_binding_chat_check(const char *key_prefix, int empty_prefix, const char *token_prefix, int token_suffix,
                          int json, int queue, int min_replicas, int min_replicas_timeout_ms, int layout) {
  xr_chat_options o = xr_binding_chat_options(key_prefix, empty_prefix, token_prefix, token_suffix, json, queue,
                                              min_replicas, min_replicas_timeout_ms, layout);
  return xr_chat_options_check(&o);
}

int xr_binding_watchdog_new(xr_chat_watchdog **out, xr_chat *s, const char *thread_id, size_t len,
                            const char *token, size_t token_len, int64_t expires_at_ms, int64_t ttl_ms,
                            int64_t max_lifetime_ms, int64_t now_ms) {
  *out = NULL;
  if (!token || token_len == 0 || token_len >= XR_TOKEN_MAX)
    return xr_error_set(XR_EINVAL, "watchdog: the lock token must have 1 to %d bytes", XR_TOKEN_MAX - 1);
  xr_chat_lock lock;
  memcpy(lock.token, token, token_len);
  lock.token[token_len] = '\0';
  lock.token_len = token_len;
  lock.expires_at_ms = expires_at_ms;
  return xr_chat_watchdog_new(out, s, thread_id, len, &lock, ttl_ms, max_lifetime_ms, now_ms);
}

int xr_binding_watchdog_tick(xr_chat_watchdog *w, int64_t now_ms, int *state) {
  xr_chat_watchdog_state st = XR_CHAT_WATCHDOG_HELD;
  int rc = xr_chat_watchdog_tick(w, &st, now_ms);
  *state = (int)st;
  return rc;
}

const char *xr_binding_token_origin(const char *token, size_t len) {
  return xr_chat_origin_name(xr_chat_origin_of(NULL, token, len));
}

const char *xr_binding_token_shape(const char *token, size_t len) {
  xr_chat_token_info info;
  xr_chat_origin origin = xr_chat_origin_of(&info, token, len);
  return xr_chat_origin_name(origin == XR_CHAT_ORIGIN_CROSSREDIS ? info.shape_of : origin);
}

char *xr_binding_url_redact(const char *url) {
  size_t n = xr_url_redact(NULL, 0, url);
  char *out = xr_malloc(n + 1);
  if (out) xr_url_redact(out, n + 1, url);
  return out;
}

const char *xr_binding_op_arg_name(const xr_op_info *info, size_t i) {
  return info && i < info->nargs ? info->arg_names[i] : NULL;
}

/* The options of a store a binding makes. A binding always passes the TTL (its None / undefined
 * is the store's own default, resolved above it), so a 0 here is the caller's: refused as toolhive
 * refuses a TTL that is not positive, never the options struct's "0: the default" (which would
 * give a vMCP data store the proxy store's 2 h, and a ttl of 0.4 ms rounded down 2 h too). */
static int session_options(xr_session_options *o, const char *key_prefix, int64_t ttl_ms, int go) {
  if (ttl_ms == 0) return xr_error_set(XR_EINVAL, "ttl must be a positive duration (ttl_ms 0)");
  *o = (xr_session_options)XR_SESSION_OPTIONS_INIT;
  o->key_prefix = key_prefix;
  o->ttl_ms = ttl_ms;
  o->go = (xr_go_version)go;
  return 0;
}

int xr_binding_session_storage_new(xr_session_storage **out, xr_client *client, const char *key_prefix, int64_t ttl_ms,
                                   int go) {
  xr_session_options o;
  int rc = session_options(&o, key_prefix, ttl_ms, go);
  return rc ? rc : xr_session_storage_new(out, client, &o);
}

int xr_binding_session_check(const char *key_prefix, int64_t ttl_ms, int go) {
  xr_session_options o;
  int rc = session_options(&o, key_prefix, ttl_ms, go);
  return rc ? rc : xr_session_options_check(&o);
}

int xr_binding_ayepi_store_new(xr_ayepi_store **out, xr_client *client, const char *key_prefix, int cache, int attempts,
                               int64_t base_ms, double factor, int64_t max_ms, double jitter) {
  if (attempts < 1) return xr_error_set(XR_EINVAL, "retry.attempts must be at least 1 (the first try), got %d", attempts);
  if (base_ms < 0 || max_ms < 0 || !(factor >= 0) || !(jitter >= 0 && jitter <= 1))
    return xr_error_set(XR_EINVAL, "retry: base, max and factor must be >= 0 and jitter within [0, 1]");
  xr_ayepi_options o = cache ? (xr_ayepi_options)XR_AYEPI_CACHE_OPTIONS_INIT : (xr_ayepi_options)XR_AYEPI_OPTIONS_INIT;
  if (key_prefix) o.key_prefix = key_prefix;
  o.retry.attempts = attempts;
  o.retry.base_ms = base_ms ? base_ms : 1; /* the options' 0 is the default: 1 ms is the shortest wait */
  o.retry.factor = factor ? factor : 1e-9; /* 0 is the default 2; this: no wait after the first, as 0^n */
  o.retry.max_ms = max_ms ? max_ms : 1;
  o.retry.jitter = jitter ? jitter : -1; /* the options' 0 is the default 0.5; negative: none */
  return xr_ayepi_store_new(out, client, &o);
}

int xr_binding_ayepi_broker_new(xr_ayepi_broker **out, xr_client *client, const char *channel) {
  xr_ayepi_broker_options o = XR_AYEPI_BROKER_OPTIONS_INIT;
  o.channel = channel;
  return xr_ayepi_broker_new(out, client, &o);
}

int xr_binding_xp_store_new(xr_xp_store **out, xr_client *client, const char *key_prefix, int64_t ttl_s) {
  if (ttl_s < 0) return xr_error_set(XR_EINVAL, "xp: ttl must be >= 0 seconds (0: none), got %lld", (long long)ttl_s);
  xr_xp_options o = XR_XP_OPTIONS_INIT;
  o.key_prefix = key_prefix;
  o.ttl_s = ttl_s ? ttl_s : XR_XP_TTL_NONE;
  return xr_xp_store_new(out, client, &o);
}

int xr_binding_xp_slot_write(char **out, size_t *out_len, const char *thread_id, size_t thread_id_len,
                             const char *from_id, size_t from_id_len, const char *to_id, size_t to_id_len,
                             int64_t slot_index, const char *timestamp, size_t timestamp_len, const char *payload_type,
                             size_t payload_type_len, const char *own_name, size_t own_name_len, int is_self_call,
                             const char *usage_instructions, size_t usage_instructions_len, const char *payload_json,
                             size_t payload_json_len) {
  xr_xp_slot s = {thread_id,    thread_id_len,    from_id,  from_id_len,  to_id,        to_id_len,
                  slot_index,   timestamp,        timestamp_len, payload_type, payload_type_len, own_name,
                  own_name_len, is_self_call != 0, usage_instructions, usage_instructions_len, payload_json,
                  payload_json_len, NULL};
  return xr_xp_slot_write(out, out_len, &s);
}

int xr_binding_window_new(xr_window **out, xr_client *client, const xr_family *family, int copy_forward,
                          int64_t close_after_ms, int old_writes, int64_t delete_guard_ms) {
  xr_window_options o = XR_WINDOW_OPTIONS_INIT;
  o.copy_forward = copy_forward;
  o.close_after_ms = close_after_ms;
  o.old_writes = (xr_window_old_writes)old_writes;
  o.delete_guard_ms = delete_guard_ms;
  return xr_window_new(out, client, family, &o);
}

int xr_binding_family_shape(const xr_family *f, int which, const char **text, size_t *len) {
  *text = NULL;
  *len = 0;
  if (!f) return xr_error_set(XR_EINVAL, "family: NULL");
  if (which != 0 && which != 1) return xr_error_set(XR_EINVAL, "family: shape %d is not 0 (old) or 1 (new)", which);
  *text = xr_key_pattern_text(which ? xr_family_new_pattern(f) : xr_family_old_pattern(f), len);
  return XR_OK;
}
