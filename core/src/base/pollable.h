/* The seam behind loop.h's pollable: every object an event loop drives embeds an xr_pollable as
 * its first member and points it at its own table of steps, as every xr_tls starts with its
 * vtable (net/tls_hook.h). xr_pollable_* (base/pollable.c) only dispatch. */
#ifndef CROSSREDIS_POLLABLE_H
#define CROSSREDIS_POLLABLE_H

#include <stddef.h>
#include <stdint.h>

#include "crossredis/loop.h"

typedef struct xr_pollable_vtable {
  int (*fd)(const xr_pollable *p);
  int (*events)(const xr_pollable *p);
  int64_t (*deadline)(const xr_pollable *p);
  int (*process)(xr_pollable *p, int ready, int64_t now_ms);
} xr_pollable_vtable;

struct xr_pollable {
  const xr_pollable_vtable *vt;
};

/* The object of type `type` whose member `member` is the pollable p. */
#define XR_POLLABLE_OWNER(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

#endif
