/* Throwaway local redis-servers for `crossredis demo`: each in a private folder under $TMPDIR (or
 * /tmp), on a free loopback port, without a password or persistence. A server counts as started
 * once it answers PING on the unix socket in its folder, which only it can be listening on
 * (redis-server binds its TCP port first and exits when that is taken, so an answer there also
 * means the port is ours). Options: TLS (certificates made for it with the openssl command), a
 * Cluster node (its bus port, port + 10000, free as well), a sentinel, a config file to start from
 * (which the server may rewrite). Stopping a server, or SIGINT, SIGTERM, SIGHUP or SIGPIPE while any
 * runs, ends it and removes its folder with whatever the server wrote there (the handler uses
 * system calls only); every process started here also dies with the thread that started it
 * (PR_SET_PDEATHSIG). Servers may be started and stopped from several threads at once
 * (local_topology.c starts its sets from threads of their own). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

enum { DIR_SIZE = 200, START_MS = 10000, STOP_MS = 5000, PORT_TRIES = 8, MAX_SERVERS = 32, BUS_OFFSET = 10000 };

/* The files a server's folder holds by name (whatever else a server writes there, nodes.conf or a
 * replica's RDB file, goes too: the folder is emptied by reading it). */
enum { F_LOG, F_SOCK, F_CONF, F_SSL_CNF, F_SSL_LOG, F_CA_KEY, F_CA_CRT, F_SERVER_KEY, F_SERVER_CSR, F_SERVER_CRT,
       F_WRONG_KEY, F_WRONG_CRT, NFILES };
static const char *const file_names[NFILES] = {
    "redis.log", "redis.sock", "redis.conf", "openssl.cnf", "openssl.log", "ca.key", "ca.crt",
    "server.key", "server.csr", "server.crt", "wrong-ca.key", "wrong-ca.crt"};

/* What the signal handler needs of a server: its processes and its folder, in static memory that
 * is never freed (a handler may run on any thread, while another stops a server). */
typedef struct tracked {
  volatile sig_atomic_t used;
  volatile pid_t pid;    /* the server */
  volatile pid_t helper; /* a program run for it (openssl, redis-cli) */
  char dir[DIR_SIZE];
} tracked;

static tracked slots[MAX_SERVERS];
static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER;

struct cli_local_server {
  tracked *slot;
  char path[NFILES][DIR_SIZE + 16];
  char url[64];
  bool tls, cluster, sentinel, has_config;
  int port;
  const atomic_bool *cancel; /* while starting */
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

static bool cancelled(const cli_local_server *s) { return s->cancel && atomic_load(s->cancel); }

/* ---- the folder, and cleaning up on a signal ------------------------------------------------ */

/* A record of getdents64 (the kernel's struct linux_dirent64). */
typedef struct raw_dirent {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[];
} raw_dirent;

/* Removes the folder `name` (relative to the folder fd `parent`) with what it holds, folders of
 * files included, `depth` levels down. System calls only: async-signal-safe. 0 when it is gone. */
static int remove_tree_at(int parent, const char *name, int depth) {
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -1;
  _Alignas(8) char buf[2048];
  for (int pass = 0; pass < 4; pass++) { /* entries removed while reading may hide others */
    bool removed = false;
    lseek(fd, 0, SEEK_SET);
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
      for (long at = 0; at < n;) {
        const raw_dirent *d = (const raw_dirent *)(buf + at);
        at += d->reclen;
        const char *e = d->name;
        if (e[0] == '.' && (e[1] == '\0' || (e[1] == '.' && e[2] == '\0'))) continue;
        if (unlinkat(fd, e, 0) == 0 || (errno == EISDIR && depth > 0 && remove_tree_at(fd, e, depth - 1) == 0))
          removed = true;
      }
    }
    if (!removed) break;
  }
  close(fd);
  return unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

static int remove_folder(const tracked *t) { return remove_tree_at(AT_FDCWD, t->dir, 2); }

static void kill_and_reap(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* SIGPIPE too: `crossredis demo | head` ends the demo by it. */
enum { NSIGNALS = 4 };
static const int cleanup_signals[NSIGNALS] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};

/* Threads between making a folder or a process and recording it in `slots`: the handler waits for
 * them (they block the signals meanwhile, so it never runs on one of them). */
static atomic_int in_critical;

void cli_local_server_hold_signals(sigset_t *old) {
  sigset_t block;
  sigemptyset(&block);
  for (int k = 0; k < NSIGNALS; k++) sigaddset(&block, cleanup_signals[k]);
  pthread_sigmask(SIG_BLOCK, &block, old);
}

void cli_local_server_release_signals(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }

static void critical_begin(sigset_t *old) {
  cli_local_server_hold_signals(old);
  atomic_fetch_add(&in_critical, 1);
}

static void critical_end(const sigset_t *old) {
  atomic_fetch_sub(&in_critical, 1);
  cli_local_server_release_signals(old);
}

static void on_signal(int sig) {
  for (int waited = 0; atomic_load(&in_critical) > 0 && waited < 2000; waited++) pause_ms(1);
  for (int i = 0; i < MAX_SERVERS; i++) { /* every process first: none writes into a folder then */
    if (!slots[i].used) continue;
    kill_and_reap(slots[i].helper);
    kill_and_reap(slots[i].pid);
  }
  for (int i = 0; i < MAX_SERVERS; i++)
    if (slots[i].used) remove_folder(&slots[i]);
  struct sigaction dfl = {0};
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, NULL);
  raise(sig); /* delivered once this handler returns: the process ends as the signal says */
}

void cli_local_server_cleanup_on_signals(void) {
  static bool installed;
  pthread_mutex_lock(&slots_mu);
  if (!installed) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int k = 0; k < NSIGNALS; k++) sigaddset(&sa.sa_mask, cleanup_signals[k]);
    for (int k = 0; k < NSIGNALS; k++) sigaction(cleanup_signals[k], &sa, NULL);
    installed = true;
  }
  pthread_mutex_unlock(&slots_mu);
}

/* A slot for a new folder under $TMPDIR, made; NULL with err when there is none. */
static tracked *make_folder(char *err, size_t size) {
  const char *tmp = getenv("TMPDIR");
  /* the unix socket's path must fit in sun_path (108 bytes) */
  if (!tmp || !*tmp || strlen(tmp) > 60) tmp = "/tmp";
  char dir[DIR_SIZE];
  snprintf(dir, sizeof dir, "%s/crossredis-demo-XXXXXX", tmp);
  tracked *t = NULL;
  sigset_t old;
  pthread_mutex_lock(&slots_mu);
  critical_begin(&old);
  for (int i = 0; i < MAX_SERVERS && !t; i++)
    if (!slots[i].used) t = &slots[i];
  if (!t) {
    fail(err, size, "more than %d local servers at once", MAX_SERVERS);
  } else if (!mkdtemp(dir)) {
    fail(err, size, "cannot make a folder under %s: %s", tmp, strerror(errno));
    t = NULL;
  } else {
    memcpy(t->dir, dir, sizeof dir);
    t->pid = t->helper = 0;
    t->used = 1;
  }
  critical_end(&old);
  pthread_mutex_unlock(&slots_mu);
  return t;
}

static void release_slot(tracked *t) {
  pthread_mutex_lock(&slots_mu);
  t->used = 0;
  pthread_mutex_unlock(&slots_mu);
}

/* ---- running programs ------------------------------------------------------------------------- */

/* argv[0] (a path) with stdin from /dev/null and stdout and stderr appended to `log`, killed when
 * the thread that started it ends. Its pid goes into *store before a cleanup signal can be handled
 * (they are blocked meanwhile). The pid, or -1 with errno set. */
static pid_t start(char *const argv[], const char *log, volatile pid_t *store) {
  int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) return -1;
  sigset_t old;
  critical_begin(&old);
  pid_t parent = getpid(), pid = fork();
  if (pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
    sigset_t none; /* not the thread's mask: a topology's thread holds the cleanup signals */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int in = open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(127);
    for (int fd = 3; fd < 1024; fd++) close(fd); /* the command's sockets stay with it */
    execv(argv[0], argv);
    _exit(127);
  }
  int e = errno;
  if (pid > 0) *store = pid;
  critical_end(&old);
  close(out);
  errno = e;
  return pid;
}

/* Runs a program for server s to its end (killed when s's start is cancelled): its exit status,
 * or -1. */
static int run(cli_local_server *s, char *const argv[], const char *log) {
  pid_t pid = start(argv, log, &s->slot->helper);
  if (pid < 0) return -1;
  int status = 0;
  pid_t got;
  while ((got = waitpid(pid, &status, WNOHANG)) == 0) {
    if (cancelled(s)) kill(pid, SIGKILL);
    pause_ms(10);
  }
  s->slot->helper = 0;
  return got == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int cli_local_server_run(cli_local_server *s, char *const argv[], const char *log_name, char *err, size_t size) {
  char log[DIR_SIZE + 64];
  snprintf(log, sizeof log, "%s/%s", s->slot->dir, log_name);
  int st = run(s, argv, log);
  if (st == 0) return 0;
  if (st < 0 && cancelled(s)) return fail(err, size, "stopped");
  return fail(err, size, "%s failed (%s %d; its output: %s)", argv[0], st < 0 ? "killed or not run" : "exit status",
              st, log);
}

/* ---- certificates ----------------------------------------------------------------------------- */

static const char openssl_cnf[] =
    "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = crossredis demo\n"
    "[ca_ext]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n"
    "[server_ext]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n"
    "subjectAltName = IP:127.0.0.1, DNS:localhost\n";

static int write_file(const char *path, const char *text, char *err, size_t size) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
    if (f) fclose(f);
    return fail(err, size, "cannot write %s", path);
  }
  return 0;
}

/* A CA (ca.*), a server certificate it signed for 127.0.0.1 (server.*) and an unrelated CA
 * (wrong-ca.*), EC P-256, valid for a day. */
static int make_certificates(cli_local_server *s, char *err, size_t size) {
  char openssl[512];
  if (!cli_find_program("openssl", openssl, sizeof openssl))
    return fail(err, size, "the openssl command is needed for the TLS server's certificates (not on PATH)");
  if (write_file(s->path[F_SSL_CNF], openssl_cnf, err, size) != 0) return -1;
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
    if (run(s, steps[i], s->path[F_SSL_LOG]) != 0)
      return fail(err, size, "openssl failed making the certificates (see %s)", s->path[F_SSL_LOG]);
  return 0;
}

/* ---- the server ------------------------------------------------------------------------------- */

/* Binds 127.0.0.1:want (0: any free port) and lets it go: the port, or -1. */
static int bind_port(int want) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)want),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0;
  if (fd >= 0) close(fd);
  return ok ? ntohs(a.sin_port) : -1;
}

/* A free loopback port; for a Cluster node one whose bus port (+10000) exists and is free too. */
static int free_port(bool cluster) {
  for (int tries = 0; tries < 64; tries++) {
    int p = bind_port(0);
    if (p < 0 || !cluster) return p;
    if (p <= 65535 - BUS_OFFSET && bind_port(p + BUS_OFFSET) == p + BUS_OFFSET) return p;
  }
  errno = EADDRINUSE;
  return -1;
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

int cli_local_server_client(const cli_local_server *s, xr_client **out, int timeout_ms) {
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.unix_path = s->path[F_SOCK];
  o.connect_timeout_ms = timeout_ms;
  o.command_timeout_ms = timeout_ms;
  o.pool_size = 1;
  return xr_client_open(out, &o);
}

static bool answers_ping(const cli_local_server *s) {
  xr_client *c = NULL;
  bool ok = cli_local_server_client(s, &c, 1000) == 0;
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
  /* a replica's offset, which CLUSTER SLOTS waits for to list it, moves with the master's pings */
  char *cluster[] = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "2000", "--repl-ping-replica-period", "1"};
  char *common[] = {"--bind", "127.0.0.1", "--unixsocket", s->path[F_SOCK], "--unixsocketperm", "700",
                    "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0",
                    "--dir", s->slot->dir, "--daemonize", "no", "--logfile", s->path[F_LOG]};
  char *argv[64];
  int n = 0;
#define ADD(list) \
  for (size_t i = 0; i < sizeof list / sizeof *list; i++) argv[n++] = list[i]
  argv[n++] = (char *)redis;
  if (s->has_config) argv[n++] = s->path[F_CONF]; /* a config file goes first */
  if (s->sentinel) argv[n++] = "--sentinel";
  if (s->tls) {
    ADD(tls);
  } else {
    ADD(plain);
  }
  if (s->cluster) ADD(cluster);
  ADD(common);
#undef ADD
  argv[n] = NULL;
  unlink(s->path[F_LOG]); /* this start's log only */
  if (start(argv, s->path[F_LOG], &s->slot->pid) < 0)
    return fail(err, size, "cannot start %s: %s", redis, strerror(errno));
  double deadline = cli_monotonic_ms() + START_MS;
  for (;;) {
    int status;
    if (waitpid(s->slot->pid, &status, WNOHANG) == s->slot->pid) {
      s->slot->pid = 0;
      char log[300];
      log_tail(s, log, sizeof log);
      if (strstr(log, "Address already in use")) return 1;
      return fail(err, size, "redis-server exited at once: %s", log);
    }
    if (answers_ping(s)) return 0;
    if (cancelled(s) || cli_monotonic_ms() > deadline) {
      kill_and_reap(s->slot->pid);
      s->slot->pid = 0;
      if (cancelled(s)) return fail(err, size, "stopped");
      return fail(err, size, "redis-server did not answer PING within %d s (its log: %s)", START_MS / 1000,
                  s->path[F_LOG]);
    }
    pause_ms(20);
  }
}

int cli_local_server_start(cli_local_server **out, const cli_local_server_options *o, char *err, size_t size) {
  static const cli_local_server_options defaults = CLI_LOCAL_SERVER_OPTIONS_INIT;
  if (!o) o = &defaults;
  *out = NULL;
  cli_local_server_cleanup_on_signals();
  char redis[512];
  const char *want = getenv("XR_REDIS_SERVER");
  if (!want || !*want) want = "redis-server";
  if (!cli_find_program(want, redis, sizeof redis))
    return fail(err, size, "%s not found (install redis-server, or set XR_REDIS_SERVER)", want);
  tracked *slot = make_folder(err, size);
  if (!slot) return -1;
  cli_local_server *s = cli_xmalloc(sizeof *s);
  memset(s, 0, sizeof *s);
  s->slot = slot;
  s->tls = o->tls;
  s->cluster = o->cluster;
  s->sentinel = o->sentinel;
  s->has_config = o->config != NULL;
  s->cancel = o->cancel;
  for (int i = 0; i < NFILES; i++) snprintf(s->path[i], sizeof s->path[i], "%s/%s", slot->dir, file_names[i]);
  int rc = o->tls ? make_certificates(s, err, size) : 0;
  if (rc == 0 && o->config) rc = write_file(s->path[F_CONF], o->config, err, size);
  for (int attempt = 0; rc == 0; attempt++) { /* a free port may be taken before the server binds it */
    if (attempt == PORT_TRIES) {
      rc = fail(err, size, "%d free ports in a row were taken before redis-server bound them", PORT_TRIES);
    } else if ((s->port = free_port(o->cluster)) < 0) {
      rc = fail(err, size, "no free loopback port: %s", strerror(errno));
    } else {
      int started = launch(s, redis, err, size);
      if (started == 0) break;
      if (started < 0) rc = -1;
    }
  }
  s->cancel = NULL;
  if (rc != 0) {
    cli_local_server_stop(s);
    return -1;
  }
  snprintf(s->url, sizeof s->url, "%s://127.0.0.1:%d", o->tls ? "rediss" : "redis", s->port);
  *out = s;
  return 0;
}

const char *cli_local_server_url(const cli_local_server *s) { return s->url; }

const char *cli_local_server_dir(const cli_local_server *s) { return s->slot->dir; }

int cli_local_server_port(const cli_local_server *s) { return s->port; }

void cli_local_servers_stop(cli_local_server *const *servers, size_t n) {
  for (size_t i = 0; i < n; i++) /* all at once: a set shuts down in the time of its slowest */
    if (servers[i] && servers[i]->slot->pid > 0) kill(servers[i]->slot->pid, SIGTERM);
  double deadline = cli_monotonic_ms() + STOP_MS;
  for (size_t i = 0; i < n; i++) {
    cli_local_server *s = servers[i];
    if (!s) continue;
    pid_t pid = s->slot->pid;
    if (pid > 0) {
      pid_t gone;
      while ((gone = waitpid(pid, NULL, WNOHANG)) == 0 && cli_monotonic_ms() < deadline) pause_ms(5);
      if (gone == 0) kill_and_reap(pid);
      s->slot->pid = 0;
    }
    if (remove_folder(s->slot) != 0)
      fprintf(stderr, "crossredis: cannot remove %s: %s\n", s->slot->dir, strerror(errno));
    release_slot(s->slot);
    free(s);
  }
}

void cli_local_server_stop(cli_local_server *s) { cli_local_servers_stop(&s, 1); }
