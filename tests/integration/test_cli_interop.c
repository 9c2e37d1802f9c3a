/* crossredis interop and the interop step of crossredis demo: both hand over to interop/run.py.
 * A stand-in runner (a shell script, run with XR_PYTHON=/bin/sh from XR_INTEROP_DIR) records the
 * arguments it got and exits with $FAKE_RUNNER_EXIT, so these tests check the hand-over itself:
 * the arguments passed through, --url (given, from $REDIS_URL, or the demo's throwaway server),
 * --crossredis <this command>, the exit status, and clear errors when the runner or Python is
 * missing. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"
#include "clitest.h"

static xrt_server *server;
static char url[128], runner_dir[PATH_MAX], args_path[PATH_MAX + 16], cli_real[PATH_MAX];

static const char fake_runner[] =
    "# a stand-in for interop/run.py: records its arguments, one per line\n"
    "dir=$(dirname \"$0\")\n"
    ": > \"$dir/args.txt\"\n"
    "for a in \"$@\"; do printf '%s\\n' \"$a\" >> \"$dir/args.txt\"; done\n"
    "echo \"fake runner ran with $# arguments\"\n"
    "exit \"${FAKE_RUNNER_EXIT:-0}\"\n";

static int group_setup(void **state) {
  (void)state;
  if (itest_start(&server, NULL) != 0) return -1;
  snprintf(url, sizeof url, "%s", xrt_server_url(server));
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
  if (!realpath(XR_CLI_PATH, cli_real)) return -1;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  xrt_server_free(server);
  xrt_remove_tree(runner_dir);
  return 0;
}

static int setup(void **state) {
  (void)state;
  setenv("XR_INTEROP_DIR", runner_dir, 1);
  setenv("XR_PYTHON", "/bin/sh", 1);
  unsetenv("FAKE_RUNNER_EXIT");
  unsetenv("REDIS_URL");
  remove(args_path);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unsetenv("XR_INTEROP_DIR");
  unsetenv("XR_PYTHON");
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

static void assert_runner_args(const char *want_before_crossredis) {
  char got[8192], want[8192];
  runner_args(got, sizeof got);
  snprintf(want, sizeof want, "%s|--crossredis|%s", want_before_crossredis, cli_real);
  if (strcmp(got, want) != 0) fail_msg("the runner got\n  %s\nexpected\n  %s", got, want);
}

static void test_arguments_pass_through(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "interop", "--url", url, "--json", "--only", "lock", "--only=queue", NULL);
  CLITEST_STATUS(&r, 0);
  assert_string_equal(r.out, "fake runner ran with 8 arguments\n");
  clitest_result_free(&r);
  char want[512];
  snprintf(want, sizeof want, "--url|%s|--json|--only|lock|--only=queue", url);
  assert_runner_args(want);
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
  char want[512];
  snprintf(want, sizeof want, "--url|%s|--runner-flag|--|x", url);
  assert_runner_args(want);
  /* no --url and no REDIS_URL: the runner starts a throwaway server of its own */
  unsetenv("REDIS_URL");
  clitest_run(&r, NULL, "interop", "--json", NULL);
  CLITEST_STATUS(&r, 0);
  clitest_result_free(&r);
  assert_runner_args("--json");
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
  snprintf(closed, sizeof closed, "redis://127.0.0.1:%d", clitest_closed_port());
  clitest_result r;
  clitest_run(&r, NULL, "interop", "--url", closed, NULL);
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
  clitest_run(&r, NULL, "demo", NULL);
  CLITEST_STATUS(&r, 4);
  const char *at = strstr(r.out, "A throwaway redis-server on ");
  assert_non_null(at);
  char demo_url[128];
  assert_int_equal(sscanf(at, "A throwaway redis-server on %127s", demo_url), 1);
  CLITEST_HAS(&r, out, "Chat SDK state");
  CLITEST_HAS(&r, out, "TLS:");
  CLITEST_HAS(&r, out, "Interop: ");
  CLITEST_HAS(&r, out, "fake runner ran with 4 arguments\n");
  CLITEST_HAS(&r, err, "crossredis: demo: the interop runner exited with status 4");
  assert_null(strstr(r.out, "demo finished"));
  /* The runner's output comes after the demo's. */
  assert_true(strstr(r.out, "Interop: ") < strstr(r.out, "fake runner ran"));
  clitest_result_free(&r);
  char want[256];
  snprintf(want, sizeof want, "--url|%s", demo_url);
  assert_runner_args(want);
  xr_client *c = NULL;
  XR_FAILS(xr_client_open_url(&c, demo_url, NULL), XR_ECONNECT, "cannot connect");

  unsetenv("FAKE_RUNNER_EXIT");
  clitest_run(&r, NULL, "demo", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "demo finished: every step worked\n");
  clitest_result_free(&r);
}

static void test_demo_with_url(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "demo", "--url", url, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "Using ");
  CLITEST_HAS(&r, out, "demo finished: every step worked\n");
  clitest_result_free(&r);
  char want[256];
  snprintf(want, sizeof want, "--url|%s", url);
  assert_runner_args(want);

  setenv("XR_INTEROP_DIR", "/nonexistent/interop", 1);
  clitest_run(&r, NULL, "demo", "--url", url, NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, out, "Chat SDK state");
  CLITEST_HAS(&r, err, "crossredis: demo: the interop runner /nonexistent/interop/run.py is missing");
  clitest_result_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_arguments_pass_through, setup, teardown),
      cmocka_unit_test_setup_teardown(test_runner_exit_status_is_returned, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_url_and_runner_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_python_found_on_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_runner_or_python, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_checked_first, setup, teardown),
      cmocka_unit_test_setup_teardown(test_demo_runs_the_runner_on_its_server, setup, teardown),
      cmocka_unit_test_setup_teardown(test_demo_with_url, setup, teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
