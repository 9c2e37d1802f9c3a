/* What ayepi's sources share inside the core: the retry policy's reporting and waiting (ayepi.c),
 * for the cache's sweeps (ayepi_cache.c). */
#ifndef CROSSREDIS_AYEPI_INTERNAL_H
#define CROSSREDIS_AYEPI_INTERNAL_H

#include <stdint.h>

#include "crossredis/ayepi.h"

/* A call's final failure to the retry policy's on_error, once; rc back (0: nothing). */
int ayepi_reported(xr_ayepi_store *s, int rc);
/* The policy's wait before the next attempt: 0, or XR_ECLOSED when the client shut down meanwhile. */
int ayepi_wait(xr_ayepi_store *s, int64_t delay_ms);

#endif
