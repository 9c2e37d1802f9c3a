/* Authentication against real servers: an ACL user with a password (default user off), and the
 * default user with requirepass; by options and by URL. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"

/* '@', ':' and '/' make the URL tests need percent-encoding */
#define ACL_USER "alice"
#define ACL_PASS "s3cr@t:/x"
#define ACL_PASS_URL "s3cr%40t%3A%2Fx"
#define REQUIREPASS "hunter2"

static xrt_server *acl_server; /* user alice, default user off */
static xrt_server *pass_server; /* requirepass */

static int group_setup(void **state) {
  (void)state;
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.acl_user = ACL_USER;
  o.acl_password = ACL_PASS;
  o.acl_disable_default = 1;
  if (itest_start(&acl_server, &o) != 0) return -1;
  xrt_server_options p = XRT_SERVER_OPTIONS_INIT;
  p.requirepass = REQUIREPASS;
  p.unix_socket = 1;
  return itest_start(&pass_server, &p);
}

static int group_teardown(void **state) {
  (void)state;
  xrt_server_free(acl_server);
  xrt_server_free(pass_server);
  return 0;
}

static void assert_whoami(xr_client *c, const char *user) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, "ACL", "WHOAMI", NULL));
  assert_string_equal(xr_reply_str(r, NULL), user);
  xr_reply_free(r);
}

typedef struct blocker {
  xr_client *c;
  int *rc;
} blocker;

/* Holds a connection until the list auth:release gets an element. */
static void *hold_connection(void *arg) {
  blocker *b = arg;
  *b->rc = itest_cmd(b->c, NULL, "BLPOP", "auth:release", "10", NULL);
  return NULL;
}

/* Connections of `user` the server has now. */
static int connections_of(xr_client *c, const char *user) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, "CLIENT", "LIST", NULL));
  char needle[64];
  snprintf(needle, sizeof needle, "user=%s ", user);
  int n = 0;
  for (const char *p = xr_reply_str(r, NULL); (p = strstr(p, needle)) != NULL; p++) n++;
  xr_reply_free(r);
  return n;
}

static void test_acl_user_right_password(void **state) {
  (void)state;
  xr_client_options o = itest_options(acl_server);
  o.username = ACL_USER;
  o.password = ACL_PASS;
  o.pool_size = 3;
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  assert_whoami(c, ACL_USER);
  /* every pooled connection authenticates, not only the first: three blocking calls at once
   * need three connections; a second client watches and releases them */
  xr_client *watch = NULL;
  XR_OK(xr_client_open(&watch, &o));
  pthread_t t[3];
  int rc[3];
  blocker args[3];
  for (int i = 0; i < 3; i++) {
    args[i].c = c;
    args[i].rc = &rc[i];
    assert_int_equal(pthread_create(&t[i], NULL, hold_connection, &args[i]), 0);
  }
  int seen = 0;
  for (long long end = itest_now_ms() + 10000; itest_now_ms() < end; xrt_sleep_ms(5))
    if ((seen = connections_of(watch, ACL_USER)) >= 4) break;
  for (int i = 0; i < 3; i++) XR_OK(itest_cmd(watch, NULL, "RPUSH", "auth:release", "go", NULL));
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 3; i++)
    if (rc[i] != 0) fail_msg("call %d on a pooled connection: %s", i, xr_error_name(rc[i]));
  assert_int_equal(seen, 4); /* three of c and the watcher, all authenticated as ACL_USER */
  xr_client_close(watch);
  XR_OK(itest_cmd(c, NULL, "SET", "auth:k", "v", NULL));
  itest_assert_get(c, "auth:k", "v");
  xr_client_close(c);
}

static void test_acl_user_wrong_password(void **state) {
  (void)state;
  xr_client_options o = itest_options(acl_server);
  o.username = ACL_USER;
  o.password = "not-the-password";
  xr_client *c = (xr_client *)&c;
  XR_FAILS(xr_client_open(&c, &o), XR_EAUTH, "WRONGPASS");
  assert_null(c);
  /* the message says who failed where, and never the password */
  const char *m = xr_error_last()->message;
  assert_non_null(strstr(m, ACL_USER));
  assert_null(strstr(m, "not-the-password"));

  o.username = "mallory"; /* no such user */
  o.password = ACL_PASS;
  XR_FAILS(xr_client_open(&c, &o), XR_EAUTH, "WRONGPASS");
}

static void test_acl_server_without_password(void **state) {
  (void)state;
  /* the default user is off: opening sends PING unauthenticated, and the server answers NOAUTH */
  xr_client_options o = itest_options(acl_server);
  xr_client *c = (xr_client *)&c;
  XR_FAILS(xr_client_open(&c, &o), XR_EAUTH, "NOAUTH");
  assert_null(c);

  /* a password alone authenticates the default user, which is off */
  o.password = ACL_PASS;
  XR_FAILS(xr_client_open(&c, &o), XR_EAUTH, "WRONGPASS");

  /* a user without a password is refused before connecting */
  o.username = ACL_USER;
  o.password = NULL;
  XR_FAILS(xr_client_open(&c, &o), XR_EINVAL, "password");
}

static void test_requirepass(void **state) {
  (void)state;
  xr_client_options o = itest_options(pass_server);
  xr_client *c = (xr_client *)&c;
  XR_FAILS(xr_client_open(&c, &o), XR_EAUTH, "NOAUTH");
  assert_null(c);

  o.password = "wrong";
  XR_FAILS(xr_client_open(&c, &o), XR_EAUTH, "WRONGPASS");

  o.password = REQUIREPASS;
  XR_OK(xr_client_open(&c, &o));
  assert_whoami(c, "default");
  xr_client_close(c);

  /* over the unix socket too */
  xr_client_options u = XR_CLIENT_OPTIONS_INIT;
  u.unix_path = xrt_server_unix_path(pass_server);
  u.password = REQUIREPASS;
  XR_OK(xr_client_open(&c, &u));
  assert_whoami(c, "default");
  xr_client_close(c);
}

static void test_url_credentials(void **state) {
  (void)state;
  char url[256];
  xr_client *c = NULL;
  snprintf(url, sizeof url, "redis://%s:%s@127.0.0.1:%d", ACL_USER, ACL_PASS_URL, xrt_server_port(acl_server));
  XR_OK(xr_client_open_url(&c, url, NULL));
  assert_whoami(c, ACL_USER);
  xr_client_close(c);

  snprintf(url, sizeof url, "redis://" ACL_USER ":wrong@127.0.0.1:%d", xrt_server_port(acl_server));
  XR_FAILS(xr_client_open_url(&c, url, NULL), XR_EAUTH, "WRONGPASS");
  assert_null(c);

  /* a password alone, ":pass@" and "pass@", is the default user's */
  snprintf(url, sizeof url, "redis://:" REQUIREPASS "@127.0.0.1:%d/1", xrt_server_port(pass_server));
  XR_OK(xr_client_open_url(&c, url, NULL));
  assert_whoami(c, "default");
  xr_client_close(c);
  snprintf(url, sizeof url, "redis://" REQUIREPASS "@127.0.0.1:%d", xrt_server_port(pass_server));
  XR_OK(xr_client_open_url(&c, url, NULL));
  assert_whoami(c, "default");
  xr_client_close(c);

  snprintf(url, sizeof url, "unix://:" REQUIREPASS "@%s", xrt_server_unix_path(pass_server));
  XR_OK(xr_client_open_url(&c, url, NULL));
  assert_whoami(c, "default");
  xr_client_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_acl_user_right_password),
      cmocka_unit_test(test_acl_user_wrong_password),
      cmocka_unit_test(test_acl_server_without_password),
      cmocka_unit_test(test_requirepass),
      cmocka_unit_test(test_url_credentials),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
