#include <stdlib.h>
#include <string.h>

#include <hiredis/alloc.h>
#include <jansson.h>

#include "base/internal.h"

static xr_allocator current = {malloc, calloc, realloc, free};

static char *hiredis_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = current.malloc_fn(n);
  if (p) memcpy(p, s, n);
  return p;
}

int xr_set_allocator(const xr_allocator *a) {
  if (a == NULL) {
    xr_allocator libc = {malloc, calloc, realloc, free};
    current = libc;
  } else if (!a->malloc_fn || !a->calloc_fn || !a->realloc_fn || !a->free_fn) {
    return xr_fail(XR_EINVAL, "xr_set_allocator: every function of the allocator is required");
  } else {
    current = *a;
  }
  /* hiredis and jansson allocate reply objects and parsed values on our behalf. */
  hiredisAllocFuncs h = {current.malloc_fn, current.calloc_fn, current.realloc_fn, hiredis_strdup,
                         current.free_fn};
  hiredisSetAllocators(&h);
  json_set_alloc_funcs(current.malloc_fn, current.free_fn);
  return XR_OK;
}

const xr_allocator *xr_allocator_current(void) { return &current; }

void *xr_malloc(size_t n) { return current.malloc_fn(n ? n : 1); }
void *xr_calloc(size_t count, size_t n) { return current.calloc_fn(count ? count : 1, n ? n : 1); }
void *xr_realloc(void *p, size_t n) { return current.realloc_fn(p, n ? n : 1); }
void xr_free(void *p) {
  if (p) current.free_fn(p);
}

char *xr_strndup(const char *s, size_t n) {
  char *p = xr_malloc(n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  return p;
}
