/* What xp's sources share inside the core: the store (xp.c), read by the Cluster's registry steps
 * (xp_registry.c) and the listings (xp_list.c). */
#ifndef CROSSREDIS_XP_INTERNAL_H
#define CROSSREDIS_XP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "crossredis/xp.h"
#include "net/ops.h"

/* A key prefix: "<prefix>buffer:", "<prefix>chain:", "<prefix>uuid:". */
typedef struct xp_prefix {
  char *data;
  size_t len;
} xp_prefix;

struct xr_xp_store {
  xr_client *client;
  xp_prefix prefix, buffer, chain, uuid;
  int64_t ttl_s;  /* 0: none */
  char ttl[24];   /* its decimal text, for the scripts */
  xr_script *append, *set, *get_chain, *get_or_create, *delete, *cad;
};

extern const xr_system xp_system;

/* XR_EINVAL naming the argument of row op when it is empty. */
int xp_check_id(int op, const char *what, const xr_arg *a);

/* The several-step registry rows on a Cluster (xp.h's protocol); args as xp.def's row, already
 * checked for count. *out as xr_xp_call gives it; *created for get_or_create (may be NULL). */
int xp_cluster_set(xr_xp_store *s, const xr_arg *a, xr_result *out);
int xp_cluster_get_chain(xr_xp_store *s, const xr_arg *a, xr_result *out);
int xp_cluster_get_or_create(xr_xp_store *s, const xr_arg *a, xr_result *out, bool *created);
int xp_cluster_delete(xr_xp_store *s, const xr_arg *a, xr_result *out);

#endif
