/* crossredis demo: the client at work, then the interop matrix (interop/run.py) on the same
 * server, then the Sentinel and Cluster parts (demo_topologies.c). Without --url it starts
 * throwaway redis-servers (plain and TLS) on free loopback ports and removes them afterwards; with
 * --url it uses that server and touches only keys under crossredis:demo:<pid>: (deleted again) and
 * the runner's own per-run prefix. The local Sentinel set and Cluster (local_topology.c) start as
 * soon as the standalone part has its server, unless --sentinel-url / --cluster-url name
 * deployments to use or --standalone-only skips them. */
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "crossredis/alloc.h"
#include "crossredis/chat.h"
#include "crossredis/client.h"
#include "crossredis/error.h"
#include "crossredis/json.h"
#include "crossredis/keys.h"
#include "crossredis/timestamp.h"
#include "crossredis/tls.h"
#include "crossredis/token.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void cli_demo_row(const char *what, const char *fmt, ...) {
  printf("  %-44s ", what);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

static int command(xr_client *c, xr_reply **r, int argc, const char *const *argv) {
  return xr_client_command(c, r, argc, argv, NULL);
}

static int show_client(xr_client *c, const char *prefix) {
  double t0 = now_ms();
  if (xr_client_ping(c)) return cli_fail("PING");
  cli_demo_row("PING", "PONG in %.2f ms", now_ms() - t0);

  xr_reply *r = NULL;
  const char *info[] = {"INFO", "server"};
  if (command(c, &r, 2, info)) return cli_fail("INFO");
  const char *v = strstr(xr_reply_str(r, NULL), "redis_version:");
  cli_demo_row("server", "redis %.*s", v ? (int)strcspn(v + 14, "\r\n") : 7, v ? v + 14 : "unknown");
  xr_reply_free(r);

  /* A lock the way the Chat SDK takes one, released by a compare-and-delete script that goes by
   * EVALSHA and falls back to EVAL when the server does not know it yet. */
  char key[128], token[64];
  snprintf(key, sizeof key, "%slock:slack:C1:1700000000.000100", prefix);
  snprintf(token, sizeof token, "redis_%lld_demo%d", (long long)time(NULL) * 1000, (int)getpid());
  const char *set[] = {"SET", key, token, "PX", "30000", "NX"};
  if (command(c, &r, 6, set)) return cli_fail("SET NX");
  cli_demo_row("SET <lock> <token> PX 30000 NX", "%s",
               xr_reply_kind(r) == XR_REPLY_NIL ? "(nil): held by someone else" : "OK");
  xr_reply_free(r);
  static const char release_lua[] =
      "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
  xr_script *release = NULL;
  if (xr_script_new(&release, release_lua, strlen(release_lua))) return cli_fail("script");
  const char *wrong[] = {key, "not-my-token"}, *right[] = {key, token};
  long long got_wrong = -1, got_right = -1;
  if (xr_client_eval(c, &r, release, 1, 2, wrong, NULL) == 0) got_wrong = xr_reply_integer(r), xr_reply_free(r);
  if (xr_client_eval(c, &r, release, 1, 2, right, NULL) == 0) got_right = xr_reply_integer(r), xr_reply_free(r);
  cli_demo_row("release script (EVALSHA, NOSCRIPT->EVAL)", "wrong token -> %lld, right token -> %lld (sha1 %.12s...)",
               got_wrong, got_right, xr_script_sha1(release));
  xr_script_free(release);

  /* 1000 INCRs as one pipeline. */
  char counter[128];
  snprintf(counter, sizeof counter, "%scounter", prefix);
  xr_batch *b = NULL;
  if (xr_batch_new(&b)) return cli_fail("batch");
  const char *incr[] = {"INCR", counter};
  for (int i = 0; i < 1000; i++) xr_batch_add(b, 2, incr, NULL);
  t0 = now_ms();
  if (xr_client_exec(c, b)) {
    xr_batch_free(b);
    return cli_fail("batch");
  }
  const xr_reply *last = NULL;
  xr_batch_result(b, 999, &last, NULL);
  cli_demo_row("batch: 1000 INCR in one pipeline", "counter = %lld in %.2f ms", last ? xr_reply_integer(last) : -1,
               now_ms() - t0);
  xr_batch_free(b);

  const char *del[] = {"DEL", key, counter};
  command(c, NULL, 3, del);
  return CLI_OK;
}

/* Two adapters on one Redis: one writes as the TS node-redis adapter does, the other as the Python
 * port's ioredis-compatible adapter; a lock, its origin, and a queue entry both runtimes read. */
static int show_chat(xr_client *c, const char *prefix) {
  char kp[96];
  snprintf(kp, sizeof kp, "%schat-sdk", prefix);
  xr_chat_options ts_o = XR_CHAT_OPTIONS_INIT, py_o = XR_CHAT_OPTIONS_INIT;
  ts_o.key_prefix = py_o.key_prefix = kp;
  py_o.token_prefix = "ioredis";
  py_o.token_suffix = XR_TOKEN_HEX32;
  py_o.json = XR_JSON_PYTHON;
  py_o.queue = XR_CHAT_QUEUE_BOTH;
  xr_chat *ts = NULL, *py = NULL;
  if (xr_chat_new(&ts, c, &ts_o) || xr_chat_new(&py, c, &py_o)) {
    xr_chat_free(ts);
    return cli_fail("chat state");
  }
  static const char thread[] = "slack:C123:1700000000.000100";
  size_t tl = sizeof thread - 1;
  int status = CLI_FAILED;
  bool got = false, again = true, released = false;
  xr_chat_lock lock;
  if (xr_chat_acquire_lock(ts, &got, &lock, thread, tl, 30000) || !got) goto done;
  xr_chat_token_info info;
  xr_chat_origin_of(&info, lock.token, lock.token_len);
  cli_demo_row("TS-shaped adapter acquires the lock", "%s (origin %s, shaped as %s)", lock.token,
               xr_chat_origin_name(info.origin), xr_chat_origin_name(info.shape_of));
  xr_chat_lock other;
  if (xr_chat_acquire_lock(py, &again, &other, thread, tl, 30000)) goto done;
  cli_demo_row("Python-shaped adapter tries the same lock", "%s",
               again ? "acquired (wrong!)" : "held elsewhere: not acquired");
  if (xr_chat_release_lock(ts, &released, thread, tl, lock.token, lock.token_len) || !released) goto done;
  if (xr_chat_acquire_lock(py, &got, &other, thread, tl, 30000) || !got) goto done;
  xr_chat_origin_of(&info, other.token, other.token_len);
  cli_demo_row("after release, the Python-shaped one", "%s (shaped as %s)", other.token,
               xr_chat_origin_name(info.shape_of));
  static const char upstream_ts[] = "redis_1795298426809_6ot9agkyks5";
  static const char upstream_py[] = "ioredis_1795298445821_605290f06e43cd9c42a41d407ba4e551";
  cli_demo_row("origin of captured upstream tokens", "%s, %s",
               xr_chat_origin_name(xr_chat_origin_of(NULL, upstream_ts, sizeof upstream_ts - 1)),
               xr_chat_origin_name(xr_chat_origin_of(NULL, upstream_py, sizeof upstream_py - 1)));
  static const char msg[] = "{\"_type\":\"chat:Message\",\"id\":\"1\",\"text\":\"h\xc3\xa9llo\"}";
  int64_t now = xr_time_now_ms();
  long long depth = 0;
  if (xr_chat_enqueue(py, &depth, thread, tl, msg, sizeof msg - 1, now, now + 90000, 10)) goto done;
  xr_chat_queue_entry e;
  bool found = false;
  if (xr_chat_dequeue(ts, &found, &e, thread, tl) || !found) goto done;
  cli_demo_row("queue entry written for both runtimes", "%.*s", (int)e.raw_len, e.raw);
  cli_demo_row("read back by the TS-dialect reader", "message %s, expires in %lld ms", e.message,
               (long long)(e.expires_at_ms - now));
  xr_chat_queue_entry_clear(&e);
  xr_chat_force_release_lock(py, thread, tl);
  status = CLI_OK;
done:
  if (status != CLI_OK) cli_fail("chat state");
  xr_chat_free(ts);
  xr_chat_free(py);
  return status;
}

static void show_keys(void) {
  const char *keys[] = {"chat-sdk:lock:slack:C123:1700000000.000100", "thv:proxy:session:0c9e8d7f",
                        "mpp:browser:session:{session:abc}", "auth:code:{session:abc}:login"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "slot of %.34s%s", keys[i], strlen(keys[i]) > 34 ? "..." : "");
    cli_demo_row(what, "%u", xr_key_slot(keys[i], strlen(keys[i])));
  }
  const char *pair[] = {keys[2], keys[3]};
  size_t lens[] = {strlen(keys[2]), strlen(keys[3])};
  cli_demo_row("the last two share a hash tag", "%s", xr_key_share_tag(pair, lens, 2) ? "yes: same slot" : "no");
}

static void show_json(void) {
  static const char text[] = "{\"foo\":\"b\xc3\xa4r\",\"n\":1,\"html\":\"<a&b>\",\"ls\":\"\xe2\x80\xa8\"}";
  static const struct {
    const char *name;
    xr_json_dialect d;
  } dialects[] = {{"JS JSON.stringify", XR_JSON_JS}, {"Python json.dumps", XR_JSON_PYTHON}, {"Go encoding/json", XR_JSON_GO}};
  for (size_t i = 0; i < 3; i++) {
    char *out = NULL;
    if (xr_json_transcode(&out, NULL, text, sizeof text - 1, dialects[i].d, 0) == 0) {
      cli_demo_row(dialects[i].name, "%s", out);
      xr_free(out);
    } else {
      cli_demo_row(dialects[i].name, "error: %s", xr_error_last()->message);
    }
  }
}

static int show_tls(char *err, size_t err_size) {
  cli_local_server *s = NULL;
  cli_local_server_options o = CLI_LOCAL_SERVER_OPTIONS_INIT;
  o.tls = true;
  if (cli_local_server_start(&s, &o, err, err_size)) {
    fprintf(stderr, "crossredis: cannot start a TLS redis-server: %s\n", err);
    return CLI_FAILED;
  }
  printf("\nTLS: a throwaway redis-server with TLS on %s (certificates made for it)\n", cli_local_server_url(s));
  int status = CLI_OK;
  char url[1024];
  const char *certs = cli_local_server_dir(s);
  xr_client *c = NULL;
  snprintf(url, sizeof url, "%s?ca_file=%s/ca.crt", cli_local_server_url(s), certs);
  if (xr_tls_client_open_url(&c, url, NULL) == 0 && xr_client_ping(c) == 0) {
    cli_demo_row("rediss:// with the right CA", "PONG (peer verified)");
  } else {
    status = cli_fail("TLS with the right CA");
  }
  xr_client_close(c);
  c = NULL;
  snprintf(url, sizeof url, "%s?ca_file=%s/wrong-ca.crt", cli_local_server_url(s), certs);
  int code = xr_tls_client_open_url(&c, url, NULL);
  if (code == XR_ETLS) {
    cli_demo_row("rediss:// with a wrong CA", "refused: %s", xr_error_last()->message);
  } else {
    fprintf(stderr, "crossredis: a wrong CA was not refused (%s)\n", xr_error_name(code));
    status = CLI_FAILED;
  }
  xr_client_close(c);
  cli_local_server_stop(s);
  return status;
}

static void demo_usage(FILE *f) {
  fprintf(f,
          "usage: crossredis demo [--url URL] [--sentinel-url URL] [--cluster-url URL] [--allow-changes]\n"
          "                       [--standalone-only]\n"
          "\n"
          "Shows the client at work: PING, a lock taken with SET NX PX and released by a script\n"
          "(EVALSHA with NOSCRIPT fallback), a 1000-command pipeline, Chat SDK state shared by a\n"
          "TS-shaped and a Python-shaped adapter (lock origins, a queue entry both read), Cluster\n"
          "slots and hash tags, the same value in the JSON text of JS, Python and Go, and TLS with\n"
          "a right and a wrong CA. Then it runs the interop matrix (interop/run.py, as `crossredis\n"
          "interop` does) on the same server. Then the same Chat SDK state on the two other\n"
          "topologies, through redis+sentinel:// and redis+cluster:// URLs:\n"
          "  Sentinel  a master, two replicas and three sentinels (quorum 2): a lock held while\n"
          "            SENTINEL FAILOVER promotes a replica, the old and the new master, when the\n"
          "            client's calls reach the new one and the longest they waited meanwhile\n"
          "  Cluster   three masters with a replica each: which master serves which slots and how\n"
          "            many of the demo's keys each holds, a two-key operation refused as CROSSSLOT\n"
          "            before it is sent, the hash-tagged prefix that makes it work, and a slot\n"
          "            moved to another master (ASK, then MOVED, followed by the client)\n"
          "Without their URLs both are started locally, alongside the parts above (about 2.5 s,\n"
          "mostly hidden behind them), and removed at the end. Exits with the first failure's\n"
          "status (the runner's own when the interop matrix fails).\n"
          "\n"
          "  --url URL           use this server (redis://, rediss://?ca_file=..., unix:///path)\n"
          "                      instead of starting throwaway local ones (plain and TLS); shown\n"
          "                      with its password as ***, passed to the runner as REDIS_URL\n"
          "  --sentinel-url URL  use this Sentinel deployment (redis+sentinel://[user:pw@]s1:26379,\n"
          "                      s2:26379/mymaster, rediss+sentinel://...) instead of a local set\n"
          "  --cluster-url URL   use this Cluster (redis+cluster://[user:pw@]n1:7000,n2:7001,\n"
          "                      rediss+cluster://...) instead of a local one\n"
          "  --allow-changes     on the deployments of --sentinel-url and --cluster-url, also fail\n"
          "                      the master over and move a slot (and back again; a slot holding\n"
          "                      keys that are not the demo's is not moved); without it those steps\n"
          "                      are skipped there (the local topologies always run them)\n"
          "  --standalone-only   skip the Sentinel and Cluster parts\n"
          "\n"
          "On a deployment given by URL only keys under crossredis:demo:<pid>: are touched, and\n"
          "deleted at the end (those of the Sentinel and Cluster parts carry TTLs of a minute at\n"
          "most; the interop runner uses a prefix of its own). Every local server lives in a folder\n"
          "of its own under $TMPDIR, removed at the end and on SIGINT, SIGTERM and SIGHUP.\n"
          "\n"
          "Environment: XR_INTEROP_DIR and XR_PYTHON, as for `crossredis interop --help`;\n"
          "XR_REDIS_SERVER and XR_REDIS_CLI, the redis-server and redis-cli to run (default: PATH).\n");
}

/* A --sentinel-url or --cluster-url: a URL the core takes, of that topology. */
static int topology_url(const char *name, const char *value, xr_topology_kind want, const char **url) {
  if (cli_flag_url("demo", name, value, demo_usage, url) != CLI_OK) return CLI_USAGE;
  xr_url *u = NULL;
  int kind = xr_url_parse(&u, *url) == 0 ? (int)u->topology : -1;
  xr_url_free(u);
  if (kind == (int)want) return CLI_OK;
  char *shown = cli_url_redact(*url);
  int rc = cli_usage_error("demo", demo_usage, "%s %s: not a %s URL", name, shown,
                           want == XR_TOPOLOGY_SENTINEL ? "redis+sentinel:// or rediss+sentinel://"
                                                        : "redis+cluster:// or rediss+cluster://");
  free(shown);
  return rc;
}

/* One topology part: its heading, the local one waited for (or the URL's), the part itself. */
static int show_topology(const char *name, const char *url, cli_local_topology *local, const char *what,
                         const char *prefix, bool changes) {
  char err[512];
  if (local) {
    double t0 = cli_monotonic_ms();
    if (cli_local_topology_wait(local, err, sizeof err) != 0) {
      fprintf(stderr, "crossredis: demo: cannot start the local %s: %s (--%s-url uses one of yours, --standalone-only "
              "skips it)\n", name, err, !strcmp(name, "Sentinel") ? "sentinel" : "cluster");
      return CLI_FAILED;
    }
    double waited = cli_monotonic_ms() - t0;
    char when[96];
    if (waited < 50)
      snprintf(when, sizeof when, "up in %.1f s, while the parts above ran", cli_local_topology_up_ms(local) / 1000);
    else
      snprintf(when, sizeof when, "up in %.1f s; the demo waited %.1f s for it", cli_local_topology_up_ms(local) / 1000,
               waited / 1000);
    url = cli_local_topology_url(local);
    printf("\n%s: %s on 127.0.0.1 (%s)\n", name, what, when);
    cli_demo_row("URL", "%s", url);
  } else {
    char *shown = cli_url_redact(url);
    printf("\n%s: %s\n", name, shown);
    free(shown);
  }
  fflush(stdout);
  return !strcmp(name, "Sentinel") ? cli_demo_sentinel(url, prefix, changes || local)
                                   : cli_demo_cluster(url, prefix, changes || local, local != NULL);
}

int cli_demo(int argc, char **argv) {
  const char *url = NULL, *sentinel_url = NULL, *cluster_url = NULL, *value = NULL;
  bool changes = false, standalone_only = false;
  for (int i = 1; i < argc; i++) {
    int m;
    if (cli_is_help(argv[i])) {
      demo_usage(stdout);
      return CLI_OK;
    } else if ((m = cli_flag_value(argc, argv, &i, "--url", &url, "demo")) != 0) {
      if (m < 0) return CLI_USAGE;
    } else if ((m = cli_flag_value(argc, argv, &i, "--sentinel-url", &value, "demo")) != 0) {
      if (m < 0 || topology_url("--sentinel-url", value, XR_TOPOLOGY_SENTINEL, &sentinel_url) != CLI_OK)
        return CLI_USAGE;
    } else if ((m = cli_flag_value(argc, argv, &i, "--cluster-url", &value, "demo")) != 0) {
      if (m < 0 || topology_url("--cluster-url", value, XR_TOPOLOGY_CLUSTER, &cluster_url) != CLI_OK) return CLI_USAGE;
    } else if (!strcmp(argv[i], "--allow-changes")) {
      changes = true;
    } else if (!strcmp(argv[i], "--standalone-only")) {
      standalone_only = true;
    } else {
      return cli_usage_error("demo", demo_usage, "unexpected argument '%s'", argv[i]);
    }
  }
  if (url && cli_server_url("demo", url, demo_usage, &url) != CLI_OK) return CLI_USAGE;
  if (standalone_only && (sentinel_url || cluster_url || changes))
    return cli_usage_error("demo", demo_usage, "--standalone-only skips what %s is for",
                           sentinel_url ? "--sentinel-url" : cluster_url ? "--cluster-url" : "--allow-changes");
  cli_local_server_cleanup_on_signals(); /* before anything saves and restores a handler */
  char err[512];
  cli_local_server *plain = NULL;
  char *shown = NULL;
  if (!url) {
    if (cli_local_server_start(&plain, NULL, err, sizeof err)) {
      fprintf(stderr, "crossredis: cannot start a throwaway redis-server: %s\n", err);
      return CLI_FAILED;
    }
    url = cli_local_server_url(plain);
    printf("A throwaway redis-server on %s\n", url);
    shown = cli_url_redact(url);
  } else {
    shown = cli_url_redact(url);
    printf("Using %s\n", shown);
  }
  char prefix[64];
  snprintf(prefix, sizeof prefix, "crossredis:demo:%d:", (int)getpid());
  xr_client *c = NULL;
  cli_local_topology *sentinel = NULL, *cluster = NULL;
  int status = CLI_OK;
  if (xr_tls_client_open_url(&c, url, NULL) != 0) {
    status = cli_fail("connect");
  } else {
    /* the local topologies come up while the parts below run */
    if (!standalone_only && !sentinel_url) sentinel = cli_local_topology_start(CLI_LOCAL_SENTINEL);
    if (!standalone_only && !cluster_url) cluster = cli_local_topology_start(CLI_LOCAL_CLUSTER);
    status = show_client(c, prefix);
    if (status == CLI_OK) {
      printf("\nChat SDK state: a TS-shaped and a Python-shaped adapter on one Redis\n");
      status = show_chat(c, prefix);
    }
    if (status == CLI_OK) {
      printf("\nKeyspace inventory: who owns which keys, and whether a layout is ready for Redis Cluster\n");
      status = cli_demo_inventory(c, prefix);
    }
    xr_client_close(c);
  }
  if (status == CLI_OK) {
    printf("\nKeys (Redis Cluster slots, MPP hash tags)\n");
    show_keys();
    printf("\nOne value, three runtimes' JSON text\n");
    show_json();
  }
  if (status == CLI_OK && plain) status = show_tls(err, sizeof err);
  if (status == CLI_OK) {
    printf("\nInterop: the Chat SDK implementations of every runtime on %s (interop/run.py)\n", shown);
    status = cli_interop_run("demo", url, NULL, 0);
    if (status != CLI_OK) fprintf(stderr, "crossredis: demo: the interop runner exited with status %d\n", status);
  }
  if (status == CLI_OK && !standalone_only)
    status = show_topology("Sentinel", sentinel_url, sentinel,
                           "a master, two replicas and three sentinels (quorum 2)", prefix, changes);
  if (status == CLI_OK && !standalone_only)
    status = show_topology("Cluster", cluster_url, cluster,
                           "three masters with a replica each, joined by redis-cli --cluster create", prefix, changes);
  if (status == CLI_OK) {
    const char *where = standalone_only ? url : cluster_url ? cluster_url : cli_local_topology_url(cluster);
    printf("\nMigration window: keys moved to a hash-tagged shape on %s (crossredis migrate)\n",
           standalone_only ? "the server" : "the Cluster");
    status = cli_demo_migrate(where, prefix);
  }
  cli_local_topology_stop(sentinel);
  cli_local_topology_stop(cluster);
  cli_local_server_stop(plain);
  free(shown);
  if (status == CLI_OK) printf("\ndemo finished: every step worked\n");
  return status;
}
