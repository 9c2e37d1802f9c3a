/* The client: a pool of blocking hiredis connections behind one handle.
 *
 * A call takes an idle connection (or opens one while the pool has room, or waits), runs on it
 * and gives it back. A connection whose I/O failed is closed, and the failure bumps the pool's
 * generation so the idle connections opened before it are replaced when next taken: after a
 * server restart they are all dead, and only the call that found out pays for it. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "net/client_internal.h"
#include "crossredis/client.h"
#include "crossredis/loop.h"
#include "base/internal.h"
#include "codec/resp.h"
#include "net/script_internal.h"
#include "net/tls_hook.h"

struct xr_client {
  char *host, *unix_path, *username, *password, *client_name;
  int port, db, connect_timeout_ms, command_timeout_ms, pool_size;
  xr_tls *tls;
  char address[300];
  pthread_mutex_t mu;
  pthread_cond_t cv; /* signalled when a connection is given back or a slot frees up */
  pthread_cond_t sleep_cv; /* broadcast by xr_client_shutdown to wake sleepers */
  atomic_int shut;
  xr_conn *idle;
  int total;    /* connections open: idle and in use */
  uint64_t gen; /* bumped when a connection is lost */
};

const char *xr_client_address(const xr_client *c) { return c->address; }

/* ---- errors ---------------------------------------------------------------------------------- */

int xr_reply_error_code(const char *text, size_t len) {
#define STARTS(p) (len >= sizeof(p) - 1 && memcmp(text, p, sizeof(p) - 1) == 0)
  if (STARTS("WRONGPASS") || STARTS("NOAUTH")) return XR_EAUTH;
  if (STARTS("WRONGTYPE")) return XR_EWRONGTYPE;
  return XR_ESERVER;
#undef STARTS
}

int xr_reply_error(const redisReply *r) {
  return xr_fail(xr_reply_error_code(r->str, r->len), "%.*s", (int)(r->len > 900 ? 900 : r->len), r->str);
}

static int is_timeout(const redisContext *rc, int saved_errno) {
  if (rc->err == REDIS_ERR_TIMEOUT) return 1;
  if (rc->err != REDIS_ERR_IO) return 0;
  return saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT ||
         strstr(rc->errstr, "timed out") != NULL || strstr(rc->errstr, "temporarily unavailable") != NULL;
}

int xr_conn_error(const xr_client *c, const redisContext *rc, int saved_errno, int *lost) {
  *lost = 0;
  if (is_timeout(rc, saved_errno))
    return xr_fail(XR_ETIMEOUT, "timeout after %d ms waiting for the reply from %s", c->command_timeout_ms, c->address);
  switch (rc->err) {
    case REDIS_ERR_OOM:
      if (xr_reply_guard_tripped(rc->reader))
        return xr_fail(XR_EPROTOCOL, "protocol error from %s: a reply nested deeper than %d levels", c->address,
                       XR_REPLY_MAX_DEPTH);
      return xr_fail_nomem();
    case REDIS_ERR_PROTOCOL:
      return xr_fail(XR_EPROTOCOL, "protocol error from %s: %s", c->address, rc->errstr);
    case REDIS_ERR_EOF:
      *lost = 1;
      return xr_fail(XR_EIO, "connection to %s lost: the server closed it", c->address);
    default:
      *lost = 1;
      return xr_fail(XR_EIO, "connection to %s lost: %s", c->address, rc->errstr[0] ? rc->errstr : "I/O error");
  }
}

/* ---- one connection -------------------------------------------------------------------------- */

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

/* TCP and unix sockets: hiredis's write, with MSG_NOSIGNAL (and MSG_DONTWAIT when an event loop
 * drives the connection: the socket itself stays blocking for the threads' calls). */
static ssize_t write_nosignal(redisContext *rc) {
  const xr_conn *conn = rc->privdata;
  int nonblock = conn->nonblock || !(rc->flags & REDIS_BLOCK);
  ssize_t n = send(rc->fd, rc->obuf, sdslen(rc->obuf), MSG_NOSIGNAL | (conn->nonblock ? MSG_DONTWAIT : 0));
  if (n >= 0) return n;
  if (errno == EINTR || ((errno == EAGAIN || errno == EWOULDBLOCK) && nonblock)) return 0;
  rc->err = REDIS_ERR_IO;
  snprintf(rc->errstr, sizeof rc->errstr, "%s", strerror(errno));
  return -1;
}

/* TLS goes through OpenSSL, which cannot pass MSG_NOSIGNAL: SIGPIPE is blocked on this thread
 * around the call, and one the call itself raised is taken back before unblocking. */
typedef struct sigpipe_guard {
  sigset_t old;
  int was_pending;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g) {
  sigset_t pipe_only, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &g->old);
  sigpending(&pending);
  g->was_pending = sigismember(&pending, SIGPIPE);
}

static void sigpipe_restore(const sigpipe_guard *g, int failed) {
  if (failed && !g->was_pending) {
    int saved = errno;
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    struct timespec zero = {0, 0};
    sigtimedwait(&pipe_only, NULL, &zero);
    errno = saved;
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static ssize_t write_tls_nosigpipe(redisContext *rc) {
  xr_conn *conn = rc->privdata;
  sigpipe_guard g;
  sigpipe_block(&g);
  ssize_t n = conn->hiredis_write(rc);
  sigpipe_restore(&g, n < 0);
  return n;
}

/* hiredis's read, or with MSG_DONTWAIT when an event loop drives the connection (0: nothing yet). */
static ssize_t read_plain(redisContext *rc, char *buf, size_t cap) {
  const xr_conn *conn = rc->privdata;
  if (!conn->nonblock) return conn->hiredis_read(rc, buf, cap);
  ssize_t n = recv(rc->fd, buf, cap, MSG_DONTWAIT);
  if (n > 0) return n;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
  rc->err = n == 0 ? REDIS_ERR_EOF : REDIS_ERR_IO;
  snprintf(rc->errstr, sizeof rc->errstr, "%s", n == 0 ? "Server closed the connection" : strerror(errno));
  return -1;
}

static void conn_install_write(xr_conn *conn, int tls) {
  redisContext *rc = conn->rc;
  conn->funcs = *rc->funcs;
  conn->hiredis_write = rc->funcs->write;
  conn->hiredis_read = rc->funcs->read;
  conn->funcs.write = tls ? write_tls_nosigpipe : write_nosignal;
  if (!tls) conn->funcs.read = read_plain;
  rc->funcs = &conn->funcs;
  rc->privdata = conn;
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
  if (is_timeout(rc, saved)) return xr_conn_error(c, rc, saved, &lost);
  return xr_fail(XR_ETLS,
                 "TLS session with %s ended right after the handshake (%s): the server may require a client "
                 "certificate (mutual TLS) or have refused the one given",
                 c->address, reason);
}

/* Opens a connection; `probe` adds a PING answered PONG to the setup (xr_client_open's check). */
static int conn_open(xr_client *c, xr_conn **out, int probe) {
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
    if (is_timeout(rc, saved))
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
    sigpipe_guard g;
    sigpipe_block(&g);
    code = c->tls->vt->connect(c->tls, rc, c->host ? c->host : "");
    if (code != XR_OK && clk.deadline && xr_monotonic_ms() >= clk.deadline)
      code = setup_failed(c, XR_ETIMEOUT,
                          "the TLS handshake (a plain, non-TLS Redis port never answers one: use redis:// there)");
    if (code == XR_OK) code = setup_failed(c, tls_probe(c, rc), "a PING after the TLS handshake");
    sigpipe_restore(&g, code != XR_OK);
    if (code != XR_OK) goto fail;
  }
  conn_install_write(conn, c->tls != NULL);
  if (c->password) {
    const char *argv[3] = {"AUTH", c->username ? c->username : c->password, c->password};
    if ((code = setup_budget(c, rc, &clk, "AUTH")) ||
        (code = setup_failed(c, setup_command(c, rc, c->username ? 3 : 2, argv, "AUTH"), "AUTH")) != XR_OK)
      goto fail;
  }
  if (c->db) {
    char db[16];
    snprintf(db, sizeof db, "%d", c->db);
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

static void conn_close(xr_conn *conn) {
  if (!conn) return;
  xr_buf_free(&conn->wbuf);
  redisFree(conn->rc);
  xr_free(conn);
}

/* ---- the pool -------------------------------------------------------------------------------- */

static int wait_deadline(xr_client *c, const struct timespec *deadline) {
  if (c->command_timeout_ms <= 0) return pthread_cond_wait(&c->cv, &c->mu);
  return pthread_cond_timedwait(&c->cv, &c->mu, deadline);
}

int xr_pool_get(xr_client *c, xr_conn **out) {
  struct timespec deadline = {0, 0};
  if (c->command_timeout_ms > 0) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += c->command_timeout_ms / 1000;
    deadline.tv_nsec += (long)(c->command_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&c->mu);
  for (;;) {
    if (atomic_load(&c->shut)) {
      pthread_mutex_unlock(&c->mu);
      return xr_client_check_open(c, "the call");
    }
    xr_conn *conn = c->idle;
    if (conn) {
      c->idle = conn->next;
      if (conn->gen == c->gen) {
        pthread_mutex_unlock(&c->mu);
        *out = conn;
        return XR_OK;
      }
      c->total--; /* opened before a lost connection: likely dead too, replace it */
      pthread_mutex_unlock(&c->mu);
      conn_close(conn);
      pthread_mutex_lock(&c->mu);
      continue;
    }
    if (c->total < c->pool_size) {
      c->total++;
      uint64_t gen = c->gen;
      pthread_mutex_unlock(&c->mu);
      int code = conn_open(c, &conn, 0);
      if (code != XR_OK) {
        pthread_mutex_lock(&c->mu);
        c->total--;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        return code;
      }
      conn->gen = gen;
      *out = conn;
      return XR_OK;
    }
    if (wait_deadline(c, &deadline) == ETIMEDOUT) {
      pthread_mutex_unlock(&c->mu);
      return xr_fail(XR_ETIMEOUT, "timeout after %d ms waiting for a free connection (pool of %d) to %s",
                     c->command_timeout_ms, c->pool_size, c->address);
    }
  }
}

int xr_conn_open(xr_client *c, xr_conn **out) {
  int code = xr_client_check_open(c, "xr_loop_conn_open");
  return code ? code : conn_open(c, out, 0);
}

int xr_client_check_open(const xr_client *c, const char *fn) {
  if (!atomic_load(&c->shut)) return XR_OK;
  return xr_fail(XR_ECLOSED, "%s: the client of %s is shut down", fn, c->address);
}

void xr_client_shutdown(xr_client *c) {
  if (!c) return;
  pthread_mutex_lock(&c->mu);
  atomic_store(&c->shut, 1);
  pthread_cond_broadcast(&c->cv);
  pthread_cond_broadcast(&c->sleep_cv);
  pthread_mutex_unlock(&c->mu);
}

int xr_client_sleep(xr_client *c, int64_t ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  if (ms < 0) ms = 0;
  until.tv_sec += (time_t)(ms / 1000);
  until.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&c->mu);
  int rc = 0;
  while (!atomic_load(&c->shut) && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&c->sleep_cv, &c->mu, &until);
  pthread_mutex_unlock(&c->mu);
  return xr_client_check_open(c, "the wait");
}

void xr_conn_close(xr_conn *conn) { conn_close(conn); }

int xr_client_uses_tls(const xr_client *c) { return c->tls != NULL; }

int xr_client_command_timeout_ms(const xr_client *c) { return c ? c->command_timeout_ms : 0; }

void xr_pool_put(xr_client *c, xr_conn *conn, int outcome) {
  pthread_mutex_lock(&c->mu);
  if (outcome == XR_CONN_OK) {
    conn->next = c->idle;
    c->idle = conn;
    conn = NULL;
  } else {
    c->total--;
    if (outcome == XR_CONN_LOST) c->gen++;
  }
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  conn_close(conn);
}

/* ---- open and close -------------------------------------------------------------------------- */

static int dup_opt(char **dst, const char *src) {
  if (!src) return XR_OK;
  *dst = xr_strndup(src, strlen(src));
  return *dst ? XR_OK : xr_fail_nomem();
}

int xr_client_open(xr_client **out, const xr_client_options *o) {
  if (!out || !o) return xr_fail(XR_EINVAL, "xr_client_open: out and options are required");
  *out = NULL;
  if (o->version != XR_CLIENT_OPTIONS_VERSION)
    return xr_fail(XR_EINVAL, "xr_client_open: options version %u, expected %u (use XR_CLIENT_OPTIONS_INIT)",
                   o->version, XR_CLIENT_OPTIONS_VERSION);
  if (o->port < 0 || o->port > 65535) return xr_fail(XR_EINVAL, "xr_client_open: port %d out of range", o->port);
  if (o->db < 0) return xr_fail(XR_EINVAL, "xr_client_open: db %d is negative", o->db);
  if (o->unix_path && o->tls) return xr_fail(XR_EINVAL, "xr_client_open: TLS over a unix socket is not supported");
  if (o->username && !o->password) return xr_fail(XR_EINVAL, "xr_client_open: a username needs a password");

  xr_client *c = xr_calloc(1, sizeof *c);
  if (!c) return xr_fail_nomem();
  int code;
  if ((code = dup_opt(&c->unix_path, o->unix_path)) || (code = dup_opt(&c->host, o->unix_path ? NULL : (o->host ? o->host : "127.0.0.1"))) ||
      (code = dup_opt(&c->username, o->username)) || (code = dup_opt(&c->password, o->password)) ||
      (code = dup_opt(&c->client_name, o->client_name))) {
    xr_client_close(c);
    return code;
  }
  c->port = o->port ? o->port : 6379;
  c->db = o->db;
  c->connect_timeout_ms = o->connect_timeout_ms;
  c->command_timeout_ms = o->command_timeout_ms;
  c->pool_size = o->pool_size > 0 ? o->pool_size : 8;
  if (c->unix_path)
    snprintf(c->address, sizeof c->address, "%s", c->unix_path);
  else if (strchr(c->host, ':'))
    snprintf(c->address, sizeof c->address, "[%s]:%d", c->host, c->port);
  else
    snprintf(c->address, sizeof c->address, "%s:%d", c->host, c->port);
  pthread_mutex_init(&c->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cv, &ca);
  pthread_cond_init(&c->sleep_cv, &ca);
  pthread_condattr_destroy(&ca);
  if (o->tls) {
    c->tls = o->tls;
    c->tls->vt->retain(c->tls);
  }
  /* The first connection, checked with a PING, all within the connect timeout; it joins the pool. */
  xr_conn *first = NULL;
  if ((code = conn_open(c, &first, 1)) != XR_OK) {
    xr_client_close(c);
    return code;
  }
  c->total = 1;
  c->idle = first;
  *out = c;
  return XR_OK;
}

int xr_client_open_url(xr_client **out, const char *url, const xr_client_options *base) {
  if (!out || !url) return xr_fail(XR_EINVAL, "xr_client_open_url: out and url are required");
  *out = NULL;
  xr_url *u = NULL;
  int code = xr_url_parse(&u, url);
  if (code) return code;
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  if (base) o = *base;
  if (u->tls && !o.tls) {
    xr_url_free(u);
    return xr_fail(XR_EINVAL, "a rediss:// URL needs TLS: open it with xr_tls_client_open_url() (crossredis_tls) or set options.tls");
  }
  if (!u->tls) o.tls = NULL;
  xr_url_apply(u, &o);
  code = xr_client_open(out, &o);
  xr_url_free(u);
  return code;
}

void xr_client_close(xr_client *c) {
  if (!c) return;
  while (c->idle) {
    xr_conn *next = c->idle->next;
    conn_close(c->idle);
    c->idle = next;
  }
  if (c->tls) c->tls->vt->release(c->tls);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  pthread_cond_destroy(&c->sleep_cv);
  char *strs[] = {c->host, c->unix_path, c->username, c->password, c->client_name};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) xr_free(strs[i]);
  xr_free(c);
}

/* ---- commands -------------------------------------------------------------------------------- */

/* Runs one command on conn. On failure the error is recorded and *outcome says what to do with
 * the connection. An error reply is a reply, not a failure here. */
static redisReply *conn_run(xr_client *c, xr_conn *conn, int argc, const char *const *argv,
                            const size_t *lens, int *code, int *outcome) {
  /* Encoded here (hiredis's own formatting runs sprintf per argument and allocates per command)
   * into the connection's buffer, which a large command does not keep growing. */
  xr_buf *w = &conn->wbuf;
  if (w->cap > 65536) xr_buf_free(w);
  w->len = 0;
  xr_resp_command(w, argc, argv, lens);
  if (w->oom || redisAppendFormattedCommand(conn->rc, w->data, w->len) != REDIS_OK) {
    w->oom = 0;
    *code = xr_fail_nomem();
    *outcome = XR_CONN_BROKEN;
    return NULL;
  }
  void *r = NULL;
  errno = 0;
  if (redisGetReply(conn->rc, &r) == REDIS_OK && r) return r;
  int lost;
  *code = xr_conn_error(c, conn->rc, errno, &lost);
  *outcome = lost ? XR_CONN_LOST : XR_CONN_BROKEN;
  return NULL;
}

static int check_args(const xr_client *c, int argc, const char *const *argv, const char *fn) {
  if (!c) return xr_fail(XR_EINVAL, "%s: the client is NULL", fn);
  if (argc < 1 || !argv) return xr_fail(XR_EINVAL, "%s: no command given", fn);
  for (int i = 0; i < argc; i++)
    if (!argv[i]) return xr_fail(XR_EINVAL, "%s: argument %d is NULL", fn, i);
  return XR_OK;
}

/* Hands a reply to the caller, or turns an error reply into its code. */
static int deliver(redisReply *r, xr_reply **out) {
  if (r->type == REDIS_REPLY_ERROR) {
    int code = xr_reply_error(r);
    freeReplyObject(r);
    return code;
  }
  if (out) *out = (xr_reply *)r;
  else freeReplyObject(r);
  return XR_OK;
}

int xr_client_command(xr_client *c, xr_reply **out, int argc, const char *const *argv, const size_t *argvlen) {
  if (out) *out = NULL;
  int code = check_args(c, argc, argv, "xr_client_command");
  if (code) return code;
  if ((code = xr_check_pooled_command("xr_client_command", argv[0], argvlen ? argvlen[0] : strlen(argv[0]),
                                      argc > 1 ? argv[1] : NULL, argc > 1 ? (argvlen ? argvlen[1] : strlen(argv[1])) : 0,
                                      NULL)))
    return code;
  xr_conn *conn;
  if ((code = xr_pool_get(c, &conn)) != XR_OK) return code;
  int outcome = XR_CONN_OK;
  redisReply *r = conn_run(c, conn, argc, argv, argvlen, &code, &outcome);
  xr_pool_put(c, conn, outcome);
  return r ? deliver(r, out) : code;
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

int xr_is_noscript(const redisReply *r) {
  return r->type == REDIS_REPLY_ERROR && r->len >= 8 && !memcmp(r->str, "NOSCRIPT", 8);
}

int xr_client_eval(xr_client *c, xr_reply **out, const xr_script *s, int numkeys, int argc,
                   const char *const *argv, const size_t *argvlen) {
  if (out) *out = NULL;
  if (!c || !s) return xr_fail(XR_EINVAL, "xr_client_eval: client and script are required");
  if (argc < 0 || numkeys < 0 || numkeys > argc || (argc && !argv))
    return xr_fail(XR_EINVAL, "xr_client_eval: %d keys among %d arguments", numkeys, argc);
  enum { SMALL = 16 };
  const char *small_v[SMALL + 3];
  size_t small_l[SMALL + 3];
  const char **v = small_v;
  size_t *l = small_l;
  if (argc > SMALL) {
    v = xr_malloc(sizeof *v * (size_t)(argc + 3));
    l = xr_malloc(sizeof *l * (size_t)(argc + 3));
    if (!v || !l) {
      xr_free(v);
      xr_free(l);
      return xr_fail_nomem();
    }
  }
  char nk[12];
  int nklen = 0;
  for (int k = numkeys; nklen == 0 || k; k /= 10) nklen++;
  for (int i = nklen - 1, k = numkeys; i >= 0; i--, k /= 10) nk[i] = (char)('0' + k % 10);
  v[2] = nk;
  l[2] = (size_t)nklen;
  for (int i = 0; i < argc; i++) {
    if (!argv[i]) {
      if (v != small_v) xr_free(v), xr_free(l);
      return xr_fail(XR_EINVAL, "xr_client_eval: argument %d is NULL", i);
    }
    v[i + 3] = argv[i];
    l[i + 3] = argvlen ? argvlen[i] : strlen(argv[i]);
  }
  xr_conn *conn;
  int code = xr_pool_get(c, &conn);
  redisReply *r = NULL;
  int outcome = XR_CONN_OK;
  if (code == XR_OK) {
    int by_sha = atomic_load_explicit(&s->loaded, memory_order_relaxed);
    for (int attempt = 0; attempt < 2 && code == XR_OK; attempt++) {
      v[0] = by_sha ? "EVALSHA" : "EVAL";
      l[0] = by_sha ? 7 : 4;
      v[1] = by_sha ? s->sha1 : s->body;
      l[1] = by_sha ? 40 : s->len;
      r = conn_run(c, conn, argc + 3, v, l, &code, &outcome);
      if (!r || !by_sha || !xr_is_noscript(r)) break;
      freeReplyObject(r); /* the server does not know it (restart, SCRIPT FLUSH): send the body */
      r = NULL;
      by_sha = 0;
    }
    if (r && !by_sha && r->type != REDIS_REPLY_ERROR) atomic_store_explicit((atomic_int *)&s->loaded, 1, memory_order_relaxed);
    xr_pool_put(c, conn, outcome);
  }
  if (v != small_v) {
    xr_free(v);
    xr_free(l);
  }
  return r ? deliver(r, out) : code;
}
