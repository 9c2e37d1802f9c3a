/* The client options' row numbers (client_options.def), for the core's sources that refer to one
 * option: the configuration (config.c) and the URL parser, which takes its limits from the same
 * rows. */
#ifndef CROSSREDIS_CONFIG_INTERNAL_H
#define CROSSREDIS_CONFIG_INTERNAL_H

#include "crossredis/config.h"

typedef enum xr_client_option_id {
#define XR_CLIENT_OPTION(name, node_name, kind, min, max, doc) XR_OPT_##name,
#include "crossredis/client_options.def"
#undef XR_CLIENT_OPTION
  XR_OPT_COUNT
} xr_client_option_id;

#endif
