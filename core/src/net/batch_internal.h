/* What a connection that runs a batch on its own (the loop connection, net/loop_conn.c) needs of
 * it: the pipeline's bytes, and the results filled in as the replies arrive. */
#ifndef CROSSREDIS_BATCH_INTERNAL_H
#define CROSSREDIS_BATCH_INTERNAL_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "crossredis/client.h"

/* XR_EINVAL (naming `fn`) when b leaves a MULTI or WATCH open: such a batch may not run. */
int xr_batch_check_closed(const xr_batch *b, const char *fn);
/* Starts a run of b: clears the previous results and marks b as run. */
void xr_batch_begin(xr_batch *b);
/* The encoded pipeline (RESP), owned by b. */
const char *xr_batch_wire(const xr_batch *b, size_t *len);
/* Operation i's reply (b takes r); an error reply becomes the operation's code and message. */
void xr_batch_set_result(xr_batch *b, size_t i, redisReply *r);
/* Operations k.. fail with `code` and the message of the thread's last error. */
void xr_batch_fail_from(xr_batch *b, size_t k, int code);

#endif
