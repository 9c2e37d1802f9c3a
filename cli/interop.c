/* crossredis interop, and the interop step of crossredis demo: both hand over to the Python
 * runner interop/run.py, which starts one driver per implementation (this program's `driver`
 * among them) and prints the producer x consumer matrix.
 *
 * Where things are: the runner is <source tree>/interop/run.py (XR_SOURCE_DIR, the tree this
 * program was built from) or $XR_INTEROP_DIR/run.py; Python is $XR_PYTHON, else the bootstrap's
 * <source tree>/.venv/bin/python, else python3 on $PATH. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#ifndef XR_SOURCE_DIR
#define XR_SOURCE_DIR "."
#endif

enum { PATH_SIZE = 4096 };

static void interop_usage(FILE *f) {
  fprintf(f,
          "usage: crossredis interop [--url URL] [--cluster] [--json] [--only IMPL,...] [--scenarios S,...]\n"
          "                          [--no-migration] [--keep-logs] [-- RUNNER-ARGS...]\n"
          "\n"
          "Runs the cross-runtime interop matrices: every producer x consumer pair of Chat SDK\n"
          "implementations (this program's C driver, the Python and TypeScript drivers, the real\n"
          "upstream packages), then of toolhive session stores (the C, Python and TypeScript\n"
          "drivers, the Go drivers over the real toolhive v0.48.0 and v0.66.0), on one shared\n"
          "Redis, keys and values compared byte for byte. It checks the server, then hands over\n"
          "to the Python runner interop/run.py with these arguments plus --crossredis <this\n"
          "program>, and exits with the runner's status.\n"
          "\n"
          "  --url URL      the shared server (default $REDIS_URL, else a throwaway redis-server the\n"
          "                 runner starts on a free loopback port and stops afterwards); the runner\n"
          "                 gives each run its own key prefix and deletes its keys at the end. The\n"
          "                 URL reaches the runner and its drivers in the environment (REDIS_URL),\n"
          "                 never on a command line, and is printed with its password as ***\n"
          "  --cluster      the same matrix on a Redis Cluster: the URL when it is redis+cluster://\n"
          "                 (one also implies --cluster), else $XR_TEST_CLUSTER_NODES (the test\n"
          "                 suite's shared cluster), else a throwaway one (xr-topology --cluster, from\n"
          "                 the build tree); upstreams that cannot run on a Cluster are listed as\n"
          "                 known limits, never skipped\n"
          "  --json         the matrix as JSON instead of a table\n"
          "  --only IMPL,.. only these implementations (c, py-crossredis, py-port, ts-ioredis,\n"
          "                 go-toolhive-v0.66.0, ...; the runner's --help lists them); a matrix\n"
          "                 none of them belongs to does not run\n"
          "  --scenarios S  only these scenarios (lock, cache, dedupe, list, subscriptions, queue;\n"
          "                 session-mcp, session-sse, session-streamable, session-ttl, session-data,\n"
          "                 session-ownership)\n"
          "  --no-migration skip the migration scenario (drain of ts-ioredis locks)\n"
          "  --keep-logs    keep the drivers' logs (passwords scrubbed) instead of removing them\n"
          "                 with the runner's temporary folder; a failed run shows their ends\n"
          "  -- ARGS        everything after -- goes to the runner unchanged (--go-drivers DIR: where\n"
          "                 the Go session drivers are, default build/interop-go)\n"
          "\n"
          "Environment: XR_INTEROP_DIR (the directory holding run.py; default %s/interop),\n"
          "XR_PYTHON (default %s/.venv/bin/python, else python3 on PATH).\n",
          XR_SOURCE_DIR, XR_SOURCE_DIR);
}

static bool executable_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

bool cli_find_program(const char *name, char *out, size_t size) {
  if (strchr(name, '/')) {
    snprintf(out, size, "%s", name);
    return executable_file(out);
  }
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
  for (const char *p = path;; p++) {
    const char *end = strchr(p, ':');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == 0)
      snprintf(out, size, "./%s", name);
    else
      snprintf(out, size, "%.*s/%s", (int)n, p, name);
    if (executable_file(out)) return true;
    if (!end) return false;
    p = end;
  }
}

/* Finds Python and the runner; false after saying what is missing. */
static bool locate(const char *cmd, char python[PATH_SIZE], char runner[PATH_SIZE]) {
  const char *dir = getenv("XR_INTEROP_DIR");
  if (dir && *dir) {
    snprintf(runner, PATH_SIZE, "%s/run.py", dir);
  } else {
    snprintf(runner, PATH_SIZE, "%s/interop/run.py", XR_SOURCE_DIR);
  }
  if (access(runner, R_OK) != 0) {
    fprintf(stderr,
            "crossredis: %s: the interop runner %s is missing (%s); it comes from the source tree "
            "this program was built from, or set XR_INTEROP_DIR to the directory holding run.py\n",
            cmd, runner, strerror(errno));
    return false;
  }
  const char *want = getenv("XR_PYTHON");
  if (want && *want) {
    if (cli_find_program(want, python, PATH_SIZE)) return true;
    fprintf(stderr, "crossredis: %s: XR_PYTHON=%s is not an executable program\n", cmd, want);
    return false;
  }
  snprintf(python, PATH_SIZE, "%s/.venv/bin/python", XR_SOURCE_DIR);
  if (executable_file(python)) return true;
  if (cli_find_program("python3", python, PATH_SIZE)) return true;
  fprintf(stderr,
          "crossredis: %s: no Python for the interop runner: neither %s/.venv/bin/python (scripts/bootstrap "
          "makes it) nor python3 on PATH; set XR_PYTHON\n",
          cmd, XR_SOURCE_DIR);
  return false;
}

/* The runner's environment: REDIS_URL set to `url`, or removed when url is NULL (the runner then
 * starts a server of its own). Called in the process that execs the runner. */
static void runner_env(const char *url) {
  if (url)
    setenv("REDIS_URL", url, 1);
  else
    unsetenv("REDIS_URL");
}

/* python run.py <args...> --crossredis <this program>; NULL after saying why. */
static char **runner_argv(const char *cmd, const char *const *args, int nargs, char python[PATH_SIZE],
                          char runner[PATH_SIZE]) {
  static char self[PATH_SIZE];
  if (!locate(cmd, python, runner)) return NULL;
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    fprintf(stderr, "crossredis: %s: cannot find this program's own path (/proc/self/exe): %s\n", cmd, strerror(errno));
    return NULL;
  }
  self[n] = '\0';
  char **argv = cli_xmalloc(((size_t)nargs + 5) * sizeof *argv);
  int k = 0;
  argv[k++] = python;
  argv[k++] = runner;
  for (int i = 0; i < nargs; i++) argv[k++] = (char *)args[i];
  argv[k++] = "--crossredis";
  argv[k++] = self;
  argv[k] = NULL;
  return argv;
}

int cli_interop_run(const char *cmd, const char *url, const char *const *args, int nargs) {
  char python[PATH_SIZE], runner[PATH_SIZE];
  char **argv = runner_argv(cmd, args, nargs, python, runner);
  if (!argv) return CLI_FAILED;
  fflush(NULL); /* what we printed comes before what the runner prints */
  /* Ctrl-C reaches the runner (same process group); this process waits for it to end and then
   * cleans up (the demo's servers), so it ignores the signal meanwhile. */
  struct sigaction ign = {0}, old_int, old_quit;
  ign.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
  pid_t pid = fork();
  if (pid == 0) {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    runner_env(url);
    execv(argv[0], argv);
    fprintf(stderr, "crossredis: %s: cannot run %s: %s\n", cmd, argv[0], strerror(errno));
    _exit(127);
  }
  int status = CLI_FAILED, ws = 0;
  if (pid < 0) {
    fprintf(stderr, "crossredis: %s: cannot start the interop runner: %s\n", cmd, strerror(errno));
  } else {
    pid_t got;
    while ((got = waitpid(pid, &ws, 0)) < 0 && errno == EINTR) {
    }
    if (got == pid && WIFEXITED(ws)) {
      status = WEXITSTATUS(ws);
    } else if (got == pid && WIFSIGNALED(ws)) {
      fprintf(stderr, "crossredis: %s: the interop runner was killed by signal %d\n", cmd, WTERMSIG(ws));
    }
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGQUIT, &old_quit, NULL);
  free(argv);
  return status;
}

int cli_interop(int argc, char **argv) {
  const char *url = NULL, *value = NULL;
  int separator = -1;
  for (int i = 1; i < argc; i++) {
    int m;
    if (cli_is_help(argv[i])) {
      interop_usage(stdout);
      return CLI_OK;
    } else if (!strcmp(argv[i], "--")) {
      separator = i; /* the rest is the runner's */
      break;
    } else if ((m = cli_flag_value(argc, argv, &i, "--url", &url, "interop")) ||
               (m = cli_flag_value(argc, argv, &i, "--only", &value, "interop")) ||
               (m = cli_flag_value(argc, argv, &i, "--scenarios", &value, "interop"))) {
      if (m < 0) return CLI_USAGE;
    } else if (strcmp(argv[i], "--json") != 0 && strcmp(argv[i], "--no-migration") != 0 &&
               strcmp(argv[i], "--keep-logs") != 0 && strcmp(argv[i], "--cluster") != 0) {
      return cli_usage_error("interop", interop_usage, "unexpected argument '%s'", argv[i]);
    }
  }
  /* The server: --url, else $REDIS_URL, else none (the runner starts its own). It goes to the
   * runner in the environment, so the arguments passed on are the others, the separator "--"
   * dropped. */
  const char *env = getenv("REDIS_URL");
  if (url) {
    if (cli_server_url("interop", url, interop_usage, &url) != CLI_OK) return CLI_USAGE;
  } else if (env && *env) {
    if (cli_server_url("interop", NULL, interop_usage, &url) != CLI_OK) return CLI_USAGE;
  }
  const char **args = cli_xmalloc(((size_t)argc + 1) * sizeof *args);
  int k = 0;
  for (int i = 1; i < argc; i++) {
    if (i == separator) continue;
    if (separator < 0 || i < separator) {
      if (!strcmp(argv[i], "--url")) { /* "--url" "VALUE": both dropped */
        i++;
        continue;
      }
      if (!strncmp(argv[i], "--url=", 6)) continue;
    }
    args[k++] = argv[i];
  }
  /* Say now, in this program's words, when a given server cannot be used. */
  if (url) {
    xr_client *c = cli_connect("interop", url);
    if (!c) {
      free(args);
      return CLI_FAILED;
    }
    xr_client_close(c);
  }
  char python[PATH_SIZE], runner[PATH_SIZE];
  char **full = runner_argv("interop", args, k, python, runner);
  free(args);
  if (!full) return CLI_FAILED;
  fflush(NULL);
  runner_env(url);
  execv(full[0], full);
  fprintf(stderr, "crossredis: interop: cannot run %s: %s\n", full[0], strerror(errno));
  free(full);
  return CLI_FAILED;
}
