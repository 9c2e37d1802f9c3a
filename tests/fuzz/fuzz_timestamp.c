/* RFC 3339 times as Go writes them into JSON (toolhive's sessions): xr_time_parse_rfc3339 and
 * xr_time_format_rfc3339.
 *
 * Input: the text. Its first 16 bytes also make one xr_time (sec, nsec, offset_sec) to format.
 *
 * Properties:
 *   - a parsed time has nsec in 0..999999999 and an offset of whole minutes up to 24 h 60 min;
 *   - a parsed time that formats (year 0..9999, offset below 24 h) parses back to itself;
 *   - any xr_time either formats into at most XR_RFC3339_MAX bytes and parses back to itself, or
 *     is refused: XR_EINVAL for nsec or offset out of range, XR_ERANGE for the year. */
#include "crossredis/timestamp.h"
#include "fuzz.h"

static void check_formats_back(const xr_time *t, int from_text) {
  char buf[XR_RFC3339_MAX + 8];
  memset(buf, 'x', sizeof buf);
  int n = xr_time_format_rfc3339(buf, t);
  if (n < 0) {
    FUZZ_CHECK_FAILED_WITH_MESSAGE(n);
    int bad_fields = t->nsec < 0 || t->nsec > 999999999 || t->offset_sec <= -86400 || t->offset_sec >= 86400 ||
                     t->offset_sec % 60 != 0;
    FUZZ_CHECK(n == (bad_fields ? XR_EINVAL : XR_ERANGE), "format: %d", n);
    FUZZ_CHECK(!from_text || n == XR_ERANGE || t->offset_sec >= 86400 || t->offset_sec <= -86400,
               "a parsed time with valid fields refused: %d", n);
    return;
  }
  FUZZ_CHECK(n < XR_RFC3339_MAX && (size_t)n == strlen(buf), "format length %d", n);
  xr_time back;
  int rc = xr_time_parse_rfc3339(&back, buf, (size_t)n);
  FUZZ_CHECK(rc == XR_OK && back.sec == t->sec && back.nsec == t->nsec && back.offset_sec == t->offset_sec,
             "%s does not parse back (%d): %lld.%09d%+d vs %lld.%09d%+d", buf, rc, (long long)t->sec, (int)t->nsec,
             (int)t->offset_sec, (long long)back.sec, (int)back.nsec, (int)back.offset_sec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = size ? (const char *)data : "";
  xr_time t;
  int rc = xr_time_parse_rfc3339(&t, text, size);
  if (rc == XR_OK) {
    FUZZ_CHECK(t.nsec >= 0 && t.nsec <= 999999999, "nsec %d", (int)t.nsec);
    FUZZ_CHECK(t.offset_sec % 60 == 0 && t.offset_sec <= 90000 && t.offset_sec >= -90000, "offset %d",
               (int)t.offset_sec);
    check_formats_back(&t, 1);
  } else {
    FUZZ_CHECK_FAILED_WITH_MESSAGE(rc);
    FUZZ_CHECK(rc == XR_EPARSE, "parse: %d", rc);
  }
  if (size >= 16) {
    xr_time any;
    memcpy(&any.sec, data, 8);
    memcpy(&any.nsec, data + 8, 4);
    memcpy(&any.offset_sec, data + 12, 4);
    check_formats_back(&any, 0);
  }
  return 0;
}
