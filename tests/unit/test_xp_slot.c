/* Unit tests for xp_slot.c: the neutral JSON slot (xp.h) written byte for byte in its documented
 * member order, read back field by field, canonical (a read slot written again gives the same
 * bytes), readers lenient where xp.h says (spacing, order, upstream's defaults) and strict
 * elsewhere, each refusal naming what is wrong. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/error.h"
#include "crossredis/xp.h"

#define S(lit) lit, sizeof(lit) - 1 /* a string literal as (bytes, length), NULs included */

static xr_xp_slot sample(void) {
  xr_xp_slot s = {0};
  s.thread_id = "t-1";
  s.thread_id_len = 3;
  s.from_id = "console";
  s.from_id_len = 7;
  s.to_id = "router";
  s.to_id_len = 6;
  s.slot_index = 7;
  s.timestamp = "2025-01-02T03:04:05.678901+00:00";
  s.timestamp_len = strlen(s.timestamp);
  s.payload_type = "Greeting";
  s.payload_type_len = 8;
  s.own_name = NULL;
  s.is_self_call = true;
  s.usage_instructions = "say \"hi\"\n\xc3\xa4";
  s.usage_instructions_len = strlen(s.usage_instructions);
  s.payload_json = "{ \"b\": [1, 2.5, null, true], \"a\": \"x\\u0000y\" }";
  s.payload_json_len = strlen(s.payload_json);
  return s;
}

static const char SAMPLE[] =
    "{\"xp_slot\":1,\"thread_id\":\"t-1\",\"from_id\":\"console\",\"to_id\":\"router\",\"slot_index\":7,"
    "\"timestamp\":\"2025-01-02T03:04:05.678901+00:00\",\"payload_type\":\"Greeting\",\"own_name\":null,"
    "\"is_self_call\":true,\"usage_instructions\":\"say \\\"hi\\\"\\n\xc3\xa4\","
    "\"payload\":{\"b\":[1,2.5,null,true],\"a\":\"x\\u0000y\"}}";

static void assert_span(const char *p, size_t n, const char *want, size_t want_len) {
  assert_int_equal(n, want_len);
  assert_memory_equal(p, want, n);
}

static void test_write_is_canonical(void **state) {
  (void)state;
  xr_xp_slot s = sample();
  char *out = NULL;
  size_t n = 0;
  assert_int_equal(xr_xp_slot_write(&out, &n, &s), 0);
  assert_string_equal(out, SAMPLE);
  assert_int_equal(n, sizeof SAMPLE - 1);
  assert_memory_equal(out, XR_XP_SLOT_MARK, strlen(XR_XP_SLOT_MARK));
  xr_free(out);

  s.own_name = "";  /* an empty own_name is a string, not null */
  s.own_name_len = 0;
  assert_int_equal(xr_xp_slot_write(&out, &n, &s), 0);
  assert_non_null(strstr(out, "\"own_name\":\"\","));
  xr_free(out);
}

static void test_read_and_round_trip(void **state) {
  (void)state;
  xr_xp_slot r;
  assert_int_equal(xr_xp_slot_read(&r, S(SAMPLE)), 0);
  assert_span(r.thread_id, r.thread_id_len, S("t-1"));
  assert_span(r.from_id, r.from_id_len, S("console"));
  assert_span(r.to_id, r.to_id_len, S("router"));
  assert_int_equal(r.slot_index, 7);
  assert_span(r.timestamp, r.timestamp_len, S("2025-01-02T03:04:05.678901+00:00"));
  assert_span(r.payload_type, r.payload_type_len, S("Greeting"));
  assert_null(r.own_name);
  assert_true(r.is_self_call);
  assert_span(r.usage_instructions, r.usage_instructions_len, S("say \"hi\"\n\xc3\xa4"));
  assert_span(r.payload_json, r.payload_json_len, S("{\"b\":[1,2.5,null,true],\"a\":\"x\\u0000y\"}"));
  char *again = NULL;
  size_t n = 0;
  assert_int_equal(xr_xp_slot_write(&again, &n, &r), 0);
  assert_string_equal(again, SAMPLE);
  xr_free(again);
  xr_xp_slot_clear(&r);
  assert_null(r.doc_);
}

static void test_reader_lenient(void **state) {
  (void)state;
  /* any order and spacing; own_name, is_self_call, usage_instructions absent: upstream's defaults */
  static const char text[] =
      " {\"payload\": \"p\", \"slot_index\": 0, \"payload_type\": \"str\", \"timestamp\": \"t\",\n"
      "  \"to_id\": \"b\", \"from_id\": \"a\", \"thread_id\": \"\\u00e4\", \"xp_slot\": 1} ";
  xr_xp_slot r;
  assert_int_equal(xr_xp_slot_read(&r, S(text)), 0);
  assert_span(r.thread_id, r.thread_id_len, S("\xc3\xa4"));
  assert_null(r.own_name);
  assert_false(r.is_self_call);
  assert_span(r.usage_instructions, r.usage_instructions_len, S(""));
  assert_span(r.payload_json, r.payload_json_len, S("\"p\""));
  char *out = NULL;
  assert_int_equal(xr_xp_slot_write(&out, NULL, &r), 0);
  assert_string_equal(out, "{\"xp_slot\":1,\"thread_id\":\"\xc3\xa4\",\"from_id\":\"a\",\"to_id\":\"b\",\"slot_index\":0,"
                           "\"timestamp\":\"t\",\"payload_type\":\"str\",\"own_name\":null,\"is_self_call\":false,"
                           "\"usage_instructions\":\"\",\"payload\":\"p\"}");
  xr_free(out);
  xr_xp_slot_clear(&r);
}

static void refused(const char *text, size_t len, const char *message) {
  xr_xp_slot r;
  int rc = xr_xp_slot_read(&r, text, len);
  if (rc != XR_EINVAL || !strstr(xr_error_last()->message, message))
    fail_msg("%.*s: rc %d, message \"%s\", wanted \"%s\"", (int)len, text, rc, xr_error_last()->message, message);
  xr_xp_slot_clear(&r);
}

#define HEAD "{\"xp_slot\":1,\"thread_id\":\"t\",\"from_id\":\"a\",\"to_id\":\"b\",\"timestamp\":\"t\",\"payload_type\":\"p\","

static void test_reader_refuses(void **state) {
  (void)state;
  refused(S("\x80\x04\x95"), "not a JSON slot (a Python pickle)");
  refused("", 0, "not a JSON slot (empty)");
  refused(S("{"), "xp slot: not JSON");
  refused(S("[1]"), "xp slot: not a JSON object");
  refused(S("{\"thread_id\":\"t\"}"), "not an xp JSON slot (no \"xp_slot\" member)");
  refused(S(HEAD "\"slot_index\":0,\"payload\":1,\"xp_slot\":2}"), "\"xp_slot\" must be 1");
  refused(S(HEAD "\"slot_index\":0,\"payload\":1,\"extra\":1}"), "unknown member \"extra\"");
  refused(S(HEAD "\"slot_index\":0}"), "\"payload\" is missing");
  refused(S(HEAD "\"payload\":1}"), "\"slot_index\" is missing");
  refused(S(HEAD "\"slot_index\":\"0\",\"payload\":1}"), "\"slot_index\" must be an integer");
  refused(S(HEAD "\"slot_index\":1.5,\"payload\":1}"), "\"slot_index\" must be an integer");
  refused(S(HEAD "\"slot_index\":-1,\"payload\":1}"), "slot_index must be 0 to 9007199254740991, got -1");
  refused(S(HEAD "\"slot_index\":9007199254740992,\"payload\":1}"), "got 9007199254740992");
  refused(S(HEAD "\"slot_index\":0,\"payload\":1,\"own_name\":5}"), "\"own_name\" must be a string or null");
  refused(S(HEAD "\"slot_index\":0,\"payload\":1,\"is_self_call\":1}"), "\"is_self_call\" must be a boolean");
  refused(S(HEAD "\"slot_index\":0,\"payload\":1,\"usage_instructions\":null}"), "\"usage_instructions\" must be a string");
  refused(S(HEAD "\"slot_index\":0,\"payload\":{\"n\":[9007199254740992]}}"), "payload holds the integer 9007199254740992");
}

static void written_refused(xr_xp_slot s, const char *message) {
  char *out = (char *)"untouched";
  int rc = xr_xp_slot_write(&out, NULL, &s);
  if (rc != XR_EINVAL || !strstr(xr_error_last()->message, message))
    fail_msg("rc %d, message \"%s\", wanted \"%s\"", rc, xr_error_last()->message, message);
  assert_null(out);
}

static void test_writer_refuses(void **state) {
  (void)state;
  xr_xp_slot s = sample();
  s.slot_index = -1;
  written_refused(s, "slot_index must be 0 to 9007199254740991, got -1");
  s = sample();
  s.payload_json = NULL;
  written_refused(s, "payload is required");
  s = sample();
  s.payload_json = "{\"a\":";
  s.payload_json_len = 5;
  written_refused(s, "xp slot: payload is not JSON");
  s = sample();
  s.payload_json = "-9007199254740992";
  s.payload_json_len = strlen(s.payload_json);
  written_refused(s, "payload holds the integer -9007199254740992");
  s = sample();
  s.to_id = "\xff";
  s.to_id_len = 1;
  written_refused(s, "xp slot: ");
  s = sample();
  s.from_id = NULL;
  written_refused(s, "from_id is NULL with a length of 7");
  assert_int_equal(xr_xp_slot_write(NULL, NULL, &s), XR_EINVAL);
  assert_int_equal(xr_xp_slot_read(NULL, S("{}")), XR_EINVAL);
  xr_xp_slot_clear(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_is_canonical), cmocka_unit_test(test_read_and_round_trip),
      cmocka_unit_test(test_reader_lenient),     cmocka_unit_test(test_reader_refuses),
      cmocka_unit_test(test_writer_refuses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
