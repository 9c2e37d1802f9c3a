/* loop.h's pollable functions: the clock, and dispatch through each object's table (base/pollable.h). */
#include <time.h>

#include "base/internal.h"
#include "base/pollable.h"

int64_t xr_monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int xr_pollable_fd(const xr_pollable *p) { return p ? p->vt->fd(p) : -1; }

int xr_pollable_events(const xr_pollable *p) { return p ? p->vt->events(p) : 0; }

int64_t xr_pollable_deadline(const xr_pollable *p) { return p ? p->vt->deadline(p) : -1; }

int xr_pollable_process(xr_pollable *p, int ready, int64_t now_ms) {
  if (!p) return xr_fail(XR_EINVAL, "xr_pollable_process: the pollable is NULL");
  if (ready & ~(XR_WAIT_READ | XR_WAIT_WRITE))
    return xr_fail(XR_EINVAL, "xr_pollable_process: ready is %d, not a set of XR_WAIT_READ and XR_WAIT_WRITE", ready);
  return p->vt->process(p, ready, now_ms);
}
