/* The client configuration: options set by name (client_options.def), each value checked as it
 * is set, resolved into xr_client_options (and xr_tls_options) when a client opens. */
#include <string.h>

#include "crossredis/config.h"
#include "crossredis/tls.h" /* xr_tls_options: the type only; opening with TLS is crossredis_tls's */
#include "base/internal.h"
#include "net/config_internal.h"

static const xr_client_option_info rows[] = {
#define XR_CLIENT_OPTION(name, node_name, kind, min, max, doc) {#name, node_name, XR_OPTION_##kind, min, max, doc},
#include "crossredis/client_options.def"
#undef XR_CLIENT_OPTION
};

_Static_assert(sizeof rows / sizeof rows[0] == XR_OPT_COUNT, "one row per option id");

typedef struct option_value {
  bool set;
  char *text; /* XR_OPTION_TEXT, XR_OPTION_SECRET: NUL-terminated, no NUL inside */
  int64_t integer; /* XR_OPTION_INTEGER; XR_OPTION_BOOLEAN as 0 or 1 */
} option_value;

struct xr_client_config {
  option_value v[XR_OPT_COUNT];
  xr_url *url; /* the url option, parsed when set */
};

const xr_client_option_info *xr_client_option_info_at(size_t i) { return i < XR_OPT_COUNT ? &rows[i] : NULL; }

int xr_client_config_new(xr_client_config **out) {
  if (!out) return xr_fail(XR_EINVAL, "xr_client_config_new: out is required");
  *out = xr_calloc(1, sizeof **out);
  return *out ? XR_OK : xr_fail_nomem();
}

static void forget(option_value *v) {
  xr_free(v->text);
  memset(v, 0, sizeof *v);
}

/* Replaces the option's value (taking `text`); XR_OK. */
static int keep(option_value *v, char *text, int64_t integer) {
  forget(v);
  v->set = true;
  v->text = text;
  v->integer = integer;
  return XR_OK;
}

void xr_client_config_free(xr_client_config *c) {
  if (!c) return;
  for (size_t i = 0; i < XR_OPT_COUNT; i++) forget(&c->v[i]);
  xr_url_free(c->url);
  xr_free(c);
}

static const char *const setter_of[] = {NULL, "xr_client_config_set_text", "xr_client_config_set_text",
                                         "xr_client_config_set_integer", "xr_client_config_set_boolean"};

/* The row of `name` when it takes `kind` (text and secret alike), else XR_EINVAL naming why. */
static int find(const xr_client_config *c, const char *name, xr_option_kind kind, const char *fn) {
  if (!c || !name) return xr_fail(XR_EINVAL, "%s: the configuration and the option's name are required", fn);
  for (int i = 0; i < XR_OPT_COUNT; i++) {
    if (strcmp(rows[i].name, name) != 0) continue;
    xr_option_kind k = rows[i].kind == XR_OPTION_SECRET ? XR_OPTION_TEXT : rows[i].kind;
    if (k != kind) return xr_fail(XR_EINVAL, "%s is set with %s, not %s", name, setter_of[rows[i].kind], fn);
    return i;
  }
  return xr_fail(XR_EINVAL, "unknown option %.64s", name);
}

/* Characters (UTF-8 sequences) before byte `at`. */
static size_t chars_before(const char *s, size_t at) {
  size_t n = 0;
  for (size_t i = 0; i < at; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

/* Refuses what a C string cannot hold (NUL) and what no valid Unicode text holds (a UTF-16
 * surrogate, which WTF-8 carries from a Python or JS string with a lone one). */
static int check_text(const char *name, const char *s, size_t len) {
  for (size_t i = 0; i + 2 < len; i++) {
    unsigned char b0 = (unsigned char)s[i], b1 = (unsigned char)s[i + 1], b2 = (unsigned char)s[i + 2];
    if (b0 == 0xED && b1 >= 0xA0 && b1 <= 0xBF && (b2 & 0xC0) == 0x80) {
      unsigned cp = 0xD000u | ((b1 & 0x3Fu) << 6) | (b2 & 0x3Fu);
      return xr_fail(XR_EINVAL, "%s: not valid Unicode (a lone surrogate U+%04X at index %zu)", name, cp,
                     chars_before(s, i));
    }
  }
  const char *nul = len ? memchr(s, 0, len) : NULL;
  if (nul) return xr_fail(XR_EINVAL, "%s: contains NUL (U+0000) at index %zu", name, chars_before(s, (size_t)(nul - s)));
  return XR_OK;
}

int xr_client_config_set_text(xr_client_config *c, const char *name, const char *value, size_t len) {
  int i = find(c, name, XR_OPTION_TEXT, "xr_client_config_set_text");
  if (i < 0) return i;
  if (!value && len) return xr_fail(XR_EINVAL, "%s: the value is NULL", name);
  int rc = check_text(name, value, len);
  if (rc) return rc;
  char *copy = xr_strndup(value ? value : "", len);
  if (!copy) return xr_fail_nomem();
  if (i == XR_OPT_url) {
    xr_url *u = NULL;
    if ((rc = xr_url_parse(&u, copy))) {
      xr_free(copy);
      return rc;
    }
    xr_url_free(c->url);
    c->url = u;
  }
  return keep(&c->v[i], copy, 0);
}

int xr_client_config_set_integer(xr_client_config *c, const char *name, int64_t value) {
  int i = find(c, name, XR_OPTION_INTEGER, "xr_client_config_set_integer");
  if (i < 0) return i;
  if (value < rows[i].min)
    return xr_fail(XR_ERANGE, "%s must be >= %lld, got %lld", name, (long long)rows[i].min, (long long)value);
  if (value > rows[i].max)
    return xr_fail(XR_ERANGE, "%s must be at most %lld, got %lld", name, (long long)rows[i].max, (long long)value);
  return keep(&c->v[i], NULL, value);
}

int xr_client_config_set_boolean(xr_client_config *c, const char *name, bool value) {
  int i = find(c, name, XR_OPTION_BOOLEAN, "xr_client_config_set_boolean");
  if (i < 0) return i;
  return keep(&c->v[i], NULL, value ? 1 : 0);
}

/* The option's text when set, else `fallback`. */
static const char *text_or(const xr_client_config *c, xr_client_option_id id, const char *fallback) {
  return c->v[id].set ? c->v[id].text : fallback;
}

static void set_int(const xr_client_config *c, xr_client_option_id id, int *field) {
  if (c->v[id].set) *field = (int)c->v[id].integer; /* within the row's range, which fits an int */
}

int xr_client_config_resolve(const xr_client_config *c, xr_client_options *o, struct xr_tls_options *t) {
  if (!c || !o) return xr_fail(XR_EINVAL, "xr_client_config_resolve: the configuration and options are required");
  const xr_client_options defaults = XR_CLIENT_OPTIONS_INIT;
  *o = defaults;
  const xr_url *u = c->url;
  if (u) xr_url_apply(u, o);
  set_int(c, XR_OPT_connect_timeout_ms, &o->connect_timeout_ms);
  set_int(c, XR_OPT_command_timeout_ms, &o->command_timeout_ms);
  set_int(c, XR_OPT_pool_size, &o->pool_size);
  set_int(c, XR_OPT_db, &o->db);
  o->username = text_or(c, XR_OPT_username, o->username);
  o->password = text_or(c, XR_OPT_password, o->password);
  o->client_name = text_or(c, XR_OPT_client_name, o->client_name);
  if (c->v[XR_OPT_sentinels].set && c->v[XR_OPT_cluster_nodes].set)
    return xr_fail(XR_EINVAL, "sentinels and cluster_nodes are both set: a client talks to a Sentinel or a Cluster");
  if (c->v[XR_OPT_sentinels].set) o->topology = XR_TOPOLOGY_SENTINEL, o->nodes = c->v[XR_OPT_sentinels].text;
  if (c->v[XR_OPT_cluster_nodes].set) o->topology = XR_TOPOLOGY_CLUSTER, o->nodes = c->v[XR_OPT_cluster_nodes].text;
  o->master_name = text_or(c, XR_OPT_master_name, o->master_name);
  if (o->master_name && o->topology != XR_TOPOLOGY_SENTINEL)
    return xr_fail(XR_EINVAL, "master_name is for a Sentinel: give sentinels too (or a redis+sentinel:// url)");
  o->sentinel_username = text_or(c, XR_OPT_sentinel_username, o->sentinel_username);
  o->sentinel_password = text_or(c, XR_OPT_sentinel_password, o->sentinel_password);
  if (c->v[XR_OPT_replica_reads].set) o->replica_reads = (int)c->v[XR_OPT_replica_reads].integer;
  set_int(c, XR_OPT_max_redirects, &o->max_redirects);

  static const xr_client_option_id tls_group[] = {XR_OPT_ca_file, XR_OPT_ca_pem, XR_OPT_cert_file, XR_OPT_key_file,
                                                  XR_OPT_cert_pem, XR_OPT_key_pem, XR_OPT_server_name, XR_OPT_insecure};
  int want_tls = u && u->tls;
  for (size_t i = 0; i < sizeof tls_group / sizeof tls_group[0]; i++) want_tls |= c->v[tls_group[i]].set;
  /* TLS toward the data nodes: a rediss URL, or any TLS option; toward the sentinels: sentinel_tls
   * when said (the option, else the URL's query), else as the data nodes. TLS options with a plain
   * URL and sentinel_tls=true are the sentinels' alone. */
  if (c->v[XR_OPT_sentinel_tls].set && o->topology != XR_TOPOLOGY_SENTINEL)
    return xr_fail(XR_EINVAL, "sentinel_tls is for a Sentinel: give sentinels too (or a redis+sentinel:// url)");
  int said = c->v[XR_OPT_sentinel_tls].set ? (int)c->v[XR_OPT_sentinel_tls].integer : (u ? u->sentinel_tls : -1);
  int nodes_tls = want_tls && !(said == 1 && !(u && u->tls));
  int sentinel_tls = o->topology == XR_TOPOLOGY_SENTINEL && (said >= 0 ? said : nodes_tls);
  if (t) {
    const xr_tls_options none = XR_TLS_OPTIONS_INIT;
    *t = none;
    if (nodes_tls || sentinel_tls) {
      t->ca_file = text_or(c, XR_OPT_ca_file, u ? u->ca_file : NULL);
      t->ca_pem = text_or(c, XR_OPT_ca_pem, NULL);
      if (t->ca_pem) t->ca_file = NULL; /* the PEM wins over a file, the URL's or given */
      t->cert_file = text_or(c, XR_OPT_cert_file, u ? u->cert_file : NULL);
      t->key_file = text_or(c, XR_OPT_key_file, u ? u->key_file : NULL);
      t->cert_pem = text_or(c, XR_OPT_cert_pem, NULL);
      t->key_pem = text_or(c, XR_OPT_key_pem, NULL);
      t->server_name = text_or(c, XR_OPT_server_name, u ? u->server_name : NULL);
      t->insecure = c->v[XR_OPT_insecure].set ? (int)c->v[XR_OPT_insecure].integer : (u ? u->insecure : 0);
    }
  }
  return (nodes_tls ? XR_CONFIG_TLS_NODES : 0) | (sentinel_tls ? XR_CONFIG_TLS_SENTINELS : 0);
}

int xr_client_open_config(xr_client **out, const xr_client_config *c) {
  if (!out || !c) return xr_fail(XR_EINVAL, "xr_client_open_config: out and the configuration are required");
  *out = NULL;
  xr_client_options o;
  int rc = xr_client_config_resolve(c, &o, NULL);
  if (rc < 0) return rc;
  if (rc > 0)
    return xr_fail(XR_EUNSUPPORTED, "TLS is asked for (a rediss:// URL or a TLS option) but this is the core without "
                   "TLS: open with xr_tls_client_open_config (crossredis_tls)");
  return xr_client_open(out, &o);
}
