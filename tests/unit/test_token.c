/* Unit tests for token.c: lock tokens in each runtime's shape, crossredis's check characters, the
 * origin of a token, the per-thread random buffer across fork(). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "crossredis/error.h"
#include "crossredis/token.h"

#define S(lit) lit, sizeof(lit) - 1 /* a string literal as (bytes, length), NULs included */

static const char B36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
static const char HEX[] = "0123456789abcdef";

/* The check characters as SPEC'd in the brief, written independently of token.c: FNV-1a 32 over
 * "crossredis:" + the token without its last two characters. */
static void expected_check(char out[2], const char *tok, size_t len, xr_token_suffix shape) {
  uint32_t h = 2166136261u;
  const char *salt = "crossredis:";
  for (const char *c = salt; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
  for (size_t i = 0; i + 2 < len; i++) h = (h ^ (unsigned char)tok[i]) * 16777619u;
  if (shape == XR_TOKEN_BASE36) {
    out[0] = B36[(h % 1296) / 36];
    out[1] = B36[(h % 1296) % 36];
  } else {
    out[0] = HEX[(h % 256) / 16];
    out[1] = HEX[(h % 256) % 16];
  }
}

static void assert_error(int rc, int code, const char *needle) {
  assert_int_equal(rc, code);
  const xr_error *e = xr_error_last();
  assert_int_equal(e->code, code);
  if (strstr(e->message, needle) == NULL)
    fail_msg("message \"%s\" lacks \"%s\"", e->message, needle);
}

/* ---- tokens the upstream runtimes wrote ------------------------------------------------------ */

typedef struct origin_case {
  const char *token;
  size_t len;
  xr_chat_origin origin;
  xr_chat_origin shape_of;
  int64_t created_ms;
  const char *prefix; /* NULL: none */
} origin_case;

#define CASE(lit, origin, shape_of, ms, prefix) {lit, sizeof(lit) - 1, origin, shape_of, ms, prefix}
#define SAME(lit, origin, ms, prefix) CASE(lit, origin, origin, ms, prefix)

static void check_cases(const origin_case *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const origin_case *c = &cases[i];
    xr_chat_token_info info;
    memset(&info, 0xa5, sizeof info);
    xr_chat_origin got = xr_chat_origin_of(&info, c->token, c->len);
    if (got != c->origin || info.origin != c->origin || info.shape_of != c->shape_of ||
        info.created_ms != c->created_ms)
      fail_msg("case %zu \"%s\": origin %s shape_of %s ms %lld, want %s %s %lld", i, c->token,
               xr_chat_origin_name(got), xr_chat_origin_name(info.shape_of),
               (long long)info.created_ms, xr_chat_origin_name(c->origin),
               xr_chat_origin_name(c->shape_of), (long long)c->created_ms);
    if (c->prefix == NULL) {
      assert_null(info.prefix);
      assert_int_equal(info.prefix_len, 0);
    } else {
      assert_ptr_equal(info.prefix, c->token);
      assert_int_equal(info.prefix_len, strlen(c->prefix));
      assert_memory_equal(info.prefix, c->prefix, info.prefix_len);
    }
    assert_int_equal(xr_chat_origin_of(NULL, c->token, c->len), c->origin);
    /* Which writers it may come from: a crossredis answer in an upstream writer's shape also
     * names that writer, every other answer is the only one. */
    unsigned want = XR_CHAT_ORIGIN_BIT(c->origin);
    if (c->origin == XR_CHAT_ORIGIN_CROSSREDIS && c->shape_of != XR_CHAT_ORIGIN_UNKNOWN) want |= XR_CHAT_ORIGIN_BIT(c->shape_of);
    if (xr_chat_origins(c->token, c->len) != want)
      fail_msg("case %zu \"%s\": origins 0x%x, want 0x%x", i, c->token, xr_chat_origins(c->token, c->len), want);
  }
}

static void test_captured_tokens(void **state) {
  (void)state;
  static const origin_case cases[] = {
      /* /work/shared/vectors/chat-ts-node-redis.monitor.txt */
      SAME("redis_1795298426809_6ot9agkyks5", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1795298426809, "redis"),
      SAME("redis_1795298426810_uatwoud15vs", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1795298426810, "redis"),
      SAME("redis_1795298426828_ogkcevy4wpn", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1795298426828, "redis"),
      /* chat-ts-ioredis.monitor.txt (ioredis sends the command as lower-case "set") */
      SAME("ioredis_1795298431807_j5nlkbnyltf", XR_CHAT_ORIGIN_TS_IOREDIS, 1795298431807, "ioredis"),
      SAME("ioredis_1795298431807_rdyngon1d9q", XR_CHAT_ORIGIN_TS_IOREDIS, 1795298431807, "ioredis"),
      SAME("ioredis_1795298431813_9bes33ebq36", XR_CHAT_ORIGIN_TS_IOREDIS, 1795298431813, "ioredis"),
      SAME("redis_1795298529771_yevpdc5935g", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1795298529771, "redis"),
      /* chat-ts-core-drop-strategy.monitor.txt */
      SAME("redis_1795298510548_eru2yfzinj", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1795298510548, "redis"),
      SAME("redis_1795298510609_p4ugvfy44e", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1795298510609, "redis"),
      SAME("redis_1795298510609_zi0eqilpe4", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1795298510609, "redis"),
      /* chat-ts-core-queue-strategy.monitor.txt */
      SAME("redis_1795298512068_yhbzgfi7nwi", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1795298512068, "redis"),
      SAME("redis_1795298512125_erm7auvqplc", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1795298512125, "redis"),
      SAME("redis_1795298512125_mj8xo67brg", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1795298512125, "redis"),
      /* chat-python-port.monitor.txt */
      SAME("redis_1795298445478_1e5da04afffc52455cb070715847468d", XR_CHAT_ORIGIN_PYTHON_REDIS,
           1795298445478, "redis"),
      SAME("ioredis_1795298445821_605290f06e43cd9c42a41d407ba4e551", XR_CHAT_ORIGIN_PYTHON_IOREDIS,
           1795298445821, "ioredis"),
  };
  check_cases(cases, sizeof cases / sizeof cases[0]);
}

/* ---- upstream shapes and what is not one ----------------------------------------------------- */

static void test_shapes(void **state) {
  (void)state;
  static const origin_case cases[] = {
      SAME("mem_1700000000000_k3j2h1g0f9e", XR_CHAT_ORIGIN_TS_MEMORY, 1700000000000, "mem"),
      SAME("redis_1_a", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1, "redis"),
      /* base36 of hex letters only, 13 or fewer characters: still TS (Python's is 32 long) */
      SAME("redis_1700000000000_abcdef0123", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1700000000000, "redis"),
      SAME("ioredis_0_0", XR_CHAT_ORIGIN_TS_IOREDIS, 0, "ioredis"),
      SAME("pg_3b241101-e2bb-4255-8caf-4136c566a962", XR_CHAT_ORIGIN_TS_PG, -1, "pg"),
      SAME("pg_00000000-0000-0000-0000-000000000000", XR_CHAT_ORIGIN_TS_PG, -1, "pg"),
      /* leading zeros and 20 digits still parse as a time */
      SAME("redis_00000001700000000000_abc", XR_CHAT_ORIGIN_TS_NODE_REDIS, 1700000000000, "redis"),
      SAME("redis_9223372036854775807_abc", XR_CHAT_ORIGIN_TS_NODE_REDIS, INT64_MAX, "redis"),
      /* hex from a prefix Python never uses with it */
      SAME("mem_1700000000000_1e5da04afffc52455cb070715847468d", XR_CHAT_ORIGIN_UNKNOWN, 1700000000000,
           "mem"),
  };
  check_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_unknown(void **state) {
  (void)state;
  static const origin_case cases[] = {
      SAME("", XR_CHAT_ORIGIN_UNKNOWN, -1, NULL),
      SAME("garbage", XR_CHAT_ORIGIN_UNKNOWN, -1, NULL),
      SAME("_1700000000000_abc", XR_CHAT_ORIGIN_UNKNOWN, -1, NULL),
      SAME("redis_", XR_CHAT_ORIGIN_UNKNOWN, -1, "redis"),
      SAME("redis_abc_x", XR_CHAT_ORIGIN_UNKNOWN, -1, "redis"),
      SAME("redis_1700000000000", XR_CHAT_ORIGIN_UNKNOWN, -1, "redis"),
      SAME("redis_1700000000000_", XR_CHAT_ORIGIN_UNKNOWN, 1700000000000, "redis"),
      SAME("redis__abc", XR_CHAT_ORIGIN_UNKNOWN, -1, "redis"),
      SAME("redis_-1_abc", XR_CHAT_ORIGIN_UNKNOWN, -1, "redis"),
      /* 14 base36 characters: longer than Math.random() gives */
      SAME("redis_1700000000000_abcdefghijklm0", XR_CHAT_ORIGIN_UNKNOWN, 1700000000000, "redis"),
      SAME("redis_1700000000000_ABC", XR_CHAT_ORIGIN_UNKNOWN, 1700000000000, "redis"),
      SAME("redis_1700000000000_abc_def", XR_CHAT_ORIGIN_UNKNOWN, 1700000000000, "redis"),
      /* upper-case, 31 and 33 hex digits */
      SAME("redis_1795298445478_1E5DA04AFFFC52455CB070715847468D", XR_CHAT_ORIGIN_UNKNOWN, 1795298445478,
           "redis"),
      SAME("redis_1795298445478_1e5da04afffc52455cb070715847468", XR_CHAT_ORIGIN_UNKNOWN, 1795298445478,
           "redis"),
      SAME("redis_1795298445478_1e5da04afffc52455cb070715847468d0", XR_CHAT_ORIGIN_UNKNOWN,
           1795298445478, "redis"),
      /* an unknown prefix keeps its time */
      SAME("foo_123_abc", XR_CHAT_ORIGIN_UNKNOWN, 123, "foo"),
      SAME("Redis_1700000000000_abc", XR_CHAT_ORIGIN_UNKNOWN, 1700000000000, "Redis"),
      /* 21 digits; 19 digits above INT64_MAX */
      SAME("redis_000000001700000000000_abc", XR_CHAT_ORIGIN_UNKNOWN, -1, "redis"),
      SAME("redis_9223372036854775808_abc", XR_CHAT_ORIGIN_UNKNOWN, -1, "redis"),
      SAME("redis_99999999999999999999_abc", XR_CHAT_ORIGIN_UNKNOWN, -1, "redis"),
      /* malformed UUIDs */
      SAME("pg_3B241101-E2BB-4255-8CAF-4136C566A962", XR_CHAT_ORIGIN_UNKNOWN, -1, "pg"),
      SAME("pg_3b241101e2bb42558caf4136c566a962", XR_CHAT_ORIGIN_UNKNOWN, -1, "pg"),
      SAME("pg_3b241101-e2bb-4255-8caf-4136c566a96", XR_CHAT_ORIGIN_UNKNOWN, -1, "pg"),
      SAME("pg_3b241101-e2bb-4255-8caf-4136c566a9622", XR_CHAT_ORIGIN_UNKNOWN, -1, "pg"),
      SAME("pg_3b2411010e2bb-4255-8caf-4136c566a96", XR_CHAT_ORIGIN_UNKNOWN, -1, "pg"),
      SAME("pg_{3b241101-e2bb-4255-8caf-4136c566a962}", XR_CHAT_ORIGIN_UNKNOWN, -1, "pg"),
      SAME("mem_3b241101-e2bb-4255-8caf-4136c566a962", XR_CHAT_ORIGIN_UNKNOWN, -1, "mem"),
      /* NUL bytes anywhere */
      SAME("redis_1795298426809_6ot9agkyks5\0", XR_CHAT_ORIGIN_UNKNOWN, -1, NULL),
      SAME("redis_1795298426809_6ot9\0gkyks5", XR_CHAT_ORIGIN_UNKNOWN, -1, NULL),
      SAME("\0redis_1795298426809_6ot9agkyks5", XR_CHAT_ORIGIN_UNKNOWN, -1, NULL),
      SAME("red\0is_1795298426809_6ot9agkyks5", XR_CHAT_ORIGIN_UNKNOWN, -1, NULL),
      SAME("prefix with space_1_a", XR_CHAT_ORIGIN_UNKNOWN, -1, NULL),
  };
  check_cases(cases, sizeof cases / sizeof cases[0]);

  /* NULL token; a length shorter than the string */
  xr_chat_token_info info;
  assert_int_equal(xr_chat_origin_of(&info, NULL, 5), XR_CHAT_ORIGIN_UNKNOWN);
  assert_int_equal(info.created_ms, -1);
  assert_null(info.prefix);
  assert_int_equal(xr_chat_origin_of(&info, "redis_1_abc", 7), XR_CHAT_ORIGIN_UNKNOWN);
  assert_int_equal(xr_chat_origin_of(&info, "redis_1_abc", 9), XR_CHAT_ORIGIN_TS_NODE_REDIS);
}

/* ---- generated tokens ------------------------------------------------------------------------ */

static int cmp_tokens(const void *a, const void *b) { return strcmp(a, b); }

#define NGEN 10000

static void generate(const char *prefix, xr_token_suffix shape, xr_chat_origin shape_of) {
  const int64_t now = INT64_C(1795298426809);
  const char *ms = "1795298426809";
  size_t plen = strlen(prefix);
  size_t rand_len = shape == XR_TOKEN_BASE36 ? 13 : 32;
  const char *alphabet = shape == XR_TOKEN_BASE36 ? B36 : HEX;
  size_t want_len = plen + 1 + 13 + 1 + rand_len;
  char(*toks)[XR_TOKEN_MAX] = calloc(NGEN, XR_TOKEN_MAX);
  assert_non_null(toks);
  for (size_t i = 0; i < NGEN; i++) {
    char *t = toks[i];
    int n = xr_token_make(t, XR_TOKEN_MAX, prefix, plen, now, shape);
    assert_int_equal(n, want_len);
    assert_int_equal(strlen(t), want_len);
    /* ^<prefix>_<13 digits = now>_<suffix>$ */
    assert_memory_equal(t, prefix, plen);
    assert_int_equal(t[plen], '_');
    assert_memory_equal(t + plen + 1, ms, 13);
    assert_int_equal(t[plen + 14], '_');
    for (size_t k = plen + 15; k < want_len; k++)
      if (strchr(alphabet, t[k]) == NULL || t[k] == '\0') fail_msg("\"%s\": bad suffix char", t);
    char check[2];
    expected_check(check, t, want_len, shape);
    assert_memory_equal(t + want_len - 2, check, 2);

    xr_chat_token_info info;
    assert_int_equal(xr_chat_origin_of(&info, t, want_len), XR_CHAT_ORIGIN_CROSSREDIS);
    assert_int_equal(info.origin, XR_CHAT_ORIGIN_CROSSREDIS);
    assert_int_equal(info.shape_of, shape_of);
    /* the shape is also shape_of's: both may have written it */
    assert_int_equal(xr_chat_origins(t, want_len), XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_CROSSREDIS) | XR_CHAT_ORIGIN_BIT(shape_of));
    assert_int_equal(info.created_ms, now);
    assert_ptr_equal(info.prefix, t);
    assert_int_equal(info.prefix_len, plen);
  }
  qsort(toks, NGEN, XR_TOKEN_MAX, cmp_tokens);
  for (size_t i = 1; i < NGEN; i++)
    if (strcmp(toks[i - 1], toks[i]) == 0) fail_msg("duplicate token %s", toks[i]);
  free(toks);
}

static void test_generated(void **state) {
  (void)state;
  generate("redis", XR_TOKEN_BASE36, XR_CHAT_ORIGIN_TS_NODE_REDIS);
  generate("ioredis", XR_TOKEN_BASE36, XR_CHAT_ORIGIN_TS_IOREDIS);
  generate("redis", XR_TOKEN_HEX32, XR_CHAT_ORIGIN_PYTHON_REDIS);
  generate("ioredis", XR_TOKEN_HEX32, XR_CHAT_ORIGIN_PYTHON_IOREDIS);
}

static void expect_made(const char *prefix, int64_t now, xr_token_suffix shape, const char *ms,
                        xr_chat_origin shape_of) {
  char t[XR_TOKEN_MAX];
  size_t plen = strlen(prefix);
  int n = xr_token_make(t, sizeof t, prefix, plen, now, shape);
  size_t want = plen + 1 + strlen(ms) + 1 + (shape == XR_TOKEN_BASE36 ? 13 : 32);
  assert_int_equal(n, want);
  assert_memory_equal(t + plen + 1, ms, strlen(ms));
  xr_chat_token_info info;
  assert_int_equal(xr_chat_origin_of(&info, t, (size_t)n), XR_CHAT_ORIGIN_CROSSREDIS);
  assert_int_equal(info.shape_of, shape_of);
  assert_int_equal(info.created_ms, now);
  assert_int_equal(info.prefix_len, plen);
  /* a prefix no upstream writer uses with that suffix: only crossredis writes it */
  unsigned set = XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_CROSSREDIS);
  if (shape_of != XR_CHAT_ORIGIN_UNKNOWN) set |= XR_CHAT_ORIGIN_BIT(shape_of);
  assert_int_equal(xr_chat_origins(t, (size_t)n), set);
}

static void test_other_prefixes_and_times(void **state) {
  (void)state;
  expect_made("mem", 1700000000000, XR_TOKEN_BASE36, "1700000000000", XR_CHAT_ORIGIN_TS_MEMORY);
  expect_made("mem", 1700000000000, XR_TOKEN_HEX32, "1700000000000", XR_CHAT_ORIGIN_UNKNOWN);
  expect_made("pg", 1700000000000, XR_TOKEN_BASE36, "1700000000000", XR_CHAT_ORIGIN_UNKNOWN);
  expect_made("my-App-2", 5, XR_TOKEN_BASE36, "5", XR_CHAT_ORIGIN_UNKNOWN);
  expect_made("redis", 0, XR_TOKEN_BASE36, "0", XR_CHAT_ORIGIN_TS_NODE_REDIS);
  expect_made("ioredis", INT64_MAX, XR_TOKEN_HEX32, "9223372036854775807",
              XR_CHAT_ORIGIN_PYTHON_IOREDIS);
  char p64[XR_TOKEN_PREFIX_MAX + 1];
  memset(p64, 'x', XR_TOKEN_PREFIX_MAX);
  p64[XR_TOKEN_PREFIX_MAX] = '\0';
  expect_made(p64, INT64_MAX, XR_TOKEN_HEX32, "9223372036854775807", XR_CHAT_ORIGIN_UNKNOWN);

  /* every digit count, and the numbers either side of each power of ten */
  for (int k = 0; k <= 18; k++) {
    int64_t pow10 = 1;
    for (int j = 0; j < k; j++) pow10 *= 10;
    /* 9.14e18 at most: below INT64_MAX */
    const int64_t times[] = {pow10 - 1, pow10, pow10 + 1, pow10 * 9 + pow10 / 7};
    for (size_t j = 0; j < sizeof times / sizeof times[0]; j++) {
      char ms[24];
      snprintf(ms, sizeof ms, "%lld", (long long)times[j]);
      expect_made("redis", times[j], XR_TOKEN_BASE36, ms, XR_CHAT_ORIGIN_TS_NODE_REDIS);
    }
  }

  /* the longest token fits XR_TOKEN_MAX; a buffer of exactly its size is enough */
  char t[XR_TOKEN_MAX];
  int n = xr_token_make(t, sizeof t, p64, XR_TOKEN_PREFIX_MAX, INT64_MAX, XR_TOKEN_HEX32);
  assert_int_equal(n, 64 + 1 + 19 + 1 + 32);
  char exact[5 + 13 + 1]; /* "r_12_" + 13 + NUL */
  assert_int_equal(xr_token_make(exact, sizeof exact, S("r"), 12, XR_TOKEN_BASE36), 18);
  assert_int_equal(strlen(exact), 18);
  /* the prefix is taken by length, not up to a NUL */
  assert_int_equal(xr_token_make(t, sizeof t, "redisXYZ", 5, 7, XR_TOKEN_BASE36), 5 + 3 + 13);
  assert_memory_equal(t, "redis_7_", 8);
}

static void test_flipped_check(void **state) {
  (void)state;
  static const struct {
    const char *prefix;
    xr_token_suffix shape;
    xr_chat_origin upstream;
  } cases[] = {
      {"redis", XR_TOKEN_BASE36, XR_CHAT_ORIGIN_TS_NODE_REDIS},
      {"ioredis", XR_TOKEN_BASE36, XR_CHAT_ORIGIN_TS_IOREDIS},
      {"mem", XR_TOKEN_BASE36, XR_CHAT_ORIGIN_TS_MEMORY},
      {"redis", XR_TOKEN_HEX32, XR_CHAT_ORIGIN_PYTHON_REDIS},
      {"ioredis", XR_TOKEN_HEX32, XR_CHAT_ORIGIN_PYTHON_IOREDIS},
      {"other", XR_TOKEN_BASE36, XR_CHAT_ORIGIN_UNKNOWN},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const char *alphabet = cases[c].shape == XR_TOKEN_BASE36 ? B36 : HEX;
    size_t alen = strlen(alphabet);
    for (int round = 0; round < 200; round++) {
      char t[XR_TOKEN_MAX];
      int n = xr_token_make(t, sizeof t, cases[c].prefix, strlen(cases[c].prefix), 1795298426809,
                            cases[c].shape);
      assert_true(n > 0);
      for (int pos = 1; pos <= 2; pos++) {
        char saved = t[n - pos];
        size_t idx = (size_t)(strchr(alphabet, saved) - alphabet);
        t[n - pos] = alphabet[(idx + 1 + (size_t)round % (alen - 1)) % alen];
        xr_chat_token_info info;
        assert_int_equal(xr_chat_origin_of(&info, t, (size_t)n), cases[c].upstream);
        assert_int_equal(info.shape_of, cases[c].upstream);
        assert_int_equal(info.created_ms, 1795298426809);
        /* failing the check, it is certainly not crossredis's */
        assert_int_equal(xr_chat_origins(t, (size_t)n), XR_CHAT_ORIGIN_BIT(cases[c].upstream));
        t[n - pos] = saved;
      }
      assert_int_equal(xr_chat_origin_of(NULL, t, (size_t)n), XR_CHAT_ORIGIN_CROSSREDIS);
      /* a random character changed breaks the check too, unless it collides by chance */
    }
  }
}

/* Upstream tokens that pass crossredis's check by chance (1 in 1296 base36, 1 in 256 hex): the
 * suffixes are enumerated, not drawn, so the same tokens are found on every run. Such a token is
 * reported as crossredis's or the upstream writer's, never as one of them for certain; the next
 * suffix that fails the check is the upstream writer's for certain. */
static void find_upstream_tokens(const char *prefix, xr_token_suffix shape, char passing[XR_TOKEN_MAX],
                                 char failing[XR_TOKEN_MAX]) {
  const char *alphabet = shape == XR_TOKEN_BASE36 ? B36 : HEX;
  size_t base = strlen(alphabet), slen = shape == XR_TOKEN_BASE36 ? 13 : 32;
  bool have_pass = false, have_fail = false;
  for (unsigned long k = 0; k < 1000000 && !(have_pass && have_fail); k++) {
    char t[XR_TOKEN_MAX];
    int n = snprintf(t, sizeof t, "%s_1795298445478_", prefix);
    unsigned long v = k * 2654435761ul; /* spread the suffixes over the alphabet */
    for (size_t i = 0; i < slen; i++, v /= base) t[n + (int)i] = alphabet[(v + i * 7) % base];
    size_t len = (size_t)n + slen;
    t[len] = '\0';
    char check[2];
    expected_check(check, t, len, shape);
    bool passes = t[len - 2] == check[0] && t[len - 1] == check[1];
    if (passes && !have_pass) memcpy(passing, t, len + 1), have_pass = true;
    if (!passes && !have_fail) memcpy(failing, t, len + 1), have_fail = true;
  }
  if (!have_pass || !have_fail) fail_msg("no %s token passing the check among a million", prefix);
}

static void test_upstream_tokens_passing_the_check(void **state) {
  (void)state;
  static const struct {
    const char *prefix;
    xr_token_suffix shape;
    xr_chat_origin upstream;
    const char *text;
  } cases[] = {
      {"redis", XR_TOKEN_HEX32, XR_CHAT_ORIGIN_PYTHON_REDIS, "crossredis or python-redis"},
      {"ioredis", XR_TOKEN_HEX32, XR_CHAT_ORIGIN_PYTHON_IOREDIS, "crossredis or python-ioredis"},
      {"redis", XR_TOKEN_BASE36, XR_CHAT_ORIGIN_TS_NODE_REDIS, "crossredis or ts-node-redis"},
      {"ioredis", XR_TOKEN_BASE36, XR_CHAT_ORIGIN_TS_IOREDIS, "crossredis or ts-ioredis"},
      {"mem", XR_TOKEN_BASE36, XR_CHAT_ORIGIN_TS_MEMORY, "crossredis or ts-memory"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char passing[XR_TOKEN_MAX], failing[XR_TOKEN_MAX];
    find_upstream_tokens(cases[c].prefix, cases[c].shape, passing, failing);
    xr_chat_token_info info;
    assert_int_equal(xr_chat_origin_of(&info, passing, strlen(passing)), XR_CHAT_ORIGIN_CROSSREDIS);
    assert_int_equal(info.shape_of, cases[c].upstream);
    unsigned set = xr_chat_origins(passing, strlen(passing));
    assert_int_equal(set, XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_CROSSREDIS) | XR_CHAT_ORIGIN_BIT(cases[c].upstream));
    char text[XR_CHAT_ORIGINS_TEXT_MAX];
    assert_int_equal(xr_chat_origins_text(set, text, sizeof text), strlen(cases[c].text));
    assert_string_equal(text, cases[c].text);

    assert_int_equal(xr_chat_origin_of(&info, failing, strlen(failing)), cases[c].upstream);
    assert_int_equal(xr_chat_origins(failing, strlen(failing)), XR_CHAT_ORIGIN_BIT(cases[c].upstream));
  }
}

static void test_origins_text(void **state) {
  (void)state;
  char buf[XR_CHAT_ORIGINS_TEXT_MAX];
  static const struct {
    unsigned set;
    const char *text;
  } cases[] = {
      {0, "unknown"},
      {XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_UNKNOWN), "unknown"},
      {XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_TS_PG), "ts-pg"},
      {XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_CROSSREDIS), "crossredis"},
      {XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_PYTHON_REDIS) | XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_CROSSREDIS), "crossredis or python-redis"},
      {XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_TS_IOREDIS) | XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_TS_NODE_REDIS), "ts-node-redis or ts-ioredis"},
      {XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_TS_MEMORY) | 0x80000000u | XR_CHAT_ORIGIN_BIT(8), "ts-memory"}, /* outside the enum */
      {0x80000000u, "unknown"},
      {0xffffffffu, "crossredis or unknown or ts-node-redis or ts-ioredis or ts-memory or ts-pg or python-redis or "
                    "python-ioredis"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memset(buf, 'x', sizeof buf);
    assert_int_equal(xr_chat_origins_text(cases[i].set, buf, sizeof buf), strlen(cases[i].text));
    assert_string_equal(buf, cases[i].text);
    assert_int_equal(xr_chat_origins_text(cases[i].set, NULL, 0), strlen(cases[i].text));
  }
  /* truncated like snprintf: the length it needs, as much as fits, NUL-terminated */
  unsigned two = XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_PYTHON_REDIS) | XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_CROSSREDIS);
  memset(buf, 'x', sizeof buf);
  assert_int_equal(xr_chat_origins_text(two, buf, 14), 26);
  assert_string_equal(buf, "crossredis or");
  assert_int_equal(buf[14], 'x');
  assert_int_equal(xr_chat_origins_text(two, buf, 1), 26);
  assert_string_equal(buf, "");
  assert_int_equal(xr_chat_origins_text(two, buf, 12), 26);
  assert_string_equal(buf, "crossredis ");
}

/* Each random position of a base36 suffix takes every character about equally often; the bounds
 * are dozens of standard deviations wide so the test never flakes, yet a modulo bias or a stuck
 * position fails it. */
static void test_uniform(void **state) {
  (void)state;
  enum { DRAWS = 100000 };
  static unsigned counts[11][36];
  memset(counts, 0, sizeof counts);
  char t[XR_TOKEN_MAX];
  for (int i = 0; i < DRAWS; i++) {
    int n = xr_token_make(t, sizeof t, S("redis"), 1795298426809, XR_TOKEN_BASE36);
    assert_int_equal(n, 5 + 1 + 13 + 1 + 13);
    for (int k = 0; k < 11; k++) counts[k][strchr(B36, t[20 + k]) - B36]++;
  }
  const double expected = DRAWS / 36.0;
  for (int k = 0; k < 11; k++) {
    double chi2 = 0;
    for (int c = 0; c < 36; c++) {
      if (counts[k][c] < 100) fail_msg("position %d: '%c' only %u times", k, B36[c], counts[k][c]);
      assert_true(counts[k][c] > expected / 2 && counts[k][c] < expected * 1.5);
      double d = counts[k][c] - expected;
      chi2 += d * d / expected;
    }
    /* 35 degrees of freedom: mean 35, sd 8.4 */
    if (chi2 > 150) fail_msg("position %d: chi-square %.1f", k, chi2);
  }

  enum { HEX_DRAWS = 20000 };
  static unsigned hcounts[30][16];
  memset(hcounts, 0, sizeof hcounts);
  for (int i = 0; i < HEX_DRAWS; i++) {
    int n = xr_token_make(t, sizeof t, S("redis"), 1795298426809, XR_TOKEN_HEX32);
    assert_int_equal(n, 5 + 1 + 13 + 1 + 32);
    for (int k = 0; k < 30; k++) hcounts[k][strchr(HEX, t[20 + k]) - HEX]++;
  }
  for (int k = 0; k < 30; k++)
    for (int c = 0; c < 16; c++)
      assert_true(hcounts[k][c] > HEX_DRAWS / 32 && hcounts[k][c] < HEX_DRAWS * 3 / 32);
}

static void test_bad_inputs(void **state) {
  (void)state;
  char t[XR_TOKEN_MAX];
  memcpy(t, "junk", 5);
  assert_error(xr_token_make(t, sizeof t, S(""), 1, XR_TOKEN_BASE36), XR_EINVAL, "prefix is empty");
  assert_string_equal(t, "");
  assert_error(xr_token_make(t, sizeof t, NULL, 0, 1, XR_TOKEN_BASE36), XR_EINVAL,
               "prefix is empty");
  assert_error(xr_token_make(t, sizeof t, NULL, 3, 1, XR_TOKEN_BASE36), XR_EINVAL,
               "prefix is NULL");
  assert_error(xr_token_make(t, sizeof t, S("my_app"), 1, XR_TOKEN_BASE36), XR_EINVAL,
               "prefix holds '_' at offset 2");
  assert_error(xr_token_make(t, sizeof t, S("a:b"), 1, XR_TOKEN_BASE36), XR_EINVAL,
               "prefix holds ':' at offset 1");
  assert_error(xr_token_make(t, sizeof t, S("a b"), 1, XR_TOKEN_BASE36), XR_EINVAL,
               "prefix holds ' ' at offset 1");
  assert_error(xr_token_make(t, sizeof t, S("ab\0"), 1, XR_TOKEN_BASE36), XR_EINVAL,
               "prefix holds byte 0x00 at offset 2");
  assert_error(xr_token_make(t, sizeof t, S("r\xc3\xa9"), 1, XR_TOKEN_BASE36), XR_EINVAL,
               "byte 0xc3 at offset 1");
  char p65[XR_TOKEN_PREFIX_MAX + 1];
  memset(p65, 'x', sizeof p65);
  assert_error(xr_token_make(t, sizeof t, p65, sizeof p65, 1, XR_TOKEN_BASE36), XR_EINVAL,
               "prefix is 65 bytes long; at most 64");
  assert_error(xr_token_make(t, sizeof t, S("redis"), -1, XR_TOKEN_BASE36), XR_EINVAL,
               "now_ms is negative (-1)");
  assert_error(xr_token_make(t, sizeof t, S("redis"), INT64_MIN, XR_TOKEN_HEX32), XR_EINVAL,
               "now_ms is negative");
  assert_error(xr_token_make(t, sizeof t, S("redis"), 1, (xr_token_suffix)0), XR_EINVAL,
               "unknown token suffix shape 0");
  assert_error(xr_token_make(t, sizeof t, S("redis"), 1, (xr_token_suffix)3), XR_EINVAL,
               "unknown token suffix shape 3");
  /* "redis_12_" + 13 = 22 bytes and a NUL */
  memcpy(t, "junk", 5);
  assert_error(xr_token_make(t, 22, S("redis"), 12, XR_TOKEN_BASE36), XR_EINVAL,
               "too small: 22 bytes, the token needs 23");
  assert_string_equal(t, "");
  assert_error(xr_token_make(t, 0, S("redis"), 12, XR_TOKEN_BASE36), XR_EINVAL, "too small");
  assert_error(xr_token_make(NULL, 64, S("redis"), 12, XR_TOKEN_BASE36), XR_EINVAL,
               "buffer is NULL");
  assert_int_equal(xr_token_make(t, 23, S("redis"), 12, XR_TOKEN_BASE36), 22);
}

static void test_names(void **state) {
  (void)state;
  static const struct {
    xr_chat_origin origin;
    const char *name;
  } names[] = {
      {XR_CHAT_ORIGIN_UNKNOWN, "unknown"},         {XR_CHAT_ORIGIN_TS_NODE_REDIS, "ts-node-redis"},
      {XR_CHAT_ORIGIN_TS_IOREDIS, "ts-ioredis"},   {XR_CHAT_ORIGIN_TS_MEMORY, "ts-memory"},
      {XR_CHAT_ORIGIN_TS_PG, "ts-pg"},             {XR_CHAT_ORIGIN_PYTHON_REDIS, "python-redis"},
      {XR_CHAT_ORIGIN_PYTHON_IOREDIS, "python-ioredis"}, {XR_CHAT_ORIGIN_CROSSREDIS, "crossredis"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    assert_string_equal(xr_chat_origin_name(names[i].origin), names[i].name);
    xr_chat_origin o = (xr_chat_origin)99;
    assert_int_equal(xr_chat_origin_parse(&o, names[i].name), XR_OK);
    assert_int_equal(o, names[i].origin);
  }
  assert_string_equal(xr_chat_origin_name((xr_chat_origin)8), "unknown");
  assert_string_equal(xr_chat_origin_name((xr_chat_origin)-1), "unknown");

  xr_chat_origin o = XR_CHAT_ORIGIN_TS_PG;
  assert_error(xr_chat_origin_parse(&o, "TS-PG"), XR_EINVAL,
               "unknown token origin \"TS-PG\"; valid names: ts-node-redis, ts-ioredis, ts-memory, "
               "ts-pg, python-redis, python-ioredis, crossredis, unknown");
  assert_int_equal(o, XR_CHAT_ORIGIN_TS_PG);
  assert_error(xr_chat_origin_parse(&o, ""), XR_EINVAL, "valid names:");
  assert_error(xr_chat_origin_parse(&o, "crossredis "), XR_EINVAL, "valid names:");
  assert_error(xr_chat_origin_parse(&o, NULL), XR_EINVAL, "name is NULL");
  assert_error(xr_chat_origin_parse(NULL, "ts-pg"), XR_EINVAL, "NULL");
}

/* ---- random bytes ---------------------------------------------------------------------------- */

/* xr_uuid4: Python's str(uuid.uuid4()) shape (8-4-4-4-12 lower-case hex, version 4, variant 10),
 * and different each time. */
static void test_uuid4(void **state) {
  (void)state;
  char prev[XR_UUID4_LEN + 1] = "";
  for (int n = 0; n < 1000; n++) {
    char u[XR_UUID4_LEN + 1];
    memset(u, 'x', sizeof u);
    assert_int_equal(xr_uuid4(u), XR_OK);
    assert_int_equal(strlen(u), XR_UUID4_LEN);
    for (int i = 0; i < XR_UUID4_LEN; i++) {
      if (i == 8 || i == 13 || i == 18 || i == 23) assert_int_equal(u[i], '-');
      else assert_non_null(strchr("0123456789abcdef", u[i]));
    }
    assert_int_equal(u[14], '4');
    assert_non_null(strchr("89ab", u[19]));
    assert_string_not_equal(u, prev);
    memcpy(prev, u, sizeof u);
  }
  assert_error(xr_uuid4(NULL), XR_EINVAL, "NULL");
}

static void test_random_bytes(void **state) {
  (void)state;
  assert_int_equal(xr_random_bytes(NULL, 0), XR_OK);
  assert_error(xr_random_bytes(NULL, 1), XR_EINVAL, "NULL");
  /* sizes around the buffer: in place, across a refill, straight from the kernel */
  static const size_t sizes[] = {1, 7, 64, 255, 256, 257, 1000, 4096};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    size_t n = sizes[s];
    unsigned char *a = calloc(2, n + 16), *b = a + n + 16;
    assert_non_null(a);
    memset(a + n, 0xee, 16);
    assert_int_equal(xr_random_bytes(a, n), XR_OK);
    assert_int_equal(xr_random_bytes(b, n), XR_OK);
    for (size_t k = 0; k < 16; k++) assert_int_equal(a[n + k], 0xee); /* no overrun */
    if (n >= 16) {
      assert_memory_not_equal(a, b, n);
      unsigned zeros = 0;
      for (size_t k = 0; k < n; k++) zeros += a[k] == 0;
      assert_true(zeros < n / 4 + 4);
    }
    free(a);
  }
}

static int read_full(int fd, void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t got = read(fd, p, n);
    if (got <= 0) return -1;
    p += got;
    n -= (size_t)got;
  }
  return 0;
}

/* A forked child shares its parent's memory image, buffered random bytes included; it must not
 * hand out the bytes the parent will. */
static void test_fork(void **state) {
  (void)state;
  for (int round = 0; round < 3; round++) {
    unsigned char warm[10 + 50 * 3];
    assert_int_equal(xr_random_bytes(warm, 10 + 50 * (size_t)round), XR_OK); /* fill the buffer */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      unsigned char mine[64];
      char tok[XR_TOKEN_MAX] = {0}; /* all of it goes down the pipe */
      int ok = xr_random_bytes(mine, sizeof mine) == XR_OK &&
               xr_token_make(tok, sizeof tok, S("redis"), 1795298426809, XR_TOKEN_HEX32) > 0;
      ok = ok && write(fds[1], mine, sizeof mine) == (ssize_t)sizeof mine &&
           write(fds[1], tok, sizeof tok) == (ssize_t)sizeof tok;
      _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    unsigned char mine[64], theirs[64];
    char tok[XR_TOKEN_MAX], their_tok[XR_TOKEN_MAX];
    assert_int_equal(xr_random_bytes(mine, sizeof mine), XR_OK);
    assert_true(xr_token_make(tok, sizeof tok, S("redis"), 1795298426809, XR_TOKEN_HEX32) > 0);
    int rc = read_full(fds[0], theirs, sizeof theirs);
    rc = rc == 0 ? read_full(fds[0], their_tok, sizeof their_tok) : rc;
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(rc, 0);
    assert_memory_not_equal(mine, theirs, sizeof mine);
    assert_string_not_equal(tok, their_tok);
  }
}

/* Each thread has its own buffer; tokens from concurrent threads never repeat. */
#define THREADS 4
#define PER_THREAD 2000

static void *make_many(void *arg) {
  char(*toks)[XR_TOKEN_MAX] = arg;
  for (int i = 0; i < PER_THREAD; i++)
    if (xr_token_make(toks[i], XR_TOKEN_MAX, "redis", 5, 1795298426809, XR_TOKEN_BASE36) <= 0)
      return arg;
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  char(*toks)[XR_TOKEN_MAX] = calloc(THREADS * PER_THREAD, XR_TOKEN_MAX);
  assert_non_null(toks);
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, make_many, toks + i * PER_THREAD), 0);
  for (int i = 0; i < THREADS; i++) {
    void *ret = toks;
    assert_int_equal(pthread_join(th[i], &ret), 0);
    assert_null(ret);
  }
  qsort(toks, THREADS * PER_THREAD, XR_TOKEN_MAX, cmp_tokens);
  for (size_t i = 1; i < THREADS * PER_THREAD; i++)
    if (strcmp(toks[i - 1], toks[i]) == 0) fail_msg("duplicate token %s", toks[i]);
  free(toks);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_captured_tokens), cmocka_unit_test(test_shapes),
      cmocka_unit_test(test_unknown),         cmocka_unit_test(test_generated),
      cmocka_unit_test(test_other_prefixes_and_times), cmocka_unit_test(test_flipped_check),
      cmocka_unit_test(test_upstream_tokens_passing_the_check), cmocka_unit_test(test_origins_text),
      cmocka_unit_test(test_uniform),         cmocka_unit_test(test_bad_inputs),
      cmocka_unit_test(test_names),           cmocka_unit_test(test_random_bytes), cmocka_unit_test(test_uuid4),
      cmocka_unit_test(test_fork),            cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
