/* The topology (topology.h): setting it up from the options, routing a slot to a node, the node
 * list a MOVED or ASK may grow, and rate-limited refreshes. The Cluster's map comes from
 * cluster_map.c, the Sentinel's master from sentinel.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crossredis/loop.h"
#include "net/client_internal.h"
#include "topology/topology.h"

/* Refreshes closer together than this (plus up to a quarter of it as jitter, so clients that saw
 * the same MOVED storm do not refresh in step) are skipped: a MOVED already fixed its own slot. */
#define REFRESH_MIN_INTERVAL_MS 100
/* How often a read that finds no replica of its master asks for a refresh (replica_reads). */
#define REPLICA_CHECK_MS 1000

/* ---- "host:port,host:port" --------------------------------------------------------------------- */

static void free_addrs(xr_addr *a, size_t n) {
  for (size_t i = 0; i < n; i++) xr_free(a[i].host);
  xr_free(a);
}

static int parse_port(const char *s, size_t n, int *port) {
  long v = 0;
  if (n == 0 || n > 5) return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');
  }
  if (v < 1 || v > 65535) return 0;
  *port = (int)v;
  return 1;
}

/* One "host[:port]" or "[v6][:port]". */
static int parse_addr(const char *s, size_t n, int default_port, xr_addr *out, const char *what) {
  const char *host = s, *port = NULL;
  size_t hlen = n;
  if (n && s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (!close) return xr_fail(XR_EINVAL, "%s: IPv6 address without ']' in '%.*s'", what, (int)(n > 80 ? 80 : n), s);
    host = s + 1;
    hlen = (size_t)(close - s - 1);
    if (close + 1 < s + n) {
      if (close[1] != ':') return xr_fail(XR_EINVAL, "%s: unexpected text after ']' in '%.*s'", what, (int)(n > 80 ? 80 : n), s);
      port = close + 2;
    }
  } else {
    const char *colon = memchr(s, ':', n);
    if (colon) {
      hlen = (size_t)(colon - s);
      port = colon + 1;
    }
  }
  if (hlen == 0) return xr_fail(XR_EINVAL, "%s: an address without a host in '%.*s'", what, (int)(n > 80 ? 80 : n), s);
  out->port = default_port;
  if (port && !parse_port(port, (size_t)(s + n - port), &out->port))
    return xr_fail(XR_EINVAL, "%s: bad port in '%.*s' (expected 1..65535)", what, (int)(n > 80 ? 80 : n), s);
  out->host = xr_strndup(host, hlen);
  return out->host ? XR_OK : xr_fail_nomem();
}

static int parse_addrs(const char *text, int default_port, xr_addr **out, size_t *count, const char *what) {
  *out = NULL;
  *count = 0;
  if (!text || !*text) return xr_fail(XR_EINVAL, "%s: no address given (host:port,host:port)", what);
  size_t cap = 1;
  for (const char *p = text; *p; p++) cap += *p == ',';
  xr_addr *a = xr_calloc(cap, sizeof *a);
  if (!a) return xr_fail_nomem();
  size_t n = 0;
  for (const char *p = text;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    while (len && p[0] == ' ') p++, len--;
    while (len && p[len - 1] == ' ') len--;
    if (len) {
      int rc = parse_addr(p, len, default_port, &a[n], what);
      if (rc) {
        free_addrs(a, n);
        return rc;
      }
      n++;
    }
    if (!comma) break;
    p = comma + 1;
  }
  if (n == 0) {
    xr_free(a);
    return xr_fail(XR_EINVAL, "%s: no address given (host:port,host:port)", what);
  }
  *out = a;
  *count = n;
  return XR_OK;
}

/* ---- open and close ---------------------------------------------------------------------------- */

void xr_topology_init(xr_client *c) {
  pthread_mutex_init(&c->topo.mu, NULL);
  pthread_cond_init(&c->topo.refreshed, NULL);
}

static int open_standalone(xr_client *c, const xr_client_options *o) {
  xr_topo *t = &c->topo;
  const char *host = o->host ? o->host : "127.0.0.1";
  int rc = xr_node_new(&t->master, host, strlen(host), o->port ? o->port : 6379, o->unix_path, 0, c->pool_size);
  if (rc) return rc;
  snprintf(c->address, sizeof c->address, "%s", t->master->address);
  /* The first connection, checked with a PING, all within the connect timeout; it joins the pool. */
  xr_conn *first = NULL;
  if ((rc = xr_conn_open(c, t->master, NULL, &first, 1))) return rc;
  xr_pool_adopt(first);
  return XR_OK;
}

static void name_from_seeds(xr_client *c, const char *kind) {
  const xr_topo *t = &c->topo;
  int n = snprintf(c->address, sizeof c->address, "%s %s:%d", kind, t->seeds[0].host, t->seeds[0].port);
  if (t->nseeds > 1 && n > 0 && (size_t)n < sizeof c->address)
    snprintf(c->address + n, sizeof c->address - (size_t)n, " (+%zu)", t->nseeds - 1);
}

int xr_topology_open(xr_client *c, const xr_client_options *o) {
  xr_topo *t = &c->topo;
  t->kind = o->topology;
  int rc;
  switch (o->topology) {
    case XR_TOPOLOGY_STANDALONE:
      return open_standalone(c, o);
    case XR_TOPOLOGY_SENTINEL:
      if (!o->master_name || !*o->master_name)
        return xr_fail(XR_EINVAL, "sentinel: master_name is required (the name the sentinels monitor)");
      if ((rc = parse_addrs(o->nodes, 26379, &t->seeds, &t->nseeds, "sentinel: nodes"))) return rc;
      snprintf(c->address, sizeof c->address, "master '%.100s' of sentinels %s:%d%s", o->master_name,
               t->seeds[0].host, t->seeds[0].port, t->nseeds > 1 ? ",..." : "");
      if ((rc = xr_sentinel_state_new(c, o))) return rc;
      return xr_topology_refresh(c, 1);
    case XR_TOPOLOGY_CLUSTER:
      if (o->db != 0) return xr_fail(XR_EINVAL, "cluster: db must be 0 (a Redis Cluster has database 0 only), got %d", o->db);
      if (o->unix_path) return xr_fail(XR_EINVAL, "cluster: give the seed nodes in nodes, not unix_path");
      if ((rc = parse_addrs(o->nodes, 6379, &t->seeds, &t->nseeds, "cluster: nodes"))) return rc;
      name_from_seeds(c, "cluster");
      return xr_topology_refresh(c, 1);
  }
  return xr_fail(XR_EINVAL, "topology %d is none of standalone (0), sentinel (1), cluster (2)", (int)o->topology);
}

/* Takes a node out of the map: connections given back to it are closed, and the map's reference
 * goes. */
static void retire(xr_node *n) {
  if (!n) return;
  atomic_store(&n->retired, 1);
  xr_node_release(n);
}

void xr_topology_close(xr_client *c) {
  xr_topo *t = &c->topo;
  retire(t->master);
  for (size_t i = 0; i < t->nnodes; i++) retire(t->nodes[i]);
  xr_free(t->nodes);
  xr_free(t->slots);
  free_addrs(t->seeds, t->nseeds);
  xr_sentinel_state_free(t->sentinel);
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->refreshed);
}

/* ---- routing ------------------------------------------------------------------------------------ */

/* A cheap spread over nodes (no shared state worth a lock). */
static size_t pick(size_t n) {
  static _Atomic unsigned turn;
  unsigned t = atomic_fetch_add_explicit(&turn, 1, memory_order_relaxed) * 2654435761u; /* Knuth's spread */
  return n ? (size_t)(t >> 7) % n : 0;
}

/* A replica of master for a read (replica_reads), else master. A master without a replica in the
 * map asks for a refresh now and then (*refresh): replicas still loading were left out of it. */
static xr_node *replica_or(xr_client *c, xr_node *master, int replica_ok, int *refresh) {
  if (!replica_ok || !c->replica_reads) return master;
  if (master->nreplicas == 0) {
    int64_t now = xr_monotonic_ms();
    if (now - c->topo.replicas_checked_ms >= REPLICA_CHECK_MS) c->topo.replicas_checked_ms = now, *refresh = 1;
    return master;
  }
  return master->replicas[pick(master->nreplicas)];
}

/* Under the lock: the master of slot (-1: any master), or NULL. */
static xr_node *slot_master(const xr_topo *t, int slot) {
  if (!t->slots || t->nnodes == 0) return NULL;
  if (slot < 0) { /* the master of a slot taken at random: never a node that serves none */
    for (int tries = 0; tries < 64; tries++) {
      uint16_t i = t->slots[pick(XR_SLOTS)];
      if (i != XR_NO_NODE) return t->nodes[i];
    }
    for (size_t s = 0; s < XR_SLOTS; s++)
      if (t->slots[s] != XR_NO_NODE) return t->nodes[t->slots[s]];
    return NULL;
  }
  uint16_t i = t->slots[slot];
  return i == XR_NO_NODE ? NULL : t->nodes[i];
}

int xr_client_node_of_slot(xr_client *c, int slot) {
  if (!c || slot < 0 || slot >= XR_SLOTS) return -1;
  xr_topo *t = &c->topo;
  if (t->kind != XR_TOPOLOGY_CLUSTER) return 0;
  pthread_mutex_lock(&t->mu);
  uint16_t i = t->slots ? t->slots[slot] : XR_NO_NODE; /* masters come first in nodes[] */
  pthread_mutex_unlock(&t->mu);
  return i == XR_NO_NODE ? -1 : (int)i;
}

int xr_topology_route(xr_client *c, int slot, int replica_ok, xr_node **out) {
  xr_topo *t = &c->topo;
  if (t->kind == XR_TOPOLOGY_STANDALONE) {
    xr_node_retain(t->master);
    *out = t->master;
    return XR_OK;
  }
  xr_topology_tick(c);
  for (int attempt = 0;; attempt++) {
    int refresh = 0;
    pthread_mutex_lock(&t->mu);
    xr_node *n = t->kind == XR_TOPOLOGY_CLUSTER ? slot_master(t, slot) : t->master;
    if (n) n = replica_or(c, n, replica_ok, &refresh);
    if (n) xr_node_retain(n);
    pthread_mutex_unlock(&t->mu);
    if (refresh) xr_topology_refresh(c, 0);
    if (n) {
      *out = n;
      return XR_OK;
    }
    if (attempt == 1) break;
    int rc = xr_topology_refresh(c, 1);
    if (rc) return rc;
  }
  if (t->kind == XR_TOPOLOGY_SENTINEL) return xr_fail(XR_ENOMASTER, "sentinel: no master known for %s", c->address);
  return xr_fail(XR_ECLUSTERDOWN, "cluster: no node serves slot %d (%s)", slot, c->address);
}

/* Under the lock: the index of host:port in the node list, added (as a master) when new. */
static int find_or_add_locked(xr_client *c, const char *host, size_t host_len, int port, size_t *idx) {
  xr_topo *t = &c->topo;
  for (size_t i = 0; i < t->nnodes; i++) {
    if (xr_node_is(t->nodes[i], host, host_len, port) && !t->nodes[i]->replica) {
      *idx = i;
      return XR_OK;
    }
  }
  if (t->nnodes >= XR_NO_NODE) return xr_fail(XR_ERANGE, "cluster: too many nodes");
  if (t->nnodes == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 8;
    xr_node **nodes = xr_realloc(t->nodes, cap * sizeof *nodes);
    if (!nodes) return xr_fail_nomem();
    t->nodes = nodes;
    t->cap = cap;
  }
  xr_node *n;
  int rc = xr_node_new(&n, host, host_len, port, NULL, 0, c->pool_size);
  if (rc) return rc;
  t->nodes[t->nnodes] = n;
  *idx = t->nnodes++;
  return XR_OK;
}

int xr_topology_node_at(xr_client *c, const xr_node *asked, const char *host, size_t host_len, int port,
                        xr_node **out) {
  xr_topo *t = &c->topo;
  *out = NULL;
  if (t->kind != XR_TOPOLOGY_CLUSTER)
    return xr_fail(XR_EPROTOCOL, "%s redirected a command, but the client is not in Cluster mode (use redis+cluster://)",
                   asked->address);
  if (host_len == 0 && asked->host) host = asked->host, host_len = strlen(asked->host);
  pthread_mutex_lock(&t->mu);
  size_t idx;
  int rc = find_or_add_locked(c, host, host_len, port, &idx);
  if (!rc) {
    *out = t->nodes[idx];
    xr_node_retain(*out);
  }
  pthread_mutex_unlock(&t->mu);
  return rc;
}

void xr_topology_moved(xr_client *c, const xr_node *asked, const xr_redirect *r) {
  xr_topo *t = &c->topo;
  if (t->kind != XR_TOPOLOGY_CLUSTER || !t->slots) return;
  const char *host = r->host;
  size_t host_len = r->host_len;
  if (host_len == 0 && asked->host) host = asked->host, host_len = strlen(asked->host);
  /* the rest of the map has likely moved too (a failover, a reshard); refreshed first, so a map
   * from a node that has not caught up yet cannot undo what this MOVED just said */
  xr_topology_refresh(c, 0);
  pthread_mutex_lock(&t->mu);
  size_t idx;
  if (find_or_add_locked(c, host, host_len, r->port, &idx) == XR_OK) {
    t->slots[r->slot] = (uint16_t)idx;
    t->epoch++;
  }
  pthread_mutex_unlock(&t->mu);
}

/* ---- refreshing --------------------------------------------------------------------------------- */

/* Runs `run` as the one refresh in progress, under the rules of xr_topology_refresh. */
static int refresh_with(xr_client *c, int force, int (*run)(xr_client *)) {
  xr_topo *t = &c->topo;
  pthread_mutex_lock(&t->mu);
  if (t->refreshing) {
    if (force) {
      uint64_t epoch = t->epoch;
      while (t->refreshing && t->epoch == epoch) pthread_cond_wait(&t->refreshed, &t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return XR_OK;
  }
  int64_t now = xr_monotonic_ms();
  int64_t interval = REFRESH_MIN_INTERVAL_MS + (int64_t)pick(REFRESH_MIN_INTERVAL_MS / 4);
  if (t->last_refresh_ms && now - t->last_refresh_ms < interval) {
    pthread_mutex_unlock(&t->mu);
    return XR_OK;
  }
  t->refreshing = 1;
  pthread_mutex_unlock(&t->mu);
  int rc = run(c);
  pthread_mutex_lock(&t->mu);
  t->refreshing = 0;
  t->last_refresh_ms = xr_monotonic_ms();
  t->epoch++;
  pthread_cond_broadcast(&t->refreshed);
  pthread_mutex_unlock(&t->mu);
  return rc;
}

int xr_topology_refresh(xr_client *c, int force) {
  if (c->topo.kind == XR_TOPOLOGY_STANDALONE) return XR_OK;
  return refresh_with(c, force, c->topo.kind == XR_TOPOLOGY_CLUSTER ? xr_cluster_refresh : xr_sentinel_discover);
}

int xr_topology_recheck(xr_client *c) {
  if (c->topo.kind != XR_TOPOLOGY_SENTINEL) return xr_topology_refresh(c, 0);
  return refresh_with(c, 0, xr_sentinel_recheck);
}

void xr_topology_tick(xr_client *c) {
  if (c->topo.kind == XR_TOPOLOGY_SENTINEL) xr_sentinel_tick(c);
}

/* ---- listing and waking ------------------------------------------------------------------------- */

int xr_topology_masters(xr_client *c, xr_node ***out, size_t *count) {
  xr_topo *t = &c->topo;
  *out = NULL;
  *count = 0;
  if (t->kind == XR_TOPOLOGY_CLUSTER && !t->slots) {
    int rc = xr_topology_refresh(c, 1);
    if (rc) return rc;
  }
  pthread_mutex_lock(&t->mu);
  size_t cap = t->kind == XR_TOPOLOGY_CLUSTER ? t->nnodes : 1;
  xr_node **list = xr_calloc(cap ? cap : 1, sizeof *list);
  if (!list) {
    pthread_mutex_unlock(&t->mu);
    return xr_fail_nomem();
  }
  size_t n = 0;
  if (t->kind != XR_TOPOLOGY_CLUSTER) {
    if (t->master) list[n++] = t->master;
  } else {
    /* the masters that serve a slot, each once, in slot order */
    char *seen = xr_calloc(t->nnodes ? t->nnodes : 1, 1);
    if (!seen) {
      pthread_mutex_unlock(&t->mu);
      xr_free(list);
      return xr_fail_nomem();
    }
    for (size_t s = 0; s < XR_SLOTS; s++) {
      uint16_t i = t->slots[s];
      if (i != XR_NO_NODE && !seen[i]) seen[i] = 1, list[n++] = t->nodes[i];
    }
    xr_free(seen);
  }
  for (size_t i = 0; i < n; i++) xr_node_retain(list[i]);
  pthread_mutex_unlock(&t->mu);
  *out = list;
  *count = n;
  return XR_OK;
}

void xr_topology_nodes_free(xr_node **nodes, size_t n) {
  for (size_t i = 0; i < n; i++) xr_node_release(nodes[i]);
  xr_free(nodes);
}

void xr_topology_wake_all(xr_client *c) {
  xr_topo *t = &c->topo;
  if (t->kind == XR_TOPOLOGY_STANDALONE) {
    xr_pool_wake(&t->master->pool);
    return;
  }
  pthread_mutex_lock(&t->mu);
  if (t->master) xr_pool_wake(&t->master->pool);
  for (size_t i = 0; i < t->nnodes; i++) xr_pool_wake(&t->nodes[i]->pool);
  pthread_mutex_unlock(&t->mu);
}
