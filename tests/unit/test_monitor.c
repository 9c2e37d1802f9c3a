/* The one MONITOR normaliser of the C, Python and Node tests (tests/harness/monitor.h), on real
 * lines of the upstream captures ../shared/vectors/<name>.monitor.txt (the Chat SDK ones are
 * copied in tests/vectors; lines of the others, for systems still to come, are quoted here): each
 * line with what it becomes without and with the masks; every line of every capture in
 * tests/vectors; and xr-monitor-normalize, which the Python and Node tests run, answering what the
 * library answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "monitor.h"
#include "redis_server.h" /* xrt_run */

#ifndef XR_TEST_VECTORS
#error "XR_TEST_VECTORS must name tests/vectors"
#endif
#ifndef XR_MONITOR_NORMALIZE_PATH
#error "XR_MONITOR_NORMALIZE_PATH must name the built xr-monitor-normalize"
#endif

#define MASKS (XRT_MASK_TOKENS | XRT_MASK_MS)

typedef struct example {
  const char *where; /* <capture>:<line number> */
  const char *line;  /* verbatim */
  const char *plain; /* normalized without masks; NULL: not a command */
  const char *masked;
} example;

static const example EXAMPLES[] = {
    {"chat-ts-ioredis.monitor.txt:3", /* ioredis sends names lower-case; a 10-digit number stays */
     "1795298431.805358 [0 127.0.0.1:39134] \"sadd\" \"chat-sdk:subscriptions\" "
     "\"slack:C123:1700000000.000100\"",
     "client \"SADD\" \"chat-sdk:subscriptions\" \"slack:C123:1700000000.000100\"",
     "client \"SADD\" \"chat-sdk:subscriptions\" \"slack:C123:1700000000.000100\""},
    {"chat-ts-ioredis.monitor.txt:6", /* a token */
     "1795298431.807518 [0 127.0.0.1:39134] \"set\" \"chat-sdk:lock:slack:C123:1700000000.000100\" "
     "\"ioredis_1795298431807_rdyngon1d9q\" \"PX\" \"30000\" \"NX\"",
     "client \"SET\" \"chat-sdk:lock:slack:C123:1700000000.000100\" "
     "\"ioredis_1795298431807_rdyngon1d9q\" \"PX\" \"30000\" \"NX\"",
     "client \"SET\" \"chat-sdk:lock:slack:C123:1700000000.000100\" \"ioredis_<MS>_<SFX>\" \"PX\" "
     "\"30000\" \"NX\""},
    {"chat-python-port.monitor.txt:6", /* a token with a hex suffix */
     "1795298445.478628 [0 127.0.0.1:55778] \"SET\" \"chat-sdk:lock:slack:C123:1700000000.000100\" "
     "\"redis_1795298445478_1e5da04afffc52455cb070715847468d\" \"PX\" \"30000\" \"NX\"",
     "client \"SET\" \"chat-sdk:lock:slack:C123:1700000000.000100\" "
     "\"redis_1795298445478_1e5da04afffc52455cb070715847468d\" \"PX\" \"30000\" \"NX\"",
     "client \"SET\" \"chat-sdk:lock:slack:C123:1700000000.000100\" \"redis_<MS>_<SFX>\" \"PX\" "
     "\"30000\" \"NX\""},
    {"chat-python-port.monitor.txt:7", /* the script goes, its keys and arguments stay */
     "1795298445.478737 [0 127.0.0.1:55778] \"EVAL\" \"\\nif redis.call(\\\"get\\\", KEYS[1]) == "
     "ARGV[1] then\\n    return redis.call(\\\"pexpire\\\", KEYS[1], ARGV[2])\\nelse\\n    return "
     "0\\nend\\n\" \"1\" \"chat-sdk:lock:slack:C123:1700000000.000100\" "
     "\"redis_1795298445478_1e5da04afffc52455cb070715847468d\" \"30000\"",
     "client \"EVAL\" \"1\" \"chat-sdk:lock:slack:C123:1700000000.000100\" "
     "\"redis_1795298445478_1e5da04afffc52455cb070715847468d\" \"30000\"",
     "client \"EVAL\" \"1\" \"chat-sdk:lock:slack:C123:1700000000.000100\" \"redis_<MS>_<SFX>\" "
     "\"30000\""},
    {"chat-python-port.monitor.txt:8", /* what the script ran */
     "1795298445.478796 [0 lua] \"get\" \"chat-sdk:lock:slack:C123:1700000000.000100\"",
     "lua \"GET\" \"chat-sdk:lock:slack:C123:1700000000.000100\"",
     "lua \"GET\" \"chat-sdk:lock:slack:C123:1700000000.000100\""},
    {"chat-ts-core-drop-strategy.monitor.txt:12", /* the TS core's script, its own white space */
     "1795298510.958949 [0 127.0.0.1:42932] \"EVAL\" \"\\n      if redis.call(\\\"get\\\", "
     "KEYS[1]) == ARGV[1] then\\n        return redis.call(\\\"del\\\", KEYS[1])\\n      else\\n   "
     "     return 0\\n      end\\n    \" \"1\" \"chat-sdk:lock:test:C1:1700000000.000100\" "
     "\"redis_1795298510548_eru2yfzinj\"",
     "client \"EVAL\" \"1\" \"chat-sdk:lock:test:C1:1700000000.000100\" "
     "\"redis_1795298510548_eru2yfzinj\"",
     "client \"EVAL\" \"1\" \"chat-sdk:lock:test:C1:1700000000.000100\" \"redis_<MS>_<SFX>\""},
    {"chat-ts-ioredis.monitor.txt:147", /* milliseconds inside JSON */
     "1795298529.344957 [0 127.0.0.1:46312] \"RPUSH\" \"chat-sdk:queue:test:C1:1700000000.000100\" "
     "\"{\\\"enqueued_at\\\": 1795298529337, \\\"expires_at\\\": 1795298619337, \\\"message\\\": "
     "{\\\"_type\\\": \\\"chat:Message\\\", \\\"id\\\": \\\"py1\\\", \\\"threadId\\\": "
     "\\\"test:C1:1700000000.000100\\\", \\\"text\\\": \\\"from python\\\", \\\"formatted\\\": "
     "{\\\"type\\\": \\\"root\\\", \\\"children\\\": []}, \\\"raw\\\": null, \\\"author\\\": "
     "{\\\"userId\\\": \\\"U2\\\", \\\"userName\\\": \\\"bob\\\", \\\"fullName\\\": \\\"Bob\\\", "
     "\\\"isBot\\\": false, \\\"isMe\\\": false}, \\\"metadata\\\": {\\\"dateSent\\\": "
     "\\\"2023-11-14T22:13:20+00:00\\\", \\\"edited\\\": false}, \\\"attachments\\\": []}}\"",
     "client \"RPUSH\" \"chat-sdk:queue:test:C1:1700000000.000100\" \"{\\\"enqueued_at\\\": "
     "1795298529337, \\\"expires_at\\\": 1795298619337, \\\"message\\\": {\\\"_type\\\": "
     "\\\"chat:Message\\\", \\\"id\\\": \\\"py1\\\", \\\"threadId\\\": "
     "\\\"test:C1:1700000000.000100\\\", \\\"text\\\": \\\"from python\\\", \\\"formatted\\\": "
     "{\\\"type\\\": \\\"root\\\", \\\"children\\\": []}, \\\"raw\\\": null, \\\"author\\\": "
     "{\\\"userId\\\": \\\"U2\\\", \\\"userName\\\": \\\"bob\\\", \\\"fullName\\\": \\\"Bob\\\", "
     "\\\"isBot\\\": false, \\\"isMe\\\": false}, \\\"metadata\\\": {\\\"dateSent\\\": "
     "\\\"2023-11-14T22:13:20+00:00\\\", \\\"edited\\\": false}, \\\"attachments\\\": []}}\"",
     "client \"RPUSH\" \"chat-sdk:queue:test:C1:1700000000.000100\" \"{\\\"enqueued_at\\\": <MS>, "
     "\\\"expires_at\\\": <MS>, \\\"message\\\": {\\\"_type\\\": \\\"chat:Message\\\", \\\"id\\\": "
     "\\\"py1\\\", \\\"threadId\\\": \\\"test:C1:1700000000.000100\\\", \\\"text\\\": \\\"from "
     "python\\\", \\\"formatted\\\": {\\\"type\\\": \\\"root\\\", \\\"children\\\": []}, "
     "\\\"raw\\\": null, \\\"author\\\": {\\\"userId\\\": \\\"U2\\\", \\\"userName\\\": "
     "\\\"bob\\\", \\\"fullName\\\": \\\"Bob\\\", \\\"isBot\\\": false, \\\"isMe\\\": false}, "
     "\\\"metadata\\\": {\\\"dateSent\\\": \\\"2023-11-14T22:13:20+00:00\\\", \\\"edited\\\": "
     "false}, \\\"attachments\\\": []}}\""},
    {"ayepi-0.4.0.monitor.txt:1", /* the answer to MONITOR */
     "OK",
     NULL,
     NULL},
    {"ayepi-0.4.0.monitor.txt:2",
     "1795298445.660495 [0 127.0.0.1:50708] \"info\"",
     "client \"INFO\"",
     "client \"INFO\""},
    {"ayepi-0.4.0.monitor.txt:22", /* MONITOR's escaping kept */
     "1795298446.168237 [0 127.0.0.1:50708] \"publish\" \"ayepi\" "
     "\"{\\\"ch\\\":\\\"progress\\\",\\\"params\\\":{\\\"job\\\":\\\"j1\\\"},\\\"data\\\":{\\\"pct\\\":77}}\"",
     "client \"PUBLISH\" \"ayepi\" "
     "\"{\\\"ch\\\":\\\"progress\\\",\\\"params\\\":{\\\"job\\\":\\\"j1\\\"},\\\"data\\\":{\\\"pct\\\":77}}\"",
     "client \"PUBLISH\" \"ayepi\" "
     "\"{\\\"ch\\\":\\\"progress\\\",\\\"params\\\":{\\\"job\\\":\\\"j1\\\"},\\\"data\\\":{\\\"pct\\\":77}}\""},
    {"toolhive-v0.48.0.monitor.txt:10", /* a capture's annotation column first */
     "[marker]   1796390484.419620 [0 127.0.0.1:47036] \"ECHO\" \"=== "
     "NewRedisStorage(prefix=thv:proxy:session:, ttl=2h) ===\"",
     "client \"ECHO\" \"=== NewRedisStorage(prefix=thv:proxy:session:, ttl=2h) ===\"",
     "client \"ECHO\" \"=== NewRedisStorage(prefix=thv:proxy:session:, ttl=2h) ===\""},
    {"toolhive-v0.66.0.monitor.txt:1", /* a comment */
     "# toolhive v0.66.0 pkg/transport/session (real toolhive code; toolhive-core/redisconn "
     "replaced by a local standalone-only stand-in; toolhive-core root pinned to v0.0.59; "
     "go1.27.0, go-redis v9.23.0) MONITOR capture",
     NULL,
     NULL},
    {"toolhive-v0.66.0.monitor.txt:8", /* an empty line */
     "",
     NULL,
     NULL},
    {"toolhive-v0.66.0.monitor.txt:40", /* EVALSHA loses its digest */
     "[toolhive] 1796390630.814580 [0 127.0.0.1:45842] \"evalsha\" "
     "\"e08da6e97fd7cb6d035c12945453e72a6d9af862\" \"1\" "
     "\"thv:proxy:session:33333333-3333-4333-8333-333333333333\" \"vmcp.identity.binding\" "
     "\"https://issuer.example\\x00subject-42\" \"7200000\"",
     "client \"EVAL\" \"1\" \"thv:proxy:session:33333333-3333-4333-8333-333333333333\" "
     "\"vmcp.identity.binding\" \"https://issuer.example\\x00subject-42\" \"7200000\"",
     "client \"EVAL\" \"1\" \"thv:proxy:session:33333333-3333-4333-8333-333333333333\" "
     "\"vmcp.identity.binding\" \"https://issuer.example\\x00subject-42\" \"7200000\""},
    {"toolhive-v0.66.0.monitor.txt:42", /* an annotated script line */
     "[lua]      1796390630.815280 [0 lua] \"GET\" "
     "\"thv:proxy:session:33333333-3333-4333-8333-333333333333\"",
     "lua \"GET\" \"thv:proxy:session:33333333-3333-4333-8333-333333333333\"",
     "lua \"GET\" \"thv:proxy:session:33333333-3333-4333-8333-333333333333\""},
};

/* The example of `where`. */
static const example *at(const char *where) {
  for (size_t i = 0; i < sizeof EXAMPLES / sizeof EXAMPLES[0]; i++)
    if (strcmp(EXAMPLES[i].where, where) == 0) return &EXAMPLES[i];
  fail_msg("no example %s", where);
  return NULL;
}

static void expect_normalized(const example *e, unsigned masks, const char *want) {
  int bad = -1;
  char *got = xrt_monitor_normalize(e->line, masks, &bad);
  if (bad != 0) fail_msg("%s: read as a bad line", e->where);
  if (want == NULL && got != NULL) fail_msg("%s (masks %u): want no command, got %s", e->where, masks, got);
  if (want != NULL && (got == NULL || strcmp(got, want) != 0))
    fail_msg("%s (masks %u)\n want: %s\n  got: %s", e->where, masks, want, got ? got : "(no command)");
  free(got);
}

static void test_real_lines(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof EXAMPLES / sizeof EXAMPLES[0]; i++) {
    expect_normalized(&EXAMPLES[i], 0, EXAMPLES[i].plain);
    expect_normalized(&EXAMPLES[i], MASKS, EXAMPLES[i].masked);
  }
}

/* Each mask alone, over a normalized line. */
static void test_masks(void **state) {
  (void)state;
  static const struct {
    unsigned masks;
    const char *in, *want;
  } cases[] = {
      {XRT_MASK_TOKENS, "\"ioredis_1795298431807_rdyngon1d9q\" \"1795298431807\"", "\"ioredis_<MS>_<SFX>\" \"1795298431807\""},
      {XRT_MASK_MS, "\"ioredis_1795298431807_rdyngon1d9q\" \"1795298431807\"", "\"ioredis_<MS>_rdyngon1d9q\" \"<MS>\""},
      {MASKS, "\"ioredis_1795298431807_rdyngon1d9q\" \"1795298431807\"", "\"ioredis_<MS>_<SFX>\" \"<MS>\""},
      /* 12 and 14 digits are not milliseconds; a suffix of upper-case letters is not a token's */
      {MASKS, "\"179529843180\" \"17952984318070\"", "\"179529843180\" \"17952984318070\""},
      {XRT_MASK_TOKENS, "\"x_1795298431807_ABC\"", "\"x_1795298431807_ABC\""},
      /* a token is a whole word: not inside a longer one */
      {XRT_MASK_TOKENS, "\"a_b_1795298431807_c\" \"k:redis_1795298431807_c\"", "\"a_b_1795298431807_c\" \"k:redis_<MS>_<SFX>\""},
      {0, "\"1795298431807\"", "\"1795298431807\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *got = xrt_monitor_mask(cases[i].in, cases[i].masks);
    assert_non_null(got);
    if (strcmp(got, cases[i].want) != 0) fail_msg("mask %u of %s\n want: %s\n  got: %s", cases[i].masks, cases[i].in, cases[i].want, got);
    free(got);
  }
}

/* toolhive-v0.66.0.monitor.txt lines 40-43: an EVALSHA refused with NOSCRIPT, then its EVAL: one
 * command, then the two the script ran. Only such an EVAL pair folds. */
static void test_noscript_counts_once(void **state) {
  (void)state;
  char *lines[] = {(char *)at("toolhive-v0.66.0.monitor.txt:40")->line,
                   "[toolhive] 1796390630.815191 [0 127.0.0.1:45842] \"eval\" \"\\nlocal current = "
                   "redis.call(\\\"GET\\\", KEYS[1])\\nif not current then return false end\\nlocal decoded = "
                   "cjson.decode(current)\\nif not decoded.metadata or decoded.metadata[ARGV[1]] ~= ARGV[2] "
                   "then return false end\\nredis.call(\\\"PEXPIRE\\\", KEYS[1], ARGV[3])\\nreturn current\" \"1\" "
                   "\"thv:proxy:session:33333333-3333-4333-8333-333333333333\" \"vmcp.identity.binding\" "
                   "\"https://issuer.example\\x00subject-42\" \"7200000\"",
                   (char *)at("toolhive-v0.66.0.monitor.txt:42")->line,
                   "[lua]      1796390630.815301 [0 lua] \"PEXPIRE\" "
                   "\"thv:proxy:session:33333333-3333-4333-8333-333333333333\" \"7200000\""};
  assert_non_null(strstr(lines[0], "\"evalsha\""));
  assert_non_null(strstr(lines[2], "[0 lua] \"GET\""));
  char **out;
  size_t n, bad;
  assert_int_equal(xrt_monitor_normalize_lines(lines, 4, MASKS, &out, &n, &bad), 0);
  assert_int_equal(n, 3);
  assert_string_equal(out[0], at("toolhive-v0.66.0.monitor.txt:40")->masked);
  assert_string_equal(out[1], at("toolhive-v0.66.0.monitor.txt:42")->masked);
  assert_string_equal(out[2], "lua \"PEXPIRE\" \"thv:proxy:session:33333333-3333-4333-8333-333333333333\" \"7200000\"");
  for (size_t i = 0; i < n; i++) free(out[i]);
  free(out);

  /* the same SADD twice stays twice, and so do two different EVALs */
  char *sadd = (char *)at("chat-ts-ioredis.monitor.txt:3")->line;
  char *twice[] = {sadd, sadd, (char *)at("chat-python-port.monitor.txt:7")->line,
                   (char *)at("chat-ts-core-drop-strategy.monitor.txt:12")->line};
  assert_int_equal(xrt_monitor_normalize_lines(twice, 4, MASKS, &out, &n, &bad), 0);
  assert_int_equal(n, 4);
  for (size_t i = 0; i < n; i++) free(out[i]);
  free(out);
}

static void test_bad_lines(void **state) {
  (void)state;
  int bad = 0;
  assert_null(xrt_monitor_normalize("1795298445.660495 [0 127.0.0.1:50708] \"get\" \"unterminated", 0, &bad));
  assert_int_equal(bad, 1);
  assert_null(xrt_monitor_normalize("1795298445.660495 [0 127.0.0.1:50708] \"get\" \"ends in \\", 0, &bad));
  assert_int_equal(bad, 1);
  char *lines[] = {(char *)at("chat-ts-ioredis.monitor.txt:3")->line, "1795298445.660495 [0 127.0.0.1:50708] \"get"};
  char **out = (char **)1;
  size_t n = 1, bad_at = 0;
  assert_int_equal(xrt_monitor_normalize_lines(lines, 2, 0, &out, &n, &bad_at), -1);
  assert_int_equal(bad_at, 1);
  assert_null(out);
  assert_int_equal(n, 0);

  /* arguments with no space between them: each gains one in the result (the buffer holds that) */
  char line[256] = "1795298445.660495 [0 127.0.0.1:50708] ";
  for (int i = 0; i < 60; i++) strcat(line, "\"\"");
  char *got = xrt_monitor_normalize(line, MASKS, &bad);
  assert_non_null(got);
  assert_int_equal(bad, 0);
  assert_int_equal(strlen(got), strlen("client") + 60 * 3);
  free(got);
}

/* ---- whole captures ------------------------------------------------------------------------- */

typedef struct capture {
  char **v;
  size_t n, commands; /* commands: lines holding "] \"" */
} capture;

static void capture_read(capture *c, const char *path) {
  memset(c, 0, sizeof *c);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s: %s", path, strerror(errno));
  size_t cap = 0;
  char *line = NULL;
  size_t len_cap = 0;
  ssize_t len;
  while ((len = getline(&line, &len_cap, f)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    if (c->n == cap) {
      cap = cap ? cap * 2 : 64;
      c->v = realloc(c->v, cap * sizeof *c->v);
      assert_non_null(c->v);
    }
    c->commands += strstr(line, "] \"") != NULL;
    c->v[c->n++] = strdup(line);
  }
  free(line);
  fclose(f);
}

static void capture_free(capture *c) {
  for (size_t i = 0; i < c->n; i++) free(c->v[i]);
  free(c->v);
}

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

/* The names of tests/vectors/<name>.monitor.txt, sorted; returns how many. */
static size_t vector_names(char names[][256], size_t max) {
  DIR *d = opendir(XR_TEST_VECTORS);
  if (!d) fail_msg("cannot open %s: %s", XR_TEST_VECTORS, strerror(errno));
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < max) {
    size_t len = strlen(e->d_name);
    if (len > 12 && strcmp(e->d_name + len - 12, ".monitor.txt") == 0) snprintf(names[n++], 256, "%s", e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof names[0], by_name);
  return n;
}

static int has_13_digits(const char *s) {
  for (size_t run = 0; *s; s++) {
    run = (*s >= '0' && *s <= '9') ? run + 1 : 0;
    if (run == 13 && !(s[1] >= '0' && s[1] <= '9')) return 1;
  }
  return 0;
}

/* Every line of every capture: one result per command (none of them is a NOSCRIPT pair), each a
 * client or lua command, and with the masks no 13-digit number is left. */
static void test_whole_captures(void **state) {
  (void)state;
  char names[32][256];
  size_t files = vector_names(names, 32);
  assert_true(files >= 5);
  for (size_t k = 0; k < files; k++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", XR_TEST_VECTORS, names[k]);
    capture c;
    capture_read(&c, path);
    assert_true(c.commands > 10);
    char **out;
    size_t n, bad;
    if (xrt_monitor_normalize_lines(c.v, c.n, MASKS, &out, &n, &bad) != 0) fail_msg("%s line %zu is bad", names[k], bad + 1);
    if (n != c.commands) fail_msg("%s: %zu commands, %zu normalized", names[k], c.commands, n);
    for (size_t i = 0; i < n; i++) {
      if (strncmp(out[i], "client \"", 8) != 0 && strncmp(out[i], "lua \"", 5) != 0) fail_msg("%s: %s", names[k], out[i]);
      if (has_13_digits(out[i])) fail_msg("%s: milliseconds left in %s", names[k], out[i]);
      free(out[i]);
    }
    free(out);
    capture_free(&c);
  }
}

/* ---- xr-monitor-normalize, as the Python and Node tests run it ------------------------------ */

enum { OUT_SIZE = 1 << 20 };

static int run_normalizer(const char *option, const char *path, char *out) {
  char err[XRT_ERR_SIZE];
  const char *argv[] = {"sh", "-c", "exec \"$0\" \"$1\" < \"$2\"", XR_MONITOR_NORMALIZE_PATH, option, path, NULL};
  int status = xrt_run(argv, out, OUT_SIZE, NULL, err);
  if (status < 0) fail_msg("cannot run %s: %s", XR_MONITOR_NORMALIZE_PATH, err);
  return status;
}

/* Its lines are the library's, for every capture, with and without the masks. */
static void test_executable_answers_as_the_library(void **state) {
  (void)state;
  char names[32][256];
  size_t files = vector_names(names, 32);
  char *out = malloc(OUT_SIZE), *want = malloc(OUT_SIZE);
  assert_non_null(out);
  assert_non_null(want);
  for (size_t k = 0; k < files; k++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", XR_TEST_VECTORS, names[k]);
    capture c;
    capture_read(&c, path);
    for (int masked = 0; masked < 2; masked++) {
      char **lines;
      size_t n, bad;
      assert_int_equal(xrt_monitor_normalize_lines(c.v, c.n, masked ? MASKS : 0, &lines, &n, &bad), 0);
      size_t len = 0;
      for (size_t i = 0; i < n; i++) {
        size_t l = strlen(lines[i]);
        assert_true(len + l + 2 < OUT_SIZE);
        memcpy(want + len, lines[i], l);
        want[len + l] = '\n';
        len += l + 1;
        free(lines[i]);
      }
      want[len] = '\0';
      free(lines);
      assert_int_equal(run_normalizer(masked ? "--mask" : "--no-mask", path, out), 0);
      if (strcmp(out, want) != 0) fail_msg("%s (%s): xr-monitor-normalize differs from the library", names[k], masked ? "--mask" : "--no-mask");
    }
    capture_free(&c);
  }
  free(want);
  free(out);
}

/* A bad line or a bad option fails the run, saying why. */
static void test_executable_refuses(void **state) {
  (void)state;
  char out[4096], err[XRT_ERR_SIZE];
  const char *bad_line[] = {"sh", "-c", "printf '%s\\n' \"$1\" | \"$0\" 2>&1", XR_MONITOR_NORMALIZE_PATH,
                            "1795298445.660495 [0 127.0.0.1:50708] \"get\" \"k", NULL};
  assert_int_equal(xrt_run(bad_line, out, sizeof out, NULL, err), 1);
  assert_non_null(strstr(out, "line 1: unterminated argument"));
  const char *bad_option[] = {"sh", "-c", "\"$0\" --masks < /dev/null 2>&1", XR_MONITOR_NORMALIZE_PATH, NULL};
  assert_int_equal(xrt_run(bad_option, out, sizeof out, NULL, err), 2);
  assert_non_null(strstr(out, "usage: xr-monitor-normalize"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_lines),
      cmocka_unit_test(test_masks),
      cmocka_unit_test(test_noscript_counts_once),
      cmocka_unit_test(test_bad_lines),
      cmocka_unit_test(test_whole_captures),
      cmocka_unit_test(test_executable_answers_as_the_library),
      cmocka_unit_test(test_executable_refuses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
