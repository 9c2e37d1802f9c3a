/* A throwaway local redis-server for `crossredis demo`: a private folder under $TMPDIR (or /tmp), a
 * free loopback port, no password and no persistence. It counts as started once it answers PING on
 * the unix socket in its folder, which only this server can be listening on (redis-server binds
 * its TCP port first and exits when that is taken, so an answer there also means the port is
 * ours). TLS: certificates made for it with the openssl command. Stopping it, or SIGINT, SIGTERM
 * or SIGHUP while it runs, ends the server and removes the folder; the server also dies with this
 * process (PR_SET_PDEATHSIG). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

enum { DIR_SIZE = 200, START_MS = 10000, STOP_MS = 5000, PORT_TRIES = 5, MAX_SERVERS = 4 };

/* Every file a server's folder can hold, removed by name (so that a signal handler can). */
enum { F_LOG, F_SOCK, F_SSL_CNF, F_SSL_LOG, F_CA_KEY, F_CA_CRT, F_SERVER_KEY, F_SERVER_CSR, F_SERVER_CRT,
       F_WRONG_KEY, F_WRONG_CRT, NFILES };
static const char *const file_names[NFILES] = {
    "redis.log", "redis.sock", "openssl.cnf", "openssl.log", "ca.key", "ca.crt",
    "server.key", "server.csr", "server.crt", "wrong-ca.key", "wrong-ca.crt"};

struct cli_local_server {
  char dir[DIR_SIZE];
  char path[NFILES][DIR_SIZE + 16];
  char url[64];
  bool tls;
  int port;
  volatile pid_t pid;
};

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, size, fmt, ap);
  va_end(ap);
  return -1;
}

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ---- the folder, and cleaning up on a signal ------------------------------------------------ */

static cli_local_server *volatile live[MAX_SERVERS];
static struct sigaction saved[3];
static const int cleanup_signals[3] = {SIGINT, SIGTERM, SIGHUP};

/* Only unlink and rmdir: async-signal-safe. 0 when the folder is gone. */
static int remove_folder(const cli_local_server *s) {
  for (int i = 0; i < NFILES; i++) unlink(s->path[i]);
  return rmdir(s->dir) == 0 || errno == ENOENT ? 0 : -1;
}

static void on_signal(int sig) {
  for (int i = 0; i < MAX_SERVERS; i++) {
    cli_local_server *s = live[i];
    if (!s) continue;
    if (s->pid > 0) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, NULL, 0);
    }
    remove_folder(s);
  }
  struct sigaction dfl = {0};
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, NULL);
  raise(sig); /* delivered once this handler returns: the process ends as the signal says */
}

static void track(cli_local_server *s, bool on) {
  int n = 0;
  for (int i = 0; i < MAX_SERVERS; i++) {
    if (on && !live[i] && s) {
      live[i] = s;
      s = NULL;
    } else if (!on && live[i] == s) {
      live[i] = NULL;
    }
    n += live[i] != NULL;
  }
  if (on && n == 1) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int k = 0; k < 3; k++) sigaction(cleanup_signals[k], &sa, &saved[k]);
  } else if (!on && n == 0) {
    for (int k = 0; k < 3; k++) sigaction(cleanup_signals[k], &saved[k], NULL);
  }
}

static int make_folder(cli_local_server *s, char *err, size_t size) {
  const char *tmp = getenv("TMPDIR");
  /* the unix socket's path must fit in sun_path (108 bytes) */
  if (!tmp || !*tmp || strlen(tmp) > 60) tmp = "/tmp";
  snprintf(s->dir, sizeof s->dir, "%s/crossredis-demo-XXXXXX", tmp);
  if (!mkdtemp(s->dir)) return fail(err, size, "cannot make a folder under %s: %s", tmp, strerror(errno));
  for (int i = 0; i < NFILES; i++) snprintf(s->path[i], sizeof s->path[i], "%s/%s", s->dir, file_names[i]);
  return 0;
}

/* ---- running programs ------------------------------------------------------------------------- */

/* argv[0] (a path) with stdin from /dev/null and stdout and stderr appended to `log`; with
 * `tied`, killed when this process ends. The pid, or -1 with errno set. */
static pid_t start(char *const argv[], const char *log, bool tied) {
  int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) return -1;
  pid_t parent = getpid(), pid = fork();
  if (pid == 0) {
    if (tied && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)) _exit(127);
    int in = open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(127);
    for (int fd = 3; fd < 1024; fd++) close(fd); /* the command's sockets stay with it */
    execv(argv[0], argv);
    _exit(127);
  }
  int e = errno;
  close(out);
  errno = e;
  return pid;
}

/* Runs a program to its end: its exit status, or -1. */
static int run(char *const argv[], const char *log) {
  pid_t pid = start(argv, log, false);
  if (pid < 0) return -1;
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- certificates ----------------------------------------------------------------------------- */

static const char openssl_cnf[] =
    "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = crossredis demo\n"
    "[ca_ext]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n"
    "[server_ext]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n"
    "subjectAltName = IP:127.0.0.1, DNS:localhost\n";

/* A CA (ca.*), a server certificate it signed for 127.0.0.1 (server.*) and an unrelated CA
 * (wrong-ca.*), EC P-256, valid for a day. */
static int make_certificates(cli_local_server *s, char *err, size_t size) {
  char openssl[512];
  if (!cli_find_program("openssl", openssl, sizeof openssl))
    return fail(err, size, "the openssl command is needed for the TLS server's certificates (not on PATH)");
  FILE *f = fopen(s->path[F_SSL_CNF], "w");
  if (!f || fputs(openssl_cnf, f) < 0 || fclose(f) != 0) {
    if (f) fclose(f);
    return fail(err, size, "cannot write %s", s->path[F_SSL_CNF]);
  }
#define P(f) s->path[f]
  char *o = openssl, *cnf = P(F_SSL_CNF);
  char *steps[][24] = {
      {o, "req", "-config", cnf, "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", P(F_CA_KEY), "-out", P(F_CA_CRT), "-days", "1", "-subj", "/CN=crossredis demo CA",
       "-extensions", "ca_ext", NULL},
      {o, "req", "-config", cnf, "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", P(F_WRONG_KEY), "-out", P(F_WRONG_CRT), "-days", "1", "-subj", "/CN=crossredis demo unrelated CA",
       "-extensions", "ca_ext", NULL},
      {o, "req", "-config", cnf, "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", P(F_SERVER_KEY), "-out", P(F_SERVER_CSR), "-subj", "/CN=localhost", NULL},
      {o, "x509", "-req", "-in", P(F_SERVER_CSR), "-CA", P(F_CA_CRT), "-CAkey", P(F_CA_KEY), "-set_serial", "2",
       "-days", "1", "-sha256", "-extfile", cnf, "-extensions", "server_ext", "-out", P(F_SERVER_CRT), NULL},
  };
#undef P
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
    if (run(steps[i], s->path[F_SSL_LOG]) != 0)
      return fail(err, size, "openssl failed making the certificates (see %s)", s->path[F_SSL_LOG]);
  return 0;
}

/* ---- the server ------------------------------------------------------------------------------- */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0;
  if (fd >= 0) close(fd);
  return ok ? ntohs(a.sin_port) : -1;
}

/* What the log says, the newlines as " | ", into buf (its end when it is long). */
static void log_tail(const cli_local_server *s, char *buf, size_t size) {
  buf[0] = '\0';
  FILE *f = fopen(s->path[F_LOG], "r");
  if (!f) return;
  fseek(f, 0, SEEK_END);
  long end = ftell(f);
  if (end > (long)size - 1) fseek(f, end - (long)(size - 1), SEEK_SET);
  else fseek(f, 0, SEEK_SET);
  size_t n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
  for (char *c = buf; *c; c++)
    if (*c == '\n' || *c == '\r') *c = '|';
}

static bool answers_ping(const cli_local_server *s) {
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.unix_path = s->path[F_SOCK];
  o.connect_timeout_ms = 1000;
  o.command_timeout_ms = 1000;
  o.pool_size = 1;
  xr_client *c = NULL;
  bool ok = xr_client_open(&c, &o) == 0 && xr_client_ping(c) == 0;
  xr_client_close(c);
  return ok;
}

/* One start on s->port: 0 once it answers PING, 1 when the port was taken meanwhile (worth another
 * try), -1 otherwise. */
static int launch(cli_local_server *s, const char *redis, char *err, size_t size) {
  char port[16];
  snprintf(port, sizeof port, "%d", s->port);
  char *plain[] = {"--port", port};
  char *tls[] = {"--port", "0", "--tls-port", port, "--tls-cert-file", s->path[F_SERVER_CRT],
                 "--tls-key-file", s->path[F_SERVER_KEY], "--tls-ca-cert-file", s->path[F_CA_CRT],
                 "--tls-auth-clients", "no"};
  char *common[] = {"--bind", "127.0.0.1", "--unixsocket", s->path[F_SOCK], "--unixsocketperm", "700",
                    "--save", "", "--appendonly", "no", "--dir", s->dir, "--daemonize", "no",
                    "--logfile", s->path[F_LOG]};
  char *argv[40];
  int n = 0;
  argv[n++] = (char *)redis;
  char **first = s->tls ? tls : plain;
  size_t nfirst = s->tls ? sizeof tls / sizeof *tls : sizeof plain / sizeof *plain;
  for (size_t i = 0; i < nfirst; i++) argv[n++] = first[i];
  for (size_t i = 0; i < sizeof common / sizeof *common; i++) argv[n++] = common[i];
  argv[n] = NULL;
  unlink(s->path[F_LOG]); /* this start's log only */
  if ((s->pid = start(argv, s->path[F_LOG], true)) < 0) return fail(err, size, "cannot start %s: %s", redis, strerror(errno));
  double deadline = cli_monotonic_ms() + START_MS;
  for (;;) {
    int status;
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
      s->pid = 0;
      char log[300];
      log_tail(s, log, sizeof log);
      if (strstr(log, "Address already in use")) return 1;
      return fail(err, size, "redis-server exited at once: %s", log);
    }
    if (answers_ping(s)) return 0;
    if (cli_monotonic_ms() > deadline) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, NULL, 0);
      s->pid = 0;
      return fail(err, size, "redis-server did not answer PING within %d s (its log: %s)", START_MS / 1000,
                  s->path[F_LOG]);
    }
    pause_ms(20);
  }
}

int cli_local_server_start(cli_local_server **out, bool tls, char *err, size_t size) {
  *out = NULL;
  char redis[512];
  const char *want = getenv("XR_REDIS_SERVER");
  if (!want || !*want) want = "redis-server";
  if (!cli_find_program(want, redis, sizeof redis))
    return fail(err, size, "%s not found (install redis-server, or set XR_REDIS_SERVER)", want);
  cli_local_server *s = cli_xmalloc(sizeof *s);
  memset(s, 0, sizeof *s);
  s->tls = tls;
  if (make_folder(s, err, size) != 0) {
    free(s);
    return -1;
  }
  track(s, true);
  int rc = tls ? make_certificates(s, err, size) : 0;
  for (int attempt = 0; rc == 0; attempt++) { /* a free port may be taken before the server binds it */
    if (attempt == PORT_TRIES) {
      rc = fail(err, size, "%d free ports in a row were taken before redis-server bound them", PORT_TRIES);
    } else if ((s->port = free_port()) < 0) {
      rc = fail(err, size, "no free loopback port: %s", strerror(errno));
    } else {
      int started = launch(s, redis, err, size);
      if (started == 0) break;
      if (started < 0) rc = -1;
    }
  }
  if (rc != 0) {
    cli_local_server_stop(s);
    return -1;
  }
  snprintf(s->url, sizeof s->url, "%s://127.0.0.1:%d", tls ? "rediss" : "redis", s->port);
  *out = s;
  return 0;
}

const char *cli_local_server_url(const cli_local_server *s) { return s->url; }

const char *cli_local_server_dir(const cli_local_server *s) { return s->dir; }

void cli_local_server_stop(cli_local_server *s) {
  if (!s) return;
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    double deadline = cli_monotonic_ms() + STOP_MS;
    pid_t gone;
    while ((gone = waitpid(s->pid, NULL, WNOHANG)) == 0 && cli_monotonic_ms() < deadline) pause_ms(10);
    if (gone == 0) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
  }
  if (remove_folder(s) != 0) fprintf(stderr, "crossredis: cannot remove %s: %s\n", s->dir, strerror(errno));
  track(s, false);
  free(s);
}
