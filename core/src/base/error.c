#include <stdio.h>
#include <string.h>

#include "base/internal.h"

/* One per thread: the message buffer and the public view of it. */
static _Thread_local char last_message[1024];
static _Thread_local xr_error last = {XR_OK, ""};

const char *xr_strerror(int code) {
  switch (code) {
#define XR_ERROR(name, value, cls, parent, text) \
  case value:                                    \
    return text;
#include "crossredis/errors.def"
#undef XR_ERROR
  }
  return "unknown error";
}

const char *xr_error_name(int code) {
  switch (code) {
#define XR_ERROR(name, value, cls, parent, text) \
  case value:                                    \
    return #name;
#include "crossredis/errors.def"
#undef XR_ERROR
  }
  return "EUNKNOWN";
}

static const xr_error_info table[] = {
#define XR_ERROR(name, value, cls, parent, text) {value, #name, #cls, #parent, text},
#include "crossredis/errors.def"
#undef XR_ERROR
};

const xr_error_info *xr_error_info_at(size_t i) { return i < sizeof table / sizeof table[0] ? &table[i] : NULL; }

const xr_error *xr_error_last(void) {
  last.message = last_message;
  return &last;
}

void xr_error_clear(void) {
  last.code = XR_OK;
  last_message[0] = '\0';
}

int xr_vfail(int code, const char *fmt, va_list ap) {
  /* Formatted apart first: callers often add context to the previous message, passing
   * xr_error_last()->message itself as an argument. */
  char scratch[sizeof last_message];
  int n = vsnprintf(scratch, sizeof scratch, fmt, ap);
  if (n < 0) snprintf(scratch, sizeof scratch, "%s", xr_strerror(code));
  memcpy(last_message, scratch, sizeof last_message);
  last.code = code;
  return code;
}

int xr_error_set(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  xr_vfail(code, fmt, ap);
  va_end(ap);
  return code;
}
