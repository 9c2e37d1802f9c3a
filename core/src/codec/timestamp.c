/* Timestamps: Go's RFC 3339 as encoding/json writes and reads time.Time; the wall clock. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crossredis/timestamp.h"
#include "base/decimal.h"
#include "base/internal.h"
#include "codec/timestamp_internal.h"

#define SECS_PER_DAY INT64_C(86400)

/* Instants outside [0000-01-01T00:00:00Z - 1 day, 9999-12-31T23:59:59Z + 1 day] cannot show a
 * year in 0..9999 under any offset below a day; refusing them first keeps the arithmetic far
 * from overflow. */
#define MIN_FORMAT_SEC (INT64_C(-62167219200) - SECS_PER_DAY)
#define MAX_FORMAT_SEC (INT64_C(253402300799) + SECS_PER_DAY)

static bool is_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

static int days_in_month(int64_t y, int m) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Proleptic Gregorian calendar, counted in years that start on 1 March so that the leap day is
 * the last day of its year. A 400-year cycle has 146097 days; day 0 of the cycle starting in
 * year 0 is 0000-03-01, which is 719468 days before 1970-01-01. */
#define CYCLE_DAYS 146097
#define MARCH_0000_TO_EPOCH 719468

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  int64_t my = m > 2 ? y : y - 1;      /* the March-based year */
  int mm = m > 2 ? m - 3 : m + 9;      /* 0 = March ... 11 = February */
  int64_t cycle = floor_div(my, 400);
  int64_t yc = my - cycle * 400;       /* 0..399 */
  /* Month lengths from March repeat 31 30 31 30 31 with period 5 months = 153 days. */
  int64_t day_of_year = (153 * mm + 2) / 5 + (d - 1);
  int64_t day_of_cycle = yc * 365 + yc / 4 - yc / 100 + day_of_year;
  return cycle * CYCLE_DAYS + day_of_cycle - MARCH_0000_TO_EPOCH;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t days, int64_t *y, int *m, int *d) {
  int64_t z = days + MARCH_0000_TO_EPOCH;
  int64_t cycle = floor_div(z, CYCLE_DAYS);
  int64_t dc = z - cycle * CYCLE_DAYS; /* 0..146096 */
  /* Year of the cycle: remove the leap days before dividing by 365. The last day of the cycle
   * (a 29 February of a year divisible by 400) belongs to year 399. */
  int64_t yc = (dc - dc / 1460 + dc / 36524 - dc / (CYCLE_DAYS - 1)) / 365;
  int64_t doy = dc - (yc * 365 + yc / 4 - yc / 100); /* 0..365 */
  int mm = (int)((5 * doy + 2) / 153);                /* 0 = March */
  *d = (int)(doy - (153 * mm + 2) / 5 + 1);
  *m = mm < 10 ? mm + 3 : mm - 9;
  *y = yc + cycle * 400 + (*m <= 2 ? 1 : 0);
}

/* v >= 0, in exactly `width` digits. */
static char *put_digits(char *p, int64_t v, int width) {
  xr_dec_fixed(p, (uint64_t)v, (size_t)width);
  return p + width;
}

int xr_time_format_rfc3339(char buf[XR_RFC3339_MAX], const xr_time *t) {
  if (buf == NULL || t == NULL) return xr_fail(XR_EINVAL, "xr_time_format_rfc3339: NULL argument");
  buf[0] = '\0';
  if (t->nsec < 0 || t->nsec > 999999999)
    return xr_fail(XR_EINVAL, "nanoseconds %ld outside 0..999999999", (long)t->nsec);
  if (t->offset_sec <= -86400 || t->offset_sec >= 86400 || t->offset_sec % 60 != 0)
    return xr_fail(XR_EINVAL, "UTC offset %ld s is not a whole number of minutes below 24 h",
                   (long)t->offset_sec);
  if (t->sec < MIN_FORMAT_SEC || t->sec > MAX_FORMAT_SEC)
    return xr_fail(XR_ERANGE, "year outside of range [0,9999]");
  int64_t local = t->sec + t->offset_sec;
  int64_t days = floor_div(local, SECS_PER_DAY);
  int64_t sod = local - days * SECS_PER_DAY;
  int64_t year;
  int month, day;
  civil_from_days(days, &year, &month, &day);
  if (year < 0 || year > 9999) return xr_fail(XR_ERANGE, "year outside of range [0,9999]");

  char *p = buf;
  p = put_digits(p, year, 4);
  *p++ = '-';
  p = put_digits(p, month, 2);
  *p++ = '-';
  p = put_digits(p, day, 2);
  *p++ = 'T';
  p = put_digits(p, sod / 3600, 2);
  *p++ = ':';
  p = put_digits(p, sod / 60 % 60, 2);
  *p++ = ':';
  p = put_digits(p, sod % 60, 2);
  if (t->nsec) {
    int32_t ns = t->nsec;
    int digits = 9;
    while (ns % 10 == 0) { /* trailing zeros dropped; ns != 0 so this stops */
      ns /= 10;
      digits--;
    }
    *p++ = '.';
    p = put_digits(p, ns, digits);
  }
  if (t->offset_sec == 0) {
    *p++ = 'Z';
  } else {
    int32_t minutes = t->offset_sec / 60;
    *p++ = minutes < 0 ? '-' : '+';
    if (minutes < 0) minutes = -minutes;
    p = put_digits(p, minutes / 60, 2);
    *p++ = ':';
    p = put_digits(p, minutes % 60, 2);
  }
  *p = '\0';
  return (int)(p - buf);
}

/* ---- parsing --------------------------------------------------------------------------------- */

typedef struct cursor {
  const char *s;
  size_t len;
  size_t pos;
} cursor;

static bool digit_at(const cursor *c, size_t i) {
  return i < c->len && c->s[i] >= '0' && c->s[i] <= '9';
}

/* Reads exactly n digits. */
static int take_digits(cursor *c, int n, int *v, const char *what) {
  int x = 0;
  for (int i = 0; i < n; i++) {
    if (!digit_at(c, c->pos))
      return xr_fail(XR_EPARSE, "%s: expected %d digits at byte %zu", what, n, c->pos);
    x = x * 10 + (c->s[c->pos++] - '0');
  }
  *v = x;
  return 0;
}

static int expect(cursor *c, char ch) {
  if (c->pos >= c->len)
    return xr_fail(XR_EPARSE, "expected '%c' at byte %zu, found the end", ch, c->pos);
  if (c->s[c->pos] != ch) return xr_fail(XR_EPARSE, "expected '%c' at byte %zu", ch, c->pos);
  c->pos++;
  return 0;
}

/* The grammar Go's time.Parse(time.RFC3339, s) accepts, which is also what Time.UnmarshalJSON
 * accepts (its stricter checks are disabled, https://go.dev/issue/54580). The checks are done
 * in Go's order, so the first problem is the one reported. */
int xr_time_parse_rfc3339(xr_time *out, const char *text, size_t len) {
  if (out == NULL) return xr_fail(XR_EINVAL, "xr_time_parse_rfc3339: out is NULL");
  if (text == NULL && len) return xr_fail(XR_EINVAL, "xr_time_parse_rfc3339: text is NULL");
  cursor c = {text, len, 0};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, rc;
  int32_t nsec = 0, offset = 0;

  if ((rc = take_digits(&c, 4, &year, "year")) != 0) return rc;
  if ((rc = expect(&c, '-')) != 0) return rc;
  if ((rc = take_digits(&c, 2, &month, "month")) != 0) return rc;
  if (month < 1 || month > 12) return xr_fail(XR_EPARSE, "month out of range");
  if ((rc = expect(&c, '-')) != 0) return rc;
  if ((rc = take_digits(&c, 2, &day, "day")) != 0) return rc;
  if ((rc = expect(&c, 'T')) != 0) return rc;
  /* Go reads the hour with one or two digits ("T1:03:07Z" is accepted). */
  if (!digit_at(&c, c.pos)) return xr_fail(XR_EPARSE, "hour: expected a digit at byte %zu", c.pos);
  hour = c.s[c.pos++] - '0';
  if (digit_at(&c, c.pos)) hour = hour * 10 + (c.s[c.pos++] - '0');
  if (hour > 23) return xr_fail(XR_EPARSE, "hour out of range");
  if ((rc = expect(&c, ':')) != 0) return rc;
  if ((rc = take_digits(&c, 2, &minute, "minute")) != 0) return rc;
  if (minute > 59) return xr_fail(XR_EPARSE, "minute out of range");
  if ((rc = expect(&c, ':')) != 0) return rc;
  if ((rc = take_digits(&c, 2, &second, "second")) != 0) return rc;
  if (second > 59) return xr_fail(XR_EPARSE, "second out of range");

  /* Fraction: '.' (or ',', which Go also takes) and at least one digit; digits past the ninth
   * are read and ignored. A separator without a digit is left for the zone, which rejects it. */
  if (c.pos < len && (c.s[c.pos] == '.' || c.s[c.pos] == ',') && digit_at(&c, c.pos + 1)) {
    c.pos++;
    int ndigits = 0;
    while (digit_at(&c, c.pos)) {
      if (ndigits < 9) nsec = nsec * 10 + (c.s[c.pos] - '0');
      ndigits++;
      c.pos++;
    }
    for (; ndigits < 9; ndigits++) nsec *= 10;
  }

  if (c.pos >= len)
    return xr_fail(XR_EPARSE, "missing time zone: expected 'Z' or +hh:mm at byte %zu", c.pos);
  char sign = c.s[c.pos];
  if (sign == 'Z') {
    c.pos++;
  } else {
    if ((sign != '+' && sign != '-') || len - c.pos < 6 || c.s[c.pos + 3] != ':' ||
        !digit_at(&c, c.pos + 1) || !digit_at(&c, c.pos + 2) || !digit_at(&c, c.pos + 4) ||
        !digit_at(&c, c.pos + 5))
      return xr_fail(XR_EPARSE, "bad time zone at byte %zu: expected 'Z' or +hh:mm", c.pos);
    int oh = (c.s[c.pos + 1] - '0') * 10 + (c.s[c.pos + 2] - '0');
    int om = (c.s[c.pos + 4] - '0') * 10 + (c.s[c.pos + 5] - '0');
    /* Go allows hour 24 and minute 60 here ("+24:60" is 90000 s). */
    if (oh > 24) return xr_fail(XR_EPARSE, "time zone offset hour out of range");
    if (om > 60) return xr_fail(XR_EPARSE, "time zone offset minute out of range");
    offset = (int32_t)((oh * 60 + om) * 60);
    if (sign == '-') offset = -offset;
    c.pos += 6;
  }
  if (c.pos != len) return xr_fail(XR_EPARSE, "extra text at byte %zu", c.pos);
  if (day < 1 || day > days_in_month(year, month)) return xr_fail(XR_EPARSE, "day out of range");

  out->sec = days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 +
             second - offset;
  out->nsec = nsec;
  out->offset_sec = offset;
  return 0;
}

/* ---- the clock ------------------------------------------------------------------------------- */

xr_time xr_time_now(void) {
  struct timespec ts;
  xr_time t = {0, 0, 0};
  if (clock_gettime(CLOCK_REALTIME, &ts) == 0) {
    t.sec = (int64_t)ts.tv_sec;
    t.nsec = (int32_t)ts.tv_nsec;
  }
  return t;
}

int64_t xr_time_now_ms(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
  return (int64_t)ts.tv_sec * 1000 + (int64_t)(ts.tv_nsec / 1000000);
}

/* ---- Go's error texts ----------------------------------------------------------------------- */

/* time.quote: quotes, '"' and '\' escaped, other bytes outside 0x20..0x7f as \xNN. */
static void go_time_quote(xr_buf *b, const char *s, size_t n) {
  xr_buf_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x80 || c < 0x20) xr_buf_printf(b, "\\x%02x", c);
    else {
      if (c == '"' || c == '\\') xr_buf_putc(b, '\\');
      xr_buf_putc(b, (char)c);
    }
  }
  xr_buf_putc(b, '"');
}

static int go_digit(const char *s, size_t n, size_t i) { return i < n && s[i] >= '0' && s[i] <= '9'; }

/* getnum: one or two digits (fixed: exactly two); -1 when there is none. */
static int go_getnum(const char *s, size_t n, size_t *at, int fixed) {
  size_t i = *at;
  if (!go_digit(s, n, i)) return -1;
  if (!go_digit(s, n, i + 1)) {
    if (fixed) return -1;
    *at = i + 1;
    return s[i] - '0';
  }
  *at = i + 2;
  return (s[i] - '0') * 10 + (s[i + 1] - '0');
}

void xr_time_go_parse_error(char *buf, size_t size, const char *v, size_t n) {
  static const char layout[] = "2006-01-02T15:04:05Z07:00";
  xr_buf b = XR_BUF_INIT;
  xr_buf_puts(&b, "parsing time ");
  go_time_quote(&b, v, n);
  size_t i = 0;
  const char *elem = NULL, *range = NULL;
  int year = 0, month = 0, day = 0;
  /* the layout's chunks in order: literal prefixes and the standard elements */
  static const char *const chunks[] = {"2006", "-", "01", "-", "02", "T", "15", ":", "04", ":", "05", "Z07:00"};
  size_t hold = 0;
  for (size_t k = 0; k < sizeof chunks / sizeof chunks[0] && !elem && !range; k++) {
    const char *c = chunks[k];
    hold = i;
    if (!strcmp(c, "2006")) {
      if (n - i < 4 || !go_digit(v, n, i)) elem = c;
      else {
        for (size_t j = 0; j < 4; j++)
          if (!go_digit(v, n, i + j)) elem = c;
        if (!elem) year = (v[i] - '0') * 1000 + (v[i + 1] - '0') * 100 + (v[i + 2] - '0') * 10 + (v[i + 3] - '0');
        i += 4;
      }
    } else if (c[1] == '\0') { /* a literal: - T : */
      if (i >= n || v[i] != c[0]) elem = c;
      else i++;
    } else if (!strcmp(c, "Z07:00")) {
      if (i < n && v[i] == 'Z') i++;
      else if (n - i < 6 || v[i + 3] != ':') elem = c;
      else {
        size_t h = i + 1, m = i + 4;
        int hr = go_getnum(v, n, &h, 1), mn = go_getnum(v, n, &m, 1);
        if (hr < 0 || mn < 0 || (v[i] != '+' && v[i] != '-')) elem = c;
        else if (hr > 24) range = "time zone offset hour";
        else if (mn > 60) range = "time zone offset minute";
        i += 6;
      }
    } else {
      int fixed = strcmp(c, "15") != 0, num = go_getnum(v, n, &i, fixed);
      if (num < 0) elem = c;
      else if (!strcmp(c, "01")) {
        month = num;
        if (num < 1 || num > 12) range = "month";
      } else if (!strcmp(c, "02")) {
        day = num;
      } else if (!strcmp(c, "15")) {
        if (num > 23) range = "hour";
      } else if (!strcmp(c, "04")) {
        if (num > 59) range = "minute";
      } else if (num > 59) {
        range = "second";
      }
      if (!elem && !range && !strcmp(c, "05") && n - i >= 2 && (v[i] == '.' || v[i] == ',') && go_digit(v, n, i + 1))
        for (i += 2; go_digit(v, n, i); i++) {
        }
    }
  }
  if (elem) {
    xr_buf_puts(&b, " as \"");
    xr_buf_puts(&b, layout);
    xr_buf_puts(&b, "\": cannot parse ");
    go_time_quote(&b, v + hold, n - hold);
    xr_buf_puts(&b, " as ");
    go_time_quote(&b, elem, strlen(elem));
  } else if (range) {
    xr_buf_printf(&b, ": %s out of range", range);
  } else if (i < n) {
    xr_buf_puts(&b, ": extra text: ");
    go_time_quote(&b, v + i, n - i);
  } else {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int dim = days[month - 1] + (month == 2 && leap);
    xr_buf_puts(&b, day < 1 || day > dim ? ": day out of range" : ": cannot parse");
  }
  snprintf(buf, size, "%.*s", b.oom ? 0 : (int)b.len, b.oom ? "" : b.data);
  if (b.oom) snprintf(buf, size, "parsing time: out of memory");
  xr_buf_free(&b);
}
