/* crossredis locks against a real redis-server: locks written with the tokens of every runtime
 * (TS node-redis and ioredis shapes, the Python port's hex shape, a crossredis token made by the
 * core, an unknown one), their origins and TTLs in the JSON and the table, prefixes with glob
 * characters, and progress on a keyspace of 25,000 locks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "itest.h"
#include "clitest.h"
#include "crossredis/chat.h"
#include "crossredis/token.h"
#include "topology.h"

static xrt_server *server;
static xr_client *chk;
static char url[128];

static const char TS_TOKEN[] = "redis_1700000000000_abc123xyz4";
static const char IO_TOKEN[] = "ioredis_1700000000123_k3j4h5g6f7a";
static const char PY_TOKEN[] = "redis_1700000000456_0123456789abcdef0123456789abcdee";
/* The Python port's shape with the two last characters that pass crossredis's check: what the
 * port writes once in 256 tokens and crossredis always; its shape cannot tell which. */
static const char PY_PASSING[] = "redis_1795298445478_1e5da04afffc52455cb070715847408b";

static int group_setup(void **state) { return (void)state, clitest_open_checker(&server, &chk, url, sizeof url); }

static int group_teardown(void **state) { return (void)state, itest_close_with_checker(server, chk), 0; }

static void set_lock(const char *key, const char *token, const char *px) {
  if (px)
    XR_OK(itest_cmd(chk, NULL, "SET", key, token, "PX", px, NULL));
  else
    XR_OK(itest_cmd(chk, NULL, "SET", key, token, NULL));
}

static json_t *run_json(const char *prefix) {
  clitest_result r;
  clitest_run(&r, NULL, "locks", "--url", url, "--prefix", prefix, "--json", NULL);
  CLITEST_STATUS(&r, 0);
  json_error_t e;
  json_t *j = json_loads(r.out, 0, &e);
  if (!j) fail_msg("locks --json printed no JSON (%s): %s", e.text, r.out);
  clitest_result_free(&r);
  return j;
}

static const char *str(const json_t *o, const char *name) {
  const char *s = json_string_value(json_object_get(o, name));
  if (!s) fail_msg("member %s is not a string", name);
  return s;
}

/* Five locks under one prefix, plus keys that are not locks. */
static char crossredis_token[XR_TOKEN_MAX];

static void write_mixed_locks(const char *prefix) {
  char key[256];
  snprintf(key, sizeof key, "%s:lock:slack:C1:1700000000.000100", prefix);
  set_lock(key, TS_TOKEN, "30000");
  snprintf(key, sizeof key, "%s:lock:slack:C2:1700000000.000200", prefix);
  set_lock(key, IO_TOKEN, "20000");
  snprintf(key, sizeof key, "%s:lock:discord:9", prefix);
  set_lock(key, PY_TOKEN, "10000");
  snprintf(key, sizeof key, "%s:lock:discord:8", prefix);
  set_lock(key, PY_PASSING, "10000");
  snprintf(key, sizeof key, "%s:lock:teams:z", prefix);
  set_lock(key, "something-else", NULL);
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = prefix;
  xr_chat *chat = NULL;
  XR_OK(xr_chat_new(&chat, chk, &o));
  bool got = false;
  xr_chat_lock lock;
  XR_OK(xr_chat_acquire_lock(chat, &got, &lock, "gchat:spaces/A", 14, 25000));
  assert_true(got);
  snprintf(crossredis_token, sizeof crossredis_token, "%s", lock.token);
  /* Not locks: other kinds of Chat SDK state under the same prefix. */
  XR_OK(xr_chat_set(chat, "lock:x", 6, "1", 1, 0)); /* <prefix>:cache:lock:x */
  XR_OK(xr_chat_subscribe(chat, "slack:C1:1700000000.000100", 26));
  xr_chat_free(chat);
}

static void test_json_origins_and_ttls(void **state) {
  (void)state;
  /* The Python-shaped token must not pass crossredis's check by chance, or the test means less. */
  assert_int_equal(xr_chat_origin_of(NULL, PY_TOKEN, strlen(PY_TOKEN)), XR_CHAT_ORIGIN_PYTHON_REDIS);
  write_mixed_locks("cli-mixed");
  json_t *j = run_json("cli-mixed");
  assert_string_equal(str(j, "prefix"), "cli-mixed");
  json_t *locks = json_object_get(j, "locks");
  assert_int_equal(json_array_size(locks), 6);
  static const struct {
    const char *thread, *origin, *origins, *shape;
    long long ttl_max; /* 0: no TTL (-1) */
  } want[] = {
      /* sorted by thread id */
      {"discord:8", "crossredis", "[\"crossredis\",\"python-redis\"]", "python-redis", 10000},
      {"discord:9", "python-redis", "[\"python-redis\"]", "python-redis", 10000},
      {"gchat:spaces/A", "crossredis", "[\"crossredis\",\"ts-node-redis\"]", "ts-node-redis", 25000},
      {"slack:C1:1700000000.000100", "ts-node-redis", "[\"ts-node-redis\"]", "ts-node-redis", 30000},
      {"slack:C2:1700000000.000200", "ts-ioredis", "[\"ts-ioredis\"]", "ts-ioredis", 20000},
      {"teams:z", "unknown", "[\"unknown\"]", "unknown", 0},
  };
  const char *tokens[] = {PY_PASSING, PY_TOKEN, crossredis_token, TS_TOKEN, IO_TOKEN, "something-else"};
  for (size_t i = 0; i < 6; i++) {
    json_t *l = json_array_get(locks, i);
    assert_string_equal(str(l, "thread"), want[i].thread);
    char key[256];
    snprintf(key, sizeof key, "cli-mixed:lock:%s", want[i].thread);
    assert_string_equal(str(l, "key"), key);
    assert_string_equal(str(l, "token"), tokens[i]);
    assert_string_equal(str(l, "origin"), want[i].origin);
    assert_string_equal(str(l, "shape"), want[i].shape);
    char *origins = json_dumps(json_object_get(l, "origins"), JSON_COMPACT);
    assert_string_equal(origins, want[i].origins);
    free(origins);
    /* certain: exactly one writer may have made it */
    assert_true(json_is_boolean(json_object_get(l, "certain")));
    assert_int_equal(json_is_true(json_object_get(l, "certain")), strchr(want[i].origins, ',') == NULL);
    json_int_t ttl = json_integer_value(json_object_get(l, "ttl_ms"));
    if (want[i].ttl_max == 0) {
      assert_int_equal(ttl, -1);
    } else {
      assert_true(ttl > 0);
      assert_true(ttl <= want[i].ttl_max);
    }
  }
  /* counted by what the shapes can tell, in the summary's order */
  char *by = json_dumps(json_object_get(j, "by_origin"), JSON_COMPACT);
  assert_string_equal(by, "{\"ts-node-redis\":1,\"ts-ioredis\":1,\"python-redis\":1,\"crossredis or ts-node-redis\":1,"
                          "\"crossredis or python-redis\":1,\"unknown\":1}");
  free(by);
  json_decref(j);

  /* Read-only: every lock is still there with its token. */
  itest_assert_get(chk, "cli-mixed:lock:slack:C1:1700000000.000100", TS_TOKEN);
  itest_assert_get(chk, "cli-mixed:lock:teams:z", "something-else");
}

static void test_table(void **state) {
  (void)state;
  write_mixed_locks("cli-table");
  clitest_result r;
  clitest_run(&r, NULL, "locks", "--url", url, "--prefix", "cli-table", NULL);
  CLITEST_STATUS(&r, 0);
  /* header, six rows in thread order, a blank line, the summary */
  const char *lines[9] = {0};
  size_t n = 0;
  for (char *p = r.out; *p && n < 9; p = strchr(p, '\n') + 1) {
    lines[n++] = p;
    if (!strchr(p, '\n')) break;
  }
  assert_int_equal(n, 9);
  assert_true(strncmp(lines[0], "thread ", 7) == 0);
  CLITEST_HAS(&r, out, "ttl ms  origin");
  const char *order[] = {"discord:8 ", "discord:9 ", "gchat:spaces/A ", "slack:C1:1700000000.000100 ",
                         "slack:C2:1700000000.000200 ", "teams:z "};
  for (size_t i = 0; i < 6; i++)
    if (strncmp(lines[1 + i], order[i], strlen(order[i])) != 0) fail_msg("row %zu is not %s:\n%s", i, order[i], r.out);
  char row[256];
  snprintf(row, sizeof row, "  python-redis                 %s\n", PY_TOKEN);
  CLITEST_HAS(&r, out, row);
  snprintf(row, sizeof row, "  crossredis or python-redis   %s\n", PY_PASSING);
  CLITEST_HAS(&r, out, row);
  snprintf(row, sizeof row, "  crossredis or ts-node-redis  %s\n", crossredis_token);
  CLITEST_HAS(&r, out, row);
  CLITEST_HAS(&r, out, "none  unknown                      something-else\n");
  assert_true(strncmp(lines[7], "\n", 1) == 0);
  assert_string_equal(lines[8], "6 locks: 1 ts-node-redis, 1 ts-ioredis, 1 python-redis, 1 crossredis or ts-node-redis, "
                                "1 crossredis or python-redis, 1 unknown\n");
  assert_string_equal(r.err, "");
  clitest_result_free(&r);
}

static void test_no_locks(void **state) {
  (void)state;
  clitest_result r;
  clitest_run(&r, NULL, "locks", "--url", url, "--prefix", "cli-none", NULL);
  CLITEST_STATUS(&r, 0);
  assert_string_equal(r.out, "no lock under cli-none:lock:\n");
  clitest_result_free(&r);
  json_t *j = run_json("cli-none");
  assert_int_equal(json_array_size(json_object_get(j, "locks")), 0);
  assert_int_equal(json_object_size(json_object_get(j, "by_origin")), 0);
  json_decref(j);
}

/* A prefix with glob characters lists its own locks only: unescaped, "g*[x]?" would also match
 * the locks of "gabcxZ", and "b\\s" (a backslash) those of "bs". */
static void test_glob_characters_in_prefix(void **state) {
  (void)state;
  set_lock("g*[x]?:lock:mine", TS_TOKEN, "30000");
  set_lock("gabcxZ:lock:theirs", IO_TOKEN, "30000");
  set_lock("g*[x]?x:lock:longer-prefix", IO_TOKEN, "30000");
  json_t *j = run_json("g*[x]?");
  json_t *locks = json_object_get(j, "locks");
  assert_int_equal(json_array_size(locks), 1);
  assert_string_equal(str(json_array_get(locks, 0), "key"), "g*[x]?:lock:mine");
  assert_string_equal(str(json_array_get(locks, 0), "thread"), "mine");
  json_decref(j);

  set_lock("b\\s:lock:mine", TS_TOKEN, "30000");
  set_lock("bs:lock:theirs", TS_TOKEN, "30000");
  j = run_json("b\\s");
  locks = json_object_get(j, "locks");
  assert_int_equal(json_array_size(locks), 1);
  assert_string_equal(str(json_array_get(locks, 0), "key"), "b\\s:lock:mine");
  json_decref(j);
}

/* Thread ids are bytes: the table escapes what a terminal cannot show, the JSON stays valid. */
static void test_binary_thread_ids(void **state) {
  (void)state;
  static const char key[] = "cli-bin:lock:t\x01\xff\xc3\xa9";
  const char *argv[] = {"SET", key, TS_TOKEN};
  XR_OK(xr_client_command(chk, NULL, 3, argv, NULL));
  clitest_result r;
  clitest_run(&r, NULL, "locks", "--url", url, "--prefix", "cli-bin", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "t\\x01\\xff\xc3\xa9 ");
  clitest_result_free(&r);
  json_t *j = run_json("cli-bin");
  json_t *l = json_array_get(json_object_get(j, "locks"), 0);
  assert_string_equal(str(l, "thread"), "t\x01\xef\xbf\xbd\xc3\xa9");
  /* the exact bytes, which address the real key, in base64 (only for bytes that are not UTF-8) */
  assert_string_equal(str(l, "key_b64"), "Y2xpLWJpbjpsb2NrOnQB/8Op");
  assert_string_equal(str(l, "thread_b64"), "dAH/w6k=");
  assert_null(json_object_get(l, "token_b64"));
  json_decref(j);

  /* a token that is not UTF-8 (no upstream writer's), and a UTF-8 key: no key_b64 */
  static const char key2[] = "cli-bin2:lock:caf\xc3\xa9";
  const char *argv2[] = {"SET", key2, "tok\xfe\x80"};
  XR_OK(xr_client_command(chk, NULL, 3, argv2, NULL));
  j = run_json("cli-bin2");
  l = json_array_get(json_object_get(j, "locks"), 0);
  assert_string_equal(str(l, "thread"), "caf\xc3\xa9");
  assert_null(json_object_get(l, "key_b64"));
  assert_null(json_object_get(l, "thread_b64"));
  assert_string_equal(str(l, "token_b64"), "dG9r/oA=");
  json_decref(j);
}

/* A key under <prefix>:lock: that is not a string is not a lock: skipped with a warning. */
static void test_non_string_key_skipped(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "RPUSH", "cli-wt:lock:a-list", "x", NULL));
  set_lock("cli-wt:lock:real", TS_TOKEN, "30000");
  clitest_result r;
  clitest_run(&r, NULL, "locks", "--url", url, "--prefix", "cli-wt", "--json", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, err, "skipping cli-wt:lock:a-list: not a string");
  CLITEST_HAS(&r, out, "\"locks\":[{\"thread\":\"real\"");
  CLITEST_HAS(&r, out, "\"by_origin\":{\"ts-node-redis\":1}");
  clitest_result_free(&r);
}

static void test_progress_on_many_locks(void **state) {
  (void)state;
  enum { N = 25000, CHUNK = 5000 };
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  for (int base = 0; base < N; base += CHUNK) {
    xr_batch_clear(b);
    char keys[CHUNK][48], tokens[CHUNK][48];
    for (int i = 0; i < CHUNK; i++) {
      snprintf(keys[i], sizeof keys[i], "cli-many:lock:slack:C%05d", base + i);
      snprintf(tokens[i], sizeof tokens[i], "%s_1700000000000_abc%07d", (base + i) % 2 ? "ioredis" : "redis", base + i);
      const char *argv[] = {"SET", keys[i], tokens[i], "PX", "600000"};
      assert_true(xr_batch_add(b, 5, argv, NULL) >= 0);
    }
    XR_OK(xr_client_exec(chk, b));
  }
  xr_batch_free(b);

  clitest_result r;
  clitest_run(&r, NULL, "locks", "--url", url, "--prefix", "cli-many", "--json", NULL);
  CLITEST_STATUS(&r, 0);
  /* Two progress lines: past 10,000 and past 20,000 keys scanned. */
  unsigned long scanned[3] = {0}, found[3] = {0};
  int lines = 0;
  for (const char *p = r.err; (p = strstr(p, "locks: ")) != NULL; p++) {
    if (lines < 3 && sscanf(p, "locks: %lu keys scanned, %lu locks", &scanned[lines], &found[lines]) == 2) lines++;
  }
  if (lines != 2) fail_msg("expected two progress lines, got:\n%s", r.err);
  assert_true(scanned[0] >= 10000 && scanned[0] < 20000);
  assert_true(scanned[1] >= 20000 && scanned[1] < N);
  assert_true(found[0] <= scanned[0] && found[1] <= scanned[1]);
  json_error_t e;
  json_t *j = json_loads(r.out, 0, &e);
  assert_non_null(j);
  assert_int_equal(json_array_size(json_object_get(j, "locks")), N);
  assert_string_equal(str(json_array_get(json_object_get(j, "locks"), 0), "thread"), "slack:C00000");
  assert_string_equal(str(json_array_get(json_object_get(j, "locks"), N - 1), "thread"), "slack:C24999");
  json_t *by = json_object_get(j, "by_origin");
  assert_int_equal(json_integer_value(json_object_get(by, "ts-node-redis")), N / 2);
  assert_int_equal(json_integer_value(json_object_get(by, "ts-ioredis")), N / 2);
  json_decref(j);
  clitest_result_free(&r);

  /* A small COUNT makes many more SCAN pages; the result is the same. */
  clitest_run(&r, NULL, "locks", "--url", url, "--prefix", "cli-many", "--count", "37", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "\n25000 locks: 12500 ts-node-redis, 12500 ts-ioredis\n");
  clitest_result_free(&r);
}

/* On a Cluster (the shared one, else its own): `locks` and `drain` scan every master, so locks on
 * all three are listed, and drain waits for each and returns once they are gone. */
static void test_cluster_every_master(void **state) {
  (void)state;
  char curl[512];
  xrt_topology *t;
  xr_client *c;
  CLITEST_CLUSTER(t, c, curl);
  char prefix[64], key[128];
  snprintf(prefix, sizeof prefix, "cli-cluster-%d", (int)getpid());
  for (int i = 0; i < 12; i++) { /* twelve ids: their slots fall on every master */
    snprintf(key, sizeof key, "%s:lock:thread-%d", prefix, i);
    XR_OK(itest_cmd(c, NULL, "SET", key, IO_TOKEN, "PX", "60000", NULL));
  }
  clitest_result r;
  clitest_run(&r, NULL, "locks", "--url", curl, "--prefix", prefix, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "\n12 locks: 12 ts-ioredis\n");
  clitest_result_free(&r);
  const char *args[] = {"drain", "--origin", "ts-ioredis", "--url", curl, "--prefix", prefix, "--interval", "100",
                        "--timeout", "60", NULL};
  clitest_proc p;
  clitest_start(&p, NULL, args);
  clitest_wait_err(&p, "drain: 12 ts-ioredis locks left (of 12 locks) after ", 120);
  for (int i = 0; i < 12; i++) {
    snprintf(key, sizeof key, "%s:lock:thread-%d", prefix, i);
    XR_OK(itest_cmd(c, NULL, "DEL", key, NULL));
  }
  clitest_finish(&p, &r, 120);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "drain: no ts-ioredis lock left after ");
  clitest_result_free(&r);
  xr_client_close(c);
  xrt_topology_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cluster_every_master),
      cmocka_unit_test(test_json_origins_and_ttls),
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_no_locks),
      cmocka_unit_test(test_glob_characters_in_prefix),
      cmocka_unit_test(test_binary_thread_ids),
      cmocka_unit_test(test_non_string_key_skipped),
      cmocka_unit_test(test_progress_on_many_locks),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
