/* Running one command or script run through the topology (route.c): the node that serves its
 * slot, redirections followed, retries only where the server said the command did not run. */
#ifndef CROSSREDIS_ROUTE_H
#define CROSSREDIS_ROUTE_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "crossredis/client.h"

typedef struct xr_route_req {
  int slot;                /* the slot of its keys; -1: keyless, any master */
  int readonly;            /* reads only: a replica may answer (with replica_reads) */
  /* A command: argc arguments. A script run (script set): argv[0..2] are free for the verb, the
   * body or SHA1 and the key count, which route.c fills (EVALSHA, EVAL on NOSCRIPT). */
  int argc;
  const char **argv;
  size_t *lens;
  const xr_script *script;
  /* Or one command already encoded as RESP (wire set): a batch's operation sent on its own. */
  const char *wire;
  size_t wire_len;
  /* WAIT wait_replicas wait_ms after a reply that is not an error, on the same connection (the
   * replicas acknowledge this connection's writes): the count in *acked. 0: no WAIT. */
  int wait_replicas;
  int wait_ms;
  long long *acked;
} xr_route_req;

/* The reply (an error reply too: the caller decides what it means), or NULL with *code set and
 * the failure recorded. */
redisReply *xr_route_run(xr_client *c, const xr_route_req *q, int *code);

#endif
