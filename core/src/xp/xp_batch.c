/* Batches of xp operations: the generic batch of net/ops.h over the xp system, with the typed
 * adders (one per row of xp.def). */
#include <string.h>

#include "crossredis/alloc.h"
#include "crossredis/xp.h"
#include "net/ops.h"

extern const xr_system xp_system;

XR_OPS_BATCH_DEFINE(xp, xr_xp_store, xr_xp_store_client)

#define XR_XP_OP(ID, name, wire, result, args) XR_OPS_BATCH_ADDER(xp, XP, ID, name, args)
#include "crossredis/xp.def"
#undef XR_XP_OP
