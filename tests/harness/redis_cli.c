/* redis-cli against a harness endpoint (redis_cli.h). */
#include "redis_cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_CLI_ARGS 48
#define CLI_PATH_SIZE 600
#define AUTH_SIZE 300

#define fail xrt_fail

/* The last non-empty line written to the log since `offset`, into `line`. */
static void last_log_line(const char *log_path, long offset, char *line, size_t size) {
  line[0] = '\0';
  FILE *f = log_path ? fopen(log_path, "r") : NULL;
  if (!f) return;
  if (fseek(f, offset, SEEK_SET) == 0) {
    char buf[512];
    while (fgets(buf, sizeof buf, f)) {
      size_t len = strlen(buf);
      while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = '\0';
      if (len > 0) snprintf(line, size, "%s", buf);
    }
  }
  fclose(f);
}

static long log_size(const char *log_path) {
  struct stat st;
  return log_path && stat(log_path, &st) == 0 ? (long)st.st_size : 0;
}

int xrt_cli_argv(const xrt_endpoint *e, const char *const *args, char *out, size_t size, char *err) {
  if (!e || !args || !args[0] || !out || size == 0) return fail(err, "xrt_cli: bad arguments");
  const char *argv[MAX_CLI_ARGS];
  char port[16], ca[CLI_PATH_SIZE], auth[AUTH_SIZE];
  size_t n = 0;
  snprintf(port, sizeof port, "%d", e->port);
  argv[n++] = "redis-cli";
  argv[n++] = "-h";
  argv[n++] = "127.0.0.1";
  argv[n++] = "-p";
  argv[n++] = port;
  if (e->certs_dir) {
    if (snprintf(ca, sizeof ca, "%s/ca.crt", e->certs_dir) >= (int)sizeof ca)
      return fail(err, "xrt_cli: the certificates' path is too long");
    argv[n++] = "--tls";
    argv[n++] = "--cacert";
    argv[n++] = ca;
  }
  if (e->user) {
    argv[n++] = "--user";
    argv[n++] = e->user;
  }
  if (e->password) argv[n++] = "--no-auth-warning";
  for (size_t i = 0; args[i]; i++) {
    if (n >= MAX_CLI_ARGS - 1) return fail(err, "xrt_cli: too many arguments");
    argv[n++] = args[i];
  }
  argv[n] = NULL;
  const char *env[2] = {NULL, NULL};
  if (e->password) {
    if (snprintf(auth, sizeof auth, "REDISCLI_AUTH=%s", e->password) >= (int)sizeof auth)
      return fail(err, "xrt_cli: the password is too long");
    env[0] = auth;
  }
  long offset = log_size(e->log_path);
  char sub[XRT_ERR_SIZE];
  int st = xrt_run_env(argv, env, out, size, e->log_path, sub);
  if (e->password) memset(auth, 0, sizeof auth);
  if (st < 0) return fail(err, "redis-cli %s on port %d: %s", args[0], e->port, sub);
  size_t len = strlen(out);
  while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r')) out[--len] = '\0';
  if (st != 0) {
    char line[256];
    last_log_line(e->log_path, offset, line, sizeof line);
    return fail(err, "redis-cli %s on port %d: exit status %d%s%s", args[0], e->port, st, line[0] ? ": " : "",
                line);
  }
  return 0;
}

int xrt_cli(const xrt_endpoint *e, char *out, size_t size, char *err, ...) {
  const char *args[MAX_CLI_ARGS];
  size_t n = 0;
  va_list ap;
  va_start(ap, err);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < MAX_CLI_ARGS - 1) args[n++] = a;
  va_end(ap);
  args[n] = NULL;
  return xrt_cli_argv(e, args, out, size, err);
}

int xrt_reply_field(const char *out, const char *key, char *value, size_t size) {
  size_t klen = strlen(key);
  int inline_value = klen > 0 && key[klen - 1] == ':';
  int is_key = 1; /* flat replies alternate key and value lines */
  for (const char *line = out; line && *line; is_key = !is_key) {
    const char *eol = strchr(line, '\n');
    size_t len = eol ? (size_t)(eol - line) : strlen(line);
    if (len > 0 && line[len - 1] == '\r') len--;
    const char *next = eol ? eol + 1 : NULL;
    if (inline_value && len >= klen && memcmp(line, key, klen) == 0) {
      snprintf(value, size, "%.*s", (int)(len - klen), line + klen);
      return 0;
    }
    if (!inline_value && is_key && len == klen && memcmp(line, key, klen) == 0 && next) {
      const char *vend = strchr(next, '\n');
      size_t vlen = vend ? (size_t)(vend - next) : strlen(next);
      if (vlen > 0 && next[vlen - 1] == '\r') vlen--;
      snprintf(value, size, "%.*s", (int)vlen, next);
      return 0;
    }
    line = next;
  }
  return -1;
}
