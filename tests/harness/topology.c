/* One topology per suite run: the shared topologies named by the environment, or private ones
 * (topology.h). */
#include "topology.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEEDS_SIZE 2048
#define MAX_SEEDS 32
#define PATH_SIZE 512

struct xrt_topology {
  xrt_topology_kind kind;
  int shared;
  char seeds[SEEDS_SIZE];
  int ports[MAX_SEEDS];
  size_t n;
  char master_name[64];
  char certs_dir[PATH_SIZE];
  xrt_cluster *cluster;   /* private cluster kinds */
  xrt_sentinel *sentinel; /* private Sentinel kinds */
};

#define fail xrt_fail

static const struct {
  const char *name, *seeds_env, *master_env, *master;
  int tls, sentinel;
} kinds[XRT_TOPOLOGY_KINDS] = {
    [XRT_TOPOLOGY_CLUSTER] = {"cluster", XRT_ENV_CLUSTER_NODES, NULL, NULL, 0, 0},
    [XRT_TOPOLOGY_TLS_CLUSTER] = {"tls_cluster", XRT_ENV_TLS_CLUSTER_NODES, NULL, NULL, 1, 0},
    [XRT_TOPOLOGY_SENTINEL] = {"sentinel", XRT_ENV_SENTINELS, XRT_ENV_SENTINEL_MASTER, XRT_TOPOLOGY_MASTER, 0, 1},
    [XRT_TOPOLOGY_TLS_SENTINEL] = {"tls_sentinel", XRT_ENV_TLS_SENTINELS, XRT_ENV_TLS_SENTINEL_MASTER,
                                   XRT_TOPOLOGY_TLS_MASTER, 1, 1},
};

static int valid_kind(xrt_topology_kind kind) { return (int)kind >= 0 && kind < XRT_TOPOLOGY_KINDS; }

const char *xrt_topology_kind_name(xrt_topology_kind kind) { return valid_kind(kind) ? kinds[kind].name : "?"; }

xrt_topology_kind xrt_topology_kind_of(const xrt_topology *t) { return t->kind; }
int xrt_topology_shared(const xrt_topology *t) { return t->shared; }
int xrt_topology_tls(const xrt_topology *t) { return kinds[t->kind].tls; }
const char *xrt_topology_seeds(const xrt_topology *t) { return t->seeds; }
size_t xrt_topology_seed_count(const xrt_topology *t) { return t->n; }
int xrt_topology_seed_port(const xrt_topology *t, size_t i) { return i < t->n ? t->ports[i] : 0; }
const char *xrt_topology_master_name(const xrt_topology *t) { return kinds[t->kind].sentinel ? t->master_name : NULL; }
const char *xrt_topology_certs_dir(const xrt_topology *t) { return kinds[t->kind].tls ? t->certs_dir : NULL; }
xrt_cluster *xrt_topology_cluster(const xrt_topology *t) { return t->cluster; }
xrt_sentinel *xrt_topology_sentinel(const xrt_topology *t) { return t->sentinel; }

xrt_endpoint xrt_topology_endpoint(const xrt_topology *t, size_t i) {
  xrt_endpoint e = XRT_ENDPOINT_INIT;
  e.port = xrt_topology_seed_port(t, i);
  e.certs_dir = xrt_topology_certs_dir(t);
  return e;
}

void xrt_topology_free(xrt_topology *t) {
  if (!t) return;
  xrt_cluster_free(t->cluster);
  xrt_sentinel_free(t->sentinel);
  free(t);
}

/* Reads "127.0.0.1:p1,127.0.0.1:p2,..." into t->seeds and t->ports. */
static int parse_seeds(xrt_topology *t, const char *what, const char *seeds, char *err) {
  if (strlen(seeds) >= sizeof t->seeds) return fail(err, "%s is too long", what);
  memcpy(t->seeds, seeds, strlen(seeds) + 1);
  t->n = 0;
  for (const char *p = seeds; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char one[64], *stop = NULL;
    if (len >= sizeof one || t->n >= MAX_SEEDS) return fail(err, "%s: \"%.100s\" is not a list the harness reads", what, seeds);
    memcpy(one, p, len);
    one[len] = '\0';
    const char *colon = strrchr(one, ':');
    long port = colon ? strtol(colon + 1, &stop, 10) : 0;
    if (!colon || strncmp(one, "127.0.0.1:", 10) != 0 || !stop || *stop || port <= 0 || port > 65535)
      return fail(err, "%s: \"%s\" is not 127.0.0.1:<port>", what, one);
    t->ports[t->n++] = (int)port;
    p += len;
    if (*p == ',') p++;
  }
  if (t->n == 0) return fail(err, "%s is empty", what);
  return 0;
}

static int copy_text(char *dst, size_t size, const char *src, const char *what, char *err) {
  if (!src || !*src) return fail(err, "%s is not set", what);
  if (strlen(src) >= size) return fail(err, "%s is too long", what);
  memcpy(dst, src, strlen(src) + 1);
  return 0;
}

int xrt_topology_from_env(xrt_topology **out, xrt_topology_kind kind, char *err) {
  if (!out || !valid_kind(kind)) return fail(err, "xrt_topology_from_env: bad arguments");
  *out = NULL;
  const char *seeds = getenv(kinds[kind].seeds_env);
  if (!seeds || !*seeds) return 0;
  xrt_topology *t = calloc(1, sizeof *t);
  if (!t) return fail(err, "out of memory");
  t->kind = kind;
  t->shared = 1;
  int rc = parse_seeds(t, kinds[kind].seeds_env, seeds, err);
  if (rc == 0 && kinds[kind].sentinel)
    rc = copy_text(t->master_name, sizeof t->master_name, getenv(kinds[kind].master_env), kinds[kind].master_env, err);
  if (rc == 0 && kinds[kind].tls)
    rc = copy_text(t->certs_dir, sizeof t->certs_dir, getenv(XRT_ENV_TLS_CERTS_DIR), XRT_ENV_TLS_CERTS_DIR, err);
  if (rc != 0) {
    free(t);
    return -1;
  }
  *out = t;
  return 0;
}

int xrt_topology_start_private(xrt_topology **out, xrt_topology_kind kind, const char *certs_dir, char *err) {
  if (!out || !valid_kind(kind)) return fail(err, "xrt_topology_start_private: bad arguments");
  *out = NULL;
  xrt_topology *t = calloc(1, sizeof *t);
  if (!t) return fail(err, "out of memory");
  t->kind = kind;
  int rc;
  const char *seeds, *certs;
  if (kinds[kind].sentinel) {
    xrt_sentinel_options o = XRT_SENTINEL_OPTIONS_INIT;
    o.master_name = kinds[kind].master;
    o.tls = kinds[kind].tls;
    o.certs_dir = certs_dir;
    rc = xrt_sentinel_start(&t->sentinel, &o, err);
    seeds = rc == 0 ? xrt_sentinel_seeds(t->sentinel) : NULL;
    certs = rc == 0 ? xrt_sentinel_certs_dir(t->sentinel) : NULL;
    snprintf(t->master_name, sizeof t->master_name, "%s", kinds[kind].master);
  } else {
    xrt_cluster_options o = XRT_CLUSTER_OPTIONS_INIT; /* 3 masters, a replica each */
    o.tls = kinds[kind].tls;
    o.certs_dir = certs_dir;
    rc = xrt_cluster_start_with(&t->cluster, &o, err);
    seeds = rc == 0 ? xrt_cluster_seeds(t->cluster) : NULL;
    certs = rc == 0 ? xrt_cluster_certs_dir(t->cluster) : NULL;
  }
  if (rc == 0) rc = parse_seeds(t, xrt_topology_kind_name(kind), seeds, err);
  if (rc == 0 && certs) rc = copy_text(t->certs_dir, sizeof t->certs_dir, certs, "certs_dir", err);
  if (rc != 0) {
    xrt_topology_free(t);
    return -1;
  }
  *out = t;
  return 0;
}

int xrt_topology_get(xrt_topology **out, xrt_topology_kind kind, char *err) {
  if (xrt_topology_from_env(out, kind, err) != 0) return -1;
  return *out ? 0 : xrt_topology_start_private(out, kind, NULL, err);
}

/* ---- descriptions ----------------------------------------------------------------------------- */

/* A JSON string (the harness's texts are paths and addresses, but escape what JSON needs). */
static void json_string(FILE *f, const char *s) {
  if (!s) {
    fputs("null", f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

/* "master" or "slave" as the node says (INFO replication), "" when it cannot be asked. */
static void node_role(const xrt_endpoint *e, char *role, size_t size) {
  char out[4096], err[XRT_ERR_SIZE];
  role[0] = '\0';
  if (xrt_cli(e, out, sizeof out, err, "INFO", "replication", NULL) == 0) xrt_reply_field(out, "role:", role, size);
}

static void json_server(FILE *f, const xrt_server *s, const xrt_endpoint *e) {
  fprintf(f, "{\"port\": %d, \"pid\": %d, \"dir\": ", xrt_server_port(s), (int)xrt_server_pid(s));
  json_string(f, xrt_server_dir(s));
  if (e) {
    char role[32];
    node_role(e, role, sizeof role);
    fputs(", \"role\": ", f);
    json_string(f, role);
  }
  fputc('}', f);
}

/* One private topology's JSON object. */
static void write_json(const xrt_topology *t, FILE *f) {
  fputs("{\"kind\": ", f);
  json_string(f, xrt_topology_kind_name(t->kind));
  fprintf(f, ", \"tls\": %s, \"seeds\": ", xrt_topology_tls(t) ? "true" : "false");
  json_string(f, t->seeds);
  fputs(", \"certs_dir\": ", f);
  json_string(f, xrt_topology_certs_dir(t));
  fputs(", \"nodes\": [", f);
  if (t->cluster) {
    for (size_t i = 0; i < xrt_cluster_size(t->cluster); i++) {
      xrt_endpoint e = xrt_cluster_endpoint(t->cluster, i);
      fputs(i ? ", " : "", f);
      json_server(f, xrt_cluster_node(t->cluster, i), &e);
    }
    fputs("]", f);
  } else {
    for (size_t i = 0; i < XRT_SENTINEL_NODES; i++) {
      xrt_endpoint e = xrt_sentinel_node_endpoint(t->sentinel, i);
      fputs(i ? ", " : "", f);
      json_server(f, xrt_sentinel_node(t->sentinel, i), &e);
    }
    fputs("], \"master_name\": ", f);
    json_string(f, t->master_name);
    fputs(", \"sentinels\": [", f);
    for (size_t i = 0; i < XRT_SENTINEL_SENTINELS; i++) {
      fputs(i ? ", " : "", f);
      json_server(f, xrt_sentinel_sentinel(t->sentinel, i), NULL);
    }
    fputs("]", f);
  }
  fputs("}", f);
}

/* A value a shell reads as one word without quotes. */
static int env_safe(const char *v) {
  if (!v || !*v) return 0;
  for (const char *p = v; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("_./:,@+=-", *p)))
      return 0;
  return 1;
}

/* Writes NAME=value after checking that the value is one word to a shell. */
static int env_line(FILE *f, const char *name, const char *value, char *err) {
  if (!env_safe(value)) return fail(err, "%s: \"%.200s\" does not fit an environment line", name, value);
  fprintf(f, "%s=%s\n", name, value);
  return 0;
}

/* Writes the two files under temporary names; 0 when both are complete. */
static int write_both(xrt_topology *const *t, size_t n, const char *certs_dir, long long started_ms,
                      const char *json_path, FILE *env, FILE *json, char *err) {
  int rc = env_line(env, XRT_ENV_TOPOLOGY_FILE, json_path, err);
  if (rc == 0 && certs_dir) rc = env_line(env, XRT_ENV_TLS_CERTS_DIR, certs_dir, err);
  fprintf(json, "{\"version\": 1, \"pid\": %d, \"certs_dir\": ", (int)getpid());
  json_string(json, certs_dir);
  fprintf(json, ", \"started_ms\": %lld", started_ms);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (!t[i]) continue;
    if (t[i]->shared) return fail(err, "xrt_topology_write_files: a shared topology is described by its own process");
    rc = env_line(env, kinds[t[i]->kind].seeds_env, t[i]->seeds, err);
    if (rc == 0 && kinds[t[i]->kind].sentinel) rc = env_line(env, kinds[t[i]->kind].master_env, t[i]->master_name, err);
    fprintf(json, ",\n  \"%s\": ", xrt_topology_kind_name(t[i]->kind));
    write_json(t[i], json);
  }
  fputs("\n}\n", json);
  if (rc == 0 && (ferror(env) || ferror(json))) rc = fail(err, "cannot write the topology files");
  return rc;
}

int xrt_topology_write_files(xrt_topology *const *t, size_t n, const char *certs_dir, long long started_ms,
                             const char *env_path, const char *json_path, char *err) {
  char tmp_env[PATH_SIZE + 8], tmp_json[PATH_SIZE + 8];
  if (snprintf(tmp_env, sizeof tmp_env, "%s.tmp", env_path) >= (int)sizeof tmp_env ||
      snprintf(tmp_json, sizeof tmp_json, "%s.tmp", json_path) >= (int)sizeof tmp_json)
    return fail(err, "xrt_topology_write_files: a path is too long");
  FILE *env = fopen(tmp_env, "w"), *json = fopen(tmp_json, "w");
  int rc = env && json ? write_both(t, n, certs_dir, started_ms, json_path, env, json, err)
                       : fail(err, "cannot create %s or %s: %s", tmp_env, tmp_json, strerror(errno));
  if (env && fclose(env) != 0 && rc == 0) rc = fail(err, "cannot write %s", tmp_env);
  if (json && fclose(json) != 0 && rc == 0) rc = fail(err, "cannot write %s", tmp_json);
  if (rc == 0 && (rename(tmp_json, json_path) != 0 || rename(tmp_env, env_path) != 0))
    rc = fail(err, "cannot rename into %s and %s: %s", json_path, env_path, strerror(errno));
  if (rc != 0) {
    unlink(tmp_env);
    unlink(tmp_json);
  }
  return rc;
}
