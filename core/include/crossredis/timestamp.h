/* Timestamps as the runtimes write them: Go's RFC 3339 (time.Time in encoding/json) and Unix
 * milliseconds (JS Date.now(), the Python port's int(time.time() * 1000)). Reentrant. */
#ifndef CROSSREDIS_TIMESTAMP_H
#define CROSSREDIS_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An instant with the UTC offset it is shown in (Go's time.Time with a fixed zone). */
typedef struct xr_time {
  int64_t sec;        /* seconds since 1970-01-01T00:00:00Z */
  int32_t nsec;       /* 0..999999999 */
  int32_t offset_sec; /* offset east of UTC in seconds, a whole number of minutes, |offset| < 24 h
                       * (xr_time_parse_rfc3339 can yield up to 24 h 60 min, as Go does) */
} xr_time;

/* Go's zero time, 0001-01-01T00:00:00Z. */
#define XR_TIME_ZERO_SEC INT64_C(-62135596800)

/* Longest text xr_time_format_rfc3339 writes, with its NUL. */
#define XR_RFC3339_MAX 40

/* Formats `t` as Go's encoding/json writes a time.Time (RFC 3339 with nanoseconds): trailing
 * zeros of the fraction removed, no fraction when it is zero, "Z" for a zero offset, else
 * "+hh:mm"/"-hh:mm". Writes a NUL-terminated text into buf (XR_RFC3339_MAX bytes) and returns
 * its length. Errors: XR_EINVAL for nsec or offset out of range, XR_ERANGE for a year outside
 * 0..9999 (Go refuses to marshal those). */
XR_API int xr_time_format_rfc3339(char buf[XR_RFC3339_MAX], const xr_time *t);

/* Parses RFC 3339 as Go's time.Time UnmarshalJSON does (without the quotes), which accepts what
 * time.Parse(time.RFC3339, s) accepts (Go's stricter checks are disabled, go.dev/issue/54580):
 * four-digit year, upper-case 'T', two-digit fields in range (day checked against the month,
 * leap years included, no leap second) except the hour, which may have one digit; an optional
 * '.' or ',' with one or more digits (digits past the ninth ignored); then 'Z' or +hh:mm /
 * -hh:mm with offset hour 0..24 and minute 0..60 ("+24:60" gives offset_sec 90000: Go accepts
 * it and then refuses to marshal it, as xr_time_format_rfc3339 does); nothing after.
 * Errors: XR_EPARSE naming what was wrong, XR_EINVAL for NULL arguments. *out is written only
 * on success. */
XR_API int xr_time_parse_rfc3339(xr_time *out, const char *text, size_t len);

/* Wall-clock time now, in UTC (offset 0). */
XR_API xr_time xr_time_now(void);

/* Wall-clock Unix time in milliseconds. */
XR_API int64_t xr_time_now_ms(void);

#ifdef __cplusplus
}
#endif
#endif
