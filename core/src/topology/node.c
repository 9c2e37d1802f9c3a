/* Nodes: an address and its pool of connections, shared by reference between the map and the
 * calls in flight (topology.h). */
#include <stdio.h>
#include <string.h>

#include "net/client_internal.h"
#include "topology/topology.h"

int xr_node_new(xr_node **out, const char *host, size_t host_len, int port, const char *unix_path, int replica,
                int pool_size) {
  *out = NULL;
  xr_node *n = xr_calloc(1, sizeof *n);
  if (!n) return xr_fail_nomem();
  if (unix_path) {
    n->unix_path = xr_strndup(unix_path, strlen(unix_path));
    if (!n->unix_path) goto nomem;
    snprintf(n->address, sizeof n->address, "%s", unix_path);
  } else {
    n->host = xr_strndup(host, host_len);
    if (!n->host) goto nomem;
    if (memchr(host, ':', host_len))
      snprintf(n->address, sizeof n->address, "[%s]:%d", n->host, port);
    else
      snprintf(n->address, sizeof n->address, "%s:%d", n->host, port);
  }
  n->port = port;
  n->replica = replica;
  atomic_init(&n->refs, 1);
  atomic_init(&n->retired, 0);
  xr_pool_init(&n->pool, pool_size);
  *out = n;
  return XR_OK;
nomem:
  xr_free(n->host);
  xr_free(n);
  return xr_fail_nomem();
}

void xr_node_retain(xr_node *n) { atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed); }

void xr_node_release(xr_node *n) {
  if (!n || atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1) return;
  xr_pool_destroy(&n->pool);
  for (size_t i = 0; i < n->nreplicas; i++) xr_node_release(n->replicas[i]);
  xr_free(n->replicas);
  xr_free(n->host);
  xr_free(n->unix_path);
  xr_free(n);
}

int xr_node_is(const xr_node *n, const char *host, size_t host_len, int port) {
  return n->host && n->port == port && strlen(n->host) == host_len && !memcmp(n->host, host, host_len);
}
