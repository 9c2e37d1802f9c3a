/* The command line: flags with values, numbers, usage errors, the default server. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool cli_is_help(const char *arg) { return !strcmp(arg, "--help") || !strcmp(arg, "-h"); }

int cli_flag_value(int argc, char **argv, int *i, const char *name, const char **value, const char *cmd) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *value = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "crossredis %s: %s needs a value\n", cmd, name);
    return -1;
  }
  *value = argv[++*i];
  return 1;
}

int cli_usage_error(const char *cmd, void (*usage)(FILE *), const char *fmt, ...) {
  /* The message may quote what was typed: a URL's password is never printed. */
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "crossredis %s: ", cmd);
  cli_print_redacted(stderr, msg);
  fputs("\n\n", stderr);
  usage(stderr);
  return CLI_USAGE;
}

bool cli_parse_long(const char *text, long min, long max, long *out) {
  if (!text || !*text) return false;
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || *end || v < min || v > max) return false;
  *out = v;
  return true;
}

bool cli_parse_seconds(const char *text, double max, double *out) {
  if (!text || !*text || strspn(text, "0123456789.") != strlen(text)) return false;
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || *end || !isfinite(v) || v < 0 || v > max) return false;
  *out = v;
  return true;
}
