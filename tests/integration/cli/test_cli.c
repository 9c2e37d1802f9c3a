/* The crossredis command as a whole: usage, --help of every subcommand, and the errors every
 * subcommand that talks to a server gives the same way: a bad flag (exit 2), a server nobody
 * listens on, a wrong password, TLS with a right and a wrong CA (exit 1 with the library's
 * message). The command runs as a subprocess (clitest.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"
#include "clitest.h"

static xrt_server *plain, *secured, *tls, *acl;
static char plain_url[128], wrong_pass_url[128], right_pass_url[128], closed_url[128], closed_addr[64];
/* An ACL user's URL and the same user and password on a port nobody listens on. */
static char alice_url[160], alice_closed_url[160];
#define ALICE_PW "S3cret-Alice-pw"
static int closed_holder = -1; /* keeps the closed port bound (see clitest_closed_port) */
/* A family file for `crossredis migrate`, which needs one before it connects. */
static char family_path[64] = "/tmp/xr-test-cli-family-XXXXXX";

static int group_setup(void **state) {
  (void)state;
  if (itest_start(&plain, NULL) != 0) return -1;
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.requirepass = "hunter2";
  if (itest_start(&secured, &o) != 0) return -1;
  xrt_server_options t = XRT_SERVER_OPTIONS_INIT;
  t.tls = 1;
  if (itest_start(&tls, &t) != 0) return -1;
  snprintf(plain_url, sizeof plain_url, "%s", xrt_server_url(plain));
  snprintf(wrong_pass_url, sizeof wrong_pass_url, "redis://:not-it@127.0.0.1:%d", xrt_server_port(secured));
  snprintf(right_pass_url, sizeof right_pass_url, "redis://:hunter2@127.0.0.1:%d", xrt_server_port(secured));
  xrt_server_options a = XRT_SERVER_OPTIONS_INIT;
  a.acl_user = "alice";
  a.acl_password = ALICE_PW;
  a.acl_disable_default = 1;
  if (itest_start(&acl, &a) != 0) return -1;
  snprintf(alice_url, sizeof alice_url, "redis://alice:" ALICE_PW "@127.0.0.1:%d", xrt_server_port(acl));
  int port = clitest_closed_port(&closed_holder);
  snprintf(closed_url, sizeof closed_url, "redis://127.0.0.1:%d", port);
  snprintf(closed_addr, sizeof closed_addr, "cannot connect to 127.0.0.1:%d", port);
  snprintf(alice_closed_url, sizeof alice_closed_url, "redis://alice:" ALICE_PW "@127.0.0.1:%d", port);
  int fd = mkstemp(family_path);
  if (fd < 0) return -1;
  static const char family[] = "{\"families\":[{\"name\":\"s\",\"old\":\"s:<id>\",\"new\":\"s:{<id>}\"}]}";
  ssize_t w = write(fd, family, sizeof family - 1);
  close(fd);
  return w == (ssize_t)(sizeof family - 1) ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  xrt_server_free(plain);
  xrt_server_free(secured);
  xrt_server_free(tls);
  xrt_server_free(acl);
  if (closed_holder >= 0) close(closed_holder);
  unlink(family_path);
  return 0;
}

/* Runs `crossredis <cmd...> --url <url>` (cmd NULL-terminated, at most 5 words). */
static void run_with_url(clitest_result *r, const char *const *cmd, const char *url) {
  const char *args[8];
  int n = 0;
  for (int k = 0; cmd[k] && n < 5; k++) args[n++] = cmd[k];
  args[n++] = "--url";
  args[n++] = url;
  args[n] = NULL;
  clitest_proc p;
  clitest_start(&p, NULL, args);
  clitest_finish(&p, r, 120);
}

static const char *const subcommands[] = {"locks", "drain", "driver", "interop", "demo", "migrate", "inventory"};
#define NSUB (sizeof subcommands / sizeof subcommands[0])

static void test_usage_lists_the_public_commands(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "--help", NULL);
  CLITEST_STATUS(&r, 0);
  for (const char *const *c = (const char *const[]){"locks", "drain", "interop", "demo", "migrate", "inventory", NULL}; *c;
       c++)
    CLITEST_HAS(&r, out, *c);
  assert_null(strstr(r.out, "driver")); /* internal: started by the interop runner */
  clitest_result_free(&r);

  clitest_run(&r, NULL, NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "usage: crossredis <command>");
  clitest_result_free(&r);

  clitest_run(&r, NULL, "lockz", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "unknown command 'lockz'");
  clitest_result_free(&r);

  clitest_run(&r, NULL, "--version", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "crossredis 0.");
  clitest_result_free(&r);
}

static void test_every_subcommand_has_help(void **state) {
  (void)state;
  for (size_t i = 0; i < NSUB; i++) {
    clitest_result r;
    clitest_run(&r, NULL, subcommands[i], "--help", NULL);
    CLITEST_STATUS(&r, 0);
    char want[64];
    snprintf(want, sizeof want, "usage: crossredis %s", subcommands[i]);
    CLITEST_HAS(&r, out, want);
    assert_string_equal(r.err, "");
    clitest_result_free(&r);
  }
}

static void test_bad_flag_is_a_usage_error(void **state) {
  (void)state;
  for (size_t i = 0; i < NSUB; i++) {
    clitest_result r;
    clitest_run(&r, NULL, subcommands[i], "--no-such-flag", NULL);
    CLITEST_STATUS(&r, 2);
    char want[96];
    snprintf(want, sizeof want, "crossredis %s: unexpected argument '--no-such-flag'", subcommands[i]);
    CLITEST_HAS(&r, err, want);
    snprintf(want, sizeof want, "usage: crossredis %s", subcommands[i]);
    CLITEST_HAS(&r, err, want);
    assert_string_equal(r.out, "");
    clitest_result_free(&r);

    clitest_run(&r, NULL, subcommands[i], "--url", NULL);
    CLITEST_STATUS(&r, 2);
    CLITEST_HAS(&r, err, "--url needs a value");
    clitest_result_free(&r);
  }
}

static void test_bad_values_are_usage_errors(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "locks", "--count", "0", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--count wants a whole number from 1 up, not '0'");
  clitest_result_free(&r);

  clitest_run(&r, NULL, "locks", "--count=12x", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "not '12x'");
  clitest_result_free(&r);

  clitest_run(&r, NULL, "inventory", "--rate", "-1", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--rate wants a whole number from 0 up, not '-1'");
  clitest_result_free(&r);

  clitest_run(&r, NULL, "driver", "--impl", "py-port", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--impl py-port: this program is the driver of impl c only");
  clitest_result_free(&r);
}

/* Every subcommand that needs the server says which address it could not reach. */
static void test_unreachable_server(void **state) {
  (void)state;
  const char *const cmds[][5] = {{"locks", NULL},
                                 {"drain", "--origin", "ts-ioredis", NULL},
                                 {"interop", NULL},
                                 {"demo", NULL},
                                 {"inventory", NULL},
                                 {"migrate", "plan", "--family", family_path, NULL}};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    clitest_result r;
    run_with_url(&r, cmds[i], closed_url);
    CLITEST_STATUS(&r, 1);
    CLITEST_HAS(&r, err, closed_addr);
    CLITEST_HAS(&r, err, "Connection refused");
    clitest_result_free(&r);
  }
  /* The driver also tells its runner, on stdout, in the contract's words. */
  clitest_result r;
  clitest_run(&r, NULL, "driver", "--impl", "c", "--url", closed_url, NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, out, "{\"ready\":false,\"error\":\"cannot connect to 127.0.0.1:");
  CLITEST_HAS(&r, err, closed_addr);
  clitest_result_free(&r);
}

static void test_wrong_password(void **state) {
  (void)state;
  const char *const cmds[][5] = {{"locks", NULL}, {"drain", "--origin", "crossredis", NULL}, {"interop", NULL},
                                 {"inventory", NULL}, {"migrate", "plan", "--family", family_path, NULL}};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    clitest_result r;
    run_with_url(&r, cmds[i], wrong_pass_url);
    CLITEST_STATUS(&r, 1);
    CLITEST_HAS(&r, err, "authentication failed for user default on 127.0.0.1:");
    CLITEST_HAS(&r, err, "WRONGPASS");
    clitest_result_free(&r);
  }
  clitest_result r;
  clitest_run(&r, NULL, "driver", "--impl", "c", "--url", wrong_pass_url, NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, out, "{\"ready\":false,\"error\":\"authentication failed");
  clitest_result_free(&r);

  /* No password at all against a server that wants one. */
  char no_pass[96];
  snprintf(no_pass, sizeof no_pass, "redis://127.0.0.1:%d", xrt_server_port(secured));
  clitest_run(&r, NULL, "locks", "--url", no_pass, NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "NOAUTH");
  clitest_result_free(&r);

  /* And the right one works. */
  clitest_run(&r, NULL, "locks", "--url", right_pass_url, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "no lock under chat-sdk:lock:");
  clitest_result_free(&r);
}

/* A URL the core cannot parse is a usage error (exit 2) in every subcommand that takes one, named
 * as --url or as the REDIS_URL variable, the URL shown with its password as ***. */
static void test_bad_url(void **state) {
  (void)state;
  const char *const cmds[][4] = {{"locks", NULL}, {"drain", "--origin", "ts-pg", NULL}, {"driver", NULL},
                                 {"interop", NULL}, {"demo", NULL}, {"migrate", "plan", NULL}, {"inventory", NULL}};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    clitest_result r;
    run_with_url(&r, cmds[i], "http://127.0.0.1:1");
    CLITEST_STATUS(&r, 2);
    char want[160];
    snprintf(want, sizeof want, "crossredis %s: --url http://127.0.0.1:1: URL: unsupported scheme 'http'", cmds[i][0]);
    CLITEST_HAS(&r, err, want);
    snprintf(want, sizeof want, "usage: crossredis %s", cmds[i][0]);
    CLITEST_HAS(&r, err, want);
    clitest_result_free(&r);
  }

  /* From the environment: the variable is named, the password is not shown. */
  setenv("REDIS_URL", "redis://alice:" ALICE_PW "@127.0.0.1:notaport", 1);
  const char *const env_cmds[][5] = {{"locks", NULL}, {"drain", "--origin", "ts-pg", NULL}, {"driver", NULL},
                                     {"interop", NULL}, {"inventory", NULL},
                                     {"migrate", "verify", "--family", family_path, NULL}};
  for (size_t i = 0; i < sizeof env_cmds / sizeof env_cmds[0]; i++) {
    clitest_proc p;
    clitest_result r;
    clitest_start(&p, NULL, env_cmds[i]);
    clitest_finish(&p, &r, 120);
    CLITEST_STATUS(&r, 2);
    char want[200];
    snprintf(want, sizeof want,
             "crossredis %s: the environment variable REDIS_URL (redis://alice:***@127.0.0.1:notaport) is not a URL "
             "crossredis can use: URL: bad port",
             env_cmds[i][0]);
    CLITEST_HAS(&r, err, want);
    assert_null(strstr(r.err, ALICE_PW));
    assert_null(strstr(r.out, ALICE_PW));
    clitest_result_free(&r);
  }
  unsetenv("REDIS_URL");
}

/* Runs crossredis with args (NULL-terminated) and asserts that neither output holds `secret`. */
static void run_without_secret(clitest_result *r, const char *secret, const char *const *args) {
  clitest_proc p;
  clitest_start(&p, NULL, args);
  clitest_finish(&p, r, 120);
  if (strstr(r->out, secret) || strstr(r->err, secret))
    fail_msg("the output of crossredis %s shows \"%s\"\n--- stdout:\n%s\n--- stderr:\n%s", args[0], secret, r->out,
             r->err);
}

/* A password is printed nowhere: not when it works, not in connection, authentication or URL
 * errors (a parse error quotes a piece of the URL, and a password holding '/' or '?' is cut there),
 * not when a URL is typed where another argument goes, not in --json. */
static void test_password_never_printed(void **state) {
  (void)state;
  clitest_result r;
  run_without_secret(&r, ALICE_PW, (const char *const[]){"locks", "--url", alice_url, "--json", NULL});
  CLITEST_STATUS(&r, 0);
  clitest_result_free(&r);
  run_without_secret(&r, ALICE_PW, (const char *const[]){"inventory", "--url", alice_url, "--json", NULL});
  CLITEST_STATUS(&r, 0);
  clitest_result_free(&r);
  run_without_secret(&r, ALICE_PW,
                     (const char *const[]){"migrate", "plan", "--family", family_path, "--url", alice_url, "--json", NULL});
  CLITEST_STATUS(&r, 0);
  clitest_result_free(&r);
  run_without_secret(&r, ALICE_PW,
                     (const char *const[]){"migrate", "copy", "--family", family_path, "--url", alice_closed_url, NULL});
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, closed_addr);
  clitest_result_free(&r);
  run_without_secret(&r, ALICE_PW, (const char *const[]){"drain", "--origin", "ts-pg", "--url", alice_url, "--json", NULL});
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "\"drained\":true");
  clitest_result_free(&r);
  run_without_secret(&r, ALICE_PW, (const char *const[]){"locks", "--url", alice_closed_url, NULL});
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, closed_addr);
  clitest_result_free(&r);
  run_without_secret(&r, ALICE_PW, (const char *const[]){"drain", "--origin", "ts-pg", "--url", alice_closed_url, "--json", NULL});
  CLITEST_STATUS(&r, 1);
  clitest_result_free(&r);
  run_without_secret(&r, ALICE_PW, (const char *const[]){"driver", "--url", alice_closed_url, NULL});
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, out, "{\"ready\":false");
  clitest_result_free(&r);

  /* a wrong password is not printed either */
  char wrong[160];
  snprintf(wrong, sizeof wrong, "redis://alice:Not-The-Pw-42@127.0.0.1:%d", xrt_server_port(acl));
  run_without_secret(&r, "Not-The-Pw-42", (const char *const[]){"locks", "--url", wrong, NULL});
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "authentication failed");
  clitest_result_free(&r);
  run_without_secret(&r, "Not-The-Pw-42", (const char *const[]){"driver", "--url", wrong, NULL});
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, out, "{\"ready\":false,\"error\":\"authentication failed");
  clitest_result_free(&r);

  /* URLs the parser refuses, the password holding characters that cut it short */
  static const struct {
    const char *url, *secret, *piece, *shown;
  } bad[] = {
      {"redis://alice:" ALICE_PW "@127.0.0.1:notaport", ALICE_PW, NULL, "redis://alice:***@127.0.0.1:notaport"},
      {"redis://:Xq/Zw-pw@127.0.0.1:1", "Xq/Zw-pw", "Xq", "redis://:***@127.0.0.1:1"},
      {"redis://:Kv?Jm-pw@127.0.0.1:1", "Kv?Jm-pw", "Kv", "redis://:***@127.0.0.1:1"},
      {"redis://:Kv?J@m-pw@127.0.0.1:1", "Kv?J@m-pw", "Kv", "redis://:***@127.0.0.1:1"},
      {"redis://Lone-Pw9@127.0.0.1:99999", "Lone-Pw9", NULL, "redis://:***@127.0.0.1:99999"},
      {"redis://u:Pc@t-pw@127.0.0.1:x", "Pc@t-pw", "Pc", "redis://u:***@127.0.0.1:x"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    run_without_secret(&r, bad[i].secret, (const char *const[]){"locks", "--url", bad[i].url, NULL});
    CLITEST_STATUS(&r, 2);
    CLITEST_HAS(&r, err, bad[i].shown);
    if (bad[i].piece && strstr(r.err, bad[i].piece)) fail_msg("a piece of the password is shown:\n%s", r.err);
    clitest_result_free(&r);
  }

  /* typed where another argument goes */
  run_without_secret(&r, ALICE_PW, (const char *const[]){"locks", alice_url, NULL});
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "unexpected argument 'redis://alice:***@127.0.0.1:");
  clitest_result_free(&r);
  run_without_secret(&r, ALICE_PW, (const char *const[]){alice_url, NULL});
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "unknown command 'redis://alice:***@");
  clitest_result_free(&r);
  run_without_secret(&r, ALICE_PW, (const char *const[]){"drain", "--origin", alice_url, NULL});
  CLITEST_STATUS(&r, 2);
  clitest_result_free(&r);
}

/* The command hides the password of --url in its own command line, where ps reads it. */
static void test_password_hidden_from_ps(void **state) {
  (void)state;
  xr_client *c = NULL;
  xr_client_options o = itest_options(acl);
  o.username = "alice";
  o.password = ALICE_PW;
  XR_OK(xr_client_open(&c, &o));
  XR_OK(itest_cmd(c, NULL, "SET", "cli-ps:lock:t", "redis_1700000000000_abc123xyz4", "PX", "60000", NULL));
  const char *args[] = {"drain", "--origin", "ts-node-redis", "--prefix", "cli-ps", "--timeout", "60", "--url", alice_url,
                        NULL};
  clitest_proc p;
  clitest_start(&p, NULL, args);
  clitest_wait_err(&p, "drain: 1 ts-node-redis lock left", 60);
  char cmdline[4096];
  clitest_cmdline(p.pid, cmdline, sizeof cmdline);
  XR_OK(itest_cmd(c, NULL, "DEL", "cli-ps:lock:t", NULL));
  xr_client_close(c);
  clitest_result r;
  clitest_finish(&p, &r, 120);
  CLITEST_STATUS(&r, 0);
  clitest_result_free(&r);
  /* Under XR_CLI_VALGRIND the process ps shows is valgrind, which keeps its own copy of the
   * arguments: only the command's own copy is masked there. */
  const char *vg = getenv("XR_CLI_VALGRIND");
  if (vg && !strcmp(vg, "1")) return;
  if (strstr(cmdline, ALICE_PW) || !strstr(cmdline, "redis://alice:***************@127.0.0.1:"))
    fail_msg("/proc/<pid>/cmdline: %s", cmdline);
}

/* REDIS_URL is the default server. */
static void test_redis_url_environment(void **state) {
  (void)state;
  setenv("REDIS_URL", closed_url, 1);
  clitest_result r;
  clitest_run(&r, NULL, "locks", NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, closed_addr);
  clitest_result_free(&r);
  setenv("REDIS_URL", plain_url, 1);
  clitest_run(&r, NULL, "locks", "--json", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "{\"prefix\":\"chat-sdk\",\"locks\":[]");
  clitest_result_free(&r);
  unsetenv("REDIS_URL");
}

/* rediss:// with the URL's TLS options. */
static void test_tls_urls(void **state) {
  (void)state;
  char url[1024];
  snprintf(url, sizeof url, "%s?ca_file=%s/ca.crt", xrt_server_url(tls), xrt_server_certs_dir(tls));
  clitest_result r;
  clitest_run(&r, NULL, "locks", "--url", url, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "no lock under chat-sdk:lock:");
  clitest_result_free(&r);

  snprintf(url, sizeof url, "%s?ca_file=%s/wrong-ca.crt", xrt_server_url(tls), xrt_server_certs_dir(tls));
  clitest_run(&r, NULL, "locks", "--url", url, NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "TLS");
  clitest_result_free(&r);

  snprintf(url, sizeof url, "%s?ca_file=%s/ca.crt&server_name=localhost", xrt_server_url(tls), xrt_server_certs_dir(tls));
  clitest_run(&r, NULL, "drain", "--origin", "ts-pg", "--url", url, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "drain: no ts-pg lock left after");
  clitest_result_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_usage_lists_the_public_commands),
      cmocka_unit_test(test_every_subcommand_has_help),
      cmocka_unit_test(test_bad_flag_is_a_usage_error),
      cmocka_unit_test(test_bad_values_are_usage_errors),
      cmocka_unit_test(test_unreachable_server),
      cmocka_unit_test(test_wrong_password),
      cmocka_unit_test(test_bad_url),
      cmocka_unit_test(test_password_never_printed),
      cmocka_unit_test(test_password_hidden_from_ps),
      cmocka_unit_test(test_redis_url_environment),
      cmocka_unit_test(test_tls_urls),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
