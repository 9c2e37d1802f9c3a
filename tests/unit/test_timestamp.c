/* Unit tests for timestamp.c: Go's RFC 3339 (encoding/json time.Time) and the clock.
 *
 * The goldens below come from Go 1.26.8 on this machine: a scratch program outside the tree ran
 * time.Parse(time.RFC3339, s) and json.Unmarshal into a time.Time on each input (both agreed on
 * every one), printing t.Unix(), t.Nanosecond(), the zone offset and json.Marshal(t); and
 * json.Marshal(time.Unix(sec, nsec).In(time.FixedZone("", off))) for the formatting cases. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/error.h"
#include "crossredis/timestamp.h"

typedef struct fmt_case {
  int64_t sec;
  int32_t nsec;
  int32_t off;
  const char *want; /* NULL: Go refused (the code says which error we return) */
  int err;
} fmt_case;

static void test_format(void **state) {
  (void)state;
  static const fmt_case cases[] = {
      {1779285787, 412337051, 0, "2026-05-20T14:03:07.412337051Z", 0},
      {1779285787, 0, 0, "2026-05-20T14:03:07Z", 0},
      {1779285787, 500000000, 0, "2026-05-20T14:03:07.5Z", 0},
      {XR_TIME_ZERO_SEC, 0, 0, "0001-01-01T00:00:00Z", 0},
      {0, 0, 0, "1970-01-01T00:00:00Z", 0},
      {0, 1, 0, "1970-01-01T00:00:00.000000001Z", 0},
      {0, 100, 0, "1970-01-01T00:00:00.0000001Z", 0},
      {0, 120000000, 0, "1970-01-01T00:00:00.12Z", 0},
      {1779285787, 0, 19800, "2026-05-20T19:33:07+05:30", 0},
      {1779285787, 120000000, -28800, "2026-05-20T06:03:07.12-08:00", 0},
      {-1, 0, 0, "1969-12-31T23:59:59Z", 0},
      {-1, 999999999, 0, "1969-12-31T23:59:59.999999999Z", 0},
      {-86400, 0, 0, "1969-12-31T00:00:00Z", 0},
      {-86401, 0, 0, "1969-12-30T23:59:59Z", 0},
      {951782400, 0, 0, "2000-02-29T00:00:00Z", 0},
      {-2208988800, 0, 0, "1900-01-01T00:00:00Z", 0},
      {-62167219200, 0, 0, "0000-01-01T00:00:00Z", 0},
      {-62167219201, 0, 0, NULL, XR_ERANGE},
      {253402300799, 999999999, 0, "9999-12-31T23:59:59.999999999Z", 0},
      {253402300800, 0, 0, NULL, XR_ERANGE},
      {253402300799, 0, 3600, NULL, XR_ERANGE},
      {253402300799, 0, -3600, "9999-12-31T22:59:59-01:00", 0},
      {-62167219200, 0, -60, NULL, XR_ERANGE},
      {-62167219200, 0, 60, "0000-01-01T00:01:00+00:01", 0},
      {0, 0, 86340, "1970-01-01T23:59:00+23:59", 0},
      {0, 0, -86340, "1969-12-31T00:01:00-23:59", 0},
      {0, 0, 86400, NULL, XR_EINVAL}, /* Go: "timezone hour outside of range [0,23]" */
      {0, 0, 90000, NULL, XR_EINVAL},
      {1709164800, 0, 0, "2024-02-29T00:00:00Z", 0},
      {4102444800, 0, 0, "2100-01-01T00:00:00Z", 0},
      {-12219292800, 0, 0, "1582-10-15T00:00:00Z", 0},
      {1234567890, 10, 0, "2009-02-13T23:31:30.00000001Z", 0},
      /* Not Go's behaviour: Go writes offsets that are not whole minutes truncated
       * ({0,0,30} -> "1970-01-01T00:00:30+00:00", {0,0,5430} -> "...+01:30"); the contract here
       * refuses them. */
      {0, 0, 30, NULL, XR_EINVAL},
      {0, 0, 5430, NULL, XR_EINVAL},
      {0, 0, -1, NULL, XR_EINVAL},
      {0, -1, 0, NULL, XR_EINVAL},
      {0, 1000000000, 0, NULL, XR_EINVAL},
      {INT64_MAX, 0, 0, NULL, XR_ERANGE},
      {INT64_MIN, 0, 0, NULL, XR_ERANGE},
      {INT64_MAX, 0, 86340, NULL, XR_ERANGE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[XR_RFC3339_MAX];
    xr_time t = {cases[i].sec, cases[i].nsec, cases[i].off};
    int n = xr_time_format_rfc3339(buf, &t);
    if (cases[i].want) {
      if (n < 0 || strcmp(buf, cases[i].want) != 0 || (size_t)n != strlen(cases[i].want))
        fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, n, n < 0 ? "" : buf, cases[i].want);
    } else if (n != cases[i].err) {
      fail_msg("case %zu: got %d, want error %d", i, n, cases[i].err);
    }
  }
  /* The longest text fits. */
  char buf[XR_RFC3339_MAX];
  xr_time t = {253402300799 + 86340, 123456789, -86340};
  int n = xr_time_format_rfc3339(buf, &t);
  assert_string_equal(buf, "9999-12-31T23:59:59.123456789-23:59");
  assert_true(n < XR_RFC3339_MAX);
  assert_int_equal(xr_time_format_rfc3339(buf, NULL), XR_EINVAL);
}

typedef struct parse_case {
  const char *in;
  size_t len;
  int ok;
  int64_t sec;
  int32_t nsec;
  int32_t off;
  const char *msg; /* for a rejection: text the error message contains */
} parse_case;

#define OK(lit, sec, nsec, off) {lit, sizeof(lit) - 1, 1, sec, nsec, off, NULL}
#define BAD(lit, msg) {lit, sizeof(lit) - 1, 0, 0, 0, 0, msg}

static void test_parse(void **state) {
  (void)state;
  static const parse_case cases[] = {
      /* SPEC.md 2.1 and the usual shapes. */
      OK("2026-05-20T14:03:07.412337051Z", 1779285787, 412337051, 0),
      OK("2026-05-20T14:03:07Z", 1779285787, 0, 0),
      OK("2026-05-20T14:03:07.5Z", 1779285787, 500000000, 0),
      OK("0001-01-01T00:00:00Z", -62135596800, 0, 0),
      OK("2026-05-20T14:03:07+05:30", 1779265987, 0, 19800),
      OK("2026-05-20T14:03:07.120-08:00", 1779314587, 120000000, -28800),
      OK("2026-05-20T14:03:07.5+05:30", 1779265987, 500000000, 19800),
      OK("1970-01-01T00:00:00Z", 0, 0, 0),
      OK("9999-12-31T23:59:59.999999999Z", 253402300799, 999999999, 0),
      OK("0000-01-01T00:00:00Z", -62167219200, 0, 0),
      OK("0000-02-29T00:00:00Z", -62162121600, 0, 0),
      OK("0001-01-01T00:00:00+00:01", -62135596860, 0, 60),
      OK("9999-12-31T23:59:59-23:59", 253402387139, 0, -86340),
      OK("0000-01-01T00:00:00+23:59", -62167305540, 0, 86340),
      OK("2024-02-29T12:00:00Z", 1709208000, 0, 0),
      OK("2000-02-29T00:00:00Z", 951782400, 0, 0),
      OK("2026-04-30T00:00:00Z", 1777507200, 0, 0),
      OK("2026-12-31T00:00:00Z", 1798675200, 0, 0),
      OK("2026-05-20T14:03:07-00:00", 1779285787, 0, 0),
      OK("2026-05-20T14:03:07+00:00", 1779285787, 0, 0),
      OK("2026-05-20T14:03:07.1Z", 1779285787, 100000000, 0),
      OK("2026-05-20T14:03:07.000000001Z", 1779285787, 1, 0),
      OK("2026-05-20T14:03:07.0Z", 1779285787, 0, 0),
      OK("2026-05-20T14:03:07.000000000Z", 1779285787, 0, 0),
      /* More than nine fraction digits: the rest are ignored (truncated, not rounded). */
      OK("2026-05-20T14:03:07.1234567891Z", 1779285787, 123456789, 0),
      OK("2026-05-20T14:03:07.123456789999Z", 1779285787, 123456789, 0),
      OK("2026-05-20T04:03:07Z", 1779249787, 0, 0),
      /* Go accepts these although SPEC.md 2.1 / RFC 3339 would not: */
      OK("2026-05-20T4:03:07Z", 1779249787, 0, 0),                /* one-digit hour */
      OK("2026-05-20T1:03:07Z", 1779238987, 0, 0),
      OK("2026-05-20T4:03:07.5+01:00", 1779246187, 500000000, 3600),
      OK("2026-05-20T14:03:07,5Z", 1779285787, 500000000, 0),     /* ',' before the fraction */
      OK("2026-05-20T14:03:07+24:00", 1779199387, 0, 86400),      /* offset hour 24 */
      OK("2026-05-20T14:03:07+23:60", 1779199387, 0, 86400),      /* offset minute 60 */
      OK("2026-05-20T14:03:07+24:60", 1779195787, 0, 90000),
      /* Rejected by Go. */
      BAD("2023-02-29T12:00:00Z", "day out of range"),
      BAD("1900-02-29T00:00:00Z", "day out of range"),
      BAD("2026-04-31T00:00:00Z", "day out of range"),
      BAD("2026-01-00T00:00:00Z", "day out of range"),
      BAD("2026-01-32T00:00:00Z", "day out of range"),
      BAD("2026-13-01T00:00:00Z", "month out of range"),
      BAD("2026-00-10T00:00:00Z", "month out of range"),
      BAD("2026-05-20t14:03:07Z", "expected 'T' at byte 10"),
      BAD("2026-05-20T14:03:07z", "time zone"),
      BAD("2026-05-20 14:03:07Z", "expected 'T' at byte 10"),
      BAD("2026-05-20T24:00:00Z", "hour out of range"),
      BAD("2026-05-20T23:60:00Z", "minute out of range"),
      BAD("2026-05-20T23:59:60Z", "second out of range"),
      BAD("2026-05-20T14:03:07", "missing time zone"),
      BAD("2026-05-20T14:03:07Zjunk", "extra text at byte 20"),
      BAD("2026-05-20T14:03:07+05:30x", "extra text at byte 25"),
      BAD("2026-05-20T14:03:07Z\0", "extra text at byte 20"),
      BAD("2026-05-20T14:03:07 ", "time zone"),
      BAD("2026-05-20T14:03:07.Z", "time zone"),
      BAD("2026-05-20T14:03:07.", "time zone"),
      BAD("2026-05-20T14:03:07,Z", "time zone"),
      BAD("2026-05-20T14:03:07.-05:30", "time zone"),
      BAD("2026-05-20T01:3:07Z", "minute"),
      BAD("2026-05-20T14:03:7Z", "second"),
      BAD("2026-5-20T14:03:07Z", "month"),
      BAD("2026-05-2T14:03:07Z", "day"),
      BAD("226-05-20T14:03:07Z", "year"),
      BAD("+026-05-20T14:03:07Z", "year"),
      BAD("20260-05-20T14:03:07Z", "expected '-' at byte 4"),
      BAD("2026-05-20T14:03:07+25:00", "time zone offset hour out of range"),
      BAD("2026-05-20T14:03:07+23:61", "time zone offset minute out of range"),
      BAD("2026-05-20T14:03:07+05", "time zone"),
      BAD("2026-05-20T14:03:07+0530", "time zone"),
      BAD("2026-05-20T14:03:07+05:3", "time zone"),
      BAD("2026-05-20T14:03:07*05:30", "time zone"),
      BAD("", "year"),
      BAD("2026-05-20", "expected 'T' at byte 10"),
      BAD("2026-05-20T", "hour"),
      BAD("2026-05-20T14:03:07 Z", "time zone"),
      BAD("2026-05-20T14:03:07.5 Z", "time zone"),
      BAD("2026-05-20T 1:03:07Z", "hour"),
      BAD("2026-05-20T14-03-07Z", "expected ':' at byte 13"),
      BAD("2026/05/20T14:03:07Z", "expected '-' at byte 4"),
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const parse_case *c = &cases[i];
    xr_time t = {7, 7, 7};
    int rc = xr_time_parse_rfc3339(&t, c->in, c->len);
    if (c->ok) {
      if (rc != 0) fail_msg("case %zu \"%s\": %s", i, c->in, xr_error_last()->message);
      if (t.sec != c->sec || t.nsec != c->nsec || t.offset_sec != c->off)
        fail_msg("case %zu \"%s\": got %lld %d %d", i, c->in, (long long)t.sec, (int)t.nsec,
                 (int)t.offset_sec);
    } else {
      if (rc != XR_EPARSE) fail_msg("case %zu \"%s\": accepted (%d)", i, c->in, rc);
      if (xr_error_last()->code != XR_EPARSE || !strstr(xr_error_last()->message, c->msg))
        fail_msg("case %zu \"%s\": message \"%s\" lacks \"%s\"", i, c->in,
                 xr_error_last()->message, c->msg);
      if (t.sec != 7 || t.nsec != 7 || t.offset_sec != 7)
        fail_msg("case %zu: *out written on failure", i);
    }
  }
  xr_time t;
  assert_int_equal(xr_time_parse_rfc3339(NULL, "x", 1), XR_EINVAL);
  assert_int_equal(xr_time_parse_rfc3339(&t, NULL, 1), XR_EINVAL);
  assert_int_equal(xr_time_parse_rfc3339(&t, NULL, 0), XR_EPARSE);
  /* The length bounds the text: a valid prefix of a longer buffer parses. */
  const char *s = "2026-05-20T14:03:07Zjunk";
  assert_int_equal(xr_time_parse_rfc3339(&t, s, 20), 0);
  assert_int_equal(t.sec, 1779285787);
}

static void put(char *p, int v, int width) {
  for (int i = width - 1; i >= 0; i--, v /= 10) p[i] = (char)('0' + v % 10);
}

/* Every day from 0000-01-01 to 9999-12-31, against a plain day-by-day calendar counter:
 * format gives the counter's date, and parsing that text gives the instant back. */
static void test_every_day(void **state) {
  (void)state;
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y = 0, m = 1, d = 1;
  int64_t sec = INT64_C(-62167219200);
  char want[20] = "0000-00-00T00:00:00", buf[XR_RFC3339_MAX];
  for (;;) {
    /* Vary the time of day, the offset and the fraction with the day. */
    int64_t day_no = (sec - INT64_C(-62167219200)) / 86400;
    int sod = (int)(day_no * 7919 % 86400);
    int32_t nsec = (int32_t)(day_no % 1000) * 1000000;
    int32_t off = day_no % 3 == 0 ? 0 : (int32_t)((day_no % 1439) - 719) * 60;
    /* Stay inside the day so that the local date is the counter's date. */
    if (sod - off < 0 || sod - off >= 86400) off = 0;
    xr_time t = {sec + sod - off, nsec, off};
    int n = xr_time_format_rfc3339(buf, &t);
    put(want, y, 4);
    put(want + 5, m, 2);
    put(want + 8, d, 2);
    put(want + 11, sod / 3600, 2);
    put(want + 14, sod / 60 % 60, 2);
    put(want + 17, sod % 60, 2);
    if (n < 19 || memcmp(buf, want, 19) != 0)
      fail_msg("day %lld: got %s want %s", (long long)day_no, buf, want);
    xr_time back;
    if (xr_time_parse_rfc3339(&back, buf, (size_t)n) != 0 || back.sec != t.sec ||
        back.nsec != t.nsec || back.offset_sec != t.offset_sec)
      fail_msg("day %lld: %s does not round-trip", (long long)day_no, buf);
    if (y == 9999 && m == 12 && d == 31) break;
    sec += 86400;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (++d > mdays[m - 1] + (m == 2 && leap)) {
      d = 1;
      if (++m > 12) {
        m = 1;
        y++;
      }
    }
  }
  assert_int_equal(sec, INT64_C(253402300800) - 86400);
}

static void test_now(void **state) {
  (void)state;
  xr_time a = xr_time_now();
  int64_t ms = xr_time_now_ms();
  assert_true(a.sec > INT64_C(1700000000));
  assert_true(a.nsec >= 0 && a.nsec <= 999999999);
  assert_int_equal(a.offset_sec, 0);
  int64_t a_ms = a.sec * 1000 + a.nsec / 1000000;
  assert_true(ms >= a_ms && ms - a_ms < 5000);
  char buf[XR_RFC3339_MAX];
  assert_true(xr_time_format_rfc3339(buf, &a) >= 20);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_every_day),
      cmocka_unit_test(test_now),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
