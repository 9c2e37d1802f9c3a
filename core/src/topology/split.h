/* A batch split over the nodes of a Sentinel or a Cluster, in rounds (split.c): the first round
 * sends every operation to the node of its slot; each later round sends again the operations the
 * servers did not run (MOVED: to the slot's new node; ASK: to the named node after ASKING;
 * TRYAGAIN, CLUSTERDOWN, LOADING, READONLY: after a wait, within the retry budget) or that never
 * left (their node refused the connection). Two drivers run the rounds: the blocking one (split.c,
 * xr_client_exec) and the loop connection (loop_split.c), which does the same I/O without
 * waiting. */
#ifndef CROSSREDIS_SPLIT_H
#define CROSSREDIS_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/internal.h"
#include "crossredis/client.h"
#include "topology/topology.h"

typedef struct xr_split_op {
  int argc;
  const char **argv; /* spans into the batch's wire (the arrays: sp->args, sp->arg_lens) */
  size_t *lens;
  const xr_script *script;
  int slot;
  int readonly;      /* reads only: a replica may answer (replica_reads), until one is LOADING */
  int group;         /* > 0: inside a MULTI/WATCH group (never sent again alone) */
  int done;          /* has its outcome (a reply or a failure) for good */
  int unsent;        /* failed before it left (no node, a refused connection): may go again */
  int again;         /* goes in the next round */
  int hops;          /* MOVED/ASK followed */
  size_t node;       /* the node it went to in the current round */
  xr_node *ask;      /* the next round sends it there after ASKING (a reference) */
} xr_split_op;

typedef struct xr_split_entry {
  size_t op;         /* SIZE_MAX: the batch's WAIT at the end of this node's pipeline */
  int asking;        /* an ASKING goes first; its reply is skipped */
} xr_split_entry;

typedef struct xr_split_node {
  xr_node *node;     /* a reference */
  xr_split_entry *ops; /* this round's operations, in order */
  size_t nops, cap;
  size_t next;       /* reading: the next entry without its reply */
  int asking_read;   /* reading: the ASKING of entry `next` has been answered */
  xr_buf wire;       /* this round's pipeline */
  void *io;          /* the driver's connection for this node */
} xr_split_node;

typedef struct xr_split {
  xr_client *c;
  xr_batch *b;
  xr_split_op *ops;
  size_t n;
  xr_split_node *nodes;
  size_t nnodes, cap;
  int64_t start_ms;  /* for the retry budget */
  int waits;         /* backoffs so far */
  int first_failure; /* the first connection failure's code (the run's result) */
  /* Memory one batch leaves to the next (xr_split_end): a loop connection runs many small batches,
   * and allocating the plan afresh for each cost more than the plan itself. */
  size_t ops_cap;
  const char **args; /* every operation's argv, one after the other */
  size_t *arg_lens;
  size_t args_cap;
} xr_split;

/* Reads the batch's operations, their slots and groups, and plans the first round. sp is zeroed
 * (its first batch) or ended (xr_split_end) by the batch before, whose memory it reuses. A failure
 * here (out of memory) fails every operation and nothing is sent. */
int xr_split_prepare(xr_split *sp, xr_client *c, xr_batch *b);
/* The pipeline of node j for this round, in sp->nodes[j].wire. */
int xr_split_encode(xr_split *sp, size_t j);
/* Takes one reply r for node j: the next entry's, or the ASKING in front of it. */
void xr_split_take_reply(xr_split *sp, size_t j, void *r);
/* Node j's connection failed: its entries without a reply fail with `code` (the message is the
 * thread's last error). */
void xr_split_fail_node(xr_split *sp, size_t j, int code);
/* Node j's operations of this round that never left (its connection was refused): sent again in
 * the next round. */
void xr_split_unsent(xr_split *sp, size_t j);
/* Plans the next round from this one's outcomes: the number of operations in it (0: the run is
 * over), and *wait_ms to wait before sending it. May refresh the topology (blocking). */
size_t xr_split_next_round(xr_split *sp, int64_t *wait_ms);
/* 1 when every entry of node j's round has its reply. */
int xr_split_node_done(const xr_split *sp, size_t j);
/* The run is over: releases the nodes it holds, keeps the memory for the next xr_split_prepare. */
void xr_split_end(xr_split *sp);
/* Ends it and frees the memory. */
void xr_split_free(xr_split *sp);

#endif
