/* The one classifier of error replies for routing (topology.h): which ones mean "not run here, send
 * it again" (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, READONLY, LOADING) and where to. */
#include <string.h>

#include "crossredis/loop.h"
#include "net/client_internal.h"

#include "topology/topology.h"

#define STARTS(p) (len >= sizeof(p) - 1 && memcmp(text, p, sizeof(p) - 1) == 0)

/* "<slot> <host>:<port>": the host may be empty (the node asked) or an IPv6 address (the last ':'
 * ends it); a '?' host is unknown and so no address. */
static int parse_target(const char *s, size_t n, xr_redirect *out) {
  size_t i = 0;
  long slot = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9' && slot < XR_SLOTS) slot = slot * 10 + (s[i++] - '0');
  if (i == 0 || i >= n || s[i] != ' ' || slot >= XR_SLOTS) return 0;
  const char *addr = s + i + 1;
  size_t alen = n - i - 1;
  const char *colon = NULL;
  for (size_t k = 0; k < alen; k++)
    if (addr[k] == ':') colon = addr + k;
  if (!colon) return 0;
  long port = 0;
  const char *p = colon + 1;
  size_t plen = (size_t)(addr + alen - p);
  if (plen == 0 || plen > 5) return 0;
  for (size_t k = 0; k < plen; k++) {
    if (p[k] < '0' || p[k] > '9') return 0;
    port = port * 10 + (p[k] - '0');
  }
  if (port < 1 || port > 65535) return 0;
  size_t hlen = (size_t)(colon - addr);
  if (hlen == 1 && addr[0] == '?') return 0;
  if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') addr++, hlen -= 2;
  out->slot = (int)slot;
  out->host = addr;
  out->host_len = hlen;
  out->port = (int)port;
  return 1;
}

xr_redirect_kind xr_redirect_classify(const char *text, size_t len, xr_redirect *out) {
  memset(out, 0, sizeof *out);
  if (STARTS("MOVED ")) {
    if (parse_target(text + 6, len - 6, out)) out->kind = XR_REDIRECT_MOVED;
  } else if (STARTS("ASK ")) {
    if (parse_target(text + 4, len - 4, out)) out->kind = XR_REDIRECT_ASK;
  } else if (STARTS("TRYAGAIN")) {
    out->kind = XR_REDIRECT_TRYAGAIN;
  } else if (STARTS("CLUSTERDOWN")) {
    out->kind = XR_REDIRECT_CLUSTERDOWN;
  } else if (STARTS("READONLY")) {
    out->kind = XR_REDIRECT_READONLY;
  } else if (STARTS("LOADING")) {
    out->kind = XR_REDIRECT_LOADING;
  }
  return out->kind;
}

const char *xr_redirect_name(xr_redirect_kind k) {
  switch (k) {
    case XR_REDIRECT_MOVED: return "MOVED";
    case XR_REDIRECT_ASK: return "ASK";
    case XR_REDIRECT_TRYAGAIN: return "TRYAGAIN";
    case XR_REDIRECT_CLUSTERDOWN: return "CLUSTERDOWN";
    case XR_REDIRECT_READONLY: return "READONLY";
    case XR_REDIRECT_LOADING: return "LOADING";
    default: return "a refused connection";
  }
}

/* Waits that need no refresh stop after this long, or the command timeout when longer: a failover
 * of a few seconds is ridden out, a dead cluster is not. */
#define RETRY_BUDGET_MIN_MS 1000
#define BACKOFF_FIRST_MS 10
#define BACKOFF_MAX_MS 200

int64_t xr_retry_budget_ms(const xr_client *c) {
  return c->command_timeout_ms > RETRY_BUDGET_MIN_MS ? c->command_timeout_ms : RETRY_BUDGET_MIN_MS;
}

int64_t xr_backoff_ms(int waits) {
  int64_t ms = BACKOFF_FIRST_MS;
  for (int i = 0; i < waits && ms < BACKOFF_MAX_MS; i++) ms *= 2;
  if (ms > BACKOFF_MAX_MS) ms = BACKOFF_MAX_MS;
  return ms + xr_monotonic_ms() % (ms / 4 + 1); /* jitter: clients that failed together retry apart */
}
