#include <string.h>

#include "base/decimal.h"
#include "codec/resp.h"

/* Writes "<kind><n>\r\n" at p (room checked by the caller); returns the end. */
static char *put_count(char *p, char kind, size_t n) {
  *p++ = kind;
  p += xr_dec_u64(p, n);
  *p++ = '\r';
  *p++ = '\n';
  return p;
}

void xr_resp_count(xr_buf *w, char kind, size_t n) {
  if (xr_buf_reserve(w, 24) != 0) return;
  char *end = put_count(w->data + w->len, kind, n);
  w->len = (size_t)(end - w->data);
  w->data[w->len] = '\0';
}

void xr_resp_bulk(xr_buf *w, const char *p, size_t n) {
  xr_resp_count(w, '$', n);
  xr_buf_append(w, p, n);
  xr_buf_append(w, "\r\n", 2);
}

/* The hot path of every command: one size computation, one reserve, direct writes. */
void xr_resp_command(xr_buf *w, int argc, const char *const *argv, const size_t *lens) {
  size_t len_small[16];
  size_t *len = argc <= 16 ? len_small : NULL;
  size_t total = 1 + xr_dec_len((size_t)argc) + 2;
  for (int i = 0; i < argc; i++) {
    size_t n = lens ? lens[i] : strlen(argv[i]);
    if (len) len[i] = n;
    total += 1 + xr_dec_len(n) + 2 + n + 2;
  }
  if (xr_buf_reserve(w, total) != 0) return;
  char *p = put_count(w->data + w->len, '*', (size_t)argc);
  for (int i = 0; i < argc; i++) {
    size_t n = len ? len[i] : (lens ? lens[i] : strlen(argv[i]));
    p = put_count(p, '$', n);
    memcpy(p, argv[i], n);
    p += n;
    *p++ = '\r';
    *p++ = '\n';
  }
  w->len = (size_t)(p - w->data);
  w->data[w->len] = '\0';
}
