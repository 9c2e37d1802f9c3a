/* crossredis sessions against a real redis-server: records of every type written by the core's
 * session store (toolhive's bytes), a malformed record and a key of another kind named with the
 * reason, owners, TTLs and ages in the table and the JSON, a prefix toolhive refuses, every master
 * of a Cluster, progress on 12,000 sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "itest.h"
#include "clitest.h"
#include "crossredis/session.h"
#include "topology.h"

static xrt_server *server;
static xr_client *chk;
static char url[128];

static int group_setup(void **state) { return (void)state, clitest_open_checker(&server, &chk, url, sizeof url); }
static int group_teardown(void **state) { return (void)state, itest_close_with_checker(server, chk), 0; }

static const char OWNER[] = "https://issuer\0subject-42"; /* issuer NUL subject, as toolhive binds */
#define OWNER_LEN (sizeof OWNER - 1)

static void store(xr_client *c, const char *prefix, const char *id, const char *type, const char *owner,
                  size_t owner_len) {
  xr_session_options o = XR_SESSION_OPTIONS_INIT;
  o.key_prefix = prefix;
  xr_session_storage *st;
  XR_OK(xr_session_storage_new(&st, c, &o));
  xr_session_pair meta[] = {{XR_SESSION_BINDING_KEY, strlen(XR_SESSION_BINDING_KEY), owner, owner_len}};
  xr_session s = {id, strlen(id), type, strlen(type), xr_time_now(), xr_time_now(), NULL, 0, meta, owner ? 1 : 0};
  s.created_at.sec -= 90; /* ninety seconds old */
  XR_OK(xr_session_store(st, &s));
  xr_session_storage_free(st);
}


static void fill(const char *prefix) {
  store(chk, prefix, "s-sse", "sse", OWNER, OWNER_LEN);
  store(chk, prefix, "s-stream", "streamable", NULL, 0);
  store(chk, prefix, "s-mcp", "mcp", NULL, 0);
  store(chk, prefix, "s-mcp2", "mcp", NULL, 0);
  char key[256];
  snprintf(key, sizeof key, "%sbroken", prefix);
  XR_OK(itest_cmd(chk, NULL, "SET", key, "{bad", NULL));
  snprintf(key, sizeof key, "%slist", prefix);
  XR_OK(itest_cmd(chk, NULL, "RPUSH", key, "x", NULL));
}

static void test_table(void **state) {
  (void)state;
  fill("thv:proxy:session:");
  clitest_result r;
  clitest_run(&r, NULL, "sessions", "--url", url, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "\n4 sessions: 2 mcp, 1 sse, 1 streamable; 2 malformed\n");
  CLITEST_HAS(&r, out, "https://issuer\\x00subject-42");
  CLITEST_HAS(&r, out, "invalid character 'b' looking for beginning of object key string");
  CLITEST_HAS(&r, out, "not a string (WRONGTYPE)");
  CLITEST_HAS(&r, out, "7200.0 s");
  clitest_result_free(&r);
}

static void test_json(void **state) {
  (void)state;
  fill("thv:proxy:session:");
  clitest_result r;
  clitest_run(&r, NULL, "sessions", "--url", url, "--json", NULL);
  CLITEST_STATUS(&r, 0);
  json_error_t e;
  json_t *j = json_loads(r.out, JSON_ALLOW_NUL, &e);
  if (!j) fail_msg("sessions --json printed no JSON (%s): %s", e.text, r.out);
  json_t *list = json_object_get(j, "sessions"), *bad = json_object_get(j, "malformed");
  assert_int_equal(json_array_size(list), 4);
  assert_int_equal(json_array_size(bad), 2);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "by_type"), "mcp")), 2);
  int owners = 0;
  for (size_t i = 0; i < json_array_size(list); i++) {
    json_t *s = json_array_get(list, i);
    json_int_t age = json_integer_value(json_object_get(s, "age_ms")), ttl = json_integer_value(json_object_get(s, "ttl_ms"));
    if (age < 89000 || age > 200000) fail_msg("age_ms %lld, not about 90 s", (long long)age);
    assert_true(ttl > 7000000 && ttl <= 7200000);
    const char *owner = json_string_value(json_object_get(s, "owner"));
    if (owner) {
      owners++;
      assert_int_equal(json_string_length(json_object_get(s, "owner")), OWNER_LEN);
      assert_memory_equal(owner, OWNER, OWNER_LEN);
    }
  }
  assert_int_equal(owners, 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(bad, 0), "id")), "broken");
  json_decref(j);
  clitest_result_free(&r);
}

static void test_bad_prefix_and_none(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "sessions", "--url", url, "--prefix", "thv:proxy:session", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "key prefix must end with ':'");
  clitest_result_free(&r);
  clitest_run(&r, NULL, "sessions", "--url", url, "--prefix", "thv:none*[x]:", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "no session under thv:none*[x]:");
  clitest_result_free(&r);
  clitest_run(&r, NULL, "sessions", "--url", url, "--go", "1.25", NULL);
  CLITEST_STATUS(&r, 2);
  clitest_result_free(&r);
}

/* 12,000 sessions: progress on stderr, every one counted. */
static void test_progress(void **state) {
  (void)state;
  xr_session_options o = XR_SESSION_OPTIONS_INIT;
  o.key_prefix = "many:";
  xr_session_storage *st;
  XR_OK(xr_session_storage_new(&st, chk, &o));
  xr_session_batch *b;
  XR_OK(xr_session_batch_new(&b, st));
  for (int i = 0; i < 12000; i++) {
    char json[160];
    int n = snprintf(json, sizeof json, "{\"id\":\"m-%d\",\"type\":\"sse\",\"created_at\":\"2026-01-01T00:00:00Z\"}", i);
    assert_true(xr_session_batch_store(b, json, (size_t)n) >= 0);
    if (xr_session_batch_count(b) == 1000) {
      XR_OK(xr_session_batch_exec(b));
      xr_session_batch_clear(b);
    }
  }
  xr_session_batch_free(b);
  xr_session_storage_free(st);
  clitest_result r;
  clitest_run(&r, NULL, "sessions", "--url", url, "--prefix", "many:", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, err, " keys scanned, ");
  CLITEST_HAS(&r, out, "\n12000 sessions: 12000 sse\n");
  clitest_result_free(&r);
}

/* On a Cluster (the shared one, else its own): every master is scanned. */
static void test_cluster_every_master(void **state) {
  (void)state;
  char curl[512];
  xrt_topology *t;
  xr_client *c;
  CLITEST_CLUSTER(t, c, curl);
  char prefix[64], id[32];
  snprintf(prefix, sizeof prefix, "cli-sessions-%d:", (int)getpid());
  for (int i = 0; i < 12; i++) { /* twelve ids: their slots fall on every master */
    snprintf(id, sizeof id, "sid-%d", i);
    store(c, prefix, id, "streamable", NULL, 0);
  }
  clitest_result r;
  clitest_run(&r, NULL, "sessions", "--url", curl, "--prefix", prefix, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "\n12 sessions: 12 streamable\n");
  clitest_result_free(&r);
  for (int i = 0; i < 12; i++) {
    char key[128];
    snprintf(key, sizeof key, "%ssid-%d", prefix, i);
    XR_OK(itest_cmd(c, NULL, "DEL", key, NULL));
  }
  xr_client_close(c);
  xrt_topology_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_json),
      cmocka_unit_test(test_bad_prefix_and_none),
      cmocka_unit_test(test_progress),
      cmocka_unit_test(test_cluster_every_master),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
