/* Script digests: EVALSHA names a script by the SHA-1 of its body, so ours must equal the
 * server's. Vectors: FIPS 180 examples, and lengths around the 64-byte block and the 56-byte
 * padding boundary checked with coreutils sha1sum. The server's own SCRIPT LOAD digest is checked
 * by tests/integration/net/test_client.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/client.h"
#include "crossredis/error.h"

static void expect_sha1(const char *body, size_t len, const char *hex) {
  xr_script *s = NULL;
  assert_int_equal(xr_script_new(&s, body, len), XR_OK);
  assert_string_equal(xr_script_sha1(s), hex);
  xr_script_free(s);
}

static void test_fips_vectors(void **state) {
  (void)state;
  expect_sha1("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
  const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  expect_sha1(two_blocks, strlen(two_blocks), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  size_t n = 1000000;
  char *million = malloc(n);
  assert_non_null(million);
  memset(million, 'a', n);
  expect_sha1(million, n, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  free(million);
}

static void test_block_boundaries(void **state) {
  (void)state;
  static const struct {
    size_t len;
    const char *hex;
  } v[] = {{55, "cef734ba81a024479e09eb5a75b6ddae62e6abf1"}, {56, "901305367c259952f4e7af8323f480d59f81335b"},
           {63, "0ddc4e0cccd9a12850deb5abb0853a4425559fec"}, {64, "bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163"},
           {65, "78c741ddc482e4cdf8c474a0876347a0905b6233"}, {119, "4300320394f7ee239bcdce7d3b8bcee173a0cd5c"},
           {120, "ceb2821639c4b6dcb10bce0e522ca2e608ce056d"}};
  char buf[128];
  memset(buf, 'x', sizeof buf);
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) expect_sha1(buf, v[i].len, v[i].hex);
}

static void test_bad_input(void **state) {
  (void)state;
  xr_script *s = (xr_script *)1;
  assert_int_equal(xr_script_new(&s, "", 0), XR_EINVAL);
  assert_null(s);
  assert_non_null(strstr(xr_error_last()->message, "empty"));
  assert_int_equal(xr_script_new(&s, NULL, 3), XR_EINVAL);
  xr_script_free(NULL);
}

/* The body is binary-safe: a NUL inside changes the digest. */
static void test_binary_body(void **state) {
  (void)state;
  xr_script *a = NULL, *b = NULL;
  assert_int_equal(xr_script_new(&a, "return 1\0x", 10), XR_OK);
  assert_int_equal(xr_script_new(&b, "return 1", 8), XR_OK);
  assert_string_not_equal(xr_script_sha1(a), xr_script_sha1(b));
  xr_script_free(a);
  xr_script_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fips_vectors),
      cmocka_unit_test(test_block_boundaries),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_binary_body),
  };
  return cmocka_run_group_tests_name("script", tests, NULL, NULL);
}
