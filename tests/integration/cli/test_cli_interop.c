/* crossredis interop and the interop step of crossredis demo: both hand over to interop/run.py.
 * A stand-in runner (a shell script, run with XR_PYTHON=/bin/sh from XR_INTEROP_DIR) records the
 * arguments it got, its REDIS_URL and its own /proc/<pid>/cmdline (what ps shows), and exits with
 * $FAKE_RUNNER_EXIT, so these tests check the hand-over itself: the arguments passed through, the
 * server in REDIS_URL and never on the command line (given with --url, from $REDIS_URL, or the
 * demo's throwaway server), --crossredis <this command>, the exit status, no password in any
 * output, and clear errors when the runner or Python is missing. The demo runs --standalone-only
 * here: its Sentinel and Cluster parts are test_cli_demo_topologies.c's. */
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"
#include "clitest.h"

static xrt_server *server, *secured;
static char url[128], secured_url[160], runner_dir[PATH_MAX], args_path[PATH_MAX + 16], env_path[PATH_MAX + 16],
    cmdline_path[PATH_MAX + 16], cli_real[PATH_MAX];
#define PW "Interop-S3cret"

static const char fake_runner[] =
    "# a stand-in for interop/run.py: records its arguments (one per line), REDIS_URL and what ps\n"
    "# shows of it\n"
    "dir=$(dirname \"$0\")\n"
    ": > \"$dir/args.txt\"\n"
    "for a in \"$@\"; do printf '%s\\n' \"$a\" >> \"$dir/args.txt\"; done\n"
    "printf '%s' \"${REDIS_URL-<unset>}\" > \"$dir/env.txt\"\n"
    "tr '\\000' ' ' < /proc/$$/cmdline > \"$dir/cmdline.txt\"\n"
    "echo \"fake runner ran with $# arguments\"\n"
    "exit \"${FAKE_RUNNER_EXIT:-0}\"\n";

static int group_setup(void **state) {
  (void)state;
  if (itest_start(&server, NULL) != 0) return -1;
  snprintf(url, sizeof url, "%s", xrt_server_url(server));
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.requirepass = PW;
  if (itest_start(&secured, &o) != 0) return -1;
  snprintf(secured_url, sizeof secured_url, "redis://:" PW "@127.0.0.1:%d", xrt_server_port(secured));
  const char *tmp = getenv("TMPDIR");
  snprintf(runner_dir, sizeof runner_dir, "%s/xr-cli-interop-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(runner_dir)) return -1;
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/run.py", runner_dir);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(fake_runner, f);
  fclose(f);
  snprintf(args_path, sizeof args_path, "%s/args.txt", runner_dir);
  snprintf(env_path, sizeof env_path, "%s/env.txt", runner_dir);
  snprintf(cmdline_path, sizeof cmdline_path, "%s/cmdline.txt", runner_dir);
  if (!realpath(XR_CLI_PATH, cli_real)) return -1;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  xrt_server_free(server);
  xrt_server_free(secured);
  xrt_remove_tree(runner_dir);
  return 0;
}

static int setup(void **state) {
  (void)state;
  clitest_use_runner(runner_dir);
  unsetenv("FAKE_RUNNER_EXIT");
  unsetenv("REDIS_URL");
  remove(args_path);
  remove(env_path);
  remove(cmdline_path);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  clitest_drop_runner();
  unsetenv("FAKE_RUNNER_EXIT");
  return 0;
}

/* The runner's arguments, one per line, joined with '|'; "" when it did not run. */
static void runner_args(char *out, size_t size) {
  out[0] = '\0';
  FILE *f = fopen(args_path, "r");
  if (!f) return;
  char line[PATH_MAX + 64];
  size_t o = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    o += (size_t)snprintf(out + o, size - o, "%s%s", o ? "|" : "", line);
    if (o >= size) break;
  }
  fclose(f);
}

/* A file the fake runner wrote, "" when it did not run. */
static void read_file(const char *path, char *out, size_t size) {
  out[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return;
  size_t n = fread(out, 1, size - 1, f);
  out[n] = '\0';
  fclose(f);
}

/* The runner got these arguments before --crossredis, and REDIS_URL=want_url (NULL: unset), which
 * its command line does not show. */
static void assert_runner(const char *want_url, const char *want_before_crossredis) {
  char got[8192], want[8192];
  runner_args(got, sizeof got);
  if (*want_before_crossredis)
    snprintf(want, sizeof want, "%s|--crossredis|%s", want_before_crossredis, cli_real);
  else
    snprintf(want, sizeof want, "--crossredis|%s", cli_real);
  if (strcmp(got, want) != 0) fail_msg("the runner got\n  %s\nexpected\n  %s", got, want);
  read_file(env_path, got, sizeof got);
  assert_string_equal(got, want_url ? want_url : "<unset>");
  read_file(cmdline_path, got, sizeof got);
  assert_non_null(strstr(got, "run.py"));
  if (want_url && strstr(got, want_url)) fail_msg("the runner's command line shows the URL: %s", got);
  assert_null(strstr(got, PW));
}

static void test_arguments_pass_through(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "interop", "--url", url, "--json", "--only", "lock", "--only=queue", NULL);
  CLITEST_STATUS(&r, 0);
  assert_string_equal(r.out, "fake runner ran with 6 arguments\n");
  clitest_result_free(&r);
  assert_runner(url, "--json|--only|lock|--only=queue");
  clitest_run(&r, NULL, "interop", "--json", "--url=" , NULL);
  CLITEST_STATUS(&r, 2);
  clitest_result_free(&r);
  /* --cluster goes to the runner, which picks the cluster (XR_TEST_CLUSTER_NODES or its own) */
  clitest_run(&r, NULL, "interop", "--cluster", "--scenarios", "lock", NULL);
  CLITEST_STATUS(&r, 0);
  clitest_result_free(&r);
  assert_runner(NULL, "--cluster|--scenarios|lock");
  clitest_run(&r, NULL, "interop", "--clusters", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "unexpected argument '--clusters'");
  clitest_result_free(&r);
}

static void test_runner_exit_status_is_returned(void **state) {
  (void)state;
  setenv("FAKE_RUNNER_EXIT", "3", 1);
  clitest_result r;
  clitest_run(&r, NULL, "interop", "--url", url, NULL);
  CLITEST_STATUS(&r, 3);
  clitest_result_free(&r);
}

static void test_default_url_and_runner_args(void **state) {
  (void)state;
  setenv("REDIS_URL", url, 1);
  clitest_result r;
  clitest_run(&r, NULL, "interop", "--", "--runner-flag", "--", "x", NULL);
  CLITEST_STATUS(&r, 0);
  clitest_result_free(&r);
  assert_runner(url, "--runner-flag|--|x");
  /* no --url and no REDIS_URL (or an empty one): the runner starts a throwaway server of its own */
  setenv("REDIS_URL", "", 1);
  clitest_run(&r, NULL, "interop", "--json", NULL);
  CLITEST_STATUS(&r, 0);
  clitest_result_free(&r);
  assert_runner(NULL, "--json");
}

/* A URL with a password reaches the runner in REDIS_URL only: not on its command line, not in
 * anything interop or demo prints. */
static void test_password_stays_in_the_environment(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "interop", "--url", secured_url, "--json", NULL);
  CLITEST_STATUS(&r, 0);
  assert_null(strstr(r.out, PW));
  assert_null(strstr(r.err, PW));
  clitest_result_free(&r);
  assert_runner(secured_url, "--json");

  setenv("REDIS_URL", secured_url, 1);
  clitest_run(&r, NULL, "interop", NULL);
  CLITEST_STATUS(&r, 0);
  clitest_result_free(&r);
  assert_runner(secured_url, "");
  unsetenv("REDIS_URL");

  clitest_run(&r, NULL, "demo", "--standalone-only", "--url", secured_url, NULL);
  CLITEST_STATUS(&r, 0);
  char shown[160];
  snprintf(shown, sizeof shown, "Using redis://:***@127.0.0.1:%d\n", xrt_server_port(secured));
  CLITEST_HAS(&r, out, shown);
  CLITEST_HAS(&r, out, "Interop: the Chat SDK implementations of every runtime on redis://:***@127.0.0.1:");
  assert_null(strstr(r.out, PW));
  assert_null(strstr(r.err, PW));
  clitest_result_free(&r);
  assert_runner(secured_url, "");

  /* a wrong password: said without showing it */
  char wrong[160];
  snprintf(wrong, sizeof wrong, "redis://:Wr0ng-Pw-x@127.0.0.1:%d", xrt_server_port(secured));
  clitest_run(&r, NULL, "interop", "--url", wrong, NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "authentication failed");
  assert_null(strstr(r.err, "Wr0ng-Pw-x"));
  clitest_result_free(&r);
}

static void test_python_found_on_path(void **state) {
  (void)state;
  setenv("XR_PYTHON", "sh", 1);
  clitest_result r;
  clitest_run(&r, NULL, "interop", "--url", url, NULL);
  CLITEST_STATUS(&r, 0);
  clitest_result_free(&r);
}

static void test_missing_runner_or_python(void **state) {
  (void)state;
  setenv("XR_INTEROP_DIR", "/nonexistent/interop", 1);
  clitest_result r;
  clitest_run(&r, NULL, "interop", "--url", url, NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "crossredis: interop: the interop runner /nonexistent/interop/run.py is missing");
  CLITEST_HAS(&r, err, "XR_INTEROP_DIR");
  clitest_result_free(&r);

  setenv("XR_INTEROP_DIR", runner_dir, 1);
  setenv("XR_PYTHON", "/nonexistent/bin/python", 1);
  clitest_run(&r, NULL, "interop", "--url", url, NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "crossredis: interop: XR_PYTHON=/nonexistent/bin/python is not an executable program");
  clitest_result_free(&r);
  char got[64];
  runner_args(got, sizeof got);
  assert_string_equal(got, "");
}

/* The server is checked first: the runner does not start against one that is not there. */
static void test_server_checked_first(void **state) {
  (void)state;
  char closed[64];
  int holder = -1;
  snprintf(closed, sizeof closed, "redis://127.0.0.1:%d", clitest_closed_port(&holder));
  clitest_result r;
  clitest_run(&r, NULL, "interop", "--url", closed, NULL);
  close(holder);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "cannot connect to 127.0.0.1:");
  clitest_result_free(&r);
  char got[64];
  runner_args(got, sizeof got);
  assert_string_equal(got, "");
}

/* The demo's own steps, then the runner against the throwaway server it started, which is gone
 * once the demo ended. */
static void test_demo_runs_the_runner_on_its_server(void **state) {
  (void)state;
  setenv("FAKE_RUNNER_EXIT", "4", 1);
  clitest_result r;
  clitest_run(&r, NULL, "demo", "--standalone-only", NULL);
  CLITEST_STATUS(&r, 4);
  const char *at = strstr(r.out, "A throwaway redis-server on ");
  assert_non_null(at);
  char demo_url[128];
  assert_int_equal(sscanf(at, "A throwaway redis-server on %127s", demo_url), 1);
  CLITEST_HAS(&r, out, "Chat SDK state");
  CLITEST_HAS(&r, out, "TLS:");
  CLITEST_HAS(&r, out, "Interop: ");
  CLITEST_HAS(&r, out, "fake runner ran with 2 arguments\n");
  CLITEST_HAS(&r, err, "crossredis: demo: the interop runner exited with status 4");
  assert_null(strstr(r.out, "demo finished"));
  /* The runner's output comes after the demo's. */
  assert_true(strstr(r.out, "Interop: ") < strstr(r.out, "fake runner ran"));
  clitest_result_free(&r);
  assert_runner(demo_url, "");
  xr_client *c = NULL;
  XR_FAILS(xr_client_open_url(&c, demo_url, NULL), XR_ECONNECT, "cannot connect");

  unsetenv("FAKE_RUNNER_EXIT");
  clitest_run(&r, NULL, "demo", "--standalone-only", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "demo finished: every step worked\n");
  clitest_result_free(&r);
}

static void test_demo_with_url(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "demo", "--standalone-only", "--url", url, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "Using ");
  /* the inventory step: owners from the values, each Chat layout's verdict, its keys gone after */
  CLITEST_HAS(&r, out, "\nKeyspace inventory: ");
  CLITEST_HAS(&r, out, "  chat-sdk:lock:<thread>                       1 key, owner crossredis or ts-node-redis 1\n");
  CLITEST_HAS(&r, out, "  chat-sdk:queue:{<thread>}                    1 key, owner python 1\n");
  CLITEST_HAS(&r, out, "  Cluster readiness: chat-thread               NOT READY (1 of 1 threads split across slots)\n");
  CLITEST_HAS(&r, out, "  Cluster readiness: chat-thread-tagged        READY (0 of 1 threads split across slots)\n");
  CLITEST_HAS(&r, out, "demo finished: every step worked\n");
  clitest_result_free(&r);
  xr_client *c = NULL;
  xr_reply *left = NULL;
  XR_OK(xr_client_open_url(&c, url, NULL));
  XR_OK(itest_cmd(c, &left, "KEYS", "crossredis:demo:*", NULL)); /* a server of this test's own */
  assert_int_equal(xr_reply_count(left), 0);
  xr_reply_free(left);
  xr_client_close(c);
  assert_runner(url, "");

  setenv("XR_INTEROP_DIR", "/nonexistent/interop", 1);
  clitest_run(&r, NULL, "demo", "--standalone-only", "--url", url, NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, out, "Chat SDK state");
  CLITEST_HAS(&r, err, "crossredis: demo: the interop runner /nonexistent/interop/run.py is missing");
  clitest_result_free(&r);
}

/* The demo's throwaway servers keep their files in folders of their own under $TMPDIR: gone when
 * the demo ends, and when it is killed (SIGTERM) while its server runs (here by the runner, as a
 * user's kill would). */
static void test_demo_leaves_no_folder_behind(void **state) {
  (void)state;
  const char *tmp = getenv("TMPDIR");
  char old_tmp[PATH_MAX] = "", demo_tmp[PATH_MAX], killer_dir[PATH_MAX + 32], path[PATH_MAX + 48];
  if (tmp) snprintf(old_tmp, sizeof old_tmp, "%s", tmp);
  snprintf(demo_tmp, sizeof demo_tmp, "%s/xr-demo-tmp-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(demo_tmp));
  setenv("TMPDIR", demo_tmp, 1);
  clitest_result r;
  clitest_run(&r, NULL, "demo", "--standalone-only", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "TLS:");
  clitest_result_free(&r);
  assert_true(clitest_dir_is_empty(demo_tmp));

  snprintf(killer_dir, sizeof killer_dir, "%s/xr-killer-XXXXXX", old_tmp[0] ? old_tmp : "/tmp");
  assert_non_null(mkdtemp(killer_dir));
  snprintf(path, sizeof path, "%s/run.py", killer_dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("kill -TERM $PPID\nsleep 0.2\n", f);
  fclose(f);
  setenv("XR_INTEROP_DIR", killer_dir, 1);
  clitest_run(&r, NULL, "demo", "--standalone-only", NULL);
  CLITEST_STATUS(&r, 128 + SIGTERM);
  const char *at = strstr(r.out, "A throwaway redis-server on ");
  assert_non_null(at);
  char demo_url[128];
  assert_int_equal(sscanf(at, "A throwaway redis-server on %127s", demo_url), 1);
  clitest_result_free(&r);
  assert_true(clitest_dir_is_empty(demo_tmp));
  xr_client *c = NULL;
  XR_FAILS(xr_client_open_url(&c, demo_url, NULL), XR_ECONNECT, "cannot connect");
  xrt_remove_tree(killer_dir);
  rmdir(demo_tmp);
  if (old_tmp[0])
    setenv("TMPDIR", old_tmp, 1);
  else
    unsetenv("TMPDIR");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_arguments_pass_through, setup, teardown),
      cmocka_unit_test_setup_teardown(test_runner_exit_status_is_returned, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_url_and_runner_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_password_stays_in_the_environment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_python_found_on_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_runner_or_python, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_checked_first, setup, teardown),
      cmocka_unit_test_setup_teardown(test_demo_runs_the_runner_on_its_server, setup, teardown),
      cmocka_unit_test_setup_teardown(test_demo_with_url, setup, teardown),
      cmocka_unit_test_setup_teardown(test_demo_leaves_no_folder_behind, setup, teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
