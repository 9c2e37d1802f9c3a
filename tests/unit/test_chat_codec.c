/* Unit tests for the queue-entry codec of chat.c (xr_chat_encode_queue_entry and
 * xr_chat_decode_queue_entry): no server.
 *
 * TS_ENTRY is the entry the TS node-redis adapter pushed (tests/vectors/chat-ts-node-redis.monitor.txt
 * line 34, the RPUSH argument) and PY_ENTRY the one the Python port pushed
 * (chat-python-port.monitor.txt line 20), unescaped from MONITOR's \xNN and \" into C literals.
 * TS_MESSAGE and PY_MESSAGE are their "message" members, cut out of the same bytes. The other
 * texts were written once by the real runtimes from those values (node v20.20.2
 * JSON.stringify(JSON.parse(...)), Python 3.11.7 json.dumps(json.loads(...)); the both-spelling
 * entries as JSON.stringify / json.dumps of {message, enqueuedAt, expiresAt, enqueued_at,
 * expires_at}); nothing is derived from the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/chat.h"
#include "crossredis/error.h"

#define S(lit) lit, sizeof(lit) - 1 /* a string literal as (bytes, length) */

/* The call must fail with `code`. */
#define XR_FAILS_CODEC(call, code)                                                                 \
  do {                                                                                             \
    int rc_ = (call);                                                                              \
    if (rc_ != (code))                                                                             \
      fail_msg("%s -> %s (%d), expected %s: %s", #call, xr_error_name(rc_), rc_, xr_error_name(code), \
               rc_ ? xr_error_last()->message : "");                                               \
  } while (0)

/* ---- captured and runtime-written texts ------------------------------------------------------- */

/* chat-ts-node-redis.monitor.txt line 34 */
#define TS_ENTRY \
    "{\"message\":{\"_type\":\"chat:Message\",\"id\":\"1700000000.000200\",\"threadId\":\"slack:C123:1700000000.000100\"," \
    "\"text\":\"h\xc3\xa9llo <@U999>\",\"formatted\":{\"type\":\"root\",\"children\":[{\"type\":\"paragraph\"," \
    "\"children\":[{\"type\":\"text\",\"value\":\"h\xc3\xa9llo\"}]}]},\"raw\":{\"ts\":\"1700000000.000200\"}," \
    "\"author\":{\"userId\":\"U123\",\"userName\":\"alice\",\"fullName\":\"Alice A\",\"isBot\":false," \
    "\"isMe\":false},\"metadata\":{\"dateSent\":\"2023-11-14T22:13:20.200Z\",\"edited\":false}," \
    "\"attachments\":[{\"type\":\"image\",\"url\":\"https://x/y.png\",\"mimeType\":\"image/png\"}]}," \
    "\"enqueuedAt\":1795298426872,\"expiresAt\":1795298516872}"

/* chat-python-port.monitor.txt line 20: enqueued_at 1795298445479, expires_at 1795298535479 */
#define PY_ENTRY \
    "{\"enqueued_at\": 1795298445479, \"expires_at\": 1795298535479, \"message\": {\"_type\": \"chat:Message\"," \
    " \"id\": \"1700000000.000200\", \"threadId\": \"slack:C123:1700000000.000100\", \"text\": \"h\\u00e9llo <@U999>\"," \
    " \"formatted\": {\"type\": \"root\", \"children\": [{\"type\": \"paragraph\", \"children\": [{\"type\": \"text\"," \
    " \"value\": \"h\\u00e9llo\"}]}]}, \"raw\": {\"ts\": \"1700000000.000200\"}, \"author\": {\"userId\": \"U123\"," \
    " \"userName\": \"alice\", \"fullName\": \"Alice A\", \"isBot\": false, \"isMe\": false}, \"metadata\": {\"dateSent\": \"2023-11-14T22:13:20.200000+00:00\"," \
    " \"edited\": false}, \"attachments\": [{\"type\": \"image\", \"url\": \"https://x/y.png\"," \
    " \"mimeType\": \"image/png\"}]}}"

/* the "message" member of TS_ENTRY */
#define TS_MESSAGE \
    "{\"_type\":\"chat:Message\",\"id\":\"1700000000.000200\",\"threadId\":\"slack:C123:1700000000.000100\"," \
    "\"text\":\"h\xc3\xa9llo <@U999>\",\"formatted\":{\"type\":\"root\",\"children\":[{\"type\":\"paragraph\"," \
    "\"children\":[{\"type\":\"text\",\"value\":\"h\xc3\xa9llo\"}]}]},\"raw\":{\"ts\":\"1700000000.000200\"}," \
    "\"author\":{\"userId\":\"U123\",\"userName\":\"alice\",\"fullName\":\"Alice A\",\"isBot\":false," \
    "\"isMe\":false},\"metadata\":{\"dateSent\":\"2023-11-14T22:13:20.200Z\",\"edited\":false}," \
    "\"attachments\":[{\"type\":\"image\",\"url\":\"https://x/y.png\",\"mimeType\":\"image/png\"}]}"

/* the "message" member of PY_ENTRY */
#define PY_MESSAGE \
    "{\"_type\": \"chat:Message\", \"id\": \"1700000000.000200\", \"threadId\": \"slack:C123:1700000000.000100\"," \
    " \"text\": \"h\\u00e9llo <@U999>\", \"formatted\": {\"type\": \"root\", \"children\": [{\"type\": \"paragraph\"," \
    " \"children\": [{\"type\": \"text\", \"value\": \"h\\u00e9llo\"}]}]}, \"raw\": {\"ts\": \"1700000000.000200\"}," \
    " \"author\": {\"userId\": \"U123\", \"userName\": \"alice\", \"fullName\": \"Alice A\", \"isBot\": false," \
    " \"isMe\": false}, \"metadata\": {\"dateSent\": \"2023-11-14T22:13:20.200000+00:00\", \"edited\": false}," \
    " \"attachments\": [{\"type\": \"image\", \"url\": \"https://x/y.png\", \"mimeType\": \"image/png\"}]}"

/* node: JSON.stringify(JSON.parse(PY_MESSAGE)) */
#define PY_MESSAGE_AS_JS \
    "{\"_type\":\"chat:Message\",\"id\":\"1700000000.000200\",\"threadId\":\"slack:C123:1700000000.000100\"," \
    "\"text\":\"h\xc3\xa9llo <@U999>\",\"formatted\":{\"type\":\"root\",\"children\":[{\"type\":\"paragraph\"," \
    "\"children\":[{\"type\":\"text\",\"value\":\"h\xc3\xa9llo\"}]}]},\"raw\":{\"ts\":\"1700000000.000200\"}," \
    "\"author\":{\"userId\":\"U123\",\"userName\":\"alice\",\"fullName\":\"Alice A\",\"isBot\":false," \
    "\"isMe\":false},\"metadata\":{\"dateSent\":\"2023-11-14T22:13:20.200000+00:00\",\"edited\":false}," \
    "\"attachments\":[{\"type\":\"image\",\"url\":\"https://x/y.png\",\"mimeType\":\"image/png\"}]}"

/* python3: json.dumps(json.loads(TS_MESSAGE)) */
#define TS_MESSAGE_AS_PY \
    "{\"_type\": \"chat:Message\", \"id\": \"1700000000.000200\", \"threadId\": \"slack:C123:1700000000.000100\"," \
    " \"text\": \"h\\u00e9llo <@U999>\", \"formatted\": {\"type\": \"root\", \"children\": [{\"type\": \"paragraph\"," \
    " \"children\": [{\"type\": \"text\", \"value\": \"h\\u00e9llo\"}]}]}, \"raw\": {\"ts\": \"1700000000.000200\"}," \
    " \"author\": {\"userId\": \"U123\", \"userName\": \"alice\", \"fullName\": \"Alice A\", \"isBot\": false," \
    " \"isMe\": false}, \"metadata\": {\"dateSent\": \"2023-11-14T22:13:20.200Z\", \"edited\": false}," \
    " \"attachments\": [{\"type\": \"image\", \"url\": \"https://x/y.png\", \"mimeType\": \"image/png\"}]}"

/* node: JSON.stringify({message: JSON.parse(TS_MESSAGE), enqueuedAt: 1795298426872,
 * expiresAt: 1795298516872, enqueued_at: 1795298426872, expires_at: 1795298516872}) */
#define BOTH_JS \
    "{\"message\":{\"_type\":\"chat:Message\",\"id\":\"1700000000.000200\",\"threadId\":\"slack:C123:1700000000.000100\"," \
    "\"text\":\"h\xc3\xa9llo <@U999>\",\"formatted\":{\"type\":\"root\",\"children\":[{\"type\":\"paragraph\"," \
    "\"children\":[{\"type\":\"text\",\"value\":\"h\xc3\xa9llo\"}]}]},\"raw\":{\"ts\":\"1700000000.000200\"}," \
    "\"author\":{\"userId\":\"U123\",\"userName\":\"alice\",\"fullName\":\"Alice A\",\"isBot\":false," \
    "\"isMe\":false},\"metadata\":{\"dateSent\":\"2023-11-14T22:13:20.200Z\",\"edited\":false}," \
    "\"attachments\":[{\"type\":\"image\",\"url\":\"https://x/y.png\",\"mimeType\":\"image/png\"}]}," \
    "\"enqueuedAt\":1795298426872,\"expiresAt\":1795298516872,\"enqueued_at\":1795298426872,\"expires_at\":1795298516872}"

/* python3: json.dumps of the same dict, in the same key order */
#define BOTH_PY \
    "{\"message\": {\"_type\": \"chat:Message\", \"id\": \"1700000000.000200\", \"threadId\": \"slack:C123:1700000000.000100\"," \
    " \"text\": \"h\\u00e9llo <@U999>\", \"formatted\": {\"type\": \"root\", \"children\": [{\"type\": \"paragraph\"," \
    " \"children\": [{\"type\": \"text\", \"value\": \"h\\u00e9llo\"}]}]}, \"raw\": {\"ts\": \"1700000000.000200\"}," \
    " \"author\": {\"userId\": \"U123\", \"userName\": \"alice\", \"fullName\": \"Alice A\", \"isBot\": false," \
    " \"isMe\": false}, \"metadata\": {\"dateSent\": \"2023-11-14T22:13:20.200Z\", \"edited\": false}," \
    " \"attachments\": [{\"type\": \"image\", \"url\": \"https://x/y.png\", \"mimeType\": \"image/png\"}]}," \
    " \"enqueuedAt\": 1795298426872, \"expiresAt\": 1795298516872, \"enqueued_at\": 1795298426872," \
    " \"expires_at\": 1795298516872}"


#define TS_ENQ INT64_C(1795298426872)
#define TS_EXP INT64_C(1795298516872)
#define PY_ENQ INT64_C(1795298445479)
#define PY_EXP INT64_C(1795298535479)

/* ---- helpers ---------------------------------------------------------------------------------- */

static void expect_bytes(const char *what, const char *got, size_t got_len, const char *want, size_t want_len) {
  if (got == NULL) fail_msg("%s: NULL, want (%zu bytes) %.*s", what, want_len, (int)want_len, want);
  if (got_len != want_len || memcmp(got, want, want_len) != 0) {
    size_t i = 0;
    while (i < got_len && i < want_len && got[i] == want[i]) i++;
    fail_msg("%s differs at byte %zu\n want (%zu bytes): %.*s\n  got (%zu bytes): %.*s", what, i, want_len,
             (int)want_len, want, got_len, (int)got_len, got);
  }
}

static void expect_encode(const char *message, size_t message_len, int64_t enq, int64_t exp,
                          xr_chat_queue_dialect queue, xr_json_dialect json, const char *want, size_t want_len) {
  char *out = NULL;
  size_t out_len = 0;
  int rc = xr_chat_encode_queue_entry(&out, &out_len, message, message_len, enq, exp, queue, json);
  if (rc != 0) fail_msg("encode: %s: %s", xr_error_name(rc), xr_error_last()->message);
  expect_bytes("encoded entry", out, out_len, want, want_len);
  assert_int_equal(out[out_len], '\0');
  xr_free(out);
}

/* Decodes `raw` and checks every field. */
static void expect_decode(const char *raw, size_t raw_len, xr_json_dialect json, const char *message,
                          size_t message_len, int64_t enq, int64_t exp) {
  xr_chat_queue_entry e;
  memset(&e, 0, sizeof e);
  int rc = xr_chat_decode_queue_entry(&e, raw, raw_len, json);
  if (rc != 0) {
    xr_chat_queue_entry_clear(&e);
    fail_msg("decode: %s: %s", xr_error_name(rc), xr_error_last()->message);
  }
  expect_bytes("decoded message", e.message, e.message_len, message, message_len);
  assert_int_equal(e.enqueued_at_ms, enq);
  assert_int_equal(e.expires_at_ms, exp);
  expect_bytes("decoded raw", e.raw, e.raw_len, raw, raw_len);
  assert_ptr_not_equal(e.raw, raw); /* a copy */
  xr_chat_queue_entry_clear(&e);
  assert_null(e.message);
  assert_null(e.raw);
  assert_int_equal(e.message_len, 0);
  assert_int_equal(e.raw_len, 0);
}

/* Decoding must fail with XR_EPARSE, a message containing `part`, and e->raw holding the input. */
static void expect_decode_fails(const char *raw, size_t raw_len, const char *part) {
  xr_chat_queue_entry e;
  memset(&e, 0, sizeof e);
  xr_error_clear();
  int rc = xr_chat_decode_queue_entry(&e, raw, raw_len, XR_JSON_JS);
  if (rc != XR_EPARSE)
    fail_msg("decode of %.*s -> %s (%d), want EPARSE", (int)raw_len, raw, xr_error_name(rc), rc);
  assert_int_equal(xr_error_last()->code, XR_EPARSE);
  if (!strstr(xr_error_last()->message, part))
    fail_msg("decode of %.*s: message \"%s\" lacks \"%s\"", (int)raw_len, raw, xr_error_last()->message, part);
  expect_bytes("raw kept on failure", e.raw, e.raw_len, raw, raw_len);
  xr_chat_queue_entry_clear(&e);
  assert_null(e.raw);
  assert_null(e.message);
}

/* ---- encoding: byte-identical to the captures ------------------------------------------------- */

static void test_encode_ts_entry_is_the_captured_one(void **state) {
  (void)state;
  expect_encode(S(TS_MESSAGE), TS_ENQ, TS_EXP, XR_CHAT_QUEUE_TS, XR_JSON_JS, S(TS_ENTRY));
}

static void test_encode_python_entry_is_the_captured_one(void **state) {
  (void)state;
  expect_encode(S(PY_MESSAGE), PY_ENQ, PY_EXP, XR_CHAT_QUEUE_PYTHON, XR_JSON_PYTHON, S(PY_ENTRY));
}

/* The message is rewritten in the requested dialect, whatever dialect it came in. */
static void test_encode_rewrites_the_message(void **state) {
  (void)state;
  /* a Python-written message into a TS entry */
  expect_encode(S(PY_MESSAGE), TS_ENQ, TS_EXP, XR_CHAT_QUEUE_TS, XR_JSON_JS,
                S("{\"message\":" PY_MESSAGE_AS_JS ",\"enqueuedAt\":1795298426872,\"expiresAt\":1795298516872}"));
  /* a TS-written message into a Python entry */
  expect_encode(S(TS_MESSAGE), PY_ENQ, PY_EXP, XR_CHAT_QUEUE_PYTHON, XR_JSON_PYTHON,
                S("{\"enqueued_at\": 1795298445479, \"expires_at\": 1795298535479, \"message\": " TS_MESSAGE_AS_PY "}"));
  /* insignificant white space goes */
  expect_encode(S("{ \"_type\" : \"chat:Message\" }"), 1, 2, XR_CHAT_QUEUE_TS, XR_JSON_JS,
                S("{\"message\":{\"_type\":\"chat:Message\"},\"enqueuedAt\":1,\"expiresAt\":2}"));
}

static void test_encode_both_spellings(void **state) {
  (void)state;
  expect_encode(S(TS_MESSAGE), TS_ENQ, TS_EXP, XR_CHAT_QUEUE_BOTH, XR_JSON_JS, S(BOTH_JS));
  expect_encode(S(TS_MESSAGE), TS_ENQ, TS_EXP, XR_CHAT_QUEUE_BOTH, XR_JSON_PYTHON, S(BOTH_PY));
}

static void test_encode_refuses_bad_input(void **state) {
  (void)state;
  char *out = NULL;
  size_t len = 0;
  XR_FAILS_CODEC(xr_chat_encode_queue_entry(&out, &len, S("{\"a\":"), 1, 2, XR_CHAT_QUEUE_TS, XR_JSON_JS),
                 XR_EPARSE);
  XR_FAILS_CODEC(xr_chat_encode_queue_entry(&out, &len, S("not json"), 1, 2, XR_CHAT_QUEUE_PYTHON, XR_JSON_PYTHON),
                 XR_EPARSE);
  /* invalid UTF-8 inside a string */
  XR_FAILS_CODEC(xr_chat_encode_queue_entry(&out, &len, S("{\"text\":\"\xff\"}"), 1, 2, XR_CHAT_QUEUE_TS, XR_JSON_JS),
                 XR_EPARSE);
  XR_FAILS_CODEC(xr_chat_encode_queue_entry(&out, &len, S(""), 1, 2, XR_CHAT_QUEUE_TS, XR_JSON_JS), XR_EPARSE);
  /* dialects that do not exist */
  XR_FAILS_CODEC(xr_chat_encode_queue_entry(&out, &len, S("{}"), 1, 2, (xr_chat_queue_dialect)0, XR_JSON_JS),
                 XR_EINVAL);
  XR_FAILS_CODEC(xr_chat_encode_queue_entry(&out, &len, S("{}"), 1, 2, XR_CHAT_QUEUE_TS, (xr_json_dialect)99),
                 XR_EINVAL);
}

/* ---- decoding: any spelling ------------------------------------------------------------------- */

static void test_decode_ts_entry(void **state) {
  (void)state;
  expect_decode(S(TS_ENTRY), XR_JSON_JS, S(TS_MESSAGE), TS_ENQ, TS_EXP);
  expect_decode(S(TS_ENTRY), XR_JSON_PYTHON, S(TS_MESSAGE_AS_PY), TS_ENQ, TS_EXP);
}

static void test_decode_python_entry(void **state) {
  (void)state;
  expect_decode(S(PY_ENTRY), XR_JSON_PYTHON, S(PY_MESSAGE), PY_ENQ, PY_EXP);
  /* what Python wrote, read by a TS-dialect adapter (SPEC.md 1.5: upstream TS drops it as expired) */
  expect_decode(S(PY_ENTRY), XR_JSON_JS, S(PY_MESSAGE_AS_JS), PY_ENQ, PY_EXP);
}

static void test_decode_both_spellings(void **state) {
  (void)state;
  expect_decode(S(BOTH_JS), XR_JSON_JS, S(TS_MESSAGE), TS_ENQ, TS_EXP);
  expect_decode(S(BOTH_JS), XR_JSON_PYTHON, S(TS_MESSAGE_AS_PY), TS_ENQ, TS_EXP);
  expect_decode(S(BOTH_PY), XR_JSON_JS, S(TS_MESSAGE), TS_ENQ, TS_EXP);
  expect_decode(S(BOTH_PY), XR_JSON_PYTHON, S(TS_MESSAGE_AS_PY), TS_ENQ, TS_EXP);
}

static void test_decode_optional_and_unknown_members(void **state) {
  (void)state;
  /* no enqueued time: -1 */
  expect_decode(S("{\"message\":{\"a\":1},\"expiresAt\":5}"), XR_JSON_JS, S("{\"a\":1}"), -1, 5);
  expect_decode(S("{\"expires_at\": 6, \"message\": {\"a\": 1}}"), XR_JSON_JS, S("{\"a\":1}"), -1, 6);
  /* unknown members anywhere are ignored, members in any order, spellings mixed */
  expect_decode(S("{\"x\":[1,{\"y\":2}],\"expires_at\":7,\"message\":{\"a\":[true,null]},\"enqueuedAt\":3,\"z\":\"\"}"),
                XR_JSON_PYTHON, S("{\"a\": [true, null]}"), 3, 7);
  /* a message that is not an object is still the message */
  expect_decode(S("{\"message\":\"h\xc3\xa9\",\"expiresAt\":9}"), XR_JSON_PYTHON, S("\"h\\u00e9\""), -1, 9);
}

/* Numbers as JS writes them: integers past 64 bits in plain digits (1e20), reals with an exponent.
 * A TS message holding one is still a TS entry (node: JSON.stringify({message: {id: "m1", n: 1e20,
 * big: 123456789012345678901234567890, x: 2 ** 53 + 2}, enqueuedAt: 1795298426872,
 * expiresAt: 1795298516872})). */
#define BIG_NUMBERS_MESSAGE \
  "{\"id\":\"m1\",\"n\":100000000000000000000,\"big\":1.2345678901234568e+29,\"x\":9007199254740994}"
#define BIG_NUMBERS_ENTRY \
  "{\"message\":" BIG_NUMBERS_MESSAGE ",\"enqueuedAt\":1795298426872,\"expiresAt\":1795298516872}"

static void test_decode_js_numbers_past_64_bits(void **state) {
  (void)state;
  expect_decode(S(BIG_NUMBERS_ENTRY), XR_JSON_JS, S(BIG_NUMBERS_MESSAGE), TS_ENQ, TS_EXP);
}

/* xr_chat_set takes the same text (xr_json_transcode reads numbers as JSON.parse does). */
static void test_encode_js_numbers_past_64_bits(void **state) {
  (void)state;
  expect_encode(S(BIG_NUMBERS_MESSAGE), TS_ENQ, TS_EXP, XR_CHAT_QUEUE_TS, XR_JSON_JS, S(BIG_NUMBERS_ENTRY));
}

/* An entry with many unknown members before its own (more than fit the decoder's first scan). */
static void test_decode_many_members(void **state) {
  (void)state;
  char raw[2048];
  size_t n = 0;
  raw[n++] = '{';
  for (int i = 0; i < 40; i++) n += (size_t)snprintf(raw + n, sizeof raw - n, "\"k%d\":%d,", i, i);
  n += (size_t)snprintf(raw + n, sizeof raw - n, "\"message\":{\"a\":1},\"expiresAt\":5}");
  expect_decode(raw, n, XR_JSON_JS, S("{\"a\":1}"), -1, 5);
}

static void test_decode_malformed_entries(void **state) {
  (void)state;
  expect_decode_fails(S("not json at all"), "JSON");
  expect_decode_fails(S("{\"message\":{},\"expiresAt\":1"), "JSON");
  expect_decode_fails(S("{\"expiresAt\":1795298516872,\"enqueuedAt\":1}"), "message");
  expect_decode_fails(S("{\"expires_at\": 1795298516872}"), "message");
  expect_decode_fails(S("{\"message\":{\"a\":1},\"enqueuedAt\":1795298426872}"), "expires");
  expect_decode_fails(S("{\"message\":{\"a\":1},\"enqueued_at\":1795298426872}"), "expires");
  expect_decode_fails(S("{\"message\":{\"a\":1},\"expiresAt\":\"1795298516872\"}"), "expires");
  expect_decode_fails(S("{\"message\":{\"a\":1},\"expires_at\":null}"), "expires");
  /* JSON, but not an object */
  expect_decode_fails(S("[{\"message\":{},\"expiresAt\":1}]"), "");
  expect_decode_fails(S("\"{\\\"message\\\":{},\\\"expiresAt\\\":1}\""), "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_ts_entry_is_the_captured_one),
      cmocka_unit_test(test_encode_python_entry_is_the_captured_one),
      cmocka_unit_test(test_encode_rewrites_the_message),
      cmocka_unit_test(test_encode_both_spellings),
      cmocka_unit_test(test_encode_refuses_bad_input),
      cmocka_unit_test(test_decode_ts_entry),
      cmocka_unit_test(test_decode_python_entry),
      cmocka_unit_test(test_decode_both_spellings),
      cmocka_unit_test(test_decode_optional_and_unknown_members),
      cmocka_unit_test(test_decode_js_numbers_past_64_bits),
      cmocka_unit_test(test_encode_js_numbers_past_64_bits),
      cmocka_unit_test(test_decode_many_members),
      cmocka_unit_test(test_decode_malformed_entries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
