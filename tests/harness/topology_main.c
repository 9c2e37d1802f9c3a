/* xr-topology: starts the shared test topologies of one suite run and keeps them up until told to
 * stop (topology.h says what each test may do with them).
 *
 *   xr-topology [--cluster] [--tls-cluster] [--sentinel] [--tls-sentinel] [--all]
 *               --env FILE [--json FILE]
 *
 * Starts the chosen topologies (--all, or no choice: all four) in parallel, one thread each (a
 * harness server dies with the thread that started it, so each thread lives until the stop), the
 * TLS ones with one set of certificates in a directory of its own. Then writes FILE, environment
 * lines (XR_TEST_*), and the JSON description (default FILE.json), as xrt_topology_write_files
 * says; prints "ready" on stdout; and waits for SIGTERM, SIGINT or SIGHUP, for EOF on stdin when
 * stdin is a pipe, or for its parent to die (PR_SET_PDEATHSIG). Then it stops everything, removes
 * its directories and the two files, and exits 0. Exit status 1 when a topology cannot start (the
 * reason on stderr; what did start is stopped), 2 on a usage error. Timings go to stderr. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "topology.h"

#define PATH_SIZE 512

/* One topology and the thread that owns it. */
typedef struct job {
  xrt_topology_kind kind;
  int wanted;
  pthread_t thread;
  const char *certs_dir;
  xrt_topology *topology; /* set by the thread */
  int done, failed;       /* under lock */
  long long ms;           /* how long the start took */
  char err[XRT_ERR_SIZE];
} job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int stopping;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts the topology, reports, and keeps it (and so its processes) until the stop. */
static void *run_job(void *arg) {
  job *j = arg;
  long long t0 = now_ms();
  int rc = xrt_topology_start_private(&j->topology, j->kind, j->certs_dir, j->err);
  pthread_mutex_lock(&lock);
  j->ms = now_ms() - t0;
  j->done = 1;
  j->failed = rc != 0;
  pthread_cond_broadcast(&changed);
  while (!stopping) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
  xrt_topology_free(j->topology);
  return NULL;
}

static int usage(void) {
  fprintf(stderr, "usage: xr-topology [--cluster] [--tls-cluster] [--sentinel] [--tls-sentinel] [--all] "
                  "--env FILE [--json FILE]\n");
  return 2;
}

/* path made absolute (its directory must exist), for XR_TEST_TOPOLOGY_FILE. */
static int absolute(const char *path, char *out, size_t size) {
  if (path[0] == '/') return snprintf(out, size, "%s", path) < (int)size ? 0 : -1;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return -1;
  return snprintf(out, size, "%s/%s", cwd, path) < (int)size ? 0 : -1;
}

/* One set of certificates for both TLS topologies: <dir>/certs in a fresh directory. */
static int make_certs(char *dir, size_t dir_size, char *certs, size_t certs_size, char *err) {
  if (xrt_make_temp_dir(dir, dir_size, "xrt-topology", err) != 0) return -1;
  if (snprintf(certs, certs_size, "%s/certs", dir) >= (int)certs_size || mkdir(certs, 0700) != 0)
    return xrt_fail(err, "cannot make %s", certs);
  return xrt_certs_generate(certs, err);
}

/* Waits for a stop signal, or EOF on stdin when it is a pipe. */
static void wait_for_stop(int sfd) {
  struct stat st;
  int watch_stdin = fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
  for (;;) {
    struct pollfd p[2] = {{sfd, POLLIN, 0}, {watch_stdin ? 0 : -1, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[0].revents) return;
    if (p[1].revents) {
      char buf[256];
      ssize_t n = read(0, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return; /* input itself is ignored */
    }
  }
}

int main(int argc, char **argv) {
  job jobs[XRT_TOPOLOGY_KINDS];
  memset(jobs, 0, sizeof jobs);
  const char *env_arg = NULL, *json_arg = NULL;
  int any = 0;
  for (int i = 1; i < argc; i++) {
    int matched = 0;
    for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) {
      char flag[32];
      snprintf(flag, sizeof flag, "--%s", xrt_topology_kind_name((xrt_topology_kind)k));
      for (char *c = flag + 2; *c; c++)
        if (*c == '_') *c = '-';
      if (strcmp(argv[i], flag) == 0) jobs[k].wanted = matched = any = 1;
    }
    if (matched) continue;
    if (strcmp(argv[i], "--all") == 0) {
      for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) jobs[k].wanted = 1;
      any = 1;
    } else if (strcmp(argv[i], "--env") == 0 && i + 1 < argc) {
      env_arg = argv[++i];
    } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
      json_arg = argv[++i];
    } else {
      return usage();
    }
  }
  if (!env_arg) return usage();
  if (!any)
    for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) jobs[k].wanted = 1;
  char env_path[PATH_SIZE], json_path[PATH_SIZE], json_default[PATH_SIZE];
  if (!json_arg) {
    snprintf(json_default, sizeof json_default, "%s.json", env_arg);
    json_arg = json_default;
  }
  if (absolute(env_arg, env_path, sizeof env_path) != 0 || absolute(json_arg, json_path, sizeof json_path) != 0) {
    fprintf(stderr, "xr-topology: the file paths are too long\n");
    return 2;
  }

  /* the stop signals reach us through a signalfd: blocked here, so in every thread too */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (sfd < 0) {
    fprintf(stderr, "xr-topology: signalfd: %s\n", strerror(errno));
    return 1;
  }
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) return 1; /* the parent is already gone */

  long long t0 = now_ms();
  char err[XRT_ERR_SIZE], dir[PATH_SIZE] = "", certs[PATH_SIZE + 8] = "";
  int tls = jobs[XRT_TOPOLOGY_TLS_CLUSTER].wanted || jobs[XRT_TOPOLOGY_TLS_SENTINEL].wanted;
  if (tls && make_certs(dir, sizeof dir, certs, sizeof certs, err) != 0) {
    fprintf(stderr, "xr-topology: certificates: %s\n", err);
    if (dir[0]) xrt_remove_tree(dir);
    return 1;
  }
  long long certs_ms = now_ms() - t0;

  int started = 0, failed = 0;
  for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) {
    if (!jobs[k].wanted) continue;
    jobs[k].kind = (xrt_topology_kind)k;
    jobs[k].certs_dir = tls ? certs : NULL;
    if (pthread_create(&jobs[k].thread, NULL, run_job, &jobs[k]) != 0) {
      snprintf(jobs[k].err, sizeof jobs[k].err, "pthread_create failed");
      jobs[k].wanted = 0;
      failed = 1;
      continue;
    }
    started++;
  }
  pthread_mutex_lock(&lock);
  for (;;) {
    int done = 0;
    for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) done += jobs[k].wanted && jobs[k].done;
    if (done == started) break;
    pthread_cond_wait(&changed, &lock);
  }
  pthread_mutex_unlock(&lock);
  long long all_ms = now_ms() - t0;
  for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) {
    if (!jobs[k].wanted) continue;
    if (jobs[k].failed) {
      failed = 1;
      fprintf(stderr, "xr-topology: %s: %s\n", xrt_topology_kind_name(jobs[k].kind), jobs[k].err);
    } else {
      fprintf(stderr, "xr-topology: %s up in %.1f s\n", xrt_topology_kind_name(jobs[k].kind), jobs[k].ms / 1000.0);
    }
  }
  if (tls) fprintf(stderr, "xr-topology: certificates in %.1f s\n", certs_ms / 1000.0);
  fprintf(stderr, "xr-topology: all up in %.1f s\n", all_ms / 1000.0);

  int rc = failed;
  xrt_topology *made[XRT_TOPOLOGY_KINDS];
  for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) made[k] = jobs[k].wanted ? jobs[k].topology : NULL;
  if (!failed &&
      xrt_topology_write_files(made, XRT_TOPOLOGY_KINDS, tls ? certs : NULL, all_ms, env_path, json_path, err) != 0) {
    fprintf(stderr, "xr-topology: %s\n", err);
    rc = 1;
  }
  if (rc == 0) {
    printf("ready\n");
    fflush(stdout);
    wait_for_stop(sfd);
  }

  long long s0 = now_ms();
  pthread_mutex_lock(&lock);
  stopping = 1;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
  for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++)
    if (jobs[k].wanted) pthread_join(jobs[k].thread, NULL);
  if (rc == 0) {
    unlink(env_path);
    unlink(json_path);
  }
  if (dir[0]) xrt_remove_tree(dir);
  close(sfd);
  fprintf(stderr, "xr-topology: stopped in %.1f s\n", (now_ms() - s0) / 1000.0);
  return rc;
}
