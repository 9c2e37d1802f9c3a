/* The client: one handle for a server (options, address, TLS configuration) over a pool of
 * blocking hiredis connections (net/pool.c), each opened by net/handshake.c and spoken to by
 * net/socket.c; here opening and closing the handle and running one command. Scripts:
 * net/script.c; batches: net/batch.c; loop connections: net/loop_conn.c. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "net/client_internal.h"
#include "crossredis/client.h"
#include "net/tls_hook.h"
#include "codec/command_keys.h"
#include "topology/route.h"

const char *xr_client_address(const xr_client *c) { return c->address; }

int xr_client_command_timeout_ms(const xr_client *c) { return c ? c->command_timeout_ms : 0; }

/* ---- open and close -------------------------------------------------------------------------- */

static int dup_opt(char **dst, const char *src) {
  if (!src) return XR_OK;
  *dst = xr_strndup(src, strlen(src));
  return *dst ? XR_OK : xr_fail_nomem();
}

/* The options as the current version lays them out: a version 1 caller's struct ends before the
 * topology fields, which keep their defaults. */
static int upgrade(xr_client_options *o, const xr_client_options *in) {
  const xr_client_options defaults = XR_CLIENT_OPTIONS_INIT;
  *o = defaults;
  if (in->version == 1) {
    memcpy(o, in, offsetof(xr_client_options, topology));
    o->version = XR_CLIENT_OPTIONS_VERSION;
    return XR_OK;
  }
  if (in->version != XR_CLIENT_OPTIONS_VERSION)
    return xr_fail(XR_EINVAL, "xr_client_open: options version %u, expected 1..%u (use XR_CLIENT_OPTIONS_INIT)",
                   in->version, XR_CLIENT_OPTIONS_VERSION);
  *o = *in;
  return XR_OK;
}

int xr_client_open(xr_client **out, const xr_client_options *in) {
  if (!out || !in) return xr_fail(XR_EINVAL, "xr_client_open: out and options are required");
  *out = NULL;
  xr_client_options opts;
  int code = upgrade(&opts, in);
  if (code) return code;
  const xr_client_options *o = &opts;
  if (o->port < 0 || o->port > 65535) return xr_fail(XR_EINVAL, "xr_client_open: port %d out of range", o->port);
  if (o->db < 0) return xr_fail(XR_EINVAL, "xr_client_open: db %d is negative", o->db);
  if (o->unix_path && o->tls) return xr_fail(XR_EINVAL, "xr_client_open: TLS over a unix socket is not supported");
  if (o->username && !o->password) return xr_fail(XR_EINVAL, "xr_client_open: a username needs a password");

  xr_client *c = xr_calloc(1, sizeof *c);
  if (!c) return xr_fail_nomem();
  xr_client_sleep_init(c);
  xr_topology_init(c);
  c->pool_size = o->pool_size > 0 ? o->pool_size : 8;
  snprintf(c->address, sizeof c->address, "%s", "(opening)");
  if ((code = dup_opt(&c->username, o->username)) || (code = dup_opt(&c->password, o->password)) ||
      (code = dup_opt(&c->client_name, o->client_name))) {
    xr_client_close(c);
    return code;
  }
  c->db = o->db;
  c->connect_timeout_ms = o->connect_timeout_ms;
  c->command_timeout_ms = o->command_timeout_ms;
  c->replica_reads = o->replica_reads;
  c->max_redirects = o->max_redirects > 0 ? o->max_redirects : 16;
  if (o->tls) {
    c->tls = o->tls;
    c->tls->vt->retain(c->tls);
  }
  c->auth = (xr_conn_auth){c->username, c->password, c->client_name, c->db, c->tls};
  if ((code = xr_topology_open(c, o)) != XR_OK) {
    xr_client_close(c);
    return code;
  }
  *out = c;
  return XR_OK;
}

xr_topology_kind xr_client_topology(const xr_client *c) { return c ? c->topo.kind : XR_TOPOLOGY_STANDALONE; }

int xr_client_open_url(xr_client **out, const char *url, const xr_client_options *base) {
  if (!out || !url) return xr_fail(XR_EINVAL, "xr_client_open_url: out and url are required");
  *out = NULL;
  xr_url *u = NULL;
  int code = xr_url_parse(&u, url);
  if (code) return code;
  xr_client_options o;
  const xr_client_options defaults = XR_CLIENT_OPTIONS_INIT;
  if (!base) o = defaults;
  else if ((code = upgrade(&o, base))) {
    xr_url_free(u);
    return code;
  }
  int sentinel_tls = u->topology == XR_TOPOLOGY_SENTINEL && xr_url_sentinel_tls(u);
  if ((u->tls && !o.tls) || (sentinel_tls && !o.sentinel_tls && !o.tls)) {
    xr_url_free(u);
    return xr_fail(XR_EINVAL, "a rediss:// URL (or sentinel_tls=true) needs TLS: open it with xr_tls_client_open_url() "
                              "(crossredis_tls) or set options.tls");
  }
  if (sentinel_tls && !o.sentinel_tls) o.sentinel_tls = o.tls;
  if (!sentinel_tls) o.sentinel_tls = NULL;
  if (!u->tls) o.tls = NULL;
  xr_url_apply(u, &o);
  code = xr_client_open(out, &o);
  xr_url_free(u);
  return code;
}

void xr_client_close(xr_client *c) {
  if (!c) return;
  xr_topology_close(c);
  xr_client_sleep_destroy(c);
  if (c->tls) c->tls->vt->release(c->tls);
  char *strs[] = {c->username, c->password, c->client_name};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) xr_free(strs[i]);
  xr_free(c);
}

/* ---- commands -------------------------------------------------------------------------------- */

static int check_args(const xr_client *c, int argc, const char *const *argv, const char *fn) {
  if (!c) return xr_fail(XR_EINVAL, "%s: the client is NULL", fn);
  if (argc < 1 || !argv) return xr_fail(XR_EINVAL, "%s: no command given", fn);
  for (int i = 0; i < argc; i++)
    if (!argv[i]) return xr_fail(XR_EINVAL, "%s: argument %d is NULL", fn, i);
  return XR_OK;
}

int xr_client_command(xr_client *c, xr_reply **out, int argc, const char *const *argv, const size_t *argvlen) {
  return xr_client_command_wait(c, out, argc, argv, argvlen, NULL);
}

int xr_client_command_wait(xr_client *c, xr_reply **out, int argc, const char *const *argv, const size_t *argvlen,
                           const xr_wait *w) {
  if (out) *out = NULL;
  int code = check_args(c, argc, argv, "xr_client_command");
  if (code) return code;
  if ((code = xr_check_pooled_command("xr_client_command", argv[0], argvlen ? argvlen[0] : strlen(argv[0]),
                                      argc > 1 ? argv[1] : NULL, argc > 1 ? (argvlen ? argvlen[1] : strlen(argv[1])) : 0,
                                      NULL)))
    return code;
  xr_route_req q = {-1, 0, argc, (const char **)argv, (size_t *)argvlen, NULL, NULL, 0, 0, 0, NULL};
  if (w && w->replicas > 0) q.wait_replicas = w->replicas, q.wait_ms = w->ms, q.acked = &((xr_wait *)w)->acked;
  if (c->topo.kind == XR_TOPOLOGY_CLUSTER || c->replica_reads) {
    /* the keys' slot, and CROSSSLOT before anything is sent */
    if ((code = xr_command_slot(argc, argv, argvlen, &q.slot, &q.readonly))) return code;
    if (c->topo.kind != XR_TOPOLOGY_CLUSTER) q.slot = -1;
  }
  redisReply *r = xr_route_run(c, &q, &code);
  return r ? xr_reply_deliver(r, out) : code;
}

int xr_client_ping(xr_client *c) {
  const char *argv[1] = {"PING"};
  xr_reply *r = NULL;
  int code = xr_client_command(c, &r, 1, argv, NULL);
  if (code) return code;
  size_t len;
  const char *s = xr_reply_str(r, &len);
  int ok = s && len == 4 && !memcmp(s, "PONG", 4);
  xr_reply_free(r);
  return ok ? XR_OK : xr_fail(XR_EPROTOCOL, "PING to %s was not answered PONG", c->address);
}
