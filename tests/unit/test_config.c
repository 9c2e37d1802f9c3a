/* The client configuration (config.h): the option table, each setter's checks and messages (the
 * words Python and Node pass on), what wins between defaults, the URL and the options set, and
 * when TLS is asked for. No server: opening is covered by the bindings' tests and test_tls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/config.h"
#include "crossredis/error.h"
#include "crossredis/tls.h"

static xr_client_config *make(void) {
  xr_client_config *c = NULL;
  assert_int_equal(xr_client_config_new(&c), 0);
  assert_non_null(c);
  return c;
}

static void expect(int rc, int code, const char *message) {
  assert_int_equal(rc, code);
  assert_string_equal(xr_error_last()->message, message);
}

static int set_text(xr_client_config *c, const char *name, const char *value) {
  return xr_client_config_set_text(c, name, value, strlen(value));
}

static void test_the_table(void **state) {
  (void)state;
  size_t n = 0, secrets = 0;
  for (const xr_client_option_info *row; (row = xr_client_option_info_at(n)) != NULL; n++) {
    assert_non_null(row->name);
    assert_non_null(row->node_name);
    assert_true(row->doc[0] != '\0');
    if (row->kind == XR_OPTION_SECRET) secrets++;
    if (row->kind == XR_OPTION_INTEGER) assert_true(row->min <= row->max);
    else assert_true(row->min == 0 && row->max == 0);
  }
  assert_int_equal(n, 24);
  assert_int_equal(secrets, 3); /* password, key_pem, sentinel_password */
  assert_string_equal(xr_client_option_info_at(0)->name, "url");
  const xr_client_option_info *pool = xr_client_option_info_at(3);
  assert_string_equal(pool->name, "pool_size");
  assert_string_equal(pool->node_name, "poolSize");
  assert_int_equal(pool->kind, XR_OPTION_INTEGER);
  assert_true(pool->min == 1 && pool->max == 4096);
  const xr_client_option_info *key = xr_client_option_info_at(13);
  assert_string_equal(key->name, "key_pem");
  assert_string_equal(key->node_name, "tls.keyPem");
  assert_int_equal(key->kind, XR_OPTION_SECRET);
  assert_string_equal(xr_client_option_info_at(16)->name, "sentinels");
  assert_null(xr_client_option_info_at(24));
}

static void test_names_and_kinds(void **state) {
  (void)state;
  xr_client_config *c = make();
  expect(set_text(c, "pasword", "x"), XR_EINVAL, "unknown option pasword");
  expect(xr_client_config_set_integer(c, "poolSize", 2), XR_EINVAL, "unknown option poolSize"); /* Node's spelling */
  expect(xr_client_config_set_integer(c, "password", 2), XR_EINVAL,
         "password is set with xr_client_config_set_text, not xr_client_config_set_integer");
  expect(set_text(c, "db", "2"), XR_EINVAL, "db is set with xr_client_config_set_integer, not xr_client_config_set_text");
  expect(xr_client_config_set_boolean(c, "url", true), XR_EINVAL,
         "url is set with xr_client_config_set_text, not xr_client_config_set_boolean");
  assert_int_equal(xr_client_config_set_text(NULL, "url", "", 0), XR_EINVAL);
  assert_int_equal(xr_client_config_set_text(c, NULL, "", 0), XR_EINVAL);
  xr_client_config_free(c);
  xr_client_config_free(NULL);
}

static void test_texts_c_cannot_hold(void **state) {
  (void)state;
  xr_client_config *c = make();
  expect(xr_client_config_set_text(c, "password", "se\0cret", 7), XR_EINVAL, "password: contains NUL (U+0000) at index 2");
  /* the index counts characters: "é" is two bytes, one character */
  expect(xr_client_config_set_text(c, "client_name", "\xc3\xa9\0", 3), XR_EINVAL,
         "client_name: contains NUL (U+0000) at index 1");
  /* WTF-8 of "a\ud800b" (a Python or JS string with a lone surrogate) */
  expect(set_text(c, "ca_file", "a\xed\xa0\x80" "b"), XR_EINVAL,
         "ca_file: not valid Unicode (a lone surrogate U+D800 at index 1)");
  expect(set_text(c, "key_pem", "\xf0\x9f\x98\x80\xed\xbf\xbf"), XR_EINVAL,
         "key_pem: not valid Unicode (a lone surrogate U+DFFF at index 1)");
  /* a pair written as one character is fine, and so are bytes that are not UTF-8 (C paths) */
  assert_int_equal(set_text(c, "client_name", "emoji \xf0\x9f\x98\x80"), 0);
  assert_int_equal(set_text(c, "ca_file", "/tmp/\xff\xfe.pem"), 0);
  assert_int_equal(xr_client_config_set_text(c, "username", "", 0), 0);
  xr_client_config_free(c);
}

static void test_integers_within_their_rows(void **state) {
  (void)state;
  xr_client_config *c = make();
  expect(xr_client_config_set_integer(c, "db", -1), XR_ERANGE, "db must be >= 0, got -1");
  expect(xr_client_config_set_integer(c, "pool_size", 0), XR_ERANGE, "pool_size must be >= 1, got 0");
  expect(xr_client_config_set_integer(c, "pool_size", 5000), XR_ERANGE, "pool_size must be at most 4096, got 5000");
  expect(xr_client_config_set_integer(c, "connect_timeout_ms", INT64_C(2147483648)), XR_ERANGE,
         "connect_timeout_ms must be at most 2147483647, got 2147483648");
  expect(xr_client_config_set_integer(c, "command_timeout_ms", INT64_MIN), XR_ERANGE,
         "command_timeout_ms must be >= 0, got -9223372036854775808");
  assert_int_equal(xr_client_config_set_integer(c, "pool_size", 4096), 0);
  assert_int_equal(xr_client_config_set_integer(c, "db", 2147483647), 0);
  assert_int_equal(xr_client_config_set_integer(c, "connect_timeout_ms", 0), 0);
  xr_client_options o;
  assert_int_equal(xr_client_config_resolve(c, &o, NULL), 0);
  assert_int_equal(o.pool_size, 4096);
  assert_int_equal(o.db, 2147483647);
  assert_int_equal(o.connect_timeout_ms, 0);
  xr_client_config_free(c);
}

static void test_url_parsed_when_set(void **state) {
  (void)state;
  xr_client_config *c = make();
  assert_int_equal(set_text(c, "url", "redis://h:7000/1"), 0);
  assert_int_equal(set_text(c, "url", "redis://h:99999"), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "URL: bad port"));
  assert_int_equal(set_text(c, "url", "redis://u:p4ss/w0rd@h:1"), XR_EINVAL);
  assert_null(strstr(xr_error_last()->message, "p4ss"));
  assert_null(strstr(xr_error_last()->message, "w0rd"));
  assert_int_equal(set_text(c, "url", "redis://h:1?pool_size=0"), XR_EINVAL); /* the row's limits, in the URL too */
  assert_non_null(strstr(xr_error_last()->message, "expected 1..4096"));
  xr_client_options o;
  assert_int_equal(xr_client_config_resolve(c, &o, NULL), 0); /* the refused URLs left the first one */
  assert_string_equal(o.host, "h");
  assert_int_equal(o.port, 7000);
  assert_int_equal(o.db, 1);
  xr_client_config_free(c);
}

static void test_defaults_url_then_options(void **state) {
  (void)state;
  xr_client_config *c = make();
  xr_client_options o;
  assert_int_equal(xr_client_config_resolve(c, &o, NULL), 0);
  const xr_client_options d = XR_CLIENT_OPTIONS_INIT;
  assert_null(o.host);
  assert_int_equal(o.port, d.port);
  assert_int_equal(o.connect_timeout_ms, d.connect_timeout_ms);
  assert_int_equal(o.command_timeout_ms, d.command_timeout_ms);
  assert_int_equal(o.pool_size, d.pool_size);

  assert_int_equal(set_text(c, "url", "redis://alice:pw@db.example:6380/3?timeout_ms=250&pool_size=4&client_name=u"), 0);
  assert_int_equal(xr_client_config_set_integer(c, "db", 5), 0);
  assert_int_equal(set_text(c, "password", "other"), 0);
  assert_int_equal(xr_client_config_set_integer(c, "connect_timeout_ms", 100), 0);
  xr_tls_options t;
  assert_int_equal(xr_client_config_resolve(c, &o, &t), 0);
  assert_string_equal(o.host, "db.example");
  assert_int_equal(o.port, 6380);
  assert_string_equal(o.username, "alice");
  assert_string_equal(o.password, "other");
  assert_int_equal(o.db, 5);
  assert_int_equal(o.command_timeout_ms, 250);
  assert_int_equal(o.connect_timeout_ms, 100);
  assert_int_equal(o.pool_size, 4);
  assert_string_equal(o.client_name, "u");
  assert_null(o.tls);
  assert_null(t.ca_file);
  xr_client_config_free(c);
}

static void test_when_tls_is_asked_for(void **state) {
  (void)state;
  xr_client_options o;
  xr_tls_options t;
  /* insecure false: TLS, verified (the system's CAs) */
  xr_client_config *c = make();
  assert_int_equal(set_text(c, "url", "redis://h:1"), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, &t), 0);
  assert_int_equal(xr_client_config_set_boolean(c, "insecure", false), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, &t), 1);
  assert_int_equal(t.version, XR_TLS_OPTIONS_VERSION);
  assert_int_equal(t.insecure, 0);
  assert_null(t.ca_file);
  expect(xr_client_open_config(&(xr_client *){NULL}, c), XR_EUNSUPPORTED,
         "TLS is asked for (a rediss:// URL or a TLS option) but this is the core without TLS: open with "
         "xr_tls_client_open_config (crossredis_tls)");
  xr_client_config_free(c);

  /* rediss://: the URL's TLS options, an option set winning over each, ca_pem over any ca_file */
  c = make();
  assert_int_equal(set_text(c, "url", "rediss://h:1?ca_file=/u/ca.pem&server_name=from-url&insecure=true&cert_file=/u/c.pem&key_file=/u/k.pem"), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, &t), 1);
  assert_string_equal(t.ca_file, "/u/ca.pem");
  assert_string_equal(t.server_name, "from-url");
  assert_int_equal(t.insecure, 1);
  assert_string_equal(t.cert_file, "/u/c.pem");
  assert_int_equal(set_text(c, "server_name", "given"), 0);
  assert_int_equal(xr_client_config_set_boolean(c, "insecure", false), 0);
  assert_int_equal(set_text(c, "ca_pem", "-----BEGIN CERTIFICATE-----"), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, &t), 1);
  assert_null(t.ca_file);
  assert_string_equal(t.ca_pem, "-----BEGIN CERTIFICATE-----");
  assert_string_equal(t.server_name, "given");
  assert_int_equal(t.insecure, 0);
  assert_string_equal(t.key_file, "/u/k.pem");
  xr_client_config_free(c);

  /* any TLS option alone asks for it, on the default address */
  c = make();
  assert_int_equal(set_text(c, "key_pem", "k"), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, &t), 1);
  assert_string_equal(t.key_pem, "k");
  assert_int_equal(o.port, 6379);
  xr_client_config_free(c);
}

/* sentinels / cluster_nodes choose the topology; sentinel options belong to a Sentinel; TLS goes
 * to the data nodes and the sentinels as the options and URL say. */
static void test_topologies(void **state) {
  (void)state;
  xr_client_options o;
  xr_tls_options t;
  xr_client_config *c = make();
  assert_int_equal(xr_client_config_set_text(c, "cluster_nodes", "a:7000,b:7001", 13), 0);
  assert_int_equal(xr_client_config_set_integer(c, "max_redirects", 3), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, NULL), 0);
  assert_int_equal(o.topology, XR_TOPOLOGY_CLUSTER);
  assert_string_equal(o.nodes, "a:7000,b:7001");
  assert_int_equal(o.max_redirects, 3);
  assert_int_equal(xr_client_config_set_text(c, "sentinels", "s:1", 3), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, NULL), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "sentinels and cluster_nodes are both set"));
  xr_client_config_free(c);

  c = make();
  assert_int_equal(xr_client_config_set_text(c, "master_name", "m", 1), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, NULL), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "master_name is for a Sentinel"));
  assert_int_equal(xr_client_config_set_text(c, "sentinels", "s1,s2:26380", 11), 0);
  assert_int_equal(xr_client_config_set_text(c, "sentinel_password", "spw", 3), 0);
  assert_int_equal(xr_client_config_set_boolean(c, "replica_reads", true), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, &t), 0);
  assert_int_equal(o.topology, XR_TOPOLOGY_SENTINEL);
  assert_string_equal(o.master_name, "m");
  assert_string_equal(o.sentinel_password, "spw");
  assert_int_equal(o.replica_reads, 1);
  /* a TLS option: both; sentinel_tls false: the data nodes alone */
  assert_int_equal(xr_client_config_set_text(c, "ca_file", "/ca.pem", 7), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, &t), XR_CONFIG_TLS_NODES | XR_CONFIG_TLS_SENTINELS);
  assert_int_equal(xr_client_config_set_boolean(c, "sentinel_tls", false), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, &t), XR_CONFIG_TLS_NODES);
  xr_client_config_free(c);

  /* a plain redis+sentinel:// url with sentinel_tls=true: the TLS options are the sentinels' */
  c = make();
  const char *url = "redis+sentinel://s1/m?sentinel_tls=true&ca_file=/ca.pem";
  assert_int_equal(xr_client_config_set_text(c, "url", url, strlen(url)), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, &t), XR_CONFIG_TLS_SENTINELS);
  assert_string_equal(t.ca_file, "/ca.pem");
  xr_client_config_free(c);
  c = make();
  assert_int_equal(xr_client_config_set_boolean(c, "sentinel_tls", true), 0);
  assert_int_equal(xr_client_config_resolve(c, &o, NULL), XR_EINVAL);
  assert_non_null(strstr(xr_error_last()->message, "sentinel_tls is for a Sentinel"));
  xr_client_config_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_table),
      cmocka_unit_test(test_names_and_kinds),
      cmocka_unit_test(test_texts_c_cannot_hold),
      cmocka_unit_test(test_integers_within_their_rows),
      cmocka_unit_test(test_url_parsed_when_set),
      cmocka_unit_test(test_defaults_url_then_options),
      cmocka_unit_test(test_when_tls_is_asked_for),
      cmocka_unit_test(test_topologies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
