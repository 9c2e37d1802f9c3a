/* The Cluster's slot map: CLUSTER SHARDS (Redis 7+; CLUSTER SLOTS before it) asked of the masters
 * the map knows, then of the seeds, until one answers with slots; the answer becomes the node
 * list and the slot table. Nodes that stay (same address, same role) keep their pools; nodes that
 * left are retired (topology.h).
 *
 * Addresses, as the servers announce them: a node's endpoint, else its hostname, else its ip; an
 * empty one means "the host you asked"; '?' is unknown, and such a node is left out rather than
 * cached under a made-up name. With TLS, a node's tls-port wins over its port. */
#include <string.h>

#include <hiredis/hiredis.h>

#include "crossredis/loop.h"
#include "net/client_internal.h"
#include "topology/topology.h"

typedef struct entry {
  const char *host; /* borrowed from the reply, or from the node asked */
  size_t host_len;
  int port;
  int replica;
  size_t master;    /* a replica's master entry */
} entry;

typedef struct layout {
  entry *e;
  size_t n, cap;
  uint16_t slots[XR_SLOTS]; /* entry per slot; XR_NO_NODE: unassigned */
  size_t assigned;
} layout;

static int add_entry(layout *l, const char *host, size_t host_len, int port, int replica, size_t master, size_t *idx) {
  for (size_t i = 0; i < l->n; i++) {
    if (l->e[i].port == port && l->e[i].host_len == host_len && !memcmp(l->e[i].host, host, host_len) &&
        l->e[i].replica == replica) {
      *idx = i;
      return XR_OK;
    }
  }
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    entry *e = xr_realloc(l->e, cap * sizeof *e);
    if (!e) return xr_fail_nomem();
    l->e = e;
    l->cap = cap;
  }
  l->e[l->n] = (entry){host, host_len, port, replica, master};
  *idx = l->n++;
  return XR_OK;
}

static int str_is(const redisReply *r, const char *s) {
  size_t n = strlen(s);
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && r->len == n && !memcmp(r->str, s, n);
}

/* The value of `key` in a RESP2 flat map (or a RESP3 map), or NULL. */
static const redisReply *field(const redisReply *map, const char *key) {
  if (!map || (map->type != REDIS_REPLY_ARRAY && map->type != REDIS_REPLY_MAP)) return NULL;
  for (size_t i = 0; i + 1 < map->elements; i += 2)
    if (str_is(map->element[i], key)) return map->element[i + 1];
  return NULL;
}

static int int_of(const redisReply *r, long long *v) {
  if (!r) return 0;
  if (r->type == REDIS_REPLY_INTEGER) {
    *v = r->integer;
    return 1;
  }
  return 0;
}

/* The address a node announces (see the top of this file): 0 when it has none we may use. */
static int announced(const redisReply *endpoint, const redisReply *hostname, const redisReply *ip, const xr_node *asked,
                     const char **host, size_t *host_len) {
  const redisReply *pick[3] = {endpoint, hostname, ip};
  for (int i = 0; i < 3; i++) {
    const redisReply *r = pick[i];
    if (!r || r->type != REDIS_REPLY_STRING) continue;
    if (r->len == 1 && r->str[0] == '?') return 0;
    if (r->len == 0) {
      if (i > 0) continue; /* an empty hostname says nothing */
      if (!asked->host) return 0;
      *host = asked->host;
      *host_len = strlen(asked->host);
      return 1;
    }
    *host = r->str;
    *host_len = r->len;
    return 1;
  }
  return 0;
}

static int set_range(layout *l, long long lo, long long hi, size_t master) {
  if (lo < 0 || hi >= XR_SLOTS || lo > hi) return xr_fail(XR_EPROTOCOL, "cluster: slot range %lld-%lld out of 0-16383", lo, hi);
  for (long long s = lo; s <= hi; s++) {
    if (l->slots[s] == XR_NO_NODE) l->assigned++;
    l->slots[s] = (uint16_t)master;
  }
  return XR_OK;
}

/* Puts the masters first, in the order they came (a replica's master and the slots follow), so
 * that a master's number in the node list is below the number of masters (xr_client_node_of_slot). */
static int masters_first(layout *l) {
  size_t *to = xr_malloc((l->n ? l->n : 1) * sizeof *to);
  entry *e = xr_malloc((l->n ? l->n : 1) * sizeof *e);
  if (!to || !e) {
    xr_free(to);
    xr_free(e);
    return xr_fail_nomem();
  }
  size_t k = 0;
  for (int replicas = 0; replicas < 2; replicas++)
    for (size_t i = 0; i < l->n; i++)
      if (l->e[i].replica == replicas) to[i] = k++;
  for (size_t i = 0; i < l->n; i++) {
    e[to[i]] = l->e[i];
    if (l->e[i].replica) e[to[i]].master = to[l->e[i].master];
  }
  for (size_t s = 0; s < XR_SLOTS; s++)
    if (l->slots[s] != XR_NO_NODE && l->slots[s] < l->n) l->slots[s] = (uint16_t)to[l->slots[s]];
  xr_free(l->e);
  xr_free(to);
  l->e = e;
  l->cap = l->n ? l->n : 1;
  return XR_OK;
}

/* CLUSTER SHARDS: [ {slots: [lo, hi, ...], nodes: [ {id, port, tls-port, ip, endpoint, hostname,
 * role, health, ...}, ... ]}, ... ] as flat maps. */
static int parse_shards(layout *l, const redisReply *r, const xr_node *asked, int tls) {
  if (r->type != REDIS_REPLY_ARRAY) return xr_fail(XR_EPROTOCOL, "cluster: CLUSTER SHARDS answered no array");
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply *shard = r->element[i];
    const redisReply *slots = field(shard, "slots"), *nodes = field(shard, "nodes");
    if (!slots || !nodes || slots->type != REDIS_REPLY_ARRAY || nodes->type != REDIS_REPLY_ARRAY)
      return xr_fail(XR_EPROTOCOL, "cluster: a shard of CLUSTER SHARDS has no slots or nodes");
    size_t master = SIZE_MAX;
    for (int want_replica = 0; want_replica < 2; want_replica++) {
      for (size_t k = 0; k < nodes->elements; k++) {
        const redisReply *node = nodes->element[k];
        int replica = !str_is(field(node, "role"), "master");
        if (replica != want_replica) continue;
        if (replica && (master == SIZE_MAX || !str_is(field(node, "health"), "online"))) continue;
        long long port = 0, tls_port = 0;
        int has_port = int_of(field(node, "port"), &port), has_tls = int_of(field(node, "tls-port"), &tls_port);
        if (tls && has_tls) port = tls_port;
        else if (!has_port && has_tls) port = tls_port;
        if (port < 1 || port > 65535) continue;
        const char *host;
        size_t host_len;
        if (!announced(field(node, "endpoint"), field(node, "hostname"), field(node, "ip"), asked, &host, &host_len))
          continue;
        size_t idx;
        int rc = add_entry(l, host, host_len, (int)port, replica, master, &idx);
        if (rc) return rc;
        if (!replica) master = idx;
      }
    }
    if (master == SIZE_MAX) continue; /* no usable master: its slots stay unassigned */
    for (size_t k = 0; k + 1 < slots->elements; k += 2) {
      long long lo, hi;
      if (!int_of(slots->element[k], &lo) || !int_of(slots->element[k + 1], &hi))
        return xr_fail(XR_EPROTOCOL, "cluster: CLUSTER SHARDS gave a slot that is not an integer");
      int rc = set_range(l, lo, hi, master);
      if (rc) return rc;
    }
  }
  return XR_OK;
}

/* CLUSTER SLOTS: [ [lo, hi, [host, port, id, {meta}], [replica...], ...], ... ]. The port is the
 * one the asking connection uses (TLS or not). */
static int parse_slots(layout *l, const redisReply *r, const xr_node *asked) {
  if (r->type != REDIS_REPLY_ARRAY) return xr_fail(XR_EPROTOCOL, "cluster: CLUSTER SLOTS answered no array");
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply *range = r->element[i];
    long long lo, hi;
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 || !int_of(range->element[0], &lo) ||
        !int_of(range->element[1], &hi))
      return xr_fail(XR_EPROTOCOL, "cluster: a range of CLUSTER SLOTS is not [start, end, node, ...]");
    size_t master = SIZE_MAX;
    for (size_t k = 2; k < range->elements; k++) {
      const redisReply *node = range->element[k];
      long long port;
      if (node->type != REDIS_REPLY_ARRAY || node->elements < 2 || !int_of(node->element[1], &port) || port < 1 ||
          port > 65535)
        continue;
      const char *host;
      size_t host_len;
      const redisReply *meta = node->elements > 3 ? node->element[3] : NULL;
      if (!announced(node->element[0], field(meta, "hostname"), field(meta, "ip"), asked, &host, &host_len)) continue;
      if (k > 2 && master == SIZE_MAX) break;
      size_t idx;
      int rc = add_entry(l, host, host_len, (int)port, k > 2, master, &idx);
      if (rc) return rc;
      if (k == 2) master = idx;
    }
    if (master == SIZE_MAX) continue;
    int rc = set_range(l, lo, hi, master);
    if (rc) return rc;
  }
  return XR_OK;
}

int xr_cluster_parse_map(const redisReply *r, int shards, const char *asked_host, int tls, size_t *nodes,
                         size_t *assigned) {
  layout *l = xr_calloc(1, sizeof *l);
  if (!l) return xr_fail_nomem();
  memset(l->slots, 0xFF, sizeof l->slots);
  xr_node asked;
  memset(&asked, 0, sizeof asked);
  asked.host = (char *)asked_host;
  int rc = shards ? parse_shards(l, r, &asked, tls) : parse_slots(l, r, &asked);
  if (!rc) rc = masters_first(l);
  *nodes = l->n;
  *assigned = l->assigned;
  for (size_t s = 0; !rc && s < XR_SLOTS; s++) /* every slot names a master entry of the layout, or none */
    if (l->slots[s] != XR_NO_NODE && (l->slots[s] >= l->n || l->e[l->slots[s]].replica))
      rc = xr_fail(XR_EPROTOCOL, "cluster map: slot %zu names no master", s);
  xr_free(l->e);
  xr_free(l);
  return rc;
}

/* Asks one node; XR_OK with the layout filled when it answered with slots. */
static int ask(xr_client *c, xr_node *node, int pooled, layout *l, redisReply **keep) {
  xr_conn *conn = NULL;
  int rc = pooled ? xr_pool_get(c, node, &conn) : xr_conn_open(c, node, NULL, &conn, 0);
  if (rc) return rc;
  int outcome = XR_CONN_OK;
  const char *shards[] = {"CLUSTER", "SHARDS"}, *slots[] = {"CLUSTER", "SLOTS"};
  redisReply *r = xr_conn_run(c, conn, 2, shards, NULL, &rc, &outcome);
  int by_shards = 1;
  if (r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "nknown subcommand")) { /* before Redis 7 */
    freeReplyObject(r);
    by_shards = 0;
    r = xr_conn_run(c, conn, 2, slots, NULL, &rc, &outcome);
  }
  if (pooled) xr_pool_put(c, conn, outcome);
  else xr_conn_close(conn);
  if (!r) return rc;
  if (r->type == REDIS_REPLY_ERROR) {
    rc = xr_fail(xr_reply_error_code(r->str, r->len), "cluster: %s answered CLUSTER %s with: %.300s", node->address,
                 by_shards ? "SHARDS" : "SLOTS", r->str);
    freeReplyObject(r);
    return rc;
  }
  memset(l->slots, 0xFF, sizeof l->slots);
  l->n = 0;
  l->assigned = 0;
  rc = by_shards ? parse_shards(l, r, node, c->tls != NULL) : parse_slots(l, r, node);
  if (!rc) rc = masters_first(l);
  if (!rc && l->assigned == 0) rc = xr_fail(XR_ECLUSTERDOWN, "cluster: %s serves no slot (is it part of a cluster?)", node->address);
  if (rc) {
    freeReplyObject(r);
    return rc;
  }
  *keep = r; /* the layout borrows its hosts from it */
  return XR_OK;
}

/* Under the lock: the node of entry e, an old one with the same address and role when there is
 * one (retained), else a new one. */
static int node_for(xr_client *c, const entry *e, xr_node *const *old, size_t nold, xr_node **out) {
  for (size_t i = 0; i < nold; i++) {
    if (old[i]->replica == e->replica && xr_node_is(old[i], e->host, e->host_len, e->port)) {
      xr_node_retain(old[i]);
      *out = old[i];
      return XR_OK;
    }
  }
  return xr_node_new(out, e->host, e->host_len, e->port, NULL, e->replica, c->pool_size);
}

static int in_list(xr_node *const *list, size_t n, const xr_node *x) {
  for (size_t i = 0; i < n; i++)
    if (list[i] == x) return 1;
  return 0;
}

/* Makes the layout the map: the node list (old nodes reused), each master's replicas, the slots. */
static int install(xr_client *c, const layout *l) {
  xr_topo *t = &c->topo;
  xr_node **nodes = xr_calloc(l->n ? l->n : 1, sizeof *nodes);
  uint16_t *slots = xr_malloc(sizeof l->slots);
  if (!nodes || !slots) {
    xr_free(nodes);
    xr_free(slots);
    return xr_fail_nomem();
  }
  pthread_mutex_lock(&t->mu);
  int rc = XR_OK;
  for (size_t i = 0; i < l->n && !rc; i++) rc = node_for(c, &l->e[i], t->nodes, t->nnodes, &nodes[i]);
  if (rc) {
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < l->n; i++) xr_node_release(nodes[i]);
    xr_free(nodes);
    xr_free(slots);
    return rc;
  }
  /* each master's replicas, from scratch */
  for (size_t i = 0; i < l->n; i++) {
    xr_node *n = nodes[i];
    for (size_t k = 0; k < n->nreplicas; k++) xr_node_release(n->replicas[k]);
    xr_free(n->replicas);
    n->replicas = NULL;
    n->nreplicas = 0;
  }
  for (size_t i = 0; i < l->n; i++) {
    if (!l->e[i].replica) continue;
    xr_node *m = nodes[l->e[i].master];
    xr_node **r = xr_realloc(m->replicas, (m->nreplicas + 1) * sizeof *r);
    if (!r) continue; /* a replica fewer to read from: not worth failing the refresh */
    m->replicas = r;
    xr_node_retain(nodes[i]);
    m->replicas[m->nreplicas++] = nodes[i];
  }
  memcpy(slots, l->slots, sizeof l->slots);
  xr_node **old = t->nodes;
  size_t nold = t->nnodes;
  t->nodes = nodes;
  t->nnodes = t->cap = l->n;
  xr_free(t->slots);
  t->slots = slots;
  t->epoch++;
  for (size_t i = 0; i < nold; i++)
    if (!in_list(nodes, l->n, old[i])) atomic_store(&old[i]->retired, 1); /* gone from the cluster */
  pthread_mutex_unlock(&t->mu);
  for (size_t i = 0; i < nold; i++) xr_node_release(old[i]);
  xr_free(old);
  return XR_OK;
}

int xr_cluster_refresh(xr_client *c) {
  xr_node **known = NULL;
  size_t nknown = 0;
  xr_topo *t = &c->topo;
  if (t->slots) {
    int rc = xr_topology_masters(c, &known, &nknown);
    if (rc) return rc;
  }
  layout *l = xr_calloc(1, sizeof *l);
  if (!l) {
    xr_topology_nodes_free(known, nknown);
    return xr_fail_nomem();
  }
  redisReply *answer = NULL;
  int rc = XR_ECLUSTERDOWN;
  char last[300] = "";
  size_t asked = 0;
  /* the masters the map knows first (from a spread start), then the seeds */
  size_t start = nknown ? (size_t)xr_monotonic_ms() % nknown : 0;
  for (size_t i = 0; i < nknown && !answer; i++, asked++) {
    rc = ask(c, known[(start + i) % nknown], 1, l, &answer);
    if (rc) snprintf(last, sizeof last, "%s", xr_error_last()->message);
  }
  for (size_t i = 0; i < t->nseeds && !answer; i++, asked++) {
    xr_node *seed;
    rc = xr_node_new(&seed, t->seeds[i].host, strlen(t->seeds[i].host), t->seeds[i].port, NULL, 0, 1);
    if (rc) break;
    rc = ask(c, seed, 0, l, &answer);
    if (rc) snprintf(last, sizeof last, "%s", xr_error_last()->message);
    if (!answer) {
      xr_node_release(seed);
      continue;
    }
    /* the layout may borrow the seed's host (an empty endpoint): install before letting it go */
    rc = install(c, l);
    xr_node_release(seed);
    freeReplyObject(answer);
    xr_free(l->e);
    xr_free(l);
    xr_topology_nodes_free(known, nknown);
    return rc;
  }
  if (answer) {
    rc = install(c, l);
    freeReplyObject(answer);
  } else if (rc != XR_ENOMEM) {
    rc = xr_fail(rc, "cluster: no node gave the slot map (asked %zu): %s", asked, last);
  }
  xr_free(l->e);
  xr_free(l);
  xr_topology_nodes_free(known, nknown);
  return rc;
}
