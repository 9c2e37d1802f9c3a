/* crossredis inventory against real servers: a standalone server and the run's Cluster populated
 * with every system's keys through the core's own APIs (Chat SDK locks and queues of TS and Python
 * shapes, toolhive proxy and vMCP sessions, ayepi's store and cache, xp's buffer and registry) plus
 * the Chat SDK tagged layout and keys of no system; each classified with the right owner runtime,
 * the upstream Chat thread flagged not Cluster-ready (and seen split) and the tagged one ready;
 * MONITOR shows only reads; a user without MEMORY USAGE gets a degraded report; bad patterns files
 * are usage errors; the rate bound holds; 1,000,000 keys with the memory of 100,000. The run's
 * Sentinel set too (its one master). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <cmocka.h>
#include <jansson.h>

#include "itest.h"
#include "clitest.h"
#include "crossredis/alloc.h"
#include "crossredis/ayepi.h"
#include "crossredis/chat.h"
#include "crossredis/key_pattern.h"
#include "crossredis/scan.h"
#include "crossredis/session.h"
#include "crossredis/xp.h"
#include "topology.h"

static xrt_server *server;
static xr_client *chk;
static char url[128];

static const char TS_TOKEN[] = "redis_1700000000000_abc123xyz4";
static const char IO_TOKEN[] = "ioredis_1700000000123_k3j4h5g6f7a";
static const char PY_TOKEN[] = "redis_1700000000456_0123456789abcdef0123456789abcdee";
static const char ENTRY[] = "{\"body\":\"{}\",\"status\":200,\"headers\":[],\"storedAt\":1,\"expires\":2,"
                            "\"staleUntil\":4102444800000,\"bytes\":2,\"method\":\"GET\",\"path\":\"/u/:id\","
                            "\"key\":\"[\\\"GET\\\",\\\"/u/:id\\\",[],null,null]\"}";

static int group_setup(void **state) { return (void)state, clitest_open_checker(&server, &chk, url, sizeof url); }

static int group_teardown(void **state) { return (void)state, itest_close_with_checker(server, chk), 0; }

/* ---- populating every system --------------------------------------------------------------------- */

/* The key prefixes of one test: the systems' defaults on the private server, test-owned ones on
 * the shared Cluster (other tests' keys are there too). */
typedef struct prefixes {
  char chat[64], session[64], vmcp[64], ayepi[64], cache[64], xp[64], other[64], match[64];
} prefixes;

static void default_prefixes(prefixes *p) {
  memset(p, 0, sizeof *p);
  snprintf(p->chat, sizeof p->chat, "chat-sdk");
  snprintf(p->session, sizeof p->session, "thv:proxy:session:");
  snprintf(p->vmcp, sizeof p->vmcp, "thv:vmcp:session:");
  snprintf(p->cache, sizeof p->cache, "ayepi:cache:");
  snprintf(p->xp, sizeof p->xp, "xp:");
}

static void own_prefixes(prefixes *p, const char *base) { /* base: at most 32 bytes */
  snprintf(p->chat, sizeof p->chat, "%.32schat", base);
  snprintf(p->session, sizeof p->session, "%.32sthv:", base);
  snprintf(p->vmcp, sizeof p->vmcp, "%.32svmcp:", base);
  snprintf(p->ayepi, sizeof p->ayepi, "%.32say:", base);
  snprintf(p->cache, sizeof p->cache, "%.32sayc:", base);
  snprintf(p->xp, sizeof p->xp, "%.32sxp:", base);
  snprintf(p->other, sizeof p->other, "%.32s", base);
  snprintf(p->match, sizeof p->match, "%.32s*", base);
}

static const char *k(const char *a, const char *b) {
  static char buf[8][256];
  static unsigned turn;
  char *o = buf[turn++ % 8];
  snprintf(o, sizeof buf[0], "%s%s", a, b);
  return o;
}

static xr_session session_of(const char *id, const char *type) {
  xr_session s;
  memset(&s, 0, sizeof s);
  s.id = id;
  s.id_len = strlen(id);
  s.type = type;
  s.type_len = strlen(type);
  XR_OK(xr_time_parse_rfc3339(&s.created_at, "2026-12-04T13:23:50Z", 20));
  s.updated_at = s.created_at;
  return s;
}

static char xp_uuid[64];

static void populate(xr_client *c, const prefixes *p) {
  /* Chat SDK, upstream layout: a crossredis lock and a TS queue entry on slack:C1, a Python port
   * lock and queue entry on discord:9, a TS lock without TTL on teams:z */
  xr_chat_options co = XR_CHAT_OPTIONS_INIT;
  co.key_prefix = p->chat;
  xr_chat *chat = NULL, *py = NULL;
  XR_OK(xr_chat_new(&chat, c, &co));
  co.queue = XR_CHAT_QUEUE_PYTHON;
  co.json = XR_JSON_PYTHON;
  XR_OK(xr_chat_new(&py, c, &co));
  bool got = false;
  xr_chat_lock lock;
  XR_OK(xr_chat_acquire_lock(chat, &got, &lock, "slack:C1", 8, 30000));
  assert_true(got);
  XR_OK(xr_chat_enqueue(chat, NULL, "slack:C1", 8, "{\"text\":\"hi\"}", 13, 1, 4102444800000, 10));
  XR_OK(xr_chat_enqueue(py, NULL, "discord:9", 9, "{\"text\":\"hi\"}", 13, 1, 4102444800000, 10));
  XR_OK(itest_cmd(c, NULL, "SET", k(p->chat, ":lock:discord:9"), PY_TOKEN, "PX", "30000", NULL));
  XR_OK(itest_cmd(c, NULL, "SET", k(p->chat, ":lock:teams:z"), TS_TOKEN, NULL));
  XR_OK(xr_chat_subscribe(chat, "slack:C1", 8));
  XR_OK(xr_chat_set(chat, "dedupe:slack:m1", 15, "true", 4, 600000));
  XR_OK(xr_chat_append_to_list(chat, "msg-history:slack:C1", 20, "{\"id\":1}", 8, 100, 604800000));
  xr_chat_free(chat);
  xr_chat_free(py);
  /* the tagged layout (helper C's opt-in): lock, queue and processing list of thread t1 */
  char *ts_entry = NULL, *py_entry = NULL;
  size_t ts_len = 0, py_len = 0;
  XR_OK(xr_chat_encode_queue_entry(&ts_entry, &ts_len, "{}", 2, 1, 4102444800000, XR_CHAT_QUEUE_TS, XR_JSON_JS));
  XR_OK(xr_chat_encode_queue_entry(&py_entry, &py_len, "{}", 2, 1, 4102444800000, XR_CHAT_QUEUE_PYTHON, XR_JSON_PYTHON));
  XR_OK(itest_cmd(c, NULL, "SET", k(p->chat, ":lock:{t1}"), IO_TOKEN, "PX", "30000", NULL));
  XR_OK(itest_cmd(c, NULL, "RPUSH", k(p->chat, ":queue:{t1}"), ts_entry, NULL));
  XR_OK(itest_cmd(c, NULL, "PEXPIRE", k(p->chat, ":queue:{t1}"), "90000", NULL));
  XR_OK(itest_cmd(c, NULL, "RPUSH", k(p->chat, ":queue-processing:{t1}"), py_entry, NULL));
  XR_OK(itest_cmd(c, NULL, "PEXPIRE", k(p->chat, ":queue-processing:{t1}"), "90000", NULL));
  xr_free(ts_entry);
  xr_free(py_entry);
  /* toolhive: two proxy sessions (sse, streamable), one vMCP session */
  xr_session_options so = XR_SESSION_OPTIONS_INIT;
  so.key_prefix = p->session;
  xr_session_storage *ss = NULL, *vs = NULL;
  XR_OK(xr_session_storage_new(&ss, c, &so));
  xr_session s1 = session_of("s1", "sse"), s2 = session_of("s2", "streamable");
  XR_OK(xr_session_store(ss, &s1));
  XR_OK(xr_session_store(ss, &s2));
  xr_session_options vo = XR_SESSION_DATA_OPTIONS_INIT;
  vo.key_prefix = p->vmcp;
  XR_OK(xr_session_storage_new(&vs, c, &vo));
  bool created = false;
  xr_session_pair pair = {"terminated", 10, "true", 4};
  XR_OK(xr_session_data_create(vs, &created, "v1", 2, &pair, 1));
  xr_session_storage_free(ss);
  xr_session_storage_free(vs);
  /* ayepi: the work engine's store and the response cache */
  xr_ayepi_options ao = XR_AYEPI_OPTIONS_INIT, aco = XR_AYEPI_CACHE_OPTIONS_INIT;
  ao.key_prefix = p->ayepi;
  aco.key_prefix = p->cache;
  xr_ayepi_store *as = NULL, *ac = NULL;
  XR_OK(xr_ayepi_store_new(&as, c, &ao));
  XR_OK(xr_ayepi_store_new(&ac, c, &aco));
  XR_OK(xr_ayepi_set(as, "work:state:j1", 13, "{}", 2, 60000));
  int64_t v = 0;
  XR_OK(xr_ayepi_increment(as, &v, "work:group:g1:open", 18, 1, 60000));
  XR_OK(xr_ayepi_cache_set(ac, "K", 1, ENTRY, strlen(ENTRY), 0));
  xr_ayepi_store_free(as);
  xr_ayepi_store_free(ac);
  /* xp: a buffer slot and a registry pair */
  xr_xp_options xo = XR_XP_OPTIONS_INIT;
  xo.key_prefix = p->xp;
  xr_xp_store *xs = NULL;
  XR_OK(xr_xp_store_new(&xs, c, &xo));
  XR_OK(xr_xp_buffer_append(xs, NULL, "th1", 3, "\x80\x04slot", 6));
  char *uuid = NULL;
  size_t uuid_len = 0;
  XR_OK(xr_xp_registry_get_or_create(xs, &uuid, &uuid_len, NULL, "system.org.console.router", 25));
  snprintf(xp_uuid, sizeof xp_uuid, "%.*s", (int)uuid_len, uuid);
  xr_free(uuid);
  xr_xp_store_free(xs);
  /* keys of no system */
  XR_OK(itest_cmd(c, NULL, "SET", k(p->other, "user:123:profile"), "x", NULL));
  XR_OK(itest_cmd(c, NULL, "SET", k(p->other, "user:456:profile"), "y", NULL));
  XR_OK(itest_cmd(c, NULL, "SET", k(p->other, "sess:0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"), "z", "EX", "100", NULL));
}

/* ---- reading the report -------------------------------------------------------------------------- */

static json_t *parse(const clitest_result *r) {
  json_error_t e;
  json_t *j = json_loads(r->out, 0, &e);
  if (!j) fail_msg("inventory --json printed no JSON (%s):\n%s\n--- stderr:\n%s", e.text, r->out, r->err);
  return j;
}

static json_t *find(json_t *list, const char *member, const char *value) {
  for (size_t i = 0; i < json_array_size(list); i++) {
    json_t *o = json_array_get(list, i);
    const char *s = json_string_value(json_object_get(o, member));
    if (s && !strcmp(s, value)) return o;
  }
  char *all = json_dumps(list, JSON_COMPACT);
  fail_msg("no %s \"%s\" in %s", member, value, all);
  return NULL;
}

static long long num(json_t *o, const char *path) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", path);
  json_t *v = o;
  for (char *save = NULL, *part = strtok_r(buf, ".", &save); part; part = strtok_r(NULL, ".", &save))
    v = json_object_get(v, part);
  if (!json_is_integer(v)) fail_msg("%s is not an integer", path);
  return json_integer_value(v);
}

static json_t *pattern(json_t *j, const char *a, const char *b) { return find(json_object_get(j, "patterns"), "pattern", k(a, b)); }

static void assert_owner(json_t *p, const char *owner, long long n) {
  json_t *v = json_object_get(json_object_get(p, "owners"), owner);
  if (json_integer_value(v) != n) {
    char *all = json_dumps(json_object_get(p, "owners"), JSON_COMPACT);
    fail_msg("%s: owner %s is not %lld: %s", json_string_value(json_object_get(p, "pattern")), owner, n, all);
  }
}

/* What every topology shows for the keys populate() wrote. */
static void check_report(json_t *j, const prefixes *p) {
  json_t *lock = pattern(j, p->chat, ":lock:<thread>");
  assert_int_equal(num(lock, "count"), 3);
  assert_string_equal(json_string_value(json_object_get(lock, "source")), "builtin");
  assert_string_equal(json_string_value(json_object_get(lock, "tier")), "R0");
  assert_owner(lock, "crossredis or ts-node-redis", 1);
  assert_owner(lock, "python-redis", 1);
  assert_owner(lock, "ts-node-redis", 1);
  assert_int_equal(num(lock, "ttl.without_expiry"), 1);
  assert_int_equal(num(lock, "types.string"), 3);
  assert_true(num(lock, "ttl.max_ms") <= 30000 && num(lock, "ttl.min_ms") > 0);
  assert_string_equal(json_string_value(json_array_get(json_object_get(lock, "warnings"), 0)),
                      "1 of 3 keys have no TTL (policy: required)");
  json_t *queue = pattern(j, p->chat, ":queue:<thread>");
  assert_int_equal(num(queue, "count"), 2);
  assert_owner(queue, "ts", 1);
  assert_owner(queue, "python", 1);
  assert_int_equal(num(queue, "types.list"), 2);
  assert_owner(pattern(j, p->chat, ":lock:{<thread>}"), "ts-ioredis", 1);
  assert_owner(pattern(j, p->chat, ":queue:{<thread>}"), "ts", 1);
  assert_owner(pattern(j, p->chat, ":queue-processing:{<thread>}"), "python", 1);
  assert_int_equal(num(pattern(j, p->chat, ":subscriptions"), "types.set"), 1);
  assert_int_equal(num(pattern(j, p->chat, ":cache:<key>"), "count"), 1);
  assert_int_equal(num(pattern(j, p->chat, ":list:<key>"), "count"), 1);
  json_t *sess = pattern(j, p->session, "<id>");
  assert_int_equal(num(sess, "count"), 2);
  assert_owner(sess, "sse", 1);
  assert_owner(sess, "streamable", 1);
  assert_string_equal(json_string_value(json_object_get(sess, "system")), "session");
  assert_int_equal(num(pattern(j, p->vmcp, "<id>"), "count"), 1);
  assert_int_equal(num(pattern(j, p->ayepi, "work:state:<id>"), "count"), 1);
  assert_int_equal(num(pattern(j, p->ayepi, "work:group:<group>:open"), "count"), 1);
  assert_int_equal(num(pattern(j, p->cache, "<key>"), "ttl.without_expiry"), 0);
  assert_int_equal(num(pattern(j, p->xp, "buffer:<thread>"), "types.list"), 1);
  assert_int_equal(num(pattern(j, p->xp, "chain:<chain>"), "count"), 1);
  assert_int_equal(num(pattern(j, p->xp, "uuid:<uuid>"), "count"), 1);
  /* no system's keys, generalised */
  json_t *unc = json_object_get(j, "unclassified");
  json_t *users = find(unc, "shape", k(p->other, "user:{number}:profile"));
  assert_int_equal(num(users, "count"), 2);
  assert_int_equal(num(find(unc, "shape", k(p->other, "sess:{uuid}")), "ttl.without_expiry"), 0);
  assert_int_equal(json_array_size(unc), 2);
  /* Cluster readiness: upstream's lock and queue of one thread split; the tagged layout together */
  json_t *units = json_object_get(j, "units");
  json_t *up = find(units, "unit", "chat-thread"), *tagged = find(units, "unit", "chat-thread-tagged");
  assert_false(json_is_true(json_object_get(up, "ready")));
  assert_true(strstr(json_string_value(json_object_get(up, "verdict")), "not Cluster-ready") != NULL);
  assert_int_equal(num(up, "observed.instances"), 3);
  assert_int_equal(num(up, "observed.split"), 2); /* slack:C1 and discord:9 have a lock and a queue */
  assert_true(json_is_true(json_object_get(tagged, "ready")));
  assert_int_equal(num(tagged, "observed.instances"), 1);
  assert_int_equal(num(tagged, "observed.split"), 0);
  json_t *xreg = find(units, "unit", "xp-registry");
  assert_false(json_is_true(json_object_get(xreg, "ready")));
  assert_true(strstr(json_string_value(json_object_get(xreg, "verdict")), "share no field") != NULL);
  assert_int_equal(num(j, "keys"), 23);
  assert_string_equal(json_string_value(json_object_get(j, "memory")), "measured");
  assert_true(num(lock, "memory.total_bytes") > 0);
}

/* The command names a MONITOR capture holds (the first quoted word of each line). */
static void assert_only_reads(const itest_lines *raw) {
  static const char *const reads[] = {"SCAN", "TYPE", "PTTL", "MEMORY", "GET", "LINDEX", "PING", "HELLO",
                                      "CLIENT", "AUTH", "SELECT", "INFO", "CLUSTER", "COMMAND", "ECHO"};
  size_t types = 0, scans = 0;
  for (size_t i = 0; i < raw->n; i++) {
    const char *q = strchr(raw->v[i], '"');
    if (!q) fail_msg("MONITOR line without a command: %s", raw->v[i]);
    char cmd[32];
    size_t n = strcspn(q + 1, "\"");
    snprintf(cmd, sizeof cmd, "%.*s", (int)(n < 31 ? n : 31), q + 1);
    bool ok = false;
    for (size_t r = 0; r < sizeof reads / sizeof reads[0] && !ok; r++) ok = !strcasecmp(cmd, reads[r]);
    if (!ok) fail_msg("inventory sent %s: %s", cmd, raw->v[i]);
    if (!strcasecmp(cmd, "MEMORY") && !strstr(q, "\"USAGE\"")) fail_msg("MEMORY other than USAGE: %s", raw->v[i]);
    types += !strcasecmp(cmd, "TYPE");
    scans += !strcasecmp(cmd, "SCAN");
  }
  assert_int_equal(types, 23); /* one per key: MONITOR saw the run */
  assert_true(scans >= 1);
}

/* ---- tests --------------------------------------------------------------------------------------- */

static void test_standalone_every_system(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  prefixes p;
  default_prefixes(&p);
  populate(chk, &p);
  itest_monitor m;
  itest_monitor_open(&m, server);
  clitest_result r;
  clitest_run(&r, NULL, "inventory", "--url", url, "--json", NULL);
  itest_lines raw = {0};
  itest_monitor_take(&m, chk, &raw);
  itest_monitor_close(&m);
  CLITEST_STATUS(&r, 0);
  json_t *j = parse(&r);
  check_report(j, &p);
  assert_int_equal(num(j, "nodes"), 1);
  json_decref(j);
  CLITEST_HAS(&r, err, "inventory: 23 keys scanned, 20 classified, ");
  clitest_result_free(&r);
  assert_only_reads(&raw);
  itest_lines_free(&raw);
  /* read-only: every key is still there, as it was */
  xr_reply *n = NULL;
  XR_OK(itest_cmd(chk, &n, "DBSIZE", NULL));
  assert_int_equal(xr_reply_integer(n), 23);
  xr_reply_free(n);
  itest_assert_get(chk, "chat-sdk:lock:teams:z", TS_TOKEN);
  assert_int_equal(itest_pttl(chk, "chat-sdk:lock:teams:z"), -1);

  /* the table: the same facts for people */
  clitest_run(&r, NULL, "inventory", "--url", url, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "23 keys on 1 node");
  CLITEST_HAS(&r, out, "\n  chat-sdk:lock:<thread> ");
  CLITEST_HAS(&r, out, "      owners: crossredis or ts-node-redis 1, python-redis 1, ts-node-redis 1\n");
  CLITEST_HAS(&r, out, "      warning: 1 of 3 keys have no TTL (policy: required)\n");
  CLITEST_HAS(&r, out, "\n  thv:proxy:session:<id> ");
  CLITEST_HAS(&r, out, "      owners: sse 1, streamable 1\n");
  CLITEST_HAS(&r, out, "\nunclassified\n");
  CLITEST_HAS(&r, out, "\n  user:{number}:profile ");
  CLITEST_HAS(&r, out, "\nCluster readiness\n  chat-thread-tagged   READY\n");
  CLITEST_HAS(&r, out, "\n  chat-thread          NOT READY\n      not Cluster-ready: chat-sdk:lock:<thread> and "
                       "chat-sdk:queue:<thread> hash to different slots for the same <thread>");
  CLITEST_HAS(&r, out, "observed: 3 instances, 2 with keys on different slots (e.g. ");
  CLITEST_HAS(&r, out, "\nwarnings\n  3 of 23 keys match no declared pattern (see unclassified)\n");
  clitest_result_free(&r);
}

/* Deletes the keys SCAN MATCH glob finds on every master (one DEL each). */
static void delete_under(xr_client *c, const char *glob) {
  xr_scan_options so = XR_SCAN_OPTIONS_INIT;
  so.match = glob;
  xr_scan *sc = NULL;
  XR_OK(xr_scan_new(&sc, c, &so));
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  for (int done = 0; !done;) {
    xr_batch_clear(b);
    int i = xr_scan_add(sc, b);
    assert_true(i >= 0);
    XR_OK(xr_client_exec(c, b));
    const xr_reply *keys = NULL;
    XR_OK(xr_scan_take(sc, b, (size_t)i, &keys, &done));
    for (size_t n = 0; n < xr_reply_count(keys); n++) {
      const char *argv[] = {"DEL", xr_reply_str(xr_reply_at(keys, n), NULL)};
      XR_OK(xr_client_command(c, NULL, 2, argv, NULL));
    }
  }
  xr_batch_free(b);
  xr_scan_free(sc);
}

/* On the run's Cluster and Sentinel set: every master scanned (the one the sentinels name), the
 * same classification and verdicts, with the systems' prefixes and --match keeping the other
 * tests' keys out. */
static void run_on_shared(xrt_topology_kind kind, long long nodes) {
  char turl[512], base[64], err[XRT_ERR_SIZE];
  xrt_topology *t;
  if (xrt_topology_get(&t, kind, err) != 0) fail_msg("topology: %s", err);
  if (kind == XRT_TOPOLOGY_CLUSTER)
    snprintf(turl, sizeof turl, "redis+cluster://%s", xrt_topology_seeds(t));
  else
    snprintf(turl, sizeof turl, "redis+sentinel://%s/%s", xrt_topology_seeds(t), xrt_topology_master_name(t));
  xr_client *c = NULL;
  XR_OK(xr_client_open_url(&c, turl, NULL));
  snprintf(base, sizeof base, "xinv-%d-%lld-", (int)getpid(), nodes);
  prefixes p;
  own_prefixes(&p, base);
  populate(c, &p);
  char pc[96], ps[96], pv[96], pa[96], pac[96], px[96];
  snprintf(pc, sizeof pc, "chat=%s", p.chat);
  snprintf(ps, sizeof ps, "session=%s", p.session);
  snprintf(pv, sizeof pv, "vmcp=%s", p.vmcp);
  snprintf(pa, sizeof pa, "ayepi=%s", p.ayepi);
  snprintf(pac, sizeof pac, "ayepi-cache=%s", p.cache);
  snprintf(px, sizeof px, "xp=%s", p.xp);
  clitest_result r;
  clitest_run(&r, NULL, "inventory", "--url", turl, "--match", p.match, "--prefix", pc, "--prefix", ps, "--prefix", pv,
              "--prefix", pa, "--prefix", pac, "--prefix", px, "--count", "50", "--json", NULL);
  CLITEST_STATUS(&r, 0);
  json_t *j = parse(&r);
  check_report(j, &p);
  assert_int_equal(num(j, "nodes"), nodes);
  /* the lock pattern's three keys sit on three slots (on a Cluster: spread over the masters) */
  assert_int_equal(num(pattern(j, p.chat, ":lock:<thread>"), "slots.distinct"), 3);
  json_decref(j);
  clitest_result_free(&r);
  delete_under(c, p.match);
  xr_client_close(c);
  xrt_topology_free(t);
}

static void test_cluster_every_system(void **state) {
  (void)state;
  run_on_shared(XRT_TOPOLOGY_CLUSTER, 3);
}

static void test_sentinel_every_system(void **state) {
  (void)state;
  run_on_shared(XRT_TOPOLOGY_SENTINEL, 1);
}

/* A user's patterns come first, carry their declared fields, and their units get a verdict. */
static void test_user_patterns(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  static const char *const keys[] = {"mpp:browser:session:{session:0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f}",
                                     "mpp:browser:cookies:{session:0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f}",
                                     "mpp:old:session:0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f",
                                     "mpp:old:cookies:0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f", "chat-sdk:lock:x"};
  for (size_t i = 0; i < 5; i++) XR_OK(itest_cmd(chk, NULL, "SET", keys[i], TS_TOKEN, NULL));
  char path[256];
  snprintf(path, sizeof path, "%s/patterns.json", xrt_server_dir(server));
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("{\"patterns\":[{\"pattern\":\"mpp:browser:session:{session:<id:uuid>}\",\"owner\":\"mpp\",\"readers\":[\"api\"],"
        "\"writers\":[\"api\",\"worker\"],\"ttl_policy\":\"required\",\"tier\":\"R1\",\"notes\":\"a browser session\","
        "\"unit\":\"browser\"},"
        "{\"pattern\":\"mpp:browser:cookies:{session:<id:uuid>}\",\"owner\":\"mpp\",\"unit\":\"browser\"},"
        "{\"pattern\":\"mpp:old:session:<id:uuid>\",\"unit\":\"old\"},"
        "{\"pattern\":\"mpp:old:cookies:<id:uuid>\",\"unit\":\"old\"},"
        "{\"pattern\":\"chat-sdk:lock:<thread>\",\"owner\":\"mine\"}]}",
        f);
  fclose(f);
  clitest_result r;
  clitest_run(&r, NULL, "inventory", "--url", url, "--patterns", path, "--json", NULL);
  CLITEST_STATUS(&r, 0);
  json_t *j = parse(&r);
  json_t *s = pattern(j, "", "mpp:browser:session:{session:<id:uuid>}");
  assert_string_equal(json_string_value(json_object_get(s, "source")), "file");
  assert_string_equal(json_string_value(json_object_get(s, "owner")), "mpp");
  assert_string_equal(json_string_value(json_object_get(s, "notes")), "a browser session");
  assert_string_equal(json_string_value(json_array_get(json_object_get(s, "writers"), 1)), "worker");
  assert_string_equal(json_string_value(json_object_get(s, "tier")), "R1");
  assert_string_equal(json_string_value(json_array_get(json_object_get(s, "warnings"), 0)),
                      "1 of 1 keys have no TTL (policy: required)");
  /* the user's pattern before the built-in one of the same shape */
  json_t *lock = pattern(j, "", "chat-sdk:lock:<thread>");
  assert_string_equal(json_string_value(json_object_get(lock, "owner")), "mine");
  assert_string_equal(json_string_value(json_object_get(lock, "source")), "file");
  json_t *units = json_object_get(j, "units");
  assert_true(json_is_true(json_object_get(find(units, "unit", "browser"), "ready")));
  assert_int_equal(num(find(units, "unit", "browser"), "observed.split"), 0);
  json_t *old = find(units, "unit", "old");
  assert_false(json_is_true(json_object_get(old, "ready")));
  assert_int_equal(num(old, "observed.split"), 1);
  assert_string_equal(json_string_value(json_object_get(old, "verdict")),
                      "not Cluster-ready: mpp:old:session:<id:uuid> and mpp:old:cookies:<id:uuid> hash to different "
                      "slots for the same <id> (no hash tag holding it)");
  assert_int_equal(json_array_size(json_object_get(j, "unclassified")), 0);
  json_decref(j);
  clitest_result_free(&r);
}

/* A patterns file the command cannot use is a usage error naming the file, the entry and why. */
static void test_bad_patterns_file(void **state) {
  (void)state;
  char path[256];
  snprintf(path, sizeof path, "%s/bad.json", xrt_server_dir(server));
  static const char bad_pattern[] = "bad:<id";
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "{\"patterns\":[{\"pattern\":\"ok:<id>\"},{\"pattern\":\"%s\"}]}", bad_pattern);
  fclose(f);
  /* the parser's own message, as the command must show it */
  xr_key_pattern *kp = NULL;
  assert_int_not_equal(xr_key_pattern_parse(&kp, bad_pattern, strlen(bad_pattern)), 0);
  char why[512];
  snprintf(why, sizeof why, "%s", xr_error_last()->message);
  clitest_result r;
  clitest_run(&r, NULL, "inventory", "--url", url, "--patterns", path, NULL);
  CLITEST_STATUS(&r, 2);
  char want[1024];
  snprintf(want, sizeof want, "crossredis inventory: %s: patterns[1].pattern 'bad:<id': %s\n", path, why);
  CLITEST_HAS(&r, err, want);
  assert_string_equal(r.out, "");
  clitest_result_free(&r);

  static const struct {
    const char *text, *part;
  } cases[] = {
      {"{\"patterns\": [", ": JSON text line 1"},
      {"[]", ": expected {\"patterns\": [{\"pattern\": ..., ...}, ...]}"},
      {"{\"patterns\":[{\"owner\":\"x\"}]}", ": patterns[0].pattern is required (a non-empty string)"},
      {"{\"patterns\":[{\"pattern\":\"a:<id>\",\"ttl_policy\":\"always\"}]}",
       ": patterns[0].ttl_policy must be \"required\", \"none\" or \"any\", not \"always\""},
      {"{\"patterns\":[{\"pattern\":\"a:<id>\",\"tier\":\"R9\"}]}", ": patterns[0].tier must be R0 .. R4, not \"R9\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(cases[i].text, f);
    fclose(f);
    clitest_run(&r, NULL, "inventory", "--url", url, "--patterns", path, NULL);
    CLITEST_STATUS(&r, 2);
    CLITEST_HAS(&r, err, cases[i].part);
    CLITEST_HAS(&r, err, path);
    clitest_result_free(&r);
  }
  clitest_run(&r, NULL, "inventory", "--url", url, "--patterns", "/nonexistent/p.json", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--patterns /nonexistent/p.json: No such file or directory");
  clitest_result_free(&r);
  clitest_run(&r, NULL, "inventory", "--url", url, "--prefix", "nope=x", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--prefix wants SYSTEM=PREFIX");
  clitest_result_free(&r);
}

/* A user whose ACL lacks MEMORY USAGE: memory unknown, one warning, the rest of the report. */
static void test_memory_usage_refused(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  XR_OK(itest_cmd(chk, NULL, "SET", "chat-sdk:lock:a", TS_TOKEN, "PX", "30000", NULL));
  XR_OK(itest_cmd(chk, NULL, "SET", "user:1:x", "v", NULL));
  XR_OK(itest_cmd(chk, NULL, "ACL", "SETUSER", "inv-reader", "reset", "on", ">inv-pw", "~*", "+@read", "+@connection",
                  "-memory", NULL));
  char rurl[192];
  snprintf(rurl, sizeof rurl, "redis://inv-reader:inv-pw@127.0.0.1:%d", xrt_server_port(server));
  clitest_result r;
  clitest_run(&r, NULL, "inventory", "--url", rurl, "--json", NULL);
  CLITEST_STATUS(&r, 0);
  json_t *j = parse(&r);
  assert_string_equal(json_string_value(json_object_get(j, "memory")), "unknown");
  json_t *lock = pattern(j, "", "chat-sdk:lock:<thread>");
  assert_true(json_is_null(json_object_get(lock, "memory")));
  assert_owner(lock, "ts-node-redis", 1);
  json_t *w = json_object_get(j, "warnings");
  const char *first = json_string_value(json_array_get(w, 0));
  if (!first || !strstr(first, "MEMORY USAGE refused (NOPERM"))
    fail_msg("no MEMORY USAGE warning: %s", r.out);
  assert_int_equal(json_array_size(w), 2); /* and the unclassified key */
  assert_int_equal(num(j, "keys"), 2);
  json_decref(j);
  clitest_result_free(&r);
  clitest_run(&r, NULL, "inventory", "--url", rurl, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, " unknown ");
  CLITEST_HAS(&r, out, "\nwarnings\n  MEMORY USAGE refused (NOPERM");
  assert_null(strstr(r.out, "inv-pw"));
  assert_null(strstr(r.err, "inv-pw"));
  clitest_result_free(&r);
}

/* The rate bound: N commands take at least N / rate seconds. --max-keys stops early. */
static void test_rate_bound(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  XR_OK(itest_cmd(chk, NULL, "DEBUG", "POPULATE", "3000", "rate", NULL));
  double t0 = itest_now_ms();
  clitest_result r;
  clitest_run(&r, NULL, "inventory", "--url", url, "--rate", "4000", "--count", "500", "--json", NULL);
  double wall_s = (itest_now_ms() - t0) / 1000.0;
  CLITEST_STATUS(&r, 0);
  json_t *j = parse(&r);
  long long commands = num(j, "commands");
  assert_int_equal(num(j, "keys"), 3000);
  assert_true(commands >= 9000); /* TYPE, PTTL, MEMORY USAGE per key, and the SCANs */
  assert_int_equal(num(j, "rate"), 4000);
  if (wall_s < (double)commands / 4000.0) fail_msg("%lld commands in %.2f s: faster than 4000/s", commands, wall_s);
  assert_true(num(j, "elapsed_ms") >= commands * 1000 / 4000 - 1);
  assert_int_equal(num(find(json_object_get(j, "unclassified"), "shape", "rate:{number}"), "count"), 3000);
  json_decref(j);
  clitest_result_free(&r);

  clitest_run(&r, NULL, "inventory", "--url", url, "--rate", "0", "--max-keys", "1200", "--count", "500", "--json", NULL);
  CLITEST_STATUS(&r, 0);
  j = parse(&r);
  assert_int_equal(num(j, "keys"), 1200);
  assert_true(json_is_true(json_object_get(j, "truncated")));
  assert_int_equal(num(j, "rate"), 0);
  json_decref(j);
  clitest_result_free(&r);
}

/* Runs the command, waiting for it with wait4: its result, its peak RSS (KiB) and wall time. */
static void run_measured(clitest_result *r, long *maxrss_kb, double *wall_s, const char *const *args) {
  clitest_proc p;
  double t0 = itest_now_ms();
  clitest_start(&p, NULL, args);
  clitest_pump(&p, NULL, 500);
  int ws = 0;
  struct rusage ru;
  while (wait4(p.pid, &ws, 0, &ru) < 0 && errno == EINTR) {
  }
  *wall_s = (itest_now_ms() - t0) / 1000.0;
  *maxrss_kb = ru.ru_maxrss;
  clitest_buf_add(&p.o, "", 0);
  clitest_buf_add(&p.e, "", 0);
  r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  r->out = p.o.data;
  r->out_len = p.o.len;
  r->err = p.e.data;
}

/* 1,000,000 keys at a requested rate: at least commands / rate seconds, and the peak memory of
 * the command about that of 100,000 keys (the counters stream; nothing grows with the keys). */
static void test_million_keys_flat_memory(void **state) {
  (void)state;
  enum { RATE = 400000 };
  long rss[2];
#ifdef __SANITIZE_ADDRESS__
  /* AddressSanitizer keeps freed memory in quarantine (256 MB): without it the command's peak
   * memory is its own again */
  char asan[512];
  const char *given = getenv("ASAN_OPTIONS");
  snprintf(asan, sizeof asan, "%s%squarantine_size_mb=0:thread_local_quarantine_size_kb=0", given ? given : "",
           given && *given ? ":" : "");
  setenv("ASAN_OPTIONS", asan, 1);
#endif
  const char *counts[2] = {"100000", "1000000"};
  for (int i = 0; i < 2; i++) {
    XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
    XR_OK(itest_cmd(chk, NULL, "DEBUG", "POPULATE", counts[i], "user", NULL));
    const char *args[] = {"inventory", "--url", url, "--rate", "400000", "--json", NULL};
    clitest_result r;
    double wall_s;
    run_measured(&r, &rss[i], &wall_s, args);
    CLITEST_STATUS(&r, 0);
    json_t *j = parse(&r);
    long long keys = num(j, "keys"), commands = num(j, "commands");
    assert_int_equal(keys, atol(counts[i]));
    assert_true(commands >= 3 * keys);
    if (wall_s < (double)commands / RATE) fail_msg("%lld commands in %.2f s: faster than %d/s", commands, wall_s, RATE);
    assert_int_equal(num(find(json_object_get(j, "unclassified"), "shape", "user:{number}"), "count"), keys);
    print_message("inventory of %lld keys: %lld commands in %.2f s at --rate %d, peak RSS %ld KiB\n", keys, commands,
                  wall_s, RATE, rss[i]);
    if (i == 1) { /* progress every 10,000 keys */
      size_t lines = 0;
      for (const char *q = r.err; (q = strstr(q, "inventory: ")) != NULL; q++) lines++;
      assert_true(lines >= 100);
    }
    json_decref(j);
    clitest_result_free(&r);
  }
  if (rss[1] > rss[0] + 4096) fail_msg("peak RSS %ld KiB for 1,000,000 keys, %ld KiB for 100,000", rss[1], rss[0]);
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_standalone_every_system),
      cmocka_unit_test(test_cluster_every_system),
      cmocka_unit_test(test_sentinel_every_system),
      cmocka_unit_test(test_user_patterns),
      cmocka_unit_test(test_bad_patterns_file),
      cmocka_unit_test(test_memory_usage_refused),
      cmocka_unit_test(test_rate_bound),
      cmocka_unit_test(test_million_keys_flat_memory),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
