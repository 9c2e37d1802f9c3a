/* Connection URLs: what each part becomes, and a clear XR_EINVAL naming the wrong part. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/client.h"
#include "crossredis/error.h"

static xr_url *parse_ok(const char *s) {
  xr_url *u = NULL;
  int rc = xr_url_parse(&u, s);
  if (rc) fail_msg("%s: %s", s, xr_error_last()->message);
  return u;
}

static void test_redis_full(void **state) {
  (void)state;
  xr_url *u = parse_ok("redis://alice:p%40ss%3Aw@db.example:6380/3?timeout_ms=250&connect_timeout_ms=100&pool_size=4&client_name=bot");
  assert_string_equal(u->host, "db.example");
  assert_int_equal(u->port, 6380);
  assert_string_equal(u->username, "alice");
  assert_string_equal(u->password, "p@ss:w");
  assert_int_equal(u->db, 3);
  assert_int_equal(u->command_timeout_ms, 250);
  assert_int_equal(u->connect_timeout_ms, 100);
  assert_int_equal(u->pool_size, 4);
  assert_string_equal(u->client_name, "bot");
  assert_int_equal(u->tls, 0);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  xr_url_apply(u, &o);
  assert_string_equal(o.host, "db.example");
  assert_int_equal(o.port, 6380);
  assert_int_equal(o.db, 3);
  assert_int_equal(o.command_timeout_ms, 250);
  assert_int_equal(o.pool_size, 4);
  xr_url_free(u);
}

static void test_defaults_and_password_only(void **state) {
  (void)state;
  xr_url *u = parse_ok("redis://:secret@localhost");
  assert_null(u->username);
  assert_string_equal(u->password, "secret");
  assert_int_equal(u->port, 0);
  assert_int_equal(u->db, -1);
  assert_int_equal(u->connect_timeout_ms, -1);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  xr_url_apply(u, &o);
  assert_int_equal(o.port, 6379);
  assert_int_equal(o.connect_timeout_ms, 5000); /* untouched */
  assert_int_equal(o.db, 0);
  xr_url_free(u);
  /* a db the URL names, 0 included, overrides the base options' */
  u = parse_ok("redis://localhost/0");
  assert_int_equal(u->db, 0);
  o.db = 2;
  xr_url_apply(u, &o);
  assert_int_equal(o.db, 0);
  xr_url_free(u);
  u = parse_ok("redis://secret@localhost"); /* a lone userinfo is the password, as redis-py reads it */
  assert_null(u->username);
  assert_string_equal(u->password, "secret");
  xr_url_free(u);
  u = parse_ok("redis://127.0.0.1");
  assert_string_equal(u->host, "127.0.0.1");
  assert_null(u->password);
  xr_url_free(u);
}

static void test_ipv6_tls_unix(void **state) {
  (void)state;
  xr_url *u = parse_ok("rediss://[::1]:6390?ca_file=/tmp/ca.crt&server_name=redis.local&insecure=false");
  assert_string_equal(u->host, "::1");
  assert_int_equal(u->port, 6390);
  assert_int_equal(u->tls, 1);
  assert_string_equal(u->ca_file, "/tmp/ca.crt");
  assert_string_equal(u->server_name, "redis.local");
  assert_int_equal(u->insecure, 0);
  xr_url_free(u);
  u = parse_ok("unix:///run/redis/redis%20x.sock?db=2");
  assert_string_equal(u->unix_path, "/run/redis/redis x.sock");
  assert_int_equal(u->db, 2);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  xr_url_apply(u, &o);
  assert_string_equal(o.unix_path, "/run/redis/redis x.sock");
  xr_url_free(u);
  u = parse_ok("unix://bob:pw@/tmp/r.sock");
  assert_string_equal(u->username, "bob");
  assert_string_equal(u->unix_path, "/tmp/r.sock");
  xr_url_free(u);
}

static void expect_bad(const char *url, const char *part) {
  xr_url *u = (xr_url *)1;
  int rc = xr_url_parse(&u, url);
  if (rc != XR_EINVAL) fail_msg("%s: expected XR_EINVAL, got %s", url, xr_error_name(rc));
  assert_null(u);
  if (!strstr(xr_error_last()->message, part))
    fail_msg("%s: message '%s' does not name '%s'", url, xr_error_last()->message, part);
}

static void test_errors_name_the_part(void **state) {
  (void)state;
  expect_bad("http://localhost", "scheme 'http'");
  expect_bad("localhost:6379", "scheme");
  expect_bad("redis://localhost:70000", "port '70000'");
  expect_bad("redis://localhost:0", "port");
  expect_bad("redis://localhost:63a9", "port");
  expect_bad("redis://localhost/-1", "db '-1'");
  expect_bad("redis://localhost/x", "db 'x'");
  expect_bad("redis://localhost?tiemout_ms=5", "unknown option 'tiemout_ms'");
  expect_bad("redis://localhost?timeout_ms", "no value");
  expect_bad("redis://localhost?ca_file=/x", "rediss://");
  expect_bad("rediss://localhost?insecure=maybe", "insecure");
  expect_bad("redis://a:%zz@localhost", "password");
  expect_bad("redis://a:%00@localhost", "password");
  expect_bad("redis://[::1:6379", "IPv6");
  expect_bad("unix://relative.sock", "absolute");
  expect_bad("redis://localhost?pool_size=0", "pool_size");
}

/* A URL with credentials never has a piece echoed: the password with an unescaped '/', '@' or ':'
 * would otherwise show up as a "bad port" or "bad db". */
static void expect_bad_quiet(const char *url, const char *part, const char *secret) {
  expect_bad(url, part);
  const char *m = xr_error_last()->message;
  if (strstr(m, secret)) fail_msg("%s: message shows the secret: %s", url, m);
}

static void test_errors_never_show_credentials(void **state) {
  (void)state;
  expect_bad_quiet("redis://:pa/ss@localhost:6379", "bad port", "pa");
  expect_bad_quiet("redis://:pa/ss@localhost:6379", "percent-encode", "ss@");
  expect_bad_quiet("redis://user:hunter2@localhost:6379/se@cret", "bad db", "cret");
  expect_bad_quiet("redis://user:hunter2@localhost:9x9/", "bad port", "hunter2");
  expect_bad_quiet("redis://u:p4ss:w0rd@[::1", "IPv6", "p4ss");
  expect_bad_quiet("user:hunter2@host://x", "scheme ''", "hunter2");
  expect_bad_quiet("redis//user:hunter2@host", "scheme", "hunter2");
  expect_bad_quiet("redis://u:pa?ss@localhost:6379", "bad port", "pa");
  expect_bad_quiet("redis://x?Fr4g@h", "has no value", "Fr4g");   /* a lone password with a '?' */
  expect_bad_quiet("redis://x?Fr4g@h=1", "unknown option", "Fr4g");
  /* an option's value may be the tail of such a password (found by fuzz_url) */
  expect_bad_quiet("redis://u:1?timeout_ms=Fr4g@h", "bad timeout_ms", "Fr4g");
  expect_bad_quiet("redis://u:1?db=Fr4g@h", "bad db", "Fr4g");
  expect_bad_quiet("rediss://u:1?insecure=Fr4g@h", "insecure takes true or false", "Fr4g");
  /* without credentials the value is still shown */
  expect_bad("redis://h?timeout_ms=abc", "bad timeout_ms 'abc'");
  expect_bad("rediss://h?insecure=maybe", "not 'maybe'");
}

static void redacts(const char *url, const char *want) {
  char out[256];
  size_t n = xr_url_redact(out, sizeof out, url);
  assert_string_equal(out, want);
  assert_int_equal(n, strlen(want));
}

static void test_redact(void **state) {
  (void)state;
  redacts("redis://user:hunter2@host:6379/0", "redis://user:***@host:6379/0");
  redacts("redis://:hunter2@host", "redis://:***@host");
  redacts("redis://hunter2@host", "redis://:***@host");
  redacts("rediss://u:p%40ss@h:1/2?ca_file=/x&timeout_ms=5", "rediss://u:***@h:1/2?ca_file=/x&timeout_ms=5");
  redacts("redis://u:pa/ss@host:6379", "redis://u:***@host:6379");       /* an unescaped '/' */
  redacts("redis://u:p@ss@host", "redis://u:***@host");                   /* an unescaped '@' */
  redacts("unix://u:pw@/run/redis.sock?db=1", "unix://u:***@/run/redis.sock?db=1");
  redacts("redis://u:pa?ss@host:6379", "redis://u:***@host:6379");   /* an unescaped '?' */
  redacts("redis://host:6379/0?client_name=ab", "redis://host:6379/0?client_name=ab");
  /* an '@' only in the query cannot be told from a password holding '?': hidden, the safe side */
  redacts("redis://host:6379/0?client_name=a@b", "redis://host:***@b");
  redacts("redis://host", "redis://host");
  redacts("u:pw@host", "u:***@host");
  redacts("pw@host", ":***@host");
  /* truncation keeps it NUL-terminated and reports the whole length */
  char small[12];
  assert_int_equal(xr_url_redact(small, sizeof small, "redis://u:pw@host"), strlen("redis://u:***@host"));
  assert_string_equal(small, "redis://u:*");
  assert_int_equal(xr_url_redact(NULL, 0, "redis://u:pw@h"), strlen("redis://u:***@h"));
}

/* What the parser reads as the password, the redaction hides; inputs the fuzzer (fuzz_url) found
 * leaking. `password` is what the parser takes from `url`. */
static void hides_parsed_password(const char *url, const char *password, const char *want) {
  xr_url *u = parse_ok(url);
  assert_non_null(u->password);
  assert_string_equal(u->password, password);
  xr_url_free(u);
  redacts(url, want);
  char out[256];
  xr_url_redact(out, sizeof out, url);
  assert_null(strstr(out, password));
}

static void test_redact_hides_what_the_parser_reads(void **state) {
  (void)state;
  /* unix:// credentials end at the first '@'; a ':' after it is in the socket path, not the user */
  hides_parsed_password("unix://hunter2@/run/a:b@c", "hunter2", "unix://:***@c");
  hides_parsed_password("unix://8\xf5@/edis://\xfc=\xff\xff\xff\xff@", "8\xf5", "unix://:***@");
  /* a '#' is part of the password for the parser, not the start of a fragment */
  hides_parsed_password("redis://u:p#ss@host", "p#ss", "redis://u:***@host");
  hides_parsed_password("redis://:my#secret@host:6379/0?db=1", "my#secret", "redis://:***@host:6379/0?db=1");
  hides_parsed_password("redis://user:pa@ss#word@host", "pa@ss#word", "redis://user:***@host");
  hides_parsed_password("redis://p%40ss%3Aw@db.example:138A#@h:6380", "138A#", "redis://:***@h:6380");
  /* a user that holds an '@' goes too: the first '@' may end the credentials */
  redacts("redis://us@er:pw@host", "redis://:***@host");
  redacts("unix://u:pw@/run/redis.sock", "unix://u:***@/run/redis.sock");
}

static void test_open_url_rediss_needs_tls(void **state) {
  (void)state;
  xr_client *c = (xr_client *)1;
  assert_int_equal(xr_client_open_url(&c, "rediss://127.0.0.1:1", NULL), XR_EINVAL);
  assert_null(c);
  assert_non_null(strstr(xr_error_last()->message, "xr_tls_client_open_url"));
}

static void test_options_checked(void **state) {
  (void)state;
  xr_client *c = NULL;
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.version = 99;
  assert_int_equal(xr_client_open(&c, &o), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "XR_CLIENT_OPTIONS_INIT"));
  xr_client_options o2 = XR_CLIENT_OPTIONS_INIT;
  o2.port = 65536;
  assert_int_equal(xr_client_open(&c, &o2), XR_EINVAL);
  xr_client_options o3 = XR_CLIENT_OPTIONS_INIT;
  o3.username = "alice";
  assert_int_equal(xr_client_open(&c, &o3), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "password"));
}

/* redis+sentinel:// and redis+cluster://: the host list with default ports, the master's name and
 * db from the path, the sentinels' own credentials from the query, and errors naming the part. */
static void test_topology_urls(void **state) {
  (void)state;
  xr_url *u = parse_ok("redis+sentinel://:pw@s1,s2:26380,[::1]/my%20master/2?sentinel_username=sen&sentinel_password=s%26cret"
                       "&sentinel_tls=false&replica_reads=true");
  assert_int_equal(u->topology, XR_TOPOLOGY_SENTINEL);
  assert_string_equal(u->nodes, "s1:26379,s2:26380,[::1]:26379");
  assert_string_equal(u->master_name, "my master");
  assert_int_equal(u->db, 2);
  assert_string_equal(u->password, "pw");
  assert_string_equal(u->sentinel_username, "sen");
  assert_string_equal(u->sentinel_password, "s&cret");
  assert_int_equal(u->sentinel_tls, 0);
  assert_int_equal(u->replica_reads, 1);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  xr_url_apply(u, &o);
  assert_int_equal(o.topology, XR_TOPOLOGY_SENTINEL);
  assert_string_equal(o.nodes, "s1:26379,s2:26380,[::1]:26379");
  assert_string_equal(o.master_name, "my master");
  assert_string_equal(o.sentinel_password, "s&cret");
  assert_int_equal(o.replica_reads, 1);
  assert_int_equal(xr_url_sentinel_tls(u), 0);
  xr_url_free(u);

  u = parse_ok("rediss+sentinel://h:1/m");
  assert_int_equal(u->tls, 1);
  assert_int_equal(xr_url_sentinel_tls(u), 1); /* as the data nodes */
  assert_int_equal(u->db, -1);
  xr_url_free(u);

  u = parse_ok("redis+cluster://n1:7000,n2,n3:7002?max_redirects=5");
  assert_int_equal(u->topology, XR_TOPOLOGY_CLUSTER);
  assert_string_equal(u->nodes, "n1:7000,n2:6379,n3:7002");
  assert_int_equal(u->max_redirects, 5);
  assert_string_equal(u->host, "n1");
  xr_url_free(u);
  u = parse_ok("rediss+cluster://n1:7000/0");
  assert_int_equal(u->tls, 1);
  assert_int_equal(u->db, 0);
  xr_url_free(u);

  struct {
    const char *url, *part;
  } bad[] = {
      {"redis+sentinel://h1,h2", "needs the name of the master as its path"},
      {"redis+sentinel://h1,,h2/m", "an empty host in the host list"},
      {"redis+cluster://h1:99999", "bad port"},
      {"redis+cluster://h1?sentinel_tls=true", "sentinel_* options need the redis+sentinel:// scheme"},
      {"redis://h?replica_reads=maybe", "replica_reads takes true or false"},
      {"redis+cluster://h?max_redirects=0", "max_redirects"},
      {"redis+sentinal://h/m", "unsupported scheme 'redis+sentinal'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    xr_url *x = NULL;
    int rc = xr_url_parse(&x, bad[i].url);
    if (rc != XR_EINVAL) fail_msg("%s: %d", bad[i].url, rc);
    if (!strstr(xr_error_last()->message, bad[i].part))
      fail_msg("%s: message \"%s\" lacks \"%s\"", bad[i].url, xr_error_last()->message, bad[i].part);
    assert_null(x);
  }
  /* a sentinel password with an unescaped '&' never shows in a message */
  xr_url *x = NULL;
  assert_int_equal(xr_url_parse(&x, "redis+sentinel://h/m?sentinel_password=ab&cdefgh"), XR_EINVAL);
  assert_null(strstr(xr_error_last()->message, "cdefgh"));
  char out[256];
  xr_url_redact(out, sizeof out, "redis+sentinel://u:pw@h/m?sentinel_password=topsecret&replica_reads=true");
  assert_string_equal(out, "redis+sentinel://u:***@h/m?sentinel_password=***&replica_reads=true");
  xr_url_redact(out, sizeof out, "redis+sentinel://h/m?sentinel_password=topsecret");
  assert_string_equal(out, "redis+sentinel://h/m?sentinel_password=***");
  /* found by fuzz_url: a sentinel password holding an '@' is hidden before the user's password
   * is looked for (else the '@' in it ends "the user's password" and a second redaction differs) */
  const char *tricky = "redis+sentinel://u:pw@h/m?sentinel_password=a@b&x=1";
  char twice[256];
  xr_url_redact(out, sizeof out, tricky);
  assert_string_equal(out, "redis+sentinel://u:***@h/m?sentinel_password=***&x=1");
  xr_url_redact(twice, sizeof twice, out);
  assert_string_equal(twice, out);
  /* and no message quotes a piece of a URL with credentials (the master's name missing) */
  assert_int_equal(xr_url_parse(&x, "redis+sentinel://_name=a@b"), XR_EINVAL);
  assert_null(strchr(xr_error_last()->message, '\''));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_redis_full),
      cmocka_unit_test(test_defaults_and_password_only),
      cmocka_unit_test(test_ipv6_tls_unix),
      cmocka_unit_test(test_errors_name_the_part),
      cmocka_unit_test(test_errors_never_show_credentials),
      cmocka_unit_test(test_redact),
      cmocka_unit_test(test_redact_hides_what_the_parser_reads),
      cmocka_unit_test(test_open_url_rediss_needs_tls),
      cmocka_unit_test(test_options_checked),
      cmocka_unit_test(test_topology_urls),
  };
  return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}
