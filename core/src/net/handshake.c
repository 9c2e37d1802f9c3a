/* Opening one connection: connect (TCP or unix socket), the TLS handshake through the TLS part
 * (net/tls_hook.h), AUTH, SELECT, CLIENT SETNAME and, for a client being opened, a PING, all
 * within the connect timeout; then the socket waits the command timeout per reply. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "base/decimal.h"
#include "net/client_internal.h"
#include "crossredis/loop.h"
#include "net/tls_hook.h"

static struct timeval ms_to_tv(int64_t ms) {
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  return tv;
}

/* One connection being set up. While it is (TLS handshake, AUTH, SELECT, CLIENT SETNAME,
 * READONLY, the first PING), its socket waits at most what is left of the connect timeout, so a
 * server that accepts and never answers costs connect_timeout_ms in all, not a command timeout per
 * step. */
typedef struct setup {
  xr_client *c;
  const xr_node *node;
  const xr_conn_auth *auth;
  xr_conn *conn;
  int64_t deadline; /* monotonic ms; 0: no connect timeout */
} setup;

static int setup_budget(const setup *st, const char *step) {
  if (!st->deadline) return XR_OK;
  int64_t left = st->deadline - xr_monotonic_ms();
  if (left <= 0)
    return xr_fail(XR_ETIMEOUT, "timeout after %d ms opening a connection to %s (before %s)", st->c->connect_timeout_ms,
                   st->node->address, step);
  redisSetTimeout(st->conn->rc, ms_to_tv(left));
  return XR_OK;
}

/* A setup step that timed out says so in the connect timeout's words. */
static int setup_failed(const setup *st, int code, const char *step) {
  if (code != XR_ETIMEOUT) return code;
  return xr_fail(XR_ETIMEOUT, "timeout after %d ms opening a connection to %s: connected, but no answer to %s",
                 st->c->connect_timeout_ms, st->node->address, step);
}

static int setup_command(const setup *st, int argc, const char **argv, const char *what) {
  errno = 0;
  redisReply *r = redisCommandArgv(st->conn->rc, argc, argv, NULL);
  if (!r) {
    int lost;
    return xr_conn_error(st->c, st->conn, errno, &lost);
  }
  int code = XR_OK;
  if (r->type == REDIS_REPLY_ERROR) {
    code = xr_reply_error_code(r->str, r->len);
    if (code == XR_EAUTH && !strcmp(argv[0], "AUTH"))
      xr_fail(code, "authentication failed for user %s on %s: %s", st->auth->username ? st->auth->username : "default",
              st->node->address, r->str);
    else
      xr_fail(code, "%s on %s failed: %s", what, st->node->address, r->str);
  }
  freeReplyObject(r);
  return code;
}

/* A step of the setup: within the budget, and a timeout said in the connect timeout's words. */
static int setup_step(const setup *st, int argc, const char **argv, const char *what) {
  int code = setup_budget(st, what);
  return code ? code : setup_failed(st, setup_command(st, argc, argv, what), what);
}

/* TLS 1.3 lets the client finish its handshake before the server has judged the client's
 * certificate, so a server that refuses us (no certificate for mutual TLS, a wrong one) says so on
 * the first read. A PING right away turns that into a TLS error instead of a lost connection;
 * any reply, an error reply (NOAUTH) included, shows the channel works. */
static int tls_probe(const setup *st) {
  redisContext *rc = st->conn->rc;
  errno = 0;
  redisReply *r = redisCommand(rc, "PING");
  if (r) {
    freeReplyObject(r);
    return XR_OK;
  }
  int lost, saved = errno;
  char reason[256];
  xr_tls *tls = st->auth->tls;
  if (!tls->vt->last_failure(tls, reason, sizeof reason)) snprintf(reason, sizeof reason, "%s", rc->errstr);
  if (xr_conn_timed_out(rc, saved)) return xr_conn_error(st->c, st->conn, saved, &lost);
  return xr_fail(XR_ETLS,
                 "TLS session with %s ended right after the handshake (%s): the server may require a client "
                 "certificate (mutual TLS) or have refused the one given",
                 st->node->address, reason);
}

int xr_conn_open(xr_client *c, xr_node *node, const xr_conn_auth *auth, xr_conn **out, int probe) {
  if (!auth) auth = &c->auth;
  setup st = {c, node, auth, NULL, c->connect_timeout_ms > 0 ? xr_monotonic_ms() + c->connect_timeout_ms : 0};
  redisOptions ro = {0};
  struct timeval ct, cmd;
  if (node->unix_path) {
    REDIS_OPTIONS_SET_UNIX(&ro, node->unix_path);
  } else {
    REDIS_OPTIONS_SET_TCP(&ro, node->host, node->port);
  }
  if (c->connect_timeout_ms > 0) {
    ct = ms_to_tv(c->connect_timeout_ms);
    ro.connect_timeout = &ct;
  }
  if (c->command_timeout_ms > 0) {
    cmd = ms_to_tv(c->command_timeout_ms);
    ro.command_timeout = &cmd;
  }
  errno = 0;
  redisContext *rc = redisConnectWithOptions(&ro);
  int saved = errno;
  if (!rc) return xr_fail_nomem();
  int code = XR_OK;
  if (rc->err) {
    if (xr_conn_timed_out(rc, saved))
      code = xr_fail(XR_ETIMEOUT, "timeout after %d ms connecting to %s", c->connect_timeout_ms, node->address);
    else
      code = xr_fail(XR_ECONNECT, "cannot connect to %s: %s", node->address, rc->errstr);
    redisFree(rc);
    return code;
  }
  if (!(st.conn = xr_calloc(1, sizeof *st.conn))) {
    redisFree(rc);
    return xr_fail_nomem();
  }
  st.conn->rc = rc;
  st.conn->node = node;
  xr_reply_guard_install(&st.conn->guard, rc->reader); /* before any reply, the TLS probe's included */
  if (auth->tls) {
    if ((code = setup_budget(&st, "the TLS handshake"))) goto fail;
    xr_sigpipe_guard g;
    xr_sigpipe_block(&g);
    code = auth->tls->vt->connect(auth->tls, rc, node->host ? node->host : "");
    if (code != XR_OK && st.deadline && xr_monotonic_ms() >= st.deadline)
      code = setup_failed(&st, XR_ETIMEOUT,
                          "the TLS handshake (a plain, non-TLS Redis port never answers one: use redis:// there)");
    if (code == XR_OK) code = setup_failed(&st, tls_probe(&st), "a PING after the TLS handshake");
    xr_sigpipe_restore(&g, code != XR_OK);
    if (code != XR_OK) goto fail;
  }
  xr_conn_install_io(st.conn, auth->tls != NULL);
  if (auth->password) {
    const char *argv[3] = {"AUTH", auth->username ? auth->username : auth->password, auth->password};
    if ((code = setup_step(&st, auth->username ? 3 : 2, argv, "AUTH"))) goto fail;
  }
  if (auth->db) {
    char db[XR_DEC_MAX + 1];
    db[xr_dec_i64(db, auth->db)] = '\0';
    const char *argv[2] = {"SELECT", db};
    if ((code = setup_step(&st, 2, argv, "SELECT"))) goto fail;
  }
  if (auth->client_name) {
    const char *argv[3] = {"CLIENT", "SETNAME", auth->client_name};
    if ((code = setup_step(&st, 3, argv, "CLIENT SETNAME"))) goto fail;
  }
  if (node->replica) {
    const char *argv[1] = {"READONLY"};
    if ((code = setup_step(&st, 1, argv, "READONLY"))) goto fail;
  }
  if (probe) {
    const char *argv[1] = {"PING"};
    if ((code = setup_step(&st, 1, argv, "PING"))) goto fail;
  }
  if (st.deadline) redisSetTimeout(rc, ms_to_tv(c->command_timeout_ms > 0 ? c->command_timeout_ms : 0));
  *out = st.conn;
  return XR_OK;
fail:
  xr_conn_close(st.conn);
  return code;
}

void xr_conn_close(xr_conn *conn) {
  if (!conn) return;
  xr_buf_free(&conn->wbuf);
  redisFree(conn->rc);
  xr_free(conn);
}
