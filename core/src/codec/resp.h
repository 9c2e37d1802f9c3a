/* RESP encoding of commands (arrays of bulk strings), without printf: the sequential path and the
 * batches both encode through here. */
#ifndef CROSSREDIS_RESP_H
#define CROSSREDIS_RESP_H

#include <stddef.h>

#include "base/internal.h"

/* "<kind><n>\r\n", kind '*' (array) or '$' (bulk). */
void xr_resp_count(xr_buf *w, char kind, size_t n);
/* "$<n>\r\n<bytes>\r\n". */
void xr_resp_bulk(xr_buf *w, const char *p, size_t n);
/* A whole command; lens may be NULL for NUL-terminated arguments. */
void xr_resp_command(xr_buf *w, int argc, const char *const *argv, const size_t *lens);

#endif
