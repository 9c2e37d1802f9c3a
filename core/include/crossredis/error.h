/* Error codes and the thread-local last error.
 *
 * Every fallible crossredis function returns an int: 0 on success, a negative XR_E* code on
 * failure. The failing call also records a message for the calling thread, read with
 * xr_error_last(); it names what failed ("connect refused to 127.0.0.1:6390", "timeout after
 * 3000 ms", ...). The message stays until the next failing call on the same thread or
 * xr_error_clear(). */
#ifndef CROSSREDIS_ERROR_H
#define CROSSREDIS_ERROR_H

#include <stddef.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum xr_error_code {
#define XR_ERROR(name, value, cls, parent, text) XR_##name = value,
#include "errors.def"
#undef XR_ERROR
} xr_error_code;

typedef struct xr_error {
  int code;            /* XR_E* code of the last failure on this thread, XR_OK when none */
  const char *message; /* never NULL; "" when none; valid until the next crossredis call that fails */
} xr_error;

/* The description of a code from errors.def ("timed out"); "unknown error" for other values. */
XR_API const char *xr_strerror(int code);

/* The name of a code without the XR_ prefix ("ETIMEOUT"); "EUNKNOWN" for other values. */
XR_API const char *xr_error_name(int code);

/* One row of errors.def, for bindings that make their exception classes from it. */
typedef struct xr_error_info {
  int code;                 /* XR_E* value */
  const char *name;         /* "ETIMEOUT" */
  const char *class_name;   /* "TimeoutError" */
  const char *parent_class; /* "ConnectionError"; "Error" for the root's children (and for OK) */
  const char *description;  /* "timed out" */
} xr_error_info;

/* Row i of the table, in the order of errors.def (row 0 is OK); NULL past the last. */
XR_API const xr_error_info *xr_error_info_at(size_t i);

/* The last failure recorded on the calling thread. Never NULL. */
XR_API const xr_error *xr_error_last(void);

/* Forgets the calling thread's last failure. */
XR_API void xr_error_clear(void);

/* Records `code` with a printf-style message as the calling thread's last failure and returns
 * `code`. For layers built on crossredis (the TLS part, bindings) and user callbacks that fail. */
XR_API int xr_error_set(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
