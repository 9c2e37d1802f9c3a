/* What a Cluster or a Sentinel says about its topology, read the way the core reads it: error
 * replies through the one classifier of redirections (MOVED/ASK with their slot and address,
 * TRYAGAIN, CLUSTERDOWN, READONLY, LOADING) and every array through the CLUSTER SHARDS and
 * CLUSTER SLOTS readers of the slot map.
 *
 * Input: byte 0 says how many bytes each feed gets (0: all at once), as in fuzz_resp.c; the rest
 * is the server's byte stream. Properties: a redirection's slot is 0..16383, its port 1..65535 and
 * its host lies inside the reply's text; a map read without error names only masters for its
 * slots and never more assigned slots than 16384. */
#include <hiredis/hiredis.h>

#include "net/client_internal.h"
#include "topology/topology.h"
#include "fuzz.h"

static void check_redirect(const redisReply *r) {
  xr_redirect rd;
  xr_redirect_kind k = xr_redirect_classify(r->str, r->len, &rd);
  FUZZ_CHECK(k >= XR_REDIRECT_NONE && k <= XR_REDIRECT_LOADING, "kind %d", (int)k);
  if (k == XR_REDIRECT_MOVED || k == XR_REDIRECT_ASK) {
    FUZZ_CHECK(rd.slot >= 0 && rd.slot < XR_SLOTS, "slot %d", rd.slot);
    FUZZ_CHECK(rd.port >= 1 && rd.port <= 65535, "port %d", rd.port);
    FUZZ_CHECK(rd.host >= r->str && rd.host + rd.host_len <= r->str + r->len, "host outside the reply");
  }
}

static void check_map(const redisReply *r) {
  for (int shards = 0; shards < 2; shards++) {
    for (int tls = 0; tls < 2; tls++) {
      size_t nodes = 0, assigned = 0;
      if (xr_cluster_parse_map(r, shards, "127.0.0.1", tls, &nodes, &assigned) == XR_OK)
        FUZZ_CHECK(assigned <= XR_SLOTS && (assigned == 0 || nodes > 0), "%zu slots on %zu nodes", assigned, nodes);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t step = data[0];
  const char *bytes = (const char *)data + 1;
  size_t n = size - 1;
  redisReader *rd = redisReaderCreate();
  if (!rd) return 0;
  rd->maxelements = 1 << 20;
  for (size_t off = 0; off < n || off == 0;) {
    size_t chunk = step && n - off > step ? step : n - off;
    if (redisReaderFeed(rd, bytes + off, chunk) != REDIS_OK) break;
    off += chunk;
    for (;;) {
      void *r = NULL;
      if (redisReaderGetReply(rd, &r) != REDIS_OK || !r) break;
      const redisReply *rep = r;
      if (rep->type == REDIS_REPLY_ERROR) check_redirect(rep);
      else if (rep->type == REDIS_REPLY_ARRAY) check_map(rep);
      freeReplyObject(r);
    }
    if (n == 0) break;
  }
  redisReaderFree(rd);
  return 0;
}
