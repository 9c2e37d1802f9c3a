/* What the core's other modules use of codec/timestamp.c beyond timestamp.h. */
#ifndef CROSSREDIS_TIMESTAMP_INTERNAL_H
#define CROSSREDIS_TIMESTAMP_INTERNAL_H

#include <stddef.h>

/* Go's error text for a value time.Parse(time.RFC3339, ...) refuses (what time.Time's
 * UnmarshalJSON returns), written into buf: `parsing time "x" as "2006-01-02T15:04:05Z07:00":
 * cannot parse "x" as "2006"`, `parsing time "...": month out of range`, `...: extra text: "x"`.
 * For a value xr_time_parse_rfc3339 refuses; a value both accept gets a generic text. */
void xr_time_go_parse_error(char *buf, size_t size, const char *value, size_t len);

#endif
