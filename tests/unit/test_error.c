/* The error table and the thread-local last error; the allocator hooks. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/alloc.h"
#include "crossredis/client.h"
#include "crossredis/error.h"

static void test_table(void **state) {
  (void)state;
  assert_string_equal(xr_strerror(XR_ETIMEOUT), "timed out");
  assert_string_equal(xr_error_name(XR_ETIMEOUT), "ETIMEOUT");
  assert_string_equal(xr_error_name(XR_OK), "OK");
  assert_string_equal(xr_strerror(-12345), "unknown error");
  assert_string_equal(xr_error_name(-12345), "EUNKNOWN");
  /* codes are distinct and negative */
  int codes[] = {
#define XR_ERROR(name, value, cls, parent, text) value,
#include "crossredis/errors.def"
#undef XR_ERROR
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    if (i) assert_true(codes[i] < 0);
    for (size_t j = i + 1; j < n; j++) assert_int_not_equal(codes[i], codes[j]);
  }
}

/* The table as bindings read it: every row, classes rooted at Error. */
static void test_info_table(void **state) {
  (void)state;
  const xr_error_info *row = xr_error_info_at(0);
  assert_non_null(row);
  assert_int_equal(row->code, XR_OK);
  size_t n = 0;
  for (const xr_error_info *r; (r = xr_error_info_at(n)) != NULL; n++) {
    assert_string_equal(xr_error_name(r->code), r->name);
    assert_string_equal(xr_strerror(r->code), r->description);
    /* a parent is Error or a class defined by an earlier row */
    int parent_known = !strcmp(r->parent_class, "Error");
    for (size_t j = 0; j < n && !parent_known; j++) parent_known = !strcmp(xr_error_info_at(j)->class_name, r->parent_class);
    if (!parent_known) fail_msg("%s: parent %s is not defined before it", r->name, r->parent_class);
  }
  assert_true(n >= 17);
  const xr_error_info *t = NULL;
  for (size_t i = 0; i < n; i++)
    if (xr_error_info_at(i)->code == XR_ETIMEOUT) t = xr_error_info_at(i);
  assert_non_null(t);
  assert_string_equal(t->class_name, "TimeoutError");
  assert_string_equal(t->parent_class, "ConnectionError");
}

static void *other_thread(void *arg) {
  (void)arg;
  /* a fresh thread sees no error, whatever the main thread recorded */
  const xr_error *e = xr_error_last();
  return (void *)(intptr_t)(e->code == XR_OK && e->message[0] == '\0');
}

static void test_thread_local(void **state) {
  (void)state;
  xr_url *u = NULL;
  assert_int_equal(xr_url_parse(&u, "nope://x"), XR_EINVAL);
  assert_int_equal(xr_error_last()->code, XR_EINVAL);
  pthread_t t;
  void *clean = NULL;
  assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
  pthread_join(t, &clean);
  assert_true((intptr_t)clean);
  assert_int_equal(xr_error_last()->code, XR_EINVAL); /* still ours */
  xr_error_clear();
  assert_int_equal(xr_error_last()->code, XR_OK);
  assert_string_equal(xr_error_last()->message, "");
}

/* Adding context to the previous message, which is an argument of the new one, keeps it intact. */
static void test_message_built_on_the_last(void **state) {
  (void)state;
  xr_error_set(XR_EPARSE, "line 1 column 2 (byte 4): '}' expected near 'bad'");
  xr_error_set(XR_EPARSE, "the value is not JSON: %s", xr_error_last()->message);
  assert_string_equal(xr_error_last()->message, "the value is not JSON: line 1 column 2 (byte 4): '}' expected near 'bad'");
}

static size_t allocs, frees;
static void *count_malloc(size_t n) { allocs++; return malloc(n); }
static void *count_calloc(size_t c, size_t n) { allocs++; return calloc(c, n); }
static void *count_realloc(void *p, size_t n) { if (!p) allocs++; return realloc(p, n); }
static void count_free(void *p) { if (p) frees++; free(p); }

static void test_allocator_hooks(void **state) {
  (void)state;
  xr_allocator bad = {count_malloc, NULL, count_realloc, count_free};
  assert_int_equal(xr_set_allocator(&bad), XR_EINVAL);
  xr_allocator a = {count_malloc, count_calloc, count_realloc, count_free};
  assert_int_equal(xr_set_allocator(&a), XR_OK);
  xr_url *u = NULL;
  assert_int_equal(xr_url_parse(&u, "redis://u:p@h:1/2?client_name=x"), XR_OK);
  xr_url_free(u);
  xr_script *s = NULL;
  assert_int_equal(xr_script_new(&s, "return 1", 8), XR_OK);
  xr_script_free(s);
  assert_true(allocs >= 5);
  assert_int_equal(allocs, frees);
  assert_int_equal(xr_set_allocator(NULL), XR_OK);
  size_t before = allocs;
  assert_int_equal(xr_script_new(&s, "return 1", 8), XR_OK);
  xr_script_free(s);
  assert_int_equal(allocs, before); /* back on the C library's */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_info_table),
      cmocka_unit_test(test_thread_local),
      cmocka_unit_test(test_message_built_on_the_last),
      cmocka_unit_test(test_allocator_hooks),
  };
  return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
