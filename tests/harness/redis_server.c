/* Starting, stopping and killing real redis-server (and redis-sentinel) processes for tests;
 * running helper programs without a shell; the silent listener. See redis_server.h. */
#include "redis_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define XRT_PATH_SIZE 512
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 5000
#define START_PORT_ATTEMPTS 5
#define RESTART_ATTEMPTS 40
#define RESTART_RETRY_MS 250
#define MAX_ARGS 64

struct xrt_server {
  char redis_path[XRT_PATH_SIZE];
  /* the options, with our own copies of the strings */
  int unix_socket, tls, tls_auth_clients, acl_disable_default, sentinel;
  char *acl_user, *acl_password, *requirepass, *config_text;
  char **extra_args;
  int port;
  pid_t pid;
  char dir[XRT_PATH_SIZE];
  char log_path[XRT_PATH_SIZE];
  char config_path[XRT_PATH_SIZE];
  char unix_path[108]; /* sizeof sun_path */
  char certs_dir[XRT_PATH_SIZE];
  char url[64];
  char unix_url[128];
};

/* ---- small helpers ---------------------------------------------------------------------------- */

#define fail xrt_fail

int xrt_fail(char *err, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, XRT_ERR_SIZE, fmt, ap);
    va_end(ap);
  }
  return -1;
}

void xrt_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* buf = dir/name; -1 when it does not fit. */
static int join_path(char *buf, size_t size, const char *dir, const char *name) {
  int n = snprintf(buf, size, "%s/%s", dir, name);
  return n >= 0 && (size_t)n < size ? 0 : -1;
}

static char *dup_str(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

int xrt_find_program(const char *name, char *path, size_t size) {
  if (strchr(name, '/')) {
    if (access(name, X_OK) != 0) return -1;
    return snprintf(path, size, "%s", name) < (int)size ? 0 : -1;
  }
  const char *p = getenv("PATH");
  if (!p || !*p) p = "/usr/local/bin:/usr/bin:/bin";
  while (*p) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > 0) {
      int n = snprintf(path, size, "%.*s/%s", (int)len, p, name);
      if (n > 0 && (size_t)n < size && access(path, X_OK) == 0) return 0;
    }
    p += len;
    if (*p == ':') p++;
  }
  return -1;
}

int xrt_remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode)) return unlink(path);
  DIR *d = opendir(path);
  if (!d) return -1;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char child[XRT_PATH_SIZE * 2];
    if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) >= (int)sizeof child) {
      rc = -1;
      continue;
    }
    if (xrt_remove_tree(child) != 0) rc = -1;
  }
  closedir(d);
  if (rmdir(path) != 0) rc = -1;
  return rc;
}

/* ---- running programs ------------------------------------------------------------------------- */

/* Highest descriptor to close in a child when close_range is not available (computed before the
 * fork: getrlimit is not on the async-signal-safe list). */
static int fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536)
    return 65536;
  return (int)rl.rlim_cur;
}

/* Starts `path` with stdin from /dev/null and stdout/stderr on the given descriptors, every other
 * descriptor closed, and SIGKILL when the starting thread dies; `envp` is its environment (NULL:
 * ours). The child runs only async-signal-safe calls before exec (the test may have threads).
 * Returns the pid or -1. */
static pid_t spawn(const char *path, char *const argv[], char *const envp[], int out_fd, int err_fd, char *err) {
  if (!envp) envp = environ;
  int errpipe[2];
  if (pipe(errpipe) != 0) return fail(err, "pipe: %s", strerror(errno));
  fcntl(errpipe[0], F_SETFD, FD_CLOEXEC);
  fcntl(errpipe[1], F_SETFD, FD_CLOEXEC);
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) {
    close(errpipe[0]);
    close(errpipe[1]);
    return fail(err, "open /dev/null: %s", strerror(errno));
  }
  int maxfd = fd_limit();
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(errpipe[0]);
    close(errpipe[1]);
    close(null_fd);
    return fail(err, "fork: %s", strerror(e));
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
    if (dup2(null_fd, 0) < 0 || dup2(out_fd >= 0 ? out_fd : null_fd, 1) < 0 ||
        dup2(err_fd >= 0 ? err_fd : null_fd, 2) < 0)
      _exit(127);
    if (dup2(errpipe[1], 3) < 0) _exit(127);
    fcntl(3, F_SETFD, FD_CLOEXEC);
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0)
#endif
      for (int fd = 4; fd < maxfd; fd++) close(fd);
    execve(path, argv, envp);
    int e = errno;
    ssize_t w = write(3, &e, sizeof e);
    (void)w;
    _exit(127);
  }
  close(errpipe[1]);
  close(null_fd);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(errpipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(errpipe[0]);
  if (n == (ssize_t)sizeof child_errno) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return fail(err, "cannot run %s: %s", path, strerror(child_errno));
  }
  return pid;
}

static int wait_status(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

/* Our environment with `add` ("NAME=value", NULL-terminated) replacing or adding entries: a
 * malloc'd array of borrowed strings, or NULL when out of memory. */
static char **merged_env(const char *const *add) {
  size_t n = 0, k = 0;
  while (environ && environ[n]) n++;
  while (add[k]) k++;
  char **env = calloc(n + k + 1, sizeof *env);
  if (!env) return NULL;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    int replaced = 0;
    for (size_t j = 0; j < k && !replaced; j++) {
      const char *eq = strchr(add[j], '=');
      size_t len = eq ? (size_t)(eq - add[j]) + 1 : strlen(add[j]);
      replaced = strncmp(environ[i], add[j], len) == 0;
    }
    if (!replaced) env[m++] = environ[i];
  }
  for (size_t j = 0; j < k; j++) env[m++] = (char *)add[j];
  env[m] = NULL;
  return env;
}

int xrt_run(const char *const *argv, char *out, size_t size, const char *log_path, char *err) {
  return xrt_run_env(argv, NULL, out, size, log_path, err);
}

int xrt_run_env(const char *const *argv, const char *const *env, char *out, size_t size, const char *log_path,
                char *err) {
  char path[XRT_PATH_SIZE];
  if (!argv || !argv[0]) return fail(err, "xrt_run: no program");
  if (out && size == 0) return fail(err, "xrt_run: no room for the output");
  if (xrt_find_program(argv[0], path, sizeof path) != 0)
    return fail(err, "%s not found in PATH", argv[0]);
  int log_fd = -1;
  if (log_path) {
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) return fail(err, "cannot open %s: %s", log_path, strerror(errno));
  }
  int outpipe[2] = {-1, -1};
  if (out) {
    if (pipe(outpipe) != 0) {
      if (log_fd >= 0) close(log_fd);
      return fail(err, "pipe: %s", strerror(errno));
    }
    fcntl(outpipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(outpipe[1], F_SETFD, FD_CLOEXEC);
  }
  char **envp = env ? merged_env(env) : NULL;
  pid_t pid = env && !envp ? fail(err, "out of memory")
                           : spawn(path, (char *const *)argv, envp, out ? outpipe[1] : log_fd, log_fd, err);
  free(envp);
  if (out) close(outpipe[1]);
  if (log_fd >= 0) close(log_fd);
  if (pid < 0) {
    if (out) close(outpipe[0]);
    return -1;
  }
  if (out) {
    size_t len = 0;
    for (;;) {
      char buf[4096];
      ssize_t n = read(outpipe[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      size_t take = (size_t)n;
      if (len + take > size - 1) take = size - 1 - len; /* keep reading to the end anyway */
      memcpy(out + len, buf, take);
      len += take;
    }
    out[len] = '\0';
    close(outpipe[0]);
  }
  int status = wait_status(pid);
  if (status < 0) return fail(err, "waitpid for %s: %s", path, strerror(errno));
  return status;
}

/* ---- sockets ---------------------------------------------------------------------------------- */

static int free_port(char *err) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(err, "socket: %s", strerror(errno));
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    int e = errno;
    close(fd);
    return fail(err, "cannot find a free loopback port: %s", strerror(e));
  }
  close(fd);
  return ntohs(a.sin_port);
}

static void set_timeouts(int fd, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* also bounds connect() */
}

static int connect_tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  set_timeouts(fd, 2000);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((unsigned short)port);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int connect_unix(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  set_timeouts(fd, 2000);
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Sends PING and reads the first reply line into `reply`. */
static int ping_fd(int fd, char *reply, size_t size) {
  static const char ping[] = "PING\r\n";
  if (send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof ping - 1)) return -1;
  size_t len = 0;
  while (len + 1 < size) {
    ssize_t n = recv(fd, reply + len, size - 1 - len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    reply[len] = '\0';
    char *eol = strstr(reply, "\r\n");
    if (eol) {
      *eol = '\0';
      return 0;
    }
  }
  reply[len] = '\0';
  return -1;
}

int xrt_server_raw_ping(const xrt_server *s, int use_unix, char *reply, size_t size, char *err) {
  if (!s || !reply || size < 2) return fail(err, "xrt_server_raw_ping: bad arguments");
  if (s->tls && !use_unix) return fail(err, "xrt_server_raw_ping: the TCP port speaks TLS");
  if (use_unix && !s->unix_socket) return fail(err, "xrt_server_raw_ping: no unix socket");
  int fd = use_unix ? connect_unix(s->unix_path) : connect_tcp(s->port);
  if (fd < 0) {
    if (use_unix) return fail(err, "cannot connect to %s: %s", s->unix_path, strerror(errno));
    return fail(err, "cannot connect to 127.0.0.1:%d: %s", s->port, strerror(errno));
  }
  int rc = ping_fd(fd, reply, size);
  close(fd);
  if (rc != 0) return fail(err, "no reply to PING (got \"%s\")", reply);
  return 0;
}

int xrt_silent_listener_start(int *port, int *fd, char *err) {
  if (!port || !fd) return fail(err, "xrt_silent_listener_start: port and fd are required");
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return fail(err, "socket: %s", strerror(errno));
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0 ||
      getsockname(s, (struct sockaddr *)&a, &len) != 0) {
    int e = errno;
    close(s);
    return fail(err, "silent listener: %s", strerror(e));
  }
  *port = ntohs(a.sin_port);
  *fd = s;
  return 0;
}

void xrt_silent_listener_stop(int fd) {
  if (fd >= 0) close(fd);
}

/* ---- the server's log ------------------------------------------------------------------------- */

static off_t file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? st.st_size : 0;
}

/* What the log gained since `offset` (malloc'd, NUL-terminated, at most 256 KiB), or NULL. */
static char *read_log(const char *path, off_t offset) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 256 * 1024;
  char *buf = malloc(cap + 1);
  size_t len = 0;
  if (buf) {
    while (len < cap) {
      ssize_t n = pread(fd, buf + len, cap - len, offset + (off_t)len);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      len += (size_t)n;
    }
    buf[len] = '\0';
  }
  close(fd);
  return buf;
}

/* Appends the last lines of the log since `offset` to `err`, on one line. */
static void append_log_tail(char *err, const char *path, off_t offset) {
  if (!err) return;
  size_t used = strlen(err);
  if (used + 16 >= XRT_ERR_SIZE) return;
  char *log = read_log(path, offset);
  const char *tail = log ? log : "";
  size_t room = XRT_ERR_SIZE - used - 12, len = strlen(tail);
  while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == '\r')) len--;
  size_t start = len > room ? len - room : 0;
  if (start > 0) { /* begin at a line */
    const char *nl = memchr(tail + start, '\n', len - start);
    if (nl) start = (size_t)(nl + 1 - tail);
  }
  char *p = err + used;
  p += sprintf(p, "; log: ");
  for (size_t i = start; i < len && (size_t)(p - err) < XRT_ERR_SIZE - 4; i++)
    *p++ = tail[i] == '\n' ? '|' : tail[i];
  *p = '\0';
  free(log);
}

/* ---- the server ------------------------------------------------------------------------------- */

static int build_args(xrt_server *s, const char **argv, char *port_arg, size_t port_size,
                      char *pass_arg, size_t pass_size, char *certs[3], char *err) {
  int n = 0;
  snprintf(port_arg, port_size, "%d", s->port);
  argv[n++] = "redis-server";
  if (s->config_text) argv[n++] = s->config_path; /* the file first: the arguments below win */
  if (s->sentinel) argv[n++] = "--sentinel";
  if (s->tls) {
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--tls-port";
    argv[n++] = port_arg;
    argv[n++] = "--tls-cert-file";
    argv[n++] = certs[0];
    argv[n++] = "--tls-key-file";
    argv[n++] = certs[1];
    argv[n++] = "--tls-ca-cert-file";
    argv[n++] = certs[2];
    argv[n++] = "--tls-auth-clients";
    argv[n++] = s->tls_auth_clients ? "yes" : "no";
  } else {
    argv[n++] = "--port";
    argv[n++] = port_arg;
  }
  argv[n++] = "--bind";
  argv[n++] = "127.0.0.1";
  argv[n++] = "--save";
  argv[n++] = "";
  argv[n++] = "--appendonly";
  argv[n++] = "no";
  argv[n++] = "--enable-debug-command"; /* DEBUG SLEEP: a server that runs a command late */
  argv[n++] = "local";
  argv[n++] = "--dir";
  argv[n++] = s->dir;
  argv[n++] = "--daemonize";
  argv[n++] = "no";
  argv[n++] = "--logfile";
  argv[n++] = s->log_path;
  if (s->unix_socket) {
    argv[n++] = "--unixsocket";
    argv[n++] = s->unix_path;
    argv[n++] = "--unixsocketperm";
    argv[n++] = "700";
  }
  if (s->acl_user) {
    snprintf(pass_arg, pass_size, ">%s", s->acl_password ? s->acl_password : "");
    argv[n++] = "--user";
    argv[n++] = s->acl_user;
    argv[n++] = "on";
    argv[n++] = s->acl_password ? pass_arg : "nopass";
    argv[n++] = "~*";
    argv[n++] = "&*";
    argv[n++] = "+@all";
  }
  if (s->acl_disable_default) {
    argv[n++] = "--user";
    argv[n++] = "default";
    argv[n++] = "off";
  }
  if (s->requirepass) {
    argv[n++] = "--requirepass";
    argv[n++] = s->requirepass;
  }
  for (char **e = s->extra_args; e && *e; e++) {
    if (n >= MAX_ARGS - 1) return fail(err, "too many redis-server arguments");
    argv[n++] = *e;
  }
  argv[n] = NULL;
  return 0;
}

/* One start on s->port. Returns 0 when the server accepts connections, 1 when it could not bind
 * the port (worth another try), -1 on any other failure. */
static int launch(xrt_server *s, char *err) {
  const char *argv[MAX_ARGS];
  char port_arg[16], pass_arg[256];
  char cert[XRT_PATH_SIZE + 16], key[XRT_PATH_SIZE + 16], ca[XRT_PATH_SIZE + 16];
  char *certs[3] = {cert, key, ca};
  join_path(cert, sizeof cert, s->certs_dir, "server.crt");
  join_path(key, sizeof key, s->certs_dir, "server.key");
  join_path(ca, sizeof ca, s->certs_dir, "ca.crt");
  if (build_args(s, argv, port_arg, sizeof port_arg, pass_arg, sizeof pass_arg, certs, err) != 0)
    return -1;

  off_t offset = file_size(s->log_path);
  /* stdout and stderr into the log too: argument errors are printed before the log is opened */
  int log_fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return fail(err, "cannot open %s: %s", s->log_path, strerror(errno));
  pid_t pid = spawn(s->redis_path, (char *const *)argv, NULL, log_fd, log_fd, err);
  close(log_fd);
  if (pid < 0) return -1;
  s->pid = pid;

  long long deadline = now_ms() + START_TIMEOUT_MS;
  for (;;) {
    int status;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      s->pid = 0;
      char *log = read_log(s->log_path, offset);
      int busy = log && strstr(log, "Address already in use") != NULL;
      free(log);
      if (busy) return 1;
      fail(err, "redis-server on port %d exited with %s %d", s->port,
           WIFEXITED(status) ? "status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
      append_log_tail(err, s->log_path, offset);
      return -1;
    }
    /* The log line comes after every listener is bound, so a port taken by someone else between
     * free_port() and the bind is never mistaken for our server. */
    char *log = read_log(s->log_path, offset);
    int ready = log && strstr(log, s->sentinel ? "Sentinel ID is" : "Ready to accept connections") &&
                (!s->unix_socket || strstr(log, "ready to accept connections at"));
    free(log);
    if (ready) {
      int fd = connect_tcp(s->port);
      if (fd >= 0) {
        char reply[128];
        int ok = s->tls || (ping_fd(fd, reply, sizeof reply) == 0 && (reply[0] == '+' || reply[0] == '-'));
        close(fd);
        if (ok) return 0;
      }
    }
    if (now_ms() > deadline) break;
    xrt_sleep_ms(10);
  }
  fail(err, "redis-server on port %d did not accept connections within %d ms", s->port, START_TIMEOUT_MS);
  append_log_tail(err, s->log_path, offset);
  kill(pid, SIGKILL);
  wait_status(pid);
  s->pid = 0;
  return -1;
}

static void server_destroy(xrt_server *s) {
  if (!s) return;
  free(s->acl_user);
  free(s->acl_password);
  free(s->requirepass);
  free(s->config_text);
  for (char **e = s->extra_args; e && *e; e++) free(*e);
  free(s->extra_args);
  free(s);
}

/* Copies the options into s; -1 when out of memory. */
static int copy_options(xrt_server *s, const xrt_server_options *o) {
  s->unix_socket = o->unix_socket;
  s->tls = o->tls;
  s->tls_auth_clients = o->tls_auth_clients;
  s->acl_disable_default = o->acl_disable_default;
  s->sentinel = o->sentinel;
  if ((o->acl_user && !(s->acl_user = dup_str(o->acl_user))) ||
      (o->config_text && !(s->config_text = dup_str(o->config_text))) ||
      (o->acl_password && !(s->acl_password = dup_str(o->acl_password))) ||
      (o->requirepass && !(s->requirepass = dup_str(o->requirepass))))
    return -1;
  if (o->extra_args) {
    size_t n = 0;
    while (o->extra_args[n]) n++;
    if (!(s->extra_args = calloc(n + 1, sizeof *s->extra_args))) return -1;
    for (size_t i = 0; i < n; i++)
      if (!(s->extra_args[i] = dup_str(o->extra_args[i]))) return -1;
  }
  return 0;
}

int xrt_make_temp_dir(char *path, size_t size, const char *prefix, char *err) {
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  /* a unix socket path in it must fit in sun_path */
  if (strlen(tmp) + strlen(prefix) + sizeof "/-XXXXXX/redis.sock" > sizeof ((struct sockaddr_un *)0)->sun_path)
    tmp = "/tmp";
  int n = snprintf(path, size, "%s/%s-XXXXXX", tmp, prefix);
  if (n < 0 || (size_t)n >= size || !mkdtemp(path)) {
    int e = n < 0 || (size_t)n >= size ? ENAMETOOLONG : errno;
    if (size > 0) path[0] = '\0';
    return fail(err, "mkdtemp under %s: %s", tmp, strerror(e));
  }
  return 0;
}

static int make_dir(xrt_server *s, char *err) {
  if (xrt_make_temp_dir(s->dir, sizeof s->dir, s->sentinel ? "xrt-sentinel" : "xrt-redis", err) != 0) return -1;
  if (join_path(s->log_path, sizeof s->log_path, s->dir, "redis.log") != 0 ||
      join_path(s->config_path, sizeof s->config_path, s->dir, "redis.conf") != 0 ||
      join_path(s->unix_path, sizeof s->unix_path, s->dir, "redis.sock") != 0)
    return fail(err, "the path %s is too long", s->dir);
  return 0;
}

/* Writes the config text into <dir>/redis.conf, readable by us alone (it may hold passwords). */
static int write_config(const xrt_server *s, char *err) {
  int fd = open(s->config_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail(err, "cannot create %s: %s", s->config_path, strerror(errno));
  size_t len = strlen(s->config_text), done = 0;
  while (done < len) {
    ssize_t w = write(fd, s->config_text + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno;
      close(fd);
      return fail(err, "cannot write %s: %s", s->config_path, strerror(e));
    }
    done += (size_t)w;
  }
  if (close(fd) != 0) return fail(err, "cannot write %s: %s", s->config_path, strerror(errno));
  return 0;
}

int xrt_server_start(xrt_server **out, const xrt_server_options *o, char *err) {
  static const xrt_server_options plain = XRT_SERVER_OPTIONS_INIT;
  if (!out) return fail(err, "xrt_server_start: out is required");
  *out = NULL;
  if (!o) o = &plain;
  if (o->acl_password && strpbrk(o->acl_password, " \t\r\n"))
    return fail(err, "xrt_server_start: the ACL password may not hold spaces");
  xrt_server *s = calloc(1, sizeof *s);
  if (!s) return fail(err, "out of memory");
  if (copy_options(s, o) != 0) {
    server_destroy(s);
    return fail(err, "out of memory");
  }
  const char *prog = getenv("XR_REDIS_SERVER");
  if (!prog || !*prog) prog = "redis-server";
  if (xrt_find_program(prog, s->redis_path, sizeof s->redis_path) != 0) {
    server_destroy(s);
    return fail(err, "%s not found (set XR_REDIS_SERVER or PATH)", prog);
  }
  if (o->sentinel && !o->config_text) {
    server_destroy(s);
    return fail(err, "xrt_server_start: a sentinel needs config_text (its monitor lines)");
  }
  if (make_dir(s, err) != 0) {
    xrt_server_free(s);
    return -1;
  }
  if (s->config_text && write_config(s, err) != 0) {
    xrt_server_free(s);
    return -1;
  }
  if (s->tls) {
    if (o->certs_dir) {
      if (strlen(o->certs_dir) >= sizeof s->certs_dir) {
        fail(err, "certs_dir is too long");
        xrt_server_free(s);
        return -1;
      }
      memcpy(s->certs_dir, o->certs_dir, strlen(o->certs_dir) + 1);
    } else {
      if (join_path(s->certs_dir, sizeof s->certs_dir, s->dir, "certs") != 0 || mkdir(s->certs_dir, 0700) != 0) {
        fail(err, "mkdir %s: %s", s->certs_dir, strerror(errno));
        xrt_server_free(s);
        return -1;
      }
      if (xrt_certs_generate(s->certs_dir, err) != 0) {
        xrt_server_free(s);
        return -1;
      }
    }
  }
  int rc = 1;
  for (int attempt = 0; attempt < START_PORT_ATTEMPTS && rc == 1; attempt++) {
    s->port = free_port(err);
    if (s->port < 0) {
      rc = -1;
      break;
    }
    rc = launch(s, err);
  }
  if (rc != 0) {
    if (rc == 1) fail(err, "redis-server could not bind a free port in %d attempts", START_PORT_ATTEMPTS);
    xrt_server_free(s);
    return -1;
  }
  snprintf(s->url, sizeof s->url, "%s://127.0.0.1:%d", s->tls ? "rediss" : "redis", s->port);
  snprintf(s->unix_url, sizeof s->unix_url, "unix://%s", s->unix_path);
  *out = s;
  return 0;
}

void xrt_server_kill(xrt_server *s) {
  if (!s || s->pid <= 0) return;
  kill(s->pid, SIGKILL);
  wait_status(s->pid);
  s->pid = 0;
}

void xrt_server_stop(xrt_server *s) {
  if (!s || s->pid <= 0) return;
  kill(s->pid, SIGTERM);
  long long deadline = now_ms() + STOP_TIMEOUT_MS;
  for (;;) {
    pid_t w = waitpid(s->pid, NULL, WNOHANG);
    if (w == s->pid || (w < 0 && errno != EINTR)) {
      s->pid = 0;
      return;
    }
    if (now_ms() > deadline) break;
    xrt_sleep_ms(10);
  }
  xrt_server_kill(s);
}

int xrt_server_restart(xrt_server *s, char *err) {
  if (!s) return fail(err, "xrt_server_restart: no server");
  xrt_server_stop(s);
  int rc = 1;
  for (int attempt = 0; attempt < RESTART_ATTEMPTS && rc == 1; attempt++) {
    if (attempt > 0) xrt_sleep_ms(RESTART_RETRY_MS);
    rc = launch(s, err);
  }
  if (rc == 1)
    return fail(err, "redis-server could not bind port %d again within %d ms", s->port,
                RESTART_ATTEMPTS * RESTART_RETRY_MS);
  return rc;
}

void xrt_server_free(xrt_server *s) {
  if (!s) return;
  xrt_server_stop(s);
  if (s->dir[0]) xrt_remove_tree(s->dir);
  server_destroy(s);
}

int xrt_server_running(const xrt_server *s) { return s && s->pid > 0; }
pid_t xrt_server_pid(const xrt_server *s) { return s ? s->pid : 0; }
int xrt_server_port(const xrt_server *s) { return s->port; }
const char *xrt_server_host(const xrt_server *s) {
  (void)s;
  return "127.0.0.1";
}
const char *xrt_server_dir(const xrt_server *s) { return s->dir; }
const char *xrt_server_log_path(const xrt_server *s) { return s->log_path; }
const char *xrt_server_config_path(const xrt_server *s) { return s->config_text ? s->config_path : NULL; }
const char *xrt_server_unix_path(const xrt_server *s) { return s->unix_socket ? s->unix_path : NULL; }
const char *xrt_server_certs_dir(const xrt_server *s) { return s->tls ? s->certs_dir : NULL; }
const char *xrt_server_url(const xrt_server *s) { return s->url; }
const char *xrt_server_unix_url(const xrt_server *s) { return s->unix_socket ? s->unix_url : NULL; }
