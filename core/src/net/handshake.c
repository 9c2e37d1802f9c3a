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

/* While a connection is being set up (TLS handshake, AUTH, SELECT, CLIENT SETNAME, the first
 * PING), its socket waits at most what is left of the connect timeout, so a server that accepts
 * and never answers costs connect_timeout_ms in all, not a command timeout per step. */
typedef struct setup_clock {
  int64_t deadline; /* monotonic ms; 0: no connect timeout */
} setup_clock;

static int setup_budget(xr_client *c, redisContext *rc, const setup_clock *clk, const char *step) {
  if (!clk->deadline) return XR_OK;
  int64_t left = clk->deadline - xr_monotonic_ms();
  if (left <= 0)
    return xr_fail(XR_ETIMEOUT, "timeout after %d ms opening a connection to %s (before %s)", c->connect_timeout_ms,
                   c->address, step);
  redisSetTimeout(rc, ms_to_tv(left));
  return XR_OK;
}

/* A setup step that timed out says so in the connect timeout's words. */
static int setup_failed(xr_client *c, int code, const char *step) {
  if (code != XR_ETIMEOUT) return code;
  return xr_fail(XR_ETIMEOUT, "timeout after %d ms opening a connection to %s: connected, but no answer to %s",
                 c->connect_timeout_ms, c->address, step);
}

static int setup_command(xr_client *c, redisContext *rc, int argc, const char **argv, const char *what) {
  errno = 0;
  redisReply *r = redisCommandArgv(rc, argc, argv, NULL);
  if (!r) {
    int lost;
    return xr_conn_error(c, rc, errno, &lost);
  }
  int code = XR_OK;
  if (r->type == REDIS_REPLY_ERROR) {
    code = xr_reply_error_code(r->str, r->len);
    if (code == XR_EAUTH && !strcmp(argv[0], "AUTH"))
      xr_fail(code, "authentication failed for user %s on %s: %s", c->username ? c->username : "default",
              c->address, r->str);
    else
      xr_fail(code, "%s on %s failed: %s", what, c->address, r->str);
  }
  freeReplyObject(r);
  return code;
}

/* TLS 1.3 lets the client finish its handshake before the server has judged the client's
 * certificate, so a server that refuses us (no certificate for mutual TLS, a wrong one) says so on
 * the first read. A PING right away turns that into a TLS error instead of a lost connection;
 * any reply, an error reply (NOAUTH) included, shows the channel works. */
static int tls_probe(xr_client *c, redisContext *rc) {
  errno = 0;
  redisReply *r = redisCommand(rc, "PING");
  if (r) {
    freeReplyObject(r);
    return XR_OK;
  }
  int lost, saved = errno;
  char reason[256];
  if (!c->tls->vt->last_failure(c->tls, reason, sizeof reason)) snprintf(reason, sizeof reason, "%s", rc->errstr);
  if (xr_conn_timed_out(rc, saved)) return xr_conn_error(c, rc, saved, &lost);
  return xr_fail(XR_ETLS,
                 "TLS session with %s ended right after the handshake (%s): the server may require a client "
                 "certificate (mutual TLS) or have refused the one given",
                 c->address, reason);
}

int xr_conn_open(xr_client *c, xr_conn **out, int probe) {
  setup_clock clk = {c->connect_timeout_ms > 0 ? xr_monotonic_ms() + c->connect_timeout_ms : 0};
  redisOptions ro = {0};
  struct timeval ct, cmd;
  if (c->unix_path) {
    REDIS_OPTIONS_SET_UNIX(&ro, c->unix_path);
  } else {
    REDIS_OPTIONS_SET_TCP(&ro, c->host, c->port);
  }
  if (c->connect_timeout_ms > 0) {
    ct = ms_to_tv(c->connect_timeout_ms);
    ro.connect_timeout = &ct;
  }
  if (c->command_timeout_ms > 0) {
    cmd = ms_to_tv(c->command_timeout_ms);
    ro.command_timeout = &cmd;
  }
  xr_conn *conn = NULL;
  errno = 0;
  redisContext *rc = redisConnectWithOptions(&ro);
  int saved = errno;
  if (!rc) return xr_fail_nomem();
  int code = XR_OK;
  if (rc->err) {
    if (xr_conn_timed_out(rc, saved))
      code = xr_fail(XR_ETIMEOUT, "timeout after %d ms connecting to %s", c->connect_timeout_ms, c->address);
    else
      code = xr_fail(XR_ECONNECT, "cannot connect to %s: %s", c->address, rc->errstr);
    goto fail;
  }
  if (!(conn = xr_calloc(1, sizeof *conn))) {
    code = xr_fail_nomem();
    goto fail;
  }
  conn->rc = rc;
  xr_reply_guard_install(&conn->guard, rc->reader); /* before any reply, the TLS probe's included */
  if (c->tls) {
    if ((code = setup_budget(c, rc, &clk, "the TLS handshake"))) goto fail;
    xr_sigpipe_guard g;
    xr_sigpipe_block(&g);
    code = c->tls->vt->connect(c->tls, rc, c->host ? c->host : "");
    if (code != XR_OK && clk.deadline && xr_monotonic_ms() >= clk.deadline)
      code = setup_failed(c, XR_ETIMEOUT,
                          "the TLS handshake (a plain, non-TLS Redis port never answers one: use redis:// there)");
    if (code == XR_OK) code = setup_failed(c, tls_probe(c, rc), "a PING after the TLS handshake");
    xr_sigpipe_restore(&g, code != XR_OK);
    if (code != XR_OK) goto fail;
  }
  xr_conn_install_io(conn, c->tls != NULL);
  if (c->password) {
    const char *argv[3] = {"AUTH", c->username ? c->username : c->password, c->password};
    if ((code = setup_budget(c, rc, &clk, "AUTH")) ||
        (code = setup_failed(c, setup_command(c, rc, c->username ? 3 : 2, argv, "AUTH"), "AUTH")) != XR_OK)
      goto fail;
  }
  if (c->db) {
    char db[XR_DEC_MAX + 1];
    db[xr_dec_i64(db, c->db)] = '\0';
    const char *argv[2] = {"SELECT", db};
    if ((code = setup_budget(c, rc, &clk, "SELECT")) ||
        (code = setup_failed(c, setup_command(c, rc, 2, argv, "SELECT"), "SELECT")) != XR_OK)
      goto fail;
  }
  if (c->client_name) {
    const char *argv[3] = {"CLIENT", "SETNAME", c->client_name};
    if ((code = setup_budget(c, rc, &clk, "CLIENT SETNAME")) ||
        (code = setup_failed(c, setup_command(c, rc, 3, argv, "CLIENT SETNAME"), "CLIENT SETNAME")) != XR_OK)
      goto fail;
  }
  if (probe) {
    const char *argv[1] = {"PING"};
    if ((code = setup_budget(c, rc, &clk, "PING")) ||
        (code = setup_failed(c, setup_command(c, rc, 1, argv, "PING"), "PING")) != XR_OK)
      goto fail;
  }
  if (clk.deadline) redisSetTimeout(rc, ms_to_tv(c->command_timeout_ms > 0 ? c->command_timeout_ms : 0));
  *out = conn;
  return XR_OK;
fail:
  redisFree(rc);
  xr_free(conn);
  return code;
}

void xr_conn_close(xr_conn *conn) {
  if (!conn) return;
  xr_buf_free(&conn->wbuf);
  redisFree(conn->rc);
  xr_free(conn);
}
