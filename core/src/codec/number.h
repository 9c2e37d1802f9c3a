/* Numbers in JSON text as JavaScript, Python and Go write them (codec/number.c). */
#ifndef CROSSREDIS_NUMBER_H
#define CROSSREDIS_NUMBER_H

#include <stddef.h>
#include <stdint.h>

#include "crossredis/json.h"
#include "base/internal.h"

/* Room for any formatted double: the longest is Go's/JS's "-0.0000012345678901234567" (25). */
#define XR_NUMBER_BUF 32

/* v (finite) as `d` writes it, into buf (XR_NUMBER_BUF bytes, NUL-terminated); returns the length. */
size_t xr_number_format(char *buf, double v, xr_json_dialect d);

/* Appends v (finite) as `d` writes it. */
void xr_number_put_real(xr_buf *b, double v, xr_json_dialect d);

/* Appends an integer as `d` writes it: JS has only doubles, so there it is the double nearest to
 * it, as JSON.parse would have read it; Python and Go write its digits. */
void xr_number_put_integer(xr_buf *b, int64_t v, xr_json_dialect d);

#endif
