#include <string.h>

#include "binding.h"
#include "crossredis/alloc.h"
#include "crossredis/error.h"
#include "crossredis/tls.h"

int xr_binding_client_open(xr_client **out, const char *url, int connect_timeout_ms, int command_timeout_ms,
                           int pool_size, const char *username, const char *password, int db,
                           const char *client_name, const char *ca_file, const char *ca_pem, const char *cert_file,
                           const char *key_file, const char *cert_pem, const char *key_pem,
                           const char *server_name, int insecure) {
  *out = NULL;
  xr_url *u = NULL;
  int rc = xr_url_parse(&u, url ? url : "redis://127.0.0.1:6379");
  if (rc) return rc;
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  xr_url_apply(u, &o);
  if (connect_timeout_ms >= 0) o.connect_timeout_ms = connect_timeout_ms;
  if (command_timeout_ms >= 0) o.command_timeout_ms = command_timeout_ms;
  if (pool_size >= 0) o.pool_size = pool_size;
  if (username) o.username = username;
  if (password) o.password = password;
  if (db >= 0) o.db = db;
  if (client_name) o.client_name = client_name;
  xr_tls *tls = NULL;
  /* any TLS option given means TLS, verified unless insecure is 1 (the system's CAs when none given) */
  int want_tls = u->tls || ca_file || ca_pem || cert_file || key_file || cert_pem || key_pem || server_name || insecure >= 0;
  if (want_tls) {
    xr_tls_options t = XR_TLS_OPTIONS_INIT;
    t.ca_file = ca_file ? ca_file : u->ca_file;
    t.ca_pem = ca_pem;
    t.cert_file = cert_file ? cert_file : u->cert_file;
    t.key_file = key_file ? key_file : u->key_file;
    t.cert_pem = cert_pem;
    t.key_pem = key_pem;
    t.server_name = server_name ? server_name : u->server_name;
    t.insecure = insecure >= 0 ? insecure : u->insecure;
    if (t.ca_file && t.ca_pem) t.ca_file = NULL; /* the PEM given as an argument wins over the URL's file */
    if ((rc = xr_tls_new(&tls, &t))) {
      xr_url_free(u);
      return rc;
    }
    o.tls = tls;
  }
  rc = xr_client_open(out, &o);
  xr_tls_free(tls);
  xr_url_free(u);
  return rc;
}

static xr_chat_options chat_options(const char *key_prefix, int keep_empty_prefix, const char *token_prefix,
                                     int token_suffix, int json, int queue) {
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = key_prefix;
  o.empty_prefix = keep_empty_prefix ? XR_CHAT_EMPTY_PREFIX_KEEP : XR_CHAT_EMPTY_PREFIX_DEFAULT;
  o.token_prefix = token_prefix;
  o.token_suffix = (xr_token_suffix)token_suffix;
  o.json = (xr_json_dialect)json;
  o.queue = (xr_chat_queue_dialect)queue;
  return o;
}

int xr_binding_chat_new(xr_chat **out, xr_client *client, const char *key_prefix, int keep_empty_prefix,
                        const char *token_prefix, int token_suffix, int json, int queue) {
  xr_chat_options o = chat_options(key_prefix, keep_empty_prefix, token_prefix, token_suffix, json, queue);
  return xr_chat_new(out, client, &o);
}

int xr_binding_chat_check(const char *key_prefix, int keep_empty_prefix, const char *token_prefix, int token_suffix,
                          int json, int queue) {
  xr_chat_options o = chat_options(key_prefix, keep_empty_prefix, token_prefix, token_suffix, json, queue);
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
  xr_chat_watchdog_state st = XR_WATCHDOG_HELD;
  int rc = xr_chat_watchdog_tick(w, &st, now_ms);
  *state = (int)st;
  return rc;
}

const char *xr_binding_token_origin(const char *token, size_t len) {
  return xr_token_origin_name(xr_token_origin_of(NULL, token, len));
}

const char *xr_binding_token_shape(const char *token, size_t len) {
  xr_token_info info;
  xr_token_origin origin = xr_token_origin_of(&info, token, len);
  return xr_token_origin_name(origin == XR_ORIGIN_CROSSREDIS ? info.shape_of : origin);
}

int xr_binding_url_check(const char *url) {
  xr_url *u = NULL;
  int rc = xr_url_parse(&u, url ? url : "redis://127.0.0.1:6379");
  xr_url_free(u);
  return rc;
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
