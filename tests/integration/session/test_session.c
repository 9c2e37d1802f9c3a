/* toolhive transport sessions (session.h) on a standalone server, the Sentinel set and the Cluster
 * (topotest.h). The wire test replays tests/vectors/toolhive-v0.66.0.tagged.txt, the real
 * toolhive v0.66.0 code's traffic: every command toolhive sent there is turned into the matching
 * crossredis row with the arguments read from the capture (records and maps as toolhive wrote
 * them, owners with their NUL byte), the capture's own setup commands are run between, and what
 * crossredis sends (scripts' commands included) must be the captured lines, byte for byte after
 * the one MONITOR normaliser. The other tests check results, errors and what is left in Redis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/session.h"
#include "itest.h"
#include "topotest.h"

#define S(lit) lit, sizeof(lit) - 1
#define CAPTURE "toolhive-v0.66.0.tagged.txt"
#define PROXY "thv:proxy:session:"
#define VMCP "thv:vmcp:session:"
#define OWNER "https://issuer.example\0subject-42"

#define chk tt.chk

/* The prefixes under test: toolhive's own on the private standalone server; on the shared
 * topologies the test's prefix (tt_monitor writes it back as "chat-sdk:", which lines_as_toolhive
 * turns into toolhive's). */
static char proxy_prefix[160], vmcp_prefix[160];

typedef struct fixture {
  xr_client *c;
  xr_session_storage *proxy, *vmcp;
} fixture;

static void fix_open(fixture *f) {
  memset(f, 0, sizeof *f);
  if (tt_standalone()) {
    snprintf(proxy_prefix, sizeof proxy_prefix, "%s", PROXY);
    snprintf(vmcp_prefix, sizeof vmcp_prefix, "%s", VMCP);
  } else {
    snprintf(proxy_prefix, sizeof proxy_prefix, "%s:", tt.prefix);
    snprintf(vmcp_prefix, sizeof vmcp_prefix, "%s:vmcp:", tt.prefix);
  }
  xr_client_options o = tt_options();
  XR_OK(xr_client_open(&f->c, &o));
  xr_session_options so = XR_SESSION_OPTIONS_INIT;
  so.key_prefix = proxy_prefix;
  XR_OK(xr_session_storage_new(&f->proxy, f->c, &so));
  xr_session_options dso = XR_SESSION_DATA_OPTIONS_INIT;
  dso.key_prefix = vmcp_prefix;
  XR_OK(xr_session_storage_new(&f->vmcp, f->c, &dso));
}

static void fix_close(fixture *f) {
  xr_session_storage_free(f->proxy);
  xr_session_storage_free(f->vmcp);
  xr_client_close(f->c);
}

/* ---- the capture -------------------------------------------------------------------------------- */

typedef struct cline {
  char tag[16];   /* "toolhive", "lua", "setup", "marker" */
  char *raw;      /* the MONITOR line without its tag */
  int argc;
  char *argv[16]; /* unquoted arguments */
  size_t lens[16];
} cline;

/* MONITOR's quoting (sdscatrepr): \" \\ \n \r \t \a \b \xHH. */
static int unquote(const char **pp, char **out, size_t *len) {
  const char *p = *pp;
  if (*p != '"') return -1;
  p++;
  char *buf = malloc(strlen(p) + 1), *w = buf;
  assert_non_null(buf);
  for (; *p && *p != '"'; p++) {
    if (*p != '\\') {
      *w++ = *p;
      continue;
    }
    p++;
    switch (*p) {
      case 'n': *w++ = '\n'; break;
      case 'r': *w++ = '\r'; break;
      case 't': *w++ = '\t'; break;
      case 'a': *w++ = '\a'; break;
      case 'b': *w++ = '\b'; break;
      case 'x': {
        unsigned v;
        if (sscanf(p + 1, "%2x", &v) != 1) return free(buf), -1;
        *w++ = (char)v;
        p += 2;
        break;
      }
      default: *w++ = *p; break;
    }
  }
  if (*p != '"') return free(buf), -1;
  *w = '\0';
  *pp = p + 1;
  *out = buf;
  *len = (size_t)(w - buf);
  return 0;
}

/* The lines of the section whose marker says `title` ("=== Load each ==="). */
static size_t section(const char *title, cline *lines, size_t max) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", XR_TEST_VECTORS, CAPTURE);
  FILE *fp = fopen(path, "rb");
  if (!fp) fail_msg("cannot open %s", path);
  char *line = NULL;
  size_t cap = 0, n = 0;
  ssize_t len;
  int in = 0;
  while ((len = getline(&line, &cap, fp)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    if (line[0] != '[') continue;
    if (!strncmp(line, "[marker]", 8)) {
      if (in) break;
      in = strstr(line, title) != NULL;
      continue;
    }
    if (!in) continue;
    if (n == max) fail_msg("section %s has more than %zu lines", title, max);
    cline *c = &lines[n++];
    memset(c, 0, sizeof *c);
    const char *close = strchr(line, ']');
    snprintf(c->tag, sizeof c->tag, "%.*s", (int)(close - line - 1), line + 1);
    const char *p = close + 1;
    while (*p == ' ') p++;
    c->raw = strdup(p);
    const char *q = strchr(p, ']'); /* after "[0 127.0.0.1:port]" */
    for (q = q + 1; *q;) {
      while (*q == ' ') q++;
      if (!*q) break;
      if (c->argc == 16 || unquote(&q, &c->argv[c->argc], &c->lens[c->argc]) != 0)
        fail_msg("cannot read the capture's line: %s", p);
      c->argc++;
    }
  }
  free(line);
  fclose(fp);
  if (!n && !in) fail_msg("no section %s in %s", title, CAPTURE);
  return n;
}

static void lines_free(cline *lines, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(lines[i].raw);
    for (int k = 0; k < lines[i].argc; k++) free(lines[i].argv[k]);
  }
}

/* The id after a captured key's prefix. */
static xr_arg id_of(const cline *c, int at, const char *prefix) {
  size_t n = strlen(prefix);
  if (c->lens[at] < n || memcmp(c->argv[at], prefix, n)) fail_msg("key %s lacks the prefix %s", c->argv[at], prefix);
  return XR_ARG_OF_TEXT(c->argv[at] + n, c->lens[at] - n);
}

/* A key of the capture under the test's prefix. */
static const char *ours(const cline *c, int at, char *buf, size_t size) {
  xr_arg id = id_of(c, at, strncmp(c->argv[at], VMCP, strlen(VMCP)) ? PROXY : VMCP);
  const char *p = strncmp(c->argv[at], VMCP, strlen(VMCP)) ? proxy_prefix : vmcp_prefix;
  snprintf(buf, size, "%s%.*s", p, (int)id.len, id.data);
  return buf;
}

/* Runs what toolhive ran for a captured command: the row it is, through the storage its key
 * names. Results are not checked here (the other tests do). */
static void replay(fixture *f, const cline *c) {
  const char *cmd = c->argv[0];
  int vmcp = c->argc > 1 && !strncmp(c->argv[1], VMCP, strlen(VMCP));
  xr_session_storage *s = vmcp ? f->vmcp : f->proxy;
  const char *prefix = vmcp ? VMCP : PROXY;
  xr_result r;
  int op = -1;
  xr_arg a[2];
  if (!strcmp(cmd, "set")) {
    int nx = !strcmp(c->argv[c->argc - 1], "nx"), xx = !strcmp(c->argv[c->argc - 1], "xx");
    if (vmcp) {
      op = nx ? XR_SESSION_OP_DATA_CREATE : XR_SESSION_OP_DATA_UPDATE;
      a[0] = id_of(c, 1, prefix);
      a[1] = XR_ARG_OF_TEXT(c->argv[2], c->lens[2]);
    } else {
      op = nx ? XR_SESSION_OP_CREATE : XR_SESSION_OP_STORE;
      a[0] = XR_ARG_OF_TEXT(c->argv[2], c->lens[2]);
    }
    (void)xx;
  } else if (!strcmp(cmd, "getex") || !strcmp(cmd, "get") || !strcmp(cmd, "del")) {
    static const int rows[2][3] = {{XR_SESSION_OP_LOAD, XR_SESSION_OP_LOAD_METADATA, XR_SESSION_OP_DELETE},
                                   {XR_SESSION_OP_DATA_LOAD, XR_SESSION_OP_DATA_LOAD_METADATA, XR_SESSION_OP_DATA_DELETE}};
    op = rows[vmcp][!strcmp(cmd, "getex") ? 0 : !strcmp(cmd, "get") ? 1 : 2];
    a[0] = id_of(c, 1, prefix);
  } else if (!strcmp(cmd, "evalsha")) {
    s = f->proxy;
    a[0] = id_of(c, 3, PROXY);
    a[1] = XR_ARG_OF_TEXT(c->argv[5], c->lens[5]);
    if (!strncmp(c->argv[1], "e08da6e9", 8)) op = XR_SESSION_OP_LOAD_IF_OWNER;
    else if (!strncmp(c->argv[1], "319de570", 8)) op = XR_SESSION_OP_DELETE_IF_OWNER;
    else if (!strncmp(c->argv[1], "592a6288", 8)) {
      op = XR_SESSION_OP_STORE_IF_OWNER;
      a[0] = XR_ARG_OF_TEXT(c->argv[6], c->lens[6]);
    } else fail_msg("a script the test does not know: %s", c->argv[1]);
  } else {
    fail_msg("a command the test does not know: %s", cmd);
  }
  (void)xr_session_call(s, op, a, xr_session_op_at(op)->nargs, &r);
  xr_result_clear(&r);
}

/* A captured setup command, run by the checker under the test's prefixes. */
static void run_setup(const cline *c) {
  const char *argv[16];
  size_t lens[16];
  char key[512];
  for (int i = 0; i < c->argc; i++) argv[i] = c->argv[i], lens[i] = c->lens[i];
  if (c->argc > 1 && (!strncmp(c->argv[1], PROXY, strlen(PROXY)) || !strncmp(c->argv[1], VMCP, strlen(VMCP)))) {
    argv[1] = ours(c, 1, key, sizeof key);
    lens[1] = strlen(key);
  }
  if (!strcmp(c->argv[0], "SCRIPT")) return; /* the cache's state does not show (the normaliser folds NOSCRIPT) */
  xr_reply *r = NULL;
  XR_OK(xr_client_command(chk, &r, c->argc, argv, lens));
  xr_reply_free(r);
}

/* The test's lines as toolhive's: its prefixes written back. */
static void lines_as_toolhive(itest_lines *l) {
  if (tt_standalone()) return;
  for (size_t i = 0; i < l->n; i++) {
    l->v[i] = tt_replace_quoted(l->v[i], "chat-sdk:vmcp:", VMCP);
    l->v[i] = tt_replace_quoted(l->v[i], "chat-sdk:", PROXY);
  }
}

/* Replays one section and compares. */
static void replay_section(fixture *f, const char *title) {
  static cline lines[128];
  size_t n = section(title, lines, 128);
  itest_lines want = {0}, got = {0}, raw_want = {0};
  tt_monitor m;
  tt_monitor_open(&m);
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(lines[i].tag, "setup")) {
      tt_monitor_collect(&m, 0, &got); /* the block so far */
      run_setup(&lines[i]);
      itest_lines skip = {0};
      tt_monitor_collect(&m, 0, &skip); /* the setup's own line */
      itest_lines_free(&skip);
      continue;
    }
    itest_lines_add(&raw_want, itest_strndup(lines[i].raw, strlen(lines[i].raw)));
    if (!strcmp(lines[i].tag, "toolhive") && strcmp(lines[i].argv[0], "eval")) replay(f, &lines[i]);
  }
  tt_monitor_collect(&m, 0, &got);
  tt_monitor_close(&m);
  itest_normalize_lines(&raw_want, 0, &want);
  lines_as_toolhive(&got);
  if (tt_cluster()) { /* keys on different nodes: compare each key's lines in order */
    tt_sort_by_key(&got);
    tt_sort_by_key(&want);
  }
  itest_assert_lines(&got, &want, title);
  itest_lines_free(&raw_want);
  itest_lines_free(&want);
  itest_lines_free(&got);
  lines_free(lines, n);
}

static void wire_matches_toolhive(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  static const char *sections[] = {
      "=== Store SSE session ===",
      "=== Store streamable session ===",
      "=== Create mcp proxy session (SET NX) with metadata + data ===",
      "=== Create again (collision) ===",
      "=== Load each ===",
      "=== LoadMetadata (plain GET, no TTL refresh) ===",
      "=== LoadIfOwner match (first call: EVALSHA -> NOSCRIPT -> EVAL) ===",
      "=== LoadIfOwner mismatch / missing / no-binding / empty owner ===",
      "=== StoreIfOwner ===",
      "=== Lua edge cases on odd stored values ===",
      "=== Plain Load on corrupt / non-string metadata value ===",
      "=== DeleteIfOwner ===",
      "=== Delete ===",
      "=== DataStorage Create (new/existing) ===",
      "=== DataStorage Update (existing/missing) ===",
      "=== DataStorage Load / LoadMetadata ===",
      "=== DataStorage corrupt / non-string ===",
      "=== DataStorage Delete ===",
  };
  for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) replay_section(&f, sections[i]);
  fix_close(&f);
}

/* ---- results ------------------------------------------------------------------------------------ */

static xr_session sample(const char *id, const char *type, const xr_session_pair *meta, size_t nmeta) {
  xr_session s;
  memset(&s, 0, sizeof s);
  s.id = id;
  s.id_len = strlen(id);
  s.type = type;
  s.type_len = strlen(type);
  XR_OK(xr_time_parse_rfc3339(&s.created_at, S("2026-12-04T13:23:50.733781078+05:30")));
  XR_OK(xr_time_parse_rfc3339(&s.updated_at, S("2026-12-04T13:23:51Z")));
  s.data = "{\"a\": [1, 2.50], \"h\": \"<&>\"}";
  s.data_len = strlen(s.data);
  s.metadata = meta;
  s.metadata_count = nmeta;
  return s;
}

static void store_load_round_trip(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  xr_session_pair meta[] = {{S("zeta"), S("last")}, {S(XR_SESSION_BINDING_KEY), S(OWNER)}, {S("alpha"), S("<1>")}};
  xr_session s = sample("rt-1", "sse", meta, 3);
  XR_OK(xr_session_store(f.proxy, &s));
  char key[256];
  snprintf(key, sizeof key, "%srt-1", proxy_prefix);
  itest_assert_get(chk, key, "{\"id\":\"rt-1\",\"type\":\"sse\",\"created_at\":\"2026-12-04T13:23:50.733781078+05:30\","
                              "\"updated_at\":\"2026-12-04T13:23:51Z\",\"data\":{\"a\":[1,2.50],\"h\":\"\\u003c\\u0026\\u003e\"},"
                              "\"metadata\":{\"alpha\":\"\\u003c1\\u003e\",\"vmcp.identity.binding\":"
                              "\"https://issuer.example\\u0000subject-42\",\"zeta\":\"last\"}}");
  assert_true(itest_pttl(chk, key) > 7199000);

  xr_session_record rec;
  XR_OK(xr_session_load(f.proxy, &rec, S("rt-1")));
  assert_int_equal(rec.s.id_len, 4);
  assert_memory_equal(rec.s.type, "sse", 3);
  assert_int_equal(rec.s.created_at.nsec, 733781078);
  assert_int_equal(rec.s.created_at.offset_sec, 5 * 3600 + 30 * 60);
  assert_int_equal(rec.s.metadata_count, 3);
  xr_session_record_clear(&rec);

  /* the generic call: Go's texts */
  xr_arg id = XR_ARG_OF_TEXT("rt-1", 4);
  xr_result r;
  XR_OK(xr_session_call(f.proxy, XR_SESSION_OP_LOAD, &id, 1, &r));
  assert_int_equal(r.nfields, 7);
  assert_memory_equal(r.fields[2].data, "2026-12-04T13:23:50.733781078+05:30", r.fields[2].len);
  assert_memory_equal(r.fields[4].data, "{\"a\":[1,2.50],\"h\":\"\\u003c\\u0026\\u003e\"}", r.fields[4].len);
  xr_result_clear(&r);

  /* a streamable session keeps no data, as toolhive's StreamableSession */
  xr_session st = sample("rt-2", "streamable", NULL, 0);
  XR_OK(xr_session_store(f.proxy, &st));
  snprintf(key, sizeof key, "%srt-2", proxy_prefix);
  itest_assert_get(chk, key, "{\"id\":\"rt-2\",\"type\":\"streamable\",\"created_at\":"
                            "\"2026-12-04T13:23:50.733781078+05:30\",\"updated_at\":\"2026-12-04T13:23:51Z\"}");
  fix_close(&f);
}

static void missing_existing_and_owners(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  xr_session_record rec;
  XR_FAILS(xr_session_load(f.proxy, &rec, S("nobody")), XR_ENOTFOUND, "session not found");
  xr_session_map m;
  XR_FAILS(xr_session_load_metadata(f.proxy, &m, S("nobody")), XR_ENOTFOUND, "session not found");

  xr_session_pair meta[] = {{S(XR_SESSION_BINDING_KEY), S(OWNER)}};
  xr_session s = sample("own-1", "mcp", meta, 1);
  XR_OK(xr_session_create(f.proxy, &s));
  XR_FAILS(xr_session_create(f.proxy, &s), XR_EEXISTS, "session already exists");

  XR_FAILS(xr_session_load_if_owner(f.proxy, &rec, S("own-1"), S("someone-else")), XR_ENOTFOUND, "session not found");
  XR_OK(xr_session_load_if_owner(f.proxy, &rec, S("own-1"), S(OWNER)));
  xr_session_record_clear(&rec);

  bool done = true;
  XR_OK(xr_session_store_if_owner(f.proxy, &done, &s, S("someone-else")));
  assert_false(done);
  XR_OK(xr_session_store_if_owner(f.proxy, &done, &s, S(OWNER)));
  assert_true(done);
  XR_OK(xr_session_delete_if_owner(f.proxy, &done, S("own-1"), S("someone-else")));
  assert_false(done);
  XR_OK(xr_session_delete_if_owner(f.proxy, &done, S("own-1"), S(OWNER)));
  assert_true(done);
  XR_FAILS(xr_session_load(f.proxy, &rec, S("own-1")), XR_ENOTFOUND, "session not found");

  /* LoadMetadata of a record without metadata: Go's nil map */
  xr_session bare = sample("bare", "mcp", NULL, 0);
  XR_OK(xr_session_store(f.proxy, &bare));
  XR_OK(xr_session_load_metadata(f.proxy, &m, S("bare")));
  assert_true(m.is_nil);
  xr_session_map_clear(&m);
  XR_OK(xr_session_delete(f.proxy, S("bare")));
  XR_OK(xr_session_delete(f.proxy, S("bare"))); /* missing: no error */
  XR_OK(xr_session_delete_expired(f.proxy, NULL));
  fix_close(&f);
}

static void data_store(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  xr_session_pair pairs[] = {{S("b"), S("2")}, {S("a"), S("<1>")}};
  bool done = false;
  XR_OK(xr_session_data_update(f.vmcp, &done, S("d1"), pairs, 2));
  assert_false(done);
  XR_OK(xr_session_data_create(f.vmcp, &done, S("d1"), pairs, 2));
  assert_true(done);
  XR_OK(xr_session_data_create(f.vmcp, &done, S("d1"), pairs, 1));
  assert_false(done);
  char key[256];
  snprintf(key, sizeof key, "%sd1", vmcp_prefix);
  itest_assert_get(chk, key, "{\"a\":\"\\u003c1\\u003e\",\"b\":\"2\"}");
  assert_true(itest_pttl(chk, key) > 1799000);
  XR_OK(xr_session_data_update(f.vmcp, &done, S("d1"), NULL, 0));
  assert_true(done);
  xr_session_map m;
  XR_OK(xr_session_data_load(f.vmcp, &m, S("d1")));
  assert_false(m.is_nil);
  assert_int_equal(m.count, 0);
  xr_session_map_clear(&m);
  XR_OK(itest_cmd(chk, NULL, "SET", key, "null", NULL));
  XR_OK(xr_session_data_load_metadata(f.vmcp, &m, S("d1")));
  assert_true(m.is_nil);
  xr_session_map_clear(&m);
  XR_OK(xr_session_data_delete(f.vmcp, S("d1")));
  XR_FAILS(xr_session_data_load(f.vmcp, &m, S("d1")), XR_ENOTFOUND, "session not found");
  fix_close(&f);
}

/* Bad input: toolhive's errors, nothing sent, nothing already stored changed. */
static void bad_input(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  xr_session_record rec;
  xr_session_map m;
  bool done;
  XR_FAILS(xr_session_load(f.proxy, &rec, S("")), XR_EINVAL, "session.load: cannot load session with empty ID");
  XR_FAILS(xr_session_delete(f.proxy, S("")), XR_EINVAL, "cannot delete session with empty ID");
  XR_FAILS(xr_session_load_metadata(f.proxy, &m, S("")), XR_EINVAL, "cannot load session metadata with empty ID");
  XR_FAILS(xr_session_data_create(f.vmcp, &done, S(""), NULL, 0), XR_EINVAL, "cannot write session data with empty ID");
  XR_FAILS(xr_session_data_load(f.vmcp, &m, S("")), XR_EINVAL, "cannot load session data with empty ID");
  xr_session empty = sample("", "mcp", NULL, 0);
  XR_FAILS(xr_session_store(f.proxy, &empty), XR_EINVAL, "cannot store session with empty ID");
  XR_FAILS(xr_session_create(f.proxy, &empty), XR_EINVAL, "cannot create nil session or empty ID");

  xr_session_options o = XR_SESSION_OPTIONS_INIT;
  o.key_prefix = "thv:proxy:session";
  XR_FAILS(xr_session_options_check(&o), XR_EINVAL, "key prefix must end with ':'");
  o.key_prefix = "";
  XR_FAILS(xr_session_options_check(&o), XR_EINVAL, "key prefix is required");
  o.key_prefix = NULL;
  o.ttl_ms = -1;
  XR_FAILS(xr_session_options_check(&o), XR_EINVAL, "ttl must be a positive duration");

  /* a corrupt record among good ones: Go's error, the others untouched */
  xr_session good = sample("good", "mcp", NULL, 0);
  XR_OK(xr_session_store(f.proxy, &good));
  char key[256];
  snprintf(key, sizeof key, "%sbad", proxy_prefix);
  XR_OK(itest_cmd(chk, NULL, "SET", key, "{bad", NULL));
  XR_FAILS(xr_session_load(f.proxy, &rec, S("bad")), XR_EPARSE,
           "failed to deserialize session: failed to unmarshal session data: invalid character 'b' looking for "
           "beginning of object key string");
  XR_OK(xr_session_load(f.proxy, &rec, S("good")));
  xr_session_record_clear(&rec);
  /* a wrong-type key: the server's error, naming the key */
  snprintf(key, sizeof key, "%slist", proxy_prefix);
  XR_OK(itest_cmd(chk, NULL, "RPUSH", key, "x", NULL));
  XR_FAILS(xr_session_load(f.proxy, &rec, S("list")), XR_EWRONGTYPE, "WRONGTYPE");
  /* session_json that is not a session */
  xr_arg bad = XR_ARG_OF_TEXT("[1]", 3);
  xr_result r;
  XR_FAILS(xr_session_call(f.proxy, XR_SESSION_OP_STORE, &bad, 1, &r), XR_EINVAL, "session.store: session_json");
  xr_arg notmap[2] = {XR_ARG_OF_TEXT("d", 1), XR_ARG_OF_TEXT("{\"a\":1}", 7)};
  XR_FAILS(xr_session_call(f.vmcp, XR_SESSION_OP_DATA_CREATE, notmap, 2, &r), XR_EINVAL,
           "data_json is not a map of strings");
  snprintf(key, sizeof key, "%sd", vmcp_prefix);
  assert_int_equal(itest_pttl(chk, key), -2);
  fix_close(&f);
}

/* A batch (what the bindings run): stores, loads and a missing one in one pipeline, each result
 * as the sequential call gives it; the reply sizes a binding weighs before decoding. */
static void batch(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  xr_session_pair meta[] = {{S("k"), S("v")}};
  xr_session s = sample("b-1", "mcp", meta, 1);
  char *json = NULL;
  size_t len = 0;
  XR_OK(xr_session_write(&json, &len, &s, XR_GO_DEFAULT));
  xr_session_batch *b;
  XR_OK(xr_session_batch_new(&b, f.proxy));
  int i_store = xr_session_batch_store(b, json, len);
  int i_load = xr_session_batch_load(b, S("b-1"));
  int i_miss = xr_session_batch_load(b, S("b-none"));
  assert_int_equal(xr_session_batch_count(b), 3);
  assert_int_equal(xr_session_batch_reply_size(b, (size_t)i_load), 0); /* not run yet */
  XR_OK(xr_session_batch_exec(b));
  xr_result r;
  XR_OK(xr_session_batch_result(b, (size_t)i_store, &r));
  xr_result_clear(&r);
  XR_OK(xr_session_batch_result(b, (size_t)i_load, &r));
  assert_int_equal(r.kind, XR_RESULT_SESSION);
  assert_int_equal(r.fields[6].len, len);
  assert_memory_equal(r.fields[6].data, json, len); /* the record as the typed store writes it */
  assert_memory_equal(r.fields[0].data, "b-1", 3);
  xr_result_clear(&r);
  XR_FAILS(xr_session_batch_result(b, (size_t)i_miss, &r), XR_ENOTFOUND, "session not found");
  assert_int_equal(xr_session_batch_reply_size(b, (size_t)i_load), len);
  assert_int_equal(xr_session_batch_reply_size(b, (size_t)i_miss), 0);
  assert_int_equal(xr_session_batch_reply_size(b, (size_t)i_store), 0); /* a status, no string */
  xr_session_batch_free(b);
  xr_free(json);
  fix_close(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TT_TEST(wire_matches_toolhive), TT_TEST(store_load_round_trip), TT_TEST(missing_existing_and_owners),
      TT_TEST(data_store),            TT_TEST(bad_input),             TT_TEST(batch),
  };
  return tt_run("sessions", tests, sizeof tests / sizeof tests[0], NULL, 0);
}
