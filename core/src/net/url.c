/* Connection URLs: redis://, rediss://, unix://, and the topologies redis+sentinel:// and
 * redis+cluster:// (rediss+... for TLS). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crossredis/client.h"
#include "base/internal.h"
#include "net/config_internal.h"

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* A percent-decoded copy of s[0..n). */
static int decode(char **out, const char *s, size_t n, const char *what) {
  char *d = xr_malloc(n + 1);
  if (!d) return xr_fail_nomem();
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') {
      d[j++] = s[i];
      continue;
    }
    int hi = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
    int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
      xr_free(d);
      return xr_fail(XR_EINVAL, "URL: bad percent escape in the %s", what);
    }
    d[j++] = (char)(hi * 16 + lo);
    i += 2;
  }
  d[j] = '\0';
  *out = d;
  return XR_OK;
}

/* A URL that carries a password never has a piece of itself echoed in a message: a password with
 * an unescaped '/', '@' or ':' moves the boundaries, and its text would land in "bad port '…'". */
static const char secret_hint[] = "(not shown: the URL holds credentials; percent-encode '/', '@' and ':' in them)";

static int parse_int(int *out, const char *s, size_t n, long lo, long hi, const char *what, int quiet) {
  char tmp[32];
  if (n == 0 || n >= sizeof tmp) {
    if (quiet) return xr_fail(XR_EINVAL, "URL: bad %s %s", what, secret_hint);
    return xr_fail(XR_EINVAL, "URL: bad %s '%.*s'", what, (int)(n < 64 ? n : 64), s);
  }
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  char *end;
  errno = 0;
  long v = strtol(tmp, &end, 10);
  if (errno || *end || !isdigit((unsigned char)tmp[0]) || v < lo || v > hi) {
    if (quiet) return xr_fail(XR_EINVAL, "URL: bad %s (expected %ld..%ld) %s", what, lo, hi, secret_hint);
    return xr_fail(XR_EINVAL, "URL: bad %s '%s' (expected %ld..%ld)", what, tmp, lo, hi);
  }
  *out = (int)v;
  return XR_OK;
}

/* An integer option of the query (or the db of the path) within the limits its row of
 * client_options.def gives, the same the configuration's setter applies. */
static int parse_option_int(int *out, const char *v, size_t n, xr_client_option_id id, const char *what, int quiet) {
  const xr_client_option_info *row = xr_client_option_info_at(id);
  return parse_int(out, v, n, (long)row->min, (long)row->max, what, quiet);
}

static int parse_bool(int *out, const char *v, const char *what, int quiet) {
  if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) *out = 1;
  else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) *out = 0;
  else if (quiet) return xr_fail(XR_EINVAL, "URL: option %s takes true or false %s", what, secret_hint);
  else return xr_fail(XR_EINVAL, "URL: option %s takes true or false, not '%s'", what, v);
  return XR_OK;
}

static int parse_option(xr_url *u, const char *key, size_t klen, const char *val, size_t vlen, int quiet) {
  char *v = NULL;
  int rc = decode(&v, val, vlen, "query");
  if (rc) return rc;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
  char **str = NULL;
  /* quiet: the value may be the tail of a password that held an unescaped '?' */
  if (KEY("connect_timeout_ms"))
    rc = parse_option_int(&u->connect_timeout_ms, v, strlen(v), XR_OPT_connect_timeout_ms, "connect_timeout_ms", quiet);
  else if (KEY("timeout_ms"))
    rc = parse_option_int(&u->command_timeout_ms, v, strlen(v), XR_OPT_command_timeout_ms, "timeout_ms", quiet);
  else if (KEY("pool_size")) rc = parse_option_int(&u->pool_size, v, strlen(v), XR_OPT_pool_size, "pool_size", quiet);
  else if (KEY("db")) rc = parse_option_int(&u->db, v, strlen(v), XR_OPT_db, "db", quiet);
  else if (KEY("insecure")) rc = parse_bool(&u->insecure, v, "insecure", quiet);
  else if (KEY("sentinel_tls")) rc = parse_bool(&u->sentinel_tls, v, "sentinel_tls", quiet);
  else if (KEY("replica_reads")) rc = parse_bool(&u->replica_reads, v, "replica_reads", quiet);
  else if (KEY("max_redirects"))
    rc = parse_option_int(&u->max_redirects, v, strlen(v), XR_OPT_max_redirects, "max_redirects", quiet);
  else if (KEY("sentinel_username")) str = &u->sentinel_username;
  else if (KEY("sentinel_password")) str = &u->sentinel_password;
  else if (KEY("client_name")) str = &u->client_name;
  else if (KEY("ca_file")) str = &u->ca_file;
  else if (KEY("cert_file")) str = &u->cert_file;
  else if (KEY("key_file")) str = &u->key_file;
  else if (KEY("server_name")) str = &u->server_name;
  else if (quiet) rc = xr_fail(XR_EINVAL, "URL: unknown option %s", secret_hint);
  else rc = xr_fail(XR_EINVAL, "URL: unknown option '%.*s'", (int)klen, key);
#undef KEY
  if (str) {
    xr_free(*str);
    *str = v;
    return XR_OK;
  }
  xr_free(v);
  return rc;
}

static int parse_query(xr_url *u, const char *q, int quiet) {
  while (*q) {
    const char *amp = strchr(q, '&');
    size_t n = amp ? (size_t)(amp - q) : strlen(q);
    const char *eq = memchr(q, '=', n);
    if (n) {
      if (!eq && quiet) return xr_fail(XR_EINVAL, "URL: an option has no value %s", secret_hint);
      if (!eq) return xr_fail(XR_EINVAL, "URL: option '%.*s' has no value", (int)n, q);
      int rc = parse_option(u, q, (size_t)(eq - q), eq + 1, n - (size_t)(eq - q) - 1, quiet);
      if (rc) return rc;
    }
    q += n + (amp ? 1 : 0);
  }
  if (u->tls == 0 && u->sentinel_tls != 1 && (u->ca_file || u->cert_file || u->key_file || u->server_name || u->insecure))
    return xr_fail(XR_EINVAL, "URL: TLS options need the rediss:// scheme (or sentinel_tls=true)");
  if (u->topology != XR_TOPOLOGY_SENTINEL && (u->sentinel_username || u->sentinel_password || u->sentinel_tls >= 0))
    return xr_fail(XR_EINVAL, "URL: sentinel_* options need the redis+sentinel:// scheme");
  return XR_OK;
}

/* [user[:password]@] */
static int parse_userinfo(xr_url *u, const char *s, size_t n) {
  const char *colon = memchr(s, ':', n);
  int rc = XR_OK;
  if (colon) {
    if (colon > s) rc = decode(&u->username, s, (size_t)(colon - s), "user name");
    if (!rc) rc = decode(&u->password, colon + 1, n - (size_t)(colon - s) - 1, "password");
  } else if (n) {
    /* redis://secret@host: a lone userinfo is the password, as redis-py and ioredis read it */
    rc = decode(&u->password, s, n, "password");
  }
  return rc;
}

static int parse_hostport(xr_url *u, const char *s, size_t n, int quiet) {
  const char *port = NULL;
  if (n && s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (!close) return xr_fail(XR_EINVAL, "URL: IPv6 host without ']'");
    if (!(u->host = xr_strndup(s + 1, (size_t)(close - s - 1)))) return xr_fail_nomem();
    if (close + 1 < s + n) {
      if (close[1] != ':') return xr_fail(XR_EINVAL, "URL: unexpected text after the IPv6 host");
      port = close + 2;
    }
  } else {
    const char *colon = memchr(s, ':', n);
    size_t hl = colon ? (size_t)(colon - s) : n;
    if (hl && !(u->host = xr_strndup(s, hl))) return xr_fail_nomem();
    if (colon) port = colon + 1;
  }
  if (port) return parse_int(&u->port, port, (size_t)(s + n - port), 1, 65535, "port", quiet);
  return XR_OK;
}

/* "host[:port],host[:port]...": each checked as a URL host, written back with its port (the
 * default when missing) into u->nodes. */
static int parse_hostlist(xr_url *u, const char *s, size_t n, int default_port, int quiet) {
  xr_buf out = XR_BUF_INIT;
  const char *end = s + n;
  int rc = XR_OK;
  for (const char *p = s; p <= end && !rc;) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *stop = comma ? comma : end;
    xr_url one;
    memset(&one, 0, sizeof one);
    if (stop == p) {
      rc = xr_fail(XR_EINVAL, "URL: an empty host in the host list");
    } else if (!(rc = parse_hostport(&one, p, (size_t)(stop - p), quiet))) {
      if (!one.host) rc = xr_fail(XR_EINVAL, "URL: a host of the list has no name");
      else xr_buf_printf(&out, "%s%s%s%s:%d", out.len ? "," : "", strchr(one.host, ':') ? "[" : "", one.host,
                         strchr(one.host, ':') ? "]" : "", one.port ? one.port : default_port);
      if (!rc && !u->host) { /* the first host also fills host and port, for messages */
        u->host = one.host;
        u->port = one.port ? one.port : default_port;
        one.host = NULL;
      }
    }
    xr_free(one.host);
    if (!comma) break;
    p = comma + 1;
  }
  if (!rc && out.oom) rc = xr_fail_nomem();
  if (rc) {
    xr_buf_free(&out);
    return rc;
  }
  u->nodes = out.data;
  return XR_OK;
}

/* The path of a topology URL: "/master_name[/db]" (Sentinel) or "[/db]" (Cluster). */
static int parse_topology_path(xr_url *u, const char *path, size_t n, int quiet) {
  if (u->topology == XR_TOPOLOGY_SENTINEL) {
    const char *slash = n ? memchr(path, '/', n) : NULL;
    size_t name_len = slash ? (size_t)(slash - path) : n;
    if (name_len == 0)
      return xr_fail(XR_EINVAL, "URL: redis+sentinel:// needs the name of the master as its path: "
                                "redis+sentinel://host:26379,host:26379/mymaster");
    int rc = decode(&u->master_name, path, name_len, "master name");
    if (rc || !slash || slash + 1 == path + n) return rc;
    return parse_option_int(&u->db, slash + 1, (size_t)(path + n - slash - 1), XR_OPT_db, "db", quiet);
  }
  if (n == 0) return XR_OK;
  return parse_option_int(&u->db, path, n, XR_OPT_db, "db", quiet);
}

static int parse(xr_url *u, const char *url) {
  const char *rest;
  int is_unix = 0;
  if (!strncmp(url, "redis://", 8)) rest = url + 8;
  else if (!strncmp(url, "rediss://", 9)) rest = url + 9, u->tls = 1;
  else if (!strncmp(url, "unix://", 7)) rest = url + 7, is_unix = 1;
  else if (!strncmp(url, "redis+sentinel://", 17)) rest = url + 17, u->topology = XR_TOPOLOGY_SENTINEL;
  else if (!strncmp(url, "rediss+sentinel://", 18)) rest = url + 18, u->topology = XR_TOPOLOGY_SENTINEL, u->tls = 1;
  else if (!strncmp(url, "redis+cluster://", 16)) rest = url + 16, u->topology = XR_TOPOLOGY_CLUSTER;
  else if (!strncmp(url, "rediss+cluster://", 17)) rest = url + 17, u->topology = XR_TOPOLOGY_CLUSTER, u->tls = 1;
  else {
    /* only a scheme's own characters are echoed, never what may be a user or password */
    size_t n = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
    if (strncmp(url + n, "://", 3) != 0) n = 0;
    return xr_fail(XR_EINVAL,
                   "URL: unsupported scheme '%.*s' (redis://, rediss://, unix://, redis+sentinel://, redis+cluster://, "
                   "rediss+sentinel://, rediss+cluster://)",
                   (int)(n < 32 ? n : 32), url);
  }
  const char *q = strchr(rest, '?');
  size_t main_len = q ? (size_t)(q - rest) : strlen(rest);
  /* anywhere: a password may hold an unescaped '?' (or, in the query, an '&') */
  int quiet = strchr(rest, '@') != NULL || strstr(rest, "sentinel_password=") != NULL;
  int rc;
  if (is_unix) {
    /* unix://[user:pass@]/path/to/socket */
    const char *at = memchr(rest, '@', main_len);
    const char *path = rest;
    if (at) {
      if ((rc = parse_userinfo(u, rest, (size_t)(at - rest)))) return rc;
      path = at + 1;
    }
    size_t plen = main_len - (size_t)(path - rest);
    if (plen == 0 || path[0] != '/') return xr_fail(XR_EINVAL, "URL: unix:// needs an absolute socket path");
    if ((rc = decode(&u->unix_path, path, plen, "socket path"))) return rc;
  } else {
    const char *slash = memchr(rest, '/', main_len);
    size_t auth_len = slash ? (size_t)(slash - rest) : main_len;
    const char *at = NULL;
    for (const char *p = rest; p < rest + auth_len; p++)
      if (*p == '@') at = p; /* the last '@': a password may contain one */
    const char *hp = rest;
    if (at) {
      if ((rc = parse_userinfo(u, rest, (size_t)(at - rest)))) return rc;
      hp = at + 1;
    }
    if (u->topology != XR_TOPOLOGY_STANDALONE) {
      int default_port = u->topology == XR_TOPOLOGY_SENTINEL ? 26379 : 6379;
      if ((rc = parse_hostlist(u, hp, (size_t)(rest + auth_len - hp), default_port, quiet))) return rc;
      const char *path = slash ? slash + 1 : rest + main_len;
      if ((rc = parse_topology_path(u, path, (size_t)(rest + main_len - path), quiet))) return rc;
    } else {
      if ((rc = parse_hostport(u, hp, (size_t)(rest + auth_len - hp), quiet))) return rc;
      if (slash && slash + 1 < rest + main_len &&
          (rc = parse_option_int(&u->db, slash + 1, (size_t)(rest + main_len - slash - 1), XR_OPT_db, "db", quiet)))
        return rc;
    }
  }
  return q ? parse_query(u, q + 1, quiet) : XR_OK;
}

int xr_url_parse(xr_url **out, const char *url) {
  if (!out || !url) return xr_fail(XR_EINVAL, "xr_url_parse: out and url are required");
  *out = NULL;
  xr_url *u = xr_calloc(1, sizeof *u);
  if (!u) return xr_fail_nomem();
  u->db = -1;
  u->connect_timeout_ms = -1;
  u->command_timeout_ms = -1;
  u->sentinel_tls = -1;
  u->replica_reads = -1;
  int rc = parse(u, url);
  if (rc) {
    xr_url_free(u);
    return rc;
  }
  *out = u;
  return XR_OK;
}

void xr_url_free(xr_url *u) {
  if (!u) return;
  char *strs[] = {u->host, u->unix_path, u->username, u->password, u->ca_file, u->cert_file, u->key_file,
                  u->server_name, u->client_name, u->nodes, u->master_name, u->sentinel_username,
                  u->sentinel_password};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) xr_free(strs[i]);
  xr_free(u);
}

void xr_url_apply(const xr_url *u, xr_client_options *o) {
  if (u->unix_path) {
    o->unix_path = u->unix_path;
  } else {
    o->unix_path = NULL;
    if (u->host) o->host = u->host;
    o->port = u->port ? u->port : 6379;
  }
  if (u->username) o->username = u->username;
  if (u->password) o->password = u->password;
  if (u->db >= 0) o->db = u->db;
  if (u->connect_timeout_ms >= 0) o->connect_timeout_ms = u->connect_timeout_ms;
  if (u->command_timeout_ms >= 0) o->command_timeout_ms = u->command_timeout_ms;
  if (u->pool_size) o->pool_size = u->pool_size;
  if (u->client_name) o->client_name = u->client_name;
  if (u->topology != XR_TOPOLOGY_STANDALONE) {
    o->topology = u->topology;
    o->nodes = u->nodes;
  }
  if (u->master_name) o->master_name = u->master_name;
  if (u->sentinel_username) o->sentinel_username = u->sentinel_username;
  if (u->sentinel_password) o->sentinel_password = u->sentinel_password;
  if (u->replica_reads >= 0) o->replica_reads = u->replica_reads;
  if (u->max_redirects) o->max_redirects = u->max_redirects;
}

int xr_url_sentinel_tls(const xr_url *u) { return u->sentinel_tls >= 0 ? u->sentinel_tls : u->tls; }

/* url with the value of each sentinel_password in its query as ***. */
static void mask_sentinel_password(xr_buf *b, const char *url) {
  const char *q = strchr(url, '?');
  const char *p = url;
  while (q) {
    const char *hit = strstr(q, "sentinel_password=");
    if (!hit) break;
    const char *val = hit + 18;
    xr_buf_append(b, p, (size_t)(val - p));
    xr_buf_puts(b, "***");
    p = val + strcspn(val, "&");
    q = p;
  }
  xr_buf_puts(b, p);
}

size_t xr_url_redact(char *out, size_t cap, const char *url) {
  if (!url) url = "";
  /* the sentinels' password first: its value may hold an '@' that the rule below would take for
   * the end of the user's password */
  xr_buf masked = XR_BUF_INIT;
  mask_sentinel_password(&masked, url);
  if (!masked.oom && masked.data) url = masked.data;
  const char *sep = strstr(url, "://");
  const char *auth = sep ? sep + 3 : url;
  size_t main_len = strcspn(auth, "?"); /* not '#': the parser has no fragments, a password may hold one */
  const char *at = NULL;
  for (const char *p = auth; p < auth + main_len; p++)
    if (*p == '@') at = p; /* the last '@', as the parser takes it */
  if (!at) /* a password holding an unescaped '?': better a query value hidden too than it shown */
    at = strrchr(auth, '@');
  xr_buf b = XR_BUF_INIT;
  if (!at) {
    xr_buf_puts(&b, url);
  } else {
    /* The user stays when a ':' ends it before the first '@': unix:// ends the credentials there,
     * so a ':' after it may be in the socket path, with the password before it. */
    const char *first_at = memchr(auth, '@', (size_t)(at - auth) + 1);
    const char *colon = memchr(auth, ':', (size_t)(first_at - auth));
    xr_buf_append(&b, url, (size_t)(auth - url));
    if (colon) xr_buf_append(&b, auth, (size_t)(colon - auth));
    xr_buf_puts(&b, ":***");          /* a lone password is shown as an empty user's */
    xr_buf_puts(&b, at);
  }
  size_t need = b.len;
  if (cap) {
    size_t n = b.oom ? 0 : (need < cap ? need : cap - 1);
    if (n) memcpy(out, b.data, n);
    out[n] = '\0';
  }
  xr_buf_free(&b);
  xr_buf_free(&masked);
  return need;
}
