/* The library's release and wire-format version, as built (crossredis.h). */
#include "crossredis/crossredis.h"

const char *xr_version(void) { return XR_VERSION_STRING; }

int xr_wire_version(void) { return XR_WIRE_VERSION; }
