/* The scripted fake RESP server (tests/harness/fake_server.h) checked from the outside: raw
 * sockets send commands, hiredis's reply reader (a parser the fake does not share) reads what
 * comes back, and each rule kind, built-in reply, log function and reply builder has a test that
 * fails when it is broken. The builders are compared byte for byte with what Redis 7.0 sent for
 * the same layout. Last, the crossredis client opens against a fake, as the Cluster and Sentinel
 * tests will. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "crossredis/client.h"
#include "crossredis/error.h"
#include "fake_server.h"
#include "itest.h"

/* Generous: valgrind runs these too. What must NOT arrive is waited for briefly instead. */
#define REPLY_WAIT_MS 5000
#define QUIET_MS 300

/* ---- a raw client ---------------------------------------------------------------------------- */

typedef struct client {
  int fd;
  redisReader *reader;
} client;

static client connect_to(const xrt_fake *f) {
  client c = {socket(AF_INET, SOCK_STREAM, 0), redisReaderCreate()};
  assert_true(c.fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)xrt_fake_port(f));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c.fd, (struct sockaddr *)&a, sizeof a) != 0)
    fail_msg("connect to the fake on port %d: %s", xrt_fake_port(f), strerror(errno));
  return c;
}

static void client_close(client *c) {
  if (c->fd >= 0) close(c->fd);
  redisReaderFree(c->reader);
  c->fd = -1;
  c->reader = NULL;
}

static void send_raw(client *c, const char *bytes, size_t len) {
  while (len > 0) {
    ssize_t w = send(c->fd, bytes, len, MSG_NOSIGNAL);
    if (w <= 0) fail_msg("send: %s", strerror(errno));
    bytes += w;
    len -= (size_t)w;
  }
}

/* Sends one command, its arguments NUL-terminated strings ending with NULL. */
static void send_cmd(client *c, ...) {
  char buf[4096];
  const char *argv[32];
  int argc = 0, n;
  va_list ap;
  va_start(ap, c);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && argc < 32) argv[argc++] = a;
  va_end(ap);
  n = snprintf(buf, sizeof buf, "*%d\r\n", argc);
  for (int i = 0; i < argc; i++)
    n += snprintf(buf + n, sizeof buf - n, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
  send_raw(c, buf, (size_t)n);
}

/* Waits up to ms for the socket to become readable (data or EOF); 1 when it did. */
static int readable(client *c, int ms) {
  struct pollfd p = {c->fd, POLLIN, 0};
  return poll(&p, 1, ms) > 0;
}

/* The next reply, or NULL when the connection ended (or nothing came in REPLY_WAIT_MS). */
static redisReply *read_reply(client *c) {
  void *r = NULL;
  for (;;) {
    if (redisReaderGetReply(c->reader, &r) != REDIS_OK) fail_msg("reply is not RESP");
    if (r) return r;
    if (!readable(c, REPLY_WAIT_MS)) return NULL;
    char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n <= 0) return NULL;
    redisReaderFeed(c->reader, buf, (size_t)n);
  }
}

/* Every byte up to EOF; fails when the connection stays open. */
static size_t read_to_eof(client *c, char *buf, size_t size) {
  size_t used = 0;
  for (;;) {
    if (!readable(c, REPLY_WAIT_MS)) fail_msg("the fake did not close the connection");
    ssize_t n = recv(c->fd, buf + used, size - 1 - used, 0);
    if (n < 0 && errno == ECONNRESET) break;
    if (n < 0) fail_msg("recv: %s", strerror(errno));
    if (n == 0) break;
    used += (size_t)n;
  }
  buf[used] = '\0';
  return used;
}

/* The reply must be of `type` with the text `str` (a status, an error or a string). */
static void reply_is(client *c, int type, const char *str) {
  redisReply *r = read_reply(c);
  if (!r) fail_msg("no reply, expected \"%s\"", str);
  if (r->type != type || strcmp(r->str ? r->str : "", str) != 0)
    fail_msg("reply type %d \"%s\", expected type %d \"%s\"", r->type, r->str ? r->str : "",
             type, str);
  freeReplyObject(r);
}

static void reply_is_status(client *c, const char *s) { reply_is(c, REDIS_REPLY_STATUS, s); }
static void reply_is_error(client *c, const char *s) { reply_is(c, REDIS_REPLY_ERROR, s); }
static void reply_is_string(client *c, const char *s) { reply_is(c, REDIS_REPLY_STRING, s); }

static void expect_quiet(client *c) {
  if (readable(c, QUIET_MS)) fail_msg("the fake answered (or closed) when it should not have");
}

static void expect_transcript(xrt_fake *f, int conn, const char *want) {
  char buf[4096];
  ERR_CHECK(xrt_fake_transcript(f, conn, buf, sizeof buf, err_));
  assert_string_equal(buf, want);
}

static xrt_fake *start(void) {
  xrt_fake *f = NULL;
  ERR_CHECK(xrt_fake_start(&f, err_));
  return f;
}

/* ---- serving and recording ------------------------------------------------------------------- */

/* It listens on loopback, serves several connections at once, and records each command with its
 * connection's id and exact bytes (a NUL inside an argument too), inline commands included. */
static void test_serves_and_records(void **state) {
  (void)state;
  xrt_fake *f = start();
  assert_true(xrt_fake_port(f) > 0);
  client a = connect_to(f), b = connect_to(f);
  send_cmd(&a, "PING", NULL);
  reply_is_status(&a, "PONG");
  send_cmd(&b, "SET", "k", "v", NULL);
  reply_is_error(&b, "ERR unknown command 'SET' (no rule in the fake server)");
  send_raw(&a, "*2\r\n$3\r\nGET\r\n$3\r\nx\0y\r\n", 22);
  reply_is_error(&a, "ERR unknown command 'GET' (no rule in the fake server)");
  send_raw(&b, "ping  hello\r\n", 13);
  reply_is_string(&b, "hello");

  assert_int_equal(xrt_fake_accepted(f), 2);
  assert_int_equal(xrt_fake_open_connections(f), 2);
  expect_transcript(f, 0, "1 PING\n2 SET k v\n1 GET x\n2 ping hello\n");
  expect_transcript(f, 2, "SET k v\nping hello\n");
  xrt_fake_log log;
  ERR_CHECK(xrt_fake_commands(f, &log, err_));
  assert_int_equal(log.count, 4);
  assert_int_equal(log.commands[2].conn, 1);
  assert_int_equal(log.commands[2].argc, 2);
  assert_int_equal(log.commands[2].argv_len[1], 3);
  assert_memory_equal(log.commands[2].argv[1], "x\0y", 3);
  assert_int_equal(log.commands[3].conn, 2);
  assert_string_equal(log.commands[3].argv[1], "hello");
  xrt_fake_log_free(&log);
  assert_int_equal(xrt_fake_count(f, "ping"), 2);
  assert_int_equal(xrt_fake_count(f, NULL), 4);

  xrt_fake_clear_log(f);
  assert_int_equal(xrt_fake_count(f, NULL), 0);
  send_cmd(&a, "PING", NULL);
  reply_is_status(&a, "PONG");
  expect_transcript(f, 0, "1 PING\n");

  client_close(&b);
  for (int i = 0; i < 500 && xrt_fake_open_connections(f) != 1; i++) xrt_sleep_ms(10);
  assert_int_equal(xrt_fake_open_connections(f), 1);
  client_close(&a);
  xrt_fake_free(f);
}

/* ---- rules ----------------------------------------------------------------------------------- */

/* Patterns: the name and arguments compared ignoring case, `*` and `?` globs, extra arguments
 * allowed, too few refused; the first matching rule wins; "*" catches everything. */
static void test_patterns(void **state) {
  (void)state;
  xrt_fake *f = start();
  assert_int_equal(xrt_fake_on(f, "GET", "$1\r\na\r\n"), 0);
  assert_int_equal(xrt_fake_on(f, "GET", "$1\r\nb\r\n"), 0); /* never reached */
  assert_int_equal(xrt_fake_on(f, "cluster shards", "+shards\r\n"), 0);
  assert_int_equal(xrt_fake_on(f, "CLUSTER *", "+cluster\r\n"), 0);
  assert_int_equal(xrt_fake_on(f, "SENTINEL get-master-addr-by-name *", "+sentinel\r\n"), 0);
  assert_int_equal(xrt_fake_on(f, "HGET h f?", "+glob\r\n"), 0);
  client c = connect_to(f);
  send_cmd(&c, "get", "k", NULL);
  reply_is_string(&c, "a");
  send_cmd(&c, "CLUSTER", "SHARDS", NULL);
  reply_is_status(&c, "shards");
  send_cmd(&c, "cluster", "slots", NULL);
  reply_is_status(&c, "cluster");
  send_cmd(&c, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster", NULL);
  reply_is_status(&c, "sentinel");
  send_cmd(&c, "SENTINEL", "get-master-addr-by-name", NULL);
  reply_is_error(&c, "ERR unknown command 'SENTINEL' (no rule in the fake server)");
  send_cmd(&c, "HGET", "h", "f1", NULL);
  reply_is_status(&c, "glob");
  send_cmd(&c, "HGET", "h", "f12", NULL);
  reply_is_error(&c, "ERR unknown command 'HGET' (no rule in the fake server)");
  assert_int_equal(xrt_fake_on(f, "*", "+anything\r\n"), 0);
  send_cmd(&c, "FOO", NULL);
  reply_is_status(&c, "anything");
  assert_int_equal(xrt_fake_count(f, "CLUSTER *"), 2);
  assert_int_equal(xrt_fake_count(f, "hget h f*"), 2);

  xrt_fake_clear_rules(f);
  send_cmd(&c, "GET", "k", NULL);
  reply_is_error(&c, "ERR unknown command 'GET' (no rule in the fake server)");
  client_close(&c);
  xrt_fake_free(f);
}

/* `times`: a rule answers N commands, then they fall through to the next rule (a MOVED, then the
 * value; TRYAGAIN twice; ...). */
static void test_times(void **state) {
  (void)state;
  xrt_fake *f = start();
  char moved[64];
  xrt_fake_rule_options twice = XRT_FAKE_RULE_OPTIONS_INIT;
  twice.times = 2;
  ERR_CHECK(xrt_fake_on_with(f, "GET", xrt_fake_moved(moved, sizeof moved, 3999, "127.0.0.1", 7001),
                             &twice, err_));
  assert_int_equal(xrt_fake_on(f, "GET", "$2\r\nok\r\n"), 0);
  client c = connect_to(f);
  for (int i = 0; i < 2; i++) {
    send_cmd(&c, "GET", "k", NULL);
    reply_is_error(&c, "MOVED 3999 127.0.0.1:7001");
  }
  for (int i = 0; i < 2; i++) {
    send_cmd(&c, "GET", "k", NULL);
    reply_is_string(&c, "ok");
  }
  client_close(&c);
  xrt_fake_free(f);
}

/* CLOSE: the command is read and recorded, nothing is answered, the connection ends, and what
 * was pipelined after it is not read. Other connections go on. */
static void test_close(void **state) {
  (void)state;
  xrt_fake *f = start();
  xrt_fake_rule_options close_it = XRT_FAKE_RULE_OPTIONS_INIT;
  close_it.action = XRT_FAKE_CLOSE;
  ERR_CHECK(xrt_fake_on_with(f, "GET", NULL, &close_it, err_));
  client c = connect_to(f), other = connect_to(f);
  const char pipeline[] = "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nECHO\r\n";
  send_raw(&c, pipeline, sizeof pipeline - 1);
  char buf[256];
  read_to_eof(&c, buf, sizeof buf);
  assert_string_equal(buf, "+PONG\r\n");
  expect_transcript(f, 1, "PING\nGET k\n");
  send_cmd(&other, "PING", NULL);
  reply_is_status(&other, "PONG");
  client_close(&c);
  client_close(&other);
  xrt_fake_free(f);
}

/* SILENT: the connection goes mute (this command and the later ones are recorded, none answered)
 * but stays open; another connection is still answered. */
static void test_silent(void **state) {
  (void)state;
  xrt_fake *f = start();
  xrt_fake_rule_options mute = XRT_FAKE_RULE_OPTIONS_INIT;
  mute.action = XRT_FAKE_SILENT;
  ERR_CHECK(xrt_fake_on_with(f, "GET", NULL, &mute, err_));
  client c = connect_to(f), other = connect_to(f);
  send_cmd(&c, "PING", NULL);
  reply_is_status(&c, "PONG");
  send_cmd(&c, "GET", "k", NULL);
  expect_quiet(&c);
  send_cmd(&c, "PING", NULL);
  ERR_CHECK(xrt_fake_wait(f, "PING", 2, REPLY_WAIT_MS, err_));
  expect_quiet(&c); /* readable() is also true at EOF: quiet means open and mute */
  expect_transcript(f, 1, "PING\nGET k\nPING\n");
  assert_int_equal(xrt_fake_open_connections(f), 2);
  send_cmd(&other, "PING", NULL);
  reply_is_status(&other, "PONG");
  client_close(&c);
  client_close(&other);
  xrt_fake_free(f);
}

/* TRUNCATE: exactly the first truncate_at bytes (half by default), then the end of the
 * connection. */
static void test_truncate(void **state) {
  (void)state;
  xrt_fake *f = start();
  const char *reply = "$10\r\n0123456789\r\n"; /* 17 bytes */
  xrt_fake_rule_options cut = XRT_FAKE_RULE_OPTIONS_INIT;
  cut.action = XRT_FAKE_TRUNCATE;
  cut.truncate_at = 7;
  cut.times = 1;
  ERR_CHECK(xrt_fake_on_with(f, "GET", reply, &cut, err_));
  cut.truncate_at = 0;
  ERR_CHECK(xrt_fake_on_with(f, "GET", reply, &cut, err_));
  char buf[64];
  client c = connect_to(f);
  send_cmd(&c, "GET", "k", NULL);
  assert_int_equal(read_to_eof(&c, buf, sizeof buf), 7);
  assert_string_equal(buf, "$10\r\n01");
  client_close(&c);
  c = connect_to(f);
  send_cmd(&c, "GET", "k", NULL);
  assert_int_equal(read_to_eof(&c, buf, sizeof buf), 8);
  assert_string_equal(buf, "$10\r\n012");
  client_close(&c);

  char err[XRT_ERR_SIZE];
  cut.truncate_at = 17;
  assert_int_equal(xrt_fake_on_with(f, "GET", reply, &cut, err), -1);
  assert_non_null(strstr(err, "truncate_at 17"));
  xrt_fake_free(f);
}

/* DELAY: the reply comes late; the replies pipelined behind it wait (order is kept); another
 * connection is answered meanwhile. A delayed CLOSE closes late. */
static void test_delay(void **state) {
  (void)state;
  xrt_fake *f = start();
  xrt_fake_rule_options slow = XRT_FAKE_RULE_OPTIONS_INIT;
  slow.delay_ms = 1000;
  ERR_CHECK(xrt_fake_on_with(f, "GET", "$4\r\nlate\r\n", &slow, err_));
  slow.action = XRT_FAKE_CLOSE;
  ERR_CHECK(xrt_fake_on_with(f, "DEL", NULL, &slow, err_));
  client c = connect_to(f), other = connect_to(f);
  send_cmd(&c, "GET", "k", NULL);
  send_cmd(&c, "PING", NULL);
  send_cmd(&other, "PING", NULL);
  reply_is_status(&other, "PONG");
  expect_quiet(&c);
  reply_is_string(&c, "late");
  reply_is_status(&c, "PONG");

  send_cmd(&other, "DEL", "k", NULL);
  expect_quiet(&other);
  char buf[16];
  assert_int_equal(read_to_eof(&other, buf, sizeof buf), 0);
  client_close(&c);
  client_close(&other);
  xrt_fake_free(f);
}

/* What the crossredis client (and others) send while setting a connection up is answered without
 * rules; a rule overrides a built-in; the default for the rest can be replaced and restored. */
static void test_builtin_replies(void **state) {
  (void)state;
  xrt_fake *f = start();
  client c = connect_to(f);
  send_cmd(&c, "PING", NULL);
  reply_is_status(&c, "PONG");
  send_cmd(&c, "PING", "hi", NULL);
  reply_is_string(&c, "hi");
  send_cmd(&c, "ECHO", "there", NULL);
  reply_is_string(&c, "there");
  const char *ok[][4] = {{"AUTH", "pw"},           {"AUTH", "user", "pw"}, {"SELECT", "2"},
                         {"CLIENT", "SETNAME", "x"}, {"CLIENT", "SETINFO", "LIB-NAME", "y"},
                         {"READONLY"},             {"READWRITE"},          {"ASKING"}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    send_cmd(&c, ok[i][0], ok[i][1], ok[i][2], ok[i][3], NULL);
    reply_is_status(&c, "OK");
  }
  send_cmd(&c, "HELLO", "2", NULL);
  redisReply *r = read_reply(&c);
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_ARRAY);
  assert_int_equal(r->elements, 14);
  assert_string_equal(r->element[4]->str, "proto");
  assert_int_equal(r->element[5]->integer, 2);
  freeReplyObject(r);
  send_cmd(&c, "HELLO", "3", NULL);
  reply_is_error(&c, "NOPROTO unsupported protocol version");

  assert_int_equal(xrt_fake_on(f, "AUTH", "-WRONGPASS invalid username-password pair\r\n"), 0);
  send_cmd(&c, "AUTH", "pw", NULL);
  reply_is_error(&c, "WRONGPASS invalid username-password pair");

  ERR_CHECK(xrt_fake_set_default(f, "+whatever\r\n", err_));
  send_cmd(&c, "FOO", NULL);
  reply_is_status(&c, "whatever");
  ERR_CHECK(xrt_fake_set_default(f, NULL, err_));
  send_cmd(&c, "FOO", NULL);
  reply_is_error(&c, "ERR unknown command 'FOO' (no rule in the fake server)");
  char err[XRT_ERR_SIZE];
  assert_int_equal(xrt_fake_set_default(f, "+no end", err), -1);

  send_cmd(&c, "QUIT", NULL);
  char buf[16];
  read_to_eof(&c, buf, sizeof buf);
  assert_string_equal(buf, "+OK\r\n");
  client_close(&c);
  xrt_fake_free(f);
}

/* Replies are checked when the rule is added (a wrong length in a hand-written reply would hang
 * the client instead); several values in one reply are allowed, RESP3 too, garbage only when
 * asked for. A client that breaks the protocol gets Redis's error and the end of the
 * connection. */
static void test_checks(void **state) {
  (void)state;
  xrt_fake *f = start();
  char err[XRT_ERR_SIZE];
  const char *bad[] = {"+OK", "$5\r\nab\r\n", "*2\r\n:1\r\n", ":x\r\n", "?\r\n", "+a\rb\r\n", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    if (xrt_fake_on_with(f, "GET", bad[i], NULL, err) != -1)
      fail_msg("reply %zu (\"%s\") was taken", i, bad[i]);
    assert_non_null(strstr(err, "not well-formed RESP"));
  }
  assert_int_equal(xrt_fake_on_with(f, "  ", "+OK\r\n", NULL, err), -1);
  assert_non_null(strstr(err, "pattern is empty"));
  assert_int_equal(xrt_fake_on_with(f, "GET", NULL, NULL, err), -1);
  assert_non_null(strstr(err, "no reply"));
  xrt_fake_rule_options o = XRT_FAKE_RULE_OPTIONS_INIT;
  o.times = -1;
  assert_int_equal(xrt_fake_on_with(f, "GET", "+OK\r\n", &o, err), -1);
  assert_int_equal(xrt_fake_on(f, "GET", NULL), -1);

  assert_int_equal(xrt_fake_on(f, "MAP", "%1\r\n+a\r\n:1\r\n"), 0);
  assert_int_equal(xrt_fake_on(f, "TWO", "+a\r\n$-1\r\n"), 0);
  o = (xrt_fake_rule_options)XRT_FAKE_RULE_OPTIONS_INIT;
  o.unchecked = 1;
  ERR_CHECK(xrt_fake_on_with(f, "JUNK", "@junk\r\n", &o, err_));
  client c = connect_to(f);
  send_cmd(&c, "TWO", NULL);
  reply_is_status(&c, "a");
  redisReply *r = read_reply(&c);
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_NIL);
  freeReplyObject(r);
  send_cmd(&c, "JUNK", NULL);
  assert_true(readable(&c, REPLY_WAIT_MS));
  char buf[64];
  assert_int_equal(recv(c.fd, buf, sizeof buf, 0), 7);
  assert_memory_equal(buf, "@junk\r\n", 7);
  client_close(&c);

  c = connect_to(f);
  send_raw(&c, "*x\r\n", 4);
  read_to_eof(&c, buf, sizeof buf);
  assert_string_equal(buf, "-ERR Protocol error: invalid multibulk length\r\n");
  client_close(&c);
  xrt_fake_free(f);
}

/* ---- acting on connections and waiting ------------------------------------------------------- */

/* Bytes sent unasked reach the one connection named, or all; closing the connections ends every
 * open one while the fake keeps accepting. */
static void test_send_and_close_connections(void **state) {
  (void)state;
  xrt_fake *f = start();
  client a = connect_to(f), b = connect_to(f);
  send_cmd(&a, "PING", NULL);
  reply_is_status(&a, "PONG");
  send_cmd(&b, "PING", NULL);
  reply_is_status(&b, "PONG");
  ERR_CHECK(xrt_fake_send(f, 2, "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", err_));
  redisReply *r = read_reply(&b);
  assert_non_null(r);
  assert_int_equal(r->elements, 3);
  assert_string_equal(r->element[2]->str, "hi");
  freeReplyObject(r);
  expect_quiet(&a);
  ERR_CHECK(xrt_fake_send(f, 0, "+all\r\n", err_));
  reply_is_status(&a, "all");
  reply_is_status(&b, "all");
  char err[XRT_ERR_SIZE];
  assert_int_equal(xrt_fake_send(f, 99, "+x\r\n", err), -1);
  assert_non_null(strstr(err, "connection 99 is not open"));

  xrt_fake_close_connections(f);
  assert_int_equal(xrt_fake_open_connections(f), 0);
  char buf[16];
  assert_int_equal(read_to_eof(&a, buf, sizeof buf), 0);
  assert_int_equal(read_to_eof(&b, buf, sizeof buf), 0);
  client c = connect_to(f);
  send_cmd(&c, "PING", NULL);
  reply_is_status(&c, "PONG");
  assert_int_equal(xrt_fake_accepted(f), 3);
  client_close(&a);
  client_close(&b);
  client_close(&c);
  xrt_fake_free(f);
}

typedef struct later {
  xrt_fake *f;
  int rules;
} later;

/* Adds rules from another thread while the test's connection is being served. */
static void *add_rules(void *arg) {
  later *l = arg;
  char pattern[32], reply[32];
  for (int i = 0; i < l->rules; i++) {
    snprintf(pattern, sizeof pattern, "X%d", i);
    snprintf(reply, sizeof reply, "+x%d\r\n", i);
    if (xrt_fake_on(l->f, pattern, reply) != 0) return "xrt_fake_on failed";
  }
  return NULL;
}

/* Rules added from another thread while the fake serves apply to the next command read. */
static void test_rules_while_serving(void **state) {
  (void)state;
  xrt_fake *f = start();
  client c = connect_to(f);
  enum { RULES = 200 };
  later l = {f, RULES};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, add_rules, &l), 0);
  for (int i = 0; i < RULES; i++) {
    send_cmd(&c, "PING", NULL);
    reply_is_status(&c, "PONG");
  }
  void *result;
  pthread_join(t, &result);
  assert_null(result);
  char name[32], want[32];
  for (int i = 0; i < RULES; i += 37) {
    snprintf(name, sizeof name, "x%d", i);
    send_cmd(&c, name, NULL);
    snprintf(want, sizeof want, "x%d", i);
    reply_is_status(&c, want);
  }
  client_close(&c);
  xrt_fake_free(f);
}

static void *send_get_later(void *arg) {
  client *c = arg;
  xrt_sleep_ms(100);
  send_cmd(c, "GET", "k", NULL);
  return NULL;
}

/* xrt_fake_wait returns once the command has arrived, and fails saying what it saw when it does
 * not arrive in time. */
static void test_wait(void **state) {
  (void)state;
  xrt_fake *f = start();
  client c = connect_to(f);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, send_get_later, &c), 0);
  ERR_CHECK(xrt_fake_wait(f, "GET k", 1, REPLY_WAIT_MS, err_));
  pthread_join(t, NULL);
  char err[XRT_ERR_SIZE];
  assert_int_equal(xrt_fake_wait(f, "GET k", 2, 100, err), -1);
  assert_string_equal(err, "fake server: 1 command(s) matching \"GET k\" after 100 ms, expected 2");
  client_close(&c);
  xrt_fake_free(f);
}

/* Freeing a fake with open connections, a mute one and a reply still waiting for its delay
 * closes them all (valgrind checks that nothing leaks). */
static void test_free_while_busy(void **state) {
  (void)state;
  xrt_fake *f = start();
  xrt_fake_rule_options o = XRT_FAKE_RULE_OPTIONS_INIT;
  o.delay_ms = 60000;
  ERR_CHECK(xrt_fake_on_with(f, "GET", "+late\r\n", &o, err_));
  o = (xrt_fake_rule_options)XRT_FAKE_RULE_OPTIONS_INIT;
  o.action = XRT_FAKE_SILENT;
  ERR_CHECK(xrt_fake_on_with(f, "BLPOP", NULL, &o, err_));
  client a = connect_to(f), b = connect_to(f);
  send_cmd(&a, "GET", "k", NULL);
  send_cmd(&b, "BLPOP", "q", "0", NULL);
  ERR_CHECK(xrt_fake_wait(f, "*", 2, REPLY_WAIT_MS, err_));
  xrt_fake_free(f);
  char buf[16];
  assert_int_equal(read_to_eof(&a, buf, sizeof buf), 0);
  assert_int_equal(read_to_eof(&b, buf, sizeof buf), 0);
  client_close(&a);
  client_close(&b);
}

/* ---- reply builders -------------------------------------------------------------------------- */

/* What Redis 7.0.15 answered for one node (port 47001, slots 0-100 and 200-300, announced
 * hostname myhost.example, its own ip not known yet so "" for ip and endpoint). */
static const char real_shards[] =
    "*1\r\n*4\r\n$5\r\nslots\r\n*4\r\n:0\r\n:100\r\n:200\r\n:300\r\n$5\r\nnodes\r\n*1\r\n*16\r\n"
    "$2\r\nid\r\n$40\r\n8df7aa1fdbe639f17d280f7b60ad51fc49de81e9\r\n$4\r\nport\r\n:47001\r\n"
    "$2\r\nip\r\n$0\r\n\r\n$8\r\nendpoint\r\n$0\r\n\r\n$8\r\nhostname\r\n$14\r\nmyhost.example\r\n"
    "$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:0\r\n"
    "$6\r\nhealth\r\n$6\r\nonline\r\n";
static const char real_slots[] =
    "*2\r\n"
    "*3\r\n:0\r\n:100\r\n*4\r\n$0\r\n\r\n:47001\r\n"
    "$40\r\n8df7aa1fdbe639f17d280f7b60ad51fc49de81e9\r\n"
    "*2\r\n$8\r\nhostname\r\n$14\r\nmyhost.example\r\n"
    "*3\r\n:200\r\n:300\r\n*4\r\n$0\r\n\r\n:47001\r\n"
    "$40\r\n8df7aa1fdbe639f17d280f7b60ad51fc49de81e9\r\n"
    "*2\r\n$8\r\nhostname\r\n$14\r\nmyhost.example\r\n";

static const xrt_fake_shard real_layout = {
    .ranges = {{0, 100}, {200, 300}},
    .range_count = 2,
    .nodes = {{.port = 47001, .ip = "", .endpoint = "", .hostname = "myhost.example",
               .id = "8df7aa1fdbe639f17d280f7b60ad51fc49de81e9"}},
    .node_count = 1,
};

/* The builders write what Redis writes, byte for byte (CLUSTER SHARDS, SLOTS, ROLE of a master). */
static void test_builders_match_redis(void **state) {
  (void)state;
  char buf[2048];
  assert_non_null(xrt_fake_cluster_shards(buf, sizeof buf, &real_layout, 1));
  assert_string_equal(buf, real_shards);
  assert_non_null(xrt_fake_cluster_slots(buf, sizeof buf, &real_layout, 1));
  assert_string_equal(buf, real_slots);
  assert_string_equal(xrt_fake_role_master(buf, sizeof buf, 0),
                      "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
}

/* A layout of three shards with replicas, "" and "?" endpoints, hostnames and a shard without
 * slots, served by a fake and read back by hiredis. */
static const xrt_fake_shard layout[] = {
    {.ranges = {{0, 5460}}, .range_count = 1,
     .nodes = {{.port = 7000}, {.port = 7003, .endpoint = ""}}, .node_count = 2},
    {.ranges = {{5461, 9000}, {9001, 10922}}, .range_count = 2,
     .nodes = {{.port = 7001, .endpoint = "?", .hostname = "b.example", .health = "loading"}},
     .node_count = 1},
    {.ranges = {{10923, 16383}}, .range_count = 1,
     .nodes = {{.port = 7002, .ip = "10.0.0.3", .endpoint = "c.example", .hostname = "c.example"}},
     .node_count = 1},
    {.range_count = 0, .nodes = {{.port = 7009}}, .node_count = 1},
};

static redisReply *serve_and_read(xrt_fake *f, client *c, const char *pattern, const char *cmd,
                                  const char *arg, const char *reply) {
  assert_int_equal(xrt_fake_on(f, pattern, reply), 0);
  send_cmd(c, cmd, arg, NULL);
  redisReply *r = read_reply(c);
  assert_non_null(r);
  return r;
}

static void expect_str(const redisReply *r, const char *s) {
  assert_true(r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
              r->type == REDIS_REPLY_ERROR);
  assert_string_equal(r->str, s);
}

static void test_cluster_slots(void **state) {
  (void)state;
  xrt_fake *f = start();
  client c = connect_to(f);
  char buf[8192];
  redisReply *r = serve_and_read(f, &c, "CLUSTER SLOTS", "CLUSTER", "SLOTS",
                                 xrt_fake_cluster_slots(buf, sizeof buf, layout, 4));
  assert_int_equal(r->elements, 4); /* one entry per range; the empty shard has none */
  const redisReply *e = r->element[0];
  assert_int_equal(e->elements, 4);
  assert_int_equal(e->element[0]->integer, 0);
  assert_int_equal(e->element[1]->integer, 5460);
  const redisReply *master = e->element[2], *replica = e->element[3];
  expect_str(master->element[0], "127.0.0.1");
  assert_int_equal(master->element[1]->integer, 7000);
  expect_str(master->element[2], "0000000000000000000000000000000000007000");
  assert_int_equal(master->element[3]->elements, 0);
  expect_str(replica->element[0], "");
  assert_int_equal(replica->element[1]->integer, 7003);
  assert_int_equal(replica->element[3]->elements, 2);
  expect_str(replica->element[3]->element[0], "ip");
  expect_str(replica->element[3]->element[1], "127.0.0.1");

  assert_int_equal(r->element[1]->element[0]->integer, 5461);
  assert_int_equal(r->element[2]->element[0]->integer, 9001);
  const redisReply *b = r->element[2]->element[2];
  expect_str(b->element[0], "?");
  assert_int_equal(b->element[3]->elements, 4);
  expect_str(b->element[3]->element[0], "hostname");
  expect_str(b->element[3]->element[1], "b.example");
  expect_str(b->element[3]->element[2], "ip");
  const redisReply *cnode = r->element[3]->element[2];
  expect_str(cnode->element[0], "c.example");
  assert_int_equal(cnode->element[3]->elements, 2); /* the hostname is the endpoint already */
  expect_str(cnode->element[3]->element[1], "10.0.0.3");
  freeReplyObject(r);
  client_close(&c);
  xrt_fake_free(f);
}

/* The value of `field` in a flat [field, value, ...] array. */
static const redisReply *field(const redisReply *r, const char *name) {
  for (size_t i = 0; i + 1 < r->elements; i += 2)
    if (strcmp(r->element[i]->str, name) == 0) return r->element[i + 1];
  return NULL;
}

static void test_cluster_shards(void **state) {
  (void)state;
  xrt_fake *f = start();
  client c = connect_to(f);
  char buf[8192];
  redisReply *r = serve_and_read(f, &c, "CLUSTER SHARDS", "CLUSTER", "SHARDS",
                                 xrt_fake_cluster_shards(buf, sizeof buf, layout, 4));
  assert_int_equal(r->elements, 4);
  const redisReply *a = r->element[0];
  assert_int_equal(field(a, "slots")->elements, 2);
  const redisReply *nodes = field(a, "nodes");
  assert_int_equal(nodes->elements, 2);
  expect_str(field(nodes->element[0], "role"), "master");
  expect_str(field(nodes->element[1], "role"), "replica");
  expect_str(field(nodes->element[1], "endpoint"), "");
  expect_str(field(nodes->element[1], "ip"), "127.0.0.1");
  assert_int_equal(field(nodes->element[1], "port")->integer, 7003);
  assert_null(field(nodes->element[1], "hostname"));
  expect_str(field(nodes->element[0], "health"), "online");

  const redisReply *slots_b = field(r->element[1], "slots");
  assert_int_equal(slots_b->elements, 4);
  assert_int_equal(slots_b->element[2]->integer, 9001);
  assert_int_equal(slots_b->element[3]->integer, 10922);
  const redisReply *nb = field(r->element[1], "nodes")->element[0];
  expect_str(field(nb, "endpoint"), "?");
  expect_str(field(nb, "hostname"), "b.example");
  expect_str(field(nb, "health"), "loading");
  expect_str(field(field(r->element[2], "nodes")->element[0], "ip"), "10.0.0.3");
  assert_int_equal(field(r->element[3], "slots")->elements, 0);
  freeReplyObject(r);
  client_close(&c);
  xrt_fake_free(f);
}

/* MOVED/ASK texts, a sentinel's answer (and its null for an unknown master), ROLE of a replica;
 * NULL when the buffer is too small or the layout is wrong. */
static void test_small_builders(void **state) {
  (void)state;
  char buf[128];
  assert_string_equal(xrt_fake_moved(buf, sizeof buf, 3999, "127.0.0.1", 7001),
                      "-MOVED 3999 127.0.0.1:7001\r\n");
  assert_string_equal(xrt_fake_ask(buf, sizeof buf, 0, "", 7002), "-ASK 0 :7002\r\n");
  assert_null(xrt_fake_moved(buf, sizeof buf, 16384, "h", 1));
  assert_null(xrt_fake_moved(buf, 10, 1, "127.0.0.1", 7001));
  assert_string_equal(xrt_fake_sentinel_master(buf, sizeof buf, "127.0.0.1", 6380),
                      "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n");
  assert_string_equal(xrt_fake_sentinel_master(buf, sizeof buf, NULL, 0), "*-1\r\n");
  assert_string_equal(
      xrt_fake_role_replica(buf, sizeof buf, "127.0.0.1", 6379, "connected", 42),
      "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:42\r\n");
  assert_null(xrt_fake_cluster_slots(buf, sizeof buf, layout, 4)); /* does not fit */
  xrt_fake_shard wrong = real_layout;
  wrong.ranges[1][1] = 16384;
  assert_null(xrt_fake_cluster_shards(buf, sizeof buf, &wrong, 1));
  wrong = real_layout;
  wrong.node_count = 0;
  assert_null(xrt_fake_cluster_slots(buf, sizeof buf, &wrong, 1));
}

/* ---- the crossredis client against a fake ---------------------------------------------------- */

/* The client's connection setup (CLIENT SETNAME, PING) is answered by the built-ins, a rule
 * answers its command, and a mute or closing node gives the client the errors it gives for a real
 * one: a timeout, a lost connection. */
static void test_crossredis_client(void **state) {
  (void)state;
  xrt_fake *f = start();
  assert_int_equal(xrt_fake_on(f, "GET k", "$5\r\nhello\r\n"), 0);
  xrt_fake_rule_options o = XRT_FAKE_RULE_OPTIONS_INIT;
  o.action = XRT_FAKE_SILENT;
  ERR_CHECK(xrt_fake_on_with(f, "GET mute", NULL, &o, err_));
  o.action = XRT_FAKE_CLOSE;
  ERR_CHECK(xrt_fake_on_with(f, "GET gone", NULL, &o, err_));
  xr_client_options opts = XR_CLIENT_OPTIONS_INIT;
  opts.port = xrt_fake_port(f);
  opts.client_name = "fake-test";
  opts.command_timeout_ms = 500;
  opts.pool_size = 1;
  xr_client *cl = NULL;
  int rc = xr_client_open(&cl, &opts);
  if (rc != 0) fail_msg("xr_client_open: %s", xr_error_last()->message);
  const char *get_k[] = {"GET", "k"}, *get_mute[] = {"GET", "mute"}, *get_gone[] = {"GET", "gone"};
  xr_reply *r = NULL;
  rc = xr_client_command(cl, &r, 2, get_k, NULL);
  if (rc != 0) fail_msg("GET k: %s", xr_error_last()->message);
  assert_string_equal(xr_reply_str(r, NULL), "hello");
  xr_reply_free(r);
  expect_transcript(f, 1, "CLIENT SETNAME fake-test\nPING\nGET k\n");

  assert_int_equal(xr_client_command(cl, &r, 2, get_mute, NULL), XR_ETIMEOUT);
  assert_int_equal(xr_client_command(cl, &r, 2, get_gone, NULL), XR_EIO);
  assert_int_equal(xrt_fake_count(f, "GET gone"), 1);
  xr_client_close(cl);
  xrt_fake_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_serves_and_records),
      cmocka_unit_test(test_patterns),
      cmocka_unit_test(test_times),
      cmocka_unit_test(test_close),
      cmocka_unit_test(test_silent),
      cmocka_unit_test(test_truncate),
      cmocka_unit_test(test_delay),
      cmocka_unit_test(test_builtin_replies),
      cmocka_unit_test(test_checks),
      cmocka_unit_test(test_send_and_close_connections),
      cmocka_unit_test(test_rules_while_serving),
      cmocka_unit_test(test_wait),
      cmocka_unit_test(test_free_while_busy),
      cmocka_unit_test(test_builders_match_redis),
      cmocka_unit_test(test_cluster_slots),
      cmocka_unit_test(test_cluster_shards),
      cmocka_unit_test(test_small_builders),
      cmocka_unit_test(test_crossredis_client),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
