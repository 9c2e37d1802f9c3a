/* crossredis driver (interop/CONTRACT.md) against a real redis-server: every operation of the
 * contract (the rows of the core's Chat table as chat.<name>, and chat.drain_queue), what it leaves in Redis (the TS node-redis adapter's wire: JS JSON text, TS queue
 * entries, crossredis-checked "redis" tokens), the TS core's queue reader with its expiry rule,
 * and errors as responses (the core's error class, BadRequest, UnknownOp) without the driver
 * stopping. Requests are written with ' for " to stay readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "itest.h"
#include "clitest.h"
#include "crossredis/ayepi.h"
#include "crossredis/xp.h"
#include "crossredis/chat.h"
#include "crossredis/session.h"
#include "crossredis/token.h"

static xrt_server *server;
static xr_client *chk;
static char url[128];

static int group_setup(void **state) { return (void)state, clitest_open_checker(&server, &chk, url, sizeof url); }

static int group_teardown(void **state) { return (void)state, itest_close_with_checker(server, chk), 0; }

/* A driver session: the requests (NULL-terminated, ' standing for ") in, the response lines
 * (after the ready line) out as a JSON array. */
typedef struct session {
  json_t *ready;
  json_t *responses;
  clitest_result r;
} session;

static char *dequote(const char *s) {
  char *d = strdup(s);
  assert_non_null(d);
  for (char *p = d; *p; p++)
    if (*p == '\'') *p = '"';
  return d;
}

/* The driver started with `args` (NULL-terminated, after "driver") answers `requests`. */
static void run_driver(session *s, const char *const *args, const char *const *requests) {
  size_t total = 1;
  for (size_t i = 0; requests[i]; i++) total += strlen(requests[i]) + 1;
  char *input = malloc(total);
  assert_non_null(input);
  size_t o = 0;
  for (size_t i = 0; requests[i]; i++) {
    char *line = dequote(requests[i]);
    o += (size_t)sprintf(input + o, "%s\n", line);
    free(line);
  }
  input[o] = '\0';
  clitest_proc p;
  clitest_start(&p, input, args);
  clitest_finish(&p, &s->r, 300);
  free(input);
  CLITEST_STATUS(&s->r, 0);
  s->ready = NULL;
  s->responses = json_array();
  size_t n = 0;
  for (char *line = s->r.out, *end; *line; line = end + 1, n++) {
    end = strchr(line, '\n');
    if (!end) fail_msg("the driver's output does not end with a newline: %s", s->r.out);
    json_error_t e;
    json_t *j = json_loadb(line, (size_t)(end - line), JSON_ALLOW_NUL, &e);
    if (!j) fail_msg("line %zu of the driver's output is not JSON (%s): %.*s", n, e.text, (int)(end - line), line);
    if (n == 0)
      s->ready = j;
    else
      json_array_append_new(s->responses, j);
  }
  assert_non_null(s->ready);
}

static void run_session(session *s, const char *prefix, const char *const *requests) {
  run_driver(s, (const char *const[]){"driver", "--impl", "c", "--url", url, "--prefix", prefix, NULL}, requests);
}

/* The driver of toolhive's session stores, each store's keys under its own prefix. */
static void run_sessions(session *s, const char *prefix, const char *data_prefix, const char *const *requests) {
  run_driver(s,
             (const char *const[]){"driver", "--system", "sessions", "--impl", "c", "--url", url, "--prefix", prefix,
                                   "--data-prefix", data_prefix, "--ttl-ms", "600000", "--data-ttl-ms", "300000", NULL},
             requests);
}

static void end_session(session *s) {
  json_decref(s->ready);
  json_decref(s->responses);
  clitest_result_free(&s->r);
}

/* Response i (0-based, in order) must carry `id` (JSON text, ' for "). */
static json_t *response(session *s, size_t i, const char *id) {
  json_t *resp = json_array_get(s->responses, i);
  if (!resp) fail_msg("no response %zu; output:\n%s\nstderr:\n%s", i, s->r.out, s->r.err);
  char *text = dequote(id);
  json_t *want = json_loads(text, JSON_DECODE_ANY, NULL);
  free(text);
  assert_non_null(want);
  if (!json_equal(json_object_get(resp, "id"), want)) {
    char *got = json_dumps(resp, JSON_COMPACT);
    fail_msg("response %zu is not for id %s: %s", i, id, got);
  }
  json_decref(want);
  return resp;
}

/* Response i is {"id", "ok": true, "result": <result>}; returns the result (borrowed). */
static json_t *ok(session *s, size_t i, const char *id) {
  json_t *resp = response(s, i, id);
  if (!json_is_true(json_object_get(resp, "ok"))) {
    char *got = json_dumps(resp, JSON_COMPACT);
    fail_msg("response %zu failed: %s", i, got);
  }
  assert_non_null(json_object_get(resp, "result"));
  return json_object_get(resp, "result");
}

/* Response i succeeded with `result` (JSON text, ' for "). */
static void ok_equal(session *s, size_t i, const char *id, const char *result) {
  json_t *got = ok(s, i, id);
  char *text = dequote(result);
  json_error_t e;
  json_t *want = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
  if (!want) fail_msg("bad expected JSON %s: %s", text, e.text);
  if (!json_equal(got, want)) {
    char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
    fail_msg("response %zu: result %s, expected %s", i, g, text);
  }
  json_decref(want);
  free(text);
}

/* Response i failed with `kind` and a message containing `part`. */
static void failed(session *s, size_t i, const char *id, const char *kind, const char *part) {
  json_t *resp = response(s, i, id);
  json_t *err = json_object_get(resp, "error");
  char *got = json_dumps(resp, JSON_COMPACT);
  if (!json_is_false(json_object_get(resp, "ok")) || !err) fail_msg("response %zu did not fail: %s", i, got);
  const char *k = json_string_value(json_object_get(err, "kind")), *m = json_string_value(json_object_get(err, "message"));
  if (!k || strcmp(k, kind) != 0) fail_msg("response %zu: kind is not %s: %s", i, kind, got);
  if (!m || !strstr(m, part)) fail_msg("response %zu: message lacks \"%s\": %s", i, part, got);
  free(got);
}

static void assert_pttl_between(const char *key, long long lo, long long hi) {
  long long t = itest_pttl(chk, key);
  if (t < lo || t > hi) fail_msg("PTTL %s = %lld, expected %lld..%lld", key, t, lo, hi);
}

/* A request without arguments for every row of a table ("{'id':<row>,'op':'<sys>.<name>','args':{}}")
 * into reqs, their lines into lines[0..]; how many. */
static size_t row_requests(const char *sys, const xr_op_info *(*op_at)(int), char (*reqs)[128], const char **lines) {
  size_t n = 0;
  const xr_op_info *info;
  for (int i = 0; (info = op_at(i)) != NULL; i++, n++) {
    snprintf(reqs[n], sizeof reqs[n], "{'id':%d,'op':'%s.%s','args':{}}", i, sys, info->name);
    lines[n] = reqs[n];
  }
  return n;
}

/* Responses 0.. to row_requests: each row is an op, refused for naming its first argument. */
static void rows_refused(session *s, const xr_op_info *(*op_at)(int)) {
  const xr_op_info *info;
  for (int i = 0; (info = op_at(i)) != NULL; i++) {
    char id[16], part[64];
    snprintf(id, sizeof id, "%d", i);
    snprintf(part, sizeof part, "args.%s ", info->arg_names[0]);
    failed(s, (size_t)i, id, "BadRequest", part);
  }
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_ready_line(void **state) {
  (void)state;
  session s;
  run_session(&s, "drv-ready", (const char *const[]){NULL});
  char *ready = json_dumps(s.ready, JSON_COMPACT);
  assert_string_equal(ready, "{\"ready\":true,\"impl\":\"c\",\"runtime\":\"C\",\"library\":\"crossredis@0.1.0\"}");
  free(ready);
  assert_int_equal(json_array_size(s.responses), 0);
  end_session(&s);
}

static void test_locks(void **state) {
  (void)state;
  session s;
  long long before = itest_wall_ms();
  run_session(&s, "drv-lock",
              (const char *const[]){
                  "{'id':1,'op':'chat.acquire_lock','args':{'thread_id':'slack:C1:1.2','ttl_ms':30000}}",
                  "{'id':2,'op':'chat.acquire_lock','args':{'thread_id':'slack:C1:1.2','ttl_ms':30000}}",
                  "{'id':3,'op':'chat.extend_lock','args':{'thread_id':'slack:C1:1.2','token':'redis_1_wrong','ttl_ms':90000}}",
                  "{'id':4,'op':'chat.release_lock','args':{'thread_id':'slack:C1:1.2','token':'redis_1_wrong'}}",
                  "{'id':5,'op':'chat.force_release_lock','args':{'thread_id':'never-held'}}",
                  NULL});
  long long after = itest_wall_ms();
  json_t *lock = ok(&s, 0, "1");
  assert_int_equal(json_object_size(lock), 2); /* LOCK: {"token", "expires_at"} */
  const char *token = json_string_value(json_object_get(lock, "token"));
  assert_non_null(token);
  xr_chat_token_info info;
  assert_int_equal(xr_chat_origin_of(&info, token, strlen(token)), XR_CHAT_ORIGIN_CROSSREDIS);
  assert_int_equal(info.shape_of, XR_CHAT_ORIGIN_TS_NODE_REDIS);
  json_int_t expires = json_integer_value(json_object_get(lock, "expires_at"));
  assert_true(expires >= before + 30000 && expires <= after + 30000);
  ok_equal(&s, 1, "2", "null");
  ok_equal(&s, 2, "3", "false");
  ok_equal(&s, 3, "4", "false"); /* BOOL: whether it released */
  ok_equal(&s, 4, "5", "null");
  itest_assert_get(chk, "drv-lock:lock:slack:C1:1.2", token); /* the wrong token changed nothing */
  assert_pttl_between("drv-lock:lock:slack:C1:1.2", 1, 30000);

  char reqs[4][256];
  snprintf(reqs[0], sizeof reqs[0],
           "{'id':1,'op':'chat.extend_lock','args':{'thread_id':'slack:C1:1.2','token':'%s','ttl_ms':90000}}", token);
  snprintf(reqs[1], sizeof reqs[1], "{'id':2,'op':'chat.release_lock','args':{'thread_id':'slack:C1:1.2','token':'%s'}}", token);
  snprintf(reqs[2], sizeof reqs[2],
           "{'id':3,'op':'chat.extend_lock','args':{'thread_id':'slack:C1:1.2','token':'%s','ttl_ms':90000}}", token);
  snprintf(reqs[3], sizeof reqs[3], "{'id':4,'op':'chat.acquire_lock','args':{'thread_id':'slack:C1:1.2','ttl_ms':5000}}");
  session t;
  run_session(&t, "drv-lock",
              (const char *const[]){reqs[0], "{'id':'ttl-check','op':'chat.queue_depth','args':{'thread_id':'x'}}", reqs[1],
                                    reqs[2], reqs[3],
                                    "{'id':5,'op':'chat.force_release_lock','args':{'thread_id':'slack:C1:1.2'}}", NULL});
  ok_equal(&t, 0, "1", "true");
  ok_equal(&t, 2, "2", "true");
  ok_equal(&t, 3, "3", "false"); /* never re-creates a released lock */
  json_t *again = ok(&t, 4, "4");
  assert_true(json_is_object(again));
  assert_string_not_equal(json_string_value(json_object_get(again, "token")), token);
  ok_equal(&t, 5, "5", "null");
  itest_assert_get(chk, "drv-lock:lock:slack:C1:1.2", NULL);
  end_session(&t);
  end_session(&s);
}

static void test_cache(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "SET", "drv-cache:cache:from-python", "{\"foo\": \"b\\u00e4r\", \"n\": 1}", NULL));
  XR_OK(itest_cmd(chk, NULL, "SET", "drv-cache:cache:not-json", "plain text", NULL));
  session s;
  run_session(&s, "drv-cache",
              (const char *const[]){
                  "{'id':1,'op':'chat.set','args':{'key':'obj','json':{'a':'b\xc3\xa4r','n':1,'f':1.5,'arr':[true,null]},'ttl_ms':0}}",
                  "{'id':2,'op':'chat.get','args':{'key':'obj'}}",
                  "{'id':3,'op':'chat.set_if_not_exists','args':{'key':'obj','json':2,'ttl_ms':0}}",
                  "{'id':4,'op':'chat.set_if_not_exists','args':{'key':'fresh','json':'x','ttl_ms':5000}}",
                  "{'id':5,'op':'chat.set','args':{'key':'gone','json':[1,2],'ttl_ms':60000}}",
                  "{'id':6,'op':'chat.delete','args':{'key':'gone'}}",
                  "{'id':7,'op':'chat.get','args':{'key':'gone'}}",
                  "{'id':8,'op':'chat.get','args':{'key':'from-python'}}",
                  "{'id':9,'op':'chat.get','args':{'key':'not-json'}}",
                  "{'id':10,'op':'chat.set','args':{'key':'nul','json':'a\\u0000b','ttl_ms':60000}}",
                  "{'id':11,'op':'chat.get','args':{'key':'nul'}}",
                  "{'id':12,'op':'chat.set','args':{'key':'str','json':'hi'}}",
                  "{'id':13,'op':'chat.get','args':{'key':'str'}}",
                  NULL});
  ok_equal(&s, 0, "1", "null");
  ok_equal(&s, 1, "2", "{'a':'b\xc3\xa4r','n':1,'f':1.5,'arr':[true,null]}");
  ok_equal(&s, 2, "3", "false");
  ok_equal(&s, 3, "4", "true");
  ok_equal(&s, 4, "5", "null");
  ok_equal(&s, 5, "6", "null");
  ok_equal(&s, 6, "7", "null");
  ok_equal(&s, 7, "8", "{'foo':'b\xc3\xa4r','n':1}");
  ok_equal(&s, 8, "9", "'plain text'");
  ok_equal(&s, 9, "10", "null");
  ok_equal(&s, 10, "11", "'a\\u0000b'");
  ok_equal(&s, 11, "12", "null");
  ok_equal(&s, 12, "13", "'hi'");
  end_session(&s);
  /* What JSON.stringify writes, byte for byte, with the TTLs asked for. */
  itest_assert_get(chk, "drv-cache:cache:obj", "{\"a\":\"b\xc3\xa4r\",\"n\":1,\"f\":1.5,\"arr\":[true,null]}");
  itest_assert_get(chk, "drv-cache:cache:fresh", "\"x\"");
  itest_assert_get(chk, "drv-cache:cache:str", "\"hi\"");
  assert_int_equal(itest_pttl(chk, "drv-cache:cache:obj"), -1);
  assert_pttl_between("drv-cache:cache:fresh", 1, 5000);
  assert_pttl_between("drv-cache:cache:nul", 1, 60000);
}

static void test_lists(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "RPUSH", "drv-list:list:bad", "[1]", "{oops", NULL));
  session s;
  run_session(&s, "drv-list",
              (const char *const[]){
                  "{'id':1,'op':'chat.append_to_list','args':{'key':'h','json':{'i':1},'max_length':2,'ttl_ms':60000}}",
                  "{'id':2,'op':'chat.append_to_list','args':{'key':'h','json':{'i':2},'max_length':2,'ttl_ms':60000}}",
                  "{'id':3,'op':'chat.append_to_list','args':{'key':'h','json':{'i':3},'max_length':2,'ttl_ms':60000}}",
                  "{'id':4,'op':'chat.get_list','args':{'key':'h'}}",
                  "{'id':5,'op':'chat.get_list','args':{'key':'missing'}}",
                  "{'id':6,'op':'chat.get_list','args':{'key':'bad'}}",
                  "{'id':7,'op':'chat.append_to_list','args':{'key':'plain','json':'v','max_length':0,'ttl_ms':0}}",
                  NULL});
  ok_equal(&s, 0, "1", "null");
  ok_equal(&s, 1, "2", "null");
  ok_equal(&s, 2, "3", "null");
  ok_equal(&s, 3, "4", "[{'i':2},{'i':3}]");
  ok_equal(&s, 4, "5", "[]");
  failed(&s, 5, "6", "DataError", "chat.get_list key=bad: element 1 is not JSON");
  ok_equal(&s, 6, "7", "null");
  end_session(&s);
  xr_reply *r = NULL;
  XR_OK(itest_cmd(chk, &r, "LRANGE", "drv-list:list:h", "0", "-1", NULL));
  assert_int_equal(xr_reply_count(r), 2);
  assert_string_equal(xr_reply_str(xr_reply_at(r, 0), NULL), "{\"i\":2}");
  assert_string_equal(xr_reply_str(xr_reply_at(r, 1), NULL), "{\"i\":3}");
  xr_reply_free(r);
  assert_pttl_between("drv-list:list:h", 1, 60000);
  assert_int_equal(itest_pttl(chk, "drv-list:list:plain"), -1);
}

static void test_subscriptions(void **state) {
  (void)state;
  session s;
  run_session(&s, "drv-sub",
              (const char *const[]){
                  "{'id':1,'op':'chat.subscribe','args':{'thread_id':'t1'}}",
                  "{'id':2,'op':'chat.is_subscribed','args':{'thread_id':'t1'}}",
                  "{'id':3,'op':'chat.is_subscribed','args':{'thread_id':'t2'}}",
                  "{'id':4,'op':'chat.subscribe','args':{'thread_id':'t2'}}",
                  "{'id':5,'op':'chat.unsubscribe','args':{'thread_id':'t1'}}",
                  "{'id':6,'op':'chat.is_subscribed','args':{'thread_id':'t1'}}",
                  NULL});
  ok_equal(&s, 0, "1", "null");
  ok_equal(&s, 1, "2", "true");
  ok_equal(&s, 2, "3", "false");
  ok_equal(&s, 3, "4", "null");
  ok_equal(&s, 4, "5", "null");
  ok_equal(&s, 5, "6", "false");
  end_session(&s);
  xr_reply *r = NULL;
  XR_OK(itest_cmd(chk, &r, "SMEMBERS", "drv-sub:subscriptions", NULL));
  assert_int_equal(xr_reply_count(r), 1);
  assert_string_equal(xr_reply_str(xr_reply_at(r, 0), NULL), "t2");
  xr_reply_free(r);
}

/* The TS core's reader: expired when now > expiresAt, delivered when now <= expiresAt. */
static void test_queue(void **state) {
  (void)state;
  session s;
  run_session(&s, "drv-q",
              (const char *const[]){
                  "{'id':1,'op':'chat.enqueue','args':{'thread_id':'t','message_json':{'_type':'chat:Message','id':'m1'},"
                  "'enqueued_at_ms':500,'expires_at_ms':1999,'max_size':10}}",
                  "{'id':2,'op':'chat.enqueue','args':{'thread_id':'t','message_json':{'_type':'chat:Message','id':'m2'},"
                  "'enqueued_at_ms':600,'expires_at_ms':2000,'max_size':10}}",
                  "{'id':3,'op':'chat.enqueue','args':{'thread_id':'t','message_json':{'_type':'chat:Message','id':'m3','text':'h\xc3\xa9'},"
                  "'enqueued_at_ms':700,'expires_at_ms':90000,'max_size':10}}",
                  "{'id':4,'op':'chat.queue_depth','args':{'thread_id':'t'}}",
                  NULL});
  ok_equal(&s, 0, "1", "1");
  ok_equal(&s, 1, "2", "2");
  ok_equal(&s, 2, "3", "3");
  ok_equal(&s, 3, "4", "3");
  end_session(&s);
  xr_reply *r = NULL;
  XR_OK(itest_cmd(chk, &r, "LRANGE", "drv-q:queue:t", "0", "0", NULL));
  assert_string_equal(xr_reply_str(xr_reply_at(r, 0), NULL),
                      "{\"message\":{\"_type\":\"chat:Message\",\"id\":\"m1\"},\"enqueuedAt\":500,\"expiresAt\":1999}");
  xr_reply_free(r);
  assert_pttl_between("drv-q:queue:t", 1, 60000); /* max(expires_at - now, 60000) */
  /* An entry the Python port wrote: the C reader takes it too. */
  XR_OK(itest_cmd(chk, NULL, "RPUSH", "drv-q:queue:t",
                  "{\"enqueued_at\": 800, \"expires_at\": 2000, \"message\": {\"_type\": \"chat:Message\", \"id\": "
                  "\"py\", \"text\": \"b\\u00e4r\"}}",
                  NULL));
  session t;
  run_session(&t, "drv-q",
              (const char *const[]){
                  "{'id':1,'op':'chat.drain_queue','args':{'thread_id':'t','now_ms':2000}}",
                  "{'id':2,'op':'chat.queue_depth','args':{'thread_id':'t'}}",
                  "{'id':3,'op':'chat.drain_queue','args':{'thread_id':'t','now_ms':2000}}",
                  /* max_size drops the oldest */
                  "{'id':4,'op':'chat.enqueue','args':{'thread_id':'s','message_json':{'id':'a'},'enqueued_at_ms':1,'expires_at_ms':5,'max_size':2}}",
                  "{'id':5,'op':'chat.enqueue','args':{'thread_id':'s','message_json':{'id':'b'},'enqueued_at_ms':1,'expires_at_ms':5,'max_size':2}}",
                  "{'id':6,'op':'chat.enqueue','args':{'thread_id':'s','message_json':{'id':'c'},'enqueued_at_ms':1,'expires_at_ms':5,'max_size':2}}",
                  "{'id':7,'op':'chat.drain_queue','args':{'thread_id':'s','now_ms':5}}",
                  NULL});
  ok_equal(&t, 0, "1",
           "{'delivered':[{'_type':'chat:Message','id':'m2'},{'_type':'chat:Message','id':'m3','text':'h\xc3\xa9'},"
           "{'_type':'chat:Message','id':'py','text':'b\xc3\xa4r'}],'expired':1}");
  ok_equal(&t, 1, "2", "0");
  ok_equal(&t, 2, "3", "{'delivered':[],'expired':0}");
  ok_equal(&t, 3, "4", "1");
  ok_equal(&t, 4, "5", "2");
  ok_equal(&t, 5, "6", "2");
  ok_equal(&t, 6, "7", "{'delivered':[{'id':'b'},{'id':'c'}],'expired':0}");
  end_session(&t);
}

/* An entry of no dialect fails the read (the TS core throws there); the driver goes on. */
static void test_queue_bad_entry(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "RPUSH", "drv-qbad:queue:t", "not an entry", NULL));
  session s;
  run_session(&s, "drv-qbad",
              (const char *const[]){"{'id':1,'op':'chat.drain_queue','args':{'thread_id':'t','now_ms':1}}",
                                    "{'id':2,'op':'chat.queue_depth','args':{'thread_id':'t'}}", NULL});
  failed(&s, 0, "1", "DataError", "drv-qbad:queue:t");
  ok_equal(&s, 1, "2", "0");
  end_session(&s);
}

static void test_errors_are_responses(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "RPUSH", "drv-err:cache:a-list", "x", NULL));
  session s;
  run_session(&s, "drv-err",
              (const char *const[]){
                  "{not json",
                  "[1,2]",
                  "",
                  "{'id':'x','op':42}",
                  "{'id':5,'op':'chat.fly','args':{}}",
                  "{'id':6,'op':'chat.acquire_lock','args':{'thread_id':'t'}}",
                  "{'id':7,'op':'chat.acquire_lock','args':{'thread_id':'t','ttl_ms':0}}",
                  "{'id':8,'op':'chat.get','args':{'key':'a-list'}}",
                  "{'id':9,'op':'chat.acquire_lock','args':{'thread_id':'','ttl_ms':100}}",
                  "{'id':{'n':[1]},'op':'chat.get','args':{'key':7}}",
                  "{'id':11,'op':'chat.release_lock','args':'nope'}",
                  "{'id':12,'op':'chat.queue_depth','args':{'thread_id':'still-here'}}",
                  NULL});
  assert_int_equal(json_array_size(s.responses), 11); /* the blank line is no request */
  failed(&s, 0, "null", "BadRequest", "request line 1 is not JSON");
  failed(&s, 1, "null", "BadRequest", "a request is a JSON object");
  failed(&s, 2, "'x'", "BadRequest", "no \"op\"");
  failed(&s, 3, "5", "UnknownOp", "unknown op \"chat.fly\"");
  failed(&s, 4, "6", "BadRequest", "args.ttl_ms is required");
  failed(&s, 5, "7", "InvalidArgumentError", "ttl_ms must be > 0");
  failed(&s, 6, "8", "WrongTypeError", "WRONGTYPE");
  failed(&s, 7, "9", "InvalidArgumentError", "empty");
  failed(&s, 8, "{'n':[1]}", "BadRequest", "args.key must be a string");
  failed(&s, 9, "11", "BadRequest", "\"args\" must be an object");
  ok_equal(&s, 10, "12", "0");
  end_session(&s);
}

/* Every row of the core's Chat table is an op, "chat.<name>", with the table's argument names: a
 * request without arguments is refused naming the row's first argument (BadRequest), never
 * UnknownOp; the contract's old names are gone. */
static void test_every_row_is_an_op(void **state) {
  (void)state;
  char reqs[XR_CHAT_OP_COUNT][128];
  const char *lines[XR_CHAT_OP_COUNT + 2];
  size_t n = row_requests("chat", xr_chat_op_at, reqs, lines);
  assert_int_equal(n, XR_CHAT_OP_COUNT);
  lines[n] = "{'id':'old','op':'lock.acquire','args':{'thread':'t','ttl_ms':5000}}";
  lines[n + 1] = NULL;
  session s;
  run_session(&s, "drv-rows", lines);
  rows_refused(&s, xr_chat_op_at);
  failed(&s, n, "'old'", "UnknownOp", "unknown op \"lock.acquire\"");
  end_session(&s);
}

/* ENTRY results ({"message", "enqueued_at", "expires_at", "raw"} or null) and BYTES arguments
 * (a string: its bytes): dequeue, the reliable dequeue and its ack, requeue. */
static void test_entries(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "RPUSH", "drv-entry:queue:bare", "{\"message\":{\"id\":\"b\"},\"expiresAt\":7}", NULL));
  session s;
  run_session(&s, "drv-entry",
              (const char *const[]){
                  "{'id':1,'op':'chat.enqueue','args':{'thread_id':'t','message_json':{'id':'m1','text':'h\xc3\xa9'},"
                  "'enqueued_at_ms':5,'expires_at_ms':90,'max_size':0}}",
                  "{'id':2,'op':'chat.enqueue','args':{'thread_id':'t','message_json':{'id':'m2'},"
                  "'enqueued_at_ms':6,'expires_at_ms':91,'max_size':0}}",
                  "{'id':3,'op':'chat.dequeue','args':{'thread_id':'t'}}",
                  "{'id':4,'op':'chat.dequeue_reliable','args':{'thread_id':'t'}}",
                  "{'id':5,'op':'chat.dequeue','args':{'thread_id':'t'}}",
                  "{'id':6,'op':'chat.ack','args':{'thread_id':'t','raw':'{\\'message\\':{\\'id\\':\\'m2\\'},"
                  "\\'enqueuedAt\\':6,\\'expiresAt\\':91}'}}",
                  "{'id':7,'op':'chat.ack','args':{'thread_id':'t','raw':'gone'}}",
                  "{'id':8,'op':'chat.requeue_processing','args':{'thread_id':'t'}}",
                  "{'id':9,'op':'chat.dequeue','args':{'thread_id':'bare'}}",
                  NULL});
  ok_equal(&s, 0, "1", "1");
  ok_equal(&s, 1, "2", "2");
  ok_equal(&s, 2, "3",
           "{'message':{'id':'m1','text':'h\xc3\xa9'},'enqueued_at':5,'expires_at':90,"
           "'raw':'{\\'message\\':{\\'id\\':\\'m1\\',\\'text\\':\\'h\xc3\xa9\\'},\\'enqueuedAt\\':5,\\'expiresAt\\':90}'}");
  ok_equal(&s, 3, "4",
           "{'message':{'id':'m2'},'enqueued_at':6,'expires_at':91,"
           "'raw':'{\\'message\\':{\\'id\\':\\'m2\\'},\\'enqueuedAt\\':6,\\'expiresAt\\':91}'}");
  ok_equal(&s, 4, "5", "null");
  ok_equal(&s, 5, "6", "true");
  ok_equal(&s, 6, "7", "false");
  ok_equal(&s, 7, "8", "0");
  ok_equal(&s, 8, "9", "{'message':{'id':'b'},'enqueued_at':null,'expires_at':7,'raw':'{\\'message\\':{\\'id\\':\\'b\\'},\\'expiresAt\\':7}'}");
  end_session(&s);
  itest_assert_get(chk, "drv-entry:queue-processing:t", NULL);
}

static void test_prefix(void **state) {
  (void)state;
  session s;
  run_session(&s, "drv-own", (const char *const[]){"{'id':1,'op':'chat.acquire_lock','args':{'thread_id':'t','ttl_ms':5000}}", NULL});
  const char *token = json_string_value(json_object_get(ok(&s, 0, "1"), "token"));
  itest_assert_get(chk, "drv-own:lock:t", token);
  end_session(&s);

  /* The core refuses a prefix it could not scan for: the driver says so instead of being ready. */
  clitest_result r;
  clitest_run(&r, NULL, "driver", "--impl", "c", "--url", url, "--prefix", "a*b", NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, out, "{\"ready\":false,\"error\":");
  CLITEST_HAS(&r, err, "crossredis: driver: ");
  clitest_result_free(&r);
}

/* ---- toolhive sessions (--system sessions) ----------------------------------------------------------- */

#define SESSION_SSE                                                                                       \
  "{'id':'s1','type':'sse','created_at':'2024-02-29T23:59:59.123456789+05:30','updated_at':'2024-03-01T10:00:00.5Z'," \
  "'data':{'a':[1,'<&>'],'n':null},'metadata':{'k':'v\xe2\x80\xa8','z':''}}"

/* Every operation of session.def through the driver, the data_* rows on the vMCP store, results in
 * the Go drivers' shapes, toolhive's errors as SessionNotFound / SessionExists with Go's text last,
 * the stores' TTL options. */
static void test_sessions(void **state) {
  (void)state;
  session s;
  run_sessions(&s, "drv-s:p:", "drv-s:d:",
               (const char *const[]){
                   "{'id':1,'op':'session.store','args':{'session_json':" SESSION_SSE "}}",
                   "{'id':2,'op':'session.load','args':{'id':'s1'}}",
                   "{'id':3,'op':'session.load','args':{'id':'none'}}",
                   "{'id':4,'op':'session.create','args':{'session_json':'{\\'id\\':\\'s1\\',\\'type\\':\\'mcp\\',"
                   "\\'created_at\\':\\'2024-01-01T00:00:00Z\\',\\'updated_at\\':\\'2024-01-01T00:00:00Z\\'}'}}",
                   "{'id':5,'op':'session.load_metadata','args':{'id':'s1'}}",
                   "{'id':6,'op':'session.create','args':{'session_json':{'id':'s2','type':'streamable',"
                   "'created_at':'0001-01-01T00:00:00Z','updated_at':'2024-01-01T00:00:00-07:00','data':{'dropped':1},"
                   "'metadata':{'vmcp.identity.binding':'alice'}}}}",
                   "{'id':7,'op':'session.load','args':{'id':'s2'}}",
                   "{'id':8,'op':'session.load_if_owner','args':{'id':'s2','owner':'bob'}}",
                   "{'id':9,'op':'session.load_if_owner','args':{'id':'s2','owner':'alice'}}",
                   "{'id':10,'op':'session.store_if_owner','args':{'session_json':{'id':'s2','type':'mcp',"
                   "'created_at':'0001-01-01T00:00:00Z','updated_at':'2024-01-01T00:00:00Z'},'owner':'bob'}}",
                   "{'id':11,'op':'session.delete_if_owner','args':{'id':'s2','owner':'bob'}}",
                   "{'id':12,'op':'session.delete_if_owner','args':{'id':'s2','owner':'alice'}}",
                   "{'id':13,'op':'session.data_create','args':{'id':'v1','data_json':{'b':'2','a':'<1>'}}}",
                   "{'id':14,'op':'session.data_create','args':{'id':'v1','data_json':'{}'}}",
                   "{'id':15,'op':'session.data_update','args':{'id':'v2','data_json':{}}}",
                   "{'id':16,'op':'session.data_load','args':{'id':'v1'}}",
                   "{'id':17,'op':'session.data_load_metadata','args':{'id':'v1'}}",
                   "{'id':18,'op':'session.delete_expired','args':{'before':'2024-01-01T00:00:00Z'}}",
                   "{'id':19,'op':'session.delete','args':{'id':'s1'}}",
                   "{'id':20,'op':'session.data_delete','args':{'id':'v1'}}",
                   "{'id':21,'op':'session.data_load','args':{'id':'v1'}}",
                   NULL});
  char *library = json_dumps(s.ready, JSON_COMPACT);
  assert_string_equal(library, "{\"ready\":true,\"impl\":\"c\",\"runtime\":\"C\",\"library\":\"crossredis@0.1.0\"}");
  free(library);
  ok_equal(&s, 0, "1", "null");
  ok_equal(&s, 1, "2", SESSION_SSE);
  failed(&s, 2, "3", "SessionNotFound", "drv-s:p:none: session not found");
  failed(&s, 3, "4", "SessionExists", "drv-s:p:s1: session already exists");
  ok_equal(&s, 4, "5", "{'k':'v\xe2\x80\xa8','z':''}");
  ok_equal(&s, 5, "6", "null");
  /* a streamable session holds no data: "data" absent, as the Go drivers answer */
  ok_equal(&s, 6, "7",
           "{'id':'s2','type':'streamable','created_at':'0001-01-01T00:00:00Z','updated_at':'2024-01-01T00:00:00-07:00',"
           "'metadata':{'vmcp.identity.binding':'alice'}}");
  failed(&s, 7, "8", "SessionNotFound", "session not found");
  ok_equal(&s, 8, "9",
           "{'id':'s2','type':'streamable','created_at':'0001-01-01T00:00:00Z','updated_at':'2024-01-01T00:00:00-07:00',"
           "'metadata':{'vmcp.identity.binding':'alice'}}");
  ok_equal(&s, 9, "10", "false");
  ok_equal(&s, 10, "11", "false");
  ok_equal(&s, 11, "12", "true");
  ok_equal(&s, 12, "13", "true");
  ok_equal(&s, 13, "14", "false");
  ok_equal(&s, 14, "15", "false");
  ok_equal(&s, 15, "16", "{'a':'<1>','b':'2'}");
  ok_equal(&s, 16, "17", "{'a':'<1>','b':'2'}");
  ok_equal(&s, 17, "18", "null");
  ok_equal(&s, 18, "19", "null");
  ok_equal(&s, 19, "20", "null");
  failed(&s, 20, "21", "SessionNotFound", "drv-s:d:v1: session not found");
  end_session(&s);
  itest_assert_get(chk, "drv-s:p:s1", NULL);
  itest_assert_get(chk, "drv-s:p:s2", NULL);
  itest_assert_get(chk, "drv-s:d:v2", NULL);

  /* The bytes are the core's (Go's), the TTLs the options' (ex, whole seconds). */
  run_sessions(&s, "drv-s:p:", "drv-s:d:",
               (const char *const[]){
                   "{'id':1,'op':'session.store','args':{'session_json':" SESSION_SSE "}}",
                   "{'id':2,'op':'session.data_create','args':{'id':'v1','data_json':{'b':'2','a':'<1>'}}}",
                   NULL});
  ok_equal(&s, 0, "1", "null");
  ok_equal(&s, 1, "2", "true");
  end_session(&s);
  itest_assert_get(chk, "drv-s:p:s1",
                   "{\"id\":\"s1\",\"type\":\"sse\",\"created_at\":\"2024-02-29T23:59:59.123456789+05:30\","
                   "\"updated_at\":\"2024-03-01T10:00:00.5Z\",\"data\":{\"a\":[1,\"\\u003c\\u0026\\u003e\"],\"n\":null},"
                   "\"metadata\":{\"k\":\"v\\u2028\",\"z\":\"\"}}");
  itest_assert_get(chk, "drv-s:d:v1", "{\"a\":\"\\u003c1\\u003e\",\"b\":\"2\"}");
  assert_pttl_between("drv-s:p:s1", 590000, 600000);
  assert_pttl_between("drv-s:d:v1", 290000, 300000);
  XR_OK(itest_cmd(chk, NULL, "DEL", "drv-s:p:s1", "drv-s:d:v1", NULL));
}

/* Bad requests and the library's own refusals are responses; every row of session.def is an op. */
static void test_sessions_errors(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "RPUSH", "drv-se:p:a-list", "x", NULL));
  char reqs[XR_SESSION_OP_COUNT][128];
  const char *lines[XR_SESSION_OP_COUNT + 8];
  size_t n = row_requests("session", xr_session_op_at, reqs, lines);
  const char *more[] = {
      "{'id':'a','op':'chat.get','args':{'key':'k'}}",
      "{'id':'b','op':'session.load','args':{'id':''}}",
      "{'id':'c','op':'session.load','args':{'id':'a-list'}}",
      "{'id':'d','op':'session.delete_expired','args':{'before':'yesterday'}}",
      "{'id':'e','op':'session.store','args':{'session_json':{'id':'x','type':'mcp','created_at':'yesterday'}}}",
      "{'id':'f','op':'session.data_create','args':{'id':'x','data_json':{'k':1}}}",
      NULL};
  memcpy(lines + n, more, sizeof more);
  session s;
  run_sessions(&s, "drv-se:p:", "drv-se:d:", lines);
  rows_refused(&s, xr_session_op_at);
  failed(&s, n, "'a'", "UnknownOp", "unknown op \"chat.get\"");
  failed(&s, n + 1, "'b'", "Error", "cannot load session with empty ID");
  failed(&s, n + 2, "'c'", "Error", "WRONGTYPE");
  failed(&s, n + 3, "'d'", "BadRequest", "args.before is not an RFC 3339 time");
  failed(&s, n + 4, "'e'", "Error", "session.store");
  failed(&s, n + 5, "'f'", "Error", "session.data_create");
  end_session(&s);
  itest_assert_get(chk, "drv-se:p:x", NULL);
  itest_assert_get(chk, "drv-se:d:x", NULL);
  XR_OK(itest_cmd(chk, NULL, "DEL", "drv-se:p:a-list", NULL));

  /* The command line: options of the other system, an unknown system or Go, a TTL, a prefix. */
  const char *bad[][12] = {
      {"driver", "--ttl-ms", "5", NULL},
      {"driver", "--system", "locks", NULL},
      {"driver", "--system", "sessions", "--go", "1.25", NULL},
      {"driver", "--system", "sessions", "--ttl-ms", "0", NULL},
      {"driver", "--system", "sessions", "--data-ttl-ms", "soon", NULL},
      {"driver", "--layout", "sharded", NULL},
      {"driver", "--system", "xp", "--layout", "tagged", NULL},
  };
  const char *why[] = {"are for --system sessions", "--system locks: chat, sessions, ayepi or xp", "--go 1.25: 1.26 or 1.27",
                       "--ttl-ms 0: a positive number", "--data-ttl-ms soon: a positive number",
                       "--layout: chat: layout must be \"upstream\", \"tagged\" or \"bridge\", got \"sharded\"",
                       "--layout is for --system chat"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    clitest_result r;
    clitest_proc p;
    clitest_start(&p, NULL, bad[i]);
    clitest_finish(&p, &r, 60);
    CLITEST_STATUS(&r, 2);
    CLITEST_HAS(&r, err, why[i]);
    clitest_result_free(&r);
  }
  clitest_result r;
  clitest_run(&r, NULL, "driver", "--system", "sessions", "--impl", "c", "--url", url, "--prefix", "no-colon", NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, out, "{\"ready\":false,\"error\":\"invalid redis configuration: key prefix must end with ':'");
  clitest_result_free(&r);
}

/* The ayepi driver: every row and composite of the contract, what it leaves in Redis (the work
 * Store's strings and TTLs, the cache entry's JSON.stringify bytes and PX), the broker's round trip,
 * errors as responses. */
static void run_ayepi(session *s, const char *const *requests) {
  run_driver(s,
             (const char *const[]){"driver", "--system", "ayepi", "--impl", "c", "--url", url, "--prefix", "drv-a:p:",
                                   "--cache-prefix", "drv-a:c:", "--channel", "drv-a:ch", NULL},
             requests);
}

#define AYEPI_ENTRY                                                                                            \
  "{'key':'K','path':'/x','method':'GET','bytes':2,'staleUntil':4102444800000,'expires':500,'storedAt':0,"   \
  "'headers':[['content-type','application/json']],'status':200,'body':'{}'}"

static void test_ayepi(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "RPUSH", "drv-a:p:a-list", "x", NULL));
  char reqs[XR_AYEPI_OP_COUNT][128];
  const char *lines[XR_AYEPI_OP_COUNT + 32];
  size_t n = row_requests("ayepi", xr_ayepi_op_at, reqs, lines);
  const char *more[] = {
      "{'id':1,'op':'ayepi.set','args':{'key':'a','value':'1'}}",
      "{'id':2,'op':'ayepi.set','args':{'key':'t','value':'{\\'x\\':1}','ttl_ms':60000}}",
      "{'id':3,'op':'ayepi.get','args':{'key':'a'}}",
      "{'id':4,'op':'ayepi.get','args':{'key':'t'}}",
      "{'id':5,'op':'ayepi.get','args':{'key':'none'}}",
      "{'id':6,'op':'ayepi.set_if_not_exists','args':{'key':'claim','value':'1','ttl_ms':60000}}",
      "{'id':7,'op':'ayepi.set_if_not_exists','args':{'key':'claim','value':'1'}}",
      "{'id':8,'op':'ayepi.increment','args':{'key':'n','by':5,'ttl_ms':60000}}",
      "{'id':9,'op':'ayepi.increment','args':{'key':'n','by':-2,'ttl_ms':null}}",
      "{'id':10,'op':'ayepi.delete','args':{'key':'a'}}",
      "{'id':11,'op':'ayepi.cache_set','args':{'key':'K','entry':" AYEPI_ENTRY ",'now_ms':4102444700000}}",
      "{'id':12,'op':'ayepi.cache_get','args':{'key':'K'}}",
      "{'id':13,'op':'ayepi.cache_invalidate','args':{'path':'/y'}}",
      "{'id':14,'op':'ayepi.cache_invalidate','args':{'path':'/x'}}",
      "{'id':15,'op':'ayepi.cache_delete','args':{'key':'K'}}",
      "{'id':16,'op':'ayepi.cache_set','args':{'key':'K2','entry':" AYEPI_ENTRY "}}",
      "{'id':17,'op':'ayepi.cache_clear'}",
      "{'id':18,'op':'ayepi.cache_get','args':{'key':'K2'}}",
      "{'id':19,'op':'ayepi.envelope','args':{'ch':'progress','data':{'pct':7}}}",
      "{'id':20,'op':'ayepi.received','args':{'count':1}}",
      "{'id':21,'op':'ayepi.subscribe'}",
      "{'id':22,'op':'ayepi.subscribe'}",
      "{'id':23,'op':'ayepi.publish','args':{'message':'one'}}",
      "{'id':24,'op':'ayepi.publish','args':{'message':'two \\u00e4'}}",
      "{'id':25,'op':'ayepi.received','args':{'count':2,'timeout_ms':5000}}",
      "{'id':26,'op':'ayepi.get','args':{'key':'a-list'}}",
      "{'id':27,'op':'ayepi.set','args':{'key':'','value':'x'}}",
      "{'id':28,'op':'ayepi.cache_set','args':{'key':'K3','entry':{'body':'{}'}}}",
      "{'id':29,'op':'ayepi.increment','args':{'key':'n','by':'one'}}",
      "{'id':30,'op':'session.load','args':{'id':'x'}}",
      "{'id':31,'op':'ayepi.cache_invalidate','args':{}}",
      NULL};
  memcpy(lines + n, more, sizeof more);
  session s;
  run_ayepi(&s, lines);
  rows_refused(&s, xr_ayepi_op_at);
  ok_equal(&s, n, "1", "null");
  ok_equal(&s, n + 1, "2", "null");
  ok_equal(&s, n + 2, "3", "'1'"); /* the string, never parsed: upstream's get returns it */
  ok_equal(&s, n + 3, "4", "'{\\'x\\':1}'");
  ok_equal(&s, n + 4, "5", "null");
  ok_equal(&s, n + 5, "6", "true");
  ok_equal(&s, n + 6, "7", "false");
  ok_equal(&s, n + 7, "8", "5");
  ok_equal(&s, n + 8, "9", "3");
  ok_equal(&s, n + 9, "10", "null");
  ok_equal(&s, n + 10, "11", "null");
  ok_equal(&s, n + 11, "12", AYEPI_ENTRY);
  ok_equal(&s, n + 12, "13", "0");
  ok_equal(&s, n + 13, "14", "1");
  ok_equal(&s, n + 14, "15", "false");
  ok_equal(&s, n + 15, "16", "null");
  ok_equal(&s, n + 16, "17", "null");
  ok_equal(&s, n + 17, "18", "null");
  ok_equal(&s, n + 18, "19", "'{\\'ch\\':\\'progress\\',\\'params\\':{},\\'data\\':{\\'pct\\':7}}'");
  failed(&s, n + 19, "20", "BadRequest", "ayepi.received before ayepi.subscribe");
  ok_equal(&s, n + 20, "21", "null");
  ok_equal(&s, n + 21, "22", "null");
  ok_equal(&s, n + 22, "23", "null");
  ok_equal(&s, n + 23, "24", "null");
  ok_equal(&s, n + 24, "25", "['one','two \xc3\xa4']");
  failed(&s, n + 25, "26", "WrongTypeError", "WRONGTYPE");
  failed(&s, n + 26, "27", "InvalidArgumentError", "ayepi.set: the key is empty");
  failed(&s, n + 27, "28", "InvalidArgumentError", "status");
  failed(&s, n + 28, "29", "BadRequest", "args.by must be an integer");
  failed(&s, n + 29, "30", "UnknownOp", "unknown op \"session.load\"");
  failed(&s, n + 30, "31", "BadRequest", "args.path must be a string");
  end_session(&s);
  itest_assert_get(chk, "drv-a:p:a", NULL);
  itest_assert_get(chk, "drv-a:p:t", "{\"x\":1}");
  assert_pttl_between("drv-a:p:t", 50000, 60000);
  assert_pttl_between("drv-a:p:claim", 50000, 60000);
  itest_assert_get(chk, "drv-a:p:n", "3");
  assert_pttl_between("drv-a:p:n", 50000, 60000); /* the second increment kept the first's expiry */
  itest_assert_get(chk, "drv-a:c:K", NULL);
  itest_assert_get(chk, "drv-a:c:K2", NULL);
  itest_assert_get(chk, "drv-a:c:K3", NULL);
  XR_OK(itest_cmd(chk, NULL, "DEL", "drv-a:p:t", "drv-a:p:claim", "drv-a:p:n", "drv-a:p:a-list", NULL));

  /* The cache entry's bytes and PX: staleUntil - now */
  run_ayepi(&s, (const char *const[]){
                    "{'id':1,'op':'ayepi.cache_set','args':{'key':'K','entry':" AYEPI_ENTRY ",'now_ms':4102444740000}}",
                    NULL});
  ok_equal(&s, 0, "1", "null");
  end_session(&s);
  itest_assert_get(chk, "drv-a:c:K",
                   "{\"body\":\"{}\",\"status\":200,\"headers\":[[\"content-type\",\"application/json\"]],\"storedAt\":0,"
                   "\"expires\":500,\"staleUntil\":4102444800000,\"bytes\":2,\"method\":\"GET\",\"path\":\"/x\",\"key\":\"K\"}");
  assert_pttl_between("drv-a:c:K", 50000, 60000);
  XR_OK(itest_cmd(chk, NULL, "DEL", "drv-a:c:K", NULL));

  /* options of the other systems are refused */
  clitest_result r;
  clitest_run(&r, NULL, "driver", "--channel", "x", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--cache-prefix and --channel are for --system ayepi");
  clitest_result_free(&r);
}

/* The xp driver: every row and composite of the contract, slots as base64 both ways (bytes that
 * are not UTF-8 too), the JSON slot codec's canonical bytes, what it leaves in Redis (keys, TTLs),
 * errors as responses. */
static void run_xp(session *s, const char *ttl, const char *const *requests) {
  run_driver(s,
             (const char *const[]){"driver", "--system", "xp", "--impl", "c", "--url", url, "--prefix", "drv-x*:",
                                   "--ttl", ttl, NULL},
             requests);
}

#define XP_FIELDS                                                                                             \
  "{'thread_id':'t','from_id':'a','to_id':'b','slot_index':3,'timestamp':'2026-01-01T00:00:00',"             \
  "'payload_type':'X','own_name':'me','is_self_call':true,'payload':{'b':1,'a':[0.5,null]}}"
/* XP_FIELDS's JSON slot (xp.h's member order, usage_instructions "" as absent), base64 */
#define XP_SLOT "eyJ4cF9zbG90IjoxLCJ0aHJlYWRfaWQiOiJ0IiwiZnJvbV9pZCI6ImEiLCJ0b19pZCI6ImIiLCJzbG90X2luZGV4IjozLCJ0aW1lc3RhbXAiOiIyMDI2LTAxLTAxVDAwOjAwOjAwIiwicGF5bG9hZF90eXBlIjoiWCIsIm93bl9uYW1lIjoibWUiLCJpc19zZWxmX2NhbGwiOnRydWUsInVzYWdlX2luc3RydWN0aW9ucyI6IiIsInBheWxvYWQiOnsiYiI6MSwiYSI6WzAuNSxudWxsXX19"

static void test_xp(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "SET", "drv-x*:buffer:str", "x", NULL));
  XR_OK(itest_cmd(chk, NULL, "SET", "drv-xy:buffer:other", "x", NULL)); /* another tenant: the glob escaped */
  char reqs[XR_XP_OP_COUNT][128];
  const char *lines[XR_XP_OP_COUNT + 32];
  size_t n = row_requests("xp", xr_xp_op_at, reqs, lines);
  const char *more[] = {
      "{'id':1,'op':'xp.buffer_append','args':{'thread_id':'t1','slot':'gAT/'}}",
      "{'id':2,'op':'xp.buffer_append','args':{'thread_id':'t1','slot':'" XP_SLOT "'}}",
      "{'id':3,'op':'xp.buffer_get_thread','args':{'thread_id':'t1'}}",
      "{'id':4,'op':'xp.buffer_get_slot','args':{'thread_id':'t1','index':-2}}",
      "{'id':5,'op':'xp.buffer_get_slot','args':{'thread_id':'t1','index':7}}",
      "{'id':6,'op':'xp.buffer_thread_len','args':{'thread_id':'t1'}}",
      "{'id':7,'op':'xp.buffer_thread_exists','args':{'thread_id':'t2'}}",
      "{'id':8,'op':'xp.buffer_append','args':{'thread_id':'t2','slot':''}}",
      "{'id':9,'op':'xp.buffer_list_threads'}",
      "{'id':10,'op':'xp.buffer_delete_thread','args':{'thread_id':'t2'}}",
      "{'id':11,'op':'xp.registry_set','args':{'chain':'system.o.console','uuid':'u-1'}}",
      "{'id':12,'op':'xp.registry_get_uuid','args':{'chain':'system.o.console'}}",
      "{'id':13,'op':'xp.registry_get_chain','args':{'uuid':'u-1'}}",
      "{'id':14,'op':'xp.registry_get_or_create','args':{'chain':'system.o.console'}}",
      "{'id':15,'op':'xp.registry_list_all'}",
      "{'id':16,'op':'xp.info'}",
      "{'id':17,'op':'xp.slot_json','args':{'fields':" XP_FIELDS "}}",
      "{'id':18,'op':'xp.slot_read','args':{'slot':'" XP_SLOT "'}}",
      "{'id':19,'op':'xp.slot_read','args':{'slot':'gAT/'}}",
      "{'id':20,'op':'xp.slot_pickle','args':{'fields':" XP_FIELDS "}}",
      "{'id':21,'op':'xp.buffer_append','args':{'thread_id':'t1','slot':'not base64'}}",
      "{'id':22,'op':'xp.buffer_append','args':{'thread_id':'','slot':'AA=='}}",
      "{'id':23,'op':'xp.buffer_append','args':{'thread_id':'str','slot':'AA=='}}",
      "{'id':24,'op':'xp.slot_json','args':{'fields':{'thread_id':'t','nope':1}}}",
      "{'id':25,'op':'xp.registry_delete','args':{'uuid':'u-1'}}",
      "{'id':26,'op':'xp.registry_get_chain','args':{'uuid':'u-1'}}",
      "{'id':27,'op':'xp.registry_clear'}",
      "{'id':28,'op':'xp.buffer_clear'}",
      "{'id':29,'op':'xp.info'}",
      NULL};
  memcpy(lines + n, more, sizeof more);
  session s;
  run_xp(&s, "60", lines);
  rows_refused(&s, xr_xp_op_at);
  ok_equal(&s, n, "1", "0");
  ok_equal(&s, n + 1, "2", "1");
  ok_equal(&s, n + 2, "3", "['gAT/','" XP_SLOT "']");
  ok_equal(&s, n + 3, "4", "'gAT/'");
  ok_equal(&s, n + 4, "5", "null");
  ok_equal(&s, n + 5, "6", "2");
  ok_equal(&s, n + 6, "7", "false");
  ok_equal(&s, n + 7, "8", "0");
  ok_equal(&s, n + 8, "9", "['str','t1','t2']"); /* ids, not keys, sorted; not drv-xy:'s (the glob escaped) */
  ok_equal(&s, n + 9, "10", "true");
  ok_equal(&s, n + 10, "11", "null");
  ok_equal(&s, n + 11, "12", "'u-1'");
  ok_equal(&s, n + 12, "13", "'system.o.console'");
  ok_equal(&s, n + 13, "14", "'u-1'");
  ok_equal(&s, n + 14, "15", "{'u-1':'system.o.console'}");
  ok_equal(&s, n + 15, "16", "{'buffer_threads':2,'registry_entries':1,'ttl_seconds':60}"); /* t1 and str, by name */
  ok_equal(&s, n + 16, "17", "'" XP_SLOT "'");
  ok_equal(&s, n + 17, "18",
           "{'thread_id':'t','from_id':'a','to_id':'b','slot_index':3,'timestamp':'2026-01-01T00:00:00',"
           "'payload_type':'X','own_name':'me','is_self_call':true,'usage_instructions':'','payload':{'b':1,'a':[0.5,null]}}");
  failed(&s, n + 18, "19", "InvalidArgumentError", "");
  failed(&s, n + 19, "20", "Unsupported", "C reads and writes JSON slots");
  failed(&s, n + 20, "21", "BadRequest", "args.slot must be base64");
  failed(&s, n + 21, "22", "InvalidArgumentError", "thread_id");
  failed(&s, n + 22, "23", "WrongTypeError", "drv-x*:buffer:str");
  failed(&s, n + 23, "24", "BadRequest", "args.fields.nope is not a slot field");
  ok_equal(&s, n + 24, "25", "true");
  ok_equal(&s, n + 25, "26", "null");
  ok_equal(&s, n + 26, "27", "null");
  ok_equal(&s, n + 27, "28", "null");
  ok_equal(&s, n + 28, "29", "{'buffer_threads':0,'registry_entries':0,'ttl_seconds':60}");
  end_session(&s);
  itest_assert_get(chk, "drv-xy:buffer:other", "x");
  XR_OK(itest_cmd(chk, NULL, "DEL", "drv-xy:buffer:other", NULL));

  /* the TTL on every key written, and --ttl 0: none */
  run_xp(&s, "60", (const char *const[]){"{'id':1,'op':'xp.buffer_append','args':{'thread_id':'t','slot':'AA=='}}",
                                         "{'id':2,'op':'xp.registry_set','args':{'chain':'c','uuid':'u'}}", NULL});
  ok_equal(&s, 0, "1", "0");
  ok_equal(&s, 1, "2", "null");
  end_session(&s);
  assert_pttl_between("drv-x*:buffer:t", 50000, 60000);
  assert_pttl_between("drv-x*:chain:c", 50000, 60000);
  assert_pttl_between("drv-x*:uuid:u", 50000, 60000);
  itest_assert_get(chk, "drv-x*:chain:c", "u");
  itest_assert_get(chk, "drv-x*:uuid:u", "c");
  run_xp(&s, "0", (const char *const[]){"{'id':1,'op':'xp.buffer_append','args':{'thread_id':'n','slot':'AA=='}}",
                                        "{'id':2,'op':'xp.info'}", NULL});
  ok_equal(&s, 0, "1", "0");
  ok_equal(&s, 1, "2", "{'buffer_threads':2,'registry_entries':1,'ttl_seconds':0}"); /* t, n */
  end_session(&s);
  assert_pttl_between("drv-x*:buffer:n", -1, -1);
  XR_OK(itest_cmd(chk, NULL, "DEL", "drv-x*:buffer:t", "drv-x*:buffer:n", "drv-x*:buffer:str", "drv-x*:chain:c",
                  "drv-x*:uuid:u", NULL));

  clitest_result r;
  clitest_run(&r, NULL, "driver", "--ttl", "5", NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--ttl is for --system xp");
  clitest_result_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ready_line),
      cmocka_unit_test(test_locks),
      cmocka_unit_test(test_cache),
      cmocka_unit_test(test_lists),
      cmocka_unit_test(test_subscriptions),
      cmocka_unit_test(test_queue),
      cmocka_unit_test(test_queue_bad_entry),
      cmocka_unit_test(test_errors_are_responses),
      cmocka_unit_test(test_every_row_is_an_op),
      cmocka_unit_test(test_entries),
      cmocka_unit_test(test_prefix),
      cmocka_unit_test(test_sessions),
      cmocka_unit_test(test_sessions_errors),
      cmocka_unit_test(test_ayepi),
      cmocka_unit_test(test_xp),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
