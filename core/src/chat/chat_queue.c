/* Queue entries (SPEC.md 1.5): the TS core writes {"message","enqueuedAt","expiresAt"}, the
 * Python port {"enqueued_at","expires_at","message"}; each reads only its own spelling, so an
 * entry one writes is lost to the other. crossredis reads both, and can write an entry carrying
 * both spellings, which both upstream readers accept (they ignore unknown members).
 *
 * The entry's own members are read from spans of its text, not through a parsed tree, so a
 * message holding numbers or escapes that jansson cannot hold (JS writes 1e20 as 21 digits) still
 * decodes. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat/chat_internal.h"
#include "crossredis/chat.h"
#include "base/decimal.h"
#include "base/internal.h"
#include "codec/json_internal.h"

void xr_chat_queue_entry_clear(xr_chat_queue_entry *e) {
  if (!e) return;
  xr_free(e->message);
  xr_free(e->raw);
  memset(e, 0, sizeof *e);
}

/* ---- encode ------------------------------------------------------------------------------------- */

static void put_member(xr_buf *b, int *first, xr_json_dialect json, const char *name, const char *value,
                       size_t value_len) {
  int py = json == XR_JSON_PYTHON;
  if (!*first) xr_buf_puts(b, py ? ", " : ",");
  *first = 0;
  xr_buf_putc(b, '"');
  xr_buf_puts(b, name);
  xr_buf_puts(b, py ? "\": " : "\":");
  xr_buf_append(b, value, value_len);
}

static void put_ms(xr_buf *b, int *first, xr_json_dialect json, const char *name, int64_t ms) {
  char digits[XR_DEC_MAX];
  put_member(b, first, json, name, digits, xr_dec_i64(digits, ms));
}

int xr_chat_encode_queue_entry(char **out, size_t *out_len, const char *message_json, size_t message_len,
                               int64_t enqueued_at_ms, int64_t expires_at_ms, xr_chat_queue_dialect queue,
                               xr_json_dialect json) {
  if (!out || !message_json) return xr_fail(XR_EINVAL, "queue entry: out and the message are required");
  *out = NULL;
  if (queue < XR_CHAT_QUEUE_TS || queue > XR_CHAT_QUEUE_BOTH)
    return xr_fail(XR_EINVAL, "queue entry: unknown queue dialect %d", (int)queue);
  if (json != XR_JSON_JS && json != XR_JSON_PYTHON)
    return xr_fail(XR_EINVAL, "queue entry: json dialect %d: the Chat SDK runtimes are XR_JSON_JS and XR_JSON_PYTHON",
                   (int)json);
  int rc;
  if ((rc = chat_check_ms("chat.enqueue", "enqueued_at_ms", enqueued_at_ms, "Unix milliseconds")) ||
      (rc = chat_check_ms("chat.enqueue", "expires_at_ms", expires_at_ms, "Unix milliseconds")))
    return rc;
  char *message = NULL;
  size_t mlen = 0;
  rc = xr_json_transcode(&message, &mlen, message_json, message_len, json, 0);
  if (rc) return xr_fail(rc, "queue entry: the message is not JSON: %s", xr_error_last()->message);
  /* The members in the order each runtime writes them (SPEC.md 1.5). */
  xr_buf b = XR_BUF_INIT;
  int first = 1;
  xr_buf_putc(&b, '{');
  if (queue == XR_CHAT_QUEUE_PYTHON) {
    put_ms(&b, &first, json, "enqueued_at", enqueued_at_ms);
    put_ms(&b, &first, json, "expires_at", expires_at_ms);
    put_member(&b, &first, json, "message", message, mlen);
  } else {
    put_member(&b, &first, json, "message", message, mlen);
    put_ms(&b, &first, json, "enqueuedAt", enqueued_at_ms);
    put_ms(&b, &first, json, "expiresAt", expires_at_ms);
    if (queue == XR_CHAT_QUEUE_BOTH) {
      put_ms(&b, &first, json, "enqueued_at", enqueued_at_ms);
      put_ms(&b, &first, json, "expires_at", expires_at_ms);
    }
  }
  xr_buf_putc(&b, '}');
  xr_free(message);
  return xr_buf_finish(&b, out, out_len);
}

/* ---- decode ------------------------------------------------------------------------------------- */

/* Does the member's key spell `name`? Keys are compared as JSON strings: an escaped spelling
 * ("\u006dessage") is the same key, as JSON.parse and json.loads read it. */
static int key_is(const char *raw, const xr_json_member *m, const char *name) {
  const char *k = raw + m->key_off;
  if (!memchr(k, '\\', m->key_len)) return m->key_len == strlen(name) && memcmp(k, name, m->key_len) == 0;
  json_t *v = NULL;
  if (xr_json_parse(&v, k - 1, m->key_len + 2) != XR_OK) return 0;
  int same = json_is_string(v) && json_string_length(v) == strlen(name) && !memcmp(json_string_value(v), name,
                                                                                     json_string_length(v));
  json_decref(v);
  return same;
}

/* The last member named a or b (JSON.parse and json.loads keep the last duplicate). */
static const xr_json_member *find(const char *raw, const xr_json_member *m, size_t n, const char *a, const char *b,
                                  const char **which) {
  const xr_json_member *found = NULL;
  for (size_t i = 0; i < n; i++) {
    if (key_is(raw, &m[i], a)) found = &m[i], *which = a;
  }
  if (found || !b) return found;
  for (size_t i = 0; i < n; i++) {
    if (key_is(raw, &m[i], b)) found = &m[i], *which = b;
  }
  return found;
}

/* A time in milliseconds: a JSON number (an integer, or a real as JS may write one, truncated). */
static int read_ms(const char *raw, const xr_json_member *m, const char *name, int64_t *out) {
  char text[64];
  const char *v = raw + m->value_off;
  if (m->value_len == 0 || m->value_len >= sizeof text || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')))
    return xr_fail(XR_EPARSE, "queue entry member %s is not a number of milliseconds", name);
  memcpy(text, v, m->value_len);
  text[m->value_len] = '\0';
  errno = 0;
  char *end;
  long long i = strtoll(text, &end, 10);
  if (*end == '\0' && errno == 0) {
    *out = (int64_t)i;
    return XR_OK;
  }
  double d = strtod(text, &end);
  if (*end != '\0' || !isfinite(d) || fabs(d) >= 9.2e18)
    return xr_fail(XR_EPARSE, "queue entry member %s is not a number of milliseconds", name);
  *out = (int64_t)d;
  return XR_OK;
}

static int decode_members(xr_chat_queue_entry *e, const char *raw, const xr_json_member *m, size_t n,
                          xr_json_dialect json);

int xr_chat_decode_queue_entry(xr_chat_queue_entry *e, const char *raw, size_t raw_len, xr_json_dialect json) {
  if (!e || !raw) return xr_fail(XR_EINVAL, "queue entry: the entry and its text are required");
  memset(e, 0, sizeof *e);
  if (!(e->raw = xr_strndup(raw, raw_len))) return xr_fail_nomem();
  e->raw_len = raw_len;
  enum { SMALL = 16 }; /* an entry has 3 to 5 members */
  xr_json_member small[SMALL], *m = small;
  size_t n = 0;
  int rc = xr_json_object_members(raw, raw_len, m, SMALL, &n);
  if (rc == XR_OK && n > SMALL) { /* many unknown members: scan again into room for all */
    if (!(m = xr_malloc(n * sizeof *m))) return xr_fail_nomem();
    rc = xr_json_object_members(raw, raw_len, m, n, &n);
  }
  if (rc == XR_OK) rc = decode_members(e, raw, m, n, json);
  else rc = xr_fail(XR_EPARSE, "queue entry is not a JSON object: %s", xr_error_last()->message);
  if (m != small) xr_free(m);
  return rc;
}

static int decode_members(xr_chat_queue_entry *e, const char *raw, const xr_json_member *m, size_t n,
                          xr_json_dialect json) {
  int rc;
  const char *name = NULL;
  const xr_json_member *msg = find(raw, m, n, "message", NULL, &name);
  if (!msg) return xr_fail(XR_EPARSE, "queue entry has no message");
  const xr_json_member *exp = find(raw, m, n, "expiresAt", "expires_at", &name);
  if (!exp) return xr_fail(XR_EPARSE, "queue entry has neither expiresAt nor expires_at");
  if ((rc = read_ms(raw, exp, name, &e->expires_at_ms))) return rc;
  const xr_json_member *enq = find(raw, m, n, "enqueuedAt", "enqueued_at", &name);
  e->enqueued_at_ms = -1;
  if (enq && (rc = read_ms(raw, enq, name, &e->enqueued_at_ms))) return rc;
  /* The message in the adapter's dialect; one that dialect's parser cannot hold (a Python integer
   * past 64 bits) comes back exactly as stored rather than altered. */
  const char *mtext = raw + msg->value_off;
  if (xr_json_transcode(&e->message, &e->message_len, mtext, msg->value_len, json, 0) != XR_OK) {
    xr_error_clear();
    if (!(e->message = xr_strndup(mtext, msg->value_len))) return xr_fail_nomem();
    e->message_len = msg->value_len;
  }
  return XR_OK;
}
