/* crossredis sessions: toolhive's transport sessions under a prefix (session_scan.h), counted by
 * type with their TTL, age and owner, malformed records named with Go's reason, as a table or
 * JSON. Read-only. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "crossredis/client.h"
#include "crossredis/error.h"
#include "crossredis/session.h"
#include "crossredis/session_scan.h"

static void sessions_usage(FILE *f) {
  fprintf(f,
          "usage: crossredis sessions [--url URL] [--prefix PREFIX] [--json] [--count N] [--go 1.26|1.27]\n"
          "\n"
          "Lists toolhive's transport sessions (pkg/transport/session: <prefix><session id>, one JSON\n"
          "record each) with their type, the time they have left, their age (since created_at) and\n"
          "their owner where the record names one (metadata vmcp.identity.binding, toolhive v0.55.1\n"
          "and later; shown with its NUL as \\x00), counted by type. A record that toolhive could not\n"
          "read is listed as malformed, with Go's reason. Read-only: SCAN with MATCH on every master\n"
          "(the prefix's glob characters escaped), then GET and PTTL per key, pipelined per page.\n"
          "\n"
          "  --url URL      the server (default $REDIS_URL, else redis://127.0.0.1:6379), as the\n"
          "                 client takes it (redis://, rediss://, unix://, redis+sentinel://,\n"
          "                 redis+cluster://)\n"
          "  --prefix P     the key prefix (default thv:proxy:session:; it must end with ':', as\n"
          "                 toolhive requires; thv:vmcp:session: holds vMCP maps, not records)\n"
          "  --json         one JSON object: {\"prefix\", \"scanned\", \"sessions\": [{\"id\", \"key\",\n"
          "                 \"type\", \"ttl_ms\", \"created_at\", \"updated_at\", \"age_ms\", \"owner\",\n"
          "                 \"metadata_keys\"}], \"malformed\": [{\"id\", \"key\", \"ttl_ms\", \"error\"}],\n"
          "                 \"by_type\": {type: count}}; ttl_ms -1: no TTL; owner null when none\n"
          "  --count N      SCAN COUNT hint (default 1000)\n"
          "  --go V         whose reader's error texts (default 1.27)\n"
          "\n"
          "Progress goes to stderr every 10,000 keys scanned. Exit status: 0 listed (malformed\n"
          "records included), 1 failed (cannot connect, ...), 2 wrong command line.\n");
}

static void progress(void *ctx, size_t scanned, size_t sessions) {
  (void)ctx;
  fprintf(stderr, "sessions: %zu keys scanned, %zu %s\n", scanned, sessions, cli_plural(sessions, "session", "sessions"));
}

/* Milliseconds since the Unix epoch of a time, and now. */
static int64_t unix_ms(const xr_time *t) { return t->sec * 1000 + t->nsec / 1000000; }

typedef struct type_count {
  char *type;
  size_t n;
} type_count;

/* Sessions by type, in the order first seen (the list is sorted by key). */
static size_t count_types(const xr_session_list *l, type_count **out) {
  type_count *t = NULL;
  size_t n = 0;
  for (size_t i = 0; i < xr_session_list_count(l); i++) {
    const xr_session_entry *e = xr_session_list_at(l, i);
    if (!e->ok) continue;
    char *name = cli_text_escape(e->record.s.type, e->record.s.type_len);
    size_t k = 0;
    while (k < n && strcmp(t[k].type, name) != 0) k++;
    if (k == n) {
      t = cli_xrealloc(t, (n + 1) * sizeof *t);
      t[n++] = (type_count){name, 0};
    } else {
      free(name);
    }
    t[k].n++;
  }
  *out = t;
  return n;
}

static void ttl_text(char *buf, size_t size, int64_t ttl_ms) {
  if (ttl_ms < 0) snprintf(buf, size, "none");
  else snprintf(buf, size, "%.1f s", (double)ttl_ms / 1000.0);
}

static void print_table(const xr_session_list *l, const char *prefix, int64_t now_ms) {
  size_t n = xr_session_list_count(l), ok = 0, bad = 0;
  if (n == 0) {
    printf("no session under %s\n", prefix);
    return;
  }
  printf("%-40s  %-12s  %10s  %12s  %s\n", "id", "type", "ttl", "age", "owner");
  for (size_t i = 0; i < n; i++) {
    const xr_session_entry *e = xr_session_list_at(l, i);
    char *id = cli_text_escape(e->id, e->id_len), ttl[32];
    ttl_text(ttl, sizeof ttl, e->ttl_ms);
    if (!e->ok) {
      printf("%-40s  %-12s  %10s  %12s  %s\n", id, "malformed", ttl, "-", e->error);
      bad++;
    } else {
      char *type = cli_text_escape(e->record.s.type, e->record.s.type_len), age[32];
      char *owner = e->owner ? cli_text_escape(e->owner, e->owner_len) : NULL;
      const xr_time *c = &e->record.s.created_at;
      if (c->sec == XR_TIME_ZERO_SEC && c->nsec == 0) snprintf(age, sizeof age, "unknown");
      else snprintf(age, sizeof age, "%.1f s", (double)(now_ms - unix_ms(c)) / 1000.0);
      printf("%-40s  %-12s  %10s  %12s  %s\n", id, type, ttl, age, owner ? owner : "-");
      free(type);
      free(owner);
      ok++;
    }
    free(id);
  }
  type_count *t;
  size_t k = count_types(l, &t);
  printf("\n%zu %s", ok, cli_plural(ok, "session", "sessions"));
  for (size_t i = 0; i < k; i++) {
    printf("%s%zu %s", i ? ", " : ": ", t[i].n, t[i].type);
    free(t[i].type);
  }
  free(t);
  if (bad) printf("; %zu malformed", bad);
  putchar('\n');
}

static json_t *time_json(const xr_time *t) {
  char text[XR_RFC3339_MAX];
  int n = xr_time_format_rfc3339(text, t);
  return n < 0 ? json_null() : json_string(text);
}

static int print_json(const xr_session_list *l, const char *prefix, int64_t now_ms) {
  json_t *root = json_object(), *list = json_array(), *bad = json_array(), *by = json_object();
  json_object_set_new(root, "prefix", cli_json_string(prefix, strlen(prefix)));
  json_object_set_new(root, "scanned", json_integer((json_int_t)xr_session_list_scanned(l)));
  for (size_t i = 0; i < xr_session_list_count(l); i++) {
    const xr_session_entry *e = xr_session_list_at(l, i);
    json_t *o = json_object();
    json_object_set_new(o, "id", cli_json_string(e->id, e->id_len));
    json_object_set_new(o, "key", cli_json_string(e->key, e->key_len));
    if (!cli_utf8_valid(e->key, e->key_len)) json_object_set_new(o, "key_b64", cli_json_base64(e->key, e->key_len));
    json_object_set_new(o, "ttl_ms", json_integer(e->ttl_ms));
    if (!e->ok) {
      json_object_set_new(o, "error", json_string(e->error));
      json_array_append_new(bad, o);
      continue;
    }
    const xr_session *s = &e->record.s;
    json_object_set_new(o, "type", cli_json_string(s->type, s->type_len));
    json_object_set_new(o, "created_at", time_json(&s->created_at));
    json_object_set_new(o, "updated_at", time_json(&s->updated_at));
    bool zero = s->created_at.sec == XR_TIME_ZERO_SEC && s->created_at.nsec == 0;
    json_object_set_new(o, "age_ms", zero ? json_null() : json_integer(now_ms - unix_ms(&s->created_at)));
    json_object_set_new(o, "owner", e->owner ? cli_json_string(e->owner, e->owner_len) : json_null());
    json_t *keys = json_array();
    for (size_t k = 0; k < s->metadata_count; k++)
      json_array_append_new(keys, cli_json_string(s->metadata[k].key, s->metadata[k].key_len));
    json_object_set_new(o, "metadata_keys", keys);
    json_array_append_new(list, o);
  }
  type_count *t;
  size_t k = count_types(l, &t);
  for (size_t i = 0; i < k; i++) {
    json_object_set_new(by, t[i].type, json_integer((json_int_t)t[i].n));
    free(t[i].type);
  }
  free(t);
  json_object_set_new(root, "sessions", list);
  json_object_set_new(root, "malformed", bad);
  json_object_set_new(root, "by_type", by);
  int rc = json_dumpf(root, stdout, JSON_COMPACT);
  putchar('\n');
  json_decref(root);
  if (rc != 0) {
    fprintf(stderr, "crossredis sessions: cannot write the JSON output\n");
    return CLI_FAILED;
  }
  return CLI_OK;
}

int cli_sessions(int argc, char **argv) {
  const char *url_flag = NULL, *url = NULL, *prefix = XR_SESSION_PROXY_PREFIX, *count_text = NULL, *go_text = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    int m;
    if (cli_is_help(argv[i])) {
      sessions_usage(stdout);
      return CLI_OK;
    } else if ((m = cli_flag_value(argc, argv, &i, "--url", &url_flag, "sessions")) ||
               (m = cli_flag_value(argc, argv, &i, "--prefix", &prefix, "sessions")) ||
               (m = cli_flag_value(argc, argv, &i, "--count", &count_text, "sessions")) ||
               (m = cli_flag_value(argc, argv, &i, "--go", &go_text, "sessions"))) {
      if (m < 0) return CLI_USAGE;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else {
      return cli_usage_error("sessions", sessions_usage, "unexpected argument '%s'", argv[i]);
    }
  }
  long count = 1000;
  if (count_text && !cli_parse_long(count_text, 1, 1000000000L, &count))
    return cli_usage_error("sessions", sessions_usage, "--count wants a whole number from 1 up, not '%s'", count_text);
  xr_go_version go = XR_GO_DEFAULT;
  if (go_text && strcmp(go_text, "1.26") && strcmp(go_text, "1.27"))
    return cli_usage_error("sessions", sessions_usage, "--go is 1.26 or 1.27, not '%s'", go_text);
  if (go_text) go = strcmp(go_text, "1.26") ? XR_GO_1_27 : XR_GO_1_26;
  xr_session_options check = XR_SESSION_OPTIONS_INIT;
  check.key_prefix = prefix;
  if (xr_session_options_check(&check) != 0)
    return cli_usage_error("sessions", sessions_usage, "--prefix '%s': %s", prefix, xr_error_last()->message);
  if (cli_server_url("sessions", url_flag, sessions_usage, &url) != CLI_OK) return CLI_USAGE;
  xr_client *c = cli_connect("sessions", url);
  if (!c) return CLI_FAILED;
  xr_session_list *l = NULL;
  xr_session_scan_options o = XR_SESSION_SCAN_OPTIONS_INIT;
  o.prefix = prefix;
  o.count = (int)count;
  o.go = go;
  o.progress = progress;
  int status = CLI_OK;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  if (xr_session_scan(&l, c, &o) != 0) status = cli_fail("sessions");
  else if (json) status = print_json(l, prefix, now_ms);
  else print_table(l, prefix, now_ms);
  xr_session_list_free(l);
  xr_client_close(c);
  return status;
}
