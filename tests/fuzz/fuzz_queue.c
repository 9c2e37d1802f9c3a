/* Queue entries read back from Redis, written by the TS core, the Python port or crossredis:
 * xr_chat_decode_queue_entry in every JSON dialect, and xr_chat_encode_queue_entry over what
 * was decoded, in every queue spelling.
 *
 * Input: the entry's bytes.
 *
 * Properties:
 *   - success or XR_EPARSE (with a message), and the entry's raw bytes are the input either way;
 *   - a decoded message is one JSON value (Go's grammar, which the entry's members were checked
 *     with), NUL-terminated;
 *   - an entry re-encoded in each spelling (TS, Python, both) and decoded again gives the same
 *     message bytes and times, when its message is JSON the dialect can hold and its times are
 *     in the encoder's range. */
#include <stdbool.h>

#include <jansson.h>

#include "crossredis/alloc.h"
#include "crossredis/chat.h"
#include "fuzz.h"

static const char *const dialect_names[] = {"?", "js", "python", "go"};

static bool in_range(int64_t ms) { return ms >= 0 && ms <= XR_TTL_MAX_MS; }

static void check_reencoded(const xr_chat_queue_entry *e, xr_json_dialect d) {
  if (d == XR_JSON_GO || !in_range(e->enqueued_at_ms) || !in_range(e->expires_at_ms)) return;
  char *canonical = NULL;
  size_t canonical_len = 0;
  if (xr_json_transcode(&canonical, &canonical_len, e->message, e->message_len, d, 0) != XR_OK) return;
  FUZZ_CHECK(canonical_len == e->message_len && memcmp(canonical, e->message, canonical_len) == 0,
             "%s: the decoded message is not as the dialect writes it", dialect_names[d]);
  xr_free(canonical);
  const xr_chat_queue_dialect spellings[] = {XR_CHAT_QUEUE_TS, XR_CHAT_QUEUE_PYTHON, XR_CHAT_QUEUE_BOTH};
  for (size_t k = 0; k < sizeof spellings / sizeof spellings[0]; k++) {
    char *text = NULL;
    size_t text_len = 0;
    int rc = xr_chat_encode_queue_entry(&text, &text_len, e->message, e->message_len, e->enqueued_at_ms,
                                        e->expires_at_ms, spellings[k], d);
    FUZZ_CHECK(rc == XR_OK, "%s: cannot encode a decoded entry (%d)", dialect_names[d], rc);
    xr_chat_queue_entry back;
    rc = xr_chat_decode_queue_entry(&back, text, text_len, d);
    FUZZ_CHECK(rc == XR_OK && back.message_len == e->message_len &&
                   memcmp(back.message, e->message, e->message_len) == 0 &&
                   back.enqueued_at_ms == e->enqueued_at_ms && back.expires_at_ms == e->expires_at_ms,
               "%s: an entry does not read back as written: %s", dialect_names[d], text);
    xr_chat_queue_entry_clear(&back);
    xr_free(text);
  }
}

FUZZ_FIXED_JSON_SEED()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *raw = size ? (const char *)data : "";
  const xr_json_dialect dialects[] = {XR_JSON_JS, XR_JSON_PYTHON, XR_JSON_GO};
  for (size_t k = 0; k < sizeof dialects / sizeof dialects[0]; k++) {
    xr_json_dialect d = dialects[k];
    xr_chat_queue_entry e;
    int rc = xr_chat_decode_queue_entry(&e, raw, size, d);
    FUZZ_CHECK(e.raw && e.raw_len == size && memcmp(e.raw, raw, size) == 0 && e.raw[size] == '\0',
               "%s: the raw bytes are not the input", dialect_names[d]);
    if (rc == XR_OK) {
      FUZZ_CHECK(e.message && e.message[e.message_len] == '\0', "%s: no message", dialect_names[d]);
      char *compact = NULL;
      FUZZ_CHECK(xr_json_go_compact(&compact, NULL, e.message, e.message_len, 0) == XR_OK,
                 "%s: the message is not JSON: %s", dialect_names[d], e.message);
      xr_free(compact);
      check_reencoded(&e, d);
    } else {
      FUZZ_CHECK_FAILED_WITH_MESSAGE(rc);
      FUZZ_CHECK(rc == XR_EPARSE, "%s: decode: %d", dialect_names[d], rc);
    }
    xr_chat_queue_entry_clear(&e);
  }
  return 0;
}
