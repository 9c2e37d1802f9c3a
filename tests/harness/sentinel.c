/* A Sentinel set of harness servers (sentinel.h). The harness asks the sentinels and the data nodes
 * through redis-cli (redis_cli.h), as cluster.c does. */
#include "sentinel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_SIZE 512
#define NAME_SIZE 64
#define REPLY_SIZE 16384
#define CONF_SIZE 2048
#define START_WAIT_MS 30000
#define SYNC_WAIT_MS 10000
#define POLL_MS 100
#define QUORUM "2"

struct xrt_sentinel {
  xrt_server *nodes[XRT_SENTINEL_NODES];
  xrt_server *sentinels[XRT_SENTINEL_SENTINELS];
  char name[NAME_SIZE];
  int tls;
  int down_after_ms, failover_timeout_ms;
  char *requirepass, *acl_user, *acl_password, *sentinel_password; /* our copies */
  char dir[PATH_SIZE];       /* ours: cli.log, and the certificates we made */
  char certs_dir[PATH_SIZE]; /* "" without TLS */
  char cli_log[PATH_SIZE + 16];
  char seeds[256];
  char node_seeds[256];
};

#define fail xrt_fail

/* ---- accessors -------------------------------------------------------------------------------- */

xrt_server *xrt_sentinel_node(const xrt_sentinel *s, size_t i) {
  return s && i < XRT_SENTINEL_NODES ? s->nodes[i] : NULL;
}
xrt_server *xrt_sentinel_sentinel(const xrt_sentinel *s, size_t i) {
  return s && i < XRT_SENTINEL_SENTINELS ? s->sentinels[i] : NULL;
}
const char *xrt_sentinel_master_name(const xrt_sentinel *s) { return s->name; }
const char *xrt_sentinel_seeds(const xrt_sentinel *s) { return s->seeds; }
const char *xrt_sentinel_node_seeds(const xrt_sentinel *s) { return s->node_seeds; }
int xrt_sentinel_tls(const xrt_sentinel *s) { return s->tls; }
const char *xrt_sentinel_certs_dir(const xrt_sentinel *s) { return s->tls ? s->certs_dir : NULL; }
const char *xrt_sentinel_dir(const xrt_sentinel *s) { return s->dir; }

xrt_endpoint xrt_sentinel_node_endpoint(const xrt_sentinel *s, size_t i) {
  xrt_endpoint e = XRT_ENDPOINT_INIT;
  e.port = i < XRT_SENTINEL_NODES && s->nodes[i] ? xrt_server_port(s->nodes[i]) : 0;
  e.certs_dir = xrt_sentinel_certs_dir(s);
  e.user = s->acl_user;
  e.password = s->acl_user ? s->acl_password : s->requirepass;
  e.log_path = s->cli_log;
  return e;
}

xrt_endpoint xrt_sentinel_sentinel_endpoint(const xrt_sentinel *s, size_t i) {
  xrt_endpoint e = XRT_ENDPOINT_INIT;
  e.port = i < XRT_SENTINEL_SENTINELS && s->sentinels[i] ? xrt_server_port(s->sentinels[i]) : 0;
  e.certs_dir = xrt_sentinel_certs_dir(s);
  e.password = s->sentinel_password;
  e.log_path = s->cli_log;
  return e;
}

void xrt_sentinel_free(xrt_sentinel *s) {
  if (!s) return;
  /* the sentinels first: they would otherwise watch the data nodes go down */
  for (size_t i = 0; i < XRT_SENTINEL_SENTINELS; i++) xrt_server_free(s->sentinels[i]);
  for (size_t i = 0; i < XRT_SENTINEL_NODES; i++) xrt_server_free(s->nodes[i]);
  if (s->dir[0]) xrt_remove_tree(s->dir);
  free(s->requirepass);
  free(s->acl_user);
  free(s->acl_password);
  free(s->sentinel_password);
  free(s);
}

void xrt_sentinel_kill_node(xrt_sentinel *s, size_t i) { xrt_server_kill(xrt_sentinel_node(s, i)); }
void xrt_sentinel_kill_sentinel(xrt_sentinel *s, size_t i) { xrt_server_kill(xrt_sentinel_sentinel(s, i)); }

/* ---- asking the set --------------------------------------------------------------------------- */

/* The data node listening on `port`, or -1. */
static int node_by_port(const xrt_sentinel *s, int port) {
  for (int i = 0; i < XRT_SENTINEL_NODES; i++)
    if (s->nodes[i] && xrt_server_port(s->nodes[i]) == port) return i;
  return -1;
}

static int running_sentinels(const xrt_sentinel *s) {
  int n = 0;
  for (size_t i = 0; i < XRT_SENTINEL_SENTINELS; i++) n += xrt_server_running(s->sentinels[i]);
  return n;
}

/* The master's port as sentinel i names it, or -1 with err. */
static int named_master_port(const xrt_sentinel *s, size_t i, char *err) {
  char out[256];
  xrt_endpoint e = xrt_sentinel_sentinel_endpoint(s, i);
  if (xrt_cli(&e, out, sizeof out, err, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s->name, NULL) != 0) return -1;
  const char *nl = strchr(out, '\n');
  if (strncmp(out, "127.0.0.1\n", 10) != 0 || !nl || atoi(nl + 1) <= 0)
    return fail(err, "sentinel %zu names the master \"%.100s\"", i, out);
  return atoi(nl + 1);
}

int xrt_sentinel_master_index(const xrt_sentinel *s, char *err) {
  int port = -1;
  for (size_t i = 0; i < XRT_SENTINEL_SENTINELS; i++) {
    if (!xrt_server_running(s->sentinels[i])) continue;
    int p = named_master_port(s, i, err);
    if (p < 0) return -1;
    if (port >= 0 && p != port)
      return fail(err, "the sentinels disagree on the master: port %d and port %d", port, p);
    port = p;
  }
  if (port < 0) return fail(err, "no sentinel is running");
  int idx = node_by_port(s, port);
  if (idx < 0) return fail(err, "the sentinels name port %d, which is none of the data nodes", port);
  return idx;
}

/* The role data node i gives in INFO replication ("master", "slave"), and the master port a
 * replica follows with its link state. */
static int node_role(const xrt_sentinel *s, size_t i, char *role, size_t size, int *master_port, int *link_up,
                     char *err) {
  char out[REPLY_SIZE], v[64];
  xrt_endpoint e = xrt_sentinel_node_endpoint(s, i);
  if (xrt_cli(&e, out, sizeof out, err, "INFO", "replication", NULL) != 0) return -1;
  if (xrt_reply_field(out, "role:", role, size) != 0)
    return fail(err, "data node %zu: no role in INFO replication: %.100s", i, out);
  if (master_port) *master_port = xrt_reply_field(out, "master_port:", v, sizeof v) == 0 ? atoi(v) : 0;
  if (link_up) *link_up = xrt_reply_field(out, "master_link_status:", v, sizeof v) == 0 && strcmp(v, "up") == 0;
  return 0;
}

/* One replica as a sentinel lists it (SENTINEL REPLICAS). */
typedef struct listed_replica {
  int port, flags_ok;
} listed_replica;

/* Reads the flat SENTINEL REPLICAS output into up to `max` entries; returns the count. */
static size_t parse_replicas(const char *out, listed_replica *r, size_t max) {
  size_t n = 0;
  char key[64] = "";
  int is_key = 1;
  for (const char *line = out; line && *line; is_key = !is_key) {
    const char *eol = strchr(line, '\n');
    size_t len = eol ? (size_t)(eol - line) : strlen(line);
    char text[256];
    snprintf(text, sizeof text, "%.*s", (int)(len < sizeof text ? len : sizeof text - 1), line);
    if (is_key) {
      snprintf(key, sizeof key, "%.*s", (int)sizeof key - 1, text);
      if (strcmp(key, "name") == 0 && n < max) memset(&r[n++], 0, sizeof *r);
    } else if (n > 0) {
      listed_replica *cur = &r[n - 1];
      if (strcmp(key, "port") == 0) cur->port = atoi(text);
      else if (strcmp(key, "flags") == 0) cur->flags_ok = strcmp(text, "slave") == 0;
    }
    line = eol ? eol + 1 : NULL;
  }
  return n;
}

/* One look at the set: 0 when whole (see xrt_sentinel_wait_ready), -1 with what is missing. The
 * replicas' state is asked of the replicas: a sentinel refreshes a replica's INFO every 10 s only,
 * so what it says of their links can be that old. */
static int check_ready(const xrt_sentinel *s, char *err) {
  int m = xrt_sentinel_master_index(s, err);
  if (m < 0) return -1;
  if (!xrt_server_running(s->nodes[m])) return fail(err, "the sentinels name data node %d, which is down", m);
  char role[32], out[REPLY_SIZE], v[64];
  if (node_role(s, (size_t)m, role, sizeof role, NULL, NULL, err) != 0) return -1;
  if (strcmp(role, "master") != 0) return fail(err, "data node %d, named master, says role:%s", m, role);
  int master_port = xrt_server_port(s->nodes[m]), others = running_sentinels(s) - 1;
  for (size_t k = 0; k < XRT_SENTINEL_NODES; k++) {
    if ((int)k == m || !xrt_server_running(s->nodes[k])) continue;
    int port = 0, up = 0;
    if (node_role(s, k, role, sizeof role, &port, &up, err) != 0) return -1;
    if (strcmp(role, "slave") != 0 || port != master_port || !up)
      return fail(err, "data node %zu is not (yet) an in-sync replica of port %d (role:%s, master_port:%d, link %s)",
                  k, master_port, role, port, up ? "up" : "down");
  }
  for (size_t i = 0; i < XRT_SENTINEL_SENTINELS; i++) {
    if (!xrt_server_running(s->sentinels[i])) continue;
    xrt_endpoint e = xrt_sentinel_sentinel_endpoint(s, i);
    if (xrt_cli(&e, out, sizeof out, err, "SENTINEL", "MASTER", s->name, NULL) != 0) return -1;
    if (xrt_reply_field(out, "flags", v, sizeof v) != 0 || strcmp(v, "master") != 0)
      return fail(err, "sentinel %zu flags the master \"%s\"", i, v);
    if (xrt_reply_field(out, "num-other-sentinels", v, sizeof v) != 0 || atoi(v) < others)
      return fail(err, "sentinel %zu knows %s other sentinels, not %d", i, v, others);
    if (xrt_cli(&e, out, sizeof out, err, "SENTINEL", "REPLICAS", s->name, NULL) != 0) return -1;
    listed_replica r[8];
    size_t n = parse_replicas(out, r, 8);
    for (size_t k = 0; k < XRT_SENTINEL_NODES; k++) {
      if ((int)k == m || !xrt_server_running(s->nodes[k])) continue;
      int port = xrt_server_port(s->nodes[k]), found = 0;
      for (size_t j = 0; j < n && !found; j++) {
        if (r[j].port != port) continue;
        found = 1;
        if (!r[j].flags_ok) return fail(err, "sentinel %zu flags data node %zu (port %d) as more than \"slave\"", i, k, port);
      }
      if (!found) return fail(err, "sentinel %zu does not list data node %zu (port %d) as a replica", i, k, port);
    }
  }
  return 0;
}

int xrt_sentinel_wait_ready(const xrt_sentinel *s, int timeout_ms, char *err) {
  char last[XRT_ERR_SIZE] = "";
  for (int waited = 0;; waited += POLL_MS) {
    if (check_ready(s, last) == 0) return 0;
    if (waited >= timeout_ms)
      return fail(err, "the sentinel set \"%s\" is not whole after %d ms: %s", s->name, timeout_ms, last);
    xrt_sleep_ms(POLL_MS);
  }
}

int xrt_sentinel_wait_master_change(const xrt_sentinel *s, int old_master, int timeout_ms, int *new_master,
                                    char *err) {
  char last[XRT_ERR_SIZE] = "", role[32];
  for (int waited = 0;; waited += POLL_MS) {
    int m = xrt_sentinel_master_index(s, last);
    if (m >= 0 && m != old_master) {
      if (!xrt_server_running(s->nodes[m]))
        fail(last, "the sentinels name data node %d, which is down", m);
      else if (node_role(s, (size_t)m, role, sizeof role, NULL, NULL, last) == 0) {
        if (strcmp(role, "master") == 0) {
          if (new_master) *new_master = m;
          return 0;
        }
        fail(last, "data node %d, named master, still says role:%s", m, role);
      }
    } else if (m >= 0) {
      fail(last, "the sentinels still name data node %d", m);
    }
    if (waited >= timeout_ms)
      return fail(err, "no new master for \"%s\" after %d ms: %s", s->name, timeout_ms, last);
    xrt_sleep_ms(POLL_MS);
  }
}

/* When data node i, running, says it is a master while the sentinels name master `m`, makes it a
 * replica of m (what the sentinels do about 8 s later, with CONFIG REWRITE as they do). */
static int demote_stray_master(const xrt_sentinel *s, size_t i, int m, char *err) {
  char role[32], out[256], port[16];
  if ((int)i == m || !xrt_server_running(s->nodes[i])) return 0;
  if (node_role(s, i, role, sizeof role, NULL, NULL, err) != 0) return -1;
  if (strcmp(role, "master") != 0) return 0;
  snprintf(port, sizeof port, "%d", xrt_server_port(s->nodes[m]));
  xrt_endpoint e = xrt_sentinel_node_endpoint(s, i);
  if (xrt_cli(&e, out, sizeof out, err, "REPLICAOF", "127.0.0.1", port, NULL) != 0) return -1;
  if (strncmp(out, "OK", 2) != 0) return fail(err, "REPLICAOF on data node %zu: %.200s", i, out);
  if (xrt_cli(&e, out, sizeof out, err, "CONFIG", "REWRITE", NULL) != 0) return -1;
  return strncmp(out, "OK", 2) == 0 ? 0 : fail(err, "CONFIG REWRITE on data node %zu: %.200s", i, out);
}

int xrt_sentinel_failover(xrt_sentinel *s, int *new_master, char *err) {
  int old = xrt_sentinel_master_index(s, err);
  if (old < 0) return -1;
  size_t asked = XRT_SENTINEL_SENTINELS;
  for (size_t i = 0; i < XRT_SENTINEL_SENTINELS && asked == XRT_SENTINEL_SENTINELS; i++)
    if (xrt_server_running(s->sentinels[i])) asked = i;
  if (asked == XRT_SENTINEL_SENTINELS) return fail(err, "xrt_sentinel_failover: no sentinel is running");
  char out[512];
  xrt_endpoint e = xrt_sentinel_sentinel_endpoint(s, asked);
  /* INPROG (an earlier failover still finishing) or NOGOODSLAVE (a replica the sentinel has not
   * refreshed yet) pass; anything else is an error */
  for (int waited = 0;; waited += 250) {
    if (xrt_cli(&e, out, sizeof out, err, "SENTINEL", "FAILOVER", s->name, NULL) != 0) return -1;
    if (strcmp(out, "OK") == 0) break;
    if ((!strstr(out, "INPROG") && !strstr(out, "NOGOODSLAVE")) || waited >= START_WAIT_MS)
      return fail(err, "SENTINEL FAILOVER %s: %.200s", s->name, out);
    xrt_sleep_ms(250);
  }
  int m = -1;
  if (xrt_sentinel_wait_master_change(s, old, START_WAIT_MS, &m, err) != 0) return -1;
  if (demote_stray_master(s, (size_t)old, m, err) != 0) return -1;
  if (xrt_sentinel_wait_ready(s, START_WAIT_MS, err) != 0) return -1;
  if (new_master) *new_master = m;
  return 0;
}

int xrt_sentinel_restart_node(xrt_sentinel *s, size_t i, char *err) {
  if (i >= XRT_SENTINEL_NODES) return fail(err, "xrt_sentinel_restart_node: no data node %zu", i);
  if (xrt_server_restart(s->nodes[i], err) != 0) return -1;
  int m = xrt_sentinel_master_index(s, err);
  if (m < 0 || demote_stray_master(s, i, m, err) != 0) return -1;
  return xrt_sentinel_wait_ready(s, START_WAIT_MS, err);
}

int xrt_sentinel_restart_sentinel(xrt_sentinel *s, size_t i, char *err) {
  if (i >= XRT_SENTINEL_SENTINELS) return fail(err, "xrt_sentinel_restart_sentinel: no sentinel %zu", i);
  if (xrt_server_restart(s->sentinels[i], err) != 0) return -1;
  return xrt_sentinel_wait_ready(s, START_WAIT_MS, err);
}

/* ---- starting --------------------------------------------------------------------------------- */

static int valid_word(const char *w, const char *extra) {
  if (!w || !*w) return 0;
  for (const char *p = w; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(extra, *p)))
      return 0;
  return 1;
}

/* A password goes into a config file unquoted: printable ASCII without spaces, quotes or '\'. */
static int valid_password(const char *p) {
  if (!p) return 1;
  if (!*p) return 0;
  for (; *p; p++)
    if (*p <= ' ' || *p > '~' || *p == '"' || *p == '\'' || *p == '\\') return 0;
  return 1;
}

static char *dup_or_null(const char *v, int *oom) {
  if (!v) return NULL;
  char *d = strdup(v);
  if (!d) *oom = 1;
  return d;
}

/* Appends a formatted line to buf (CONF_SIZE); -1 when it does not fit. */
static int conf_line(char *buf, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int conf_line(char *buf, size_t *len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *len, CONF_SIZE - *len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= CONF_SIZE - *len) return -1;
  *len += (size_t)n;
  return 0;
}

/* A data node's config: credentials, replication of `master_port` (0: it is the master). */
static int node_conf(const xrt_sentinel *s, int master_port, char *buf) {
  size_t len = 0;
  int rc = conf_line(buf, &len, "# crossredis test harness: a data node of the sentinel set \"%s\"\n", s->name);
  rc |= conf_line(buf, &len, "repl-diskless-sync-delay 0\n");
  if (s->tls) rc |= conf_line(buf, &len, "tls-replication yes\n");
  if (s->requirepass) rc |= conf_line(buf, &len, "requirepass %s\nmasterauth %s\n", s->requirepass, s->requirepass);
  if (s->acl_user)
    rc |= conf_line(buf, &len, "user %s on >%s ~* &* +@all\nuser default off\nmasteruser %s\nmasterauth %s\n",
                    s->acl_user, s->acl_password, s->acl_user, s->acl_password);
  if (master_port) rc |= conf_line(buf, &len, "replicaof 127.0.0.1 %d\n", master_port);
  return rc ? -1 : 0;
}

static int sentinel_conf(const xrt_sentinel *s, int master_port, char *buf) {
  size_t len = 0;
  int rc = conf_line(buf, &len, "# crossredis test harness: a sentinel of the set \"%s\"\n", s->name);
  rc |= conf_line(buf, &len, "sentinel monitor %s 127.0.0.1 %d %s\n", s->name, master_port, QUORUM);
  rc |= conf_line(buf, &len, "sentinel down-after-milliseconds %s %d\n", s->name, s->down_after_ms);
  rc |= conf_line(buf, &len, "sentinel failover-timeout %s %d\n", s->name, s->failover_timeout_ms);
  rc |= conf_line(buf, &len, "sentinel parallel-syncs %s %d\n", s->name, XRT_SENTINEL_NODES - 1);
  if (s->acl_user) rc |= conf_line(buf, &len, "sentinel auth-user %s %s\n", s->name, s->acl_user);
  const char *data_pass = s->acl_user ? s->acl_password : s->requirepass;
  if (data_pass) rc |= conf_line(buf, &len, "sentinel auth-pass %s %s\n", s->name, data_pass);
  if (s->sentinel_password)
    rc |= conf_line(buf, &len, "requirepass %s\nsentinel sentinel-pass %s\n", s->sentinel_password,
                    s->sentinel_password);
  if (s->tls) rc |= conf_line(buf, &len, "tls-replication yes\n");
  return rc ? -1 : 0;
}

static int start_one(xrt_server **out, const xrt_sentinel *s, const char *conf, int sentinel, char *err) {
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.tls = s->tls;
  o.certs_dir = s->tls ? s->certs_dir : NULL;
  o.config_text = conf;
  o.sentinel = sentinel;
  return xrt_server_start(out, &o, err);
}

/* Waits until the master has every replica online and each replica says its link is up. */
static int wait_replicas_synced(const xrt_sentinel *s, char *err) {
  char last[XRT_ERR_SIZE] = "", role[32];
  int master_port = xrt_server_port(s->nodes[0]);
  for (int waited = 0;; waited += 20) {
    int synced = 1;
    for (size_t i = 1; synced && i < XRT_SENTINEL_NODES; i++) {
      int port = 0, up = 0;
      synced = node_role(s, i, role, sizeof role, &port, &up, last) == 0 && port == master_port && up;
      if (synced == 0 && !last[0]) fail(last, "data node %zu is not in sync with the master yet", i);
    }
    if (synced) return 0;
    if (waited >= SYNC_WAIT_MS)
      return fail(err, "the replicas are not in sync after %d ms: %s", SYNC_WAIT_MS, last);
    last[0] = '\0';
    xrt_sleep_ms(20);
  }
}

static int set_up(xrt_sentinel *s, const xrt_sentinel_options *o, char *err) {
  const char *name = o->master_name ? o->master_name : "xrmaster";
  if (!valid_word(name, "._-") || strlen(name) >= sizeof s->name)
    return fail(err, "xrt_sentinel_start: the master name \"%.80s\" is not one the harness takes", name);
  if (!valid_password(o->requirepass) || !valid_password(o->acl_password) || !valid_password(o->sentinel_password))
    return fail(err, "xrt_sentinel_start: a password is empty or holds spaces, quotes or backslashes");
  if ((o->acl_user && !valid_word(o->acl_user, "._-")) || (o->acl_user && !o->acl_password))
    return fail(err, "xrt_sentinel_start: acl_user needs a plain name and acl_password");
  if (o->acl_user && o->requirepass)
    return fail(err, "xrt_sentinel_start: requirepass or acl_user, not both (the default user is off with acl_user)");
  memcpy(s->name, name, strlen(name) + 1);
  s->tls = o->tls;
  s->down_after_ms = o->down_after_ms > 0 ? o->down_after_ms : 1000;
  s->failover_timeout_ms = o->failover_timeout_ms > 0 ? o->failover_timeout_ms : 5000;
  int oom = 0;
  s->requirepass = dup_or_null(o->requirepass, &oom);
  s->acl_user = dup_or_null(o->acl_user, &oom);
  s->acl_password = dup_or_null(o->acl_password, &oom);
  s->sentinel_password = dup_or_null(o->sentinel_password, &oom);
  if (oom) return fail(err, "out of memory");
  if (xrt_make_temp_dir(s->dir, sizeof s->dir, "xrt-sentinel-set", err) != 0) return -1;
  snprintf(s->cli_log, sizeof s->cli_log, "%s/cli.log", s->dir);
  if (!s->tls) return 0;
  if (o->certs_dir) {
    if (strlen(o->certs_dir) >= sizeof s->certs_dir) return fail(err, "xrt_sentinel_start: certs_dir is too long");
    memcpy(s->certs_dir, o->certs_dir, strlen(o->certs_dir) + 1);
    return 0;
  }
  if (snprintf(s->certs_dir, sizeof s->certs_dir, "%s/certs", s->dir) >= (int)sizeof s->certs_dir ||
      mkdir(s->certs_dir, 0700) != 0)
    return fail(err, "xrt_sentinel_start: cannot make %s", s->certs_dir);
  return xrt_certs_generate(s->certs_dir, err);
}

int xrt_sentinel_start(xrt_sentinel **out, const xrt_sentinel_options *o, char *err) {
  static const xrt_sentinel_options defaults = XRT_SENTINEL_OPTIONS_INIT;
  if (!out) return fail(err, "xrt_sentinel_start: out is required");
  *out = NULL;
  if (!o) o = &defaults;
  xrt_sentinel *s = calloc(1, sizeof *s);
  if (!s) return fail(err, "out of memory");
  char conf[CONF_SIZE];
  int rc = set_up(s, o, err);
  /* the master, then its replicas, in sync before the sentinels first look at them (a sentinel
   * refreshes a replica's INFO every 10 s only) */
  if (rc == 0 && node_conf(s, 0, conf) != 0) rc = fail(err, "xrt_sentinel_start: the config does not fit");
  if (rc == 0) rc = start_one(&s->nodes[0], s, conf, 0, err);
  int master_port = rc == 0 ? xrt_server_port(s->nodes[0]) : 0;
  if (rc == 0 && node_conf(s, master_port, conf) != 0) rc = fail(err, "xrt_sentinel_start: the config does not fit");
  for (size_t i = 1; rc == 0 && i < XRT_SENTINEL_NODES; i++) rc = start_one(&s->nodes[i], s, conf, 0, err);
  if (rc == 0) rc = wait_replicas_synced(s, err);
  if (rc == 0 && sentinel_conf(s, master_port, conf) != 0) rc = fail(err, "xrt_sentinel_start: the config does not fit");
  for (size_t i = 0; rc == 0 && i < XRT_SENTINEL_SENTINELS; i++) rc = start_one(&s->sentinels[i], s, conf, 1, err);
  if (rc == 0) rc = xrt_sentinel_wait_ready(s, START_WAIT_MS, err);
  if (rc != 0) {
    xrt_sentinel_free(s);
    return -1;
  }
  size_t w = 0, wn = 0;
  for (size_t i = 0; i < XRT_SENTINEL_SENTINELS; i++)
    w += (size_t)snprintf(s->seeds + w, sizeof s->seeds - w, "%s127.0.0.1:%d", i ? "," : "",
                          xrt_server_port(s->sentinels[i]));
  for (size_t i = 0; i < XRT_SENTINEL_NODES; i++)
    wn += (size_t)snprintf(s->node_seeds + wn, sizeof s->node_seeds - wn, "%s127.0.0.1:%d", i ? "," : "",
                           xrt_server_port(s->nodes[i]));
  *out = s;
  return 0;
}
