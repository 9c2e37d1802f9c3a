/* Small helpers shared by the integration tests: asserting crossredis return codes with the
 * library's message in the failure, and sending string commands. Include after <cmocka.h>. */
#ifndef XR_ITEST_H
#define XR_ITEST_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crossredis/client.h"
#include "crossredis/error.h"
#include "redis_server.h"

/* The call must return 0; otherwise the test fails showing the code and the message. */
#define XR_OK(call)                                                                            \
  do {                                                                                         \
    int rc_ = (call);                                                                          \
    if (rc_ != 0)                                                                              \
      fail_msg("%s -> %s (%d): %s", #call, xr_error_name(rc_), rc_, xr_error_last()->message); \
  } while (0)

static inline int itest_contains(const char *text, const char *part) {
  return part == NULL || (text != NULL && strstr(text, part) != NULL);
}

/* The call must fail with `code` and a message containing `part` (NULL: any message). */
#define XR_FAILS(call, code, part)                                                             \
  do {                                                                                         \
    int rc_ = (call);                                                                          \
    const char *m_ = xr_error_last()->message;                                                 \
    if (rc_ != (code))                                                                         \
      fail_msg("%s -> %s (%d), expected %s: %s", #call, xr_error_name(rc_), rc_,               \
               xr_error_name(code), rc_ ? m_ : "");                                            \
    if (!itest_contains(m_, (part)))                                                           \
      fail_msg("%s: message \"%s\" lacks \"%s\"", #call, m_, (const char *)(part));            \
  } while (0)

/* Starts a server in a group setup; prints why when it cannot. */
static inline int itest_start(xrt_server **s, const xrt_server_options *o) {
  char err[XRT_ERR_SIZE];
  if (xrt_server_start(s, o, err) == 0) return 0;
  fprintf(stderr, "cannot start redis-server: %s\n", err);
  return -1;
}

/* Sends a command made of NUL-terminated strings (the list ends with NULL). */
static inline int itest_cmd(xr_client *c, xr_reply **out, ...) {
  const char *argv[64];
  int argc = 0;
  va_list ap;
  va_start(ap, out);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && argc < 64) argv[argc++] = a;
  va_end(ap);
  return xr_client_command(c, out, argc, argv, NULL);
}

/* Options for a plain TCP client of `s`. */
static inline xr_client_options itest_options(const xrt_server *s) {
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = xrt_server_port(s);
  return o;
}

/* GET key must answer `expect` (NULL: nil). */
static inline void itest_assert_get(xr_client *c, const char *key, const char *expect) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, "GET", key, NULL));
  if (expect == NULL) {
    assert_int_equal(xr_reply_kind(r), XR_REPLY_NIL);
  } else {
    assert_int_equal(xr_reply_kind(r), XR_REPLY_STRING);
    assert_string_equal(xr_reply_str(r, NULL), expect);
  }
  xr_reply_free(r);
}

static inline long long itest_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
