/* Unit tests for family.c: the two shapes of a key family, their keys, the family file, and the
 * errors (bad patterns, different fields, colliding shapes, bad files). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/error.h"
#include "crossredis/family.h"
#include "crossredis/keys.h"

#define S(lit) lit, sizeof(lit) - 1

static const char UUID[] = "0f8fad5b-d9cb-469f-a165-70867728950e";

static void assert_fails(int rc, int code, const char *part) {
  if (rc != code)
    fail_msg("-> %s, expected %s: %s", xr_error_name(rc), xr_error_name(code), xr_error_last()->message);
  if (part && !strstr(xr_error_last()->message, part))
    fail_msg("message \"%s\" lacks \"%s\"", xr_error_last()->message, part);
}

static void test_keys_of_a_member(void **state) {
  (void)state;
  xr_family *f = NULL;
  assert_int_equal(xr_family_new(&f, "browser-session", S("mpp:browser:session:<id:uuid>"),
                                 S("mpp:browser:session:{session:<id:uuid>}")),
                   0);
  assert_string_equal(xr_family_name(f), "browser-session");
  assert_string_equal(xr_family_notes(f), "");
  assert_int_equal(xr_family_field_count(f), 1);
  assert_string_equal(xr_family_field_name(f, 0), "id");
  assert_null(xr_family_field_name(f, 1));
  xr_key_span v = {UUID, strlen(UUID)};
  char *old_key = NULL, *new_key = NULL;
  size_t old_len = 0, new_len = 0;
  assert_int_equal(xr_family_keys(f, &old_key, &old_len, &new_key, &new_len, &v, 1), 0);
  assert_string_equal(old_key, "mpp:browser:session:0f8fad5b-d9cb-469f-a165-70867728950e");
  assert_string_equal(new_key, "mpp:browser:session:{session:0f8fad5b-d9cb-469f-a165-70867728950e}");
  assert_int_equal(old_len, strlen(old_key));
  assert_int_equal(new_len, strlen(new_key));
  /* the new key of an old one, and not of anything else */
  char *k = NULL;
  size_t kl = 0;
  assert_int_equal(xr_family_new_key_of(f, &k, &kl, old_key, old_len), 0);
  assert_string_equal(k, new_key);
  xr_free(k);
  assert_int_equal(xr_family_new_key_of(f, &k, &kl, new_key, new_len), XR_ENOTFOUND);
  assert_int_equal(xr_family_new_key_of(f, &k, &kl, S("mpp:browser:session:not-a-uuid")), XR_ENOTFOUND);
  /* one of them only */
  xr_free(new_key);
  new_key = NULL;
  assert_int_equal(xr_family_keys(f, NULL, NULL, &new_key, &new_len, &v, 1), 0);
  assert_non_null(new_key);
  /* values that do not fit */
  xr_key_span bad = {S("nope")};
  assert_fails(xr_family_keys(f, &k, &kl, NULL, NULL, &bad, 1), XR_EINVAL, "browser-session");
  assert_fails(xr_family_keys(f, &k, &kl, NULL, NULL, &v, 2), XR_EINVAL, "2 field values given, the family has 1");
  /* a copy is the same family */
  xr_family *c = NULL;
  assert_int_equal(xr_family_copy(&c, f), 0);
  xr_family_free(f);
  assert_string_equal(xr_family_name(c), "browser-session");
  size_t tl;
  assert_string_equal(xr_key_pattern_text(xr_family_new_pattern(c), &tl), "mpp:browser:session:{session:<id:uuid>}");
  xr_family_free(c);
  xr_free(old_key);
  xr_free(new_key);
}

/* Two fields in another order in the new shape: values follow the old shape's order. */
static void test_fields_in_the_old_order(void **state) {
  (void)state;
  xr_family *f = NULL;
  assert_int_equal(xr_family_new(&f, "auth", S("auth:code:<email:sha256>:<scene:segment>"),
                                 S("auth:{scene:<scene:segment>}:code:<email:sha256>")),
                   0);
  assert_int_equal(xr_family_field_count(f), 2);
  assert_string_equal(xr_family_field_name(f, 0), "email");
  assert_string_equal(xr_family_field_name(f, 1), "scene");
  const char *sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  xr_key_span v[] = {{sha, 64}, {S("login")}};
  char *o = NULL, *n = NULL;
  size_t ol, nl;
  assert_int_equal(xr_family_keys(f, &o, &ol, &n, &nl, v, 2), 0);
  char expect[200];
  snprintf(expect, sizeof expect, "auth:code:%s:login", sha);
  assert_string_equal(o, expect);
  snprintf(expect, sizeof expect, "auth:{scene:login}:code:%s", sha);
  assert_string_equal(n, expect);
  char *k = NULL;
  size_t kl;
  assert_int_equal(xr_family_new_key_of(f, &k, &kl, o, ol), 0);
  assert_string_equal(k, n);
  /* the new shape's keys land on the scene's slot */
  assert_int_equal(xr_key_slot(n, nl), xr_key_slot(S("scene:login")));
  xr_free(k);
  xr_free(o);
  xr_free(n);
  xr_family_free(f);
}

static void test_bad_families(void **state) {
  (void)state;
  xr_family *f = (xr_family *)1;
  assert_fails(xr_family_new(&f, "x", S("a:<id"), S("b:<id>")), XR_EINVAL, "family x: the old shape");
  assert_null(f);
  assert_fails(xr_family_new(&f, "x", S("a:<id>"), S("b:<id:nope>")), XR_EINVAL, "family x: the new shape");
  assert_fails(xr_family_new(&f, "x", S("a:<id>"), S("b:<other>")), XR_EINVAL,
               "family x: field 'id' is in the old shape only");
  assert_fails(xr_family_new(&f, "x", S("a:<id>"), S("b:<id>:<more:number>")), XR_EINVAL,
               "family x: field 'more' is in the new shape only");
  /* the shapes collide: every new key (digits) is an old key too */
  assert_fails(xr_family_new(&f, "counts", S("count:<n>"), S("count:<n:number>")), XR_EINVAL,
               "family counts: the old and new shapes collide: key 'count:");
  /* braces keep the tagged shape apart (class any takes no '{'): no collision */
  assert_int_equal(xr_family_new(&f, "queues", S("chat-sdk:queue:<thread>"), S("chat-sdk:queue:{<thread>}")), 0);
  xr_family_free(f);
  f = NULL;
  assert_fails(xr_family_new(&f, "same", S("k:<id>"), S("k:<id>")), XR_EINVAL, "collide");
  assert_fails(xr_family_new(&f, "", S("a:<id>"), S("b:<id>")), XR_EINVAL, "the name is empty");
  assert_fails(xr_family_new(&f, NULL, S("a:<id>"), S("b:<id>")), XR_EINVAL, "the name is empty");
  assert_null(f);
}

static const char FILE_TWO[] =
    "{\"families\": ["
    " {\"name\": \"browser-session\", \"old\": \"mpp:browser:session:<id:uuid>\","
    "  \"new\": \"mpp:browser:session:{session:<id:uuid>}\", \"notes\": \"sessions carry a TTL\"},"
    " {\"name\": \"counters\", \"old\": \"mpp:count:<n:number>\", \"new\": \"mpp:{count}:<n:number>\", \"x\": 1}"
    "]}";

static void test_family_file(void **state) {
  (void)state;
  xr_family **list = NULL;
  size_t n = 0;
  assert_int_equal(xr_family_load_json(&list, &n, S(FILE_TWO)), 0);
  assert_int_equal(n, 2);
  assert_string_equal(xr_family_name(list[0]), "browser-session");
  assert_string_equal(xr_family_notes(list[0]), "sessions carry a TTL");
  assert_string_equal(xr_family_name(list[1]), "counters");
  xr_family_list_free(list, n);
  /* one by name */
  xr_family *f = NULL;
  assert_int_equal(xr_family_load_json_named(&f, S(FILE_TWO), "counters"), 0);
  assert_string_equal(xr_family_name(f), "counters");
  xr_family_free(f);
  assert_fails(xr_family_load_json_named(&f, S(FILE_TWO), "nope"), XR_ENOTFOUND,
               "no family named 'nope' (there are 'browser-session', 'counters')");
  assert_fails(xr_family_load_json_named(&f, S(FILE_TWO), NULL), XR_EINVAL, "2 families");
  /* a single object without the list */
  static const char ONE[] = "{\"name\": \"one\", \"old\": \"o:<id>\", \"new\": \"n:{<id>}\"}";
  assert_int_equal(xr_family_load_json_named(&f, S(ONE), NULL), 0);
  assert_string_equal(xr_family_name(f), "one");
  xr_family_free(f);
}

static void test_bad_family_files(void **state) {
  (void)state;
  xr_family **list = NULL;
  size_t n = 7;
  assert_fails(xr_family_load_json(&list, &n, S("{")), XR_EPARSE, "family file: JSON text line 1");
  assert_null(list);
  assert_int_equal(n, 0);
  assert_fails(xr_family_load_json(&list, &n, S("[]")), XR_EPARSE, "not a JSON object");
  assert_fails(xr_family_load_json(&list, &n, S("{\"families\": {}}")), XR_EPARSE, "families: not a list");
  assert_fails(xr_family_load_json(&list, &n, S("{\"families\": []}")), XR_EINVAL, "no family");
  assert_fails(xr_family_load_json(&list, &n, S("{\"families\": [{\"name\": \"a\", \"new\": \"n:<id>\"}]}")),
               XR_EPARSE, "families[0].old: missing");
  assert_fails(
      xr_family_load_json(&list, &n, S("{\"families\": [{\"name\": \"a\", \"old\": 3, \"new\": \"n:<id>\"}]}")),
      XR_EPARSE, "families[0].old: not a string");
  assert_fails(xr_family_load_json(&list, &n,
                                   S("{\"families\": [{\"name\": \"a\", \"old\": \"o:<id>\", \"new\": \"n:{<id>}\"},"
                                     "{\"name\": \"b\", \"old\": \"q:<n>\", \"new\": \"q:<n:number>\"}]}")),
               XR_EINVAL, "families[1]: family b: the old and new shapes collide");
  assert_fails(xr_family_load_json(&list, &n,
                                   S("{\"families\": [{\"name\": \"a\", \"old\": \"o:<id>\", \"new\": \"n:{<id>}\"},"
                                     "{\"name\": \"a\", \"old\": \"p:<id>\", \"new\": \"r:{<id>}\"}]}")),
               XR_EINVAL, "families[0] and [1] are both named 'a'");
  assert_null(list);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys_of_a_member),      cmocka_unit_test(test_fields_in_the_old_order),
      cmocka_unit_test(test_bad_families),          cmocka_unit_test(test_family_file),
      cmocka_unit_test(test_bad_family_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
