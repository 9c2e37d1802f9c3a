/* Small helpers shared by the integration tests: asserting crossredis return codes with the
 * library's message in the failure (and the harness's, ERR_CHECK), sending string commands, and
 * watching what a client sends with MONITOR to compare it with the upstream captures in
 * tests/vectors. Include after <cmocka.h>. */
#ifndef XR_ITEST_H
#define XR_ITEST_H

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crossredis/client.h"
#include "crossredis/loop.h"
#include "crossredis/error.h"
#include "monitor.h"
#include "redis_server.h"

#ifndef XR_TEST_VECTORS
#error "XR_TEST_VECTORS must name tests/vectors (tests/CMakeLists.txt defines it)"
#endif

/* The call must return 0; otherwise the test fails showing the code and the message. */
#define XR_OK(call)                                                                            \
  do {                                                                                         \
    int rc_ = (call);                                                                          \
    if (rc_ != 0)                                                                              \
      fail_msg("%s -> %s (%d): %s", #call, xr_error_name(rc_), rc_, xr_error_last()->message); \
  } while (0)

static inline int itest_contains(const char *text, const char *part) {
  return part == NULL || (text != NULL && strstr(text, part) != NULL);
}

/* The call must fail with `code` and a message containing `part` (NULL: any message). */
#define XR_FAILS(call, code, part)                                                             \
  do {                                                                                         \
    int rc_ = (call);                                                                          \
    const char *m_ = xr_error_last()->message;                                                 \
    if (rc_ != (code))                                                                         \
      fail_msg("%s -> %s (%d), expected %s: %s", #call, xr_error_name(rc_), rc_,               \
               xr_error_name(code), rc_ ? m_ : "");                                            \
    if (!itest_contains(m_, (part)))                                                           \
      fail_msg("%s: message \"%s\" lacks \"%s\"", #call, m_, (const char *)(part));            \
  } while (0)

/* A harness call (tests/harness: 0, or -1 with a message in err) must return 0; write the call
 * with `err_` as its err argument. */
#define ERR_CHECK(call)                            \
  do {                                             \
    char err_[XRT_ERR_SIZE] = "";                  \
    int rc_ = (call);                              \
    if (rc_ != 0) fail_msg("%s: %s", #call, err_); \
  } while (0)

/* Starts a server in a group setup; prints why when it cannot. */
static inline int itest_start(xrt_server **s, const xrt_server_options *o) {
  char err[XRT_ERR_SIZE];
  if (xrt_server_start(s, o, err) == 0) return 0;
  fprintf(stderr, "cannot start redis-server: %s\n", err);
  return -1;
}

/* Sends a command made of NUL-terminated strings (the list ends with NULL). */
static inline int itest_cmd(xr_client *c, xr_reply **out, ...) {
  const char *argv[64];
  int argc = 0;
  va_list ap;
  va_start(ap, out);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && argc < 64) argv[argc++] = a;
  va_end(ap);
  return xr_client_command(c, out, argc, argv, NULL);
}

/* Options for a plain TCP client of `s`. */
static inline xr_client_options itest_options(const xrt_server *s) {
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = xrt_server_port(s);
  return o;
}

/* The common group fixture: a plain server and a client that looks at what the code under test
 * left in Redis. */
static inline int itest_open_with_checker(xrt_server **server, xr_client **chk) {
  if (itest_start(server, NULL) != 0) return -1;
  xr_client_options o = itest_options(*server);
  return xr_client_open(chk, &o) == 0 ? 0 : -1;
}

static inline void itest_close_with_checker(xrt_server *server, xr_client *chk) {
  xr_client_close(chk);
  xrt_server_free(server);
}

/* GET key must answer `expect` (NULL: nil). */
static inline void itest_assert_get(xr_client *c, const char *key, const char *expect) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, "GET", key, NULL));
  if (expect == NULL) {
    assert_int_equal(xr_reply_kind(r), XR_REPLY_NIL);
  } else {
    assert_int_equal(xr_reply_kind(r), XR_REPLY_STRING);
    assert_string_equal(xr_reply_str(r, NULL), expect);
  }
  xr_reply_free(r);
}

static inline long long itest_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The wall clock in Unix milliseconds, as Date.now() and the lock tokens see it. */
static inline long long itest_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `cmd key` (EXISTS, LLEN, SCARD, PTTL...), whose reply must be an integer. */
static inline long long itest_key_int(xr_client *c, const char *cmd, const char *key) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, cmd, key, NULL));
  assert_int_equal(xr_reply_kind(r), XR_REPLY_INTEGER);
  long long v = xr_reply_integer(r);
  xr_reply_free(r);
  return v;
}

/* PTTL key: -2 missing, -1 no TTL, else milliseconds left. */
static inline long long itest_pttl(xr_client *c, const char *key) { return itest_key_int(c, "PTTL", key); }

/* ---- MONITOR ---------------------------------------------------------------------------------
 * A raw socket in MONITOR mode collects the lines the server writes for every command it runs,
 * scripts' redis.call()s included ("[0 lua]"). itest_monitor_collect ends a block of operations
 * with a marker command sent by the client under test (ECHO): the server runs commands one at a
 * time, so every line of the block comes before the marker's. Lines are normalized by the one
 * normaliser of every test suite (tests/harness/monitor.h: the Python and Node tests run it as
 * xr-monitor-normalize), the same way for ours and for the captures. */

enum { ITEST_MASK_TOKENS = XRT_MASK_TOKENS, ITEST_MASK_MS = XRT_MASK_MS };

typedef struct itest_lines {
  char **v;
  size_t n, cap;
} itest_lines;

static inline void itest_lines_add(itest_lines *l, char *line) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    assert_non_null(l->v);
  }
  l->v[l->n++] = line;
}

static inline void itest_lines_free(itest_lines *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static inline char *itest_strndup(const char *s, size_t n) {
  char *d = malloc(n + 1);
  assert_non_null(d);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* Normalizes raw lines into `out`, counting a NOSCRIPT EVALSHA and its EVAL once. */
static inline void itest_normalize_lines(const itest_lines *raw, unsigned flags, itest_lines *out) {
  char **got;
  size_t n, bad;
  if (xrt_monitor_normalize_lines(raw->v, raw->n, flags, &got, &n, &bad) != 0)
    fail_msg("MONITOR line %zu: %s", bad, bad < raw->n ? raw->v[bad] : "out of memory");
  for (size_t i = 0; i < n; i++) itest_lines_add(out, got[i]);
  free(got);
}

/* Lines first..last (1-based, as `cat -n` numbers them) of tests/vectors/<name>, normalized. */
static inline void itest_capture(const char *name, size_t first, size_t last, unsigned flags, itest_lines *out) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", XR_TEST_VECTORS, name);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s: %s", path, strerror(errno));
  itest_lines raw = {0};
  char *line = NULL;
  size_t cap = 0, no = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) >= 0) {
    no++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    if (no >= first && no <= last) itest_lines_add(&raw, itest_strndup(line, (size_t)len));
  }
  free(line);
  fclose(f);
  if (no < last) fail_msg("%s has %zu lines, not %zu", path, no, last);
  itest_normalize_lines(&raw, flags, out);
  itest_lines_free(&raw);
}

/* Whether both lists are equal, line for line; when not, prints both. */
static inline int itest_lines_same(const itest_lines *got, const itest_lines *want, const char *what) {
  int same = got->n == want->n;
  for (size_t i = 0; same && i < got->n; i++) same = strcmp(got->v[i], want->v[i]) == 0;
  if (same) return 1;
  print_error("%s: the commands sent differ\n", what);
  size_t n = got->n > want->n ? got->n : want->n;
  for (size_t i = 0; i < n; i++) {
    const char *g = i < got->n ? got->v[i] : "(none)", *w = i < want->n ? want->v[i] : "(none)";
    int eq = i < got->n && i < want->n && strcmp(g, w) == 0;
    print_error("%s %2zu want: %.400s\n", eq ? " " : "!", i, w);
    if (!eq) print_error("! %2zu  got: %.400s\n", i, g);
  }
  return 0;
}

/* Both lists must be equal, line for line; on failure prints both. */
static inline void itest_assert_lines(const itest_lines *got, const itest_lines *want, const char *what) {
  if (!itest_lines_same(got, want, what)) fail();
}

typedef struct itest_monitor {
  int fd;
  char *buf;
  size_t len, cap;
  unsigned marks;
} itest_monitor;

/* Reads one line (without CRLF) into a new string; fails the test after 10 s of silence. */
static inline char *itest_monitor_read_line(itest_monitor *m) {
  for (;;) {
    for (size_t i = 0; i + 1 < m->len; i++) {
      if (m->buf[i] == '\r' && m->buf[i + 1] == '\n') {
        char *line = itest_strndup(m->buf, i);
        memmove(m->buf, m->buf + i + 2, m->len - i - 2);
        m->len -= i + 2;
        return line;
      }
    }
    if (m->cap - m->len < 65536) {
      m->cap = m->cap ? m->cap * 2 : 1 << 20;
      m->buf = realloc(m->buf, m->cap);
      assert_non_null(m->buf);
    }
    struct pollfd pfd = {m->fd, POLLIN, 0};
    int pr = poll(&pfd, 1, 10000);
    if (pr == 0) fail_msg("MONITOR: nothing for 10 s");
    if (pr < 0) {
      if (errno == EINTR) continue;
      fail_msg("MONITOR: poll: %s", strerror(errno));
    }
    ssize_t got = recv(m->fd, m->buf + m->len, m->cap - m->len, 0);
    if (got == 0) fail_msg("MONITOR: the server closed the connection");
    if (got < 0) {
      if (errno == EINTR) continue;
      fail_msg("MONITOR: recv: %s", strerror(errno));
    }
    m->len += (size_t)got;
  }
}

/* Connects a raw socket to 127.0.0.1:port and sends `cmd` (inline, with its CRLF), for a
 * connection that then only listens (MONITOR, SUBSCRIBE); lines come from itest_monitor_read_line. */
static inline void itest_raw_open(itest_monitor *m, int port, const char *cmd) {
  memset(m, 0, sizeof *m);
  m->fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(m->fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(m->fd, (struct sockaddr *)&a, sizeof a) != 0) fail_msg("connect to %d: %s", port, strerror(errno));
  assert_int_equal(send(m->fd, cmd, strlen(cmd), MSG_NOSIGNAL), (ssize_t)strlen(cmd));
}

/* Connects to the server at `port` on 127.0.0.1 and enters MONITOR mode. */
static inline void itest_monitor_open_port(itest_monitor *m, int port) {
  itest_raw_open(m, port, "MONITOR\r\n");
  char *ok = itest_monitor_read_line(m);
  if (strcmp(ok, "+OK") != 0) fail_msg("MONITOR answered %s", ok);
  free(ok);
}

/* Connects to `s` and enters MONITOR mode. */
static inline void itest_monitor_open(itest_monitor *m, const xrt_server *s) { itest_monitor_open_port(m, xrt_server_port(s)); }

static inline void itest_monitor_close(itest_monitor *m) {
  if (m->fd >= 0) close(m->fd);
  free(m->buf);
  memset(m, 0, sizeof *m);
  m->fd = -1;
}

/* Ends a block: sends a marker through `c` and appends the raw lines seen since the last call
 * (the marker's excluded) to `raw`. */
static inline void itest_monitor_take(itest_monitor *m, xr_client *c, itest_lines *raw) {
  char mark[64], quoted[80];
  snprintf(mark, sizeof mark, "itest-monitor-mark-%u", ++m->marks);
  snprintf(quoted, sizeof quoted, "\"ECHO\" \"%s\"", mark);
  XR_OK(itest_cmd(c, NULL, "ECHO", mark, NULL));
  for (;;) {
    char *line = itest_monitor_read_line(m);
    if (strstr(line, quoted)) {
      free(line);
      return;
    }
    if (line[0] != '+') fail_msg("MONITOR sent a line that is not a status: %s", line);
    itest_lines_add(raw, itest_strndup(line + 1, strlen(line + 1)));
    free(line);
  }
}

/* itest_monitor_take, normalized into `out`. */
static inline void itest_monitor_collect(itest_monitor *m, xr_client *c, unsigned flags, itest_lines *out) {
  itest_lines raw = {0};
  itest_monitor_take(m, c, &raw);
  itest_normalize_lines(&raw, flags, out);
  itest_lines_free(&raw);
}

/* Adds n SETs of size-byte values (key "<prefix><i>") to b: a pipeline larger than a socket
 * takes at once. */
static inline void itest_add_big_sets(xr_batch *b, const char *prefix, int n, size_t size) {
  char *value = malloc(size);
  assert_non_null(value);
  char key[64];
  for (int i = 0; i < n; i++) {
    memset(value, 'a' + i % 26, size);
    snprintf(key, sizeof key, "%s%d", prefix, i);
    const char *argv[] = {"SET", key, value};
    size_t lens[] = {3, strlen(key), size};
    assert_int_equal(xr_batch_add(b, 3, argv, lens), i);
  }
  free(value);
}

/* A loop connection with a small send buffer: a big pipeline cannot go at once, whatever the
 * machine's speed. */
static inline void itest_small_send_buffer(xr_loop_conn *lc) {
  int small = 4096;
  assert_int_equal(setsockopt(xr_loop_conn_fd(lc), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
}

/* The event loop of the tests: poll(2) for what the loop connection asks, continue, until the
 * batch finished; counts the waits of each kind (either pointer may be NULL). */
static inline int itest_drive_loop(xr_loop_conn *lc, int wait, int *reads, int *writes) {
  int rc = 0;
  while (wait) {
    struct pollfd p = {xr_loop_conn_fd(lc), (short)(wait == XR_WAIT_READ ? POLLIN : POLLOUT), 0};
    int *count = wait == XR_WAIT_READ ? reads : writes;
    if (count) (*count)++;
    if (poll(&p, 1, 10000) != 1) fail_msg("the socket never became ready (%s)", wait == XR_WAIT_READ ? "read" : "write");
    rc = xr_loop_conn_continue(lc, &wait);
  }
  return rc;
}

/* The event loop of the tests for a pollable (loop.h), as an adapter drives one: poll(2) for its
 * events until its deadline, process what is ready (0 when the deadline came), until process
 * says it is no longer running. Counts the steps that waited for writability (may be NULL).
 * Without a deadline a socket that stays quiet for 10 s fails the test. Returns what process
 * returned last: XR_POLL_DONE, XR_POLL_IDLE or a negative code. */
static inline int itest_drive_pollable(xr_pollable *p, int *write_steps) {
  for (;;) {
    int events = xr_pollable_events(p);
    int64_t deadline = xr_pollable_deadline(p);
    int timeout = 10000;
    if (deadline >= 0) {
      int64_t left = deadline - xr_monotonic_ms();
      timeout = left < 0 ? 0 : left > 10000 ? 10000 : (int)left;
    }
    if ((events & XR_WAIT_WRITE) && write_steps) (*write_steps)++;
    struct pollfd pfd = {xr_pollable_fd(p), (short)((events & XR_WAIT_READ ? POLLIN : 0) | (events & XR_WAIT_WRITE ? POLLOUT : 0)), 0};
    int n = poll(&pfd, 1, timeout);
    assert_true(n >= 0);
    if (n == 0 && deadline < 0) fail_msg("the socket never became ready (events %d)", events);
    int ready = 0;
    if (n == 1 && (pfd.revents & (POLLERR | POLLHUP))) ready = events; /* the I/O will say what went wrong */
    if (n == 1 && (pfd.revents & POLLIN)) ready |= XR_WAIT_READ;
    if (n == 1 && (pfd.revents & POLLOUT)) ready |= XR_WAIT_WRITE;
    int rc = xr_pollable_process(p, ready, xr_monotonic_ms());
    if (rc != XR_POLL_RUNNING) return rc;
  }
}

#endif
