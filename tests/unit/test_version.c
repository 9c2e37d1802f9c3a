/* The umbrella header: the release it names is the one the library reports, and its parts agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/crossredis.h"

static void release_matches_library(void **state) {
  (void)state;
  char parts[32];
  snprintf(parts, sizeof parts, "%d.%d.%d", XR_VERSION_MAJOR, XR_VERSION_MINOR, XR_VERSION_PATCH);
  assert_string_equal(parts, XR_VERSION_STRING);
  assert_string_equal(xr_version(), XR_VERSION_STRING);
}

static void wire_version_matches_library(void **state) {
  (void)state;
  assert_true(XR_WIRE_VERSION >= 1);
  assert_int_equal(xr_wire_version(), XR_WIRE_VERSION);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(release_matches_library),
      cmocka_unit_test(wire_version_matches_library),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
