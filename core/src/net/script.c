/* Scripts: made once (body and SHA1), run by EVALSHA with EVAL when the server answers NOSCRIPT.
 * In a batch they go by EVAL first (net/batch.c says why). */
#include <stdatomic.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "crossredis/client.h"
#include "base/decimal.h"
#include "base/internal.h"
#include "net/client_internal.h"
#include "net/script_internal.h"
#include "codec/command_keys.h"
#include "topology/route.h"
#include "base/sha1.h"

int xr_script_new(xr_script **out, const char *body, size_t len) {
  if (!out || !body) return xr_fail(XR_EINVAL, "xr_script_new: out and body are required");
  *out = NULL;
  if (len == 0) return xr_fail(XR_EINVAL, "xr_script_new: the script body is empty");
  xr_script *s = xr_calloc(1, sizeof *s);
  if (!s || !(s->body = xr_strndup(body, len))) {
    xr_free(s);
    return xr_fail_nomem();
  }
  s->len = len;
  xr_sha1_hex(s->sha1, body, len);
  atomic_init(&s->loaded, 0);
  *out = s;
  return XR_OK;
}

void xr_script_free(xr_script *s) {
  if (!s) return;
  xr_free(s->body);
  xr_free(s);
}

const char *xr_script_sha1(const xr_script *s) { return s->sha1; }

int xr_client_eval(xr_client *c, xr_reply **out, const xr_script *s, int numkeys, int argc,
                   const char *const *argv, const size_t *argvlen) {
  return xr_client_eval_wait(c, out, s, numkeys, argc, argv, argvlen, NULL);
}

int xr_client_eval_wait(xr_client *c, xr_reply **out, const xr_script *s, int numkeys, int argc,
                        const char *const *argv, const size_t *argvlen, const xr_wait *w) {
  if (out) *out = NULL;
  if (!c || !s) return xr_fail(XR_EINVAL, "xr_client_eval: client and script are required");
  if (argc < 0 || numkeys < 0 || numkeys > argc || (argc && !argv))
    return xr_fail(XR_EINVAL, "xr_client_eval: %d keys among %d arguments", numkeys, argc);
  enum { SMALL = 16 };
  const char *small_v[SMALL + 3];
  size_t small_l[SMALL + 3];
  const char **v = small_v;
  size_t *l = small_l;
  if (argc > SMALL) {
    v = xr_malloc(sizeof *v * (size_t)(argc + 3));
    l = xr_malloc(sizeof *l * (size_t)(argc + 3));
    if (!v || !l) {
      xr_free(v);
      xr_free(l);
      return xr_fail_nomem();
    }
  }
  char nk[XR_DEC_MAX];
  v[2] = nk;
  l[2] = xr_dec_u64(nk, (uint64_t)numkeys);
  for (int i = 0; i < argc; i++) {
    if (!argv[i]) {
      if (v != small_v) xr_free(v), xr_free(l);
      return xr_fail(XR_EINVAL, "xr_client_eval: argument %d is NULL", i);
    }
    v[i + 3] = argv[i];
    l[i + 3] = argvlen ? argvlen[i] : strlen(argv[i]);
  }
  int code = XR_OK;
  xr_route_req q = {-1, 0, argc + 3, v, l, s, NULL, 0, 0, 0, NULL};
  if (w && w->replicas > 0) q.wait_replicas = w->replicas, q.wait_ms = w->ms, q.acked = &((xr_wait *)w)->acked;
  if (c->topo.kind == XR_TOPOLOGY_CLUSTER) code = xr_keys_slot("a script", numkeys, v + 3, l + 3, &q.slot);
  redisReply *r = code ? NULL : xr_route_run(c, &q, &code);
  if (v != small_v) {
    xr_free(v);
    xr_free(l);
  }
  return r ? xr_reply_deliver(r, out) : code;
}
