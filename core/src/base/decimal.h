/* Decimal text of integers: the core's one formatter, for every integer that becomes bytes on the
 * wire or in a stored value (RESP lengths, command arguments, token times, JSON integers and
 * exponents, queue-entry times, RFC 3339 fields). Messages for people use printf. Nothing here
 * writes a NUL. */
#ifndef CROSSREDIS_DECIMAL_H
#define CROSSREDIS_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes one call writes: UINT64_MAX has 20 digits; INT64_MIN is '-' and 19. */
#define XR_DEC_MAX 20

/* How many digits v has (1 for 0). */
size_t xr_dec_len(uint64_t v);

/* Writes v's digits at out and returns how many (xr_dec_len(v)). */
size_t xr_dec_u64(char *out, uint64_t v);

/* The same for a signed value, '-' first when negative; returns the bytes written. */
size_t xr_dec_i64(char *out, int64_t v);

/* Writes exactly `width` digits: v zero-padded on the left (only its last `width` digits when it
 * has more). */
void xr_dec_fixed(char *out, uint64_t v, size_t width);

#endif
