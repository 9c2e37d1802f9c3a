/* The client against a real redis-server: opening by options and URL (TCP and unix socket),
 * binary-safe values, reply accessors, error replies, scripts, batches, db selection, commands the
 * pool refuses, and shutdown waking the calls that wait. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"

static xrt_server *server;

static int group_setup(void **state) {
  (void)state;
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.unix_socket = 1;
  return itest_start(&server, &o);
}

static int group_teardown(void **state) {
  (void)state;
  xrt_server_free(server);
  return 0;
}

static xr_client *open_plain(void) {
  xr_client_options o = itest_options(server);
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  return c;
}

/* Each test starts from an empty server. */
static int flush_all(void **state) {
  (void)state;
  xr_client *c = open_plain();
  XR_OK(itest_cmd(c, NULL, "FLUSHALL", NULL));
  XR_OK(itest_cmd(c, NULL, "SCRIPT", "FLUSH", NULL));
  xr_client_close(c);
  return 0;
}

/* INFO field `name` of section `section` as a number; -1 when absent. */
static long long info_field(xr_client *c, const char *section, const char *name) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, "INFO", section, NULL));
  const char *text = xr_reply_str(r, NULL);
  assert_non_null(text);
  char key[128];
  snprintf(key, sizeof key, "\n%s", name);
  const char *p = strstr(text, key);
  long long v = p ? strtoll(p + strlen(key), NULL, 10) : -1;
  xr_reply_free(r);
  return v;
}

/* ---- opening --------------------------------------------------------------------------------- */

static void test_open_by_options(void **state) {
  (void)state;
  xr_client *c = open_plain();
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", xrt_server_port(server));
  assert_string_equal(xr_client_address(c), addr);
  XR_OK(xr_client_ping(c));
  XR_OK(itest_cmd(c, NULL, "SET", "open:options", "yes", NULL));
  itest_assert_get(c, "open:options", "yes");
  xr_client_close(c);
}

static void test_open_by_url(void **state) {
  (void)state;
  xr_client *c = NULL;
  XR_OK(xr_client_open_url(&c, xrt_server_url(server), NULL));
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", xrt_server_port(server));
  assert_string_equal(xr_client_address(c), addr);
  XR_OK(itest_cmd(c, NULL, "SET", "open:url", "tcp", NULL));
  xr_client_close(c);

  /* the same server through its unix socket: unix:///path */
  const char *url = xrt_server_unix_url(server);
  assert_memory_equal(url, "unix:///", 8);
  XR_OK(xr_client_open_url(&c, url, NULL));
  assert_string_equal(xr_client_address(c), xrt_server_unix_path(server));
  itest_assert_get(c, "open:url", "tcp");
  /* and the connection really is the unix socket: the server sees no TCP peer */
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, "CLIENT", "INFO", NULL));
  const char *info = xr_reply_str(r, NULL);
  assert_non_null(info);
  char want[300];
  snprintf(want, sizeof want, "laddr=%s", xrt_server_unix_path(server));
  if (!strstr(info, want)) fail_msg("CLIENT INFO over the unix socket: %s", info);
  xr_reply_free(r);
  xr_client_close(c);

  /* unix_path in options */
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.unix_path = xrt_server_unix_path(server);
  XR_OK(xr_client_open(&c, &o));
  itest_assert_get(c, "open:url", "tcp");
  xr_client_close(c);
}

static void test_client_name(void **state) {
  (void)state;
  xr_client *c = NULL;
  char url[128];
  snprintf(url, sizeof url, "%s?client_name=itest-name&pool_size=2&timeout_ms=2000", xrt_server_url(server));
  XR_OK(xr_client_open_url(&c, url, NULL));
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, "CLIENT", "GETNAME", NULL));
  assert_string_equal(xr_reply_str(r, NULL), "itest-name");
  xr_reply_free(r);
  xr_client_close(c);
}

/* ---- values and replies ---------------------------------------------------------------------- */

static void test_binary_safe_values(void **state) {
  (void)state;
  xr_client *c = open_plain();
  static const char key[] = "bin\0key";
  static const char small[] = "a\0b\r\n\0\xff\x01 end";
  const char *set[3] = {"SET", key, small};
  size_t setlen[3] = {3, sizeof key - 1, sizeof small - 1};
  XR_OK(xr_client_command(c, NULL, 3, set, setlen));
  const char *get[2] = {"GET", key};
  size_t getlen[2] = {3, sizeof key - 1};
  xr_reply *r = NULL;
  XR_OK(xr_client_command(c, &r, 2, get, getlen));
  size_t len = 0;
  const char *v = xr_reply_str(r, &len);
  assert_int_equal(len, sizeof small - 1);
  assert_memory_equal(v, small, sizeof small - 1);
  xr_reply_free(r);
  /* "bin" alone is another key */
  itest_assert_get(c, "bin", NULL);

  /* 1 MiB of every byte value */
  size_t big_len = 1024 * 1024;
  char *big = malloc(big_len);
  assert_non_null(big);
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < big_len; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    big[i] = (char)(x & 0xff);
  }
  big[0] = '\0';
  big[big_len - 1] = '\0';
  const char *bset[3] = {"SET", "big", big};
  size_t bsetlen[3] = {3, 3, big_len};
  XR_OK(xr_client_command(c, NULL, 3, bset, bsetlen));
  XR_OK(itest_cmd(c, &r, "GET", "big", NULL));
  v = xr_reply_str(r, &len);
  assert_int_equal(xr_reply_kind(r), XR_REPLY_STRING);
  assert_int_equal(len, big_len);
  assert_memory_equal(v, big, big_len);
  xr_reply_free(r);
  XR_OK(itest_cmd(c, &r, "STRLEN", "big", NULL));
  assert_int_equal(xr_reply_integer(r), (long long)big_len);
  xr_reply_free(r);
  free(big);
  xr_client_close(c);
}

static void test_reply_accessors(void **state) {
  (void)state;
  xr_client *c = open_plain();
  xr_reply *r = NULL;
  size_t len = 99;

  XR_OK(itest_cmd(c, &r, "SET", "acc:s", "hello", NULL));
  assert_int_equal(xr_reply_kind(r), XR_REPLY_STATUS);
  assert_string_equal(xr_reply_str(r, &len), "OK");
  assert_int_equal(len, 2);
  xr_reply_free(r);

  XR_OK(itest_cmd(c, &r, "GET", "acc:s", NULL));
  assert_int_equal(xr_reply_kind(r), XR_REPLY_STRING);
  assert_string_equal(xr_reply_str(r, &len), "hello");
  assert_int_equal(len, 5);
  assert_int_equal(xr_reply_integer(r), 0);
  assert_int_equal(xr_reply_count(r), 0);
  assert_null(xr_reply_at(r, 0));
  xr_reply_free(r);

  XR_OK(itest_cmd(c, &r, "GET", "acc:missing", NULL));
  assert_int_equal(xr_reply_kind(r), XR_REPLY_NIL);
  assert_null(xr_reply_str(r, NULL));
  xr_reply_free(r);

  XR_OK(itest_cmd(c, &r, "INCRBY", "acc:n", "-42", NULL));
  assert_int_equal(xr_reply_kind(r), XR_REPLY_INTEGER);
  assert_int_equal(xr_reply_integer(r), -42);
  assert_null(xr_reply_str(r, NULL));
  xr_reply_free(r);
  XR_OK(itest_cmd(c, &r, "INCRBY", "acc:n", "9000000000000", NULL));
  assert_int_equal(xr_reply_integer(r), 9000000000000LL - 42);
  xr_reply_free(r);

  XR_OK(itest_cmd(c, NULL, "RPUSH", "acc:l", "a", "", "c", NULL));
  XR_OK(itest_cmd(c, &r, "LRANGE", "acc:l", "0", "-1", NULL));
  assert_int_equal(xr_reply_kind(r), XR_REPLY_ARRAY);
  assert_int_equal(xr_reply_count(r), 3);
  assert_string_equal(xr_reply_str(xr_reply_at(r, 0), NULL), "a");
  assert_string_equal(xr_reply_str(xr_reply_at(r, 1), &len), "");
  assert_int_equal(len, 0);
  assert_string_equal(xr_reply_str(xr_reply_at(r, 2), NULL), "c");
  assert_null(xr_reply_at(r, 3));
  xr_reply_free(r);

  /* nested arrays and nil inside an array */
  XR_OK(itest_cmd(c, &r, "MGET", "acc:s", "acc:missing", NULL));
  assert_int_equal(xr_reply_count(r), 2);
  assert_int_equal(xr_reply_kind(xr_reply_at(r, 0)), XR_REPLY_STRING);
  assert_int_equal(xr_reply_kind(xr_reply_at(r, 1)), XR_REPLY_NIL);
  xr_reply_free(r);

  XR_OK(itest_cmd(c, &r, "LRANGE", "acc:none", "0", "-1", NULL));
  assert_int_equal(xr_reply_kind(r), XR_REPLY_ARRAY);
  assert_int_equal(xr_reply_count(r), 0);
  xr_reply_free(r);

  /* out may be NULL: the reply is dropped */
  XR_OK(itest_cmd(c, NULL, "PING", NULL));
  xr_reply_free(NULL);
  xr_client_close(c);
}

static void test_error_replies(void **state) {
  (void)state;
  xr_client *c = open_plain();
  xr_reply *r = (xr_reply *)&r; /* must be reset to NULL on failure */
  XR_FAILS(itest_cmd(c, &r, "NOSUCHCOMMAND", "x", NULL), XR_ESERVER, "unknown command");
  assert_null(r);
  assert_int_equal(xr_error_last()->code, XR_ESERVER);
  assert_non_null(strstr(xr_error_last()->message, "NOSUCHCOMMAND"));

  XR_OK(itest_cmd(c, NULL, "SET", "err:s", "text", NULL));
  r = (xr_reply *)&r;
  XR_FAILS(itest_cmd(c, &r, "LPUSH", "err:s", "x", NULL), XR_EWRONGTYPE, "WRONGTYPE");
  assert_null(r);
  assert_non_null(strstr(xr_error_last()->message, "wrong kind of value"));
  XR_FAILS(itest_cmd(c, NULL, "INCR", "err:s", NULL), XR_ESERVER, "not an integer");
  XR_FAILS(itest_cmd(c, NULL, "GET", NULL), XR_ESERVER, "wrong number of arguments");

  /* the connection is still good after error replies */
  itest_assert_get(c, "err:s", "text");
  /* bad calls are refused before anything is sent */
  XR_FAILS(xr_client_command(c, NULL, 0, NULL, NULL), XR_EINVAL, NULL);
  xr_client_close(c);
}

/* ---- scripts --------------------------------------------------------------------------------- */

static const char incr_script[] =
    "local n = redis.call('INCRBY', KEYS[1], ARGV[1])\nreturn {n, ARGV[2]}";

static void test_script_sha1_matches_server(void **state) {
  (void)state;
  xr_client *c = open_plain();
  xr_script *s = NULL;
  XR_OK(xr_script_new(&s, incr_script, sizeof incr_script - 1));
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, "SCRIPT", "LOAD", incr_script, NULL));
  assert_string_equal(xr_script_sha1(s), xr_reply_str(r, NULL));
  assert_int_equal(strlen(xr_script_sha1(s)), 40);
  xr_reply_free(r);
  /* a known digest: the empty-ish script "return 1" */
  xr_script *one = NULL;
  XR_OK(xr_script_new(&one, "return 1", 8));
  XR_OK(itest_cmd(c, &r, "SCRIPT", "LOAD", "return 1", NULL));
  assert_string_equal(xr_script_sha1(one), xr_reply_str(r, NULL));
  assert_string_equal(xr_script_sha1(one), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  xr_reply_free(r);
  xr_script_free(one);
  xr_script_free(s);
  xr_client_close(c);
}

static void run_incr(xr_client *c, const xr_script *s, const char *by, long long expect) {
  const char *argv[3] = {"scr:n", by, "tag"};
  xr_reply *r = NULL;
  XR_OK(xr_client_eval(c, &r, s, 1, 3, argv, NULL));
  assert_int_equal(xr_reply_kind(r), XR_REPLY_ARRAY);
  assert_int_equal(xr_reply_count(r), 2);
  assert_int_equal(xr_reply_integer(xr_reply_at(r, 0)), expect);
  assert_string_equal(xr_reply_str(xr_reply_at(r, 1), NULL), "tag");
  xr_reply_free(r);
}

static void test_script_evalsha_and_fallback(void **state) {
  (void)state;
  xr_client *c = open_plain();
  xr_script *s = NULL;
  XR_OK(xr_script_new(&s, incr_script, sizeof incr_script - 1));
  XR_OK(itest_cmd(c, NULL, "CONFIG", "RESETSTAT", NULL));
  run_incr(c, s, "1", 1);
  run_incr(c, s, "1", 2);
  run_incr(c, s, "1", 3);
  /* once the server knows the script, it goes by digest */
  assert_true(info_field(c, "commandstats", "cmdstat_evalsha:calls=") >= 2);

  /* the server forgets it: the next run falls back to the body and runs exactly once */
  XR_OK(itest_cmd(c, NULL, "SCRIPT", "FLUSH", NULL));
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, "SCRIPT", "EXISTS", xr_script_sha1(s), NULL));
  assert_int_equal(xr_reply_integer(xr_reply_at(r, 0)), 0);
  xr_reply_free(r);
  run_incr(c, s, "10", 13);
  itest_assert_get(c, "scr:n", "13");
  XR_OK(itest_cmd(c, &r, "SCRIPT", "EXISTS", xr_script_sha1(s), NULL));
  assert_int_equal(xr_reply_integer(xr_reply_at(r, 0)), 1);
  xr_reply_free(r);
  run_incr(c, s, "1", 14);

  /* many keys and arguments, some binary */
  static const char count_body[] = "return {#KEYS, #ARGV, ARGV[#ARGV]}";
  xr_script *count = NULL;
  XR_OK(xr_script_new(&count, count_body, sizeof count_body - 1));
  const char *many[40];
  size_t many_len[40];
  char bufs[40][16];
  for (int i = 0; i < 40; i++) {
    snprintf(bufs[i], sizeof bufs[i], "a%d", i);
    many[i] = bufs[i];
    many_len[i] = strlen(bufs[i]);
  }
  bufs[39][0] = '\0'; /* "\0" "39" */
  XR_OK(xr_client_eval(c, &r, count, 15, 40, many, many_len));
  assert_int_equal(xr_reply_integer(xr_reply_at(r, 0)), 15);
  assert_int_equal(xr_reply_integer(xr_reply_at(r, 1)), 25);
  size_t last_len = 0;
  const char *last = xr_reply_str(xr_reply_at(r, 2), &last_len);
  assert_int_equal(last_len, 3);
  assert_memory_equal(last, "\0" "39", 3);
  xr_reply_free(r);
  xr_script_free(count);

  /* a script error is an error reply with the server's text */
  xr_script *bad = NULL;
  static const char bad_body[] = "return redis.call('LPUSH', KEYS[1], 'x')";
  XR_OK(xr_script_new(&bad, bad_body, sizeof bad_body - 1));
  const char *k[1] = {"scr:n"};
  XR_FAILS(xr_client_eval(c, &r, bad, 1, 1, k, NULL), XR_EWRONGTYPE, "WRONGTYPE");
  assert_null(r);
  xr_script_free(bad);
  xr_script_free(s);
  xr_client_close(c);
}

/* ---- batches --------------------------------------------------------------------------------- */

#define BATCH_OPS 1000
#define BATCH_BAD 500

static void test_batch_1000_ops_with_error_in_middle(void **state) {
  (void)state;
  xr_client *c = open_plain();
  XR_OK(itest_cmd(c, NULL, "SET", "b:string", "not a list", NULL));
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  char keys[BATCH_OPS][24], vals[BATCH_OPS][24];
  for (int i = 0; i < BATCH_OPS; i++) {
    snprintf(keys[i], sizeof keys[i], "b:k%d", i / 2);
    snprintf(vals[i], sizeof vals[i], "v%d", i / 2);
    int idx;
    if (i == BATCH_BAD) {
      const char *argv[3] = {"LPUSH", "b:string", "x"};
      idx = xr_batch_add(b, 3, argv, NULL);
    } else if (i % 2 == 0) {
      const char *argv[3] = {"SET", keys[i], vals[i]};
      idx = xr_batch_add(b, 3, argv, NULL);
    } else {
      const char *argv[2] = {"GET", keys[i]};
      idx = xr_batch_add(b, 2, argv, NULL);
    }
    assert_int_equal(idx, i);
  }
  assert_int_equal(xr_batch_count(b), BATCH_OPS);
  const xr_reply *r = NULL;
  const char *msg = NULL;
  XR_FAILS(xr_batch_result(b, 0, &r, &msg), XR_EINVAL, NULL); /* not run yet */

  XR_OK(xr_client_exec(c, b));
  for (int i = 0; i < BATCH_OPS; i++) {
    int rc = xr_batch_result(b, (size_t)i, &r, &msg);
    if (i == BATCH_BAD) {
      assert_int_equal(rc, XR_EWRONGTYPE);
      assert_null(r);
      assert_non_null(msg);
      assert_non_null(strstr(msg, "WRONGTYPE"));
    } else if (i == BATCH_BAD + 1) {
      /* the SET before it was replaced by the error op, so this GET finds nothing */
      assert_int_equal(rc, 0);
      assert_int_equal(xr_reply_kind(r), XR_REPLY_NIL);
    } else if (i % 2 == 0) {
      if (rc != 0) fail_msg("op %d: %s", i, msg);
      assert_int_equal(xr_reply_kind(r), XR_REPLY_STATUS);
      assert_string_equal(xr_reply_str(r, NULL), "OK");
    } else {
      if (rc != 0) fail_msg("op %d: %s", i, msg);
      assert_int_equal(xr_reply_kind(r), XR_REPLY_STRING);
      assert_string_equal(xr_reply_str(r, NULL), vals[i]);
    }
  }
  XR_FAILS(xr_batch_result(b, BATCH_OPS, &r, &msg), XR_EINVAL, NULL);

  /* cleared and reused; scripts in a batch, also after the server forgot them */
  xr_batch_clear(b);
  assert_int_equal(xr_batch_count(b), 0);
  xr_script *s = NULL;
  XR_OK(xr_script_new(&s, incr_script, sizeof incr_script - 1));
  const char *warm[3] = {"b:warm", "1", "t"};
  xr_reply *wr = NULL;
  XR_OK(xr_client_eval(c, &wr, s, 1, 3, warm, NULL)); /* the server knows it now... */
  xr_reply_free(wr);
  XR_OK(itest_cmd(c, NULL, "SCRIPT", "FLUSH", NULL)); /* ...and forgets it */
  const char *eargs[3] = {"b:n", "5", "t"};
  const char *incr[2] = {"INCR", "b:n"};
  assert_int_equal(xr_batch_add_eval(b, s, 1, 3, eargs, NULL), 0);
  assert_int_equal(xr_batch_add(b, 2, incr, NULL), 1);
  assert_int_equal(xr_batch_add_eval(b, s, 1, 3, eargs, NULL), 2);
  XR_OK(xr_client_exec(c, b));
  long long got[3];
  for (size_t i = 0; i < 3; i++) {
    int rc = xr_batch_result(b, i, &r, &msg);
    if (rc != 0) fail_msg("op %zu: %s", i, msg);
    got[i] = xr_reply_kind(r) == XR_REPLY_ARRAY ? xr_reply_integer(xr_reply_at(r, 0)) : xr_reply_integer(r);
  }
  /* each op ran exactly once and in order: the first run of the script in the batch goes by EVAL,
   * so the flushed script cache costs nothing (client.h: xr_client_exec) */
  itest_assert_get(c, "b:n", "11");
  assert_int_equal(got[0], 5);
  assert_int_equal(got[1], 6);
  assert_int_equal(got[2], 11);

  /* an empty batch runs */
  xr_batch_clear(b);
  XR_OK(xr_client_exec(c, b));
  xr_script_free(s);
  xr_batch_free(b);
  xr_client_close(c);
}

/* ---- databases ------------------------------------------------------------------------------- */

static void test_db_selection(void **state) {
  (void)state;
  xr_client_options o = itest_options(server);
  o.db = 2;
  xr_client *c2 = NULL, *c0 = open_plain(), *u2 = NULL, *x2 = NULL;
  XR_OK(xr_client_open(&c2, &o));
  XR_OK(itest_cmd(c2, NULL, "SET", "db:key", "in two", NULL));
  itest_assert_get(c2, "db:key", "in two");
  itest_assert_get(c0, "db:key", NULL);

  char url[128];
  snprintf(url, sizeof url, "%s/2", xrt_server_url(server));
  XR_OK(xr_client_open_url(&u2, url, NULL));
  itest_assert_get(u2, "db:key", "in two");
  snprintf(url, sizeof url, "%s?db=2", xrt_server_unix_url(server));
  XR_OK(xr_client_open_url(&x2, url, NULL));
  itest_assert_get(x2, "db:key", "in two");

  /* every pooled connection selects the db, not only the first */
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  const char *get[2] = {"GET", "db:key"};
  xr_batch_add(b, 2, get, NULL);
  XR_OK(xr_client_exec(u2, b));
  const xr_reply *r = NULL;
  XR_OK(xr_batch_result(b, 0, &r, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "in two");
  xr_batch_free(b);

  /* a db the server does not have */
  snprintf(url, sizeof url, "%s/99", xrt_server_url(server));
  xr_client *bad = NULL;
  XR_FAILS(xr_client_open_url(&bad, url, NULL), XR_ESERVER, "DB index is out of range");
  assert_null(bad);

  xr_client_close(x2);
  xr_client_close(u2);
  xr_client_close(c2);
  xr_client_close(c0);
}

/* A URL that names db 0 means db 0, even when the base options say another one
 * (client.h: "fields the URL does not mention keep their value"). */
static void test_url_db_zero_overrides_base(void **state) {
  (void)state;
  xr_client_options base = XR_CLIENT_OPTIONS_INIT;
  base.db = 2;
  char url[128];
  snprintf(url, sizeof url, "%s/0", xrt_server_url(server));
  xr_client *c = NULL, *c0 = open_plain();
  XR_OK(xr_client_open_url(&c, url, &base));
  XR_OK(itest_cmd(c, NULL, "SET", "db:zero", "here", NULL));
  itest_assert_get(c0, "db:zero", "here"); /* fails: the client selected db 2 */
  xr_client_close(c);

  snprintf(url, sizeof url, "%s?db=0", xrt_server_unix_url(server));
  XR_OK(xr_client_open_url(&c, url, &base));
  itest_assert_get(c, "db:zero", "here");
  xr_client_close(c);
  xr_client_close(c0);
}

/* URL parsing itself is tests/unit/test_url.c; here URLs open real connections (above). */


/* ---- commands that would change a pooled connection's state ------------------------------- */

static void refused(xr_client *c, const char *part, int argc, const char *const *argv) {
  XR_FAILS(xr_client_command(c, NULL, argc, argv, NULL), XR_EINVAL, "changes the state of a pooled connection");
  XR_FAILS(xr_client_command(c, NULL, argc, argv, NULL), XR_EINVAL, part);
}

static void test_state_changing_commands_are_refused(void **state) {
  (void)state;
  xr_client *c = open_plain();
  XR_OK(itest_cmd(c, NULL, "SET", "where", "db0", NULL));
  struct {
    int argc;
    const char *argv[3];
    const char *part;
  } cases[] = {
      {2, {"SELECT", "1"}, "choose the database in the URL"}, {2, {"select", "1"}, "SELECT"},
      {1, {"MONITOR"}, "MONITOR"},                            {2, {"SUBSCRIBE", "ch"}, "pub/sub"},
      {2, {"psubscribe", "c*"}, "pub/sub"},                   {2, {"ssubscribe", "ch"}, "pub/sub"},
      {3, {"CLIENT", "REPLY", "OFF"}, "CLIENT REPLY"},         {3, {"client", "tracking", "on"}, "CLIENT TRACKING"},
      {3, {"CLIENT", "SETNAME", "x"}, "client_name"},          {1, {"RESET"}, "RESET"},
      {1, {"QUIT"}, "QUIT"},                                   {2, {"HELLO", "3"}, "HELLO"},
      {2, {"AUTH", "pw"}, "username and password"},           {1, {"MULTI"}, "in one batch"},
      {2, {"WATCH", "where"}, "in one batch"},                 {1, {"EXEC"}, "EXEC"},
      {1, {"READONLY"}, "READONLY"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) refused(c, cases[i].part, cases[i].argc, cases[i].argv);
  /* harmless neighbours pass */
  XR_OK(itest_cmd(c, NULL, "CLIENT", "ID", NULL));
  XR_FAILS(itest_cmd(c, NULL, "SELECTX", NULL), XR_ESERVER, "unknown command");
  /* every connection of the pool is still in db 0 with replies in step */
  for (int i = 0; i < 20; i++) itest_assert_get(c, "where", "db0");

  /* batches: the same refusals when added; MULTI ... EXEC and WATCH ... EXEC are fine inside one */
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  const char *sel[] = {"SELECT", "1"};
  XR_FAILS(xr_batch_add(b, 2, sel, NULL), XR_EINVAL, "SELECT changes the state");
  assert_int_equal(xr_batch_count(b), 0);
  const char *watch[] = {"WATCH", "where"}, *multi[] = {"MULTI"}, *set[] = {"SET", "where", "tx"}, *exec[] = {"EXEC"};
  assert_true(xr_batch_add(b, 2, watch, NULL) >= 0);
  assert_true(xr_batch_add(b, 1, multi, NULL) >= 0);
  assert_true(xr_batch_add(b, 3, set, NULL) >= 0);
  XR_FAILS(xr_client_exec(c, b), XR_EINVAL, "the batch ends inside MULTI: add EXEC or DISCARD");
  assert_true(xr_batch_add(b, 1, exec, NULL) >= 0);
  XR_OK(xr_client_exec(c, b));
  const xr_reply *r = NULL;
  XR_OK(xr_batch_result(b, 3, &r, NULL));
  assert_int_equal(xr_reply_kind(r), XR_REPLY_ARRAY);
  assert_int_equal(xr_reply_count(r), 1);
  itest_assert_get(c, "where", "tx");
  xr_batch_clear(b);
  assert_true(xr_batch_add(b, 2, watch, NULL) >= 0);
  XR_FAILS(xr_client_exec(c, b), XR_EINVAL, "WATCHed");
  const char *unwatch[] = {"UNWATCH"};
  assert_true(xr_batch_add(b, 1, unwatch, NULL) >= 0);
  XR_OK(xr_client_exec(c, b));
  xr_batch_free(b);
  xr_client_close(c);
}

/* ---- shutdown --------------------------------------------------------------------------------- */

typedef struct waiter {
  xr_client *c;
  const char *argv[3];
  int argc;
  int rc;
} waiter;

static void *run_waiter(void *arg) {
  waiter *w = arg;
  w->rc = xr_client_command(w->c, NULL, w->argc, w->argv, NULL);
  return NULL;
}

/* A call waiting for a pooled connection returns XR_ECLOSED as soon as the client shuts down; the
 * call holding the connection ends by its reply; later calls fail at once. */
static void test_shutdown_wakes_waiting_calls(void **state) {
  (void)state;
  xr_client_options o = itest_options(server);
  o.pool_size = 1;
  o.command_timeout_ms = 0; /* no timeout: only the shutdown can end the wait */
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  waiter holder = {c, {"BLPOP", "shutdown:none", "2"}, 3, 1}, queued = {c, {"PING"}, 1, 1};
  pthread_t th1, th2;
  assert_int_equal(pthread_create(&th1, NULL, run_waiter, &holder), 0);
  xrt_sleep_ms(200); /* holder has the only connection */
  assert_int_equal(pthread_create(&th2, NULL, run_waiter, &queued), 0);
  xrt_sleep_ms(200);
  assert_int_equal(queued.rc, 1); /* still waiting */
  xr_client_shutdown(c);
  pthread_join(th2, NULL);
  assert_int_equal(queued.rc, XR_ECLOSED);
  pthread_join(th1, NULL);
  assert_int_equal(holder.rc, XR_OK); /* BLPOP's nil after 2 s */
  XR_FAILS(xr_client_ping(c), XR_ECLOSED, "shut down");
  xr_client_shutdown(c); /* twice is fine */
  xr_client_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_open_by_options, flush_all),
      cmocka_unit_test_setup(test_open_by_url, flush_all),
      cmocka_unit_test_setup(test_client_name, flush_all),
      cmocka_unit_test_setup(test_binary_safe_values, flush_all),
      cmocka_unit_test_setup(test_reply_accessors, flush_all),
      cmocka_unit_test_setup(test_error_replies, flush_all),
      cmocka_unit_test_setup(test_script_sha1_matches_server, flush_all),
      cmocka_unit_test_setup(test_script_evalsha_and_fallback, flush_all),
      cmocka_unit_test_setup(test_batch_1000_ops_with_error_in_middle, flush_all),
      cmocka_unit_test_setup(test_db_selection, flush_all),
      cmocka_unit_test_setup(test_url_db_zero_overrides_base, flush_all),
      cmocka_unit_test_setup(test_state_changing_commands_are_refused, flush_all),
      cmocka_unit_test_setup(test_shutdown_wakes_waiting_calls, flush_all),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
