/* redis-cli against a harness endpoint: the one way the harness (clusters, sentinel sets, the
 * topology process) and the tests talk to servers without the client under test. A loopback
 * port, plain or TLS with the harness certificates, and credentials, which reach redis-cli through
 * REDISCLI_AUTH in its environment, never on its command line (where ps and logs would show them).
 * Errors as in redis_server.h (0 or -1 with a message in err; a message never holds a password). */
#ifndef XR_TEST_REDIS_CLI_H
#define XR_TEST_REDIS_CLI_H

#include <stddef.h>

#include "redis_server.h"

typedef struct xrt_endpoint {
  int port;              /* on 127.0.0.1 */
  const char *certs_dir; /* non-NULL: TLS, the server verified with <certs_dir>/ca.crt */
  const char *user;      /* ACL user (NULL: the default user) */
  const char *password;  /* NULL: no AUTH */
  const char *log_path;  /* redis-cli's stderr is appended there (NULL: dropped) */
} xrt_endpoint;

#define XRT_ENDPOINT_INIT {0, NULL, NULL, NULL, NULL}

/* Runs `redis-cli <connection arguments> args...` (args NULL-terminated) and copies its stdout
 * into `out` (NUL-terminated, truncated to size - 1, trailing newlines removed; nested replies come
 * one element a line). 0 when redis-cli exited 0, which includes error replies: they are in `out`
 * ("ERR ...", "NOAUTH ..."), for the caller to judge. -1 when it could not run or failed to
 * connect (exit status not 0), with the command's first word and the last line of its stderr in
 * err when there is a log. */
int xrt_cli(const xrt_endpoint *e, char *out, size_t size, char *err, ...) __attribute__((sentinel));

/* The same with the arguments as a NULL-terminated array. */
int xrt_cli_argv(const xrt_endpoint *e, const char *const *args, char *out, size_t size, char *err);

/* The value that follows the line `key` in `out` (a flat "key\nvalue\n..." reply such as
 * SENTINEL MASTER, or "key:value" lines such as INFO when `key` ends with ':'), copied into
 * `value`; 0 when found. Flat replies are read as key and value lines in turn. */
int xrt_reply_field(const char *out, const char *key, char *value, size_t size);

#endif
