#include <stdatomic.h>
#include <string.h>

#include "crossredis/client.h"
#include "base/internal.h"
#include "net/script_internal.h"
#include "base/sha1.h"

int xr_script_new(xr_script **out, const char *body, size_t len) {
  if (!out || !body) return xr_fail(XR_EINVAL, "xr_script_new: out and body are required");
  *out = NULL;
  if (len == 0) return xr_fail(XR_EINVAL, "xr_script_new: the script body is empty");
  xr_script *s = xr_calloc(1, sizeof *s);
  if (!s || !(s->body = xr_strndup(body, len))) {
    xr_free(s);
    return xr_fail_nomem();
  }
  s->len = len;
  xr_sha1_hex(s->sha1, body, len);
  atomic_init(&s->loaded, 0);
  *out = s;
  return XR_OK;
}

void xr_script_free(xr_script *s) {
  if (!s) return;
  xr_free(s->body);
  xr_free(s);
}

const char *xr_script_sha1(const xr_script *s) { return s->sha1; }
