/* What a connection that runs a batch on its own (the loop connection, net/loop_conn.c) needs of
 * it: the pipeline's bytes, and the results filled in as the replies arrive. */
#ifndef CROSSREDIS_BATCH_INTERNAL_H
#define CROSSREDIS_BATCH_INTERNAL_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "crossredis/client.h"
#include "base/internal.h"
#include "topology/topology.h"

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

/* Operation i alone: *script set, not NULL, for a script run (its wire starts EVAL or EVALSHA). */
const char *xr_batch_op_wire(const xr_batch *b, size_t i, size_t *len, const xr_script **script);
/* Operation i's reply so far (NULL: none). */
const redisReply *xr_batch_op_reply(const xr_batch *b, size_t i);
/* Operation i fails with `code` and the thread's last error's message, its own. */
void xr_batch_fail_op(xr_batch *b, size_t i, int code);
/* Forgets operation i's reply (before it is sent again). */
void xr_batch_clear_op(xr_batch *b, size_t i);
/* Hands operation i's reply to the caller (*out, owned: xr_reply_free) as xr_client_command would:
 * its code when it failed (an error reply's code, recorded), 0 with *out set otherwise. The batch
 * forgets the reply. */
int xr_batch_take_reply(xr_batch *b, size_t i, xr_reply **out);

/* Appends a command that must run on `node` (a SCAN of one master), not by its slot: the batch
 * keeps a reference until cleared. Standalone clients have one node and ignore it. */
int xr_batch_add_on(xr_batch *b, xr_node *node, int argc, const char *const *argv, const size_t *argvlen);
xr_node *xr_batch_op_target(const xr_batch *b, size_t i);

/* WAIT for replicas after the writes: at the end of every connection's pipeline that carries the
 * batch (one per node on a Cluster, and again after a later round's), since a WAIT covers every
 * write before it on its connection. The largest count and timeout asked for win. The fewest
 * acknowledgements any WAIT gave: xr_batch_wait_acked (-1 before any answered; an error or a lost
 * WAIT counts 0). */
void xr_batch_wait_for(xr_batch *b, int replicas, int ms);
int xr_batch_wait_wanted(const xr_batch *b);
void xr_batch_wait_encode(const xr_batch *b, xr_buf *w);
void xr_batch_wait_reply(xr_batch *b, const redisReply *r);
long long xr_batch_wait_acked(const xr_batch *b);

/* Runs b on a Sentinel's master or split over a Cluster's nodes (topology/batch_split.c). */
int xr_batch_exec_routed(xr_client *c, xr_batch *b);

#endif
