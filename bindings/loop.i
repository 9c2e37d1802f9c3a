/* loop.h in the bindings that drive it from an adapter of their host loop written over the module
 * (Python's asyncio: python/crossredis/_loop.py): the pollable contract, and the loop connection's
 * open, close, state and cancel. A batch starts on one by its system's function
 * (xr_chat_batch_start); the pollable runs it, so start, continue and the raw fd stay out. Nothing
 * here blocks but xr_loop_conn_open (it connects). Included by crossredis.i. */
%{
#include "crossredis/loop.h"
%}

%ignore xr_loop_conn_fd;
%ignore xr_loop_conn_start;
%ignore xr_loop_conn_continue;

%include "crossredis/loop.h"
