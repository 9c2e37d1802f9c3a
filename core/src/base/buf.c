#include <stdio.h>
#include <string.h>

#include "base/internal.h"

int xr_buf_reserve(xr_buf *b, size_t extra) {
  if (b->oom) return -1;
  if (extra > SIZE_MAX - b->len - 1) {
    b->oom = 1;
    return -1;
  }
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  char *p = xr_realloc(b->data, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

void xr_buf_append(xr_buf *b, const void *p, size_t n) {
  if (xr_buf_reserve(b, n) != 0) return;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void xr_buf_putc(xr_buf *b, char c) {
  if (b->len + 1 < b->cap) { /* fast path: room for the byte and the NUL */
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return;
  }
  xr_buf_append(b, &c, 1);
}

void xr_buf_puts(xr_buf *b, const char *s) { xr_buf_append(b, s, strlen(s)); }

void xr_buf_printf(xr_buf *b, const char *fmt, ...) {
  char small[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
    return;
  }
  if ((size_t)n < sizeof small) {
    xr_buf_append(b, small, (size_t)n);
    return;
  }
  if (xr_buf_reserve(b, (size_t)n) != 0) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void xr_buf_free(xr_buf *b) {
  xr_free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->oom = 0;
}

int xr_buf_finish(xr_buf *b, char **out, size_t *outlen) {
  if (!b->oom && b->data == NULL) xr_buf_reserve(b, 0);
  if (b->oom) {
    xr_buf_free(b);
    *out = NULL;
    if (outlen) *outlen = 0;
    return xr_fail_nomem();
  }
  b->data[b->len] = '\0';
  *out = b->data;
  if (outlen) *outlen = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return XR_OK;
}
