/* The demo's Sentinel and Cluster parts (demo.c prints their headings and starts the local
 * topologies): the Chat SDK state (locks, queue) through redis+sentinel:// and redis+cluster://
 * URLs, and what matters there. Sentinel: a SENTINEL FAILOVER while a lock is held, the client
 * following it (the old and new master, how long calls waited). Cluster: which master serves which
 * slots and how many of the demo's keys each holds (asked of each master), a two-key operation
 * refused as CROSSSLOT before it is sent, the hash-tagged key prefix that makes it work, and a slot
 * moved to another master (ASK, then MOVED, followed by the client). Only keys under the demo's
 * prefix are written, and they are deleted at the end; a failover and a slot move change the
 * deployment, so on one given by URL they run only when the caller allows changes (a slot that
 * holds other keys is not moved, and a moved one goes back). Everything connects with the URL's
 * own credentials and TLS; nothing printed holds a password. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "crossredis/alloc.h"
#include "crossredis/chat.h"
#include "crossredis/config.h"
#include "crossredis/error.h"
#include "crossredis/keys.h"
#include "crossredis/scan.h"
#include "crossredis/timestamp.h"
#include "crossredis/tls.h"

enum { ADDR_SIZE = 300, KEY_SIZE = 200, FAILOVER_MS = 30000, PROBE_MS = 20, MAX_MASTERS = 16, MAX_RANGES = 64,
       THREADS = 16 };

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int command(xr_client *c, xr_reply **r, int argc, const char *const *argv) {
  if (r) *r = NULL;
  return xr_client_command(c, r, argc, argv, NULL);
}

/* "crossredis: demo: <what>: <the library's message>" (passwords hidden); CLI_FAILED. */
static int failed(const char *what) {
  char msg[1200];
  snprintf(msg, sizeof msg, "crossredis: demo: %s: %s\n", what, xr_error_last()->message);
  cli_print_redacted(stderr, msg);
  return CLI_FAILED;
}

static int failed_because(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int failed_because(const char *fmt, ...) {
  char msg[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fputs("crossredis: demo: ", stderr);
  cli_print_redacted(stderr, msg);
  fputc('\n', stderr);
  return CLI_FAILED;
}

/* A deployment as its URL describes it: the client options and TLS settings the core resolves
 * from it (strings borrowed from cfg), for clients of its nodes one by one. */
typedef struct deployment {
  xr_client_config *cfg;
  xr_client_options o;
  xr_tls_options tls;
  int tls_for; /* XR_CONFIG_TLS_NODES | XR_CONFIG_TLS_SENTINELS */
} deployment;

static int deployment_open(deployment *d, const char *url) {
  xr_tls_options none = XR_TLS_OPTIONS_INIT;
  memset(d, 0, sizeof *d);
  d->tls = none;
  int rc = xr_client_config_new(&d->cfg);
  if (rc == 0) rc = xr_client_config_set_text(d->cfg, "url", url, strlen(url));
  if (rc == 0) rc = d->tls_for = xr_client_config_resolve(d->cfg, &d->o, &d->tls);
  return rc < 0 ? rc : 0;
}

static void deployment_close(deployment *d) { xr_client_config_free(d->cfg); }

/* A client of one node of the deployment, with its credentials and TLS: the data nodes', or with
 * `sentinel` the sentinels' own (sentinel_username, sentinel_password, sentinel_tls). */
static int node_client(xr_client **out, const deployment *d, const char *host, int port, bool sentinel) {
  xr_client_options o = d->o;
  o.topology = XR_TOPOLOGY_STANDALONE;
  o.nodes = o.master_name = o.sentinel_username = o.sentinel_password = NULL;
  o.replica_reads = 0;
  o.unix_path = NULL;
  o.host = host;
  o.port = port;
  o.pool_size = 2;
  if (sentinel) {
    o.username = d->o.sentinel_username;
    o.password = d->o.sentinel_password;
    o.db = 0;
  }
  xr_tls *tls = NULL;
  if (d->tls_for & (sentinel ? XR_CONFIG_TLS_SENTINELS : XR_CONFIG_TLS_NODES)) {
    int rc = xr_tls_new(&tls, &d->tls);
    if (rc != 0) return rc;
    o.tls = tls;
  }
  int rc = xr_client_open(out, &o);
  xr_tls_free(tls);
  return rc;
}

/* Splits "host:port" ("[v6]:port") into host and *port; false when it is not one. */
static bool split_addr(const char *addr, size_t len, char *host, size_t size, int *port) {
  const char *colon = NULL;
  for (size_t i = 0; i < len; i++)
    if (addr[i] == ':') colon = addr + i;
  if (!colon) return false;
  const char *h = addr;
  size_t hl = (size_t)(colon - addr), pl = len - hl - 1;
  if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
  char digits[8];
  long p;
  if (hl == 0 || hl >= size || pl == 0 || pl >= sizeof digits) return false;
  memcpy(host, h, hl);
  host[hl] = '\0';
  memcpy(digits, colon + 1, pl);
  digits[pl] = '\0';
  if (!cli_parse_long(digits, 1, 65535, &p)) return false;
  *port = (int)p;
  return true;
}

static const char *text_at(const xr_reply *r, size_t i) {
  const xr_reply *e = xr_reply_at(r, i);
  const char *s = e ? xr_reply_str(e, NULL) : NULL;
  return s ? s : "";
}

/* Deletes every key under `prefix` (SCAN MATCH on every master, then DEL): how many. */
static long long delete_prefix(xr_client *c, const char *prefix) {
  char *pattern = NULL;
  if (xr_key_prefix_pattern(&pattern, NULL, prefix, strlen(prefix)) != 0) return -1;
  xr_scan_options so = XR_SCAN_OPTIONS_INIT;
  so.match = pattern;
  xr_scan *s = NULL;
  xr_batch *step = NULL, *dels = NULL;
  long long deleted = -1;
  if (xr_scan_new(&s, c, &so) == 0 && xr_batch_new(&step) == 0 && xr_batch_new(&dels) == 0) {
    int done = 0, rc = 0;
    while (!done && rc == 0) {
      xr_batch_clear(step);
      int i = xr_scan_add(s, step);
      const xr_reply *keys = NULL;
      rc = i < 0 ? i : xr_client_exec(c, step);
      if (rc == 0) rc = xr_scan_take(s, step, (size_t)i, &keys, &done);
      for (size_t k = 0; rc == 0 && k < xr_reply_count(keys); k++) {
        size_t kl = 0;
        const char *key = xr_reply_str(xr_reply_at(keys, k), &kl);
        const char *argv[] = {"DEL", key};
        size_t lens[] = {3, kl};
        if (xr_batch_add(dels, 2, argv, lens) < 0) rc = XR_ENOMEM;
      }
    }
    if (rc == 0 && xr_batch_count(dels) > 0) rc = xr_client_exec(c, dels);
    if (rc == 0) {
      deleted = 0;
      for (size_t i = 0; i < xr_batch_count(dels); i++) {
        const xr_reply *r = NULL;
        if (xr_batch_result(dels, i, &r, NULL) == 0 && r) deleted += xr_reply_integer(r);
      }
    }
  }
  xr_batch_free(step);
  xr_batch_free(dels);
  xr_scan_free(s);
  xr_free(pattern);
  return deleted;
}

/* The run_id in the INFO server of whichever node c sends to; false when it cannot say. */
static bool run_id(xr_client *c, char *out, size_t size) {
  xr_reply *r = NULL;
  const char *argv[] = {"INFO", "server"};
  if (command(c, &r, 2, argv) != 0) return false;
  bool ok = cli_info_field(xr_reply_str(r, NULL), "run_id", out, size);
  xr_reply_free(r);
  return ok;
}

static const char message[] = "{\"_type\":\"chat:Message\",\"id\":\"1\",\"text\":\"h\xc3\xa9llo\"}";

/* ---- Sentinel --------------------------------------------------------------------------------- */

typedef struct sentinel_view {
  char master[ADDR_SIZE]; /* host:port the sentinels name */
  char replicas[3 * ADDR_SIZE];
  int healthy_replicas;   /* flagged "slave" alone */
  char quorum[16];
  int sentinels;
} sentinel_view;

/* The first sentinel of the URL that answers. */
static int open_sentinel(xr_client **out, const deployment *u) {
  int rc = XR_ECONNECT;
  for (const char *p = u->o.nodes; p && *p;) {
    size_t n = strcspn(p, ",");
    char host[ADDR_SIZE];
    int port;
    if (split_addr(p, n, host, sizeof host, &port) && (rc = node_client(out, u, host, port, true)) == 0) return 0;
    p += n + (p[n] == ',');
  }
  return rc;
}

/* The master the sentinels name, as host:port; false when they name none. */
static bool named_master(xr_client *admin, const char *name, char *out, size_t size) {
  xr_reply *r = NULL;
  const char *argv[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", name};
  if (command(admin, &r, 3, argv) != 0) return false;
  bool ok = xr_reply_count(r) == 2;
  if (ok) snprintf(out, size, "%s:%s", text_at(r, 0), text_at(r, 1));
  xr_reply_free(r);
  return ok;
}

/* What the sentinels say of the master `name`: CLI_OK, or CLI_FAILED after saying why. */
static int view_sentinel(xr_client *admin, const char *name, sentinel_view *v) {
  memset(v, 0, sizeof *v);
  if (!named_master(admin, name, v->master, sizeof v->master))
    return failed_because("the sentinels name no master '%s'", name);
  xr_reply *r = NULL;
  const char *master[] = {"SENTINEL", "MASTER", name};
  if (command(admin, &r, 3, master) != 0) return failed("SENTINEL MASTER");
  snprintf(v->quorum, sizeof v->quorum, "%s", cli_map_text(r, "quorum"));
  v->sentinels = atoi(cli_map_text(r, "num-other-sentinels")) + 1;
  xr_reply_free(r);
  const char *replicas[] = {"SENTINEL", "REPLICAS", name};
  if (command(admin, &r, 3, replicas) != 0) return failed("SENTINEL REPLICAS");
  size_t w = 0;
  for (size_t i = 0; i < xr_reply_count(r) && w < sizeof v->replicas - ADDR_SIZE; i++) {
    const xr_reply *one = xr_reply_at(r, i);
    bool healthy = !strcmp(cli_map_text(one, "flags"), "slave");
    v->healthy_replicas += healthy;
    w += (size_t)snprintf(v->replicas + w, sizeof v->replicas - w, "%s%s%s", w ? ", " : "", cli_map_text(one, "name"),
                          healthy ? "" : " (down)");
  }
  xr_reply_free(r);
  return CLI_OK;
}

typedef struct follow {
  char new_master[ADDR_SIZE];
  double switched_ms;  /* when the sentinels named it, after the FAILOVER */
  double followed_ms;  /* when a call of the client was answered by it */
  double longest_ms;   /* the longest time between two answered calls */
  int calls, failures;
  int to_old;          /* calls answered by the old master after the switch */
  char first_failure[300];
} follow;

/* The run_id of the node at addr (host:port), asked directly; false when it cannot say. */
static bool run_id_at(const deployment *u, const char *addr, char *out, size_t size) {
  char host[ADDR_SIZE];
  int port;
  xr_client *c = NULL;
  bool ok = split_addr(addr, strlen(addr), host, sizeof host, &port) && node_client(&c, u, host, port, false) == 0 &&
            run_id(c, out, size);
  xr_client_close(c);
  return ok;
}

/* Sends SENTINEL FAILOVER (again while the sentinel answers INPROG or NOGOODSLAVE: an earlier
 * failover finishing, replicas it has not asked lately), then extends the lock every PROBE_MS
 * until a call of the client is answered by the master the sentinels name now (which node
 * answered: the run_id in its INFO). */
static int fail_over(const deployment *u, xr_client *admin, xr_client *c, xr_chat *ts, const char *thread,
                     const xr_chat_lock *lock, const char *old_master, follow *f) {
  memset(f, 0, sizeof *f);
  f->switched_ms = -1;
  char old_id[64] = "", new_id[64] = "", id[64];
  if (!run_id_at(u, old_master, old_id, sizeof old_id)) return failed("ask the master for its run_id");
  double t0 = cli_monotonic_ms();
  for (;;) {
    const char *argv[] = {"SENTINEL", "FAILOVER", u->o.master_name};
    if (command(admin, NULL, 3, argv) == 0) break;
    const char *m = xr_error_last()->message;
    if ((!strstr(m, "INPROG") && !strstr(m, "NOGOODSLAVE")) || cli_monotonic_ms() - t0 > 10000)
      return failed("SENTINEL FAILOVER");
    pause_ms(250);
  }
  double last_ok = cli_monotonic_ms();
  while (cli_monotonic_ms() - t0 < FAILOVER_MS) {
    bool extended = false;
    int rc = xr_chat_extend_lock(ts, &extended, thread, strlen(thread), lock->token, lock->token_len, 30000);
    double now = cli_monotonic_ms();
    bool answered = rc == 0 && extended && run_id(c, id, sizeof id);
    f->calls++;
    if (answered) {
      if (now - last_ok > f->longest_ms) f->longest_ms = now - last_ok;
      last_ok = now;
    } else if (f->failures++ == 0) {
      snprintf(f->first_failure, sizeof f->first_failure, "%s",
               rc || extended ? xr_error_last()->message : "the lock was not extended: it is gone");
    }
    if (answered && new_id[0] && !strcmp(id, new_id)) {
      f->followed_ms = now - t0;
      return CLI_OK;
    }
    if (answered && new_id[0] && !strcmp(id, old_id)) f->to_old++;
    if (!new_id[0] && named_master(admin, u->o.master_name, f->new_master, sizeof f->new_master) &&
        strcmp(f->new_master, old_master) != 0 && run_id_at(u, f->new_master, new_id, sizeof new_id))
      f->switched_ms = cli_monotonic_ms() - t0;
    pause_ms(PROBE_MS);
  }
  return failed_because("the client did not follow the failover within %d s (%s)", FAILOVER_MS / 1000,
                        new_id[0] ? "its calls still reach the old master" : "the sentinels still name the old master");
}

static void chat_options(xr_chat_options *o, const char *prefix, bool python) {
  xr_chat_options init = XR_CHAT_OPTIONS_INIT;
  *o = init;
  o->key_prefix = prefix;
  if (python) {
    o->token_prefix = "ioredis";
    o->token_suffix = XR_TOKEN_HEX32;
    o->json = XR_JSON_PYTHON;
    o->queue = XR_CHAT_QUEUE_BOTH;
  }
}

/* The lock, the queued message and the failover, on c. */
static int sentinel_chat(const deployment *u, xr_client *admin, xr_client *c, const sentinel_view *v,
                         const char *prefix, bool changes) {
  char kp[128];
  snprintf(kp, sizeof kp, "%schat-sdk", prefix);
  xr_chat_options o, safe_o, py_o;
  chat_options(&o, kp, false);
  chat_options(&py_o, kp, true);
  /* a lock counts as held once the master's connected replicas have it (two at most); the
   * sentinels may still list a replica that is gone or not yet following */
  char info[4096], n[16] = "0";
  xr_reply *r = NULL;
  const char *replication[] = {"INFO", "replication"};
  if (command(c, &r, 2, replication) == 0) {
    snprintf(info, sizeof info, "%s", xr_reply_str(r, NULL) ? xr_reply_str(r, NULL) : "");
    cli_info_field(info, "connected_slaves", n, sizeof n);
  }
  xr_reply_free(r);
  safe_o = o;
  safe_o.min_replicas = atoi(n) < 2 ? atoi(n) : 2;
  xr_chat *ts = NULL, *safe = NULL, *py = NULL;
  int status = CLI_FAILED;
  if (xr_chat_new(&ts, c, &o) || xr_chat_new(&safe, c, &safe_o) || xr_chat_new(&py, c, &py_o)) {
    failed("chat state");
    goto done;
  }
  static const char thread[] = "slack:C123:1700000000.000100";
  size_t tl = sizeof thread - 1;
  bool got = false;
  xr_chat_lock lock, other;
  int rc = xr_chat_acquire_lock(safe, &got, &lock, thread, tl, 30000);
  if (rc || !got) {
    if (rc) failed("acquire a lock");
    else failed_because("the demo's lock is held by someone else");
    goto done;
  }
  char what[96];
  if (safe_o.min_replicas > 0)
    snprintf(what, sizeof what, "(min_replicas %d: WAIT said %s it)", safe_o.min_replicas,
             safe_o.min_replicas == 1 ? "a replica has" : "both replicas have");
  else
    snprintf(what, sizeof what, "(no replica to wait for)");
  cli_demo_row("TS-shaped adapter acquires a lock", "%s %s", lock.token, what);
  long long depth = 0;
  int64_t now = xr_time_now_ms();
  if (xr_chat_enqueue(py, &depth, thread, tl, message, sizeof message - 1, now, now + 60000, 10)) {
    failed("enqueue");
    goto done;
  }
  cli_demo_row("Python-shaped adapter queues a message", "queue depth %lld", depth);
  if (!changes) {
    cli_demo_row("SENTINEL FAILOVER", "skipped: it changes the deployment (--allow-changes runs it)");
  } else if (v->healthy_replicas == 0) {
    cli_demo_row("SENTINEL FAILOVER", "skipped: the master has no healthy replica to promote");
  } else {
    follow f;
    if (fail_over(u, admin, c, ts, thread, &lock, v->master, &f) != CLI_OK) goto done;
    cli_demo_row("SENTINEL FAILOVER while the lock is held", "OK; the client extends the lock every %d ms meanwhile",
                 PROBE_MS);
    cli_demo_row("the sentinels name a new master", "%s after %.2f s (was %s)", f.new_master, f.switched_ms / 1000,
                 v->master);
    cli_demo_row("the client follows", "its calls reach %s %.2f s after the FAILOVER (told by the sentinels' "
                 "+promoted-slave)", f.new_master, f.followed_ms / 1000);
    char failures[400] = "";
    if (f.failures) snprintf(failures, sizeof failures, " (the first: %s)", f.first_failure);
    cli_demo_row("without service", "%.2f s at most between two answered calls; %d of %d calls failed%s",
                 f.longest_ms / 1000, f.failures, f.calls, failures);
    if (f.to_old)
      cli_demo_row("answered by the old master meanwhile", "%d %s after the sentinels named the new one (the old "
                   "one stays a master until they demote it; writes it took meanwhile are lost then)", f.to_old,
                   cli_plural((size_t)f.to_old, "call", "calls"));
  }
  if (xr_chat_acquire_lock(py, &got, &other, thread, tl, 30000)) {
    failed("acquire the held lock");
    goto done;
  }
  if (got) {
    failed_because("the lock was lost: another adapter acquired it");
    goto done;
  }
  cli_demo_row(changes ? "the lock on the new master" : "the lock", "still held by %s: another adapter cannot take it",
               lock.token);
  xr_chat_queue_entry e;
  bool found = false;
  rc = xr_chat_dequeue(ts, &found, &e, thread, tl);
  if (rc || !found) {
    if (rc) failed("dequeue");
    else failed_because("the queued message is gone");
    goto done;
  }
  cli_demo_row(changes ? "the queued message on the new master" : "the queued message",
               "%s (read by the TS-dialect reader)", e.message);
  xr_chat_queue_entry_clear(&e);
  bool released = false;
  rc = xr_chat_release_lock(ts, &released, thread, tl, lock.token, lock.token_len);
  if (rc || !released) {
    if (rc) failed("release");
    else failed_because("the lock was not released");
    goto done;
  }
  status = CLI_OK;
done:
  xr_chat_free(ts);
  xr_chat_free(safe);
  xr_chat_free(py);
  return status;
}

int cli_demo_sentinel(const char *url, const char *prefix, bool changes) {
  deployment d, *u = &d;
  xr_client *admin = NULL, *c = NULL;
  int status = CLI_FAILED;
  sentinel_view v;
  if (deployment_open(&d, url) != 0) {
    failed("the Sentinel URL");
  } else if (open_sentinel(&admin, u) != 0) {
    failed("no sentinel of the URL answers");
  } else if (view_sentinel(admin, u->o.master_name, &v) != CLI_OK) {
    /* said */
  } else if (xr_tls_client_open_url(&c, url, NULL) != 0) {
    failed("connect through the sentinels");
  } else {
    cli_demo_row("the sentinels name the master", "%s (replicas %s; quorum %s of %d sentinels)", v.master,
                 v.replicas[0] ? v.replicas : "none", v.quorum, v.sentinels);
    status = sentinel_chat(u, admin, c, &v, prefix, changes);
    if (delete_prefix(c, prefix) < 0 && status == CLI_OK) status = failed("delete the demo's keys");
  }
  xr_client_close(c);
  xr_client_close(admin);
  deployment_close(&d);
  return status;
}

/* ---- Cluster ---------------------------------------------------------------------------------- */

typedef struct master {
  char host[ADDR_SIZE], addr[ADDR_SIZE], id[64], replicas[2 * ADDR_SIZE];
  int port;
  int ranges[MAX_RANGES][2], nranges;
  xr_client *direct; /* a client of this node alone */
  int keys;          /* the demo's keys it holds */
} master;

typedef struct slot_map {
  master m[MAX_MASTERS];
  int n;
} slot_map;

static int first_slot(const void *a, const void *b) {
  return ((const master *)a)->ranges[0][0] - ((const master *)b)->ranges[0][0];
}

/* The masters and their slot ranges (CLUSTER SLOTS: [start, end, [host, port, id], replicas...]),
 * in slot order, each with a client of its own. */
static int read_slots(const deployment *u, xr_client *c, slot_map *map) {
  memset(map, 0, sizeof *map);
  xr_reply *r = NULL;
  const char *argv[] = {"CLUSTER", "SLOTS"};
  if (command(c, &r, 2, argv) != 0) return failed("CLUSTER SLOTS");
  for (size_t i = 0; i < xr_reply_count(r); i++) {
    const xr_reply *e = xr_reply_at(r, i), *node = xr_reply_at(e, 2);
    if (!node) continue;
    const char *host = text_at(node, 0);
    int port = (int)xr_reply_integer(xr_reply_at(node, 1));
    master *m = NULL;
    for (int k = 0; k < map->n && !m; k++)
      if (map->m[k].port == port && !strcmp(map->m[k].host, host)) m = &map->m[k];
    if (!m && map->n < MAX_MASTERS) {
      m = &map->m[map->n++];
      snprintf(m->host, sizeof m->host, "%s", host);
      m->port = port;
      snprintf(m->addr, sizeof m->addr, "%s:%d", host, port);
      snprintf(m->id, sizeof m->id, "%s", text_at(node, 2));
      size_t w = 0;
      for (size_t k = 3; k < xr_reply_count(e) && w < sizeof m->replicas - ADDR_SIZE; k++)
        w += (size_t)snprintf(m->replicas + w, sizeof m->replicas - w, "%s%s:%lld", w ? ", " : "",
                              text_at(xr_reply_at(e, k), 0), xr_reply_integer(xr_reply_at(xr_reply_at(e, k), 1)));
    }
    if (m && m->nranges < MAX_RANGES) {
      m->ranges[m->nranges][0] = (int)xr_reply_integer(xr_reply_at(e, 0));
      m->ranges[m->nranges++][1] = (int)xr_reply_integer(xr_reply_at(e, 1));
    }
  }
  xr_reply_free(r);
  if (map->n == 0) return failed_because("CLUSTER SLOTS names no master");
  qsort(map->m, (size_t)map->n, sizeof map->m[0], first_slot);
  for (int k = 0; k < map->n; k++)
    if (node_client(&map->m[k].direct, u, map->m[k].host, map->m[k].port, false) != 0) {
      char what[ADDR_SIZE + 32];
      snprintf(what, sizeof what, "connect to the master %s", map->m[k].addr);
      return failed(what);
    }
  return CLI_OK;
}

static void close_masters(slot_map *map) {
  for (int k = 0; k < map->n; k++) xr_client_close(map->m[k].direct);
}

static master *master_of(slot_map *map, unsigned slot) {
  for (int k = 0; k < map->n; k++)
    for (int j = 0; j < map->m[k].nranges; j++)
      if ((int)slot >= map->m[k].ranges[j][0] && (int)slot <= map->m[k].ranges[j][1]) return &map->m[k];
  return NULL;
}

/* "slots 0-5460" (", 10923-11000" for each more range). */
static void ranges_text(const master *m, char *out, size_t size) {
  size_t w = (size_t)snprintf(out, size, "slots ");
  for (int j = 0; j < m->nranges && w < size; j++)
    w += (size_t)snprintf(out + w, size - w, "%s%d-%d", j ? ", " : "", m->ranges[j][0], m->ranges[j][1]);
}

/* Each master holds the keys whose slots it serves: asked of the master itself (EXISTS). */
static int count_keys(slot_map *map, char keys[][KEY_SIZE], size_t nkeys) {
  for (int k = 0; k < map->n; k++) {
    master *m = &map->m[k];
    xr_batch *b = NULL;
    if (xr_batch_new(&b) != 0) return failed("batch");
    for (size_t i = 0; i < nkeys; i++) {
      if (master_of(map, xr_key_slot(keys[i], strlen(keys[i]))) != m) continue;
      const char *argv[] = {"EXISTS", keys[i]};
      if (xr_batch_add(b, 2, argv, NULL) < 0) break;
    }
    int rc = xr_batch_count(b) ? xr_client_exec(m->direct, b) : 0;
    for (size_t i = 0; rc == 0 && i < xr_batch_count(b); i++) {
      const xr_reply *r = NULL;
      if (xr_batch_result(b, i, &r, NULL) == 0 && r) m->keys += (int)xr_reply_integer(r);
    }
    size_t asked = xr_batch_count(b);
    xr_batch_free(b);
    if (rc != 0) return failed("EXISTS on a master");
    if ((size_t)m->keys != asked)
      return failed_because("the master %s holds %d of the %zu keys of its slots", m->addr, m->keys, asked);
  }
  return CLI_OK;
}

/* CLUSTER SETSLOT slot state id on m. */
static int set_slot(master *m, unsigned slot, const char *state, const char *id) {
  char s[16];
  snprintf(s, sizeof s, "%u", slot);
  const char *argv[] = {"CLUSTER", "SETSLOT", s, state, id};
  return command(m->direct, NULL, id ? 5 : 4, argv);
}

/* MIGRATE of n keys from `from` to `to`, with the URL's credentials. */
static int migrate(const deployment *u, master *from, const master *to, const char *const *keys, const size_t *lens,
                   size_t n) {
  if (n == 0) return 0;
  const char **argv = cli_xmalloc((n + 12) * sizeof *argv);
  size_t *lv = cli_xmalloc((n + 12) * sizeof *lv);
  char port[16];
  snprintf(port, sizeof port, "%d", to->port);
  int a = 0;
  const char *head[] = {"MIGRATE", to->host, port, "", "0", "5000"};
  for (size_t i = 0; i < 6; i++) argv[a++] = head[i];
  if (u->o.password && u->o.username) {
    argv[a++] = "AUTH2";
    argv[a++] = u->o.username;
    argv[a++] = u->o.password;
  } else if (u->o.password) {
    argv[a++] = "AUTH";
    argv[a++] = u->o.password;
  }
  argv[a++] = "KEYS";
  for (int i = 0; i < a; i++) lv[i] = strlen(argv[i]);
  for (size_t i = 0; i < n; i++, a++) {
    argv[a] = keys[i];
    lv[a] = lens[i];
  }
  int rc = xr_client_command(from->direct, NULL, a, argv, lv);
  free(argv);
  free(lv);
  return rc;
}

/* Moves `slot` from `from` to `to` the way redis-cli --cluster reshard does: IMPORTING on the
 * target, MIGRATING on the source, its keys MIGRATEd (`first` first, then `shown` is called), then
 * the slot given to the target on every master. */
static int move_slot(const deployment *u, slot_map *map, unsigned slot, master *from, master *to, const char *first,
                     void (*shown)(void *), void *arg) {
  int rc = set_slot(to, slot, "IMPORTING", from->id);
  if (rc == 0) rc = set_slot(from, slot, "MIGRATING", to->id);
  if (rc == 0 && first) {
    size_t fl = strlen(first);
    rc = migrate(u, from, to, &first, &fl, 1);
    if (rc == 0 && shown) shown(arg);
  }
  while (rc == 0) {
    char s[16];
    snprintf(s, sizeof s, "%u", slot);
    const char *argv[] = {"CLUSTER", "GETKEYSINSLOT", s, "100"};
    xr_reply *r = NULL;
    rc = command(from->direct, &r, 4, argv);
    size_t n = rc == 0 ? xr_reply_count(r) : 0;
    if (n > 0) {
      const char **keys = cli_xmalloc(n * sizeof *keys);
      size_t *lens = cli_xmalloc(n * sizeof *lens);
      for (size_t i = 0; i < n; i++) keys[i] = xr_reply_str(xr_reply_at(r, i), &lens[i]);
      rc = migrate(u, from, to, keys, lens, n);
      free(keys);
      free(lens);
    }
    xr_reply_free(r);
    if (n == 0) break;
  }
  /* the target first: it bumps its epoch, so the cluster agrees whose the slot is */
  if (rc == 0) rc = set_slot(to, slot, "NODE", to->id);
  if (rc == 0) rc = set_slot(from, slot, "NODE", to->id);
  for (int k = 0; rc == 0 && k < map->n; k++)
    if (&map->m[k] != to && &map->m[k] != from) rc = set_slot(&map->m[k], slot, "NODE", to->id);
  if (rc != 0) {
    char what[2 * ADDR_SIZE + 40];
    snprintf(what, sizeof what, "move slot %u from %s to %s", slot, from->addr, to->addr);
    failed(what);
  }
  return rc == 0 ? CLI_OK : CLI_FAILED;
}

/* What a node answers for a GET of key: its error (ASK, MOVED) or "a value". */
static void node_answer(master *m, const char *key, char *out, size_t size) {
  const char *argv[] = {"GET", key};
  if (command(m->direct, NULL, 2, argv) != 0)
    snprintf(out, size, "%s", xr_error_last()->message);
  else
    snprintf(out, size, "the value");
}

typedef struct move_show {
  master *from;
  xr_chat *tg;
  const char *key;  /* the moved key */
  const char *name; /* the same as the adapter names it */
  int status;
} move_show;

/* Halfway through the move: the source answers ASK for the moved key, the client follows it. */
static void show_ask(void *arg) {
  move_show *m = arg;
  char answer[300];
  node_answer(m->from, m->key, answer, sizeof answer);
  char *value = NULL;
  size_t len = 0;
  if (xr_chat_get(m->tg, &value, &len, m->name, strlen(m->name)) != 0 || !value) {
    m->status = value ? failed("read a moved key") : failed_because("the moved value is missing");
    return;
  }
  cli_demo_row("one key moved, the slot still migrating", "the old master answers \"%s\"; the client follows: %s",
               answer, value);
  xr_free(value);
}

/* Once the slot moved: the old master answers MOVED, the client follows to the value and finds the
 * lock still held. */
static int read_moved(xr_chat *tg, xr_chat *tpy, master *from, unsigned slot, const char *key,
                      const char *name, const char *thread, double took) {
  char answer[300], what[64], *value = NULL;
  size_t len = 0;
  bool again = true;
  xr_chat_lock other;
  node_answer(from, key, answer, sizeof answer);
  if (xr_chat_get(tg, &value, &len, name, strlen(name)) != 0) return failed("read the moved slot");
  if (!value) return failed_because("the value in the moved slot is gone");
  int rc = xr_chat_acquire_lock(tpy, &again, &other, thread, strlen(thread), 30000);
  if (rc != 0 || again) {
    xr_free(value);
    return rc ? failed("try the lock in the moved slot") : failed_because("the lock in the moved slot is gone");
  }
  snprintf(what, sizeof what, "slot %u moved in %.1f ms", slot, took);
  cli_demo_row(what, "the old master answers \"%s\"; the client follows: %s, the lock still held", answer, value);
  xr_free(value);
  return CLI_OK;
}

/* The two-key operation refused, then working with a hash-tagged prefix; the slot moved. */
static int cluster_tagged(const deployment *u, slot_map *map, xr_chat *ts, const char *prefix, bool changes,
                          bool local) {
  static const char thread[] = "slack:C123:1700000000.000100";
  size_t tl = sizeof thread - 1;
  bool got = false, released = true;
  long long depth = 0;
  xr_chat_lock lock;
  int rc = xr_chat_acquire_lock(ts, &got, &lock, thread, tl, 30000);
  if (rc || !got) return rc ? failed("acquire a lock") : failed_because("the demo's lock is held by someone else");
  rc = xr_chat_release_lock_if_queue_empty(ts, &released, &depth, thread, tl, lock.token, lock.token_len);
  if (rc != XR_ECROSSSLOT)
    return rc ? failed("release_lock_if_queue_empty on a Cluster")
              : failed_because("release_lock_if_queue_empty on a Cluster was not refused as CROSSSLOT");
  cli_demo_row("release_lock_if_queue_empty (lock + queue)", "refused before sending: %s", xr_error_last()->message);

  char kp[128], key[256], cache_key[256];
  snprintf(kp, sizeof kp, "%s{chat-sdk}", prefix);
  xr_chat_options o, py_o;
  chat_options(&o, kp, false);
  chat_options(&py_o, kp, true);
  xr_chat *tg = NULL, *tpy = NULL;
  int status = CLI_FAILED;
  if (xr_chat_new(&tg, xr_chat_client(ts), &o) || xr_chat_new(&tpy, xr_chat_client(ts), &py_o)) {
    failed("chat state");
    goto done;
  }
  int64_t now = xr_time_now_ms();
  bool kept = true;
  long long kept_depth = 0;
  xr_chat_queue_entry e;
  bool found = false;
  if (xr_chat_acquire_lock(tg, &got, &lock, thread, tl, 30000) || !got ||
      xr_chat_enqueue(tpy, &depth, thread, tl, message, sizeof message - 1, now, now + 60000, 10) ||
      xr_chat_release_lock_if_queue_empty(tg, &kept, &kept_depth, thread, tl, lock.token, lock.token_len) ||
      xr_chat_dequeue(tg, &found, &e, thread, tl) ||
      xr_chat_release_lock_if_queue_empty(tg, &released, &depth, thread, tl, lock.token, lock.token_len)) {
    failed("the hash-tagged prefix");
    goto done;
  }
  if (found) xr_chat_queue_entry_clear(&e);
  snprintf(key, sizeof key, "%s:lock:%s", kp, thread);
  unsigned slot = xr_key_slot(key, strlen(key));
  master *from = master_of(map, slot);
  if (kept || !released || !from) {
    failed_because("release_lock_if_queue_empty with a hash-tagged prefix: %s", kept ? "released with a message queued"
                   : !released ? "not released with the queue empty" : "no master serves its slot");
    goto done;
  }
  char what[ADDR_SIZE + 32];
  cli_demo_row("with a hash-tagged key prefix", "%s: lock and queue in one slot, %u on %s: kept while a message "
               "waits (depth %lld), released once it was dequeued", kp, slot, from->addr, kept_depth);

  /* the slot moves: a lock held in it, a value cached in it */
  static const char cached[] = "greeting";
  snprintf(cache_key, sizeof cache_key, "%s:cache:%s", kp, cached);
  static const char value[] = "{\"text\":\"moved with its slot\"}";
  if (xr_chat_acquire_lock(tg, &got, &lock, thread, tl, 30000) || !got ||
      xr_chat_set(tg, cached, sizeof cached - 1, value, sizeof value - 1, 60000)) {
    failed("write into the tagged slot");
    goto done;
  }
  if (map->n < 2) {
    cli_demo_row("moving a slot", "skipped: the cluster has one master");
    status = CLI_OK;
    goto done;
  }
  if (!changes) {
    cli_demo_row("moving a slot", "skipped: it changes the deployment (--allow-changes runs it)");
    status = CLI_OK;
    goto done;
  }
  char s[16];
  snprintf(s, sizeof s, "%u", slot);
  xr_reply *r = NULL;
  const char *count[] = {"CLUSTER", "COUNTKEYSINSLOT", s};
  if (command(from->direct, &r, 3, count) != 0) {
    failed("CLUSTER COUNTKEYSINSLOT");
    goto done;
  }
  long long in_slot = xr_reply_integer(r);
  xr_reply_free(r);
  if (in_slot != 2) {
    snprintf(what, sizeof what, "moving slot %u", slot);
    cli_demo_row(what, "skipped: it holds %lld keys that are not the demo's", in_slot - 2);
    status = CLI_OK;
    goto done;
  }
  master *to = &map->m[(from - map->m + 1) % map->n];
  snprintf(what, sizeof what, "slot %u moves to %s", slot, to->addr);
  cli_demo_row(what, "IMPORTING there, MIGRATING here, MIGRATE of its 2 keys, SETSLOT NODE on every master");
  /* the cleanup signals wait from here until the slot is whole again (back where it was, on a
   * deployment given by URL): a demo stopped halfway would leave it half moved */
  sigset_t held;
  cli_local_server_hold_signals(&held);
  move_show show = {from, tg, cache_key, cached, CLI_OK};
  double t0 = cli_monotonic_ms();
  status = move_slot(u, map, slot, from, to, cache_key, show_ask, &show);
  double took = cli_monotonic_ms() - t0;
  if (status == CLI_OK) status = show.status;
  if (status == CLI_OK) status = read_moved(tg, tpy, from, slot, cache_key, cached, thread, took);
  if (!local && move_slot(u, map, slot, to, from, NULL, NULL, NULL) != CLI_OK) status = CLI_FAILED;
  cli_local_server_release_signals(&held);
done:
  xr_chat_free(tg);
  xr_chat_free(tpy);
  return status;
}

int cli_demo_cluster(const char *url, const char *prefix, bool changes, bool local) {
  deployment d, *u = &d;
  xr_client *c = NULL;
  slot_map map = {0};
  xr_chat *ts = NULL, *py = NULL;
  xr_chat_batch *locks = NULL, *queued = NULL;
  int status = CLI_FAILED;
  char kp[128], keys[2 * THREADS][KEY_SIZE], threads[THREADS][48];
  snprintf(kp, sizeof kp, "%schat-sdk", prefix);
  xr_chat_options o, py_o;
  chat_options(&o, kp, false);
  chat_options(&py_o, kp, true);
  if (deployment_open(&d, url) != 0) {
    failed("the Cluster URL");
    goto done;
  }
  if (xr_tls_client_open_url(&c, url, NULL) != 0) {
    failed("connect to the cluster");
    goto done;
  }
  if (read_slots(u, c, &map) != CLI_OK) goto done;
  if (xr_chat_new(&ts, c, &o) || xr_chat_new(&py, c, &py_o) || xr_chat_batch_new(&locks, ts) ||
      xr_chat_batch_new(&queued, py)) {
    failed("chat state");
    goto done;
  }
  int64_t now = xr_time_now_ms();
  for (int i = 0; i < THREADS; i++) {
    snprintf(threads[i], sizeof threads[i], "slack:C%03d:1700000000.000100", i);
    size_t tl = strlen(threads[i]);
    xr_chat_batch_acquire_lock(locks, threads[i], tl, 30000);
    xr_chat_batch_enqueue(queued, threads[i], tl, message, sizeof message - 1, now, now + 60000, 10);
    snprintf(keys[2 * i], sizeof keys[0], "%s:lock:%s", kp, threads[i]);
    snprintf(keys[2 * i + 1], sizeof keys[0], "%s:queue:%s", kp, threads[i]);
  }
  double t0 = cli_monotonic_ms();
  if (xr_chat_batch_exec(locks) || xr_chat_batch_exec(queued)) {
    failed("the batches");
    goto done;
  }
  double took = cli_monotonic_ms() - t0;
  for (size_t i = 0; i < (size_t)THREADS; i++)
    if (xr_chat_batch_status(locks, i) || xr_chat_batch_status(queued, i)) {
      failed("an operation of the batches");
      goto done;
    }
  char what[96];
  snprintf(what, sizeof what, "a lock and a queued message for %d threads", THREADS);
  cli_demo_row(what, "%d keys in two batches (each split per master) in %.1f ms", 2 * THREADS, took);
  if (count_keys(&map, keys, 2 * THREADS) != CLI_OK) goto done;
  for (int k = 0; k < map.n; k++) {
    ranges_text(&map.m[k], what, sizeof what);
    cli_demo_row(what, "%s%s%s%s: %d of the %d keys", map.m[k].addr, map.m[k].replicas[0] ? " (replica " : "",
                 map.m[k].replicas, map.m[k].replicas[0] ? ")" : "", map.m[k].keys, 2 * THREADS);
  }
  status = cluster_tagged(u, &map, ts, prefix, changes, local);
done:
  if (c && delete_prefix(c, prefix) < 0 && status == CLI_OK) status = failed("delete the demo's keys");
  xr_chat_batch_free(locks);
  xr_chat_batch_free(queued);
  xr_chat_free(ts);
  xr_chat_free(py);
  close_masters(&map);
  xr_client_close(c);
  deployment_close(&d);
  return status;
}
