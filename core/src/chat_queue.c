/* Queue entries (SPEC.md 1.5): the TS core writes {"message","enqueuedAt","expiresAt"}, the
 * Python port {"enqueued_at","expires_at","message"}; each reads only its own spelling, so an
 * entry one writes is lost to the other. crossredis reads both, and can write an entry carrying
 * both spellings, which both upstream readers accept (they ignore unknown members). */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "crossredis/chat.h"
#include "internal.h"

void xr_chat_queue_entry_clear(xr_chat_queue_entry *e) {
  if (!e) return;
  xr_free(e->message);
  xr_free(e->raw);
  memset(e, 0, sizeof *e);
}

static int put(json_t *obj, const char *name, json_t *v) {
  return v && json_object_set_new(obj, name, v) == 0 ? XR_OK : xr_fail_nomem();
}

int xr_chat_encode_queue_entry(char **out, size_t *out_len, const char *message_json, size_t message_len,
                               int64_t enqueued_at_ms, int64_t expires_at_ms, xr_chat_queue_dialect queue,
                               xr_json_dialect json) {
  if (!out || !message_json) return xr_fail(XR_EINVAL, "queue entry: out and the message are required");
  *out = NULL;
  if (queue < XR_CHAT_QUEUE_TS || queue > XR_CHAT_QUEUE_BOTH)
    return xr_fail(XR_EINVAL, "queue entry: unknown queue dialect %d", (int)queue);
  if (enqueued_at_ms < 0 || expires_at_ms < 0)
    return xr_fail(XR_EINVAL, "queue entry: enqueued_at and expires_at must be Unix milliseconds, not negative");
  json_t *message = NULL;
  int rc = xr_json_parse(&message, message_json, message_len);
  if (rc) return xr_fail(rc, "queue entry: the message is not JSON: %s", xr_error_last()->message);
  json_t *entry = json_object();
  if (!entry) {
    json_decref(message);
    return xr_fail_nomem();
  }
  if (queue == XR_CHAT_QUEUE_PYTHON) {
    if (!(rc = put(entry, "enqueued_at", json_integer(enqueued_at_ms))) &&
        !(rc = put(entry, "expires_at", json_integer(expires_at_ms))))
      rc = put(entry, "message", json_incref(message));
  } else {
    if (!(rc = put(entry, "message", json_incref(message))) &&
        !(rc = put(entry, "enqueuedAt", json_integer(enqueued_at_ms))) &&
        !(rc = put(entry, "expiresAt", json_integer(expires_at_ms))) && queue == XR_CHAT_QUEUE_BOTH &&
        !(rc = put(entry, "enqueued_at", json_integer(enqueued_at_ms))))
      rc = put(entry, "expires_at", json_integer(expires_at_ms));
  }
  if (rc == XR_OK) rc = xr_json_write(out, out_len, entry, json, 0);
  json_decref(message);
  json_decref(entry);
  return rc;
}

/* A millisecond time member: an integer, or a real as JS may hold one (truncated). */
static int read_ms(const json_t *entry, const char *a, const char *b, int64_t *out, int required) {
  const char *name = a;
  json_t *v = json_object_get(entry, a);
  if (!v) v = json_object_get(entry, name = b);
  if (!v) {
    *out = -1;
    return required ? xr_fail(XR_EPARSE, "queue entry has neither %s nor %s", a, b) : XR_OK;
  }
  if (json_is_integer(v)) {
    *out = (int64_t)json_integer_value(v);
  } else if (json_is_real(v) && isfinite(json_real_value(v)) && fabs(json_real_value(v)) < 9.2e18) {
    *out = (int64_t)json_real_value(v);
  } else {
    return xr_fail(XR_EPARSE, "queue entry member %s is not a number of milliseconds", name);
  }
  return XR_OK;
}

int xr_chat_decode_queue_entry(xr_chat_queue_entry *e, const char *raw, size_t raw_len, xr_json_dialect json) {
  if (!e || !raw) return xr_fail(XR_EINVAL, "queue entry: the entry and its text are required");
  memset(e, 0, sizeof *e);
  if (!(e->raw = xr_strndup(raw, raw_len))) return xr_fail_nomem();
  e->raw_len = raw_len;
  json_t *entry = NULL;
  int rc = xr_json_parse(&entry, raw, raw_len);
  if (rc) return xr_fail(XR_EPARSE, "queue entry is not JSON: %s", xr_error_last()->message);
  if (!json_is_object(entry)) {
    rc = xr_fail(XR_EPARSE, "queue entry is not a JSON object");
  } else {
    json_t *message = json_object_get(entry, "message");
    if (!message) rc = xr_fail(XR_EPARSE, "queue entry has no message");
    else if (!(rc = read_ms(entry, "expiresAt", "expires_at", &e->expires_at_ms, 1)) &&
             !(rc = read_ms(entry, "enqueuedAt", "enqueued_at", &e->enqueued_at_ms, 0)))
      rc = xr_json_write(&e->message, &e->message_len, message, json, 0);
  }
  json_decref(entry);
  return rc;
}
