/* Throwaway local topologies for `crossredis demo`, made of local_server.c's servers (a folder
 * each, free loopback ports, no passwords, removed when stopped and on SIGINT, SIGTERM, SIGHUP and
 * SIGPIPE): a Sentinel set (a master, two replicas, three sentinels monitoring the master as
 * "crossredis-demo" with quorum 2, down-after 1 s, failover-timeout 5 s) and a Redis Cluster (three
 * masters with a replica each, joined by `redis-cli --cluster create`). Each is started by a
 * thread of its own, which owns its processes (a server dies with the thread that started it)
 * until it is stopped, so the demo goes on while they come up; a stop while one is starting makes
 * it give up at once. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "crossredis/error.h"

enum { ERR_SIZE = 512, READY_MS = 30000, POLL_MS = 20, DATA_NODES = 3, SENTINELS = 3, CLUSTER_NODES = 6 };

#define MASTER_NAME "crossredis-demo"

struct cli_local_topology {
  cli_local_topology_kind kind;
  pthread_t thread;
  bool has_thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool up, stopping; /* under mu */
  atomic_bool cancel;
  int rc;
  char err[ERR_SIZE];
  double started_ms, up_ms;
  cli_local_server *servers[DATA_NODES + SENTINELS]; /* data nodes, then sentinels; or cluster nodes */
  size_t n;
  char url[512];
};

static int fail(cli_local_topology *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(cli_local_topology *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->err, sizeof t->err, fmt, ap);
  va_end(ap);
  return -1;
}

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* One command to server s, from a client on its unix socket: 0 with *r (free it), or -1 with why
 * in `why`. */
static int ask(cli_local_server *s, xr_reply **r, char *why, size_t size, int argc, const char *const *argv) {
  xr_client *c = NULL;
  *r = NULL;
  int rc = cli_local_server_client(s, &c, 2000);
  if (rc == 0) rc = xr_client_command(c, r, argc, argv, NULL);
  if (rc != 0) snprintf(why, size, "%s on port %d: %s", argv[0], cli_local_server_port(s), xr_error_last()->message);
  xr_client_close(c);
  return rc == 0 ? 0 : -1;
}

/* INFO <section> of server s into buf; -1 with why. */
static int info(cli_local_server *s, const char *section, char *buf, size_t size, char *why, size_t why_size) {
  xr_reply *r = NULL;
  const char *argv[] = {"INFO", section};
  if (ask(s, &r, why, why_size, 2, argv) != 0) return -1;
  const char *text = xr_reply_str(r, NULL);
  snprintf(buf, size, "%s", text ? text : "");
  xr_reply_free(r);
  return 0;
}

/* Polls check every POLL_MS until it says 0, for READY_MS at most; -1 with its last reason. */
static int wait_until(cli_local_topology *t, int (*check)(cli_local_topology *, char *, size_t), const char *what) {
  char why[ERR_SIZE] = "";
  double deadline = cli_monotonic_ms() + READY_MS;
  for (;;) {
    if (atomic_load(&t->cancel)) return fail(t, "stopped");
    if (check(t, why, sizeof why) == 0) return 0;
    if (cli_monotonic_ms() > deadline) return fail(t, "%s not within %d s: %s", what, READY_MS / 1000, why);
    pause_ms(POLL_MS);
  }
}

static int start_server(cli_local_topology *t, const cli_local_server_options *o) {
  cli_local_server_options opts = *o;
  opts.cancel = &t->cancel;
  char why[ERR_SIZE];
  if (cli_local_server_start(&t->servers[t->n], &opts, why, sizeof why) != 0) return fail(t, "%s", why);
  t->n++;
  return 0;
}

/* ---- the Sentinel set ------------------------------------------------------------------------- */

/* The replicas follow the master with their link up (before the sentinels look: a sentinel asks a
 * replica for its INFO every 10 s only). */
static int replicas_synced(cli_local_topology *t, char *why, size_t size) {
  char text[4096], link[32];
  for (size_t i = 1; i < DATA_NODES; i++) {
    if (info(t->servers[i], "replication", text, sizeof text, why, size) != 0) return -1;
    if (!cli_info_field(text, "master_link_status", link, sizeof link) || strcmp(link, "up") != 0) {
      snprintf(why, size, "replica on port %d: master link %s", cli_local_server_port(t->servers[i]), link);
      return -1;
    }
  }
  return 0;
}

/* Every sentinel flags the master "master" alone, knows both replicas as "slave" alone and the two
 * other sentinels. */
static int set_whole(cli_local_topology *t, char *why, size_t size) {
  for (size_t i = DATA_NODES; i < t->n; i++) {
    cli_local_server *s = t->servers[i];
    xr_reply *r = NULL;
    const char *master[] = {"SENTINEL", "MASTER", MASTER_NAME};
    if (ask(s, &r, why, size, 3, master) != 0) return -1;
    bool ok = !strcmp(cli_map_text(r, "flags"), "master") && !strcmp(cli_map_text(r, "num-slaves"), "2") &&
              !strcmp(cli_map_text(r, "num-other-sentinels"), "2");
    if (!ok)
      snprintf(why, size, "sentinel on port %d: master flags %s, %s replicas, %s other sentinels",
               cli_local_server_port(s), cli_map_text(r, "flags"), cli_map_text(r, "num-slaves"),
               cli_map_text(r, "num-other-sentinels"));
    xr_reply_free(r);
    if (!ok) return -1;
    const char *replicas[] = {"SENTINEL", "REPLICAS", MASTER_NAME};
    if (ask(s, &r, why, size, 3, replicas) != 0) return -1;
    for (size_t k = 0; ok && k < xr_reply_count(r); k++) {
      const xr_reply *one = xr_reply_at(r, k);
      ok = !strcmp(cli_map_text(one, "flags"), "slave") && !strcmp(cli_map_text(one, "master-link-status"), "ok");
      if (!ok)
        snprintf(why, size, "sentinel on port %d: replica %s flags %s", cli_local_server_port(s),
                 cli_map_text(one, "name"), cli_map_text(one, "flags"));
    }
    xr_reply_free(r);
    if (!ok) return -1;
  }
  return 0;
}

static int start_sentinel(cli_local_topology *t) {
  cli_local_server_options o = CLI_LOCAL_SERVER_OPTIONS_INIT;
  if (start_server(t, &o) != 0) return -1;
  int master = cli_local_server_port(t->servers[0]);
  char conf[512];
  snprintf(conf, sizeof conf, "replicaof 127.0.0.1 %d\n", master);
  o.config = conf; /* the sentinels rewrite it when they reconfigure the node */
  for (size_t i = 1; i < DATA_NODES; i++)
    if (start_server(t, &o) != 0) return -1;
  if (wait_until(t, replicas_synced, "the replicas in sync") != 0) return -1;
  snprintf(conf, sizeof conf,
           "sentinel monitor " MASTER_NAME " 127.0.0.1 %d 2\n"
           "sentinel down-after-milliseconds " MASTER_NAME " 1000\n"
           "sentinel failover-timeout " MASTER_NAME " 5000\n"
           "sentinel parallel-syncs " MASTER_NAME " 2\n",
           master);
  o.sentinel = true;
  for (size_t i = 0; i < SENTINELS; i++)
    if (start_server(t, &o) != 0) return -1;
  if (wait_until(t, set_whole, "the sentinels agreeing on the set") != 0) return -1;
  size_t w = (size_t)snprintf(t->url, sizeof t->url, "redis+sentinel://");
  for (size_t i = DATA_NODES; i < t->n; i++)
    w += (size_t)snprintf(t->url + w, sizeof t->url - w, "%s127.0.0.1:%d", i > DATA_NODES ? "," : "",
                          cli_local_server_port(t->servers[i]));
  snprintf(t->url + w, sizeof t->url - w, "/" MASTER_NAME);
  return 0;
}

/* ---- the Cluster ------------------------------------------------------------------------------ */

/* Every node says cluster_state:ok and lists three slot ranges, each with a master and a replica
 * (CLUSTER SLOTS lists a replica once it has synced and told the others). */
static int cluster_ok(cli_local_topology *t, char *why, size_t size) {
  char text[4096], v[64];
  for (size_t i = 0; i < t->n; i++) {
    cli_local_server *s = t->servers[i];
    const char *cluster_info[] = {"CLUSTER", "INFO"};
    xr_reply *r = NULL;
    if (ask(s, &r, why, size, 2, cluster_info) != 0) return -1;
    snprintf(text, sizeof text, "%s", xr_reply_str(r, NULL) ? xr_reply_str(r, NULL) : "");
    xr_reply_free(r);
    if (!cli_info_field(text, "cluster_state", v, sizeof v) || strcmp(v, "ok") != 0) {
      snprintf(why, size, "node on port %d: cluster_state %s", cli_local_server_port(s), v);
      return -1;
    }
    const char *slots[] = {"CLUSTER", "SLOTS"};
    if (ask(s, &r, why, size, 2, slots) != 0) return -1;
    size_t ranges = xr_reply_count(r), whole = 0;
    for (size_t k = 0; k < ranges; k++) whole += xr_reply_count(xr_reply_at(r, k)) >= 4;
    xr_reply_free(r);
    if (ranges != 3 || whole != 3) {
      snprintf(why, size, "node on port %d: %zu slot ranges, %zu of them with a replica", cli_local_server_port(s),
               ranges, whole);
      return -1;
    }
  }
  return 0;
}

static int start_cluster(cli_local_topology *t) {
  char redis_cli[512];
  const char *want = getenv("XR_REDIS_CLI");
  if (!want || !*want) want = "redis-cli";
  if (!cli_find_program(want, redis_cli, sizeof redis_cli))
    return fail(t, "%s not found (install redis-tools, or set XR_REDIS_CLI)", want);
  cli_local_server_options o = CLI_LOCAL_SERVER_OPTIONS_INIT;
  o.cluster = true;
  for (size_t i = 0; i < CLUSTER_NODES; i++)
    if (start_server(t, &o) != 0) return -1;
  char addrs[CLUSTER_NODES][32];
  char *argv[CLUSTER_NODES + 8];
  size_t a = 0, w = (size_t)snprintf(t->url, sizeof t->url, "redis+cluster://");
  argv[a++] = redis_cli;
  argv[a++] = "--cluster";
  argv[a++] = "create";
  for (size_t i = 0; i < CLUSTER_NODES; i++) {
    snprintf(addrs[i], sizeof addrs[i], "127.0.0.1:%d", cli_local_server_port(t->servers[i]));
    argv[a++] = addrs[i];
    w += (size_t)snprintf(t->url + w, sizeof t->url - w, "%s%s", i ? "," : "", addrs[i]);
  }
  argv[a++] = "--cluster-replicas";
  argv[a++] = "1";
  argv[a++] = "--cluster-yes";
  argv[a] = NULL;
  char why[ERR_SIZE];
  if (cli_local_server_run(t->servers[0], argv, "cluster-create.log", why, sizeof why) != 0)
    return fail(t, "redis-cli --cluster create: %s", why);
  return wait_until(t, cluster_ok, "the cluster ok on every node");
}

/* ---- the owning thread ------------------------------------------------------------------------ */

static void *own(void *arg) {
  cli_local_topology *t = arg;
  sigset_t old; /* the cleanup signals go to the demo's thread, which holds them while it must */
  cli_local_server_hold_signals(&old);
  int rc = t->kind == CLI_LOCAL_SENTINEL ? start_sentinel(t) : start_cluster(t);
  pthread_mutex_lock(&t->mu);
  t->rc = rc;
  t->up_ms = cli_monotonic_ms() - t->started_ms;
  t->up = true;
  pthread_cond_broadcast(&t->cv);
  while (!t->stopping) pthread_cond_wait(&t->cv, &t->mu);
  pthread_mutex_unlock(&t->mu);
  cli_local_servers_stop(t->servers, t->n);
  return NULL;
}

cli_local_topology *cli_local_topology_start(cli_local_topology_kind kind) {
  cli_local_topology *t = cli_xmalloc(sizeof *t);
  memset(t, 0, sizeof *t);
  t->kind = kind;
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->cv, NULL);
  atomic_init(&t->cancel, false);
  t->started_ms = cli_monotonic_ms();
  cli_local_server_cleanup_on_signals();
  int e = pthread_create(&t->thread, NULL, own, t);
  if (e != 0) {
    t->rc = fail(t, "cannot start a thread: %s", strerror(e));
    t->up = true;
  } else {
    t->has_thread = true;
  }
  return t;
}

int cli_local_topology_wait(cli_local_topology *t, char *err, size_t size) {
  pthread_mutex_lock(&t->mu);
  while (!t->up) pthread_cond_wait(&t->cv, &t->mu);
  pthread_mutex_unlock(&t->mu);
  if (t->rc != 0) snprintf(err, size, "%s", t->err);
  return t->rc;
}

const char *cli_local_topology_url(const cli_local_topology *t) { return t->url; }

double cli_local_topology_up_ms(const cli_local_topology *t) { return t->up_ms; }

void cli_local_topology_stop(cli_local_topology *t) {
  if (!t) return;
  atomic_store(&t->cancel, true);
  pthread_mutex_lock(&t->mu);
  t->stopping = true;
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
  if (t->has_thread) pthread_join(t->thread, NULL);
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->cv);
  free(t);
}
