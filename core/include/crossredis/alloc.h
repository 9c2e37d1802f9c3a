/* Allocator hooks. Everything crossredis allocates (and hiredis and jansson on its behalf) goes
 * through these functions. Set them once, before any other crossredis call and before any other
 * thread uses the library; they are not meant to change while the library is in use. */
#ifndef CROSSREDIS_ALLOC_H
#define CROSSREDIS_ALLOC_H

#include <stddef.h>
#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_allocator {
  void *(*malloc_fn)(size_t size);
  void *(*calloc_fn)(size_t count, size_t size);
  void *(*realloc_fn)(void *ptr, size_t size);
  void (*free_fn)(void *ptr);
} xr_allocator;

/* Installs `a` (every member required), or the C library's functions when `a` is NULL.
 * Returns XR_EINVAL when a member is missing. */
XR_API int xr_set_allocator(const xr_allocator *a);

/* Frees memory that a crossredis function returned to the caller (strings, buffers). */
XR_API void xr_free(void *ptr);

/* Allocate through the installed hooks, for memory that crossredis will free (or that the caller
 * frees with xr_free). A zero size allocates one byte; NULL when out of memory. */
XR_API void *xr_malloc(size_t size);
XR_API void *xr_calloc(size_t count, size_t size);
XR_API void *xr_realloc(void *ptr, size_t size);
/* A NUL-terminated copy of the first n bytes of s. */
XR_API char *xr_strndup(const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
