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

static xrt_server *plain, *secured, *tls;
static char plain_url[128], wrong_pass_url[128], right_pass_url[128], closed_url[128], closed_addr[64];

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
  int port = clitest_closed_port();
  snprintf(closed_url, sizeof closed_url, "redis://127.0.0.1:%d", port);
  snprintf(closed_addr, sizeof closed_addr, "cannot connect to 127.0.0.1:%d", port);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  xrt_server_free(plain);
  xrt_server_free(secured);
  xrt_server_free(tls);
  return 0;
}

static const char *const subcommands[] = {"locks", "drain", "driver", "interop", "demo"};
#define NSUB (sizeof subcommands / sizeof subcommands[0])

static void test_usage_lists_the_public_commands(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "--help", NULL);
  CLITEST_STATUS(&r, 0);
  for (const char *const *c = (const char *const[]){"locks", "drain", "interop", "demo", NULL}; *c; c++)
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

  clitest_run(&r, NULL, "driver", "--impl", "py-port", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--impl py-port: this program is the driver of impl c only");
  clitest_result_free(&r);
}

/* Every subcommand that needs the server says which address it could not reach. */
static void test_unreachable_server(void **state) {
  (void)state;
  const char *const cmds[][4] = {{"locks", NULL},
                                 {"drain", "--origin", "ts-ioredis", NULL},
                                 {"interop", NULL},
                                 {"demo", NULL}};
  for (size_t i = 0; i < 4; i++) {
    const char *args[8];
    int n = 0;
    for (int k = 0; cmds[i][k]; k++) args[n++] = cmds[i][k];
    args[n++] = "--url";
    args[n++] = closed_url;
    args[n] = NULL;
    clitest_proc p;
    clitest_result r;
    clitest_start(&p, NULL, args);
    clitest_finish(&p, &r, 120);
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
  const char *const cmds[][4] = {{"locks", NULL}, {"drain", "--origin", "crossredis", NULL}, {"interop", NULL}};
  for (size_t i = 0; i < 3; i++) {
    const char *args[8];
    int n = 0;
    for (int k = 0; cmds[i][k]; k++) args[n++] = cmds[i][k];
    args[n++] = "--url";
    args[n++] = wrong_pass_url;
    args[n] = NULL;
    clitest_proc p;
    clitest_result r;
    clitest_start(&p, NULL, args);
    clitest_finish(&p, &r, 120);
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

static void test_bad_url(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "locks", "--url", "http://127.0.0.1:1", NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, err, "crossredis: locks: ");
  CLITEST_HAS(&r, err, "scheme");
  clitest_result_free(&r);
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
      cmocka_unit_test(test_redis_url_environment),
      cmocka_unit_test(test_tls_urls),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
