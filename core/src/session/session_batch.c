/* Batches of session operations: the generic batch of net/ops.h over the session system, with the
 * typed adders (one per row of session.def). */
#include <string.h>

#include "crossredis/alloc.h"
#include "crossredis/session.h"
#include "net/ops.h"

extern const xr_system session_system;

XR_OPS_BATCH_DEFINE(session, xr_session_storage, xr_session_storage_client)

#define XR_SESSION_OP(ID, name, wire, result, args) XR_OPS_BATCH_ADDER(session, SESSION, ID, name, args)
#include "crossredis/session.def"
#undef XR_SESSION_OP
