/* Running the crossredis command as a subprocess in the CLI tests: its stdout, stderr and exit
 * status, with optional stdin text. XR_CLI_PATH (a compile definition) is the built command.
 * With XR_CLI_VALGRIND=1 in the environment each run goes under valgrind's leak check, which
 * makes the command exit with 9 when it leaks or misuses memory. Include after <cmocka.h>. */
#ifndef XR_CLITEST_H
#define XR_CLITEST_H

#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef XR_CLI_PATH
#error "XR_CLI_PATH must name the crossredis command"
#endif

extern char **environ;

typedef struct clitest_buf {
  char *data;
  size_t len, cap;
} clitest_buf;

typedef struct clitest_proc {
  pid_t pid;
  int in, out, err; /* our ends of the pipes; -1 once closed */
  const char *input;
  size_t input_len, input_off;
  clitest_buf o, e;
} clitest_proc;

typedef struct clitest_result {
  int status;  /* the exit status; 128 + signal when killed */
  char *out;   /* stdout, NUL-terminated (free with clitest_result_free) */
  size_t out_len;
  char *err;   /* stderr, NUL-terminated */
} clitest_result;

static inline void clitest_result_free(clitest_result *r) {
  free(r->out);
  free(r->err);
  memset(r, 0, sizeof *r);
}

static inline void clitest_buf_add(clitest_buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->data = realloc(b->data, b->cap);
    assert_non_null(b->data);
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

/* Starts `crossredis args...` (args ends with NULL; args[0] is the subcommand) with `input`
 * (may be NULL: stdin is empty) to be written as the command reads it. */
static inline void clitest_start(clitest_proc *p, const char *input, const char *const *args) {
  signal(SIGPIPE, SIG_IGN); /* a command that exits before reading all its input */
  memset(p, 0, sizeof *p);
  int pin[2], pout[2], perr[2];
  assert_int_equal(pipe(pin), 0);
  assert_int_equal(pipe(pout), 0);
  assert_int_equal(pipe(perr), 0);
  const char *argv[96];
  int k = 0;
  const char *vg = getenv("XR_CLI_VALGRIND");
  if (vg && !strcmp(vg, "1")) {
    argv[k++] = "valgrind";
    argv[k++] = "--quiet";
    argv[k++] = "--leak-check=full";
    argv[k++] = "--errors-for-leak-kinds=definite,indirect";
    argv[k++] = "--show-leak-kinds=definite,indirect";
    argv[k++] = "--error-exitcode=9";
  }
  argv[k++] = XR_CLI_PATH;
  for (int i = 0; args[i] && k < 95; i++) argv[k++] = args[i];
  argv[k] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
  posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
  posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
  int fds[] = {pin[0], pin[1], pout[0], pout[1], perr[0], perr[1]};
  for (int i = 0; i < 6; i++) posix_spawn_file_actions_addclose(&fa, fds[i]);
  int rc = posix_spawnp(&p->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) fail_msg("cannot start %s: %s", argv[0], strerror(rc));
  close(pin[0]);
  close(pout[1]);
  close(perr[1]);
  p->in = pin[1];
  p->out = pout[0];
  p->err = perr[0];
  p->input = input;
  p->input_len = input ? strlen(input) : 0;
  fcntl(p->in, F_SETFL, O_NONBLOCK);
  if (p->input_len == 0) {
    close(p->in);
    p->in = -1;
  }
}

static inline void clitest_kill_and_fail(clitest_proc *p, const char *what, int limit_s) {
  kill(p->pid, SIGKILL);
  waitpid(p->pid, NULL, 0);
  fail_msg("%s after %d s; stdout so far:\n%s\nstderr so far:\n%s", what, limit_s, p->o.data ? p->o.data : "",
           p->e.data ? p->e.data : "");
}

/* Feeds the input and collects the output until the command closed both output pipes or, when
 * `until` is not NULL, until what it wrote to `watch` (&p->e: stderr, &p->o: stdout) contains
 * `until`. Returns 1 when `until` was seen. Kills the command and fails the test after `limit_s`
 * seconds. */
static inline int clitest_pump_in(clitest_proc *p, const clitest_buf *watch, const char *until, int limit_s) {
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (p->out >= 0 || p->err >= 0) {
    if (until && watch->data && strstr(watch->data, until)) return 1;
    struct pollfd pf[3];
    int n = 0, io = -1, oo = -1, eo = -1;
    if (p->in >= 0) io = n, pf[n++] = (struct pollfd){p->in, POLLOUT, 0};
    if (p->out >= 0) oo = n, pf[n++] = (struct pollfd){p->out, POLLIN, 0};
    if (p->err >= 0) eo = n, pf[n++] = (struct pollfd){p->err, POLLIN, 0};
    int pr = poll(pf, (nfds_t)n, 1000);
    if (pr < 0 && errno != EINTR) fail_msg("poll: %s", strerror(errno));
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - t0.tv_sec > limit_s) clitest_kill_and_fail(p, until ? until : "the command ran on", limit_s);
    if (pr <= 0) continue;
    if (io >= 0 && pf[io].revents) {
      ssize_t w = write(p->in, p->input + p->input_off, p->input_len - p->input_off);
      if (w > 0) p->input_off += (size_t)w;
      if ((w < 0 && errno != EAGAIN) || p->input_off == p->input_len) {
        close(p->in);
        p->in = -1;
      }
    }
    int *fds[] = {&p->out, &p->err};
    int idx[] = {oo, eo};
    clitest_buf *bufs[] = {&p->o, &p->e};
    for (int k = 0; k < 2; k++) {
      if (idx[k] < 0 || !pf[idx[k]].revents) continue;
      char chunk[65536];
      ssize_t got = read(*fds[k], chunk, sizeof chunk);
      if (got > 0) {
        clitest_buf_add(bufs[k], chunk, (size_t)got);
      } else if (got == 0 || errno != EINTR) {
        close(*fds[k]);
        *fds[k] = -1;
      }
    }
  }
  return until && watch->data && strstr(watch->data, until);
}

/* clitest_pump_in on stderr. */
static inline int clitest_pump(clitest_proc *p, const char *until, int limit_s) {
  return clitest_pump_in(p, &p->e, until, limit_s);
}

/* Waits until the command's stderr contains `part`; fails when it ends or `limit_s` passes first. */
static inline void clitest_wait_err(clitest_proc *p, const char *part, int limit_s) {
  if (!clitest_pump(p, part, limit_s)) clitest_kill_and_fail(p, part, limit_s);
}

/* The same on stdout (what the command flushed so far). */
static inline void clitest_wait_out(clitest_proc *p, const char *part, int limit_s) {
  if (!clitest_pump_in(p, &p->o, part, limit_s)) clitest_kill_and_fail(p, part, limit_s);
}

/* Feeds the input, collects the output until the command closed both, and waits for it. Kills it
 * and fails the test when it runs longer than `limit_s` seconds. */
static inline void clitest_finish(clitest_proc *p, clitest_result *r, int limit_s) {
  clitest_pump(p, NULL, limit_s);
  if (p->in >= 0) close(p->in);
  int ws = 0;
  while (waitpid(p->pid, &ws, 0) < 0 && errno == EINTR) {
  }
  clitest_buf_add(&p->o, "", 0);
  clitest_buf_add(&p->e, "", 0);
  r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  r->out = p->o.data;
  r->out_len = p->o.len;
  r->err = p->e.data;
}

/* Runs `crossredis <args...>` (NULL-terminated) with `input` on stdin (may be NULL). */
static inline void clitest_run(clitest_result *r, const char *input, ...) {
  const char *args[80];
  int n = 0;
  va_list ap;
  va_start(ap, input);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 79) args[n++] = a;
  va_end(ap);
  args[n] = NULL;
  clitest_proc p;
  clitest_start(&p, input, args);
  clitest_finish(&p, r, 300);
}

/* The text must contain `part`; else the test fails showing both streams. */
#define CLITEST_HAS(r, stream, part)                                                                  \
  do {                                                                                                \
    if (!strstr((r)->stream, (part)))                                                                 \
      fail_msg("%s lacks \"%s\"; exit %d\n--- stdout:\n%s\n--- stderr:\n%s", #stream, (part), (r)->status, \
               (r)->out, (r)->err);                                                                   \
  } while (0)

/* The exit status must be `want`; else the test fails showing both streams. */
#define CLITEST_STATUS(r, want)                                                                           \
  do {                                                                                                    \
    if ((r)->status != (want))                                                                            \
      fail_msg("exit status %d, expected %d\n--- stdout:\n%s\n--- stderr:\n%s", (r)->status, (want), (r)->out, \
               (r)->err);                                                                                 \
  } while (0)

/* A loopback TCP port nothing listens on: bound without SO_REUSEADDR and never listened on, so a
 * connection is refused and no other process (a server another test starts) can take the port
 * while *holder stays open. Close *holder when done. */
static inline int clitest_closed_port(int *holder) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *holder = fd;
  return ntohs(a.sin_port);
}

/* The interop step of `crossredis interop` and `demo` goes to the stand-in runner <dir>/run.py,
 * run by /bin/sh (XR_INTEROP_DIR, XR_PYTHON); clitest_drop_runner undoes it. */
static inline void clitest_use_runner(const char *dir) {
  setenv("XR_INTEROP_DIR", dir, 1);
  setenv("XR_PYTHON", "/bin/sh", 1);
}

static inline void clitest_drop_runner(void) {
  unsetenv("XR_INTEROP_DIR");
  unsetenv("XR_PYTHON");
}

/* Whether the folder holds nothing. */
static inline bool clitest_dir_is_empty(const char *path) {
  DIR *d = opendir(path);
  assert_non_null(d);
  struct dirent *e;
  bool empty = true;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = false;
  closedir(d);
  return empty;
}

/* What ps shows of process pid: /proc/<pid>/cmdline, its arguments joined by spaces ("" when it is
 * gone). */
static inline void clitest_cmdline(pid_t pid, char *out, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(out, 1, size - 1, f) : 0;
  if (f) fclose(f);
  for (size_t i = 0; i < n; i++)
    if (out[i] == '\0') out[i] = ' ';
  out[n] = '\0';
}

/* A plain server and a checker client on it, with the server's URL in url. */
static inline int clitest_open_checker(xrt_server **server, xr_client **chk, char *url, size_t size) {
  if (itest_open_with_checker(server, chk) != 0) return -1;
  snprintf(url, size, "%s", xrt_server_url(*server));
  return 0;
}

/* The run's shared Cluster (else one of the test's own, topology.h): its URL in url and a client
 * on it in *c; free both with xrt_topology_free and xr_client_close. */
#define CLITEST_CLUSTER(t, c, url)                                                   \
  do {                                                                               \
    char err_[XRT_ERR_SIZE];                                                         \
    if (xrt_topology_get(&(t), XRT_TOPOLOGY_CLUSTER, err_) != 0) fail_msg("cluster: %s", err_); \
    snprintf((url), sizeof(url), "redis+cluster://%s", xrt_topology_seeds(t));       \
    XR_OK(xr_client_open_url(&(c), (url), NULL));                                    \
  } while (0)

#endif
