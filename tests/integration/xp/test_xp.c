/* xml-pipeline's buffer and registry (xp.h) on a standalone server, the Sentinel set and the
 * Cluster (topotest.h): every operation's results and what Redis holds (values, TTLs), the wire
 * (MONITOR), and one regression test per upstream defect of SPEC 4, each of which fails on
 * upstream's behaviour:
 *   concurrent_appends_get_their_own_index   upstream's LLEN-then-RPUSH index (wrong under 4 writers)
 *   prefix_is_a_literal                      upstream's KEYS <prefix>* reaches another tenant's keys
 *   remap_then_delete_the_old_uuid           upstream's stale reverse key, then a delete of the new mapping
 *   appends_killed_mid_pipeline_keep_their_ttl  upstream's RPUSH and EXPIRE apart
 *   get_or_create_mints_one_uuid             callers' get-then-set minting two uuids
 *   every op on the Cluster (no CROSSSLOT: upstream's MULTI over two slots fails there)
 * There is no captured upstream vector for xp: the wire test writes SPEC 4's command lines and
 * says where crossredis differs on purpose (the append script, the registry scripts, the Cluster's
 * steps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/token.h"
#include "crossredis/xp.h"
#include "itest.h"
#include "topology.h"
#include "topotest.h"

#define S(lit) lit, sizeof(lit) - 1
#define chk tt.chk

typedef struct fixture {
  xr_client *c;
  xr_xp_store *s;
  char prefix[160];
} fixture;

/* A store under "<test prefix>:xp:" (MONITOR shows "chat-sdk:xp:"), ttl_s as given (0: default). */
static void fix_open_ttl(fixture *f, int64_t ttl_s) {
  memset(f, 0, sizeof *f);
  snprintf(f->prefix, sizeof f->prefix, "%s:xp:", tt.prefix);
  xr_client_options o = tt_options();
  XR_OK(xr_client_open(&f->c, &o));
  xr_xp_options so = XR_XP_OPTIONS_INIT;
  so.key_prefix = f->prefix;
  so.ttl_s = ttl_s;
  XR_OK(xr_xp_store_new(&f->s, f->c, &so));
}

static void fix_open(fixture *f) { fix_open_ttl(f, 0); }

static void fix_close(fixture *f) {
  xr_xp_store_free(f->s);
  xr_client_close(f->c);
}

static const char *key_of(const fixture *f, const char *kind, const char *id) {
  static char buf[4][400];
  static unsigned turn;
  char *b = buf[turn++ % 4];
  snprintf(b, sizeof buf[0], "%s%s:%s", f->prefix, kind, id);
  return b;
}

static void assert_value(bool found, const char *v, size_t n, const char *want) {
  assert_true(found);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(v, want, n);
}

/* ---- every operation ---------------------------------------------------------------------------- */

static void buffer_operations(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  int64_t index = -5, len = -1;
  bool b = true;
  XR_OK(xr_xp_buffer_thread_exists(f.s, &b, S("t1")));
  assert_false(b);
  XR_OK(xr_xp_buffer_thread_len(f.s, &len, S("t1")));
  assert_int_equal(len, 0);
  XR_OK(xr_xp_buffer_append(f.s, &index, S("t1"), S("slot0")));
  assert_int_equal(index, 0);
  XR_OK(xr_xp_buffer_append(f.s, &index, S("t1"), "s\0\xff", 3));
  assert_int_equal(index, 1);
  XR_OK(xr_xp_buffer_append(f.s, &index, S("t1"), "", 0)); /* an empty slot is a slot */
  assert_int_equal(index, 2);
  long long pttl = itest_pttl(chk, key_of(&f, "buffer", "t1"));
  assert_true(pttl > 86390000 && pttl <= 86400000);
  XR_OK(xr_xp_buffer_thread_len(f.s, &len, S("t1")));
  assert_int_equal(len, 3);
  XR_OK(xr_xp_buffer_thread_exists(f.s, &b, S("t1")));
  assert_true(b);
  xr_result r;
  XR_OK(xr_xp_buffer_get_thread(f.s, &r, S("t1")));
  assert_int_equal(r.kind, XR_RESULT_LIST);
  assert_int_equal(xr_reply_count(r.list), 3);
  size_t n;
  const char *v = xr_reply_str(xr_reply_at(r.list, 1), &n);
  assert_int_equal(n, 3);
  assert_memory_equal(v, "s\0\xff", 3);
  xr_reply_str(xr_reply_at(r.list, 2), &n);
  assert_int_equal(n, 0);
  xr_result_clear(&r);
  XR_OK(xr_xp_buffer_get_thread(f.s, &r, S("none")));
  assert_int_equal(xr_reply_count(r.list), 0);
  xr_result_clear(&r);
  char *slot = NULL;
  XR_OK(xr_xp_buffer_get_slot(f.s, &b, &slot, &n, S("t1"), 0));
  assert_value(b, slot, n, "slot0");
  xr_free(slot);
  XR_OK(xr_xp_buffer_get_slot(f.s, &b, &slot, &n, S("t1"), -3)); /* from the end, as LINDEX */
  assert_value(b, slot, n, "slot0");
  xr_free(slot);
  XR_OK(xr_xp_buffer_get_slot(f.s, &b, &slot, &n, S("t1"), 2));
  assert_true(b);
  assert_int_equal(n, 0);
  xr_free(slot);
  XR_OK(xr_xp_buffer_get_slot(f.s, &b, &slot, &n, S("t1"), 3));
  assert_false(b);
  assert_null(slot);
  XR_OK(xr_xp_buffer_delete_thread(f.s, &b, S("t1")));
  assert_true(b);
  XR_OK(xr_xp_buffer_delete_thread(f.s, &b, S("t1")));
  assert_false(b);
  assert_int_equal(itest_pttl(chk, key_of(&f, "buffer", "t1")), -2);
  fix_close(&f);
  /* TTLs: none, and one of the caller's */
  fix_open_ttl(&f, XR_XP_TTL_NONE);
  assert_int_equal(xr_xp_store_ttl_s(f.s), 0);
  XR_OK(xr_xp_buffer_append(f.s, &index, S("t2"), S("x")));
  assert_int_equal(itest_pttl(chk, key_of(&f, "buffer", "t2")), -1);
  XR_OK(xr_xp_registry_set(f.s, S("c.none"), S("u-none")));
  assert_int_equal(itest_pttl(chk, key_of(&f, "chain", "c.none")), -1);
  assert_int_equal(itest_pttl(chk, key_of(&f, "uuid", "u-none")), -1);
  fix_close(&f);
  fix_open_ttl(&f, 100);
  XR_OK(xr_xp_buffer_append(f.s, &index, S("t2"), S("y")));
  assert_int_equal(index, 1);
  pttl = itest_pttl(chk, key_of(&f, "buffer", "t2"));
  assert_true(pttl > 90000 && pttl <= 100000); /* the append set the TTL again */
  fix_close(&f);
}

static void registry_operations(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  bool found = true, b = false;
  char *v = NULL;
  size_t n = 0;
  XR_OK(xr_xp_registry_get_uuid(f.s, &found, &v, &n, S("system.org.console.router")));
  assert_false(found);
  XR_OK(xr_xp_registry_set(f.s, S("system.org.console.router"), S("u-1")));
  itest_assert_get(chk, key_of(&f, "chain", "system.org.console.router"), "u-1");
  itest_assert_get(chk, key_of(&f, "uuid", "u-1"), "system.org.console.router");
  long long pttl = itest_pttl(chk, key_of(&f, "chain", "system.org.console.router"));
  assert_true(pttl > 86390000 && pttl <= 86400000);
  pttl = itest_pttl(chk, key_of(&f, "uuid", "u-1"));
  assert_true(pttl > 86390000 && pttl <= 86400000);
  XR_OK(xr_xp_registry_get_uuid(f.s, &found, &v, &n, S("system.org.console.router")));
  assert_value(found, v, n, "u-1");
  xr_free(v);
  XR_OK(xr_xp_registry_get_chain(f.s, &found, &v, &n, S("u-1")));
  assert_value(found, v, n, "system.org.console.router");
  xr_free(v);
  XR_OK(xr_xp_registry_get_chain(f.s, &found, &v, &n, S("u-none")));
  assert_false(found);
  /* the same pair again changes nothing; a uuid moved to another chain takes its forward key along */
  XR_OK(xr_xp_registry_set(f.s, S("system.org.console.router"), S("u-1")));
  itest_assert_get(chk, key_of(&f, "uuid", "u-1"), "system.org.console.router");
  XR_OK(xr_xp_registry_set(f.s, S("c.other"), S("u-1")));
  itest_assert_get(chk, key_of(&f, "chain", "system.org.console.router"), NULL);
  itest_assert_get(chk, key_of(&f, "chain", "c.other"), "u-1");
  itest_assert_get(chk, key_of(&f, "uuid", "u-1"), "c.other");
  /* get_or_create: a new uuid4 both ways, then the same one */
  char *u1 = NULL, *u2 = NULL;
  size_t n1 = 0, n2 = 0;
  bool created = false;
  XR_OK(xr_xp_registry_get_or_create(f.s, &u1, &n1, &created, S("c.new")));
  assert_true(created);
  assert_int_equal(n1, 36);
  assert_int_equal(u1[14], '4');
  XR_OK(xr_xp_registry_get_or_create(f.s, &u2, &n2, &created, S("c.new")));
  assert_false(created);
  assert_string_equal(u1, u2);
  itest_assert_get(chk, key_of(&f, "chain", "c.new"), u1);
  itest_assert_get(chk, key_of(&f, "uuid", u1), "c.new");
  assert_true(itest_pttl(chk, key_of(&f, "uuid", u1)) > 86390000);
  xr_free(u2);
  XR_OK(xr_xp_registry_get_or_create(f.s, &u2, &n2, &created, S("c.other")));
  xr_free(u2);
  assert_false(created);
  /* delete */
  XR_OK(xr_xp_registry_delete(f.s, &b, u1, n1));
  assert_true(b);
  itest_assert_get(chk, key_of(&f, "chain", "c.new"), NULL);
  itest_assert_get(chk, key_of(&f, "uuid", u1), NULL);
  XR_OK(xr_xp_registry_delete(f.s, &b, u1, n1));
  assert_false(b);
  xr_free(u1);
  XR_OK(xr_xp_ping(f.s));
  fix_close(&f);
}

/* Listings, clears and info: ids (binary ones too), each once; pairs that map both ways. */
static void listings_clears_info(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  int64_t index;
  char id[16];
  for (int i = 0; i < 30; i++) { /* ids over many slots, so every master holds some */
    snprintf(id, sizeof id, "t%02d", i);
    XR_OK(xr_xp_buffer_append(f.s, &index, id, strlen(id), S("x")));
  }
  XR_OK(xr_xp_buffer_append(f.s, &index, "b\0\xff", 3, S("x")));
  for (int i = 0; i < 12; i++) {
    char chain[16], uuid[16];
    snprintf(chain, sizeof chain, "c%02d", i);
    snprintf(uuid, sizeof uuid, "u%02d", i);
    XR_OK(xr_xp_registry_set(f.s, chain, strlen(chain), uuid, strlen(uuid)));
  }
  /* a stale reverse key as upstream's re-map leaves it: uuid:u-old -> c00, which maps to u00 */
  XR_OK(itest_cmd(chk, NULL, "SET", key_of(&f, "uuid", "u-old"), "c00", NULL));
  xr_xp_list *l = NULL;
  XR_OK(xr_xp_buffer_list_threads(f.s, &l));
  assert_int_equal(xr_xp_list_count(l), 31);
  xr_result r;
  XR_OK(xr_xp_list_id(l, 0, &r)); /* sorted by bytes: "b\0\xff" first */
  assert_int_equal(r.fields[0].len, 3);
  assert_memory_equal(r.fields[0].data, "b\0\xff", 3);
  XR_OK(xr_xp_list_value(l, 0, &r));
  assert_false(r.present);
  XR_OK(xr_xp_list_id(l, 1, &r));
  assert_int_equal(r.fields[0].len, 3);
  assert_memory_equal(r.fields[0].data, "t00", 3); /* an id, not a key */
  XR_FAILS(xr_xp_list_id(l, 31, &r), XR_EINVAL, "past the list's 31 items");
  xr_xp_list_free(l);
  XR_OK(xr_xp_registry_list_all(f.s, &l));
  assert_int_equal(xr_xp_list_count(l), 12); /* u-old is not listed */
  for (size_t i = 0; i < 12; i++) {
    char want_u[16], want_c[16];
    snprintf(want_u, sizeof want_u, "u%02zu", i);
    snprintf(want_c, sizeof want_c, "c%02zu", i);
    XR_OK(xr_xp_list_id(l, i, &r));
    assert_int_equal(r.fields[0].len, strlen(want_u));
    assert_memory_equal(r.fields[0].data, want_u, 3);
    XR_OK(xr_xp_list_value(l, i, &r));
    assert_true(r.present);
    assert_memory_equal(r.fields[0].data, want_c, 3);
  }
  xr_xp_list_free(l);
  xr_xp_info info;
  XR_OK(xr_xp_info_read(f.s, &info));
  assert_int_equal(info.buffer_threads, 31);
  assert_int_equal(info.registry_entries, 12);
  assert_int_equal(info.ttl_seconds, 86400);
  size_t removed = 0;
  XR_OK(xr_xp_buffer_clear(f.s, &removed));
  assert_int_equal(removed, 31);
  XR_OK(xr_xp_registry_clear(f.s, &removed));
  assert_int_equal(removed, 25); /* 12 pairs and the stale key */
  assert_int_equal(tt_count_keys(), 0);
  XR_OK(xr_xp_info_read(f.s, &info));
  assert_int_equal(info.buffer_threads + info.registry_entries, 0);
  fix_close(&f);
}

/* A batch (what the bindings run): each result as the sequential call gives it; the Cluster's
 * several-step rows are refused there, and xr_xp_call runs them. */
static void batch_and_call(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  xr_xp_batch *b;
  XR_OK(xr_xp_batch_new(&b, f.s));
  int i_a0 = xr_xp_batch_buffer_append(b, S("bt"), S("a"));
  int i_a1 = xr_xp_batch_buffer_append(b, S("bt"), S("b"));
  int i_len = xr_xp_batch_buffer_thread_len(b, S("bt"));
  int i_slot = xr_xp_batch_buffer_get_slot(b, S("bt"), 1);
  int i_thread = xr_xp_batch_buffer_get_thread(b, S("bt"));
  int i_uuid = xr_xp_batch_registry_get_uuid(b, S("nochain"));
  assert_true(xr_xp_batch_buffer_append(b, "", 0, S("x")) < 0);
  int i_set = xr_xp_batch_registry_set(b, S("bc"), S("bu"));
  if (tt_cluster()) {
    assert_int_equal(i_set, XR_EUNSUPPORTED);
    assert_int_equal(xr_xp_batch_registry_get_or_create(b, S("bc")), XR_EUNSUPPORTED);
  } else {
    assert_true(i_set >= 0);
  }
  XR_OK(xr_xp_batch_exec(b));
  xr_result r;
  XR_OK(xr_xp_batch_result(b, (size_t)i_a0, &r));
  assert_int_equal(r.integer, 0);
  XR_OK(xr_xp_batch_result(b, (size_t)i_a1, &r));
  assert_int_equal(r.integer, 1);
  XR_OK(xr_xp_batch_result(b, (size_t)i_len, &r));
  assert_int_equal(r.integer, 2);
  XR_OK(xr_xp_batch_result(b, (size_t)i_slot, &r));
  assert_true(r.present);
  assert_memory_equal(r.fields[0].data, "b", 1);
  XR_OK(xr_xp_batch_result(b, (size_t)i_thread, &r));
  assert_int_equal(xr_reply_count(r.list), 2);
  XR_OK(xr_xp_batch_result(b, (size_t)i_uuid, &r));
  assert_false(r.present);
  xr_xp_batch_free(b);
  /* the generic call, every row on every topology */
  xr_arg set[] = {XR_ARG_OF_TEXT("bc", 2), XR_ARG_OF_TEXT("bu", 2)};
  XR_OK(xr_xp_call(f.s, XR_XP_OP_REGISTRY_SET, set, 2, &r));
  xr_result_clear(&r);
  xr_arg uuid[] = {XR_ARG_OF_TEXT("bu", 2)};
  XR_OK(xr_xp_call(f.s, XR_XP_OP_REGISTRY_GET_CHAIN, uuid, 1, &r));
  assert_true(r.present);
  assert_memory_equal(r.fields[0].data, "bc", 2);
  xr_result_clear(&r);
  xr_arg chain[] = {XR_ARG_OF_TEXT("bc", 2)};
  XR_OK(xr_xp_call(f.s, XR_XP_OP_REGISTRY_GET_OR_CREATE, chain, 1, &r));
  assert_true(r.present);
  assert_memory_equal(r.fields[0].data, "bu", 2);
  xr_result_clear(&r);
  XR_OK(xr_xp_call(f.s, XR_XP_OP_REGISTRY_DELETE, uuid, 1, &r));
  assert_true(r.present);
  xr_result_clear(&r);
  XR_FAILS(xr_xp_call(f.s, XR_XP_OP_REGISTRY_DELETE, uuid, 2, &r), XR_EINVAL, "xp.registry_delete: 1 argument (uuid), got 2");
  const xr_op_info *row = xr_xp_op_at(XR_XP_OP_BUFFER_APPEND);
  assert_string_equal(row->name, "buffer_append");
  assert_string_equal(row->wire_name, "bufferAppend");
  assert_int_equal(row->arg_kinds[1], XR_ARG_BYTES);
  assert_null(xr_xp_op_at(XR_XP_OP_COUNT));
  fix_close(&f);
}

/* ---- the wire ------------------------------------------------------------------------------------ */

static void add(itest_lines *l, const char *line) { itest_lines_add(l, strdup(line)); }

/* SPEC 4's commands, upstream's as redis-py sends them, where crossredis sends the same:
 *   LRANGE k 0 -1 / LINDEX k i / LLEN k / EXISTS k / DEL k / GET chain:<c>
 * and where it differs on purpose:
 *   buffer_append   upstream RPUSH k slot; EXPIRE k ttl (two commands: a crash between leaves no
 *                   TTL)  -> one script whose effects are the same RPUSH and EXPIRE
 *   registry_set    upstream MULTI; SET chain:<c> u; SET uuid:<u> c; EXPIRE both; EXEC (CROSSSLOT
 *                   on a Cluster, the old reverse key left)  -> one script (GETs first, SET EX,
 *                   stale keys removed) on one server; the Cluster's steps there
 *   registry_get_chain  upstream GET uuid:<u>  -> that GET and the forward key's check
 *   registry_delete upstream GET uuid:<u>; DEL uuid:<u>; DEL chain:<c> (racy)  -> one script /
 *                   GET then two compare-and-deletes
 * The scripts show as EVAL (EVALSHA is written as EVAL) with their effects as "lua" lines. */
static void wire(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  XR_OK(xr_xp_registry_set(f.s, S("c0"), S("u0"))); /* an old mapping for the re-map below */
  tt_monitor tm;
  tt_monitor_open(&tm);
  int64_t index, len;
  bool b;
  char *v = NULL;
  size_t n;
  xr_result r;
  XR_OK(xr_xp_buffer_append(f.s, &index, S("t"), S("s")));
  XR_OK(xr_xp_buffer_get_thread(f.s, &r, S("t")));
  xr_result_clear(&r);
  XR_OK(xr_xp_buffer_get_slot(f.s, &b, &v, &n, S("t"), 0));
  xr_free(v);
  XR_OK(xr_xp_buffer_thread_len(f.s, &len, S("t")));
  XR_OK(xr_xp_buffer_thread_exists(f.s, &b, S("t")));
  XR_OK(xr_xp_buffer_delete_thread(f.s, &b, S("t")));
  XR_OK(xr_xp_registry_set(f.s, S("c0"), S("u1"))); /* re-map: the old reverse key uuid:u0 goes */
  XR_OK(xr_xp_registry_get_uuid(f.s, &b, &v, &n, S("c0")));
  xr_free(v);
  XR_OK(xr_xp_registry_get_chain(f.s, &b, &v, &n, S("u1")));
  xr_free(v);
  XR_OK(xr_xp_registry_delete(f.s, &b, S("u1")));
  itest_lines got = {0}, want = {0};
  tt_monitor_collect(&tm, 0, &got);
  for (size_t i = 0; i < got.n; i++) /* EVAL on a connection's first use, EVALSHA after: either */
    if (!strncmp(got.v[i], "client \"EVALSHA\" ", 18)) memmove(got.v[i] + 12, got.v[i] + 15, strlen(got.v[i] + 15) + 1);
  add(&want, "client \"EVAL\" \"1\" \"chat-sdk:xp:buffer:t\" \"s\" \"86400\"");
  add(&want, "lua \"RPUSH\" \"chat-sdk:xp:buffer:t\" \"s\"");
  add(&want, "lua \"EXPIRE\" \"chat-sdk:xp:buffer:t\" \"86400\"");
  add(&want, "client \"LRANGE\" \"chat-sdk:xp:buffer:t\" \"0\" \"-1\"");
  add(&want, "client \"LINDEX\" \"chat-sdk:xp:buffer:t\" \"0\"");
  add(&want, "client \"LLEN\" \"chat-sdk:xp:buffer:t\"");
  add(&want, "client \"EXISTS\" \"chat-sdk:xp:buffer:t\"");
  add(&want, "client \"DEL\" \"chat-sdk:xp:buffer:t\"");
  if (!tt_cluster()) {
    add(&want, "client \"EVAL\" \"2\" \"chat-sdk:xp:chain:c0\" \"chat-sdk:xp:uuid:u1\" \"c0\" \"u1\" \"86400\" "
               "\"chat-sdk:xp:chain:\" \"chat-sdk:xp:uuid:\"");
    add(&want, "lua \"GET\" \"chat-sdk:xp:chain:c0\"");
    add(&want, "lua \"GET\" \"chat-sdk:xp:uuid:u1\"");
    add(&want, "lua \"TYPE\" \"chat-sdk:xp:uuid:u0\"");
    add(&want, "lua \"GET\" \"chat-sdk:xp:uuid:u0\"");
    add(&want, "lua \"SET\" \"chat-sdk:xp:chain:c0\" \"u1\" \"EX\" \"86400\"");
    add(&want, "lua \"SET\" \"chat-sdk:xp:uuid:u1\" \"c0\" \"EX\" \"86400\"");
    add(&want, "lua \"DEL\" \"chat-sdk:xp:uuid:u0\"");
    add(&want, "client \"GET\" \"chat-sdk:xp:chain:c0\"");
    add(&want, "client \"EVAL\" \"1\" \"chat-sdk:xp:uuid:u1\" \"u1\" \"chat-sdk:xp:chain:\"");
    add(&want, "lua \"GET\" \"chat-sdk:xp:uuid:u1\"");
    add(&want, "lua \"TYPE\" \"chat-sdk:xp:chain:c0\"");
    add(&want, "lua \"GET\" \"chat-sdk:xp:chain:c0\"");
    add(&want, "client \"EVAL\" \"1\" \"chat-sdk:xp:uuid:u1\" \"u1\" \"chat-sdk:xp:chain:\"");
    add(&want, "lua \"GET\" \"chat-sdk:xp:uuid:u1\"");
    add(&want, "lua \"TYPE\" \"chat-sdk:xp:chain:c0\"");
    add(&want, "lua \"GET\" \"chat-sdk:xp:chain:c0\"");
    add(&want, "lua \"DEL\" \"chat-sdk:xp:chain:c0\"");
    add(&want, "lua \"DEL\" \"chat-sdk:xp:uuid:u1\"");
  } else { /* the protocol's steps, one key each */
    add(&want, "client \"GET\" \"chat-sdk:xp:uuid:u1\"");
    add(&want, "client \"SET\" \"chat-sdk:xp:chain:c0\" \"u1\" \"EX\" \"86400\" \"GET\"");
    add(&want, "client \"SET\" \"chat-sdk:xp:uuid:u1\" \"c0\" \"EX\" \"86400\" \"GET\"");
    add(&want, "client \"EVAL\" \"1\" \"chat-sdk:xp:uuid:u0\" \"c0\"");
    add(&want, "lua \"TYPE\" \"chat-sdk:xp:uuid:u0\"");
    add(&want, "lua \"GET\" \"chat-sdk:xp:uuid:u0\"");
    add(&want, "lua \"DEL\" \"chat-sdk:xp:uuid:u0\"");
    add(&want, "client \"GET\" \"chat-sdk:xp:chain:c0\"");
    add(&want, "client \"GET\" \"chat-sdk:xp:uuid:u1\"");
    add(&want, "client \"GET\" \"chat-sdk:xp:chain:c0\"");
    add(&want, "client \"GET\" \"chat-sdk:xp:uuid:u1\"");
    add(&want, "client \"EVAL\" \"1\" \"chat-sdk:xp:chain:c0\" \"u1\"");
    add(&want, "lua \"TYPE\" \"chat-sdk:xp:chain:c0\"");
    add(&want, "lua \"GET\" \"chat-sdk:xp:chain:c0\"");
    add(&want, "lua \"DEL\" \"chat-sdk:xp:chain:c0\"");
    add(&want, "client \"EVAL\" \"1\" \"chat-sdk:xp:uuid:u1\" \"c0\"");
    add(&want, "lua \"TYPE\" \"chat-sdk:xp:uuid:u1\"");
    add(&want, "lua \"GET\" \"chat-sdk:xp:uuid:u1\"");
    add(&want, "lua \"DEL\" \"chat-sdk:xp:uuid:u1\"");
  }
  itest_assert_lines(&got, &want, "xp's commands (SPEC 4, with crossredis's fixes)");
  itest_lines_free(&got);
  itest_lines_free(&want);
  tt_monitor_close(&tm);
  fix_close(&f);
}

/* ---- the defects -------------------------------------------------------------------------------- */

enum { WRITERS = 4, PER_WRITER = 200 };

typedef struct writer {
  int n;
  int64_t index[PER_WRITER];
} writer;

static void *append_many(void *arg) {
  writer *w = arg;
  fixture f;
  fix_open(&f); /* each writer its own client */
  for (int i = 0; i < PER_WRITER; i++) {
    char slot[32];
    snprintf(slot, sizeof slot, "w%d-%d", w->n, i);
    if (xr_xp_buffer_append(f.s, &w->index[i], S("shared"), slot, strlen(slot)) != 0) w->index[i] = -1;
  }
  fix_close(&f);
  return NULL;
}

/* 4 writers, 800 slots: 800 distinct indexes, each the place of its own slot (upstream's caller
 * took LLEN before RPUSH: 478 of 800 wrong). */
static void concurrent_appends_get_their_own_index(void **state) {
  (void)state;
  writer w[WRITERS];
  pthread_t th[WRITERS];
  for (int i = 0; i < WRITERS; i++) {
    w[i].n = i;
    assert_int_equal(pthread_create(&th[i], NULL, append_many, &w[i]), 0);
  }
  for (int i = 0; i < WRITERS; i++) pthread_join(th[i], NULL);
  fixture f;
  fix_open(&f);
  xr_result r;
  XR_OK(xr_xp_buffer_get_thread(f.s, &r, S("shared")));
  assert_int_equal(xr_reply_count(r.list), WRITERS * PER_WRITER);
  bool seen[WRITERS * PER_WRITER] = {false};
  for (int i = 0; i < WRITERS; i++) {
    for (int k = 0; k < PER_WRITER; k++) {
      int64_t at = w[i].index[k];
      assert_true(at >= 0 && at < WRITERS * PER_WRITER);
      assert_false(seen[at]);
      seen[at] = true;
      char slot[32];
      snprintf(slot, sizeof slot, "w%d-%d", i, k);
      size_t n;
      const char *got = xr_reply_str(xr_reply_at(r.list, (size_t)at), &n);
      assert_int_equal(n, strlen(slot));
      assert_memory_equal(got, slot, n); /* LINDEX at the index is this slot */
    }
  }
  xr_result_clear(&r);
  fix_close(&f);
}

/* A prefix "a*" is a literal: its listings, clears and info never reach the keys of "ab:"
 * (upstream's KEYS a*buffer:* matched "ab:buffer:..." too). */
static void prefix_is_a_literal(void **state) {
  (void)state;
  char pa[200], pb[200];
  snprintf(pa, sizeof pa, "%s:a*", tt.prefix);
  snprintf(pb, sizeof pb, "%s:ab:", tt.prefix); /* what "a*" would match as a pattern */
  xr_client_options o = tt_options();
  xr_client *c;
  XR_OK(xr_client_open(&c, &o));
  xr_xp_options oa = XR_XP_OPTIONS_INIT, ob = XR_XP_OPTIONS_INIT;
  oa.key_prefix = pa;
  ob.key_prefix = pb;
  xr_xp_store *a, *b;
  XR_OK(xr_xp_store_new(&a, c, &oa));
  XR_OK(xr_xp_store_new(&b, c, &ob));
  int64_t index;
  for (int i = 0; i < 20; i++) {
    char id[16];
    snprintf(id, sizeof id, "t%d", i);
    XR_OK(xr_xp_buffer_append(b, &index, id, strlen(id), S("x")));
    snprintf(id, sizeof id, "c%d", i);
    char u[16];
    snprintf(u, sizeof u, "u%d", i);
    XR_OK(xr_xp_registry_set(b, id, strlen(id), u, strlen(u)));
  }
  XR_OK(xr_xp_buffer_append(a, &index, S("mine"), S("x")));
  XR_OK(xr_xp_registry_set(a, S("my.chain"), S("my-uuid")));
  xr_xp_list *l;
  XR_OK(xr_xp_buffer_list_threads(a, &l));
  assert_int_equal(xr_xp_list_count(l), 1);
  xr_result r;
  XR_OK(xr_xp_list_id(l, 0, &r));
  assert_memory_equal(r.fields[0].data, "mine", 4);
  xr_xp_list_free(l);
  XR_OK(xr_xp_registry_list_all(a, &l));
  assert_int_equal(xr_xp_list_count(l), 1);
  xr_xp_list_free(l);
  xr_xp_info info;
  XR_OK(xr_xp_info_read(a, &info));
  assert_int_equal(info.buffer_threads, 1);
  assert_int_equal(info.registry_entries, 1);
  size_t removed;
  XR_OK(xr_xp_buffer_clear(a, &removed));
  assert_int_equal(removed, 1);
  XR_OK(xr_xp_registry_clear(a, &removed));
  assert_int_equal(removed, 2);
  XR_OK(xr_xp_info_read(b, &info)); /* the other tenant untouched */
  assert_int_equal(info.buffer_threads, 20);
  assert_int_equal(info.registry_entries, 20);
  xr_xp_store_free(a);
  xr_xp_store_free(b);
  xr_client_close(c);
}

/* Re-mapping a chain, then deleting by the old uuid, leaves the new mapping intact (upstream left
 * uuid:<old> -> chain behind, and its delete by <old> removed chain:<chain>, the new mapping's). The
 * same holds against a stale reverse key upstream itself wrote. */
static void remap_then_delete_the_old_uuid(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  bool deleted = true, found = false;
  char *v = NULL;
  size_t n = 0;
  XR_OK(xr_xp_registry_set(f.s, S("chain.a"), S("old")));
  XR_OK(xr_xp_registry_set(f.s, S("chain.a"), S("new")));
  itest_assert_get(chk, key_of(&f, "uuid", "old"), NULL); /* the old reverse key went with the re-map */
  XR_OK(xr_xp_registry_delete(f.s, &deleted, S("old")));
  assert_false(deleted);
  XR_OK(xr_xp_registry_get_uuid(f.s, &found, &v, &n, S("chain.a")));
  assert_value(found, v, n, "new");
  xr_free(v);
  XR_OK(xr_xp_registry_get_chain(f.s, &found, &v, &n, S("new")));
  assert_value(found, v, n, "chain.a");
  xr_free(v);
  /* upstream's leftover: uuid:old -> chain.a while chain.a maps to new */
  XR_OK(itest_cmd(chk, NULL, "SET", key_of(&f, "uuid", "old"), "chain.a", NULL));
  XR_OK(xr_xp_registry_get_chain(f.s, &found, &v, &n, S("old")));
  assert_false(found); /* never a reverse mapping whose chain maps elsewhere */
  XR_OK(xr_xp_registry_delete(f.s, &deleted, S("old")));
  assert_false(deleted);
  itest_assert_get(chk, key_of(&f, "chain", "chain.a"), "new");
  itest_assert_get(chk, key_of(&f, "uuid", "new"), "chain.a");
  itest_assert_get(chk, key_of(&f, "uuid", "old"), NULL); /* the stale key is gone */
  fix_close(&f);
}

typedef struct racer {
  const char *chain;
  pthread_barrier_t *go;
  char *uuid;
  bool created;
  int rc;
} racer;

static void *get_or_create(void *arg) {
  racer *r = arg;
  fixture f;
  fix_open(&f);
  pthread_barrier_wait(r->go);
  size_t n;
  r->rc = xr_xp_registry_get_or_create(f.s, &r->uuid, &n, &r->created, r->chain, strlen(r->chain));
  fix_close(&f);
  return NULL;
}

/* Two get-or-create calls for one chain at once return one uuid, and one of them made it (callers
 * of upstream get then set: both can mint). */
static void get_or_create_mints_one_uuid(void **state) {
  (void)state;
  for (int round = 0; round < 40; round++) {
    char chain[32];
    snprintf(chain, sizeof chain, "race.%d", round);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    racer r[2] = {{chain, &go, NULL, false, 0}, {chain, &go, NULL, false, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, get_or_create, &r[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    XR_OK(r[0].rc);
    XR_OK(r[1].rc);
    assert_string_equal(r[0].uuid, r[1].uuid);
    assert_int_equal(r[0].created + r[1].created, 1);
    fixture f;
    fix_open(&f);
    itest_assert_get(chk, key_of(&f, "uuid", r[0].uuid), chain);
    fix_close(&f);
    xr_free(r[0].uuid);
    xr_free(r[1].uuid);
  }
  fixture f;
  fix_open(&f);
  xr_xp_list *l;
  XR_OK(xr_xp_registry_list_all(f.s, &l));
  assert_int_equal(xr_xp_list_count(l), 40); /* one pair per chain, no orphan uuid */
  xr_xp_list_free(l);
  assert_int_equal(tt_count_keys(), 80);
  fix_close(&f);
}

/* Bad input: clear errors naming the argument, nothing sent or changed; binary ids and a 10 MiB
 * slot round trip; a key of the wrong type fails naming it and no other key is touched. */
static void bad_input(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  int64_t index;
  bool b;
  char *v = NULL;
  size_t n;
  xr_result r;
  XR_FAILS(xr_xp_buffer_append(f.s, &index, "", 0, S("x")), XR_EINVAL, "xp.buffer_append: thread_id is empty");
  XR_FAILS(xr_xp_buffer_get_thread(f.s, &r, "", 0), XR_EINVAL, "xp.buffer_get_thread: thread_id is empty");
  XR_FAILS(xr_xp_registry_set(f.s, "", 0, S("u")), XR_EINVAL, "xp.registry_set: chain is empty");
  XR_FAILS(xr_xp_registry_set(f.s, S("c"), "", 0), XR_EINVAL, "xp.registry_set: uuid is empty");
  XR_FAILS(xr_xp_registry_get_chain(f.s, &b, &v, &n, "", 0), XR_EINVAL, "xp.registry_get_chain: uuid is empty");
  XR_FAILS(xr_xp_registry_get_or_create(f.s, &v, &n, NULL, "", 0), XR_EINVAL, "xp.registry_get_or_create: chain is empty");
  XR_FAILS(xr_xp_registry_delete(f.s, &b, "", 0), XR_EINVAL, "xp.registry_delete: uuid is empty");
  XR_FAILS(xr_xp_buffer_append(f.s, &index, S("t"), "x", XR_XP_SLOT_MAX + 1), XR_EINVAL,
           "xp.buffer_append: slot is 536870913 bytes, at most 536870912");
  assert_int_equal(tt_count_keys(), 0);
  xr_xp_options bad = XR_XP_OPTIONS_INIT;
  bad.ttl_s = -2;
  xr_xp_store *s;
  XR_FAILS(xr_xp_store_new(&s, f.c, &bad), XR_EINVAL, "ttl_s must be 0 (the default, 86400), -1 (none) or 1 to");
  /* binary ids: NUL, 0xff, glob characters */
  static const char tid[] = "t\0\xff*?[", chain[] = "c\0\xfe", uuid[] = "u\0*";
  XR_OK(xr_xp_buffer_append(f.s, &index, tid, sizeof tid - 1, S("x")));
  XR_OK(xr_xp_registry_set(f.s, chain, sizeof chain - 1, uuid, sizeof uuid - 1));
  XR_OK(xr_xp_registry_get_chain(f.s, &b, &v, &n, uuid, sizeof uuid - 1));
  assert_true(b && n == sizeof chain - 1 && !memcmp(v, chain, n));
  xr_free(v);
  xr_xp_list *l;
  XR_OK(xr_xp_buffer_list_threads(f.s, &l));
  assert_int_equal(xr_xp_list_count(l), 1);
  XR_OK(xr_xp_list_id(l, 0, &r));
  assert_true(r.fields[0].len == sizeof tid - 1 && !memcmp(r.fields[0].data, tid, sizeof tid - 1));
  xr_xp_list_free(l);
  /* 10 MiB */
  size_t big = 10u << 20;
  char *slot = malloc(big);
  assert_non_null(slot);
  for (size_t i = 0; i < big; i++) slot[i] = (char)(i * 31 + (i >> 13));
  XR_OK(xr_xp_buffer_append(f.s, &index, S("big"), slot, big));
  XR_OK(xr_xp_buffer_get_slot(f.s, &b, &v, &n, S("big"), 0));
  assert_true(b);
  assert_int_equal(n, big);
  assert_memory_equal(v, slot, big);
  xr_free(v);
  free(slot);
  XR_OK(xr_xp_buffer_delete_thread(f.s, &b, S("big")));
  /* wrong types: the error names the key; nothing else is written */
  const char *kt = key_of(&f, "buffer", "str");
  XR_OK(itest_cmd(chk, NULL, "SET", kt, "plain", NULL));
  XR_FAILS(xr_xp_buffer_append(f.s, &index, S("str"), S("x")), XR_EWRONGTYPE, kt);
  assert_int_equal(itest_pttl(chk, kt), -1); /* the script stopped at RPUSH: no EXPIRE either */
  itest_assert_get(chk, kt, "plain");
  XR_FAILS(xr_xp_buffer_get_thread(f.s, &r, S("str")), XR_EWRONGTYPE, "WRONGTYPE");
  long long before = tt_count_keys();
  const char *kc = key_of(&f, "chain", "listed");
  XR_OK(itest_cmd(chk, NULL, "RPUSH", kc, "x", NULL));
  XR_FAILS(xr_xp_registry_set(f.s, S("listed"), S("u-new")), XR_EWRONGTYPE, kc);
  itest_assert_get(chk, key_of(&f, "uuid", "u-new"), NULL);
  XR_FAILS(xr_xp_registry_get_or_create(f.s, &v, &n, NULL, S("listed")), XR_EWRONGTYPE, kc);
  XR_FAILS(xr_xp_registry_get_uuid(f.s, &b, &v, &n, S("listed")), XR_EWRONGTYPE, kc);
  const char *ku = key_of(&f, "uuid", "hashed");
  XR_OK(itest_cmd(chk, NULL, "HSET", ku, "f", "v", NULL));
  XR_FAILS(xr_xp_registry_set(f.s, S("c-new"), S("hashed")), XR_EWRONGTYPE, ku);
  itest_assert_get(chk, key_of(&f, "chain", "c-new"), NULL);
  XR_FAILS(xr_xp_registry_get_chain(f.s, &b, &v, &n, S("hashed")), XR_EWRONGTYPE, ku);
  XR_FAILS(xr_xp_registry_delete(f.s, &b, S("hashed")), XR_EWRONGTYPE, ku);
  assert_int_equal(tt_count_keys(), before + 2); /* the list and the hash, nothing more */
  XR_OK(xr_xp_buffer_delete_thread(f.s, &b, tid, sizeof tid - 1)); /* tt_flush's DEL takes C strings */
  XR_OK(xr_xp_registry_delete(f.s, &b, uuid, sizeof uuid - 1));
  assert_true(b);
  fix_close(&f);
}

/* A connection killed while a pipeline of appends runs: whatever was appended has its TTL (the
 * append and its EXPIRE are one script; upstream's RPUSH could land without the EXPIRE). CLIENT
 * KILL breaks every other connection: the standalone server only. */
typedef struct killer {
  int port;
  int delay_us;
} killer;

/* After delay_us, one CLIENT KILL of every other normal connection. */
static void *kill_clients(void *arg) {
  killer *k = arg;
  xr_client *c = tt_node_client(k->port);
  usleep((useconds_t)k->delay_us);
  XR_OK(itest_cmd(c, NULL, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes", NULL));
  xr_client_close(c);
  return NULL;
}

static void appends_killed_mid_pipeline_keep_their_ttl(void **state) {
  (void)state;
  fixture f;
  fix_open(&f);
  char slot[2048];
  memset(slot, 's', sizeof slot);
  int broken = 0;
  int64_t total = 0; /* slots in the lists */
  long long took_us = 0; /* an unbroken batch's time: kills land at 5% to 95% of it */
  for (int round = 0; round < 40 && broken < 3; round++) {
    xr_xp_batch *b;
    XR_OK(xr_xp_batch_new(&b, f.s));
    for (int i = 0; i < 4000; i++) {
      char id[16];
      snprintf(id, sizeof id, "k%d", i % 64);
      assert_true(xr_xp_batch_buffer_append(b, id, strlen(id), slot, sizeof slot) >= 0);
    }
    killer k = {xrt_server_port(tt.server), (int)(took_us * (5 + 10 * (round % 10)) / 100)};
    pthread_t th;
    long long t0 = itest_now_ms();
    if (round) assert_int_equal(pthread_create(&th, NULL, kill_clients, &k), 0);
    int rc = xr_xp_batch_exec(b);
    if (!round) took_us = (itest_now_ms() - t0) * 1000 + 1000;
    else pthread_join(th, NULL);
    xr_xp_batch_free(b);
    int64_t now = 0;
    for (int i = 0; i < 64; i++) {
      char id[16];
      int64_t len = 0;
      snprintf(id, sizeof id, "k%d", i);
      int got = xr_xp_buffer_thread_len(f.s, &len, id, strlen(id));
      if (got == XR_EIO) got = xr_xp_buffer_thread_len(f.s, &len, id, strlen(id)); /* a pooled connection killed */
      XR_OK(got);
      now += len;
    }
    if (rc != 0 && now > total && now < total + 4000) broken++; /* cut in the middle: some ran */
    total = now;
  }
  assert_true(broken > 0);
  (void)itest_cmd(chk, NULL, "PING", NULL); /* the checker's connection was killed too: reopened */
  xr_xp_list *l;
  XR_OK(xr_xp_buffer_list_threads(f.s, &l));
  assert_true(xr_xp_list_count(l) > 0);
  for (size_t i = 0; i < xr_xp_list_count(l); i++) {
    xr_result r;
    XR_OK(xr_xp_list_id(l, i, &r));
    char id[32];
    snprintf(id, sizeof id, "%.*s", (int)r.fields[0].len, r.fields[0].data);
    long long pttl = itest_pttl(chk, key_of(&f, "buffer", id));
    assert_true(pttl > 0); /* never a list without its TTL */
  }
  xr_xp_list_free(l);
  fix_close(&f);
}

/* The shared topologies are never flushed: a test's keys (TTLs of a day) go when it ends, so they
 * never weigh on other suites' scans. */
static int xp_teardown(void **state) {
  (void)state;
  tt_flush();
  return 0;
}

#define XP_TEST(f) cmocka_unit_test_setup_teardown(f, tt_test_setup, xp_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      XP_TEST(buffer_operations),
      XP_TEST(registry_operations),
      XP_TEST(listings_clears_info),
      XP_TEST(batch_and_call),
      XP_TEST(wire),
      XP_TEST(concurrent_appends_get_their_own_index),
      XP_TEST(prefix_is_a_literal),
      XP_TEST(remap_then_delete_the_old_uuid),
      XP_TEST(get_or_create_mints_one_uuid),
      XP_TEST(bad_input),
  };
  const struct CMUnitTest standalone_only[] = {XP_TEST(appends_killed_mid_pipeline_keep_their_ttl)};
  return tt_run("xp", tests, sizeof tests / sizeof tests[0], standalone_only,
                sizeof standalone_only / sizeof standalone_only[0]);
}
