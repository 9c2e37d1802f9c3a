/* The scripted fake RESP server (see fake_server.h): one thread polls the listener, a wake pipe
 * and every connection; the mutex guards everything but the poll itself, so the API functions
 * may change rules, queue output or read the log while it serves. */
#include "fake_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define fail xrt_fail

/* Past these a client is broken, not a test case: answered with a protocol error, like Redis. */
#define MAX_ARGS (1024 * 1024)
#define MAX_BULK (512LL * 1024 * 1024)
#define MAX_INLINE (64 * 1024)
#define MAX_RESP_DEPTH 64
#define READ_CHUNK 16384

typedef struct rule {
  char *pattern;
  char *reply; /* NULL for CLOSE and SILENT */
  size_t reply_len;
  int times_left; /* -1: forever */
  xrt_fake_action action;
  int delay_ms;
  size_t truncate_at;
} rule;

/* Bytes to write to a connection, not before send_at; close_after closes it once they are out. */
typedef struct chunk {
  struct chunk *next;
  long long send_at;
  size_t len, off;
  int close_after;
  char data[];
} chunk;

typedef struct conn {
  int fd, id;
  char *in;
  size_t in_len, in_cap;
  chunk *out_head, *out_tail;
  int want_write; /* the socket's buffer was full: wait for POLLOUT */
  int mute;       /* a SILENT rule matched: record, never answer */
  int closing;    /* a CLOSE, TRUNCATE or QUIT is queued: read nothing more */
  int dead;       /* to be closed and removed by the loop */
} conn;

struct xrt_fake {
  int listen_fd, port;
  int wake[2]; /* the API writes a byte to cut the poll short */
  pthread_t thread;
  int thread_started;
  pthread_mutex_t mu;
  pthread_cond_t changed; /* a command was recorded, or connections were closed on request */

  /* all below under mu */
  int stopping;
  rule *rules;
  size_t rule_count, rule_cap;
  char *default_reply; /* NULL: the built-in unknown-command error */
  size_t default_len;
  xrt_fake_command *log;
  size_t log_count, log_cap;
  conn **conns;
  size_t conn_count, conn_cap;
  int next_id, accepted;
  unsigned close_requests, close_done;
};

/* ---- small helpers --------------------------------------------------------------------------- */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_bytes(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* Grows *arr (elements of `size` bytes) to hold one more; -1 when memory runs out. */
static int reserve(void **arr, size_t *cap, size_t count, size_t size) {
  if (count < *cap) return 0;
  size_t n = *cap ? *cap * 2 : 8;
  void *p = realloc(*arr, n * size);
  if (!p) return -1;
  *arr = p;
  *cap = n;
  return 0;
}

static void wake_thread(xrt_fake *f) {
  ssize_t w = write(f->wake[1], "x", 1);
  (void)w; /* a full pipe already wakes it */
}

static void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* ---- matching -------------------------------------------------------------------------------- */

/* A glob (`*` any run, `?` one byte) against s[0..n), ignoring ASCII case; binary-safe in s. */
static int glob_match(const char *g, size_t glen, const char *s, size_t n) {
  size_t gi = 0, si = 0, star_g = (size_t)-1, star_s = 0;
  while (si < n) {
    if (gi < glen && g[gi] == '*') {
      star_g = gi++;
      star_s = si;
    } else if (gi < glen && (g[gi] == '?' || tolower((unsigned char)g[gi]) ==
                                                   tolower((unsigned char)s[si]))) {
      gi++;
      si++;
    } else if (star_g != (size_t)-1) {
      gi = star_g + 1;
      si = ++star_s;
    } else {
      return 0;
    }
  }
  while (gi < glen && g[gi] == '*') gi++;
  return gi == glen;
}

/* NULL matches every command (for counting). */
static int pattern_matches(const char *pattern, const xrt_fake_command *cmd) {
  const char *p = pattern ? pattern : "";
  int i = 0;
  for (;;) {
    while (*p == ' ') p++;
    if (!*p) return 1;
    const char *end = strchr(p, ' ');
    size_t wlen = end ? (size_t)(end - p) : strlen(p);
    if (i >= cmd->argc || !glob_match(p, wlen, cmd->argv[i], cmd->argv_len[i])) return 0;
    p += wlen;
    i++;
  }
}

static int pattern_valid(const char *pattern) {
  if (!pattern) return 0;
  for (const char *p = pattern; *p; p++)
    if (*p != ' ') return 1;
  return 0;
}

/* ---- RESP framing ---------------------------------------------------------------------------- */

/* The length of the line at p (up to, not counting, "\r\n"); -1 when there is no "\r\n" yet. */
static long line_len(const char *p, size_t len) {
  for (size_t i = 0; i + 1 < len; i++)
    if (p[i] == '\r' && p[i + 1] == '\n') return (long)i;
  return -1;
}

/* An integer filling the whole of p[0..n); -1 when it is not one. */
static int parse_ll(const char *p, size_t n, long long *out) {
  if (n == 0 || n > 20) return -1;
  char tmp[24];
  memcpy(tmp, p, n);
  tmp[n] = '\0';
  char *end;
  errno = 0;
  long long v = strtoll(tmp, &end, 10);
  if (errno || *end || !(isdigit((unsigned char)tmp[0]) || tmp[0] == '-')) return -1;
  *out = v;
  return 0;
}

/* The length of the one RESP2/RESP3 value at p[0..len): -1 when it is malformed or incomplete
 * (replies are checked whole, so the two are one failure). */
static long resp_value_len(const char *p, size_t len, int depth) {
  if (len < 3 || depth > MAX_RESP_DEPTH) return -1;
  long l = line_len(p, len);
  if (l < 1) return -1;
  const char *body = p + 1;
  size_t blen = (size_t)l - 1, head = (size_t)l + 2;
  if (memchr(body, '\n', blen) || memchr(body, '\r', blen)) return -1;
  long long n;
  switch (p[0]) {
  case '+': case '-':
    return (long)head;
  case ':':
    return parse_ll(body, blen, &n) == 0 ? (long)head : -1;
  case '(': case ',': /* a big number, a double: any text will do for a fake */
    return blen > 0 ? (long)head : -1;
  case '_':
    return blen == 0 ? (long)head : -1;
  case '#':
    return blen == 1 && (body[0] == 't' || body[0] == 'f') ? (long)head : -1;
  case '$': case '!': case '=':
    if (parse_ll(body, blen, &n) != 0 || n < -1 || (n == -1 && p[0] != '$')) return -1;
    if (n == -1) return (long)head;
    if ((unsigned long long)n + head + 2 > len || p[head + n] != '\r' || p[head + n + 1] != '\n')
      return -1;
    return (long)(head + n + 2);
  case '*': case '~': case '>': case '%': case '|': {
    if (parse_ll(body, blen, &n) != 0 || n < -1 || (n == -1 && p[0] != '*')) return -1;
    long long items = (p[0] == '%' || p[0] == '|') ? 2 * n : n;
    if (p[0] == '|') items++; /* an attribute comes before the value it describes */
    size_t off = head;
    for (long long i = 0; i < items; i++) {
      long v = resp_value_len(p + off, len - off, depth + 1);
      if (v < 0) return -1;
      off += (size_t)v;
    }
    return (long)off;
  }
  default:
    return -1;
  }
}

static int resp_well_formed(const char *p, size_t len) {
  if (len == 0) return 0;
  for (size_t off = 0; off < len;) {
    long v = resp_value_len(p + off, len - off, 0);
    if (v < 0) return 0;
    off += (size_t)v;
  }
  return 1;
}

/* ---- reading commands ------------------------------------------------------------------------ */

static void command_free(xrt_fake_command *cmd) {
  for (int i = 0; i < cmd->argc; i++) free(cmd->argv[i]);
  free(cmd->argv);
  free(cmd->argv_len);
  memset(cmd, 0, sizeof *cmd);
}

static int command_alloc(xrt_fake_command *cmd, int argc) {
  cmd->argc = 0;
  cmd->argv = calloc((size_t)argc, sizeof *cmd->argv);
  cmd->argv_len = calloc((size_t)argc, sizeof *cmd->argv_len);
  return cmd->argv && cmd->argv_len ? 0 : -1;
}

static int command_push(xrt_fake_command *cmd, const char *s, size_t n) {
  char *a = dup_bytes(s, n);
  if (!a) return -1;
  cmd->argv[cmd->argc] = a;
  cmd->argv_len[cmd->argc++] = n;
  return 0;
}

/* The parsers below return 1 with *cmd filled and *used set to the bytes it took (argc 0: an
 * empty command, skipped), 0 when more bytes are needed, -1 on a protocol error (*why says which,
 * in Redis's words); the caller frees *cmd unless they return 1. */

static int parse_multibulk(const char *p, size_t len, xrt_fake_command *cmd, size_t *used,
                           const char **why) {
  long l = line_len(p, len);
  if (l < 0) {
    if (len <= MAX_INLINE) return 0;
    *why = "too big mbulk count string";
    return -1;
  }
  long long argc;
  if (parse_ll(p + 1, (size_t)l - 1, &argc) != 0 || argc > MAX_ARGS) {
    *why = "invalid multibulk length";
    return -1;
  }
  size_t off = (size_t)l + 2;
  if (argc > 0 && command_alloc(cmd, (int)argc) != 0) {
    *why = "out of memory";
    return -1;
  }
  for (long long i = 0; i < argc; i++) {
    long bl = line_len(p + off, len - off);
    if (bl < 0) return 0;
    long long n;
    if (p[off] != '$') {
      *why = "expected '$'";
      return -1;
    }
    if (parse_ll(p + off + 1, (size_t)bl - 1, &n) != 0 || n < 0 || n > MAX_BULK) {
      *why = "invalid bulk length";
      return -1;
    }
    size_t start = off + (size_t)bl + 2;
    if (start + (size_t)n + 2 > len) return 0;
    if (p[start + n] != '\r' || p[start + n + 1] != '\n') {
      *why = "bulk string not followed by CRLF";
      return -1;
    }
    if (command_push(cmd, p + start, (size_t)n) != 0) {
      *why = "out of memory";
      return -1;
    }
    off = start + (size_t)n + 2;
  }
  *used = off;
  return 1;
}

static int is_blank(char ch) { return ch == ' ' || ch == '\t'; }

/* A line of words separated by spaces or tabs, ended by LF or CRLF (no quoting). */
static int parse_inline(const char *p, size_t len, xrt_fake_command *cmd, size_t *used,
                        const char **why) {
  const char *nl = memchr(p, '\n', len);
  if (!nl) {
    if (len <= MAX_INLINE) return 0;
    *why = "too big inline request";
    return -1;
  }
  size_t end = (size_t)(nl - p);
  *used = end + 1;
  if (end > 0 && p[end - 1] == '\r') end--;
  int words = 0;
  for (size_t i = 0; i < end; i++)
    if (!is_blank(p[i]) && (i == 0 || is_blank(p[i - 1]))) words++;
  if (words > 0 && command_alloc(cmd, words) != 0) {
    *why = "out of memory";
    return -1;
  }
  for (size_t i = 0; i < end;) {
    while (i < end && is_blank(p[i])) i++;
    size_t start = i;
    while (i < end && !is_blank(p[i])) i++;
    if (i > start && command_push(cmd, p + start, i - start) != 0) {
      *why = "out of memory";
      return -1;
    }
  }
  return 1;
}

/* Takes one command off the front of c->in (see the parsers for what it returns). */
static int parse_command(conn *c, xrt_fake_command *cmd, const char **why) {
  memset(cmd, 0, sizeof *cmd);
  if (c->in_len == 0) return 0;
  size_t used = 0;
  int rc = c->in[0] == '*' ? parse_multibulk(c->in, c->in_len, cmd, &used, why)
                           : parse_inline(c->in, c->in_len, cmd, &used, why);
  if (rc != 1) {
    command_free(cmd);
    return rc;
  }
  memmove(c->in, c->in + used, c->in_len - used);
  c->in_len -= used;
  return 1;
}

/* ---- writing replies ------------------------------------------------------------------------- */

/* Queues bytes behind what is already queued: only the head of the queue is ever written, so a
 * reply never overtakes an earlier, delayed one. */
static int enqueue(conn *c, const char *data, size_t len, int delay_ms, int close_after) {
  chunk *k = malloc(sizeof *k + len);
  if (!k) return -1;
  k->next = NULL;
  k->send_at = now_ms() + (delay_ms > 0 ? delay_ms : 0);
  k->len = len;
  k->off = 0;
  k->close_after = close_after;
  if (len) memcpy(k->data, data, len);
  if (c->out_tail)
    c->out_tail->next = k;
  else
    c->out_head = k;
  c->out_tail = k;
  return 0;
}

static int enqueue_text(conn *c, const char *text) {
  return enqueue(c, text, strlen(text), 0, 0);
}

/* Writes what is due; a chunk with close_after marks the connection dead once written. */
static void flush_due(conn *c, long long now) {
  while (c->out_head && c->out_head->send_at <= now && !c->dead) {
    chunk *k = c->out_head;
    while (k->off < k->len) {
      ssize_t w = send(c->fd, k->data + k->off, k->len - k->off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->want_write = 1;
        return;
      }
      if (w <= 0) {
        c->dead = 1; /* the client went away */
        return;
      }
      k->off += (size_t)w;
    }
    c->want_write = 0;
    if (k->close_after) c->dead = 1;
    c->out_head = k->next;
    if (!c->out_head) c->out_tail = NULL;
    free(k);
  }
}

/* ---- answering ------------------------------------------------------------------------------- */

static int arg_is(const xrt_fake_command *cmd, int i, const char *word) {
  return i < cmd->argc && cmd->argv_len[i] == strlen(word) && strcasecmp(cmd->argv[i], word) == 0;
}

static int enqueue_bulk(conn *c, const char *s, size_t n) {
  char head[32];
  int h = snprintf(head, sizeof head, "$%zu\r\n", n);
  char *buf = malloc((size_t)h + n + 2);
  if (!buf) return -1;
  memcpy(buf, head, (size_t)h);
  memcpy(buf + h, s, n);
  memcpy(buf + h + n, "\r\n", 2);
  int rc = enqueue(c, buf, (size_t)h + n + 2, 0, 0);
  free(buf);
  return rc;
}

/* What a real server answers to the commands clients send while setting a connection up; 0 when
 * the command is not one of them. */
static int answer_builtin(conn *c, const xrt_fake_command *cmd) {
  if (arg_is(cmd, 0, "PING") && cmd->argc > 1) {
    enqueue_bulk(c, cmd->argv[1], cmd->argv_len[1]);
  } else if (arg_is(cmd, 0, "PING")) {
    enqueue_text(c, "+PONG\r\n");
  } else if (arg_is(cmd, 0, "ECHO") && cmd->argc == 2) {
    enqueue_bulk(c, cmd->argv[1], cmd->argv_len[1]);
  } else if (arg_is(cmd, 0, "HELLO") && cmd->argc > 1 && !arg_is(cmd, 1, "2")) {
    enqueue_text(c, "-NOPROTO unsupported protocol version\r\n");
  } else if (arg_is(cmd, 0, "HELLO")) {
    enqueue_text(c, "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"
                    "$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n"
                    "$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n");
  } else if (arg_is(cmd, 0, "QUIT")) {
    c->closing = 1;
    enqueue(c, "+OK\r\n", 5, 0, 1);
  } else if (arg_is(cmd, 0, "AUTH") || arg_is(cmd, 0, "SELECT") || arg_is(cmd, 0, "READONLY") ||
             arg_is(cmd, 0, "READWRITE") || arg_is(cmd, 0, "ASKING") ||
             (arg_is(cmd, 0, "CLIENT") &&
              (arg_is(cmd, 1, "SETNAME") || arg_is(cmd, 1, "SETINFO")))) {
    enqueue_text(c, "+OK\r\n");
  } else {
    return 0;
  }
  return 1;
}

static void answer_unknown(xrt_fake *f, conn *c, const xrt_fake_command *cmd) {
  if (f->default_reply) {
    enqueue(c, f->default_reply, f->default_len, 0, 0);
    return;
  }
  char msg[200];
  snprintf(msg, sizeof msg, "-ERR unknown command '%.100s' (no rule in the fake server)\r\n",
           cmd->argc > 0 ? cmd->argv[0] : "");
  for (char *p = msg + 1; p[2]; p++) /* a name holding CR or LF must not end the line early */
    if (*p == '\r' || *p == '\n') *p = ' ';
  enqueue_text(c, msg);
}

static void answer(xrt_fake *f, conn *c, const xrt_fake_command *cmd) {
  for (size_t i = 0; i < f->rule_count; i++) {
    rule *r = &f->rules[i];
    if (r->times_left == 0 || !pattern_matches(r->pattern, cmd)) continue;
    if (r->times_left > 0) r->times_left--;
    switch (r->action) {
    case XRT_FAKE_REPLY:
      enqueue(c, r->reply, r->reply_len, r->delay_ms, 0);
      break;
    case XRT_FAKE_CLOSE:
      c->closing = 1;
      enqueue(c, NULL, 0, r->delay_ms, 1);
      break;
    case XRT_FAKE_SILENT:
      c->mute = 1;
      break;
    case XRT_FAKE_TRUNCATE:
      c->closing = 1;
      enqueue(c, r->reply, r->truncate_at ? r->truncate_at : r->reply_len / 2, r->delay_ms, 1);
      break;
    }
    return;
  }
  if (!answer_builtin(c, cmd)) answer_unknown(f, c, cmd);
}

/* Reads and answers every complete command in c->in (under mu). */
static void process_input(xrt_fake *f, conn *c) {
  /* Commands that arrived just before the client hung up are still recorded: the log says what
   * was sent. */
  while (!c->closing) {
    xrt_fake_command cmd;
    const char *why = NULL;
    int rc = parse_command(c, &cmd, &why);
    if (rc == 0) return;
    if (rc < 0) {
      char msg[128];
      snprintf(msg, sizeof msg, "-ERR Protocol error: %s\r\n", why);
      c->closing = 1;
      enqueue(c, msg, strlen(msg), 0, 1);
      return;
    }
    if (cmd.argc == 0) {
      command_free(&cmd);
      continue;
    }
    cmd.conn = c->id;
    if (reserve((void **)&f->log, &f->log_cap, f->log_count, sizeof *f->log) != 0) {
      command_free(&cmd);
      c->dead = 1;
      return;
    }
    f->log[f->log_count++] = cmd;
    pthread_cond_broadcast(&f->changed);
    if (!c->mute) answer(f, c, &f->log[f->log_count - 1]);
  }
}

/* ---- connections ----------------------------------------------------------------------------- */

static void conn_close(conn *c) {
  /* Read what the client already sent: closing with unread bytes would send a reset, which can
   * throw away the partial reply a TRUNCATE just wrote before the client reads it. */
  char sink[4096];
  while (recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
  }
  close(c->fd);
  while (c->out_head) {
    chunk *k = c->out_head;
    c->out_head = k->next;
    free(k);
  }
  free(c->in);
  free(c);
}

static void remove_dead(xrt_fake *f) {
  size_t j = 0;
  for (size_t i = 0; i < f->conn_count; i++) {
    if (f->conns[i]->dead)
      conn_close(f->conns[i]);
    else
      f->conns[j++] = f->conns[i];
  }
  f->conn_count = j;
}

static void accept_all(xrt_fake *f) {
  for (;;) {
    int fd = accept(f->listen_fd, NULL, NULL);
    if (fd < 0) return; /* EAGAIN, or a client that gave up: nothing to serve */
    set_nonblocking(fd);
    conn *c = calloc(1, sizeof *c);
    if (!c || reserve((void **)&f->conns, &f->conn_cap, f->conn_count, sizeof *f->conns) != 0) {
      free(c);
      close(fd);
      continue;
    }
    c->fd = fd;
    c->id = ++f->next_id;
    f->accepted++;
    f->conns[f->conn_count++] = c;
  }
}

/* Appends what the socket has to c->in; marks the connection dead at EOF or on an error. */
static void read_input(conn *c) {
  for (;;) {
    if (c->in_cap - c->in_len < READ_CHUNK) {
      size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
      char *p = realloc(c->in, cap);
      if (!p) {
        c->dead = 1;
        return;
      }
      c->in = p;
      c->in_cap = cap;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n > 0) {
      c->in_len += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    c->dead = 1;
    return;
  }
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void *serve(void *arg) {
  xrt_fake *f = arg;
  struct pollfd *pfds = NULL;
  size_t pfd_cap = 0;
  pthread_mutex_lock(&f->mu);
  while (!f->stopping) {
    if (f->close_done != f->close_requests) {
      for (size_t i = 0; i < f->conn_count; i++) f->conns[i]->dead = 1;
      remove_dead(f);
      f->close_done = f->close_requests;
      pthread_cond_broadcast(&f->changed);
    }
    long long now = now_ms();
    int timeout = -1;
    for (size_t i = 0; i < f->conn_count; i++) {
      conn *c = f->conns[i];
      flush_due(c, now);
      if (!c->dead && !c->want_write && c->out_head) {
        long long wait = c->out_head->send_at - now;
        if (timeout < 0 || wait < timeout) timeout = (int)(wait > 0 ? wait : 0);
      }
    }
    remove_dead(f);
    size_t nfds = 2 + f->conn_count;
    if (nfds > pfd_cap) {
      struct pollfd *p = realloc(pfds, nfds * sizeof *pfds);
      if (!p) break; /* no memory to serve with: the fake stops answering */
      pfds = p;
      pfd_cap = nfds;
    }
    pfds[0] = (struct pollfd){.fd = f->wake[0], .events = POLLIN};
    pfds[1] = (struct pollfd){.fd = f->listen_fd, .events = POLLIN};
    for (size_t i = 0; i < f->conn_count; i++) {
      conn *c = f->conns[i];
      pfds[2 + i] = (struct pollfd){.fd = c->fd, .events = POLLIN | (c->want_write ? POLLOUT : 0)};
    }
    /* Connections are added and removed only by this thread, so pfds[2 + i] is still conns[i]
     * after the poll. */
    size_t polled = f->conn_count;
    pthread_mutex_unlock(&f->mu);
    int n = poll(pfds, nfds, timeout);
    pthread_mutex_lock(&f->mu);
    if (n <= 0) continue;
    if (pfds[0].revents) {
      char sink[64];
      while (read(f->wake[0], sink, sizeof sink) > 0) {
      }
    }
    for (size_t i = 0; i < polled; i++) {
      conn *c = f->conns[i];
      short ev = pfds[2 + i].revents;
      if (ev & POLLOUT) c->want_write = 0;
      if (ev & (POLLIN | POLLHUP | POLLERR)) {
        read_input(c);
        process_input(f, c);
      }
    }
    if (pfds[1].revents & POLLIN) accept_all(f);
  }
  pthread_mutex_unlock(&f->mu);
  free(pfds);
  return NULL;
}

/* ---- the API: starting and stopping ---------------------------------------------------------- */

int xrt_fake_start(xrt_fake **out, char *err) {
  if (!out) return fail(err, "xrt_fake_start: out is required");
  *out = NULL;
  xrt_fake *f = calloc(1, sizeof *f);
  if (!f) return fail(err, "xrt_fake_start: out of memory");
  f->listen_fd = f->wake[0] = f->wake[1] = -1;
  pthread_mutex_init(&f->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&f->changed, &ca);
  pthread_condattr_destroy(&ca);

  if (pipe(f->wake) != 0) {
    int e = errno;
    xrt_fake_free(f);
    return fail(err, "xrt_fake_start: pipe: %s", strerror(e));
  }
  set_nonblocking(f->wake[0]);
  set_nonblocking(f->wake[1]);
  f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(f->listen_fd, 128) != 0 ||
      getsockname(f->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
    int e = errno;
    xrt_fake_free(f);
    return fail(err, "xrt_fake_start: listening on 127.0.0.1: %s", strerror(e));
  }
  set_nonblocking(f->listen_fd);
  f->port = ntohs(a.sin_port);
  int rc = pthread_create(&f->thread, NULL, serve, f);
  if (rc != 0) {
    xrt_fake_free(f);
    return fail(err, "xrt_fake_start: pthread_create: %s", strerror(rc));
  }
  f->thread_started = 1;
  *out = f;
  return 0;
}

void xrt_fake_free(xrt_fake *f) {
  if (!f) return;
  if (f->thread_started) {
    pthread_mutex_lock(&f->mu);
    f->stopping = 1;
    pthread_mutex_unlock(&f->mu);
    wake_thread(f);
    pthread_join(f->thread, NULL);
  }
  for (size_t i = 0; i < f->conn_count; i++) conn_close(f->conns[i]);
  free(f->conns);
  for (size_t i = 0; i < f->rule_count; i++) {
    free(f->rules[i].pattern);
    free(f->rules[i].reply);
  }
  free(f->rules);
  for (size_t i = 0; i < f->log_count; i++) command_free(&f->log[i]);
  free(f->log);
  free(f->default_reply);
  if (f->listen_fd >= 0) close(f->listen_fd);
  if (f->wake[0] >= 0) close(f->wake[0]);
  if (f->wake[1] >= 0) close(f->wake[1]);
  pthread_cond_destroy(&f->changed);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

int xrt_fake_port(const xrt_fake *f) { return f->port; }

/* ---- the API: rules -------------------------------------------------------------------------- */

int xrt_fake_on_with(xrt_fake *f, const char *pattern, const char *reply,
                     const xrt_fake_rule_options *o, char *err) {
  xrt_fake_rule_options none = XRT_FAKE_RULE_OPTIONS_INIT;
  if (!o) o = &none;
  if (!pattern_valid(pattern)) return fail(err, "fake rule: the pattern is empty");
  if (o->times < 0 || o->delay_ms < 0)
    return fail(err, "fake rule %s: times and delay_ms must be >= 0, got %d and %d", pattern,
                o->times, o->delay_ms);
  int needs_reply = o->action == XRT_FAKE_REPLY || o->action == XRT_FAKE_TRUNCATE;
  if (o->action < XRT_FAKE_REPLY || o->action > XRT_FAKE_TRUNCATE)
    return fail(err, "fake rule %s: unknown action %d", pattern, (int)o->action);
  size_t len = reply ? strlen(reply) : 0;
  if (needs_reply && !reply) return fail(err, "fake rule %s: no reply (a builder's buffer was "
                                              "too small?)", pattern);
  if (needs_reply && !o->unchecked && !resp_well_formed(reply, len))
    return fail(err, "fake rule %s: the reply is not well-formed RESP: \"%.80s\"", pattern, reply);
  if (o->action == XRT_FAKE_TRUNCATE && o->truncate_at >= len)
    return fail(err, "fake rule %s: truncate_at %zu is not less than the reply's %zu bytes",
                pattern, o->truncate_at, len);
  rule r = {0};
  r.pattern = dup_bytes(pattern, strlen(pattern));
  r.reply = needs_reply ? dup_bytes(reply, len) : NULL;
  r.reply_len = needs_reply ? len : 0;
  r.times_left = o->times > 0 ? o->times : -1;
  r.action = o->action;
  r.delay_ms = o->delay_ms;
  r.truncate_at = o->truncate_at;
  pthread_mutex_lock(&f->mu);
  int ok = r.pattern && (!needs_reply || r.reply) &&
           reserve((void **)&f->rules, &f->rule_cap, f->rule_count, sizeof *f->rules) == 0;
  if (ok) f->rules[f->rule_count++] = r;
  pthread_mutex_unlock(&f->mu);
  if (!ok) {
    free(r.pattern);
    free(r.reply);
    return fail(err, "fake rule %s: out of memory", pattern);
  }
  return 0;
}

int xrt_fake_on(xrt_fake *f, const char *pattern, const char *reply) {
  char err[XRT_ERR_SIZE];
  if (xrt_fake_on_with(f, pattern, reply, NULL, err) == 0) return 0;
  fprintf(stderr, "xrt_fake_on: %s\n", err);
  return -1;
}

void xrt_fake_clear_rules(xrt_fake *f) {
  pthread_mutex_lock(&f->mu);
  for (size_t i = 0; i < f->rule_count; i++) {
    free(f->rules[i].pattern);
    free(f->rules[i].reply);
  }
  f->rule_count = 0;
  pthread_mutex_unlock(&f->mu);
}

int xrt_fake_set_default(xrt_fake *f, const char *reply, char *err) {
  char *copy = NULL;
  size_t len = reply ? strlen(reply) : 0;
  if (reply) {
    if (!resp_well_formed(reply, len))
      return fail(err, "fake default reply is not well-formed RESP: \"%.80s\"", reply);
    if (!(copy = dup_bytes(reply, len))) return fail(err, "fake default reply: out of memory");
  }
  pthread_mutex_lock(&f->mu);
  free(f->default_reply);
  f->default_reply = copy;
  f->default_len = len;
  pthread_mutex_unlock(&f->mu);
  return 0;
}

/* ---- the API: acting on connections ---------------------------------------------------------- */

int xrt_fake_send(xrt_fake *f, int conn_id, const char *resp, char *err) {
  if (!resp) return fail(err, "xrt_fake_send: resp is required");
  int found = 0, rc = 0;
  pthread_mutex_lock(&f->mu);
  for (size_t i = 0; i < f->conn_count; i++) {
    conn *c = f->conns[i];
    if ((conn_id == 0 || c->id == conn_id) && !c->dead && !c->closing) {
      found++;
      if (enqueue(c, resp, strlen(resp), 0, 0) != 0) rc = -1;
    }
  }
  pthread_mutex_unlock(&f->mu);
  if (rc != 0) return fail(err, "xrt_fake_send: out of memory");
  if (!found && conn_id != 0) return fail(err, "xrt_fake_send: connection %d is not open", conn_id);
  wake_thread(f);
  return 0;
}

void xrt_fake_close_connections(xrt_fake *f) {
  pthread_mutex_lock(&f->mu);
  unsigned want = ++f->close_requests;
  wake_thread(f);
  while (!f->stopping && (int)(f->close_done - want) < 0) pthread_cond_wait(&f->changed, &f->mu);
  pthread_mutex_unlock(&f->mu);
}

/* ---- the API: what the clients sent ---------------------------------------------------------- */

static int command_copy(xrt_fake_command *dst, const xrt_fake_command *src) {
  memset(dst, 0, sizeof *dst);
  dst->conn = src->conn;
  int ok = command_alloc(dst, src->argc) == 0;
  for (int i = 0; ok && i < src->argc; i++)
    ok = command_push(dst, src->argv[i], src->argv_len[i]) == 0;
  if (!ok) command_free(dst);
  return ok ? 0 : -1;
}

int xrt_fake_commands(xrt_fake *f, xrt_fake_log *out, char *err) {
  out->count = 0;
  out->commands = NULL;
  pthread_mutex_lock(&f->mu);
  size_t n = f->log_count;
  xrt_fake_command *copy = n ? calloc(n, sizeof *copy) : NULL;
  int ok = !n || copy;
  for (size_t i = 0; ok && i < n; i++) {
    if (command_copy(&copy[i], &f->log[i]) != 0) {
      for (size_t j = 0; j < i; j++) command_free(&copy[j]);
      ok = 0;
    }
  }
  pthread_mutex_unlock(&f->mu);
  if (!ok) {
    free(copy);
    return fail(err, "xrt_fake_commands: out of memory");
  }
  out->count = n;
  out->commands = copy;
  return 0;
}

void xrt_fake_log_free(xrt_fake_log *log) {
  if (!log) return;
  for (size_t i = 0; i < log->count; i++) command_free(&log->commands[i]);
  free(log->commands);
  log->commands = NULL;
  log->count = 0;
}

void xrt_fake_clear_log(xrt_fake *f) {
  pthread_mutex_lock(&f->mu);
  for (size_t i = 0; i < f->log_count; i++) command_free(&f->log[i]);
  f->log_count = 0;
  pthread_mutex_unlock(&f->mu);
}

static size_t count_locked(xrt_fake *f, const char *pattern) {
  size_t n = 0;
  for (size_t i = 0; i < f->log_count; i++)
    if (pattern_matches(pattern, &f->log[i])) n++;
  return n;
}

size_t xrt_fake_count(xrt_fake *f, const char *pattern) {
  pthread_mutex_lock(&f->mu);
  size_t n = count_locked(f, pattern);
  pthread_mutex_unlock(&f->mu);
  return n;
}

int xrt_fake_wait(xrt_fake *f, const char *pattern, size_t n, int timeout_ms, char *err) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&f->mu);
  size_t have;
  int rc = 0;
  while ((have = count_locked(f, pattern)) < n && rc == 0)
    rc = pthread_cond_timedwait(&f->changed, &f->mu, &until);
  pthread_mutex_unlock(&f->mu);
  if (have >= n) return 0;
  return fail(err, "fake server: %zu command(s) matching \"%s\" after %d ms, expected %zu", have,
              pattern, timeout_ms, n);
}

int xrt_fake_transcript(xrt_fake *f, int conn_id, char *buf, size_t size, char *err) {
  if (size == 0) return fail(err, "xrt_fake_transcript: no room");
  size_t used = 0;
  int fits = 1;
  buf[0] = '\0';
  pthread_mutex_lock(&f->mu);
  for (size_t i = 0; i < f->log_count && fits; i++) {
    const xrt_fake_command *cmd = &f->log[i];
    if (conn_id != 0 && cmd->conn != conn_id) continue;
    int n = conn_id == 0 ? snprintf(buf + used, size - used, "%d ", cmd->conn) : 0;
    for (int a = 0; a < cmd->argc && n >= 0 && (size_t)n < size - used; a++)
      n += snprintf(buf + used + n, size - used - n, a ? " %s" : "%s", cmd->argv[a]);
    if (n >= 0 && (size_t)n < size - used)
      n += snprintf(buf + used + n, size - used - n, "\n");
    if (n < 0 || (size_t)n >= size - used)
      fits = 0;
    else
      used += (size_t)n;
  }
  pthread_mutex_unlock(&f->mu);
  return fits ? 0 : fail(err, "xrt_fake_transcript: more than %zu bytes", size - 1);
}

int xrt_fake_accepted(xrt_fake *f) {
  pthread_mutex_lock(&f->mu);
  int n = f->accepted;
  pthread_mutex_unlock(&f->mu);
  return n;
}

int xrt_fake_open_connections(xrt_fake *f) {
  pthread_mutex_lock(&f->mu);
  int n = (int)f->conn_count;
  pthread_mutex_unlock(&f->mu);
  return n;
}

/* ---- reply builders -------------------------------------------------------------------------- */

/* Appends to a caller's buffer; once something does not fit, every later append fails too. */
typedef struct outbuf {
  char *p;
  size_t size, used;
  int overflow;
} outbuf;

static void put(outbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(outbuf *b, const char *fmt, ...) {
  if (b->overflow) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b->p + b->used, b->size - b->used, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= b->size - b->used)
    b->overflow = 1;
  else
    b->used += (size_t)n;
}

static void put_bulk(outbuf *b, const char *s) { put(b, "$%zu\r\n%s\r\n", strlen(s), s); }

static const char *finish(outbuf *b) { return b->overflow ? NULL : b->p; }

static const char *node_ip(const xrt_fake_node *n) { return n->ip ? n->ip : "127.0.0.1"; }
static const char *node_endpoint(const xrt_fake_node *n) {
  return n->endpoint ? n->endpoint : node_ip(n);
}

/* A node id of 40 hex digits that says which port it stands for (easy to read in a log). */
static void node_id(const xrt_fake_node *n, char id[41]) {
  if (n->id)
    snprintf(id, 41, "%s", n->id);
  else
    snprintf(id, 41, "%040d", n->port);
}

static int layout_valid(const xrt_fake_shard *shards, size_t count) {
  if (!shards && count) return 0;
  for (size_t s = 0; s < count; s++) {
    const xrt_fake_shard *sh = &shards[s];
    if (sh->node_count < 1 || sh->node_count > XRT_FAKE_MAX_SHARD_NODES ||
        sh->range_count > XRT_FAKE_MAX_RANGES)
      return 0;
    for (size_t r = 0; r < sh->range_count; r++)
      if (sh->ranges[r][0] < 0 || sh->ranges[r][1] > 16383 || sh->ranges[r][0] > sh->ranges[r][1])
        return 0;
    for (size_t n = 0; n < sh->node_count; n++)
      if (sh->nodes[n].port < 0 || sh->nodes[n].port > 65535) return 0;
  }
  return 1;
}

const char *xrt_fake_cluster_slots(char *buf, size_t size, const xrt_fake_shard *shards,
                                   size_t count) {
  if (!buf || size == 0 || !layout_valid(shards, count)) return NULL;
  outbuf b = {buf, size, 0, 0};
  size_t entries = 0;
  for (size_t s = 0; s < count; s++) entries += shards[s].range_count;
  put(&b, "*%zu\r\n", entries);
  for (size_t s = 0; s < count; s++) {
    const xrt_fake_shard *sh = &shards[s];
    for (size_t r = 0; r < sh->range_count; r++) {
      put(&b, "*%zu\r\n:%d\r\n:%d\r\n", 2 + sh->node_count, sh->ranges[r][0], sh->ranges[r][1]);
      for (size_t i = 0; i < sh->node_count; i++) {
        const xrt_fake_node *n = &sh->nodes[i];
        char id[41];
        node_id(n, id);
        int with_ip = strcmp(node_endpoint(n), node_ip(n)) != 0;
        int with_host = n->hostname && strcmp(n->hostname, node_endpoint(n)) != 0;
        put(&b, "*4\r\n");
        put_bulk(&b, node_endpoint(n));
        put(&b, ":%d\r\n", n->port);
        put_bulk(&b, id);
        put(&b, "*%d\r\n", 2 * (with_ip + with_host));
        if (with_host) {
          put_bulk(&b, "hostname");
          put_bulk(&b, n->hostname);
        }
        if (with_ip) {
          put_bulk(&b, "ip");
          put_bulk(&b, node_ip(n));
        }
      }
    }
  }
  return finish(&b);
}

const char *xrt_fake_cluster_shards(char *buf, size_t size, const xrt_fake_shard *shards,
                                    size_t count) {
  if (!buf || size == 0 || !layout_valid(shards, count)) return NULL;
  outbuf b = {buf, size, 0, 0};
  put(&b, "*%zu\r\n", count);
  for (size_t s = 0; s < count; s++) {
    const xrt_fake_shard *sh = &shards[s];
    put(&b, "*4\r\n$5\r\nslots\r\n*%zu\r\n", 2 * sh->range_count);
    for (size_t r = 0; r < sh->range_count; r++)
      put(&b, ":%d\r\n:%d\r\n", sh->ranges[r][0], sh->ranges[r][1]);
    put(&b, "$5\r\nnodes\r\n*%zu\r\n", sh->node_count);
    for (size_t i = 0; i < sh->node_count; i++) {
      const xrt_fake_node *n = &sh->nodes[i];
      char id[41];
      node_id(n, id);
      put(&b, "*%d\r\n", n->hostname ? 16 : 14);
      put_bulk(&b, "id");
      put_bulk(&b, id);
      put_bulk(&b, "port");
      put(&b, ":%d\r\n", n->port);
      put_bulk(&b, "ip");
      put_bulk(&b, node_ip(n));
      put_bulk(&b, "endpoint");
      put_bulk(&b, node_endpoint(n));
      if (n->hostname) {
        put_bulk(&b, "hostname");
        put_bulk(&b, n->hostname);
      }
      put_bulk(&b, "role");
      put_bulk(&b, i == 0 ? "master" : "replica");
      put_bulk(&b, "replication-offset");
      put(&b, ":0\r\n");
      put_bulk(&b, "health");
      put_bulk(&b, n->health ? n->health : "online");
    }
  }
  return finish(&b);
}

static const char *redirect(char *buf, size_t size, const char *kind, int slot, const char *host,
                            int port) {
  if (!buf || size == 0 || !host || slot < 0 || slot > 16383) return NULL;
  outbuf b = {buf, size, 0, 0};
  put(&b, "-%s %d %s:%d\r\n", kind, slot, host, port);
  return finish(&b);
}

const char *xrt_fake_moved(char *buf, size_t size, int slot, const char *host, int port) {
  return redirect(buf, size, "MOVED", slot, host, port);
}

const char *xrt_fake_ask(char *buf, size_t size, int slot, const char *host, int port) {
  return redirect(buf, size, "ASK", slot, host, port);
}

const char *xrt_fake_sentinel_master(char *buf, size_t size, const char *host, int port) {
  if (!buf || size == 0) return NULL;
  outbuf b = {buf, size, 0, 0};
  if (!host) {
    put(&b, "*-1\r\n");
    return finish(&b);
  }
  char p[16];
  snprintf(p, sizeof p, "%d", port);
  put(&b, "*2\r\n");
  put_bulk(&b, host);
  put_bulk(&b, p);
  return finish(&b);
}

const char *xrt_fake_role_master(char *buf, size_t size, long long offset) {
  if (!buf || size == 0) return NULL;
  outbuf b = {buf, size, 0, 0};
  put(&b, "*3\r\n$6\r\nmaster\r\n:%lld\r\n*0\r\n", offset);
  return finish(&b);
}

const char *xrt_fake_role_replica(char *buf, size_t size, const char *master_host,
                                  int master_port, const char *state, long long offset) {
  if (!buf || size == 0 || !master_host || !state) return NULL;
  outbuf b = {buf, size, 0, 0};
  put(&b, "*5\r\n$5\r\nslave\r\n");
  put_bulk(&b, master_host);
  put(&b, ":%d\r\n", master_port);
  put_bulk(&b, state);
  put(&b, ":%lld\r\n", offset);
  return finish(&b);
}
