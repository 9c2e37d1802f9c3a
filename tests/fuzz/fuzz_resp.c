/* Server bytes to replies, the way the core reads them: hiredis's reader with its default reply
 * functions (what every redisContext of the pool and of the loop connections uses) builds the
 * xr_reply tree, then the core's reply code reads it: the xr_reply accessors, the error-reply
 * mapping (xr_reply_error_code, xr_reply_error) and the decoders of every result kind
 * (xr_ops_decode, the Chat queue entry through the chat system's decoder).
 *
 * Input: byte 0 is how many bytes each feed gets (0: everything at once), so replies split at
 * every point, as they arrive from a socket; the rest is the server's byte stream.
 *
 * One difference from the core's connections: the reader here refuses aggregates of more than
 * 2^20 elements (the core's take hiredis's default, 2^32-1). hiredis allocates an aggregate's
 * element pointers when it reads the count, so "*4294967295\r\n" alone asks for 32 GiB (a map
 * twice that); under the sanitizers that is a reported out-of-memory rather than the clean
 * XR_ENOMEM a plain build gets, and the fuzzer would spend its time there. The refusal path
 * ("multi-bulk length out of range") is the same code either way. */
#include <stdbool.h>

#include <jansson.h>

#include <hiredis/hiredis.h>

#include "chat/chat_internal.h"
#include "net/client_internal.h"
#include "crossredis/client.h"
#include "fuzz.h"

static int is_text_kind(int t) {
  return t == REDIS_REPLY_STRING || t == REDIS_REPLY_STATUS || t == REDIS_REPLY_ERROR || t == REDIS_REPLY_DOUBLE ||
         t == REDIS_REPLY_VERB || t == REDIS_REPLY_BIGNUM;
}

static int is_aggregate_kind(int t) {
  return t == REDIS_REPLY_ARRAY || t == REDIS_REPLY_MAP || t == REDIS_REPLY_SET || t == REDIS_REPLY_PUSH;
}

/* An error reply as the core turns it into a code and a message (xr_client_command's deliver, a
 * batch's result). */
static void check_error_reply(const xr_reply *r, const char *s, size_t len) {
  int code = xr_reply_error_code(s, len);
  FUZZ_CHECK(code == XR_EAUTH || code == XR_EWRONGTYPE || code == XR_ESERVER || code == XR_ECROSSSLOT ||
                 code == XR_ECLUSTERDOWN || code == XR_EREADONLY || code == XR_ENOREPLICAS || code == XR_ELOADING,
             "error code %d", code);
  int rc = xr_reply_error((const redisReply *)r);
  FUZZ_CHECK(rc == code, "xr_reply_error gave %d, xr_reply_error_code %d", rc, code);
  size_t shown = strnlen(s, len > 900 ? 900 : len);
  const char *msg = xr_error_last()->message;
  FUZZ_CHECK(strlen(msg) <= shown && memcmp(msg, s, strlen(msg)) == 0, "the message is not the reply's text");
  (void)xr_is_noscript((const redisReply *)r);
}

/* Every accessor on every node. */
static void walk(const xr_reply *r, int depth) {
  int t = (int)xr_reply_kind(r);
  FUZZ_CHECK(t >= REDIS_REPLY_STRING && t <= REDIS_REPLY_VERB, "reply type %d", t);
  size_t len = 12345;
  const char *s = xr_reply_str(r, &len);
  if (is_text_kind(t)) {
    FUZZ_CHECK(s != NULL, "no text for a reply of type %d", t);
    unsigned sum = 0;
    for (size_t i = 0; i <= len; i++) sum += (unsigned char)s[i]; /* ASan checks len */
    FUZZ_CHECK(s[len] == '\0', "text of type %d not NUL-terminated (%u)", t, sum);
    if (t == REDIS_REPLY_ERROR) check_error_reply(r, s, len);
  } else {
    FUZZ_CHECK(s == NULL && len == 0, "text for a reply of type %d", t);
  }
  long long v = xr_reply_integer(r);
  FUZZ_CHECK(v == 0 || t == REDIS_REPLY_INTEGER || t == REDIS_REPLY_BOOL, "integer %lld from type %d", v, t);
  size_t n = xr_reply_count(r);
  FUZZ_CHECK(n == 0 || is_aggregate_kind(t), "%zu elements in a reply of type %d", n, t);
  FUZZ_CHECK(!is_aggregate_kind(t) || depth <= XR_REPLY_MAX_DEPTH, "an aggregate at depth %d", depth);
  for (size_t i = 0; i < n; i++) {
    const xr_reply *e = xr_reply_at(r, i);
    FUZZ_CHECK(e != NULL, "element %zu of %zu missing", i, n);
    walk(e, depth + 1);
  }
  FUZZ_CHECK(xr_reply_at(r, n) == NULL && xr_reply_at(r, (size_t)-1) == NULL, "an element past the end");
}

/* The decoders of every result kind (net/ops.c, and the Chat system's entry decoder), each over
 * every reply: the expected shapes decode, the others are XR_EPROTOCOL with a message naming the key. */
static void decode_all(const xr_reply *r) {
  static const char key[] = "chat-sdk:queue:slack:C1:1.2";
  xr_cmd c;
  memset(&c, 0, sizeof c);
  c.argc = 2;
  c.argv[0] = "LPOP";
  c.argv[1] = key;
  c.key.data = key;
  c.key.len = sizeof key - 1;
  memcpy(c.made, "redis_1_x", 9);
  c.made_len = 9;
  c.made_num = 42;
  int t = (int)xr_reply_kind(r);
  size_t len = 0;
  const char *s = xr_reply_str(r, &len);
  const xr_system *sys = &chat_system;
  xr_result res;

  FUZZ_CHECK(xr_ops_decode(sys, NULL, &c, XR_RESULT_STATUS, r, &res) == XR_OK, "status decode failed");
  int rc = xr_ops_decode(sys, NULL, &c, XR_RESULT_BOOL, r, &res);
  if (t == REDIS_REPLY_INTEGER) FUZZ_CHECK(rc == XR_OK && res.present == (xr_reply_integer(r) == 1), "bool of an integer");
  else if (t == REDIS_REPLY_STATUS || t == REDIS_REPLY_NIL)
    FUZZ_CHECK(rc == XR_OK && res.present == (t == REDIS_REPLY_STATUS), "bool of SET NX's answer");
  else FUZZ_CHECK(rc == XR_EPROTOCOL, "bool decode of type %d: %d", t, rc);
  if (rc) FUZZ_CHECK(strstr(xr_error_last()->message, key) != NULL, "the message does not name the key");
  rc = xr_ops_decode(sys, NULL, &c, XR_RESULT_LOCK, r, &res);
  FUZZ_CHECK(t == REDIS_REPLY_STATUS || t == REDIS_REPLY_NIL ? rc == XR_OK && res.present == (t == REDIS_REPLY_STATUS)
                                                             : rc == XR_EPROTOCOL,
             "lock decode of type %d: %d", t, rc);
  if (rc == XR_OK && res.present)
    FUZZ_CHECK(res.nfields == 2 && res.fields[0].len == 9 && res.fields[1].num == 42, "the lock is not the made one");
  rc = xr_ops_decode(sys, NULL, &c, XR_RESULT_INTEGER, r, &res);
  FUZZ_CHECK(t == REDIS_REPLY_INTEGER ? rc == XR_OK && res.integer == xr_reply_integer(r) : rc == XR_EPROTOCOL,
             "integer decode of type %d: %d", t, rc);
  rc = xr_ops_decode(sys, NULL, &c, XR_RESULT_LIST, r, &res);
  FUZZ_CHECK(t == REDIS_REPLY_ARRAY ? rc == XR_OK && res.list == r : rc == XR_EPROTOCOL, "list decode of type %d", t);

  rc = xr_ops_decode(sys, NULL, &c, XR_RESULT_VALUE, r, &res);
  if (t == REDIS_REPLY_STRING)
    FUZZ_CHECK(rc == XR_OK && res.present && res.fields[0].len == len && memcmp(res.fields[0].data, s, len) == 0,
               "value decode: not the reply's bytes");
  else if (t == REDIS_REPLY_NIL)
    FUZZ_CHECK(rc == XR_OK && !res.present && res.nfields == 0, "value decode of nil");
  else
    FUZZ_CHECK(rc == XR_EPROTOCOL, "value decode of type %d: %d", t, rc);

  const xr_json_dialect dialects[] = {XR_JSON_JS, XR_JSON_PYTHON};
  for (size_t d = 0; d < sizeof dialects / sizeof dialects[0]; d++) {
    struct xr_chat chat;
    memset(&chat, 0, sizeof chat);
    chat.json = dialects[d];
    rc = xr_ops_decode(sys, &chat, &c, XR_RESULT_ENTRY, r, &res);
    if (t == REDIS_REPLY_STRING) {
      FUZZ_CHECK(res.present, "a string reply not found");
      FUZZ_CHECK(rc == XR_OK || rc == XR_EPARSE, "entry decode: %d", rc);
      FUZZ_CHECK(res.nfields == 4 && res.fields[3].data && res.fields[3].len == len &&
                     memcmp(res.fields[3].data, s, len) == 0,
                 "the entry's raw bytes differ");
      if (rc == XR_OK)
        FUZZ_CHECK(res.fields[0].data != NULL && res.fields[0].data[res.fields[0].len] == '\0', "entry without message");
      else FUZZ_CHECK(strstr(xr_error_last()->message, key) != NULL, "the message does not name the key");
    } else if (t == REDIS_REPLY_NIL) {
      FUZZ_CHECK(rc == XR_OK && !res.present && res.nfields == 0, "entry decode of nil");
    } else {
      FUZZ_CHECK(rc == XR_EPROTOCOL, "entry decode of type %d: %d", t, rc);
    }
    xr_result_clear(&res);
  }
}

FUZZ_FIXED_JSON_SEED()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t chunk = data[0] ? data[0] : size;
  data++, size--;
  redisReader *reader = redisReaderCreate();
  if (!reader) abort();
  reader->maxelements = 1 << 20;
  xr_reply_guard guard;
  xr_reply_guard_install(&guard, reader); /* as every connection of the core has */
  size_t off = 0;
  int failed = 0;
  while (!failed && off < size) {
    size_t n = size - off < chunk ? size - off : chunk;
    FUZZ_CHECK(redisReaderFeed(reader, (const char *)data + off, n) == REDIS_OK, "feed refused");
    off += n;
    for (;;) {
      void *r = NULL;
      if (redisReaderGetReply(reader, &r) != REDIS_OK) {
        FUZZ_CHECK(reader->err != 0 && reader->errstr[0] != '\0', "a reader error without its text");
        /* the only refusal that is not a protocol error: a reply nested too deep */
        FUZZ_CHECK(reader->err == REDIS_ERR_PROTOCOL || (reader->err == REDIS_ERR_OOM && guard.too_deep),
                   "reader error %d: %s", reader->err, reader->errstr);
        FUZZ_CHECK(r == NULL, "a reply with an error");
        failed = 1;
        break;
      }
      if (!r) break;
      walk((const xr_reply *)r, 1);
      decode_all((const xr_reply *)r);
      xr_reply_free((xr_reply *)r);
    }
  }
  redisReaderFree(reader);
  return 0;
}
