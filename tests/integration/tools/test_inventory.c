/* The inventory's C API (inventory.h) against a real redis-server: the cap on unclassified shapes
 * ("(other)"), type warnings, a system prefix that needs escaping in the pattern language, the
 * progress callback, samples, the report's numbers, wrong options. What `crossredis inventory`
 * prints, every system's keys and the Cluster are in tests/integration/cli/test_cli_inventory.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "itest.h"
#include "crossredis/alloc.h"
#include "crossredis/family.h"
#include "crossredis/inventory.h"
#include "crossredis/window.h"

static xrt_server *server;
static xr_client *chk;

static int group_setup(void **state) { return (void)state, itest_open_with_checker(&server, &chk); }

static int group_teardown(void **state) { return (void)state, itest_close_with_checker(server, chk), 0; }

static json_t *report_json(const xr_inventory_options *o) {
  xr_inventory_report *r = NULL;
  XR_OK(xr_inventory_run(&r, chk, o));
  char *text = NULL;
  size_t len = 0;
  XR_OK(xr_inventory_report_json(r, &text, &len));
  assert_int_equal(strlen(text), len);
  json_error_t e;
  json_t *j = json_loads(text, 0, &e);
  if (!j) fail_msg("not JSON (%s): %s", e.text, text);
  assert_int_equal(xr_inventory_report_keys(r), (uint64_t)json_integer_value(json_object_get(j, "keys")));
  assert_int_equal(xr_inventory_report_commands(r), (uint64_t)json_integer_value(json_object_get(j, "commands")));
  xr_free(text);
  xr_inventory_report_free(r);
  return j;
}

static json_t *find(json_t *list, const char *member, const char *value) {
  for (size_t i = 0; i < json_array_size(list); i++) {
    json_t *o = json_array_get(list, i);
    const char *s = json_string_value(json_object_get(o, member));
    if (s && !strcmp(s, value)) return o;
  }
  fail_msg("no %s \"%s\"", member, value);
  return NULL;
}

/* Past max_shapes distinct shapes, keys are counted under "(other)", listed last. */
static void test_shapes_capped(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  char key[64];
  for (int i = 0; i < 50; i++) {
    snprintf(key, sizeof key, "shape%02d:%d", i, i * 7);
    XR_OK(itest_cmd(chk, NULL, "SET", key, "v", NULL));
  }
  for (int i = 0; i < 5; i++) { /* one shape with five keys: first in the list */
    snprintf(key, sizeof key, "many:%d", i);
    XR_OK(itest_cmd(chk, NULL, "SET", key, "v", NULL));
  }
  xr_inventory_options o = XR_INVENTORY_OPTIONS_INIT;
  o.max_shapes = 10;
  o.rate = XR_INVENTORY_UNLIMITED;
  o.samples = -1;
  json_t *j = report_json(&o);
  json_t *unc = json_object_get(j, "unclassified");
  assert_int_equal(json_array_size(unc), 11);
  json_t *other = json_array_get(unc, 10);
  assert_string_equal(json_string_value(json_object_get(other, "shape")), "(other)");
  long long listed = 0;
  for (size_t i = 0; i < 10; i++) {
    json_t *s = json_array_get(unc, i);
    listed += json_integer_value(json_object_get(s, "count"));
    assert_int_equal(json_array_size(json_object_get(s, "samples")), 0); /* samples -1: none */
  }
  assert_int_equal(listed + json_integer_value(json_object_get(other, "count")), 55);
  assert_int_equal(json_integer_value(json_object_get(j, "keys")), 55);
  json_decref(j);
}

/* A pattern's keys of more than one type, or of a type its system never writes, are warnings. */
static void test_type_warnings(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  XR_OK(itest_cmd(chk, NULL, "SET", "chat-sdk:lock:a", "redis_1700000000000_abc123xyz4", "PX", "30000", NULL));
  XR_OK(itest_cmd(chk, NULL, "RPUSH", "chat-sdk:lock:b", "x", NULL));
  XR_OK(itest_cmd(chk, NULL, "PEXPIRE", "chat-sdk:lock:b", "30000", NULL));
  XR_OK(itest_cmd(chk, NULL, "HSET", "xp:chain:c", "f", "v", NULL));
  json_t *j = report_json(NULL);
  json_t *pats = json_object_get(j, "patterns");
  json_t *lock = find(pats, "pattern", "chat-sdk:lock:<thread>");
  assert_string_equal(json_string_value(json_array_get(json_object_get(lock, "warnings"), 0)),
                      "mixed types: string 1 list 1");
  json_t *chain = find(pats, "pattern", "xp:chain:<chain>");
  assert_string_equal(json_string_value(json_array_get(json_object_get(chain, "warnings"), 0)),
                      "type hash where xp writes a string");
  /* the list's LINDEX tells no lock owner, the string's GET does */
  assert_int_equal(json_integer_value(json_object_get(json_object_get(lock, "owners"), "ts-node-redis")), 1);
  assert_int_equal(json_object_size(json_object_get(lock, "owners")), 1);
  json_decref(j);
}

/* A system prefix is literal bytes: '<' and '\' in it are escaped into the pattern. */
static void test_prefix_escaped(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  XR_OK(itest_cmd(chk, NULL, "SET", "a<b\\c:lock:t", "redis_1700000000000_abc123xyz4", NULL));
  xr_inventory_options o = XR_INVENTORY_OPTIONS_INIT;
  o.chat_prefix = "a<b\\c";
  json_t *j = report_json(&o);
  json_t *lock = find(json_object_get(j, "patterns"), "pattern", "a\\<b\\\\c:lock:<thread>");
  assert_int_equal(json_integer_value(json_object_get(lock, "count")), 1);
  assert_int_equal(json_array_size(json_object_get(j, "unclassified")), 0);
  json_decref(j);
}

/* Keys are bytes: JSON shows bytes that are not UTF-8 as U+FFFD, the table as \xNN. */
static void test_binary_keys(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  static const char key[] = "bin:\xff\xc3\xa9\\:7";
  const char *argv[] = {"SET", key, "v"};
  XR_OK(xr_client_command(chk, NULL, 3, argv, NULL));
  json_t *j = report_json(NULL);
  json_t *shape = json_array_get(json_object_get(j, "unclassified"), 0);
  assert_string_equal(json_string_value(json_object_get(shape, "shape")), "bin:\xef\xbf\xbd\xc3\xa9\\:{number}");
  assert_string_equal(json_string_value(json_array_get(json_object_get(shape, "samples"), 0)),
                      "bin:\xef\xbf\xbd\xc3\xa9\\:7");
  json_decref(j);
  xr_inventory_report *r = NULL;
  XR_OK(xr_inventory_run(&r, chk, NULL));
  char *table = NULL;
  size_t len = 0;
  XR_OK(xr_inventory_report_table(r, &table, &len));
  if (!strstr(table, "\n  bin:\\xff\xc3\xa9\\\\:{number} ")) fail_msg("the table shows the key otherwise:\n%s", table);
  xr_free(table);
  xr_inventory_report_free(r);
}

/* A unit follows at most XR_INVENTORY_UNIT_INSTANCES_MAX instances; the keys are all counted. */
static void test_unit_instances_capped(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  XR_OK(itest_cmd(chk, NULL, "DEBUG", "POPULATE", "60000", "chat-sdk:lock", NULL)); /* chat-sdk:lock:<n> */
  XR_OK(itest_cmd(chk, NULL, "RPUSH", "chat-sdk:queue:7", "{\"message\":{},\"expiresAt\":1}", NULL));
  xr_inventory_options o = XR_INVENTORY_OPTIONS_INIT;
  o.rate = XR_INVENTORY_UNLIMITED;
  json_t *j = report_json(&o);
  json_t *lock = find(json_object_get(j, "patterns"), "pattern", "chat-sdk:lock:<thread>");
  assert_int_equal(json_integer_value(json_object_get(lock, "count")), 60000);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(lock, "owners"), "unknown")), 60000);
  json_t *unit = find(json_object_get(j, "units"), "unit", "chat-thread");
  json_t *obs = json_object_get(unit, "observed");
  assert_int_equal(json_integer_value(json_object_get(obs, "instances")), XR_INVENTORY_UNIT_INSTANCES_MAX);
  assert_true(json_integer_value(json_object_get(obs, "split")) <= 1); /* thread 7, when it was followed */
  json_decref(j);
}

/* The verdict renders a unit's patterns with sample values: where a literal after a field starts
 * with a digit it takes letters; a shared field of two classes takes one value; patterns that none
 * of the sample alphabets fits (their values start with '4', 'k', 'K') get no verdict. */
static void test_unit_verdicts_of_odd_patterns(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  static const char *const keys[] = {"d:ab1x", "e:ab1x", "m:{0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f}",
                                     "n:{0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f}", "x:z4-zk-zK", "y:z4-zk-zK"};
  for (size_t i = 0; i < 6; i++) XR_OK(itest_cmd(chk, NULL, "SET", keys[i], "v", NULL));
  static const char file[] =
      "{\"patterns\":[{\"pattern\":\"d:<id>1x\",\"unit\":\"digits\"},{\"pattern\":\"e:<id>1x\",\"unit\":\"digits\"},"
      "{\"pattern\":\"m:{<id:uuid>}\",\"unit\":\"classes\"},{\"pattern\":\"n:{<id>}\",\"unit\":\"classes\"},"
      "{\"pattern\":\"x:<a>4-<b>k-<c>K\",\"unit\":\"odd\"},{\"pattern\":\"y:<a>4-<b>k-<c>K\",\"unit\":\"odd\"}]}";
  xr_inventory_patterns *p = NULL;
  XR_OK(xr_inventory_patterns_load(&p, file, strlen(file), "odd.json"));
  xr_inventory_options o = XR_INVENTORY_OPTIONS_INIT;
  o.patterns = p;
  json_t *j = report_json(&o);
  json_t *units = json_object_get(j, "units");
  json_t *digits = find(units, "unit", "digits"), *classes = find(units, "unit", "classes"), *odd = find(units, "unit", "odd");
  assert_true(json_is_false(json_object_get(digits, "ready")));
  assert_string_equal(json_string_value(json_object_get(digits, "verdict")),
                      "not Cluster-ready: d:<id>1x and e:<id>1x hash to different slots for the same <id> (no hash tag "
                      "holding it)");
  assert_true(json_is_true(json_object_get(classes, "ready")));
  assert_true(json_is_null(json_object_get(odd, "ready")));
  assert_true(strncmp(json_string_value(json_object_get(odd, "verdict")), "unknown: ", 9) == 0);
  json_decref(j);
  xr_inventory_patterns_free(p);
}

typedef struct seen {
  int calls;
  uint64_t last;
} seen;

static void on_progress(void *ctx, const xr_inventory_progress *p) {
  seen *s = ctx;
  s->calls++;
  assert_true(p->scanned >= s->last);
  assert_true(p->commands >= p->scanned);
  assert_int_equal(p->nodes, 1);
  s->last = p->scanned;
}

static void test_progress_and_max_keys(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  XR_OK(itest_cmd(chk, NULL, "DEBUG", "POPULATE", "25000", "p", NULL));
  seen s = {0, 0};
  xr_inventory_options o = XR_INVENTORY_OPTIONS_INIT;
  o.rate = XR_INVENTORY_UNLIMITED;
  o.progress = on_progress;
  o.progress_ctx = &s;
  json_t *j = report_json(&o);
  assert_int_equal(s.calls, 3); /* past 10,000, past 20,000, the end */
  assert_int_equal(s.last, 25000);
  json_decref(j);
  o.max_keys = 777;
  o.progress = NULL;
  j = report_json(&o);
  assert_int_equal(json_integer_value(json_object_get(j, "keys")), 777);
  assert_true(json_is_true(json_object_get(j, "truncated")));
  json_decref(j);
}

/* A migration window's delete marker (a key that embeds a tagged key: braces after the tag) is
 * crossredis's own, classified with its TTL; the family's two shapes are listed as what they are. */
static void test_window_marker(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  const char *old = "mpp:browser:session:<id>", *new = "mpp:browser:session:{session:<id>}";
  xr_family *f = NULL;
  XR_OK(xr_family_new(&f, "browser-session", old, strlen(old), new, strlen(new)));
  xr_window *w = NULL;
  XR_OK(xr_window_new(&w, chk, f, NULL));
  const char *set[] = {"SET", "v"};
  xr_key_span a = {"a", 1}, b = {"b", 1};
  XR_OK(xr_window_write(w, NULL, &a, 1, 2, set, NULL));
  XR_OK(xr_window_write(w, NULL, &b, 1, 2, set, NULL));
  int deleted = -1;
  XR_OK(xr_window_delete(w, &deleted, &a, 1));
  assert_int_equal(deleted, 1);
  xr_inventory_options o = XR_INVENTORY_OPTIONS_INIT;
  o.rate = XR_INVENTORY_UNLIMITED;
  json_t *j = report_json(&o);
  json_t *m = find(json_object_get(j, "patterns"), "pattern", "xr:window:deleted:{<slot:number>}:<key:rest>");
  assert_int_equal(json_integer_value(json_object_get(m, "count")), 1);
  assert_string_equal(json_string_value(json_object_get(m, "owner")), "crossredis");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "ttl"), "without_expiry")), 0);
  const char *sample = json_string_value(json_array_get(json_object_get(m, "samples"), 0));
  assert_non_null(strstr(sample, ":mpp:browser:session:{session:a}"));
  json_t *unc = json_object_get(j, "unclassified");
  assert_int_equal(json_array_size(unc), 1); /* b's new key; the marker is not among them */
  assert_int_equal(json_integer_value(json_object_get(json_array_get(unc, 0), "count")), 1);
  json_decref(j);
  xr_window_free(w);
  xr_family_free(f);
}

static void test_bad_options(void **state) {
  (void)state;
  xr_inventory_report *r = NULL;
  xr_inventory_options o = XR_INVENTORY_OPTIONS_INIT;
  o.version = 99;
  XR_FAILS(xr_inventory_run(&r, chk, &o), XR_EINVAL, "options version 99");
  o = (xr_inventory_options)XR_INVENTORY_OPTIONS_INIT;
  o.rate = -5;
  XR_FAILS(xr_inventory_run(&r, chk, &o), XR_EINVAL, "rate must be > 0 commands per second");
  o.rate = 0;
  o.count = -1;
  XR_FAILS(xr_inventory_run(&r, chk, &o), XR_EINVAL, "count must be 0");
  XR_FAILS(xr_inventory_run(&r, NULL, NULL), XR_EINVAL, "a client");
  assert_null(r);
  xr_inventory_patterns *p = NULL;
  static const char bad[] = "{\"patterns\":[{\"pattern\":\"x\",\"readers\":[1]}]}";
  static const char good[] = "{\"patterns\":[{\"pattern\":\"x:<id>\",\"readers\":\"api\"}]}";
  XR_FAILS(xr_inventory_patterns_load(&p, bad, strlen(bad), "f.json"), XR_EINVAL,
           "f.json: patterns[0].readers[0] must be a string");
  XR_OK(xr_inventory_patterns_load(&p, good, strlen(good), NULL));
  assert_int_equal(xr_inventory_patterns_count(p), 1);
  xr_inventory_patterns_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shapes_capped),      cmocka_unit_test(test_type_warnings),
      cmocka_unit_test(test_prefix_escaped),     cmocka_unit_test(test_progress_and_max_keys),
      cmocka_unit_test(test_bad_options),        cmocka_unit_test(test_binary_keys),
      cmocka_unit_test(test_window_marker),
      cmocka_unit_test(test_unit_instances_capped), cmocka_unit_test(test_unit_verdicts_of_odd_patterns),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
