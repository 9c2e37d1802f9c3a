/* Batches of ayepi operations: the generic batch of net/ops.h over the ayepi system, with the
 * typed adders (one per row of ayepi.def). */
#include <string.h>

#include "crossredis/alloc.h"
#include "crossredis/ayepi.h"
#include "net/ops.h"

extern const xr_system ayepi_system;

XR_OPS_BATCH_DEFINE(ayepi, xr_ayepi_store, xr_ayepi_store_client)

#define XR_AYEPI_OP(ID, name, wire, result, args) XR_OPS_BATCH_ADDER(ayepi, AYEPI, ID, name, args)
#include "crossredis/ayepi.def"
#undef XR_AYEPI_OP
