/* Unit tests for keys.c: CRC16, cluster slots, MPP's hash tags, SCAN MATCH escaping. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/error.h"
#include "crossredis/keys.h"

#define S(lit) lit, sizeof(lit) - 1 /* a string literal as (bytes, length), NULs included */

static void test_crc16(void **state) {
  (void)state;
  assert_int_equal(xr_crc16(S("123456789")), 0x31C3);
  assert_int_equal(xr_crc16("", 0), 0);
  assert_int_equal(xr_crc16(NULL, 0), 0);
  assert_int_equal(xr_crc16(S("\0")), 0);
  /* Bitwise reference for every single byte value and a longer buffer. */
  unsigned char all[256];
  for (unsigned i = 0; i < 256; i++) all[i] = (unsigned char)i;
  uint16_t ref = 0;
  for (unsigned i = 0; i < 256; i++) {
    uint16_t one = (uint16_t)(i << 8);
    for (int k = 0; k < 8; k++) one = (uint16_t)((one & 0x8000) ? (one << 1) ^ 0x1021 : one << 1);
    assert_int_equal(xr_crc16(&all[i], 1), one);
    ref ^= (uint16_t)(all[i] << 8);
    for (int k = 0; k < 8; k++) ref = (uint16_t)((ref & 0x8000) ? (ref << 1) ^ 0x1021 : ref << 1);
  }
  assert_int_equal(xr_crc16(all, sizeof all), ref);
}

typedef struct slot_case {
  const char *key;
  size_t len;
  unsigned slot;
} slot_case;

#define SLOT(lit, slot) {lit, sizeof(lit) - 1, slot}

static void test_slots(void **state) {
  (void)state;
  static const slot_case cases[] = {
      /* SPEC.md section 5. */
      SLOT("somekey", 11058),
      SLOT("foo{hash_tag}", 2515),
      SLOT("{user1000}.following", 3443),
      SLOT("foo{}{bar}", 8363),
      SLOT("foo{{bar}}zap", 4015),
      SLOT("foo{bar}{zap}", 5061),
      SLOT("{}", 15257),
      /* Observed with CLUSTER KEYSLOT on a real redis-server 7.0.15 started by hand with
       * --cluster-enabled yes (no slots assigned); the binary keys were sent as raw RESP. */
      SLOT("123456789", 12739),
      SLOT("", 0),
      SLOT("{", 4092),
      SLOT("}", 12090),
      SLOT("}{", 12793),
      SLOT("a{b", 13340),
      SLOT("a}b{c}", 7365),
      SLOT("{a}", 15495),
      SLOT("{x}}", 16287),
      SLOT("{{}}", 4092),
      SLOT("mpp:browser:session:{session:11111111-1111-4111-8111-111111111111}", 1275),
      SLOT("mpp:browser:stream-token:{session:abc}:hash", 14788),
      SLOT("auth:code:{email:abc}:login", 983),
      SLOT("thv:proxy:session:0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f", 11656),
      SLOT("\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", 10303),                         /* "ключ" */
      SLOT("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e{\xe3\x82\xbf\xe3\x82\xb0}", 9716), /* 日本語{タグ} */
      SLOT("caf\xc3\xa9", 5735),
      SLOT("\0", 0),
      SLOT("a\0b", 8383),
      SLOT("\0{\0}\0", 0),
      SLOT("{\0}", 0),
      SLOT("\xff\xfe", 3374),
      SLOT("{\xff}tail", 7920),
      SLOT("\x80\x81\x82", 8761),
      SLOT("k\0{tag}\0", 8338),
      SLOT("\0\0\0\0", 0),
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    unsigned got = xr_key_slot(cases[i].key, cases[i].len);
    if (got != cases[i].slot) fail_msg("case %zu: slot %u, want %u", i, got, cases[i].slot);
  }
  assert_int_equal(xr_key_slot(NULL, 0), 0);
}

static void test_hash_span(void **state) {
  (void)state;
  const char *span;
  size_t n;
  const char *k1 = "foo{bar}{zap}";
  xr_key_hash_span(&span, &n, k1, strlen(k1));
  assert_ptr_equal(span, k1 + 4);
  assert_int_equal(n, 3);
  const char *k2 = "foo{}{bar}";
  xr_key_hash_span(&span, &n, k2, strlen(k2));
  assert_ptr_equal(span, k2);
  assert_int_equal(n, strlen(k2));
  const char *k3 = "foo{{bar}}zap";
  xr_key_hash_span(&span, &n, k3, strlen(k3));
  assert_int_equal(n, 4);
  assert_memory_equal(span, "{bar", 4);
  /* The length bounds the search: the '}' past it does not count. */
  const char *k4 = "a{b}";
  xr_key_hash_span(&span, &n, k4, 3);
  assert_ptr_equal(span, k4);
  assert_int_equal(n, 3);
}

/* Part/Tag goldens: produced by Go 1.26.8 on this machine running the MPP rediskey Part
 * function (strings.ToLower(strings.TrimSpace(v)), the rune loop, strings.Trim(r, "-")) in a
 * scratch program outside the tree. Notes from that run: Go's unicode.ToLower maps U+0130 'İ'
 * to plain 'i' (simple case mapping, no U+0307), and U+212A KELVIN SIGN to 'k'; those are the
 * only non-ASCII runes that lower-case to ASCII. U+200B and U+180E are not white space to Go. */
typedef struct part_case {
  const char *in;
  size_t len;
  const char *want;
} part_case;

#define PART(lit, want) {lit, sizeof(lit) - 1, want}

static void test_part(void **state) {
  (void)state;
  static const part_case cases[] = {
      PART(" Tenant:Workspace 1 ", "tenant:workspace-1"), /* MPP's own tests */
      PART(" @@@ ", "unknown"),
      PART("", "unknown"),
      PART("   ", "unknown"),
      PART("\xe2\x84\xaa" "elvin", "kelvin"),    /* U+212A KELVIN SIGN */
      PART("k\xe2\x84\xaa", "kk"),
      PART("\xc4\xb0stanbul", "istanbul"),       /* U+0130 */
      PART("x\xc4\xb0", "xi"),
      PART("\xc4\xb0", "i"),
      PART("a\xff" "b", "a-b"),                  /* invalid UTF-8: one rune per byte */
      PART("\xff", "unknown"),
      PART("a\xff\xfe" "b", "a-b"),
      PART("a\xc3(b", "a-b"),
      PART("\xe2\x82", "unknown"),
      PART("\xed\xa0\x80", "unknown"),           /* encoded surrogate */
      PART("\xf4\x90\x80\x80x", "x"),            /* above U+10FFFF */
      PART("\xc0\xafx", "x"),                    /* overlong */
      PART("\xef\xbf\xbd", "unknown"),           /* a real U+FFFD */
      PART("a--b", "a--b"),
      PART("-a-", "a"),
      PART("a@@b", "a-b"),
      PART("a@-@b", "a---b"),                    /* a literal '-' resets the run */
      PART("a-@b", "a--b"),
      PART("a@-b", "a--b"),
      PART("--", "unknown"),
      PART("...", "..."),
      PART("1.2.3", "1.2.3"),
      PART("A.B_C:D-E", "a.b_c:d-e"),
      PART("UPPER", "upper"),
      PART("a\0b", "a-b"),
      PART("\xc2\xa0" "Ab\xc2\xa0", "ab"),       /* NBSP at both ends */
      PART("a\xc2\xa0" "b", "a-b"),              /* NBSP inside */
      PART("\xe3\x80\x80x\xe2\x80\xa8", "x"),    /* U+3000, U+2028 */
      PART("\xc2\x85q\xc2\x85", "q"),            /* U+0085 */
      PART("\xe2\x80\x8bz\xe2\x80\x8b", "z"),    /* U+200B: not trimmed, becomes a dash, trimmed */
      PART("\xe1\xa0\x8ey", "y"),                /* U+180E */
      PART("\t\n\v\f\r X \r\n", "x"),
      PART("\xe2\x80\x80\xe2\x80\x8a\xe2\x80\xaf\xe2\x81\x9f\xe1\x9a\x80w\xe2\x80\xa9", "w"),
      PART("\xc3\x84" "BC", "bc"),               /* "ÄBC" */
      PART("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "unknown"), /* "日本語" */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *out = NULL;
    size_t n = 99;
    assert_int_equal(xr_key_part(&out, &n, cases[i].in, cases[i].len), XR_OK);
    if (strcmp(out, cases[i].want) != 0 || n != strlen(cases[i].want))
      fail_msg("case %zu: got \"%s\" (%zu), want \"%s\"", i, out, n, cases[i].want);
    xr_free(out);
  }
  char *out = NULL;
  assert_int_equal(xr_key_part(&out, NULL, NULL, 0), XR_OK);
  assert_string_equal(out, "unknown");
  xr_free(out);
  assert_int_equal(xr_key_part(NULL, NULL, "a", 1), XR_EINVAL);
  assert_int_equal(xr_key_part(&out, NULL, NULL, 1), XR_EINVAL);
  assert_null(out);
}

static void check_tag(const char *scope, size_t sl, const char *value, size_t vl,
                      const char *want) {
  char *out = NULL;
  size_t n = 0;
  assert_int_equal(xr_key_tag(&out, &n, scope, sl, value, vl), XR_OK);
  assert_string_equal(out, want);
  assert_int_equal(n, strlen(want));
  xr_free(out);
}

static void test_tag(void **state) {
  (void)state;
  /* Goldens from the same Go run as the Part cases. */
  check_tag(S("session"), S("11111111-1111-4111-8111-111111111111"),
            "{session:11111111-1111-4111-8111-111111111111}");
  check_tag(S("tenant"), "", 0, "{tenant:unknown}");
  check_tag(S("a"), S("b:c"), "{a:b:c}");
  check_tag(S("a:b"), S("c"), "{a:b:c}");
  check_tag(S(" Org "), S("User@X"), "{org:user-x}");
  check_tag(NULL, 0, NULL, 0, "{unknown:unknown}");
  char *out = NULL;
  assert_int_equal(xr_key_tag(&out, NULL, NULL, 1, "a", 1), XR_EINVAL);
  assert_int_equal(xr_key_tag(&out, NULL, "a", 1, NULL, 1), XR_EINVAL);
  assert_int_equal(xr_key_tag(NULL, NULL, "a", 1, "a", 1), XR_EINVAL);
}

static void test_extract_tag(void **state) {
  (void)state;
  const char *t;
  size_t n;
  const char *k = "mpp:browser:session:{session:abc}:x";
  assert_true(xr_key_extract_tag(&t, &n, k, strlen(k)));
  assert_ptr_equal(t, k + 21);
  assert_int_equal(n, 11);
  assert_true(xr_key_extract_tag(&t, &n, S("foo{{bar}}zap")));
  assert_int_equal(n, 4);
  assert_memory_equal(t, "{bar", 4);
  assert_true(xr_key_extract_tag(&t, &n, S("a{\0}")));
  assert_int_equal(n, 1);
  assert_false(xr_key_extract_tag(&t, &n, S("no-tag")));
  assert_false(xr_key_extract_tag(&t, &n, S("a{b")));
  assert_false(xr_key_extract_tag(&t, &n, S("a}b{")));
  assert_false(xr_key_extract_tag(&t, &n, S("foo{}{bar}"))); /* empty span: no tag */
  assert_false(xr_key_extract_tag(&t, &n, "", 0));
  assert_false(xr_key_extract_tag(&t, &n, NULL, 0));
  assert_true(xr_key_extract_tag(NULL, NULL, S("{x}")));
}

static void test_share_tag(void **state) {
  (void)state;
  const char *same[] = {"mpp:browser:stream-current:{session:abc}",
                        "mpp:browser:stream-token:{session:abc}:hash"};
  const char *diff[] = {"mpp:browser:stream-current:{session:abc}",
                        "mpp:browser:stream-token:{session:def}:hash"};
  const char *untagged_first[] = {"mpp:browser:stream-current:abc",
                                  "mpp:browser:stream-token:{session:abc}:hash"};
  const char *untagged_later[] = {"{a}", "{a}x", "x"};
  const char *prefix_tag[] = {"{ab}", "{a}"};
  assert_true(xr_key_share_tag(same, NULL, 2));
  size_t lens[] = {strlen(same[0]), strlen(same[1])};
  assert_true(xr_key_share_tag(same, lens, 2));
  assert_false(xr_key_share_tag(diff, NULL, 2));
  assert_false(xr_key_share_tag(untagged_first, NULL, 2));
  assert_false(xr_key_share_tag(untagged_later, NULL, 3));
  assert_true(xr_key_share_tag(untagged_later, NULL, 2));
  assert_false(xr_key_share_tag(prefix_tag, NULL, 2));
  assert_true(xr_key_share_tag(NULL, NULL, 0));
  assert_true(xr_key_share_tag(same, NULL, 1));
  assert_false(xr_key_share_tag(untagged_first, NULL, 1));
  /* Binary keys: lengths count, NULs included. */
  const char *bin[] = {"x{t\0u}", "y{t\0u}z"};
  size_t bl[] = {6, 7};
  assert_true(xr_key_share_tag(bin, bl, 2));
  size_t bl2[] = {6, 3}; /* the second key cut before its '}' */
  assert_false(xr_key_share_tag(bin, bl2, 2));
}

/* Escaping for SCAN MATCH. Checked by hand against a real redis-server 7.0.15 (unix socket, no
 * persistence) holding t*x:1 t?x:1 t[x]:1 t\x:1 tax:1 tyx:1 tx:1 t**x:1: SCAN 0 MATCH <p>
 * COUNT 1000 with p = the escaped prefix followed by '*' returned only the literal key each
 * time: "t\*x:*" -> t*x:1; "t\?x:*" -> t?x:1; "t\[x\]:*" -> t[x]:1; "t\\x:*" -> t\x:1;
 * "tax:*" -> tax:1. Unescaped "t*x:*" returned all of them but "t[x]:1"; "t[x]:*" returned
 * tx:1. The patterns were produced by xr_key_escape_glob itself. */
static void check_escape(const char *in, size_t len, const char *want, size_t want_len) {
  char *out = NULL;
  size_t n = 0;
  assert_int_equal(xr_key_escape_glob(&out, &n, in, len), XR_OK);
  assert_int_equal(n, want_len);
  assert_memory_equal(out, want, want_len);
  assert_int_equal(out[n], '\0');
  xr_free(out);
}

static void test_escape_glob(void **state) {
  (void)state;
  check_escape(S("t*x:"), S("t\\*x:"));
  check_escape(S("t?x:"), S("t\\?x:"));
  check_escape(S("t[x]:"), S("t\\[x\\]:"));
  check_escape(S("t\\x:"), S("t\\\\x:"));
  check_escape(S("tax:"), S("tax:"));
  check_escape(S("*?[]\\"), S("\\*\\?\\[\\]\\\\"));
  check_escape(S("a^-!{}b\0c"), S("a^-!{}b\0c")); /* only * ? [ ] \ are special */
  check_escape("", 0, "", 0);
  check_escape(NULL, 0, "", 0);
  char *out = NULL;
  assert_int_equal(xr_key_escape_glob(&out, NULL, NULL, 2), XR_EINVAL);
  assert_int_equal(xr_key_escape_glob(NULL, NULL, "a", 1), XR_EINVAL);
  /* the prefix's pattern: escaped, then "*" */
  size_t n = 0;
  assert_int_equal(xr_key_prefix_pattern(&out, &n, S("t[1]*?:")), XR_OK);
  assert_int_equal(n, 12);
  assert_memory_equal(out, "t\\[1\\]\\*\\?:*", 13);
  xr_free(out);
  assert_int_equal(xr_key_prefix_pattern(&out, NULL, NULL, 0), XR_OK);
  assert_string_equal(out, "*");
  xr_free(out);
  assert_int_equal(xr_key_prefix_pattern(&out, NULL, NULL, 2), XR_EINVAL);
  assert_null(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc16),       cmocka_unit_test(test_slots),
      cmocka_unit_test(test_hash_span),   cmocka_unit_test(test_part),
      cmocka_unit_test(test_tag),         cmocka_unit_test(test_extract_tag),
      cmocka_unit_test(test_share_tag),   cmocka_unit_test(test_escape_glob),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
