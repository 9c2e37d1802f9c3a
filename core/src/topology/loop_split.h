/* The loop connection of a Sentinel or Cluster client (loop_split.c), behind loop.h's
 * xr_loop_conn: net/loop_conn.c hands every call to it when the client is not standalone. */
#ifndef CROSSREDIS_LOOP_SPLIT_H
#define CROSSREDIS_LOOP_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "crossredis/client.h"
#include "topology/topology.h"

typedef struct xr_loop_split xr_loop_split;

/* Opens with a first connection to the master of slot (-1: a master taken at random). */
int xr_loop_split_open(xr_loop_split **out, xr_client *c, int slot);
void xr_loop_split_close(xr_loop_split *ls);
/* The epoll descriptor that stands for every node's connection; -1 once broken. */
int xr_loop_split_fd(const xr_loop_split *ls);
int xr_loop_split_broken(const xr_loop_split *ls);
int xr_loop_split_busy(const xr_loop_split *ls);
/* The connection to node n (opened, blocking, when new): its index. */
int xr_loop_split_conn(xr_loop_split *ls, xr_node *n, size_t *idx);
/* Starts batch b (begun, checked by the caller): XR_POLL_RUNNING, XR_POLL_DONE, or a code when
 * nothing could be sent (every operation failed with it). */
int xr_loop_split_start(xr_loop_split *ls, xr_batch *b);
/* One step: the I/O the nodes are ready for, a round started after its wait, a timeout. `ready`:
 * what the host loop saw on the descriptor (0: a timer, or unknown). Returns XR_POLL_IDLE,
 * XR_POLL_RUNNING, XR_POLL_DONE or a negative code. */
int xr_loop_split_step(xr_loop_split *ls, int ready, int64_t now_ms);
int64_t xr_loop_split_deadline(const xr_loop_split *ls);
void xr_loop_split_cancel(xr_loop_split *ls, int code);

#endif
