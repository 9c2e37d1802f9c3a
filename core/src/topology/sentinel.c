/* Sentinel (topology.h): the master is whichever node the sentinels name and that says it is a
 * master (ROLE). Discovery asks the sentinels in turn (a sentinel that is down, slow or does not
 * know the name only moves the search on), puts the one that answered first next time, and
 * learns the other sentinels it knows. The client follows a failover three ways:
 *   - a +switch-master (and +promoted-slave, a second earlier) subscription on a sentinel, read
 *     (without waiting) when a call passes by;
 *   - a re-check every RECHECK_MS, since a missed event is never replayed (a hung connection);
 *   - a READONLY or LOADING reply, or a lost connection, makes route.c ask again.
 * The re-check runs inside a caller's call, so it is kept cheap: one SENTINEL
 * GET-MASTER-ADDR-BY-NAME on a connection kept open to the sentinel that answered last. When that
 * sentinel still names the master we have, that is all (no ROLE, no new connection); when it names
 * another, says nothing, or its connection fails, the full discovery runs as above.
 * The sentinels have their own credentials and TLS (sentinel_username, sentinel_password,
 * sentinel_tls), never the data nodes'. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "crossredis/loop.h"
#include "net/client_internal.h"
#include "net/tls_hook.h"
#include "topology/topology.h"

#define TICK_MS 100      /* the watch is read at most this often */
#define RECHECK_MS 5000  /* the master is asked for again this often */
/* How often the cheap re-check also asks for the other sentinels (SENTINEL SENTINELS): a sentinel
 * added to the set only matters once every known one fails, so a minute is soon enough (a full
 * discovery learns them at once anyway). The replicas (replica_reads) are asked for at each
 * re-check instead: reads go by their health (s_down, the link to the master), which nothing else
 * reports while their connections stay up, and it is one round trip on the same connection. */
#define LEARN_MS 60000

struct xr_sentinel_state {
  char *master_name;
  char *username, *password;
  xr_tls *tls;
  xr_conn_auth auth;
  pthread_mutex_t watch_mu;
  xr_node *watch_node;   /* the sentinel the watch talks to */
  xr_conn *watch;        /* SUBSCRIBEd to +switch-master, non-blocking */
  /* The sentinel that answered last and a blocking connection to it, for the re-check. Only the
   * thread that refreshes touches them (xr_topology_refresh runs one refresh at a time); closed
   * when a command on it fails and with the state. */
  xr_node *asked_node;
  xr_conn *asked;
  int64_t learned_ms;    /* the other sentinels were last asked for then (the refreshing thread's) */
  _Atomic int64_t next_tick_ms;
  _Atomic int64_t last_check_ms; /* the sentinels last named a master that we adopted or kept */
  atomic_int switched;   /* a +switch-master for our master was read */
};

static char *dup_or_null(const char *s, int *failed) {
  if (!s) return NULL;
  char *d = xr_strndup(s, strlen(s));
  if (!d) *failed = 1;
  return d;
}

int xr_sentinel_state_new(xr_client *c, const xr_client_options *o) {
  xr_sentinel_state *s = xr_calloc(1, sizeof *s);
  if (!s) return xr_fail_nomem();
  int failed = 0;
  s->master_name = dup_or_null(o->master_name, &failed);
  s->username = dup_or_null(o->sentinel_username, &failed);
  s->password = dup_or_null(o->sentinel_password, &failed);
  pthread_mutex_init(&s->watch_mu, NULL);
  c->topo.sentinel = s;
  if (failed) return xr_fail_nomem();
  if (s->username && !s->password) return xr_fail(XR_EINVAL, "sentinel: a sentinel_username needs a sentinel_password");
  if (o->sentinel_tls) {
    s->tls = o->sentinel_tls;
    s->tls->vt->retain(s->tls);
  }
  s->auth = (xr_conn_auth){s->username, s->password, c->client_name, 0, s->tls};
  return XR_OK;
}

static void close_watch(xr_sentinel_state *s) {
  xr_conn_close(s->watch);
  xr_node_release(s->watch_node);
  s->watch = NULL;
  s->watch_node = NULL;
}

static void close_asked(xr_sentinel_state *s) {
  xr_conn_close(s->asked);
  xr_node_release(s->asked_node);
  s->asked = NULL;
  s->asked_node = NULL;
}

/* Keeps conn (to node; both references move here) as the connection the re-check asks on. */
static void keep_asked(xr_sentinel_state *s, xr_node *node, xr_conn *conn) {
  close_asked(s);
  s->asked_node = node;
  s->asked = conn;
}

void xr_sentinel_state_free(xr_sentinel_state *s) {
  if (!s) return;
  close_watch(s);
  close_asked(s);
  pthread_mutex_destroy(&s->watch_mu);
  if (s->tls) s->tls->vt->release(s->tls);
  xr_free(s->master_name);
  xr_free(s->username);
  xr_free(s->password);
  xr_free(s);
}

/* ---- talking to one sentinel -------------------------------------------------------------------- */

static redisReply *run(xr_client *c, xr_conn *conn, int argc, const char **argv, int *rc) {
  int outcome;
  redisReply *r = xr_conn_run(c, conn, argc, argv, NULL, rc, &outcome);
  if (r && r->type == REDIS_REPLY_ERROR) {
    *rc = xr_fail(xr_reply_error_code(r->str, r->len), "%s answered %s %s with: %.200s", conn->node->address, argv[0],
                  argc > 1 ? argv[1] : "", r->str);
    freeReplyObject(r);
    return NULL;
  }
  return r;
}

/* Adds the sentinels this one knows (SENTINEL SENTINELS <name>) to the list: the list follows
 * sentinels added later, and one that is gone only costs a failed connect in a search. */
static void learn_sentinels(xr_client *c, xr_conn *conn) {
  xr_topo *t = &c->topo;
  const char *argv[] = {"SENTINEL", "SENTINELS", t->sentinel->master_name};
  int rc;
  redisReply *r = run(c, conn, 3, argv, &rc);
  if (!r) return;
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
    const redisReply *m = r->element[i];
    const char *ip = NULL, *port = NULL;
    for (size_t k = 0; m->type == REDIS_REPLY_ARRAY && k + 1 < m->elements; k += 2) {
      const redisReply *key = m->element[k], *val = m->element[k + 1];
      if (key->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING) continue;
      if (!strcmp(key->str, "ip")) ip = val->str;
      else if (!strcmp(key->str, "port")) port = val->str;
    }
    int p = port ? atoi(port) : 0;
    if (!ip || p < 1 || p > 65535) continue;
    pthread_mutex_lock(&t->mu);
    int known = 0;
    for (size_t k = 0; k < t->nseeds && !known; k++) known = t->seeds[k].port == p && !strcmp(t->seeds[k].host, ip);
    xr_addr *seeds = known ? NULL : xr_realloc(t->seeds, (t->nseeds + 1) * sizeof *seeds);
    if (seeds) {
      t->seeds = seeds;
      if ((seeds[t->nseeds].host = xr_strndup(ip, strlen(ip)))) seeds[t->nseeds++].port = p;
    }
    pthread_mutex_unlock(&t->mu);
  }
  freeReplyObject(r);
}

/* The replicas a sentinel lists that are up and linked to their master (SENTINEL REPLICAS lists
 * dead ones too), for replica reads; set on the master node under the lock. */
static void learn_replicas(xr_client *c, xr_conn *conn, xr_node *master) {
  xr_topo *t = &c->topo;
  const char *argv[] = {"SENTINEL", "REPLICAS", t->sentinel->master_name};
  int rc;
  redisReply *r = run(c, conn, 3, argv, &rc);
  if (!r) return;
  xr_node **list = xr_calloc(r->elements ? r->elements : 1, sizeof *list);
  size_t n = 0;
  pthread_mutex_lock(&t->mu);
  size_t nprev = master->nreplicas;
  xr_node **prev = xr_calloc(nprev ? nprev : 1, sizeof *prev); /* reused by address: pools stay */
  for (size_t i = 0; prev && i < nprev; i++) xr_node_retain(prev[i] = master->replicas[i]);
  pthread_mutex_unlock(&t->mu);
  for (size_t i = 0; list && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
    const redisReply *m = r->element[i];
    const char *ip = NULL, *port = NULL, *flags = "", *link = "";
    for (size_t k = 0; m->type == REDIS_REPLY_ARRAY && k + 1 < m->elements; k += 2) {
      const redisReply *key = m->element[k], *val = m->element[k + 1];
      if (key->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING) continue;
      if (!strcmp(key->str, "ip")) ip = val->str;
      else if (!strcmp(key->str, "port")) port = val->str;
      else if (!strcmp(key->str, "flags")) flags = val->str;
      else if (!strcmp(key->str, "master-link-status")) link = val->str;
    }
    int p = port ? atoi(port) : 0;
    if (!ip || p < 1 || p > 65535 || strstr(flags, "s_down") || strstr(flags, "o_down") ||
        strstr(flags, "disconnected") || strcmp(link, "ok") != 0)
      continue;
    xr_node *same = NULL;
    for (size_t k = 0; prev && k < nprev && !same; k++)
      if (xr_node_is(prev[k], ip, strlen(ip), p)) same = prev[k];
    if (same) xr_node_retain(list[n++] = same);
    /* replica 0: a Sentinel replica takes reads as it is (READONLY is a Cluster command) */
    else if (xr_node_new(&list[n], ip, strlen(ip), p, NULL, 0, c->pool_size) == XR_OK) n++;
  }
  freeReplyObject(r);
  for (size_t i = 0; prev && i < nprev; i++) xr_node_release(prev[i]);
  xr_free(prev);
  pthread_mutex_lock(&t->mu);
  xr_node **old = master->replicas;
  size_t nold = master->nreplicas;
  master->replicas = list;
  master->nreplicas = list ? n : 0;
  pthread_mutex_unlock(&t->mu);
  for (size_t i = 0; i < nold; i++) {
    int kept = 0;
    for (size_t k = 0; k < n && !kept; k++) kept = list[k] == old[i];
    if (!kept) atomic_store(&old[i]->retired, 1);
    xr_node_release(old[i]);
  }
  xr_free(old);
}

/* Subscribes a connection to this sentinel to +switch-master (when there is no watch yet). */
static void start_watch(xr_client *c, const xr_addr *a) {
  xr_sentinel_state *s = c->topo.sentinel;
  pthread_mutex_lock(&s->watch_mu);
  if (!s->watch) {
    xr_node *node;
    xr_conn *conn = NULL;
    if (xr_node_new(&node, a->host, strlen(a->host), a->port, NULL, 0, 1) == XR_OK) {
      /* +promoted-slave comes about a second before +switch-master (which waits for the other
       * replicas to follow): the sentinels name the new master from then on, and the old one may
       * still take writes that its demotion will lose, so the client moves at the first. */
      const char *argv[] = {"SUBSCRIBE", "+switch-master", "+promoted-slave"};
      int rc;
      redisReply *r = xr_conn_open(c, node, &s->auth, &conn, 0) == XR_OK ? run(c, conn, 3, argv, &rc) : NULL;
      if (r && xr_conn_set_nonblocking(conn) == XR_OK) {
        s->watch = conn;
        s->watch_node = node;
        conn = NULL;
        node = NULL;
      }
      if (r) freeReplyObject(r);
      xr_conn_close(conn);
      xr_node_release(node);
    }
  }
  pthread_mutex_unlock(&s->watch_mu);
}

/* ---- discovery ---------------------------------------------------------------------------------- */

/* 1 when the node at the other end of conn says it is a master (ROLE), else 0 with *why set. */
static int says_master(xr_client *c, xr_conn *conn, int *rc) {
  const char *argv[] = {"ROLE"};
  redisReply *r = run(c, conn, 1, argv, rc);
  if (!r) return 0;
  int ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING &&
           !strcmp(r->element[0]->str, "master");
  freeReplyObject(r);
  if (!ok) *rc = xr_fail(XR_EREADONLY, "%s says it is not a master (ROLE)", conn->node->address);
  return ok;
}

/* Makes `host:port` the master when it says it is one: the current master node when the address
 * is the same (its pool stays), else a new node that replaces it. */
static int adopt_master(xr_client *c, const char *host, int port, const char *sentinel) {
  xr_topo *t = &c->topo;
  pthread_mutex_lock(&t->mu);
  xr_node *cur = t->master;
  if (cur) xr_node_retain(cur);
  pthread_mutex_unlock(&t->mu);
  int same = cur && xr_node_is(cur, host, strlen(host), port);
  xr_node *node = cur;
  int rc = XR_OK;
  if (!same) {
    xr_node_release(cur);
    if ((rc = xr_node_new(&node, host, strlen(host), port, NULL, 0, c->pool_size))) return rc;
  }
  xr_conn *conn = NULL;
  rc = same ? xr_pool_get(c, node, &conn) : xr_conn_open(c, node, NULL, &conn, 0);
  if (rc) {
    xr_node_release(node);
    return rc;
  }
  int ok = says_master(c, conn, &rc);
  if (same) {
    xr_pool_put(c, conn, ok ? XR_CONN_OK : XR_CONN_BROKEN);
    xr_node_release(node);
    return ok ? XR_OK : xr_fail(rc, "sentinel %s names %s as master '%s', but %s", sentinel, node->address,
                                t->sentinel->master_name, xr_error_last()->message);
  }
  if (!ok) {
    char why[300];
    snprintf(why, sizeof why, "%s", xr_error_last()->message);
    xr_conn_close(conn);
    rc = xr_fail(rc, "sentinel %s names %s as master '%s', but: %s", sentinel, node->address, t->sentinel->master_name, why);
    xr_node_release(node);
    return rc;
  }
  xr_pool_adopt(conn);
  pthread_mutex_lock(&t->mu);
  xr_node *old = t->master;
  t->master = node; /* the reference moves to the topology */
  t->epoch++;
  pthread_mutex_unlock(&t->mu);
  if (old) {
    atomic_store(&old->retired, 1); /* its pooled connections close as they come back */
    xr_node_release(old);
  }
  return XR_OK;
}

/* 1 when a GET-MASTER-ADDR-BY-NAME reply names an address: [host, port]. */
static int names_address(const redisReply *r) {
  return r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
         r->element[1]->type == REDIS_REPLY_STRING;
}

/* Asks sentinel a for the master and adopts it; the connection that answered is kept for the
 * re-check (unless a command on it failed). */
static int ask_one(xr_client *c, const xr_addr *a) {
  xr_sentinel_state *s = c->topo.sentinel;
  xr_node *node;
  int rc = xr_node_new(&node, a->host, strlen(a->host), a->port, NULL, 0, 1);
  if (rc) return rc;
  xr_conn *conn = NULL;
  if ((rc = xr_conn_open(c, node, &s->auth, &conn, 0))) {
    xr_node_release(node);
    return rc;
  }
  const char *argv[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", s->master_name};
  redisReply *r = run(c, conn, 3, argv, &rc);
  if (r && !names_address(r)) {
    rc = xr_fail(XR_ENOMASTER, "sentinel %s does not know master '%s'", node->address, s->master_name);
    freeReplyObject(r);
    r = NULL;
  }
  if (r) {
    char host[256];
    snprintf(host, sizeof host, "%s", r->element[0]->str);
    int port = atoi(r->element[1]->str);
    freeReplyObject(r);
    rc = adopt_master(c, host, port, node->address);
    if (!rc) {
      learn_sentinels(c, conn);
      if (c->replica_reads) {
        pthread_mutex_lock(&c->topo.mu);
        xr_node *m = c->topo.master;
        xr_node_retain(m);
        pthread_mutex_unlock(&c->topo.mu);
        learn_replicas(c, conn, m);
        xr_node_release(m);
      }
      s->learned_ms = xr_monotonic_ms();
      if (!conn->rc->err) {
        keep_asked(s, node, conn);
        return XR_OK;
      }
    }
  }
  xr_conn_close(conn);
  xr_node_release(node);
  return rc;
}

int xr_sentinel_discover(xr_client *c) {
  xr_topo *t = &c->topo;
  xr_sentinel_state *s = t->sentinel;
  char reasons[600] = "";
  size_t used = 0, asked = 0;
  for (;; asked++) {
    pthread_mutex_lock(&t->mu);
    if (asked >= t->nseeds) {
      pthread_mutex_unlock(&t->mu);
      break;
    }
    xr_addr a = {xr_strndup(t->seeds[asked].host, strlen(t->seeds[asked].host)), t->seeds[asked].port};
    pthread_mutex_unlock(&t->mu);
    if (!a.host) return xr_fail_nomem();
    int rc = ask_one(c, &a);
    if (rc == XR_OK) {
      atomic_store(&s->last_check_ms, xr_monotonic_ms());
      atomic_store(&s->switched, 0);
      pthread_mutex_lock(&t->mu);
      if (asked > 0 && asked < t->nseeds) { /* the one that answered goes first next time */
        xr_addr first = t->seeds[asked];
        memmove(&t->seeds[1], &t->seeds[0], asked * sizeof first);
        t->seeds[0] = first;
      }
      pthread_mutex_unlock(&t->mu);
      start_watch(c, &a);
      xr_free(a.host);
      return XR_OK;
    }
    if (rc == XR_ENOMEM) {
      xr_free(a.host);
      return rc;
    }
    int n = snprintf(reasons + used, sizeof reasons - used, "%s%s", used ? "; " : "", xr_error_last()->message);
    if (n > 0) used = used + (size_t)n < sizeof reasons ? used + (size_t)n : sizeof reasons - 1;
    xr_free(a.host);
  }
  return xr_fail(XR_ENOMASTER, "sentinel: no master '%s' found (asked %zu sentinels): %s", s->master_name, asked, reasons);
}

/* ---- the re-check --------------------------------------------------------------------------------- */

/* The cheap part of the re-check: one SENTINEL GET-MASTER-ADDR-BY-NAME on the kept connection.
 * 1 when the sentinel still names the master we have; 0 when it names another or none, or the
 * connection failed (it is closed then). */
static int still_names_ours(xr_client *c) {
  xr_topo *t = &c->topo;
  xr_sentinel_state *s = t->sentinel;
  const char *argv[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", s->master_name};
  int rc, same = 0;
  redisReply *r = run(c, s->asked, 3, argv, &rc);
  if (r && names_address(r)) {
    int port = atoi(r->element[1]->str);
    pthread_mutex_lock(&t->mu);
    same = t->master && xr_node_is(t->master, r->element[0]->str, r->element[0]->len, port);
    pthread_mutex_unlock(&t->mu);
  }
  if (r) freeReplyObject(r);
  if (s->asked->rc->err) close_asked(s);
  return same;
}

int xr_sentinel_recheck(xr_client *c) {
  xr_topo *t = &c->topo;
  xr_sentinel_state *s = t->sentinel;
  int64_t now = xr_monotonic_ms();
  int switched = atomic_load(&s->switched);
  /* a thread that found the re-check due while another ran it: nothing left to do */
  if (!switched && now - atomic_load(&s->last_check_ms) < RECHECK_MS) return XR_OK;
  if (switched || !s->asked || !still_names_ours(c)) return xr_sentinel_discover(c);
  atomic_store(&s->last_check_ms, now);
  if (c->replica_reads) {
    pthread_mutex_lock(&t->mu);
    xr_node *m = t->master;
    xr_node_retain(m);
    pthread_mutex_unlock(&t->mu);
    learn_replicas(c, s->asked, m);
    xr_node_release(m);
    if (s->asked->rc->err) close_asked(s);
  }
  if (s->asked && now - s->learned_ms >= LEARN_MS) {
    learn_sentinels(c, s->asked);
    s->learned_ms = now;
    if (s->asked->rc->err) close_asked(s);
  }
  /* the watch is re-opened here only when the last discovery could not open it (a watch that
   * breaks later sets `switched`, which is a full discovery) */
  pthread_mutex_lock(&s->watch_mu);
  int watching = s->watch != NULL;
  pthread_mutex_unlock(&s->watch_mu);
  if (!watching && s->asked) {
    xr_addr a = {s->asked_node->host, s->asked_node->port};
    start_watch(c, &a);
  }
  return XR_OK;
}

/* ---- the watch ------------------------------------------------------------------------------------ */

/* Reads what the watch has received without waiting: 1 when a +switch-master names our master. */
static int read_watch(xr_sentinel_state *s) {
  redisContext *rc = s->watch->rc;
  int seen = 0;
  if (redisBufferRead(rc) != REDIS_OK) {
    close_watch(s); /* re-opened by the next discovery */
    return 1;       /* and a lost watch may have hidden a failover: ask again */
  }
  for (;;) {
    void *r = NULL;
    if (redisGetReplyFromReader(rc, &r) != REDIS_OK) {
      close_watch(s);
      return 1;
    }
    if (!r) break;
    const redisReply *m = r;
    /* ["message", "+switch-master", "<name> <old-ip> <old-port> <new-ip> <new-port>"],
     * ["message", "+promoted-slave", "slave <ip>:<port> <ip> <port> @ <name> <ip> <port>"] */
    if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 && m->element[2]->type == REDIS_REPLY_STRING) {
      size_t n = strlen(s->master_name);
      const char *text = m->element[2]->str, *at = strstr(text, " @ ");
      if (!strncmp(text, s->master_name, n) && text[n] == ' ') seen = 1;
      if (at && !strncmp(at + 3, s->master_name, n) && at[3 + n] == ' ') seen = 1;
    }
    freeReplyObject(r);
  }
  return seen;
}

void xr_sentinel_tick(xr_client *c) {
  xr_sentinel_state *s = c->topo.sentinel;
  int64_t now = xr_monotonic_ms();
  int64_t due = atomic_load_explicit(&s->next_tick_ms, memory_order_relaxed);
  if (now < due) return;
  /* one call per TICK_MS does the tick; the others that pass by at the same time go on */
  if (!atomic_compare_exchange_strong_explicit(&s->next_tick_ms, &due, now + TICK_MS, memory_order_relaxed,
                                               memory_order_relaxed))
    return;
  if (pthread_mutex_trylock(&s->watch_mu) == 0) {
    if (s->watch && read_watch(s)) atomic_store(&s->switched, 1);
    pthread_mutex_unlock(&s->watch_mu);
  }
  /* both run as a refresh: never in two threads at once, nor right after another refresh */
  if (atomic_load(&s->switched)) xr_topology_refresh(c, 0);
  else if (now - atomic_load(&s->last_check_ms) >= RECHECK_MS) xr_topology_recheck(c);
}
