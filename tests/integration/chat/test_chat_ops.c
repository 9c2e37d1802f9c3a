/* The Chat SDK state's operation table (chat.def) and what is generated from it, on a standalone
 * server, the Sentinel set and the Cluster (topotest.h): the info rows the bindings read, the generic adder (argument count named, the
 * same commands as the typed adders) and the generic result accessor for every result kind. */
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
#include "crossredis/chat.h"
#include "itest.h"
#include "topotest.h"

#define S(lit) lit, sizeof(lit) - 1
#define T(lit) XR_ARG_OF_TEXT(lit, sizeof(lit) - 1)
#define I(v) XR_ARG_OF_INT(v)

static xr_client *client;
static xr_chat *chat;
#define chk tt.chk

/* Each test: a prefix of its own (topotest.h) and an adapter with it. */
static int setup(void **state) {
  tt_test_setup(state);
  xr_client_options co = tt_options();
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = tt.prefix;
  if (xr_client_open(&client, &co) || xr_chat_new(&chat, client, &o)) return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  xr_chat_free(chat);
  xr_client_close(client);
  return 0;
}

/* Every row: its code is its index, names are set, arguments within bounds and named. */
static void table_rows_are_complete(void **state) {
  (void)state;
  assert_true(XR_CHAT_OP_COUNT >= 19);
  for (int op = 0; op < XR_CHAT_OP_COUNT; op++) {
    const xr_op_info *info = xr_chat_op_at(op);
    assert_non_null(info);
    assert_int_equal(info->code, op);
    assert_true(info->name[0] && info->wire_name[0]);
    assert_true(info->nargs >= 1 && info->nargs <= XR_OP_ARGS_MAX);
    assert_non_null(xr_result_shape_of(info->result));
    for (size_t i = 0; i < info->nargs; i++) {
      assert_true(info->arg_kinds[i] == XR_ARG_TEXT || info->arg_kinds[i] == XR_ARG_BYTES ||
                  info->arg_kinds[i] == XR_ARG_INT);
      assert_non_null(info->arg_names[i]);
    }
  }
  assert_null(xr_chat_op_at(-1));
  assert_null(xr_chat_op_at(XR_CHAT_OP_COUNT));
  const xr_op_info *acq = xr_chat_op_at(XR_CHAT_OP_ACQUIRE_LOCK);
  assert_string_equal(acq->name, "acquire_lock");
  assert_string_equal(acq->wire_name, "acquireLock");
  assert_int_equal(acq->result, XR_RESULT_LOCK);
  assert_int_equal(acq->nargs, 2);
  assert_int_equal(acq->arg_kinds[0], XR_ARG_TEXT);
  assert_string_equal(acq->arg_names[1], "ttl_ms");
  assert_int_equal(acq->arg_kinds[1], XR_ARG_INT);
  const xr_op_info *ack = xr_chat_op_at(XR_CHAT_OP_ACK);
  assert_int_equal(ack->arg_kinds[1], XR_ARG_BYTES);
  const xr_result_shape *entry = xr_result_shape_of(XR_RESULT_ENTRY);
  assert_int_equal(entry->nfields, 4);
  assert_string_equal(entry->field_names[3], "raw");
  assert_null(xr_result_shape_of((xr_result_kind)99));
}

static void generic_adder_names_the_argument_count(void **state) {
  (void)state;
  xr_chat_batch *b;
  XR_OK(xr_chat_batch_new(&b, chat));
  xr_arg one[] = {T("t1")};
  XR_FAILS(xr_chat_batch_add(b, XR_CHAT_OP_ACQUIRE_LOCK, one, 1), XR_EINVAL, "chat.acquire_lock: 2 arguments (thread_id, ttl_ms), got 1");
  XR_FAILS(xr_chat_batch_add(b, XR_CHAT_OP_COUNT, one, 1), XR_EINVAL, "no operation");
  assert_int_equal(xr_chat_batch_add(b, XR_CHAT_OP_GET, NULL, 1), XR_EINVAL);
  /* a value the core refuses is refused the same way through either adder */
  xr_arg bad_ttl[] = {T("t1"), I(0)};
  XR_FAILS(xr_chat_batch_add(b, XR_CHAT_OP_ACQUIRE_LOCK, bad_ttl, 2), XR_EINVAL, "chat.acquire_lock: ttl_ms must be > 0, got 0");
  XR_FAILS(xr_chat_batch_acquire_lock(b, S("t1"), 0), XR_EINVAL, "chat.acquire_lock: ttl_ms must be > 0, got 0");
  assert_int_equal(xr_chat_batch_count(b), 0);
  xr_chat_batch_free(b);
}

/* One batch through the generic adder with an operation of every result kind; the generic
 * accessor reads each in its kind's shape. */
static void generic_results_of_every_kind(void **state) {
  (void)state;
  xr_chat_batch *b;
  XR_OK(xr_chat_batch_new(&b, chat));
  xr_arg sub[] = {T("th")};
  xr_arg is_sub[] = {T("th")};
  xr_arg acq[] = {T("th"), I(30000)};
  xr_arg set[] = {T("k"), T("{\"a\":1}"), I(0)};
  xr_arg get[] = {T("k")};
  xr_arg get_missing[] = {T("nope")};
  xr_arg app[] = {T("l"), T("\"x\""), I(0), I(0)};
  xr_arg list[] = {T("l")};
  xr_arg enq[] = {T("th"), T("{\"id\":\"m1\"}"), I(1700000000000), I(4102444800000), I(10)};
  xr_arg deq[] = {T("th")};
  xr_arg deq_empty[] = {T("th")};
  int i_sub = xr_chat_batch_add(b, XR_CHAT_OP_SUBSCRIBE, sub, 1);
  int i_is = xr_chat_batch_add(b, XR_CHAT_OP_IS_SUBSCRIBED, is_sub, 1);
  int i_acq = xr_chat_batch_add(b, XR_CHAT_OP_ACQUIRE_LOCK, acq, 2);
  int i_acq2 = xr_chat_batch_add(b, XR_CHAT_OP_ACQUIRE_LOCK, acq, 2);
  int i_set = xr_chat_batch_add(b, XR_CHAT_OP_SET, set, 3);
  int i_get = xr_chat_batch_add(b, XR_CHAT_OP_GET, get, 1);
  int i_miss = xr_chat_batch_add(b, XR_CHAT_OP_GET, get_missing, 1);
  int i_app = xr_chat_batch_add(b, XR_CHAT_OP_APPEND_TO_LIST, app, 4);
  int i_list = xr_chat_batch_add(b, XR_CHAT_OP_GET_LIST, list, 1);
  int i_enq = xr_chat_batch_add(b, XR_CHAT_OP_ENQUEUE, enq, 5);
  int i_deq = xr_chat_batch_add(b, XR_CHAT_OP_DEQUEUE, deq, 1);
  int i_deq2 = xr_chat_batch_add(b, XR_CHAT_OP_DEQUEUE, deq_empty, 1);
  assert_int_equal(i_deq2, 11);
  xr_result r;
  assert_int_equal(xr_chat_batch_result(b, 0, &r), XR_EINVAL); /* not run yet */
  assert_int_equal(xr_chat_batch_reply_size(b, (size_t)i_get), 0);
  XR_OK(xr_chat_batch_exec(b));
  /* the reply's bytes before decoding: the stored text, a list's items, nothing for nil */
  assert_int_equal(xr_chat_batch_reply_size(b, (size_t)i_get), 7);
  assert_int_equal(xr_chat_batch_reply_size(b, (size_t)i_miss), 0);
  assert_int_equal(xr_chat_batch_reply_size(b, (size_t)i_list), 3);
  assert_int_equal(xr_chat_batch_reply_size(b, 99), 0);
  assert_int_equal(xr_chat_batch_reply_size(NULL, 0), 0);

  XR_OK(xr_chat_batch_result(b, (size_t)i_sub, &r));
  assert_int_equal(r.kind, XR_RESULT_STATUS);
  XR_OK(xr_chat_batch_result(b, (size_t)i_is, &r));
  assert_int_equal(r.kind, XR_RESULT_BOOL);
  assert_true(r.present);

  XR_OK(xr_chat_batch_result(b, (size_t)i_acq, &r));
  assert_int_equal(r.kind, XR_RESULT_LOCK);
  assert_true(r.present);
  assert_int_equal(r.nfields, 2);
  assert_true(r.fields[0].len > 6 && !memcmp(r.fields[0].data, "redis_", 6));
  assert_true(r.fields[1].num > itest_wall_ms());
  char token[XR_TOKEN_MAX];
  memcpy(token, r.fields[0].data, r.fields[0].len);
  token[r.fields[0].len] = '\0';
  itest_assert_get(chk, tt_key(":lock:th"), token);
  XR_OK(xr_chat_batch_result(b, (size_t)i_acq2, &r));
  assert_false(r.present);
  assert_int_equal(r.nfields, 0);

  XR_OK(xr_chat_batch_result(b, (size_t)i_set, &r));
  XR_OK(xr_chat_batch_result(b, (size_t)i_get, &r));
  assert_int_equal(r.kind, XR_RESULT_VALUE);
  assert_true(r.present);
  assert_int_equal(r.fields[0].len, 7);
  assert_memory_equal(r.fields[0].data, "{\"a\":1}", 7);
  XR_OK(xr_chat_batch_result(b, (size_t)i_miss, &r));
  assert_false(r.present);

  XR_OK(xr_chat_batch_result(b, (size_t)i_app, &r));
  XR_OK(xr_chat_batch_result(b, (size_t)i_list, &r));
  assert_int_equal(r.kind, XR_RESULT_LIST);
  assert_int_equal(xr_reply_count(r.list), 1);

  XR_OK(xr_chat_batch_result(b, (size_t)i_enq, &r));
  assert_int_equal(r.kind, XR_RESULT_INTEGER);
  assert_int_equal(r.integer, 1);

  XR_OK(xr_chat_batch_result(b, (size_t)i_deq, &r));
  assert_int_equal(r.kind, XR_RESULT_ENTRY);
  assert_true(r.present);
  assert_int_equal(r.nfields, 4);
  assert_memory_equal(r.fields[0].data, "{\"id\":\"m1\"}", r.fields[0].len);
  assert_int_equal(r.fields[1].num, 1700000000000);
  assert_int_equal(r.fields[2].num, 4102444800000);
  assert_true(r.fields[3].len > r.fields[0].len); /* the whole entry as stored */
  xr_result_clear(&r);
  assert_null(r.owned_[0]);
  XR_OK(xr_chat_batch_result(b, (size_t)i_deq2, &r));
  assert_false(r.present);
  xr_result_clear(&r);

  /* the typed accessors still refuse another kind */
  bool yes;
  XR_FAILS(xr_chat_batch_bool(b, (size_t)i_get, &yes), XR_EINVAL, "of another kind");
  assert_int_equal(xr_chat_batch_result(b, 99, &r), XR_EINVAL);
  xr_chat_batch_free(b);
}

/* A failed operation's result names its key, as the typed accessors do. */
static void generic_result_of_a_failure_names_the_key(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "SET", tt_key(":list:wrong"), "x", NULL));
  xr_chat_batch *b;
  XR_OK(xr_chat_batch_new(&b, chat));
  xr_arg list[] = {T("wrong")};
  assert_int_equal(xr_chat_batch_add(b, XR_CHAT_OP_GET_LIST, list, 1), 0);
  XR_OK(xr_chat_batch_exec(b));
  xr_result r;
  XR_FAILS(xr_chat_batch_result(b, 0, &r), XR_EWRONGTYPE, tt_key(":list:wrong: WRONGTYPE"));
  xr_chat_batch_free(b);
}

/* xr_chat_call runs one operation by its code, as its sequential function does. */
static void call_by_code(void **state) {
  (void)state;
  xr_result r;
  xr_arg acq[] = {T("th"), I(30000)};
  XR_OK(xr_chat_call(chat, XR_CHAT_OP_ACQUIRE_LOCK, acq, 2, &r));
  assert_true(r.present);
  char token[XR_TOKEN_MAX];
  memcpy(token, r.fields[0].data, r.fields[0].len);
  token[r.fields[0].len] = '\0';
  xr_result_clear(&r);
  itest_assert_get(chk, tt_key(":lock:th"), token);
  XR_OK(xr_chat_call(chat, XR_CHAT_OP_ACQUIRE_LOCK, acq, 2, &r));
  assert_false(r.present);
  xr_result_clear(&r);

  xr_arg set[] = {T("k"), T("[1,2]"), I(0)};
  XR_OK(xr_chat_call(chat, XR_CHAT_OP_SET, set, 3, &r));
  xr_result_clear(&r);
  xr_arg get[] = {T("k")};
  XR_OK(xr_chat_call(chat, XR_CHAT_OP_GET, get, 1, &r));
  assert_true(r.present);
  assert_int_equal(r.fields[0].len, 5);
  assert_memory_equal(r.fields[0].data, "[1,2]", 5);
  xr_result_clear(&r);

  /* an entry that is not one still hands its raw bytes over, with the failure */
  XR_OK(itest_cmd(chk, NULL, "RPUSH", tt_key(":queue:bad"), "not json", NULL));
  xr_arg deq[] = {T("bad")};
  XR_FAILS(xr_chat_call(chat, XR_CHAT_OP_DEQUEUE, deq, 1, &r), XR_EPARSE, tt_key(":queue:bad"));
  assert_true(r.present);
  assert_int_equal(r.fields[3].len, 8);
  assert_memory_equal(r.fields[3].data, "not json", 8);
  xr_result_clear(&r);

  XR_FAILS(xr_chat_call(chat, XR_CHAT_OP_SET, set, 2, &r), XR_EINVAL,
           "chat.set: 3 arguments (key, json, ttl_ms), got 2");
  XR_FAILS(xr_chat_call(NULL, XR_CHAT_OP_SET, set, 3, &r), XR_EINVAL, "xr_chat_call: the state adapter is NULL");
  XR_FAILS(xr_chat_call(chat, -1, set, 3, &r), XR_EINVAL, "no operation -1");
}

/* xr_chat_op_slot: every row's slot is the slot of the key SPEC.md 1.1 gives it (the first of the
 * reliable queue's two), computed without building; on a Cluster the node it names is one of the
 * masters; no key (an empty id, an unknown row, a wrong count): -1. */
static void op_slot_is_the_key_slot(void **state) {
  (void)state;
  static const struct {
    int op;
    const char *kind; /* NULL: the subscriptions set */
  } rows[] = {
      {XR_CHAT_OP_SUBSCRIBE, NULL},          {XR_CHAT_OP_UNSUBSCRIBE, NULL},   {XR_CHAT_OP_IS_SUBSCRIBED, NULL},
      {XR_CHAT_OP_ACQUIRE_LOCK, "lock"},     {XR_CHAT_OP_RELEASE_LOCK, "lock"}, {XR_CHAT_OP_EXTEND_LOCK, "lock"},
      {XR_CHAT_OP_FORCE_RELEASE_LOCK, "lock"}, {XR_CHAT_OP_GET, "cache"},       {XR_CHAT_OP_SET, "cache"},
      {XR_CHAT_OP_SET_IF_NOT_EXISTS, "cache"}, {XR_CHAT_OP_DELETE, "cache"},    {XR_CHAT_OP_APPEND_TO_LIST, "list"},
      {XR_CHAT_OP_GET_LIST, "list"},         {XR_CHAT_OP_ENQUEUE, "queue"},    {XR_CHAT_OP_DEQUEUE, "queue"},
      {XR_CHAT_OP_QUEUE_DEPTH, "queue"},     {XR_CHAT_OP_DEQUEUE_RELIABLE, "queue"}, {XR_CHAT_OP_ACK, "queue-processing"},
      {XR_CHAT_OP_REQUEUE_PROCESSING, "queue"},
  };
  assert_int_equal(sizeof rows / sizeof rows[0], XR_CHAT_OP_COUNT);
  const char *ids[] = {"t1", "slack:C123:1700000000.000100", "{tag}x"};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    const xr_op_info *info = xr_chat_op_at(rows[i].op);
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
      xr_arg args[XR_OP_ARGS_MAX] = {XR_ARG_OF_TEXT(ids[k], strlen(ids[k]))}; /* only the id is read */
      char key[256];
      if (rows[i].kind) snprintf(key, sizeof key, "%s:%s:%s", tt.prefix, rows[i].kind, ids[k]);
      else snprintf(key, sizeof key, "%s:subscriptions", tt.prefix);
      int slot = xr_chat_op_slot(chat, rows[i].op, args, info->nargs);
      if (slot != (int)xr_key_slot(key, strlen(key))) fail_msg("%s: slot %d, the key %s has %u", info->name, slot, key,
                                                          xr_key_slot(key, strlen(key)));
      int node = xr_client_node_of_slot(client, slot);
      if (tt_cluster()) assert_true(node >= 0 && node < 3);
      else assert_int_equal(node, 0);
    }
  }
  /* on a Cluster: the slots of one master's ranges (CLUSTER SLOTS) share a number, no two masters do */
  if (tt_cluster()) {
    xr_reply *ranges;
    XR_OK(itest_cmd(chk, &ranges, "CLUSTER", "SLOTS", NULL));
    long long port_of[3] = {0, 0, 0};
    for (size_t k = 0; k < xr_reply_count(ranges); k++) {
      const xr_reply *range = xr_reply_at(ranges, k);
      long long lo = xr_reply_integer(xr_reply_at(range, 0)), hi = xr_reply_integer(xr_reply_at(range, 1));
      long long port = xr_reply_integer(xr_reply_at(xr_reply_at(range, 2), 1));
      int node = xr_client_node_of_slot(client, (int)lo);
      assert_true(node >= 0 && node < 3);
      if (port_of[node] && port_of[node] != port) fail_msg("node %d names masters :%lld and :%lld", node, port_of[node], port);
      port_of[node] = port;
      for (long long sl = lo; sl <= hi; sl++) assert_int_equal(xr_client_node_of_slot(client, (int)sl), node);
    }
    xr_reply_free(ranges);
    assert_true(port_of[0] && port_of[1] && port_of[2]);
  }
  xr_arg acq[] = {T("t1"), I(30000)};
  xr_arg none[XR_OP_ARGS_MAX] = {XR_ARG_OF_TEXT("", 0)};
  assert_int_equal(xr_chat_op_slot(chat, XR_CHAT_OP_GET, none, 1), -1);
  assert_int_equal(xr_chat_op_slot(chat, XR_CHAT_OP_GET, acq, 2), -1);
  assert_int_equal(xr_chat_op_slot(chat, -1, acq, 1), -1);
  assert_int_equal(xr_chat_op_slot(chat, XR_CHAT_OP_COUNT, acq, 1), -1);
  assert_int_equal(xr_chat_op_slot(NULL, XR_CHAT_OP_GET, acq, 1), -1);
  assert_int_equal(xr_client_node_of_slot(client, -1), -1);
  assert_int_equal(xr_client_node_of_slot(client, 16384), -1);
  assert_int_equal(xr_client_node_of_slot(NULL, 0), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(table_rows_are_complete),
      cmocka_unit_test_setup_teardown(generic_adder_names_the_argument_count, setup, teardown),
      cmocka_unit_test_setup_teardown(generic_results_of_every_kind, setup, teardown),
      cmocka_unit_test_setup_teardown(generic_result_of_a_failure_names_the_key, setup, teardown),
      cmocka_unit_test_setup_teardown(call_by_code, setup, teardown),
      cmocka_unit_test_setup_teardown(op_slot_is_the_key_slot, setup, teardown),
  };
  return tt_run("chat ops", tests, sizeof tests / sizeof tests[0], NULL, 0);
}
