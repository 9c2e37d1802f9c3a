/* toolhive's session record and map (session_record.h): the readers and writers on any bytes.
 *
 * Input: the text. Its first byte picks the Go version (even: 1.26, odd: 1.27).
 *
 * Properties, for a record and for a map:
 *   - reading either succeeds or fails with a message (XR_EPARSE), never anything else;
 *   - a record read writes (unless a time is one Go refuses to marshal: XR_ERANGE), and what it
 *     writes reads back to the same session (ids, types, times, data text, metadata), and writes
 *     again to the same bytes (the writer's output is a fixed point);
 *   - a map read writes, and reads back to the same pairs. */
#include "crossredis/alloc.h"
#include "crossredis/session_record.h"
#include "fuzz.h"

static int same_span(const char *a, size_t an, const char *b, size_t bn) { return an == bn && (!an || !memcmp(a, b, an)); }

static int same_pairs(const xr_session_pair *a, size_t an, const xr_session_pair *b, size_t bn) {
  if (an != bn) return 0;
  for (size_t i = 0; i < an; i++) { /* both sorted by key after a write and a read */
    size_t j = 0;
    while (j < bn && !same_span(a[i].key, a[i].key_len, b[j].key, b[j].key_len)) j++;
    if (j == bn || !same_span(a[i].value, a[i].value_len, b[j].value, b[j].value_len)) return 0;
  }
  return 1;
}

static int same_time(const xr_time *a, const xr_time *b) {
  return a->sec == b->sec && a->nsec == b->nsec && a->offset_sec == b->offset_sec;
}

static void record(const char *text, size_t size, xr_go_version go) {
  xr_session_record r;
  int rc = xr_session_read(&r, text, size, go);
  if (rc) {
    FUZZ_CHECK_FAILED_WITH_MESSAGE(rc);
    FUZZ_CHECK(rc == XR_EPARSE, "read: %d", rc);
    return;
  }
  char *out;
  size_t n;
  rc = xr_session_write(&out, &n, &r.s, go);
  if (rc) {
    FUZZ_CHECK_FAILED_WITH_MESSAGE(rc);
    FUZZ_CHECK(rc == XR_ERANGE, "a record read does not write: %d", rc);
    xr_session_record_clear(&r);
    return;
  }
  xr_session_record back;
  rc = xr_session_read(&back, out, n, go);
  FUZZ_CHECK(rc == XR_OK, "what was written does not read: %.300s", out);
  FUZZ_CHECK(same_span(r.s.id, r.s.id_len, back.s.id, back.s.id_len) &&
                 same_span(r.s.type, r.s.type_len, back.s.type, back.s.type_len) &&
                 same_time(&r.s.created_at, &back.s.created_at) && same_time(&r.s.updated_at, &back.s.updated_at) &&
                 (r.s.data != NULL) == (back.s.data != NULL) &&
                 same_pairs(r.s.metadata, r.s.metadata_count, back.s.metadata, back.s.metadata_count),
             "read back differs: %.300s", out);
  char *again;
  size_t m;
  rc = xr_session_write(&again, &m, &back.s, go);
  FUZZ_CHECK(rc == XR_OK && m == n && !memcmp(again, out, n), "not a fixed point: %.300s", out);
  xr_free(again);
  xr_free(out);
  xr_session_record_clear(&back);
  xr_session_record_clear(&r);
}

static void map(const char *text, size_t size, xr_go_version go) {
  xr_session_map m;
  int rc = xr_session_map_read(&m, text, size, go);
  if (rc) {
    FUZZ_CHECK_FAILED_WITH_MESSAGE(rc);
    FUZZ_CHECK(rc == XR_EPARSE, "map read: %d", rc);
    return;
  }
  char *out;
  size_t n;
  rc = xr_session_map_write(&out, &n, m.pairs, m.count, go);
  FUZZ_CHECK(rc == XR_OK, "a map read does not write: %d", rc);
  xr_session_map back;
  rc = xr_session_map_read(&back, out, n, go);
  FUZZ_CHECK(rc == XR_OK && same_pairs(m.pairs, m.count, back.pairs, back.count), "map read back differs: %.300s", out);
  xr_free(out);
  xr_session_map_clear(&back);
  xr_session_map_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  xr_go_version go = data[0] % 2 ? XR_GO_1_27 : XR_GO_1_26;
  const char *text = (const char *)data + 1;
  record(text, size - 1, go);
  map(text, size - 1, go);
  return 0;
}
