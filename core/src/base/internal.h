/* Private helpers shared by the core's sources: allocation through the hooks, recording the
 * last error, a growable byte buffer. Not installed. */
#ifndef CROSSREDIS_INTERNAL_H
#define CROSSREDIS_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "crossredis/alloc.h"
#include "crossredis/error.h"

#define XR_UNUSED(x) ((void)(x))

const xr_allocator *xr_allocator_current(void);

/* Records `code` with a printf-style message as the thread's last error; returns `code`. */
#define xr_fail(...) xr_error_set(__VA_ARGS__)
int xr_vfail(int code, const char *fmt, va_list ap);
/* Records XR_ENOMEM and returns it. */
static inline int xr_fail_nomem(void) { return xr_error_set(XR_ENOMEM, "out of memory"); }

/* Growable buffer. `data` is always NUL-terminated once anything was appended (len excludes the
 * NUL); a failed growth sets `oom` and later appends do nothing, so writers check once at the
 * end. */
typedef struct xr_buf {
  char *data;
  size_t len;
  size_t cap;
  int oom;
} xr_buf;

#define XR_BUF_INIT {NULL, 0, 0, 0}

int xr_buf_reserve(xr_buf *b, size_t extra);
void xr_buf_append(xr_buf *b, const void *p, size_t n);
void xr_buf_putc(xr_buf *b, char c);
void xr_buf_puts(xr_buf *b, const char *s);
void xr_buf_printf(xr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void xr_buf_free(xr_buf *b);
/* Hands the bytes to the caller (out, outlen); returns XR_ENOMEM (recorded) when the buffer ran
 * out of memory at any point. An empty buffer yields "" (allocated). */
int xr_buf_finish(xr_buf *b, char **out, size_t *outlen);

#endif
